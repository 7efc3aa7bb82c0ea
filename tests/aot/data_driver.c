/* A program built against the header `edict build` generates for
 * tests/aot/data_policy.edict (prefix `dp`): reads commands from stdin, one
 * per line, fields separated by tabs, and prints one line per command.
 *
 *   load NAME PATH            -> load STATUS VERSION|- ERROR
 *   version NAME              -> version VERSION|-
 *   eval MICROS ID NAME CHIPS -> STATUS DECISION FIRED,RULES ERROR
 *
 * Used by tests/aot/run_aot_data_tests.py, which compares the decisions with
 * `edict eval` and checks loading, replacing and refusing files. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dp.h"

/* Splits `line` at tabs into at most `n` fields; returns how many. */
static int split(char* line, char** fields, int n) {
  int count = 0;
  for (char* p = line; count < n;) {
    fields[count++] = p;
    char* tab = strchr(p, '\t');
    if (!tab) break;
    *tab = 0;
    p = tab + 1;
  }
  return count;
}

static void print_eval(char** f) {
  dp_rental e;
  memset(&e, 0, sizeof e);
  e.time = strtoll(f[1], NULL, 10);
  e.customer_id = f[2];
  e.customer_name = f[3];
  e.chips = strtoll(f[4], NULL, 10);
  dp_result r;
  const int status = dp_eval_rental(&e, &r);
  printf("%d\t%s\t", status, dp_outcome_name(r.decision));
  int first = 1;
  for (uint32_t i = 0; i < DP_RULE_COUNT; ++i)
    if (dp_fired(&r, i)) {
      printf("%s%s", first ? "" : ",", dp_rule_name(i));
      first = 0;
    }
  printf("\t%s\n", r.error ? r.error : "");
}

int main(void) {
  char* line = NULL;
  size_t capacity = 0;
  ssize_t n;
  while ((n = getline(&line, &capacity, stdin)) > 0) {
    if (line[n - 1] == '\n') line[n - 1] = 0;
    char* f[5];
    const int count = split(line, f, 5);
    if (count == 3 && strcmp(f[0], "load") == 0) {
      char error[1024];
      const int status = dp_load_data(f[1], f[2], error, sizeof error);
      const char* version = dp_data_version(f[1]);
      printf("load\t%d\t%s\t%s\n", status, version ? version : "-", error);
    } else if (count == 2 && strcmp(f[0], "version") == 0) {
      const char* version = dp_data_version(f[1]);
      printf("version\t%s\n", version ? version : "-");
    } else if (count == 5 && strcmp(f[0], "eval") == 0) {
      print_eval(f);
    } else {
      fprintf(stderr, "bad command: %s\n", line);
      return 2;
    }
    fflush(stdout);
  }
  free(line);
  return 0;
}
