/* The data runtime of ahead-of-time libraries: what the C that `edict build`
 * emits for a policy with `data` sources calls to load, replace and read
 * them. It is a thin C face over the runtime's own data layers (abi/data.h's
 * DataSlot and DataSnapshot, data/loader.h's loader, abi/screen.h's name
 * screening), linked into the library from the archive
 * libedict_aot_runtime.a, so a library reads a file, finds a key in force
 * and screens a name exactly as `edict eval` does. compiler/aot embeds this
 * header's text into the generated C (as it does abi/abi.h).
 *
 * The generated C describes each source (EdictRtSchema, from the policy's
 * `data` declaration) and holds one EdictRtSource per source; its lookup
 * helpers resolve the library's own string symbols to bytes and call
 * edict_rt_data_find and edict_rt_data_cell, the byte-level counterparts of
 * abi.h's edict_data_find and edict_data_cell. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A row field: `type` is an edict::abi::CellType (0 bool, 1 int, 2 number,
 * 3 string, 4 country, 5 time, 6 date, 7 list). */
typedef struct EdictRtColumn {
  const char* name;
  const char* header;
  uint8_t type;
  uint8_t optional;
} EdictRtColumn;

/* An edict::abi::DataSchema in C terms (see abi/data.h for each member). */
typedef struct EdictRtSchema {
  const char* name;
  const char* default_file;
  const char* key_header;
  uint8_t key_type;
  uint32_t column_count;
  const EdictRtColumn* columns;
  int32_t in_force_from, in_force_until, score_column;
  uint32_t screen_count;
  const int32_t* screen_columns;
  double screen_threshold;
  uint32_t legal_form_count;
  const char* const* legal_forms;
} EdictRtSchema;

/* One source of a library, the index-th it declares. `slot` (an
 * edict::abi::DataSlot) is made by the first successful load and read
 * atomically; it and every version loaded into it live as long as the
 * process, so a version an evaluation holds and the rows a lookup returned
 * stay valid (as in the JIT, where they live as long as the policy). */
typedef struct EdictRtSource {
  const EdictRtSchema* schema;
  uint32_t index;
  void* slot;
} EdictRtSource;

/* Reads `path` (CSV or JSON Lines, by its extension) and makes it the
 * source's current version, atomically for every thread. Returns 1, or 0
 * with the previous version still in use and `error` (NUL-terminated,
 * truncated to error_size) saying where and what:
 * `file:line:col: error[E0074]: ...`. Thread-safe. */
int32_t edict_rt_data_load(EdictRtSource* source, const char* path, char* error, size_t error_size);
/* The version in use now (an edict::abi::DataSnapshot), or NULL before the
 * first load. An evaluation reads it once per source and looks up in it
 * (edict_rt_data_find), so one decision never mixes two versions. */
const void* edict_rt_data_current(const EdictRtSource* source);
/* `sha256:<hex>` of the current version's file (the data version decision
 * records name), or NULL before the first load. Valid for the process. */
const char* edict_rt_data_version(const EdictRtSource* source);
/* The path the current version was read from, or NULL. */
const char* edict_rt_data_file(const EdictRtSource* source);
/* The row of version `snapshot` (edict_rt_data_current, may be NULL) in
 * force at `time` under `key` (the key's bits as the IR holds them; a
 * string key or a screened name as its bytes `text`), as edict_data_find:
 * the row's address, or -1. */
int64_t edict_rt_data_find(const void* snapshot, uint64_t key, const char* text, size_t size, int64_t time);
/* A cell of a row as edict_data_cell gives it, except that a string cell
 * comes back as its bytes (*text, *size, valid for the process) for the
 * caller to make a symbol of; *text is NULL for every other cell. */
uint64_t edict_rt_data_cell(int64_t row, uint32_t column, const char** text, size_t* size);

#ifdef __cplusplus
}
#endif
