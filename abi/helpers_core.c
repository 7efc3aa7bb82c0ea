/* The byte-level string semantics declared in helpers_core.h. Plain C99 and
 * self-contained (the standard C library only): `edict build` compiles this
 * very text into ahead-of-time libraries, which link nothing of Edict's. */
#include "abi/helpers_core.h"

#include <string.h>

/* memcmp and memchr must not see a NULL pointer, even for 0 bytes. */
static int same_bytes(const char* a, const char* b, size_t n) {
  return n == 0 || memcmp(a, b, n) == 0;
}

EDICT_STR_BYTES_LINKAGE int32_t edict_str_bytes_starts_with(EdictBytes s, EdictBytes prefix) {
  return prefix.size <= s.size && same_bytes(s.data, prefix.data, prefix.size);
}

EDICT_STR_BYTES_LINKAGE int32_t edict_str_bytes_ends_with(EdictBytes s, EdictBytes suffix) {
  return suffix.size <= s.size && same_bytes(s.data + (s.size - suffix.size), suffix.data, suffix.size);
}

EDICT_STR_BYTES_LINKAGE int32_t edict_str_bytes_contains(EdictBytes s, EdictBytes part) {
  if (part.size == 0) return 1;
  if (part.size > s.size) return 0;
  const char* last = s.data + (s.size - part.size);
  for (const char* p = s.data; p <= last; ++p) {
    /* The first byte by memchr, which is vectorised; the rest by memcmp. */
    p = (const char*)memchr(p, part.data[0], (size_t)(last - p) + 1);
    if (!p) return 0;
    if (memcmp(p + 1, part.data + 1, part.size - 1) == 0) return 1;
  }
  return 0;
}

EDICT_STR_BYTES_LINKAGE int32_t edict_str_bytes_compare(EdictBytes a, EdictBytes b) {
  const size_t common = a.size < b.size ? a.size : b.size;
  const int c = common == 0 ? 0 : memcmp(a.data, b.data, common);
  if (c != 0) return c < 0 ? -1 : 1;
  return a.size < b.size ? -1 : a.size > b.size ? 1 : 0;
}

EDICT_STR_BYTES_LINKAGE int64_t edict_str_bytes_len(EdictBytes s) {
  int64_t points = 0;
  for (size_t i = 0; i < s.size; ++i) points += ((unsigned char)s.data[i] & 0xC0) != 0x80;
  return points;
}

/* The first letter of the range that mapping to the case changes: 'a' for
 * upper case, 'A' for lower case. A byte is in the range when it lies at
 * most 25 past it, and maps by flipping bit 5 ('a' ^ 'A'): branch-free, so
 * compilers vectorise the loops. */
static unsigned char case_range(int32_t to_case) {
  return to_case == EDICT_CASE_UPPER ? 'a' : 'A';
}

EDICT_STR_BYTES_LINKAGE int32_t edict_str_bytes_changes_case(EdictBytes s, int32_t to_case) {
  const unsigned char first = case_range(to_case);
  for (size_t i = 0; i < s.size; ++i)
    if ((unsigned char)((unsigned char)s.data[i] - first) < 26) return 1;
  return 0;
}

EDICT_STR_BYTES_LINKAGE void edict_str_bytes_map_case(EdictBytes s, int32_t to_case, char* out) {
  const unsigned char first = case_range(to_case);
  for (size_t i = 0; i < s.size; ++i) {
    const unsigned char c = (unsigned char)s.data[i];
    out[i] = (char)(c ^ ((unsigned char)(c - first) < 26 ? 0x20 : 0));
  }
}

EDICT_STR_BYTES_LINKAGE int32_t edict_str_bytes_valid_utf8(EdictBytes s) {
  const unsigned char* p = (const unsigned char*)s.data;
  size_t i = 0;
  while (i < s.size) {
    const unsigned char c = p[i];
    if (c < 0x80) { /* event strings are mostly ASCII */
      ++i;
      continue;
    }
    /* The sequence's length and the range of its second byte, which rules
     * out overlong forms (E0, F0), surrogates (ED) and values past U+10FFFF
     * (F4); every later byte is a plain continuation byte. */
    size_t length;
    unsigned char low = 0x80, high = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
      length = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      length = 3;
      if (c == 0xE0) low = 0xA0;
      if (c == 0xED) high = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      length = 4;
      if (c == 0xF0) low = 0x90;
      if (c == 0xF4) high = 0x8F;
    } else {
      return 0;
    }
    if (length > s.size - i || p[i + 1] < low || p[i + 1] > high) return 0;
    for (size_t k = 2; k < length; ++k)
      if (p[i + k] < 0x80 || p[i + k] > 0xBF) return 0;
    i += length;
  }
  return 1;
}
