// What the public handles of include/edict/edict.hpp hold. Private to the
// library: the public header only forward-declares these.
#pragma once

#include <atomic>
#include <bit>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "abi/batch.h"
#include "edict/edict.hpp"
#include "engine/decision.h"
#include "engine/engine.h"
#include "engine/message_template.h"
#include "engine/trace.h"

namespace edict::detail {

// What a Decision says about one rule, viewing the module's strings.
struct RuleNames {
  std::string_view name, effect, cite, policy;
  bool has_message = false;  // on some event kind
};

struct PolicyImpl {
  SourceManager sources;  // spans in the module point here: declared first, destroyed last
  std::unique_ptr<engine::Policy> engine;
  EdictEvalBatchFn single_event = nullptr;  // engine->single_event_function(), called directly
  Engine engine_kind = Engine::Jit;
  // It declares data sources: each evaluation pins their versions
  // (engine::PinnedVersions), which a policy without data skips.
  bool reads_data = false;
  std::vector<std::string> kinds;
  // Per kind: one bit per field that must be set before evaluation.
  std::vector<std::vector<uint64_t>> required;
  // Decisions read these instead of the module: no lookups per event.
  std::vector<RuleNames> rules;
  std::vector<std::string_view> outcomes;  // by decision value
  // The default outcome when no rule has it as its effect: a row decided so
  // had no rule fire (no need to scan its fired words); -1 otherwise.
  int quiet_outcome = -1;
  // Finishes decisions: messages of fired rules (templates, else the
  // interpreter) and fault reasons, as for every other consumer.
  std::unique_ptr<engine::DecisionFinisher> finisher;
  size_t rule_count() const { return rules.size(); }

  // The tracer explanations use, made at the first request (it lowers the
  // policy again); null with *error set when the policy cannot be traced.
  const engine::Tracer* tracer(std::string* error) const;

 private:
  mutable std::once_flag tracer_once_;
  mutable std::unique_ptr<engine::Tracer> tracer_;
  mutable std::string tracer_error_;
};

struct SlotState {
  mutable std::mutex mutex;
  Policy current;
  std::atomic<uint64_t> version{0};
};

// One reusable single-row batch of a policy's schema and its column view.
struct Row {
  abi::Batch batch;
  std::vector<const void*> data;
  std::vector<const uint8_t*> present;
  EdictColumns columns;
  explicit Row(const PolicyImpl& policy);
};

struct EventImpl {
  std::shared_ptr<const PolicyImpl> policy;
  int kind = -1;
  // What the typed short path reads, together and without indirection
  // (set at creation). decide_record null: no record code (the interpreter,
  // a policy too large for it); the row's code decides instead.
  EdictEvalRecordFn decide_record = nullptr;
  const PolicyImpl* policy_ptr = nullptr;  // policy.get()
  void* strings = nullptr;                 // the row's string context (the record's symbols)
  size_t missing = 0;                      // required fields not set yet: complete() without a scan
  int quiet_code = -1;                     // PolicyImpl::quiet_outcome
  std::string_view kind_name;
  std::string_view quiet_name;  // the quiet outcome's name, when >= 0
  // The same values as `row` laid out as a record (abi/abi.h) for the
  // kind's record function, which reads each field at a fixed offset: the
  // setters write both. The row serves everything else (messages,
  // explanations, the interpreter).
  std::vector<uint64_t> record;
  std::string id;
  Row row;
  size_t field_count = 0;
  std::vector<uint64_t> set;              // one bit per field of the kind
  const std::vector<uint64_t>* required;  // the policy's mask for the kind
  // Bytes of strings set since the row's string arena was last rebuilt: an
  // event reused with ever new strings must not grow without bound.
  size_t arena_bytes = 0;
  EventImpl(std::shared_ptr<const PolicyImpl> p, int k);
  void clear();
  // Interns a string value into the row, counting arena bytes.
  uint32_t intern(std::string_view text);
  // Re-interns the current string values into an emptied arena.
  void rebuild_arena();
  template <typename T>
  void record_value(int index, T value) {
    std::memcpy(reinterpret_cast<char*>(record.data()) + EDICT_RECORD_VALUE(index), &value, sizeof value);
  }
  void record_present(int index, bool present) {
    reinterpret_cast<uint8_t*>(record.data())[EDICT_RECORD_PRESENT(field_count, index)] = present ? 1 : 0;
  }
  // Marks field `index` set (or made absent).
  void mark_set(int index) {
    uint64_t& word = set[static_cast<size_t>(index) / 64];
    const uint64_t bit = uint64_t{1} << (index % 64);
    if (word & bit) return;
    word |= bit;
    if ((*required)[static_cast<size_t>(index) / 64] & bit) --missing;
  }
  bool complete() const { return missing == 0; }
  size_t required_count() const {
    size_t n = 0;
    for (uint64_t w : *required) n += static_cast<size_t>(std::popcount(w));
    return n;
  }
};

// Friend of the handles: the implementation's only way into them.
struct Access {
  static const std::shared_ptr<const PolicyImpl>& impl(const Policy& p) { return p.impl_; }
  static Policy make(std::shared_ptr<const PolicyImpl> impl) {
    Policy p;
    p.impl_ = std::move(impl);
    return p;
  }
  static EventImpl* impl(const Event& e) { return e.impl_.get(); }
  static void set(Event& e, std::unique_ptr<EventImpl> impl) { e.impl_ = std::move(impl); }
  static const std::shared_ptr<SlotState>& state(const PolicySlot& s) { return s.state_; }
};

}  // namespace edict::detail
