// Reference data at run time: a list or table a policy declares with `data`
// and reads from a file (CSV or JSON Lines, see data/loader.h), loaded once,
// shared by all threads and replaced whole. Compiled code and the interpreter
// reach a source through its DataSlot, a handle that outlives every version:
// `replace` swaps in a new snapshot without recompiling the policy. The
// lookup helpers (abi.h: edict_data_find, edict_data_cell, ...) are the only
// way either engine reads a snapshot, so both see the same rows.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "abi/strings.h"

namespace edict::abi {

class Batch;
class NameIndex;  // abi/screen.h: kept out of this header, which every engine includes
struct ScreenMatch;

// A cell's type in a data file. StrList (aliases) is read and kept for name
// screening; rules cannot read it as a value.
enum class CellType : uint8_t { Bool, Int, Number, Str, Country, Time, Date, StrList };
const char* cell_type_name(
    CellType t);  // "bool", "int", "number", "string", "country", "time", "date", "list"

struct DataColumn {
  std::string name;    // the field name in the policy
  std::string header;  // the file's column (CSV header or JSON key)
  CellType type = CellType::Str;
  bool optional = false;
};

// What a policy's `data` declaration says about its file.
struct DataSchema {
  std::string name;          // `entity_list`
  std::string default_file;  // resolved path of `from "..."`
  std::string key_header;    // the key column in the file
  CellType key = CellType::Str;
  std::vector<DataColumn> columns;  // the row fields, in declaration order
  int in_force_from = -1;           // column index of the date a row was added, or -1
  int in_force_until = -1;          // column index of the date it was removed, or -1
  // `screen name, aliases above 0.9`: a lookup is a name screening (abi/screen.h)
  // against these columns (Str or StrList) instead of an exact key match.
  std::vector<int> screen_columns;
  double screen_threshold = 1.0;
  std::vector<std::string> legal_forms;  // `ignoring "ooo", ...`: added to kLegalForms
  // The row field `score` of a screening source: the similarity of the
  // lookup's match, not a column of the file. Its index is the one the
  // rules read it by (after the declared fields); it names no column here,
  // so the aliases columns that follow may share the number: rules never
  // read those.
  int score_column = -1;
  bool screens() const { return !screen_columns.empty(); }
};

// One loaded version of a source: immutable, so any number of threads read it.
class DataSnapshot {
 public:
  // A row as compiled code holds it: the address of one of these, or -1.
  struct Row {
    const DataSnapshot* owner;
    uint32_t index;
  };
  // What a screening lookup returns instead: the row and how well the name
  // matched it (the lookup's own score). It lives in the looking-up
  // thread's ring of its last kRecentMatches answers (recent_match_slot).
  struct Match {
    Row row;  // first: a Match's address is its row's
    double score;
  };
  static constexpr size_t kRecentMatches = 4096;

  DataSnapshot(const DataSchema& schema, std::string file, std::string content_hash);
  ~DataSnapshot();
  DataSnapshot(const DataSnapshot&) = delete;
  DataSnapshot& operator=(const DataSnapshot&) = delete;

  // Loading: one call per row, cells in schema order (bits as the IR holds
  // values; strings as add_string results; absent optional cells any value).
  // Returns false (the row not added) when the key already has a row whose
  // time in force overlaps this one's.
  bool add_row(uint64_t key_bits, std::string_view key_text, const std::vector<uint64_t>& cells,
               const std::vector<uint8_t>& present, uint32_t* clashing_row = nullptr);
  uint32_t add_string(std::string_view text);
  uint32_t add_list(std::vector<std::string> items);  // StrList cells: an index into lists()

  // The row in force at `time` (micros UTC) under `key`, or nullptr. A
  // screening source: the row whose name or alias best matches key_text.
  const Row* find(uint64_t key_bits, std::string_view key_text, int64_t time) const;
  // The same as find for string keys of a batch, many at once: out[r] is
  // the address of the row in force at times[r] under the string of symbol
  // keys[r] in `batch`, or -1, for each row r < rows whose kinds[r] is
  // `kind` (-1 for the others). An exact (not screening) source with string
  // keys only; edict_data_find_rows calls it.
  void find_rows(const Batch& batch, const uint32_t* keys, const int64_t* times, const uint8_t* kinds,
                 uint8_t kind, uint32_t rows, int64_t* out) const;
  bool finds_rows() const {
    return !schema_.screens() && schema_.key == CellType::Str && !key_slots_.empty();
  }
  // Once all rows are added: the flat key index exact lookups read, and a
  // screening source's name index.
  void build_index();
  ScreenMatch screen(std::string_view name, int64_t time) const;
  const NameIndex* names() const { return names_.get(); }
  bool in_force(uint32_t row, int64_t time) const;

  const DataSchema& schema() const { return schema_; }
  uint32_t size() const { return static_cast<uint32_t>(rows_.size()); }
  uint64_t cell(uint32_t row, size_t column) const { return cells_[row * width_ + column]; }
  bool present(uint32_t row, size_t column) const { return present_[row * width_ + column] != 0; }
  std::string_view string(uint32_t id) const { return strings_[id]; }
  const std::vector<std::string>& list(uint32_t id) const { return lists_[id]; }
  std::string_view key_text(uint32_t row) const { return key_texts_[row]; }
  uint64_t key_bits(uint32_t row) const { return keys_[row]; }
  const Row& row(uint32_t index) const { return rows_[index]; }
  const std::string& file() const { return file_; }
  // `sha256:<hex>` of the file's bytes: the version a decision record names.
  const std::string& content_hash() const { return content_hash_; }
  size_t memory_bytes() const;

 private:
  std::vector<uint32_t>* rows_of(uint64_t key_bits, std::string_view key_text, bool create);
  const std::vector<uint32_t>* rows_of(uint64_t key_bits, std::string_view key_text) const;

  DataSchema schema_;
  std::string file_, content_hash_;
  size_t width_;
  std::vector<Row> rows_;
  std::vector<uint64_t> keys_;
  std::vector<std::string> key_texts_;
  std::vector<uint64_t> cells_;
  std::vector<uint8_t> present_;
  std::vector<std::string> strings_;
  std::vector<std::vector<std::string>> lists_;
  std::unordered_map<std::string, std::vector<uint32_t>, StringHash, std::equal_to<>> by_text_;
  std::unordered_map<uint64_t, std::vector<uint32_t>> by_bits_;
  // What an exact lookup reads (build_index): each row's time in force, and
  // an open-addressing table of (key hash tag, first row of the key); the
  // other rows of a key follow through next_of_key_. A lookup is a hash,
  // one probe or two in a table of a few tens of kilobytes and a compare,
  // where the node-based maps above cost a few pointer chases. A slot is
  // one 8-byte word, so a probe is one memory access (a key absent from the
  // list, the common case, needs no other).
  struct InForce {
    int64_t from, until;
  };
  struct KeySlot {
    uint32_t tag;  // the key hash's high half, never 0; 0: an empty slot
    uint32_t row;  // the key's first row
  };
  std::vector<InForce> in_force_;
  std::vector<KeySlot> key_slots_;
  // A filter of the keys, 16 bits per key (6 KB for 3,000 keys: within the
  // L1 cache), two bits of one word per key: most keys looked up are not in
  // a list, and this tells most of them so without a probe of key_slots_.
  std::vector<uint64_t> key_filter_;
  static uint64_t filter_bits(uint64_t hash) {
    const uint64_t f = hash * 0x9E3779B97F4A7C15ull;
    return (uint64_t{1} << ((f >> 20) & 63)) | (uint64_t{1} << ((f >> 26) & 63));
  }
  size_t filter_word(uint64_t hash) const {
    return (hash * 0x9E3779B97F4A7C15ull) >> 40 & (key_filter_.size() - 1);
  }
  std::vector<uint32_t> next_of_key_;
  // The first row of the key whose hash (key_hash) is `hash`, or UINT32_MAX.
  uint32_t first_of_key(uint64_t hash, uint64_t key_bits, std::string_view key_text) const;
  // The row of the key starting at `first` in force at `time`, or nullptr.
  const Row* in_force_of(uint32_t first, int64_t time) const {
    for (uint32_t r = first; r != UINT32_MAX; r = next_of_key_[r])
      if (in_force_[r].from <= time && time < in_force_[r].until) return &rows_[r];
    return nullptr;
  }
  std::unique_ptr<NameIndex> names_;
  static Match* recent_match_slot();
};

// A cell of a looked-up row (the address a lookup returned, -1: none) as
// lookups give it: a screening row's score, a present cell's bits (0 when
// absent), and for a string cell its text (`is_text`; `bits` is then the
// snapshot's string id). edict_data_cell and the AOT data runtime make the
// text a symbol of their own string table.
struct RowCell {
  uint64_t bits = 0;
  bool is_text = false;
  std::string_view text;
};
RowCell row_cell(int64_t row, uint32_t column);

// The stable handle of one data source. Versions replaced are kept until the
// slot goes (a row address compiled code holds stays valid for the run).
class DataSlot {
 public:
  explicit DataSlot(DataSchema schema) : schema_(std::move(schema)) {}
  const DataSchema& schema() const { return schema_; }
  const DataSnapshot* current() const { return current_.load(std::memory_order_acquire); }
  // The version this thread's lookups read: the one a PinnedData on this
  // thread holds for the slot, else current(). Every lookup helper reads
  // through it.
  const DataSnapshot* in_use() const;
  std::shared_ptr<const DataSnapshot> current_shared() const;
  void replace(std::shared_ptr<const DataSnapshot> snapshot);

 private:
  DataSchema schema_;
  std::atomic<const DataSnapshot*> current_{nullptr};
  mutable std::mutex mutex_;
  std::vector<std::shared_ptr<const DataSnapshot>> versions_;
};

// One source's version, as a batch's decisions read it.
struct DataPin {
  const DataSlot* slot;
  const DataSnapshot* snapshot;
};

// While it lives, the lookups of this thread read the pinned versions of
// the pinned slots (DataSlot::in_use): a replacement landing while a batch
// is decided (its conditions, its messages, its record's data versions)
// changes none of them. Scopes nest; `pins` must outlive the scope; null
// or empty pins leave the outer scope's in force. Made
// by the engine per batch (engine::Stream) from DataSlot::in_use, so an
// outer scope's versions carry into an inner one.
class PinnedData {
 public:
  explicit PinnedData(const std::vector<DataPin>* pins);
  ~PinnedData();
  PinnedData(const PinnedData&) = delete;
  PinnedData& operator=(const PinnedData&) = delete;

 private:
  const std::vector<DataPin>* outer_;
};

// Bits of a number key as lookups compare them (-0 is 0).
uint64_t data_number_key(double value);

}  // namespace edict::abi
