// Evaluation traces: the value every condition and sub-expression of a rule
// took on one event. A Tracer lowers the policy's checked program a second
// time with ir::LowerOptions::trace (every expression keeps a register) and
// runs it on the reference interpreter, so the fast engines stay untouched;
// `edict explain`, `edict eval --explain` and test coverage read the result.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/decision.h"
#include "engine/engine.h"
#include "engine/window/window.h"

namespace edict::engine {

// One expression of a rule's condition and what it evaluated to.
struct TraceNode {
  enum class State : uint8_t {
    Value,         // evaluated; `value` holds it
    NotEvaluated,  // skipped (short circuit, untaken branch, or after a fault)
    Absent,        // an optional value that was absent
    Present,       // an optional value that was present (its value not needed)
  };
  const ast::Expr* expr = nullptr;
  std::string source;  // the expression as written, whitespace collapsed
  std::string note;    // e.g. "def advanced" for an inlined def body
  uint32_t line = 0;   // 1-based source line of the expression
  State state = State::NotEvaluated;
  std::string text;           // the value for people: 64, "CN", true, 2024-03-01T00:00:00Z, row "H20"
  std::string json;           // the value as a JSON literal
  std::optional<bool> truth;  // bool-typed expressions that were evaluated
  std::vector<TraceNode> children;
  // A windowed aggregate, when the tracer reads the windows
  // (Tracer::read_windows): the events its value was computed over.
  std::optional<window::Members> members;
  ir::Ty member_type = ir::Ty::Void;  // their operand's type (Void for `count()`)
};

struct RuleTrace {
  enum class Status : uint8_t { Fired, NotFired, NotInEffect, NotApplicable, Error };
  int rule = -1;
  Status status = Status::NotApplicable;
  std::string error;    // Status::Error: the fault, with its source place
  std::string message;  // Status::Fired, filled by explain_row
  std::optional<TraceNode> when, unless;
};
const char* status_name(RuleTrace::Status s);  // "fired", "not_fired", "not_in_effect", ...

// The register-level result of tracing one rule, for coverage.
struct RawTrace {
  interp::RuleResult result;
  interp::Interpreter::Trace regs;
};

class Tracer {
 public:
  // Null (with *error set) if the policy cannot be lowered for tracing.
  static std::unique_ptr<Tracer> create(const Policy& policy, std::string* error);
  ~Tracer();

  // Trees of windowed aggregates then list the events each value was
  // computed over (`windows` must record members and advance the batches
  // traced; null: values only).
  void read_windows(const window::WindowState* windows) { windows_ = windows; }

  // One rule on one row of a batch decoded with the policy's schema.
  RuleTrace trace_rule(int rule, const EdictColumns& columns, uint32_t row) const;
  // The same without building the tree.
  RawTrace raw_trace(int rule, const EdictColumns& columns, uint32_t row) const;
  // The registers of one of the traced module's aggregate input functions
  // (a `where` filter) on a row: its Trace, function null after a fault.
  interp::Interpreter::Trace trace_input(ir::FuncId function, const EdictColumns& columns,
                                         uint32_t row) const;
  // The tree of `e` (a `when` or `unless` expression of rule `rule`) over a
  // raw trace of row `row` (the row is needed only for aggregates' events).
  TraceNode tree(const ast::Expr& e, const RawTrace& raw, const EdictColumns& columns,
                 uint32_t row = UINT32_MAX) const;

  const ir::Module& module() const { return module_; }
  const Policy& policy() const { return *policy_; }
  const DecisionFinisher& finisher() const { return *finisher_; }

 private:
  Tracer() = default;
  const Policy* policy_ = nullptr;
  std::unique_ptr<DecisionFinisher> finisher_;  // the decisions explained
  ir::Module module_;
  std::unique_ptr<interp::Interpreter> interpreter_;
  const window::WindowState* windows_ = nullptr;
};

// A whole event explained: the engine's decision and every rule's trace.
struct EventExplanation {
  uint64_t line = 0;
  std::string id, kind;
  std::string decision;          // an outcome or "error"
  std::string error;             // why the decision is `error` (decoding or evaluation)
  std::string error_reason;      // stable reason name, with `error`
  std::vector<RuleTrace> rules;  // every rule of the policy, in source order
};

// Explains row `row` of `batch`, evaluated by the policy's own engine into
// `results` (row `row` must be evaluated there already).
EventExplanation explain_row(const Tracer& tracer, const abi::Batch& batch, const Results& results,
                             uint32_t row);

// A checker constant as it appears in explanations: 64, "CN", 2024-03-01.
std::string value_text(const Value& v);
// Source text with runs of whitespace collapsed to one space.
std::string collapse_whitespace(std::string_view s);

// An indented tree for people.
std::string render_explanation(const Tracer& tracer, const EventExplanation& e);
// One JSON object (no newline).
void append_explanation_json(std::string& out, const Tracer& tracer, const EventExplanation& e);
// A condition tree as JSON: {"expr":..,"value":..,"children":[..]}.
void append_trace_json(std::string& out, const TraceNode& node);

}  // namespace edict::engine
