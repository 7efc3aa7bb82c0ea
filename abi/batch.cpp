// Batch storage and per-row bookkeeping.
#include "abi/batch.h"

#include <algorithm>
#include <bit>

namespace edict::abi {

const char* error_reason_name(ErrorReason r) {
  switch (r) {
    case ErrorReason::None: return "none";
    case ErrorReason::BlankLine: return "blank_line";
    case ErrorReason::LineTooLong: return "line_too_long";
    case ErrorReason::InvalidUtf8: return "invalid_utf8";
    case ErrorReason::InvalidJson: return "invalid_json";
    case ErrorReason::NotObject: return "not_object";
    case ErrorReason::MissingKind: return "missing_kind";
    case ErrorReason::UnknownKind: return "unknown_kind";
    case ErrorReason::MissingField: return "missing_field";
    case ErrorReason::WrongType: return "wrong_type";
    case ErrorReason::NullValue: return "null_value";
    case ErrorReason::BadCountry: return "bad_country";
    case ErrorReason::BadTime: return "bad_time";
    case ErrorReason::DuplicateKey: return "duplicate_key";
    case ErrorReason::IntegerOverflow: return "integer_overflow";
    case ErrorReason::DivisionByZero: return "division_by_zero";
    case ErrorReason::NonFiniteNumber: return "non_finite_number";
    case ErrorReason::AbsentValue: return "absent_value";
    case ErrorReason::LateEvent: return "late_event";
    case ErrorReason::WindowStateLimit: return "window_state_limit";
    case ErrorReason::FutureEvent: return "future_event";
  }
  return "unknown";
}

Batch::Batch(const Schema& schema, const SymbolTable& symbols, uint32_t capacity)
    : schema_(&schema), symbols_(&symbols), capacity_(capacity) {
  kind_.resize(capacity, kErrorRow);
  event_kind_.resize(capacity, kErrorRow);
  line_.resize(capacity, 0);
  id_offsets_.resize(2 * size_t{capacity}, 0);
  columns_.resize(schema.columns.size());
  for (size_t c = 0; c < columns_.size(); ++c) {
    Column& col = columns_[c];
    col.type = schema.columns[c].type;
    col.storage.resize((column_width(col.type) * capacity + 7) / 8, 0);
    if (schema.columns[c].optional) {
      col.present.resize(capacity, 0);
      optional_columns_.push_back(static_cast<uint32_t>(c));
    }
  }
}

void Batch::clear() {
  // Presence bytes of the used rows go back to 0 here, in one pass per
  // column, so begin_row need not touch every column.
  // A single-row batch (the embedding API clears one per event) stores one
  // byte rather than calling memset per column.
  for (uint32_t c : optional_columns_) {
    Column& col = columns_[c];
    if (size_ == 1)
      col.present[0] = 0;
    else
      std::fill_n(col.present.begin(), size_, uint8_t{0});
  }
  size_ = 0;
  errors_.clear();
  if (!arena_offsets_.empty()) {  // else no slot is in use
    arena_.clear();
    arena_offsets_.clear();
    std::fill(arena_slots_.begin(), arena_slots_.end(), 0);
  }
  ids_.clear();
}

uint32_t Batch::begin_row(uint64_t line) {
  uint32_t row = size_++;
  kind_[row] = event_kind_[row] = kErrorRow;
  line_[row] = line;
  id_offsets_[2 * row] = id_offsets_[2 * row + 1] = static_cast<uint32_t>(ids_.size());
  return row;
}

void Batch::restart_row(uint32_t row) {
  kind_[row] = event_kind_[row] = kErrorRow;
  id_offsets_[2 * row] = id_offsets_[2 * row + 1] = static_cast<uint32_t>(ids_.size());
  for (uint32_t c : optional_columns_) columns_[c].present[row] = 0;
  if (!errors_.empty() && errors_.back().row == row) errors_.pop_back();
}

void Batch::fail(uint32_t row, ErrorReason reason, std::string message) {
  kind_[row] = kErrorRow;
  // One error per row, kept sorted by row: a later failure of the same row
  // replaces it. Rows usually fail in order; the window stage, which runs
  // after decoding, may fail a row before one decoding already failed.
  if (errors_.empty() || errors_.back().row < row) {
    errors_.push_back(RowError{row, reason, std::move(message)});
    return;
  }
  auto it = std::lower_bound(errors_.begin(), errors_.end(), row,
                             [](const RowError& e, uint32_t r) { return e.row < r; });
  if (it != errors_.end() && it->row == row)
    *it = RowError{row, reason, std::move(message)};
  else
    errors_.insert(it, RowError{row, reason, std::move(message)});
}

const RowError* Batch::error_of(uint32_t row) const {
  auto it = std::lower_bound(errors_.begin(), errors_.end(), row,
                             [](const RowError& e, uint32_t r) { return e.row < r; });
  return it != errors_.end() && it->row == row ? &*it : nullptr;
}

int64_t* Batch::scratch_rows(uint32_t site, uint32_t rows) {
  if (site >= scratch_.size()) scratch_.resize(size_t{site} + 1);
  std::vector<int64_t>& words = scratch_[site];
  if (words.size() < rows) words.resize(rows);
  return words.data();
}

uint32_t Batch::intern(std::string_view text) {
  const size_t hash = StringHash{}(text);
  if (auto constant = symbols_->find(text, hash)) return *constant;
  // Keep the table at most half full.
  if (2 * (arena_offsets_.size() + 1) > arena_slots_.size()) {
    std::vector<uint32_t> slots(std::bit_ceil(std::max<size_t>(64, 4 * (arena_offsets_.size() + 1))), 0);
    for (size_t i = 0; i < arena_offsets_.size(); ++i) {
      size_t h = StringHash{}(arena_string(i)) & (slots.size() - 1);
      while (slots[h]) h = (h + 1) & (slots.size() - 1);
      slots[h] = static_cast<uint32_t>(i + 1);
    }
    arena_slots_.swap(slots);
  }
  const size_t mask = arena_slots_.size() - 1;
  size_t h = hash & mask;
  while (uint32_t slot = arena_slots_[h]) {
    if (same_text(arena_string(slot - 1), text)) return symbols_->size() + slot - 1;
    h = (h + 1) & mask;
  }
  uint32_t index = static_cast<uint32_t>(arena_offsets_.size());
  arena_offsets_.push_back(static_cast<uint32_t>(arena_.size()));
  arena_.append(text);
  arena_slots_[h] = index + 1;
  return symbols_->size() + index;
}

void Batch::set_id(uint32_t row, std::string_view id) {
  id_offsets_[2 * row] = static_cast<uint32_t>(ids_.size());
  ids_.append(id);
  id_offsets_[2 * row + 1] = static_cast<uint32_t>(ids_.size());
}

std::string_view Batch::id(uint32_t row) const {
  return std::string_view(ids_).substr(id_offsets_[2 * row], id_offsets_[2 * row + 1] - id_offsets_[2 * row]);
}

}  // namespace edict::abi
