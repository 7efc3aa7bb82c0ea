// Data snapshots, slots and the lookup helpers both engines call (abi.h).
#include "abi/data.h"

#include "abi/screen.h"

#include <algorithm>
#include <bit>
#include <cstdlib>
#include <cstring>

#include "abi/abi.h"
#include "abi/batch.h"

namespace edict::abi {

const char* cell_type_name(CellType t) {
  switch (t) {
    case CellType::Bool: return "bool";
    case CellType::Int: return "int";
    case CellType::Number: return "number";
    case CellType::Str: return "string";
    case CellType::Country: return "country";
    case CellType::Time: return "time";
    case CellType::Date: return "date";
    case CellType::StrList: return "list";
  }
  return "?";
}

uint64_t data_number_key(double value) {
  if (value == 0) value = 0.0;  // -0 == 0
  uint64_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  return bits;
}

DataSnapshot::DataSnapshot(const DataSchema& schema, std::string file, std::string content_hash)
    : schema_(schema),
      file_(std::move(file)),
      content_hash_(std::move(content_hash)),
      width_(schema.columns.size()) {}

DataSnapshot::~DataSnapshot() = default;

std::vector<uint32_t>* DataSnapshot::rows_of(uint64_t key_bits, std::string_view key_text, bool create) {
  if (schema_.key == CellType::Str) {
    auto it = by_text_.find(key_text);
    if (it != by_text_.end()) return &it->second;
    return create ? &by_text_.emplace(std::string(key_text), std::vector<uint32_t>{}).first->second : nullptr;
  }
  auto it = by_bits_.find(key_bits);
  if (it != by_bits_.end()) return &it->second;
  return create ? &by_bits_[key_bits] : nullptr;
}

const std::vector<uint32_t>* DataSnapshot::rows_of(uint64_t key_bits, std::string_view key_text) const {
  if (schema_.key == CellType::Str) {
    auto it = by_text_.find(key_text);
    return it == by_text_.end() ? nullptr : &it->second;
  }
  auto it = by_bits_.find(key_bits);
  return it == by_bits_.end() ? nullptr : &it->second;
}

namespace {
// [from, until) of a row in micros; open ends are the extremes.
struct Interval {
  int64_t from = INT64_MIN, until = INT64_MAX;
};
}  // namespace

static Interval interval_of(const DataSnapshot& s, uint32_t row) {
  Interval i;
  const DataSchema& schema = s.schema();
  if (schema.in_force_from >= 0 && s.present(row, static_cast<size_t>(schema.in_force_from)))
    i.from = static_cast<int64_t>(s.cell(row, static_cast<size_t>(schema.in_force_from)));
  if (schema.in_force_until >= 0 && s.present(row, static_cast<size_t>(schema.in_force_until)))
    i.until = static_cast<int64_t>(s.cell(row, static_cast<size_t>(schema.in_force_until)));
  return i;
}

namespace {
// A hash of a key for the flat index: eight bytes at a time (keys are short
// ids or names), never 0 (0 marks an empty slot).
[[gnu::always_inline]] inline uint64_t key_hash(uint64_t key_bits, std::string_view text) {
  uint64_t h = 0x9E3779B97F4A7C15ull ^ key_bits ^ (text.size() * 0xFF51AFD7ED558CCDull);
  const char* p = text.data();
  size_t n = text.size();
  auto word = [](const char* at) {
    uint64_t w;
    std::memcpy(&w, at, 8);
    return w;
  };
  for (; n > 8; p += 8, n -= 8) h = (h ^ word(p)) * 0xC4CEB9FE1A85EC53ull;
  if (text.size() >= 8) {
    h ^= word(text.data() + text.size() - 8);  // the last eight bytes, overlapping the previous word
  } else {
    for (size_t i = 0; i < n; ++i) h ^= static_cast<uint64_t>(static_cast<unsigned char>(p[i])) << (8 * i);
  }
  // murmur3's finaliser: every input bit reaches the low bits the table uses.
  h = (h ^ (h >> 33)) * 0xFF51AFD7ED558CCDull;
  h = (h ^ (h >> 33)) * 0xC4CEB9FE1A85EC53ull;
  return (h ^ (h >> 33)) | 1;
}
}  // namespace

bool DataSnapshot::in_force(uint32_t row, int64_t time) const {
  if (row < in_force_.size()) return in_force_[row].from <= time && time < in_force_[row].until;
  Interval i = interval_of(*this, row);
  return i.from <= time && time < i.until;
}

uint32_t DataSnapshot::first_of_key(uint64_t hash, uint64_t key_bits, std::string_view key_text) const {
  const bool text = schema_.key == CellType::Str;
  const auto tag = static_cast<uint32_t>(hash >> 32) | 1;
  const size_t mask = key_slots_.size() - 1;
  for (size_t at = hash & mask; key_slots_[at].tag != 0; at = (at + 1) & mask) {
    if (key_slots_[at].tag != tag) continue;
    const uint32_t r = key_slots_[at].row;
    if (text ? same_text(key_texts_[r], key_text) : keys_[r] == key_bits) return r;
  }
  return UINT32_MAX;
}

void DataSnapshot::find_rows(const Batch& batch, const uint32_t* keys, const int64_t* times,
                             const uint8_t* kinds, uint8_t kind, uint32_t rows, int64_t* out) const {
  // A chunk of keys is hashed and its slots prefetched before any is
  // probed: the probes' cache misses then overlap instead of following one
  // another (the table is larger than the L1 cache, and a row loop's other
  // columns compete for it).
  constexpr uint32_t kChunk = 16;
  std::string_view text[kChunk];
  uint64_t hash[kChunk];
  const size_t mask = key_slots_.size() - 1;
  for (uint32_t begin = 0; begin < rows; begin += kChunk) {
    const uint32_t n = std::min(kChunk, rows - begin);
    for (uint32_t i = 0; i < n; ++i) {
      if (kinds[begin + i] != kind) continue;
      text[i] = batch.string(keys[begin + i]);
      hash[i] = key_hash(0, text[i]);
      const uint64_t bits = filter_bits(hash[i]);
      if ((key_filter_[filter_word(hash[i])] & bits) != bits) {
        hash[i] = 0;  // not a key of the list (key_hash is never 0)
        continue;
      }
      __builtin_prefetch(&key_slots_[hash[i] & mask]);
    }
    for (uint32_t i = 0; i < n; ++i) {
      const uint32_t r = begin + i;
      out[r] = -1;
      if (kinds[r] != kind || hash[i] == 0) continue;
      const uint32_t first = first_of_key(hash[i], 0, text[i]);
      if (first == UINT32_MAX) continue;
      if (const Row* row = in_force_of(first, times[r]))
        out[r] = static_cast<int64_t>(reinterpret_cast<uintptr_t>(row));
    }
  }
}

bool DataSnapshot::add_row(uint64_t key_bits, std::string_view key_text, const std::vector<uint64_t>& cells,
                           const std::vector<uint8_t>& present, uint32_t* clashing_row) {
  const auto index = static_cast<uint32_t>(rows_.size());
  // Append first so interval_of can read the new row; undo on a clash.
  cells_.insert(cells_.end(), cells.begin(), cells.end());
  present_.insert(present_.end(), present.begin(), present.end());
  Interval mine = interval_of(*this, index);
  std::vector<uint32_t>* same_key = rows_of(key_bits, key_text, true);
  for (uint32_t other : *same_key) {
    Interval theirs = interval_of(*this, other);
    if (mine.from < theirs.until && theirs.from < mine.until) {
      cells_.resize(cells_.size() - width_);
      present_.resize(present_.size() - width_);
      if (clashing_row) *clashing_row = other;
      return false;
    }
  }
  same_key->push_back(index);
  rows_.push_back(Row{this, index});
  keys_.push_back(key_bits);
  key_texts_.emplace_back(key_text);
  return true;
}

uint32_t DataSnapshot::add_string(std::string_view text) {
  strings_.emplace_back(text);
  return static_cast<uint32_t>(strings_.size() - 1);
}

uint32_t DataSnapshot::add_list(std::vector<std::string> items) {
  lists_.push_back(std::move(items));
  return static_cast<uint32_t>(lists_.size() - 1);
}

void DataSnapshot::build_index() {
  in_force_.clear();
  for (uint32_t r = 0; r < rows_.size(); ++r) {
    Interval i = interval_of(*this, r);
    in_force_.push_back({i.from, i.until});
  }
  // The flat key index, from the maps the loader filled (which saw every
  // clash); a key's rows keep the order they were added in.
  const bool text = schema_.key == CellType::Str;
  const size_t keys = text ? by_text_.size() : by_bits_.size();
  size_t slots = 16;
  while (slots < keys * 2) slots *= 2;
  key_slots_.assign(slots, KeySlot{0, 0});
  key_filter_.assign(std::bit_ceil(std::max<size_t>(1, keys / 4)), 0);
  next_of_key_.assign(rows_.size(), UINT32_MAX);
  auto insert = [&](const std::vector<uint32_t>& rows) {
    for (size_t k = 0; k + 1 < rows.size(); ++k) next_of_key_[rows[k]] = rows[k + 1];
    const uint32_t first = rows.front();
    const uint64_t h = key_hash(text ? 0 : keys_[first], text ? std::string_view(key_texts_[first]) : "");
    size_t at = h & (slots - 1);
    while (key_slots_[at].tag != 0) at = (at + 1) & (slots - 1);
    key_slots_[at] = KeySlot{static_cast<uint32_t>(h >> 32) | 1, first};
    key_filter_[filter_word(h)] |= filter_bits(h);
  };
  if (text) {
    for (const auto& [key, rows] : by_text_)
      if (!rows.empty()) insert(rows);
  } else {
    for (const auto& [key, rows] : by_bits_)
      if (!rows.empty()) insert(rows);
  }
  if (!schema_.screens()) return;
  names_ = std::make_unique<NameIndex>(schema_.legal_forms);
  for (uint32_t r = 0; r < rows_.size(); ++r)
    for (int c : schema_.screen_columns) {
      if (!present(r, static_cast<size_t>(c))) continue;
      uint64_t bits = cell(r, static_cast<size_t>(c));
      if (schema_.columns[static_cast<size_t>(c)].type == CellType::StrList) {
        for (const std::string& alias : list(static_cast<uint32_t>(bits))) names_->add(r, alias);
      } else {
        names_->add(r, string(static_cast<uint32_t>(bits)));
      }
    }
  names_->build();
}

// A screening lookup's answer (the row and the lookup's own score) is
// written to the next slot of a ring per thread, which holds the thread's
// last kRecentMatches answers: a row lives in a register of the event being
// evaluated (a row is no scalar: no field, set, cell or window state holds
// one), whose cells are read right after the lookup, on the same thread,
// so an answer needs to outlast only the few lookups of its event (a batch
// loop may interleave a few events). No lock, and a long-running server no
// longer keeps one record per (row, score) it ever met.
DataSnapshot::Match* DataSnapshot::recent_match_slot() {
  thread_local std::unique_ptr<Match[]> ring;
  thread_local size_t next = 0;
  if (!ring) ring = std::make_unique<Match[]>(kRecentMatches);
  Match* slot = &ring[next];
  next = (next + 1) % kRecentMatches;
  return slot;
}

ScreenMatch DataSnapshot::screen(std::string_view name, int64_t time) const {
  if (!names_) return {};
  return names_->best(name, schema_.screen_threshold, [&](uint32_t row) { return in_force(row, time); });
}

const DataSnapshot::Row* DataSnapshot::find(uint64_t key_bits, std::string_view key_text,
                                            int64_t time) const {
  if (schema_.screens()) {
    ScreenMatch m = screen(key_text, time);
    if (!m.found()) return nullptr;
    Match* answer = recent_match_slot();
    *answer = Match{rows_[m.row], m.score};
    return &answer->row;
  }
  if (!key_slots_.empty()) {
    const bool text = schema_.key == CellType::Str;
    const uint32_t first =
        first_of_key(key_hash(text ? 0 : key_bits, text ? key_text : ""), key_bits, key_text);
    return first == UINT32_MAX ? nullptr : in_force_of(first, time);
  }
  const std::vector<uint32_t>* rows = rows_of(key_bits, key_text);
  if (!rows) return nullptr;
  for (uint32_t r : *rows)
    if (in_force(r, time)) return &rows_[r];
  return nullptr;
}

size_t DataSnapshot::memory_bytes() const {
  size_t n =
      rows_.capacity() * sizeof(Row) + keys_.capacity() * 8 + cells_.capacity() * 8 + present_.capacity();
  for (const std::string& s : key_texts_) n += sizeof s + s.capacity();
  for (const std::string& s : strings_) n += sizeof s + s.capacity();
  for (const auto& l : lists_)
    for (const std::string& s : l) n += sizeof s + s.capacity();
  n += by_text_.size() * 64 + by_bits_.size() * 48;  // nodes and buckets, roughly
  n += in_force_.capacity() * sizeof(InForce) + key_slots_.capacity() * sizeof(KeySlot) +
       key_filter_.capacity() * 8 + next_of_key_.capacity() * 4;
  if (names_) n += names_->memory_bytes();
  return n;
}

RowCell row_cell(int64_t row, uint32_t column) {
  RowCell out;
  if (row == -1) return out;
  const auto* r = reinterpret_cast<const DataSnapshot::Row*>(static_cast<uintptr_t>(row));
  const DataSnapshot& s = *r->owner;
  if (static_cast<int>(column) == s.schema().score_column) {  // a screening lookup's row is a Match
    out.bits = std::bit_cast<uint64_t>(reinterpret_cast<const DataSnapshot::Match*>(r)->score);
    return out;
  }
  if (!s.present(r->index, column)) return out;
  out.bits = s.cell(r->index, column);
  if (s.schema().columns[column].type == CellType::Str) {
    out.is_text = true;
    out.text = s.string(static_cast<uint32_t>(out.bits));
  }
  return out;
}

namespace {
// The pins of the innermost PinnedData on this thread, or null.
thread_local const std::vector<DataPin>* t_pins = nullptr;
}  // namespace

PinnedData::PinnedData(const std::vector<DataPin>* pins) : outer_(t_pins) {
  if (pins && !pins->empty()) t_pins = pins;  // nothing to pin: the outer pins stay
}

PinnedData::~PinnedData() {
  t_pins = outer_;
}

const DataSnapshot* DataSlot::in_use() const {
  if (const std::vector<DataPin>* pins = t_pins)
    for (const DataPin& pin : *pins)
      if (pin.slot == this) return pin.snapshot;
  return current();
}

std::shared_ptr<const DataSnapshot> DataSlot::current_shared() const {
  std::lock_guard lock(mutex_);
  return versions_.empty() ? nullptr : versions_.back();
}

void DataSlot::replace(std::shared_ptr<const DataSnapshot> snapshot) {
  std::lock_guard lock(mutex_);
  const DataSnapshot* raw = snapshot.get();
  versions_.push_back(std::move(snapshot));
  current_.store(raw, std::memory_order_release);
}

}  // namespace edict::abi

using edict::abi::Batch;
using edict::abi::CellType;
using edict::abi::DataSlot;
using edict::abi::DataSnapshot;

extern "C" {

// One lookup on a snapshot: what edict_data_find and edict_data_find_rows
// both do per key, so the JIT's rows and the interpreter's calls agree.
static int64_t find_in(const DataSnapshot* snapshot, void* strings, uint64_t key, int64_t time) {
  std::string_view text;
  if (snapshot->schema().key == CellType::Str || snapshot->schema().screens())
    text = static_cast<Batch*>(strings)->string(static_cast<uint32_t>(key));
  if (snapshot->schema().key == CellType::Number)
    key = edict::abi::data_number_key(std::bit_cast<double>(key));
  const DataSnapshot::Row* row = snapshot->find(key, text, time);
  return row ? static_cast<int64_t>(reinterpret_cast<uintptr_t>(row)) : -1;
}

int64_t edict_data_find(const void* slot, void* strings, uint64_t key, int64_t time) {
  const DataSnapshot* snapshot = static_cast<const DataSlot*>(slot)->in_use();
  return snapshot ? find_in(snapshot, strings, key, time) : -1;
}

const int64_t* edict_data_find_rows(const void* slot, void* strings, const uint32_t* keys,
                                    const int64_t* times, const uint8_t* kinds, uint32_t kind, uint32_t rows,
                                    uint32_t site) {
  auto* batch = static_cast<Batch*>(strings);
  // Compiled code has no unwind tables: an allocation failure must not unwind through it.
  int64_t* out = nullptr;
  try {
    out = batch->scratch_rows(site, rows);
  } catch (...) {
    std::abort();
  }
  const DataSnapshot* snapshot = static_cast<const DataSlot*>(slot)->in_use();
  if (snapshot && snapshot->finds_rows()) {
    snapshot->find_rows(*batch, keys, times, kinds, static_cast<uint8_t>(kind), rows, out);
    return out;
  }
  for (uint32_t r = 0; r < rows; ++r)
    out[r] = snapshot && kinds[r] == kind ? find_in(snapshot, strings, keys[r], times[r]) : -1;
  return out;
}

int32_t edict_data_cell_has(int64_t row, uint32_t column) {
  if (row == -1) return 0;
  const auto* r = reinterpret_cast<const DataSnapshot::Row*>(static_cast<uintptr_t>(row));
  if (static_cast<int>(column) == r->owner->schema().score_column) return 1;
  return r->owner->present(r->index, column);
}

uint64_t edict_data_cell(int64_t row, void* strings, uint32_t column) {
  const edict::abi::RowCell cell = edict::abi::row_cell(row, column);
  if (!cell.is_text) return cell.bits;
  // Compiled code has no unwind tables: an allocation failure must not unwind through it.
  try {
    return static_cast<Batch*>(strings)->intern(cell.text);
  } catch (...) {
    std::abort();
  }
}

}  // extern "C"
