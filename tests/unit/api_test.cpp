// The embedding API (include/edict/): compiling with diagnostics as data,
// JSON and typed evaluation against the record writer of `edict eval`, bad
// input, hot replacement under concurrent evaluation, and the C ABI.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "api/impl.h"
#include "edict/edict.h"
#include "edict/edict.hpp"
#include "engine/decode/decoder.h"
#include "engine/output.h"
#include "engine/trace.h"

namespace {

const std::string kReference = std::string(EDICT_SOURCE_DIR) + "/policies/reference.edict";

// A small policy with a message that can fault and a condition that can.
const char* kSmall = R"(
event ev {
  id: string,
  time: time,
  a: int,
  flag: bool,
  who: country,
  note: string?,
}

rule noisy on ev
  cite "test 1"
  deny "next value {event.a + 1}"
  when event.flag

rule big on ev
  cite "test 2"
  report
  when event.who == "CN" and event.a * 2 > 10
)";

edict::Policy compile_small(edict::Engine engine = edict::Engine::Jit) {
  edict::CompileOptions options;
  options.engine = engine;
  edict::Compiled c = edict::Policy::compile_sources({{"small.edict", kSmall}}, options);
  REQUIRE(c.status.ok());
  return c.policy;
}

std::string ev_json(int64_t a, bool flag, const char* who = "US") {
  return R"({"kind":"ev","id":"e1","time":"2024-01-01T00:00:00Z","a":)" + std::to_string(a) + R"(,"flag":)" +
         (flag ? "true" : "false") + R"(,"who":")" + who + "\"}";
}

std::vector<std::string> names(const edict::Decision& d) {
  std::vector<std::string> out;
  for (const edict::FiredRule& r : d.rules) out.emplace_back(r.name);
  return out;
}

// `edict explain --format json` on one event (line 1) of the small policy,
// computed with the engine and the tracer directly.
std::string engine_explanation(const std::string& line) {
  edict::SourceManager sources;
  edict::DiagnosticSink sink;
  auto reader = [](const std::string&, std::string*) -> std::optional<std::string> { return kSmall; };
  auto policy = edict::engine::Policy::compile({"small.edict"}, sources, sink, {}, reader);
  REQUIRE(policy);
  std::string error;
  auto tracer = edict::engine::Tracer::create(*policy, &error);
  REQUIRE(tracer);
  edict::decode::Decoder decoder(policy->schema());
  edict::abi::Batch batch(policy->schema(), policy->symbols(), 1);
  std::string padded = line + std::string(64, '\0');
  decoder.decode(std::string_view(padded.data(), line.size()), padded.size(), 1, batch);
  edict::engine::Results results;
  results.reserve(1, policy->module().rules.size());
  policy->evaluate(batch, results);
  std::string out;
  edict::engine::append_explanation_json(out, *tracer,
                                         edict::engine::explain_row(*tracer, batch, results, 0));
  return out;
}

// The node of `e`'s tree (itself included) whose expression is `expr`.
const edict::ExplainedExpr* find_expr(const edict::ExplainedExpr& e, const std::string& expr) {
  if (e.expr == expr) return &e;
  for (const edict::ExplainedExpr& c : e.children)
    if (const edict::ExplainedExpr* found = find_expr(c, expr)) return found;
  return nullptr;
}

}  // namespace

TEST_CASE("compile errors come back as data", "[api]") {
  edict::Compiled c = edict::Policy::compile_sources({{"bad.edict", "rule r on nothing deny when true\n"}});
  CHECK(c.status.code == edict::Code::CompileError);
  CHECK_FALSE(c.policy.valid());
  REQUIRE_FALSE(c.diagnostics.empty());
  CHECK(c.diagnostics[0].error);
  CHECK(c.diagnostics[0].file == "bad.edict");
  CHECK(c.diagnostics[0].line == 1);
  CHECK_FALSE(c.diagnostics[0].code.empty());
  CHECK(c.report.find("bad.edict:1:") != std::string::npos);

  edict::Compiled missing = edict::Policy::compile_files({"/nonexistent/x.edict"});
  CHECK(missing.status.code == edict::Code::CompileError);
  CHECK(missing.report.find("cannot read") != std::string::npos);
}

TEST_CASE("a policy with windowed aggregates is refused, not evaluated over empty windows", "[api]") {
  const std::string windowed = std::string(kSmall) + R"(
rule busy on ev
  cite "test 3"
  review
  when count() over 1d by event.who > 3
)";
  for (edict::Engine engine : {edict::Engine::Jit, edict::Engine::Interpreter}) {
    edict::CompileOptions options;
    options.engine = engine;
    edict::Compiled c = edict::Policy::compile_sources({{"w.edict", windowed}}, options);
    CHECK(c.status.code == edict::Code::CompileError);
    CHECK_FALSE(c.policy.valid());
    REQUIRE(c.diagnostics.size() == 1);
    CHECK(c.diagnostics[0].code == "E0603");
    CHECK(c.diagnostics[0].file == "w.edict");
    CHECK(c.diagnostics[0].line == 24);  // the `when` line
    CHECK(c.report.find("edict eval") != std::string::npos);
  }
}

TEST_CASE("compile_sources resolves imports among the sources, then from disk only if allowed", "[api]") {
  std::string events = "event ev { time: time, x: int }\n";
  std::string main = "import \"common/ev.edict\"\nrule r on ev cite \"c\" deny when event.x > 1\n";
  edict::CompileOptions options;
  options.read_disk = false;
  edict::Compiled c =
      edict::Policy::compile_sources({{"p/main.edict", main}, {"p/common/ev.edict", events}}, options);
  REQUIRE(c.status.ok());
  CHECK(c.policy.rule_count() == 1);
  CHECK(c.policy.rule(0).name == "r");
  CHECK(c.policy.rule(0).effect == "deny");
  CHECK(c.policy.rule(0).cite == "c");
  edict::Compiled alone = edict::Policy::compile_sources({{"p/main.edict", main}}, options);
  CHECK(alone.status.code == edict::Code::CompileError);
}

TEST_CASE("JSON evaluation: outcomes, fired rules, messages, faults", "[api]") {
  for (edict::Engine engine : {edict::Engine::Jit, edict::Engine::Interpreter}) {
    edict::Policy policy = compile_small(engine);
    edict::Evaluator ev(policy);
    edict::Decision d;
    REQUIRE(ev.evaluate(ev_json(3, false), d).ok());
    CHECK(d.outcome == "allow");
    CHECK(d.rules.empty());
    CHECK(d.kind == "ev");
    CHECK(d.id == "e1");

    REQUIRE(ev.evaluate(ev_json(41, true, "CN"), d).ok());
    CHECK(d.outcome == "deny");
    CHECK(d.outcome_index == 3);  // allow, report, review, deny
    CHECK(policy.outcomes()[3] == "deny");
    CHECK(names(d) == std::vector<std::string>{"noisy", "big"});
    CHECK(d.rules[0].message == "next value 42");
    CHECK(d.rules[0].cite == "test 1");
    CHECK(d.rules[1].effect == "report");

    // The condition faults (overflow in a * 2): fail closed, naming the rule.
    edict::Status s = ev.evaluate(ev_json(INT64_MAX / 2 + 1, false, "CN"), d);
    CHECK(s.code == edict::Code::RuleFault);
    CHECK(d.outcome == "error");
    CHECK(d.fault_rule == "big");
    CHECK(d.error_reason == "int_overflow");
    CHECK(s.message.find("rule `big`") != std::string::npos);

    // Only the message faults: as in `edict eval`, the decision is error.
    s = ev.evaluate(ev_json(INT64_MAX, true, "US"), d);
    CHECK(s.code == edict::Code::RuleFault);
    CHECK(d.fault_rule == "noisy");
  }
}

TEST_CASE("JSON evaluation rejects bad input with a code and a message", "[api]") {
  edict::Evaluator ev(compile_small());
  edict::Decision d;
  CHECK(ev.evaluate("{\"kind\":", d).code == edict::Code::InvalidJson);
  CHECK(d.outcome == "error");
  CHECK(ev.evaluate("[1,2]", d).code == edict::Code::InvalidJson);
  CHECK(ev.evaluate("", d).code == edict::Code::InvalidJson);
  CHECK(ev.evaluate(R"({"kind":"nope","time":"2024-01-01T00:00:00Z"})", d).code == edict::Code::WrongKind);
  CHECK(ev.evaluate(R"({"time":"2024-01-01T00:00:00Z"})", d).code == edict::Code::WrongKind);
  edict::Status s =
      ev.evaluate(R"({"kind":"ev","id":"x","time":"2024-01-01T00:00:00Z","a":1,"flag":true})", d);
  CHECK(s.code == edict::Code::InvalidEvent);
  CHECK(s.message.find("who") != std::string::npos);
  CHECK(ev.evaluate(ev_json(1, true, "XX"), d).code == edict::Code::InvalidEvent);
  std::string bad_utf8 = ev_json(1, true);
  bad_utf8.replace(bad_utf8.find("e1"), 2, "\xff\xfe");
  CHECK(ev.evaluate(bad_utf8, d).code == edict::Code::InvalidUtf8);
  // And the evaluator still works afterwards.
  CHECK(ev.evaluate(ev_json(1, false), d).ok());

  edict::Evaluator empty{edict::Policy{}};
  CHECK(empty.evaluate(ev_json(1, false), d).code == edict::Code::InvalidArgument);
}

TEST_CASE("typed events decide as their JSON does", "[api]") {
  edict::Policy policy = compile_small();
  edict::Evaluator ev(policy);
  edict::Event e;
  CHECK(edict::Event::create(policy, "nope", e).code == edict::Code::WrongKind);
  REQUIRE(edict::Event::create(policy, "ev", e).ok());
  edict::Field a = policy.field("ev", "a"), flag = policy.field("ev", "flag"),
               who = policy.field("ev", "who");
  REQUIRE(a.valid());
  CHECK_FALSE(policy.field("ev", "zzz").valid());
  CHECK(e.set_string("id", "e1").ok());
  CHECK(e.set_string("time", "2024-01-01T00:00:00Z").ok());
  CHECK(e.set_int(a, 41).ok());
  CHECK(e.set_bool(flag, true).ok());

  edict::Decision d;
  edict::Status s = ev.evaluate(e, d);  // `who` not set yet
  CHECK(s.code == edict::Code::InvalidEvent);
  CHECK(s.message == "missing field `who`");

  CHECK(e.set_string(who, "CN").ok());
  REQUIRE(ev.evaluate(e, d).ok());
  edict::Decision from_json;
  REQUIRE(ev.evaluate(ev_json(41, true, "CN"), from_json).ok());
  CHECK(d.outcome == from_json.outcome);
  CHECK(names(d) == names(from_json));
  CHECK(d.rules[0].message == from_json.rules[0].message);
  CHECK(d.id == "e1");

  // Type and value checks.
  CHECK(e.set_string(a, "12").code == edict::Code::WrongType);
  CHECK(e.set_bool(a, true).code == edict::Code::WrongType);
  CHECK(e.set_string(who, "XX").code == edict::Code::WrongType);
  CHECK(e.set_string("time", "yesterday").code == edict::Code::WrongType);
  CHECK(e.set_string(who, std::string_view("\xc3\x28", 2)).code == edict::Code::InvalidUtf8);
  CHECK(e.set_absent(a).code == edict::Code::WrongType);
  CHECK(e.set_absent(policy.field("ev", "note")).ok());
  CHECK(e.set_int("nope", 1).code == edict::Code::UnknownField);

  // clear() forgets the values.
  e.clear();
  CHECK(ev.evaluate(e, d).code == edict::Code::InvalidEvent);

  // An event of another policy is refused.
  edict::Policy other = compile_small();
  edict::Event foreign;
  REQUIRE(edict::Event::create(other, "ev", foreign).ok());
  CHECK(ev.evaluate(foreign, d).code == edict::Code::PolicyMismatch);
}

TEST_CASE("decision messages from templates equal the interpreter's, faults included", "[api]") {
  // Straight-line messages of every value type and of an optional field
  // (templates), and one with arithmetic (the interpreter) that overflows
  // on some events: the message faults and the decision is error.
  const char* source = R"(
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

rule every_type on ev
  cite "t"
  report "s={event.s} n={event.n} x={event.x} b={event.b} c={event.c} t={event.time} d={event.d} \"q\" \u{e9}"
  when event.b

rule computed on ev
  cite "t"
  review "twice {event.n * 2}"
  when event.n > 0

rule noted on ev
  cite "t"
  deny "note: {event.note}"
  when event.c == "CN" and event.note is present
)";
  for (edict::Engine engine : {edict::Engine::Jit, edict::Engine::Interpreter}) {
    edict::CompileOptions options;
    options.engine = engine;
    edict::Compiled c = edict::Policy::compile_sources({{"messages.edict", source}}, options);
    INFO(c.report);
    REQUIRE(c.status.ok());
    // The two straight-line messages have templates; the arithmetic has none.
    CHECK(edict::detail::Access::impl(c.policy)->finisher->templates().size() == 2);
    edict::Evaluator ev(c.policy);
    edict::Event typed;
    REQUIRE(edict::Event::create(c.policy, "ev", typed).ok());
    const char* strings[] = {"", "plain", "quote \" in", "back\\slash", "tab\t nl\n", "\xc3\xa9t\xc3\xa9"};
    const char* numbers[] = {"0", "-0.0", "1.5", "1e26", "0.1", "123456789012345678"};
    const char* durations[] = {"0s", "1d12h", "90s"};
    size_t fired = 0, faulted = 0;
    for (int i = 0; i < 120; ++i) {
      const std::string s = strings[i % 6];
      const int64_t n = i % 7 == 6 ? INT64_MAX : (i % 7) * 300 - 600;
      const bool b = i % 2, has_note = i % 5 != 0;
      const char* who = i % 3 == 0 ? "CN" : "US";
      // The same event as JSON text and as a typed Event.
      std::string escaped;
      edict::engine::append_json_string(escaped, s);
      std::string json =
          R"({"kind":"ev","id":"e)" + std::to_string(i) + R"(","time":"2024-02-29T12:34:56.5Z","s":)" +
          escaped + ",\"n\":" + std::to_string(n) + ",\"x\":" + numbers[i % 6] +
          ",\"b\":" + (b ? "true" : "false") + R"(,"c":")" + who + R"(","d":")" + durations[i % 3] + "\"";
      if (has_note) json += R"(,"note":)" + escaped;
      json += "}";
      typed.clear();
      REQUIRE(typed.set_string("id", "e" + std::to_string(i)).ok());
      REQUIRE(typed.set_string("time", "2024-02-29T12:34:56.5Z").ok());
      REQUIRE(typed.set_string("s", s).ok());
      REQUIRE(typed.set_int("n", n).ok());
      REQUIRE(typed.set_number("x", std::strtod(numbers[i % 6], nullptr)).ok());
      REQUIRE(typed.set_bool("b", b).ok());
      REQUIRE(typed.set_string("c", who).ok());
      REQUIRE(typed.set_string("d", durations[i % 3]).ok());
      if (has_note) REQUIRE(typed.set_string("note", s).ok());
      INFO(json);

      // The explanation's messages come from the tracing interpreter.
      edict::Decision explained, from_json, from_typed;
      const edict::Status x = ev.evaluate(json, explained, edict::Explain::Fired);
      const edict::Status j = ev.evaluate(json, from_json);
      const edict::Status t = ev.evaluate(typed, from_typed);
      for (const edict::Decision* d : {&from_json, &from_typed}) {
        CHECK(d->status.code == x.code);
        CHECK(d->status.message == explained.status.message);
        CHECK(d->outcome == explained.outcome);
        CHECK(d->error_reason == explained.error_reason);
        CHECK(d->fault_rule == explained.fault_rule);
        REQUIRE(names(*d) == names(explained));
      }
      CHECK(j.code == x.code);
      CHECK(t.code == x.code);
      if (x.code == edict::Code::RuleFault) {
        CHECK(explained.fault_rule == "computed");
        for (const edict::Decision* d : {&from_json, &from_typed})
          for (const edict::FiredRule& r : d->rules)
            if (r.name == "computed") CHECK(r.message.empty());
        ++faulted;
      }
      // After a fault the tracer stops; the decisions' messages are compared
      // on the events that decide.
      for (const edict::RuleExplanation& r : explained.explanation) {
        if (r.status != edict::RuleStatus::Fired || !x.ok()) continue;
        size_t k = 0;
        while (k < from_json.rules.size() && from_json.rules[k].name != r.name) ++k;
        REQUIRE(k < from_json.rules.size());
        CHECK(from_json.rules[k].message == r.message);
        CHECK(from_typed.rules[k].message == r.message);
        ++fired;
      }
    }
    CHECK(fired > 60);
    CHECK(faulted > 3);
  }
}

TEST_CASE("a reused Decision carries each typed event's id, whatever their lengths", "[api]") {
  // The short path copies an id in place when the Decision's is at least as
  // long: every length class of that copy, growing and shrinking.
  edict::Policy policy = compile_small();
  edict::Evaluator ev(policy);
  edict::Event e;
  REQUIRE(edict::Event::create(policy, "ev", e).ok());
  REQUIRE(e.set_string("time", "2024-01-01T00:00:00Z").ok());
  REQUIRE(e.set_int("a", 1).ok());
  REQUIRE(e.set_bool("flag", false).ok());
  REQUIRE(e.set_string("who", "US").ok());
  edict::Decision d;
  const std::string alphabet = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
  for (size_t n : {40, 0, 17, 16, 15, 9, 8, 7, 5, 4, 3, 2, 1, 0, 3, 8, 16, 33, 12}) {
    const std::string id = alphabet.substr(n % 7, n);
    REQUIRE(e.set_string("id", id).ok());
    REQUIRE(ev.evaluate(e, d).ok());
    CHECK(d.id == id);
    CHECK(d.outcome == "allow");
    // A rule that fires takes the long path: the id is still this event's.
    REQUIRE(e.set_bool("flag", true).ok());
    REQUIRE(ev.evaluate(e, d).ok());
    CHECK(d.id == id);
    CHECK(d.outcome == "deny");
    REQUIRE(e.set_bool("flag", false).ok());
  }
  // Completeness counts fields, not calls: setting one field twice does not
  // make up for another.
  e.clear();
  for (int twice = 0; twice < 2; ++twice) {
    REQUIRE(e.set_string("id", "x").ok());
    REQUIRE(e.set_string("time", "2024-01-01T00:00:00Z").ok());
    REQUIRE(e.set_int("a", 1).ok());
    REQUIRE(e.set_bool("flag", false).ok());
    REQUIRE(e.set_absent(policy.field("ev", "note")).ok());
  }
  edict::Status missing = ev.evaluate(e, d);
  CHECK(missing.code == edict::Code::InvalidEvent);
  CHECK(missing.message == "missing field `who`");
  REQUIRE(e.set_string("who", "US").ok());
  // The Decision still says why the last event was `error`: the quick
  // decision must not keep any of it.
  CHECK(ev.evaluate(e, d).ok());
  CHECK(d.status.message.empty());
  CHECK(d.error_reason.empty());
  CHECK(d.outcome == "allow");
  CHECK(d.kind == "ev");
  CHECK(d.id == "x");
  // A Decision last filled by another policy's evaluator comes back to this one.
  edict::Policy other = compile_small();
  edict::Evaluator other_ev(other);
  edict::Event other_event;
  REQUIRE(edict::Event::create(other, "ev", other_event).ok());
  REQUIRE(other_event.set_string("id", "o").ok());
  REQUIRE(other_event.set_string("time", "2024-01-01T00:00:00Z").ok());
  REQUIRE(other_event.set_int("a", 1).ok());
  REQUIRE(other_event.set_bool("flag", false).ok());
  REQUIRE(other_event.set_string("who", "US").ok());
  REQUIRE(other_ev.evaluate(other_event, d).ok());
  CHECK(d.policy == other);
  REQUIRE(ev.evaluate(e, d).ok());
  CHECK(d.policy == policy);
  CHECK(d.id == "x");
}

TEST_CASE("an Event reused with ever new strings stays small and decides right", "[api]") {
  edict::Compiled c = edict::Policy::compile_files({kReference});
  REQUIRE(c.status.ok());
  edict::Evaluator ev(c.policy);
  edict::Event e;
  REQUIRE(edict::Event::create(c.policy, "rental", e).ok());
  const char* fields[][2] = {{"id", "r1"},
                             {"time", "2024-03-01T00:00:00Z"},
                             {"provider", "P"},
                             {"provider_hq", "US"},
                             {"provider_parent_hq", "US"},
                             {"datacenter", "US"},
                             {"region", "r"},
                             {"customer_id", "c"},
                             {"customer_name", "n"},
                             {"customer_hq", "CN"},
                             {"parent_hq", "CN"},
                             {"purpose", "training"},
                             {"training_data", "general"},
                             {"end_user_type", "commercial"},
                             {"end_use", "civil"}};
  for (auto& f : fields) REQUIRE(e.set_string(f[0], f[1]).ok());
  REQUIRE(e.set_int("chip_count", 8).ok());
  REQUIRE(e.set_number("hours", 10).ok());
  REQUIRE(e.set_number("training_ops", 1e20).ok());
  REQUIRE(e.set_bool("entity_listed", false).ok());
  REQUIRE(e.set_number("listed_ownership", 0).ok());
  REQUIRE(e.set_absent(e.field("license")).ok());
  // `chip` is read by the policy: every new name is interned.
  const edict::Field chip = e.field("chip");
  for (int i = 0; i < 100000; ++i) REQUIRE(e.set_string(chip, "chip-" + std::to_string(i)).ok());
  REQUIRE(e.set_string(chip, "H100-SXM5-80GB").ok());
  edict::Decision typed, json;
  REQUIRE(ev.evaluate(e, typed).ok());
  REQUIRE(
      ev.evaluate(
            R"({"kind":"rental","id":"r1","time":"2024-03-01T00:00:00Z","provider":"P","provider_hq":"US","provider_parent_hq":"US","datacenter":"US","region":"r","customer_id":"c","customer_name":"n","customer_hq":"CN","parent_hq":"CN","chip":"H100-SXM5-80GB","chip_count":8,"hours":10,"purpose":"training","training_ops":1e20,"training_data":"general","end_user_type":"commercial","end_use":"civil","entity_listed":false,"listed_ownership":0})",
            json)
          .ok());
  CHECK(typed.outcome == "deny");
  CHECK(typed.outcome == json.outcome);
  CHECK(names(typed) == names(json));
  // The row's arena holds a few thousand strings at most, not 100,000: a new
  // string's symbol counts those before it.
  edict::detail::EventImpl* impl = edict::detail::Access::impl(e);
  const uint32_t fresh = impl->row.batch.intern("never seen before");
  CHECK(fresh - impl->row.batch.symbols().size() < 10000);
}

TEST_CASE("typed events decide as JSON on varied reference-workload events, both engines", "[api]") {
  // The JIT decides typed events with record functions (fields read at fixed
  // offsets of the Event's record), JSON events with the column code: both
  // must agree on every outcome, fired rule, message and fault, across
  // kinds, effective dates, absent licences and overflowing products.
  const char* countries[] = {"US", "CN", "FR", "MO", "RU", "SG", "DE", "IR"};
  const char* chips[] = {"H100-SXM5-80GB", "T4", "H20", "MI300X", "L4", "unknown-chip", "B200"};
  const char* times[] = {"2022-01-01T00:00:00Z", "2023-11-17T00:00:00Z", "2024-06-01T00:00:00Z",
                         "2025-02-01T00:00:00Z", "2025-05-13T00:00:00Z"};
  const char* purposes[] = {"training", "inference", "hpc"};
  const char* rental_strings[] = {"customer_name", "training_data", "end_user_type", "end_use"};
  for (edict::Engine engine : {edict::Engine::Jit, edict::Engine::Interpreter}) {
    edict::CompileOptions options;
    options.engine = engine;
    edict::Compiled c = edict::Policy::compile_files({kReference}, options);
    REQUIRE(c.status.ok());
    edict::Evaluator ev(c.policy);
    edict::Event rental, provision;
    REQUIRE(edict::Event::create(c.policy, "rental", rental).ok());
    REQUIRE(edict::Event::create(c.policy, "provision", provision).ok());
    // The JIT's typed path is the record code; the interpreter has none.
    CHECK((edict::detail::Access::impl(rental)->decide_record != nullptr) == (engine == edict::Engine::Jit));
    uint64_t state = 7;
    auto pick = [&](size_t n) {
      state = state * 6364136223846793005u + 1442695040888963407u;
      return static_cast<size_t>((state >> 33) % n);
    };
    size_t fired = 0, faulted = 0;
    for (int i = 0; i < 3000; ++i) {
      const bool is_rental = pick(4) != 0;
      edict::Event& e = is_rental ? rental : provision;
      if (pick(2)) e.clear();  // else every field is overwritten
      std::string json = std::string(R"({"kind":")") + (is_rental ? "rental" : "provision") + "\"";
      auto text = [&](const char* name, const std::string& value) {
        REQUIRE(e.set_string(name, value).ok());
        json += std::string(",\"") + name + "\":\"" + value + "\"";
      };
      auto number = [&](const char* name, double value, const char* literal) {
        REQUIRE(e.set_number(name, value).ok());
        json += std::string(",\"") + name + "\":" + literal;
      };
      auto flag = [&](const char* name, bool value) {
        REQUIRE(e.set_bool(name, value).ok());
        json += std::string(",\"") + name + "\":" + (value ? "true" : "false");
      };
      text("id", "e" + std::to_string(i));
      text("time", times[pick(5)]);
      for (const char* f : {"provider_hq", "provider_parent_hq", "datacenter", "customer_hq", "parent_hq"})
        text(f, countries[pick(8)]);
      text("chip", chips[pick(7)]);
      for (const char* f : {"provider", "region", "customer_id"}) text(f, "x");
      // A count so large that count * hours overflows to infinity: a fault.
      const bool huge = pick(10) == 0;
      const int64_t count = huge ? INT64_MAX : static_cast<int64_t>(pick(5000));
      REQUIRE(e.set_int("chip_count", count).ok());
      json += ",\"chip_count\":" + std::to_string(count);
      flag("entity_listed", pick(8) == 0);
      number("listed_ownership", 0, "0");
      if (is_rental) {
        for (const char* f : rental_strings) text(f, "y");
        text("purpose", purposes[pick(3)]);
        const bool long_run = pick(2);
        number("hours", huge ? 1e300 : long_run ? 5000 : 10, huge ? "1e300" : long_run ? "5000" : "10");
        const bool big_run = pick(3) == 0;
        number("training_ops", big_run ? 2e26 : 1e20, big_run ? "2e26" : "1e20");
        if (pick(4) == 0)
          text("license", "L-1");
        else
          REQUIRE(e.set_absent(e.field("license")).ok());
      } else {
        flag("dedicated", pick(2));
        text("ships_from", countries[pick(8)]);
        text("cluster_id", "k");
        const bool fast = pick(2);
        number("interconnect_gbps", fast ? 400 : 10, fast ? "400" : "10");
        number("peak_ops_per_s", 1e20, "1e20");
      }
      json += "}";
      INFO(json);
      edict::Decision typed, from_json;
      const edict::Status t = ev.evaluate(e, typed), j = ev.evaluate(json, from_json);
      CHECK(t.code == j.code);
      CHECK(typed.outcome == from_json.outcome);
      CHECK(typed.fault_rule == from_json.fault_rule);
      CHECK(typed.error_reason == from_json.error_reason);
      CHECK(names(typed) == names(from_json));
      for (size_t k = 0; k < typed.rules.size() && k < from_json.rules.size(); ++k)
        CHECK(typed.rules[k].message == from_json.rules[k].message);
      CHECK(typed.id == from_json.id);
      fired += !typed.rules.empty();
      faulted += t.code == edict::Code::RuleFault;
    }
    // The mix reaches fired rules and faults, not only quiet events.
    CHECK(fired > 300);
    CHECK(faulted > 30);
  }
}

TEST_CASE("API decisions equal the eval record writer's on the reference workload", "[api]") {
  edict::Compiled c = edict::Policy::compile_files({kReference});
  REQUIRE(c.status.ok());
  edict::Evaluator ev(c.policy);

  // The same policy through the engine and the record writer, as `edict eval` runs it.
  edict::SourceManager sources;
  edict::DiagnosticSink sink;
  auto engine_policy = edict::engine::Policy::compile({kReference}, sources, sink);
  REQUIRE(engine_policy);
  edict::engine::RecordWriter writer(*engine_policy, edict::engine::OutputFormat::Jsonl);
  edict::decode::Decoder decoder(engine_policy->schema());

  const std::vector<std::string> lines = {
      R"({"kind":"rental","id":"r1","time":"2024-03-01T00:00:00Z","provider":"P","provider_hq":"US","provider_parent_hq":"US","datacenter":"US","region":"r","customer_id":"c","customer_name":"n","customer_hq":"CN","parent_hq":"CN","chip":"H100-SXM5-80GB","chip_count":8,"hours":10,"purpose":"training","training_ops":1e20,"training_data":"general","end_user_type":"commercial","end_use":"civil","entity_listed":false,"listed_ownership":0})",
      R"({"kind":"rental","id":"r2","time":"2024-03-01T00:00:00Z","provider":"P","provider_hq":"US","provider_parent_hq":"US","datacenter":"US","region":"r","customer_id":"c","customer_name":"n","customer_hq":"FR","parent_hq":"FR","chip":"T4","chip_count":8,"hours":10,"purpose":"inference","training_ops":0,"training_data":"general","end_user_type":"commercial","end_use":"civil","entity_listed":false,"listed_ownership":0})",
      R"({"kind":"provision","id":"p1","time":"2024-03-01T00:00:00Z","provider":"P","provider_hq":"CN","provider_parent_hq":"CN","datacenter":"CN","region":"r","customer_id":"c","customer_hq":"CN","parent_hq":"CN","chip":"H20","chip_count":4096,"entity_listed":true,"listed_ownership":60,"dedicated":true,"ships_from":"US","cluster_id":"k","interconnect_gbps":400,"peak_ops_per_s":1e18})",
      R"({"kind":"rental","id":"bad"})",
      R"(not json)",
  };
  edict::abi::Batch batch(engine_policy->schema(), engine_policy->symbols(), 16);
  std::vector<std::string> padded;
  for (size_t i = 0; i < lines.size(); ++i) {
    padded.push_back(lines[i] + std::string(64, '\0'));
    decoder.decode(std::string_view(padded.back().data(), lines[i].size()), padded.back().size(), i + 1,
                   batch);
  }
  edict::engine::Results results;
  results.reserve(16, engine_policy->module().rules.size());
  engine_policy->evaluate(batch, results);
  std::string records;
  edict::engine::Summary summary;
  writer.write(batch, results, records, summary);

  std::vector<std::string_view> views(lines.begin(), lines.end());
  std::vector<edict::Decision> decisions;
  ev.evaluate_batch(views, decisions);
  REQUIRE(decisions.size() == lines.size());
  size_t at = 0;
  for (size_t i = 0; i < lines.size(); ++i) {
    size_t end = records.find('\n', at);
    std::string record = records.substr(at, end - at);
    at = end + 1;
    // The record names the decision and every fired rule with its message.
    INFO(record);
    CHECK(record.find("\"decision\":\"" + std::string(decisions[i].outcome) + "\"") != std::string::npos);
    size_t rules_in_record = 0;
    for (size_t p = record.find("\"message\":"); p != std::string::npos;
         p = record.find("\"message\":", p + 1))
      ++rules_in_record;
    CHECK(rules_in_record == decisions[i].rules.size());
    for (const edict::FiredRule& r : decisions[i].rules) {
      CHECK(record.find("{\"name\":\"" + std::string(r.name) + "\"") != std::string::npos);
      std::string message;
      edict::engine::append_json_string(message, r.message);
      CHECK(record.find("\"message\":" + message) != std::string::npos);
    }
    // One at a time gives the same.
    edict::Decision one;
    ev.evaluate(lines[i], one);
    CHECK(one.outcome == decisions[i].outcome);
    CHECK(names(one) == names(decisions[i]));
  }
  CHECK(decisions[0].outcome == "deny");
  CHECK(decisions[3].status.code == edict::Code::InvalidEvent);
  CHECK(decisions[4].status.code == edict::Code::InvalidJson);
}

TEST_CASE("explanations: what each rule's conditions saw, as data and as edict explain's JSON", "[api]") {
  for (edict::Engine engine : {edict::Engine::Jit, edict::Engine::Interpreter}) {
    edict::Policy policy = compile_small(engine);
    edict::Evaluator ev(policy);
    edict::Decision d;

    // Both rules fire: the values their conditions saw.
    const std::string both = ev_json(41, true, "CN");
    REQUIRE(ev.evaluate(both, d, edict::Explain::All).ok());
    CHECK(d.outcome == "deny");
    REQUIRE(d.explanation.size() == 2);
    CHECK(d.explanation[0].name == "noisy");
    CHECK(d.explanation[0].status == edict::RuleStatus::Fired);
    CHECK(d.explanation[0].message == "next value 42");
    CHECK(d.explanation[0].cite == "test 1");
    CHECK_FALSE(d.explanation[0].unless);
    REQUIRE(d.explanation[0].when);
    CHECK(d.explanation[0].when->expr == "event.flag");
    CHECK(d.explanation[0].when->value == "true");
    const edict::RuleExplanation& big = d.explanation[1];
    CHECK(big.rule == 1);
    CHECK(edict::rule_status_name(big.status) == std::string("fired"));
    REQUIRE(big.when);
    CHECK(big.when->state == edict::ExplainedExpr::State::Value);
    CHECK(big.when->json == "true");
    const edict::ExplainedExpr* doubled = find_expr(*big.when, "event.a * 2");
    REQUIRE(doubled);
    CHECK(doubled->value == "82");
    const edict::ExplainedExpr* who = find_expr(*big.when, "event.who");
    REQUIRE(who);
    CHECK(who->json == "\"CN\"");
    CHECK(who->line == 19);
    // The JSON is `edict explain --format json`'s.
    CHECK(d.explanation_json == engine_explanation(both));

    // Only `noisy` fires; `big` stops at its first operand.
    const std::string one = ev_json(3, true, "US");
    REQUIRE(ev.evaluate(one, d, edict::Explain::Fired).ok());
    REQUIRE(d.explanation.size() == 1);
    CHECK(d.explanation[0].name == "noisy");
    CHECK(d.explanation_json.find("\"big\"") == std::string::npos);
    REQUIRE(ev.evaluate(one, d, edict::Explain::All).ok());
    REQUIRE(d.explanation.size() == 2);
    CHECK(d.explanation[1].status == edict::RuleStatus::NotFired);
    REQUIRE(d.explanation[1].when);
    CHECK(d.explanation[1].when->value == "false");
    const edict::ExplainedExpr* rhs = find_expr(*d.explanation[1].when, "event.a * 2 > 10");
    REQUIRE(rhs);
    CHECK(rhs->state == edict::ExplainedExpr::State::NotEvaluated);
    CHECK(d.explanation_json == engine_explanation(one));

    // Not asked: no explanation, and none left over from the last call.
    REQUIRE(ev.evaluate(one, d).ok());
    CHECK(d.explanation.empty());
    CHECK(d.explanation_json.empty());

    // A typed event explains as its JSON does.
    edict::Event e;
    REQUIRE(edict::Event::create(policy, "ev", e).ok());
    e.set_string("id", "e1");
    e.set_string("time", "2024-01-01T00:00:00Z");
    e.set_int("a", 41);
    e.set_bool("flag", true);
    e.set_string("who", "CN");
    REQUIRE(ev.evaluate(e, d, edict::Explain::All).ok());
    CHECK(d.explanation_json == engine_explanation(both));
    REQUIRE(ev.evaluate(e, d).ok());
    CHECK(d.explanation_json.empty());

    // A rule fault: the faulting rule says where.
    const std::string faulting = ev_json(INT64_MAX / 2 + 1, false, "CN");
    CHECK(ev.evaluate(faulting, d, edict::Explain::Fired).code == edict::Code::RuleFault);
    REQUIRE(d.explanation.size() == 1);
    CHECK(d.explanation[0].status == edict::RuleStatus::Error);
    CHECK(d.explanation[0].error.find("overflow") != std::string::npos);
    CHECK(d.explanation_json == [&] {
      std::string all = engine_explanation(faulting);
      // Fired keeps only the faulting rule: drop `noisy` (not fired) from the engine's.
      size_t begin = all.find("{\"name\":\"noisy\"");
      size_t end = all.find("{\"name\":\"big\"");
      return all.erase(begin, end - begin);
    }());

    // Not decoded, or a field missing: the decision and why, no rules.
    CHECK(ev.evaluate("{\"kind\":", d, edict::Explain::All).code == edict::Code::InvalidJson);
    CHECK(d.explanation.empty());
    CHECK(d.explanation_json == engine_explanation("{\"kind\":"));
    e.clear();
    CHECK(ev.evaluate(e, d, edict::Explain::All).code == edict::Code::InvalidEvent);
    CHECK(d.explanation.empty());
    CHECK(
        d.explanation_json ==
        R"({"line":1,"kind":"ev","decision":"error","reason":"missing_field","error":"missing field `id`","rules":[]})");

    // Batches explain each line as single events do.
    std::vector<std::string_view> lines = {both, one, "[]"};
    std::vector<edict::Decision> decisions;
    ev.evaluate_batch(lines, decisions, edict::Explain::All);
    REQUIRE(decisions.size() == 3);
    for (size_t i = 0; i < lines.size(); ++i) {
      std::string expected = engine_explanation(std::string(lines[i]));
      // The batch numbers its lines.
      expected.replace(0, 9, "{\"line\":" + std::to_string(i + 1));
      CHECK(decisions[i].explanation_json == expected);
    }
  }
}

TEST_CASE("threads explaining at once share one tracer and agree", "[api][threads]") {
  edict::Policy policy = compile_small();  // not yet traced: the threads race to trace it
  const std::string both = ev_json(41, true, "CN");
  std::vector<std::string> seen(4);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < seen.size(); ++t)
    threads.emplace_back([&, t] {
      edict::Evaluator ev(policy);
      edict::Decision d;
      for (int i = 0; i < 50; ++i)
        if (ev.evaluate(both, d, edict::Explain::All).ok() && (i == 0 || seen[t] == d.explanation_json))
          seen[t] = d.explanation_json;
        else
          seen[t] = "differs";
    });
  for (std::thread& t : threads) t.join();
  const std::string expected = engine_explanation(both);
  for (const std::string& s : seen) CHECK(s == expected);
}

TEST_CASE("a policy is replaced while threads evaluate; the old one is freed", "[api][threads]") {
  // Two versions that decide the same event differently.
  auto version = [](const char* effect) {
    std::string text = std::string("event ev { time: time, a: int }\nrule r on ev cite \"c\" ") + effect +
                       " when event.a > 0\n";
    edict::Compiled c = edict::Policy::compile_sources({{"v.edict", text}});
    REQUIRE(c.status.ok());
    return c.policy;
  };
  edict::Policy deny = version("deny"), report = version("report");
  edict::PolicySlot slot(deny);
  std::atomic<bool> stop{false};
  std::atomic<int> bad{0};
  std::atomic<long> evaluations{0};
  const std::string json = R"({"kind":"ev","time":"2024-01-01T00:00:00Z","a":1})";
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&] {
      edict::Evaluator ev(slot);
      edict::Decision d;
      while (!stop.load()) {
        edict::Status s = ev.evaluate(json, d);
        if (!s.ok() || (d.outcome != "deny" && d.outcome != "report") || d.rules.size() != 1) ++bad;
        ++evaluations;
      }
    });
  }
  // Each store compiles afresh, so every generation is new code.
  for (int i = 0; i < 6; ++i) {
    slot.store(version(i % 2 ? "deny" : "report"));
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  stop = true;
  for (std::thread& t : threads) t.join();
  CHECK(bad == 0);
  CHECK(evaluations > 0);
  // The evaluators are gone: only our handles hold the first two policies.
  CHECK(deny.use_count() == 1);
  CHECK(report.use_count() == 1);
  // A slot-following evaluator releases a replaced policy at its next call.
  edict::Evaluator follower(slot);
  edict::Decision d;
  REQUIRE(follower.evaluate(json, d).ok());
  edict::Policy held = slot.load();
  long before = held.use_count();
  slot.store(report);
  REQUIRE(follower.evaluate(json, d).ok());
  CHECK(d.outcome == "report");
  CHECK(held.use_count() < before);
}

TEST_CASE("C ABI: handles, codes and messages", "[api][c]") {
  edict_policy* policy = nullptr;
  CHECK(edict_policy_compile_file(nullptr, EDICT_ENGINE_JIT, &policy) == EDICT_NULL_ARGUMENT);
  CHECK(std::string(edict_last_error()) == "path is NULL");
  CHECK(edict_policy_compile_file(kReference.c_str(), EDICT_ENGINE_JIT, nullptr) == EDICT_NULL_ARGUMENT);
  CHECK(edict_policy_compile_file(kReference.c_str(), static_cast<edict_engine>(7), &policy) ==
        EDICT_INVALID_ARGUMENT);
  CHECK(edict_policy_compile_string("x.edict", "rule", 4, EDICT_ENGINE_JIT, &policy) == EDICT_COMPILE_ERROR);
  CHECK(std::string(edict_last_error()).find("x.edict:1:") != std::string::npos);
  CHECK(edict_policy_compile_string("\xff.edict", "", 0, EDICT_ENGINE_JIT, &policy) == EDICT_INVALID_UTF8);
  CHECK(policy == nullptr);

  REQUIRE(edict_policy_compile_string("small.edict", kSmall, std::strlen(kSmall), EDICT_ENGINE_INTERPRETER,
                                      &policy) == EDICT_OK);
  CHECK(edict_policy_rule_count(policy) == 2);
  edict_evaluator* ev = nullptr;
  CHECK(edict_evaluator_new(nullptr, &ev) == EDICT_NULL_ARGUMENT);
  REQUIRE(edict_evaluator_new(policy, &ev) == EDICT_OK);

  const edict_decision* d = nullptr;
  std::string json = ev_json(41, true, "CN");
  REQUIRE(edict_eval_json(ev, json.data(), json.size(), &d) == EDICT_OK);
  CHECK(std::string(edict_decision_outcome(d)) == "deny");
  REQUIRE(edict_decision_rule_count(d) == 2);
  CHECK(std::string(edict_decision_rule_name(d, 0)) == "noisy");
  CHECK(std::string(edict_decision_rule_message(d, 0)) == "next value 42");
  CHECK(std::string(edict_decision_rule_cite(d, 1)) == "test 2");
  CHECK(std::string(edict_decision_rule_name(d, 9)).empty());
  CHECK(std::string(edict_decision_kind(d)) == "ev");

  CHECK(edict_eval_json(ev, "{", 1, &d) == EDICT_INVALID_JSON);
  CHECK(std::string(edict_decision_outcome(d)) == "error");
  CHECK(std::string(edict_last_error()).find("invalid JSON") != std::string::npos);
  CHECK(edict_eval_json(ev, nullptr, 0, &d) == EDICT_NULL_ARGUMENT);
  std::string wrong = R"({"kind":"rental","time":"2024-01-01T00:00:00Z"})";
  CHECK(edict_eval_json(ev, wrong.data(), wrong.size(), &d) == EDICT_WRONG_KIND);
  std::string bad_utf8 = ev_json(1, true);
  bad_utf8.replace(bad_utf8.find("e1"), 2, "\xc3\x28");
  CHECK(edict_eval_json(ev, bad_utf8.data(), bad_utf8.size(), &d) == EDICT_INVALID_UTF8);

  // Typed events.
  edict_event* event = nullptr;
  CHECK(edict_event_new(policy, "rental", &event) == EDICT_WRONG_KIND);
  CHECK(edict_event_new(policy, "\xff", &event) == EDICT_INVALID_UTF8);
  REQUIRE(edict_event_new(policy, "ev", &event) == EDICT_OK);
  int32_t id = -1, time = -1, a = -1, flag = -1, who = -1;
  CHECK(edict_event_field(event, "nope", &a) == EDICT_UNKNOWN_FIELD);
  REQUIRE(edict_event_field(event, "id", &id) == EDICT_OK);
  REQUIRE(edict_event_field(event, "time", &time) == EDICT_OK);
  REQUIRE(edict_event_field(event, "a", &a) == EDICT_OK);
  REQUIRE(edict_event_field(event, "flag", &flag) == EDICT_OK);
  REQUIRE(edict_event_field(event, "who", &who) == EDICT_OK);
  CHECK(edict_event_set_string(event, id, "e9", 2) == EDICT_OK);
  CHECK(edict_event_set_time(event, time, 1704067200000000) == EDICT_OK);
  CHECK(edict_event_set_int(event, a, 41) == EDICT_OK);
  CHECK(edict_event_set_bool(event, flag, 1) == EDICT_OK);
  CHECK(edict_eval_event(ev, event, &d) == EDICT_INVALID_EVENT);  // `who` missing
  CHECK(edict_event_set_string(event, who, "C\xff", 2) == EDICT_INVALID_UTF8);
  CHECK(edict_event_set_string(event, who, "CN", 2) == EDICT_OK);
  CHECK(edict_event_set_string(event, a, "CN", 2) == EDICT_WRONG_TYPE);
  CHECK(edict_event_set_int(event, 99, 1) == EDICT_UNKNOWN_FIELD);
  CHECK(edict_event_set_string(event, who, nullptr, 2) == EDICT_NULL_ARGUMENT);
  REQUIRE(edict_eval_event(ev, event, &d) == EDICT_OK);
  CHECK(std::string(edict_decision_outcome(d)) == "deny");
  CHECK(std::string(edict_decision_id(d)) == "e9");
  CHECK(edict_eval_event(nullptr, event, &d) == EDICT_NULL_ARGUMENT);

  // Explanations: off until asked for, per evaluator.
  CHECK(std::string(edict_decision_explanation_json(d)).empty());
  CHECK(edict_evaluator_set_explain(ev, static_cast<edict_explain>(7)) == EDICT_INVALID_ARGUMENT);
  CHECK(edict_evaluator_set_explain(nullptr, EDICT_EXPLAIN_ALL) == EDICT_NULL_ARGUMENT);
  REQUIRE(edict_evaluator_set_explain(ev, EDICT_EXPLAIN_FIRED) == EDICT_OK);
  REQUIRE(edict_eval_event(ev, event, &d) == EDICT_OK);
  std::string explained = edict_decision_explanation_json(d);
  CHECK(explained.rfind(R"({"line":1,"id":"e9","kind":"ev","decision":"deny","rules":[{"name":"noisy",)",
                        0) == 0);
  CHECK(explained.find(R"({"expr":"event.a * 2","line":19,"state":"value","value":82)") != std::string::npos);
  REQUIRE(edict_evaluator_set_explain(ev, EDICT_EXPLAIN_NONE) == EDICT_OK);
  REQUIRE(edict_eval_json(ev, json.data(), json.size(), &d) == EDICT_OK);
  CHECK(std::string(edict_decision_explanation_json(d)).empty());
  CHECK(std::string(edict_decision_explanation_json(nullptr)).empty());

  // A handle of the wrong type is caught by its tag.
  CHECK(edict_eval_json(reinterpret_cast<edict_evaluator*>(policy), json.data(), json.size(), &d) ==
        EDICT_INVALID_HANDLE);
  CHECK(edict_event_clear(reinterpret_cast<edict_event*>(ev)) == EDICT_INVALID_HANDLE);

  // Hot replacement through a slot.
  edict_slot* slot = nullptr;
  REQUIRE(edict_slot_new(policy, &slot) == EDICT_OK);
  edict_evaluator* follower = nullptr;
  REQUIRE(edict_evaluator_new_from_slot(slot, &follower) == EDICT_OK);
  CHECK(edict_eval_json(follower, json.data(), json.size(), &d) == EDICT_OK);
  edict_policy* reference = nullptr;
  REQUIRE(edict_policy_compile_file(kReference.c_str(), EDICT_ENGINE_JIT, &reference) == EDICT_OK);
  CHECK(edict_slot_store(slot, reference) == EDICT_OK);
  CHECK(edict_eval_json(follower, json.data(), json.size(), &d) == EDICT_WRONG_KIND);
  CHECK(edict_slot_store(slot, nullptr) == EDICT_NULL_ARGUMENT);

  // Freeing the policy first is fine: the evaluator and event keep it alive.
  edict_policy_free(policy);
  CHECK(edict_eval_event(ev, event, &d) == EDICT_OK);
  edict_event_free(event);
  edict_evaluator_free(ev);
  edict_evaluator_free(follower);
  edict_slot_free(slot);
  edict_policy_free(reference);
  edict_policy_free(nullptr);

  CHECK(std::string(edict_status_name(EDICT_RULE_FAULT)) == "rule_fault");
  CHECK(std::string(edict_status_name(99)) == "unknown");
}

TEST_CASE("C ABI: with debug handles, use after free is reported", "[api][c]") {
  int before = edict_debug_handles(1);
  edict_policy* policy = nullptr;
  REQUIRE(edict_policy_compile_string("small.edict", kSmall, std::strlen(kSmall), EDICT_ENGINE_INTERPRETER,
                                      &policy) == EDICT_OK);
  edict_evaluator* ev = nullptr;
  REQUIRE(edict_evaluator_new(policy, &ev) == EDICT_OK);
  edict_evaluator_free(ev);
  const edict_decision* d = nullptr;
  std::string json = ev_json(1, false);
  // Defined here only because debug handles keep the freed shell.
  CHECK(edict_eval_json(ev, json.data(), json.size(), &d) == EDICT_INVALID_HANDLE);
  CHECK(std::string(edict_last_error()) == "evaluator was already freed");
  edict_evaluator_free(ev);  // a second free is ignored
  edict_policy_free(policy);
  edict_debug_handles(before);
}

namespace {

// `edict eval --audit`'s records of `path`, read from the CLI itself.
std::string eval_audit_records(const std::string& path) {
  const std::string command = std::string("'") + EDICT_CLI + "' eval -q --audit --no-decision-time '" +
                              kReference + "' '" + path + "'";
  FILE* pipe = popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::string out;
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, pipe)) > 0;) out.append(buf, n);
  pclose(pipe);
  return out;
}

std::string file_text(const std::string& path) {
  std::string out;
  FILE* f = std::fopen(path.c_str(), "rb");
  REQUIRE(f != nullptr);
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) out.append(buf, n);
  std::fclose(f);
  return out;
}

}  // namespace

TEST_CASE("audit records from the API are eval --audit's, byte for byte", "[api]") {
  edict::Compiled c = edict::Policy::compile_files({kReference});
  REQUIRE(c.status.ok());
  // Clean events, then dirty ones (bad JSON, wrong kinds, missing fields):
  // every line gets the record eval writes, error records included.
  for (const char* seeds : {"generated.jsonl", "edges.jsonl", "plain_path.jsonl"}) {
    const std::string path = std::string(EDICT_SOURCE_DIR) + "/tests/fuzz/decoder_seeds/" + seeds;
    const std::string want = eval_audit_records(path);
    REQUIRE_FALSE(want.empty());
    edict::AuditRecorder recorder(c.policy, edict::AuditOptions{/*decision_time=*/false});
    std::string records;
    REQUIRE(recorder.record(file_text(path), records).ok());
    CHECK(records == want);
    CHECK(want.find(recorder.policy_hash()) != std::string::npos);
  }
  // With the decision time: the same records with a "time" after the id.
  edict::AuditRecorder timed(c.policy);
  std::string records;
  REQUIRE(timed.record(R"({"kind":"nope"})", records).ok());
  CHECK(records.find(R"(,"time":")") != std::string::npos);
  CHECK(records.find(R"("line":1,)") != std::string::npos);
  CHECK(records.back() == '\n');
  // An empty Policy is refused rather than recorded.
  edict::AuditRecorder empty(edict::Policy{});
  CHECK(empty.record("{}", records).code == edict::Code::InvalidArgument);
}
