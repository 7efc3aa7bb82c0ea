// `edict verify`: per rule, can it fire (vacuous), does it ever decide
// (shadowed), can it fault, and do successive versions of a rule hand over
// without a gap or an overlap with another outcome. Every claim that an
// event exists is replayed on both engines before it is reported.
#include <algorithm>
#include <functional>
#include <memory>

#include <fmt/format.h>

#include "analysis/analysis.h"
#include "analysis/encode.h"
#include "engine/decision.h"
#include "support/time_util.h"

namespace edict::analysis {
namespace {

constexpr int64_t kHandOverWindow = 366 * kMicrosPerDay;

struct KindEncoding {
  std::unique_ptr<SymEvent> event;
  std::unique_ptr<ModuleEncoder> enc;
  std::unique_ptr<History> history;  // for findings that need windowed aggregates
};

// Does a replayed witness show the finding (given the model it came from)?
using Shows = std::function<bool(const z3::model&, const Witness&)>;

class Verifier {
 public:
  Verifier(const EnginePair& policy, const Options& options)
      : policy_(policy), m_(policy.jit->module()), solver_(ctx_, options, report_.stats) {
    report_.solver = solver_info(options);
    report_.rules = m_.rules.size();
    for (const ir::EventSchema& schema : m_.events) {
      KindEncoding k;
      k.event = std::make_unique<SymEvent>(ctx_, schema.name);
      k.enc = std::make_unique<ModuleEncoder>(ctx_, m_, strings_, *k.event, &solver_);
      // Every query is about one valid event of some kind.
      solver_.assume(k.event->domain());
      k.history = std::make_unique<History>(ctx_, strings_, *k.event);
      k.history->add_module(m_);
      kinds_.push_back(std::move(k));
    }
  }

  VerifyReport run() {
    for (size_t r = 0; r < m_.rules.size(); ++r) {
      bool can_fire = check_vacuous(r);
      check_faulting(r);
      if (can_fire) check_shadowed(r);
      check_hand_over(r);
    }
    return std::move(report_);
  }

 private:
  const ir::Rule& rule(size_t r) const { return m_.rules[r]; }
  const std::string& outcome(size_t r) const { return m_.outcomes[static_cast<size_t>(rule(r).effect)]; }

  Witness replay(std::vector<std::string> history, const std::string& json) {
    Witness w;
    w.history = std::move(history);
    w.event = json;
    w.interp = decide(*policy_.interp, w.history, json);
    w.jit = decide(*policy_.jit, w.history, json);
    return w;
  }
  Witness replay_model(KindEncoding& k, const z3::model& model, size_t earlier, const Shows& shows) {
    Witness w = replay(k.history->events(model, earlier), witness_json(model, *k.event, strings_));
    w.confirmed = shows(model, w);
    return w;
  }

  // The witness of a finding whose query `formula` the solver satisfied
  // with `model`: the model's event, when the engines show the finding on
  // it. Else, when the kind has windowed aggregates (which the query took
  // as free inputs), the shortest history of earlier events that gives them
  // values the formula holds with, and that the engines confirm.
  // `*model` becomes the model the witness came from.
  Witness witness(KindEncoding& k, z3::model* model, const z3::expr& formula, const std::string& label,
                  const Shows& shows) {
    Witness w = replay_model(k, *model, 0, shows);
    if (w.confirmed || !k.history->active()) return w;
    for (size_t n = 0; n <= History::kMaxEarlier; ++n) {
      const z3::expr history = formula && k.history->formula(n);
      // Small whole numbers and no data row found first: witnesses that
      // replay (see small_numbers, no_data_found); then any.
      const z3::expr tame =
          k.history->small_numbers(n) && k.enc->no_data_found() && k.history->no_data_found(n);
      for (const z3::expr& query : {history && tame, history}) {
        QueryResult q = check(query, fmt::format("{} after {} earlier", label, n), solver_.history_rlimit());
        if (!q.sat()) continue;
        Witness h = replay_model(k, *q.model, n, shows);
        if (h.confirmed) {
          *model = *q.model;
          return h;
        }
      }
    }
    return w;
  }
  static bool fired(const EngineDecision& d, const std::string& name) {
    return std::find(d.fired.begin(), d.fired.end(), name) != d.fired.end();
  }
  void report(Finding f) {
    if (f.witness && !f.witness->confirmed)
      report_.unconfirmed.push_back(std::move(f));
    else
      report_.findings.push_back(std::move(f));
  }
  // A solver query; its model, when sat, is kept for can_fire_on_a_model().
  QueryResult check(const z3::expr& formula, const std::string& label, uint64_t rlimit = 0) {
    QueryResult q = solver_.check(formula, label, rlimit);
    if (q.sat() && models_.size() < kModelsKept) models_.push_back(*q.model);
    return q;
  }
  // An event of an earlier query on which the rule fires: the vacuity check
  // needs no query of its own (the model, completed, is a valid event of the
  // kind on which the rule's formula holds).
  bool can_fire_on_a_model(KindEncoding& k, const RuleFormula& f) {
    if (!f.fires_formula) return false;
    const z3::expr holds = k.event->domain() && *f.fires_formula;
    for (const z3::model& m : models_)
      if (m.eval(holds, true).is_true()) return true;
    return false;
  }
  void unknown(size_t r, const std::string& check, const QueryResult& q) {
    Finding f;
    f.check = "unknown";
    f.rule = rule(r).name;
    f.detail = fmt::format("the solver could not decide whether the rule is {} ({})", check, q.reason);
    report_.findings.push_back(std::move(f));
  }

  // Can the rule fire on some valid event? Proved vacuous when no kind can.
  bool check_vacuous(size_t r) {
    bool undecided = false;
    QueryResult last;
    for (KindEncoding& k : kinds_) {
      const RuleFormula& f = k.enc->rule(r);
      if (!f.applies) continue;
      if (can_fire_on_a_model(k, f)) return true;
      QueryResult q = check(f.fires, "fires " + rule(r).name);
      if (q.sat()) return true;
      if (!q.unsat()) undecided = true, last = q;
    }
    if (undecided) {
      unknown(r, "vacuous", last);
      return true;
    }
    Finding f;
    f.check = "vacuous";
    f.rule = rule(r).name;
    f.detail = "cannot fire on any event valid under the schema within its effective dates (proved)";
    report(std::move(f));
    return false;
  }

  void check_faulting(size_t r) {
    for (KindEncoding& k : kinds_) {
      const RuleFormula& f = k.enc->rule(r);
      if (!f.applies) continue;
      // No earlier rule faults, so that the engines name this one.
      z3::expr earlier = ctx_.bool_val(false);
      for (size_t e = 0; e < r; ++e)
        if (k.enc->rule(e).applies) earlier = earlier || k.enc->rule(e).faults;
      const z3::expr formula = f.faults && !earlier;
      QueryResult q = check(formula, "faults " + rule(r).name);
      if (q.unsat()) continue;
      if (!q.sat()) {
        unknown(r, "faulting", q);
        return;
      }
      auto site_of = [&](const z3::model& model) -> const SiteFault* {
        const SiteFault* site = nullptr;
        for (const SiteFault& s : f.sites)
          if (model.eval(s.when, true).is_true()) site = &s;
        return site;
      };
      Finding out;
      out.check = "faulting";
      out.rule = rule(r).name;
      // Numbers are exact rationals to the solver, doubles to the engines: a
      // divisor the solver keeps tiny may round to zero, so the engines can
      // name another reason at the same rule. Both engines faulting there,
      // alike, is the finding; it carries the reason they give.
      auto shows = [&](const z3::model& model, const Witness& w) {
        auto faults_here = [&](const EngineDecision& d) {
          return d.valid && d.outcome == "error" && d.fault_rule == out.rule;
        };
        return site_of(model) && faults_here(w.interp) && faults_here(w.jit) &&
               w.interp.fault_reason == w.jit.fault_reason;
      };
      // A result just past the largest double may round back to a finite
      // one: the witness is asked for one clearly past it where there is one.
      z3::expr clearly = ctx_.bool_val(false);
      for (const SiteFault& s : f.sites) clearly = clearly || (s.clearly ? *s.clearly : s.when);
      z3::expr witness_formula = formula;
      if (QueryResult again = check(clearly && !earlier, "faults clearly " + out.rule); again.sat())
        q = std::move(again), witness_formula = clearly && !earlier;
      Witness w = witness(k, &*q.model, witness_formula, "faults " + out.rule, shows);
      const SiteFault* site = site_of(*q.model);
      // Confirmed: the reason the engines gave (see `shows` above).
      FaultReason reason = site ? site->reason : FaultReason::None;
      if (const FaultReason given = ir::fault_reason_named(w.jit.fault_reason);
          w.confirmed && given != FaultReason::None)
        reason = given;
      out.detail = site ? engine::fault_message(m_, static_cast<uint32_t>(r), site->site, reason)
                        : "a fault (no site found in the model)";
      out.witness = std::move(w);
      report(std::move(out));
      return;
    }
  }

  // Fires without any rule of an outcome at least as strong firing too (and
  // without a fault making the decision `error`)?
  void check_shadowed(size_t r) {
    bool undecided = false;
    QueryResult last;
    for (KindEncoding& k : kinds_) {
      const RuleFormula& f = k.enc->rule(r);
      if (!f.applies) continue;
      z3::expr stronger = ctx_.bool_val(false);
      for (size_t s = 0; s < m_.rules.size(); ++s)
        if (s != r && k.enc->rule(s).applies && rule(s).effect >= rule(r).effect)
          stronger = stronger || k.enc->rule(s).fires;
      QueryResult q = check(f.fires && !k.enc->decision_is_error() && !stronger, "decides " + rule(r).name);
      if (q.sat()) return;
      if (!q.unsat()) undecided = true, last = q;
    }
    if (undecided) return unknown(r, "shadowed", last);
    Finding out;
    out.check = "shadowed";
    out.rule = rule(r).name;
    // The first pair's query, for the witness.
    std::optional<QueryResult> first;
    std::optional<z3::expr> first_formula;
    KindEncoding* first_kind = nullptr;
    for (KindEncoding& k : kinds_) {
      const RuleFormula& f = k.enc->rule(r);
      if (!f.applies) continue;
      for (size_t s = 0; s < m_.rules.size(); ++s) {
        if (s == r || !k.enc->rule(s).applies || rule(s).effect < rule(r).effect) continue;
        if (std::find(out.covered_by.begin(), out.covered_by.end(), rule(s).name) != out.covered_by.end())
          continue;
        const z3::expr both = f.fires && k.enc->rule(s).fires;
        QueryResult q = check(both, "fires with " + rule(r).name + ", " + rule(s).name);
        if (!q.sat()) continue;
        out.covered_by.push_back(rule(s).name);
        if (!first) first = std::move(q), first_formula = both, first_kind = &k;
      }
    }
    out.detail =
        out.covered_by.empty()
            ? "whenever it fires, another rule faults: it never decides"
            : fmt::format("whenever it fires ({}), a rule of an outcome at least as strong fires too: {}",
                          outcome(r), fmt::join(out.covered_by, ", "));
    if (first) {
      auto one = [&](const EngineDecision& d) {
        if (!d.valid || !fired(d, out.rule)) return false;
        for (const std::string& c : out.covered_by)
          if (fired(d, c)) return true;
        return false;
      };
      auto shows = [&](const z3::model&, const Witness& w) { return one(w.interp) && one(w.jit); };
      out.witness = witness(*first_kind, &*first->model, *first_formula, "fires with " + out.rule, shows);
    }
    report(std::move(out));
  }

  // Successive versions: rule A ends on a date, and the rules that take its
  // events over (same kind, conditions that can hold together) start at the
  // nearest date to it. A gap when that date is later, an overlap when it is
  // earlier and the two give different outcomes.
  void check_hand_over(size_t a) {
    if (!rule(a).effective_until) return;
    const int64_t end = *rule(a).effective_until;
    struct Next {
      size_t rule;
      KindEncoding* kind;
    };
    std::vector<Next> successors;
    int64_t best = INT64_MAX;
    for (size_t b = 0; b < m_.rules.size(); ++b) {
      if (b == a || !rule(b).effective_from) continue;
      const int64_t start = *rule(b).effective_from;
      if (rule(a).effective_from && start <= *rule(a).effective_from) continue;
      if (start < end - kHandOverWindow || start > end + kHandOverWindow) continue;
      int64_t distance = start > end ? start - end : end - start;
      if (distance > best) continue;
      // Versions that do not meet exactly must be of one policy document:
      // a rule of another that starts near the date is not a next version.
      if (distance != 0 && rule(b).policy != rule(a).policy) continue;
      for (KindEncoding& k : kinds_) {
        const RuleFormula& fa = k.enc->rule(a);
        const RuleFormula& fb = k.enc->rule(b);
        if (!fa.applies || !fb.applies) continue;
        // The same events, dates aside.
        QueryResult q = check(fa.body && fb.body, "same events " + rule(a).name + ", " + rule(b).name);
        if (!q.sat()) continue;
        if (distance < best) successors.clear(), best = distance;
        successors.push_back(Next{b, &k});
        break;
      }
    }
    if (successors.empty() || best == 0) return;
    for (const Next& n : successors) {
      const int64_t start = *rule(n.rule).effective_from;
      const RuleFormula& fa = n.kind->enc->rule(a);
      const RuleFormula& fb = n.kind->enc->rule(n.rule);
      const z3::expr t = n.kind->enc->time();
      Finding out;
      out.rule = rule(a).name;
      out.other_rule = rule(n.rule).name;
      if (start > end) {
        out.check = "gap";
        out.detail = fmt::format(
            "ends on {} but its next version {} starts on {}: events in between are decided by neither",
            format_date(end), out.other_rule, format_date(start));
        const z3::expr formula = t >= ctx_.int_val(end) && t < ctx_.int_val(start) && fa.body;
        QueryResult q = check(formula, "gap " + out.rule);
        if (!q.sat()) continue;
        auto one = [&](const EngineDecision& d) {
          return d.valid && !fired(d, out.rule) && !fired(d, out.other_rule);
        };
        auto shows = [&](const z3::model&, const Witness& w) { return one(w.interp) && one(w.jit); };
        out.witness = witness(*n.kind, &*q.model, formula, "gap " + out.rule, shows);
      } else {
        if (rule(a).effect == rule(n.rule).effect) continue;
        out.check = "overlap";
        out.detail = fmt::format(
            "runs until {} but its next version {} starts on {}, with another outcome ({} and {})",
            format_date(end), out.other_rule, format_date(start), outcome(a), outcome(n.rule));
        const z3::expr formula = fa.fires && fb.fires;
        QueryResult q = check(formula, "overlap " + out.rule);
        if (!q.sat()) continue;
        auto one = [&](const EngineDecision& d) {
          return d.valid && fired(d, out.rule) && fired(d, out.other_rule);
        };
        auto shows = [&](const z3::model&, const Witness& w) { return one(w.interp) && one(w.jit); };
        out.witness = witness(*n.kind, &*q.model, formula, "overlap " + out.rule, shows);
      }
      report(std::move(out));
    }
  }

  const EnginePair& policy_;
  const ir::Module& m_;
  z3::context ctx_;
  VerifyReport report_;
  Solver solver_;
  StringUniverse strings_;
  std::vector<KindEncoding> kinds_;
  static constexpr size_t kModelsKept = 256;
  std::vector<z3::model> models_;  // of sat queries, for can_fire_on_a_model()
};

}  // namespace

VerifyReport verify(const EnginePair& policy, const Options& options) {
  return Verifier(policy, options).run();
}

}  // namespace edict::analysis
