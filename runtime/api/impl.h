// What the public handles of include/edict/edict.hpp hold. Private to the
// library: the public header only forward-declares these.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "edict/edict.hpp"
#include "runtime/batch.h"
#include "runtime/engine/engine.h"

namespace edict::detail {

struct PolicyImpl {
  SourceManager sources;  // spans in the module point here: declared first, destroyed last
  std::unique_ptr<engine::Policy> engine;
  EdictEvalBatchFn single_event = nullptr;  // engine->single_event_function(), called directly
  Engine engine_kind = Engine::Jit;
  std::vector<std::string> kinds;
  std::vector<std::string> no_title;  // "" for rules without a policy title
  // Per kind: one bit per field that must be set before evaluation.
  std::vector<std::vector<uint64_t>> required;
  size_t rule_count() const { return engine->module().rules.size(); }
};

struct SlotState {
  mutable std::mutex mutex;
  Policy current;
  std::atomic<uint64_t> version{0};
};

// One reusable single-row batch of a policy's schema and its column view.
struct Row {
  runtime::Batch batch;
  std::vector<const void*> data;
  std::vector<const uint8_t*> present;
  EdictColumns columns;
  explicit Row(const PolicyImpl& policy);
};

struct EventImpl {
  std::shared_ptr<const PolicyImpl> policy;
  int kind = -1;
  Row row;
  std::vector<uint64_t> set;  // one bit per field of the kind
  std::string id;
  EventImpl(std::shared_ptr<const PolicyImpl> p, int k);
  void clear();
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
