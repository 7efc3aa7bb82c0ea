// The extern "C" string helpers of abi/abi.h: the one implementation of
// Edict's string builtins, called by the interpreter and by JIT code alike.
// `strings` is the edict::abi::Batch whose symbols the arguments are.
#include <algorithm>
#include <cstdlib>
#include <string>
#include <string_view>

#include "abi/abi.h"
#include "abi/batch.h"

namespace {

using edict::abi::Batch;

std::string_view text_of(void* strings, uint32_t symbol) {
  return static_cast<Batch*>(strings)->string(symbol);
}

// ASCII-only case mapping: locale-free, so every engine and machine agrees.
char ascii_lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}
char ascii_upper(char c) {
  return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c;
}

template <char (*Map)(char)>
uint32_t map_case(void* strings, uint32_t s) {
  std::string_view text = text_of(strings, s);
  // Most strings are already in the wanted case: no copy, no new symbol.
  if (std::all_of(text.begin(), text.end(), [](char c) { return Map(c) == c; })) return s;
  // Compiled code has no unwind tables: an allocation failure must not
  // unwind through it.
  try {
    std::string mapped(text);
    for (char& c : mapped) c = Map(c);
    return static_cast<Batch*>(strings)->intern(mapped);
  } catch (...) {
    std::abort();
  }
}

}  // namespace

extern "C" {

int32_t edict_str_starts_with(void* strings, uint32_t s, uint32_t prefix) {
  return text_of(strings, s).starts_with(text_of(strings, prefix)) ? 1 : 0;
}

int32_t edict_str_ends_with(void* strings, uint32_t s, uint32_t suffix) {
  return text_of(strings, s).ends_with(text_of(strings, suffix)) ? 1 : 0;
}

int32_t edict_str_contains(void* strings, uint32_t s, uint32_t part) {
  return text_of(strings, s).find(text_of(strings, part)) != std::string_view::npos ? 1 : 0;
}

uint32_t edict_str_lower(void* strings, uint32_t s) {
  return map_case<ascii_lower>(strings, s);
}

uint32_t edict_str_upper(void* strings, uint32_t s) {
  return map_case<ascii_upper>(strings, s);
}

int64_t edict_str_len(void* strings, uint32_t s) {
  // Event strings are valid UTF-8 (the decoder rejects the rest): a code
  // point is every byte that is not a continuation byte.
  int64_t points = 0;
  for (char c : text_of(strings, s)) points += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return points;
}

int32_t edict_str_compare(void* strings, uint32_t a, uint32_t b) {
  if (a == b) return 0;
  int c = text_of(strings, a).compare(text_of(strings, b));
  return c < 0 ? -1 : c > 0 ? 1 : 0;
}

}  // extern "C"
