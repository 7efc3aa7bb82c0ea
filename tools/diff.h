// Decision diffs between two versions of a policy over the same events: which
// events change decision or set of fired rules (rules matched by name), as a
// table of transitions and one record per changed event.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "engine/engine.h"

namespace edict::tools {
using engine::Policy;
using engine::Results;

// How the two policies would read events differently: one line per event
// kind or field that differs (field order does not matter). Empty when every
// input line decodes the same under both.
std::vector<std::string> schema_differences(const Policy& old_policy, const Policy& new_policy);

// True when a batch decoded for one policy is exactly what the other's
// decoder would make: the same event kinds, fields, columns and read fields,
// and the same string pool (so the same string symbols). Then one decoding
// serves both evaluations.
bool batches_shareable(const Policy& a, const Policy& b);

struct Transition {
  uint64_t events = 0;
  std::map<std::string, uint64_t> added, removed;  // rule name -> events
  std::vector<std::string> examples;               // event ids (or `line N`), the first few
};

class DecisionDiff {
 public:
  DecisionDiff(const Policy& old_policy, const Policy& new_policy, size_t max_examples = 5);

  // Compares every row of two batches decoded from the same lines (row i of
  // each is the same input line). With `records`, appends one JSONL record
  // per changed event.
  void compare(const abi::Batch& old_batch, const Results& old_results, const abi::Batch& new_batch,
               const Results& new_results, std::string* records);

  uint64_t events() const { return events_; }
  uint64_t changed() const { return changed_; }
  // (old decision, new decision) -> what changed; unchanged events are not counted.
  const std::map<std::pair<std::string, std::string>, Transition>& transitions() const {
    return transitions_;
  }

  // The summary table for people.
  std::string render() const;

 private:
  const Policy* old_;
  const Policy* new_;
  size_t max_examples_;
  std::vector<std::string> names_;         // every rule name of either version
  std::vector<uint32_t> old_id_, new_id_;  // rule index -> names_ index
  uint64_t events_ = 0, changed_ = 0;
  std::map<std::pair<std::string, std::string>, Transition> transitions_;
  std::vector<uint32_t> a_, b_, added_, removed_;  // scratch
};

}  // namespace edict::tools
