// Tests of `edict fmt` (compiler/fmt): golden before/after pairs for every
// construct and comment position, and idempotence plus AST round trip over
// every .edict and .edict.md file in the repository.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "compiler/ast/ast.h"
#include "compiler/fmt/format.h"
#include "compiler/parse/parse.h"
#include "support/diagnostics.h"
#include "support/source.h"

namespace {

namespace fs = std::filesystem;
using edict::DiagnosticSink;
using edict::FileId;
using edict::SourceManager;

std::optional<std::string> format_text(const std::string& text, const std::string& path = "case.edict",
                                       std::string* diagnostics = nullptr) {
  SourceManager sources;
  DiagnosticSink sink;
  FileId file = sources.add(path, text);
  std::optional<std::string> out = edict::fmt::format_source(sources, file, sink);
  if (diagnostics) *diagnostics = edict::render_human(sources, sink.sorted());
  return out;
}

// The AST dump of `text` (no spans), or nullopt when it does not parse cleanly.
std::optional<std::string> dump_text(const std::string& text, const std::string& path) {
  SourceManager sources;
  DiagnosticSink sink;
  FileId file = sources.add(path, text);
  edict::ast::Program program;
  auto module = edict::parse::parse_module(sources, file, program, sink);
  if (!module || sink.has_errors()) return std::nullopt;
  return edict::ast::dump(*module, sources);
}

// Formats `before`, expects `after`, and checks that `after` is a fixed point.
void expect_format(const std::string& before, const std::string& after,
                   const std::string& path = "case.edict") {
  std::string diagnostics;
  std::optional<std::string> out = format_text(before, path, &diagnostics);
  INFO(diagnostics);
  REQUIRE(out.has_value());
  CHECK(*out == after);
  std::optional<std::string> again = format_text(*out, path, &diagnostics);
  INFO(diagnostics);
  REQUIRE(again.has_value());
  CHECK(*again == *out);
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

}  // namespace

// ---- declarations ---------------------------------------------------------

TEST_CASE("fmt: policy clauses in canonical order, imports and outcomes", "[fmt]") {
  expect_format(
      "policy   \"P\"  status proposed version \"1\"\n"
      "   source \"s\"\n"
      "import \"common/a.edict\"\n"
      "import \"b.edict\"\n"
      "outcomes nlr<notify <  license\n"
      "default   notify\n",
      "policy \"P\"\n"
      "  version \"1\"\n"
      "  source \"s\"\n"
      "  status proposed\n"
      "\n"
      "import \"common/a.edict\"\n"
      "import \"b.edict\"\n"
      "outcomes nlr < notify < license\n"
      "default notify\n");
}

TEST_CASE("fmt: one blank line between declarations, adjacent one-liners kept together", "[fmt]") {
  expect_format(
      "const a = 1\n"
      "const b = 2\n"
      "\n\n\n"
      "const c = 3\n"
      "event e { t: time }\n"
      "const d = 4\n",
      "const a = 1\n"
      "const b = 2\n"
      "\n"
      "const c = 3\n"
      "\n"
      "event e {\n"
      "  t: time,\n"
      "}\n"
      "\n"
      "const d = 4\n");
}

TEST_CASE("fmt: event fields one per line with trailing commas, types normalised", "[fmt]") {
  expect_format(
      "event rental { id : string , time:time, tags: set < string >, license: string ?,\n"
      "  spec: { a: int, b: number? } }\n"
      "event empty {   }\n",
      "event rental {\n"
      "  id: string,\n"
      "  time: time,\n"
      "  tags: set<string>,\n"
      "  license: string?,\n"
      "  spec: { a: int, b: number? },\n"
      "}\n"
      "\n"
      "event empty {}\n");
}

TEST_CASE("fmt: a blank line the author wrote between fields is kept, several collapse", "[fmt]") {
  expect_format(
      "event e {\n"
      "  a: int,\n"
      "\n\n"
      "  b: int\n"
      "}\n",
      "event e {\n"
      "  a: int,\n"
      "\n"
      "  b: int,\n"
      "}\n");
}

TEST_CASE("fmt: const, set and def bindings", "[fmt]") {
  expect_format(
      "const  limit:int=4_800\n"
      "const t = 2023-11-17\n"
      "set S : country = {\"CN\",\"RU\" , }\n"
      "def big( x:int , y : number ) : bool = x>limit or y >= 1.5e3\n",
      "const limit: int = 4_800\n"
      "const t = 2023-11-17\n"
      "set S: country = { \"CN\", \"RU\" }\n"
      "def big(x: int, y: number): bool = x > limit or y >= 1.5e3\n");
}

TEST_CASE("fmt: a long set literal is filled up to 100 columns", "[fmt]") {
  std::string codes;
  std::vector<std::string> names = {"AF", "BY", "CD", "CF", "CN", "CU", "ER", "HT", "IQ", "IR", "KP",
                                    "LB", "LY", "MM", "NI", "RU", "SD", "SO", "SS", "SY", "VE", "ZW"};
  for (const auto& n : names) codes += "\"" + n + "\",";
  expect_format(
      "set D5: country = {" + codes + "}\nset D5M: country = D5 + {\"MO\"}\n",
      "set D5: country = {\n"
      "  \"AF\", \"BY\", \"CD\", \"CF\", \"CN\", \"CU\", \"ER\", \"HT\", \"IQ\", \"IR\", \"KP\", \"LB\", "
      "\"LY\", \"MM\", \"NI\", \"RU\",\n"
      "  \"SD\", \"SO\", \"SS\", \"SY\", \"VE\", \"ZW\",\n"
      "}\n"
      "\n"
      "set D5M: country = D5 + { \"MO\" }\n");
}

TEST_CASE("fmt: a long def body moves below the header and breaks its and/or chain", "[fmt]") {
  expect_format(
      "table chips: string -> { tpp: int, die_area: number } = { \"H100\": { tpp: 15_832, die_area: 814 } }\n"
      "def advanced(chip: string): bool = chip in chips and (chips[chip].tpp >= 4_800 or (chips[chip].tpp >= "
      "1_600 and chips[chip].tpp / chips[chip].die_area >= 5.92))\n",
      "table chips: string -> { tpp: int, die_area: number } = {\n"
      "  \"H100\": { tpp: 15_832, die_area: 814 },\n"
      "}\n"
      "\n"
      "def advanced(chip: string): bool =\n"
      "  chip in chips\n"
      "    and (\n"
      "      chips[chip].tpp >= 4_800\n"
      "      or (chips[chip].tpp >= 1_600 and chips[chip].tpp / chips[chip].die_area >= 5.92)\n"
      "    )\n");
}

TEST_CASE("fmt: table rows one per line, keys aligned within a run", "[fmt]") {
  expect_format(
      "table chips: string -> {tpp: int, die_area: number} = {\n"
      "  \"H100-SXM5-80GB\": {tpp: 15_832, die_area: 814}, \"H20\": { tpp: 2_368, die_area: 814 },\n"
      "\n"
      "  \"B200\":{ tpp: 36_000, die_area: 1_600 } }\n"
      "table empty: string -> { a: int } = { }\n",
      "table chips: string -> { tpp: int, die_area: number } = {\n"
      "  \"H100-SXM5-80GB\": { tpp: 15_832, die_area: 814 },\n"
      "  \"H20\":            { tpp: 2_368, die_area: 814 },\n"
      "\n"
      "  \"B200\": { tpp: 36_000, die_area: 1_600 },\n"
      "}\n"
      "\n"
      "table empty: string -> { a: int } = {}\n");
}

TEST_CASE("fmt: rule clauses one per line in canonical order", "[fmt]") {
  expect_format(
      "rule r on rental, provision unless event.license is present when event.chip_count > 10 deny "
      "\"{event.chip_count}  x {event.chip}\" cite \"15 CFR 744.23\" until 2025-05-13 effective "
      "2023-11-17T00:00:00Z\n"
      "rule s on any review\n",
      "rule r on rental, provision\n"
      "  effective 2023-11-17T00:00:00Z\n"
      "  until 2025-05-13\n"
      "  cite \"15 CFR 744.23\"\n"
      "  deny \"{event.chip_count}  x {event.chip}\"\n"
      "  when event.chip_count > 10\n"
      "  unless event.license is present\n"
      "\n"
      "rule s on any\n"
      "  review\n");
}

TEST_CASE("fmt: a long when chain is broken one operand per line with the operator leading", "[fmt]") {
  expect_format(
      "rule bulk on rental\n"
      "  review \"bulk\"\n"
      "  when advanced(event.chip) and event.chip_count * event.hours >= 100_000 and event.customer_hq not "
      "in "
      "ALLIES and (event.customer_hq in D5 or event.parent_hq in D5)\n",
      "rule bulk on rental\n"
      "  review \"bulk\"\n"
      "  when advanced(event.chip)\n"
      "    and event.chip_count * event.hours >= 100_000\n"
      "    and event.customer_hq not in ALLIES\n"
      "    and (event.customer_hq in D5 or event.parent_hq in D5)\n");
  // A chain that fits is joined back onto one line.
  expect_format(
      "rule r on rental\n"
      "  deny\n"
      "  when a\n"
      "    and b\n",
      "rule r on rental\n"
      "  deny\n"
      "  when a and b\n");
}

TEST_CASE("fmt: a parenthesised chain that does not fit opens and closes on its own lines", "[fmt]") {
  std::string longer(60, 'x');
  expect_format("rule r on rental\n  deny\n  when a and (" + longer + " or " + longer + ")\n",
                "rule r on rental\n"
                "  deny\n"
                "  when a\n"
                "    and (\n"
                "      " +
                    longer +
                    "\n"
                    "      or " +
                    longer +
                    "\n"
                    "    )\n");
}

TEST_CASE("fmt: example and test declarations", "[fmt]") {
  expect_format(
      "example sg: rental = { id: \"t-1\", time: 2024-03-01T00:00:00Z, chip_count: 64 }\n"
      "example later: rental = sg with { time: 2025-01-01T00:00:00Z }\n"
      "test \"t\" { given sg expect deny by only a, b given sg with {time: 2023-01-01} expect allow\n"
      "given rental { id: \"x\" } expect review by c }\n"
      "test \"empty\" { }\n",
      "example sg: rental = {\n"
      "  id: \"t-1\",\n"
      "  time: 2024-03-01T00:00:00Z,\n"
      "  chip_count: 64,\n"
      "}\n"
      "\n"
      "example later: rental = sg with { time: 2025-01-01T00:00:00Z }\n"
      "\n"
      "test \"t\" {\n"
      "  given sg\n"
      "  expect deny by only a, b\n"
      "  given sg with { time: 2023-01-01 }\n"
      "  expect allow\n"
      "  given rental { id: \"x\" }\n"
      "  expect review by c\n"
      "}\n"
      "\n"
      "test \"empty\" {}\n");
}

// ---- expressions ----------------------------------------------------------

TEST_CASE("fmt: parentheses the author wrote are kept, none are added", "[fmt]") {
  expect_format(
      "const a = (1 + 2) * 3\n"
      "const b = 1 + (2 * 3)\n"
      "const c = ((x))\n"
      "const d = not (x and y) or z\n"
      "const e = -(x.y) - -3\n"
      "const f = a - (b - c)\n"
      "const g = (t[k].f otherwise 0) >= 5\n"
      "const h = t[k].f otherwise 0 >= 5\n"
      "const i = if a then b else c\n"
      "const j = (if a then 1 else 2) + 3\n",
      "const a = (1 + 2) * 3\n"
      "const b = 1 + (2 * 3)\n"
      "const c = (x)\n"
      "const d = not (x and y) or z\n"
      "const e = -(x.y) - -3\n"
      "const f = a - (b - c)\n"
      "const g = (t[k].f otherwise 0) >= 5\n"
      "const h = t[k].f otherwise 0 >= 5\n"
      "const i = if a then b else c\n"
      "const j = (if a then 1 else 2) + 3\n");
}

TEST_CASE("fmt: operators, membership, presence, calls, aggregates", "[fmt]") {
  expect_format(
      "const a = x  not  in S\n"
      "const b = event.license is absent\n"
      "const c = starts_with( lower(event.chip),\"h1\" )\n"
      "const d = x==1 and y!=2 or z<=3 and w>=4\n"
      "const e = sum( event.chip_count*event.hours ) over 30d by event.customer_id where event.hours > 1\n"
      "const f = count(distinct event.customer_id) over 1d12h\n"
      "const g = { a: 1, b: \"two\" }\n"
      "const h = {}\n",
      "const a = x not in S\n"
      "const b = event.license is absent\n"
      "const c = starts_with(lower(event.chip), \"h1\")\n"
      "const d = x == 1 and y != 2 or z <= 3 and w >= 4\n"
      "const e = sum(event.chip_count * event.hours) over 30d by event.customer_id where event.hours > 1\n"
      "const f = count(distinct event.customer_id) over 1d12h\n"
      "const g = { a: 1, b: \"two\" }\n"
      "const h = {}\n");
}

TEST_CASE("fmt: literals as written, numbers in canonical form", "[fmt]") {
  expect_format(
      "const a = 007\n"
      "const b = 4_800\n"
      "const c = 1E+26\n"
      "const d = 0001.50e-003\n"
      "const e = 2024-03-01T09:12:00.5+08:00\n"
      "const f = 1d12h\n"
      "const g = \"tab\\t quote\\\" \xc3\xa9\"\n"
      "const h = true\n",
      "const a = 7\n"
      "const b = 4_800\n"
      "const c = 1e26\n"
      "const d = 1.50e-3\n"
      "const e = 2024-03-01T09:12:00.5+08:00\n"
      "const f = 1d12h\n"
      "const g = \"tab\\t quote\\\" \xc3\xa9\"\n"
      "const h = true\n");
}

TEST_CASE("fmt: calls, ifs and sets that do not fit break at their opening line's indentation", "[fmt]") {
  expect_format(
      "const long_call = some_function_name(first_argument_expression_here, second_argument_expression_here, "
      "third_one)\n"
      "const long_if = if some_condition_that_is_long and another_condition_that_is_long then "
      "first_value_here "
      "else second_value_here\n"
      "rule r on rental\n"
      "  deny\n"
      "  unless not (event.license is present and event.license_expiry_date_field_name > "
      "2024-01-01T00:00:00Z "
      "and event.x in { \"aaaaaaaaaaaa\", \"bbbbbbbbbbbbb\" })\n",
      "const long_call = some_function_name(\n"
      "  first_argument_expression_here,\n"
      "  second_argument_expression_here,\n"
      "  third_one\n"
      ")\n"
      "\n"
      "const long_if =\n"
      "  if some_condition_that_is_long and another_condition_that_is_long\n"
      "    then first_value_here\n"
      "    else second_value_here\n"
      "\n"
      "rule r on rental\n"
      "  deny\n"
      "  unless not (\n"
      "    event.license is present\n"
      "    and event.license_expiry_date_field_name > 2024-01-01T00:00:00Z\n"
      "    and event.x in { \"aaaaaaaaaaaa\", \"bbbbbbbbbbbbb\" }\n"
      "  )\n");
}

TEST_CASE("fmt: a nested chain of the other operator breaks two deeper", "[fmt]") {
  std::string a(50, 'a'), b(50, 'b'), c(50, 'c');
  expect_format("const x = " + a + " or " + b + " and " + c + "\n",
                "const x =\n"
                "  " +
                    a +
                    "\n"
                    "    or " +
                    b +
                    "\n"
                    "      and " +
                    c + "\n");
}

TEST_CASE("fmt: aggregates keep exactly the parentheses the grammar needs", "[fmt]") {
  expect_format(
      "const a = sum(x) over 30d by event.c > 100\n"
      "const b = (sum(x) over 30d where f) > 2\n"
      "const c = (sum(x) over d).f\n"
      "const d = sum(x) over (count(y) over d) by (a + b)\n"
      "const e = sum(x) over 30d where f > 1 and g\n",
      "const a = sum(x) over 30d by event.c > 100\n"
      "const b = (sum(x) over 30d where f) > 2\n"
      "const c = (sum(x) over d).f\n"
      "const d = sum(x) over (count(y) over d) by (a + b)\n"
      "const e = sum(x) over 30d where f > 1 and g\n");
}

TEST_CASE("fmt: a long aggregate puts `by` and `where` on lines of their own", "[fmt]") {
  expect_format(
      "rule r on rental cite \"c\" review\n"
      "  when event.ok and (sum(event.chip_count * event.hours) over 30d by event.customer_id where "
      "advanced(event.chip) and event.license is absent) > 100_000\n"
      "rule s on rental cite \"c\" review\n"
      "  when (count(distinct event.provider_name_long) over 365d by event.customer_identifier_written_long) "
      ">= 3\n"
      "rule t on rental cite \"c\" review\n"
      "  when (sum(event.chip_count * event.hours) over 30d where event.chip != \"T4\" and "
      "event.provider_hq != \"CN\" and event.purpose != \"inference\" and event.license is absent) > 1\n",
      "rule r on rental\n"
      "  cite \"c\"\n"
      "  review\n"
      "  when event.ok\n"
      "    and (sum(event.chip_count * event.hours) over 30d\n"
      "           by event.customer_id\n"
      "           where advanced(event.chip) and event.license is absent) > 100_000\n"
      "\n"
      "rule s on rental\n"
      "  cite \"c\"\n"
      "  review\n"
      "  when (count(distinct event.provider_name_long) over 365d\n"
      "          by event.customer_identifier_written_long) >= 3\n"
      "\n"
      "rule t on rental\n"
      "  cite \"c\"\n"
      "  review\n"
      "  when (sum(event.chip_count * event.hours) over 30d\n"
      "          where event.chip != \"T4\"\n"
      "            and event.provider_hq != \"CN\"\n"
      "            and event.purpose != \"inference\"\n"
      "            and event.license is absent) > 1\n");
}

// ---- comments -------------------------------------------------------------

TEST_CASE("fmt: leading and trailing comments stay with their declaration", "[fmt]") {
  expect_format(
      "// file header\n"
      "\n"
      "// about a\n"
      "const a = 1   // trailing a\n"
      "/* about b */ const b = 2\n"
      "// last words\n",
      "// file header\n"
      "\n"
      "// about a\n"
      "const a = 1 // trailing a\n"
      "/* about b */\n"
      "const b = 2\n"
      "// last words\n");
}

TEST_CASE("fmt: comments on fields are kept and trailing ones aligned", "[fmt]") {
  expect_format(
      "event rental { // the rental\n"
      "  // identity\n"
      "  id: string, // unique\n"
      "  customer_hq: country, // headquarters\n"
      "  time: time\n"
      "  // end of fields\n"
      "} // after\n",
      "event rental { // the rental\n"
      "  // identity\n"
      "  id: string,           // unique\n"
      "  customer_hq: country, // headquarters\n"
      "  time: time,\n"
      "  // end of fields\n"
      "} // after\n");
}

TEST_CASE("fmt: comments on rule clauses move with their clause", "[fmt]") {
  expect_format(
      "rule r on rental // header\n"
      "  // why deny\n"
      "  deny \"m\"\n"
      "  effective 2023-11-17  // in force\n"
      "  when a\n",
      "rule r on rental // header\n"
      "  effective 2023-11-17 // in force\n"
      "  // why deny\n"
      "  deny \"m\"\n"
      "  when a\n");
}

TEST_CASE("fmt: a comment inside an expression moves before its line", "[fmt]") {
  expect_format(
      "const x = 1 + /* one */ 2\n"
      "rule r on rental\n"
      "  deny\n"
      "  when f(a, /* why */ b)\n",
      "/* one */\n"
      "const x = 1 + 2\n"
      "\n"
      "rule r on rental\n"
      "  deny\n"
      "  /* why */\n"
      "  when f(a, b)\n");
}

TEST_CASE("fmt: a comment between chain operands keeps the chain broken", "[fmt]") {
  expect_format(
      "rule r on rental\n"
      "  deny\n"
      "  when a // first\n"
      "    // second\n"
      "    and b\n",
      "rule r on rental\n"
      "  deny\n"
      "  when a // first\n"
      "    // second\n"
      "    and b\n");
}

TEST_CASE("fmt: comments inside set and table literals", "[fmt]") {
  expect_format(
      "set S: country = {\n"
      "  \"CN\", // China\n"
      "  \"RU\",\n"
      "  // Macau\n"
      "  \"MO\" }\n"
      "table t: string -> { a: int } = {\n"
      "  \"x\": { a: 1 }, // first\n"
      "  // second\n"
      "  \"yy\": { a: 2 }\n"
      "  // done\n"
      "}\n"
      "event e {\n"
      "  // nothing yet\n"
      "}\n",
      "set S: country = {\n"
      "  \"CN\", // China\n"
      "  \"RU\",\n"
      "  // Macau\n"
      "  \"MO\",\n"
      "}\n"
      "\n"
      "table t: string -> { a: int } = {\n"
      "  \"x\":  { a: 1 }, // first\n"
      "  // second\n"
      "  \"yy\": { a: 2 },\n"
      "  // done\n"
      "}\n"
      "\n"
      "event e {\n"
      "  // nothing yet\n"
      "}\n");
}

TEST_CASE("fmt: comments in tests and examples", "[fmt]") {
  expect_format(
      "example x: rental = {\n"
      "  id: \"a\", // id\n"
      "  n: 1\n"
      "}\n"
      "test \"t\" {\n"
      "  // the base case\n"
      "  given x\n"
      "  expect allow // nothing fires\n"
      "}\n",
      "example x: rental = {\n"
      "  id: \"a\", // id\n"
      "  n: 1,\n"
      "}\n"
      "\n"
      "test \"t\" {\n"
      "  // the base case\n"
      "  given x\n"
      "  expect allow // nothing fires\n"
      "}\n");
}

TEST_CASE("fmt: a multi-line block comment is kept verbatim", "[fmt]") {
  expect_format(
      "/*\n"
      " * Licence text\n"
      " */\n"
      "const a = 1\n",
      "/*\n"
      " * Licence text\n"
      " */\n"
      "const a = 1\n");
}

TEST_CASE("fmt: a file of comments only, and an empty file", "[fmt]") {
  expect_format("// just a note   \n\n\n// another\n", "// just a note\n\n// another\n");
  expect_format("", "");
  expect_format("\n\n  \n", "");
}

// ---- files ----------------------------------------------------------------

TEST_CASE("fmt: a literate file keeps its markdown byte for byte", "[fmt]") {
  std::string before =
      "# Title\n"
      "\n"
      "Some *prose* with `code`   and trailing spaces   \n"
      "\n"
      "```edict\n"
      "const   a=1\n"
      "// note\n"
      "const b =2\n"
      "```\n"
      "\n"
      "```json\n"
      "{ \"not\":   \"edict\" }\n"
      "```\n"
      "\n"
      "  ```edict\n"
      "rule r on rental deny when a   and b\n"
      "  ```\n"
      "tail text";
  std::string after =
      "# Title\n"
      "\n"
      "Some *prose* with `code`   and trailing spaces   \n"
      "\n"
      "```edict\n"
      "const a = 1\n"
      "// note\n"
      "const b = 2\n"
      "```\n"
      "\n"
      "```json\n"
      "{ \"not\":   \"edict\" }\n"
      "```\n"
      "\n"
      "  ```edict\n"
      "  rule r on rental\n"
      "    deny\n"
      "    when a and b\n"
      "  ```\n"
      "tail text";
  expect_format(before, after, "policy.edict.md");
}

TEST_CASE("fmt: CRLF line ends are kept", "[fmt]") {
  expect_format("const a=1\r\n// c\r\nconst b = 2\r\n", "const a = 1\r\n// c\r\nconst b = 2\r\n");
}

TEST_CASE("fmt: a file with syntax errors is not rewritten", "[fmt]") {
  std::string diagnostics;
  CHECK_FALSE(format_text("rule r on rental\n  deny\n  when (a and\n", "bad.edict", &diagnostics));
  CHECK(diagnostics.find("error[E00") != std::string::npos);
  CHECK_FALSE(format_text("const a = \"unterminated\n", "bad.edict", &diagnostics));
  CHECK_FALSE(format_text("rule r on rental deny when a when b\n", "bad.edict", &diagnostics));
  CHECK_FALSE(format_text("```edict\nconst = 1\n```\n", "bad.edict.md", &diagnostics));
}

TEST_CASE("fmt: hostile input neither crashes nor hangs", "[fmt]") {
  std::string chain = "const x = a0";
  for (int i = 1; i < 3000; ++i) chain += (i % 3 ? " and a" : " or a") + std::to_string(i);
  std::optional<std::string> out = format_text(chain + "\n");
  if (out) CHECK(format_text(*out) == out);

  std::string deep = "const y = " + std::string(150, '(') + "1" + std::string(150, ')') + "\n";
  out = format_text(deep);
  if (out) CHECK(format_text(*out) == out);

  std::string wide = "set S: string = {";
  for (int i = 0; i < 2000; ++i) wide += "\"s" + std::to_string(i) + "\", /* c" + std::to_string(i) + " */ ";
  out = format_text(wide + "}\n");
  REQUIRE(out);
  CHECK(format_text(*out) == out);
}

TEST_CASE("fmt: trailing comments align per run of lines at one indentation", "[fmt]") {
  expect_format(
      "event e {\n"
      "  a: int, // one\n"
      "  longer_name: string, // two\n"
      "\n"
      "  b: int, // three\n"
      "}\n",
      "event e {\n"
      "  a: int,              // one\n"
      "  longer_name: string, // two\n"
      "\n"
      "  b: int, // three\n"
      "}\n");
}

TEST_CASE("fmt: format_module lays out an already parsed module", "[fmt]") {
  SourceManager sources;
  DiagnosticSink sink;
  FileId file = sources.add("m.edict", "const  a=1\n");
  edict::ast::Program program;
  auto module = edict::parse::parse_module(sources, file, program, sink);
  REQUIRE_FALSE(sink.has_errors());
  CHECK(edict::fmt::format_module(sources, *module) == "const a = 1\n");
}

// A comment written at any token boundary survives formatting exactly once
// and the result is a fixed point (the comment placement rules are the part
// most likely to oscillate).
TEST_CASE("fmt: a comment at any token boundary is kept once and stays put", "[fmt]") {
  const std::string base =
      "set S: country = { \"CN\", \"RU\" }\n"
      "table t: string -> { a: int } = { \"x\": { a: 1 } }\n"
      "rule r on rental\n"
      "  deny \"m\"\n"
      "  when f(event.a) and (event.b in S or event.c > 1_000) and event.d is present\n"
      "  unless not (event.e and event.f)\n"
      "test \"t\" { given x with { a: 1 } expect deny by r }\n";
  int boundaries = 0;
  bool in_string = false;
  for (size_t i = 1; i < base.size(); ++i) {
    if (base[i - 1] == '"') in_string = !in_string;
    if (in_string || (base[i] != ' ' && base[i] != '\n') || base[i - 1] == ' ') continue;
    for (const char* comment : {" /* QQ */", " // QQ\n", "\n// QQ\n"}) {
      std::string text = base.substr(0, i) + comment + base.substr(i);
      INFO(text);
      std::optional<std::string> out = format_text(text);
      REQUIRE(out.has_value());
      CHECK(out->find("QQ") == out->rfind("QQ"));
      CHECK(out->find("QQ") != std::string::npos);
      CHECK(format_text(*out) == out);
    }
    ++boundaries;
  }
  CHECK(boundaries > 40);
}

TEST_CASE("fmt: narrow widths break everything and still round-trip", "[fmt]") {
  const fs::path root = EDICT_SOURCE_DIR;
  for (const char* rel : {"policies/reference.edict", "policies/common/events.edict"}) {
    const std::string text = read_file(root / rel);
    if (text.empty()) continue;
    for (unsigned width : {30u, 60u}) {
      INFO(rel << " at width " << width);
      SourceManager sources;
      DiagnosticSink sink;
      FileId file = sources.add(rel, text);
      edict::fmt::Options options;
      options.max_width = width;
      std::optional<std::string> out = edict::fmt::format_source(sources, file, sink, options);
      INFO(edict::render_human(sources, sink.sorted()));
      REQUIRE(out.has_value());
      FileId again_file = sources.add(rel, *out);
      CHECK(edict::fmt::format_source(sources, again_file, sink, options) == out);
    }
  }
}

// ---- every policy in the repository ---------------------------------------

TEST_CASE("fmt: idempotent and AST-preserving on every policy file in the repository", "[fmt]") {
  const fs::path root = EDICT_SOURCE_DIR;
  std::vector<fs::path> files;
  for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator(); ++it) {
    const fs::path rel = fs::relative(it->path(), root);
    const std::string first = rel.begin()->string();
    if (it->is_directory() && (first.rfind("build", 0) == 0 || first == ".git")) {
      it.disable_recursion_pending();
      continue;
    }
    const std::string name = it->path().filename().string();
    bool is_policy = name.size() > 6 && (name.ends_with(".edict") || name.ends_with(".edict.md"));
    if (it->is_regular_file() && is_policy) files.push_back(it->path());
  }
  std::sort(files.begin(), files.end());

  size_t formatted = 0, shipped = 0;
  for (const fs::path& path : files) {
    const std::string rel = fs::relative(path, root).generic_string();
    const bool must_parse = rel.rfind("policies/", 0) == 0;
    const std::string text = read_file(path);
    std::optional<std::string> before = dump_text(text, path.string());
    INFO(rel);
    if (!before) {
      CHECK_FALSE(must_parse);  // the shipped policies must all parse
      continue;
    }
    std::string diagnostics;
    std::optional<std::string> out = format_text(text, path.string(), &diagnostics);
    INFO(diagnostics);
    REQUIRE(out.has_value());
    CHECK(dump_text(*out, path.string()) == before);
    std::optional<std::string> again = format_text(*out, path.string(), &diagnostics);
    REQUIRE(again.has_value());
    CHECK(*again == *out);
    ++formatted;
    shipped += must_parse;
  }
  CHECK(shipped >= 2);
  CHECK(formatted >= shipped);
}
