/* The contract between evaluation engines and the runtime, in C terms so JIT
 * and ahead-of-time compiled code can use it: the columns an engine reads,
 * the results it writes, and the string helpers it calls. Helpers are
 * implemented once (abi/helpers.cpp, over the byte-level core in
 * abi/helpers_core.c) and called by the interpreter and by compiled code
 * alike; ahead-of-time libraries compile this file and that core verbatim,
 * so string semantics live in one place. */
#pragma once

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Decision codes besides outcome indices (0 = weakest declared outcome). */
#define EDICT_DECISION_ERROR 0xFE   /* a rule faulted on this event */
#define EDICT_DECISION_SKIPPED 0xFF /* the row failed to decode; nothing evaluated */
#define EDICT_KIND_ERROR 0xFF       /* EdictColumns.kind of a row that failed to decode */

/* One batch of decoded events, in input order (see abi/batch.h). */
typedef struct EdictColumns {
  uint32_t rows;
  const uint8_t* kind;           /* per row: event kind index, or EDICT_KIND_ERROR */
  const void* const* data;       /* per batch column: element array (schema.h widths) */
  const uint8_t* const* present; /* per batch column: presence bytes, or NULL when never optional */
  void* strings;                 /* opaque string context for the helpers (the Batch) */
} EdictColumns;

/* Per-row results. fired: rows * fired_words 64-bit words, bit r = rule r fired. */
typedef struct EdictResults {
  uint64_t* fired;
  uint32_t fired_words;
  uint8_t* decision;     /* outcome index, EDICT_DECISION_ERROR or EDICT_DECISION_SKIPPED */
  uint32_t* fault_rule;  /* decision == ERROR: the first rule (in rule order) that faulted */
  uint32_t* fault_site;  /* decision == ERROR: its IR fault site (ir::Module::fault_sites) */
  uint8_t* fault_reason; /* decision == ERROR: the ir::FaultReason of that fault */
} EdictResults;

/* Evaluates every row of a batch. Never throws, never reads out of bounds. */
typedef void (*EdictEvalBatchFn)(const EdictColumns* columns, EdictResults* results);

/* One event of a known kind laid out flat (the embedding API's typed event):
 * with n the kind's field count, field i's value is at byte
 * EDICT_RECORD_VALUE(i) in its column element type (schema.h widths, at the
 * start of its 8-byte slot) and its presence byte (1: present) at
 * EDICT_RECORD_PRESENT(n, i). EDICT_RECORD_BYTES(n) bytes in all, 8-byte
 * aligned. Windowed aggregate fields have no value in a record. A country
 * value must be a valid index (countries.h, below 26 * 26): record code
 * indexes tables with it unchecked. */
#define EDICT_RECORD_VALUE(i) (8u * (uint64_t)(i))
#define EDICT_RECORD_PRESENT(n, i) (8u * (uint64_t)(n) + (uint64_t)(i))
#define EDICT_RECORD_BYTES(n) (8u * (uint64_t)(n) + (((uint64_t)(n) + 7u) & ~(uint64_t)7u))

/* Decides one event of the function's kind from its record as the batch
 * function decides a row: writes results->decision[0], the fired words of
 * row 0 and, when the decision is EDICT_DECISION_ERROR, fault_rule[0],
 * fault_site[0] and fault_reason[0]; returns the decision. `strings` is the
 * string context of the record's symbols (EdictColumns.strings). Unlike the
 * batch function it checks nothing: results->fired_words must cover every
 * rule. */
typedef uint32_t (*EdictEvalRecordFn)(const void* record, void* strings, const EdictResults* results);

/* The inputs of windowed aggregates (the key, filter and operand functions of
 * ir::AggregateInput) over every row of a batch, so the window stage reads
 * columns instead of interpreting them. For each compiled function i (an
 * order the compiler and the window stage agree on), on every row whose kind
 * is the function's event kind: values[i][row] = the result's bits (as the
 * interpreter's registers hold them; a fires function gives 0 or 1) and
 * sites[i][row] = the fault site of a fault, else UINT32_MAX. Other rows get
 * unspecified contents. Returns 0 without writing anything when the batch
 * lacks a presence array the code needs, else 1. */
typedef int32_t (*EdictEvalInputsFn)(const EdictColumns* columns, uint64_t* const* values,
                                     uint32_t* const* sites);

/* String helpers. Strings are 32-bit symbols resolved through `strings`;
 * equal symbols <=> equal strings within one batch. */
int32_t edict_str_starts_with(void* strings, uint32_t s, uint32_t prefix);
int32_t edict_str_ends_with(void* strings, uint32_t s, uint32_t suffix);
int32_t edict_str_contains(void* strings, uint32_t s, uint32_t part);
uint32_t edict_str_lower(void* strings, uint32_t s);
uint32_t edict_str_upper(void* strings, uint32_t s);
int64_t edict_str_len(void* strings, uint32_t s);
/* <0, 0, >0 as memcmp over the bytes, shorter first on a common prefix. */
int32_t edict_str_compare(void* strings, uint32_t a, uint32_t b);

/* Reference data (abi/data.h). `slot` is an edict::abi::DataSlot; a row is
 * the address of a DataSnapshot::Row, or -1 for none. A string key is a
 * symbol of `strings`; a string cell comes back as one. The row is the one
 * in force at `time` (micros UTC). Never fault. */
int64_t edict_data_find(const void* slot, void* strings, uint64_t key, int64_t time);
/* The same lookup for every row of a batch at once, so that compiled code
 * calls no helper inside its row loop: for each row r < rows whose kinds[r]
 * is `kind`, out[r] = edict_data_find(slot, strings, keys[r], times[r]);
 * other rows get -1. Keys are string symbols; `out` is scratch of the batch
 * (`strings`) for lookup site `site`, valid until the batch's next
 * evaluation, and returned. Reads the slot's current snapshot once. */
const int64_t* edict_data_find_rows(const void* slot, void* strings, const uint32_t* keys,
                                    const int64_t* times, const uint8_t* kinds, uint32_t kind, uint32_t rows,
                                    uint32_t site);
int32_t edict_data_cell_has(int64_t row, uint32_t column);
uint64_t edict_data_cell(int64_t row, void* strings, uint32_t column);

#ifdef __cplusplus
}
#endif
