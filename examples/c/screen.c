/* Screens JSON Lines events with an Edict policy through the C ABI. Prints,
 * per input line:  LINE <TAB> DECISION <TAB> FIRED,RULES
 *
 *   screen_c POLICY.edict EVENTS.jsonl
 */
#define _POSIX_C_SOURCE 200809L
#include <edict/edict.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: screen_c POLICY EVENTS\n");
    return 2;
  }
  edict_policy* policy = NULL;
  if (edict_policy_compile_file(argv[1], EDICT_ENGINE_JIT, &policy) != EDICT_OK) {
    fprintf(stderr, "%s\n", edict_last_error());
    return 2;
  }
  edict_evaluator* evaluator = NULL;
  if (edict_evaluator_new(policy, &evaluator) != EDICT_OK) {
    fprintf(stderr, "%s\n", edict_last_error());
    edict_policy_free(policy);
    return 1;
  }
  FILE* events = fopen(argv[2], "rb");
  if (!events) {
    perror(argv[2]);
    return 2;
  }
  char* line = NULL;
  size_t capacity = 0;
  ssize_t length;
  long number = 0;
  while ((length = getline(&line, &capacity, events)) >= 0) {
    ++number;
    while (length > 0 && (line[length - 1] == '\n' || line[length - 1] == '\r')) --length;
    const edict_decision* decision = NULL;
    /* Not EDICT_OK: the decision is "error" and edict_last_error() says why. */
    edict_eval_json(evaluator, line, (size_t)length, &decision);
    printf("%ld\t%s\t", number, edict_decision_outcome(decision));
    for (size_t i = 0; i < edict_decision_rule_count(decision); ++i)
      printf("%s%s", i ? "," : "", edict_decision_rule_name(decision, i));
    printf("\n");
  }
  free(line);
  fclose(events);
  edict_evaluator_free(evaluator);
  edict_policy_free(policy);
  return 0;
}
