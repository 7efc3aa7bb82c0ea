// Symbolic analysis of policies with the Z3 SMT solver, before any event
// exists: `edict verify` (rules that can never fire, never decide, fault,
// or leave gaps between versions) and `edict diff --symbolic` (every outcome
// transition an amendment can cause, or a proof that there is none).
//
// The encoding (analysis/encode.h, the only place Z3 is seen) follows the
// lowered IR exactly as the engines evaluate it. Every finding that claims
// an event exists comes with that event, as a JSON line valid under the
// schema, and is reported only after the interpreter and the JIT, through
// the engine's normal event path (engine::Stream, DecisionFinisher), show
// it; a witness the engines do not confirm is reported as unconfirmed, never
// as a finding. A query the solver cannot decide within its resource limit
// is reported as unknown, never as "no finding".
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "engine/engine.h"

namespace edict::analysis {

struct Options {
  // Z3's deterministic resource limit per query (`rlimit`), and its seed.
  uint64_t rlimit = 200'000'000;
  unsigned seed = 0;
};

struct SolverInfo {
  std::string version;  // "4.8.12"
  unsigned seed = 0;
  uint64_t rlimit = 0;
};

struct QueryStats {
  uint64_t queries = 0, unknown = 0;
  double total_ms = 0, max_ms = 0;
  void add(double ms, bool was_unknown);
};

// One policy (both engines compiled from the same files) to replay witnesses on.
struct EnginePair {
  const engine::Policy* jit = nullptr;
  const engine::Policy* interp = nullptr;
};

// What one engine decided on a witness event.
struct EngineDecision {
  bool valid = false;  // decoded and evaluated (else `error` says why)
  std::string error;
  std::string outcome;  // an outcome name, or "error"
  std::vector<std::string> fired;
  std::string fault_rule, fault_reason;  // when outcome == "error"
  bool operator==(const EngineDecision&) const = default;
};

// A witness event and what the engines made of it.
struct Witness {
  // Earlier events (JSON lines, in input order) that give the windowed
  // aggregates the values the finding needs; empty when the event alone
  // shows it.
  std::vector<std::string> history;
  std::string event;  // one JSON line: the event the finding is about
  EngineDecision interp, jit;
  bool confirmed = false;  // both engines show what the finding claims
};

// Evaluates one JSON event, after the earlier events `history` (through one
// engine::Stream, so that they fill its windows), on one engine.
EngineDecision decide(const engine::Policy& policy, const std::vector<std::string>& history,
                      const std::string& json);

struct Finding {
  // vacuous, shadowed, faulting, gap, overlap; `unknown` when the solver
  // could not decide a check.
  std::string check;
  std::string rule;
  std::string detail;                   // for people
  std::vector<std::string> covered_by;  // shadowed: the rules that fire whenever it does
  std::string other_rule;               // gap, overlap: the next version
  std::optional<Witness> witness;       // none for proofs (vacuous)
  bool allowed = false;
  std::string allow_reason;
};

struct VerifyReport {
  std::vector<Finding> findings;     // confirmed findings and proofs, and unknowns
  std::vector<Finding> unconfirmed;  // the solver's witness did not replay as claimed
  SolverInfo solver;
  QueryStats stats;
  size_t rules = 0;
};

VerifyReport verify(const EnginePair& policy, const Options& options = {});

// `--allow FILE`: lines `RULE: reason` (every check of that rule) or
// `RULE/CHECK: reason`; `#` starts a comment. False with *error (file:line)
// on a line without a reason. Marks the report's matching findings allowed.
struct Allowance {
  std::string rule, check, reason;
  bool used = false;
};
bool read_allow_file(const std::string& path, std::vector<Allowance>& out, std::string* error);
void apply_allowances(VerifyReport& report, std::vector<Allowance>& allow);

std::string render_verify(const VerifyReport& report);
std::string verify_json(const VerifyReport& report);

// ---- symbolic diff ------------------------------------------------------------

struct SymTransition {
  std::string kind;            // event kind
  std::string from, to;        // outcome names ("error" included)
  std::string region;          // Edict conditions describing where the versions differ
  Witness old_side, new_side;  // the witness on each version (same event)
  bool confirmed = false;
};

struct SymDiffReport {
  std::vector<SymTransition> transitions;
  std::vector<SymTransition> unconfirmed;
  std::vector<std::string> unknown;  // (kind, from -> to) pairs the solver could not decide
  std::vector<std::string> notes;    // kinds only one version has, ...
  bool equivalent = false;           // every pair decided unsat, no unknown
  SolverInfo solver;
  QueryStats stats;
};

// `assume`: the assumption policy, compiled with NEW's files plus one rule
// per --assume (named `assume_N`); may be null. Its rules' conditions
// constrain the events considered.
SymDiffReport symbolic_diff(const EnginePair& old_policy, const EnginePair& new_policy,
                            const engine::Policy* assume, const Options& options = {});
std::string render_symbolic_diff(const SymDiffReport& report);
std::string symbolic_diff_json(const SymDiffReport& report);

}  // namespace edict::analysis
