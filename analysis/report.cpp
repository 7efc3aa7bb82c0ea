// Reports of `edict verify` and `edict diff --symbolic`, for people and as
// JSON, and `--allow` files.
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "analysis/analysis.h"
#include "analysis/encode.h"

namespace edict::analysis {
namespace {

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t\r");
  return s.substr(b, e - b + 1);
}

std::string decision_text(const EngineDecision& d) {
  if (!d.valid) return "refused: " + d.error;
  std::string s = d.outcome;
  if (d.outcome == "error") s += fmt::format(" ({} in {})", d.fault_reason, d.fault_rule);
  if (!d.fired.empty()) s += fmt::format(", fired: {}", fmt::join(d.fired, ", "));
  return s;
}

std::string decision_json(const EngineDecision& d) {
  std::string s = fmt::format("{{\"valid\":{}", d.valid ? "true" : "false");
  if (!d.valid) return s + ",\"error\":" + json_string(d.error) + "}";
  s += ",\"decision\":" + json_string(d.outcome) + ",\"fired\":[";
  for (size_t i = 0; i < d.fired.size(); ++i) s += (i ? "," : "") + json_string(d.fired[i]);
  s += "]";
  if (d.outcome == "error")
    s += ",\"fault_rule\":" + json_string(d.fault_rule) + ",\"fault_reason\":" + json_string(d.fault_reason);
  return s + "}";
}

// Earlier events of a witness, one a line, numbered, before the witness.
std::string history_text(const std::vector<std::string>& history, const std::string& indent) {
  if (history.empty()) return "";
  std::string out = fmt::format("{}after {} earlier event{} (they fill the windows):\n", indent,
                                history.size(), history.size() == 1 ? "" : "s");
  for (size_t i = 0; i < history.size(); ++i) out += fmt::format("{}  {}. {}\n", indent, i + 1, history[i]);
  return out;
}

std::string history_json(const std::vector<std::string>& history) {
  std::string s = "[";
  for (size_t i = 0; i < history.size(); ++i) s += (i ? "," : "") + history[i];
  return s + "]";
}

std::string witness_text(const Witness& w, const std::string& indent) {
  return history_text(w.history, indent) +
         fmt::format("{}witness: {}\n{}  interpreter: {}\n{}  JIT:         {}\n", indent, w.event, indent,
                     decision_text(w.interp), indent, decision_text(w.jit));
}

std::string witness_json_text(const Witness& w) {
  return fmt::format("{{\"history\":{},\"event\":{},\"confirmed\":{},\"interpreter\":{},\"jit\":{}}}",
                     history_json(w.history), w.event, w.confirmed ? "true" : "false",
                     decision_json(w.interp), decision_json(w.jit));
}

std::string solver_text(const SolverInfo& s, const QueryStats& q) {
  return fmt::format(
      "solver: Z3 {}, seed {}, rlimit {} per query; {} queries in {:.0f} ms (longest {:.1f} ms, {} "
      "unknown)\n",
      s.version, s.seed, s.rlimit, q.queries, q.total_ms, q.max_ms, q.unknown);
}

std::string solver_json(const SolverInfo& s, const QueryStats& q) {
  return fmt::format(
      "\"solver\":{{\"name\":\"z3\",\"version\":{},\"seed\":{},\"rlimit\":{}}},\"queries\":{{\"count\":{},"
      "\"unknown\":{},\"total_ms\":{:.3f},\"max_ms\":{:.3f}}}",
      json_string(s.version), s.seed, s.rlimit, q.queries, q.unknown, q.total_ms, q.max_ms);
}

std::string finding_json(const Finding& f) {
  std::string s = fmt::format("{{\"check\":{},\"rule\":{},\"detail\":{}", json_string(f.check),
                              json_string(f.rule), json_string(f.detail));
  if (!f.other_rule.empty()) s += ",\"other_rule\":" + json_string(f.other_rule);
  if (!f.covered_by.empty()) {
    s += ",\"covered_by\":[";
    for (size_t i = 0; i < f.covered_by.size(); ++i) s += (i ? "," : "") + json_string(f.covered_by[i]);
    s += "]";
  }
  if (f.witness) s += ",\"witness\":" + witness_json_text(*f.witness);
  if (f.allowed) s += ",\"allowed\":" + json_string(f.allow_reason);
  return s + "}";
}

}  // namespace

bool read_allow_file(const std::string& path, std::vector<Allowance>& out, std::string* error) {
  std::ifstream in(path);
  if (!in) {
    *error = fmt::format("{}: cannot read the allow file", path);
    return false;
  }
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    std::string text = trim(line.substr(0, line.find('#')));
    if (text.empty()) continue;
    size_t colon = text.find(':');
    std::string reason = colon == std::string::npos ? "" : trim(text.substr(colon + 1));
    if (reason.empty()) {
      *error = fmt::format("{}:{}:1: expected `RULE: reason` or `RULE/CHECK: reason` (a reason is required)",
                           path, n);
      return false;
    }
    std::string name = trim(text.substr(0, colon));
    Allowance a;
    size_t slash = name.find('/');
    a.rule = trim(name.substr(0, slash));
    if (slash != std::string::npos) a.check = trim(name.substr(slash + 1));
    a.reason = reason;
    out.push_back(std::move(a));
  }
  return true;
}

void apply_allowances(VerifyReport& report, std::vector<Allowance>& allow) {
  for (Finding& f : report.findings)
    for (Allowance& a : allow)
      if (a.rule == f.rule && (a.check.empty() || a.check == f.check)) {
        f.allowed = true;
        f.allow_reason = a.reason;
        a.used = true;
        break;
      }
}

std::string render_verify(const VerifyReport& report) {
  std::string out;
  size_t open = 0;
  for (const Finding& f : report.findings) {
    open += f.allowed ? 0 : 1;
    out += fmt::format("{}: rule {}: {}{}\n", f.check, f.rule, f.detail,
                       f.allowed ? fmt::format(" [allowed: {}]", f.allow_reason) : "");
    if (f.witness) out += witness_text(*f.witness, "  ");
  }
  for (const Finding& f : report.unconfirmed) {
    out += fmt::format(
        "unconfirmed {}: rule {}: the solver's witness did not replay as claimed ({}); not a finding\n",
        f.check, f.rule, f.detail);
    if (f.witness) out += witness_text(*f.witness, "  ");
  }
  out += fmt::format(
      "{} rules verified: {} finding{}{}\n", report.rules, open, open == 1 ? "" : "s",
      report.findings.size() > open ? fmt::format(", {} allowed", report.findings.size() - open) : "");
  return out + solver_text(report.solver, report.stats);
}

std::string verify_json(const VerifyReport& report) {
  std::string s = fmt::format("{{\"rules\":{},\"findings\":[", report.rules);
  for (size_t i = 0; i < report.findings.size(); ++i) s += (i ? "," : "") + finding_json(report.findings[i]);
  s += "],\"unconfirmed\":[";
  for (size_t i = 0; i < report.unconfirmed.size(); ++i)
    s += (i ? "," : "") + finding_json(report.unconfirmed[i]);
  return s + "]," + solver_json(report.solver, report.stats) + "}\n";
}

std::string render_symbolic_diff(const SymDiffReport& report) {
  std::string out;
  for (const std::string& n : report.notes) out += "note: " + n + "\n";
  for (const SymTransition& t : report.transitions) {
    out += fmt::format("{} -> {} on {}:\n  where {}\n", t.from, t.to, t.kind, t.region);
    out += history_text(t.old_side.history, "  ");
    out += fmt::format("  witness: {}\n    old: {}\n    new: {}\n", t.old_side.event,
                       decision_text(t.old_side.jit), decision_text(t.new_side.jit));
  }
  for (const SymTransition& t : report.unconfirmed)
    out += fmt::format("unconfirmed {} -> {} on {}: the witness did not replay (old: {}; new: {}): {}\n",
                       t.from, t.to, t.kind, decision_text(t.old_side.jit), decision_text(t.new_side.jit),
                       t.old_side.event);
  for (const std::string& u : report.unknown) out += "unknown: " + u + "\n";
  if (report.equivalent)
    out += "proved: the two versions decide every event alike\n";
  else
    out += fmt::format("{} transition{}{}\n", report.transitions.size(),
                       report.transitions.size() == 1 ? "" : "s",
                       report.unknown.empty() ? "" : fmt::format(", {} undecided", report.unknown.size()));
  return out + solver_text(report.solver, report.stats);
}

std::string symbolic_diff_json(const SymDiffReport& report) {
  auto transition = [](const SymTransition& t) {
    return fmt::format(
        "{{\"kind\":{},\"from\":{},\"to\":{},\"region\":{},\"history\":{},\"event\":{},\"confirmed\":{},"
        "\"old\":{{\"interpreter\":{},\"jit\":{}}},\"new\":{{\"interpreter\":{},\"jit\":{}}}}}",
        json_string(t.kind), json_string(t.from), json_string(t.to), json_string(t.region),
        history_json(t.old_side.history), t.old_side.event, t.confirmed ? "true" : "false",
        decision_json(t.old_side.interp), decision_json(t.old_side.jit), decision_json(t.new_side.interp),
        decision_json(t.new_side.jit));
  };
  std::string s = fmt::format("{{\"equivalent\":{},\"transitions\":[", report.equivalent ? "true" : "false");
  for (size_t i = 0; i < report.transitions.size(); ++i)
    s += (i ? "," : "") + transition(report.transitions[i]);
  s += "],\"unconfirmed\":[";
  for (size_t i = 0; i < report.unconfirmed.size(); ++i)
    s += (i ? "," : "") + transition(report.unconfirmed[i]);
  s += "],\"unknown\":[";
  for (size_t i = 0; i < report.unknown.size(); ++i) s += (i ? "," : "") + json_string(report.unknown[i]);
  s += "],\"notes\":[";
  for (size_t i = 0; i < report.notes.size(); ++i) s += (i ? "," : "") + json_string(report.notes[i]);
  return s + "]," + solver_json(report.solver, report.stats) + "}\n";
}

}  // namespace edict::analysis
