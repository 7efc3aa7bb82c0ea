// Regression tooling: evaluation traces (explain), coverage, schema checks of
// decision diffs.
#include <catch2/catch.hpp>

#include <filesystem>

#include <map>
#include <memory>
#include <string>
#include <tuple>

#include "engine/decode/decoder.h"
#include "engine/output.h"
#include "engine/trace.h"
#include "tools/coverage.h"
#include "tools/diff.h"
#include "tools/testing.h"

using namespace edict;

namespace {

struct Compiled {
  SourceManager sources;
  DiagnosticSink sink;
  std::unique_ptr<engine::Policy> policy;
  std::unique_ptr<engine::Tracer> tracer;
};

std::unique_ptr<Compiled> compile(const std::string& text, const std::string& path = "small.edict") {
  auto c = std::make_unique<Compiled>();
  engine::CompileOptions options;
  options.backend = engine::Backend::Interp;
  auto reader = [text](const std::string&, std::string*) -> std::optional<std::string> { return text; };
  c->policy = engine::Policy::compile({path}, c->sources, c->sink, options, reader);
  if (!c->policy) FAIL(render_human(c->sources, c->sink.sorted()));
  std::string error;
  c->tracer = engine::Tracer::create(*c->policy, &error);
  if (!c->tracer) FAIL(error);
  return c;
}

const char* kSmall = R"(event ev {
  time: time,
  n: int,
  hq: country,
  chip: string,
  lic: string?,
}

table limits: string -> { cap: int } = {
  "a": { cap: 10 },
  "b": { cap: 20 },
  "c": { cap: 30 },
}

set BAD: country = { "CN", "RU", "IR" }

rule big on ev
  cite "x"
  deny
  when event.hq in BAD and (event.n > 5 or event.chip == "z")
  unless event.lic is present

rule capped on ev
  cite "y"
  review
  when event.chip in limits and event.n >= limits[event.chip].cap

test "one deny, one allow" {
  given ev { time: 2024-01-01T00:00:00Z, n: 6, hq: "CN", chip: "a" }
  expect deny by only big
  given ev { time: 2024-01-01T00:00:00Z, n: 1, hq: "US", chip: "q" }
  expect allow
}
)";

// Runs the policy's tests, recording every test event's coverage.
std::vector<tools::StepOutcome> run_recording_coverage(const Compiled& c, tools::Coverage& coverage) {
  return tools::run_tests(*c.policy, [&](const tools::StepOutcome&, const abi::Batch& batch) {
    std::vector<const void*> data;
    std::vector<const uint8_t*> present;
    coverage.record(*c.tracer, engine::Policy::columns_of(batch, data, present), 0);
  });
}

std::string strip_parens(std::string s) {
  if (s.size() > 1 && s.front() == '(' && s.back() == ')') return s.substr(1, s.size() - 2);
  return s;
}

}  // namespace

TEST_CASE("coverage of a small policy is exact", "[tools][coverage]") {
  auto c = compile(kSmall);
  tools::Coverage coverage;
  coverage.add_policy(*c->tracer);
  std::vector<tools::StepOutcome> steps = run_recording_coverage(*c, coverage);
  REQUIRE(steps.size() == 2);
  for (const auto& s : steps) REQUIRE(s.passed);

  using K = tools::CoveragePoint::Kind;
  // (kind, label) -> (seen true / fired / touched, seen false / not fired)
  std::map<std::pair<K, std::string>, std::pair<bool, bool>> expected = {
      {{K::Rule, "big"}, {true, true}},
      {{K::Rule, "capped"}, {false, true}},
      {{K::Condition, "event.hq in BAD and (event.n > 5 or event.chip == \"z\")"}, {true, true}},
      {{K::Condition, "event.hq in BAD"}, {true, true}},
      {{K::Condition, "event.n > 5 or event.chip == \"z\""},
       {true, false}},  // false only after a short circuit
      {{K::Condition, "event.n > 5"}, {true, false}},
      {{K::Condition, "event.chip == \"z\""}, {false, false}},  // never evaluated
      {{K::Condition, "event.lic is present"}, {false, true}},
      {{K::Condition, "event.chip in limits and event.n >= limits[event.chip].cap"}, {false, true}},
      {{K::Condition, "event.chip in limits"}, {true, true}},
      {{K::Condition, "event.n >= limits[event.chip].cap"}, {false, true}},
      {{K::TableRow, "\"a\""}, {true, false}},
      {{K::TableRow, "\"b\""}, {false, false}},
      {{K::TableRow, "\"c\""}, {false, false}},
      {{K::SetMember, "\"CN\""}, {true, false}},
      {{K::SetMember, "\"RU\""}, {false, false}},
      {{K::SetMember, "\"IR\""}, {false, false}},
  };
  std::map<std::pair<K, std::string>, std::pair<bool, bool>> actual;
  for (const tools::CoveragePoint& p : coverage.points())
    actual[{p.kind, strip_parens(p.label)}] = {p.seen_true, p.seen_false};
  CHECK(actual == expected);

  CHECK(coverage.tally(K::Rule).covered == 3);
  CHECK(coverage.tally(K::Rule).wanted == 4);
  CHECK(coverage.tally(K::Condition).covered == 11);
  CHECK(coverage.tally(K::Condition).wanted == 18);
  CHECK(coverage.tally(K::TableRow).covered == 1);
  CHECK(coverage.tally(K::TableRow).wanted == 3);
  CHECK(coverage.tally(K::SetMember).covered == 1);
  CHECK(coverage.tally(K::SetMember).wanted == 3);
  CHECK(coverage.total().covered == 16);
  CHECK(coverage.total().wanted == 28);

  // The report marks lines: the `capped` rule line is partly covered, the
  // row "b" line not at all.
  std::string human = tools::render_coverage_human(coverage);
  CHECK(human.find("!    23 | rule capped on ev") != std::string::npos);
  CHECK(human.find("rule capped never fired") != std::string::npos);
  CHECK(human.find("-    11 |   \"b\": { cap: 20 },") != std::string::npos);
  CHECK(human.find("`event.chip == \"z\"` never evaluated") != std::string::npos);
  std::string json = tools::render_coverage_json(coverage);
  CHECK(json.find("\"total\":{\"covered\":16,\"wanted\":28") != std::string::npos);
}

TEST_CASE("coverage of a windowed aggregate: its comparison and its `where` filter", "[tools][coverage]") {
  // The filter runs in the window stage on every event of the rule's kind:
  // its conditions and the set it tests are covered from there. The
  // message's copy of the aggregate shares the rule's (one filter function)
  // and adds no points.
  auto c = compile(R"(event ev { time: time, n: int, hq: country, cust: string }

set WATCH: country = { "CN", "RU" }

rule many on ev
  cite "x"
  review "{count() over 1d by event.cust where event.n > 5 and event.hq in WATCH} in a day"
  when (count() over 1d by event.cust where event.n > 5 and event.hq in WATCH) >= 2

test "two big watched ones in a day" {
  given ev { time: 2024-01-01T00:00:00Z, n: 6, hq: "CN", cust: "a" }
  expect allow
  given ev { time: 2024-01-01T01:00:00Z, n: 7, hq: "CN", cust: "a" }
  expect review by only many
  given ev { time: 2024-01-01T02:00:00Z, n: 1, hq: "US", cust: "a" }
  expect review by only many
}
)");
  tools::Coverage coverage;
  coverage.add_policy(*c->tracer);
  std::vector<tools::StepOutcome> steps = run_recording_coverage(*c, coverage);
  REQUIRE(steps.size() == 3);
  for (const auto& s : steps) REQUIRE(s.passed);
  using K = tools::CoveragePoint::Kind;
  std::map<std::pair<K, std::string>, std::pair<bool, bool>> expected = {
      {{K::Rule, "many"}, {true, true}},
      {{K::Condition, "(count() over 1d by event.cust where event.n > 5 and event.hq in WATCH) >= 2"},
       {true, true}},
      {{K::Condition, "event.n > 5 and event.hq in WATCH"}, {true, true}},
      {{K::Condition, "event.n > 5"}, {true, true}},
      {{K::Condition, "event.hq in WATCH"}, {true, false}},  // short circuit when n <= 5
      {{K::SetMember, "\"CN\""}, {true, false}},
      {{K::SetMember, "\"RU\""}, {false, false}},
  };
  std::map<std::pair<K, std::string>, std::pair<bool, bool>> actual;
  for (const tools::CoveragePoint& p : coverage.points())
    actual[{p.kind, strip_parens(p.label)}] = {p.seen_true, p.seen_false};
  CHECK(actual == expected);
  CHECK(coverage.points().size() == expected.size());
}

TEST_CASE("a trace shows each condition's value, short circuits and absent values", "[trace]") {
  auto c = compile(kSmall);
  abi::Batch* seen = nullptr;
  std::vector<engine::RuleTrace> traces;
  tools::run_tests(*c->policy, [&](const tools::StepOutcome& s, const abi::Batch& batch) {
    if (s.step != 0) return;
    seen = const_cast<abi::Batch*>(&batch);
    std::vector<const void*> data;
    std::vector<const uint8_t*> present;
    EdictColumns cols = engine::Policy::columns_of(batch, data, present);
    for (int r = 0; r < 2; ++r) traces.push_back(c->tracer->trace_rule(r, cols, 0));
  });
  REQUIRE(seen);
  REQUIRE(traces.size() == 2);
  using State = engine::TraceNode::State;
  const engine::RuleTrace& big = traces[0];
  CHECK(big.status == engine::RuleTrace::Status::Fired);
  REQUIRE(big.when);
  CHECK(big.when->text == "true");
  REQUIRE(big.when->children.size() == 2);
  const engine::TraceNode& in_bad = big.when->children[0];
  CHECK(in_bad.source == "event.hq in BAD");
  CHECK(in_bad.text == "true");
  REQUIRE(in_bad.children.size() == 1);  // the set's name is in the parent's text
  CHECK(in_bad.children[0].text == "\"CN\"");
  const engine::TraceNode& either = big.when->children[1];
  REQUIRE(either.children.size() == 2);
  CHECK(either.children[0].text == "true");
  CHECK(either.children[0].children.at(0).text == "6");
  CHECK(either.children[1].state == State::NotEvaluated);
  REQUIRE(big.unless);
  CHECK(big.unless->text == "false");
  REQUIRE(big.unless->children.size() == 1);
  CHECK(big.unless->children[0].state == State::Absent);

  const engine::RuleTrace& capped = traces[1];
  CHECK(capped.status == engine::RuleTrace::Status::NotFired);
  REQUIRE(capped.when);
  const engine::TraceNode& cmp = capped.when->children.at(1);
  CHECK(cmp.source == "event.n >= limits[event.chip].cap");
  CHECK(cmp.text == "false");
  const engine::TraceNode& cap = cmp.children.at(1);
  CHECK(cap.text == "10");
  CHECK(cap.children.at(0).text == "row \"a\"");

  std::string json;
  engine::append_trace_json(json, *big.unless);
  CHECK(json ==
        "{\"expr\":\"event.lic is "
        "present\",\"line\":21,\"state\":\"value\",\"value\":false,\"children\":[{\"expr\":"
        "\"event.lic\",\"line\":21,\"state\":\"absent\"}]}");
}

TEST_CASE("traced rules agree with the engine on every test step of the reference policy", "[trace]") {
  SourceManager sources;
  DiagnosticSink sink;
  engine::CompileOptions options;
  options.backend = engine::Backend::Jit;
  auto policy = engine::Policy::compile({std::string(EDICT_SOURCE_DIR) + "/policies/reference.edict"},
                                        sources, sink, options);
  REQUIRE(policy);
  std::string error;
  auto tracer = engine::Tracer::create(*policy, &error);
  REQUIRE(tracer);
  size_t steps = 0, fired = 0;
  engine::Results results;
  results.reserve(1, policy->module().rules.size());
  tools::run_tests(*policy, [&](const tools::StepOutcome&, const abi::Batch& batch) {
    ++steps;
    policy->evaluate(batch, results);
    std::vector<const void*> data;
    std::vector<const uint8_t*> present;
    EdictColumns cols = engine::Policy::columns_of(batch, data, present);
    for (size_t r = 0; r < policy->module().rules.size(); ++r) {
      engine::RuleTrace t = tracer->trace_rule(static_cast<int>(r), cols, 0);
      bool traced = t.status == engine::RuleTrace::Status::Fired;
      INFO("rule " << policy->module().rules[r].name << ", step " << steps);
      CHECK(traced == results.rule_fired(0, r));
      fired += traced;
      // A fired or unfired rule's `when` always has a value.
      if (t.when &&
          (t.status == engine::RuleTrace::Status::Fired || t.status == engine::RuleTrace::Status::NotFired))
        CHECK(t.when->state == engine::TraceNode::State::Value);
    }
  });
  CHECK(steps >= 26);
  CHECK(fired > 0);
}

TEST_CASE("diff refuses schemas that read events differently, not reordered ones", "[tools][diff]") {
  const std::string a =
      "event ev { time: time, n: int, s: string? }\nrule r on ev\n  cite \"c\"\n  deny\n  when event.n > 1\n";
  const std::string reordered =
      "event ev { s: string?, n: int, time: time }\nrule r on ev\n  cite \"c\"\n  deny\n  when event.n > 2\n";
  const std::string retyped =
      "event ev { time: time, n: number, s: string }\nevent other { time: time }\nrule r on ev\n  cite "
      "\"c\"\n  "
      "deny\n  when event.n > 1\n";
  auto pa = compile(a), pr = compile(reordered), pt = compile(retyped);
  CHECK(tools::schema_differences(*pa->policy, *pr->policy).empty());
  // Reordered fields read the same events but into other columns: each
  // version then decodes for itself. A recompiled copy shares batches.
  CHECK_FALSE(tools::batches_shareable(*pa->policy, *pr->policy));
  auto again = compile(a);
  CHECK(tools::batches_shareable(*pa->policy, *again->policy));
  std::vector<std::string> d = tools::schema_differences(*pa->policy, *pt->policy);
  REQUIRE(d.size() == 3);
  CHECK(d[0] == "field `ev.n` is int in the old policy but num in the new one");
  CHECK(d[1] == "field `ev.s` is str? in the old policy but str in the new one");
  CHECK(d[2] == "event kind `other` is declared only in the new policy");
}

TEST_CASE("diff compares a stateless version with one that adds a windowed aggregate", "[tools][diff]") {
  const std::string stateless =
      "event ev { time: time, n: int, k: string }\nrule r on ev\n  cite \"c\"\n  deny\n  when event.n > 1\n";
  const std::string stateful =
      "event ev { time: time, n: int, k: string }\nrule r on ev\n  cite \"c\"\n  deny\n  when (sum(event.n) "
      "over calendar year by event.k) > 1\n";
  auto pa = compile(stateless), pb = compile(stateful);
  CHECK(tools::schema_differences(*pa->policy, *pb->policy).empty());
  CHECK(tools::schema_differences(*pb->policy, *pa->policy).empty());
  CHECK_FALSE(tools::batches_shareable(*pa->policy, *pb->policy));
}

TEST_CASE("traces agree with the engine on every step of the conformance corpus", "[trace]") {
  // Tracing lowers each policy again with every value kept; on every test
  // event it must reach the same result per rule (fired, not, fault) as the
  // interpreter running the optimised module, and every fired or unfired
  // rule's `when` must have a value.
  namespace fs = std::filesystem;
  size_t files = 0, rules_checked = 0;
  for (const auto& entry : fs::directory_iterator(std::string(EDICT_SOURCE_DIR) + "/tests/conformance")) {
    if (entry.path().extension() != ".edict") continue;
    ++files;
    SourceManager sources;
    DiagnosticSink sink;
    engine::CompileOptions options;
    options.backend = engine::Backend::Interp;
    auto policy = engine::Policy::compile({entry.path().string()}, sources, sink, options);
    INFO(entry.path().string());
    REQUIRE(policy);
    std::string error;
    auto tracer = engine::Tracer::create(*policy, &error);
    INFO(error);
    REQUIRE(tracer);
    tools::run_tests(*policy, [&](const tools::StepOutcome& s, const abi::Batch& batch) {
      std::vector<const void*> data;
      std::vector<const uint8_t*> present;
      EdictColumns cols = engine::Policy::columns_of(batch, data, present);
      for (size_t r = 0; r < policy->module().rules.size(); ++r) {
        interp::RuleResult plain = policy->interpreter().eval_rule(static_cast<int>(r), cols, 0);
        engine::RawTrace raw = tracer->raw_trace(static_cast<int>(r), cols, 0);
        INFO("test " << s.test << ", step " << s.step + 1 << ", rule " << policy->module().rules[r].name);
        CHECK(raw.result.kind == plain.kind);
        CHECK(raw.result.reason == plain.reason);
        engine::RuleTrace t = tracer->trace_rule(static_cast<int>(r), cols, 0);
        if (plain.kind == interp::RuleResult::Fault)
          CHECK(t.error ==
                engine::fault_message(policy->module(), static_cast<uint32_t>(r), plain.site, plain.reason));
        if (t.when &&
            (t.status == engine::RuleTrace::Status::Fired || t.status == engine::RuleTrace::Status::NotFired))
          CHECK(t.when->state == engine::TraceNode::State::Value);
        ++rules_checked;
      }
    });
  }
  CHECK(files >= 30);
  CHECK(rules_checked > 100);
}

TEST_CASE("diff matches rules by name and counts transitions per event", "[tools][diff]") {
  const std::string events = "event ev { time: time, n: int }\n";
  auto old_p = compile(events +
                       "rule big on ev\n  cite \"a\"\n  deny\n  when event.n > 10\n\n"
                       "rule gone on ev\n  cite \"b\"\n  report\n  when event.n == 5\n");
  // `big` moves its threshold, `gone` is removed, `fresh` is new.
  auto new_p = compile(events +
                       "rule fresh on ev\n  cite \"c\"\n  review\n  when event.n == 5\n\n"
                       "rule big on ev\n  cite \"a\"\n  deny\n  when event.n > 20\n");
  const std::vector<std::string> lines = {
      R"({"kind":"ev","id":"e1","time":"2024-01-01T00:00:00Z","n":15})",  // deny -> allow
      R"({"kind":"ev","id":"e2","time":"2024-01-01T00:00:00Z","n":25})",  // deny -> deny, same rules
      R"({"kind":"ev","id":"e3","time":"2024-01-01T00:00:00Z","n":5})",   // report -> review
      R"({"kind":"ev","id":"e4","time":"2024-01-01T00:00:00Z"})",         // undecodable in both
      R"({"kind":"ev","id":"e5","time":"2024-01-01T00:00:00Z","n":12})",  // deny -> allow
  };
  auto side = [&](const engine::Policy& p, abi::Batch& batch, engine::Results& results) {
    decode::Decoder decoder(p.schema());
    std::vector<std::string> padded;
    for (size_t i = 0; i < lines.size(); ++i) {
      padded.push_back(lines[i] + std::string(64, '\0'));
      decoder.decode(std::string_view(padded.back().data(), lines[i].size()), padded.back().size(), i + 1,
                     batch);
    }
    results.reserve(batch.capacity(), p.module().rules.size());
    p.evaluate(batch, results);
  };
  abi::Batch ba(old_p->policy->schema(), old_p->policy->symbols(), 8),
      bb(new_p->policy->schema(), new_p->policy->symbols(), 8);
  engine::Results ra, rb;
  side(*old_p->policy, ba, ra);
  side(*new_p->policy, bb, rb);
  tools::DecisionDiff diff(*old_p->policy, *new_p->policy, 1);
  std::string records;
  diff.compare(ba, ra, bb, rb, &records);
  CHECK(diff.events() == 5);
  CHECK(diff.changed() == 3);
  const auto& t = diff.transitions();
  REQUIRE(t.size() == 2);
  const tools::Transition& down = t.at({"deny", "allow"});
  CHECK(down.events == 2);
  CHECK(down.removed == std::map<std::string, uint64_t>{{"big", 2}});
  CHECK(down.added.empty());
  CHECK(down.examples == std::vector<std::string>{"e1"});  // at most one, as asked
  const tools::Transition& renamed = t.at({"report", "review"});
  CHECK(renamed.added == std::map<std::string, uint64_t>{{"fresh", 1}});
  CHECK(renamed.removed == std::map<std::string, uint64_t>{{"gone", 1}});
  CHECK(records ==
        "{\"line\":1,\"id\":\"e1\",\"kind\":\"ev\",\"old\":{\"decision\":\"deny\",\"rules\":[\"big\"]},"
        "\"new\":{"
        "\"decision\":\"allow\",\"rules\":[]},\"added\":[],\"removed\":[\"big\"]}\n"
        "{\"line\":3,\"id\":\"e3\",\"kind\":\"ev\",\"old\":{\"decision\":\"report\",\"rules\":[\"gone\"]},"
        "\"new\":{"
        "\"decision\":\"review\",\"rules\":[\"fresh\"]},\"added\":[\"fresh\"],\"removed\":[\"gone\"]}\n"
        "{\"line\":5,\"id\":\"e5\",\"kind\":\"ev\",\"old\":{\"decision\":\"deny\",\"rules\":[\"big\"]},"
        "\"new\":{"
        "\"decision\":\"allow\",\"rules\":[]},\"added\":[],\"removed\":[\"big\"]}\n");
  std::string table = diff.render();
  CHECK(table.find("5 events, 3 changed (60.00%)") != std::string::npos);
  CHECK(table.find("deny -> allow") < table.find("report -> review"));  // most frequent first
}
