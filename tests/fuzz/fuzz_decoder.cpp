// libFuzzer target for event decoding (hostile JSON Lines): every line of the
// input is decoded by the fast path for plain lines and by the full simdjson
// path into two batches, under ASan. Neither may crash or read out of bounds,
// and both must give the same row (kind, id, error reason and message, every
// column). Also built without libFuzzer as a replay tool (replay_main.cpp).
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "abi/batch.h"
#include "abi/schema.h"
#include "abi/strings.h"
#include "engine/decode/decoder.h"
#include "tests/decoded_rows.h"

namespace {

using namespace edict::abi;
using namespace edict::decode;

constexpr size_t kPadding = 64;  // simdjson::SIMDJSON_PADDING, which the decoder requires

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
    if (!edict::testing::row_difference(schema, a, b, a.size() - 1).empty()) __builtin_trap();
  }
  return 0;
}
