// Runs a program's `test` blocks: each step's event (an example with its
// overrides, checked and folded by the checker) is evaluated by a Policy and
// compared with the step's `expect` clauses.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "engine/engine.h"

namespace edict::tools {
using engine::Policy;

struct StepOutcome {
  std::string test;  // the test's title
  Span test_span;    // the whole `test` block
  Span span;         // the step (`given ...`)
  size_t step = 0;   // 0-based
  bool passed = true;
  std::string event;               // the event, as an Edict record literal
  std::string expected;            // "deny by hq_d5", ...
  std::string actual;              // "allow"
  std::vector<std::string> fired;  // "hq_d5 (deny, 15 CFR 744.23(a)(3))"
  std::vector<int> fired_rules;    // the same as ir::Module rule indices
  std::string error;               // evaluation error text, when the decision was `error`
};

// Sees each step's event as evaluated (row 0 of `batch`), e.g. for coverage.
using StepObserver = std::function<void(const StepOutcome& step, const abi::Batch& batch)>;

// Evaluates every step of every test of the policy's program.
std::vector<StepOutcome> run_tests(const Policy& policy, const StepObserver& observer = {});

}  // namespace edict::tools
