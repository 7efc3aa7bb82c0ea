// Edict's backend-neutral IR: what lowering (lower.cpp) makes of a checked
// program, and the one input of every evaluation engine (the interpreter and
// the LLVM JIT). Both engines consume exactly this, so they can only disagree
// through a backend bug, never through lowering. Printer and verifier included.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "abi/data.h"
#include "compiler/check/arith.h"
#include "compiler/check/check.h"
#include "support/diagnostics.h"
#include "support/source.h"

// =============================================================================
// The IR in one page
// =============================================================================
//
// MODULE. One per compiled program: the policy metadata, the outcomes
// (weakest first; `error` is implicit and outranks them all), the event
// schemas, a string pool, the constant sets and tables, the rules, and the
// functions that evaluate them. Immutable once lowered; share it freely
// between threads. It refers to its SourceManager (for printing spans), which
// must outlive it; it never points into the AST.
//
// VALUES. Every value fits one 64-bit slot, so an interpreter's register file
// is an array of words and a JIT keeps registers in machine registers:
//   bool      0 or 1
//   int       int64 (overflow faults, see below)
//   num       IEEE double, never NaN or infinite (inputs reject them,
//             arithmetic faults on a non-finite result)
//   str       an interned string id. Ids 0..strings.size()-1 are the pool's
//             strings, in pool order: a backend's interner must be seeded with
//             the pool so that the pool's ids are its own. Strings met at run
//             time (event fields, helper results) get fresh ids. Equal ids
//             <=> equal strings, so `scmp.eq` is an integer compare.
//   country   uint16 dense ISO 3166-1 index 0..675 (support/countries.h)
//   time      int64 microseconds since 1970-01-01T00:00:00Z; date literals are
//             times (UTC midnight) here: the IR has no date type
//   dur       int64 microseconds
//   row       a table row index, or -1 for "no such row"
//
// EVENTS. Each event kind has a schema: fields with a scalar type and an
// optional flag; a field's index in its kind is its column number (one
// column per field per kind in a columnar batch; optional fields carry
// presence bits). `time_field` is the event's time.
//
// RULES AND FUNCTIONS. A rule applies to some event kinds. For each kind it
// applies to, lowering emits one *fires* function and, when the rule has a
// message, one *message* function, both specialised to that kind: field loads
// name concrete columns, and a field the kind lacks is statically absent (its
// presence test is folded to false). Functions are independent of each
// other: no calls between functions (defs are inlined), no loops, no state.
// `Rule::bodies` is sorted by event index.
//
// Kind match and effective dates are rule METADATA, not code: an engine runs
// a rule's fires function on an event only if the event's kind has a body in
// `Rule::bodies` and `rule_in_effect(rule, event time)` holds, i.e.
// effective_from <= time < effective_until (missing bounds are open). Engines
// test this before the function, so an out-of-window rule never faults. This
// keeps the window a plain compare of the time column that a batch engine can
// hoist, and keeps explain output able to say "not in effect" without code.
//
// A fires function returns `true` (the rule fires), `false`, or FAULTS. The
// `when` clause is evaluated first and `unless` only when `when` held (the
// checker's guards rely on this order). A message function runs only for a
// fired rule; it appends the message pieces in order (`emit.text`, `emit`).
//
// CONTROL FLOW. A function is a CFG of basic blocks over typed virtual
// registers; bb0 is the entry and has no predecessors. Every block ends in
// exactly one terminator (`jmp`, `br`, `ret`, `fault`) and contains no other.
// The CFG is acyclic, so every evaluation terminates. A register has one type
// and may be assigned in several blocks (the merge of an `if` or an
// `otherwise` is a register both arms assign with `copy`, like LLVM before
// mem2reg; a backend can alloca those and let mem2reg build phis, or keep a
// register file). Most registers are assigned exactly once.
// Conditions are lowered as jumping code: `a and b` is a branch on `a` to a
// block testing `b`; `if`/`otherwise` are diamonds whose arms assign one merge
// register; both shapes are what SimplifyCFG turns into selects when the arms
// are cheap and cannot fault.
//
// FAULTS (fail closed). A *checked* instruction (table in `op_info`, column
// `checked`) may fault at run time instead of producing a value; the `fault`
// terminator always does. A fault ends the function at once: the rule's
// result on that event is `error` with the FaultReason and the instruction's
// fault site (`Inst::site`, an index into Module::fault_sites giving the
// function and the source span), and the event's decision is `error`.
// A fault in a message function makes the rule's result `error` as well.
//   iadd isub imul ineg   int64 overflow                       -> int_overflow
//   fadd fsub fmul        non-finite result                     -> non_finite
//   fdiv                  divisor 0 -> division_by_zero; else a non-finite result -> non_finite
//   load.checked          the optional field is absent          -> absent
//   cell.load.checked     row is -1, or the optional cell is absent -> absent
//   fault R               always, with reason R
// No other instruction faults. A fault site is unique to its instruction.
//
// PRESENCE. An unchecked `load` of an optional field is only valid where a
// `has` test of that field was true on every path to it (the verifier proves
// this with a dataflow over branch edges); likewise an unchecked `cell.load`
// needs a true `row.has` of its row register (and a true `cell.has` when the
// column is optional). Lowering emits the checked forms where it cannot see a
// test, then turns them into unchecked ones where the dataflow proves one; the
// checker guarantees the checked forms never fault on well-typed programs,
// but an engine must still implement them: fail closed.
//
// OPCODES (`%d:T = op operands [immediates]`; see op_info for arity):
//   const T imm           a constant of type T (imm: int/bool/country/time/
//                         dur value, str pool id; fimm: num)
//   copy %a               %d = %a (same type); how arms assign merge registers
//   load K.f              event field f (imm = column) of the function's kind
//   load.checked K.f      same for an optional field; faults `absent` if absent
//   has K.f               bool: is the optional field present
//   set.contains @S, %a   bool: %a is a member of constant set S (imm = set id;
//                         %a has the set's element type). Backends choose the
//                         representation: a 676-bit set for countries, hash or
//                         interned-id ranges for strings, sorted arrays else.
//   table.find @T, %a     row of constant table T whose key equals %a, or -1
//                         (a data table: `table.find @T, %a, %t`, the row in
//                         force at time %t; see REFERENCE DATA)
//   row.has %r            bool: %r != -1
//   cell.has @T.c, %r     bool: %r != -1 and the (optional) cell c is present
//   cell.load @T.c, %r    cell value (imm = table, aux = column); requires a
//                         proven row.has (and cell.has for optional columns)
//   cell.load.checked     same, faulting `absent` instead
//   iadd isub imul        checked int64 arithmetic. Signatures: int,int->int;
//                         time,dur->time; dur,time->time (iadd);
//                         time,dur->time (isub); time,time->dur (isub);
//                         dur,dur->dur (iadd, isub); dur,int->dur and
//                         int,dur->dur (imul)
//   ineg                  checked negation: int->int, dur->dur
//   fadd fsub fmul fdiv   checked double arithmetic on num
//   fneg                  num->num (never faults)
//   itof                  int->num widening (exact up to 2^53, then rounded
//                         to nearest as C++ does)
//   icmp.P %a, %b         bool; P in eq ne lt le gt ge; operands one type of
//                         int time dur country (by dense index), or bool
//                         (eq/ne only)
//   fcmp.P                num comparison
//   scmp.P                str comparison: eq/ne compare ids; lt..ge compare
//                         the strings' bytes lexicographically (helper
//                         edict_str_compare)
//   not %a                bool negation
//   call NAME(%a[, %b])   a string helper shared by both engines (builtin
//                         table below); never faults
//   emit.text "..."       message functions: append a pool string (imm)
//   emit %a               message functions: append %a formatted by helper
//                         edict_msg_append (int decimal; num shortest round
//                         trip; bool true/false; str as is; country its code;
//                         time RFC 3339 `2024-03-01T00:00:00Z`; dur `1d12h`)
//   jmp bbT               terminator
//   br %c, bbT, bbF       terminator: %c is bool
//   ret true|false        terminator of fires functions (imm = 1/0)
//   ret                   terminator of message functions
//   fault R               terminator: fail closed with reason R (lowering
//                         uses it where a value is statically absent)
//
// SPANS. Every instruction, terminators included, carries the source span
// of the construct it came from; the printer shows it as file:line:col.
//
// SIMPLIFICATIONS lowering applies (identically for every backend): constants
// the checker folded become `const`; `if`/`and`/`or` with constant conditions
// drop the dead arm; unreachable blocks are removed, empty blocks threaded,
// straight-line blocks merged; identical pure instructions dominated by an
// earlier one are reused (so `advanced(chip)` looks its chip up once); checked
// loads are downgraded where presence is proven; unused results of
// instructions that cannot fault are removed. Instructions that may fault
// are never reordered, and removed only when an identical one that dominates
// them already ran: a def argument that faults faults even if unused (call by
// value, arguments left to right, before the body).
//
// WHY THIS SHAPE (design notes for the engines built on it):
// - One function per (rule, event kind) rather than per rule: a columnar
//   batch holds one kind's columns, so a kind's functions index its columns
//   directly, and `on any` rules need no run-time kind test or missing-column
//   case. The cost is a copy of the body per kind, which is small.
// - Merge registers instead of phi nodes: the interpreter needs no edge
//   copies and the LLVM backend gets phis from mem2reg; the verifier still
//   proves every use defined on every path.
// - Checked loads as instructions instead of "optional" types: no value type
//   carries absence, so every register is one machine word, and the
//   checker's guard analysis is not redone here (the presence dataflow only
//   upgrades what it can prove).
// - Jumping code for conditions: short-circuit order is explicit in the
//   CFG, so both engines evaluate exactly the same operands in the same order.
// - Sets and tables are module constants indexed like the checker's (a set
//   the checker built for a literal or a union is `$N`); strings are pooled
//   so set members and table keys are integer ids at run time.

namespace edict::ir {

// ---- types and ids -----------------------------------------------------------

enum class Ty : uint8_t { Void, Bool, Int, Number, Str, Country, Time, Duration, Row };
const char* ty_name(Ty t);  // "bool", "int", "num", "str", "country", "time", "dur", "row"
bool is_scalar(Ty t);       // a value type an event field, set element or cell may have

using Reg = uint32_t;
using BlockId = uint32_t;
using FuncId = int32_t;
using StrId = uint32_t;
inline constexpr Reg kNoReg = UINT32_MAX;
inline constexpr FuncId kNoFunc = -1;
inline constexpr uint32_t kNoSite = UINT32_MAX;

// clang-format off
enum class Op : uint8_t {
  Const, Copy,
  Load, LoadChecked, Has,
  SetContains, TableFind, RowHas, CellHas, CellLoad, CellLoadChecked,
  IAdd, ISub, IMul, INeg, FAdd, FSub, FMul, FDiv, FNeg, IToF,
  ICmp, FCmp, SCmp,
  Not,
  Call,
  EmitText, EmitValue,
  Jmp, Br, Ret, Fault,
};
// clang-format on
inline constexpr int kOpCount = static_cast<int>(Op::Fault) + 1;

struct OpInfo {
  const char* name;  // printer spelling ("table.find")
  uint8_t operands;  // register operands (a, b); Call: see builtin_info
  bool has_result;   // writes dst
  bool terminator;
  bool checked;  // may fault (has a fault site)
};
const OpInfo& op_info(Op op);

// Both enums are defined with the scalar evaluator (compiler/check/arith.h),
// which the checker's constant folding shares with the engines.
using Pred = edict::Pred;       // Eq, Ne, Lt, Le, Gt, Ge
const char* pred_name(Pred p);  // "eq", ...

using FaultReason = edict::FaultReason;  // None, IntOverflow, DivisionByZero, NonFinite, Absent
// Stable spelling for decision records and the printer: "int_overflow", ...
const char* fault_reason_name(FaultReason r);
// The reason a fault_reason_name spells; None for any other text.
FaultReason fault_reason_named(std::string_view name);
// For people: "integer overflow", "division by zero", "non-finite number",
// "absent value with no default".
const char* fault_reason_text(FaultReason r);

// The string helpers (the checker's builtins) as runtime calls: one C symbol
// per helper, implemented once and called by the interpreter and by JIT code.
// lower/upper map ASCII letters only (locale-free, deterministic); len counts
// Unicode code points; starts_with/ends_with/contains compare bytes.
using Builtin = check::Builtin;
struct BuiltinInfo {
  const char* name;    // "starts_with"
  const char* symbol;  // "edict_str_starts_with"
  uint8_t arity;
  Ty result;  // the arguments are all `str`
};
const BuiltinInfo& builtin_info(Builtin b);
inline constexpr int kBuiltinCount = static_cast<int>(Builtin::Len) + 1;

// ---- instructions ------------------------------------------------------------

// EmitValue of a `date`: the IR holds a date as the time of its UTC midnight,
// and a message shows it as the day (2024-10-21), as the policy wrote it.
inline constexpr uint32_t kEmitDate = 1;

struct Inst {
  Op op = Op::Const;
  Ty type = Ty::Void;                      // of dst; Void when the op has no result
  Pred pred = Pred::Eq;                    // ICmp, FCmp, SCmp
  Builtin builtin = Builtin::StartsWith;   // Call
  FaultReason reason = FaultReason::None;  // Fault
  Reg dst = kNoReg;
  Reg a = kNoReg, b = kNoReg;
  // Const: the value (bool 0/1, int, country index, time, dur, str pool id);
  // Load/LoadChecked/Has: column; SetContains: set; TableFind/Cell*: table;
  // EmitText: str pool id; Ret in fires functions: 1 fires, 0 does not.
  int64_t imm = 0;
  double fimm = 0;             // Const num
  uint32_t aux = 0;            // Cell*: column of the table; EmitValue: kEmitDate or 0
  BlockId target[2] = {0, 0};  // Jmp: [0]; Br: [0] if true, [1] if false
  uint32_t site = kNoSite;     // checked ops and Fault: Module::fault_sites index
  Span span;
};

struct Block {
  std::vector<Inst> insts;  // the last one, and only it, is a terminator
  const Inst& terminator() const { return insts.back(); }
};

// Value: one input of a windowed aggregate (its key or its operand) for an
// event, returned by `ret %a` (see WINDOWED AGGREGATES below). Rules never
// call them; the runtime's window stage runs them with the interpreter.
enum class FunctionKind : uint8_t { Fires, Message, Value };

// Trace points (only in modules lowered with LowerOptions::trace): register
// `reg` holds the value of the source expression with ast::NodeId `expr`
// whenever an evaluation assigned it (a register left unassigned means the
// expression was not evaluated, e.g. after a short circuit). `frame` tells
// which inlined `def` call the expression belongs to: Function::frames[0] is
// the rule itself, and frames[i] is the call expression `call` made from
// frame `parent`. Explanations and coverage read them; engines ignore them.
struct TracePoint {
  uint32_t expr = UINT32_MAX;
  Reg reg = kNoReg;
  uint32_t frame = 0;
};
struct InlineFrame {
  uint32_t call = UINT32_MAX;  // the def's Call expression (none for frame 0)
  uint32_t parent = 0;
};

struct Function {
  std::string name;  // "hq_d5/rental" (fires) or "hq_d5/rental/message"
  FunctionKind kind = FunctionKind::Fires;
  int rule = -1;   // Module::rules
  int event = -1;  // Module::events: the kind it is specialised to
  Span span;
  std::vector<Ty> regs;             // type of each register
  std::vector<Block> blocks;        // blocks[0] is the entry
  std::vector<TracePoint> trace;    // empty unless lowered with LowerOptions::trace
  std::vector<InlineFrame> frames;  // same
};

// ---- module ------------------------------------------------------------------

struct Field {
  std::string name;
  Ty type = Ty::Void;
  bool optional = false;
  // Not read from the input: the value of a windowed aggregate, written into
  // the batch by the runtime's window stage before the rules run. Named
  // `$aggN`, which no Edict field can be.
  int aggregate = -1;  // Module::aggregates index, or -1 for an input field
};

struct EventSchema {
  std::string name;           // `rental`
  std::vector<Field> fields;  // index = column
  int time_field = -1;
  Span span;
  int field_index(std::string_view name) const;
};

// A constant of a scalar type; which member holds it depends on the type
// (num: f; everything else: i, strings as pool ids).
struct Scalar {
  int64_t i = 0;
  double f = 0;
  bool operator==(const Scalar&) const = default;
};

struct Set {
  std::string name;  // the declared name, or `$N` for a literal or set expression
  Ty elem = Ty::Void;
  // Sorted ascending (num by value, str by the strings' bytes, others by i)
  // and without duplicates.
  std::vector<Scalar> members;
  Span span;
};

struct Column {
  std::string name;
  Ty type = Ty::Void;
  bool optional = false;
  std::vector<Scalar> cells;     // one per row
  std::vector<uint8_t> present;  // one per row; all 1 for required columns
};

// REFERENCE DATA. A table declared with `data` has no rows in the module:
// `data` is the handle of the rows a file gives at run time (abi/data.h),
// shared by every engine compiled from the module and replaceable while they
// run. Its columns have no cells. On such a table `table.find` takes the
// event's time as operand b (the row in force then) and both engines call
// edict_data_find; `cell.has`/`cell.load` call edict_data_cell_has and
// edict_data_cell, and a row register holds a row's address (or -1).
struct Table {
  std::string name;
  Ty key = Ty::Void;
  std::vector<Scalar> keys;  // row order = source order; unique
  std::vector<Column> columns;
  Span span;
  std::shared_ptr<abi::DataSlot> data;  // non-null: rows from a data file
  size_t rows() const { return keys.size(); }
  bool external() const { return data != nullptr; }
};

struct Policy {
  std::string title, version, source, status;
};

struct RuleBody {
  int event = -1;  // Module::events
  FuncId fires = kNoFunc;
  FuncId message = kNoFunc;  // kNoFunc when the rule has no message
};

struct Rule {
  std::string name;
  Span span;
  std::vector<RuleBody> bodies;            // one per event kind the rule applies to, by event index
  std::optional<int64_t> effective_from;   // inclusive, micros UTC
  std::optional<int64_t> effective_until;  // exclusive, micros UTC
  int effect = -1;                         // Module::outcomes
  std::string cite;
  int policy = -1;  // Module::policies, -1 when its file has no `policy`
  const RuleBody* body_for(int event) const;
};

struct FaultSite {
  FuncId function = kNoFunc;
  Span span;
};

// WINDOWED AGGREGATES. `sum(x) over 30d by k where p` in a rule is a
// synthetic event field (Field::aggregate) of every kind the rule applies
// to; the rule's functions read it with ordinary `load`/`has`, so both
// engines evaluate rules over aggregates exactly as over input fields. The
// runtime's window stage (engine/window) fills the field for each event in
// input order: it runs the kind's `filter` (a fires function: does the event
// enter the window), then `key` and `operand` (value functions, run only when
// the filter holds), updates the key's window and writes the aggregate over
// the window (t - window, t] of the event's time t. Identical aggregates over
// the same kinds share one field.
enum class AggFn : uint8_t { Sum, Count, CountDistinct, Min, Max, Avg };
const char* agg_fn_name(AggFn f);  // "sum", "count", "count distinct", ...

struct AggregateInput {
  int event = -1;            // Module::events
  int field = -1;            // the synthetic field of that kind holding the result
  FuncId filter = kNoFunc;   // fires function; kNoFunc: every event of the kind
  FuncId key = kNoFunc;      // value function; kNoFunc: one window for all events
  FuncId operand = kNoFunc;  // value function; kNoFunc for `count()`
};

struct Aggregate {
  std::string name;  // the field name, `$agg0`
  std::string text;  // the source text, for messages
  AggFn fn = AggFn::Count;
  Ty operand = Ty::Void;  // Void for `count()`
  Ty key = Ty::Void;      // Void without `by`
  Ty result = Ty::Int;
  bool optional = false;  // min/max/avg: absent over an empty window (the fields are always optional)
  int64_t window = 0;     // micros, > 0; for a calendar year 366 days, the longest it lasts
  // `over calendar year`: the window starts at the UTC new year of the
  // event's time, [new year, t], instead of (t - window, t].
  bool calendar_year = false;
  Span span;
  std::vector<AggregateInput> inputs;  // sorted by event
};

struct Module {
  const SourceManager* sources = nullptr;
  std::vector<Policy> policies;
  std::vector<std::string> outcomes;  // weakest first
  int default_outcome = 0;
  std::vector<EventSchema> events;
  std::vector<std::string> strings;  // the string pool (StrId = index)
  std::vector<Set> sets;
  std::vector<Table> tables;
  std::vector<Rule> rules;  // source order
  std::vector<Function> functions;
  std::vector<FaultSite> fault_sites;
  std::vector<Aggregate> aggregates;
  // Failures of lowering itself (broken invariants, verifier findings): an
  // internal error, not the user's. A module with errors must not be run.
  std::vector<std::string> errors;

  bool ok() const { return errors.empty(); }
  int event_index(std::string_view name) const;
  StrId intern(std::string_view s);  // adds to the pool when new
  std::optional<StrId> find_string(std::string_view s) const;

 private:
  std::unordered_map<std::string, StrId> string_ids_;
};

// The metadata half of "does this rule fire": see RULES AND FUNCTIONS above.
bool rule_in_effect(const Rule& rule, int64_t event_time);

// ---- lowering, printing, verifying --------------------------------------------

struct LowerOptions {
  // Run the verifier on every function (always on in tests; cheap).
  bool verify = true;
  // Hostile-input limits: def inlining can grow a rule exponentially, and
  // nested calls of nested expressions deepen lowering's recursion.
  size_t max_instructions_per_function = 100'000;
  size_t max_instructions_total = 1'000'000;
  unsigned max_inline_depth = 32;         // defs (and consts) inlined into each other
  unsigned max_expression_depth = 2'000;  // expression nesting after inlining
  // Lower for tracing (explanations, coverage), never for speed: every
  // boolean condition gets a register of its own, every source expression's
  // register is recorded (Function::trace), and the passes that merge or drop
  // registers (common subexpressions, dead code, compaction) are skipped.
  // Decisions, faults and evaluation order are the same as without it.
  bool trace = false;
  // Replace string-only branch regions (`advanced(event.chip)`) by tests of
  // synthetic string sets computed at compile time (compiler/ir/passes.h).
  // Never done when tracing.
  bool collapse_string_regions = true;
};

// CheckedProgram -> Module. `program` must have passed the checker without
// errors. A rule that outgrows the limits is a user diagnostic in `sink`
// (E0601 too many instructions, E0602 nested too deeply) and its functions
// are replaced by a lone `fault absent`; check the sink before running.
// Anything else that goes wrong (a broken invariant, a verifier finding) is
// an internal error in Module::errors. Never throws.
Module lower(const check::CheckedProgram& program, DiagnosticSink& sink, const LowerOptions& options = {});
// Same with default options; limit diagnostics also land in Module::errors.
Module lower(const check::CheckedProgram& program);

struct PrintOptions {
  bool spans = true;   // `; file:line:col` after each instruction
  bool tables = true;  // table rows and set members (off: just their sizes)
};
// Stable, deterministic text (`edict check --emit=ir`, golden tests).
std::string print(const Module& m, const PrintOptions& options = {});
std::string print_function(const Module& m, const Function& f, const PrintOptions& options = {});
std::string print_inst(const Module& m, const Function& f, const Inst& inst);

// Structural checks (see the verifier's banner). Returns one line per
// problem, empty when the IR is well formed. These are internal errors.
std::vector<std::string> verify(const Module& m);
std::vector<std::string> verify_function(const Module& m, const Function& f);

// A lowered module as bytes (the front-end cache, engine/front_end_cache.h)
// and back. `deserialize` refuses (nullopt, *why) anything it did not write
// or that does not fit `sources` (spans into files it lacks): counts past the
// end, enums or indices out of range, a module the verifier rejects. Data
// tables come back with fresh, empty slots.
std::string serialize(const Module& m);
std::optional<Module> deserialize(std::string_view bytes, const SourceManager& sources, std::string* why);

// ---- analyses shared by lowering, the verifier and the backends --------------

// Successor blocks of a block (0, 1 or 2).
std::vector<BlockId> successors(const Block& b);
// Predecessor lists of every block.
std::vector<std::vector<BlockId>> predecessors(const Function& f);
// Blocks reachable from the entry in reverse postorder (a topological order,
// since the CFG is acyclic); empty if a cycle is reachable.
std::vector<BlockId> reverse_postorder(const Function& f);

// The dominator tree: block `a` dominates `b` when every path from the
// entry to `b` passes through `a`. Built in O(n log n) (binary lifting for
// the common-ancestor queries), queried in O(1), so large inlined rules stay
// cheap. Unreachable blocks have no dominator and dominate nothing.
struct Dominators {
  std::vector<BlockId> idom;        // immediate dominator; the entry's is itself; UINT32_MAX: unreachable
  std::vector<uint32_t> pre, post;  // preorder interval of each block in the tree
  bool dominates(BlockId a, BlockId b) const;
};
// Empty `idom` if the CFG has a reachable cycle.
Dominators dominators(const Function& f);

// What holds about optional values on entry to a block, as proven by the
// branches on `has`, `row.has` and `cell.has` tests on every path to it.
// Sorted, duplicate-free vectors.
struct PresenceFacts {
  std::vector<uint32_t> fields;                 // columns known present
  std::vector<Reg> rows;                        // row registers known != -1
  std::vector<std::pair<Reg, uint32_t>> cells;  // (row register, column) known present
  bool operator==(const PresenceFacts&) const = default;
  bool has_field(uint32_t column) const;
  bool has_row(Reg r) const;
  bool has_cell(Reg r, uint32_t column) const;
  // A redefinition of row register `r` voids what was known about it.
  void forget_row(Reg r);
};
// Facts on entry to every block, indexed by block id (unreachable blocks and
// blocks of a cyclic CFG get none). Inside a block, apply forget_row at each
// instruction that writes a row register.
std::vector<PresenceFacts> presence_facts(const Function& f);

}  // namespace edict::ir
