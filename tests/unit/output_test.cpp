// Unit tests for decision records: message templates against the reference
// interpreter, and the records the writer builds from them.
#include <catch2/catch.hpp>

#include <map>
#include <random>

#include "compiler/interp/interp.h"
#include "engine/decode/decoder.h"
#include "engine/engine.h"
#include "engine/message_template.h"
#include "engine/output.h"

using namespace edict;

namespace {

// Messages of every shape: each value type, escapes in the constant text, a
// checked optional field, constants, a branch (no template), none at all.
const char* const kPolicy = R"edict(
event ev {
  id: string,
  time: time,
  s: string,
  n: int,
  x: number,
  b: bool,
  c: country,
  d: duration,
  note: string?,
}
event other {
  id: string,
  time: time,
  s: string,
}

const NOTE = "say \"no\" \\ twice\n\u{A7}"
const START = 2024-01-01
const GRACE = 1d12h
const HOME: country = "US"

rule every_type on ev
  cite "t"
  report "s={event.s} n={event.n} x={event.x} b={event.b} c={event.c} t={event.time} d={event.d}"
  when event.b

rule escapes on any
  cite "quote \" backslash \\"
  review "\"{event.s}\" tab\t cr\r nl\n \{braces\} \u{1}\u{e9} {event.id}"
  when event.s != ""

rule optional_note on ev
  cite "t"
  deny "note: {event.note} ({event.n})"
  when event.note is present and event.b

rule constants on ev
  cite "t"
  report "{2 * 21} {NOTE} {START} {GRACE} {true} {1.5} {HOME}"
  when event.n > 0

rule branch on ev
  cite "t"
  review "{if event.n > 0 then event.s else event.id} {event.s}"
  when event.c == "CN"

rule silent on ev
  cite "t"
  report
  when event.x > 1
)edict";

struct Compiled {
  SourceManager sources;
  DiagnosticSink sink;
  std::unique_ptr<engine::Policy> policy;
  explicit Compiled(engine::Backend backend, std::string text = kPolicy) {
    parse::FileReader reader = [text](const std::string&, std::string*) -> std::optional<std::string> {
      return text;
    };
    engine::CompileOptions options;
    options.backend = backend;
    policy = engine::Policy::compile({"messages.edict"}, sources, sink, options, reader);
  }
};

// Event lines with awkward values: escapes, UTF-8, long strings, extreme
// numbers, fractions of seconds, absent and present optional fields.
std::vector<std::string> event_lines(size_t n) {
  const std::vector<std::string> strings = {"",
                                            "plain",
                                            "quote \\\" in",
                                            "back\\\\slash",
                                            "ctl \\u0001\\u001f",
                                            "tab\\tnl\\n",
                                            "caf\u00e9",
                                            "\\u2028 sep",
                                            std::string(40, 'y') + "\\\"",
                                            "{braces}",
                                            "x,y;z"};
  const std::vector<std::string> ints = {"0",   "-1", "2", "9223372036854775807", "-9223372036854775808",
                                         "120", "35"};
  const std::vector<std::string> numbers = {
      "0", "-0.0", "1.5", "1e26", "-2.5e-308", "0.1", "1e300", "123456789012345678", "7"};
  const std::vector<std::string> times = {"2024-03-01T00:00:00Z", "1969-12-31T23:59:59.5Z",
                                          "2024-02-29T12:34:56.000001Z"};
  const std::vector<std::string> durations = {"0s", "1d12h", "90s", "2h1m"};
  std::mt19937 rng(7);
  auto pick = [&](const std::vector<std::string>& v) { return v[rng() % v.size()]; };
  std::vector<std::string> lines;
  for (size_t i = 0; i < n; ++i) {
    std::string id = "\"e-" + std::to_string(i) + (i % 11 == 0 ? "\\\"q" : "") + "\"";
    if (i % 13 == 0) {
      lines.push_back(R"({"kind":"other","id":)" + id + R"(,"time":"2024-01-01T00:00:00Z","s":")" +
                      pick(strings) + "\"}");
      continue;
    }
    std::string line = R"({"kind":"ev","id":)" + id + R"(,"time":")" + pick(times) + R"(","s":")" +
                       pick(strings) + R"(","n":)" + pick(ints) + R"(,"x":)" + pick(numbers) + R"(,"b":)" +
                       (rng() % 2 ? "true" : "false") + R"(,"c":")" + (rng() % 2 ? "CN" : "US") +
                       R"(","d":")" + pick(durations) + "\"";
    if (rng() % 2) line += R"(,"note":")" + pick(strings) + "\"";
    lines.push_back(line + "}");
  }
  return lines;
}

struct Decoded {
  abi::Batch batch;
  engine::Results results;
  std::vector<const void*> data;
  std::vector<const uint8_t*> present;
  EdictColumns columns;
  Decoded(const engine::Policy& policy, const std::vector<std::string>& lines)
      : batch(policy.schema(), policy.symbols(), static_cast<uint32_t>(lines.size())) {
    decode::Decoder decoder(policy.schema());
    for (size_t i = 0; i < lines.size(); ++i) {
      std::string padded = lines[i] + std::string(64, ' ');
      decoder.decode(std::string_view(padded.data(), lines[i].size()), padded.size(), i + 1, batch);
    }
    results.reserve(batch.size(), policy.module().rules.size());
    policy.evaluate(batch, results);
    columns = engine::Policy::columns_of(batch, data, present);
  }
};

std::string json_escaped(std::string_view s) {
  std::string quoted;
  engine::append_json_string(quoted, s);
  return quoted.substr(1, quoted.size() - 2);
}

}  // namespace

TEST_CASE("message templates write exactly the interpreter's messages, escaped and plain", "[output]") {
  Compiled c(engine::Backend::Interp);
  REQUIRE(c.policy);
  const engine::Policy& policy = *c.policy;
  const ir::Module& m = policy.module();
  const std::vector<std::string> lines = event_lines(600);
  Decoded d(policy, lines);
  for (uint32_t row = 0; row < d.batch.size(); ++row) REQUIRE(d.batch.error_of(row) == nullptr);

  const auto columns = abi::column_map(policy.schema());
  std::map<std::string, int> templated, compared, faulted;
  for (size_t r = 0; r < m.rules.size(); ++r) {
    const ir::Rule& rule = m.rules[r];
    for (const ir::RuleBody& body : rule.bodies) {
      if (body.message == ir::kNoFunc) continue;
      auto t = engine::MessageTemplate::compile(m, m.functions[static_cast<size_t>(body.message)],
                                                columns[static_cast<size_t>(body.event)]);
      if (!t) continue;
      ++templated[rule.name];
      // Every row of the kind, fired or not: the template must agree with
      // the interpreter on rows where the message faults as well.
      for (uint32_t row = 0; row < d.batch.size(); ++row) {
        if (d.batch.kind(row) != body.event) continue;
        interp::MessageResult expected = policy.interpreter().message(static_cast<int>(r), d.columns, row);
        INFO(rule.name << " on line " << lines[row]);
        REQUIRE(t->faults(d.columns, row) == !expected.ok());
        if (!expected.ok()) {
          ++faulted[rule.name];
          continue;
        }
        std::string out = "[";
        {
          engine::RecordBuffer buffer(out);
          t->put_json(buffer, d.columns, row);
        }
        CHECK(out == "[" + json_escaped(expected.text));
        std::string text = "[";
        t->append_text(text, d.columns, row);
        CHECK(text == "[" + expected.text);
        ++compared[rule.name];
      }
    }
  }
  // Straight-line messages have templates; the one with a branch has none.
  CHECK(templated == std::map<std::string, int>{
                         {"every_type", 1}, {"escapes", 2}, {"optional_note", 1}, {"constants", 1}});
  for (const char* name : {"every_type", "escapes", "optional_note", "constants"})
    CHECK(compared[name] > 100);
  // The optional field is absent on about half the rows.
  CHECK(faulted["optional_note"] > 100);
}

TEST_CASE("decision records carry every fired rule's message, on both engines and formats", "[output]") {
  for (engine::Backend backend : {engine::Backend::Jit, engine::Backend::Interp}) {
    Compiled c(backend);
    REQUIRE(c.policy);
    const engine::Policy& policy = *c.policy;
    const ir::Module& m = policy.module();
    const std::vector<std::string> lines = event_lines(600);
    Decoded d(policy, lines);

    std::string jsonl = "header\n", csv;
    engine::Summary summary, csv_summary;
    engine::RecordWriter(policy, engine::OutputFormat::Jsonl).write(d.batch, d.results, jsonl, summary);
    engine::RecordWriter(policy, engine::OutputFormat::Csv).write(d.batch, d.results, csv, csv_summary);
    REQUIRE(jsonl.rfind("header\n", 0) == 0);
    jsonl.erase(0, 7);

    size_t at = 0, csv_at = 0, fired_rows = 0;
    for (uint32_t row = 0; row < d.batch.size(); ++row) {
      const std::string record = jsonl.substr(at, jsonl.find('\n', at) - at);
      const std::string csv_record = csv.substr(csv_at, csv.find('\n', csv_at) - csv_at);
      at += record.size() + 1;
      csv_at += csv_record.size() + 1;
      INFO(record);
      std::string expected_rules, csv_rules;
      for (size_t r = 0; r < m.rules.size(); ++r) {
        if (!d.results.rule_fired(row, r)) continue;
        interp::MessageResult msg = policy.interpreter().message(static_cast<int>(r), d.columns, row);
        REQUIRE(msg.ok());  // the rules guard what their messages read
        expected_rules += ",\"message\":\"" + json_escaped(msg.text) + "\"}";
        csv_rules += (csv_rules.empty() ? "" : ";") + m.rules[r].name;
      }
      fired_rows += !csv_rules.empty();
      const std::string decision = policy.outcome_name(d.results.decision[row]);
      const std::string id = json_escaped(d.batch.id(row));
      CHECK(record.rfind("{\"line\":" + std::to_string(row + 1) + ",\"id\":\"" + id + "\",\"kind\":\"" +
                             m.events[d.batch.kind(row)].name + "\",\"decision\":\"" + decision +
                             "\",\"rules\":[",
                         0) == 0);
      // The messages in rule order, each closing its rule's object.
      size_t from = 0;
      for (size_t p = expected_rules.find(",\"message\":"); p != std::string::npos;
           p = expected_rules.find(",\"message\":", p + 1)) {
        std::string one = expected_rules.substr(p, expected_rules.find("\"}", p) + 2 - p);
        size_t found = record.find(one, from);
        CHECK(found != std::string::npos);
        if (found != std::string::npos) from = found + one.size();
      }
      CHECK(record.size() >= 3);
      CHECK(record.substr(record.size() - 2) == "]}");
      CHECK(csv_record.find("," + m.events[d.batch.kind(row)].name + "," + decision + "," + csv_rules +
                            ",,") != std::string::npos);
    }
    CHECK(at == jsonl.size());
    CHECK(csv_at == csv.size());
    CHECK(fired_rows > 300);
    CHECK(summary.lines == lines.size());
    CHECK(summary.errors == 0);
    CHECK(summary.per_rule == csv_summary.per_rule);
  }
}

TEST_CASE("the record buffer escapes exactly as append_json_string at every length and position",
          "[output]") {
  // Bytes at and around each class boundary: controls, space, quote,
  // backslash, DEL, UTF-8 lead and continuation bytes.
  const char specials[] = {'\x00', '\x01', '\x1f', ' ',    '"', '\\', '\n', '\t',
                           '\x7f', '\x80', '\xc3', '\xff', '!', '#',  '[',  ']'};
  for (size_t length = 0; length <= 40; ++length) {
    for (size_t at = 0; at < std::max<size_t>(length, 1); ++at) {
      for (char special : specials) {
        std::string text(length, 'x');
        if (length > 0) text[at] = special;
        std::string expected;
        engine::append_json_string(expected, text);
        std::string out = "prefix";
        {
          engine::RecordBuffer buffer(out);
          buffer.reserve(2 + engine::RecordBuffer::json_escaped_bound(text));
          buffer.put('"');
          buffer.put_json_escaped(text);
          buffer.put('"');
        }
        INFO(length << " " << at << " " << static_cast<int>(static_cast<unsigned char>(special)));
        REQUIRE(out == "prefix" + expected);
      }
    }
  }
}

TEST_CASE("records number their lines across digit carries, gaps and restarts", "[output]") {
  Compiled c(engine::Backend::Interp);
  REQUIRE(c.policy);
  const engine::Policy& policy = *c.policy;
  const std::vector<uint64_t> numbers = {1,          2,     9,  10,  11,   99,   100, 101, 7,
                                         8,          9,     10, 999, 1000, 1001, 999, 99,  100,
                                         9999,       10000, 99, 100, 19,   20,   0,   1,   UINT64_MAX - 1,
                                         UINT64_MAX, 5};
  const std::string event = R"({"kind":"other","id":"o","time":"2024-01-01T00:00:00Z","s":""})";
  abi::Batch batch(policy.schema(), policy.symbols(), static_cast<uint32_t>(numbers.size()));
  decode::Decoder decoder(policy.schema());
  const std::string padded = event + std::string(64, ' ');
  for (uint64_t n : numbers)
    decoder.decode(std::string_view(padded.data(), event.size()), padded.size(), n, batch);
  engine::Results results;
  results.reserve(batch.size(), policy.module().rules.size());
  policy.evaluate(batch, results);
  std::string jsonl, csv, expected_jsonl, expected_csv;
  engine::Summary summary;
  engine::RecordWriter(policy, engine::OutputFormat::Jsonl).write(batch, results, jsonl, summary);
  engine::RecordWriter(policy, engine::OutputFormat::Csv).write(batch, results, csv, summary);
  for (uint64_t n : numbers) {
    expected_jsonl += "{\"line\":" + std::to_string(n) +
                      ",\"id\":\"o\",\"kind\":\"other\",\"decision\":\"allow\",\"rules\":[]}\n";
    expected_csv += std::to_string(n) + ",o,other,allow,,,\n";
  }
  CHECK(jsonl == expected_jsonl);
  CHECK(csv == expected_csv);
}

TEST_CASE("a message that faults turns its record into an error beside templated messages", "[output]") {
  const std::string text = R"edict(
event ev {
  id: string,
  time: time,
  n: int,
}
rule plain on ev
  cite "a"
  report "n is {event.n}"
  when event.n > 0
rule next on ev
  cite "b"
  review "next is {event.n + 1}"
  when event.n > 1
)edict";
  for (engine::Backend backend : {engine::Backend::Jit, engine::Backend::Interp}) {
    Compiled c(backend, text);
    REQUIRE(c.policy);
    const std::vector<std::string> lines = {
        R"({"kind":"ev","id":"a","time":"2024-01-01T00:00:00Z","n":1})",
        R"({"kind":"ev","id":"b","time":"2024-01-01T00:00:00Z","n":9223372036854775807})",
        R"({"kind":"ev","id":"c","time":"2024-01-01T00:00:00Z","n":5})",
    };
    Decoded d(*c.policy, lines);
    std::string jsonl, csv;
    engine::Summary summary, csv_summary;
    engine::RecordWriter(*c.policy, engine::OutputFormat::Jsonl).write(d.batch, d.results, jsonl, summary);
    engine::RecordWriter(*c.policy, engine::OutputFormat::Csv).write(d.batch, d.results, csv, csv_summary);
    const std::string plain = R"({"name":"plain","effect":"report","cite":"a","message":)";
    const std::string next = R"({"name":"next","effect":"review","cite":"b","message":)";
    const std::string fault = "integer overflow in rule `next` (messages.edict:13:20)";
    // Row 2: the templated message stays, the faulting one is empty, and the
    // record names the fault (docs/events.md).
    const std::string expected[] = {
        R"({"line":1,"id":"a","kind":"ev","decision":"report","rules":[)" + plain + R"("n is 1"}]})",
        R"({"line":2,"id":"b","kind":"ev","decision":"error","reason":"int_overflow","rule":"next","error":")" +
            fault + R"(","rules":[)" + plain + R"("n is 9223372036854775807"},)" + next + R"(""}]})",
        R"({"line":3,"id":"c","kind":"ev","decision":"review","rules":[)" + plain + R"("n is 5"},)" + next +
            R"("next is 6"}]})",
    };
    CHECK(jsonl == expected[0] + "\n" + expected[1] + "\n" + expected[2] + "\n");
    CHECK(csv == "1,a,ev,report,plain,,\n2,b,ev,error,plain;next,int_overflow," + fault +
                     "\n3,c,ev,review,plain;next,,\n");
    CHECK(summary.errors == 1);
    CHECK(csv_summary.errors == 1);
  }
}
