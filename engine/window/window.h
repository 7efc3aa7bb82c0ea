// The window stage of stateful rules: keeps, per windowed aggregate and per
// key, the events that can still fall into a window, and writes each event's
// aggregate values into the batch (the synthetic `$aggN` columns, see
// WINDOWED AGGREGATES in compiler/ir/ir.h) before either engine evaluates the
// rules. One WindowState per event stream; advance() is called on batches in
// input order, from one thread at a time.
//
// Threads (Options::threads, `eval -j N`): keys are split into that many
// partitions by their hash, each updated by one thread, so no window state
// is shared. advance() runs three passes: every row's key, filter and
// operand (batches in parallel); one sequential pass in input order for what
// is global to the stream (lateness against the latest event time, input
// faults, the state limit); then each partition's keys in input order (with
// one partition, the last two are one walk over the rows). The decisions are
// the same for every number of threads.
//
// Semantics (docs/language.md, "Windowed aggregates"):
// - An event of a kind the aggregate's rule applies to enters the
//   aggregate's window when its `where` filter holds; the key and operand
//   are evaluated only then. It enters whether or not any rule fires.
// - The aggregate of an event with time t is taken over the events that
//   arrived up to and including it (input order) and entered its key's
//   window, with times in (t - window, t]. Deterministic given input order.
// - Events may arrive out of time order by up to `max_lateness` behind the
//   latest event time seen (over every event of an observed kind that was
//   not itself late); an earlier one is rejected as `late_event`.
// - The state limit counts, when an event arrives, the events held over all
//   windows that an acceptable event can still see (times after latest -
//   lateness - window), whichever thread holds them and whether or not they
//   were dropped yet; the event is rejected when its entries would take the
//   count over Options::max_events.
// - A rejected event (late, over the state limit, or a fault while
//   evaluating an aggregate's filter, key or operand) gets the decision
//   `error` with the reason and enters no window (it still moves the
//   latest time).
// Cost: O(log n + m) per aggregate per event, n events held for the key, m
// in the queried window; an event in time order enters in O(1) (appended
// after its key's expired events are dropped, usually in their place), and
// a fold over one or two events is a few instructions. Keys live in a flat
// hash table of one 64-byte slot each (the hash, the key inline up to 20
// bytes, the ring of its events), so a lookup touches one index bucket and
// one slot, both prefetched a few inputs ahead. Memory: kEntryBytes per held
// event (and 8 bytes for the state limit's count of it) plus a slot and an
// 8-16 byte index bucket per key; a key's lone event lives in its slot,
// larger rings in blocks of a shared pool recycled by size (up to 8
// entries) or their own allocation, and a key's bytes beyond 20 apart.
// Slots and blocks of expired keys are reused, so the table is sized by the
// most keys live at once (Stats::bytes counts what is allocated). An event
// is dropped once no acceptable event can still see it (older than latest
// - lateness - window): when its key is next touched, or by a sweep of
// every key when the events held doubled since the last one.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "abi/abi.h"
#include "abi/batch.h"
#include "abi/schema.h"
#include "compiler/interp/interp.h"
#include "compiler/ir/ir.h"

namespace edict::window {

// The aggregates' inputs compiled by the JIT (engine::Policy::window_inputs):
// the batch function and the functions it computes, in its output order.
struct CompiledInputs {
  EdictEvalInputsFn function = nullptr;
  std::vector<ir::FuncId> functions;
};

struct Options {
  int64_t max_lateness = int64_t{3600} * 1'000'000;  // 1 hour, in microseconds
  uint64_t max_events = 10'000'000;                  // events held over all windows
  // Explanations: remember each held event's line and id, and which events
  // each value was computed over (see members()). Costs memory and time.
  bool record_members = false;
  // Compiled inputs: advance() reads their columns instead of interpreting
  // the key, filter and operand functions. Same values and faults.
  CompiledInputs inputs;
  // Threads advance() uses, one per partition of the keys (see above).
  // Decisions do not depend on it.
  unsigned threads = 1;
  // Events dated after `latest_acceptable` (`edict eval`: this machine's
  // clock plus --max-future, which `max_future` gives for messages) are
  // rejected as `future_event`: they enter no window and do not move the
  // latest event time, so one wrong clock cannot make every later event
  // late. A checkpoint whose latest time is after it is refused.
  int64_t latest_acceptable = INT64_MAX;
  int64_t max_future = -1;
};

// Where in its input a checkpoint was taken, and the output written so far
// (`edict eval`; see docs/events.md, "Checkpoints"). Saved with the windows.
struct InputPosition {
  // True: the input was read to its end (a clean end); the next run starts
  // the next events file at its line 1. False: stopped after `lines` lines,
  // whose text (each line plus one byte for its end) is `bytes` bytes with
  // CRC-32 `crc`; the same command resumes after them.
  bool at_end = true;
  uint64_t lines = 0;
  uint64_t bytes = 0;
  uint32_t crc = 0;
  // Mid-input only: the -o file as given ("" for standard output), the
  // temporary file its records go to until the end, and its length at the
  // checkpoint.
  std::string output;
  std::string output_temp;
  uint64_t output_bytes = 0;
};

// One event a windowed aggregate's value was computed over.
struct Member {
  uint64_t line = 0;  // input line; 0 for an event restored from a checkpoint
  std::string id;     // the event's id, "" when it had none
  int64_t time = 0;
  uint64_t bits = 0;  // the operand (ir::Aggregate::operand type); 0 for `count()`
  std::string text;   // a string operand's text
};

// The events of one value, in the order the value folds them (time, ties in
// arrival order): all of them up to 2 * kMembersShown, else the first and
// the last kMembersShown.
inline constexpr size_t kMembersShown = 10;
struct Members {
  uint64_t count = 0;  // events in the window
  std::vector<Member> first, last;
};

// Bytes per held event (its time and operand).
inline constexpr size_t kEntryBytes = 16;

struct Stats {
  uint64_t keys = 0;    // live keys over all aggregates
  uint64_t events = 0;  // events held over all windows that an acceptable event can still see
  // What the windows have allocated: key tables and slots (free ones
  // included), held entries with their spare capacity, keys' heap bytes;
  // string operands' texts estimated.
  uint64_t bytes = 0;
};

class WindowState {
 public:
  // `schema` is the batch schema the module was compiled to (engine::schema_for).
  WindowState(const ir::Module& module, const interp::Interpreter& interpreter, const abi::Schema& schema,
              const Options& options = {});
  ~WindowState();
  WindowState(const WindowState&) = delete;
  WindowState& operator=(const WindowState&) = delete;

  // True when the module has windowed aggregates (otherwise advance() only
  // returns).
  bool active() const;
  // Updates the windows with every row of `batch` in order and writes each
  // row's aggregate values into its `$aggN` columns; rejected rows are
  // failed with their reason (see above).
  void advance(abi::Batch& batch);
  // The same as advance() on each batch in turn, on Options::threads threads.
  void advance(std::span<abi::Batch* const> batches);

  Stats stats() const;

  // With Options::record_members: the events aggregate `aggregate` (an
  // ir::Module::aggregates index) of row `row` was computed over, as of the
  // last advance() of `batch`; null when that row got no value from it (not
  // of its kinds, or rejected). Read-only, so threads may call it while no
  // advance() runs.
  const Members* members(const abi::Batch& batch, uint32_t row, int aggregate) const;

  // Checkpoint file: a header (magic, format version, payload length, CRC-32
  // of the payload) and the payload: a fingerprint of the policy's
  // aggregates, the input position, the latest event time and the windows
  // (format in window.cpp). save() writes a temporary file beside `path`,
  // syncs it and renames it, so an interrupted save keeps the previous
  // checkpoint. load() verifies the header and checksum, range-checks every
  // value and refuses a checkpoint of a different policy or with a latest
  // time after Options::latest_acceptable; on any failure the state is
  // unchanged and *error names the file and what is wrong. A checkpoint does
  // not depend on the threads of the state that saved it, and equal states
  // give equal bytes.
  bool save(const std::string& path, const InputPosition& position, std::string* error) const;
  bool load(const std::string& path, InputPosition* position, std::string* error);
  // The same on the file's bytes (`name` for messages): save() writes
  // serialize(), load() reads the file and calls restore().
  std::string serialize(const InputPosition& position) const;
  bool restore(std::string_view file, const std::string& name, InputPosition* position, std::string* error);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace edict::window
