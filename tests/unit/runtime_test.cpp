// Unit tests for the event runtime: line splitting and JSON decoding into
// columns, including every kind of malformed line.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <thread>

#include <unistd.h>

#include "abi/batch.h"
#include "engine/decode/decoder.h"
#include "engine/decode/line_reader.h"
#include "engine/output.h"
#include "support/countries.h"
#include "support/diagnostics.h"
#include "support/source.h"
#include "support/time_util.h"
#include "tests/decoded_rows.h"

using namespace edict;
using namespace edict::abi;
using namespace edict::decode;

namespace {

Schema test_schema() {
  Schema s;
  s.add_kind("rental",
             {{"id", ColumnType::String, false, -1},
              {"time", ColumnType::Time, false, -1},
              {"customer_hq", ColumnType::Country, false, -1},
              {"chip", ColumnType::String, false, -1},
              {"chip_count", ColumnType::Int, false, -1},
              {"hours", ColumnType::Number, false, -1},
              {"entity_listed", ColumnType::Bool, false, -1},
              {"license", ColumnType::String, true, -1}},
             1);
  s.add_kind("provision",
             {{"id", ColumnType::String, false, -1},
              {"time", ColumnType::Time, false, -1},
              {"customer_hq", ColumnType::Country, false, -1},
              {"peak_ops_per_s", ColumnType::Number, false, -1}},
             1);
  return s;
}

struct Decoded {
  Schema schema = test_schema();
  SymbolTable symbols;
  Batch batch{schema, symbols, 16};
  Decoder decoder{schema};
  uint32_t decode(const std::string& line) {
    std::string padded = line + std::string(64, '\0');
    decoder.decode(std::string_view(padded.data(), line.size()), padded.size(), batch.size() + 1, batch);
    return batch.size() - 1;
  }
  std::string error(uint32_t row) {
    const RowError* e = batch.error_of(row);
    return e ? e->message : "";
  }
};

const std::string kGood =
    R"({"kind":"rental","id":"r-1","time":"2024-03-01T00:00:00Z","customer_hq":"CN","chip":"H100-SXM5-80GB",)"
    R"("chip_count":64,"hours":720.5,"entity_listed":false,"extra":{"ignored":[1,2]}})";

}  // namespace

TEST_CASE("a well-formed rental decodes into shared columns", "[decode]") {
  Decoded d;
  uint32_t sym = d.symbols.intern("H100-SXM5-80GB");
  uint32_t row = d.decode(kGood);
  REQUIRE(d.error(row) == "");
  CHECK(d.batch.kind(row) == 0);
  CHECK(d.batch.id(row) == "r-1");
  const Schema& s = d.schema;
  auto col = [&](const char* name) -> const Column& {
    return d.batch.column(
        static_cast<size_t>(s.kinds[0].fields[static_cast<size_t>(s.kinds[0].field_index.at(name))].column));
  };
  CHECK(col("time").data<int64_t>()[row] == *parse_rfc3339("2024-03-01T00:00:00Z"));
  CHECK(col("customer_hq").data<uint16_t>()[row] == *country_index("CN"));
  CHECK(col("chip").data<uint32_t>()[row] == sym);  // a policy constant: its compile-time symbol
  CHECK(col("chip_count").data<int64_t>()[row] == 64);
  CHECK(col("hours").data<double>()[row] == 720.5);
  CHECK(col("entity_listed").data<uint8_t>()[row] == 0);
  CHECK(col("license").present[row] == 0);
  // `time` and `customer_hq` are one column for both kinds.
  CHECK(s.kinds[0].fields[1].column == s.kinds[1].fields[1].column);
  CHECK(s.columns.size() == 9);
}

TEST_CASE("malformed lines become row errors naming field and reason", "[decode]") {
  Decoded d;
  auto reason_of = [&](const std::string& line) {
    uint32_t row = d.decode(line);
    CHECK(d.batch.kind(row) == kErrorRow);
    const RowError* e = d.batch.error_of(row);
    REQUIRE(e != nullptr);
    return std::string(error_reason_name(e->reason)) + ": " + e->message;
  };
  CHECK(reason_of(kGood.substr(0, kGood.size() - 5)).rfind("invalid_json: ", 0) == 0);
  CHECK(reason_of(R"(["rental", 1, 2, 3])") == "not_object: not a JSON object (found an array)");
  std::string wrong = kGood;
  wrong.replace(wrong.find("64"), 2, "\"sixty-four\"");
  CHECK(reason_of(wrong) == "wrong_type: chip_count: expected an integer, found a string");
  std::string bad_country = kGood;
  bad_country.replace(bad_country.find("\"CN\""), 4, "\"XX\"");
  CHECK(reason_of(bad_country) == "bad_country: customer_hq: `XX` is not an ISO 3166-1 alpha-2 country code");
  CHECK(d.batch.event_kind(d.batch.size() - 1) == 0);  // the kind is known though the row failed
  std::string bad_time = kGood;
  bad_time.replace(bad_time.find("2024-03-01T00:00:00Z"), 20, "2024-13-40T00:00:00Z");
  CHECK(reason_of(bad_time) ==
        "bad_time: time: `2024-13-40T00:00:00Z` is not an RFC 3339 time: month 13 is out of range (1-12)");
  std::string missing = kGood;
  missing.erase(missing.find("\"customer_hq\":\"CN\","), 19);
  CHECK(reason_of(missing) == "missing_field: missing field `customer_hq`");
  std::string utf8 = kGood;
  utf8.replace(utf8.find("r-1"), 3, "r-\xff");
  CHECK(reason_of(utf8) == "invalid_utf8: invalid UTF-8");
  CHECK(reason_of(R"({"id":"x"})") == "missing_kind: missing field `kind`");
  CHECK(reason_of(R"({"kind":"lease"})") ==
        "unknown_kind: unknown event kind `lease`; this policy reads `rental`, `provision`");
  CHECK(d.batch.event_kind(d.batch.size() - 1) == kErrorRow);
  std::string dup = kGood;
  dup.insert(dup.size() - 1, R"(,"chip":"T4")");
  CHECK(reason_of(dup) == "duplicate_key: duplicate key `chip`");
  std::string null_value = kGood;
  null_value.replace(null_value.find("720.5"), 5, "null");
  CHECK(reason_of(null_value) == "null_value: hours: null where a number is required");
  CHECK(reason_of(kGood + " 1").rfind("invalid_json", 0) == 0);
}

// Both decoding paths (the plain fast path declines every one of these, so
// the full path words them) give the same exact record for each malformed
// form; docs/events.md lists them.
TEST_CASE("every line that is not valid JSON is an invalid_json error on both paths", "[decode]") {
  const std::string base = kGood.substr(0, kGood.size() - 1);  // without the closing brace
  struct Case {
    std::string line;
    std::string message;  // after "invalid JSON at column N: "
    std::string marker;   // where N points (its last occurrence; none: the end of the line)
  };
  const std::vector<Case> cases = {
      {base + R"(,"junk":[1,}})", "expected a value, found `}`", "}}"},
      {base + R"(,"license":nul})", "invalid literal `nul` (expected true, false or null)", "nul"},
      {base + R"(,"license":n})", "invalid literal `n` (expected true, false or null)", "n}"},
      {base + R"(,"license":nullx})", "invalid literal `nullx` (expected true, false or null)", "nullx"},
      {base + R"(,"junk":tru})", "invalid literal `tru` (expected true, false or null)", "tru"},
      {base + R"(,"junk":0x10})", "invalid number `0x10`", "0x10"},
      {base + R"(,"junk":1.5.3})", "invalid number `1.5.3`", "1.5.3"},
      {base + R"(,"junk":01})", "invalid number `01` (a leading zero)", "01"},
      {base + R"(,"junk":-Infinity})", "invalid number `-Infinity`", "-Inf"},
      {base + R"(,"junk":NaN})", "expected a value, found `NaN`", "NaN"},
      {base + R"(,"junk":"a\x"})", "invalid escape `\\x` in a string", "\\x"},
      {base + R"(,"junk":"\ud800"})", "unpaired surrogate escape \\uD800 in a string", "\\ud800"},
      {base + ",\"junk\":\"a\x1f\"}", "control character U+001F in a string (it must be escaped)", "\x1f"},
      {base + R"(,"junk":"abc)", "unterminated string", "\"abc"},
      {kGood + "}", "content after the JSON value: `}`", "}"},
      {base + R"(,"junk":{"a" 1}})", "expected `:` after the key, found `1`", "1}"},
      {base, "expected `,` or `}`, found the end of the line", ""},
      {"\xEF\xBB\xBF" + kGood, "expected a value, found a byte order mark (U+FEFF)", "\xEF"},
  };
  // The same forms in the fields each path decodes: a Number, an Int, a Bool,
  // an optional String.
  std::vector<Case> in_fields = cases;
  auto in_field = [&](const std::string& from, const std::string& to, const std::string& message,
                      const std::string& marker) {
    std::string line = kGood;
    line.replace(line.find(from), from.size(), to);
    in_fields.push_back({line, message, marker});
  };
  in_field("720.5", "1.5.3", "invalid number `1.5.3`", "1.5.3");
  in_field("64", "0x10", "invalid number `0x10`", "0x10");
  in_field("false", "tru", "invalid literal `tru` (expected true, false or null)", "tru");
  in_field("720.5", "-Infinity", "invalid number `-Infinity`", "-Inf");
  for (bool fast : {true, false}) {
    Schema schema = test_schema();
    SymbolTable symbols;
    Batch batch(schema, symbols, 64);
    Decoder decoder(schema, fast);
    for (const Case& c : in_fields) {
      INFO((fast ? "fast path: " : "full path: ") << c.line);
      std::string padded = c.line + std::string(64, '\0');
      decoder.decode(std::string_view(padded.data(), c.line.size()), padded.size(), 1, batch);
      const uint32_t row = batch.size() - 1;
      REQUIRE(batch.kind(row) == kErrorRow);
      const RowError* e = batch.error_of(row);
      REQUIRE(e != nullptr);
      const size_t column = c.marker.empty() ? c.line.size() + 1 : c.line.rfind(c.marker) + 1;
      CHECK(std::string(error_reason_name(e->reason)) == "invalid_json");
      CHECK(e->message == "invalid JSON at column " + std::to_string(column) + ": " + c.message);
      CHECK(batch.id(row).empty());  // no id from a line that is not JSON
      if (batch.full()) batch.clear();
    }
  }
}

TEST_CASE("optional fields: present, null and missing", "[decode]") {
  Decoded d;
  std::string with_license = kGood;
  with_license.insert(with_license.size() - 1, R"(,"license":"D123")");
  uint32_t a = d.decode(with_license);
  std::string null_license = kGood;
  null_license.insert(null_license.size() - 1, R"(,"license":null)");
  uint32_t b = d.decode(null_license);
  int lic = d.schema.kinds[0].fields[7].column;
  CHECK(d.batch.column(static_cast<size_t>(lic)).present[a] == 1);
  CHECK(d.batch.string(d.batch.column(static_cast<size_t>(lic)).data<uint32_t>()[a]) == "D123");
  CHECK(d.batch.column(static_cast<size_t>(lic)).present[b] == 0);
  CHECK(d.batch.kind(b) == 0);
}

TEST_CASE("the line reader numbers lines, strips CR, keeps a last line without LF, skips huge lines",
          "[decode]") {
  std::string path =
      std::string(std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp") + "/edict_lines.jsonl";
  {
    std::ofstream f(path, std::ios::binary);
    f << "a\r\n\nbb\n" << std::string(5000, 'x') << "\nlast";
  }
  std::string error;
  auto reader = LineReader::open(path, 4096, &error);
  REQUIRE(reader);
  // Views are valid until the next call: copy what each call hands out.
  struct Seen {
    std::string text;
    uint64_t number, too_long;
  };
  std::vector<Seen> all;
  std::vector<Line> chunk;
  while (reader->next(chunk))
    for (const Line& l : chunk) all.push_back({std::string(l.text), l.number, l.too_long});
  REQUIRE(all.size() == 5);
  CHECK(all[0].text == "a");
  CHECK(all[1].text == "");
  CHECK(all[2].text == "bb");
  CHECK(all[3].too_long == 5000);
  CHECK(all[4].text == "last");
  CHECK(all[4].number == 5);
  std::remove(path.c_str());
  CHECK_FALSE(LineReader::open("/nonexistent/file", 4096, &error));
  CHECK(error == "No such file or directory");
}

TEST_CASE("reading ahead hands out the same lines, each chunk's views valid until the next call",
          "[decode]") {
  std::string path =
      std::string(std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp") + "/edict_read_ahead.jsonl";
  // Several chunks (a chunk is 1 MiB), lines of every length up to one over
  // the limit, CRLF ends and a last line without LF: the partial line at
  // each chunk's end moves to the other buffer.
  std::mt19937 rng(19);
  std::string text;
  for (int i = 0; text.size() < 3'500'000; ++i) {
    const size_t length = std::uniform_int_distribution<size_t>(0, i % 97 == 0 ? 9000 : 300)(rng);
    text += std::to_string(i) + ':' + std::string(length, static_cast<char>('a' + i % 26));
    text += i % 5 == 0 ? "\r\n" : "\n";
  }
  text += "last";
  {
    std::ofstream f(path, std::ios::binary);
    f << text;
  }
  struct Seen {
    std::string text;
    uint64_t number, too_long;
    bool operator==(const Seen&) const = default;
  };
  auto read_all = [&](bool ahead, bool check_views, bool map = false) {
    std::string error;
    auto reader = LineReader::open(path, 8192, &error, map);
    REQUIRE(reader);
    if (ahead) reader->read_ahead();
    std::vector<Seen> all;
    std::vector<Line> chunk;
    while (reader->next(chunk)) {
      const size_t first = all.size();
      for (const Line& l : chunk) all.push_back({std::string(l.text), l.number, l.too_long});
      if (check_views) {
        // The thread splits the next chunk meanwhile: this one must not move.
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
        for (size_t i = 0; i < chunk.size(); ++i) REQUIRE(std::string(chunk[i].text) == all[first + i].text);
      }
    }
    CHECK(reader->error().empty());
    CHECK(reader->bytes_read() == text.size());
    return all;
  };
  const std::vector<Seen> plain = read_all(false, false), ahead = read_all(true, true);
  REQUIRE(plain.size() > 10000);
  CHECK(plain.back().text == "last");
  CHECK(std::count_if(plain.begin(), plain.end(), [](const Seen& s) { return s.too_long > 0; }) > 0);
  CHECK(ahead == plain);
  // Mapped, the file hands out the same lines.
  CHECK(read_all(false, false, true) == plain);
  CHECK(read_all(true, true, true) == plain);
  std::remove(path.c_str());
}

namespace {

std::string temp_path(const char* name) {
  return std::string(std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp") + "/" + name;
}

struct ReadLine {
  std::string text;
  uint64_t number, too_long;
  bool operator==(const ReadLine&) const = default;
};

// Every line of `path` and the bytes counted, read whole.
std::vector<ReadLine> read_every_line(const std::string& path, size_t max_line, bool map, bool ahead,
                                      uint64_t* bytes = nullptr) {
  std::string error;
  auto reader = LineReader::open(path, max_line, &error, map);
  REQUIRE(reader);
  if (ahead) reader->read_ahead();
  std::vector<ReadLine> all;
  std::vector<Line> chunk;
  while (reader->next(chunk))
    for (const Line& l : chunk) {
      // The decoder reads up to its padding past every line.
      if (!l.too_long) REQUIRE(l.capacity >= l.text.size() + kLinePadding);
      all.push_back({std::string(l.text), l.number, l.too_long});
    }
  CHECK(reader->error().empty());
  if (bytes) *bytes = reader->bytes_read();
  return all;
}

}  // namespace

TEST_CASE("a mapped file hands out the lines read() does across its windows", "[decode]") {
  const std::string path = temp_path("edict_windows.jsonl");
  // Over two of the reader's 16 MiB windows, with a byte order mark, a line
  // over the limit across the first window's end and one under it across
  // the second's, and a last line without LF.
  std::mt19937 rng(7);
  std::string text = "\xEF\xBB\xBF";
  auto add_lines_until = [&](size_t size) {
    for (int i = 0; text.size() < size; ++i) {
      text += std::to_string(i) + ':' + std::string(std::uniform_int_distribution<size_t>(0, 700)(rng), 'q');
      text += i % 7 == 0 ? "\r\n" : "\n";
    }
  };
  add_lines_until((16 << 20) - 3000);
  text += std::string(9000, 'L') + "\n";  // over the limit (8192)
  add_lines_until((32 << 20) - 2000);
  text += std::string(8000, 'M') + "\r\n";  // under it
  add_lines_until(34 << 20);
  text += "last";
  {
    std::ofstream f(path, std::ios::binary);
    f << text;
  }
  uint64_t mapped_bytes = 0, read_bytes = 0;
  const std::vector<ReadLine> by_read = read_every_line(path, 8192, false, false, &read_bytes);
  const std::vector<ReadLine> mapped = read_every_line(path, 8192, true, false, &mapped_bytes);
  CHECK(mapped == by_read);
  CHECK(read_every_line(path, 8192, true, true) == by_read);
  CHECK(mapped_bytes == text.size());
  CHECK(read_bytes == text.size());
  REQUIRE(by_read.size() > 1000);
  CHECK(by_read.front().text.rfind("0:", 0) == 0);
  CHECK(by_read.back().text == "last");
  CHECK(std::count_if(by_read.begin(), by_read.end(), [](const ReadLine& l) { return l.too_long == 9000; }) ==
        1);
  CHECK(std::count_if(by_read.begin(), by_read.end(),
                      [](const ReadLine& l) { return l.text == std::string(8000, 'M'); }) == 1);
  // A line longer than a window, under a larger limit: the window grows for it.
  {
    std::ofstream f(path, std::ios::binary);
    f << "a\n" << std::string(40 << 20, 'x') << "\nb";
  }
  const std::vector<ReadLine> long_line = read_every_line(path, 64 << 20, true, true);
  REQUIRE(long_line.size() == 3);
  CHECK(long_line[1].text.size() == (40u << 20));
  CHECK(long_line == read_every_line(path, 64 << 20, false, false));
  std::remove(path.c_str());
}

TEST_CASE("a mapped file that shrinks while read: its lost bytes read as zeros, and the reader stops",
          "[decode]") {
  const std::string path = temp_path("edict_shrinking.jsonl");
  for (const bool ahead : {false, true}) {
    {
      std::ofstream f(path, std::ios::binary);
      for (int i = 0; i < 30000; ++i) f << i << ':' << std::string(300, 'z') << '\n';
    }
    std::string error;
    auto reader = LineReader::open(path, 4096, &error, true);
    REQUIRE(reader);
    if (ahead) reader->read_ahead();
    std::vector<Line> chunk;
    REQUIRE(reader->next(chunk));
    REQUIRE(chunk.size() > 100);
    CHECK(chunk.back().text.substr(chunk.back().text.size() - 3) == "zzz");
    CHECK_FALSE(reader->input_changed());
    // The file loses every byte while its lines are held: reading them
    // raises SIGBUS, which reads zeros instead of killing the process.
    REQUIRE(::truncate(path.c_str(), 0) == 0);
    CHECK(chunk.back().text[chunk.back().text.size() - 1] == '\0');
    CHECK(reader->input_changed());
    CHECK_FALSE(reader->next(chunk));
    CHECK(reader->error().find("the file changed while being read: it shrank") != std::string::npos);
    CHECK(reader->error().find(" now)") != std::string::npos);
  }
  std::remove(path.c_str());
}

namespace {

// Lines that stress the decoder's two paths: plain lines in every shape the
// fast path accepts, values at the edges of each type, and everything that
// must fall back (escapes, nesting, whitespace, bad values, duplicates).
std::string random_line(std::mt19937& rng) {
  auto chance = [&](int percent) { return std::uniform_int_distribution<int>(0, 99)(rng) < percent; };
  // Half the lines are plain and valid; the rest mix in values from `odd`.
  const bool clean = chance(50);
  auto pick = [&](std::initializer_list<const char*> good, std::initializer_list<const char*> odd) {
    auto from = [&](std::initializer_list<const char*> options) {
      return std::string(
          *(options.begin() + std::uniform_int_distribution<size_t>(0, options.size() - 1)(rng)));
    };
    return clean || odd.size() == 0 || chance(60) ? from(good) : from(odd);
  };
  std::vector<std::pair<std::string, std::string>> fields = {
      {"kind", pick({"\"rental\"", "\"provision\""}, {"\"lease\"", "1", "null", "\"\""})},
      {"id", pick({"\"r-1\"", "\"r-2\"", "\"\""}, {"\"caf\\u00e9\"", "\"caf\xc3\xa9\"", "7", "null", "[1]"})},
      {"time", pick({"\"2024-03-01T00:00:00Z\"", "\"2023-11-17T23:59:59Z\"", "\"2024-02-29T12:00:00+05:30\"",
                     "\"1970-01-01T00:00:00.5Z\"", "\"2024-02-28T23:59:59Z\"", "\"0001-01-01T00:00:00Z\""},
                    {"\"2024-13-40T00:00:00Z\"", "\"yesterday\"", "1", "null", "\"0000-01-01T00:00:00Z\"",
                     "\"2024-03-01T24:00:00Z\"", "\"2024-03-01 00:00:00Z\"", "\"2024-03-01T00:00:00z\"",
                     "\"2024-03-01T00:00:00\"", "\"2024-03-01T00:00:00Z \""})},
      {"customer_hq", pick({"\"CN\"", "\"US\"", "\"MO\""}, {"\"XX\"", "\"cn\"", "\"\"", "3"})},
      {"chip",
       pick({"\"H100-SXM5-80GB\"", "\"T4\"", "\"new chip\"", "\"\""}, {"\"a\\\"b\"", "1", "true", "null"})},
      // `kind` and `}` inside strings: the plain path finds the kind key and
      // the closing brace by scanning raw bytes.
      {"note", pick({"\"not read\"", "\"\"", "\"kind\"", "\"}\"", "\"a}\""}, {"\"x\\ny\"", "2"})},
      {"chip_count", pick({"64", "0", "-0", "-7", "123456789012345678"},
                          {"1234567890123456789", "9223372036854775807", "9223372036854775808", "1.0", "1e2",
                           "\"64\"", "null", "01"})},
      {"hours", pick({"720.5",
                      "0",
                      "-0.0",
                      "0.1",
                      "2079.49",
                      "1e5",
                      "1.5E-3",
                      "123456789012345678901",
                      "3.216e+25",
                      "6.873e+23",
                      "1e22",
                      "1e23",
                      "1.5e-22",
                      "123456789012345e8",
                      "1e37",
                      "9007199254740993",
                      "123456789012345e25",
                      "987654321098765e36",
                      "3.000000000000001e30",
                      "0e400",
                      "-2.5E+30",
                      "0.000001e-16",
                      "0.000000000000000000000001",
                      "-1.7976931348623157e308",
                      "3.141592653589793238",
                      "2.2250738585072014e-308",
                      "0.30000000000000004"},
                     {"1e400", "1e-400", "4e-320", "1.", ".5", "-", "true", "null", "1e"})},
      {"entity_listed", pick({"false", "true"}, {"null", "0", "tru", "falsey"})},
      {"license", pick({"\"D123\"", "null"}, {"5"})},
      {"lease", pick({"\"1h\"", "\"2d\"", "null"}, {"\"forever\""})},
      {"extra", pick({"1", "\"x\"", "null", "-2.5e3"}, {"{\"nested\":[1,2]}", "[]"})},
      {"a_field_name_well_beyond_sixteen_bytes", pick({"1", "-20", "null"}, {"1.5", "\"x\""})},
  };
  std::shuffle(fields.begin(), fields.end(), rng);
  std::string line = !clean && chance(10) ? " {" : "{";
  bool first = true;
  for (const auto& [key, value] : fields) {
    if (key != "kind" && key != "chip" && key != "time" && chance(clean ? 3 : 8)) continue;  // missing
    if (!first) line += chance(5) ? " , " : ",";
    first = false;
    line += "\"" + key + "\"" + (chance(5) ? " : " : ":") + value;
    if (!clean && chance(3)) line += ",\"" + key + "\":" + value;  // duplicate
  }
  line += chance(3) ? "} " : "}";
  if (clean) return line;
  if (chance(3)) line += std::vector<std::string>{"x", " 1", "\t", "}", "{}"}[rng() % 5];
  if (chance(30)) {
    // Mutations: a deleted, replaced or inserted byte.
    size_t at = std::uniform_int_distribution<size_t>(0, line.size() - 1)(rng);
    const char bytes[] = {'"',    '\\',   '{',    '}',    ',', ':', ' ', '\t',
                          '\x01', '\x7f', '\xc3', '\xff', '0', 'e', '-'};
    char b = bytes[std::uniform_int_distribution<size_t>(0, sizeof bytes - 1)(rng)];
    switch (std::uniform_int_distribution<int>(0, 2)(rng)) {
      case 0: line.erase(at, 1); break;
      case 1: line[at] = b; break;
      default: line.insert(at, 1, b);
    }
  }
  return line;
}

}  // namespace

TEST_CASE("the fast path for plain lines decodes exactly as the full simdjson path", "[decode]") {
  const Schema schema = edict::testing::decoder_test_schema("a_field_name_well_beyond_sixteen_bytes");
  SymbolTable symbols;
  symbols.intern("T4");
  Decoder fast(schema), full(schema, false);
  Batch a(schema, symbols, 64), b(schema, symbols, 64);
  std::mt19937 rng(20261126);
  uint64_t errors = 0, decoded = 0;
  for (int i = 0; i < 40000; ++i) {
    if (a.full()) {
      a.clear();
      b.clear();
    }
    const std::string line = random_line(rng);
    std::string padded = line + std::string(64, '\0');
    fast.decode(std::string_view(padded.data(), line.size()), padded.size(), 1, a);
    full.decode(std::string_view(padded.data(), line.size()), padded.size(), 1, b);
    const uint32_t row = a.size() - 1;
    INFO(line);
    REQUIRE(edict::testing::row_difference(schema, a, b, row) == "");
    if (a.error_of(row)) {
      ++errors;
      continue;
    }
    ++decoded;
  }
  // The generator must reach both outcomes and the fast path itself.
  CHECK(decoded > 2000);
  CHECK(errors > 2000);
  CHECK(fast.plain_lines() > 10000);
  CHECK(full.plain_lines() == 0);
}

TEST_CASE("JSON strings in decision records are escaped at any position", "[output]") {
  CHECK([] {
    std::string out;
    edict::engine::append_json_string(out, "caf\xc3\xa9 \"q\" a\\b\n\t\r\x01\x1f\x7f");
    return out;
  }() == "\"caf\xc3\xa9 \\\"q\\\" a\\\\b\\n\\t\\r\\u0001\\u001f\x7f\"");
  // Every special byte at every offset of strings longer than one 16-byte block.
  const std::string specials[] = {"\"", "\\", "\n", "\x02", "\xc3\xa9", " "};
  const std::string escaped[] = {"\\\"", "\\\\", "\\n", "\\u0002", "\xc3\xa9", " "};
  for (size_t length : {15, 16, 17, 31, 33, 40}) {
    for (size_t at = 0; at < length; ++at) {
      for (size_t k = 0; k < std::size(specials); ++k) {
        std::string text(length, 'x');
        text.replace(at, 1, specials[k]);
        std::string expected =
            "\"" + std::string(at, 'x') + escaped[k] + std::string(length - at - 1, 'x') + "\"";
        std::string out = "prefix";
        edict::engine::append_json_string(out, text);
        INFO(length << " " << at << " " << k);
        REQUIRE(out == "prefix" + expected);
      }
    }
  }
}

// Decision records (the record writer) and diagnostics (the renderer, in
// support) print JSON strings through support/text.h: the same text for every
// byte, invalid UTF-8 included (copied as is).
TEST_CASE("decision records and diagnostics escape every byte into the same JSON", "[output]") {
  std::string all;
  for (int c = 0; c < 256; ++c) all += static_cast<char>(c);
  std::string record;
  edict::engine::append_json_string(record, all);
  CHECK(record.find("\\u0000\\u0001") != std::string::npos);
  CHECK(record.substr(record.size() - 130) == all.substr(127) + "\"");  // DEL and up copied
  SourceManager sm;
  std::string diagnostics = render_json(sm, {Diagnostic{Severity::Error, "E0001", Span{}, all, {}, {}}});
  CHECK(diagnostics.find("\"message\":" + record + ",") != std::string::npos);
}

TEST_CASE("both decoder paths write a country's class byte with its index", "[decode]") {
  // Class bytes of customer_hq: bit 0 for {CN, RU}, bit 1 for {CN, US}.
  Schema schema = test_schema();
  const int hq =
      schema.kinds[0].fields[static_cast<size_t>(schema.kinds[0].field_index.at("customer_hq"))].column;
  std::vector<uint8_t> class_of(kCountryIndexLimit, 0);
  class_of[*country_index("CN")] = 3;
  class_of[*country_index("RU")] = 1;
  class_of[*country_index("US")] = 2;
  const int classes = schema.add_country_classes(hq, class_of, {0, 1});
  CHECK(schema.columns[static_cast<size_t>(hq)].classes == classes);
  CHECK(!schema.columns[static_cast<size_t>(classes)].optional);
  SymbolTable symbols;
  for (bool fast : {true, false}) {
    Batch batch(schema, symbols, 8);
    Decoder decoder(schema, fast);
    const std::pair<const char*, uint8_t> cases[] = {{"CN", 3}, {"RU", 1}, {"US", 2}, {"GB", 0}};
    for (auto [code, expected] : cases) {
      // Flat, so that the fast path takes it (kGood has a nested member).
      std::string line = R"({"kind":"rental","id":"r-1","time":"2024-03-01T00:00:00Z","customer_hq":")" +
                         std::string(code) +
                         R"(","chip":"T4","chip_count":1,"hours":2,"entity_listed":true})";
      std::string padded = line + std::string(64, '\0');
      decoder.decode(std::string_view(padded.data(), line.size()), padded.size(), batch.size() + 1, batch);
      const uint32_t row = batch.size() - 1;
      REQUIRE(batch.error_of(row) == nullptr);
      CHECK(batch.column(static_cast<size_t>(hq)).data<uint16_t>()[row] == *country_index(code));
      CHECK(batch.column(static_cast<size_t>(classes)).data<uint8_t>()[row] == expected);
    }
    CHECK(decoder.plain_lines() == (fast ? 4u : 0u));
  }
}
