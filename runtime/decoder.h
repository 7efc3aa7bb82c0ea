// Decodes one JSON Lines record into a batch row, against the policy's event
// schemas: `kind` selects the schema; only the schema's fields are decoded,
// unknown fields are skipped; every failure becomes a row error that names
// the field and the reason. One Decoder per thread (it owns a simdjson parser).
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>

#include "runtime/batch.h"
#include "runtime/schema.h"

namespace edict::runtime {

class Decoder {
 public:
  explicit Decoder(const Schema& schema);
  ~Decoder();
  Decoder(const Decoder&) = delete;
  Decoder& operator=(const Decoder&) = delete;

  // Decodes `line` (no terminator; CR already stripped) as input line
  // `line_number` into a new row of `batch`. The bytes [line.data(),
  // line.data() + capacity) must be readable: simdjson reads up to its
  // padding past the end.
  void decode(std::string_view line, size_t capacity, uint64_t line_number, Batch& batch);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Parses a UTC time quickly when it has the common `YYYY-MM-DDTHH:MM:SSZ`
// shape, falling back to full RFC 3339 parsing.
bool parse_event_time(std::string_view text, int64_t* micros);

}  // namespace edict::runtime
