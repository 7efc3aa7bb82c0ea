// A columnar batch of decoded events in input order: one plain array per
// column (see schema.h for the element types), a presence byte per optional
// column, the kind of each row, and per-row errors for lines that could not
// be decoded. Both evaluation engines read batches; JIT code gets raw column
// pointers (BatchView).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "abi/schema.h"
#include "abi/strings.h"
#include "support/cache_aligned.h"

namespace edict::abi {

inline constexpr uint8_t kErrorRow = 0xFF;  // Batch::kind of a row that failed to decode

// Why a line or an event got the decision `error`. Stable names (see
// error_reason_name) appear in output records and the run summary.
enum class ErrorReason : uint8_t {
  None,
  BlankLine,
  LineTooLong,
  InvalidUtf8,
  InvalidJson,
  NotObject,
  MissingKind,
  UnknownKind,
  MissingField,
  WrongType,
  NullValue,
  BadCountry,
  BadTime,
  DuplicateKey,
  // Evaluation faults (fail closed), named with the rule.
  IntegerOverflow,
  DivisionByZero,
  NonFiniteNumber,
  AbsentValue,
  // Windowed aggregates (engine/window).
  LateEvent,         // earlier than the latest event time minus --max-lateness
  WindowStateLimit,  // the windows would hold more events than --max-window-events
  FutureEvent,       // later than this machine's clock plus --max-future (`edict eval`)
};
const char* error_reason_name(ErrorReason r);

struct Column {
  ColumnType type = ColumnType::Int;
  CacheAlignedVector<uint64_t> storage;  // raw bytes, 64-byte aligned
  CacheAlignedVector<uint8_t> present;   // optional columns only: 1 when the row has a value

  template <typename T>
  T* data() {
    return reinterpret_cast<T*>(storage.data());
  }
  template <typename T>
  const T* data() const {
    return reinterpret_cast<const T*>(storage.data());
  }
};

struct RowError {
  uint32_t row;
  ErrorReason reason;
  std::string message;
};

class Batch {
 public:
  Batch(const Schema& schema, const SymbolTable& symbols, uint32_t capacity);

  uint32_t size() const { return size_; }
  uint32_t capacity() const { return capacity_; }
  bool full() const { return size_ == capacity_; }
  void clear();

  // Starts a new row for `line`; returns its index. The row's kind is
  // kErrorRow until set_kind is called.
  uint32_t begin_row(uint64_t line);
  // Undoes what decoding wrote to `row` (presence, id, kind, error) so it
  // can be decoded again from scratch.
  void restart_row(uint32_t row);
  void set_kind(uint32_t row, uint8_t kind) { kind_[row] = event_kind_[row] = kind; }
  // The kind the line names, recorded as soon as it is known so that a row
  // that fails later (a bad field, a late event) still reports it.
  void set_event_kind(uint32_t row, uint8_t kind) { event_kind_[row] = kind; }
  void fail(uint32_t row, ErrorReason reason, std::string message);

  // A symbol for an event string: the constant's when the policy has it,
  // else a new arena symbol.
  uint32_t intern(std::string_view text);
  // Inline: the window stage and the output read one per row.
  std::string_view string(uint32_t symbol) const {
    const uint32_t constants = symbols_->size();
    return symbol < constants ? symbols_->text(symbol) : arena_string(symbol - constants);
  }
  void set_id(uint32_t row, std::string_view id);
  // Stores country index `code` (a valid one, below kCountryIndexLimit) in
  // `column`, and its class byte when the column has classes. Every writer
  // of country values goes through here, so that class bytes never go stale.
  void set_country(uint32_t row, size_t column, uint16_t code) {
    columns_[column].data<uint16_t>()[row] = code;
    const ColumnSpec& spec = schema_->columns[column];
    if (spec.classes >= 0)
      columns_[static_cast<size_t>(spec.classes)].data<uint8_t>()[row] =
          code < spec.class_of.size() ? spec.class_of[code] : 0;
  }
  std::string_view id(uint32_t row) const;

  const Schema& schema() const { return *schema_; }
  const SymbolTable& symbols() const { return *symbols_; }
  uint8_t kind(uint32_t row) const { return kind_[row]; }
  // The kind named by the row's line, or kErrorRow when unknown (the line
  // failed before its `kind` was read). Kept when the row fails.
  uint8_t event_kind(uint32_t row) const { return event_kind_[row]; }
  uint64_t line(uint32_t row) const { return line_[row]; }
  Column& column(size_t c) { return columns_[c]; }
  const Column& column(size_t c) const { return columns_[c]; }
  const std::vector<RowError>& errors() const { return errors_; }
  const RowError* error_of(uint32_t row) const;
  const uint8_t* kinds() const { return kind_.data(); }
  // Scratch space compiled code fills and reads within one evaluation of
  // the batch: `rows` words for lookup site `site` (edict_data_find_rows).
  // Kept between evaluations so that a batch allocates it once.
  int64_t* scratch_rows(uint32_t site, uint32_t rows);

 private:
  const Schema* schema_;
  const SymbolTable* symbols_;
  uint32_t capacity_;
  uint32_t size_ = 0;
  std::vector<uint8_t> kind_;
  std::vector<uint8_t> event_kind_;
  std::vector<uint64_t> line_;
  std::vector<Column> columns_;
  std::vector<uint32_t> optional_columns_;  // the columns with presence bytes
  std::vector<RowError> errors_;            // sorted by row
  std::string arena_;                       // bytes of non-constant strings
  std::vector<uint32_t> arena_offsets_;     // begin of each arena string; end = next begin
  // Open-addressing index over arena strings so one text gets one symbol per
  // batch (symbol equality is string equality). Slots hold arena index + 1.
  std::vector<uint32_t> arena_slots_;
  std::string_view arena_string(size_t index) const {
    const size_t begin = arena_offsets_[index];
    const size_t end = index + 1 < arena_offsets_.size() ? arena_offsets_[index + 1] : arena_.size();
    return std::string_view(arena_.data() + begin, end - begin);
  }
  std::string ids_;
  std::vector<uint32_t> id_offsets_;           // per row: [begin, end) pairs
  std::vector<std::vector<int64_t>> scratch_;  // per lookup site (scratch_rows)
};

}  // namespace edict::abi
