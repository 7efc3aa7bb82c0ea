// The SMT encoding of a lowered module (compiler/ir), private to analysis/:
// the only header of the project that includes Z3's. An event of one kind is
// a set of Z3 constants (a value and, for optional fields, a presence bit per
// field); each fires, message or value function becomes formulas over them,
// computed the way the interpreter evaluates the function:
//   bool               Bool
//   int, time, dur     Int, with a fault where an int64 result would overflow
//                      (exact: below the fault the engines' result is the
//                      mathematical one)
//   num                Real (the engines round to doubles: a stated
//                      approximation; every witness is replayed, so a
//                      rounding difference never becomes a finding)
//   str                Int: ids below StringUniverse::size() are the strings
//                      the policies mention, ids above are other strings,
//                      distinct ids distinct strings (equality is exact;
//                      ordering and string helpers are uninterpreted)
//   country            Int, the dense ISO index, limited to assigned codes
//   row                Int: a constant table's row or -1; a data table's
//                      rows (reference data, loaded at run time) are free
//                      inputs: uninterpreted functions of the key and time
// Windowed aggregates are free inputs bounded by their types.
#pragma once

#include <z3++.h>

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "analysis/analysis.h"
#include "compiler/ir/ir.h"

namespace edict::analysis {

// The strings every encoded module shares ids for (two versions of a policy
// have different string pools).
class StringUniverse {
 public:
  int64_t id(const std::string& s);
  int64_t size() const { return static_cast<int64_t>(strings_.size()); }
  const std::string& at(int64_t id) const { return strings_[static_cast<size_t>(id)]; }
  // A string for id >= size(): one no policy mentions, distinct per id.
  std::string other(int64_t id) const;

 private:
  std::vector<std::string> strings_;
  std::unordered_map<std::string, int64_t> ids_;
};

// One input field of a symbolic event.
struct SymField {
  std::string name;
  ir::Ty type = ir::Ty::Void;
  bool optional = false;
  z3::expr value;
  z3::expr present;  // true for required fields
};

// A symbolic event of one kind, shared by the modules encoded over it.
class SymEvent {
 public:
  SymEvent(z3::context& ctx, std::string kind, std::string tag = "");
  const std::string& kind() const { return kind_; }
  // The field `name` of type `type` (created on first use); nullptr when an
  // earlier module declared it with another type or optionality.
  const SymField* field(const std::string& name, ir::Ty type, bool optional);
  const std::deque<SymField>& fields() const { return fields_; }
  // An optional field that is nevertheless always present (a `sum` or
  // `count` aggregate, which the windows always write).
  void always_present(const SymField& field) { domain_.push_back(field.present); }
  // What every event valid under the schema satisfies (types' ranges,
  // assigned country codes, times of years 0001-9999, ...).
  z3::expr domain() const;

 private:
  z3::context* ctx_;
  std::string kind_, tag_;
  std::deque<SymField> fields_;  // stable addresses: encoders keep pointers
  std::vector<z3::expr> domain_;
};

// A fault site's condition: the function reaches instruction `site` and it faults.
struct SiteFault {
  uint32_t site = ir::kNoSite;
  ir::FaultReason reason = ir::FaultReason::None;
  z3::expr when;
  // Non-finite sites: the exact result at least twice the largest double,
  // which no rounding of the operands brings back to a finite one (a
  // witness just past the largest double may not replay).
  std::optional<z3::expr> clearly;
};

struct FunctionFormula {
  z3::expr returns_true;  // fires functions: returns true (without fault)
  z3::expr faults;        // some fault site is reached and faults
  std::vector<SiteFault> sites;
  std::optional<z3::expr> value;  // value functions: the returned value
};

struct RuleFormula {
  bool applies = false;          // the rule has a body for this kind
  z3::expr in_effect;            // the event's time is within the effective dates
  z3::expr body;                 // the fires function returns true, whatever the date
  z3::expr fires;                // in effect, and the fires function returns true
  z3::expr faults;               // in effect, and the rule's result is `error` (fires or message fault)
  std::vector<SiteFault> sites;  // each already conjoined with in_effect (and fires for message sites)
  // `fires` itself, not the solver's name for it: to evaluate on a model of
  // an earlier query, which may not define that name.
  std::optional<z3::expr> fires_formula;
};

// The solver of one analysis: one incremental Z3 solver, so that what every
// query shares (the events' domains, each rule's formulas) is asserted and
// internalised once, at the base level, and each query pushes, adds its own
// small formula over those definitions, checks with the options' resource
// limit (per check) and seed, and pops. Timed into `stats`.
struct QueryResult {
  z3::check_result result = z3::unknown;
  std::optional<z3::model> model;
  std::string reason;  // why unknown
  bool sat() const { return result == z3::sat; }
  bool unsat() const { return result == z3::unsat; }
};
class Solver {
 public:
  Solver(z3::context& ctx, const Options& options, QueryStats& stats);
  // Holds in every query.
  void assume(const z3::expr& formula) { solver_.add(formula); }
  // A Boolean constant standing for `formula` in every query.
  z3::expr define(const z3::expr& formula);
  // `label` names the query for EDICT_ANALYSIS_TRACE=1 (one line per query on stderr).
  // `rlimit`: this query's limit instead of the options' (0: theirs).
  QueryResult check(const z3::expr& formula, const std::string& label, uint64_t rlimit = 0);
  // A witness history's queries (nonlinear arithmetic over several events is
  // where the solver can spend its whole limit): a tenth of the options'.
  uint64_t history_rlimit() const { return std::max<uint64_t>(options_.rlimit / 10, 1000); }

 private:
  z3::context* ctx_;
  Options options_;
  QueryStats* stats_;
  z3::solver solver_;
  uint64_t definitions_ = 0;
};
// Encodes the functions of one module for one event kind.
class ModuleEncoder {
 public:
  // With a solver, each rule's formulas become definitions in it (Solver::define).
  ModuleEncoder(z3::context& ctx, const ir::Module& module, StringUniverse& strings, SymEvent& event,
                Solver* solver = nullptr);
  // False when the module has no such kind, or a field's type differs from
  // the event's (another version of the schema): see problem().
  bool ok() const { return problem_.empty(); }
  const std::string& problem() const { return problem_; }
  int event_index() const { return event_; }
  const ir::Module& module() const { return *module_; }

  const RuleFormula& rule(size_t r);  // memoised
  FunctionFormula function(ir::FuncId f);
  // The event's decision: `error` when a rule in effect faults, else the
  // strongest outcome of a rule that fires, else the default.
  z3::expr decision_is(int outcome);
  z3::expr decision_is_error();
  z3::expr time() const { return time_; }
  // Every data lookup encoded so far (`data:NAME:found(key, time)`): a model
  // is free to make them find a row for any key, which a witness event
  // replayed on the real data file cannot show; none of them finding one
  // gives witnesses that replay.
  z3::expr no_data_found() const;

 private:
  struct Val {
    z3::expr e;
    int ext_table = -1;  // rows of a data table: the lookup's key and time
    std::optional<z3::expr> key, at;
  };
  z3::expr scalar(ir::Ty t, const ir::Scalar& s);
  z3::expr pool_string(int64_t pool_id);
  z3::sort sort_of(ir::Ty t);
  z3::expr ext_call(const std::string& name, const std::vector<z3::expr>& args, z3::sort result);

  z3::context* ctx_;
  const ir::Module* module_;
  StringUniverse* strings_;
  SymEvent* sym_;
  Solver* solver_ = nullptr;
  int event_ = -1;
  std::string problem_;
  std::vector<const SymField*> columns_;  // by column of the kind
  z3::expr time_;
  std::map<size_t, RuleFormula> rules_;
  std::map<std::string, z3::func_decl> uninterpreted_;
  std::vector<z3::expr> data_lookups_;
};

// Earlier events for a witness whose finding needs windowed aggregates'
// values. An encoding treats an aggregate as a free input, and one event
// alone cannot give it the value a model chose; a history can. History(n)
// is the formula that `n` earlier events of the final event's kind, in time
// order and no later than it, followed by the final event, give every
// aggregate field of the final event (of every module added) the value the
// window stage computes for it: the fold, over the events whose `where`
// holds, with the final event's key and inside its window, of their
// operands. Each earlier event enters some window of the final event, and no
// aggregate input (filter, key, operand) faults on any event of the history.
// Calendar-year windows: earlier events at the final event's time.
class History {
 public:
  History(z3::context& ctx, StringUniverse& strings, SymEvent& final_event);
  ~History();
  // A module whose aggregates the final event's `$` fields hold.
  void add_module(const ir::Module& module);
  // The final event's kind has windowed aggregates in some module added.
  bool active() const { return !aggregates_.empty(); }
  static constexpr size_t kMaxEarlier = 4;
  z3::expr formula(size_t n);
  // The earlier events as JSON lines, in the order to replay them.
  std::vector<std::string> events(const z3::model& model, size_t n) const;
  // No data lookup of an earlier event finds a row (see ModuleEncoder::no_data_found).
  z3::expr no_data_found(size_t n) const;
  // Every int of the history and the final event, and every number of the
  // earlier events, at most 2^24 in magnitude: products and short sums of
  // them stay far from the largest double, so a witness within them replays
  // as the reals the solver reasons with (and reads better than extreme
  // values). The final event's numbers are free (a rule may need 1e26).
  z3::expr small_numbers(size_t n) const;

 private:
  struct Inputs;  // one aggregate's filter, key and operand on one event
  struct Aggregate {
    const ir::Module* module;
    const ir::Aggregate* agg;
    const ir::AggregateInput* input;
    const SymField* field;  // the final event's
  };
  struct Earlier;
  Inputs inputs_of(ModuleEncoder& enc, const Aggregate& a);
  void ensure(size_t n);
  z3::expr fold(const Aggregate& a, size_t n);

  z3::context* ctx_;
  StringUniverse* strings_;
  SymEvent* final_;
  std::vector<std::unique_ptr<ModuleEncoder>> final_encoders_;  // one per module
  std::vector<Aggregate> aggregates_;
  std::vector<std::unique_ptr<Earlier>> earlier_;
  std::vector<const ir::Module*> modules_;
};

SolverInfo solver_info(const Options& options);

// The model's event as one JSON line (`{"kind":...,...}`): every input field
// of the symbolic event, optional ones only when present.
std::string witness_json(const z3::model& model, const SymEvent& event, const StringUniverse& strings);

// `s` as a JSON string literal.
std::string json_string(const std::string& s);

// The rational value of a double, exactly.
z3::expr real_of(z3::context& ctx, double d);
// A finite double near a model's real value.
double double_of(const z3::expr& real);

}  // namespace edict::analysis
