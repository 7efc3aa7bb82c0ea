/* A program built against the header `edict build` generates for
 * tests/aot/data_policy.edict (prefix `dp`): reads commands from stdin, one
 * per line, fields separated by tabs, and prints one line per command.
 *
 *   load NAME PATH            -> load STATUS VERSION|- ERROR
 *   version NAME              -> version VERSION|-
 *   eval MICROS ID NAME CHIPS -> STATUS DECISION FIRED,RULES ERROR
 *   stress NAME FILE_A FILE_B -> stress EVALUATIONS BAD DECISIONS_A DECISIONS_B
 *
 * `stress` decides one event (at MICROS 2024-07-01, customer name NAME) on
 * four threads while this thread loads `parties` from FILE_A and FILE_B in
 * turn, at least 200 times: every decision must be the one of FILE_A's or
 * FILE_B's version (status OK), never a torn or missing one.
 *
 * Used by tests/aot/run_aot_data_tests.py, which compares the decisions with
 * `edict eval` and checks loading, replacing and refusing files. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

static const char* stress_name;
static int stress_decision[2];
static atomic_int stress_done;
static atomic_long stress_count[4]; /* evaluations, bad, as A, as B */

static int decide(const char* name) {
  dp_rental e;
  memset(&e, 0, sizeof e);
  e.time = 1719792000000000LL; /* 2024-07-01T00:00:00Z */
  e.customer_id = "nobody";
  e.customer_name = name;
  dp_result r;
  return dp_eval_rental(&e, &r) == DP_OK ? r.decision : -2;
}

static void* stress_worker(void* unused) {
  (void)unused;
  while (!atomic_load(&stress_done)) {
    const int d = decide(stress_name);
    atomic_fetch_add(&stress_count[0], 1);
    if (d == stress_decision[0]) atomic_fetch_add(&stress_count[2], 1);
    if (d == stress_decision[1]) atomic_fetch_add(&stress_count[3], 1);
    if (d != stress_decision[0] && d != stress_decision[1]) atomic_fetch_add(&stress_count[1], 1);
  }
  return NULL;
}

static void stress(char** f) {
  char error[1024];
  stress_name = f[1];
  for (int v = 0; v < 2; ++v) {
    if (dp_load_data("parties", f[2 + v], error, sizeof error) != DP_OK) {
      printf("stress\tload failed: %s\n", error);
      return;
    }
    stress_decision[v] = decide(stress_name);
  }
  pthread_t threads[4];
  for (int t = 0; t < 4; ++t) pthread_create(&threads[t], NULL, stress_worker, NULL);
  /* 200 replacements, more (up to 20,000) until the deciding threads have
   * met both versions: on a loaded machine they may not run for a while. */
  const struct timespec pause = {0, 100000};
  for (int round = 0; round < 20000; ++round) {
    if (round >= 200 && atomic_load(&stress_count[2]) && atomic_load(&stress_count[3])) break;
    if (dp_load_data("parties", f[2 + round % 2], error, sizeof error) != DP_OK)
      atomic_fetch_add(&stress_count[1], 1);
    nanosleep(&pause, NULL);
  }
  atomic_store(&stress_done, 1);
  for (int t = 0; t < 4; ++t) pthread_join(threads[t], NULL);
  printf("stress\t%ld\t%ld\t%ld\t%ld\n", atomic_load(&stress_count[0]), atomic_load(&stress_count[1]),
         atomic_load(&stress_count[2]), atomic_load(&stress_count[3]));
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
    } else if (count == 4 && strcmp(f[0], "stress") == 0) {
      stress(f);
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
