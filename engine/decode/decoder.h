// Decodes one JSON Lines record into a batch row, against the policy's event
// schemas: `kind` selects the schema; only the schema's fields are decoded,
// unknown fields are skipped; every failure becomes a row error that names
// the field and the reason. One Decoder per thread (it owns a simdjson parser).
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>

#include "abi/batch.h"
#include "abi/schema.h"

namespace edict::decode {

// Bytes past a line's end that decode() may read (simdjson's padding); a
// decode::Line's capacity covers them.
inline constexpr size_t kLinePadding = 64;
// The longest line decoded unless the caller says otherwise (--max-line-bytes).
inline constexpr size_t kDefaultMaxLineBytes = size_t{1} << 20;

class Decoder {
 public:
  // `fast_path` false: every line takes the full simdjson path (tests
  // compare the two paths). A line longer than `max_line_bytes` is a
  // line_too_long row error; the parser's memory grows with the longest
  // line decoded (about 7 bytes per byte of it), up to that.
  explicit Decoder(const abi::Schema& schema, bool fast_path = true,
                   size_t max_line_bytes = kDefaultMaxLineBytes);
  ~Decoder();
  Decoder(const Decoder&) = delete;
  Decoder& operator=(const Decoder&) = delete;

  // Decodes `line` (no terminator; CR already stripped) as input line
  // `line_number` into a new row of `batch`. The bytes [line.data(),
  // line.data() + capacity) must be readable: simdjson reads up to its
  // padding past the end.
  void decode(std::string_view line, size_t capacity, uint64_t line_number, abi::Batch& batch);
  // Lines decoded by the fast path for plain lines (flat printable-ASCII
  // objects without escapes), the rest by the full simdjson path.
  uint64_t plain_lines() const;

 private:
  // Reads up to simdjson's padding past the line's end (decode checks it).
  bool decode_plain(std::string_view line, uint32_t row, abi::Batch& batch);
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Parses a UTC time quickly when it has the common `YYYY-MM-DDTHH:MM:SSZ`
// shape, falling back to full RFC 3339 parsing.
bool parse_event_time(std::string_view text, int64_t* micros);

}  // namespace edict::decode
