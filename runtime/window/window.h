// The window stage of stateful rules: keeps, per windowed aggregate and per
// key, the events that can still fall into a window, and writes each event's
// aggregate values into the batch (the synthetic `$aggN` columns, see
// WINDOWED AGGREGATES in compiler/ir/ir.h) before either engine evaluates the
// rules. One WindowState per event stream; advance() is called on batches in
// input order, from one thread (it is the only sequential step of `eval -j`).
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
// - A rejected event (late, over the state limit, or a fault while
//   evaluating an aggregate's filter, key or operand) gets the decision
//   `error` with the reason and enters no window (it still moves the
//   latest time).
// Cost: O(log n + m) per aggregate per event, n events held for the key, m
// in the queried window. Memory: kEntryBytes per held event plus
// kKeyBytes + the key's bytes per live key; an event is dropped once no
// acceptable event can still see it (older than latest - lateness - window).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "compiler/interp/interp.h"
#include "compiler/ir/ir.h"
#include "runtime/batch.h"
#include "runtime/schema.h"

namespace edict::window {

struct Options {
  int64_t max_lateness = int64_t{3600} * 1'000'000;  // 1 hour, in microseconds
  uint64_t max_events = 10'000'000;                  // events held over all windows
};

// Memory accounting used for the limit message and benchmarks (bytes).
inline constexpr size_t kEntryBytes = 16;
inline constexpr size_t kKeyBytes = 96;

struct Stats {
  uint64_t keys = 0;    // live keys over all aggregates
  uint64_t events = 0;  // events held over all windows
  uint64_t bytes = 0;   // estimate: kEntryBytes * events + (kKeyBytes + key size) * keys
};

class WindowState {
 public:
  // `schema` is the batch schema the module was compiled to (engine::schema_for).
  WindowState(const ir::Module& module, const interp::Interpreter& interpreter, const runtime::Schema& schema,
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
  void advance(runtime::Batch& batch);

  Stats stats() const;

  // Checkpoint file: the windows, the latest event time and a fingerprint of
  // the policy's aggregates. save() writes a temporary file and renames it,
  // so an interrupted save keeps the previous checkpoint. load() refuses a
  // checkpoint of a different policy. False with *error on failure.
  bool save(const std::string& path, std::string* error) const;
  bool load(const std::string& path, std::string* error);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace edict::window
