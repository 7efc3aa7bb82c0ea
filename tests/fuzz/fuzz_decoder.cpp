// libFuzzer target for event decoding (hostile JSON Lines): every line of the
// input is decoded by the fast path for plain lines and by the full simdjson
// path into two batches, under ASan. Neither may crash or read out of bounds,
// and both must give the same row (kind, id, error reason and message, every
// column). Each line is also judged by an independent strict parser
// (nlohmann-json): a line that decodes must be valid JSON, and one that is
// not must be an invalid_json or invalid_utf8 error (and valid JSON never is
// one, unless nested deeper than the decoder's limit). Also built without
// libFuzzer as a replay tool (replay_main.cpp).
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "abi/batch.h"
#include "abi/schema.h"
#include "abi/strings.h"
#include "engine/decode/decoder.h"
#include "tests/decoded_rows.h"

namespace {

using namespace edict::abi;
using namespace edict::decode;

constexpr size_t kPadding = 64;  // simdjson::SIMDJSON_PADDING, which the decoder requires

enum class Json { Valid, Invalid, Unknown };

// Whether `line` is one JSON text (RFC 8259), by a parser that shares no code
// with the decoder. nlohmann skips a leading byte order mark, which only the
// line reader may do (at the start of the input), and stops at a NUL byte as
// at the end of input; a line with either is not JSON (a raw NUL is never
// valid: outside strings it is no token, inside one a control character).
// nlohmann also refuses a number beyond a double's range, which RFC 8259's
// grammar allows (and the decoder accepts where it need not read it): no
// verdict then.
Json strict_json(std::string_view line) {
  if (line.size() >= 3 && line.substr(0, 3) == "\xEF\xBB\xBF") return Json::Invalid;
  if (line.find('\0') != std::string_view::npos) return Json::Invalid;
  try {
    const nlohmann::json parsed = nlohmann::json::parse(line);
    (void)parsed;
    return Json::Valid;
  } catch (const nlohmann::json::out_of_range&) {
    return Json::Unknown;  // 406: number overflow
  } catch (const nlohmann::json::exception&) {
    return Json::Invalid;
  }
}

// Whether `line` might nest more than the decoder's 1,024 levels.
bool may_nest_deeply(std::string_view line) {
  size_t opens = 0;
  for (char c : line) opens += c == '[' || c == '{';
  return opens > 1024;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const Schema schema = edict::testing::decoder_test_schema(
      "a_field_name_well_beyond_sixteen_bytes_and_then_some_more_of_it_to_pass_the_padding");
  static SymbolTable symbols;
  Decoder fast(schema), full(schema, false);
  Batch a(schema, symbols, 64), b(schema, symbols, 64);
  std::string_view input(reinterpret_cast<const char*>(data), size);
  uint64_t number = 0;
  while (!input.empty()) {
    size_t end = input.find('\n');
    std::string_view line = input.substr(0, end);
    input = end == std::string_view::npos ? std::string_view() : input.substr(end + 1);
    ++number;
    if (a.full()) {
      a.clear();
      b.clear();
    }
    // Exactly the line plus simdjson's padding (an allocation of that size,
    // unlike a string's capacity), so ASan sees any read beyond.
    std::vector<char> padded(line.size() + kPadding, '\0');
    std::memcpy(padded.data(), line.data(), line.size());
    fast.decode(std::string_view(padded.data(), line.size()), padded.size(), number, a);
    full.decode(std::string_view(padded.data(), line.size()), padded.size(), number, b);
    const uint32_t row = a.size() - 1;
    if (!edict::testing::row_difference(schema, a, b, row).empty()) __builtin_trap();
    const Json verdict = strict_json(line);
    if (verdict == Json::Unknown) continue;
    const bool valid = verdict == Json::Valid;
    if (a.kind(row) != kErrorRow && !valid) __builtin_trap();  // decided on a line that is not JSON
    if (a.kind(row) == kErrorRow) {
      const RowError* e = a.error_of(row);
      if (!e) __builtin_trap();
      const bool json_error = e->reason == ErrorReason::InvalidJson || e->reason == ErrorReason::InvalidUtf8;
      if (!valid && !json_error) __builtin_trap();  // an error, but not the one saying it is not JSON
      if (valid && json_error && !may_nest_deeply(line)) __builtin_trap();  // valid JSON called invalid
    }
  }
  return 0;
}
