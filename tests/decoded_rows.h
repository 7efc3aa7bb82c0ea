// The schema and the row comparison shared by the decoder's unit test and
// its fuzzer, which decode each line through the fast path for plain lines
// and the full simdjson path and compare the rows.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>

#include "abi/batch.h"
#include "abi/schema.h"

namespace edict::testing {

// Every column type, optional and unread fields, a computed field, and a
// field name of 16 bytes or more (compared against raw keys chunk by chunk):
// `long_field_name`, which the fuzzer makes long enough to reach past the
// input's padding.
inline abi::Schema decoder_test_schema(const std::string& long_field_name) {
  using abi::ColumnType;
  abi::Schema schema;
  schema.add_kind("rental",
                  {{"id", ColumnType::String, false, -1},
                   {"time", ColumnType::Time, false, -1},
                   {"customer_hq", ColumnType::Country, false, -1},
                   {"chip", ColumnType::String, false, -1},
                   {"note", ColumnType::String, false, -1, false},
                   {"chip_count", ColumnType::Int, false, -1},
                   {"hours", ColumnType::Number, false, -1},
                   {"entity_listed", ColumnType::Bool, false, -1},
                   {"license", ColumnType::String, true, -1},
                   {"lease", ColumnType::Duration, true, -1},
                   {long_field_name, ColumnType::Int, true, -1}},
                  1);
  schema.add_kind("provision",
                  {{"time", ColumnType::Time, false, -1},
                   {"chip", ColumnType::String, false, -1},
                   {"hours", ColumnType::Number, true, -1},
                   {"entity_listed", ColumnType::Bool, false, -1, true, true}},  // computed: never decoded
                  0);
  return schema;
}

// What differs in `row` between `a` and `b` (kind, id, error, or the first
// differing field), or "" when they are the same. Numbers compare bit for
// bit (-0.0 included); unread strings are not materialised, so not compared.
inline std::string row_difference(const abi::Schema& schema, const abi::Batch& a, const abi::Batch& b,
                                  uint32_t row) {
  using abi::ColumnType;
  if (a.kind(row) != b.kind(row)) return "kind";
  if (a.event_kind(row) != b.event_kind(row)) return "event kind";
  if (a.id(row) != b.id(row)) return "id";
  const abi::RowError* ea = a.error_of(row);
  const abi::RowError* eb = b.error_of(row);
  if ((ea == nullptr) != (eb == nullptr)) return "error or not";
  if (ea) {
    if (ea->reason != eb->reason) return "error reason";
    if (ea->message != eb->message) return "error message: " + ea->message + " | " + eb->message;
    return "";
  }
  for (const abi::FieldSpec& f : schema.kinds[a.kind(row)].fields) {
    if (f.computed) continue;
    const abi::Column& ca = a.column(static_cast<size_t>(f.column));
    const abi::Column& cb = b.column(static_cast<size_t>(f.column));
    if (!ca.present.empty()) {
      if (ca.present[row] != cb.present[row]) return f.name + ": presence";
      if (!ca.present[row]) continue;
    }
    bool same = true;
    switch (f.type) {
      case ColumnType::String:
        same = !f.read || a.string(ca.data<uint32_t>()[row]) == b.string(cb.data<uint32_t>()[row]);
        break;
      case ColumnType::Number:
        same = std::memcmp(&ca.data<double>()[row], &cb.data<double>()[row], sizeof(double)) == 0;
        break;
      case ColumnType::Bool: same = ca.data<uint8_t>()[row] == cb.data<uint8_t>()[row]; break;
      case ColumnType::Country: same = ca.data<uint16_t>()[row] == cb.data<uint16_t>()[row]; break;
      default: same = ca.data<int64_t>()[row] == cb.data<int64_t>()[row];
    }
    if (!same) return f.name + ": value";
  }
  return "";
}

}  // namespace edict::testing
