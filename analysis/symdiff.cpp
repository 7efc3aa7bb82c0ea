// `edict diff --symbolic OLD NEW`: every outcome transition (old -> new) some
// event can take, each with a witness event replayed on both versions and
// both engines, or a proof that none exists. The transitions are enumerated
// by asking for an event the versions decide differently, then blocking the
// transition found, until the solver says there is none (a proof) or cannot
// decide (unknown, reported as such).
#include <algorithm>
#include <memory>
#include <set>

#include <fmt/format.h>

#include "analysis/analysis.h"
#include "analysis/encode.h"
#include "support/time_util.h"

namespace edict::analysis {
namespace {

std::string source_text(const ir::Module& m, const Span& span) {
  if (!m.sources || span.file == kNoFile) return "?";
  std::string text(m.sources->text(span));
  std::string out;
  bool space = false;
  for (char c : text) {  // one line: collapse layout
    if (c == '\n' || c == '\t' || c == ' ' || c == '\r') {
      space = !out.empty();
      continue;
    }
    if (space && out.back() != '(' && c != ')') out += ' ';
    space = false;
    out += c;
  }
  return out;
}

// `text` without parentheses around all of it.
std::string strip_parens(std::string text) {
  while (text.size() >= 2 && text.front() == '(' && text.back() == ')') {
    int depth = 0;
    bool quoted = false, whole = true;
    for (size_t i = 0; i + 1 < text.size() && whole; ++i) {
      char c = text[i];
      if (c == '"' && (i == 0 || text[i - 1] != '\\')) quoted = !quoted;
      if (quoted) continue;
      depth += c == '(' ? 1 : c == ')' ? -1 : 0;
      if (depth == 0) whole = false;  // the first `(` closes before the end
    }
    if (!whole) break;
    text = text.substr(1, text.size() - 2);
  }
  return text;
}

// The conjuncts of one line of Edict: split at `and` outside brackets and
// strings, each without its outer parentheses, nested `and`s flattened.
void add_conjuncts(const std::string& condition, std::vector<std::string>& out) {
  const std::string text = strip_parens(condition);
  std::vector<std::string> parts;
  int depth = 0;
  bool quoted = false;
  size_t start = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '"' && (i == 0 || text[i - 1] != '\\')) quoted = !quoted;
    if (quoted) continue;
    if (c == '(' || c == '[' || c == '{') ++depth;
    if (c == ')' || c == ']' || c == '}') --depth;
    if (depth == 0 && text.compare(i, 5, " and ") == 0) {
      parts.push_back(text.substr(start, i - start));
      start = i + 5;
      i += 4;
    }
  }
  parts.push_back(text.substr(start));
  if (parts.size() == 1) {
    out.push_back(text);
    return;
  }
  for (const std::string& p : parts) add_conjuncts(p, out);
}

// `not (X)` in the simplest words: `A is absent` for `A is present`.
std::string negation(const std::string& condition) {
  std::string text = strip_parens(condition);
  const std::string present = " is present";
  if (text.size() > present.size() &&
      text.compare(text.size() - present.size(), present.size(), present) == 0 &&
      text.find(' ') == text.size() - present.size())
    return text.substr(0, text.size() - present.size()) + " is absent";
  return "not (" + text + ")";
}

// A rule's conditions in Edict syntax, as conjuncts: its dates, the
// conjuncts of its `when`, and `not (unless)`.
std::vector<std::string> rule_conjuncts(const engine::Policy& policy, size_t r, int kind) {
  const ir::Module& m = policy.module();
  const ir::Rule& rule = m.rules[r];
  std::vector<std::string> parts;
  const ir::EventSchema& schema = m.events[static_cast<size_t>(kind)];
  std::string time = schema.time_field >= 0
                         ? "event." + schema.fields[static_cast<size_t>(schema.time_field)].name
                         : "event.time";
  if (rule.effective_from) parts.push_back(fmt::format("{} >= {}", time, format_date(*rule.effective_from)));
  if (rule.effective_until) parts.push_back(fmt::format("{} < {}", time, format_date(*rule.effective_until)));
  const auto& rules = policy.checked().rules;
  if (r < rules.size() && rules[r].decl && rules[r].decl->name == rule.name) {
    const ast::RuleDecl& d = *rules[r].decl;
    if (d.when) add_conjuncts(source_text(m, d.when->span), parts);
    if (d.unless) parts.push_back(negation(source_text(m, d.unless->span)));
  }
  return parts;
}

// Does `known` (a conjunct of --assume) imply `part`? The same text, or the
// same bound on a date that `known` makes at least as tight.
bool implied_by(const std::string& part, const std::string& known) {
  if (part == known) return true;
  for (const char* op : {" >= ", " < "}) {
    size_t a = part.find(op), b = known.find(op);
    if (a == std::string::npos || b == std::string::npos) continue;
    if (part.substr(0, a) != known.substr(0, b)) continue;
    auto d_part = parse_date(part.substr(a + std::string(op).size()));
    auto d_known = parse_date(known.substr(b + std::string(op).size()));
    if (!d_part || !d_known) continue;
    if (std::string(op) == " >= " ? *d_known >= *d_part : *d_known <= *d_part) return true;
  }
  return false;
}

// The rule's conjuncts that the assumptions do not already imply.
std::string rule_condition(const engine::Policy& policy, size_t r, int kind,
                           const std::vector<std::string>& assumed) {
  std::vector<std::string> kept;
  for (const std::string& part : rule_conjuncts(policy, r, kind)) {
    bool known = std::any_of(assumed.begin(), assumed.end(),
                             [&](const std::string& a) { return implied_by(part, a); });
    if (!known && std::find(kept.begin(), kept.end(), part) == kept.end()) kept.push_back(part);
  }
  if (kept.empty()) return "true";
  std::string s;
  for (size_t i = 0; i < kept.size(); ++i) s += (i ? " and " : "") + kept[i];
  return s;
}

struct Side {
  const EnginePair* policy;
  std::unique_ptr<ModuleEncoder> enc;
  std::map<std::string, z3::expr> decision;  // outcome name -> formula
};

class SymbolicDiff {
 public:
  SymbolicDiff(const EnginePair& old_policy, const EnginePair& new_policy, const engine::Policy* assume,
               const Options& options)
      : old_(old_policy), new_(new_policy), assume_(assume), solver_(ctx_, options, report_.stats) {
    report_.solver = solver_info(options);
  }

  SymDiffReport run() {
    std::vector<std::string> kinds;
    for (const ir::EventSchema& e : old_.jit->module().events) kinds.push_back(e.name);
    for (const ir::EventSchema& e : new_.jit->module().events)
      if (std::find(kinds.begin(), kinds.end(), e.name) == kinds.end()) kinds.push_back(e.name);
    bool complete = true;
    for (const std::string& kind : kinds) complete = diff_kind(kind) && complete;
    report_.equivalent = complete && report_.transitions.empty() && report_.unconfirmed.empty();
    return std::move(report_);
  }

 private:
  void encode_side(Side& side, SymEvent& event) {
    side.enc = std::make_unique<ModuleEncoder>(ctx_, side.policy->jit->module(), strings_, event, &solver_);
    if (!side.enc->ok()) return;
    const ir::Module& m = side.policy->jit->module();
    for (size_t o = 0; o < m.outcomes.size(); ++o)
      side.decision.emplace(m.outcomes[o], side.enc->decision_is(static_cast<int>(o)));
    side.decision.emplace("error", side.enc->decision_is_error());
  }

  // The region of one transition, from the rules that decided the witness.
  std::string region(const Side& side, const EngineDecision& d, const std::string& outcome) {
    const engine::Policy& policy = *side.policy->jit;
    const ir::Module& m = policy.module();
    std::vector<std::string> parts;
    for (const std::string& name : d.fired)
      for (size_t r = 0; r < m.rules.size(); ++r)
        if (m.rules[r].name == name && m.outcomes[static_cast<size_t>(m.rules[r].effect)] == outcome)
          parts.push_back(
              fmt::format("{} [{}]", rule_condition(policy, r, side.enc->event_index(), assumed_), name));
    if (outcome == "error") return fmt::format("{} faults ({})", d.fault_rule, d.fault_reason);
    if (parts.empty()) return fmt::format("no rule with an outcome above {} applies", outcome);
    std::string s;
    for (size_t i = 0; i < parts.size(); ++i) s += (i ? " or " : "") + parts[i];
    return s + fmt::format(", and no rule with an outcome above {} applies", outcome);
  }

  // False when the kind could not be compared completely.
  bool diff_kind(const std::string& kind) {
    assumed_.clear();
    const bool in_old = old_.jit->module().event_index(kind) >= 0;
    const bool in_new = new_.jit->module().event_index(kind) >= 0;
    if (!in_old || !in_new) {
      report_.notes.push_back(fmt::format("event kind `{}` is only in the {} version: not compared", kind,
                                          in_old ? "old" : "new"));
      return false;
    }
    auto event = std::make_unique<SymEvent>(ctx_, kind);
    Side o{&old_, nullptr, {}}, n{&new_, nullptr, {}};
    encode_side(o, *event);
    encode_side(n, *event);
    for (Side* s : {&o, &n})
      if (!s->enc->ok()) {
        report_.notes.push_back(fmt::format("event kind `{}`: {}: not compared", kind, s->enc->problem()));
        return false;
      }
    solver_.assume(event->domain());
    History history(ctx_, strings_, *event);
    history.add_module(old_.jit->module());
    history.add_module(new_.jit->module());
    z3::expr base = ctx_.bool_val(true);
    if (assume_) {
      ModuleEncoder a(ctx_, assume_->module(), strings_, *event);
      if (!a.ok())
        return report_.notes.push_back(fmt::format("--assume on `{}`: {}", kind, a.problem())), false;
      for (size_t r = 0; r < assume_->module().rules.size(); ++r) {
        if (assume_->module().rules[r].name.rfind("assume_", 0) != 0) continue;
        const RuleFormula& f = a.rule(r);
        if (!f.applies) {
          report_.notes.push_back(fmt::format("event kind `{}` is excluded by --assume", kind));
          return true;
        }
        base = base && f.body;
        const auto conjuncts = rule_conjuncts(*assume_, r, a.event_index());
        assumed_.insert(assumed_.end(), conjuncts.begin(), conjuncts.end());
      }
    }
    std::set<std::string> names;
    for (auto& [name, _] : o.decision) names.insert(name);
    for (auto& [name, _] : n.decision) names.insert(name);
    auto decided = [&](Side& s, const std::string& name) {
      auto it = s.decision.find(name);
      return it == s.decision.end() ? ctx_.bool_val(false) : it->second;
    };
    z3::expr differ = ctx_.bool_val(false);
    for (const std::string& name : names) differ = differ || (decided(o, name) && !decided(n, name));
    z3::expr blocked = ctx_.bool_val(true);
    for (;;) {
      QueryResult q = solver_.check(base && differ && blocked, "differ on " + kind);
      if (q.unsat()) return true;
      if (!q.sat()) {
        report_.unknown.push_back(fmt::format("{}: further transitions undecided ({})", kind,
                                              q.reason.empty() ? "unknown" : q.reason));
        return false;
      }
      std::string from, to;
      for (const std::string& name : names) {
        if (q.model->eval(decided(o, name), true).is_true()) from = name;
        if (q.model->eval(decided(n, name), true).is_true()) to = name;
      }
      const z3::expr this_transition = decided(o, from) && decided(n, to);
      blocked = blocked && !this_transition;
      SymTransition t = replay(kind, from, to, *q.model, *event, nullptr, 0);
      // A witness that needs a data file to hold its key cannot replay on the
      // real file: ask again for one where no lookup finds a row.
      const z3::expr no_data = o.enc->no_data_found() && n.enc->no_data_found();
      if (!t.confirmed) {
        QueryResult again =
            solver_.check(base && this_transition && no_data, "differ on " + kind + " without data");
        if (again.sat()) {
          SymTransition without_data = replay(kind, from, to, *again.model, *event, nullptr, 0);
          if (without_data.confirmed) t = std::move(without_data);
        }
      }
      // Windowed aggregates are free inputs of the query: a history of
      // earlier events gives them the values the transition needs.
      if (!t.confirmed) with_history(t, base && this_transition, no_data, history, *event);
      if (t.confirmed) {
        t.region =
            fmt::format("new: {}; old: {}", region(n, t.new_side.jit, to), region(o, t.old_side.jit, from));
        report_.transitions.push_back(std::move(t));
      } else {
        report_.unconfirmed.push_back(std::move(t));
      }
    }
  }

  // The shortest history (up to History::kMaxEarlier earlier events) with
  // which the transition's witness replays; `t` stays as it is when none does.
  void with_history(SymTransition& t, const z3::expr& transition, const z3::expr& no_data, History& history,
                    const SymEvent& event) {
    if (!history.active()) return;
    for (size_t n = 0; n <= History::kMaxEarlier; ++n) {
      const z3::expr h = transition && history.formula(n);
      // Small whole numbers and no data row found first (see verify.cpp's witness()).
      const z3::expr tame = history.small_numbers(n) && no_data && history.no_data_found(n);
      for (const z3::expr& query : {h && tame, h}) {
        QueryResult q =
            solver_.check(query, fmt::format("{} -> {} on {} after {} earlier", t.from, t.to, t.kind, n),
                          solver_.history_rlimit());
        if (!q.sat()) continue;
        SymTransition found = replay(t.kind, t.from, t.to, *q.model, event, &history, n);
        if (found.confirmed) {
          t = std::move(found);
          return;
        }
      }
    }
  }

  // The transition `from` -> `to` with the model's event (after `earlier`
  // events of `history`) replayed on both versions and both engines.
  SymTransition replay(const std::string& kind, const std::string& from, const std::string& to,
                       const z3::model& model, const SymEvent& event, const History* history,
                       size_t earlier) {
    SymTransition t;
    t.kind = kind;
    t.from = from;
    t.to = to;
    std::string json = witness_json(model, event, strings_);
    std::vector<std::string> before = history ? history->events(model, earlier) : std::vector<std::string>{};
    for (auto [side, w] : {std::pair{&old_, &t.old_side}, std::pair{&new_, &t.new_side}}) {
      w->history = before;
      w->event = json;
      w->interp = decide(*side->interp, before, json);
      w->jit = decide(*side->jit, before, json);
    }
    auto shows = [](const EngineDecision& d, const std::string& outcome) {
      return d.valid && d.outcome == outcome;
    };
    t.old_side.confirmed = shows(t.old_side.interp, from) && shows(t.old_side.jit, from);
    t.new_side.confirmed = shows(t.new_side.interp, to) && shows(t.new_side.jit, to);
    t.confirmed = t.old_side.confirmed && t.new_side.confirmed;
    return t;
  }

  const EnginePair& old_;
  const EnginePair& new_;
  const engine::Policy* assume_;
  std::vector<std::string> assumed_;  // the --assume conditions' conjuncts, of the kind being compared
  z3::context ctx_;
  SymDiffReport report_;
  Solver solver_;
  StringUniverse strings_;
};

}  // namespace

SymDiffReport symbolic_diff(const EnginePair& old_policy, const EnginePair& new_policy,
                            const engine::Policy* assume, const Options& options) {
  return SymbolicDiff(old_policy, new_policy, assume, options).run();
}

}  // namespace edict::analysis
