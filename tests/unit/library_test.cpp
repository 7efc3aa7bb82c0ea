// The shipped policy library checks its own data: every TPP and performance
// density of the chip table is recomputed from the datasheet figures, the
// reconstructed 2023 country groups must reproduce the verified 2023 scope,
// and the three kinds of bad amendment the library must catch (a wrong chip
// row, an unknown country, overlapping effective ranges) are each shown to
// be caught, by this test, by the checker or by the library's own tests.
#include <catch2/catch.hpp>

#include <cmath>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "compiler/check/check.h"
#include "compiler/parse/parse.h"
#include "engine/engine.h"
#include "tools/testing.h"

namespace {

const std::string kPolicies = std::string(EDICT_SOURCE_DIR) + "/policies/";

// A library file amended in memory: `path_suffix` (e.g.
// "common/chips.edict.md") is served with `from` replaced by `to` once.
struct Amendment {
  std::string path_suffix, from, to;
};

edict::parse::FileReader amended_reader(const std::vector<Amendment>& amendments) {
  return [amendments, disk = edict::parse::disk_reader()](const std::string& path,
                                                          std::string* error) -> std::optional<std::string> {
    std::optional<std::string> text = disk(path, error);
    if (!text) return text;
    for (const Amendment& a : amendments) {
      const std::string& s = a.path_suffix;
      if (path.size() < s.size() || path.compare(path.size() - s.size(), s.size(), s) != 0) continue;
      const size_t at = text->find(a.from);
      REQUIRE(at != std::string::npos);  // the amendment must apply, or the test proves nothing
      text->replace(at, a.from.size(), a.to);
    }
    return text;
  };
}

struct Checked {
  edict::SourceManager sources;
  edict::DiagnosticSink sink;
  edict::ast::Program program;
  edict::check::CheckedProgram checked;
  std::string rendered;
};

std::unique_ptr<Checked> check_root(const std::string& root, const std::vector<Amendment>& amendments = {}) {
  auto c = std::make_unique<Checked>();
  edict::parse::Limits limits;
  limits.import_paths = {kPolicies};  // files in subfolders import ../common
  c->program =
      edict::parse::load_program({kPolicies + root}, c->sources, c->sink, limits, amended_reader(amendments));
  c->checked = edict::check::check(c->program, c->sources, c->sink);
  c->rendered = edict::render_human(c->sources, c->sink.sorted());
  return c;
}

// ---- the chip table --------------------------------------------------------

const edict::check::TableInfo& table_named(const edict::check::CheckedProgram& p, const std::string& name) {
  for (const auto& t : p.tables)
    if (t.decl && t.decl->name == name) return t;
  FAIL("no table `" << name << "`");
  throw std::logic_error("unreachable");
}

std::optional<double> number_cell(const edict::check::CheckedProgram& p, const edict::check::TableInfo& t,
                                  size_t row, const std::string& field) {
  const int i = p.records.at(t.record).field_index(field);
  REQUIRE(i >= 0);
  const edict::Value& v = t.cells.at(row).at(static_cast<size_t>(i));
  if (v.kind == edict::TypeKind::Number) return v.n;
  if (v.kind == edict::TypeKind::Int) return static_cast<double>(v.i);
  return std::nullopt;  // an absent optional cell
}

double round2(double x) {
  return std::round(x * 100.0) / 100.0;
}

// Every arithmetic problem of the table, one line per problem.
std::vector<std::string> chip_table_problems(const edict::check::CheckedProgram& p, size_t* recomputed_tpp,
                                             size_t* recomputed_pd) {
  const auto& chips = table_named(p, "chips");
  std::vector<std::string> problems;
  *recomputed_tpp = *recomputed_pd = 0;
  for (size_t r = 0; r < chips.keys.size(); ++r) {
    const std::string& chip = chips.keys[r].s;
    const std::optional<double> tops = number_cell(p, chips, r, "dense_tops");
    const std::optional<double> bits = number_cell(p, chips, r, "bit_length");
    const std::optional<double> tpp = number_cell(p, chips, r, "tpp");
    const std::optional<double> area = number_cell(p, chips, r, "die_area_mm2");
    const std::optional<double> pd = number_cell(p, chips, r, "pd");
    REQUIRE(tpp);
    if (tops.has_value() != bits.has_value())
      problems.push_back(chip + ": dense_tops and bit_length go together");
    if (tops && bits) {
      ++*recomputed_tpp;
      const double expect = *tops * *bits;
      if (std::fabs(expect - *tpp) > 1e-9 * expect)
        problems.push_back(chip + ": tpp " + std::to_string(*tpp) +
                           " != dense_tops x bit_length = " + std::to_string(expect));
    }
    if (area) {
      ++*recomputed_pd;
      const double expect = round2(*tpp / *area);
      if (!pd || std::fabs(*pd - expect) > 1e-9)
        problems.push_back(chip + ": pd " + (pd ? std::to_string(*pd) : "absent") +
                           " != tpp / die_area_mm2 = " + std::to_string(expect));
    } else {
      if (pd) problems.push_back(chip + ": pd given without a die area");
      if (*tpp < 4800)
        problems.push_back(chip + ": below 4800 TPP the class depends on density: give the die area");
    }
  }
  return problems;
}

TEST_CASE("every TPP and PD of the chip table matches the datasheet arithmetic", "[library]") {
  auto c = check_root("common/chips.edict.md");
  INFO(c->rendered);
  REQUIRE(c->sink.error_count() == 0);
  size_t tpp_rows = 0, pd_rows = 0;
  const std::vector<std::string> problems = chip_table_problems(c->checked, &tpp_rows, &pd_rows);
  INFO(::Catch::Detail::stringify(problems));
  CHECK(problems.empty());
  // Every row but the RTX 4090D (TPP as reported) has datasheet throughput;
  // every row but the MI300X and the Ascend 910B has a die area.
  const size_t rows = table_named(c->checked, "chips").keys.size();
  CHECK(rows == 16);
  CHECK(tpp_rows == rows - 1);
  CHECK(pd_rows == rows - 2);
}

TEST_CASE("a chip row whose arithmetic does not match is caught", "[library]") {
  const std::string file = "common/chips.edict.md";
  struct Case {
    Amendment change;
    std::string chip;
  };
  const std::vector<Case> cases = {
      {{file, "tpp: 15_832", "tpp: 15_833"}, "H100-SXM5-80GB"},  // the first 15_832
      {{file, "pd: 2.91", "pd: 2.92"}, "H20"},
      {{file, "dense_tops: 296", "dense_tops: 297"}, "H20"},
      {{file, "die_area_mm2: 294,", ""}, "L4"},
  };
  for (const Case& k : cases) {
    auto c = check_root(file, {k.change});
    REQUIRE(c->sink.error_count() == 0);
    size_t tpp_rows = 0, pd_rows = 0;
    const std::vector<std::string> problems = chip_table_problems(c->checked, &tpp_rows, &pd_rows);
    INFO(k.change.from << " -> " << k.change.to);
    REQUIRE(!problems.empty());
    for (const std::string& problem : problems) CHECK(problem.rfind(k.chip + ":", 0) == 0);
  }
}

// ---- country groups -----------------------------------------------------------

std::set<std::string> set_named(const edict::check::CheckedProgram& p, const std::string& name) {
  for (const auto& s : p.sets)
    if (s.decl && s.decl->name == name) {
      std::set<std::string> out;
      for (const edict::Value& v : s.members) out.insert(v.s);
      return out;
    }
  FAIL("no set `" << name << "`");
  return {};
}

TEST_CASE("the reconstructed 2023 country groups reproduce the verified 2023 scope", "[library]") {
  auto c = check_root("common/country_groups.edict.md");
  INFO(c->rendered);
  REQUIRE(c->sink.error_count() == 0);
  const auto& p = c->checked;
  for (const char* year : {"2023", "2026"}) {
    const std::string y = year;
    std::set<std::string> scope;
    for (const char* g : {"D1_", "D4_", "D5_"})
      for (const std::string& m : set_named(p, g + y)) scope.insert(m);
    for (const char* g : {"A5_", "A6_"})
      for (const std::string& m : set_named(p, g + y)) scope.erase(m);
    INFO(y);
    CHECK(scope == set_named(p, "AC_SCOPE_" + y));
    CHECK(scope.size() == 45);  // "44 countries and Macau" in 2023; 45 again in 2026 (+NI, -AE)
    CHECK(scope.count("MO") == 1);
    CHECK(scope.count("IL") == 0);
  }
  CHECK(set_named(p, "D5_2026").count("MO") == 0);  // Macau is not in D:5
}

TEST_CASE("an unknown country in an amended library file is a compile error", "[library]") {
  auto c = check_root(
      "provisioning/destination_2023.edict.md",
      {{"common/country_groups.edict.md", "\"SG\", \"ZA\", \"TW\"", "\"SG\", \"ZA\", \"TW\", \"XX\""}});
  CHECK(c->sink.error_count() == 1);
  CHECK(c->rendered.find("error[E0210]: `XX` is not an ISO 3166-1 alpha-2 country code") !=
        std::string::npos);
  CHECK(c->rendered.find("country_groups.edict.md:") != std::string::npos);
}

// ---- effective ranges ---------------------------------------------------------

// Runs the tests of `root` on the interpreter; returns the titles of failing tests.
std::set<std::string> failing_tests(const std::string& root, const std::vector<Amendment>& amendments) {
  edict::SourceManager sources;
  edict::DiagnosticSink sink;
  edict::engine::CompileOptions options;
  options.backend = edict::engine::Backend::Interp;
  options.limits.import_paths = {kPolicies};
  auto policy =
      edict::engine::Policy::compile({kPolicies + root}, sources, sink, options, amended_reader(amendments));
  INFO(edict::render_human(sources, sink.sorted()));
  REQUIRE(policy);
  // Only the root's own tests: an imported policy's tests describe it alone,
  // as `edict test` runs them.
  const edict::FileId root_file = policy->checked().program->roots.at(0);
  std::set<std::string> failed;
  for (const auto& step : edict::tools::run_tests(*policy))
    if (!step.passed && step.span.file == root_file) failed.insert(step.test);
  return failed;
}

TEST_CASE("overlapping effective ranges of successive rules are caught by the library's tests", "[library]") {
  const std::string root = "law_as_enforced.edict.md";
  CHECK(failing_tests(root, {}).empty());

  // The 2022 rule left in force past the 2023 rule's start.
  const std::set<std::string> overlap_2022 = failing_tests(
      root, {{"provisioning/destination_2022.edict.md", "until 2023-11-17", "until 2023-12-01"}});
  CHECK(overlap_2022.count("hand-over: the 2022 rule gives way to the 2023 rule on 2023-11-17") == 1);

  // The case-by-case version of the headquarters rule left in force past 2024-04-04.
  const std::set<std::string> overlap_hq =
      failing_tests(root, {{"provisioning/headquarters.edict.md", "until 2024-04-04", "until 2024-05-01"}});
  CHECK(overlap_hq.count("hand-over: the headquarters rule's three versions") == 1);

  // The January 2026 review policy starting early.
  const std::set<std::string> early_2026 = failing_tests(
      root, {{"provisioning/destination_2023.edict.md", "effective 2026-01-15\n  cite \"91 FR 1684 (FR Doc",
              "effective 2026-01-01\n  cite \"91 FR 1684 (FR Doc"}});
  CHECK(early_2026.count("hand-over: the 2023 rule gives way to the January 2026 review policy") == 1);
}

}  // namespace
