// Test coverage of policies: which outcomes the test events exercised.
//   rule        fired / not fired (an unconditional rule only needs "fired")
//   condition   each `when`/`unless` condition, each `and`/`or` operand in
//               them and in bool `def` bodies: seen true / seen false
//   table row   each row of a table that rules look up: touched by a lookup
//   set member  each member of a set that rules test with `in`: touched
// Points are keyed by source place, so coverage from several compilations
// (one per test file) adds up for files they share.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "engine/trace.h"

namespace edict::tools {
using engine::Policy;
using engine::Results;
using engine::Tracer;

struct CoveragePoint {
  enum class Kind : uint8_t { Rule, Condition, TableRow, SetMember };
  Kind kind = Kind::Rule;
  std::string file;
  uint32_t line = 0;
  std::string owner;        // rule name (rules, conditions), table or set name
  std::string label;        // condition source, row key, member
  bool needs_false = true;  // conditions and conditional rules: both outcomes wanted
  bool seen_true = false;   // fired / true / touched
  bool seen_false = false;  // not fired / false

  int wanted() const { return kind == Kind::TableRow || kind == Kind::SetMember ? 1 : needs_false ? 2 : 1; }
  int covered() const { return int{seen_true} + ((needs_false && seen_false) ? 1 : 0); }
};
const char* coverage_kind_name(CoveragePoint::Kind k);  // "rule", "condition", "table_row", "set_member"

struct CoverageTally {
  size_t covered = 0, wanted = 0;
  double percent() const {
    return wanted ? 100.0 * static_cast<double>(covered) / static_cast<double>(wanted) : 100.0;
  }
};

class Coverage {
 public:
  // Registers every point of a compiled policy (points already known keep
  // their outcomes). Call it before recording with that tracer.
  void add_policy(const Tracer& tracer);
  // Records an event: row `row` of `columns`, decoded with the tracer's
  // policy. Events recorded with a tracer never added are ignored.
  void record(const Tracer& tracer, const EdictColumns& columns, uint32_t row);

  // Restricts points, tallies and reports to these files or policies: each
  // entry is a policy file's path or a `policy` title. Empty: everything.
  // Call it after add_policy (titles come from the compiled policies).
  void set_scope(const std::vector<std::string>& files_or_policies);
  // The scope's files as the report names them (empty without a scope),
  // each shown in the report even when it has no points.
  const std::vector<std::string>& scope_files() const { return scope_files_; }
  // Scope entries that matched no loaded file and no policy title.
  const std::vector<std::string>& unmatched_scope() const { return unmatched_scope_; }

  // Every point in scope, in file and line order.
  std::vector<CoveragePoint> points() const;
  CoverageTally tally(CoveragePoint::Kind k) const;
  CoverageTally total() const;
  // The text of a source line that carries points (null for other lines).
  const std::string* line_text(const std::string& file, uint32_t line) const;

 private:
  struct PolicyIndex;  // where a tracer's points are, by its module's numbering
  // (file, source offset, kind, label) -> point
  using Key = std::tuple<std::string, uint32_t, uint8_t, std::string>;
  std::map<Key, CoveragePoint> points_;
  std::map<const Tracer*, std::shared_ptr<PolicyIndex>> indexes_;
  std::map<std::pair<std::string, uint32_t>, std::string> lines_;  // (file, line) -> its text
  bool in_scope(const CoveragePoint& p) const;
  std::map<std::string, std::string> policy_of_file_;  // loaded file path -> its policy title
  bool scoped_ = false;
  std::vector<std::string> scope_files_;  // as loaded (display paths)
  std::vector<std::string> unmatched_scope_;
};

// The report for people: totals, then per file the source lines that carry
// points, marked `+` (covered), `!` (partly) or `-` (not at all), each with
// what was missed.
std::string render_coverage_human(const Coverage& c);
// {"summary":{...},"points":[...]} (docs/testing.md).
std::string render_coverage_json(const Coverage& c);

}  // namespace edict::tools
