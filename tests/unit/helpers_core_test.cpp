// Unit tests for abi/helpers_core.c, the byte-level string semantics that the
// runtime's helpers and every ahead-of-time library compile: NUL bytes,
// non-ASCII UTF-8, mixed case and empty strings, where copies used to drift,
// and UTF-8 validation against simdjson's (which the decoder applies).
#include <fmt/format.h>
#include <simdjson.h>

#include <catch2/catch.hpp>
#include <string>
#include <string_view>

#include "abi/helpers_core.h"

namespace {

EdictBytes bytes(std::string_view s) {
  return EdictBytes{s.data(), s.size()};
}

std::string mapped(std::string_view s, int32_t to_case) {
  std::string out(s.size(), '?');
  edict_str_bytes_map_case(bytes(s), to_case, out.data());
  return out;
}

using namespace std::string_view_literals;

}  // namespace

TEST_CASE("string helpers treat NUL as an ordinary byte", "[abi][helpers]") {
  const auto a_nul_b = "a\0b"sv, a_nul = "a\0"sv, a_nul_c = "a\0c"sv;
  CHECK(edict_str_bytes_compare(bytes("a"), bytes(a_nul)) == -1);  // shorter first on a common prefix
  CHECK(edict_str_bytes_compare(bytes(a_nul), bytes("a")) == 1);
  CHECK(edict_str_bytes_compare(bytes(a_nul_b), bytes(a_nul_c)) == -1);
  CHECK(edict_str_bytes_compare(bytes(a_nul_b), bytes(a_nul_b)) == 0);
  CHECK(edict_str_bytes_starts_with(bytes(a_nul_b), bytes(a_nul)) == 1);
  CHECK(edict_str_bytes_starts_with(bytes(a_nul_b), bytes(a_nul_c)) == 0);
  CHECK(edict_str_bytes_ends_with(bytes(a_nul_b), bytes("\0b"sv)) == 1);
  CHECK(edict_str_bytes_ends_with(bytes(a_nul_b), bytes("b")) == 1);
  CHECK(edict_str_bytes_contains(bytes(a_nul_b), bytes("\0"sv)) == 1);
  CHECK(edict_str_bytes_contains(bytes("ab"), bytes("\0"sv)) == 0);
  CHECK(edict_str_bytes_contains(bytes("x\0ab\0a\0b"sv), bytes(a_nul_b)) == 1);  // a false start first
  CHECK(edict_str_bytes_len(bytes(a_nul_b)) == 3);
  CHECK(mapped("A\0B"sv, EDICT_CASE_LOWER) == "a\0b"sv);
  CHECK(mapped("a\0b"sv, EDICT_CASE_UPPER) == "A\0B"sv);
}

TEST_CASE("string helpers on empty strings", "[abi][helpers]") {
  const EdictBytes empty{nullptr, 0};
  CHECK(edict_str_bytes_compare(empty, empty) == 0);
  CHECK(edict_str_bytes_compare(empty, bytes("a")) == -1);
  CHECK(edict_str_bytes_starts_with(empty, empty) == 1);
  CHECK(edict_str_bytes_starts_with(bytes("abc"), empty) == 1);
  CHECK(edict_str_bytes_starts_with(empty, bytes("a")) == 0);
  CHECK(edict_str_bytes_ends_with(empty, empty) == 1);
  CHECK(edict_str_bytes_ends_with(bytes("abc"), empty) == 1);
  CHECK(edict_str_bytes_contains(empty, empty) == 1);
  CHECK(edict_str_bytes_contains(empty, bytes("a")) == 0);
  CHECK(edict_str_bytes_len(empty) == 0);
  CHECK(edict_str_bytes_changes_case(empty, EDICT_CASE_UPPER) == 0);
  CHECK(edict_str_bytes_valid_utf8(empty) == 1);
}

TEST_CASE("case mapping is ASCII-only and length counts code points", "[abi][helpers]") {
  CHECK(mapped("MiXeD 9_z", EDICT_CASE_LOWER) == "mixed 9_z");
  CHECK(mapped("MiXeD 9_z", EDICT_CASE_UPPER) == "MIXED 9_Z");
  // É, ß, İ and ǅ stay as they are: no locale, no Unicode case tables.
  CHECK(mapped("ÉCOLE ß İ ǅ", EDICT_CASE_LOWER) == "École ß İ ǅ");
  CHECK(mapped("école ß", EDICT_CASE_UPPER) == "éCOLE ß");
  CHECK(edict_str_bytes_changes_case(bytes("école 9"), EDICT_CASE_LOWER) == 0);
  CHECK(edict_str_bytes_changes_case(bytes("école 9"), EDICT_CASE_UPPER) == 1);
  CHECK(edict_str_bytes_changes_case(bytes("ÉCOLE"), EDICT_CASE_UPPER) == 0);
  // Bytes of multi-byte sequences are never letters: @ and [ border A-Z, ` and { border a-z.
  CHECK(mapped("@[`{", EDICT_CASE_LOWER) == "@[`{");
  CHECK(mapped("@[`{", EDICT_CASE_UPPER) == "@[`{");
  CHECK(edict_str_bytes_len(bytes("école")) == 5);
  CHECK(edict_str_bytes_len(bytes("😀x")) == 2);
  CHECK(edict_str_bytes_compare(bytes("é"), bytes("z")) == 1);  // bytes, unsigned: 0xC3 > 'z'
  CHECK(edict_str_bytes_contains(bytes("naïve"), bytes("ï")) == 1);
  CHECK(edict_str_bytes_ends_with(bytes("naïve"), bytes("\xAF"
                                                        "ve")) == 1);  // bytes, not code points
}

TEST_CASE("UTF-8 validation agrees with simdjson's on every sequence of up to three bytes",
          "[abi][helpers]") {
  // simdjson validates events in the decoder; ahead-of-time libraries use
  // the core. Every one- and two-byte string, every three-byte string that
  // starts with a non-ASCII byte, and four-byte leads with boundary bytes.
  size_t disagreements = 0, valid = 0;
  auto compare = [&](const char* s, size_t n) {
    const bool core = edict_str_bytes_valid_utf8(EdictBytes{s, n}) != 0;
    valid += core;
    if (core != simdjson::validate_utf8(s, n) && ++disagreements <= 5) {
      std::string hex;
      for (size_t i = 0; i < n; ++i) hex += fmt::format("{:02X} ", static_cast<unsigned char>(s[i]));
      FAIL_CHECK("the core says " << (core ? "valid" : "invalid") << ", simdjson not, on " << hex);
    }
  };
  char b[4];
  for (int x = 0; x < 256; ++x) {
    b[0] = static_cast<char>(x);
    compare(b, 1);
    for (int y = 0; y < 256; ++y) {
      b[1] = static_cast<char>(y);
      compare(b, 2);
      if (x < 0x80) continue;
      for (int z = 0; z < 256; ++z) {
        b[2] = static_cast<char>(z);
        compare(b, 3);
      }
    }
  }
  const int edges[] = {0x00, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xFF};
  for (int x = 0xF0; x <= 0xF8; ++x)
    for (int y = 0; y < 256; ++y)
      for (int z : edges)
        for (int w : edges) {
          const char four[4] = {static_cast<char>(x), static_cast<char>(y), static_cast<char>(z),
                                static_cast<char>(w)};
          compare(four, 4);
        }
  CHECK(disagreements == 0);
  CHECK(valid > 60000);                                           // the loops did reach valid multi-byte text
  CHECK(edict_str_bytes_valid_utf8(bytes("\xED\x9F\xBF")) == 1);  // U+D7FF
  CHECK(edict_str_bytes_valid_utf8(bytes("\xED\xA0\x80")) == 0);  // U+D800, a surrogate
  CHECK(edict_str_bytes_valid_utf8(bytes("\xF4\x8F\xBF\xBF")) == 1);  // U+10FFFF
  CHECK(edict_str_bytes_valid_utf8(bytes("\xF4\x90\x80\x80")) == 0);  // past U+10FFFF
  CHECK(edict_str_bytes_valid_utf8(bytes("\xC0\xAF")) == 0);          // overlong '/'
  CHECK(edict_str_bytes_valid_utf8(bytes("ok\xE2\x82")) == 0);        // truncated at the end
}
