// Tests of the IR (compiler/ir): the verifier against hand-broken IR, the
// printer's golden text, lowering of each construct from source, the
// reference policy end to end, and evaluation-free structural walks.
#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "compiler/check/check.h"
#include "compiler/ir/ir.h"
#include "compiler/ir/type_map.h"
#include "compiler/parse/parse.h"
#include "support/countries.h"
#include "support/diagnostics.h"
#include "support/source.h"

namespace {

using namespace edict;
using ir::BlockId;
using ir::Inst;
using ir::Op;
using ir::Reg;
using ir::Ty;

// ---- hand-built IR ---------------------------------------------------------------

// A module with one event kind (rental: time, chip, n, license?), a country
// set, a string-keyed table and one rule whose fires function tests builds.
struct Hand {
  SourceManager sources;
  ir::Module m;
  Span span;

  Hand() {
    FileId f = sources.add("hand.edict", "rule r on rental\n  when event.chip in chips\n");
    span = Span{f, 24, 34};  // `event.chip` on line 2
    m.sources = &sources;
    m.outcomes = {"allow", "report", "review", "deny"};
    m.default_outcome = 0;
    ir::EventSchema e;
    e.name = "rental";
    e.fields = {{"time", Ty::Time, false},
                {"chip", Ty::Str, false},
                {"n", Ty::Int, false},
                {"license", Ty::Str, true}};
    e.time_field = 0;
    m.events.push_back(e);
    ir::Set s;
    s.name = "D5";
    s.elem = Ty::Country;
    s.members = {{*country_index("CN"), 0}, {*country_index("RU"), 0}};
    m.sets.push_back(s);
    ir::Table t;
    t.name = "chips";
    t.key = Ty::Str;
    t.keys = {{m.intern("H100"), 0}};
    t.columns.push_back({"tpp", Ty::Int, false, {{15832, 0}}, {1}});
    m.tables.push_back(t);
    ir::Rule r;
    r.name = "r";
    r.effect = 3;
    r.bodies.push_back({0, 0, ir::kNoFunc});
    m.rules.push_back(r);
    ir::Function fn;
    fn.name = "r/rental";
    fn.rule = 0;
    fn.event = 0;
    m.functions.push_back(fn);
  }

  ir::Function& fn() { return m.functions[0]; }
  Reg reg(Ty t) {
    fn().regs.push_back(t);
    return static_cast<Reg>(fn().regs.size() - 1);
  }
  BlockId block() {
    fn().blocks.emplace_back();
    return static_cast<BlockId>(fn().blocks.size() - 1);
  }
  Inst& add(BlockId b, Op op, Ty type = Ty::Void, Reg dst = ir::kNoReg, Reg a = ir::kNoReg,
            Reg c = ir::kNoReg, int64_t imm = 0) {
    Inst in;
    in.op = op;
    in.type = type;
    in.dst = dst;
    in.a = a;
    in.b = c;
    in.imm = imm;
    in.span = span;
    if (ir::op_info(op).checked) {
      m.fault_sites.push_back({0, span});
      in.site = static_cast<uint32_t>(m.fault_sites.size() - 1);
    }
    fn().blocks[b].insts.push_back(in);
    return fn().blocks[b].insts.back();
  }
  Inst& br(BlockId b, Reg c, BlockId t, BlockId f) {
    Inst& in = add(b, Op::Br, Ty::Void, ir::kNoReg, c);
    in.target[0] = t;
    in.target[1] = f;
    return in;
  }
  Inst& jmp(BlockId b, BlockId t) {
    Inst& in = add(b, Op::Jmp);
    in.target[0] = t;
    return in;
  }
  Inst& ret(BlockId b, bool fires) {
    return add(b, Op::Ret, Ty::Void, ir::kNoReg, ir::kNoReg, ir::kNoReg, fires);
  }

  // A well-formed function: "chip found in chips with tpp >= n".
  void build_good() {
    BlockId b0 = block(), b1 = block(), yes = block(), no = block();
    Reg chip = reg(Ty::Str), row = reg(Ty::Row), found = reg(Ty::Bool), tpp = reg(Ty::Int), n = reg(Ty::Int),
        ge = reg(Ty::Bool);
    add(b0, Op::Load, Ty::Str, chip, ir::kNoReg, ir::kNoReg, 1);
    add(b0, Op::TableFind, Ty::Row, row, chip, ir::kNoReg, 0);
    add(b0, Op::RowHas, Ty::Bool, found, row);
    br(b0, found, b1, no);
    add(b1, Op::CellLoad, Ty::Int, tpp, row, ir::kNoReg, 0).aux = 0;
    add(b1, Op::Load, Ty::Int, n, ir::kNoReg, ir::kNoReg, 2);
    add(b1, Op::ICmp, Ty::Bool, ge, tpp, n).pred = ir::Pred::Ge;
    br(b1, ge, yes, no);
    ret(yes, true);
    ret(no, false);
  }

  std::vector<std::string> problems() { return ir::verify(m); }
};

bool mentions(const std::vector<std::string>& problems, std::string_view what) {
  return std::any_of(problems.begin(), problems.end(),
                     [&](const std::string& p) { return p.find(what) != std::string::npos; });
}

std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += x + "\n";
  return s;
}

TEST_CASE("the verifier accepts well-formed hand-built IR", "[ir]") {
  Hand h;
  h.build_good();
  INFO(joined(h.problems()));
  CHECK(h.problems().empty());
}

TEST_CASE("dominators, predecessors and the block order of hand-built IR", "[ir]") {
  Hand h;
  h.build_good();  // bb0 -> bb1 | bb3 ; bb1 -> bb2 | bb3
  ir::Dominators d = ir::dominators(h.fn());
  CHECK(d.idom == std::vector<BlockId>{0, 0, 1, 0});
  CHECK(d.dominates(0, 3));
  CHECK(d.dominates(1, 2));
  CHECK(!d.dominates(1, 3));
  CHECK(!d.dominates(2, 1));
  CHECK(ir::predecessors(h.fn())[3] == std::vector<BlockId>{0, 1});
  CHECK(ir::reverse_postorder(h.fn()) == std::vector<BlockId>{0, 1, 2, 3});
  auto facts = ir::presence_facts(h.fn());
  CHECK(facts[1].has_row(1));
  CHECK(facts[2].has_row(1));
  CHECK(!facts[3].has_row(1));
}

TEST_CASE("the printer shows hand-built IR with spans", "[ir]") {
  Hand h;
  h.build_good();
  std::string text = ir::print_function(h.m, h.fn());
  CHECK(text ==
        "  fn r/rental: fires\n"
        "  bb0:\n"
        "    %0:str = load rental.chip                       ; hand.edict:2:8\n"
        "    %1:row = table.find @chips, %0                  ; hand.edict:2:8\n"
        "    %2:bool = row.has %1                            ; hand.edict:2:8\n"
        "    br %2, bb1, bb3                                 ; hand.edict:2:8\n"
        "  bb1:\n"
        "    %3:int = cell.load @chips.tpp, %1               ; hand.edict:2:8\n"
        "    %4:int = load rental.n                          ; hand.edict:2:8\n"
        "    %5:bool = icmp.ge %3, %4                        ; hand.edict:2:8\n"
        "    br %5, bb2, bb3                                 ; hand.edict:2:8\n"
        "  bb2:\n"
        "    ret true                                        ; hand.edict:2:8\n"
        "  bb3:\n"
        "    ret false                                       ; hand.edict:2:8\n");
  ir::PrintOptions quiet;
  quiet.spans = false;
  CHECK(ir::print_function(h.m, h.fn(), quiet).find("    ret false\n") != std::string::npos);
  std::string whole = ir::print(h.m);
  CHECK(whole.find("set @D5: country = {CN, RU}\n") != std::string::npos);
  CHECK(whole.find("table @chips: str -> {tpp: int}  ; 1 rows\n  \"H100\" -> {15832}\n") !=
        std::string::npos);
  CHECK(whole.find("rule r on rental effective (-inf, +inf) effect deny\n  fn r/rental: fires\n") !=
        std::string::npos);
  CHECK(whole.find("  #3 license: str?\n") != std::string::npos);
}

TEST_CASE("the verifier catches a register used before it is defined", "[ir]") {
  Hand h;
  h.build_good();
  Reg never = h.reg(Ty::Int);
  h.fn().blocks[1].insts[2].a = never;  // icmp.ge %3, %6: nothing writes %6
  auto problems = h.problems();
  INFO(joined(problems));
  CHECK(mentions(problems, "bb1 #2 `icmp`: %6 is used before it is defined on some path"));
}

TEST_CASE("the verifier catches a value defined on only one path", "[ir]") {
  Hand h;
  BlockId b0 = h.block(), left = h.block(), right = h.block(), join = h.block();
  Reg c = h.reg(Ty::Bool), v = h.reg(Ty::Bool);
  h.add(b0, Op::Has, Ty::Bool, c, ir::kNoReg, ir::kNoReg, 3);
  h.br(b0, c, left, right);
  h.add(left, Op::Const, Ty::Bool, v, ir::kNoReg, ir::kNoReg, 1);
  h.jmp(left, join);
  h.jmp(right, join);
  h.add(join, Op::Not, Ty::Bool, h.reg(Ty::Bool), v);
  h.ret(join, true);
  auto problems = h.problems();
  INFO(joined(problems));
  REQUIRE(problems.size() == 1);
  CHECK(mentions(problems, "bb3 #0 `not`: %1 is used before it is defined on some path"));
  // Writing it on the other arm too makes it a proper merge register.
  h.fn().blocks[right].insts.insert(h.fn().blocks[right].insts.begin(), h.fn().blocks[left].insts[0]);
  CHECK(h.problems().empty());
}

TEST_CASE("the verifier catches type mismatches", "[ir]") {
  Hand h;
  BlockId b0 = h.block();
  Reg s = h.reg(Ty::Str), n = h.reg(Ty::Int), sum = h.reg(Ty::Int), c = h.reg(Ty::Bool),
      f = h.reg(Ty::Number);
  h.add(b0, Op::Load, Ty::Str, s, ir::kNoReg, ir::kNoReg, 1);
  h.add(b0, Op::Load, Ty::Int, n, ir::kNoReg, ir::kNoReg, 2);
  h.add(b0, Op::IAdd, Ty::Int, sum, s, n);                        // str + int
  h.add(b0, Op::SetContains, Ty::Bool, c, s, ir::kNoReg, 0);      // str in set<country>
  h.add(b0, Op::Load, Ty::Number, f, ir::kNoReg, ir::kNoReg, 2);  // int field loaded as num
  h.br(b0, sum, 0, 0);                                            // int condition
  auto problems = h.problems();
  INFO(joined(problems));
  CHECK(mentions(problems, "`iadd`: operand types do not fit: (str, int) -> int"));
  CHECK(mentions(problems, "operand is str but `D5` holds country"));
  CHECK(mentions(problems, "result num but field `n` is int"));
  CHECK(mentions(problems, "condition is int"));
  CHECK(mentions(problems, "branch to the entry block"));
}

TEST_CASE("the verifier catches bad branches, unterminated blocks and cycles", "[ir]") {
  SECTION("branch target out of range") {
    Hand h;
    BlockId b0 = h.block();
    h.jmp(b0, 7);
    CHECK(mentions(h.problems(), "branch to bb7 of 1"));
  }
  SECTION("unterminated block") {
    Hand h;
    BlockId b0 = h.block();
    h.add(b0, Op::Const, Ty::Bool, h.reg(Ty::Bool), ir::kNoReg, ir::kNoReg, 1);
    CHECK(mentions(h.problems(), "block is not terminated"));
  }
  SECTION("terminator in the middle") {
    Hand h;
    BlockId b0 = h.block();
    h.ret(b0, true);
    h.ret(b0, false);
    CHECK(mentions(h.problems(), "terminator in the middle of a block"));
  }
  SECTION("empty block") {
    Hand h;
    BlockId b0 = h.block(), b1 = h.block();
    h.jmp(b0, b1);
    CHECK(mentions(h.problems(), "bb1: empty block"));
  }
  SECTION("a loop") {
    Hand h;
    BlockId b0 = h.block(), b1 = h.block(), b2 = h.block();
    h.jmp(b0, b1);
    h.jmp(b1, b2);
    h.jmp(b2, b1);
    CHECK(mentions(h.problems(), "cycle"));
  }
  SECTION("ret of a message function with emit in a fires function") {
    Hand h;
    BlockId b0 = h.block();
    h.add(b0, Op::EmitText, Ty::Void, ir::kNoReg, ir::kNoReg, ir::kNoReg, 0);
    h.ret(b0, true);
    CHECK(mentions(h.problems(), "emits outside a message function"));
  }
}

TEST_CASE("the verifier catches ids out of range and misplaced fault sites", "[ir]") {
  Hand h;
  BlockId b0 = h.block();
  Reg c = h.reg(Ty::Bool), k = h.reg(Ty::Str), x = h.reg(Ty::Int);
  h.add(b0, Op::Load, Ty::Str, k, ir::kNoReg, ir::kNoReg, 9);            // no column 9
  h.add(b0, Op::SetContains, Ty::Bool, c, k, ir::kNoReg, 4);             // no set 4
  h.add(b0, Op::Const, Ty::Str, k, ir::kNoReg, ir::kNoReg, 99);          // no string 99
  h.add(b0, Op::Const, Ty::Int, x, ir::kNoReg, ir::kNoReg, 1).site = 0;  // not a checked op
  Inst& add = h.add(b0, Op::IAdd, Ty::Int, x, x, x);
  add.site = ir::kNoSite;  // checked op without a site
  h.ret(b0, true);
  auto problems = h.problems();
  INFO(joined(problems));
  CHECK(mentions(problems, "column #9 of event `rental`"));
  CHECK(mentions(problems, "set #4 of 1"));
  CHECK(mentions(problems, "string #99 of"));
  CHECK(mentions(problems, "has a fault site but cannot fault"));
  CHECK(mentions(problems, "may fault but has no valid fault site"));
}

TEST_CASE("the verifier wants a proven presence test before an unchecked optional read", "[ir]") {
  SECTION("load without has") {
    Hand h;
    BlockId b0 = h.block();
    h.add(b0, Op::Load, Ty::Str, h.reg(Ty::Str), ir::kNoReg, ir::kNoReg, 3);
    h.ret(b0, true);
    CHECK(mentions(h.problems(), "reads optional field `license` without a proven `has` test"));
  }
  SECTION("load on the true side of has is fine; on the false side it is not") {
    Hand h;
    BlockId b0 = h.block(), yes = h.block(), no = h.block();
    Reg p = h.reg(Ty::Bool);
    h.add(b0, Op::Has, Ty::Bool, p, ir::kNoReg, ir::kNoReg, 3);
    h.br(b0, p, yes, no);
    h.add(yes, Op::Load, Ty::Str, h.reg(Ty::Str), ir::kNoReg, ir::kNoReg, 3);
    h.ret(yes, true);
    h.add(no, Op::Load, Ty::Str, h.reg(Ty::Str), ir::kNoReg, ir::kNoReg, 3);
    h.ret(no, false);
    auto problems = h.problems();
    INFO(joined(problems));
    REQUIRE(problems.size() == 1);
    CHECK(mentions(problems, "bb2 #0 `load`: reads optional field `license`"));
  }
  SECTION("checked load needs no test; a cell load needs row.has") {
    Hand h;
    BlockId b0 = h.block();
    Reg k = h.reg(Ty::Str), row = h.reg(Ty::Row);
    h.add(b0, Op::LoadChecked, Ty::Str, k, ir::kNoReg, ir::kNoReg, 3);
    h.add(b0, Op::TableFind, Ty::Row, row, k, ir::kNoReg, 0);
    h.add(b0, Op::CellLoad, Ty::Int, h.reg(Ty::Int), row, ir::kNoReg, 0);
    h.add(b0, Op::CellLoadChecked, Ty::Int, h.reg(Ty::Int), row, ir::kNoReg, 0);
    h.ret(b0, true);
    auto problems = h.problems();
    INFO(joined(problems));
    REQUIRE(problems.size() == 1);
    CHECK(mentions(problems, "`cell.load`: reads row %1 without a proven `row.has` test"));
  }
}

TEST_CASE("the verifier checks module tables and rule bodies", "[ir]") {
  Hand h;
  h.build_good();
  h.m.sets[0].members = {{*country_index("RU"), 0}, {*country_index("CN"), 0}};
  h.m.tables[0].columns[0].cells.clear();
  h.m.rules[0].bodies.push_back({0, 5, ir::kNoFunc});
  h.m.rules[0].effect = 9;
  auto problems = h.problems();
  INFO(joined(problems));
  CHECK(mentions(problems, "set `D5`: members not sorted and unique"));
  CHECK(mentions(problems, "column `tpp`: 0 cells for 1 rows"));
  CHECK(mentions(problems, "two bodies for one event kind"));
  CHECK(mentions(problems, "fires function #5 of 1"));
  CHECK(mentions(problems, "effect #9 of 4"));
}

// ---- from source -----------------------------------------------------------------

const char* kEvents = R"(
event rental {
  time: time, chip: string, chip_count: int, hours: number, customer_hq: country,
  purpose: string, license: string?, note: string?
}
event provision { time: time, chip: string, chip_count: int, datacenter: country, gbps: number }
)";

struct Lowered {
  SourceManager sources;
  DiagnosticSink sink;
  ast::Program program;
  check::CheckedProgram checked;
  ir::Module module;
  std::string diagnostics;

  const ir::Function& fires(std::string_view rule, std::string_view kind = "rental") const {
    for (const ir::Function& f : module.functions)
      if (f.kind == ir::FunctionKind::Fires && module.rules[f.rule].name == rule &&
          module.events[f.event].name == kind)
        return f;
    FAIL("no fires function " << rule << "/" << kind);
    return module.functions.front();
  }
  std::string text(std::string_view rule, std::string_view kind = "rental") const {
    ir::PrintOptions o;
    o.spans = false;
    return ir::print_function(module, fires(rule, kind), o);
  }
};

parse::FileReader memory_reader(std::map<std::string, std::string> files) {
  return [files](const std::string& path, std::string* error) -> std::optional<std::string> {
    for (const auto& [name, text] : files)
      if (path.size() >= name.size() && path.compare(path.size() - name.size(), name.size(), name) == 0)
        return text;
    if (error) *error = "no such file";
    return std::nullopt;
  };
}

// Parses, checks and lowers `main` (with kEvents as `events.edict`),
// requiring a clean front end and a verified module.
std::unique_ptr<Lowered> lower_source(const std::string& main, const ir::LowerOptions& options = {},
                                      bool expect_clean = true) {
  auto r = std::make_unique<Lowered>();
  std::map<std::string, std::string> files = {{"events.edict", kEvents},
                                              {"main.edict", "import \"events.edict\"\n" + main}};
  r->program = parse::load_program({"/virtual/main.edict"}, r->sources, r->sink, {}, memory_reader(files));
  check::CheckOptions co;
  co.warn_unused = false;
  r->checked = check::check(r->program, r->sources, r->sink, co);
  for (const Diagnostic& d : r->sink.sorted())
    if (d.severity == Severity::Error) r->diagnostics += render_human(r->sources, d) + "\n";
  INFO(r->diagnostics);
  REQUIRE(r->diagnostics.empty());
  r->module = ir::lower(r->checked, r->sink, options);
  if (expect_clean) {
    INFO(joined(r->module.errors));
    REQUIRE(r->module.ok());
    REQUIRE(ir::verify(r->module).empty());
  }
  return r;
}

size_t count(const std::string& text, std::string_view needle) {
  size_t n = 0;
  for (size_t pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + 1)) ++n;
  return n;
}

// Evaluation-free structure: one entry (no edges into bb0), every block
// reachable from it, every block reaching a `ret` or `fault`, no cycle.
void check_structure(const ir::Function& f) {
  INFO(f.name);
  REQUIRE(!f.blocks.empty());
  auto preds = ir::predecessors(f);
  CHECK(preds[0].empty());
  auto order = ir::reverse_postorder(f);
  CHECK(order.size() == f.blocks.size());
  std::vector<bool> exits(f.blocks.size(), false);
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    const ir::Block& b = f.blocks[*it];
    Op t = b.terminator().op;
    bool reaches = t == Op::Ret || t == Op::Fault;
    for (BlockId s : ir::successors(b)) reaches = reaches || exits[s];
    exits[*it] = reaches;
  }
  CHECK(std::all_of(exits.begin(), exits.end(), [](bool x) { return x; }));
}

TEST_CASE("a small rule prints as golden IR", "[ir]") {
  auto r = lower_source(R"(
set S: string = { "b", "a" }
rule r on rental
  effective 2024-01-01
  until 2024-06-01T12:00:00Z
  cite "X 1"
  deny "chip {event.chip} x{event.chip_count}"
  when event.chip in S and event.chip_count > 3
  unless event.license is present
)");
  std::string text = ir::print(r->module);
  INFO(text);
  CHECK(text.find("set @S: str = {\"a\", \"b\"}\n") != std::string::npos);
  CHECK(
      text.find("rule r on rental effective [2024-01-01, 2024-06-01T12:00:00Z) effect deny cite \"X 1\"\n") !=
      std::string::npos);
  // Spans point at the expression each instruction comes from (line 8 of
  // main.edict, after the import line the test adds).
  CHECK(text.find("    %0:str = load rental.chip                       ; /virtual/main.edict:9:8\n") !=
        std::string::npos);
  CHECK(r->text("r") ==
        "  fn r/rental: fires\n"
        "  bb0:\n"
        "    %0:str = load rental.chip\n"
        "    %1:bool = set.contains @S, %0\n"
        "    br %1, bb1, bb4\n"
        "  bb1:\n"
        "    %2:int = load rental.chip_count\n"
        "    %3:int = const 3\n"
        "    %4:bool = icmp.gt %2, %3\n"
        "    br %4, bb2, bb4\n"
        "  bb2:\n"
        "    %5:bool = has rental.license\n"
        "    br %5, bb4, bb3\n"
        "  bb3:\n"
        "    ret true\n"
        "  bb4:\n"
        "    ret false\n");
  ir::PrintOptions o;
  o.spans = false;
  const ir::RuleBody& body = r->module.rules[0].bodies[0];
  CHECK(ir::print_function(r->module, r->module.functions[body.message], o) ==
        "  fn r/rental/message: message\n"
        "  bb0:\n"
        "    emit.text \"chip \"\n"
        "    %0:str = load rental.chip\n"
        "    emit %0\n"
        "    emit.text \" x\"\n"
        "    %1:int = load rental.chip_count\n"
        "    emit %1\n"
        "    ret\n");
  // Deterministic: lowering again prints the same text.
  auto again = lower_source(R"(
set S: string = { "b", "a" }
rule r on rental
  effective 2024-01-01
  until 2024-06-01T12:00:00Z
  cite "X 1"
  deny "chip {event.chip} x{event.chip_count}"
  when event.chip in S and event.chip_count > 3
  unless event.license is present
)");
  CHECK(ir::print(again->module) == text);
}

TEST_CASE("or, not and if lower to jumping code", "[ir]") {
  auto r = lower_source(R"(
rule r on rental
  deny
  when (event.chip == "a" or not (event.chip_count > 2)) and (if event.purpose == "x" then event.hours > 1 else false)
)");
  CHECK(r->text("r") ==
        "  fn r/rental: fires\n"
        "  bb0:\n"
        "    %0:str = load rental.chip\n"
        "    %1:str = const \"a\"\n"
        "    %2:bool = scmp.eq %0, %1\n"
        "    br %2, bb2, bb1\n"
        "  bb1:\n"
        "    %3:int = load rental.chip_count\n"
        "    %4:int = const 2\n"
        "    %5:bool = icmp.gt %3, %4\n"
        "    br %5, bb5, bb2\n"
        "  bb2:\n"
        "    %6:str = load rental.purpose\n"
        "    %7:str = const \"x\"\n"
        "    %8:bool = scmp.eq %6, %7\n"
        "    br %8, bb3, bb5\n"
        "  bb3:\n"
        "    %9:num = load rental.hours\n"
        "    %10:num = const 1.0\n"
        "    %11:bool = fcmp.gt %9, %10\n"
        "    br %11, bb4, bb5\n"
        "  bb4:\n"
        "    ret true\n"
        "  bb5:\n"
        "    ret false\n");
}

TEST_CASE("otherwise reads an optional field after its test, with a merge register", "[ir]") {
  auto r = lower_source(R"(
rule r on rental
  deny
  when (event.license otherwise "none") != "none"
)");
  CHECK(r->text("r") ==
        "  fn r/rental: fires\n"
        "  bb0:\n"
        "    %0:bool = has rental.license\n"
        "    br %0, bb1, bb2\n"
        "  bb1:\n"
        "    %1:str = load rental.license\n"
        "    %2:str = copy %1\n"
        "    jmp bb3\n"
        "  bb2:\n"
        "    %3:str = const \"none\"\n"
        "    %2:str = copy %3\n"
        "    jmp bb3\n"
        "  bb3:\n"
        "    %4:str = const \"none\"\n"
        "    %5:bool = scmp.ne %2, %4\n"
        "    br %5, bb4, bb5\n"
        "  bb4:\n"
        "    ret true\n"
        "  bb5:\n"
        "    ret false\n");
}

TEST_CASE("a guarded optional read becomes an unchecked load after its test", "[ir]") {
  auto r = lower_source(R"(
rule r on rental
  deny "licence {event.license}"
  when event.license is present and starts_with(event.license, "D")
)");
  std::string t = r->text("r");
  CHECK(count(t, "has rental.license") == 1);
  CHECK(count(t, "load.checked") == 0);
  CHECK(count(t, "call starts_with(") == 1);
  // The message cannot see the `when` guard structurally: a checked load,
  // which never faults because the rule fired.
  ir::PrintOptions o;
  o.spans = false;
  const ir::RuleBody& body = r->module.rules[0].bodies[0];
  CHECK(ir::print_function(r->module, r->module.functions[body.message], o)
            .find("load.checked rental.license") != std::string::npos);
}

const char* const kAdvancedChips = R"(
table chips: string -> { tpp: int, die_area: number } = {
  "H100": { tpp: 15_832, die_area: 814 },
  "L4": { tpp: 1_940, die_area: 294 },
}
def advanced(chip: string): bool =
  chip in chips
    and (chips[chip].tpp >= 4_800
         or (chips[chip].tpp >= 1_600 and chips[chip].tpp / chips[chip].die_area >= 5.92))
rule r on rental
  deny
  when advanced(event.chip)
)";

TEST_CASE("a def is inlined and its table lookups are shared", "[ir]") {
  ir::LowerOptions options;
  options.collapse_string_regions = false;  // keep the lookups to look at them
  auto r = lower_source(kAdvancedChips, options);
  std::string t = r->text("r");
  INFO(t);
  CHECK(count(t, "table.find @chips") == 1);
  CHECK(count(t, "row.has") == 1);
  CHECK(count(t, "cell.load @chips.tpp") == 1);
  CHECK(count(t, "cell.load @chips.die_area") == 1);
  CHECK(count(t, "cell.load.checked") == 0);
  CHECK(count(t, "fdiv") == 1);
  CHECK(count(t, "itof") == 1);  // tpp widened for the division
  CHECK(count(t, "const 4800\n") == 1);
  std::string whole = ir::print(r->module);
  CHECK(whole.find("table @chips: str -> {tpp: int, die_area: num}  ; 2 rows\n"
                   "  \"H100\" -> {15832, 814.0}\n"
                   "  \"L4\" -> {1940, 294.0}\n") != std::string::npos);
  check_structure(r->fires("r"));
}

TEST_CASE("a condition on one string collapses into a test of a synthetic set", "[ir]") {
  auto r = lower_source(R"(
table chips: string -> { tpp: int, die_area: number } = {
  "H100": { tpp: 15_832, die_area: 814 },
  "T4": { tpp: 1_040, die_area: 545 },
  "L4": { tpp: 1_940, die_area: 294 },
  "H20": { tpp: 2_368, die_area: 814 },
}
def advanced(chip: string): bool =
  chip in chips
    and (chips[chip].tpp >= 4_800
         or (chips[chip].tpp >= 1_600 and chips[chip].tpp / chips[chip].die_area >= 5.92))
rule r on rental
  deny
  when advanced(event.chip) and event.chip_count > 8
rule unknown on rental
  review
  when event.chip not in chips
)");
  std::string t = r->text("r");
  INFO(t);
  CHECK(count(t, "table.find") == 0);
  CHECK(count(t, "cell.load") == 0);
  CHECK(count(t, "fdiv") == 0);
  CHECK(count(t, "set.contains @$") == 1);
  CHECK(count(t, "load rental.chip_count") == 1);  // the rest of the rule stays
  std::string u = r->text("unknown");
  INFO(u);
  CHECK(count(u, "table.find") == 0);
  CHECK(count(u, "set.contains @$") == 1);
  std::string whole = ir::print(r->module);
  INFO(whole);
  // Members in byte order; H20 and T4 are not advanced.
  CHECK(whole.find("set @$0: str = {\"H100\", \"L4\"}\n") != std::string::npos);
  CHECK(whole.find("set @$1: str = {\"H100\", \"H20\", \"L4\", \"T4\"}\n") != std::string::npos);
  check_structure(r->fires("r"));

  // Tracing keeps every register of the def: no collapse, no synthetic set.
  ir::LowerOptions traced;
  traced.trace = true;
  auto tr = lower_source(R"(
table chips: string -> { tpp: int } = { "H100": { tpp: 15_832 } }
rule r on rental
  deny
  when event.chip in chips and chips[event.chip].tpp > 9000
)",
                         traced);
  CHECK(count(tr->text("r"), "table.find") >= 1);
  CHECK(count(tr->text("r"), "set.contains") == 0);
  CHECK(tr->module.sets.empty());
}

TEST_CASE("a string condition that could fault or needs the string's bytes is not collapsed", "[ir]") {
  // "Z" divides by a zero die area: evaluating the region for it faults.
  auto r = lower_source(R"(
table chips: string -> { tpp: int, die_area: number } = {
  "H100": { tpp: 15_832, die_area: 814 },
  "Z": { tpp: 2_000, die_area: 0 },
}
rule r on rental
  deny
  when event.chip in chips and chips[event.chip].tpp / chips[event.chip].die_area >= 5.92
rule s on rental
  deny
  when starts_with(event.chip, "H") and event.chip != "H20"
)");
  std::string t = r->text("r");
  INFO(t);
  CHECK(count(t, "table.find") == 1);
  CHECK(count(t, "fdiv") == 1);
  std::string s = r->text("s");
  INFO(s);
  CHECK(count(s, "call starts_with(") == 1);
  CHECK(count(s, "scmp.ne") == 1);
  CHECK(count(s, "set.contains") == 0);
}

TEST_CASE("in and not in over sets, set expressions and tables", "[ir]") {
  auto r = lower_source(R"(
set A: country = { "CN", "RU" }
set B: country = A + { "MO" } - { "RU" }
table t: country -> { x: int } = { "CN": { x: 1 } }
rule r on rental
  deny
  when event.customer_hq not in B and event.customer_hq in t and event.customer_hq not in { "US", "GB" }
)");
  std::string t = r->text("r");
  INFO(t);
  std::string whole = ir::print(r->module);
  INFO(whole);
  CHECK(whole.find("set @B: country = {CN, MO}\n") != std::string::npos);
  CHECK(count(t, "set.contains @B, %0") == 1);
  CHECK(count(t, "table.find @t, %0") == 1);
  CHECK(count(t, "load rental.customer_hq") == 1);  // shared by the three tests
}

TEST_CASE("a multi-kind rule gets one specialised body per kind", "[ir]") {
  auto r = lower_source(R"(
rule r on any
  deny "{event.chip}"
  when event.chip_count > 8
  unless event.license is present
)");
  const ir::Rule& rule = r->module.rules[0];
  REQUIRE(rule.bodies.size() == 2);
  CHECK(r->module.events[rule.bodies[0].event].name == "rental");
  CHECK(r->module.events[rule.bodies[1].event].name == "provision");
  CHECK(count(r->text("r", "rental"), "has rental.license") == 1);
  // Provision has no licence field: its presence test folds to false.
  std::string p = r->text("r", "provision");
  CHECK(p.find("has") == std::string::npos);
  CHECK(count(p, "ret true") == 1);
  CHECK(rule.bodies[1].message != ir::kNoFunc);
  CHECK(ir::print(r->module).find("rule r on rental, provision effective (-inf, +inf) effect deny\n") !=
        std::string::npos);
}

TEST_CASE("arithmetic is checked and faults carry their site", "[ir]") {
  auto r = lower_source(R"(
rule r on rental
  deny
  when event.chip_count * 2 - 1 > 10 and event.hours / event.chip_count > 0.5 and -event.chip_count < 0
)");
  std::string t = r->text("r");
  INFO(t);
  CHECK(count(t, "imul") == 1);
  CHECK(count(t, "isub") == 1);
  CHECK(count(t, "fdiv") == 1);
  CHECK(count(t, "ineg") == 1);
  const ir::Function& f = r->fires("r");
  size_t checked = 0;
  for (const ir::Block& b : f.blocks)
    for (const Inst& in : b.insts)
      if (ir::op_info(in.op).checked) {
        ++checked;
        REQUIRE(in.site < r->module.fault_sites.size());
        CHECK(r->module.fault_sites[in.site].span.begin == in.span.begin);
        CHECK(&r->module.functions[r->module.fault_sites[in.site].function] == &f);
      }
  CHECK(checked == 4);
}

TEST_CASE("constants the checker folded are inlined", "[ir]") {
  auto r = lower_source(R"(
const LIMIT = 4 * 1_000
const WHEN = 2024-01-01
rule r on rental
  deny
  when event.chip_count >= LIMIT and event.time >= WHEN and event.hours >= 100
)");
  std::string t = r->text("r");
  INFO(t);
  CHECK(count(t, "const 4000\n") == 1);
  CHECK(count(t, "const 2024-01-01T00:00:00Z\n") == 1);
  CHECK(count(t, "const 100.0\n") == 1);  // an int literal compared with a number
  CHECK(count(t, "itof") == 0);
}

TEST_CASE("the reference policy lowers, verifies and has well-formed functions", "[ir]") {
  SourceManager sources;
  DiagnosticSink sink;
  ast::Program program =
      parse::load_program({std::string(EDICT_SOURCE_DIR) + "/policies/reference.edict"}, sources, sink);
  check::CheckedProgram checked = check::check(program, sources, sink);
  std::string rendered = render_human(sources, sink.sorted());
  INFO(rendered);
  REQUIRE(!sink.has_errors());
  ir::Module m = ir::lower(checked, sink);
  INFO(joined(m.errors));
  REQUIRE(m.ok());
  REQUIRE(ir::verify(m).empty());
  REQUIRE(m.rules.size() == 9);
  std::map<std::string, size_t> bodies;
  for (const ir::Rule& rule : m.rules) bodies[rule.name] = rule.bodies.size();
  CHECK(bodies["hq_d5"] == 1);
  CHECK(bodies["dc_d5"] == 2);
  CHECK(bodies["unknown_chip"] == 2);
  for (const ir::Function& f : m.functions) check_structure(f);
  // Every instruction has a span in a loaded file.
  for (const ir::Function& f : m.functions)
    for (const ir::Block& b : f.blocks)
      for (const Inst& in : b.insts) CHECK((in.span.valid() && in.span.file < sources.size()));
  std::string text = ir::print(m);
  CHECK(text.find(
            "rule hq_d5 on rental effective [2023-11-17, +inf) effect deny cite \"15 CFR 744.23(a)(3)\"") !=
        std::string::npos);
  CHECK(text.find("rule diffusion_tier3 on rental effective [2025-01-13, 2025-05-13) effect review") !=
        std::string::npos);
  CHECK(ir::print(ir::lower(checked, sink)) == text);
}

TEST_CASE("a rule that inlining would blow up is a clean diagnostic", "[ir]") {
  std::string src;
  src += "def d0(x: int): int = x + 1\n";
  for (int i = 1; i <= 20; ++i)
    src += "def d" + std::to_string(i) + "(x: int): int = d" + std::to_string(i - 1) + "(x) + d" +
           std::to_string(i - 1) + "(x)\n";
  src += "rule r on rental\n  deny\n  when d20(event.chip_count) > 0\n";
  auto r = lower_source(src, {}, false);
  bool found = false;
  for (const Diagnostic& d : r->sink.all()) found = found || d.code == "E0601";
  CHECK(found);
  CHECK(r->module.errors.empty());  // a user diagnostic, not an internal error
  CHECK(ir::verify(r->module).empty());
  // The overload without a sink reports it among the module's errors.
  ir::Module plain = ir::lower(r->checked);
  CHECK(!plain.ok());
  CHECK(plain.errors[0].rfind("E0601: rule `r` is too large", 0) == 0);
}

TEST_CASE("defs nested deeper than the inline limit are a clean diagnostic", "[ir]") {
  std::string src = "def d0(x: int): int = x + 1\n";
  for (int i = 1; i <= 40; ++i)
    src += "def d" + std::to_string(i) + "(x: int): int = d" + std::to_string(i - 1) + "(x)\n";
  src += "rule r on rental\n  deny\n  when d40(event.chip_count) > 0\n";
  auto r = lower_source(src, {}, false);
  bool found = false;
  for (const Diagnostic& d : r->sink.all()) found = found || d.code == "E0602";
  CHECK(found);
  CHECK(ir::verify(r->module).empty());
}

}  // namespace

namespace {

TEST_CASE("every construct lowers to verified IR", "[ir]") {
  auto r = lower_source(R"(
table chips: string -> { tpp: int, note: string? } = {
  "H100": { tpp: 15_832, note: "x" },
  "T4": { tpp: 1_040 },
}
set NAMES: string = { "a", "b" }
def ratio(a: number, b: int): number = a / b
def flag(b: bool): bool = b and true
rule r on rental
  review "{event.chip}: {chips[event.chip].tpp otherwise -1} {lower(event.chip)} {event.time + 1d}"
  when (if event.purpose == "x" then 1 else 2.5) < event.hours
    and (chips[event.chip].tpp otherwise 0) >= 4_800
    and (chips[event.chip].note otherwise "none") != "y"
    and (event.chip in chips and chips[event.chip].note is present)
    and len(upper(event.chip)) > 2 and ends_with(event.chip, "0") and contains(event.chip, "1")
    and event.time + 30d > 2024-01-01 and event.time - 2024-01-01T00:00:00Z >= event.chip_count * 1d
    and ratio(event.chip_count, 2) > 0.5
    and flag(event.chip == "H100" or event.purpose in NAMES)
    and (event.chip_count > 1) == (event.chip not in NAMES)
)",
                        {}, true);
  const ir::Function& f = r->fires("r");
  check_structure(f);
  std::string t = r->text("r");
  INFO(t);
  CHECK(count(t, "table.find @chips") == 1);     // shared by every lookup of the same key
  CHECK(count(t, "cell.has @chips.note") >= 1);  // optional cell tested before it is read
  CHECK(count(t, "call upper(") == 1);
  CHECK(count(t, "call len(") == 1);
  CHECK(count(t, "call ends_with(") == 1);
  CHECK(count(t, "call contains(") == 1);
  CHECK(count(t, "iadd") == 1);  // time + 30d
  CHECK(count(t, "isub") == 1);  // time - time
  CHECK(count(t, ":dur = const 30d") == 1);
  CHECK(count(t, ":dur = imul") == 1);  // chip_count * 1d
  CHECK(count(t, "fdiv") == 1);
  CHECK(count(t, "copy") >= 4);  // merge registers of if, otherwise and bool values
  for (const ir::Function& g : r->module.functions) check_structure(g);
}

TEST_CASE("lowering is fail-closed where a kind lacks a field it reads", "[ir]") {
  // `event.note` exists only on rentals; on provisions the read is
  // statically absent and the guard folds, so no fault remains reachable.
  auto r = lower_source(R"(
rule r on any
  deny "{event.chip}"
  when event.note is present and event.note == "x"
)");
  std::string p = r->text("r", "provision");
  CHECK(p == "  fn r/provision: fires\n  bb0:\n    ret false\n");
  std::string t = r->text("r", "rental");
  CHECK(count(t, "has rental.note") == 1);
  CHECK(count(t, "load rental.note") == 1);
  CHECK(count(t, "load.checked") == 0);
}

}  // namespace

namespace {

TEST_CASE("the whole-policy instruction budget and the nesting limit are clean diagnostics", "[ir]") {
  const char* src = R"(
rule a on rental
  deny
  when event.chip_count > 1 and event.hours > 2 and event.chip == "x"
rule b on rental
  deny
  when event.chip_count > 1 and event.hours > 2 and event.chip == "x"
)";
  SECTION("total budget") {
    ir::LowerOptions o;
    o.max_instructions_total = 12;
    auto r = lower_source(src, o, false);
    size_t e0601 = 0;
    for (const Diagnostic& d : r->sink.all()) e0601 += d.code == "E0601";
    CHECK(e0601 == 1);
    CHECK(ir::verify(r->module).empty());
  }
  SECTION("expression depth") {
    ir::LowerOptions o;
    o.max_expression_depth = 3;
    auto r = lower_source(src, o, false);
    size_t e0602 = 0;
    for (const Diagnostic& d : r->sink.all()) e0602 += d.code == "E0602";
    CHECK(e0602 == 2);  // once per rule
    CHECK(ir::verify(r->module).empty());
  }
}

}  // namespace

namespace {

// Regression: an empty effective range is only a warning (W0101); the rule
// lowers and simply never applies.
TEST_CASE("a rule with an empty effective range lowers and never applies", "[ir]") {
  auto r = lower_source(R"(
rule big on rental
  effective 2025-05-13
  until 2025-01-13
  review
  when event.chip_count > 1000
)");
  const ir::Rule& rule = r->module.rules[0];
  CHECK(!ir::rule_in_effect(rule, *rule.effective_from));
  CHECK(!ir::rule_in_effect(rule, *rule.effective_until - 1));
  ir::Rule window;
  window.effective_from = 100;
  window.effective_until = 200;
  CHECK(!ir::rule_in_effect(window, 99));
  CHECK(ir::rule_in_effect(window, 100));  // inclusive lower bound
  CHECK(ir::rule_in_effect(window, 199));
  CHECK(!ir::rule_in_effect(window, 200));  // exclusive upper bound
  CHECK(ir::rule_in_effect(ir::Rule{}, INT64_MIN));
}

}  // namespace

// ---- the one type mapping (type_map.h) -------------------------------------------

TEST_CASE("the one type mapping maps and round-trips every checker type and IR type and column type",
          "[ir]") {
  // Every TypeKind maps; the checker's scalars come back unchanged except a
  // date, which the IR holds as a time.
  for (int k = 0; k <= static_cast<int>(TypeKind::Event); ++k) {
    const TypeKind kind = static_cast<TypeKind>(k);
    const Ty ty = ir::ty_of(kind);
    CAPTURE(type_kind_name(kind), ir::ty_name(ty));
    const bool has_register = kind != TypeKind::Error && kind != TypeKind::Set && kind != TypeKind::Table &&
                              kind != TypeKind::Event;
    CHECK((ty != Ty::Void) == has_register);
    if (has_register) CHECK(ir::type_kind_of(ty) == (kind == TypeKind::Date ? TypeKind::Time : kind));
  }

  // Every Ty round-trips through TypeKind, and every scalar through its column.
  for (int t = 0; t <= static_cast<int>(Ty::Row); ++t) {
    const Ty ty = static_cast<Ty>(t);
    CAPTURE(ir::ty_name(ty));
    CHECK(ir::ty_of(ir::type_kind_of(ty)) == ty);
    if (ir::is_scalar(ty)) CHECK(ir::ty_of(ir::column_type_of(ty)) == ty);
  }

  // Every column type is a scalar and round-trips; no two share a Ty.
  std::vector<Ty> seen;
  for (int c = 0; c <= static_cast<int>(abi::ColumnType::Duration); ++c) {
    const auto column = static_cast<abi::ColumnType>(c);
    const Ty ty = ir::ty_of(column);
    CAPTURE(abi::column_type_name(column));
    CHECK(ir::is_scalar(ty));
    CHECK(ir::column_type_of(ty) == column);
    CHECK(std::find(seen.begin(), seen.end(), ty) == seen.end());
    seen.push_back(ty);
  }

  // The names type annotations use are the checker's scalars, each mapped.
  for (const ScalarTypeName& s : scalar_type_names()) {
    CAPTURE(s.name);
    CHECK(scalar_type_named(s.name) == s.kind);
    CHECK(ir::is_scalar(ir::ty_of(s.kind)));
  }
  CHECK(scalar_type_named("float") == TypeKind::Error);
}
