// Unit tests of the checker (compiler/check) and the ISO 3166-1 table: one
// case per check, each with a program that passes and one that fails, and the
// failing diagnostic's code, line:col and did-you-mean asserted.
#include <catch2/catch.hpp>

#include <bit>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <string>

#include "compiler/ast/ast.h"
#include "compiler/check/check.h"
#include "compiler/ir/arith.h"
#include "compiler/parse/parse.h"
#include "support/countries.h"
#include "support/time_util.h"

using namespace edict;

namespace {

// The schemas most tests import (line numbers of main files then start at 2).
const char* const kEvents = R"(event rental {
  id: string,
  time: time,
  customer_hq: country,
  parent_hq: country,
  datacenter: country,
  chip: string,
  chip_count: int,
  hours: number,
  purpose: string,
  entity_listed: bool,
  license: string?,
}

event provision {
  id: string,
  time: time,
  datacenter: country,
  chip: string,
  chip_count: int,
  peak_ops_per_s: number,
}
)";

struct Result {
  SourceManager sources;
  DiagnosticSink sink{10000};
  ast::Program program;
  check::CheckedProgram checked;
  std::vector<Diagnostic> diags;
  std::string rendered;  // every diagnostic, for failure messages

  size_t count(std::string_view code) const {
    size_t n = 0;
    for (const auto& d : diags) n += d.code == code;
    return n;
  }
};

// Files are found by the longest name that ends the requested path, so the
// loader may normalise paths as it likes.
std::unique_ptr<Result> run_files(std::map<std::string, std::string> files,
                                  std::vector<std::string> roots = {"main.edict"}) {
  auto r = std::make_unique<Result>();
  if (!files.count("events.edict")) files["events.edict"] = kEvents;
  parse::FileReader reader = [files](const std::string& path,
                                     std::string* error) -> std::optional<std::string> {
    const std::string* best = nullptr;
    size_t best_len = 0;
    for (const auto& [name, text] : files) {
      if (path.size() < name.size() || path.compare(path.size() - name.size(), name.size(), name) != 0)
        continue;
      if (path.size() > name.size() && path[path.size() - name.size() - 1] != '/') continue;
      if (name.size() > best_len) {
        best = &text;
        best_len = name.size();
      }
    }
    if (!best) {
      if (error) *error = "no such file";
      return std::nullopt;
    }
    return *best;
  };
  for (auto& root : roots) root = "/virtual/" + root;
  r->program = parse::load_program(roots, r->sources, r->sink, {}, reader);
  r->checked = check::check(r->program, r->sources, r->sink);
  r->diags = r->sink.sorted();
  for (const auto& d : r->diags) r->rendered += render_human(r->sources, d) + "\n";
  return r;
}

std::unique_ptr<Result> run(const std::string& main) {
  return run_files({{"main.edict", main}});
}

// Line and column (1-based, ASCII sources) of the nth occurrence of `needle`.
LineCol locate(const std::string& text, std::string_view needle, int nth = 1) {
  size_t pos = std::string::npos, from = 0;
  for (int i = 0; i < nth; ++i) {
    pos = text.find(needle, from);
    if (pos == std::string::npos) FAIL("test bug: `" << needle << "` not in the source");
    from = pos + 1;
  }
  LineCol lc{1, 1};
  for (size_t i = 0; i < pos; ++i) {
    if (text[i] == '\n') {
      ++lc.line;
      lc.column = 1;
    } else {
      ++lc.column;
    }
  }
  return lc;
}

const Diagnostic* find_diag(const Result& r, std::string_view code, LineCol at) {
  for (const auto& d : r.diags) {
    if (d.code != code || !d.span.valid()) continue;
    LineCol lc = r.sources.line_col(d.span.file, d.span.begin);
    if (lc.line == at.line && lc.column == at.column) return &d;
  }
  return nullptr;
}

const Diagnostic& expect_diag(const Result& r, std::string_view code, LineCol at) {
  INFO("expected " << code << " at " << at.line << ":" << at.column << "; got:\n" << r.rendered);
  const Diagnostic* d = find_diag(r, code, at);
  REQUIRE(d != nullptr);
  return *d;
}

const Diagnostic& expect_diag(const Result& r, std::string_view code, const std::string& src,
                              std::string_view needle, int nth = 1) {
  return expect_diag(r, code, locate(src, needle, nth));
}

void expect_no_errors(const Result& r) {
  INFO(r.rendered);
  REQUIRE(r.sink.error_count() == 0);
}

void expect_no_diagnostics(const Result& r) {
  INFO(r.rendered);
  REQUIRE(r.diags.empty());
}

const Type& type_of_first(const Result& r, ast::ExprKind kind, std::string_view text = {}) {
  static const Type none = Type::error();
  const Type* found = nullptr;
  for (const auto& m : r.program.modules)
    for (const auto& d : m->decls)
      ast::for_each_expr(*d, [&](const ast::Expr& root) {
        ast::walk(root, [&](const ast::Expr& e) {
          if (!found && e.kind == kind && (text.empty() || e.text == text)) found = &r.checked.type_of(e);
        });
      });
  return found ? *found : none;
}

}  // namespace

// ---- ISO 3166-1 -----------------------------------------------------------------

TEST_CASE("country table holds the 249 officially assigned codes", "[check][countries]") {
  const auto& codes = all_country_codes();
  REQUIRE(codes.size() == 249);
  REQUIRE(std::is_sorted(codes.begin(), codes.end()));
  for (const char* code :
       {"CN", "MO", "HK", "TW", "PS", "SS", "CW", "SX", "BQ", "EH", "US", "GB", "AX", "ZW"})
    CHECK(is_country_code(code));
  for (const char* code : {"XK", "EU", "UK", "AN", "XX", "ZZ", "AA", "QM", "cn", "CHN", "C", "", "China"})
    CHECK_FALSE(is_country_code(code));
  auto cn = country_index("CN");
  REQUIRE(cn);
  CHECK(*cn == ('C' - 'A') * 26 + ('N' - 'A'));
  CHECK(country_code(*cn) == "CN");
  CHECK(country_name(*cn) == "China");
  CHECK(country_name(*country_index("MO")) == "Macao");
  CHECK(country_name(0).empty());  // AA is not assigned
  for (const auto& c : codes) CHECK(country_code(*country_index(c)) == c);
}

TEST_CASE("country suggestions read lower case, alpha-3 codes and names", "[check][countries]") {
  CHECK(country_code(*suggest_country("CHN")) == "CN");
  CHECK(country_code(*suggest_country("cn")) == "CN");
  CHECK(country_code(*suggest_country("China")) == "CN");
  CHECK(country_code(*suggest_country("Taiwan")) == "TW");
  CHECK(country_code(*suggest_country("UK")) == "GB");
  CHECK(country_code(*suggest_country("Macau")) == "MO");
  CHECK_FALSE(suggest_country("XX"));
  CHECK_FALSE(suggest_country(""));
}

// ---- a clean program and its side tables -----------------------------------------

TEST_CASE("a clean program fills every side table", "[check]") {
  const std::string src = R"(import "events.edict"
set D5M: country = { "CN", "MO" }
rule hq on rental
  effective 2023-11-17
  until 2025-01-01T00:00:00Z
  cite "15 CFR 744.23"
  deny "{event.chip} for {event.customer_hq}"
  when event.customer_hq in D5M and event.chip_count > 8
  unless event.license is present
)";
  auto r = run(src);
  expect_no_diagnostics(*r);
  const auto& c = r->checked;
  REQUIRE(c.events.size() == 2);
  REQUIRE(c.event_index("rental") == 0);
  REQUIRE(c.records[0].time_field == 1);
  REQUIRE(c.rules.size() == 1);
  const auto& rule = c.rules[0];
  CHECK(rule.kinds == std::vector<int>{0});
  CHECK(c.outcomes == std::vector<std::string>{"allow", "report", "review", "deny"});
  CHECK(c.outcomes[rule.effect] == "deny");
  CHECK(c.default_outcome == 0);
  CHECK(*rule.effective_from == *parse_date("2023-11-17"));
  CHECK(*rule.effective_until == *parse_rfc3339("2025-01-01T00:00:00Z"));
  REQUIRE(c.sets.size() == 1);
  CHECK(c.sets[0].element == TypeKind::Country);
  CHECK(c.sets[0].members.size() == 2);
  CHECK(c.sets[0].members[1].s == "MO");
  CHECK(c.sets[0].decl != nullptr);
  // Every expression has a type, every Name its declaration.
  size_t exprs = 0;
  for (const auto& m : r->program.modules)
    for (const auto& d : m->decls)
      ast::for_each_expr(*d, [&](const ast::Expr& root) {
        ast::walk(root, [&](const ast::Expr& e) {
          ++exprs;
          INFO("expression " << ast::dump(e));
          CHECK_FALSE(c.type_of(e).is_error());
          if (e.kind == ast::ExprKind::Name) CHECK(c.resolved[e.id] != nullptr);
          if (e.kind == ast::ExprKind::Name && e.text == "D5M") CHECK(c.set_index[e.id] == 0);
        });
      });
  CHECK(exprs > 10);
  CHECK(type_of_first(*r, ast::ExprKind::Field, "license").optional);
}

// ---- names and scopes ---------------------------------------------------------------

TEST_CASE("unknown names suggest the nearest declared name", "[check][names]") {
  const std::string src = R"(import "events.edict"
set ALLIES: country = { "US", "GB" }
rule r on rental
  cite "x"
  review
  when event.customer_hq in ALIES or chip == "H100"
)";
  auto r = run(src);
  CHECK(expect_diag(*r, "E0100", src, "ALIES").help == "did you mean `ALLIES`?");
  CHECK(expect_diag(*r, "E0100", src, "chip ==").help == "did you mean `event.chip`?");
}

TEST_CASE("a name from a file that is not imported names the import", "[check][names]") {
  const std::string a = R"(import "events.edict"
rule uses_b on rental
  cite "x"
  deny
  when event.customer_hq in FROM_B
)";
  auto r = run_files({{"main.edict", "import \"a.edict\"\nimport \"lib/b.edict\"\n"},
                      {"a.edict", a},
                      {"lib/b.edict", "set FROM_B: country = { \"CN\" }\n"}});
  const auto& d = expect_diag(*r, "E0108", a, "FROM_B");
  CHECK(d.help == "add `import \"lib/b.edict\"` to this file");
  CHECK(d.message.find("does not import") != std::string::npos);

  // Transitive imports are visible: main -> lib/b -> lib/c.
  auto ok = run_files({{"main.edict", R"(import "events.edict"
import "lib/b.edict"
rule uses_c on rental
  cite "x"
  deny
  when event.customer_hq in FROM_C
)"},
                       {"lib/b.edict", "import \"c.edict\"\n"},
                       {"lib/c.edict", "set FROM_C: country = { \"CN\" }\n"}});
  expect_no_diagnostics(*ok);
}

TEST_CASE("a name declared twice is reported at the second with a label at the first", "[check][names]") {
  const std::string src = R"(import "events.edict"
const LIMIT = 1
set LIMIT: country = { "CN" }
)";
  auto r = run(src);
  const auto& d = expect_diag(*r, "E0109", src, "LIMIT", 2);
  REQUIRE(d.labels.size() == 1);
  CHECK(r->sources.line_col(d.labels[0].span.file, d.labels[0].span.begin).line == 2);

  // Across files too: a program shares one name space.
  auto r2 = run_files({{"main.edict", "import \"events.edict\"\nimport \"lib.edict\"\nconst rental_x = 1\n"},
                       {"lib.edict", "const rental_x = 2\n"}});
  CHECK(r2->count("E0109") == 1);
}

TEST_CASE("unknown kinds, outcomes, functions and types suggest near names", "[check][names]") {
  const std::string src = R"(import "events.edict"
event other { time: time, size: strng, weight: float }
def f(x: int): bool = startswith("a", "b")
rule r on rentel
  cite "x"
  dney
  when true
)";
  auto r = run(src);
  CHECK(expect_diag(*r, "E0107", src, "strng").help == "did you mean `string`?");
  CHECK(expect_diag(*r, "E0107", src, "float").help == "did you mean `number`?");
  CHECK(expect_diag(*r, "E0101", src, "startswith").help == "did you mean `starts_with`?");
  CHECK(expect_diag(*r, "E0102", src, "rentel").help == "did you mean `rental`?");
  CHECK(expect_diag(*r, "E0104", src, "dney").help == "did you mean `deny`?");
}

TEST_CASE("declarations used as the wrong kind of thing", "[check][names]") {
  const std::string src = R"(import "events.edict"
def f(x: int): int = x + 1
const A = f
rule r on rental
  cite "x"
  deny
  when rental.chip == "x"
)";
  auto r = run(src);
  expect_diag(*r, "E0111", src, "f\n");
  CHECK(expect_diag(*r, "E0111", src, "rental.chip").help == "read the event's fields with `event.field`");
}

TEST_CASE("`event` is only available in rules", "[check][names]") {
  const std::string src = R"(import "events.edict"
def bad(): string = event.chip
const C = event
)";
  auto r = run(src);
  expect_diag(*r, "E0110", src, "event.chip");
  expect_diag(*r, "E0110", src, "event\n");
}

// ---- defs ---------------------------------------------------------------------------

TEST_CASE("defs: typed parameters and result, arity and argument types", "[check][def]") {
  const std::string good = R"(import "events.edict"
def density(tpp: int, area: number): number = tpp / area
def advanced(tpp: int, area: number): bool = tpp >= 4800 or density(tpp, area) >= 5.92
rule r on rental
  cite "x"
  deny
  when advanced(event.chip_count, event.hours)
)";
  expect_no_diagnostics(*run(good));

  const std::string bad = R"(import "events.edict"
def advanced(chip: string): bool = len(chip)
def ok(chip: string): bool = true
def p(x: int?, x: int): int = 1
rule r on rental
  cite "x"
  deny
  when ok(event.chip, 2) or ok(event.chip_count)
)";
  auto r = run(bad);
  expect_diag(*r, "E0307", bad, "len(chip)");
  expect_diag(*r, "E0208", bad, "ok(event.chip, 2)");
  CHECK(expect_diag(*r, "E0200", bad, "event.chip_count").message ==
        "argument `chip` of `ok` must be `string`, found `int`");
  expect_diag(*r, "E0218", bad, "int?");
  expect_diag(*r, "E0112", bad, "x: int)");
}

TEST_CASE("defs: direct and mutual recursion is rejected with the cycle named", "[check][def]") {
  const std::string src = R"(def countdown(n: int): int = if n <= 0 then 0 else countdown(n - 1)
def ping(n: int): bool = pong(n)
def pong(n: int): bool = pang(n)
def pang(n: int): bool = ping(n)
def fine(n: int): bool = ping(n)
)";
  auto r = run(src);
  CHECK(expect_diag(*r, "E0306", LineCol{1, 5}).message == "`countdown` calls itself");
  const auto& mutual = expect_diag(*r, "E0306", LineCol{2, 5});
  CHECK(mutual.message == "`ping` calls itself through `ping` -> `pong` -> `pang` -> `ping`");
  CHECK(mutual.labels.size() == 3);
  CHECK(r->count("E0306") == 2);  // one per cycle; `fine` only calls into it
}

// ---- types and expressions ---------------------------------------------------------

TEST_CASE("arithmetic types: int, number, time and duration", "[check][types]") {
  const std::string src = R"(const I = 2 + 3 * 4
const N = 2 * 1.5
const D = 7 / 2
const T = 2024-01-01T00:00:00Z + 1d
const T2 = 2024-01-01T00:00:00Z - 12h
const DT = 2024-01-02T00:00:00Z - 2024-01-01T00:00:00Z
const DD = 1d + 12h - 30m
const DI = 2d * 3
)";
  auto r = run(src);
  expect_no_diagnostics(*r);
  auto value = [&](const char* name) {
    for (const auto& d : r->program.modules[0]->decls)
      if (d->name == name) return r->checked.constant[static_cast<const ast::ConstDecl&>(*d).value->id];
    return Value{};
  };
  CHECK(value("I") == Value::make_int(14));
  CHECK(value("N") == Value::make_number(3.0));
  CHECK(value("D") == Value::make_number(3.5));
  CHECK(value("T").kind == TypeKind::Time);
  CHECK(value("T").i == *parse_rfc3339("2024-01-02T00:00:00Z"));
  CHECK(value("T2").i == *parse_rfc3339("2023-12-31T12:00:00Z"));
  CHECK(value("DT").kind == TypeKind::Duration);
  CHECK(value("DT").i == kMicrosPerDay);
  CHECK(value("DD").i == kMicrosPerDay + 11 * 3600 * kMicrosPerSecond + 1800 * kMicrosPerSecond);
  CHECK(value("DI").i == 6 * kMicrosPerDay);
}

TEST_CASE("operators reject operand types they do not apply to", "[check][types]") {
  const std::string src = R"(import "events.edict"
rule r on rental
  cite "x"
  deny
  when event.chip + 1 == "x"
    or event.time + 5 > event.time
    or 2024-01-01 + 1d > event.time
    or event.customer_hq < "US"
    or event.chip_count == "64"
    or not event.chip_count
    or -event.chip == "x"
    or event.chip / 2 > 1
)";
  auto r = run(src);
  expect_diag(*r, "E0203", src, "event.chip + 1");
  expect_diag(*r, "E0203", src, "event.time + 5");
  CHECK(expect_diag(*r, "E0203", src, "2024-01-01 + 1d").help.find("write a time") != std::string::npos);
  CHECK(expect_diag(*r, "E0204", src, "event.customer_hq < ").message == "`<` does not apply to `country`");
  CHECK(expect_diag(*r, "E0204", src, "event.chip_count == ").message ==
        "cannot compare `int` with `string`");
  expect_diag(*r, "E0200", src, "event.chip_count\n");
  expect_diag(*r, "E0203", src, "-event.chip");
  expect_diag(*r, "E0203", src, "event.chip / 2");
}

TEST_CASE("comparisons: widening, dates against times, strings ordered", "[check][types]") {
  const std::string src = R"(import "events.edict"
rule r on rental
  cite "x"
  deny
  when event.chip_count < event.hours
    and event.time >= 2023-11-17
    and event.chip >= "A"
    and event.customer_hq == "CN"
    and "MO" != event.parent_hq
)";
  auto r = run(src);
  expect_no_diagnostics(*r);
  // The literal compared with a country became a country.
  bool saw_country_literal = false;
  for (const auto& m : r->program.modules)
    for (const auto& d : m->decls)
      ast::for_each_expr(*d, [&](const ast::Expr& root) {
        ast::walk(root, [&](const ast::Expr& e) {
          if (e.kind == ast::ExprKind::String && e.text == "MO") {
            saw_country_literal = r->checked.type_of(e).kind == TypeKind::Country;
            CHECK(r->checked.constant[e.id].kind == TypeKind::Country);
          }
        });
      });
  CHECK(saw_country_literal);
}

TEST_CASE("country literals are validated with a suggestion", "[check][types]") {
  const std::string src = R"(import "events.edict"
set S: country = { "CHN", "cn", "XK", "Q1" }
rule r on rental
  cite "x"
  deny
  when event.customer_hq == "China"
)";
  auto r = run(src);
  const auto& chn = expect_diag(*r, "E0210", src, "\"CHN\"");
  CHECK(chn.message == "`CHN` is not an ISO 3166-1 alpha-2 country code");
  CHECK(chn.help == "did you mean `CN` (China)?");
  CHECK(expect_diag(*r, "E0210", src, "\"cn\"").help == "did you mean `CN` (China)?");
  CHECK(expect_diag(*r, "E0210", src, "\"XK\"").help.find("user-assigned") != std::string::npos);
  expect_diag(*r, "E0210", src, "\"Q1\"");
  CHECK(expect_diag(*r, "E0210", src, "\"China\"").help == "did you mean `CN` (China)?");
}

TEST_CASE("`in`: sets, tables and their element types", "[check][types]") {
  const std::string src = R"(import "events.edict"
set NAMES: string = { "a", "b" }
table chips: string -> { tpp: int } = { "H100": { tpp: 1 } }
rule r on rental
  cite "x"
  deny
  when event.customer_hq in NAMES
    or event.chip_count in chips
    or event.chip in event.chip
    or event.chip in chips
    or event.datacenter in { "SG", "MY" }
    or event.chip_count not in { 1, 2 }
)";
  auto r = run(src);
  CHECK(expect_diag(*r, "E0207", src, "event.customer_hq in").message ==
        "`event.customer_hq` is `country`, but `NAMES` holds `string`");
  CHECK(expect_diag(*r, "E0207", src, "event.chip_count in").message ==
        "`event.chip_count` is `int`, but the keys of `chips` are `string`");
  expect_diag(*r, "E0206", src, "event.chip\n");
  CHECK(r->sink.error_count() == 3);
}

TEST_CASE("`if` branches unify with widening; mismatches are reported", "[check][types]") {
  const std::string src = R"(import "events.edict"
def f(b: bool): number = if b then 1 else 2.5
def g(b: bool): int = if b then 1 else "x"
)";
  auto r = run(src);
  expect_diag(*r, "E0209", src, "if b then 1 else \"x\"");
  CHECK(r->sink.error_count() == 1);
  CHECK(type_of_first(*r, ast::ExprKind::If).kind == TypeKind::Number);
}

TEST_CASE("builtins: string functions and their signatures", "[check][types]") {
  const std::string src = R"(import "events.edict"
def a(s: string): bool = starts_with(s, "a") and ends_with(s, "b") and contains(lower(s), upper(s))
def b(s: string): int = len(s)
def c(s: string): int = len(1) + len(s, s)
)";
  auto r = run(src);
  CHECK(expect_diag(*r, "E0200", src, "1)").message == "argument 1 of `len` must be `string`, found `int`");
  expect_diag(*r, "E0208", src, "len(s, s)");
  CHECK(r->sink.error_count() == 2);
  CHECK(type_of_first(*r, ast::ExprKind::Call, "len").kind == TypeKind::Int);
}

// ---- optional values and guards ---------------------------------------------------

TEST_CASE("optional values need `otherwise` or a guard", "[check][optional]") {
  const std::string src = R"(import "events.edict"
table chips: string -> { tpp: int, note: string? } = { "H100": { tpp: 1 } }
rule r on rental
  cite "x"
  deny
  when event.license == "X-1"
    or chips[event.chip].tpp > 4800
)";
  auto r = run(src);
  const auto& lic = expect_diag(*r, "E0201", src, "event.license ==");
  CHECK(lic.message == "`event.license` may be absent");
  CHECK(lic.help == "write `event.license otherwise <default>`, or guard it with `event.license is present`");
  const auto& tpp = expect_diag(*r, "E0201", src, "chips[event.chip].tpp");
  CHECK(tpp.help ==
        "write `chips[event.chip].tpp otherwise <default>`, or guard it with `event.chip in chips`");
  CHECK(r->sink.error_count() == 2);
}

TEST_CASE("guards: and, or, not, if, when for the message, unless", "[check][optional]") {
  const std::string src = R"(import "events.edict"
table chips: string -> { tpp: int, note: string? } = { "H100": { tpp: 1 } }
def tpp(chip: string): int = if chip in chips then chips[chip].tpp else 0
def tpp2(chip: string): int = if chip not in chips then 0 else chips[chip].tpp
def noted(chip: string): bool = chip in chips and chips[chip].note is present and chips[chip].note == "x"
rule r on rental
  cite "x"
  deny "licence {event.license}"
  when event.license is present and starts_with(event.license, "D")
    and (event.license is absent or len(event.license) > 2)
    and not (event.license is absent or event.license == "")
    and (chips[event.chip].tpp otherwise 0) >= 4800
    and tpp(event.chip) > 0
  unless event.license == "D1"
)";
  expect_no_errors(*run(src));

  // A guard for one key does not cover another; `or` does not guard on its true side.
  const std::string bad = R"(import "events.edict"
table chips: string -> { tpp: int } = { "H100": { tpp: 1 } }
def f(a: string, b: string): int = if a in chips then chips[b].tpp else 0
rule r on rental
  cite "x"
  deny "licence {event.license}"
  when event.license is present or event.license == "x"
)";
  auto r = run(bad);
  expect_diag(*r, "E0201", bad, "chips[b].tpp");
  expect_diag(*r, "E0201", bad, "event.license == ");
  // The message is guarded only by what `when` proves; `or` proves nothing.
  expect_diag(*r, "E0201", bad, "event.license}");
}

TEST_CASE("`is present` and `otherwise` on a value that is never absent", "[check][optional]") {
  const std::string src = R"(import "events.edict"
rule r on rental
  cite "x"
  deny
  when event.chip is present and (event.chip_count otherwise 0) > 1
)";
  auto r = run(src);
  CHECK(expect_diag(*r, "E0202", src, "event.chip is").message == "`event.chip` is never absent");
  expect_diag(*r, "E0202", src, "event.chip_count otherwise");
}

TEST_CASE("multi-kind rules: fields missing from a kind are optional", "[check][optional]") {
  const std::string src = R"(import "events.edict"
rule r on any
  cite "x"
  deny "{event.chip}"
  when event.chip_count > 8 and (event.hours otherwise 0) > 1
  unless event.license is present
rule s on rental, provision
  cite "x"
  deny
  when event.hours > 1 or event.wattage > 1
)";
  auto r = run(src);
  expect_diag(*r, "E0201", src, "event.hours > 1");
  CHECK(expect_diag(*r, "E0103", src, "wattage").message ==
        "no event kind of this rule has a field `wattage`");
  CHECK(r->sink.error_count() == 2);
  CHECK(r->checked.rules[0].kinds == std::vector<int>{0, 1});

  const std::string conflict = R"(event a { time: time, size: int }
event b { time: time, size: string }
rule r on a, b
  cite "x"
  deny
  when event.size == 1
)";
  auto c = run(conflict);
  CHECK(expect_diag(*c, "E0221", conflict, "size ==").message ==
        "field `size` is `int` in `a` but `string` in `b`");
}

// ---- events ----------------------------------------------------------------------------

TEST_CASE("events: one time field, unique field names, known types", "[check][events]") {
  const std::string src = R"(event none { id: string }
event two { start: time, end: time }
event dup { time: time, id: string, id: int }
event opt { time: time? }
event good { time: time, size: int? }
)";
  auto r = run(src);
  expect_diag(*r, "E0301", src, "none");
  const auto& two = expect_diag(*r, "E0302", src, "end");
  REQUIRE(two.labels.size() == 1);
  expect_diag(*r, "E0300", src, "id", 3);
  expect_diag(*r, "E0303", src, "time?");
  CHECK(r->sink.error_count() == 4);
}

TEST_CASE("rules need an event schema", "[check][events]") {
  const std::string src = "rule r on rental\n  cite \"x\"\n  deny\n";
  auto r = run_files({{"main.edict", src}, {"events.edict", ""}});
  expect_diag(*r, "E0304", LineCol{1, 6});
  CHECK(r->sink.error_count() == 1);
}

// ---- consts --------------------------------------------------------------------------

TEST_CASE("consts fold; overflow, division by zero and non-constants are errors", "[check][const]") {
  const std::string src = R"(const BIG = 9_223_372_036_854_775_807
const OVER = BIG + 1
const ZERO = 0
const DIV = 10 / ZERO
const LATER = EARLY * 2
const EARLY = 21
const RATIO: number = 3
const WRONG: string = 3
const CALL = len("abc")
const SELF = SELF + 1
)";
  auto r = run(src);
  expect_diag(*r, "E0212", src, "BIG + 1");
  expect_diag(*r, "E0213", src, "ZERO\n");
  expect_diag(*r, "E0200", src, "3\nconst CALL");
  expect_diag(*r, "E0211", src, "len(\"abc\")");
  expect_diag(*r, "E0305", src, "SELF + 1");
  for (const auto& d : r->program.modules[0]->decls) {
    const auto& value = static_cast<const ast::ConstDecl&>(*d).value;
    if (d->name == "LATER") CHECK(r->checked.constant[value->id] == Value::make_int(42));
    if (d->name == "RATIO") CHECK(r->checked.type_of(*value).kind == TypeKind::Int);  // widened where used
  }
  CHECK(r->sink.error_count() == 5);
}

// ---- sets ---------------------------------------------------------------------------------

TEST_CASE("sets: element types, duplicates, union and difference", "[check][sets]") {
  const std::string src = R"(set D5: country = { "CN", "RU", "CN" }
set D5M: country = D5 + { "MO" }
set NO_CN: country = D5M - { "CN" }
set NUMS: number = { 1, 2.5 }
set BAD: int = { 1, "two" }
set NOT_CONST: string = { lower("x") }
)";
  auto r = run(src);
  const auto& dup = expect_diag(*r, "W0103", src, "\"CN\" }");
  REQUIRE(dup.labels.size() == 1);
  expect_diag(*r, "E0200", src, "\"two\"");
  expect_diag(*r, "E0211", src, "lower(\"x\")");
  CHECK(r->sink.error_count() == 2);
  auto members = [&](const char* name) {
    std::vector<std::string> out;
    for (const auto& s : r->checked.sets)
      if (s.decl && s.decl->name == name)
        for (const auto& v : s.members) out.push_back(value_to_source(v));
    return out;
  };
  CHECK(members("D5") == std::vector<std::string>{"\"CN\"", "\"RU\""});
  CHECK(members("D5M") == std::vector<std::string>{"\"CN\"", "\"RU\"", "\"MO\""});
  CHECK(members("NO_CN") == std::vector<std::string>{"\"RU\"", "\"MO\""});
  CHECK(members("NUMS") == std::vector<std::string>{"1.0", "2.5"});
}

TEST_CASE("set expressions in rules get a folded set", "[check][sets]") {
  const std::string src = R"(import "events.edict"
set D5: country = { "CN", "RU" }
rule r on rental
  cite "x"
  deny
  when event.customer_hq in D5 + { "MO" }
)";
  auto r = run(src);
  expect_no_diagnostics(*r);
  bool found = false;
  for (const auto& m : r->program.modules)
    for (const auto& d : m->decls)
      ast::for_each_expr(*d, [&](const ast::Expr& root) {
        ast::walk(root, [&](const ast::Expr& e) {
          if (e.kind == ast::ExprKind::Binary && e.op == ast::Op::Add) {
            int idx = r->checked.set_index[e.id];
            REQUIRE(idx >= 0);
            CHECK(r->checked.sets[idx].members.size() == 3);
            found = true;
          }
          if (e.kind == ast::ExprKind::SetLit) CHECK(r->checked.set_index[e.id] >= 0);
        });
      });
  CHECK(found);
}

// ---- tables -------------------------------------------------------------------------------

TEST_CASE("tables: rows checked against the row type, duplicate keys", "[check][tables]") {
  const std::string src = R"(table chips: string -> { tpp: int, area: number, note: string? } = {
  "H100": { tpp: 15832, area: 814 },
  "H20": { tpp: 2368, area: 814, note: "x" },
  "H100": { tpp: 1, area: 1 },
  "L4": { tpp: 1 },
  "T4": { tpp: 1, area: 1, aera: 2 },
  "B200": { tpp: "many", area: 1 },
}
)";
  auto r = run(src);
  const auto& dup = expect_diag(*r, "E0308", src, "\"H100\"", 2);
  REQUIRE(dup.labels.size() == 1);
  CHECK(expect_diag(*r, "E0309", src, "\"L4\"").message == "this row of `chips` is missing field `area`");
  CHECK(expect_diag(*r, "E0103", src, "aera").help == "did you mean `area`?");
  expect_diag(*r, "E0200", src, "\"many\"");
  CHECK(r->sink.error_count() == 4);
  REQUIRE(r->checked.tables.size() == 1);
  const auto& t = r->checked.tables[0];
  CHECK(t.key == TypeKind::String);
  REQUIRE(t.keys.size() == 6);
  CHECK(t.keys[0] == Value::make_string("H100"));
  CHECK(t.cells[0][0] == Value::make_int(15832));
  CHECK(t.cells[0][1] == Value::make_number(814));  // an int literal widened to the cell's number
  CHECK(t.cells[0][2].kind == TypeKind::Error);     // an absent optional cell
  CHECK(t.cells[1][2] == Value::make_string("x"));
  CHECK(r->checked.records[t.record].fields.size() == 3);
}

// ---- rules -----------------------------------------------------------------------------------

TEST_CASE("rules: dates, conditions, citations and warnings", "[check][rules]") {
  const std::string src = R"(import "events.edict"
rule backwards on rental
  effective 2025-01-01
  until 2024-01-01
  cite "x"
  deny
  when event.chip_count
rule always on rental
  cite "x"
  review
  when 1 < 2
rule uncited on rental
  effective "2024-01-01"
  report
  when event.chip == "x"
)";
  auto r = run(src);
  expect_diag(*r, "W0101", src, "2024-01-01\n");
  CHECK(expect_diag(*r, "E0200", src, "event.chip_count\n").message ==
        "`when` needs a condition (`bool`), found `int`");
  CHECK(expect_diag(*r, "W0102", src, "1 < 2").message == "this `when` condition is always true");
  expect_diag(*r, "W0104", src, "uncited");
  expect_diag(*r, "E0314", src, "\"2024-01-01\"");
  CHECK(r->sink.error_count() == 2);
}

TEST_CASE("rules: duplicate kinds and non-event kinds", "[check][rules]") {
  const std::string src = R"(import "events.edict"
const K = 1
rule r on rental, rental, K
  cite "x"
  deny
)";
  auto r = run(src);
  expect_diag(*r, "E0311", src, "rental", 2);
  expect_diag(*r, "E0111", src, "K\n");
}

TEST_CASE("policy metadata: status and one policy per file", "[check][rules]") {
  const std::string src = R"(policy "A" status in_forse
policy "B"
)";
  auto r = run(src);
  CHECK(expect_diag(*r, "E0319", src, "in_forse").help == "did you mean `in_force`?");
  expect_diag(*r, "E0318", src, "\"B\"");
  REQUIRE(r->checked.policies.size() == 1);
  CHECK(r->checked.policies[0].title == "A");

  auto ok = run("policy \"P\" version \"1\" status proposed\n");
  expect_no_diagnostics(*ok);
  CHECK(ok->checked.policies[0].status == "proposed");
}

TEST_CASE("declared outcomes replace the built-in effects", "[check][rules]") {
  const std::string src = R"(import "events.edict"
outcomes nlr < notify < deny_presumption
default notify
rule a on rental
  cite "x"
  deny_presumption
  when event.chip == "x"
rule b on rental
  cite "x"
  deny
  when event.chip == "y"
)";
  auto r = run(src);
  expect_diag(*r, "E0104", src, "deny\n");
  CHECK(r->sink.error_count() == 1);
  CHECK(r->checked.outcomes == std::vector<std::string>{"nlr", "notify", "deny_presumption"});
  CHECK(r->checked.default_outcome == 1);
  CHECK(r->checked.rules[0].effect == 2);

  const std::string bad = R"(outcomes a < b < a < error
outcomes c < d
default z
default a
)";
  auto b = run(bad);
  expect_diag(*b, "E0317", bad, "a <", 2);
  expect_diag(*b, "E0317", bad, "error");
  expect_diag(*b, "E0315", bad, "outcomes c");
  expect_diag(*b, "E0104", bad, "z\n");
  expect_diag(*b, "E0316", bad, "default a");
}

TEST_CASE("windowed aggregates: types, guards and placement", "[check][rules]") {
  const std::string src = R"(import "events.edict"
rule monthly on rental
  cite "x"
  review
  when (sum(event.chip_count * event.hours) over 30d by event.customer_hq where event.chip != "x") > 100
    or (count(event.chip) over 1d) > 3
    or (avg(event.chip) over 1d) > 3
    or (min(event.hours) over 1d) > 3
    or (max(event.hours) over 1d otherwise 0) > 3
    or (sum(event.license) over 1d) > 3
)";
  auto r = run(src);
  expect_diag(*r, "E0291", src, "event.chip) over 1d", 1);
  CHECK(expect_diag(*r, "E0200", src, "event.chip) over 1d", 2).message ==
        "`avg` needs numbers, found `string`");
  // An empty window has no minimum: the type is optional and needs a guard.
  expect_diag(*r, "E0201", src, "min(");
  CHECK(r->count("E0290") == 0);

  // The sum's type is its operand's (number here); `count` is an int.
  const std::string ok = R"(import "events.edict"
rule monthly on rental
  cite "x"
  review "{sum(event.chip_count * event.hours) over 30d} {count(distinct event.chip) over 1d by event.datacenter}"
  when (sum(event.chip_count * event.hours) over 30d) > 100
    and ((min(event.hours) over 1d) otherwise 0) < 3
    and (sum(event.chip_count) over 1d where event.license is present) > 1
    and (sum(event.hours) over 7d where event.license is present) > 1
)";
  auto good = run(ok);
  INFO(good->rendered);
  CHECK(good->diags.empty());

  const std::string bad = R"(import "events.edict"
def busy(n: int): bool = (count() over 1d) > n
rule monthly on rental
  cite "x"
  review
  when busy(1) or (sum(count() over 1d) over 30d) > 100
)";
  auto b = run(bad);
  CHECK(expect_diag(*b, "E0292", bad, "count() over 1d) > n").message ==
        "windowed aggregates are only available in rules");
  CHECK(expect_diag(*b, "E0292", bad, "count() over 1d) over").message ==
        "a windowed aggregate cannot contain another one");
}

// ---- examples and tests ---------------------------------------------------------------------

TEST_CASE("examples: every required field, of the right type", "[check][examples]") {
  const std::string src = R"(import "events.edict"
example full: provision = {
  id: "p-1", time: 2024-05-01T00:00:00Z, datacenter: "US", chip: "H100",
  chip_count: 8, peak_ops_per_s: 1
}
example partial: provision = { id: "p-2", time: 2024-05-01T00:00:00Z }
example wrong: provision = full with { chip_count: "8", datacenter: "USA", time: 2024-05-01, colour: 1 }
example mixed: rental = full with { id: "x" }
example nokind: rentel = { id: "x" }
)";
  auto r = run(src);
  CHECK(expect_diag(*r, "E0400", src, "partial").message ==
        "this `provision` event is missing fields `datacenter`, `chip`, `chip_count` and `peak_ops_per_s`");
  expect_diag(*r, "E0200", src, "\"8\"");
  CHECK(expect_diag(*r, "E0210", src, "\"USA\"").help == "did you mean `US` (United States)?");
  CHECK(expect_diag(*r, "E0200", src, "2024-05-01,").help == "write a time, like `2024-05-01T00:00:00Z`");
  expect_diag(*r, "E0103", src, "colour");
  expect_diag(*r, "E0402", src, "full with { id");
  CHECK(expect_diag(*r, "E0102", src, "rentel").help == "did you mean `rental`?");
  REQUIRE(r->checked.examples.size() == 5);
  const auto& full = r->checked.example_events[0];
  CHECK(full.record == r->checked.event_index("provision"));
  CHECK(full.fields[4] == Value::make_int(8));
  CHECK(full.fields[5] == Value::make_number(1));
  CHECK(full.fields[2].kind == TypeKind::Country);
}

TEST_CASE("tests: given, with, expect and by are checked", "[check][tests]") {
  const std::string src = R"(import "events.edict"
rule hq on rental
  cite "x"
  deny
  when event.customer_hq == "CN"
rule big on provision
  cite "x"
  report
  when event.chip_count > 1000
example cluster: provision = {
  id: "p-1", time: 2024-05-01T00:00:00Z, datacenter: "US", chip: "H100",
  chip_count: 8, peak_ops_per_s: 1
}
test "good" {
  given cluster with { chip_count: 2000 }
  expect report by only big
  given rental { id: "r", time: 2024-01-01T00:00:00Z, customer_hq: "CN", parent_hq: "CN",
                 datacenter: "SG", chip: "x", chip_count: 1, hours: 1, purpose: "x", entity_listed: false }
  expect deny by hq
}
test "bad" {
  given clustr
  expect deny
  given provision
  expect error
  given cluster with { licence: "x" }
  expect dney by hq, bgi
  given cluster
}
)";
  auto r = run(src);
  CHECK(expect_diag(*r, "E0106", src, "clustr").help == "did you mean `cluster`?");
  expect_diag(*r, "E0403", src, "provision\n  expect error");
  expect_diag(*r, "E0103", src, "licence");
  CHECK(expect_diag(*r, "E0104", src, "dney").help == "did you mean `deny`?");
  CHECK(expect_diag(*r, "E0404", src, "hq, bgi").message == "rule `hq` does not apply to `provision` events");
  CHECK(expect_diag(*r, "E0105", src, "bgi").help == "did you mean `big`?");
  expect_diag(*r, "W0105", src, "given cluster\n");
  CHECK(r->sink.error_count() == 6);
  REQUIRE(r->checked.tests.size() == 2);
  const auto& good = r->checked.tests[0];
  REQUIRE(good.steps.size() == 2);
  CHECK(good.steps[0].event.fields[4] == Value::make_int(2000));
  CHECK(good.steps[0].expects[0].decision == 1);  // report
  CHECK(good.steps[0].expects[0].only);
  CHECK(good.steps[0].expects[0].rules == std::vector<int>{1});
  CHECK(good.steps[1].event.record == r->checked.event_index("rental"));
  REQUIRE(good.steps[1].event.fields.size() == 11);
  CHECK(good.steps[1].event.fields[10].kind == TypeKind::Error);  // no licence
  CHECK(r->checked.tests[1].steps[1].expects[0].decision == -1);  // error
}

// ---- unused declarations ------------------------------------------------------------------

TEST_CASE("unused declarations are warned about in files with rules only", "[check][warnings]") {
  const std::string src = R"(import "events.edict"
import "lib.edict"
const UNUSED = 1
const USED = 2
def helper(x: int): bool = x > USED
rule r on rental
  cite "x"
  deny
  when helper(event.chip_count)
)";
  auto r = run_files({{"main.edict", src}, {"lib.edict", "const LIB_ONLY = 3\nset S: string = { \"a\" }\n"}});
  CHECK(expect_diag(*r, "W0100", src, "UNUSED").message == "constant `UNUSED` is never used");
  CHECK(r->count("W0100") == 1);
  CHECK(r->sink.error_count() == 0);

  // Examples are for tests: unused only when the program has tests that ignore them.
  const std::string ex = R"(import "events.edict"
rule r on provision
  cite "x"
  deny
  when event.chip_count > 1
example lonely: provision = {
  id: "p", time: 2024-05-01T00:00:00Z, datacenter: "US", chip: "H100", chip_count: 8, peak_ops_per_s: 1
}
)";
  CHECK(run(ex)->count("W0100") == 0);
  const std::string with_test = ex +
                                "test \"t\" {\n  given provision { id: \"p\", time: 2024-05-01T00:00:00Z, "
                                "datacenter: \"US\", chip: \"H\", chip_count: 8, peak_ops_per_s: 1 }\n"
                                "  expect allow\n}\n";
  auto t = run(with_test);
  CHECK(expect_diag(*t, "W0100", with_test, "lonely").message == "example `lonely` is never used");

  check::CheckOptions quiet;
  quiet.warn_unused = false;
  DiagnosticSink sink;
  check::check(r->program, r->sources, sink, quiet);
  CHECK(sink.warning_count() == 0);
}

// ---- whole programs ------------------------------------------------------------------------

TEST_CASE("every error of a program is reported in one run", "[check]") {
  const std::string src = R"(import "events.edict"
set D5: country = { "CN", "CHN", "RU" }
rule a on rental
  effective 2023-02-28
  deny
  when event.custmer_hq in D5
rule b on rental
  deny
  when event.parent_hq in D6
rule c on rental
  review
  when event.chip_count == "64"
rule d on rental
  review
  when event.license == "X-1"
rule e on rental
  dney
  when event.chip_count > 1000
rule f on rentel
  review
  when event.chip_count > 1
rule a on rental
  review
  when event.chip_count > 2
rule g on rental
  review
  when startswith(event.chip, "H")
)";
  auto r = run(src);
  INFO(r->rendered);
  for (const char* code : {"E0210", "E0103", "E0100", "E0204", "E0201", "E0104", "E0102", "E0109", "E0101"})
    CHECK(r->count(code) == 1);
  CHECK(r->sink.error_count() == 9);
}

TEST_CASE("the reference workload policy checks clean", "[check][reference]") {
  SourceManager sources;
  DiagnosticSink sink;
  ast::Program program =
      parse::load_program({std::string(EDICT_SOURCE_DIR) + "/policies/reference.edict"}, sources, sink);
  check::CheckedProgram c = check::check(program, sources, sink);
  std::string rendered;
  for (const auto& d : sink.sorted()) rendered += render_human(sources, d) + "\n";
  INFO(rendered);
  REQUIRE(sink.all().empty());
  CHECK(c.rules.size() == 9);
  CHECK(c.events.size() == 2);
  REQUIRE(c.tables.size() == 1);
  CHECK(c.tables[0].keys.size() == 14);
  CHECK(c.policies.size() == 1);
  CHECK(c.policies[0].status == "hypothetical");
  for (const auto& rule : c.rules) CHECK(rule.policy == 0);
  CHECK(c.tests.size() >= 9);
  for (const auto& s : c.sets)
    if (s.decl && s.decl->name == "D5M") CHECK(s.members.size() == 23);
}

// ---- hostile input ---------------------------------------------------------------------------

TEST_CASE("long dependency chains neither crash nor recurse without bound", "[check][limits]") {
  // 2000 constants, each naming the next: forward references all the way down.
  std::string consts;
  for (int i = 0; i < 2000; ++i)
    consts += "const C" + std::to_string(i) + " = C" + std::to_string(i + 1) + " + 1\n";
  consts += "const C2000 = 0\n";
  auto r = run(consts);
  CHECK(r->count("E0305") >= 1);

  // 5000 defs calling the next, and the last calling the first: one cycle.
  std::string defs;
  for (int i = 0; i < 5000; ++i)
    defs += "def f" + std::to_string(i) + "(x: int): int = f" + std::to_string((i + 1) % 5000) + "(x)\n";
  auto d = run(defs);
  CHECK(d->count("E0306") == 1);
}

TEST_CASE("large tables and sets and many errors stay fast", "[check][limits]") {
  // 10000 rows and members: duplicate detection must not be quadratic.
  std::string src = "table big: int -> { v: int } = {\n";
  for (int i = 0; i < 10000; ++i) src += "  " + std::to_string(i) + ": { v: " + std::to_string(i) + " },\n";
  src += "  7: { v: 0 },\n}\nset S: int = {";
  for (int i = 0; i < 10000; ++i) src += std::to_string(i) + ", ";
  src += "7 }\n";
  auto r = run(src);
  CHECK(r->count("E0308") == 1);
  CHECK(r->count("W0103") == 1);
  REQUIRE(r->checked.tables.size() == 1);
  CHECK(r->checked.tables[0].keys.size() == 10001);

  // 5000 unknown names among 5000 declared ones: suggestions stop at the error cap.
  std::string names;
  for (int i = 0; i < 5000; ++i) names += "const K" + std::to_string(i) + " = Q" + std::to_string(i) + "\n";
  auto e = run(names);
  CHECK(e->sink.error_count() == 5000);
}

// ---- constant folding and the shared evaluator (compiler/check/arith.h) -----------

namespace {

// `const C = EXPR`: the folded value of C, or the code of the one diagnostic.
struct Folded {
  Value value;
  std::string code;
};
Folded fold(const std::string& expr) {
  auto r = run("const C = " + expr + "\n");
  INFO(expr << "\n" << r->rendered);
  if (!r->diags.empty()) {
    CHECK(r->diags.size() == 1);
    return {Value{}, r->diags[0].code};
  }
  for (const auto& d : r->program.modules[0]->decls)
    if (d->name == "C") return {r->checked.constant[static_cast<const ast::ConstDecl&>(*d).value->id], ""};
  FAIL("no C");
  return {};
}

// The diagnostic the checker gives a constant expression that faults.
std::string code_of(FaultReason f) {
  switch (f) {
    case FaultReason::IntOverflow: return "E0212";
    case FaultReason::NonFinite: return "E0220";
    case FaultReason::DivisionByZero: return "E0213";
    default: return "?";
  }
}

std::string int_source(int64_t v) {
  if (v == std::numeric_limits<int64_t>::min()) return "(-9223372036854775807 - 1)";
  return "(" + std::to_string(v) + ")";
}

}  // namespace

TEST_CASE("constant folding and the engines share one evaluator and its faults", "[check]") {
  const int64_t kMax = std::numeric_limits<int64_t>::max(), kMin = std::numeric_limits<int64_t>::min();
  const int64_t ints[] = {0, 1, -1, 7, -3, 3037000500, kMax, kMin};
  struct IntOp {
    const char* spelling;
    arith::Checked<uint64_t> (*eval)(Pred, uint64_t, uint64_t);
  };
  const IntOp int_ops[] = {{"+", ir::evaluate<ir::Op::IAdd>},
                           {"-", ir::evaluate<ir::Op::ISub>},
                           {"*", ir::evaluate<ir::Op::IMul>}};
  for (int64_t a : ints)
    for (int64_t b : ints)
      for (const IntOp& op : int_ops) {
        const std::string expr = int_source(a) + " " + op.spelling + " " + int_source(b);
        CAPTURE(expr);
        auto want = op.eval(Pred::Eq, static_cast<uint64_t>(a), static_cast<uint64_t>(b));
        Folded got = fold(expr);
        if (want.ok())
          CHECK(got.value == Value::make_int(static_cast<int64_t>(want.value)));
        else
          CHECK(got.code == code_of(want.fault));
      }
  for (int64_t a : ints) {
    CAPTURE(a);
    auto want = ir::evaluate<ir::Op::INeg>(Pred::Eq, static_cast<uint64_t>(a), 0);
    Folded got = fold("-" + int_source(a));
    if (want.ok())
      CHECK(got.value == Value::make_int(static_cast<int64_t>(want.value)));
    else
      CHECK(got.code == code_of(want.fault));
  }

  // Numbers, and ints divided (`/` widens both sides as itof does).
  const double nums[] = {0.0, -0.0, 1.5, -2.25, 0.1, 1e308, -1e308, 4.9e-324};
  const IntOp num_ops[] = {{"+", ir::evaluate<ir::Op::FAdd>},
                           {"-", ir::evaluate<ir::Op::FSub>},
                           {"*", ir::evaluate<ir::Op::FMul>},
                           {"/", ir::evaluate<ir::Op::FDiv>}};
  auto bits = [](double d) { return std::bit_cast<uint64_t>(d); };
  for (double a : nums)
    for (double b : nums)
      for (const IntOp& op : num_ops) {
        const std::string expr = "(" + value_to_source(Value::make_number(a)) + ") " + op.spelling + " (" +
                                 value_to_source(Value::make_number(b)) + ")";
        CAPTURE(expr);
        auto want = op.eval(Pred::Eq, bits(a), bits(b));
        Folded got = fold(expr);
        if (want.ok()) {
          CHECK(got.value.kind == TypeKind::Number);
          CHECK(bits(got.value.n) == want.value);  // bit for bit: -0.0 stays -0.0
        } else {
          CHECK(got.code == code_of(want.fault));
        }
      }
  for (int64_t a : ints)
    for (int64_t b : ints) {
      const std::string expr = int_source(a) + " / " + int_source(b);
      CAPTURE(expr);
      auto wide = [](int64_t v) {
        return ir::evaluate<ir::Op::IToF>(Pred::Eq, static_cast<uint64_t>(v), 0).value;
      };
      auto want = ir::evaluate<ir::Op::FDiv>(Pred::Eq, wide(a), wide(b));
      Folded got = fold(expr);
      if (want.ok())
        CHECK(bits(got.value.n) == want.value);
      else
        CHECK(got.code == code_of(want.fault));
    }

  // Durations are int64 micros: their overflow is the same fault.
  CHECK(fold("1d * 9223372036854775807").code == "E0212");
  CHECK(fold("2024-01-01T00:00:00Z - 2024-01-02T00:00:00Z").value.i == -86'400'000'000);
}

TEST_CASE("values spell as Edict source and as message text", "[check]") {
  const int64_t day = parse_date("2024-03-14").value();
  const Value country{TypeKind::Country, *country_index("FR"), 0, "FR"};
  const Value date{TypeKind::Date, day, 0, {}};
  const Value time{TypeKind::Time, day + 9 * 3'600'000'000LL, 0, {}};
  const Value duration{TypeKind::Duration, 36 * 3'600'000'000LL, 0, {}};
  // Source: strings quoted and escaped, numbers that lex as numbers.
  CHECK(value_to_source(Value::make_string("a \"b\"\n")) == "\"a \\\"b\\\"\\n\"");
  CHECK(value_to_source(Value::make_number(814)) == "814.0");
  CHECK(value_to_source(country) == "\"FR\"");
  // Message text: strings bare, numbers shortest, no forced `.0`.
  CHECK(value_to_text(Value::make_string("a \"b\"\n")) == "a \"b\"\n");
  CHECK(value_to_text(Value::make_number(814)) == "814");
  CHECK(value_to_text(Value::make_number(0.5)) == "0.5");
  CHECK(value_to_text(Value::make_int(-7)) == "-7");
  CHECK(value_to_text(Value::make_bool(true)) == "true");
  CHECK(value_to_text(country) == "FR");
  CHECK(value_to_text(date) == "2024-03-14");
  CHECK(value_to_text(time) == "2024-03-14T09:00:00Z");
  CHECK(value_to_text(duration) == "1d12h");
  CHECK(value_to_text(Value{}) == "<error>");
}
