// The extern "C" string helpers of abi/abi.h, called by the interpreter and
// by JIT code alike: each resolves its symbols through the batch and leaves
// every decision to the byte-level core (abi/helpers_core.c), which
// ahead-of-time libraries compile too. `strings` is the edict::abi::Batch
// whose symbols the arguments are.
#include <cstdlib>
#include <string>
#include <string_view>

#include "abi/abi.h"
#include "abi/batch.h"
#include "abi/helpers_core.h"

namespace {

using edict::abi::Batch;

// Inlined into each helper, as the batch lookup was before the core moved
// out: one call per helper, to the core.
[[gnu::always_inline]] inline EdictBytes bytes_of(void* strings, uint32_t symbol) {
  std::string_view text = static_cast<Batch*>(strings)->string(symbol);
  return EdictBytes{text.data(), text.size()};
}

uint32_t map_case(void* strings, uint32_t s, int32_t to_case) {
  EdictBytes text = bytes_of(strings, s);
  // Most strings are already in the wanted case: no copy, no new symbol.
  if (!edict_str_bytes_changes_case(text, to_case)) return s;
  // Compiled code has no unwind tables: an allocation failure (here or in
  // the batch's arena) must not unwind through it.
  try {
    // Event strings are short: mapped on the stack; the batch keeps a copy.
    char buffer[128];
    if (text.size <= sizeof buffer) {
      edict_str_bytes_map_case(text, to_case, buffer);
      return static_cast<Batch*>(strings)->intern(std::string_view(buffer, text.size));
    }
    std::string mapped(text.data, text.size);
    edict_str_bytes_map_case(EdictBytes{mapped.data(), mapped.size()}, to_case, mapped.data());
    return static_cast<Batch*>(strings)->intern(mapped);
  } catch (...) {
    std::abort();
  }
}

}  // namespace

extern "C" {

int32_t edict_str_starts_with(void* strings, uint32_t s, uint32_t prefix) {
  return edict_str_bytes_starts_with(bytes_of(strings, s), bytes_of(strings, prefix));
}

int32_t edict_str_ends_with(void* strings, uint32_t s, uint32_t suffix) {
  return edict_str_bytes_ends_with(bytes_of(strings, s), bytes_of(strings, suffix));
}

int32_t edict_str_contains(void* strings, uint32_t s, uint32_t part) {
  return edict_str_bytes_contains(bytes_of(strings, s), bytes_of(strings, part));
}

uint32_t edict_str_lower(void* strings, uint32_t s) {
  return map_case(strings, s, EDICT_CASE_LOWER);
}

uint32_t edict_str_upper(void* strings, uint32_t s) {
  return map_case(strings, s, EDICT_CASE_UPPER);
}

int64_t edict_str_len(void* strings, uint32_t s) {
  // Event strings are valid UTF-8: the decoder rejects the rest.
  return edict_str_bytes_len(bytes_of(strings, s));
}

int32_t edict_str_compare(void* strings, uint32_t a, uint32_t b) {
  if (a == b) return 0;
  return edict_str_bytes_compare(bytes_of(strings, a), bytes_of(strings, b));
}

}  // extern "C"
