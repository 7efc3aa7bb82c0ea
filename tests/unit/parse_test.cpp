// Unit tests for the parser stage: every construct of the grammar into the
// expected AST (compared as dumps), literals and messages, literate files,
// every input limit, hostile input, error wording and positions, imports.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "compiler/ast/ast.h"
#include "compiler/parse/parse.h"
#include "support/diagnostics.h"
#include "support/source.h"
#include "support/text.h"

using namespace edict;

namespace {

struct Parsed {
  explicit Parsed(size_t max_errors) : sink(max_errors) {}
  SourceManager sm;
  ast::Program program;
  DiagnosticSink sink;
  std::unique_ptr<ast::Module> module;

  std::string dump() const { return ast::dump(*module, sm); }
  std::vector<Diagnostic> diags() const { return sink.sorted(); }
  // "E0001 1:9" for every diagnostic, in position order.
  std::vector<std::string> codes() const {
    std::vector<std::string> out;
    for (const Diagnostic& d : sink.sorted()) {
      LineCol lc = d.span.valid() ? sm.line_col(d.span.file, d.span.begin) : LineCol{};
      out.push_back(d.code + " " + std::to_string(lc.line) + ":" + std::to_string(lc.column));
    }
    return out;
  }
  std::string first_message() const { return sink.sorted().empty() ? "" : sink.sorted()[0].message; }
};

std::unique_ptr<Parsed> parse_text(const std::string& text, const std::string& path = "test.edict",
                                   const parse::Limits& limits = {}, size_t max_errors = 100) {
  auto p = std::make_unique<Parsed>(max_errors);
  FileId f = p->sm.add(path, text);
  p->module = parse::parse_module(p->sm, f, p->program, p->sink, limits);
  return p;
}

// The dump of `const x = <source>`'s value; fails the test on diagnostics.
std::string expr_dump(const std::string& source) {
  auto p = parse_text("const x = " + source);
  INFO(source);
  INFO(render_human(p->sm, p->diags()));
  CHECK(p->sink.error_count() == 0);
  REQUIRE(p->module->decls.size() == 1);
  return ast::dump(*static_cast<const ast::ConstDecl&>(*p->module->decls[0]).value);
}

template <typename D>
const D& decl(const Parsed& p, size_t i) {
  REQUIRE(p.module->decls.size() > i);
  return static_cast<const D&>(*p.module->decls[i]);
}

std::vector<std::string> all_codes(const Parsed& p) {
  std::vector<std::string> out;
  for (const Diagnostic& d : p.sink.all()) out.push_back(d.code);
  return out;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

// ---- expressions ---------------------------------------------------------------

TEST_CASE("operators bind as documented, left-associative", "[parse]") {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"1 + 2 * 3", "(+ 1 (* 2 3))"},
      {"a - b - c", "(- (- a b) c)"},
      {"a / b * c", "(* (/ a b) c)"},
      {"-a.b", "(- (. a b))"},
      {"-a * b", "(* (- a) b)"},
      {"- - a", "(- (- a))"},
      {"not a and b", "(and (not a) b)"},
      {"not a == b", "(not (== a b))"},
      {"not not a", "(not (not a))"},
      {"a or b and c", "(or a (and b c))"},
      {"a and b or c and d", "(or (and a b) (and c d))"},
      {"a == b != c", "(!= (== a b) c)"},
      {"a < b and c <= d and e > f and g >= h", "(and (and (and (< a b) (<= c d)) (> e f)) (>= g h))"},
      // `otherwise` binds tighter than arithmetic and comparison.
      {"chips[c].tpp otherwise 0 >= 4_800", "(>= (otherwise (. (index chips c) tpp) 0) 4800)"},
      {"a otherwise b + c", "(+ (otherwise a b) c)"},
      {"a + b in s", "(in (+ a b) s)"},
      {"x not in s and y in t", "(and (not-in x s) (in y t))"},
      {"event.license is present", "(is-present (. event license))"},
      {"event.license is absent or x", "(or (is-absent (. event license)) x)"},
      {"if a then b else c + 1", "(if a b (+ c 1))"},
      {"if a then if b then 1 else 2 else 3", "(if a (if b 1 2) 3)"},
      {"1 + if a then 2 else 3", "(+ 1 (if a 2 3))"},
      {"(a + b) * c", "(* (+ a b) c)"},
      {"((a))", "a"},
      {"t[k][j]", "(index (index t k) j)"},
      {"a.b.c", "(. (. a b) c)"},
      // Keywords are valid field names.
      {"event.source", "(. event source)"},
      {"event.status == \"x\"", "(== (. event status) \"x\")"},
      {"event.time + 30d > event.end", "(> (+ (. event time) 30d) (. event end))"},
  };
  for (const auto& [source, expected] : cases) CHECK(expr_dump(source) == expected);
}

TEST_CASE("the LL fallback after a syntax error builds the same trees as the SLL stage", "[parse]") {
  // The parser runs fast SLL prediction first and reparses in LL mode (with
  // error recovery) only when that fails; both must agree on valid code.
  const std::string source =
      "const a = 1 + 2 * 3 - -4 / f(x, y)\n"
      "const b = not a == b and c or d in s and e not in t\n"
      "const c = if a then b otherwise c + 1 else t[k].f is present\n"
      "const d = sum(event.x) over 30d by event.k > 1 and {a: {1, 2}, b: -x.y}.a == 2\n"
      "rule r on rental, provision effective 2024-01-01 deny \"{a + b}\" when a unless not b\n"
      "test \"t\" { given x with { a: 1 } expect deny by only r given rental { a: 2 } }\n";
  auto clean = parse_text(source);
  REQUIRE(clean->sink.error_count() == 0);
  auto broken = parse_text(source + "const = 1\n");
  CHECK(broken->codes() == std::vector<std::string>{"E0001 7:7"});
  REQUIRE(broken->module->decls.size() == clean->module->decls.size() + 1);
  CHECK(broken->module->decls.back()->name.empty());  // the damaged `const`
  broken->module->decls.pop_back();
  CHECK(broken->dump() == clean->dump());
}

TEST_CASE("calls, aggregates, set and record literals", "[parse]") {
  CHECK(expr_dump("f()") == "(call f)");
  CHECK(expr_dump("starts_with(event.chip, \"H1\")") == "(call starts_with (. event chip) \"H1\")");
  CHECK(expr_dump("sum(event.chip_count * event.hours) over 30d by event.customer_id where event.x > 1") ==
        "(aggregate sum (arg (* (. event chip_count) (. event hours))) (over 30d) (by (. event customer_id)) "
        "(where (> (. event x) 1)))");
  CHECK(expr_dump("count(distinct event.chip) over 1h") ==
        "(aggregate count distinct (arg (. event chip)) (over 1h))");
  CHECK(expr_dump("count() over 7d > 3") == "(> (aggregate count (over 7d)) 3)");
  // The brief's windowed rule: the comparison applies to the aggregate.
  CHECK(expr_dump("sum(event.chip_count * event.hours) over 30d by event.customer_id > 100_000") ==
        "(> (aggregate sum (arg (* (. event chip_count) (. event hours))) (over 30d) (by (. event "
        "customer_id))) "
        "100000)");
  CHECK(expr_dump("max(x) over (window + 1d) by t[event.k].owner where a or b") ==
        "(aggregate max (arg x) (over (+ window 1d)) (by (. (index t (. event k)) owner)) (where (or a b)))");
  CHECK(expr_dump("{1, 2, 3,}") == "(set 1 2 3)");
  CHECK(expr_dump("{}") == "(set)");
  CHECK(expr_dump("D5 + {\"MO\"} - {\"CN\"}") == "(- (+ D5 (set \"MO\")) (set \"CN\"))");
  CHECK(expr_dump("{ tpp: 15_832, die_area: 814, status: \"x\" }") ==
        "(record (tpp 15832) (die_area 814) (status \"x\"))");
  CHECK(expr_dump("{ a: { b: {1} } }") == "(record (a (record (b (set 1)))))");
}

TEST_CASE("literals decode to their values", "[parse]") {
  CHECK(expr_dump("4_800") == "4800");
  CHECK(expr_dump("9223372036854775807") == "9223372036854775807");
  CHECK(expr_dump("-9223372036854775808") == "-9223372036854775808");
  CHECK(expr_dump("-5") == "(- 5)");
  CHECK(expr_dump("1e26") == "1e+26");
  CHECK(expr_dump("5.92") == "5.92");
  CHECK(expr_dump("814.0") == "814.0");
  CHECK(expr_dump("1_000.5e-3") == "1.0005");
  CHECK(expr_dump("true") == "true");
  CHECK(expr_dump("false") == "false");
  CHECK(expr_dump("event") == "event");
  CHECK(expr_dump("\"a\\\"b\\\\c\\n\\t\\r\\{\\}\"") == "\"a\\\"b\\\\c\\n\\t\\r{}\"");
  CHECK(expr_dump("\"\\u{e9}\\u{1F600}\"") == "\"\xC3\xA9\xF0\x9F\x98\x80\"");
  CHECK(expr_dump("\"caf\xC3\xA9 {x}\"") == "\"caf\xC3\xA9 {x}\"");  // braces are plain text outside messages
  CHECK(expr_dump("2023-11-17") == "2023-11-17");
  CHECK(expr_dump("2024-03-01T00:00:00Z") == "2024-03-01T00:00:00Z");
  CHECK(expr_dump("2024-03-01T09:12:00.5+08:00") == "2024-03-01T01:12:00.5Z");
  CHECK(expr_dump("30d") == "30d");
  CHECK(expr_dump("36h") == "1d12h");

  auto p = parse_text("const x = 2023-11-17\nconst y = 2024-03-01T09:12:00+08:00\nconst z = 1d12h");
  REQUIRE(p->sink.error_count() == 0);
  const ast::Expr& date = *decl<ast::ConstDecl>(*p, 0).value;
  CHECK(date.kind == ast::ExprKind::Date);
  CHECK(date.text == "2023-11-17");
  CHECK(date.int_value == 1700179200LL * 1000000);
  const ast::Expr& time = *decl<ast::ConstDecl>(*p, 1).value;
  CHECK(time.kind == ast::ExprKind::Time);
  CHECK(time.text == "2024-03-01T09:12:00+08:00");
  CHECK(time.int_value == 1709255520LL * 1000000);
  CHECK(decl<ast::ConstDecl>(*p, 2).value->int_value == 36LL * 3600 * 1000000);
}

TEST_CASE("literal errors: range, calendar, escapes", "[parse]") {
  auto p = parse_text(
      "const a = 9223372036854775808\nconst b = 1e400\nconst c = 2023-02-30\n"
      "const d = 2024-13-01T00:00:00Z\nconst e = 999999999999999999d\nconst f = \"a\\qb\"\n"
      "const g = \"\\u{D800}\"\nconst h = \"\\u{110000}\"\nconst i = \"\\u{}\"\nconst j = "
      "-9223372036854775809");
  CHECK(p->codes() == std::vector<std::string>{"E0010 1:11", "E0013 2:11", "E0011 3:11", "E0011 4:11",
                                               "E0012 5:11", "E0008 6:13", "E0008 7:12", "E0008 8:12",
                                               "E0008 9:12", "E0010 10:12"});
  std::vector<Diagnostic> ds = p->diags();
  CHECK(ds[0].message == "integer literal `9223372036854775808` is out of range");
  CHECK(ds[2].message == "invalid date `2023-02-30`: day 30 is out of range for 2023-02 (1-28)");
  CHECK(ds[3].message.rfind("invalid time `2024-13-01T00:00:00Z`: ", 0) == 0);
  CHECK(ds[5].message == "invalid escape `\\q`");
  // The bad literals become error nodes, which the checker does not report again.
  CHECK(decl<ast::ConstDecl>(*p, 0).value->kind == ast::ExprKind::Error);
}

TEST_CASE("parentheses are recorded for the formatter but add no node", "[parse]") {
  auto p = parse_text("const x = (a + b) * c");
  const ast::Expr& mul = *decl<ast::ConstDecl>(*p, 0).value;
  CHECK_FALSE(mul.parenthesized);
  CHECK(mul.children[0]->parenthesized);
  CHECK(p->sm.text(mul.children[0]->span) == "a + b");
  CHECK(p->sm.text(mul.span) == "(a + b) * c");
}

TEST_CASE("spans are byte offsets, also after multi-byte characters", "[parse]") {
  auto p = parse_text("const s = \"\xC3\xA9\xE2\x82\xAC\" + event.chip_count\nconst t = 1 +");
  const ast::Expr& add = *decl<ast::ConstDecl>(*p, 0).value;
  CHECK(p->sm.text(add.children[0]->span) == "\"\xC3\xA9\xE2\x82\xAC\"");
  const ast::Expr& field = *add.children[1];
  CHECK(p->sm.text(field.span) == "event.chip_count");
  CHECK(p->sm.text(field.name_span) == "chip_count");
  CHECK(p->codes() == std::vector<std::string>{"E0001 2:14"});
  CHECK(p->first_message() == "expected an expression, found end of file");
}

TEST_CASE("node ids are dense and unique across the program", "[parse]") {
  auto p = parse_text("const x = 1 + 2\nconst y = f(x)");
  std::vector<bool> seen(p->program.next_id, false);
  for (const auto& d : p->module->decls) {
    REQUIRE(d->id < p->program.next_id);
    CHECK_FALSE(seen[d->id]);
    seen[d->id] = true;
    ast::for_each_expr(*d, [&](const ast::Expr& root) {
      ast::walk(root, [&](const ast::Expr& e) {
        REQUIRE(e.id < p->program.next_id);
        CHECK_FALSE(seen[e.id]);
        seen[e.id] = true;
      });
    });
  }
  CHECK(std::count(seen.begin(), seen.end(), true) == int(p->program.next_id));
}

// ---- declarations ------------------------------------------------------------

TEST_CASE("every declaration kind builds the expected AST", "[parse]") {
  const std::string source = R"(
policy "Export screening" version "2.1" source "15 CFR 744" status in_force
import "common/events.edict"
outcomes nlr < notify < license_required
default nlr
event rental { id: string, time: time, license: string?, tags: set<string>, owner: { hq: country }?, }
event empty {}
const threshold: int = 4_800
const limit = threshold * 2
set D5: country = { "CN", "RU" }
set D5M: country = D5 + { "MO" }
table chips: string -> { tpp: int, die_area: number } = {
  "H100": { tpp: 15_832, die_area: 814 },
  "T4": { tpp: 1_040, die_area: 545 },
}
table none: string -> { a: int } = {}
def advanced(chip: string, s: set<country>): bool = chip in chips and chips[chip].tpp >= threshold
def always(): bool = true
rule hq on rental, provision
  effective 2023-11-17
  until 2025-01-01T00:00:00Z
  cite "744.23"
  license_required "{event.chip} for {event.customer_hq}"
  when advanced(event.chip)
  unless event.license is present
rule everywhere on any
  notify
example base: rental = { id: "t-1", time: 2024-03-01T00:00:00Z }
example other: rental = base with { id: "t-2" }
test "steps" {
  given base
  expect license_required by hq
  given base with { time: 2023-01-01T00:00:00Z }
  expect nlr
  given rental { id: "t-3" }
  expect license_required by only hq, everywhere
  expect notify by everywhere
}
test "empty" {}
)";
  auto p = parse_text(source);
  INFO(render_human(p->sm, p->diags()));
  REQUIRE(p->sink.error_count() == 0);
  const std::string expected = R"((module
  (policy "Export screening" (version "2.1") (source "15 CFR 744") (status in_force))
  (import "common/events.edict")
  (outcomes nlr notify license_required)
  (default nlr)
  (event rental
    (id string)
    (time time)
    (license string?)
    (tags set<string>)
    (owner {hq: country}?))
  (event empty)
  (const threshold int
    4800)
  (const limit
    (* threshold 2))
  (set D5 country
    (set "CN" "RU"))
  (set D5M country
    (+ D5 (set "MO")))
  (table chips string -> {tpp: int, die_area: number}
    (row "H100" (record (tpp 15832) (die_area 814)))
    (row "T4" (record (tpp 1040) (die_area 545))))
  (table none string -> {a: int})
  (def advanced ((chip string) (s set<country>)) bool
    (and (in chip chips) (>= (. (index chips chip) tpp) threshold)))
  (def always () bool
    true)
  (rule hq (on rental provision)
    (effective 2023-11-17)
    (until 2025-01-01T00:00:00Z)
    (cite "744.23")
    (license_required (message (. event chip) " for " (. event customer_hq)))
    (when (call advanced (. event chip)))
    (unless (is-present (. event license))))
  (rule everywhere (on any)
    (notify))
  (example base rental
    (record (id "t-1") (time 2024-03-01T00:00:00Z)))
  (example other rental (with base)
    (record (id "t-2")))
  (test "steps"
    (given base)
    (expect license_required (by hq))
    (given base (record (time 2023-01-01T00:00:00Z)))
    (expect nlr)
    (given (event rental) (record (id "t-3")))
    (expect license_required (by only hq everywhere))
    (expect notify (by everywhere)))
  (test "empty")
)
)";
  CHECK(p->dump() == expected);

  // Fields the dump does not show.
  const auto& policy = decl<ast::PolicyDecl>(*p, 0);
  CHECK(p->sm.text(policy.name_span) == "\"Export screening\"");
  CHECK(p->sm.text(policy.status_span) == "in_force");
  CHECK(p->sm.text(policy.span).rfind("policy \"Export screening\"", 0) == 0);
  const auto& rule = decl<ast::RuleDecl>(*p, 14);
  CHECK(rule.name == "hq");
  CHECK(p->sm.text(rule.name_span) == "hq");
  CHECK(p->sm.text(rule.cite_span) == "\"744.23\"");
  CHECK(p->sm.text(rule.effect.span) == "license_required");
  CHECK(rule.kinds.size() == 2);
  using C = ast::RuleDecl::Clause;
  REQUIRE(rule.clauses.size() == 6);
  CHECK(rule.clauses[0].kind == C::Effective);
  CHECK(rule.clauses[3].kind == C::Effect);
  CHECK(rule.clauses[5].kind == C::Unless);
  CHECK(p->sm.text(rule.clauses[5].span) == "unless event.license is present");
  const auto& everywhere = decl<ast::RuleDecl>(*p, 15);
  CHECK(everywhere.on_any);
  CHECK(everywhere.kinds.empty());
  CHECK(everywhere.message == nullptr);
  CHECK(everywhere.when == nullptr);
  const auto& rental = decl<ast::EventDecl>(*p, 4);
  CHECK(p->sm.text(rental.fields[2].span) == "license: string?");
  CHECK(rental.fields[2].type.optional);
  CHECK(rental.fields[3].type.name == "set");
  REQUIRE(rental.fields[3].type.args.size() == 1);
  CHECK(rental.fields[4].type.is_record());
  const auto& chips = decl<ast::TableDecl>(*p, 10);
  CHECK(p->sm.text(chips.rows[1].span) == "\"T4\": { tpp: 1_040, die_area: 545 }");
  const auto& test = decl<ast::TestDecl>(*p, 18);
  REQUIRE(test.steps.size() == 3);
  CHECK(test.steps[0].example.name == "base");
  CHECK(test.steps[0].overrides == nullptr);
  CHECK(test.steps[2].inline_kind.name == "rental");
  CHECK(test.steps[2].example.name.empty());
  CHECK(test.steps[2].expects[0].only);
  CHECK(p->sm.text(test.steps[2].span) ==
        "given rental { id: \"t-3\" }\n  expect license_required by only hq, everywhere\n"
        "  expect notify by everywhere");
  const auto& other = decl<ast::ExampleDecl>(*p, 17);
  CHECK(other.base.name == "base");
  CHECK(other.event_kind.name == "rental");
}

TEST_CASE("duplicate clauses and a missing effect are reported once, precisely", "[parse]") {
  auto p = parse_text(
      "rule r on rental\n  when a\n  deny \"x\"\n  when b\n  review\n  cite \"1\"\n  cite \"2\"\n"
      "rule quiet on rental\n  when a\n"
      "policy \"p\" version \"1\" version \"2\"");
  CHECK(p->codes() ==
        std::vector<std::string>{"E0014 4:3", "E0014 5:3", "E0014 7:3", "E0015 8:6", "E0014 10:24"});
  std::vector<Diagnostic> ds = p->diags();
  CHECK(ds[0].message == "duplicate `when` in rule `r`");
  CHECK(ds[0].help == "combine the conditions with `and`");
  REQUIRE(ds[0].labels.size() == 1);
  CHECK(p->sm.text(ds[0].labels[0].span) == "when a");
  CHECK(ds[1].message == "duplicate effect in rule `r`");
  CHECK(ds[3].message == "rule `quiet` has no effect");
  CHECK(ds[4].message == "duplicate `version`");
  // The first clause of each kind wins.
  const auto& r = decl<ast::RuleDecl>(*p, 0);
  CHECK(r.effect.name == "deny");
  CHECK(ast::dump(*r.when) == "a");
  CHECK(r.cite == "1");
  CHECK(decl<ast::PolicyDecl>(*p, 2).version == "1");
}

TEST_CASE("a syntax error in a rule is not echoed as a missing effect", "[parse]") {
  // `deny` reads as an operand of `and`, so the message string is what breaks.
  auto p = parse_text("rule r on rental\n  when a and\n  deny \"x\"\nconst y = 1");
  CHECK(p->codes() == std::vector<std::string>{"E0001 3:8"});
  CHECK(p->first_message() == "expected a declaration, found `\"x\"`");
  CHECK(p->module->decls.size() == 2);  // recovery resumes at `const`
}

// ---- messages --------------------------------------------------------------------

TEST_CASE("rule messages are interpolations with spans into the file", "[parse]") {
  auto p =
      parse_text("rule r on rental deny \"{event.chip_count} x {event.chip}: \\{literal\\} {f({1, 2})}\"");
  REQUIRE(p->sink.error_count() == 0);
  const ast::Expr& m = *decl<ast::RuleDecl>(*p, 0).message;
  CHECK(m.kind == ast::ExprKind::Interpolation);
  CHECK(ast::dump(m) ==
        "(message (. event chip_count) \" x \" (. event chip) \": {literal} \" (call f (set 1 2)))");
  REQUIRE(m.parts.size() == 5);
  CHECK(m.parts[0].expr_index == 0);
  CHECK(m.parts[1].text == " x ");
  CHECK(m.parts[4].expr_index == 2);
  CHECK(p->sm.text(m.children[0]->span) == "event.chip_count");
  CHECK(p->sm.text(m.children[1]->span) == "event.chip");
  CHECK(p->sm.text(m.children[1]->name_span) == "chip");
  CHECK(p->sm.text(m.span).front() == '"');

  auto plain = parse_text("rule r on rental deny \"no braces\"\nrule s on rental deny \"\"");
  CHECK(ast::dump(*decl<ast::RuleDecl>(*plain, 0).message) == "(message \"no braces\")");
  CHECK(ast::dump(*decl<ast::RuleDecl>(*plain, 1).message) == "(message)");
}

TEST_CASE("broken interpolations point at the brace or the inner error", "[parse]") {
  auto p = parse_text(
      "rule a on rental deny \"x } y\"\n"
      "rule b on rental deny \"{event.x\"\n"
      "rule c on rental deny \"{ }\"\n"
      "rule d on rental deny \"ok {1 +} {event. chip} {a b}\"\n"
      "rule e on rental deny \"{\\q}\"");
  CHECK(p->codes() == std::vector<std::string>{"E0009 1:26", "E0009 2:24", "E0009 3:24", "E0001 4:31",
                                               "E0001 4:50", "E0007 5:25"});
  std::vector<Diagnostic> ds = p->diags();
  CHECK(ds[0].message == "unmatched `}` in message");
  CHECK(ds[1].message == "unclosed `{` in message");
  CHECK(ds[2].message == "empty `{}` in message");
  CHECK(ds[3].message == "expected an expression, found the closing `}`");
  CHECK(ds[4].message == "expected the closing `}`, found `b`");
  CHECK(ds[5].message == "unexpected character `\\`");
  const ast::Expr& d = *decl<ast::RuleDecl>(*p, 3).message;
  CHECK(ast::dump(d) == "(message \"ok \" (+ 1 (error)) \" \" (. event chip) \" \" a)");
}

// ---- comments, literate files, odd inputs ----------------------------------------

TEST_CASE("comments are kept in order with their kind", "[parse]") {
  auto p = parse_text("// head\nconst x = 1 /* inline */ + 2\n/* multi\nline */\n");
  REQUIRE(p->module->comments.size() == 3);
  CHECK(p->sm.text(p->module->comments[0].span) == "// head");
  CHECK_FALSE(p->module->comments[0].block);
  CHECK(p->sm.text(p->module->comments[1].span) == "/* inline */");
  CHECK(p->module->comments[1].block);
  CHECK(p->sm.text(p->module->comments[2].span) == "/* multi\nline */");
  CHECK(p->sink.error_count() == 0);
}

TEST_CASE("empty, blank and comment-only files parse to nothing", "[parse]") {
  for (const std::string& text :
       {std::string(""), std::string(" \n\t\r\n"), std::string("// only\n/* c */")}) {
    auto p = parse_text(text);
    CHECK(p->sink.error_count() == 0);
    CHECK(p->module->decls.empty());
  }
  auto bom = parse_text(
      "\xEF\xBB\xBF"
      "const x = 1 +");
  CHECK(bom->codes() == std::vector<std::string>{"E0001 1:15"});  // the mark is column 1
}

// The lexer steps over runs of blanks itself (parser.cpp, BlankSkippingLexer):
// runs of every blank character, at the start, between tokens and up to the
// end of input, leave the tokens, their positions and the diagnostics as
// ANTLR's WS rule did.
TEST_CASE("runs of blanks of every kind keep tokens and positions", "[parse]") {
  auto p =
      parse_text("\n \t\f\r\nconst a =\t\t  \f\r\n\r\n   1\n\n\n\f  const b = (  \t\n\n   2   \r\n \t  \n");
  CHECK(p->codes() == std::vector<std::string>{"E0001 10:5"});
  CHECK(p->first_message() == "expected `)`, found end of file");
  REQUIRE(p->module->decls.size() == 2);
  CHECK(p->sm.text(decl<ast::ConstDecl>(*p, 0).value->span) == "1");
  CHECK(p->sm.line_col(decl<ast::ConstDecl>(*p, 1).span.file, decl<ast::ConstDecl>(*p, 1).span.begin).line ==
        8);

  auto q = parse_text("const a =  \t \n\n  @@ 1   \n\n  const c = \"x\n   \t\n");
  CHECK(q->codes() == std::vector<std::string>{"E0007 3:3", "E0005 5:13"});
  REQUIRE(q->module->decls.size() == 2);
  CHECK(decl<ast::ConstDecl>(*q, 1).value->text == "x");
}

TEST_CASE("literate files parse their fences and report markdown lines", "[parse]") {
  const std::string md =
      "# Rules\n"
      "Prose with `code` and a const x = ( that is not compiled.\n"
      "```edict\n"
      "const a = 1\n"
      "```\n"
      "More prose.\n"
      "\n"
      "```edict\n"
      "const b = (2\n"
      "const c = \"caf\xC3\xA9\" +\n"
      "```\n";
  auto p = parse_text(md, "policy.edict.md");
  // A missing token is reported where it is missing: after the last token
  // before the line that revealed it, or before the end of the code.
  CHECK(p->codes() == std::vector<std::string>{"E0001 9:13", "E0001 10:19"});
  REQUIRE(p->diags()[0].labels.size() == 1);
  CHECK(p->sm.line_col(p->diags()[0].labels[0].span.file, p->diags()[0].labels[0].span.begin).line == 10);
  CHECK(p->first_message() == "expected `)`, found `const`");
  CHECK(p->module->decls.size() == 3);
  CHECK(decl<ast::ConstDecl>(*p, 0).name == "a");
  CHECK(p->sm.line_col(decl<ast::ConstDecl>(*p, 0).span.file, decl<ast::ConstDecl>(*p, 0).span.begin).line ==
        4);
}

TEST_CASE("lexical errors are precise and do not cascade", "[parse]") {
  auto p = parse_text("const a = \"open\nconst b = 1 /* never closed\n");
  CHECK(p->codes() == std::vector<std::string>{"E0005 1:11", "E0006 2:13"});
  std::vector<Diagnostic> ds = p->diags();
  CHECK(ds[0].message == "unterminated string");
  CHECK(ds[1].message == "unterminated comment: `/*` has no closing `*/`");
  CHECK(p->module->decls.size() == 2);
  CHECK(decl<ast::ConstDecl>(*p, 0).value->text == "open");

  auto q =
      parse_text("const a = 1 # x\nconst b = \xE2\x80\x9Chi\xE2\x80\x9D\nconst c = @@@ 1\nconst d = 'x'");
  // Issue 22: a `#` comment is read as a comment, and a string in the wrong
  // quotes as a string, so each is one diagnostic, not three.
  CHECK(q->codes() == std::vector<std::string>{"E0007 1:13", "E0007 2:11", "E0007 3:11", "E0007 4:11"});
  std::vector<Diagnostic> qs = q->diags();
  CHECK(qs[0].message == "unexpected character `#`");
  CHECK(qs[0].help == "comments start with `//`");
  CHECK(qs[1].message == "unexpected character `\xE2\x80\x9C` (U+201C)");
  CHECK(qs[1].help == "strings use straight double quotes: \"...\"");
  CHECK(qs[2].message == "unexpected characters `@@@`");
  CHECK(qs[3].help == "strings use double quotes: \"...\"");
  REQUIRE(q->module->decls.size() == 4);
  CHECK(decl<ast::ConstDecl>(*q, 1).value->text == "hi");
  CHECK(decl<ast::ConstDecl>(*q, 3).value->text == "x");
}

TEST_CASE("C-style operators are reported once and read as Edict words", "[parse]") {
  auto p = parse_text("const x = a && b || !c\nconst y = a = b");
  CHECK(p->codes() == std::vector<std::string>{"E0007 1:13", "E0007 1:18", "E0007 1:21", "E0001 2:13"});
  std::vector<Diagnostic> ds = p->diags();
  CHECK(ds[0].message == "unexpected characters `&&`");
  CHECK(ds[0].help == "Edict spells it `and`");
  CHECK(ds[1].help == "Edict spells it `or`");
  CHECK(ds[2].help == "Edict spells it `not`");
  CHECK(ds[3].help == "compare with `==`");
  CHECK(ast::dump(*decl<ast::ConstDecl>(*p, 0).value) == "(or (and a b) (not c))");
}

TEST_CASE("a declaration with a broken header keeps no name", "[parse]") {
  // `@` is dropped; `event` then starts a declaration whose name follows an error.
  auto p = parse_text("rule r on rental review when a > 1 @ event.hours > 10");
  REQUIRE(p->module->decls.size() == 2);
  CHECK(p->module->decls[1]->kind == ast::DeclKind::Event);
  CHECK(p->module->decls[1]->name.empty());
  CHECK(p->module->decls[0]->name == "r");
}

TEST_CASE("invalid UTF-8 is rejected at the first bad byte", "[parse]") {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"\xC0\x80", "overlong encoding"},
      {"\xE0\x80\xAF", "overlong encoding"},
      {"\xED\xA0\x80", "surrogate code point"},
      {"\xF4\x90\x80\x80", "code point above U+10FFFF"},
      {"\xE2\x82", "truncated sequence"},
      {"\x80", "unexpected continuation byte"},
      {"\xFF", "byte that never appears in UTF-8"},
  };
  for (const auto& [bad, reason] : cases) {
    auto p = parse_text("const x = \"ok \xC3\xA9\"\n// " + bad + " tail\n");
    INFO(reason);
    CHECK(p->codes() == std::vector<std::string>{"E0002 2:4"});
    CHECK(p->first_message() == "invalid UTF-8: " + reason);
    CHECK(p->module->decls.empty());  // nothing is parsed
  }
}

TEST_CASE("syntax errors name the tokens in plain words", "[parse]") {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"const x when 5", "expected `=` or `:`, found `when`"},
      {"const x = 1 +", "expected an expression, found end of file"},
      {"policy x", "expected a string, found `x`"},
      {"event e { a: int b: string }", "expected `}`, found `b`"},
      {"rule r rental", "expected `on`, found `rental`"},
      {"frobnicate", "expected a declaration, found `frobnicate`"},
      {"const x = (1, 2)", "expected `)`, found `,`"},
      {"test \"t\" { given }", "expected a name, found `}`"},
  };
  for (const auto& [source, message] : cases) {
    auto p = parse_text(source);
    INFO(source);
    CHECK(all_codes(*p).at(0) == "E0001");
    CHECK(p->first_message() == message);
  }
}

TEST_CASE("aggregates take at most one argument", "[parse]") {
  auto p = parse_text("const x = sum(a, b) over 1d");
  CHECK(p->codes() == std::vector<std::string>{"E0018 1:15"});
}

// ---- limits ------------------------------------------------------------------------

TEST_CASE("limit: file size", "[parse][limits]") {
  std::string big(10 * 1024 * 1024, ' ');
  auto t0 = std::chrono::steady_clock::now();
  auto p = parse_text(big);
  CHECK(seconds_since(t0) < 5);
  CHECK(p->codes() == std::vector<std::string>{"E0003 1:1"});
  CHECK(p->first_message() == "file too large: 10485760 bytes, the limit is 4194304");

  parse::Limits small;
  small.max_file_bytes = 10;
  CHECK(all_codes(*parse_text("const x = 1", "t.edict", small)) == std::vector<std::string>{"E0003"});
  CHECK(parse_text("const x=1", "t.edict", small)->sink.error_count() == 0);
}

TEST_CASE("limit: 10,000 nested parentheses", "[parse][limits]") {
  std::string src = "const x = " + std::string(10000, '(') + "1" + std::string(10000, ')');
  auto p = parse_text(src);
  CHECK(p->codes() == std::vector<std::string>{"E0004 1:211"});
  CHECK(p->first_message() == "nesting too deep: more than 200 levels");

  // Exactly at the limit is fine.
  std::string ok = "const x = " + std::string(200, '(') + "1" + std::string(200, ')');
  CHECK(parse_text(ok)->sink.error_count() == 0);
  // Brackets of every kind count, in types too.
  std::string sets = "const x = " + std::string(300, '{') + std::string(300, '}');
  CHECK(all_codes(*parse_text(sets)) == std::vector<std::string>{"E0004"});
  std::string types = "event e { a: ";
  for (int i = 0; i < 300; ++i) types += "set<";
  types += "int" + std::string(300, '>') + " }";
  CHECK(all_codes(*parse_text(types)) == std::vector<std::string>{"E0004"});
}

TEST_CASE("limit: a million prefix `not`s", "[parse][limits]") {
  std::string src = "const x = ";
  src.reserve(4'100'000);
  for (int i = 0; i < 1'000'000; ++i) src += "not ";
  src += "true";
  auto t0 = std::chrono::steady_clock::now();
  auto p = parse_text(src);
  CHECK(seconds_since(t0) < 5);
  CHECK(p->codes() == std::vector<std::string>{"E0004 1:811"});

  // Not consecutive, still nested: `x == not y == not z ...`.
  std::string chain = "const x = a";
  for (int i = 0; i < 1000; ++i) chain += " == not a";
  CHECK(all_codes(*parse_text(chain)) == std::vector<std::string>{"E0004"});
  // And an `if` in every else branch nests as deeply.
  std::string ifs = "const x = ";
  for (int i = 0; i < 1000; ++i) ifs += "if a then 1 else ";
  ifs += "0";
  CHECK(all_codes(*parse_text(ifs)) == std::vector<std::string>{"E0004"});
}

TEST_CASE("limit: long operator chains are deep trees", "[parse][limits]") {
  // A million terms: rejected by the pre-scan before ANTLR allocates anything.
  std::string huge = "const x = a";
  huge.reserve(2'100'000);
  for (int i = 0; i < 1'000'000; ++i) huge += "+a";
  auto t0 = std::chrono::steady_clock::now();
  auto p = parse_text(huge);
  CHECK(seconds_since(t0) < 5);
  CHECK(all_codes(*p) == std::vector<std::string>{"E0004"});
  CHECK(p->first_message() == "expression too long: more than 1600 operators in a row");

  // A thousand terms: ANTLR parses it in a loop; the builder stops at depth.
  std::string medium = "const x = a";
  for (int i = 0; i < 1000; ++i) medium += "+a";
  auto q = parse_text(medium);
  CHECK(q->codes() == std::vector<std::string>{"E0004 1:11"});
  CHECK(q->module->decls.size() == 1);
  size_t depth = 0;
  for (const ast::Expr* e = decl<ast::ConstDecl>(*q, 0).value.get(); e && !e->children.empty();
       e = e->children[0].get())
    ++depth;
  CHECK(depth <= 200);

  // Separators end a chain: a long set literal is not deep.
  std::string wide = "set S: int = {";
  for (int i = 0; i < 5000; ++i) wide += std::to_string(i) + ", ";
  wide += "0}";
  CHECK(parse_text(wide)->sink.error_count() == 0);
}

TEST_CASE("limit: the nesting guard catches what error recovery hides from the pre-scan", "[parse][limits]") {
  // `)` closes the bracket for the pre-scan, but ANTLR deletes it to match
  // `then` and keeps nesting: the guard inside the parser stops it cleanly.
  std::string src = "const x = ";
  for (int i = 0; i < 3000; ++i) src += "( if a ) then ";
  auto p = parse_text(src, "t.edict", {}, 100'000);
  std::vector<std::string> codes = all_codes(*p);
  CHECK(std::count(codes.begin(), codes.end(), "E0004") == 1);
}

TEST_CASE("limit: aggregates nest through their window", "[parse][limits]") {
  std::string src = "const x = ";
  for (int i = 0; i < 1000; ++i) src += "count() over ";
  src += "1d";
  CHECK(all_codes(*parse_text(src)) == std::vector<std::string>{"E0004"});
}

TEST_CASE("limit: the error cap stops the parse with a note", "[parse][limits]") {
  std::string src;
  for (int i = 0; i < 300; ++i) src += "const = 1\n";
  auto p = parse_text(src);
  CHECK(p->sink.error_count() == 100);
  std::vector<Diagnostic> all = p->sink.all();
  REQUIRE_FALSE(all.empty());
  CHECK(all.back().severity == Severity::Note);
  CHECK(all.back().code == "E0016");
  CHECK(all.back().message == "too many errors (100); stopped parsing here");
}

TEST_CASE("hostile input: binary garbage and token soup end quickly", "[parse][limits]") {
  std::mt19937 rng(20240301);
  std::string bytes(200'000, '\0');
  for (char& c : bytes) c = static_cast<char>(rng() & 0xFF);
  auto t0 = std::chrono::steady_clock::now();
  auto p = parse_text(bytes);
  CHECK(all_codes(*p) == std::vector<std::string>{"E0002"});

  // Valid UTF-8 made of the grammar's own pieces exercises error recovery.
  const std::vector<std::string> pieces = {
      "rule", "const", "(",    ")",  "{",     "}", "[",   "]",     "=",    "==",    "not",  "if",
      "then", "else",  "x",    "1",  "\"s\"", ",", ":",   ".",     "+",    "-",     "when", "deny",
      "\n",   " ",     "over", "by", "<",     ">", "set", "event", "test", "given", "#"};
  for (int round = 0; round < 20; ++round) {
    std::string soup;
    for (int i = 0; i < 20'000; ++i) soup += pieces[rng() % pieces.size()] + " ";
    auto q = parse_text(soup);
    CHECK(q->sink.error_count() >= 1);
    CHECK(q->sink.all().size() <= 101);
  }
  CHECK(seconds_since(t0) < 15);
}

// ---- AST utilities -------------------------------------------------------------------

TEST_CASE("clone is deep and keeps ids; names for operators and kinds", "[parse]") {
  auto p =
      parse_text("rule r on rental deny \"{event.a}\" when sum(event.b) over 1d by event.c > 1 and not x");
  REQUIRE(p->sink.error_count() == 0);
  const auto& r = decl<ast::RuleDecl>(*p, 0);
  ast::ExprPtr copy = r.when->clone();
  CHECK(ast::dump(*copy) == ast::dump(*r.when));
  CHECK(copy->id == r.when->id);
  CHECK(copy->children[0].get() != r.when->children[0].get());
  CHECK(copy->children[0]->children[0]->agg_window == r.when->children[0]->children[0]->agg_window);
  CHECK(ast::dump(*r.message->clone()) == "(message (. event a))");

  CHECK(std::string(ast::op_spelling(ast::Op::Le)) == "<=");
  CHECK(std::string(ast::op_spelling(ast::Op::Neg)) == "-");
  CHECK(std::string(ast::op_spelling(ast::Op::And)) == "and");
  CHECK(std::string(ast::decl_kind_name(ast::DeclKind::Example)) == "example");
  CHECK(std::string(ast::decl_kind_name(ast::DeclKind::Outcomes)) == "outcomes");
}

// ---- imports -------------------------------------------------------------------------

namespace {

parse::FileReader memory_reader(const std::map<std::string, std::string>& files) {
  return [files](const std::string& path, std::string* error) -> std::optional<std::string> {
    auto it = files.find(path);
    if (it == files.end()) {
      *error = "no such file or directory";
      return std::nullopt;
    }
    return it->second;
  };
}

struct Loaded {
  SourceManager sm;
  DiagnosticSink sink;
  ast::Program program;
  std::vector<std::string> codes() const {
    std::vector<std::string> out;
    for (const Diagnostic& d : sink.sorted()) {
      std::string where;
      if (d.span.valid()) {
        LineCol lc = sm.line_col(d.span.file, d.span.begin);
        where =
            " " + sm.file(d.span.file).path + ":" + std::to_string(lc.line) + ":" + std::to_string(lc.column);
      }
      out.push_back(d.code + where);
    }
    return out;
  }
};

std::unique_ptr<Loaded> load(const std::vector<std::string>& roots,
                             const std::map<std::string, std::string>& files,
                             const parse::Limits& limits = {}) {
  auto l = std::make_unique<Loaded>();
  l->program = parse::load_program(roots, l->sm, l->sink, limits, memory_reader(files));
  return l;
}

}  // namespace

TEST_CASE("imports load relative to the importer, each file once", "[parse][imports]") {
  auto l =
      load({"p/main.edict"}, {{"p/main.edict", "import \"lib/a.edict\"\nimport \"lib/b.edict\"\nconst m = 1"},
                              {"p/lib/a.edict", "import \"./b.edict\"\nconst a = 1"},
                              {"p/lib/b.edict", "import \"../lib/../lib/c.edict\"\nconst b = 1"},
                              {"p/lib/c.edict", "const c = 1"}});
  CHECK(l->codes().empty());
  REQUIRE(l->program.modules.size() == 4);
  CHECK(l->program.roots.size() == 1);
  std::vector<std::string> order;
  for (const auto& m : l->program.modules) order.push_back(l->sm.file(m->file).path);
  CHECK(order == std::vector<std::string>{"p/main.edict", "p/lib/a.edict", "p/lib/b.edict", "p/lib/c.edict"});
  const ast::Module& main = *l->program.modules[0];
  REQUIRE(main.imports.size() == 2);
  CHECK(main.imports[0] == l->program.modules[1]->file);
  CHECK(main.imports[1] == l->program.modules[2]->file);  // shared with a.edict, loaded once
  CHECK(l->program.module_for(l->program.modules[3]->file) == l->program.modules[3].get());
  CHECK(l->program.module_for(kNoFile) == nullptr);
}

TEST_CASE("import errors: missing file, self-import, a three-file cycle", "[parse][imports]") {
  auto missing =
      load({"main.edict"}, {{"main.edict", "const x = 1\nimport \"nope.edict\"\nimport \"nope.edict\""}});
  CHECK(missing->codes() == std::vector<std::string>{"E0050 main.edict:2:8"});
  CHECK(missing->sink.all()[0].message == "cannot read `nope.edict`: no such file or directory");
  REQUIRE(missing->program.modules.size() == 1);
  CHECK(missing->program.modules[0]->imports == std::vector<FileId>{kNoFile, kNoFile});

  auto root = load({"gone.edict"}, {});
  CHECK(root->codes() == std::vector<std::string>{"E0050"});
  CHECK(root->program.roots.empty());

  auto self = load({"a.edict"}, {{"a.edict", "import \"a.edict\""}});
  CHECK(self->codes() == std::vector<std::string>{"E0051 a.edict:1:8"});
  CHECK(self->sink.all()[0].message == "import cycle: `a.edict` -> `a.edict`");

  auto cycle = load({"a.edict"}, {{"a.edict", "import \"b.edict\""},
                                  {"b.edict", "import \"c.edict\""},
                                  {"c.edict", "const c = 1\nimport \"a.edict\""}});
  CHECK(cycle->codes() == std::vector<std::string>{"E0051 c.edict:2:8"});
  CHECK(cycle->sink.all()[0].message == "import cycle: `a.edict` -> `b.edict` -> `c.edict` -> `a.edict`");
  CHECK(cycle->program.modules.size() == 3);

  auto empty = load({"a.edict"}, {{"a.edict", "import \"\""}});
  CHECK(empty->codes() == std::vector<std::string>{"E0053 a.edict:1:8"});
}

TEST_CASE("import limits: too many files; a syntax error in an imported file", "[parse][imports]") {
  std::map<std::string, std::string> files;
  for (int i = 0; i < 10; ++i)
    files["f" + std::to_string(i) + ".edict"] = "import \"f" + std::to_string(i + 1) + ".edict\"";
  parse::Limits limits;
  limits.max_files = 4;
  auto l = load({"f0.edict"}, files, limits);
  CHECK(l->codes() == std::vector<std::string>{"E0052 f3.edict:1:8"});
  CHECK(l->program.modules.size() == 4);

  auto bad = load({"a.edict"},
                  {{"a.edict", "import \"b.edict.md\""}, {"b.edict.md", "# B\n```edict\nconst = 1\n```\n"}});
  CHECK(bad->codes() == std::vector<std::string>{"E0001 b.edict.md:3:7"});
}

TEST_CASE("imports stay below the root files' folders and the import paths", "[parse][imports]") {
  // Every path the reader was asked for: a refused import is never opened.
  auto asked = std::make_shared<std::vector<std::string>>();
  std::map<std::string, std::string> files = {
      {"p/main.edict",
       "import \"../secret.edict\"\nimport \"/etc/shadow\"\nimport \"lib/../../lib2/x.edict\"\n"
       "import \"lib/ok.edict\""},
      {"p/lib/ok.edict", "const ok = 1"},
      {"secret.edict", "const secret = 1"},
      {"lib2/x.edict", "const x = 1"}};
  parse::FileReader reader = [asked, inner = memory_reader(files)](const std::string& path,
                                                                   std::string* error) {
    asked->push_back(path);
    return inner(path, error);
  };
  SourceManager sm;
  DiagnosticSink sink;
  ast::Program program = parse::load_program({"p/main.edict"}, sm, sink, {}, reader);
  std::vector<std::string> codes;
  for (const Diagnostic& d : sink.sorted()) codes.push_back(d.code);
  CHECK(codes == std::vector<std::string>{"E0054", "E0054", "E0054"});
  CHECK(*asked == std::vector<std::string>{"p/main.edict", "p/lib/ok.edict"});
  CHECK(sink.all()[0].message == "import of `../secret.edict` is outside the folders imports may read");
  CHECK(sink.all()[0].help.find("it names `secret.edict`; imports may read files under `p`") == 0);

  // An import path lets its folder in, and only it.
  parse::Limits limits;
  limits.import_paths = {"lib2"};
  asked->clear();
  SourceManager sm2;
  DiagnosticSink sink2;
  parse::load_program({"p/main.edict"}, sm2, sink2, limits, reader);
  CHECK(sink2.error_count() == 2);  // ../secret.edict, /etc/shadow
  CHECK(*asked == std::vector<std::string>{"p/main.edict", "lib2/x.edict", "p/lib/ok.edict"});
}

TEST_CASE("the disk reader refuses FIFOs and devices without blocking on them", "[parse][imports]") {
  char folder[] = "/tmp/edict-fifo-XXXXXX";
  REQUIRE(mkdtemp(folder));
  const std::string fifo = std::string(folder) + "/pipe.edict";
  REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);
  std::string error;
  // Opening a FIFO for reading blocked until a writer came: the test hung.
  CHECK_FALSE(parse::disk_reader()(fifo, &error));
  CHECK(error == "not a regular file (a FIFO)");
  CHECK_FALSE(parse::disk_reader()("/dev/zero", &error));
  CHECK(error == "not a regular file (a character device)");

  // Imported, the FIFO is an E0050 at the import.
  const std::string main = std::string(folder) + "/main.edict";
  {
    std::ofstream out(main);
    out << "import \"pipe.edict\"\n";
  }
  SourceManager sm;
  DiagnosticSink sink;
  parse::load_program({main}, sm, sink);
  REQUIRE(sink.error_count() == 1);
  CHECK(sink.all()[0].code == "E0050");
  CHECK(sink.all()[0].message == "cannot read `" + fifo + "`: not a regular file (a FIFO)");
  std::remove(main.c_str());
  std::remove(fifo.c_str());
  rmdir(folder);
}

TEST_CASE("the disk reader reads files and refuses directories and missing paths", "[parse][imports]") {
  std::string error;
  parse::FileReader reader = parse::disk_reader();
  std::optional<std::string> text =
      reader(std::string(EDICT_SOURCE_DIR) + "/policies/common/events.edict", &error);
  REQUIRE(text);
  CHECK(text->find("event rental") != std::string::npos);
  CHECK_FALSE(reader(EDICT_SOURCE_DIR, &error));
  CHECK(error == "it is a directory");
  CHECK_FALSE(reader(std::string(EDICT_SOURCE_DIR) + "/no/such.edict", &error));
  CHECK(error == "no such file or directory");
  CHECK_FALSE(
      parse::disk_reader(10)(std::string(EDICT_SOURCE_DIR) + "/policies/common/events.edict", &error));
  CHECK(error.rfind("file too large", 0) == 0);

  // The shipped reference policy and its import parse without a diagnostic.
  SourceManager sm;
  DiagnosticSink sink;
  ast::Program program =
      parse::load_program({std::string(EDICT_SOURCE_DIR) + "/policies/reference.edict"}, sm, sink);
  CHECK(sink.error_count() == 0);
  CHECK(program.modules.size() == 2);
}

TEST_CASE("edict_string_literal and edict_number_literal read back as the same value", "[parse]") {
  for (std::string text : {std::string("a\"b\\c"), std::string("\n\t\r"), std::string("\x01\x1f\x7f", 3),
                           std::string("caf\xc3\xa9 {x}"), std::string("\xf0\x9f\x98\x80")}) {
    auto p = parse_text("const x = " + edict_string_literal(text));
    INFO(edict_string_literal(text));
    REQUIRE(p->sink.error_count() == 0);
    const ast::Expr& e = *decl<ast::ConstDecl>(*p, 0).value;
    CHECK(e.kind == ast::ExprKind::String);
    CHECK(e.text == text);
  }
  for (double v : {814.0, 5.92, 1e26, 1e-7, 0.1 + 0.2}) {
    auto p = parse_text("const x = " + edict_number_literal(v));
    INFO(edict_number_literal(v));
    REQUIRE(p->sink.error_count() == 0);
    const ast::Expr& e = *decl<ast::ConstDecl>(*p, 0).value;
    CHECK(e.kind == ast::ExprKind::Number);
    CHECK(e.number_value == v);
  }
}
