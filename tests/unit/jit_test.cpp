// Tests of the LLVM JIT (compiler/codegen + compiler/jit): policies compiled
// from source through parse, check and lower, run over hand-built batches at
// O0 and O2, with decisions, fired bits and faults asserted, and every batch
// also run by the interpreter, which must agree bit for bit.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "abi/abi.h"
#include "abi/batch.h"
#include "abi/data.h"
#include "abi/schema.h"
#include "abi/strings.h"
#include "compiler/check/check.h"
#include "compiler/interp/interp.h"
#include "compiler/ir/ir.h"
#include "compiler/jit/jit.h"
#include "compiler/parse/parse.h"
#include "data/loader.h"
#include "engine/decode/decoder.h"
#include "engine/decode/line_reader.h"
#include "support/countries.h"
#include "support/diagnostics.h"
#include "support/source.h"
#include "support/time_util.h"

namespace {

using namespace edict;
using jit::OptLevel;

const char* kEvents = R"(
event rental {
  id: string, time: time, chip: string, chip_count: int, hours: number,
  customer_hq: country, datacenter: country, purpose: string, listed: bool,
  span: duration, license: string?, note: string?
}
event provision { id: string, time: time, chip: string, chip_count: int, datacenter: country, gbps: number }
)";

parse::FileReader memory_reader(std::map<std::string, std::string> files) {
  return [files](const std::string& path, std::string* error) -> std::optional<std::string> {
    for (const auto& [name, text] : files)
      if (path.size() >= name.size() && path.compare(path.size() - name.size(), name.size(), name) == 0)
        return text;
    if (error) *error = "no such file";
    return std::nullopt;
  };
}

// A policy through the front end and lowering, with the runtime's view of it.
struct Policy {
  SourceManager sources;
  DiagnosticSink sink;
  ast::Program program;
  check::CheckedProgram checked;
  ir::Module module;
  abi::Schema schema;
  abi::SymbolTable symbols;
  jit::ColumnMap columns;

  int rule(std::string_view name) const {
    for (size_t i = 0; i < module.rules.size(); ++i)
      if (module.rules[i].name == name) return static_cast<int>(i);
    FAIL("no rule " << name);
    return -1;
  }
  int outcome(std::string_view name) const {
    for (size_t i = 0; i < module.outcomes.size(); ++i)
      if (module.outcomes[i] == name) return static_cast<int>(i);
    FAIL("no outcome " << name);
    return -1;
  }
};

abi::ColumnType column_type(ir::Ty t) {
  switch (t) {
    case ir::Ty::Bool: return abi::ColumnType::Bool;
    case ir::Ty::Number: return abi::ColumnType::Number;
    case ir::Ty::Str: return abi::ColumnType::String;
    case ir::Ty::Country: return abi::ColumnType::Country;
    case ir::Ty::Time: return abi::ColumnType::Time;
    case ir::Ty::Duration: return abi::ColumnType::Duration;
    default: return abi::ColumnType::Int;
  }
}

void finish(Policy& p) {
  for (const ir::EventSchema& e : p.module.events) {
    std::vector<abi::FieldSpec> fields;
    for (const ir::Field& f : e.fields) fields.push_back({f.name, column_type(f.type), f.optional, -1});
    p.schema.add_kind(e.name, fields, e.time_field);
  }
  for (const std::string& s : p.module.strings) p.symbols.intern(s);
  p.columns.column = abi::column_map(p.schema);
}

std::unique_ptr<Policy> from_path(const std::string& path) {
  auto p = std::make_unique<Policy>();
  p->program = parse::load_program({path}, p->sources, p->sink);
  p->checked = check::check(p->program, p->sources, p->sink);
  INFO(render_human(p->sources, p->sink.sorted()));
  REQUIRE(!p->sink.has_errors());
  p->module = ir::lower(p->checked, p->sink);
  REQUIRE(p->module.ok());
  finish(*p);
  return p;
}

std::unique_ptr<Policy> policy(const std::string& main) {
  auto p = std::make_unique<Policy>();
  std::map<std::string, std::string> files = {{"events.edict", kEvents},
                                              {"main.edict", "import \"events.edict\"\n" + main}};
  p->program = parse::load_program({"/virtual/main.edict"}, p->sources, p->sink, {}, memory_reader(files));
  check::CheckOptions co;
  co.warn_unused = false;
  p->checked = check::check(p->program, p->sources, p->sink, co);
  std::string rendered;
  for (const Diagnostic& d : p->sink.sorted())
    if (d.severity == Severity::Error) rendered += render_human(p->sources, d) + "\n";
  INFO(rendered);
  REQUIRE(rendered.empty());
  p->module = ir::lower(p->checked, p->sink);
  std::string errors;
  for (const std::string& e : p->module.errors) errors += e + "\n";
  INFO(errors);
  REQUIRE(p->module.ok());
  REQUIRE(ir::verify(p->module).empty());
  finish(*p);
  return p;
}

// Rows of a batch, set field by field. A new row has every required field of
// its kind present (zero unless set), like a decoded event.
struct Events {
  const Policy& p;
  abi::Batch batch;
  explicit Events(const Policy& policy, uint32_t capacity = 64)
      : p(policy), batch(policy.schema, policy.symbols, capacity) {}

  uint32_t row(std::string_view kind) {
    uint32_t r = batch.begin_row(batch.size() + 1);
    int k = p.schema.kind_index(kind);
    REQUIRE(k >= 0);
    batch.set_kind(r, static_cast<uint8_t>(k));
    for (const abi::FieldSpec& f : p.schema.kinds[static_cast<size_t>(k)].fields) {
      abi::Column& c = batch.column(static_cast<size_t>(f.column));
      if (!f.optional && !c.present.empty()) c.present[r] = 1;
    }
    return r;
  }
  uint32_t bad_row() {
    uint32_t r = batch.begin_row(batch.size() + 1);
    batch.fail(r, abi::ErrorReason::InvalidJson, "not json");
    return r;
  }
  abi::Column& column(uint32_t r, std::string_view field) {
    const abi::KindSpec& k = p.schema.kinds[batch.kind(r)];
    auto it = k.field_index.find(field);
    REQUIRE(it != k.field_index.end());
    abi::Column& c = batch.column(static_cast<size_t>(k.fields[static_cast<size_t>(it->second)].column));
    if (!c.present.empty()) c.present[r] = 1;
    return c;
  }
  Events& i(uint32_t r, std::string_view f, int64_t v) { return column(r, f).data<int64_t>()[r] = v, *this; }
  Events& n(uint32_t r, std::string_view f, double v) { return column(r, f).data<double>()[r] = v, *this; }
  Events& b(uint32_t r, std::string_view f, bool v) { return column(r, f).data<uint8_t>()[r] = v, *this; }
  Events& s(uint32_t r, std::string_view f, std::string_view v) {
    uint32_t sym = batch.intern(v);
    return column(r, f).data<uint32_t>()[r] = sym, *this;
  }
  Events& c(uint32_t r, std::string_view f, std::string_view code) {
    auto idx = country_index(code);
    REQUIRE(idx);
    return column(r, f).data<uint16_t>()[r] = *idx, *this;
  }
  Events& t(uint32_t r, std::string_view f, std::string_view rfc3339) {
    auto micros = parse_rfc3339(rfc3339);
    REQUIRE(micros);
    return i(r, f, *micros);
  }

  EdictColumns view() {
    data.clear();
    present.clear();
    for (size_t c = 0; c < p.schema.columns.size(); ++c) {
      data.push_back(batch.column(c).storage.data());
      present.push_back(batch.column(c).present.empty() ? nullptr : batch.column(c).present.data());
    }
    return EdictColumns{batch.size(), batch.kinds(), data.data(), present.data(), &batch};
  }
  std::vector<const void*> data;
  std::vector<const uint8_t*> present;
};

struct Results {
  uint32_t words = 1;
  std::vector<uint64_t> fired;
  std::vector<uint8_t> decision;
  std::vector<uint32_t> fault_rule, fault_site;
  std::vector<uint8_t> fault_reason;
  Results(uint32_t rows, size_t rules, uint32_t extra_words = 0) {
    words = static_cast<uint32_t>(std::max<size_t>(1, (rules + 63) / 64)) + extra_words;
    // Garbage in, so that stale values would show.
    fired.assign(size_t{rows} * words, 0xA5A5A5A5A5A5A5A5ull);
    decision.assign(rows, 0xA5);
    fault_rule.assign(rows, 0xA5A5A5A5u);
    fault_site.assign(rows, 0xA5A5A5A5u);
    fault_reason.assign(rows, 0xA5);
  }
  EdictResults view() {
    return EdictResults{fired.data(),       words, decision.data(), fault_rule.data(), fault_site.data(),
                        fault_reason.data()};
  }
  bool fired_bit(uint32_t row, size_t rule) const {
    return (fired[size_t{row} * words + rule / 64] >> (rule % 64)) & 1;
  }
  std::set<std::string> fired_rules(const Policy& p, uint32_t row) const {
    std::set<std::string> out;
    for (size_t r = 0; r < p.module.rules.size(); ++r)
      if (fired_bit(row, r)) out.insert(p.module.rules[r].name);
    return out;
  }
};

// Runs `events` through the JIT at `level` and through the interpreter; the
// two must agree on every decision, fired word and fault (rule, site and
// reason, the reason also with the interpreter's eval_rule).
Results run(const Policy& p, Events& events, OptLevel level) {
  auto compiled = jit::compile(p.module, p.columns, {level, "", false});
  INFO(compiled.error());
  REQUIRE(compiled);
  EdictColumns columns = events.view();
  Results jitted(columns.rows, p.module.rules.size());
  EdictResults out = jitted.view();
  (*compiled)->evaluate(columns, out);

  interp::Interpreter interpreter(p.module, p.columns.column);
  Results interpreted(columns.rows, p.module.rules.size());
  EdictResults iout = interpreted.view();
  interpreter.eval_batch(columns, iout);
  for (uint32_t r = 0; r < columns.rows; ++r) {
    INFO("row " << r);
    CHECK(int{jitted.decision[r]} == int{interpreted.decision[r]});
    for (uint32_t w = 0; w < jitted.words; ++w)
      CHECK(jitted.fired[size_t{r} * jitted.words + w] ==
            interpreted.fired[size_t{r} * interpreted.words + w]);
    if (jitted.decision[r] == EDICT_DECISION_ERROR) {
      CHECK(jitted.fault_rule[r] == interpreted.fault_rule[r]);
      CHECK(jitted.fault_site[r] == interpreted.fault_site[r]);
      CHECK(int{jitted.fault_reason[r]} == int{interpreted.fault_reason[r]});
      const int rule = static_cast<int>(interpreted.fault_rule[r]);
      CHECK(int{interpreted.fault_reason[r]} == int(interpreter.eval_rule(rule, columns, r).reason));
    }
  }
  return jitted;
}

// Every evaluation test runs at both levels (a Catch2 generator: one pass each).
#define ANY_LEVEL GENERATE(OptLevel::O0, OptLevel::O2)

const char* level_name(OptLevel l) {
  return l == OptLevel::O0 ? "O0" : "O2";
}

}  // namespace

TEST_CASE("a rule fires, and the decision is the strongest effect or the default", "[jit]") {
  OptLevel level = ANY_LEVEL;
  INFO(level_name(level));
  auto p = policy(R"(
rule big on rental
  report
  when event.chip_count >= 100
rule huge on rental
  deny
  when event.chip_count >= 1000
rule listed on rental
  review
  when event.listed
)");
  Events ev(*p);
  uint32_t small = ev.row("rental");
  ev.i(small, "chip_count", 5);
  uint32_t big = ev.row("rental");
  ev.i(big, "chip_count", 100);
  uint32_t huge = ev.row("rental");
  ev.i(huge, "chip_count", 5000).b(huge, "listed", true);
  uint32_t listed = ev.row("rental");
  ev.i(listed, "chip_count", 200).b(listed, "listed", true);
  Results res = run(*p, ev, level);
  CHECK(int{res.decision[small]} == p->outcome("allow"));
  CHECK(res.fired_rules(*p, small).empty());
  CHECK(int{res.decision[big]} == p->outcome("report"));
  CHECK(res.fired_rules(*p, big) == std::set<std::string>{"big"});
  CHECK(int{res.decision[huge]} == p->outcome("deny"));
  CHECK(res.fired_rules(*p, huge) == std::set<std::string>{"big", "huge", "listed"});
  CHECK(int{res.decision[listed]} == p->outcome("review"));
}

TEST_CASE("declared outcomes and a default above the weakest", "[jit]") {
  OptLevel level = ANY_LEVEL;
  auto p = policy(R"(
outcomes nlr < notify < license
default notify
rule a on rental
  nlr
  when event.chip == "x"
rule b on rental
  license
  when event.chip == "y"
)");
  Events ev(*p);
  uint32_t none = ev.row("rental");
  ev.s(none, "chip", "z");
  uint32_t weak = ev.row("rental");
  ev.s(weak, "chip", "x");
  uint32_t strong = ev.row("rental");
  ev.s(strong, "chip", "y");
  Results res = run(*p, ev, level);
  CHECK(int{res.decision[none]} == p->outcome("notify"));
  // A fired rule's effect is the decision even when weaker than the default.
  CHECK(int{res.decision[weak]} == p->outcome("nlr"));
  CHECK(int{res.decision[strong]} == p->outcome("license"));
}

TEST_CASE("effective dates are inclusive from and exclusive until, to the microsecond", "[jit]") {
  OptLevel level = ANY_LEVEL;
  auto p = policy(R"(
rule windowed on rental
  effective 2024-01-01
  until 2024-06-01T12:00:00Z
  deny
  when event.chip_count > 0
rule opened on rental
  effective 2024-03-01T00:00:00Z
  report
  when event.chip_count > 0
)");
  Events ev(*p);
  std::vector<std::pair<const char*, std::set<std::string>>> cases = {
      {"2023-12-31T23:59:59.999999Z", {}},
      {"2024-01-01T00:00:00Z", {"windowed"}},
      {"2024-02-29T23:59:59.999999Z", {"windowed"}},
      {"2024-03-01T00:00:00Z", {"windowed", "opened"}},
      {"2024-06-01T11:59:59.999999Z", {"windowed", "opened"}},
      {"2024-06-01T12:00:00Z", {"opened"}},
      {"2030-01-01T00:00:00Z", {"opened"}},
  };
  for (auto& [time, expected] : cases) {
    uint32_t r = ev.row("rental");
    ev.t(r, "time", time).i(r, "chip_count", 1);
  }
  Results res = run(*p, ev, level);
  for (uint32_t r = 0; r < cases.size(); ++r) {
    INFO(cases[r].first);
    CHECK(res.fired_rules(*p, r) == cases[r].second);
  }
}

TEST_CASE("an out-of-window rule never faults", "[jit]") {
  OptLevel level = ANY_LEVEL;
  auto p = policy(R"(
rule old on rental
  until 2020-01-01
  deny
  when event.chip_count * 4_611_686_018_427_387_904 > 0
)");
  Events ev(*p);
  uint32_t r = ev.row("rental");
  ev.t(r, "time", "2024-01-01T00:00:00Z").i(r, "chip_count", 4);
  uint32_t before = ev.row("rental");
  ev.t(before, "time", "2019-01-01T00:00:00Z").i(before, "chip_count", 4);
  Results res = run(*p, ev, level);
  CHECK(int{res.decision[r]} == p->outcome("allow"));
  CHECK(int{res.decision[before]} == EDICT_DECISION_ERROR);
}

TEST_CASE("multi-kind rules read shared columns and see missing fields as absent", "[jit]") {
  OptLevel level = ANY_LEVEL;
  auto p = policy(R"(
rule dc on any
  deny
  when event.datacenter == "CN"
  unless event.license is present
rule chips on rental, provision
  review
  when event.chip_count > 10
rule fast on provision
  report
  when event.gbps >= 100
)");
  Events ev(*p);
  uint32_t rental = ev.row("rental");
  ev.c(rental, "datacenter", "CN").i(rental, "chip_count", 1);
  uint32_t licensed = ev.row("rental");
  ev.c(licensed, "datacenter", "CN").s(licensed, "license", "L-1");
  uint32_t provision = ev.row("provision");
  ev.c(provision, "datacenter", "CN").i(provision, "chip_count", 11).n(provision, "gbps", 100);
  uint32_t elsewhere = ev.row("provision");
  ev.c(elsewhere, "datacenter", "US").n(elsewhere, "gbps", 99.5);
  Results res = run(*p, ev, level);
  CHECK(res.fired_rules(*p, rental) == std::set<std::string>{"dc"});
  CHECK(res.fired_rules(*p, licensed).empty());
  CHECK(res.fired_rules(*p, provision) == std::set<std::string>{"dc", "chips", "fast"});
  CHECK(res.fired_rules(*p, elsewhere).empty());
  CHECK(int{res.decision[provision]} == p->outcome("deny"));
}

TEST_CASE("optional fields: presence tests and otherwise", "[jit]") {
  OptLevel level = ANY_LEVEL;
  auto p = policy(R"(
rule unlicensed on rental
  deny
  when event.chip == "H100"
  unless event.license is present
rule noted on rental
  review
  when (event.note otherwise "none") == "flag"
rule guarded on rental
  report
  when event.note is present and starts_with(event.note, "x")
)");
  Events ev(*p);
  uint32_t bare = ev.row("rental");
  ev.s(bare, "chip", "H100");
  uint32_t licensed = ev.row("rental");
  ev.s(licensed, "chip", "H100").s(licensed, "license", "L-7");
  uint32_t flagged = ev.row("rental");
  ev.s(flagged, "chip", "A100").s(flagged, "note", "flag");
  uint32_t x = ev.row("rental");
  ev.s(x, "chip", "A100").s(x, "note", "xyz");
  Results res = run(*p, ev, level);
  CHECK(res.fired_rules(*p, bare) == std::set<std::string>{"unlicensed"});
  CHECK(res.fired_rules(*p, licensed).empty());
  CHECK(res.fired_rules(*p, flagged) == std::set<std::string>{"noted"});
  CHECK(res.fired_rules(*p, x) == std::set<std::string>{"guarded"});
}

TEST_CASE("table lookups by string, int, country and number keys", "[jit]") {
  OptLevel level = ANY_LEVEL;
  auto p = policy(R"(
table chips: string -> { tpp: int, area: number, vendor: string? } = {
  "H100": { tpp: 15_832, area: 814, vendor: "nv" },
  "H20": { tpp: 2_368, area: 814 },
  "MI300X": { tpp: 20_915, area: 1_017, vendor: "amd" },
}
table by_count: int -> { weight: int } = {
  1: { weight: 10 }, 8: { weight: 80 }, 1_000_000_000_000: { weight: 7 }, -5: { weight: 3 },
}
table by_country: country -> { tier: int } = { "CN": { tier: 3 }, "US": { tier: 1 }, "ZW": { tier: 2 } }
table by_hours: number -> { label: string } = { 0.5: { label: "half" }, 720: { label: "month" } }

rule advanced on rental
  deny
  when event.chip in chips and chips[event.chip].tpp >= 4_800
rule dense on rental
  review
  when (chips[event.chip].tpp otherwise 0) / (chips[event.chip].area otherwise 1) >= 5.92
rule nvidia on rental
  report
  when (chips[event.chip].vendor otherwise "?") == "nv"
rule weighted on rental
  report
  when (by_count[event.chip_count].weight otherwise 0) >= 7
rule tier3 on rental
  report
  when (by_country[event.customer_hq].tier otherwise 0) == 3
rule month on rental
  report
  when (by_hours[event.hours].label otherwise "") == "month"
)");
  Events ev(*p);
  uint32_t h100 = ev.row("rental");
  ev.s(h100, "chip", "H100").i(h100, "chip_count", 8).c(h100, "customer_hq", "CN").n(h100, "hours", 720);
  uint32_t h20 = ev.row("rental");
  ev.s(h20, "chip", "H20").i(h20, "chip_count", 2).c(h20, "customer_hq", "ZW").n(h20, "hours", 0.5);
  uint32_t unknown = ev.row("rental");
  ev.s(unknown, "chip", "T4").i(unknown, "chip_count", 1'000'000'000'000).c(unknown, "customer_hq", "FR");
  uint32_t negative = ev.row("rental");
  ev.s(negative, "chip", "MI300X").i(negative, "chip_count", -5).n(negative, "hours", 720.0001);
  Results res = run(*p, ev, level);
  CHECK(res.fired_rules(*p, h100) ==
        std::set<std::string>{"advanced", "dense", "nvidia", "weighted", "tier3", "month"});
  CHECK(res.fired_rules(*p, h20).empty());
  CHECK(res.fired_rules(*p, unknown) == std::set<std::string>{"weighted"});
  CHECK(res.fired_rules(*p, negative) == std::set<std::string>{"advanced", "dense"});
}

// Exact data lookups whose key is a string field of the row's event and whose
// time is its time are made for the whole batch ahead of the row loop
// (codegen plan.h, HoistedFind): the loop then has no call and is vectorised,
// and every row still sees the rows in force at its own time, in the slot's
// current version.
TEST_CASE("data lookups made ahead of the row loop: in force by date, per kind, after a replace", "[jit]") {
  OptLevel level = ANY_LEVEL;
  INFO(level_name(level));
  auto p = policy(R"(
data holders: string -> { name: string, added: date, removed: date? }
  from "holders.csv"
  key "id"
  in force from added until removed
rule held on rental
  deny
  when event.purpose in holders
rule named_beta on rental
  review
  when (holders[event.purpose].name otherwise "") == "Beta"
rule chip_held on provision
  report
  when event.chip in holders
)");
  const ir::Table* table = nullptr;
  for (const ir::Table& t : p->module.tables)
    if (t.name == "holders") table = &t;
  REQUIRE(table);
  REQUIRE(table->external());
  auto load = [&](const std::string& csv) {
    auto loaded = data::load_csv(table->data->schema(), csv, "holders.csv");
    REQUIRE(loaded.snapshot);
    table->data->replace(loaded.snapshot);
  };
  // A: listed, removed, listed again; B: open-ended; C: one day only.
  load(
      "id,name,added,removed\nA,Alpha,2023-01-01,2024-01-01\nA,Alpha again,2025-01-01,\n"
      "B,Beta,2020-01-01,\nC,Gamma,2024-06-01,2024-06-02\n");
  const std::vector<std::string> keys = {"A", "B", "C", "Z", "a", ""};
  const std::vector<std::string> times = {
      "2022-12-31T23:59:59.999999Z", "2023-01-01T00:00:00Z", "2023-12-31T23:59:59Z", "2024-01-01T00:00:00Z",
      "2024-06-01T12:00:00Z",        "2024-06-02T00:00:00Z", "2025-01-01T00:00:00Z"};
  // The rows in force, by hand: {key, from, until} as RFC 3339 prefixes compare.
  auto listed = [](const std::string& key, const std::string& t, bool a_relisted) {
    if (key == "A") return ("2023-01-01" <= t && t < "2024-01-01") || (a_relisted && "2025-01-01" <= t);
    if (key == "B") return "2020-01-01" <= t;
    if (key == "C") return "2024-06-01" <= t && t < "2024-06-02";
    return false;
  };
  // More rows than a vector's width and not a multiple of it; every third a
  // provision, whose `purpose` column holds no symbol of this batch.
  Events ev(*p, 512);
  std::vector<std::pair<std::string, std::string>> asked;  // per row: key, time
  for (uint32_t k = 0; k < 301; ++k) {
    const std::string& key = keys[k % keys.size()];
    const std::string& time = times[(k / keys.size()) % times.size()];
    uint32_t r = ev.row(k % 3 == 2 ? "provision" : "rental");
    ev.t(r, "time", time).s(r, k % 3 == 2 ? "chip" : "purpose", key);
    asked.emplace_back(key, time);
  }
  for (bool a_relisted : {true, false}) {
    INFO("A listed again: " << a_relisted);
    if (!a_relisted)  // the slot's new version must be seen: no lookup is kept between evaluations
      load(
          "id,name,added,removed\nA,Alpha,2023-01-01,2024-01-01\nB,Beta,2020-01-01,\n"
          "C,Gamma,2024-06-01,2024-06-02\n");
    Results res = run(*p, ev, level);
    for (uint32_t r = 0; r < 301; ++r) {
      INFO("row " << r << " key " << asked[r].first << " at " << asked[r].second);
      const bool in = listed(asked[r].first, asked[r].second, a_relisted);
      std::set<std::string> want;
      if (r % 3 == 2 && in) want = {"chip_held"};
      if (r % 3 != 2 && in)
        want = asked[r].first == "B" ? std::set<std::string>{"held", "named_beta"}
                                     : std::set<std::string>{"held"};
      CHECK(res.fired_rules(*p, r) == want);
    }
  }
  // The loop calls no lookup helper per row, and is vectorised.
  auto ir2 = jit::emit(p->module, p->columns, jit::EmitKind::LlvmIr, OptLevel::O2);
  REQUIRE(ir2);
  CHECK(ir2->find("@edict_data_find_rows(") != std::string::npos);
  CHECK(ir2->find("call i64 @edict_data_find(") == std::string::npos);
  auto only_membership = policy(R"(
data holders: string -> { name: string } from "holders.csv" key "id"
rule held on rental deny when event.purpose in holders
rule big on rental review when event.chip_count > 8
)");
  auto vectorised =
      jit::emit(only_membership->module, only_membership->columns, jit::EmitKind::LlvmIr, OptLevel::O2);
  REQUIRE(vectorised);
  CHECK(vectorised->find("<8 x i64>") != std::string::npos);
}

TEST_CASE("set membership over countries, strings, ints, numbers and durations", "[jit]") {
  OptLevel level = ANY_LEVEL;
  auto p = policy(R"(
set D5: country = { "AF", "BY", "CN", "CU", "IR", "KP", "RU", "VE", "ZW" }
set NEAR: country = { "CU", "CV", "CW", "CX", "CY", "CZ" }  // consecutive: a range check
set FEW: country = { "MO", "HK" }
set PURPOSES: string = { "training", "hpc", "rendering", "inference", "simulation", "other" }
set COUNTS: int = { -9_000_000_000_000, 1, 2, 3, 5, 8, 13, 21, 9_000_000_000_000 }
set SMALL: int = { 4, 6, 7, 9, 10, 12 }
set HOURS: number = { 0.25, 1.5, 24, 720, 8760, -3 }
set SPANS: duration = { 1d, 30d, 12h }

rule d5 on rental
  deny
  when event.customer_hq in D5
rule near on rental
  report
  when event.customer_hq in NEAR or event.datacenter in FEW
rule purpose on rental
  report
  when event.purpose not in PURPOSES
rule counts on rental
  report
  when event.chip_count in COUNTS or event.chip_count in SMALL
rule hours on rental
  report
  when event.hours in HOURS
rule spans on rental
  report
  when event.span in SPANS
)");
  Events ev(*p);
  auto hours = [](int64_t h) { return h * 3'600'000'000; };
  uint32_t a = ev.row("rental");
  ev.c(a, "customer_hq", "KP")
      .c(a, "datacenter", "HK")
      .s(a, "purpose", "training")
      .i(a, "chip_count", 9'000'000'000'000);
  ev.n(a, "hours", 8760).i(a, "span", hours(24));
  uint32_t b = ev.row("rental");
  ev.c(b, "customer_hq", "DE").c(b, "datacenter", "US").s(b, "purpose", "mining").i(b, "chip_count", 11);
  ev.n(b, "hours", 1.5000001).i(b, "span", hours(13));
  uint32_t c = ev.row("rental");
  ev.c(c, "customer_hq", "CY").c(c, "datacenter", "MO").s(c, "purpose", "other").i(c, "chip_count", 12);
  ev.n(c, "hours", -3).i(c, "span", hours(12));
  uint32_t d = ev.row("rental");
  ev.c(d, "customer_hq", "AD")
      .c(d, "datacenter", "ZW")
      .s(d, "purpose", "simulation")
      .i(d, "chip_count", -9'000'000'000'000);
  ev.n(d, "hours", 0).i(d, "span", hours(24 * 29));
  Results res = run(*p, ev, level);
  CHECK(res.fired_rules(*p, a) == std::set<std::string>{"d5", "near", "counts", "hours", "spans"});
  CHECK(res.fired_rules(*p, b) == std::set<std::string>{"purpose"});
  CHECK(res.fired_rules(*p, c) == std::set<std::string>{"near", "counts", "hours", "spans"});
  CHECK(res.fired_rules(*p, d) == std::set<std::string>{"counts"});
}

TEST_CASE("faults fail closed and name the first faulting rule and its site", "[jit]") {
  OptLevel level = ANY_LEVEL;
  auto p = policy(R"(
rule fine on rental
  report
  when event.chip_count > 0
rule overflow on rental
  deny
  when event.chip_count * event.chip_count > 10
rule divide on rental
  deny
  when event.hours / event.chip_count > 1
rule huge on rental
  review
  when event.hours * 1e300 > 0
rule after on rental
  review
  when event.chip_count > 1
)");
  Events ev(*p);
  uint32_t ok = ev.row("rental");
  ev.i(ok, "chip_count", 3).n(ok, "hours", 1);
  uint32_t overflow = ev.row("rental");
  ev.i(overflow, "chip_count", 5'000'000'000).n(overflow, "hours", 1);
  uint32_t zero = ev.row("rental");
  ev.i(zero, "chip_count", 0).n(zero, "hours", 1);
  uint32_t inf = ev.row("rental");
  ev.i(inf, "chip_count", 2).n(inf, "hours", 1e10);
  Results res = run(*p, ev, level);
  CHECK(int{res.decision[ok]} == p->outcome("review"));

  auto site_of = [&](uint32_t row) -> const ir::FaultSite& {
    return p->module.fault_sites.at(res.fault_site[row]);
  };
  auto fn_rule = [&](const ir::FaultSite& s) {
    return p->module.rules[p->module.functions[s.function].rule].name;
  };
  CHECK(int{res.decision[overflow]} == EDICT_DECISION_ERROR);
  CHECK(int(res.fault_rule[overflow]) == p->rule("overflow"));
  CHECK(fn_rule(site_of(overflow)) == "overflow");
  CHECK(p->sources.text(site_of(overflow).span) == "event.chip_count * event.chip_count");
  // Later rules still run: their fired bits are recorded.
  CHECK(res.fired_rules(*p, overflow) == std::set<std::string>{"fine", "huge", "after"});

  CHECK(int{res.decision[zero]} == EDICT_DECISION_ERROR);
  CHECK(int(res.fault_rule[zero]) == p->rule("divide"));
  CHECK(p->sources.text(site_of(zero).span) == "event.hours / event.chip_count");

  CHECK(int{res.decision[inf]} == EDICT_DECISION_ERROR);
  CHECK(int(res.fault_rule[inf]) == p->rule("huge"));
  CHECK(res.fired_rules(*p, inf) == std::set<std::string>{"fine", "divide", "after"});
}

// Row `row` of `ev` as a record of its kind (EdictEvalRecordFn, abi/abi.h).
std::vector<uint64_t> record_of(const Policy& p, Events& ev, uint32_t row) {
  const uint8_t kind = ev.batch.kind(row);
  const ir::EventSchema& schema = p.module.events[kind];
  const size_t n = schema.fields.size();
  std::vector<uint64_t> words(EDICT_RECORD_BYTES(n) / 8, 0);
  auto* bytes = reinterpret_cast<uint8_t*>(words.data());
  for (size_t i = 0; i < n; ++i) {
    const int column = p.columns.column[kind][i];
    if (column < 0) continue;
    const abi::Column& c = ev.batch.column(static_cast<size_t>(column));
    const ir::Ty t = schema.fields[i].type;
    const size_t width = t == ir::Ty::Bool ? 1 : t == ir::Ty::Country ? 2 : t == ir::Ty::Str ? 4 : 8;
    std::memcpy(bytes + EDICT_RECORD_VALUE(i),
                reinterpret_cast<const uint8_t*>(c.storage.data()) + row * width, width);
    bytes[EDICT_RECORD_PRESENT(n, i)] = c.present.empty() ? 1 : c.present[row];
  }
  return words;
}

TEST_CASE("every fault reason reaches the results of batch, single-event and record code", "[jit]") {
  OptLevel level = ANY_LEVEL;
  auto p = policy(R"(
rule overflow on rental
  deny
  when event.chip_count * event.chip_count > 0
rule divide on rental
  deny
  when 1e300 / event.hours > 1
rule huge on rental
  review
  when event.hours * 1e300 > 0
rule absent_load on rental
  review
  when event.chip_count >= 0
rule absent_fault on rental
  review
  when event.chip_count >= 0
)");
  // No checked source reaches an absent value in a fires function (the
  // checker demands guards), so the last two rules get hand-written IR: an
  // unguarded load.checked of `license`, and `fault absent` without `note`.
  ir::Module& m = p->module;
  const int rental = m.events[0].name == "rental" ? 0 : 1;
  auto rewrite = [&](std::string_view rule, std::vector<ir::Ty> regs, std::vector<ir::Block> blocks) {
    auto id = static_cast<size_t>(m.rules[static_cast<size_t>(p->rule(rule))].bodies.at(0).fires);
    ir::Function& f = m.functions[id];
    const auto site = static_cast<uint32_t>(m.fault_sites.size());
    m.fault_sites.push_back({static_cast<ir::FuncId>(id), f.span});
    for (ir::Block& b : blocks)
      for (ir::Inst& in : b.insts) {
        in.span = f.span;
        if (ir::op_info(in.op).checked || in.op == ir::Op::Fault) in.site = site;
      }
    f.regs = std::move(regs);
    f.blocks = std::move(blocks);
  };
  auto inst = [](ir::Op op, ir::Ty type, int64_t imm) {
    ir::Inst in;
    in.op = op;
    in.type = type;
    in.dst = type == ir::Ty::Void ? ir::kNoReg : 0;
    in.imm = imm;
    return in;
  };
  ir::Inst load = inst(ir::Op::LoadChecked, ir::Ty::Str, m.events[rental].field_index("license"));
  ir::Inst has = inst(ir::Op::Has, ir::Ty::Bool, m.events[rental].field_index("note"));
  ir::Inst br = inst(ir::Op::Br, ir::Ty::Void, 0);
  br.a = 0;
  br.target[0] = 1;
  br.target[1] = 2;
  ir::Inst fires = inst(ir::Op::Ret, ir::Ty::Void, 1);
  ir::Inst absent = inst(ir::Op::Fault, ir::Ty::Void, 0);
  absent.reason = ir::FaultReason::Absent;
  rewrite("absent_load", {ir::Ty::Str}, {ir::Block{{load, fires}}});
  rewrite("absent_fault", {ir::Ty::Bool}, {ir::Block{{has, br}}, ir::Block{{fires}}, ir::Block{{absent}}});
  const std::vector<std::string> problems = ir::verify(m);
  INFO((problems.empty() ? std::string() : problems.front()));
  REQUIRE(problems.empty());

  Events ev(*p);
  auto rental_row = [&](int64_t count, double hours) {
    uint32_t r = ev.row("rental");
    ev.i(r, "chip_count", count).n(r, "hours", hours).s(r, "license", "L").s(r, "note", "n");
    return r;
  };
  const uint32_t ok = rental_row(3, 1);
  const std::pair<uint32_t, ir::FaultReason> faults[] = {
      {rental_row(5'000'000'000, 1), ir::FaultReason::IntOverflow},
      {rental_row(3, 0), ir::FaultReason::DivisionByZero},  // fdiv: 1e300 / 0
      {rental_row(3, 1e-300), ir::FaultReason::NonFinite},  // the same fdiv: 1e600
      {rental_row(3, 1e10), ir::FaultReason::NonFinite},    // fmul
      {ev.row("rental"), ir::FaultReason::Absent},          // no license (nor note: load.checked comes first)
  };
  const uint32_t no_note = rental_row(3, 1);
  ev.batch.column(static_cast<size_t>(p->columns.column[rental][m.events[rental].field_index("note")]))
      .present[no_note] = 0;
  ev.i(faults[4].first, "chip_count", 3).n(faults[4].first, "hours", 1);

  // Batch code, against the interpreter (run() compares every output).
  Results batch = run(*p, ev, level);
  CHECK(int{batch.decision[ok]} == p->outcome("deny"));  // divide fires
  for (auto [row, reason] : faults) {
    INFO("row " << row);
    CHECK(int{batch.decision[row]} == EDICT_DECISION_ERROR);
    CHECK(int{batch.fault_reason[row]} == int(reason));
  }
  CHECK(int{batch.decision[no_note]} == EDICT_DECISION_ERROR);
  CHECK(int(batch.fault_rule[no_note]) == p->rule("absent_fault"));
  CHECK(int{batch.fault_reason[no_note]} == int(ir::FaultReason::Absent));
  // fdiv's two reasons come from one site.
  CHECK(batch.fault_site[faults[1].first] == batch.fault_site[faults[2].first]);

  // Single-event code (branching, one row per iteration) and record code.
  jit::JitOptions options;
  options.opt = level;
  options.single_event = true;
  options.record_functions = true;
  auto one = jit::compile(m, p->columns, options);
  INFO(one.error());
  REQUIRE(one);
  EdictColumns columns = ev.view();
  Results single(columns.rows, m.rules.size());
  EdictResults single_view = single.view();
  (*one)->evaluate(columns, single_view);
  EdictEvalRecordFn decide = (*one)->record_function(static_cast<size_t>(rental));
  REQUIRE(decide);
  for (uint32_t r = 0; r < columns.rows; ++r) {
    INFO("row " << r);
    Results record(1, m.rules.size());
    EdictResults record_view = record.view();
    std::vector<uint64_t> bytes = record_of(*p, ev, r);
    const uint32_t code = decide(bytes.data(), &ev.batch, &record_view);
    CHECK(code == record.decision[0]);
    for (const Results* got : {&single, &record}) {
      const uint32_t at = got == &single ? r : 0;
      CHECK(int{got->decision[at]} == int{batch.decision[r]});
      CHECK(got->fired[size_t{at} * got->words] == batch.fired[size_t{r} * batch.words]);
      if (batch.decision[r] != EDICT_DECISION_ERROR) continue;
      CHECK(got->fault_rule[at] == batch.fault_rule[r]);
      CHECK(got->fault_site[at] == batch.fault_site[r]);
      CHECK(int{got->fault_reason[at]} == int{batch.fault_reason[r]});
    }
  }
}

TEST_CASE("int overflow in add, subtract and negate; time arithmetic", "[jit]") {
  OptLevel level = ANY_LEVEL;
  auto p = policy(R"(
rule add on rental
  report
  when event.chip_count + 1 > 0
rule sub on rental
  report
  when 0 - event.chip_count - 2 < 0
rule later on rental
  review
  when event.time + event.span >= 2024-02-01
)");
  Events ev(*p);
  uint32_t max = ev.row("rental");
  ev.i(max, "chip_count", INT64_MAX);
  uint32_t min = ev.row("rental");
  ev.i(min, "chip_count", INT64_MIN);
  uint32_t time = ev.row("rental");
  ev.i(time, "chip_count", 1).t(time, "time", "2024-01-01T00:00:00Z").i(time, "span", 31LL * 86'400'000'000);
  uint32_t far = ev.row("rental");
  ev.i(far, "chip_count", 1).t(far, "time", "2024-01-01T00:00:00Z").i(far, "span", INT64_MAX);
  Results res = run(*p, ev, level);
  CHECK(int{res.decision[max]} == EDICT_DECISION_ERROR);
  CHECK(int(res.fault_rule[max]) == p->rule("add"));
  CHECK(int{res.decision[min]} == EDICT_DECISION_ERROR);
  CHECK(int(res.fault_rule[min]) == p->rule("sub"));
  CHECK(res.fired_rules(*p, time) == std::set<std::string>{"add", "sub", "later"});
  CHECK(int{res.decision[far]} == EDICT_DECISION_ERROR);
  CHECK(int(res.fault_rule[far]) == p->rule("later"));
}

TEST_CASE("rows that failed to decode are skipped", "[jit]") {
  OptLevel level = ANY_LEVEL;
  auto p = policy(R"(
rule always on rental
  deny
  when event.chip_count >= 0
)");
  Events ev(*p);
  uint32_t good = ev.row("rental");
  uint32_t bad = ev.bad_row();
  uint32_t provision = ev.row("provision");
  Results res = run(*p, ev, level);
  CHECK(int{res.decision[good]} == p->outcome("deny"));
  CHECK(int{res.decision[bad]} == EDICT_DECISION_SKIPPED);
  CHECK(res.fired[bad] == 0);
  CHECK(int{res.decision[provision]} == p->outcome("allow"));
  CHECK(res.fired[provision] == 0);
}

TEST_CASE("string builtins and ordering call the runtime helpers", "[jit]") {
  OptLevel level = ANY_LEVEL;
  auto p = policy(R"(
rule prefix on rental
  report
  when starts_with(event.chip, "H1") and ends_with(event.chip, "00")
rule inside on rental
  report
  when contains(lower(event.purpose), "train")
rule shout on rental
  report
  when upper(event.purpose) == "HPC"
rule short on rental
  report
  when len(event.chip) <= 2
rule ordered on rental
  report
  when event.chip < "B" and event.chip >= "A"
)");
  Events ev(*p);
  uint32_t h100 = ev.row("rental");
  ev.s(h100, "chip", "H100").s(h100, "purpose", "Pre-TRAINING");
  uint32_t a2 = ev.row("rental");
  ev.s(a2, "chip", "A2").s(a2, "purpose", "hpc");
  uint32_t accent = ev.row("rental");
  ev.s(accent, "chip", "é").s(accent, "purpose", "Hpc");
  Results res = run(*p, ev, level);
  CHECK(res.fired_rules(*p, h100) == std::set<std::string>{"prefix", "inside"});
  CHECK(res.fired_rules(*p, a2) == std::set<std::string>{"shout", "short", "ordered"});
  CHECK(res.fired_rules(*p, accent) == std::set<std::string>{"shout", "short"});
}

TEST_CASE("more than 64 rules use several fired words", "[jit]") {
  OptLevel level = ANY_LEVEL;
  std::string src;
  for (int i = 0; i < 70; ++i)
    src += "rule r" + std::to_string(i) +
           " on rental\n  report\n  when event.chip_count >= " + std::to_string(i) + "\n";
  auto p = policy(src);
  Events ev(*p);
  uint32_t r = ev.row("rental");
  ev.i(r, "chip_count", 66);
  Results res = run(*p, ev, level);
  REQUIRE(res.words == 2);
  CHECK(res.fired[0] == ~uint64_t{0});
  CHECK(res.fired[1] == 0b111);
}

TEST_CASE("fired words: extra words are cleared, too few fail closed", "[jit]") {
  auto p = policy(R"(
rule a on rental
  report
  when event.chip_count > 1
)");
  auto compiled = jit::compile(p->module, p->columns);
  REQUIRE(compiled);
  Events ev(*p);
  uint32_t r0 = ev.row("rental");
  ev.i(r0, "chip_count", 5);
  uint32_t r1 = ev.row("rental");
  ev.i(r1, "chip_count", 0);
  EdictColumns cols = ev.view();
  Results wide(2, 1, 2);  // 3 words per row
  EdictResults out = wide.view();
  (*compiled)->evaluate(cols, out);
  CHECK(wide.fired == std::vector<uint64_t>{1, 0, 0, 0, 0, 0});
  CHECK(int{wide.decision[0]} == p->outcome("report"));

  Results none(2, 1);
  EdictResults narrow = none.view();
  narrow.fired_words = 0;
  (*compiled)->evaluate(cols, narrow);
  CHECK(none.decision == std::vector<uint8_t>{EDICT_DECISION_ERROR, EDICT_DECISION_ERROR});
  CHECK(none.fault_rule[0] == UINT32_MAX);
  CHECK(none.fired[0] == 0xA5A5A5A5A5A5A5A5ull);  // untouched

  // An empty batch touches nothing.
  EdictColumns empty = cols;
  empty.rows = 0;
  Results untouched(2, 1);
  EdictResults u = untouched.view();
  (*compiled)->evaluate(empty, u);
  CHECK(untouched.decision[0] == 0xA5);
}

TEST_CASE("a batch without the presence bytes an optional field needs fails closed", "[jit]") {
  auto p = policy(R"(
rule unlicensed on rental
  deny
  unless event.license is present
)");
  auto compiled = jit::compile(p->module, p->columns);
  REQUIRE(compiled);
  Events ev(*p);
  ev.row("rental");
  uint32_t odd = ev.row("rental");
  ev.batch.set_kind(odd, 7);  // names no event kind: the default, as in the interpreter
  EdictColumns cols = ev.view();
  Results ok(2, 1);
  EdictResults out = ok.view();
  (*compiled)->evaluate(cols, out);
  CHECK(int{ok.decision[0]} == p->outcome("deny"));
  CHECK(int{ok.decision[1]} == p->outcome("allow"));
  for (auto& present : ev.present) present = nullptr;
  Results refused(2, 1);
  EdictResults r = refused.view();
  (*compiled)->evaluate(cols, r);
  CHECK(refused.decision == std::vector<uint8_t>{EDICT_DECISION_ERROR, EDICT_DECISION_ERROR});
  CHECK(refused.fault_rule[0] == UINT32_MAX);
}

TEST_CASE("a policy without rules decides the default", "[jit]") {
  OptLevel level = ANY_LEVEL;
  auto p = policy("default review\n");
  Events ev(*p);
  ev.row("rental");
  ev.bad_row();
  Results res = run(*p, ev, level);
  CHECK(int{res.decision[0]} == p->outcome("review"));
  CHECK(int{res.decision[1]} == EDICT_DECISION_SKIPPED);
  CHECK(res.fired[0] == 0);
}

TEST_CASE("large rules keep their branches and agree with the interpreter", "[jit]") {
  OptLevel level = ANY_LEVEL;
  // Over the if-conversion limits: one rule of a few hundred instructions,
  // and enough rules that rows branch on their kind.
  std::string big = "rule big on rental\n  deny\n  when (event.note otherwise \"\") == \"x\" or (";
  for (int i = 0; i < 120; ++i)
    big += (i ? " or " : "") + std::string("event.chip_count == ") + std::to_string(i * 7);
  big += ") and event.chip_count * event.chip_count > 40 and starts_with(event.chip, \"H\")\n";
  for (int i = 0; i < 60; ++i)
    big += "rule r" + std::to_string(i) + " on rental, provision\n  report\n  when event.chip_count * " +
           std::to_string(i + 1) + " > " + std::to_string(i * 50) + " and event.chip != \"skip\"\n";
  auto p = policy(big);
  auto text = jit::emit(p->module, p->columns, jit::EmitKind::LlvmIr, OptLevel::O0);
  REQUIRE(text);
  CHECK(text->find("define internal void @edict_eval_batch.group1(") != std::string::npos);  // several passes
  CHECK(text->find("big.fault:") != std::string::npos);  // the big rule kept its branches
  Events ev(*p);
  for (int64_t count : {int64_t{0}, int64_t{7}, int64_t{14}, int64_t{700}, int64_t{833},
                        int64_t{3'100'000'000}, int64_t{-3'037'000'500}, int64_t{INT64_MAX / 3}}) {
    for (const char* chip : {"H100", "A100", "skip"}) {
      uint32_t r = ev.row("rental");
      ev.i(r, "chip_count", count).s(r, "chip", chip);
      if (count == 14) ev.s(r, "note", "x");
      uint32_t q = ev.row("provision");
      ev.i(q, "chip_count", count).s(q, "chip", chip);
    }
  }
  ev.bad_row();
  Results res = run(*p, ev, level);
  // Rows come in (rental, provision) pairs, three chips per count.
  auto rental_row = [](int count_index, int chip_index) {
    return static_cast<uint32_t>((count_index * 3 + chip_index) * 2);
  };
  CHECK(res.fired_bit(rental_row(1, 0), static_cast<size_t>(p->rule("big"))));   // 7 x H100
  CHECK(!res.fired_bit(rental_row(1, 1), static_cast<size_t>(p->rule("big"))));  // 7 x A100
  CHECK(res.fired_bit(rental_row(2, 1), static_cast<size_t>(p->rule("big"))));   // the note
  // INT64_MAX / 3 times 4 overflows first in r3.
  CHECK(int{res.decision[rental_row(7, 0)]} == EDICT_DECISION_ERROR);
  CHECK(int(res.fault_rule[rental_row(7, 0)]) == p->rule("r3"));
  CHECK(int{res.decision[rental_row(7, 0) + 1]} == EDICT_DECISION_ERROR);
  CHECK(int{res.decision[ev.batch.size() - 1]} == EDICT_DECISION_SKIPPED);
}

TEST_CASE("policies compile and run on several threads at once", "[jit]") {
  auto p = policy(R"(
rule a on rental
  deny
  when event.chip_count > 1
)");
  std::vector<std::thread> threads;
  std::atomic<int> good{0};
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      auto compiled = jit::compile(p->module, p->columns, {t % 2 ? OptLevel::O2 : OptLevel::O0, "", false});
      if (!compiled) return;
      Events ev(*p);
      uint32_t r = ev.row("rental");
      ev.i(r, "chip_count", 2);
      EdictColumns cols = ev.view();
      Results res(1, 1);
      EdictResults out = res.view();
      (*compiled)->evaluate(cols, out);
      if (int{res.decision[0]} == 3) ++good;
    });
  for (std::thread& t : threads) t.join();
  CHECK(good == 4);
  CHECK(p->outcome("deny") == 3);
}

TEST_CASE("destroying a compiled policy unloads its code", "[jit]") {
  auto p = policy(R"(
rule a on rental
  deny
  when event.chip_count > 1
)");
  auto made = jit::Jit::create();
  INFO(made.error());
  REQUIRE(made);
  std::shared_ptr<jit::Jit> jit = *made;
  CHECK(!jit->host_cpu().empty());
  jit::JitOptions fixed;
  fixed.function_name = "edict_test_fixed_name";
  auto first = jit->compile(p->module, p->columns, fixed);
  REQUIRE(first);
  CHECK((*first)->symbol() == "edict_test_fixed_name");
  // The name is taken while the first policy is loaded...
  auto clash = jit->compile(p->module, p->columns, fixed);
  CHECK(!clash);
  CHECK(clash.error().find("edict_test_fixed_name") != std::string::npos);
  // ...and free again once it is destroyed.
  first = jit::Result<std::unique_ptr<jit::CompiledPolicy>>::fail("dropped");
  auto second = jit->compile(p->module, p->columns, fixed);
  INFO(second.error());
  REQUIRE(second);
  // Policies outlive the Jit handle that made them.
  jit.reset();
  Events ev(*p);
  uint32_t r = ev.row("rental");
  ev.i(r, "chip_count", 2);
  EdictColumns cols = ev.view();
  Results res(1, 1);
  EdictResults out = res.view();
  (*second)->evaluate(cols, out);
  CHECK(int{res.decision[0]} == p->outcome("deny"));
  // Unnamed policies get fresh names and coexist.
  auto x = jit::compile(p->module, p->columns);
  auto y = jit::compile(p->module, p->columns);
  REQUIRE(x);
  REQUIRE(y);
  CHECK((*x)->symbol() != (*y)->symbol());
}

TEST_CASE("bad input to the code generator is an error, not a crash", "[jit]") {
  auto p = policy(R"(
rule a on rental
  deny
  when event.chip_count > 1
)");
  jit::ColumnMap none;
  auto r = jit::compile(p->module, none);
  CHECK(!r);
  CHECK(r.error().find("column map") != std::string::npos);
  ir::Module broken = p->module;
  broken.errors.push_back("lowering failed");
  CHECK(!jit::compile(broken, p->columns));
  ir::Module bad_column = p->module;
  jit::ColumnMap short_map = p->columns;
  short_map.column[0].resize(1);
  auto s = jit::compile(bad_column, short_map);
  CHECK(!s);
  CHECK(s.error().find("no batch column") != std::string::npos);
}

TEST_CASE("the generated code can be dumped as LLVM IR and assembly", "[jit]") {
  auto p = policy(R"(
set D5: country = { "AF", "BY", "CN", "CU", "IR", "KP", "RU", "VE", "ZW" }
rule a on rental
  deny
  when event.customer_hq in D5 and event.chip_count * 2 > 10
)");
  auto ir0 = jit::emit(p->module, p->columns, jit::EmitKind::LlvmIr, OptLevel::O0);
  INFO(ir0.error());
  REQUIRE(ir0);
  CHECK(ir0->find("define void @edict_eval_batch(") != std::string::npos);
  CHECK(ir0->find("llvm.smul.with.overflow.i64") != std::string::npos);
  CHECK(ir0->find("alloca") != std::string::npos);
  auto ir2 = jit::emit(p->module, p->columns, jit::EmitKind::LlvmIr, OptLevel::O2);
  REQUIRE(ir2);
  CHECK(ir2->find("alloca") == std::string::npos);  // promoted to registers
  auto asm2 = jit::emit(p->module, p->columns, jit::EmitKind::Assembly, OptLevel::O2);
  INFO(asm2.error());
  REQUIRE(asm2);
  CHECK(asm2->find("edict_eval_batch:") != std::string::npos);
  jit::JitOptions keep;
  keep.keep_llvm_ir = true;
  auto compiled = jit::compile(p->module, p->columns, keep);
  REQUIRE(compiled);
  CHECK((*compiled)->llvm_ir().find((*compiled)->symbol()) != std::string::npos);
}

TEST_CASE("the reference policy: JIT and interpreter agree on its examples", "[jit]") {
  OptLevel level = ANY_LEVEL;
  auto p = from_path(std::string(EDICT_SOURCE_DIR) + "/policies/reference.edict");
  REQUIRE(p->module.rules.size() == 9);
  // Every example event of the policy, at several times and with tweaks.
  Events ev(*p, 256);
  const check::CheckedProgram& c = p->checked;
  const char* times[] = {"2022-01-01T00:00:00Z", "2023-11-17T00:00:00Z", "2024-03-01T00:00:00Z",
                         "2025-02-01T00:00:00Z", "2025-05-13T00:00:00Z"};
  for (const check::EventValue& example : c.example_events) {
    const check::RecordSchema& schema = c.records[static_cast<size_t>(example.record)];
    for (const char* time : times) {
      for (int variant = 0; variant < 3; ++variant) {
        uint32_t r = ev.row(schema.name);
        for (size_t f = 0; f < schema.fields.size(); ++f) {
          const Value& v = example.fields[f];
          const std::string& name = schema.fields[f].name;
          switch (v.kind) {
            case TypeKind::Int: ev.i(r, name, variant == 1 ? v.i * 1000 : v.i); break;
            case TypeKind::Number: ev.n(r, name, variant == 2 ? v.n * 1e6 : v.n); break;
            case TypeKind::Bool: ev.b(r, name, v.i != 0); break;
            case TypeKind::String: ev.s(r, name, variant == 2 ? "B200" : v.s); break;
            case TypeKind::Country: ev.c(r, name, variant == 1 ? "CN" : v.s); break;
            case TypeKind::Time: ev.t(r, name, time); break;
            case TypeKind::Duration: ev.i(r, name, v.i); break;
            default: break;  // absent optional field
          }
        }
      }
    }
  }
  REQUIRE(ev.batch.size() > 10);
  Results res = run(*p, ev, level);
  std::set<std::string> seen;
  for (uint32_t r = 0; r < ev.batch.size(); ++r)
    for (const std::string& name : res.fired_rules(*p, r)) seen.insert(name);
  CHECK(seen.size() >= 5);  // the variants exercise most rules
}

// Not run by default: `edict_unit_tests "[.jit-bench]"` in a Release build.
TEST_CASE("compile time of the reference policy", "[.jit-bench]") {
  using Clock = std::chrono::steady_clock;
  auto ms = [](Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double, std::milli>(b - a).count();
  };
  for (OptLevel level : {OptLevel::O0, OptLevel::O2}) {
    for (int round = 0; round < 4; ++round) {
      auto t0 = Clock::now();
      auto p = from_path(std::string(EDICT_SOURCE_DIR) + "/policies/reference.edict");
      auto t1 = Clock::now();
      auto compiled = jit::compile(p->module, p->columns, {level, "", false});
      auto t2 = Clock::now();
      REQUIRE(compiled);
      std::printf(
          "%s round %d: front end + lower %.2f ms, jit %.2f ms (codegen+opt %.2f, machine code %.2f)\n",
          level_name(level), round, ms(t0, t1), ms(t1, t2), (*compiled)->codegen_ms(),
          (*compiled)->native_ms());
    }
  }
}

// Not run by default: how compile time grows with the number of rules.
TEST_CASE("compile time of many rules", "[.jit-bench]") {
  using Clock = std::chrono::steady_clock;
  for (int rules : {10, 100, 1000}) {
    std::string src = "set D5: country = { \"AF\", \"BY\", \"CN\", \"CU\", \"IR\", \"KP\", \"RU\" }\n";
    for (int i = 0; i < rules; ++i)
      src += "rule r" + std::to_string(i) + " on rental\n  report\n  when event.chip_count * " +
             std::to_string(i + 1) + " > " + std::to_string(i * 50) +
             " and (event.customer_hq in D5 or event.hours / 3 > " + std::to_string(i) +
             ")\n  unless event.license is present\n";
    auto t0 = Clock::now();
    auto p = policy(src);
    auto t1 = Clock::now();
    if (const char* dump = std::getenv("EDICT_JIT_DUMP")) {
      auto raw = jit::emit(p->module, p->columns, jit::EmitKind::LlvmIr, OptLevel::O0);
      REQUIRE(raw);
      std::ofstream(std::string(dump) + ".rules" + std::to_string(rules) + ".ll") << *raw;
      if (rules > 100) continue;
    }
    for (OptLevel level : {OptLevel::O0, OptLevel::O2}) {
      auto t2 = Clock::now();
      auto compiled = jit::compile(p->module, p->columns, {level, "", false});
      auto t3 = Clock::now();
      REQUIRE(compiled);
      std::printf("%d rules: front end + lower %.1f ms; jit %s %.1f ms\n", rules,
                  std::chrono::duration<double, std::milli>(t1 - t0).count(), level_name(level),
                  std::chrono::duration<double, std::milli>(t3 - t2).count());
    }
  }
}

// Not run by default: evaluation speed on generated events (bench/gen_events.py),
// JIT at O0 and O2 against the interpreter; decisions must agree. Set
// EDICT_JIT_DUMP=file to also write the O2 assembly there.
TEST_CASE("evaluation speed of the reference policy", "[.jit-bench]") {
  using Clock = std::chrono::steady_clock;
  const std::string path = "/tmp/edict_jit_bench.jsonl";
  if (!std::ifstream(path)) {
    std::string cmd =
        "python3 " + std::string(EDICT_SOURCE_DIR) + "/bench/gen_events.py -n 200000 --seed 7 > " + path;
    REQUIRE(std::system(cmd.c_str()) == 0);
  }
  auto p = from_path(std::string(EDICT_SOURCE_DIR) + "/policies/reference.edict");
  std::string error;
  auto reader = decode::LineReader::open(path, 1 << 20, &error);
  REQUIRE(reader);
  decode::Decoder decoder(p->schema);
  std::vector<std::unique_ptr<Events>> batches;
  std::vector<decode::Line> lines;
  while (reader->next(lines)) {
    for (const decode::Line& line : lines) {
      if (batches.empty() || batches.back()->batch.full())
        batches.push_back(std::make_unique<Events>(*p, 65536));
      decoder.decode(line.text, line.capacity, line.number, batches.back()->batch);
    }
  }
  size_t events = 0;
  for (auto& b : batches) events += b->batch.size();
  std::vector<EdictColumns> views;
  for (auto& b : batches) views.push_back(b->view());
  auto time_it = [&](auto&& eval) {
    double best = 1e100;
    for (int round = 0; round < 5; ++round) {
      auto t0 = Clock::now();
      for (auto& v : views) eval(v);
      best = std::min(best, std::chrono::duration<double, std::nano>(Clock::now() - t0).count());
    }
    return best / static_cast<double>(events);
  };
  std::vector<Results> expected;
  interp::Interpreter interpreter(p->module, p->columns.column);
  for (auto& v : views) {
    expected.emplace_back(v.rows, p->module.rules.size());
    EdictResults out = expected.back().view();
    interpreter.eval_batch(v, out);
  }
  Results scratch(65536, p->module.rules.size());
  double interp_ns = time_it([&](EdictColumns& v) {
    EdictResults out = scratch.view();
    interpreter.eval_batch(v, out);
  });
  std::printf("%zu events; interpreter %.2f ns/event\n", events, interp_ns);
  for (OptLevel level : {OptLevel::O0, OptLevel::O2}) {
    auto compiled = jit::compile(p->module, p->columns, {level, "", false});
    REQUIRE(compiled);
    for (size_t i = 0; i < views.size(); ++i) {
      Results got(views[i].rows, p->module.rules.size());
      EdictResults out = got.view();
      (*compiled)->evaluate(views[i], out);
      CHECK(got.decision == expected[i].decision);
      CHECK(got.fired == expected[i].fired);
    }
    double ns = time_it([&](EdictColumns& v) {
      EdictResults out = scratch.view();
      (*compiled)->evaluate(v, out);
    });
    std::printf("JIT %s: %.2f ns/event\n", level_name(level), ns);
  }
  if (const char* dump = std::getenv("EDICT_JIT_DUMP")) {
    auto raw = jit::emit(p->module, p->columns, jit::EmitKind::LlvmIr, OptLevel::O0);
    REQUIRE(raw);
    std::ofstream(std::string(dump) + ".O0.ll") << *raw;
    auto text = jit::emit(p->module, p->columns, jit::EmitKind::Assembly, OptLevel::O2);
    REQUIRE(text);
    std::ofstream(dump) << *text;
    auto ir = jit::emit(p->module, p->columns, jit::EmitKind::LlvmIr, OptLevel::O2);
    REQUIRE(ir);
    std::ofstream(std::string(dump) + ".ll") << *ir;
  }
}
