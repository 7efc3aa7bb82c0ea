/* What a data lookup costs in an ahead-of-time library against the JIT, per
 * event, on the same policy, events and files (bench/bench_aot_data.py
 * builds the policy as `b` and compiles this file against b.h, libb.so and
 * libedict.so). Each round decides every event of EVENTS (`id TAB name`
 * lines) once through the library's entry point and once through the C
 * ABI's typed events on JIT code (edict_eval_event: the JIT's one-event
 * path, what an embedding host calls). Round 1 meets every name for the
 * first time (the screening caches are cold); the best of the later rounds
 * is the warm figure. Prints figures; asserts only that both decide alike.
 *
 *   aot_data_bench POLICY EVENTS ROUNDS [NAME=FILE ...]
 */
#define _POSIX_C_SOURCE 200809L
#include <edict/edict.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "b.h"

enum { kMaxEvents = 1 << 20 };
static char* ids[kMaxEvents];
static char* names[kMaxEvents];
static int aot_decision[kMaxEvents];

static double now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static size_t read_events(const char* path) {
  FILE* f = fopen(path, "r");
  if (!f) return 0;
  char* line = NULL;
  size_t capacity = 0, n = 0;
  ssize_t got;
  while (n < kMaxEvents && (got = getline(&line, &capacity, f)) > 0) {
    if (line[got - 1] == '\n') line[got - 1] = 0;
    char* tab = strchr(line, '\t');
    if (!tab) continue;
    *tab = 0;
    ids[n] = strdup(line);
    names[n] = strdup(tab + 1);
    ++n;
  }
  free(line);
  fclose(f);
  return n;
}

static const int64_t kTime = 1717200000000000LL; /* 2024-06-01T00:00:00Z */

static double aot_round(size_t n) {
  b_rental e;
  memset(&e, 0, sizeof e);
  e.time = kTime;
  e.chips = 8;
  b_result r;
  const double start = now_ns();
  for (size_t i = 0; i < n; ++i) {
    e.customer_id = ids[i];
    e.customer_name = names[i];
    if (b_eval_rental(&e, &r) != B_OK) {
      fprintf(stderr, "aot: %s\n", r.error);
      exit(1);
    }
    aot_decision[i] = r.decision;
  }
  return (now_ns() - start) / (double)n;
}

static double jit_round(size_t n, edict_evaluator* ev, edict_event* e, int32_t id, int32_t name,
                        size_t* differ) {
  const double start = now_ns();
  for (size_t i = 0; i < n; ++i) {
    edict_event_set_string(e, id, ids[i], strlen(ids[i]));
    edict_event_set_string(e, name, names[i], strlen(names[i]));
    const edict_decision* d;
    if (edict_eval_event(ev, e, &d) != EDICT_OK) {
      fprintf(stderr, "jit: %s\n", edict_last_error());
      exit(1);
    }
    *differ += strcmp(edict_decision_outcome(d), b_outcome_name(aot_decision[i])) != 0;
  }
  return (now_ns() - start) / (double)n;
}

int main(int argc, char** argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: aot_data_bench POLICY EVENTS ROUNDS [NAME=FILE ...]\n");
    return 2;
  }
  const size_t n = read_events(argv[2]);
  const int rounds = atoi(argv[3]);
  if (n == 0 || rounds < 2) return 2;
  double load_ns = now_ns();
  for (int a = 4; a < argc; ++a) {
    char* eq = strchr(argv[a], '=');
    char error[512];
    if (!eq) return 2;
    *eq = 0;
#ifdef B_DATA_COUNT
    if (b_load_data(argv[a], eq + 1, error, sizeof error) != B_OK) {
      fprintf(stderr, "%s\n", error);
      return 1;
    }
#else
    (void)error;
#endif
  }
  load_ns = now_ns() - load_ns;
  edict_policy* policy;
  if (edict_policy_compile_file(argv[1], EDICT_ENGINE_JIT, &policy) != EDICT_OK) {
    fprintf(stderr, "%s\n", edict_last_error());
    return 1;
  }
  edict_evaluator* ev;
  edict_event* e;
  int32_t time_field, chips, id, name;
  edict_evaluator_new(policy, &ev);
  edict_event_new(policy, "rental", &e);
  edict_event_field(e, "time", &time_field);
  edict_event_field(e, "chips", &chips);
  edict_event_field(e, "customer_id", &id);
  edict_event_field(e, "customer_name", &name);
  edict_event_set_time(e, time_field, kTime);
  edict_event_set_int(e, chips, 8);
  double aot_cold = 0, jit_cold = 0, aot_warm = 1e300, jit_warm = 1e300;
  size_t differ = 0, denied = 0;
  for (int r = 0; r < rounds; ++r) {
    const double a = aot_round(n), j = jit_round(n, ev, e, id, name, &differ);
    if (r == 0) {
      aot_cold = a;
      jit_cold = j;
    } else {
      aot_warm = a < aot_warm ? a : aot_warm;
      jit_warm = j < jit_warm ? j : jit_warm;
    }
  }
  for (size_t i = 0; i < n; ++i) denied += aot_decision[i] != 0;
  printf(
      "events %zu not_allow %zu differ %zu load_ms %.1f aot_cold %.1f aot_warm %.1f jit_cold %.1f jit_warm "
      "%.1f\n",
      n, denied, differ, load_ns / 1e6, aot_cold, aot_warm, jit_cold, jit_warm);
  edict_event_free(e);
  edict_evaluator_free(ev);
  edict_policy_free(policy);
  return differ ? 1 : 0;
}
