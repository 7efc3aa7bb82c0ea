/* Edict's C ABI: compile export-control policies and evaluate events from C,
 * Go (cgo), Rust, Python (ctypes), Java (FFM) and anything else that calls C.
 *
 * Conventions
 * - Every object is an opaque handle made by a *_new / *_compile_* function
 *   and released by the matching *_free (free(NULL) is a no-op).
 * - Functions return edict_status: EDICT_OK (0) or an error code. After an
 *   error, edict_last_error() gives a message saying what and where; it is
 *   per thread and stays valid until the thread's next failing call.
 * - Strings in are UTF-8 (non-UTF-8 text is rejected with EDICT_INVALID_UTF8);
 *   JSON and source text are given with an explicit length. Strings out are
 *   NUL-terminated UTF-8 owned by the library, valid as documented per call.
 * - Thread-safety: an edict_policy may be used by any number of threads at
 *   once; an edict_evaluator or edict_event by one thread at a time.
 * - Lifetime: a handle keeps what it needs alive. Freeing a policy while
 *   evaluators or events made from it still exist is fine; the compiled code
 *   is released when the last of them is freed.
 * - Using a handle after freeing it is undefined behaviour. Handles carry a
 *   type tag checked on every call, so a handle of the wrong type gives
 *   EDICT_INVALID_HANDLE; with edict_debug_handles(1) (the default in builds
 *   without NDEBUG) freed handles are also detected.
 * - The library never writes to stdout/stderr and never exits the process.
 */
#ifndef EDICT_EDICT_H
#define EDICT_EDICT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum edict_status {
  EDICT_OK = 0,
  EDICT_NULL_ARGUMENT = 1,    /* a required pointer was NULL */
  EDICT_INVALID_HANDLE = 2,   /* a handle of the wrong type, or a freed one (debug) */
  EDICT_INVALID_ARGUMENT = 3, /* e.g. an unknown engine, a field index out of range */
  EDICT_INVALID_UTF8 = 4,     /* a string (or JSON text) is not valid UTF-8 */
  EDICT_COMPILE_ERROR = 5,    /* the policy has errors: edict_last_error() lists them */
  EDICT_INVALID_JSON = 6,     /* the event is not one JSON object */
  EDICT_WRONG_KIND = 7,       /* no `kind`, or a kind the policy does not declare */
  EDICT_INVALID_EVENT = 8,    /* a field is missing, null, mistyped or malformed */
  EDICT_UNKNOWN_FIELD = 9,    /* the event kind has no such field */
  EDICT_WRONG_TYPE = 10,      /* the value does not fit the field's type */
  EDICT_RULE_FAULT = 11,      /* a rule faulted: the decision is "error" (fail closed) */
  EDICT_POLICY_MISMATCH = 12, /* an event made for another policy than the evaluator's */
  EDICT_OUT_OF_MEMORY = 13,
  EDICT_INTERNAL = 14,  /* a bug in Edict */
  EDICT_DATA_ERROR = 15 /* a data file cannot be read or is malformed: edict_last_error() says where */
} edict_status;

typedef enum edict_engine { EDICT_ENGINE_JIT = 0, EDICT_ENGINE_INTERPRETER = 1 } edict_engine;

/* What evaluations explain (edict_decision_explanation_json). Explaining
 * re-runs the event's rules on a tracing interpreter: microseconds per
 * event, for audits and debugging. EDICT_EXPLAIN_NONE costs nothing. */
typedef enum edict_explain {
  EDICT_EXPLAIN_NONE = 0,  /* the default */
  EDICT_EXPLAIN_FIRED = 1, /* the rules that fired, and the one that faulted */
  EDICT_EXPLAIN_ALL = 2    /* every rule, as `edict explain` shows them */
} edict_explain;

typedef struct edict_policy edict_policy;       /* immutable compiled policy; thread-safe */
typedef struct edict_slot edict_slot;           /* the current policy of a host; thread-safe */
typedef struct edict_evaluator edict_evaluator; /* per-thread evaluation state */
typedef struct edict_event edict_event;         /* a typed event of one kind; per thread */
typedef struct edict_decision edict_decision;   /* owned by its evaluator */

/* The message of this thread's last failed call ("" if none). */
const char* edict_last_error(void);
/* "ok", "invalid_json", ...: a stable name for a status code. */
const char* edict_status_name(int status);
/* The library's version, e.g. "0.1.0". */
const char* edict_version(void);
/* Turns detection of freed handles on (1) or off (0) for the whole process.
 * On, freed handles keep a few bytes each so later use is reported as
 * EDICT_INVALID_HANDLE. Returns the previous setting. */
int edict_debug_handles(int on);

/* ---- compiling ---- */

/* Compiles the policy file `path` (its imports are read relative to it). On
 * EDICT_COMPILE_ERROR, edict_last_error() holds the diagnostics as
 * `edict check` prints them. */
edict_status edict_policy_compile_file(const char* path, edict_engine engine, edict_policy** out);
/* Compiles policy source text named `name` (used in diagnostics and to
 * resolve imports, which are read from disk relative to it). */
edict_status edict_policy_compile_string(const char* name, const char* text, size_t length,
                                         edict_engine engine, edict_policy** out);
void edict_policy_free(edict_policy* policy);
size_t edict_policy_rule_count(const edict_policy* policy);
/* Replaces the rows of the policy's data source `name` (a `data`
 * declaration) by those of the CSV file `path`, for every evaluator of the
 * policy, without recompiling it. On EDICT_DATA_ERROR edict_last_error()
 * says where (`file:line:col: error[E0074]: ...`) and the previous rows stay
 * in use; EDICT_INVALID_ARGUMENT when the policy declares no such source. */
edict_status edict_policy_replace_data(const edict_policy* policy, const char* name, const char* path);

/* ---- hot replacement ---- */

/* A slot holding `initial` (may be NULL). Evaluators made with
 * edict_evaluator_new_from_slot use whatever policy the slot holds at each
 * call. */
edict_status edict_slot_new(const edict_policy* initial, edict_slot** out);
/* Publishes `next`; evaluations running now finish on the old policy. */
edict_status edict_slot_store(edict_slot* slot, const edict_policy* next);
void edict_slot_free(edict_slot* slot);

/* ---- evaluating ---- */

edict_status edict_evaluator_new(const edict_policy* policy, edict_evaluator** out);
edict_status edict_evaluator_new_from_slot(const edict_slot* slot, edict_evaluator** out);
void edict_evaluator_free(edict_evaluator* evaluator);
/* Sets what the evaluator's next evaluations explain (until set again). */
edict_status edict_evaluator_set_explain(edict_evaluator* evaluator, edict_explain explain);

/* Evaluates one JSON object (one JSON Lines record). *out (may be NULL) gets
 * the decision, valid until the evaluator's next evaluation or its free.
 * Returns EDICT_OK for a decided event, else why it got the decision "error"
 * (the decision is still written). */
edict_status edict_eval_json(edict_evaluator* evaluator, const char* json, size_t length,
                             const edict_decision** out);

/* A typed event of `kind` for the evaluator's policy: set its fields by
 * index (edict_event_field), then evaluate. Values persist until
 * edict_event_clear. */
edict_status edict_event_new(const edict_policy* policy, const char* kind, edict_event** out);
void edict_event_free(edict_event* event);
edict_status edict_event_clear(edict_event* event);
/* The index of field `name`, for the setters. */
edict_status edict_event_field(const edict_event* event, const char* name, int32_t* index);
edict_status edict_event_set_bool(edict_event* event, int32_t field, int value);
edict_status edict_event_set_int(edict_event* event, int32_t field, int64_t value);
edict_status edict_event_set_number(edict_event* event, int32_t field, double value);
/* Strings, and the text forms of countries ("CN"), times (RFC 3339) and durations. */
edict_status edict_event_set_string(edict_event* event, int32_t field, const char* value, size_t length);
edict_status edict_event_set_time(edict_event* event, int32_t field, int64_t micros_since_epoch_utc);
edict_status edict_event_set_absent(edict_event* event, int32_t field);
edict_status edict_eval_event(edict_evaluator* evaluator, const edict_event* event,
                              const edict_decision** out);

/* ---- decisions (strings valid as long as the decision) ---- */

const char* edict_decision_outcome(const edict_decision* decision); /* "deny", ..., or "error" */
edict_status edict_decision_status(const edict_decision* decision);
const char* edict_decision_error(const edict_decision* decision); /* "" unless "error" */
const char* edict_decision_kind(const edict_decision* decision);  /* "" when not decoded */
const char* edict_decision_id(const edict_decision* decision);
size_t edict_decision_rule_count(const edict_decision* decision); /* fired rules */
const char* edict_decision_rule_name(const edict_decision* decision, size_t index);
const char* edict_decision_rule_effect(const edict_decision* decision, size_t index);
const char* edict_decision_rule_cite(const edict_decision* decision, size_t index);
const char* edict_decision_rule_message(const edict_decision* decision, size_t index);
/* The explanation of a decision made with edict_evaluator_set_explain on:
 * one JSON object, as one line of `edict explain --format json` prints it
 * (without the newline; "line" is 1): the decision, and per explained rule
 * its status, message or error, and the value every sub-expression of its
 * `when` and `unless` took. "" when the evaluator does not explain. Valid,
 * like every string of the decision, until the evaluator's next evaluation
 * or its free. */
const char* edict_decision_explanation_json(const edict_decision* decision);

#ifdef __cplusplus
}
#endif

#endif /* EDICT_EDICT_H */
