// Test-block evaluation: one single-row batch per step.
#include "tools/testing.h"

#include <fmt/format.h>

#include "compiler/check/check.h"
#include "engine/decision.h"
#include "engine/stream.h"

namespace edict::tools {
using namespace engine;  // the engine this tool drives
namespace {

// Message text (value_to_text), strings and countries in quotes.
std::string show_value(const Value& v) {
  switch (v.kind) {
    case TypeKind::String:
    case TypeKind::Country: return "\"" + value_to_text(v) + "\"";
    case TypeKind::Int:
    case TypeKind::Number:
    case TypeKind::Bool:
    case TypeKind::Time:
    case TypeKind::Date:
    case TypeKind::Duration: return value_to_text(v);
    default: return "absent";
  }
}

// Writes one event into row 0 of a fresh batch; returns false if the event's
// kind is unknown to the compiled module.
bool fill_row(const Policy& policy, const check::EventValue& ev, abi::Batch& batch) {
  const check::CheckedProgram& cp = policy.checked();
  const check::RecordSchema& rec = cp.records.at(static_cast<size_t>(ev.record));
  int kind = policy.schema().kind_index(rec.name);
  uint32_t row = batch.begin_row(0);
  if (kind < 0) return false;
  const abi::KindSpec& spec = policy.schema().kinds[static_cast<size_t>(kind)];
  for (size_t i = 0; i < rec.fields.size() && i < ev.fields.size(); ++i) {
    auto it = spec.field_index.find(rec.fields[i].name);
    if (it == spec.field_index.end()) continue;
    const abi::FieldSpec& f = spec.fields[static_cast<size_t>(it->second)];
    abi::Column& col = batch.column(static_cast<size_t>(f.column));
    const Value& v = ev.fields[i];
    if (v.kind == TypeKind::Error) continue;  // absent optional field
    switch (f.type) {
      case abi::ColumnType::Bool: col.data<uint8_t>()[row] = v.i ? 1 : 0; break;
      case abi::ColumnType::Number:
        col.data<double>()[row] = v.kind == TypeKind::Int ? static_cast<double>(v.i) : v.n;
        break;
      case abi::ColumnType::String: col.data<uint32_t>()[row] = batch.intern(v.s); break;
      case abi::ColumnType::Country:
        batch.set_country(row, static_cast<size_t>(f.column), static_cast<uint16_t>(v.i));
        break;
      default: col.data<int64_t>()[row] = v.i; break;
    }
    if (!col.present.empty()) col.present[row] = 1;
  }
  batch.set_kind(row, static_cast<uint8_t>(kind));
  return true;
}

}  // namespace

std::vector<StepOutcome> run_tests(const Policy& policy, const StepObserver& observer) {
  const check::CheckedProgram& cp = policy.checked();
  const ir::Module& m = policy.module();
  std::vector<StepOutcome> out;
  const DecisionFinisher finisher(policy);
  FinishedDecision d;
  StreamOptions options;
  options.batch_size = 1;
  for (const check::TestInfo& t : cp.tests) {
    // Each test is its own event stream: its steps fill fresh windows in order.
    Stream stream(policy, options);
    for (size_t s = 0; s < t.steps.size(); ++s) {
      const check::TestStepInfo& step = t.steps[s];
      StepOutcome o;
      o.test = t.decl->name;
      o.test_span = t.decl->span;
      o.span = step.step ? step.step->span : t.decl->span;
      o.step = s;
      const check::RecordSchema& rec = cp.records.at(static_cast<size_t>(step.event.record));
      o.event = rec.name + " {";
      for (size_t i = 0; i < rec.fields.size() && i < step.event.fields.size(); ++i) {
        if (step.event.fields[i].kind == TypeKind::Error) continue;
        o.event +=
            fmt::format("{}{}: {}", i ? ", " : " ", rec.fields[i].name, show_value(step.event.fields[i]));
      }
      o.event += " }";
      abi::Batch& batch = stream.new_batch();
      if (!fill_row(policy, step.event, batch)) {
        o.passed = false;
        o.actual = "the event kind is not in the compiled policy";
        out.push_back(std::move(o));
        continue;
      }
      const EvaluatedBatch evaluated = stream.evaluate(batch);
      finisher.finish(batch, evaluated.columns, evaluated.results, 0, d);
      if (d.skipped) {  // refused by the windows
        o.actual = "error";
        o.error = d.row_error ? d.row_error->message : "invalid input";
      }
      std::vector<bool> fired(m.rules.size(), false);
      for (uint32_t r : d.fired) {
        fired[r] = true;
        o.fired_rules.push_back(static_cast<int>(r));
        const ir::Rule& rule = m.rules[r];
        o.fired.push_back(
            fmt::format("{} ({}, {})", rule.name, m.outcomes[static_cast<size_t>(rule.effect)], rule.cite));
      }
      if (d.faulted) {
        o.actual = "error";
        o.error = fault_message(m, d.fault_rule, d.fault_site, d.fault_reason);
      } else if (!d.skipped) {
        o.actual = policy.outcome_name(d.outcome);
      }
      for (const check::ExpectInfo& e : step.expects) {
        std::string want = e.decision < 0 ? "error" : cp.outcomes[static_cast<size_t>(e.decision)];
        std::string text = want;
        bool ok = want == o.actual;
        if (!e.rules.empty()) {
          text += e.only ? " by only " : " by ";
          std::vector<bool> listed(m.rules.size(), false);
          for (size_t i = 0; i < e.rules.size(); ++i) {
            size_t r = static_cast<size_t>(e.rules[i]);
            text += (i ? ", " : "") + cp.rules[r].decl->name;
            listed[r] = true;
            ok = ok && fired[r];
          }
          if (e.only)
            for (size_t r = 0; r < fired.size(); ++r) ok = ok && (!fired[r] || listed[r]);
        }
        if (!o.expected.empty()) o.expected += "; ";
        o.expected += text;
        o.passed = o.passed && ok;
      }
      if (observer) observer(o, batch);
      out.push_back(std::move(o));
    }
  }
  return out;
}

}  // namespace edict::tools
