// Unit tests for the event runtime: line splitting and JSON decoding into
// columns, including every kind of malformed line.
#include <catch2/catch.hpp>

#include <cstdio>
#include <fstream>

#include "compiler/support/countries.h"
#include "compiler/support/time_util.h"
#include "runtime/batch.h"
#include "runtime/decoder.h"
#include "runtime/line_reader.h"

using namespace edict;
using namespace edict::runtime;

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

TEST_CASE("a well-formed rental decodes into shared columns", "[runtime]") {
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

TEST_CASE("malformed lines become row errors naming field and reason", "[runtime]") {
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
  std::string dup = kGood;
  dup.insert(dup.size() - 1, R"(,"chip":"T4")");
  CHECK(reason_of(dup) == "duplicate_key: duplicate key `chip`");
  std::string null_value = kGood;
  null_value.replace(null_value.find("720.5"), 5, "null");
  CHECK(reason_of(null_value) == "null_value: hours: null where a number is required");
  CHECK(reason_of(kGood + " 1").rfind("invalid_json", 0) == 0);
}

TEST_CASE("optional fields: present, null and missing", "[runtime]") {
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
          "[runtime]") {
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
