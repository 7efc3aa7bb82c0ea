/* How a country code is read: two upper-case ASCII letters and nothing
 * else, at the dense index (first - 'A') * 26 + (second - 'A'). Whether the
 * code is assigned is the table's business (countries.h). Plain C99, so
 * `edict build` embeds this very text into ahead-of-time libraries, next to
 * a table of assigned codes generated from countries.cpp. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* The dense index of `code` (`size` bytes), or -1 when it is not two
 * upper-case ASCII letters. */
static inline int32_t edict_country_dense_index(const char* code, size_t size) {
  if (size != 2 || code[0] < 'A' || code[0] > 'Z' || code[1] < 'A' || code[1] > 'Z') return -1;
  return (code[0] - 'A') * 26 + (code[1] - 'A');
}
