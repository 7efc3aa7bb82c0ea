#include "engine/decision.h"

#include <fmt/format.h>

#include <bit>

namespace edict::engine {

std::string fault_message(const ir::Module& m, uint32_t rule, uint32_t site, ir::FaultReason reason) {
  std::string where;
  if (site < m.fault_sites.size() && m.fault_sites[site].span.valid() && m.sources) {
    Span sp = m.fault_sites[site].span;
    LineCol lc = m.sources->line_col(sp.file, sp.begin);
    where = fmt::format(" ({}:{}:{})", m.sources->file(sp.file).path, lc.line, lc.column);
  }
  return fmt::format("{} in rule `{}`{}", ir::fault_reason_text(reason), m.rules[rule].name, where);
}

DecisionFinisher::DecisionFinisher(const Policy& policy)
    : policy_(&policy), templates_(policy.module(), policy.schema()) {}

MessageOutcome DecisionFinisher::interpreted_message(size_t rule, const EdictColumns& columns, uint32_t row,
                                                     std::string& text) const {
  // The interpreter gives the text up to a fault and the fault itself.
  interpreter_runs_.fetch_add(1, std::memory_order_relaxed);
  interp::MessageResult msg = policy_->interpreter().message(static_cast<int>(rule), columns, row);
  text = std::move(msg.text);
  if (msg.ok()) return {};
  return {true, msg.fault_site, msg.reason};
}

ir::FaultReason DecisionFinisher::engine_fault_reason(const EdictColumns& columns, const Results& results,
                                                      uint32_t row) const {
  // Every engine writes the reason beside the site (EdictResults::fault_reason).
  const auto reason = static_cast<ir::FaultReason>(results.fault_reason[row]);
  if (reason != ir::FaultReason::None) [[likely]]
    return reason;
  // None only from a batch the engine refused as a whole (abi.h): say what
  // the rule does on the row, from the reference interpreter.
  interpreter_runs_.fetch_add(1, std::memory_order_relaxed);
  return policy_->interpreter().eval_rule(static_cast<int>(results.fault_rule[row]), columns, row).reason;
}

void DecisionFinisher::finish(const abi::Batch& batch, const EdictColumns& columns, const Results& results,
                              uint32_t row, FinishedDecision& out) const {
  finish(columns, results, row, out);
  if (out.skipped) out.row_error = batch.error_of(row);
}

bool DecisionFinisher::begin(const Results& results, uint32_t row, FinishedDecision& out) const {
  out.fired.clear();
  const uint8_t decision = results.decision[row];
  out.skipped = decision == EDICT_DECISION_SKIPPED;
  out.row_error = nullptr;
  out.faulted = decision == EDICT_DECISION_ERROR;
  out.fault_reason = ir::FaultReason::None;
  out.outcome = out.skipped || out.faulted ? 0 : decision;
  if (out.skipped) return false;
  if (out.faulted) {
    out.fault_rule = results.fault_rule[row];
    out.fault_site = results.fault_site[row];
  }
  const uint64_t* words = &results.fired[size_t{row} * results.fired_words];
  const size_t rules = policy_->module().rules.size();
  for (uint32_t w = 0; w < results.fired_words; ++w)
    for (uint64_t bits = words[w]; bits != 0; bits &= bits - 1) {
      const size_t r = size_t{w} * 64 + static_cast<size_t>(std::countr_zero(bits));
      if (r < rules) out.fired.push_back(static_cast<uint32_t>(r));
    }
  return true;
}

void DecisionFinisher::finish(const EdictColumns& columns, const Results& results, uint32_t row,
                              FinishedDecision& out) const {
  finish_into(columns, results, row, out, [&](size_t i, uint32_t) -> std::string& {
    if (out.messages.size() <= i) out.messages.resize(i + 1);  // strings kept from earlier rows
    return out.messages[i];
  });
  out.messages.resize(out.fired.size());
}

}  // namespace edict::engine
