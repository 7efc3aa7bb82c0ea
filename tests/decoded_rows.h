// Compares one row decoded into two batches of the same schema: the fast
// path for plain lines against the full simdjson path, in the decoder's unit
// test and its fuzzer.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>

#include "runtime/batch.h"
#include "runtime/schema.h"

namespace edict::testing {

// What differs in `row` between `a` and `b` (kind, id, error, or the first
// differing field), or "" when they are the same. Numbers compare bit for
// bit (-0.0 included); unread strings are not materialised, so not compared.
inline std::string row_difference(const runtime::Schema& schema, const runtime::Batch& a,
                                  const runtime::Batch& b, uint32_t row) {
  using runtime::ColumnType;
  if (a.kind(row) != b.kind(row)) return "kind";
  if (a.event_kind(row) != b.event_kind(row)) return "event kind";
  if (a.id(row) != b.id(row)) return "id";
  const runtime::RowError* ea = a.error_of(row);
  const runtime::RowError* eb = b.error_of(row);
  if ((ea == nullptr) != (eb == nullptr)) return "error or not";
  if (ea) {
    if (ea->reason != eb->reason) return "error reason";
    if (ea->message != eb->message) return "error message: " + ea->message + " | " + eb->message;
    return "";
  }
  for (const runtime::FieldSpec& f : schema.kinds[a.kind(row)].fields) {
    if (f.computed) continue;
    const runtime::Column& ca = a.column(static_cast<size_t>(f.column));
    const runtime::Column& cb = b.column(static_cast<size_t>(f.column));
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
