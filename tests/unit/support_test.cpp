// Unit tests for compiler/support: source line tables, literate blanking,
// diagnostic rendering, "did you mean", calendar arithmetic and the literal
// spellings of support/text.h.
#include <catch2/catch.hpp>

#include <cmath>

#include "support/diagnostics.h"
#include "support/source.h"
#include "support/text.h"
#include "support/time_util.h"

using namespace edict;

TEST_CASE("line and column are computed from byte offsets, columns in code points", "[support]") {
  SourceManager sm;
  FileId f = sm.add("a.edict", "ab\nc\xc3\xa9x\r\nlast");
  CHECK(sm.line_col(f, 0).line == 1);
  CHECK(sm.line_col(f, 3).line == 2);
  CHECK(sm.line_col(f, 3).column == 1);
  // `x` follows a two-byte é: byte offset 6, column 3.
  CHECK(sm.line_col(f, 6).column == 3);
  CHECK(sm.line_text(f, 2) == "c\xc3\xa9x");  // CR stripped
  CHECK(sm.line_text(f, 3) == "last");
  CHECK(sm.line_text(f, 4).empty());
  CHECK(sm.text(Span{f, 3, 4}) == "c");
}

TEST_CASE("literate files keep only ```edict blocks, byte for byte in place", "[support]") {
  const std::string md =
      "# Title\n"
      "Some *prose*.\n"
      "```edict\n"
      "const a = 1\n"
      "```\n"
      "```python\n"
      "x = 1\n"
      "```\n"
      "```edict-error\n"
      "broken\n"
      "```\n"
      "````edict\n"
      "const b = 2\n"
      "```\n"  // shorter fence does not close a four-backtick block
      "````\n";
  std::string code = extract_literate_code(md);
  REQUIRE(code.size() == md.size());
  CHECK(code.find("const a = 1") == md.find("const a = 1"));
  CHECK(code.find("const b = 2") == md.find("const b = 2"));
  CHECK(code.find("Title") == std::string::npos);
  CHECK(code.find("x = 1") == std::string::npos);
  CHECK(code.find("broken") == std::string::npos);
  CHECK(code.find("```") != std::string::npos);  // the inner ``` of the 4-tick block is code
  // Newlines survive, so line numbers are the markdown's own.
  CHECK(std::count(code.begin(), code.end(), '\n') == std::count(md.begin(), md.end(), '\n'));
  CHECK(is_literate_path("policies/x.edict.md"));
  CHECK_FALSE(is_literate_path("policies/x.edict"));
}

TEST_CASE("human rendering shows file:line:col, the line, a caret under the span, help", "[support]") {
  SourceManager sm;
  FileId f = sm.add("p.edict", "rule r on rental\n  when event.custmer_hq in D5\n");
  Diagnostic d{Severity::Error,
               "E0201",
               Span{f, 29, 39},
               "unknown field `custmer_hq`",
               "did you mean `customer_hq`?",
               {}};
  std::string out = render_human(sm, d);
  CHECK(out ==
        "p.edict:2:13: error[E0201]: unknown field `custmer_hq`\n"
        "   |\n"
        " 2 |   when event.custmer_hq in D5\n"
        "   |             ^^^^^^^^^^\n"
        "  = help: did you mean `customer_hq`?\n");
}

TEST_CASE("json rendering escapes text and carries positions", "[support]") {
  SourceManager sm;
  FileId f = sm.add("p.edict", "x \"q\"\n");
  Diagnostic d{Severity::Warning, "W0100", Span{f, 2, 5}, "a \"quoted\"\tthing", {}, {}};
  std::string out = render_json(sm, {d});
  CHECK(out ==
        "[{\"severity\":\"warning\",\"code\":\"W0100\",\"file\":\"p.edict\",\"line\":1,\"column\":3,"
        "\"end_line\":1,\"end_column\":6,\"message\":\"a \\\"quoted\\\"\\tthing\",\"help\":null,"
        "\"labels\":[]}]\n");
}

TEST_CASE("the sink sorts by position and caps errors", "[support]") {
  SourceManager sm;
  FileId f = sm.add("p.edict", "0123456789");
  DiagnosticSink sink(2);
  sink.error("E2", Span{f, 5, 6}, "second");
  sink.warning("W1", Span{f, 1, 2}, "first");
  sink.error("E3", Span{f, 7, 8}, "third");
  CHECK(sink.limit_reached());
  sink.error("E4", Span{f, 0, 1}, "dropped").help = "ignored";
  CHECK(sink.error_count() == 3);
  auto sorted = sink.sorted();
  REQUIRE(sorted.size() == 3);
  CHECK(sorted[0].code == "W1");
  CHECK(sorted[1].code == "E2");
  CHECK(sorted[2].code == "E3");
}

TEST_CASE("closest_match finds plausible typos only", "[support]") {
  std::vector<std::string> fields{"customer_hq", "parent_hq", "chip", "chip_count"};
  CHECK(closest_match("custmer_hq", fields) == "customer_hq");
  CHECK(closest_match("chip_cuont", fields) == "chip_count");
  CHECK(closest_match("zzz", fields).empty());
  CHECK(closest_match("dney", {"deny", "allow", "review", "report"}) == "deny");
  CHECK(closest_match("cn", {"CN", "US"}) == "CN");
  CHECK(edit_distance("kitten", "sitting") == 3);
}

TEST_CASE("dates, times and durations parse strictly and format canonically", "[support]") {
  CHECK(parse_date("1970-01-01") == 0);
  CHECK(parse_date("2023-11-17") == days_from_civil(2023, 11, 17) * kMicrosPerDay);
  CHECK_FALSE(parse_date("2023-02-29"));
  CHECK(parse_date("2024-02-29"));
  CHECK_FALSE(parse_date("2023-13-01"));
  CHECK(explain_bad_time("2023-02-30") == "day 30 is out of range for 2023-02 (1-28)");
  CHECK(parse_rfc3339("2024-03-01T00:00:00Z") == *parse_date("2024-03-01"));
  CHECK(parse_rfc3339("2024-03-01T08:00:00+08:00") == *parse_date("2024-03-01"));
  CHECK(parse_rfc3339("2024-03-01T00:00:00.25Z") == *parse_date("2024-03-01") + 250000);
  CHECK_FALSE(parse_rfc3339("2024-03-01T24:00:00Z"));
  CHECK_FALSE(parse_rfc3339("2024-03-01T00:00:00"));
  CHECK_FALSE(parse_rfc3339("yesterday"));
  CHECK(explain_bad_time("2024-03-01T00:00:00") == "a time needs a UTC offset: end it with `Z` or `+hh:mm`");
  CHECK(format_time(*parse_rfc3339("2023-11-16T23:59:59Z")) == "2023-11-16T23:59:59Z");
  CHECK(format_time(*parse_rfc3339("1969-12-31T23:59:59.5Z")) == "1969-12-31T23:59:59.5Z");
  CHECK(parse_duration("30d") == 30 * kMicrosPerDay);
  CHECK(parse_duration("1d12h") == 36 * 3600 * kMicrosPerSecond);
  CHECK_FALSE(parse_duration("99999999999999999999d"));
  CHECK_FALSE(parse_duration("12"));
  CHECK(format_duration(36 * 3600 * kMicrosPerSecond) == "1d12h");
  CHECK(format_duration(90 * kMicrosPerSecond) == "1m30s");
}

TEST_CASE("edict string literals escape quotes, backslashes and control bytes only", "[support]") {
  CHECK(edict_string_literal("") == "\"\"");
  CHECK(edict_string_literal("a\"b\\c") == "\"a\\\"b\\\\c\"");
  CHECK(edict_string_literal("\n\t\r") == "\"\\n\\t\\r\"");
  CHECK(edict_string_literal(std::string_view("\x00\x01\x1f", 3)) == "\"\\u{0}\\u{1}\\u{1f}\"");
  // DEL, UTF-8 and invalid UTF-8 are bytes the lexer takes as they are.
  CHECK(edict_string_literal("\x7f") == "\"\x7f\"");
  CHECK(edict_string_literal("caf\xc3\xa9 \xf0\x9f\x98\x80") == "\"caf\xc3\xa9 \xf0\x9f\x98\x80\"");
  CHECK(edict_string_literal("\xff\xc3") == "\"\xff\xc3\"");
  CHECK(edict_string_literal("{x}") == "\"{x}\"");  // braces are plain text outside a message
  std::string out = "policy ";
  append_edict_string_literal(out, "a\tb");
  CHECK(out == "policy \"a\\tb\"");
}

TEST_CASE("edict number literals read back as the same double and lex as numbers", "[support]") {
  CHECK(edict_number_literal(814) == "814.0");
  CHECK(edict_number_literal(5.92) == "5.92");
  CHECK(edict_number_literal(-0.5) == "-0.5");
  CHECK(edict_number_literal(-0.0) == "-0.0");
  CHECK(edict_number_literal(1e26) == "1e+26");
  CHECK(edict_number_literal(0.1 + 0.2) == "0.30000000000000004");
  CHECK(edict_number_literal(std::nan("")) == "nan");
  CHECK(edict_number_literal(HUGE_VAL) == "inf");
  CHECK(edict_number_literal(-HUGE_VAL) == "-inf");
}

TEST_CASE("text clipped for a message keeps UTF-8 characters whole", "[support]") {
  CHECK(clip_for_message("short") == "short");
  CHECK(clip_for_message(std::string(40, 'x')) == std::string(40, 'x'));
  CHECK(clip_for_message(std::string(41, 'x')) == std::string(40, 'x') + "...");
  // An é (two bytes) across the cut is dropped whole, not split.
  CHECK(clip_for_message(std::string(39, 'x') + "\xc3\xa9yy") == std::string(39, 'x') + "...");
  CHECK(clip_for_message("ab\xc3\xa9z", 3) == "ab...");
  // Invalid UTF-8 (a lone continuation byte run) is cut without reading outside.
  CHECK(clip_for_message("\x80\x80\x80\x80", 2) == "...");
  CHECK(clip_for_message("\xff\xfe\xfd", 1) == "\xff...");
}

TEST_CASE("json rendering escapes control bytes, keeps DEL, UTF-8 and invalid UTF-8", "[support]") {
  SourceManager sm;
  Diagnostic d{Severity::Error, "E0001", Span{}, std::string("\x01\x1f\x7f \xc3\xa9 \xff \\ \"", 12), {}, {}};
  std::string out = render_json(sm, {d});
  CHECK(out.find("\"message\":\"\\u0001\\u001f\x7f \xc3\xa9 \xff \\\\ \\\"\"") != std::string::npos);
}
