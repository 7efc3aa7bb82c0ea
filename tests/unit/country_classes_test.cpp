// Country class bytes: the JIT's batch code reads set memberships of country
// fields from per-row bytes the decoder writes (abi::Batch::set_country),
// the interpreter reads the countries. Both must decide every event alike.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "engine/decode/decoder.h"
#include "engine/engine.h"

using namespace edict;

namespace {

// Large scattered sets (class bytes), a small one (a compare chain), an
// optional field, and a column two kinds share (`dc`, tested `on any`).
const char* const kPolicy = R"edict(
event rental { id: string, time: time, hq: country, parent: country?, dc: country }
event provision { id: string, time: time, dc: country }

set BIG: country = { "AF", "BY", "CN", "CU", "IR", "KP", "MO", "RU", "ZW" }
set ALLIES: country = { "US", "AU", "DE", "FR", "GB", "JP", "NL", "TW" }
set PAIR: country = { "CN", "RU" }

rule hq_big on rental
  cite "t"
  deny "hq"
  when event.hq in BIG

rule parent_big on rental
  cite "t"
  review "parent"
  when event.parent is present and event.parent in BIG and event.hq not in ALLIES

rule dc_outside on any
  cite "t"
  report "dc"
  when event.dc not in ALLIES and event.dc not in BIG

rule hq_pair on rental
  cite "t"
  review "pair"
  when event.hq in PAIR
)edict";

struct Compiled {
  SourceManager sources;
  DiagnosticSink sink;
  std::unique_ptr<engine::Policy> policy;
  explicit Compiled(engine::Backend backend) {
    parse::FileReader reader = [](const std::string&, std::string*) -> std::optional<std::string> {
      return std::string(kPolicy);
    };
    engine::CompileOptions options;
    options.backend = backend;
    policy = engine::Policy::compile({"classes.edict"}, sources, sink, options, reader);
  }
};

std::vector<std::string> event_lines() {
  // Members of each set and countries in none, in several orders.
  const std::vector<std::string> codes = {"AF", "CN", "RU", "MO", "ZW", "US", "DE", "JP", "TW",
                                          "SG", "BR", "IN", "HK", "AE", "KP", "GB", "CU", "FR"};
  std::vector<std::string> lines;
  for (size_t i = 0; i < codes.size() * codes.size(); ++i) {
    const std::string& a = codes[i % codes.size()];
    const std::string& b = codes[i / codes.size()];
    const std::string id = "\"id\":\"e" + std::to_string(i) + "\",\"time\":\"2024-01-01T00:00:00Z\"";
    if (i % 7 == 3) {
      lines.push_back("{\"kind\":\"provision\"," + id + ",\"dc\":\"" + a + "\"}");
      continue;
    }
    std::string parent = i % 5 == 0 ? "" : ",\"parent\":\"" + b + "\"";
    lines.push_back("{\"kind\":\"rental\"," + id + ",\"hq\":\"" + a + "\"" + parent + ",\"dc\":\"" +
                    codes[(i * 7) % codes.size()] + "\"}");
  }
  return lines;
}

// Decodes every line, alternating the decoder's fast and full paths, and
// evaluates the batch.
engine::Results evaluate(const engine::Policy& policy, const std::vector<std::string>& lines) {
  abi::Batch batch(policy.schema(), policy.symbols(), static_cast<uint32_t>(lines.size()));
  decode::Decoder fast(policy.schema()), full(policy.schema(), false);
  for (size_t i = 0; i < lines.size(); ++i) {
    std::string padded = lines[i] + std::string(64, '\0');
    (i % 2 ? full : fast)
        .decode(std::string_view(padded.data(), lines[i].size()), padded.size(), i + 1, batch);
  }
  REQUIRE(batch.errors().empty());
  engine::Results results;
  results.reserve(batch.size(), policy.module().rules.size());
  policy.evaluate(batch, results);
  return results;
}

}  // namespace

TEST_CASE("JIT batch code reads country sets from class bytes and agrees with the interpreter",
          "[jit][classes]") {
  Compiled jit(engine::Backend::Jit), interp(engine::Backend::Interp);
  REQUIRE(jit.policy);
  REQUIRE(interp.policy);
  // hq, parent and dc get class bytes (BIG and ALLIES; PAIR is a compare
  // chain); the interpreter's schema has none.
  auto class_columns = [](const abi::Schema& s) {
    size_t n = 0;
    for (const abi::ColumnSpec& c : s.columns) n += c.classes >= 0;
    return n;
  };
  CHECK(class_columns(jit.policy->schema()) == 3);
  CHECK(class_columns(interp.policy->schema()) == 0);

  const std::vector<std::string> lines = event_lines();
  const engine::Results a = evaluate(*jit.policy, lines), b = evaluate(*interp.policy, lines);
  std::vector<size_t> fired(jit.policy->module().rules.size(), 0);
  for (uint32_t r = 0; r < lines.size(); ++r) {
    INFO(lines[r]);
    CHECK(int{a.decision[r]} == int{b.decision[r]});
    for (size_t k = 0; k < fired.size(); ++k) {
      CHECK(a.rule_fired(r, k) == b.rule_fired(r, k));
      fired[k] += a.rule_fired(r, k);
    }
  }
  // Every rule fires on some events and not on others.
  for (size_t k = 0; k < fired.size(); ++k) {
    INFO(jit.policy->module().rules[k].name);
    CHECK(fired[k] > 0);
    CHECK(fired[k] < lines.size());
  }
}
