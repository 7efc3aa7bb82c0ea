// Solver queries, witness events from models, and their replay through the
// engines' normal event path.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include <fmt/format.h>

#include "analysis/analysis.h"
#include "analysis/encode.h"
#include "engine/decision.h"
#include "engine/stream.h"
#include "support/countries.h"
#include "support/text.h"
#include "support/time_util.h"

namespace edict::analysis {
std::string json_string(const std::string& s) {
  std::string out;
  append_json_string(out, s);
  return out;
}

namespace {

int64_t int_of(const z3::expr& e) {
  int64_t v = 0;
  uint64_t u = 0;
  if (e.is_bv() && e.is_numeral_u64(u)) return static_cast<int64_t>(u);
  if (!e.is_numeral_i64(v)) throw std::runtime_error("solver model value out of range: " + e.to_string());
  return v;
}

}  // namespace

void QueryStats::add(double ms, bool was_unknown) {
  ++queries;
  unknown += was_unknown ? 1 : 0;
  total_ms += ms;
  max_ms = std::max(max_ms, ms);
}

SolverInfo solver_info(const Options& options) {
  unsigned major = 0, minor = 0, build = 0, revision = 0;
  Z3_get_version(&major, &minor, &build, &revision);
  return SolverInfo{fmt::format("{}.{}.{}", major, minor, build), options.seed, options.rlimit};
}

Solver::Solver(z3::context& ctx, const Options& options, QueryStats& stats)
    : ctx_(&ctx), options_(options), stats_(&stats), solver_(ctx) {
  z3::params p(ctx);
  p.set("random_seed", options.seed);
  solver_.set(p);
}

z3::expr Solver::define(const z3::expr& formula) {
  if (formula.is_true() || formula.is_false()) return formula;
  z3::expr name = ctx_->bool_const(fmt::format("def#{}", definitions_++).c_str());
  solver_.add(name == formula);
  return name;
}

QueryResult Solver::check(const z3::expr& formula, const std::string& label, uint64_t rlimit) {
  auto start = std::chrono::steady_clock::now();
  z3::params p(*ctx_);
  // Z3 counts the limit from the start of each check.
  p.set("rlimit", static_cast<unsigned>(std::min<uint64_t>(rlimit ? rlimit : options_.rlimit, UINT32_MAX)));
  solver_.set(p);
  solver_.push();
  solver_.add(formula);
  QueryResult out;
  out.result = solver_.check();
  if (out.result == z3::sat) out.model = solver_.get_model();
  if (out.result == z3::unknown) out.reason = solver_.reason_unknown();
  solver_.pop();
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  stats_->add(ms, out.result == z3::unknown);
  static const bool trace = std::getenv("EDICT_ANALYSIS_TRACE") != nullptr;
  if (trace)
    std::fprintf(stderr, "query %llu: %s: %s in %.1f ms\n", static_cast<unsigned long long>(stats_->queries),
                 label.c_str(),
                 out.result == z3::sat     ? "sat"
                 : out.result == z3::unsat ? "unsat"
                                           : "unknown",
                 ms);
  return out;
}

std::string witness_json(const z3::model& model, const SymEvent& event, const StringUniverse& strings) {
  std::string out = "{\"kind\":" + json_string(event.kind());
  for (const SymField& f : event.fields()) {
    if (f.name.empty() || f.name[0] == '$') continue;  // a windowed aggregate, not an input
    if (f.optional && !model.eval(f.present, true).is_true()) continue;
    z3::expr v = model.eval(f.value, true);
    std::string text;
    switch (f.type) {
      case ir::Ty::Bool: text = v.is_true() ? "true" : "false"; break;
      case ir::Ty::Int: text = std::to_string(int_of(v)); break;
      case ir::Ty::Number: {
        double d = double_of(v);
        text = fmt::format("{}", d);
        if (text.find_first_of(".eE") == std::string::npos && std::isfinite(d)) text += ".0";
        break;
      }
      case ir::Ty::Str: {
        int64_t id = int_of(v);
        text = json_string(id < strings.size() ? strings.at(id) : strings.other(id));
        break;
      }
      case ir::Ty::Country: text = json_string(country_code(static_cast<uint16_t>(int_of(v)))); break;
      case ir::Ty::Time: text = json_string(format_time(int_of(v))); break;
      case ir::Ty::Duration: text = json_string(format_duration(int_of(v))); break;
      default: continue;
    }
    out += "," + json_string(f.name) + ":" + text;
  }
  return out + "}";
}

EngineDecision decide(const engine::Policy& policy, const std::vector<std::string>& history,
                      const std::string& json) {
  EngineDecision out;
  engine::StreamOptions options;
  options.batch_size = static_cast<uint32_t>(history.size() + 1);
  engine::Stream stream(policy, options);
  // One batch, in input order: the window stage folds the earlier events
  // into the last one's aggregates.
  abi::Batch& batch = stream.new_batch();
  for (size_t i = 0; i < history.size(); ++i) stream.append_text(history[i], i + 1, batch);
  stream.append_text(json, history.size() + 1, batch);
  const engine::EvaluatedBatch evaluated = stream.evaluate(batch);
  const engine::DecisionFinisher finisher(policy);
  engine::FinishedDecision d;
  finisher.finish(batch, evaluated.columns, evaluated.results, static_cast<uint32_t>(history.size()), d);
  const ir::Module& m = policy.module();
  if (d.skipped) {
    out.error = d.row_error ? d.row_error->message : "the event was refused";
    return out;
  }
  out.valid = true;
  for (uint32_t r : d.fired) out.fired.push_back(m.rules[r].name);
  if (d.faulted) {
    out.outcome = "error";
    out.fault_rule = m.rules.at(d.fault_rule).name;
    out.fault_reason = ir::fault_reason_name(d.fault_reason);
  } else {
    out.outcome = policy.outcome_name(d.outcome);
  }
  return out;
}

}  // namespace edict::analysis
