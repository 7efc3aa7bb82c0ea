// `edict verify`: per rule, can it fire (vacuous), does it ever decide
// (shadowed), can it fault, and do successive versions of a rule hand over
// without a gap or an overlap with another outcome. Every claim that an
// event exists is replayed on both engines before it is reported.
#include <algorithm>
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
};

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

  Witness replay(const std::string& json) {
    Witness w;
    w.event = json;
    w.interp = decide(*policy_.interp, json);
    w.jit = decide(*policy_.jit, json);
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
      QueryResult q = solver_.check(f.fires, "fires " + rule(r).name);
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
      QueryResult q = solver_.check(f.faults && !earlier, "faults " + rule(r).name);
      if (q.unsat()) continue;
      if (!q.sat()) {
        unknown(r, "faulting", q);
        return;
      }
      const SiteFault* site = nullptr;
      for (const SiteFault& s : f.sites)
        if (q.model->eval(s.when, true).is_true()) site = &s;
      Finding out;
      out.check = "faulting";
      out.rule = rule(r).name;
      Witness w = replay(witness_json(*q.model, *k.event, strings_));
      auto faults_here = [&](const EngineDecision& d) {
        return d.valid && d.outcome == "error" && d.fault_rule == out.rule;
      };
      // Numbers are exact rationals to the solver, doubles to the engines: a
      // divisor the solver keeps tiny may round to zero, so the engines can
      // name another reason at the same rule. Both engines faulting there,
      // alike, is the finding; it carries the reason they give.
      FaultReason reason = site ? site->reason : FaultReason::None;
      for (FaultReason other : {FaultReason::IntOverflow, FaultReason::DivisionByZero, FaultReason::NonFinite,
                                FaultReason::Absent})
        if (site && w.interp.fault_reason != ir::fault_reason_name(reason) &&
            w.interp.fault_reason == ir::fault_reason_name(other))
          reason = other;
      const std::string reason_name = ir::fault_reason_name(reason);
      w.confirmed = site && faults_here(w.interp) && faults_here(w.jit) &&
                    w.interp.fault_reason == reason_name && w.jit.fault_reason == reason_name;
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
      QueryResult q =
          solver_.check(f.fires && !k.enc->decision_is_error() && !stronger, "decides " + rule(r).name);
      if (q.sat()) return;
      if (!q.unsat()) undecided = true, last = q;
    }
    if (undecided) return unknown(r, "shadowed", last);
    Finding out;
    out.check = "shadowed";
    out.rule = rule(r).name;
    std::optional<Witness> witness;
    for (KindEncoding& k : kinds_) {
      const RuleFormula& f = k.enc->rule(r);
      if (!f.applies) continue;
      for (size_t s = 0; s < m_.rules.size(); ++s) {
        if (s == r || !k.enc->rule(s).applies || rule(s).effect < rule(r).effect) continue;
        if (std::find(out.covered_by.begin(), out.covered_by.end(), rule(s).name) != out.covered_by.end())
          continue;
        QueryResult q = solver_.check(f.fires && k.enc->rule(s).fires,
                                      "fires with " + rule(r).name + ", " + rule(s).name);
        if (!q.sat()) continue;
        out.covered_by.push_back(rule(s).name);
        if (!witness) witness = replay(witness_json(*q.model, *k.event, strings_));
      }
    }
    out.detail =
        out.covered_by.empty()
            ? "whenever it fires, another rule faults: it never decides"
            : fmt::format("whenever it fires ({}), a rule of an outcome at least as strong fires too: {}",
                          outcome(r), fmt::join(out.covered_by, ", "));
    if (witness) {
      auto shows = [&](const EngineDecision& d) {
        if (!d.valid || !fired(d, out.rule)) return false;
        for (const std::string& c : out.covered_by)
          if (fired(d, c)) return true;
        return false;
      };
      witness->confirmed = shows(witness->interp) && shows(witness->jit);
      out.witness = std::move(witness);
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
        QueryResult q =
            solver_.check(fa.body && fb.body, "same events " + rule(a).name + ", " + rule(b).name);
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
        QueryResult q =
            solver_.check(t >= ctx_.int_val(end) && t < ctx_.int_val(start) && fa.body, "gap " + out.rule);
        if (!q.sat()) continue;
        Witness w = replay(witness_json(*q.model, *n.kind->event, strings_));
        auto shows = [&](const EngineDecision& d) {
          return d.valid && !fired(d, out.rule) && !fired(d, out.other_rule);
        };
        w.confirmed = shows(w.interp) && shows(w.jit);
        out.witness = std::move(w);
      } else {
        if (rule(a).effect == rule(n.rule).effect) continue;
        out.check = "overlap";
        out.detail = fmt::format(
            "runs until {} but its next version {} starts on {}, with another outcome ({} and {})",
            format_date(end), out.other_rule, format_date(start), outcome(a), outcome(n.rule));
        QueryResult q = solver_.check(fa.fires && fb.fires, "overlap " + out.rule);
        if (!q.sat()) continue;
        Witness w = replay(witness_json(*q.model, *n.kind->event, strings_));
        auto shows = [&](const EngineDecision& d) {
          return d.valid && fired(d, out.rule) && fired(d, out.other_rule);
        };
        w.confirmed = shows(w.interp) && shows(w.jit);
        out.witness = std::move(w);
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
};

}  // namespace

VerifyReport verify(const EnginePair& policy, const Options& options) {
  return Verifier(policy, options).run();
}

}  // namespace edict::analysis
