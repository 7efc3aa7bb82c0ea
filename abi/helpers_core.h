/* The byte-level semantics of Edict's string builtins, over (pointer, size)
 * strings: what abi.h's edict_str_* helpers decide once they have resolved
 * their symbols, and the UTF-8 check strings pass on the way in. Plain C99,
 * so one text serves twice: the runtime compiles helpers_core.c into
 * edict_abi (abi/helpers.cpp calls it), and `edict build` embeds both files
 * verbatim into the C source of every ahead-of-time library. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* External in the runtime. An ahead-of-time library defines it as
 * `static __attribute__((unused))` before the embedded text, so its compiler
 * may inline the core into the helpers and drops what the policy never
 * calls. */
#ifndef EDICT_STR_BYTES_LINKAGE
#define EDICT_STR_BYTES_LINKAGE
#endif

/* A borrowed string: `size` bytes at `data`, not NUL-terminated; NUL is an
 * ordinary byte. `data` may be NULL when `size` is 0. */
typedef struct EdictBytes {
  const char* data;
  size_t size;
} EdictBytes;

EDICT_STR_BYTES_LINKAGE int32_t edict_str_bytes_starts_with(EdictBytes s, EdictBytes prefix);
EDICT_STR_BYTES_LINKAGE int32_t edict_str_bytes_ends_with(EdictBytes s, EdictBytes suffix);
/* Every string contains the empty string. */
EDICT_STR_BYTES_LINKAGE int32_t edict_str_bytes_contains(EdictBytes s, EdictBytes part);
/* -1, 0 or 1 as memcmp over the bytes, the shorter first on a common prefix. */
EDICT_STR_BYTES_LINKAGE int32_t edict_str_bytes_compare(EdictBytes a, EdictBytes b);
/* Code points of a valid UTF-8 string: the bytes that are not continuation
 * bytes. */
EDICT_STR_BYTES_LINKAGE int64_t edict_str_bytes_len(EdictBytes s);

/* Case mapping is ASCII-only (A-Z <-> a-z; every other byte, including
 * non-ASCII UTF-8, unchanged): locale-free, so every engine and machine
 * agrees. A mapping never changes the size. */
#define EDICT_CASE_LOWER 0
#define EDICT_CASE_UPPER 1
/* 1 when mapping `s` to the case would change some byte, else 0 (callers
 * keep the string as it is, without a copy). */
EDICT_STR_BYTES_LINKAGE int32_t edict_str_bytes_changes_case(EdictBytes s, int32_t to_case);
/* Writes `s` mapped to the case into out[0 .. s.size); `out` may be
 * `s.data` itself. */
EDICT_STR_BYTES_LINKAGE void edict_str_bytes_map_case(EdictBytes s, int32_t to_case, char* out);

/* 1 for well-formed UTF-8 (no overlong forms, surrogates or code points
 * past U+10FFFF; NUL allowed), else 0. */
EDICT_STR_BYTES_LINKAGE int32_t edict_str_bytes_valid_utf8(EdictBytes s);

#ifdef __cplusplus
}
#endif
