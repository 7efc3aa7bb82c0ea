// Windowed aggregate state: per aggregate, per key, the held events sorted
// by time; queries fold the window's events in time order (ties in arrival
// order), so a value depends only on which events the window holds, never on
// when older ones were dropped or whether the state went through a
// checkpoint.
#include "engine/window/window.h"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <iterator>
#include <limits>
#include <span>
#include <sstream>
#include <thread>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <zlib.h>

#include "abi/strings.h"
#include "support/atomic_file.h"
#include "support/time_util.h"

namespace edict::window {
namespace {

constexpr int64_t kMinTime = std::numeric_limits<int64_t>::min();
constexpr uint64_t kFirstSweep = 1024;  // held events before the first sweep of every key

int64_t sub_saturating(int64_t a, int64_t b) {
  int64_t r = 0;
  return __builtin_sub_overflow(a, b, &r) ? kMinTime : r;
}

// The exclusive start of the window an event at `t` reads: (t - window, t],
// or for `over calendar year` [new year of t, t].
int64_t window_from(const ir::Aggregate& agg, int64_t t) {
  return agg.calendar_year ? year_start(t) - 1 : sub_saturating(t, agg.window);
}

struct Entry {
  int64_t time;
  uint64_t bits;  // the operand's value (a pool id for strings); 0 for `count()`
};
static_assert(sizeof(Entry) == kEntryBytes);

// Where a held event came from (Options::record_members only).
struct Origin {
  uint64_t line = 0;
  std::string id;
};

// A key's held events in time order (ties in arrival order): `count`
// entries of a ring of `mask + 1` from position `head`. A view of storage
// the key table owns, valid until the table next changes.
struct Ring {
  Entry* data = nullptr;
  uint32_t mask = 0, head = 0, count = 0;
  Entry& operator[](uint32_t i) const { return data[(head + i) & mask]; }
  // The first index in [from, count) whose time is after `x`.
  uint32_t after(int64_t x, uint32_t from = 0) const {
    uint32_t lo = from, hi = count;
    while (lo < hi) {
      const uint32_t mid = lo + (hi - lo) / 2;
      if ((*this)[mid].time <= x)
        lo = mid + 1;
      else
        hi = mid;
    }
    return lo;
  }
};

// A 64-bit hash of a key's bytes: the decoder's (two loads and one multiply
// for keys up to 16 bytes), whose every bit depends on the key, as the
// partition (high half) and the table (low bits) need.
uint64_t hash_key(std::string_view s) {
  return abi::StringHash{}(s);
}

// The live keys of one aggregate: an open-addressing index (linear probing,
// at most half full) over dense slots of one cache line each. A slot holds
// the key (inline up to kInlineKey bytes), its hash and its ring of held
// events; a ring of one event (the usual case: most keys hold one or two) is
// the slot's own `single` entry, larger rings are blocks of a shared pool
// (up to kPoolCap entries, recycled by size) or, beyond, their own
// allocation. A key leaves the index as soon as its window is empty; its
// slot and block are reused, so a stream whose keys come and go allocates
// nothing once warm, and a lookup touches one bucket and one slot.
class KeyTable {
 public:
  static constexpr uint32_t kInlineKey = 20;
  static constexpr uint32_t kPoolCap = 8;

  struct alignas(64) Slot {
    uint64_t hash = 0;
    uint32_t count = 0;  // held events
    uint32_t head = 0;   // ring position of the oldest
    uint32_t cap = 0;    // ring capacity, a power of two (1: `single`); 0: slot unused
    uint32_t block = 0;  // cap > 1: pool offset (cap <= kPoolCap) or big_ index
    uint32_t key_size = 0;
    char key[kInlineKey] = {};  // the key's bytes when they fit, else in long_keys_
    Entry single{0, 0};
  };
  static_assert(sizeof(Slot) == 64);

  size_t size() const { return live_; }

  // The slot of `key`, or -1. Inline: one per event.
  [[gnu::always_inline]] int64_t find(std::string_view key, uint64_t hash) const {
    if (mask_ == 0) return -1;  // no index yet
    const Bucket* index = index_.data();
    for (size_t i = hash & mask_;; i = (i + 1) & mask_) {
      const Bucket b = index[i];
      if (b.slot == 0) return -1;
      if (b.tag != tag_of(hash)) continue;  // most misses never touch the slot
      const Slot& slot = slots_[b.slot - 1];
      if (slot.hash == hash && abi::same_text(key_of(b.slot - 1), key)) return b.slot - 1;
    }
  }

  // A hint only, in three stages a few rows apart so that none waits for
  // memory: 0 loads the key's home bucket into cache, 1 (bucket cached) its
  // slot, which holds a lone event, 2 (slot cached) the newest entry of a
  // larger ring. Always inlined, as is its caller in update_partition: GCC
  // finds a function whose only effect is __builtin_prefetch pure and
  // deletes calls to it (a pure call's result unused), so out of line no
  // prefetch instruction was emitted at all.
  [[gnu::always_inline]] void prefetch(uint64_t hash, int stage) const {
    if (mask_ == 0) return;
    const Bucket* b = &index_[hash & mask_];
    if (stage == 0) {
      __builtin_prefetch(b);
      return;
    }
    if (b->slot == 0 || b->tag != tag_of(hash)) return;
    const Slot& slot = slots_[b->slot - 1];
    if (stage == 1)
      __builtin_prefetch(&slot, 1);
    else if (slot.cap > 1 && slot.count > 0)
      __builtin_prefetch(&data(slot.cap, slot.block)[(slot.head + slot.count - 1) & (slot.cap - 1)], 1);
  }

  // Adds `key` (not present) with an empty window; returns its slot.
  size_t add(std::string_view key, uint64_t hash) {
    if ((live_ + 1) * 2 > index_.size()) grow_index();
    size_t s = 0;
    if (!free_.empty()) {
      s = free_.back();
      free_.pop_back();
    } else {
      s = slots_.size();
      slots_.emplace_back();
    }
    Slot& slot = slots_[s];
    slot = Slot{};
    slot.hash = hash;
    slot.cap = 1;
    slot.key_size = static_cast<uint32_t>(key.size());
    if (key.size() <= kInlineKey)
      std::memcpy(slot.key, key.data(), key.size());
    else
      long_keys_[static_cast<uint32_t>(s)] = std::string(key);
    place(s);
    ++live_;
    return s;
  }

  // Removes the key of slot `s` (its window must be empty).
  void remove(size_t s) {
    const size_t mask = index_.size() - 1;
    size_t i = slots_[s].hash & mask;
    while (index_[i].slot != s + 1) i = (i + 1) & mask;
    // Backward-shift deletion: later entries of the probe run move up so
    // that every key stays reachable from its home position.
    for (size_t j = (i + 1) & mask; index_[j].slot != 0; j = (j + 1) & mask) {
      const size_t home = slots_[index_[j].slot - 1].hash & mask;
      const bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
      if (!stays) {
        index_[i] = index_[j];
        i = j;
      }
    }
    index_[i] = Bucket{};
    Slot& slot = slots_[s];
    release(slot.cap, slot.block);
    if (slot.key_size > kInlineKey) long_keys_.erase(static_cast<uint32_t>(s));
    slot = Slot{};
    if (s < origins_.size()) std::vector<Origin>().swap(origins_[s]);
    free_.push_back(s);
    --live_;
  }

  bool used(size_t s) const { return slots_[s].cap != 0; }
  std::string_view key_of(size_t s) const {
    const Slot& slot = slots_[s];
    return slot.key_size <= kInlineKey ? std::string_view(slot.key, slot.key_size)
                                       : std::string_view(long_keys_.at(static_cast<uint32_t>(s)));
  }
  Ring ring(size_t s) {
    Slot& slot = slots_[s];
    return {slot.cap == 1 ? &slot.single : data(slot.cap, slot.block), slot.cap - 1, slot.head, slot.count};
  }
  Ring ring(size_t s) const { return const_cast<KeyTable*>(this)->ring(s); }

  // Inserts `e` into the ring of slot `s` after every entry with the same
  // or an earlier time (ties in arrival order); returns its index. In-order
  // streams append in O(1): inline when the ring has room, the rest (a
  // resize, an insertion in the middle) out of line.
  [[gnu::always_inline]] uint32_t insert(size_t s, const Entry& e) {
    Slot& slot = slots_[s];
    if (slot.count < slot.cap) {
      const Ring r = ring(s);
      if (r.count == 0 || r[r.count - 1].time <= e.time) {
        r[r.count] = e;
        return slot.count++;
      }
    }
    return insert_slow(s, e);
  }
  [[gnu::noinline]] uint32_t insert_slow(size_t s, const Entry& e) {
    if (slots_[s].count == slots_[s].cap) resize(s, slots_[s].cap * 2);
    const Ring r = ring(s);
    uint32_t pos = r.count;
    if (pos > 0 && r[pos - 1].time > e.time) pos = r.after(e.time);
    for (uint32_t i = r.count; i > pos; --i) r[i] = r[i - 1];
    r[pos] = e;
    ++slots_[s].count;
    return pos;
  }
  // Drops the `n` oldest entries of slot `s`.
  void drop_front(size_t s, uint32_t n) {
    Slot& slot = slots_[s];
    slot.head = (slot.head + n) & (slot.cap - 1);
    slot.count -= n;
    if (s < origins_.size() && !origins_[s].empty())
      origins_[s].erase(origins_[s].begin(), origins_[s].begin() + n);
  }
  // Gives back most of a ring that shrank to a quarter of its capacity.
  void fit(size_t s) {
    const Slot& slot = slots_[s];
    if (slot.cap > 1 && slot.count * 4 <= slot.cap)
      resize(s, slot.count <= 1 ? 1 : std::bit_ceil(slot.count) * 2);
  }
  // Options::record_members: where each held event of slot `s` came from,
  // parallel to its ring (index 0 the oldest).
  std::vector<Origin>& origins(size_t s) {
    if (origins_.size() <= s) origins_.resize(slots_.size());
    return origins_[s];
  }
  const std::vector<Origin>* origins(size_t s) const { return s < origins_.size() ? &origins_[s] : nullptr; }

  // Bytes allocated: the index, every slot, the entry blocks and what the
  // keys and origins own.
  uint64_t bytes() const {
    uint64_t b = index_.capacity() * sizeof(Bucket) + slots_.capacity() * sizeof(Slot) +
                 free_.capacity() * sizeof(size_t) + pool_.capacity() * sizeof(Entry) +
                 big_.capacity() * sizeof(Big) + origins_.capacity() * sizeof(std::vector<Origin>);
    for (const auto& list : free_blocks_) b += list.capacity() * sizeof(uint32_t);
    for (const Big& big : big_) b += big.cap * sizeof(Entry);
    for (const auto& [s, key] : long_keys_) b += 64 + key.capacity();  // node estimated
    for (const std::vector<Origin>& list : origins_) {
      b += list.capacity() * sizeof(Origin);
      for (const Origin& o : list) b += o.id.capacity() > 15 ? o.id.capacity() + 1 : 0;
    }
    return b;
  }

  size_t slot_count() const { return slots_.size(); }

 private:
  // An index bucket: slot + 1 (0: empty) and the hash's high half, so a
  // probe compares keys only when the tags agree.
  struct Bucket {
    uint32_t slot = 0;
    uint32_t tag = 0;
  };
  struct Big {
    std::unique_ptr<Entry[]> entries;
    uint32_t cap = 0;
  };
  static uint32_t tag_of(uint64_t hash) { return static_cast<uint32_t>(hash >> 32); }

  Entry* data(uint32_t cap, uint32_t block) {
    return cap <= kPoolCap ? &pool_[block] : big_[block].entries.get();
  }
  const Entry* data(uint32_t cap, uint32_t block) const {
    return cap <= kPoolCap ? &pool_[block] : big_[block].entries.get();
  }
  // A block of `cap` (> 1) entries: inline when a freed pool block of that
  // size is at hand (the usual case once warm), else out of line.
  [[gnu::always_inline]] uint32_t allocate(uint32_t cap) {
    if (cap <= kPoolCap) {
      std::vector<uint32_t>& list = free_blocks_[std::countr_zero(cap)];
      if (!list.empty()) {
        const uint32_t block = list.back();
        list.pop_back();
        return block;
      }
    }
    return allocate_new(cap);
  }
  [[gnu::noinline]] uint32_t allocate_new(uint32_t cap) {
    if (cap <= kPoolCap) {
      const size_t at = pool_.size();
      pool_.resize(at + cap, Entry{0, 0});
      return static_cast<uint32_t>(at);
    }
    uint32_t block = 0;
    if (!free_big_.empty()) {
      block = free_big_.back();
      free_big_.pop_back();
    } else {
      block = static_cast<uint32_t>(big_.size());
      big_.emplace_back();
    }
    big_[block] = Big{std::make_unique<Entry[]>(cap), cap};
    return block;
  }
  [[gnu::always_inline]] void release(uint32_t cap, uint32_t block) {
    if (cap <= 1) return;
    if (cap <= kPoolCap) {
      free_blocks_[std::countr_zero(cap)].push_back(block);
      return;
    }
    big_[block] = Big{};
    free_big_.push_back(block);
  }
  // Moves the ring of slot `s` to a new one of `cap` entries (>= count).
  void resize(size_t s, uint32_t cap) {
    const uint32_t block = cap > 1 ? allocate(cap) : 0;  // may move the pool
    Slot& slot = slots_[s];
    const Ring from = ring(s);
    Entry* to = cap == 1 ? &slot.single : data(cap, block);
    for (uint32_t i = 0; i < from.count; ++i) to[i] = from[i];
    release(slot.cap, slot.block);
    slot.cap = cap;
    slot.block = block;
    slot.head = 0;
  }

  void place(size_t s) {
    const size_t mask = index_.size() - 1;
    size_t i = slots_[s].hash & mask;
    while (index_[i].slot != 0) i = (i + 1) & mask;
    index_[i] = Bucket{static_cast<uint32_t>(s + 1), tag_of(slots_[s].hash)};
  }
  void grow_index() {
    index_.assign(std::max<size_t>(64, index_.size() * 2), Bucket{});
    mask_ = index_.size() - 1;
    for (size_t s = 0; s < slots_.size(); ++s)
      if (used(s)) place(s);
  }

  std::vector<Bucket> index_;
  size_t mask_ = 0;  // index_.size() - 1, or 0 while index_ is empty (it has at least 64 buckets)
  std::vector<Slot> slots_;
  std::vector<size_t> free_;
  size_t live_ = 0;
  std::vector<Entry> pool_;                                      // blocks of up to kPoolCap entries
  std::vector<uint32_t> free_blocks_[std::bit_width(kPoolCap)];  // by log2 of the capacity
  std::vector<Big> big_;
  std::vector<uint32_t> free_big_;
  std::unordered_map<uint32_t, std::string> long_keys_;  // by slot: keys over kInlineKey bytes
  std::vector<std::vector<Origin>> origins_;             // by slot (Options::record_members)
};

abi::ErrorReason reason_of(ir::FaultReason r) {
  switch (r) {
    case ir::FaultReason::IntOverflow: return abi::ErrorReason::IntegerOverflow;
    case ir::FaultReason::DivisionByZero: return abi::ErrorReason::DivisionByZero;
    case ir::FaultReason::NonFinite: return abi::ErrorReason::NonFiniteNumber;
    default: return abi::ErrorReason::AbsentValue;
  }
}

uint64_t fnv(uint64_t h, std::string_view s) {
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ULL;
  return (h ^ 0xff) * 0x100000001b3ULL;
}

// The times of one aggregate's accepted events that a later event can still
// see (after latest - lateness - window): the exact count the state limit
// is checked against. Kept by the sequential pass in input order, apart from
// the keys, so that the count never depends on how the keys are split
// between threads or when their expired events were dropped. Unsorted and
// compacted when it doubles, until the limit is first approached; from then
// on a min-heap, so that expiring costs only what it drops.
class LiveTimes {
 public:
  [[gnu::always_inline]] void add(int64_t t) {
    times_.push_back(t);
    if (heap_) std::push_heap(times_.begin(), times_.end(), std::greater<>{});
  }
  // At least the exact count.
  uint64_t bound() const { return times_.size(); }
  // Drops the times at or before `limit`; the exact count that remains.
  uint64_t expire(int64_t limit) {
    if (heap_) {
      while (!times_.empty() && times_.front() <= limit) {
        std::pop_heap(times_.begin(), times_.end(), std::greater<>{});
        times_.pop_back();
      }
    } else {
      std::erase_if(times_, [limit](int64_t t) { return t <= limit; });
    }
    return times_.size();
  }
  void use_heap() {
    if (heap_) return;
    std::make_heap(times_.begin(), times_.end(), std::greater<>{});
    heap_ = true;
  }
  uint64_t count_after(int64_t limit) const {
    return static_cast<uint64_t>(
        std::count_if(times_.begin(), times_.end(), [limit](int64_t t) { return t > limit; }));
  }
  uint64_t bytes() const { return times_.capacity() * sizeof(int64_t); }

 private:
  std::vector<int64_t> times_;
  bool heap_ = false;
};

}  // namespace

struct WindowState::Impl {
  // One aggregate's inputs in one event kind, with the batch column of its
  // result. A key or operand function that only returns a field (`load`,
  // `ret`) is read straight from the field's column: the interpreter would
  // load the same bits.
  struct Input {
    int aggregate;
    const ir::AggregateInput* in;
    int result_column;
    int key_column = -1;
    int operand_column = -1;
    ir::Ty key_type = ir::Ty::Void, operand_type = ir::Ty::Void;  // of those loads
    // Outputs of Options::inputs computing the key, filter and operand, or -1.
    int key_slot = -1, filter_slot = -1, operand_slot = -1;
  };

  // The column a value function merely returns, or -1.
  int direct_column(ir::FuncId f, const abi::KindSpec& kind, ir::Ty* type) const {
    if (f == ir::kNoFunc) return -1;
    const ir::Function& fn = module.functions[static_cast<size_t>(f)];
    if (fn.kind != ir::FunctionKind::Value || fn.blocks.size() != 1 || fn.blocks[0].insts.size() != 2)
      return -1;
    const ir::Inst& load = fn.blocks[0].insts[0];
    const ir::Inst& ret = fn.blocks[0].insts[1];
    if (load.op != ir::Op::Load || ret.op != ir::Op::Ret || ret.a != load.dst) return -1;
    if (load.imm < 0 || static_cast<size_t>(load.imm) >= kind.fields.size()) return -1;
    *type = load.type;
    return kind.fields[static_cast<size_t>(load.imm)].column;
  }

  // A field's bits as the interpreter's `load` reads them.
  static uint64_t load_bits(const abi::Batch& batch, int column, ir::Ty type, uint32_t row) {
    const abi::Column& col = batch.column(static_cast<size_t>(column));
    switch (type) {
      case ir::Ty::Bool: return col.data<uint8_t>()[row] ? 1 : 0;
      case ir::Ty::Str: return col.data<uint32_t>()[row];
      case ir::Ty::Country: return col.data<uint16_t>()[row];
      default: return col.data<uint64_t>()[row];  // int, time, duration, number: 8 bytes as stored
    }
  }

  // One aggregate's keys in one partition.
  struct Aggregate {
    const ir::Aggregate* ir = nullptr;
    KeyTable keys;
    // String operands: entries hold ids of this table, counted by reference.
    std::unordered_map<std::string, uint64_t, abi::StringHash, std::equal_to<>> string_ids;
    std::unordered_map<uint64_t, std::pair<std::string, uint64_t>> strings;  // id -> (text, references)
    uint64_t next_string_id = 1;
  };

  // A sum that cannot be computed for one row (the event still counts),
  // failed after the partitions' pass in (batch, row, input) order.
  struct FoldFault {
    uint32_t batch, row, input;
    ir::FaultReason reason;
  };

  // The keys whose hash falls in one share: only one thread touches them.
  struct Partition {
    std::vector<Aggregate> aggregates;
    uint64_t held = 0;  // events held here, expired ones included until a sweep
    // A key drops expired events when it is touched; a sweep of every key
    // runs when `held` doubles since the last one, so held <= 2 * live +
    // kFirstSweep at amortised O(1) per event. Sweeps never change a value:
    // they drop only events no acceptable event can see. A per-aggregate
    // expiry queue of (newest time, slot) measured slower than this sweep on
    // bench/stateful_rule.edict (callgrind, 100k events in time order):
    // nearly every key holds one event, so the sweep's sequential scan costs
    // less per dropped key than the queue's random slot visits. Rebuilding
    // the index after a sweep instead of removing its keys one by one saved
    // nothing either.
    uint64_t sweep_at = kFirstSweep;
    std::unordered_set<uint64_t> distinct_scratch;
    std::vector<FoldFault> faults;
  };

  // Per row, per input of its kind: what the inputs' pass evaluated, in one
  // flat array in input order that the partitions' pass walks. The key is a
  // view of the batch's string or of `bits`, valid for the row.
  static constexpr uint32_t kRejected = UINT32_MAX;  // Pending::partition of a rejected row
  struct Pending {
    std::string_view key;
    uint64_t hash = 0;  // hash_key(key)
    uint64_t operand = 0;
    uint64_t bits = 0;
    uint32_t row = 0;
    uint32_t partition = kRejected;  // set once the sequential pass accepts the row
    uint32_t input = 0;              // index in inputs_of_kind[kind]
    uint32_t aggregate = 0;
    int32_t result_column = -1;  // the input's Input::result_column
    bool enters = false;
  };
  static_assert(sizeof(Pending) == 64);
  // Per row: its inputs' Pending from `first` on, and what the sequential
  // pass decided.
  struct RowState {
    // Skip: not observed, or rejected by the sequential pass; Ok: enters
    // its windows; Fault: an input faulted (rejected by the sequential pass).
    enum Status : uint8_t { Skip, Ok, Fault } status = Skip;
    uint8_t kind = 0;
    uint32_t first = 0;
    uint32_t fault_aggregate = 0;  // Fault: which aggregate's input faulted, where and why
    uint32_t site = ir::kNoSite;
    ir::FaultReason reason = ir::FaultReason::None;
    uint32_t entering = 0;        // inputs whose event enters its window (Ok rows)
    int64_t time = 0;             // the event's time (read by the sequential pass)
    int64_t max_time = kMinTime;  // the latest event time once this row is counted
  };
  // Options::record_members: per batch advanced, per row and aggregate
  // (row * aggregates + aggregate), the events of the value.
  struct Recorded {
    bool recorded = false;
    Members members;
  };
  // One batch of an advance() call: its rows' inputs and states, and
  // Options::inputs' outputs for it (one array per function; `compiled`
  // when they were computed). Reused between calls.
  struct Prepared {
    std::vector<Pending> pending;
    std::vector<RowState> rows;
    std::vector<std::vector<uint64_t>> values;
    std::vector<std::vector<uint32_t>> sites;
    std::vector<uint64_t*> value_arrays;
    std::vector<uint32_t*> site_arrays;
    bool compiled = false;
    std::vector<Recorded>* log = nullptr;
  };

  const ir::Module& module;
  const interp::Interpreter& interp;
  const abi::Schema& schema;
  Options options;
  std::vector<Partition> partitions;
  std::vector<std::vector<Input>> inputs_of_kind;  // by event kind
  // By Batch::kind (kErrorRow included): the inputs a row of that kind
  // evaluates; 0 when the windows do not observe the kind (no inputs, or no
  // time field).
  uint32_t observed_inputs[256] = {};
  std::vector<int> time_column;  // by event kind
  // The sequential pass's state: the latest event time and, per aggregate,
  // the times the state limit counts.
  int64_t max_time = kMinTime;
  bool seen_any = false;
  std::vector<LiveTimes> live;
  uint64_t live_bound = 0;                 // sum of live[].bound()
  uint64_t live_compact_at = kFirstSweep;  // compact `live` when live_bound passes this
  std::vector<Prepared> prepared;          // by batch of the advance() call
  std::vector<const int64_t*> times;       // sequence_batch: the batch's time column by kind
  std::unordered_map<const abi::Batch*, std::vector<Recorded>> member_logs;

  Impl(const ir::Module& m, const interp::Interpreter& i, const abi::Schema& s, const Options& o)
      : module(m), interp(i), schema(s), options(o) {
    options.threads = std::max(1u, options.threads);
    partitions.resize(options.threads);
    for (Partition& p : partitions) {
      p.aggregates.resize(m.aggregates.size());
      for (size_t a = 0; a < m.aggregates.size(); ++a) p.aggregates[a].ir = &m.aggregates[a];
    }
    live.resize(m.aggregates.size());
    inputs_of_kind.resize(s.kinds.size());
    time_column.assign(s.kinds.size(), -1);
    for (size_t k = 0; k < s.kinds.size(); ++k) {
      const abi::KindSpec& kind = s.kinds[k];
      if (kind.time_field >= 0) time_column[k] = kind.fields[static_cast<size_t>(kind.time_field)].column;
    }
    // The compiled functions come in the order of codegen::aggregate_input_functions.
    const std::vector<ir::FuncId>& compiled_fns = o.inputs.functions;
    size_t next_slot = 0;
    bool slots_match = o.inputs.function != nullptr;
    auto slot_of = [&](ir::FuncId f) {
      if (f == ir::kNoFunc) return -1;
      if (next_slot >= compiled_fns.size() || compiled_fns[next_slot] != f) slots_match = false;
      return static_cast<int>(next_slot++);
    };
    for (size_t a = 0; a < m.aggregates.size(); ++a) {
      for (const ir::AggregateInput& in : m.aggregates[a].inputs) {
        const abi::KindSpec& kind = s.kinds.at(static_cast<size_t>(in.event));
        Input input{static_cast<int>(a), &in, kind.fields.at(static_cast<size_t>(in.field)).column};
        input.key_column = direct_column(in.key, kind, &input.key_type);
        input.operand_column = direct_column(in.operand, kind, &input.operand_type);
        input.key_slot = slot_of(in.key);
        input.filter_slot = slot_of(in.filter);
        input.operand_slot = slot_of(in.operand);
        inputs_of_kind[static_cast<size_t>(in.event)].push_back(input);
      }
    }
    for (size_t k = 0; k < inputs_of_kind.size() && k < abi::kErrorRow; ++k)
      if (time_column[k] >= 0) observed_inputs[k] = static_cast<uint32_t>(inputs_of_kind[k].size());
    // Compiled code for other functions than these (never from the engine):
    // interpret instead.
    if (!slots_match || next_slot != compiled_fns.size()) options.inputs = {};
  }

  // The partition of a key's hash (its high half, independent of the bits
  // that place the key in its partition's table).
  uint32_t partition_of(uint64_t hash) const {
    return static_cast<uint32_t>(((hash >> 32) * partitions.size()) >> 32);
  }

  // Runs input function `f` (compiled output `slot`) for `row`: its bits,
  // or false with the fault's site and reason. A fault the compiled code
  // found is re-run in the interpreter, which gives the same site and the
  // reason (faults are rare; the code only records the site).
  bool run_input(ir::FuncId f, int slot, const Prepared& prep, const EdictColumns& columns, uint32_t row,
                 uint64_t* out, RowState& rs) const {
    if (prep.compiled && prep.site_arrays[static_cast<size_t>(slot)][row] == UINT32_MAX) {
      *out = prep.value_arrays[static_cast<size_t>(slot)][row];
      return true;
    }
    return interp.eval_function(f, columns, row, out, &rs.site, &rs.reason);
  }

  int64_t drop_before(const ir::Aggregate& agg, int64_t latest) const {
    return sub_saturating(sub_saturating(latest, options.max_lateness), agg.window);
  }

  static void release_string(Aggregate& a, uint64_t id) {
    auto it = a.strings.find(id);
    if (it == a.strings.end()) return;
    if (--it->second.second == 0) {
      a.string_ids.erase(it->second.first);
      a.strings.erase(it);
    }
  }

  static uint64_t retain_string(Aggregate& a, std::string_view text) {
    auto it = a.string_ids.find(text);
    uint64_t id = 0;
    if (it == a.string_ids.end()) {
      id = a.next_string_id++;
      a.string_ids.emplace(std::string(text), id);
      a.strings.emplace(id, std::make_pair(std::string(text), uint64_t{0}));
    } else {
      id = it->second;
    }
    ++a.strings[id].second;
    return id;
  }

  static bool string_operand(const Aggregate& a) { return a.ir->operand == ir::Ty::Str; }

  // Drops a key's events at or before `limit`; true when the key is empty.
  [[gnu::always_inline]] static bool evict(Partition& part, Aggregate& a, size_t slot, int64_t limit) {
    const Ring r = a.keys.ring(slot);
    if (r.count == 0 || r[0].time > limit) return r.count == 0;  // nothing expired
    uint32_t n = 0;
    for (; n < r.count && r[n].time <= limit; ++n)
      if (string_operand(a)) release_string(a, r[n].bits);
    a.keys.drop_front(slot, n);
    part.held -= n;
    return n == r.count;
  }

  void sweep(Partition& part, int64_t latest) const {
    for (Aggregate& a : part.aggregates) {
      int64_t limit = drop_before(*a.ir, latest);
      for (size_t k = 0; k < a.keys.slot_count(); ++k) {
        if (!a.keys.used(k)) continue;
        if (evict(part, a, k, limit))
          a.keys.remove(k);
        else
          a.keys.fit(k);
      }
    }
  }

  // A key's bytes: a string's own, else the value's 8 bytes (held in p.bits).
  static void set_key(const ir::Aggregate& agg, uint64_t bits, const abi::Batch& batch, Pending& p) {
    if (agg.key == ir::Ty::Str) {
      p.key = batch.string(static_cast<uint32_t>(bits));
      return;
    }
    if (agg.key == ir::Ty::Number) {
      double d = 0;
      std::memcpy(&d, &bits, sizeof d);
      if (d == 0) bits = 0;  // -0.0 and 0.0 are one key, as `==` says
    }
    p.bits = bits;
    p.key = std::string_view(reinterpret_cast<const char*>(&p.bits), sizeof p.bits);
  }

  void fail_fault(abi::Batch& batch, uint32_t row, const ir::Aggregate& agg, uint32_t site,
                  ir::FaultReason reason) const {
    std::string where;
    if (site < module.fault_sites.size() && module.sources) {
      const Span& span = module.fault_sites[site].span;
      if (span.valid() && span.file < module.sources->size()) {
        LineCol lc = module.sources->line_col(span.file, span.begin);
        where = fmt::format(" ({}:{}:{})", module.sources->file(span.file).path, lc.line, lc.column);
      }
    }
    batch.fail(row, reason_of(reason),
               fmt::format("{} while computing the windowed aggregate `{}`{}", ir::fault_reason_text(reason),
                           agg.text, where));
  }

  // The entries [*lo, *hi) of `w` with times in (from, t]. In-order
  // streams usually query a window that holds every held event.
  static void window_range(const Ring& w, int64_t from, int64_t t, uint32_t* lo, uint32_t* hi) {
    *lo = w.count == 0 || w[0].time > from ? 0 : w.after(from);
    *hi = *lo == w.count || w[w.count - 1].time <= t ? w.count : w.after(t, *lo);
  }

  // The aggregate over the held events of `w` with times in (t - window, t]
  // (from the new year for a calendar year, window_from()):
  // its bits and presence, or a fault reason.
  [[gnu::always_inline]] static ir::FaultReason fold(const Aggregate& a, const Ring& w, int64_t t,
                                                     uint64_t* out, bool* present,
                                                     std::unordered_set<uint64_t>& distinct_scratch) {
    const ir::Aggregate& agg = *a.ir;
    uint32_t lo = 0, hi = 0;
    window_range(w, window_from(agg, t), t, &lo, &hi);
    const int64_t n = hi - lo;
    *present = true;
    auto as_double = [&](uint64_t bits) {
      if (agg.operand == ir::Ty::Number) {
        double d = 0;
        std::memcpy(&d, &bits, sizeof d);
        return d;
      }
      return static_cast<double>(static_cast<int64_t>(bits));
    };
    auto put_double = [&](double d) {
      if (!std::isfinite(d)) return ir::FaultReason::NonFinite;
      std::memcpy(out, &d, sizeof d);
      return ir::FaultReason::None;
    };
    switch (agg.fn) {
      case ir::AggFn::Count: *out = static_cast<uint64_t>(n); return ir::FaultReason::None;
      case ir::AggFn::CountDistinct: {
        distinct_scratch.clear();
        for (uint32_t i = lo; i < hi; ++i) {
          uint64_t bits = w[i].bits;
          if (agg.operand == ir::Ty::Number && as_double(bits) == 0) bits = 0;
          distinct_scratch.insert(bits);
        }
        *out = distinct_scratch.size();
        return ir::FaultReason::None;
      }
      case ir::AggFn::Sum:
        if (agg.operand == ir::Ty::Number) {
          double s = 0;
          for (uint32_t i = lo; i < hi; ++i) s += as_double(w[i].bits);
          return put_double(s);
        } else {
          int64_t s = 0;
          for (uint32_t i = lo; i < hi; ++i)
            if (__builtin_add_overflow(s, static_cast<int64_t>(w[i].bits), &s))
              return ir::FaultReason::IntOverflow;
          *out = static_cast<uint64_t>(s);
          return ir::FaultReason::None;
        }
      case ir::AggFn::Avg: {
        if (n == 0) {
          *present = false;
          return ir::FaultReason::None;
        }
        double s = 0;
        for (uint32_t i = lo; i < hi; ++i) s += as_double(w[i].bits);
        return put_double(s / static_cast<double>(n));
      }
      case ir::AggFn::Min:
      case ir::AggFn::Max: {
        if (n == 0) {
          *present = false;
          return ir::FaultReason::None;
        }
        const bool want_max = agg.fn == ir::AggFn::Max;
        uint64_t best = w[lo].bits;
        for (uint32_t i = lo + 1; i < hi; ++i) {
          bool better = agg.operand == ir::Ty::Number
                            ? (want_max ? as_double(w[i].bits) > as_double(best)
                                        : as_double(w[i].bits) < as_double(best))
                            : (want_max ? static_cast<int64_t>(w[i].bits) > static_cast<int64_t>(best)
                                        : static_cast<int64_t>(w[i].bits) < static_cast<int64_t>(best));
          if (better) best = w[i].bits;
        }
        *out = best;
        return ir::FaultReason::None;
      }
    }
    return ir::FaultReason::None;
  }

  static void write(abi::Batch& batch, int column, uint32_t row, uint64_t bits, bool present) {
    abi::Column& col = batch.column(static_cast<size_t>(column));
    col.data<uint64_t>()[row] = present ? bits : 0;  // int, number, time and duration columns are 8 bytes
    if (!col.present.empty()) col.present[row] = present ? 1 : 0;
  }

  // The inputs' pass, for one row: evaluates each input of its kind (key,
  // then filter, then the operand when the event enters) into
  // prep.pending[first..]. False on a fault, which rejects the event uncounted.
  // Always inlined into evaluate_batch: one call per row cost more than the
  // usual single input's work. Writes every Pending entry of the row whole.
  [[gnu::always_inline]] bool evaluate_inputs(const EdictColumns& columns, uint32_t row,
                                              const std::vector<Input>& inputs, const abi::Batch& batch,
                                              Prepared& prep, RowState& rs) const {
    Pending* pending = prep.pending.data() + rs.first;
    // The vector's size and data once: the stores below could alias them.
    const size_t count = inputs.size();
    const Input* input = inputs.data();
    // Input j's entry before its evaluation: it names its row, and stays
    // rejected until the sequential pass accepts the row.
    auto start = [&](size_t j) -> Pending& {
      Pending& q = pending[j];
      q = Pending{};
      q.row = row;
      q.input = static_cast<uint32_t>(j);
      q.aggregate = static_cast<uint32_t>(input[j].aggregate);
      q.result_column = input[j].result_column;
      return q;
    };
    for (size_t i = 0; i < count; ++i) {
      const ir::AggregateInput& in = *input[i].in;
      const ir::Aggregate& agg = module.aggregates[static_cast<size_t>(input[i].aggregate)];
      Pending& p = start(i);
      uint64_t bits = 0;
      auto failed = [&] {
        rs.fault_aggregate = static_cast<uint32_t>(input[i].aggregate);
        // The inputs left unevaluated still name their row (pass 3 walks
        // them) and are rejected with it.
        for (size_t j = i + 1; j < count; ++j) start(j);
        return false;
      };
      if (input[i].key_column >= 0) {
        set_key(agg, load_bits(batch, input[i].key_column, input[i].key_type, row), batch, p);
      } else if (in.key != ir::kNoFunc) {
        if (!run_input(in.key, input[i].key_slot, prep, columns, row, &bits, rs)) return failed();
        set_key(agg, bits, batch, p);
      }
      p.enters = true;
      if (in.filter != ir::kNoFunc) {
        if (!run_input(in.filter, input[i].filter_slot, prep, columns, row, &bits, rs)) return failed();
        p.enters = bits != 0;
      }
      if (p.enters && input[i].operand_column >= 0)
        p.operand = load_bits(batch, input[i].operand_column, input[i].operand_type, row);
      else if (p.enters && in.operand != ir::kNoFunc &&
               !run_input(in.operand, input[i].operand_slot, prep, columns, row, &p.operand, rs))
        return failed();
      p.hash = hash_key(p.key);
      rs.entering += p.enters ? 1 : 0;
    }
    return true;
  }

  // Pass 1 (batches in parallel): every row's key, filter and operand. They
  // depend on the row alone, never on the windows.
  void evaluate_batch(abi::Batch& batch, Prepared& prep) const {
    std::vector<const void*> data(batch.schema().columns.size());
    std::vector<const uint8_t*> present(data.size());
    for (size_t c = 0; c < data.size(); ++c) {
      data[c] = batch.column(c).storage.data();
      present[c] = batch.column(c).present.empty() ? nullptr : batch.column(c).present.data();
    }
    EdictColumns columns{batch.size(), batch.kinds(), data.data(), present.data(), &batch};
    const uint32_t rows = batch.size();
    const uint8_t* kinds = batch.kinds();
    size_t total = 0;
    for (uint32_t row = 0; row < rows; ++row) total += observed_inputs[kinds[row]];
    // Every field of each row's state and pending input is written below.
    prep.rows.resize(rows);
    prep.pending.resize(total);
    prep.compiled = false;
    if (options.inputs.function && total > 0) {
      const size_t functions = options.inputs.functions.size();
      prep.values.resize(functions);
      prep.sites.resize(functions);
      prep.value_arrays.resize(functions);
      prep.site_arrays.resize(functions);
      for (size_t f = 0; f < functions; ++f) {
        if (prep.values[f].size() < rows) {
          prep.values[f].resize(rows);
          prep.sites[f].resize(rows);
        }
        prep.value_arrays[f] = prep.values[f].data();
        prep.site_arrays[f] = prep.sites[f].data();
      }
      prep.compiled =
          options.inputs.function(&columns, prep.value_arrays.data(), prep.site_arrays.data()) != 0;
    }
    RowState* states = prep.rows.data();
    total = 0;
    for (uint32_t row = 0; row < rows; ++row) {
      RowState& rs = states[row];
      const uint8_t kind = kinds[row];
      const uint32_t count = observed_inputs[kind];
      if (count == 0) {
        rs.status = RowState::Skip;  // nothing else of the row's state is read
        continue;
      }
      rs = RowState{};
      rs.first = static_cast<uint32_t>(total);
      rs.status = RowState::Ok;
      rs.kind = kind;
      total += count;
      if (!evaluate_inputs(columns, row, inputs_of_kind[kind], batch, prep, rs)) rs.status = RowState::Fault;
    }
  }

  // The exact number of events held over all windows that an acceptable
  // event can still see.
  uint64_t expire_live() {
    live_bound = 0;
    for (size_t a = 0; a < live.size(); ++a)
      live_bound += live[a].expire(drop_before(module.aggregates[a], max_time));
    return live_bound;
  }

  // Pass 2 (one thread, every row in input order): what is global to the
  // stream. Lateness against the latest time, faults of the inputs, and the
  // state limit against the exact count of held events an acceptable event
  // can still see (LiveTimes). Rejected rows are failed and skipped by pass 3.
  void sequence_batch(abi::Batch& batch, Prepared& prep) {
    begin_sequence(batch);
    const uint32_t rows = static_cast<uint32_t>(prep.rows.size());
    for (uint32_t row = 0; row < rows; ++row) sequence_row(batch, prep, row, false);
  }
  void begin_sequence(const abi::Batch& batch) {
    times.assign(time_column.size(), nullptr);
    for (size_t k = 0; k < time_column.size(); ++k)
      if (time_column[k] >= 0) times[k] = batch.column(static_cast<size_t>(time_column[k])).data<int64_t>();
  }
  // `one_partition`: a constant at each call, so that the one-partition walk
  // does not compute partitions.
  [[gnu::always_inline]] void sequence_row(abi::Batch& batch, Prepared& prep, uint32_t row,
                                           bool one_partition) {
    RowState& rs = prep.rows[row];
    if (rs.status == RowState::Skip) return;
    const std::vector<Input>& inputs = inputs_of_kind[rs.kind];
    const int64_t t = times[rs.kind][row];
    rs.time = t;
    if (t > options.latest_acceptable) {
      // Before lateness: a wrong clock must not move the latest time.
      batch.fail(row, abi::ErrorReason::FutureEvent,
                 fmt::format("event time {} is more than {} (--max-future) ahead of this machine's clock; "
                             "it is not counted and does not move the latest event time",
                             format_time(t), format_duration(options.max_future)));
      rs.status = RowState::Skip;
      return;
    }
    if (seen_any && t < sub_saturating(max_time, options.max_lateness)) {
      batch.fail(
          row, abi::ErrorReason::LateEvent,
          fmt::format("event time {} is more than {} (--max-lateness) before the latest event time {}; "
                      "its windows may no longer be complete",
                      format_time(t), format_duration(options.max_lateness), format_time(max_time)));
      rs.status = RowState::Skip;
      return;
    }
    // The latest time moves with every event that is not late, even one
    // rejected below: expiry then never drops what an acceptable event
    // could still see.
    seen_any = true;
    max_time = std::max(max_time, t);
    rs.max_time = max_time;
    if (rs.status == RowState::Fault) {
      fail_fault(batch, row, module.aggregates[rs.fault_aggregate], rs.site, rs.reason);
      rs.status = RowState::Skip;
      return;
    }
    const size_t count = inputs.size();
    Pending* pending = prep.pending.data() + rs.first;
    const uint64_t entering = rs.entering;
    // The state limit, counted after dropping what has expired.
    if (live_bound + entering > options.max_events) {
      for (LiveTimes& l : live) l.use_heap();
      if (expire_live() + entering > options.max_events) {
        batch.fail(row, abi::ErrorReason::WindowStateLimit,
                   fmt::format("the windows already hold {} events, the limit (--max-window-events); "
                               "this event was not counted",
                               live_bound));
        rs.status = RowState::Skip;
        return;
      }
    }
    for (size_t i = 0; i < count; ++i) {
      Pending& p = pending[i];
      p.partition = one_partition ? 0 : partition_of(p.hash);
      if (p.enters) live[p.aggregate].add(t);
    }
    live_bound += entering;
    if (live_bound > live_compact_at) live_compact_at = std::max(kFirstSweep, 2 * expire_live());
  }

  // Pass 3 (partitions in parallel): the accepted rows' keys of partition
  // `index`, in input order: enter the windows, read each aggregate, write
  // the `$aggN` columns. Other partitions' keys, the batches' other columns
  // and errors are not touched (fold faults are failed afterwards).
  //
  // `kSequenced` false (one partition only): pass 2 has not run; each row is
  // sequenced just before its keys are updated, which is the same, as pass 2
  // never reads the windows and pass 3 reads only what pass 2 decided for
  // that row. One walk over the rows instead of two. A template parameter,
  // so that the one-partition walk carries no test for the other.
  template <bool kSequenced>
  void update_partition(uint32_t index, std::span<abi::Batch* const> batches) {
    Partition& part = partitions[index];
    part.faults.clear();
    // Inputs ahead at which each prefetch stage (see KeyTable::prefetch)
    // brings in what a later input will touch: its bucket, its slot, then
    // the newest entry of a larger ring.
    constexpr size_t kAhead[3] = {32, 16, 8};
    for (size_t b = 0; b < batches.size(); ++b) {
      abi::Batch& batch = *batches[b];
      Prepared& prep = prepared[b];
      const Pending* pending = prep.pending.data();
      const size_t n = prep.pending.size();
      if constexpr (!kSequenced) begin_sequence(batch);
      auto ahead = [&](size_t k, int stage) __attribute__((always_inline)) {
        // Unsequenced rows have no partition yet: a hint for a row about
        // to be rejected is harmless.
        if (k < n && (!kSequenced || pending[k].partition == index))
          part.aggregates[pending[k].aggregate].keys.prefetch(pending[k].hash, stage);
      };
      for (size_t k = 0; k < n; ++k) {
        ahead(k + kAhead[0], 0);
        ahead(k + kAhead[1], 1);
        ahead(k + kAhead[2], 2);
        const Pending& p = pending[k];
        if (k == 0 || pending[k - 1].row != p.row) {
          if (k > 0) after_row(part, prep.rows[pending[k - 1].row]);
          if constexpr (!kSequenced) sequence_row(batch, prep, p.row, true);
        }
        if (p.partition != index) continue;  // another partition's, or a rejected row's
        const RowState& rs = prep.rows[p.row];
        const uint32_t row = p.row;
        const int64_t t = rs.time;
        const int result_column = p.result_column;
        Aggregate& a = part.aggregates[p.aggregate];
        int64_t slot = a.keys.find(p.key, p.hash);
        // Expired events go first, so that an in-order key's new event
        // takes the place of its old one. They are older than any window
        // an acceptable event reads, so the value is the same.
        if (slot >= 0 && evict(part, a, static_cast<size_t>(slot), drop_before(*a.ir, rs.max_time)) &&
            !p.enters) {
          a.keys.remove(static_cast<size_t>(slot));
          slot = -1;
        }
        if (slot < 0) {
          if (!p.enters) {
            // No held events for this key: an empty window (never faults).
            uint64_t bits = 0;
            bool has = false;
            fold(a, Ring{}, t, &bits, &has, part.distinct_scratch);
            write(batch, result_column, row, bits, has);
            if (prep.log) record_members(*prep.log, row, p.aggregate, a, -1, t);
            continue;
          }
          slot = static_cast<int64_t>(a.keys.add(p.key, p.hash));
        }
        const size_t s = static_cast<size_t>(slot);
        if (p.enters) {
          const uint32_t pos = a.keys.insert(
              s, {t, string_operand(a) ? retain_string(a, batch.string(static_cast<uint32_t>(p.operand)))
                                       : p.operand});
          if (prep.log) {
            std::vector<Origin>& origins = a.keys.origins(s);
            origins.insert(origins.begin() + pos, Origin{batch.line(row), std::string(batch.id(row))});
          }
          ++part.held;
        }
        uint64_t bits = 0;
        bool has = false;
        ir::FaultReason why = fold(a, a.keys.ring(s), t, &bits, &has, part.distinct_scratch);
        if (prep.log && why == ir::FaultReason::None) record_members(*prep.log, row, p.aggregate, a, slot, t);
        if (why != ir::FaultReason::None) {
          // The event counts; only this event's value cannot be computed.
          part.faults.push_back({static_cast<uint32_t>(b), row, p.input, why});
        } else {
          write(batch, result_column, row, bits, has);
        }
      }
      if (n > 0) after_row(part, prep.rows[pending[n - 1].row]);
    }
  }

  // After each accepted row, whichever partitions its keys fell in: a sweep
  // of every key when the events held here doubled since the last one.
  void after_row(Partition& part, const RowState& rs) const {
    if (part.held > part.sweep_at && rs.status == RowState::Ok) {
      sweep(part, rs.max_time);
      part.sweep_at = std::max(kFirstSweep, 2 * part.held);
    }
  }

  // Runs work(0) .. work(n - 1), on n threads when n > 1.
  template <typename Work>
  static void in_parallel(size_t n, Work&& work) {
    if (n == 1) {
      work(size_t{0});
      return;
    }
    std::vector<std::thread> pool;
    for (size_t i = 1; i < n; ++i) pool.emplace_back([&work, i] { work(i); });
    work(size_t{0});
    for (std::thread& th : pool) th.join();
  }

  void advance(std::span<abi::Batch* const> batches) {
    if (prepared.size() < batches.size()) prepared.resize(batches.size());
    for (size_t b = 0; b < batches.size(); ++b) {
      prepared[b].log = nullptr;
      if (options.record_members) {
        prepared[b].log = &member_logs[batches[b]];
        prepared[b].log->assign(size_t{batches[b]->size()} * module.aggregates.size(), Recorded{});
      }
    }
    const size_t threads = std::min(partitions.size(), std::max<size_t>(batches.size(), 1));
    in_parallel(threads, [&](size_t t) {
      for (size_t b = t; b < batches.size(); b += threads) evaluate_batch(*batches[b], prepared[b]);
    });
    if (partitions.size() == 1) {
      update_partition<false>(0, batches);
    } else {
      for (size_t b = 0; b < batches.size(); ++b) sequence_batch(*batches[b], prepared[b]);
      in_parallel(partitions.size(),
                  [&](size_t p) { update_partition<true>(static_cast<uint32_t>(p), batches); });
    }
    std::vector<FoldFault> faults;
    for (Partition& part : partitions) faults.insert(faults.end(), part.faults.begin(), part.faults.end());
    std::sort(faults.begin(), faults.end(), [](const FoldFault& x, const FoldFault& y) {
      return std::tie(x.batch, x.row, x.input) < std::tie(y.batch, y.row, y.input);
    });
    for (const FoldFault& f : faults) {
      const RowState& rs = prepared[f.batch].rows[f.row];
      const ir::Aggregate& agg =
          module.aggregates[static_cast<size_t>(inputs_of_kind[rs.kind][f.input].aggregate)];
      batches[f.batch]->fail(
          f.row, reason_of(f.reason),
          fmt::format("{} in the windowed aggregate `{}`", ir::fault_reason_text(f.reason), agg.text));
    }
  }

  // Remembers which events the value of aggregate `a` for the event at `t`
  // was folded over (the same range fold() reads).
  void record_members(std::vector<Recorded>& log, uint32_t row, int aggregate, const Aggregate& a,
                      int64_t slot, int64_t t) const {
    Recorded& r = log[size_t{row} * module.aggregates.size() + static_cast<size_t>(aggregate)];
    r.recorded = true;
    r.members = Members{};
    if (slot < 0) return;
    const Ring w = a.keys.ring(static_cast<size_t>(slot));
    const std::vector<Origin>* origins = a.keys.origins(static_cast<size_t>(slot));
    uint32_t from = 0, to = 0;
    window_range(w, window_from(*a.ir, t), t, &from, &to);
    r.members.count = to - from;
    auto member = [&](uint32_t i) {
      const Entry& e = w[i];
      Member m;
      if (origins && i < origins->size()) m.line = (*origins)[i].line, m.id = (*origins)[i].id;
      m.time = e.time;
      if (string_operand(a))
        m.text = a.strings.at(e.bits).first;
      else
        m.bits = e.bits;
      return m;
    };
    if (r.members.count <= 2 * kMembersShown) {
      for (uint32_t i = from; i < to; ++i) r.members.first.push_back(member(i));
      return;
    }
    for (uint32_t i = from; i < from + kMembersShown; ++i) r.members.first.push_back(member(i));
    for (uint32_t i = to - kMembersShown; i < to; ++i) r.members.last.push_back(member(i));
  }

  uint64_t fingerprint() const {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (const ir::Aggregate& a : module.aggregates) {
      h = fnv(h, a.name);
      h = fnv(h, a.text);
      h = fnv(h, ir::agg_fn_name(a.fn));
      h = fnv(h, std::to_string(a.window));
      if (a.calendar_year) h = fnv(h, "calendar year");
      h = fnv(h, ir::ty_name(a.operand));
      h = fnv(h, ir::ty_name(a.key));
      for (const ir::AggregateInput& in : a.inputs)
        h = fnv(h, module.events[static_cast<size_t>(in.event)].name);
    }
    return h;
  }
};

WindowState::WindowState(const ir::Module& module, const interp::Interpreter& interpreter,
                         const abi::Schema& schema, const Options& options)
    : impl_(std::make_unique<Impl>(module, interpreter, schema, options)) {}

WindowState::~WindowState() = default;

bool WindowState::active() const {
  return !impl_->module.aggregates.empty();
}

void WindowState::advance(abi::Batch& batch) {
  abi::Batch* one = &batch;
  advance(std::span<abi::Batch* const>(&one, 1));
}

void WindowState::advance(std::span<abi::Batch* const> batches) {
  if (active()) impl_->advance(batches);
}

const Members* WindowState::members(const abi::Batch& batch, uint32_t row, int aggregate) const {
  auto it = impl_->member_logs.find(&batch);
  if (it == impl_->member_logs.end() || aggregate < 0 ||
      static_cast<size_t>(aggregate) >= impl_->module.aggregates.size())
    return nullptr;
  const size_t at = size_t{row} * impl_->module.aggregates.size() + static_cast<size_t>(aggregate);
  if (at >= it->second.size() || !it->second[at].recorded) return nullptr;
  return &it->second[at].members;
}

Stats WindowState::stats() const {
  const Impl& m = *impl_;
  Stats s;
  for (const Impl::Partition& part : m.partitions)
    for (const Impl::Aggregate& a : part.aggregates) {
      s.keys += a.keys.size();
      s.bytes += a.keys.bytes();
      for (const auto& [text, id] : a.string_ids) s.bytes += 2 * (text.size() + 64);  // both maps' nodes
    }
  for (size_t a = 0; a < m.live.size(); ++a) {
    s.events += m.live[a].count_after(m.drop_before(m.module.aggregates[a], m.max_time));
    s.bytes += m.live[a].bytes();
  }
  return s;
}

// Checkpoint file, format 2. A 24-byte header:
//   "EDICTCKP"  magic
//   u32         format version (2)
//   u32         CRC-32 (zlib's) of the payload
//   u64         payload bytes (exactly the rest of the file)
// then the payload (integers little-endian; str: u32 length, then the bytes):
//   u64 fingerprint of the policy's aggregates
//   u8 at_end, u64 lines, u64 bytes, u32 crc, str output, str output_temp, u64 output_bytes
//                       (InputPosition; all zero or empty when at_end)
//   u8 seen, i64 latest event time (the minimum int64 when not seen)
//   u32 aggregates, then per aggregate: u64 keys, then per key, in strictly
//     ascending byte order: str key (a string key's bytes, none without `by`,
//     else the value's 8),
//     u32 events (at least 1), then per event in time order: i64 time, then
//     the operand (u64 bits, or a str for a string operand)
// Only events an acceptable event can still see are written (times after
// latest - lateness - window, and at most the latest), so equal states give
// equal files whatever the threads. Format 1 was a text file
// (`edict-window-checkpoint 1`), without a checksum or input position.
namespace {

constexpr char kMagic[8] = {'E', 'D', 'I', 'C', 'T', 'C', 'K', 'P'};
constexpr uint32_t kFormat = 2;
constexpr size_t kHeaderBytes = 24;
constexpr size_t kMaxPathBytes = 4096;
// The times an RFC 3339 text can give: 0001-01-01T00:00:00Z to the last
// microsecond of 9999.
constexpr int64_t kFirstTime = -62135596800LL * 1'000'000;
constexpr int64_t kLastTime = 253402300800LL * 1'000'000 - 1;

struct Writer {
  std::string out;
  template <typename T>
  void put(T v) {
    static_assert(std::endian::native == std::endian::little);
    char b[sizeof v];
    std::memcpy(b, &v, sizeof v);
    out.append(b, sizeof v);
  }
  void str(std::string_view s) {
    put(static_cast<uint32_t>(s.size()));
    out.append(s);
  }
};

// Reads the payload; every read is bounded by what is left, and the first
// failure names the payload byte it happened at.
struct Reader {
  std::string_view in;
  size_t at = 0;
  std::string what;
  bool fail(std::string why) {
    if (what.empty()) what = fmt::format("at payload byte {}: {}", at, why);
    return false;
  }
  size_t left() const { return in.size() - at; }
  template <typename T>
  bool get(T* v, const char* name) {
    if (left() < sizeof *v) return fail(fmt::format("the file ends inside {}", name));
    std::memcpy(v, in.data() + at, sizeof *v);
    at += sizeof *v;
    return true;
  }
  bool str(std::string_view* s, const char* name, size_t max) {
    uint32_t n = 0;
    if (!get(&n, name)) return false;
    if (n > max) return fail(fmt::format("{} is {} bytes long, more than {}", name, n, max));
    if (n > left()) return fail(fmt::format("{} is {} bytes long, past the end of the file", name, n));
    *s = in.substr(at, n);
    at += n;
    return true;
  }
  bool flag(bool* b, const char* name) {
    uint8_t v = 0;
    if (!get(&v, name)) return false;
    if (v > 1) return fail(fmt::format("{} is {}, not 0 or 1", name, v));
    *b = v != 0;
    return true;
  }
};

uint32_t crc_of(std::string_view bytes) {
  uLong crc = ::crc32(0L, Z_NULL, 0);
  while (!bytes.empty()) {
    const uInt n = static_cast<uInt>(std::min<size_t>(bytes.size(), 1u << 30));
    crc = ::crc32(crc, reinterpret_cast<const Bytef*>(bytes.data()), n);
    bytes.remove_prefix(n);
  }
  return static_cast<uint32_t>(crc);
}

bool finite_bits(uint64_t bits) {
  double d = 0;
  std::memcpy(&d, &bits, sizeof d);
  return std::isfinite(d);
}

// Why `bits` cannot be a value of type `t` (a key or an operand), or "".
std::string bad_value(ir::Ty t, uint64_t bits) {
  switch (t) {
    case ir::Ty::Void: return bits == 0 ? "" : "a value where none is kept";
    case ir::Ty::Bool: return bits <= 1 ? "" : "a boolean other than 0 or 1";
    case ir::Ty::Number: return finite_bits(bits) ? "" : "a number that is not finite (NaN or infinity)";
    case ir::Ty::Time:
      return static_cast<int64_t>(bits) >= kFirstTime && static_cast<int64_t>(bits) <= kLastTime
                 ? ""
                 : "a time outside the years 0001-9999";
    default: return "";
  }
}

}  // namespace

std::string WindowState::serialize(const InputPosition& position) const {
  const Impl& m = *impl_;
  Writer w;
  w.put(m.fingerprint());
  const bool end = position.at_end;
  w.put(static_cast<uint8_t>(end ? 1 : 0));
  w.put(end ? uint64_t{0} : position.lines);
  w.put(end ? uint64_t{0} : position.bytes);
  w.put(end ? uint32_t{0} : position.crc);
  w.str(end ? std::string_view() : position.output);
  w.str(end ? std::string_view() : position.output_temp);
  w.put(end ? uint64_t{0} : position.output_bytes);
  w.put(static_cast<uint8_t>(m.seen_any ? 1 : 0));
  w.put(m.seen_any ? m.max_time : kMinTime);
  w.put(static_cast<uint32_t>(m.module.aggregates.size()));
  for (size_t a = 0; a < m.module.aggregates.size(); ++a) {
    const int64_t limit = m.drop_before(m.module.aggregates[a], m.max_time);
    struct Held {
      std::string_view key;
      Ring ring;
      const Impl::Aggregate* aggregate;
      uint32_t from;  // the first entry after `limit`
    };
    std::vector<Held> keys;
    for (const Impl::Partition& part : m.partitions) {
      const Impl::Aggregate& agg = part.aggregates[a];
      for (size_t k = 0; k < agg.keys.slot_count(); ++k) {
        if (!agg.keys.used(k)) continue;
        const Ring r = agg.keys.ring(k);
        const uint32_t from = r.after(limit);
        if (from < r.count) keys.push_back({agg.keys.key_of(k), r, &agg, from});
      }
    }
    std::sort(keys.begin(), keys.end(), [](const Held& x, const Held& y) { return x.key < y.key; });
    w.put(static_cast<uint64_t>(keys.size()));
    for (const Held& k : keys) {
      w.str(k.key);
      w.put(k.ring.count - k.from);
      for (uint32_t i = k.from; i < k.ring.count; ++i) {
        const Entry& e = k.ring[i];
        w.put(e.time);
        if (Impl::string_operand(*k.aggregate))
          w.str(k.aggregate->strings.at(e.bits).first);
        else
          w.put(e.bits);
      }
    }
  }
  std::string file(kMagic, sizeof kMagic);
  Writer h;
  h.put(kFormat);
  h.put(crc_of(w.out));
  h.put(static_cast<uint64_t>(w.out.size()));
  file += h.out;
  file += w.out;
  return file;
}

bool WindowState::save(const std::string& path, const InputPosition& position, std::string* error) const {
  return write_file_atomically(path, serialize(position), error);
}

bool WindowState::load(const std::string& path, InputPosition* position, std::string* error) {
  std::ifstream in(path, std::ios::binary);
  std::string bytes;
  if (in) bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  if (!in && !in.eof()) {
    *error = fmt::format("cannot read the checkpoint `{}`: {}", path, std::strerror(errno));
    return false;
  }
  return restore(bytes, path, position, error);
}

bool WindowState::restore(std::string_view file, const std::string& name, InputPosition* position,
                          std::string* error) {
  Impl& m = *impl_;
  auto bad = [&](const std::string& what) {
    *error = fmt::format("the checkpoint `{}` cannot be used: {}", name, what);
    return false;
  };
  if (file.substr(0, 24) == "edict-window-checkpoint ")
    return bad(
        "it is in format 1 (text, no checksum or input position), which this Edict no longer reads; delete "
        "it "
        "and run again from the start of the events");
  if (file.size() < sizeof kMagic || std::memcmp(file.data(), kMagic, sizeof kMagic) != 0)
    return bad("it is not an Edict checkpoint (no `EDICTCKP` at its start)");
  if (file.size() < kHeaderBytes)
    return bad(
        fmt::format("it is truncated: {} bytes, shorter than its {}-byte header", file.size(), kHeaderBytes));
  uint32_t format = 0, crc = 0;
  uint64_t length = 0;
  std::memcpy(&format, file.data() + 8, 4);
  std::memcpy(&crc, file.data() + 12, 4);
  std::memcpy(&length, file.data() + 16, 8);
  if (format != kFormat)
    return bad(fmt::format("it is in format {}, and this Edict reads format {}", format, kFormat));
  const std::string_view payload = file.substr(kHeaderBytes);
  if (length != payload.size())
    return bad(fmt::format("its header announces {} payload bytes but it holds {} (truncated or appended to)",
                           length, payload.size()));
  if (const uint32_t actual = crc_of(payload); actual != crc)
    return bad(
        fmt::format("its checksum does not match (CRC-32 {:08x}, the header says {:08x}): the file is "
                    "damaged",
                    actual, crc));

  Reader r{payload, 0, {}};
  auto failed = [&] { return bad(r.what); };
  auto fail = [&](std::string why) {
    r.fail(std::move(why));
    return failed();
  };
  uint64_t fp = 0;
  if (!r.get(&fp, "the fingerprint")) return failed();
  if (fp != m.fingerprint())
    return bad("it holds the windows of a different policy (its windowed aggregates changed)");

  InputPosition pos;
  std::string_view output, temp;
  if (!r.flag(&pos.at_end, "the end-of-input flag") || !r.get(&pos.lines, "the lines consumed") ||
      !r.get(&pos.bytes, "the bytes consumed") || !r.get(&pos.crc, "the input checksum") ||
      !r.str(&output, "the output file's name", kMaxPathBytes) ||
      !r.str(&temp, "the output's temporary file name", kMaxPathBytes) ||
      !r.get(&pos.output_bytes, "the output's length"))
    return failed();
  pos.output = output;
  pos.output_temp = temp;
  if (pos.at_end &&
      (pos.lines || pos.bytes || pos.crc || !output.empty() || !temp.empty() || pos.output_bytes))
    return fail("a checkpoint at the end of the input records an input position");
  if (!pos.at_end && pos.bytes < pos.lines)
    return fail(fmt::format("{} lines cannot be {} bytes", pos.lines, pos.bytes));
  if (output.find('\0') != std::string_view::npos || temp.find('\0') != std::string_view::npos)
    return fail("a file name holds a NUL byte");
  if ((temp.empty() && pos.output_bytes) || (!temp.empty() && output.empty()))
    return fail("an output length or temporary file without an output file");

  bool seen = false;
  int64_t max_time = 0;
  if (!r.flag(&seen, "the seen flag") || !r.get(&max_time, "the latest event time")) return failed();
  if (!seen && max_time != kMinTime) return fail("a latest event time before any event");
  if (seen && (max_time < kFirstTime || max_time > kLastTime))
    return fail(fmt::format("the latest event time {} is outside the years 0001-9999", max_time));
  if (seen && max_time > m.options.latest_acceptable)
    return bad(
        fmt::format("its latest event time {} is more than {} (--max-future) ahead of this machine's "
                    "clock; it was saved after an event with a wrong clock, or the clock is wrong",
                    format_time(max_time), format_duration(m.options.max_future)));
  uint32_t aggregates = 0;
  if (!r.get(&aggregates, "the number of aggregates")) return failed();
  if (aggregates != m.module.aggregates.size())
    return fail(fmt::format("{} aggregates, the policy has {}", aggregates, m.module.aggregates.size()));

  std::vector<Impl::Partition> parts(m.partitions.size());
  for (Impl::Partition& part : parts) {
    part.aggregates.resize(m.module.aggregates.size());
    for (size_t a = 0; a < m.module.aggregates.size(); ++a) part.aggregates[a].ir = &m.module.aggregates[a];
  }
  std::vector<LiveTimes> live(m.module.aggregates.size());
  std::vector<Entry> entries;
  for (size_t a = 0; a < m.module.aggregates.size(); ++a) {
    const ir::Aggregate& ir_agg = m.module.aggregates[a];
    const int64_t limit = seen ? m.drop_before(ir_agg, max_time) : kMinTime;
    uint64_t keys = 0;
    if (!r.get(&keys, "a number of keys")) return failed();
    // Each key takes at least 20 bytes (an empty key, one event, an empty string).
    if (!seen && keys) return fail("keys held before any event");
    if (keys > r.left() / 20) return fail(fmt::format("{} keys cannot fit in what is left", keys));
    std::string_view previous;
    for (uint64_t k = 0; k < keys; ++k) {
      std::string_view key;
      if (!r.str(&key, "a key", r.left())) return failed();
      if (k > 0 && !(previous < key)) return fail("keys out of order or repeated");
      previous = key;
      if (ir_agg.key == ir::Ty::Void) {
        if (!key.empty())
          return fail(fmt::format("a key of {} bytes for an aggregate without `by`", key.size()));
      } else if (ir_agg.key != ir::Ty::Str) {
        uint64_t bits = 0;
        if (key.size() != sizeof bits) return fail(fmt::format("a key of {} bytes, not 8", key.size()));
        std::memcpy(&bits, key.data(), sizeof bits);
        std::string why = bad_value(ir_agg.key, bits);
        if (why.empty() && ir_agg.key == ir::Ty::Number && bits == (uint64_t{1} << 63)) why = "a key of -0";
        if (!why.empty()) return fail("a key is " + why);
      }
      uint32_t n = 0;
      if (!r.get(&n, "a number of events")) return failed();
      if (n == 0) return fail("a key without events");
      if (n > r.left() / 12) return fail(fmt::format("{} events cannot fit in what is left", n));
      const uint64_t hash = hash_key(key);
      Impl::Partition& part = parts[m.partition_of(hash)];
      Impl::Aggregate& agg = part.aggregates[a];
      entries.clear();
      for (uint32_t i = 0; i < n; ++i) {
        Entry e{0, 0};
        if (!r.get(&e.time, "an event time")) return failed();
        if (e.time <= limit || e.time > max_time)
          return fail(
              fmt::format("an event time {} outside its window's span ({}, {}]", e.time, limit, max_time));
        if (!entries.empty() && e.time < entries.back().time) return fail("event times out of order");
        if (Impl::string_operand(agg)) {
          std::string_view text;
          if (!r.str(&text, "a string value", r.left())) return failed();
          e.bits = Impl::retain_string(agg, text);
        } else {
          if (!r.get(&e.bits, "a value")) return failed();
          if (std::string why = bad_value(ir_agg.operand, e.bits); !why.empty())
            return fail("a value is " + why);
        }
        entries.push_back(e);
        live[a].add(e.time);
      }
      part.held += n;
      const size_t slot = agg.keys.add(key, hash);
      for (const Entry& e : entries) agg.keys.insert(slot, e);  // in time order: appends
      // Where the events came from is not saved.
      if (m.options.record_members) agg.keys.origins(slot).resize(entries.size());
    }
  }
  if (r.left() != 0) return fail(fmt::format("{} bytes after the last key", r.left()));
  m.partitions = std::move(parts);
  m.live = std::move(live);
  m.seen_any = seen;
  m.max_time = seen ? max_time : kMinTime;
  m.expire_live();
  m.live_compact_at = std::max(kFirstSweep, 2 * m.live_bound);
  *position = pos;
  return true;
}

}  // namespace edict::window
