// The decision finisher: turns an engine's results for one row into the
// decision every consumer reports (decision records, the embedding API, the
// `test` runner, explanations): the outcome, the fired rules with their
// messages, and a fault's rule, site and reason. A fired rule's message that
// faults makes the decision `error` naming that rule, as an engine fault
// does; an engine fault outranks a message fault.
//
// Messages come from the policy's message templates (message_template.h)
// where the rule's message has one that does not fault on the row, else from
// the reference interpreter; the fault reason comes from the results, which
// every engine writes (EdictResults::fault_reason). This is the only place
// outside explanations that runs the interpreter on an event, and
// interpreter_runs() counts how often it does.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "abi/abi.h"
#include "abi/batch.h"
#include "engine/engine.h"
#include "engine/message_template.h"

namespace edict::engine {

struct FinishedDecision {
  // The row was not evaluated (it failed to decode, or the windows refused
  // it): `row_error` says why (null only for a row of unknown failure).
  bool skipped = false;
  const abi::RowError* row_error = nullptr;
  // An engine fault or a fired rule's message fault: the decision is `error`.
  bool faulted = false;
  uint32_t fault_rule = 0, fault_site = 0;
  ir::FaultReason fault_reason = ir::FaultReason::None;
  // Otherwise the outcome index.
  uint8_t outcome = 0;
  // The rules that fired, ascending, and each one's message ("" when the
  // rule has none); kept when the decision faulted.
  std::vector<uint32_t> fired;
  std::vector<std::string> messages;
};

// What one fired rule's message came to.
struct MessageOutcome {
  bool faulted = false;
  uint32_t fault_site = 0;
  ir::FaultReason reason = ir::FaultReason::None;
};

class DecisionFinisher {
 public:
  explicit DecisionFinisher(const Policy& policy);

  // Finishes row `row` of an evaluated batch into `out` (its vectors are
  // reused). `columns` is the batch's column view (Policy::columns_of).
  void finish(const abi::Batch& batch, const EdictColumns& columns, const Results& results, uint32_t row,
              FinishedDecision& out) const;
  // The same from the column view alone, which leaves `row_error` null.
  void finish(const EdictColumns& columns, const Results& results, uint32_t row, FinishedDecision& out) const;
  // The same, writing the i-th fired rule's message into the string
  // `text_for(i, rule)` returns instead of out.messages (which stays as it
  // is): the API keeps its own buffers and copies nothing.
  template <class TextFor>
  void finish_into(const EdictColumns& columns, const Results& results, uint32_t row, FinishedDecision& out,
                   TextFor&& text_for) const {
    if (!begin(results, row, out)) return;
    const uint8_t kind = columns.kind[row];
    for (size_t i = 0; i < out.fired.size(); ++i)
      note(out, out.fired[i], message(out.fired[i], kind, columns, row, text_for(i, out.fired[i])));
    if (out.faulted && out.fault_reason == ir::FaultReason::None)
      out.fault_reason = engine_fault_reason(columns, results, row);
  }
  // The same for a caller that keeps its own buffers (the API): the message
  // of fired rule `rule` on `row`, of event kind `kind`, into `text`
  // (replacing it).
  // Inline: the API's typed events pay for this per fired rule.
  MessageOutcome message(size_t rule, uint8_t kind, const EdictColumns& columns, uint32_t row,
                         std::string& text) const {
    text.clear();
    const int32_t slot = templates_.slot(rule, kind);
    if (slot == MessageTemplates::kNoMessage) return {};
    if (slot >= 0) {
      const MessageTemplate& t = templates_.at(slot);
      if (!t.faults(columns, row)) [[likely]] {
        t.append_text(text, columns, row);
        return {};
      }
    }
    return interpreted_message(rule, columns, row, text);
  }

  const MessageTemplates& templates() const { return templates_; }
  const Policy& policy() const { return *policy_; }
  // Interpreter runs (messages without a usable template, fault reasons the
  // results lack) since construction, over all threads.
  uint64_t interpreter_runs() const { return interpreter_runs_.load(std::memory_order_relaxed); }

 private:
  // The reason of the engine fault the results report for `row`.
  ir::FaultReason engine_fault_reason(const EdictColumns& columns, const Results& results,
                                      uint32_t row) const;
  // No template for this message's shape, or one that faults on the row.
  MessageOutcome interpreted_message(size_t rule, const EdictColumns& columns, uint32_t row,
                                     std::string& text) const;
  // finish's steps: the decision and the fired rules (false: the row was
  // skipped, nothing more to do); a fired rule's message outcome.
  bool begin(const Results& results, uint32_t row, FinishedDecision& out) const;
  static void note(FinishedDecision& out, uint32_t rule, const MessageOutcome& m) {
    if (m.faulted && !out.faulted) {
      out.faulted = true;
      out.fault_rule = rule;
      out.fault_site = m.fault_site;
      out.fault_reason = m.reason;
    }
  }
  const Policy* policy_;
  MessageTemplates templates_;  // per (rule, kind)
  mutable std::atomic<uint64_t> interpreter_runs_{0};
};

// "integer overflow in rule `r` (policies/x.edict:12:5)": a fault of rule
// `rule` at fault site `site` of `module` (the policy's, or a traced copy's).
std::string fault_message(const ir::Module& module, uint32_t rule, uint32_t site, ir::FaultReason reason);

}  // namespace edict::engine
