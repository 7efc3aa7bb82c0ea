// ir::Module -> llvm::Module: one batch function whose row loop runs every
// applicable rule's fires function inline. Small functions are if-converted
// (every block evaluated under a path predicate, branches become selects) so
// that the row loop is branch-free and can vectorise; large ones keep their
// branches. Merge registers become allocas for mem2reg; sets and tables
// become constant globals.
#include "compiler/codegen/codegen.h"

#include <llvm/ADT/SmallVector.h>
#include <llvm/IR/BasicBlock.h>
#include <llvm/IR/Constants.h>
#include <llvm/IR/DerivedTypes.h>
#include <llvm/IR/Function.h>
#include <llvm/IR/GlobalVariable.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Intrinsics.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/MDBuilder.h>
#include <llvm/IR/Module.h>
#include <llvm/IR/Verifier.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetMachine.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <optional>

#include "abi/abi.h"
#include "support/countries.h"

namespace edict::codegen {
namespace {

using llvm::BasicBlock;
using llvm::Constant;
using llvm::Value;

// Integer sets and dense lookup tables at most this many slots wide are
// stored as bitsets / arrays indexed by (value - min); wider ones are
// searched (an unrolled, branch-free binary search over a sorted array).
constexpr uint64_t kMaxDenseSpan = uint64_t{1} << 16;
constexpr size_t kMaxCompareChain = 4;
// Fires functions up to this many instructions are if-converted: evaluating
// both arms of a few branches costs less than one mispredicted branch.
constexpr size_t kMaxPredicatedFunction = 256;
// When every fires function is if-converted and together they stay under
// this size, rows do not branch on their kind either: each kind's rules run
// under a `kind == k` predicate and the whole row loop is straight-line code.
constexpr size_t kMaxPredicatedKinds = 2048;
// Rules are compiled in groups of about this many IR instructions, each
// group its own row loop in its own LLVM function: optimisation time grows
// faster than linearly with function size, and a policy of thousands of rules
// must still compile in seconds. A policy within one group (the common case)
// is a single loop with the row state in registers.
constexpr size_t kMaxGroupInstructions = 1024;
// Rows per vector iteration of a straight-line batch loop (emit_row_loop).
constexpr unsigned kRowsPerVector = 8;
// Decision byte of a row no rule has decided yet, between group passes.
constexpr uint8_t kUndecided = 0xFD;

size_t instruction_count(const ir::Function& f) {
  size_t n = 0;
  for (const ir::Block& b : f.blocks) n += b.insts.size();
  return n;
}

// The values a register can hold on any live path, when known at compile
// time: constants, table cells and arithmetic over them. An operation whose
// operands' ranges rule out its fault (a divisor that is never zero, a
// result that stays finite or within 64 bits) is emitted without the check,
// which would otherwise be evaluated on every row; `advanced(chip)`'s
// `tpp / die_area` over a table is the common case.
struct Range {
  double lo = 0, hi = 0;  // inclusive, finite; integer-valued for int registers
};

// Integers up to 2^53 are exact as doubles, so their ranges can be combined
// in double arithmetic and compared against 64-bit limits safely.
constexpr double kExactInt = 9007199254740992.0;

std::optional<Range> combine(ir::Op op, const Range& a, const Range& b) {
  double c[4];
  switch (op) {
    case ir::Op::FAdd:
    case ir::Op::IAdd: return Range{a.lo + b.lo, a.hi + b.hi};
    case ir::Op::FSub:
    case ir::Op::ISub: return Range{a.lo - b.hi, a.hi - b.lo};
    case ir::Op::FMul:
    case ir::Op::IMul: c[0] = a.lo * b.lo, c[1] = a.lo * b.hi, c[2] = a.hi * b.lo, c[3] = a.hi * b.hi; break;
    case ir::Op::FDiv:
      if (!(b.lo > 0 || b.hi < 0)) return std::nullopt;
      c[0] = a.lo / b.lo, c[1] = a.lo / b.hi, c[2] = a.hi / b.lo, c[3] = a.hi / b.hi;
      break;
    default: return std::nullopt;
  }
  return Range{*std::min_element(c, c + 4), *std::max_element(c, c + 4)};
}

// Country sets a compare chain or a range check decides cheaply keep those;
// the others are looked up in a table (or read from class bytes).
bool wants_table(const ir::Set& set) {
  if (set.elem != ir::Ty::Country || set.members.size() <= kMaxCompareChain) return false;
  int64_t lo = set.members.front().i, hi = lo;
  for (const ir::Scalar& s : set.members) lo = std::min(lo, s.i), hi = std::max(hi, s.i);
  return hi - lo + 1 != static_cast<int64_t>(set.members.size());
}

bool finite(const Range& r) {
  return std::isfinite(r.lo) && std::isfinite(r.hi);
}
bool exact_int(const Range& r) {
  return r.lo >= -kExactInt && r.hi <= kExactInt;
}

class Generator {
 public:
  Generator(const ir::Module& m, const ColumnMap& map, llvm::LLVMContext& ctx, const CodegenOptions& options)
      : m_(m), map_(map), ctx_(ctx), options_(options), b_(ctx) {}

  std::unique_ptr<llvm::Module> run(std::string* error);

  // Fires functions if-converted: none in single-event code.
  size_t predicated_limit() const { return options_.single_event ? 0 : kMaxPredicatedFunction; }

 private:
  // One fires function being inlined into the row loop.
  struct Body {
    const ir::Function* f = nullptr;
    int rule = -1;
    int event = -1;
    bool predicated = false;
    std::vector<Value*> ssa;                  // registers assigned once
    std::vector<llvm::AllocaInst*> slots;     // registers assigned more than once
    std::vector<std::optional<Range>> range;  // per register assigned once (see Range)
    // Branching form.
    std::vector<BasicBlock*> blocks;  // per IR block; null when unreachable
    BasicBlock* fired = nullptr;      // `ret true`
    BasicBlock* next = nullptr;       // after the rule (`ret false` and faults end here)
    BasicBlock* fault = nullptr;      // created on the first fault edge
    llvm::PHINode* fault_phi = nullptr;
    // If-converted form: the predicate of the instruction being emitted
    // (its block is executed and nothing before it in the block faulted),
    // the predicate of entering each block, and the function's outcome.
    Value* alive = nullptr;
    std::vector<Value*> reach;
    Value* fires = nullptr;    // i1
    Value* faulted = nullptr;  // i1
    Value* site = nullptr;     // i32; only meaningful when faulted
    // An aggregate input function (rule -1): its result's bits and fault
    // site (UINT32_MAX: none), stored where it returns or faults.
    llvm::AllocaInst* out_value = nullptr;  // i64
    llvm::AllocaInst* out_site = nullptr;   // i32
    const std::string& name(const ir::Module& m) const {
      return rule >= 0 ? m.rules[static_cast<size_t>(rule)].name : f->name;
    }
  };

  const ir::Module& m_;
  const ColumnMap& map_;
  llvm::LLVMContext& ctx_;
  const CodegenOptions& options_;
  llvm::IRBuilder<> b_;
  std::unique_ptr<llvm::Module> mod_;
  std::string error_;

  llvm::IntegerType *i1_ = nullptr, *i8_ = nullptr, *i16_ = nullptr, *i32_ = nullptr, *i64_ = nullptr;
  llvm::Type* f64_ = nullptr;
  llvm::PointerType* ptr_ = nullptr;

  // The LLVM function being emitted (the batch function or a group's).
  llvm::Function* fn_ = nullptr;
  BasicBlock* entry_ = nullptr;     // allocas only
  BasicBlock* prologue_ = nullptr;  // loop-invariant loads of column pointers
  Value *rows_ = nullptr, *kinds_ = nullptr, *data_array_ = nullptr, *present_array_ = nullptr,
        *strings_ = nullptr;
  Value *fired_ = nullptr, *fired_stride_ = nullptr, *decision_ = nullptr, *fault_rule_ = nullptr,
        *fault_site_ = nullptr;
  Value* row_ = nullptr;     // i64 row index
  Value* record_ = nullptr;  // a record function's event record (EdictEvalRecordFn); null in batch functions
  std::map<int, Value*> data_ptr_;                              // batch column -> element array
  std::map<int, Value*> present_ptr_;                           // batch column -> presence bytes
  std::map<Constant*, llvm::GlobalVariable*> constant_arrays_;  // by contents

  // Per-row state, promoted to registers by mem2reg.
  std::vector<llvm::AllocaInst*> fired_words_;
  llvm::AllocaInst *row_faulted_ = nullptr, *row_fault_rule_ = nullptr, *row_fault_site_ = nullptr,
                   *best_ = nullptr;
  // Fused loops derive the decision from the fired words once per row (a
  // few masks) instead of tracking the strongest effect rule by rule.
  bool effects_from_fired_ = false;
  llvm::IntegerType* fired_ty_ = nullptr;  // of the fired-word state
  // Whether any rule of the loop being emitted can fault: when none can,
  // rows keep their fault_rule/fault_site without a read-modify-write.
  bool loop_may_fault_ = false;

  // Alias scopes: inputs never overlap results, results never overlap each other.
  llvm::MDNode *scope_in_ = nullptr, *noalias_in_ = nullptr;
  enum Out { kOutDecision, kOutFaultRule, kOutFaultSite, kOutFired, kOutCount };
  llvm::MDNode* scope_out_[kOutCount] = {};
  llvm::MDNode* noalias_out_[kOutCount] = {};

  std::map<std::pair<uint32_t, uint32_t>, llvm::GlobalVariable*> cell_globals_, cell_present_globals_;

  // Country sets tested in fires functions share one table indexed by the
  // country: bit j of entry c says whether c is in the j-th such set. Rules
  // testing one field against several sets then load one entry per row,
  // which the optimiser reuses across rules.
  std::map<uint32_t, unsigned> country_class_bit_;  // set index -> bit
  llvm::GlobalVariable* country_classes_ = nullptr;
  llvm::IntegerType* country_class_type_ = nullptr;
  void plan_country_classes();
  // Batch code: the batch column each country value loaded for the current
  // row came from, so that a set test on it can read the column's class
  // byte (ColumnMap::classes) instead.
  std::map<Value*, int> loaded_from_;
  Value* class_bit(Value* v, uint32_t set);

  // ---- helpers -----------------------------------------------------------

  void fail(const std::string& what) {
    if (error_.empty()) error_ = what;
  }
  bool failed() const { return !error_.empty(); }

  llvm::Type* reg_type(ir::Ty t) const {
    switch (t) {
      case ir::Ty::Bool: return i1_;
      case ir::Ty::Number: return f64_;
      case ir::Ty::Str: return i32_;
      case ir::Ty::Country: return i16_;
      case ir::Ty::Int:
      case ir::Ty::Time:
      case ir::Ty::Duration:
      case ir::Ty::Row: return i64_;
      case ir::Ty::Void: break;
    }
    return i64_;
  }
  // How a value of type t is stored in a column or a constant array.
  llvm::Type* storage_type(ir::Ty t) const { return t == ir::Ty::Bool ? i8_ : reg_type(t); }

  Value* from_storage(ir::Ty t, Value* v) {
    return t == ir::Ty::Bool ? b_.CreateICmpNE(v, b_.getInt8(0)) : v;
  }

  Constant* scalar_constant(ir::Ty t, const ir::Scalar& s, bool storage) {
    switch (t) {
      case ir::Ty::Bool: return storage ? b_.getInt8(s.i != 0) : b_.getInt1(s.i != 0);
      case ir::Ty::Number: return llvm::ConstantFP::get(f64_, s.f);
      case ir::Ty::Str: return b_.getInt32(static_cast<uint32_t>(s.i));
      case ir::Ty::Country: return b_.getInt16(static_cast<uint16_t>(s.i));
      default: return b_.getInt64(static_cast<uint64_t>(s.i));
    }
  }

  llvm::GlobalVariable* constant_array(llvm::Type* elem, llvm::ArrayRef<Constant*> values,
                                       const std::string& name) {
    auto* type = llvm::ArrayType::get(elem, values.size());
    // LLVM uniques constants: one global per distinct contents, so that the
    // same lookup in several rules reads the same address and is computed
    // once per row (GVN does not merge loads from two equal globals).
    Constant* init = llvm::ConstantArray::get(type, values);
    llvm::GlobalVariable*& g = constant_arrays_[init];
    if (!g) {
      g = new llvm::GlobalVariable(*mod_, type, /*isConstant=*/true, llvm::GlobalValue::PrivateLinkage, init,
                                   name);
      g->setUnnamedAddr(llvm::GlobalValue::UnnamedAddr::Global);
    }
    return g;
  }

  Value* load_elem(llvm::Type* elem, Value* base, Value* index, bool input) {
    Value* addr = b_.CreateInBoundsGEP(elem, base, index);
    llvm::LoadInst* v = b_.CreateLoad(elem, addr);
    if (input) tag_input(v);
    return v;
  }
  void tag_input(llvm::Instruction* i) {
    i->setMetadata(llvm::LLVMContext::MD_alias_scope, scope_in_);
    i->setMetadata(llvm::LLVMContext::MD_noalias, noalias_in_);
  }
  void tag_output(llvm::Instruction* i, Out which) {
    i->setMetadata(llvm::LLVMContext::MD_alias_scope, scope_out_[which]);
    i->setMetadata(llvm::LLVMContext::MD_noalias, noalias_out_[which]);
  }

  llvm::AllocaInst* make_alloca(llvm::Type* t, const std::string& name) {
    llvm::IRBuilder<> ab(entry_->getTerminator());
    return ab.CreateAlloca(t, nullptr, name);
  }

  // Boolean connectives for predicates. Selects rather than and/or: a value
  // computed on a path not taken must never make a predicate poison.
  static bool is_true(Value* v) {
    return llvm::isa<llvm::ConstantInt>(v) && llvm::cast<llvm::ConstantInt>(v)->isOne();
  }
  static bool is_false(Value* v) {
    return llvm::isa<llvm::ConstantInt>(v) && llvm::cast<llvm::ConstantInt>(v)->isZero();
  }
  Value* both(Value* a, Value* b) {
    if (is_true(a)) return b;
    if (is_true(b)) return a;
    if (is_false(a) || is_false(b)) return b_.getFalse();
    return b_.CreateSelect(a, b, b_.getFalse());
  }
  Value* either(Value* a, Value* b) {
    if (is_false(a)) return b;
    if (is_false(b)) return a;
    if (is_true(a) || is_true(b)) return b_.getTrue();
    return b_.CreateSelect(a, b_.getTrue(), b);
  }
  Value* pick(Value* cond, Value* a, Value* b) {
    if (is_true(cond)) return a;
    if (is_false(cond)) return b;
    return b_.CreateSelect(cond, a, b);
  }

  void setup_alias_scopes();
  // The element array of a batch column (`array`: the batch's data or
  // presence pointers), loaded once per call, or at each use in single-event code.
  Value* column_pointer(Value* array, int column, const char* name, std::map<int, Value*>& cache);
  Value* column_data(int column);
  Value* column_present(int column);  // i1 for the current row
  int batch_column(int event, int64_t field);
  // Field `field` of `event` for the current row (or the record), in its
  // storage type, and whether it is present (i1).
  Value* field_value(int event, int64_t field, llvm::Type* storage);
  Value* field_present(int event, int64_t field);
  const ir::Field* field_of(int event, int64_t field) const;
  // Appends the batch columns of the optional fields `f` tests (Has,
  // LoadChecked) on `event`: those whose presence array it reads.
  void add_optional_columns(const ir::Function& f, int event, std::vector<int>& columns);

  // ---- the function ------------------------------------------------------
  // A group of consecutive rules [begin, end) compiled as one row loop.
  struct Group {
    size_t begin = 0, end = 0;
  };
  void emit_function();
  // Returns the block after the prologue; `rule_results`: the second
  // argument is an EdictResults.
  BasicBlock* begin_function(llvm::Function* fn, bool rule_results = true);
  void emit_inputs_function();
  void emit_input(ir::FuncId id, Value* active, Value* values, Value* sites);
  void finish_input(Body& body);
  Value* to_bits(Value* v);
  std::vector<Group> plan_groups() const;
  std::vector<int> presence_columns();
  // A loop over every row from the current block to `exit`; `body` emits
  // one row's work at row_.
  void simple_row_loop(BasicBlock* exit, const char* name, const std::function<void()>& body);
  void emit_fail_closed(BasicBlock* from, BasicBlock* exit);
  void emit_row_loop(BasicBlock* from, BasicBlock* exit, const Group& group, bool fused);
  llvm::Function* emit_group_function(const Group& group, size_t index);
  void emit_record_function(int event);
  // The per-row fault and effect state of a row loop or record function,
  // before any rule that could fault is emitted.
  void make_row_state();
  void emit_kind(int event, Value* kind_active, const Group& group);
  Value* window(const ir::Rule& rule, Value* time);
  void emit_rule(int rule_index, const ir::RuleBody& body, int event, Value* active);
  bool prepare_body(Body& body);
  void emit_branching(Body& body, Value* active);
  void emit_predicated(Body& body, Value* active);
  void record_outcome(int rule_index, Value* fired, Value* faulted, Value* site);
  void record_fault(int rule_index, Value* faulted, Value* site);
  // The decision byte of a row's fired rules (i8): the strongest effect
  // among them, from its fired words, or the default outcome.
  Value* strongest_effect(const Group& group);
  void emit_inst(Body& body, const ir::Inst& in);

  Value* get(Body& body, ir::Reg r);
  void set(Body& body, ir::Reg r, Value* v);
  // The rule's fault exit (branching form), recording `site` for an edge
  // from the current block.
  BasicBlock* fault_block(Body& body, uint32_t site);
  void fault_if(Body& body, Value* cond, uint32_t site);
  void reach(Body& body, ir::BlockId target, Value* pred);

  Value* set_contains(uint32_t set, Value* v);
  Value* int_membership(Value* key, std::vector<int64_t> members, const std::string& name);
  Value* table_find(uint32_t table, Value* key);
  // The range of a numeric table column's present cells.
  std::optional<Range> cell_range(uint32_t table, uint32_t column) const;
  Value* search_sorted(llvm::GlobalVariable* keys, llvm::Type* elem, size_t n, Value* key, bool is_float);
  Value* cell_valid(uint32_t table, uint32_t column, Value* row);
  Value* cell_value(uint32_t table, uint32_t column, Value* row);
  Value* widen_key(ir::Ty t, Value* v);
  llvm::FunctionCallee helper(const char* name, bool pure, llvm::Type* result, unsigned string_args);
  Value* call_helper(Body& body, llvm::FunctionCallee callee, llvm::ArrayRef<Value*> args);
  Value* poison(ir::Ty t) { return llvm::PoisonValue::get(reg_type(t)); }
};

std::unique_ptr<llvm::Module> Generator::run(std::string* error) {
  if (!m_.ok()) {
    *error = "the IR module has errors: " + m_.errors.front();
    return nullptr;
  }
  if (m_.events.size() >= EDICT_KIND_ERROR) {
    *error = "too many event kinds for a batch's kind byte";
    return nullptr;
  }
  if (map_.column.size() < m_.events.size()) {
    *error = "the column map does not cover every event kind";
    return nullptr;
  }
  if (m_.default_outcome < 0 || m_.default_outcome >= kUndecided) {
    *error = "the default outcome is out of range";
    return nullptr;
  }
  i1_ = b_.getInt1Ty();
  i8_ = b_.getInt8Ty();
  i16_ = b_.getInt16Ty();
  i32_ = b_.getInt32Ty();
  i64_ = b_.getInt64Ty();
  f64_ = b_.getDoubleTy();
  ptr_ = b_.getPtrTy();
  mod_ = std::make_unique<llvm::Module>("edict", ctx_);
  plan_country_classes();
  emit_function();
  // A policy split into groups keeps its rules' code apart for compile time:
  // no record functions, whose single body would undo the split.
  if (!options_.record_function_prefix.empty() && plan_groups().size() == 1)
    for (size_t e = 0; e < m_.events.size() && !failed(); ++e) emit_record_function(static_cast<int>(e));
  if (!failed() && !options_.inputs_function_name.empty()) emit_inputs_function();
  if (!failed()) {
    std::string findings;
    llvm::raw_string_ostream os(findings);
    if (llvm::verifyModule(*mod_, &os)) fail("llvm verifier: " + os.str());
  }
  if (failed()) {
    *error = error_;
    return nullptr;
  }
  return std::move(mod_);
}

void Generator::setup_alias_scopes() {
  llvm::MDBuilder md(ctx_);
  llvm::MDNode* domain = md.createAnonymousAliasScopeDomain("edict.batch");
  llvm::MDNode* in = md.createAnonymousAliasScope(domain, "columns");
  llvm::MDNode* out[kOutCount];
  const char* names[kOutCount] = {"decision", "fault_rule", "fault_site", "fired"};
  for (int i = 0; i < kOutCount; ++i) out[i] = md.createAnonymousAliasScope(domain, names[i]);
  scope_in_ = llvm::MDNode::get(ctx_, {in});
  noalias_in_ = llvm::MDNode::get(ctx_, {out[0], out[1], out[2], out[3]});
  for (int i = 0; i < kOutCount; ++i) {
    scope_out_[i] = llvm::MDNode::get(ctx_, {out[i]});
    llvm::SmallVector<llvm::Metadata*, 4> others{in};
    for (int j = 0; j < kOutCount; ++j)
      if (j != i) others.push_back(out[j]);
    noalias_out_[i] = llvm::MDNode::get(ctx_, others);
  }
}

const ir::Field* Generator::field_of(int event, int64_t field) const {
  const auto& fields = m_.events[static_cast<size_t>(event)].fields;
  if (field < 0 || static_cast<size_t>(field) >= fields.size()) return nullptr;
  return &fields[static_cast<size_t>(field)];
}

void Generator::add_optional_columns(const ir::Function& f, int event, std::vector<int>& columns) {
  for (const ir::Block& block : f.blocks)
    for (const ir::Inst& in : block.insts) {
      if (in.op != ir::Op::Has && in.op != ir::Op::LoadChecked) continue;
      const ir::Field* field = field_of(event, in.imm);
      if (!field || !field->optional) continue;
      int column = batch_column(event, in.imm);
      if (column >= 0) columns.push_back(column);
    }
}

int Generator::batch_column(int event, int64_t field) {
  const auto& columns = map_.column[static_cast<size_t>(event)];
  if (!field_of(event, field) || static_cast<size_t>(field) >= columns.size() ||
      columns[static_cast<size_t>(field)] < 0) {
    fail("field #" + std::to_string(field) + " of event `" + m_.events[static_cast<size_t>(event)].name +
         "` has no batch column");
    return -1;
  }
  return columns[static_cast<size_t>(field)];
}

Value* Generator::column_pointer(Value* array, int column, const char* name, std::map<int, Value*>& cache) {
  auto* index = b_.getInt64(static_cast<uint64_t>(column));
  if (options_.single_event) {
    // One row per call: loaded where used, so that the columns of rules a
    // row never reaches cost nothing (hoisted, they are spilled and reloaded).
    auto* p = b_.CreateLoad(ptr_, b_.CreateInBoundsGEP(ptr_, array, index), name + std::to_string(column));
    tag_input(p);
    return p;
  }
  auto it = cache.find(column);
  if (it != cache.end()) return it->second;
  llvm::IRBuilder<> pb(prologue_->getTerminator());
  Value* p = pb.CreateLoad(ptr_, pb.CreateInBoundsGEP(ptr_, array, index), name + std::to_string(column));
  cache.emplace(column, p);
  return p;
}

Value* Generator::column_data(int column) {
  return column_pointer(data_array_, column, "col", data_ptr_);
}

Value* Generator::column_present(int column) {
  // Never NULL here: the batch function refuses a batch without them.
  Value* p = column_pointer(present_array_, column, "present", present_ptr_);
  return b_.CreateICmpNE(load_elem(i8_, p, row_, true), b_.getInt8(0));
}

Value* Generator::field_value(int event, int64_t field, llvm::Type* storage) {
  if (!record_) {
    int column = batch_column(event, field);
    if (column < 0) return llvm::PoisonValue::get(storage);
    return load_elem(storage, column_data(column), row_, true);
  }
  if (batch_column(event, field) < 0) return llvm::PoisonValue::get(storage);
  auto* v = b_.CreateLoad(storage, b_.CreateConstInBoundsGEP1_64(i8_, record_, EDICT_RECORD_VALUE(field)));
  tag_input(v);
  return v;
}

Value* Generator::field_present(int event, int64_t field) {
  if (!record_) {
    int column = batch_column(event, field);
    return column < 0 ? b_.getFalse() : column_present(column);
  }
  const size_t n = m_.events[static_cast<size_t>(event)].fields.size();
  auto* v = b_.CreateLoad(i8_, b_.CreateConstInBoundsGEP1_64(i8_, record_, EDICT_RECORD_PRESENT(n, field)));
  tag_input(v);
  return b_.CreateICmpNE(v, b_.getInt8(0));
}

llvm::FunctionCallee Generator::helper(const char* name, bool pure, llvm::Type* result,
                                       unsigned string_args) {
  llvm::SmallVector<llvm::Type*, 3> params{ptr_};
  for (unsigned i = 0; i < string_args; ++i) params.push_back(i32_);
  auto callee = mod_->getOrInsertFunction(name, llvm::FunctionType::get(result, params, false));
  if (auto* f = llvm::dyn_cast<llvm::Function>(callee.getCallee())) {
    f->addFnAttr(llvm::Attribute::NoUnwind);
    f->addFnAttr(llvm::Attribute::WillReturn);
    // lower/upper intern new strings into the batch; the others only read.
    if (pure) f->setOnlyReadsMemory();
  }
  return callee;
}

Value* Generator::call_helper(Body& body, llvm::FunctionCallee callee, llvm::ArrayRef<Value*> args) {
  if (!body.predicated || is_true(body.alive)) return b_.CreateCall(callee, args);
  // Never speculated: on a path not taken the arguments may be stale
  // symbols of another batch, which the helpers must not resolve.
  BasicBlock* from = b_.GetInsertBlock();
  BasicBlock* call = BasicBlock::Create(ctx_, "call", fn_);
  BasicBlock* join = BasicBlock::Create(ctx_, "called", fn_);
  b_.CreateCondBr(body.alive, call, join);
  b_.SetInsertPoint(call);
  Value* v = b_.CreateCall(callee, args);
  b_.CreateBr(join);
  b_.SetInsertPoint(join);
  llvm::PHINode* phi = b_.CreatePHI(v->getType(), 2);
  phi->addIncoming(v, call);
  phi->addIncoming(Constant::getNullValue(v->getType()), from);
  return phi;
}

// ---- the row loop ------------------------------------------------------------

BasicBlock* Generator::begin_function(llvm::Function* fn, bool rule_results) {
  fn_ = fn;
  data_ptr_.clear();
  present_ptr_.clear();
  fn->addFnAttr(llvm::Attribute::NoUnwind);
  fn->addParamAttr(0, llvm::Attribute::NoCapture);
  fn->addParamAttr(1, llvm::Attribute::NoCapture);
  Value* columns = fn->getArg(0);
  Value* results = fn->getArg(1);
  columns->setName("columns");
  results->setName("results");
  entry_ = BasicBlock::Create(ctx_, "entry", fn);
  prologue_ = BasicBlock::Create(ctx_, "prologue", fn);
  BasicBlock* start = BasicBlock::Create(ctx_, "start", fn);
  b_.SetInsertPoint(entry_);
  b_.CreateBr(prologue_);
  b_.SetInsertPoint(prologue_);
  // struct EdictColumns / EdictResults (abi/abi.h); natural alignment
  // gives the C layout.
  auto* columns_ty = llvm::StructType::get(ctx_, {i32_, ptr_, ptr_, ptr_, ptr_});
  auto* results_ty = llvm::StructType::get(ctx_, {ptr_, i32_, ptr_, ptr_, ptr_});
  auto field = [&](llvm::StructType* st, Value* base, unsigned i, llvm::Type* t, const char* name) {
    return b_.CreateLoad(t, b_.CreateStructGEP(st, base, i), name);
  };
  rows_ = b_.CreateZExt(field(columns_ty, columns, 0, i32_, "rows"), i64_);
  kinds_ = field(columns_ty, columns, 1, ptr_, "kinds");
  data_array_ = field(columns_ty, columns, 2, ptr_, "data");
  present_array_ = field(columns_ty, columns, 3, ptr_, "present");
  strings_ = field(columns_ty, columns, 4, ptr_, "strings");
  if (!rule_results) {
    b_.CreateBr(start);
    b_.SetInsertPoint(start);
    return start;
  }
  fired_ = field(results_ty, results, 0, ptr_, "fired");
  fired_stride_ = b_.CreateZExt(field(results_ty, results, 1, i32_, "fired_words"), i64_);
  decision_ = field(results_ty, results, 2, ptr_, "decision");
  fault_rule_ = field(results_ty, results, 3, ptr_, "fault_rule");
  fault_site_ = field(results_ty, results, 4, ptr_, "fault_site");
  b_.CreateBr(start);
  b_.SetInsertPoint(start);
  return start;
}

std::vector<Generator::Group> Generator::plan_groups() const {
  std::vector<Group> groups;
  size_t size = 0;
  for (size_t i = 0; i < m_.rules.size(); ++i) {
    size_t n = 0;
    for (const ir::RuleBody& rb : m_.rules[i].bodies)
      if (rb.fires >= 0 && static_cast<size_t>(rb.fires) < m_.functions.size())
        n += instruction_count(m_.functions[static_cast<size_t>(rb.fires)]);
    if (groups.empty() || (size > 0 && size + n > kMaxGroupInstructions)) {
      groups.push_back(Group{i, i});
      size = 0;
    }
    groups.back().end = i + 1;
    size += n;
  }
  if (groups.empty()) groups.push_back(Group{0, 0});
  return groups;
}

std::vector<int> Generator::presence_columns() {
  std::vector<int> columns;
  for (const ir::Rule& rule : m_.rules)
    for (const ir::RuleBody& rb : rule.bodies) {
      if (rb.fires < 0 || static_cast<size_t>(rb.fires) >= m_.functions.size() || rb.event < 0 ||
          static_cast<size_t>(rb.event) >= m_.events.size())
        continue;
      add_optional_columns(m_.functions[static_cast<size_t>(rb.fires)], rb.event, columns);
    }
  std::sort(columns.begin(), columns.end());
  columns.erase(std::unique(columns.begin(), columns.end()), columns.end());
  return columns;
}

void Generator::emit_fail_closed(BasicBlock* from, BasicBlock* exit) {
  b_.SetInsertPoint(from);
  simple_row_loop(exit, "fail_closed_row", [&] {
    b_.CreateStore(b_.getInt8(EDICT_DECISION_ERROR), b_.CreateInBoundsGEP(i8_, decision_, row_));
    b_.CreateStore(b_.getInt32(UINT32_MAX), b_.CreateInBoundsGEP(i32_, fault_rule_, row_));
    b_.CreateStore(b_.getInt32(UINT32_MAX), b_.CreateInBoundsGEP(i32_, fault_site_, row_));
  });
}

void Generator::simple_row_loop(BasicBlock* exit, const char* name, const std::function<void()>& body) {
  BasicBlock* from = b_.GetInsertBlock();
  BasicBlock* loop = BasicBlock::Create(ctx_, name, fn_);
  b_.CreateCondBr(b_.CreateICmpEQ(rows_, b_.getInt64(0)), exit, loop);
  b_.SetInsertPoint(loop);
  llvm::PHINode* r = b_.CreatePHI(i64_, 2, "r");
  r->addIncoming(b_.getInt64(0), from);
  row_ = r;
  body();
  Value* next = b_.CreateAdd(r, b_.getInt64(1), "", true, true);
  r->addIncoming(next, b_.GetInsertBlock());
  b_.CreateCondBr(b_.CreateICmpULT(next, rows_), loop, exit);
}

void Generator::emit_function() {
  setup_alias_scopes();
  auto* fn_ty = llvm::FunctionType::get(b_.getVoidTy(), {ptr_, ptr_}, false);
  auto* main =
      llvm::Function::Create(fn_ty, llvm::GlobalValue::ExternalLinkage, options_.function_name, *mod_);
  BasicBlock* start = begin_function(main);
  Value* main_rows = rows_;
  Value* main_decision = decision_;
  const size_t words = (m_.rules.size() + 63) / 64;
  std::vector<Group> groups = plan_groups();
  std::vector<int> presence = presence_columns();
  if (failed()) return;

  BasicBlock* fail_closed = BasicBlock::Create(ctx_, "fail_closed", fn_);
  BasicBlock* enough = BasicBlock::Create(ctx_, "enough_words", fn_);
  BasicBlock* evaluate = BasicBlock::Create(ctx_, "evaluate", fn_);
  BasicBlock* exit = BasicBlock::Create(ctx_, "exit", fn_);

  // Results too small for the fired bits, or an optional field without
  // presence bytes: fail closed rather than read or write out of bounds.
  b_.SetInsertPoint(start);
  Value* refuse = b_.CreateICmpULT(fired_stride_, b_.getInt64(words));
  for (int column : presence) {
    auto* slot = b_.CreateInBoundsGEP(ptr_, present_array_, b_.getInt64(static_cast<uint64_t>(column)));
    refuse =
        b_.CreateOr(refuse, b_.CreateICmpEQ(b_.CreateLoad(ptr_, slot), llvm::ConstantPointerNull::get(ptr_)));
  }
  b_.CreateCondBr(refuse, fail_closed, enough);
  emit_fail_closed(fail_closed, exit);

  b_.SetInsertPoint(enough);
  if (groups.size() == 1) {
    // Words past the rules' are zeroed up front; the loop writes the rest.
    BasicBlock* clear_extra = BasicBlock::Create(ctx_, "clear_extra_words", fn_);
    b_.CreateCondBr(b_.CreateICmpUGT(fired_stride_, b_.getInt64(words)), clear_extra, evaluate);
    b_.SetInsertPoint(clear_extra);
    b_.CreateMemSet(fired_, b_.getInt8(0), b_.CreateMul(rows_, b_.CreateMul(fired_stride_, b_.getInt64(8))),
                    llvm::MaybeAlign(8));
    b_.CreateBr(evaluate);
    emit_row_loop(evaluate, exit, groups[0], /*fused=*/true);
  } else {
    // One pass per group over the batch, the row state kept in the results:
    // fired words OR-ed in, the decision byte holding the strongest effect so
    // far (kUndecided before any), error, or skipped.
    b_.CreateMemSet(fired_, b_.getInt8(0), b_.CreateMul(rows_, b_.CreateMul(fired_stride_, b_.getInt64(8))),
                    llvm::MaybeAlign(8));
    b_.CreateBr(evaluate);
    b_.SetInsertPoint(evaluate);
    BasicBlock* passes = BasicBlock::Create(ctx_, "passes", fn_);
    simple_row_loop(passes, "init_row", [&] {
      Value* kind = load_elem(i8_, kinds_, row_, true);
      Value* code = b_.CreateSelect(b_.CreateICmpEQ(kind, b_.getInt8(EDICT_KIND_ERROR)),
                                    b_.getInt8(EDICT_DECISION_SKIPPED), b_.getInt8(kUndecided));
      tag_output(b_.CreateStore(code, b_.CreateInBoundsGEP(i8_, decision_, row_)), kOutDecision);
    });
    std::vector<llvm::Function*> group_fns;
    for (size_t g = 0; g < groups.size() && !failed(); ++g)
      group_fns.push_back(emit_group_function(groups[g], g));
    if (failed()) return;
    // Back to the batch function: its own values of rows_, decision_, ...
    fn_ = main;
    rows_ = main_rows;
    decision_ = main_decision;
    b_.SetInsertPoint(passes);
    for (llvm::Function* f : group_fns) b_.CreateCall(f, {main->getArg(0), main->getArg(1)});
    simple_row_loop(exit, "decide_row", [&] {
      Value* at = b_.CreateInBoundsGEP(i8_, decision_, row_);
      auto* code = b_.CreateLoad(i8_, at);
      tag_output(code, kOutDecision);
      Value* decided = b_.CreateSelect(b_.CreateICmpEQ(code, b_.getInt8(kUndecided)),
                                       b_.getInt8(static_cast<uint8_t>(m_.default_outcome)), code);
      tag_output(b_.CreateStore(decided, at), kOutDecision);
    });
  }
  b_.SetInsertPoint(exit);
  b_.CreateRetVoid();
}

llvm::Function* Generator::emit_group_function(const Group& group, size_t index) {
  auto* fn_ty = llvm::FunctionType::get(b_.getVoidTy(), {ptr_, ptr_}, false);
  auto* fn = llvm::Function::Create(fn_ty, llvm::GlobalValue::InternalLinkage,
                                    options_.function_name + ".group" + std::to_string(index), *mod_);
  // Kept out of line: inlining the groups back would undo the split.
  fn->addFnAttr(llvm::Attribute::NoInline);
  BasicBlock* start = begin_function(fn);
  BasicBlock* exit = BasicBlock::Create(ctx_, "exit", fn_);
  emit_row_loop(start, exit, group, /*fused=*/false);
  b_.SetInsertPoint(exit);
  b_.CreateRetVoid();
  return fn;
}

// ---- record functions ------------------------------------------------------------
// One event of one kind per call, read from a flat record (abi/abi.h):
// each field a load at a constant offset from one pointer, no kind
// dispatch, no row loop and no batch checks. The rules branch and
// short-circuit as in the single-event batch function.

void Generator::emit_record_function(int event) {
  auto* fn_ty = llvm::FunctionType::get(i32_, {ptr_, ptr_, ptr_}, false);
  auto* fn = llvm::Function::Create(fn_ty, llvm::GlobalValue::ExternalLinkage,
                                    options_.record_function_prefix + std::to_string(event), *mod_);
  fn_ = fn;
  fn->addFnAttr(llvm::Attribute::NoUnwind);
  for (unsigned i = 0; i < 3; ++i) fn->addParamAttr(i, llvm::Attribute::NoCapture);
  record_ = fn->getArg(0);
  strings_ = fn->getArg(1);
  Value* results = fn->getArg(2);
  row_ = b_.getInt64(0);
  entry_ = BasicBlock::Create(ctx_, "entry", fn);
  BasicBlock* start = BasicBlock::Create(ctx_, "start", fn);
  b_.SetInsertPoint(entry_);
  b_.CreateBr(start);

  const Group all{0, m_.rules.size()};
  const size_t words = (m_.rules.size() + 63) / 64;
  fired_ty_ = i64_;
  fired_words_.assign(words, nullptr);
  for (size_t w = 0; w < words; ++w) fired_words_[w] = make_alloca(i64_, "fired" + std::to_string(w));
  make_row_state();
  effects_from_fired_ = true;

  b_.SetInsertPoint(start);
  for (auto* w : fired_words_) b_.CreateStore(b_.getInt64(0), w);
  b_.CreateStore(b_.getFalse(), row_faulted_);
  b_.CreateStore(b_.getInt32(UINT32_MAX), row_fault_rule_);
  b_.CreateStore(b_.getInt32(UINT32_MAX), row_fault_site_);
  emit_kind(event, b_.getTrue(), all);
  if (failed()) return;

  // struct EdictResults (abi/abi.h), loaded only here: the rules need none of it.
  auto* results_ty = llvm::StructType::get(ctx_, {ptr_, i32_, ptr_, ptr_, ptr_});
  auto result_array = [&](unsigned i, const char* name) {
    return b_.CreateLoad(ptr_, b_.CreateStructGEP(results_ty, results, i), name);
  };
  Value* faulted = b_.CreateLoad(i1_, row_faulted_);
  Value* code = b_.CreateSelect(faulted, b_.getInt8(EDICT_DECISION_ERROR), strongest_effect(all));
  Value* fired = result_array(0, "fired");
  for (size_t w = 0; w < words; ++w)
    b_.CreateStore(b_.CreateLoad(i64_, fired_words_[w]), b_.CreateConstInBoundsGEP1_64(i64_, fired, w));
  b_.CreateStore(code, result_array(2, "decision"));
  if (loop_may_fault_) {
    BasicBlock* fault = BasicBlock::Create(ctx_, "record_fault", fn_);
    BasicBlock* done = BasicBlock::Create(ctx_, "record_done", fn_);
    b_.CreateCondBr(faulted, fault, done, llvm::MDBuilder(ctx_).createUnlikelyBranchWeights());
    b_.SetInsertPoint(fault);
    b_.CreateStore(b_.CreateLoad(i32_, row_fault_rule_), result_array(3, "fault_rule"));
    b_.CreateStore(b_.CreateLoad(i32_, row_fault_site_), result_array(4, "fault_site"));
    b_.CreateBr(done);
    b_.SetInsertPoint(done);
  }
  b_.CreateRet(b_.CreateZExt(code, i32_));
  record_ = nullptr;
}

// ---- aggregate inputs ----------------------------------------------------------
// One pass over the batch: per row, every listed function of the row's kind,
// inlined as the rules' fires functions are (if-converted when small), its
// result bits and fault site stored unconditionally (rows of other kinds get
// 0 and no fault), so the loop stays branch-free for small functions.

void Generator::emit_inputs_function() {
  auto* fn_ty = llvm::FunctionType::get(i32_, {ptr_, ptr_, ptr_}, false);
  auto* fn =
      llvm::Function::Create(fn_ty, llvm::GlobalValue::ExternalLinkage, options_.inputs_function_name, *mod_);
  fn->addParamAttr(2, llvm::Attribute::NoCapture);
  BasicBlock* start = begin_function(fn, /*rule_results=*/false);
  const std::vector<ir::FuncId>& funcs = options_.input_functions;
  for (ir::FuncId id : funcs) {
    if (id < 0 || static_cast<size_t>(id) >= m_.functions.size())
      return fail("an aggregate input names a missing function");
    const ir::Function& f = m_.functions[static_cast<size_t>(id)];
    if (f.event < 0 || static_cast<size_t>(f.event) >= m_.events.size() || f.blocks.empty() ||
        f.kind == ir::FunctionKind::Message)
      return fail("fn " + f.name + ": not an aggregate input function");
  }
  // Presence arrays of the optional fields the functions test.
  std::vector<int> presence;
  for (ir::FuncId id : funcs) {
    const ir::Function& f = m_.functions[static_cast<size_t>(id)];
    add_optional_columns(f, f.event, presence);
  }
  if (failed()) return;
  BasicBlock* refused = BasicBlock::Create(ctx_, "refused", fn_);
  BasicBlock* evaluate = BasicBlock::Create(ctx_, "evaluate", fn_);
  BasicBlock* exit = BasicBlock::Create(ctx_, "exit", fn_);
  b_.SetInsertPoint(start);
  Value* refuse = b_.getFalse();
  for (int column : presence) {
    auto* slot = b_.CreateInBoundsGEP(ptr_, present_array_, b_.getInt64(static_cast<uint64_t>(column)));
    refuse =
        b_.CreateOr(refuse, b_.CreateICmpEQ(b_.CreateLoad(ptr_, slot), llvm::ConstantPointerNull::get(ptr_)));
  }
  b_.CreateCondBr(refuse, refused, evaluate);
  b_.SetInsertPoint(refused);
  b_.CreateRet(b_.getInt32(0));

  // Each function's output arrays, loaded once.
  std::vector<Value*> values(funcs.size()), sites(funcs.size());
  {
    llvm::IRBuilder<> pb(prologue_->getTerminator());
    for (size_t i = 0; i < funcs.size(); ++i) {
      values[i] = pb.CreateLoad(ptr_, pb.CreateInBoundsGEP(ptr_, fn->getArg(1), pb.getInt64(i)),
                                "values" + std::to_string(i));
      sites[i] = pb.CreateLoad(ptr_, pb.CreateInBoundsGEP(ptr_, fn->getArg(2), pb.getInt64(i)),
                               "sites" + std::to_string(i));
    }
  }
  b_.SetInsertPoint(evaluate);
  simple_row_loop(exit, "input_row", [&] {
    Value* kind = load_elem(i8_, kinds_, row_, true);
    for (size_t i = 0; i < funcs.size() && !failed(); ++i) {
      const ir::Function& f = m_.functions[static_cast<size_t>(funcs[i])];
      emit_input(funcs[i], b_.CreateICmpEQ(kind, b_.getInt8(static_cast<uint8_t>(f.event))), values[i],
                 sites[i]);
    }
  });
  b_.SetInsertPoint(exit);
  b_.CreateRet(b_.getInt32(1));
}

void Generator::emit_input(ir::FuncId id, Value* active, Value* values, Value* sites) {
  Body body;
  body.f = &m_.functions[static_cast<size_t>(id)];
  body.event = body.f->event;
  if (!prepare_body(body)) return;
  body.out_value = make_alloca(i64_, body.f->name + ".value");
  body.out_site = make_alloca(i32_, body.f->name + ".site");
  b_.CreateStore(b_.getInt64(0), body.out_value);
  b_.CreateStore(b_.getInt32(UINT32_MAX), body.out_site);
  body.predicated = instruction_count(*body.f) <= predicated_limit();
  if (body.predicated)
    emit_predicated(body, active);
  else
    emit_branching(body, active);
  if (failed()) return;
  b_.CreateStore(b_.CreateLoad(i64_, body.out_value), b_.CreateInBoundsGEP(i64_, values, row_));
  b_.CreateStore(b_.CreateLoad(i32_, body.out_site), b_.CreateInBoundsGEP(i32_, sites, row_));
}

// The if-converted form's outcome (value functions stored theirs at `ret`).
void Generator::finish_input(Body& body) {
  if (body.f->kind == ir::FunctionKind::Fires)
    b_.CreateStore(b_.CreateZExt(body.fires, i64_), body.out_value);
  b_.CreateStore(pick(body.faulted, body.site, b_.getInt32(UINT32_MAX)), body.out_site);
}

// A register's value as the interpreter holds it: zero-extended integers,
// a number's IEEE bits.
Value* Generator::to_bits(Value* v) {
  if (v->getType() == f64_) return b_.CreateBitCast(v, i64_);
  if (v->getType() != i64_) return b_.CreateZExt(v, i64_);
  return v;
}

void Generator::make_row_state() {
  row_faulted_ = make_alloca(i1_, "faulted");
  row_fault_rule_ = make_alloca(i32_, "fault_rule");
  row_fault_site_ = make_alloca(i32_, "fault_site");
  best_ = make_alloca(i32_, "best");
  loop_may_fault_ = false;
}

void Generator::emit_row_loop(BasicBlock* from, BasicBlock* exit, const Group& group, bool fused) {
  const size_t words = (m_.rules.size() + 63) / 64;
  // A fused loop of few rules keeps its fired bits in a narrow word, widened
  // once at the store: narrower vector lanes, fewer mask conversions.
  fired_ty_ = !fused || m_.rules.size() > 32 ? i64_ : m_.rules.size() > 16 ? i32_ : i16_;
  fired_words_.assign(words, nullptr);
  for (size_t w = group.begin / 64; group.end > group.begin && w <= (group.end - 1) / 64; ++w)
    fired_words_[w] = make_alloca(fired_ty_, "fired" + std::to_string(w));
  make_row_state();
  effects_from_fired_ = fused;
  BasicBlock* header = BasicBlock::Create(ctx_, "row", fn_);
  BasicBlock* body = BasicBlock::Create(ctx_, "row_body", fn_);
  BasicBlock* latch = BasicBlock::Create(ctx_, "row_done", fn_);
  b_.SetInsertPoint(from);
  b_.CreateBr(header);
  b_.SetInsertPoint(header);
  llvm::PHINode* r = b_.CreatePHI(i64_, 2, "r");
  r->addIncoming(b_.getInt64(0), from);
  row_ = r;
  b_.CreateCondBr(b_.CreateICmpULT(r, rows_), body, exit);

  b_.SetInsertPoint(body);
  Value* kind = load_elem(i8_, kinds_, r, true);
  kind->setName("kind");
  Value* base = b_.CreateMul(r, fired_stride_, "", true, true);
  auto fired_at = [&](size_t w) {
    return b_.CreateInBoundsGEP(i64_, fired_, b_.CreateAdd(base, b_.getInt64(w), "", true, true));
  };
  Value* decision_at = b_.CreateInBoundsGEP(i8_, decision_, r);
  Value* code_before = nullptr;  // group passes: the decision byte so far
  b_.CreateStore(b_.getInt32(UINT32_MAX), row_fault_rule_);
  b_.CreateStore(b_.getInt32(UINT32_MAX), row_fault_site_);
  if (fused) {
    for (auto* w : fired_words_)
      if (w) b_.CreateStore(llvm::ConstantInt::get(fired_ty_, 0), w);
    b_.CreateStore(b_.getFalse(), row_faulted_);
    b_.CreateStore(b_.getInt32(-1), best_);
  } else {
    for (size_t w = 0; w < words; ++w) {
      if (!fired_words_[w]) continue;
      auto* v = b_.CreateLoad(i64_, fired_at(w));
      tag_output(v, kOutFired);
      b_.CreateStore(v, fired_words_[w]);
    }
    auto* code = b_.CreateLoad(i8_, decision_at);
    tag_output(code, kOutDecision);
    code_before = code;
    b_.CreateStore(b_.CreateICmpEQ(code, b_.getInt8(EDICT_DECISION_ERROR)), row_faulted_);
    Value* is_outcome = b_.CreateICmpULT(code, b_.getInt8(kUndecided));
    b_.CreateStore(b_.CreateSelect(is_outcome, b_.CreateZExt(code, i32_), b_.getInt32(-1)), best_);
  }

  std::vector<int> kinds_with_rules;
  bool all_small = true;
  size_t total = 0;
  for (size_t e = 0; e < m_.events.size(); ++e) {
    bool any = false;
    for (size_t i = group.begin; i < group.end; ++i) {
      const ir::RuleBody* rb = m_.rules[i].body_for(static_cast<int>(e));
      if (!rb || rb->fires == ir::kNoFunc) continue;
      any = true;
      if (rb->fires >= 0 && static_cast<size_t>(rb->fires) < m_.functions.size()) {
        size_t n = instruction_count(m_.functions[static_cast<size_t>(rb->fires)]);
        total += n;
        all_small = all_small && n <= predicated_limit();
      }
    }
    if (any) kinds_with_rules.push_back(static_cast<int>(e));
  }
  const bool straight = all_small && total <= kMaxPredicatedKinds;
  if (straight) {
    // Straight-line: every kind's rules under `kind == k`. Rows of no kind
    // (skipped, or out of range) match none and keep the initial state.
    for (int e : kinds_with_rules) {
      if (failed()) return;
      emit_kind(e, b_.CreateICmpEQ(kind, b_.getInt8(static_cast<uint8_t>(e))), group);
    }
  } else {
    for (int e : kinds_with_rules) {
      if (failed()) return;
      BasicBlock* kind_block =
          BasicBlock::Create(ctx_, "kind." + m_.events[static_cast<size_t>(e)].name, fn_);
      BasicBlock* other = BasicBlock::Create(ctx_, "dispatch", fn_);
      b_.CreateCondBr(b_.CreateICmpEQ(kind, b_.getInt8(static_cast<uint8_t>(e))), kind_block, other);
      b_.SetInsertPoint(kind_block);
      emit_kind(e, b_.getTrue(), group);
      b_.CreateBr(other);
      b_.SetInsertPoint(other);
    }
  }
  if (failed()) return;
  b_.CreateBr(latch);

  // The row's results, stored unconditionally so the loop stays straight.
  b_.SetInsertPoint(latch);
  Value* faulted = b_.CreateLoad(i1_, row_faulted_);
  Value* best = fused ? nullptr : b_.CreateLoad(i32_, best_);
  Value* code = nullptr;
  if (fused) {
    Value* outcome = strongest_effect(group);
    code = b_.CreateSelect(faulted, b_.getInt8(EDICT_DECISION_ERROR), outcome);
    code = b_.CreateSelect(b_.CreateICmpEQ(kind, b_.getInt8(EDICT_KIND_ERROR)),
                           b_.getInt8(EDICT_DECISION_SKIPPED), code);
  } else {
    Value* outcome =
        b_.CreateSelect(b_.CreateICmpSGE(best, b_.getInt32(0)), b_.CreateTrunc(best, i8_), code_before);
    code = b_.CreateSelect(faulted, b_.getInt8(EDICT_DECISION_ERROR), outcome);
  }
  tag_output(b_.CreateStore(code, decision_at), kOutDecision);
  // fault_rule/fault_site keep their old contents unless this loop found
  // the row's first fault (the state still holds UINT32_MAX otherwise).
  Value* found = b_.CreateICmpNE(b_.CreateLoad(i32_, row_fault_rule_), b_.getInt32(UINT32_MAX));
  auto keep_unless_found = [&](Value* array, llvm::AllocaInst* state, Out scope) {
    Value* at = b_.CreateInBoundsGEP(i32_, array, r);
    auto* old = b_.CreateLoad(i32_, at);
    tag_output(old, scope);
    tag_output(b_.CreateStore(b_.CreateSelect(found, b_.CreateLoad(i32_, state), old), at), scope);
  };
  if (loop_may_fault_) {
    keep_unless_found(fault_rule_, row_fault_rule_, kOutFaultRule);
    keep_unless_found(fault_site_, row_fault_site_, kOutFaultSite);
  }
  for (size_t w = 0; w < words; ++w)
    if (fired_words_[w])
      tag_output(b_.CreateStore(b_.CreateZExt(b_.CreateLoad(fired_ty_, fired_words_[w]), i64_), fired_at(w)),
                 kOutFired);
  Value* next = b_.CreateAdd(r, b_.getInt64(1), "", true, true);
  r->addIncoming(next, b_.GetInsertBlock());
  llvm::BranchInst* back = b_.CreateBr(header);
  if (straight && !options_.single_event) {
    // Eight rows per vector iteration. The cost model picks four: 64-bit
    // columns (times, numbers) fill a 256-bit register at four, but the
    // conditions then live in 32-bit lanes of half-empty registers and each
    // 64-bit compare is narrowed on its own. At eight, the many narrow
    // operations (class bytes, symbols, countries, the fired bits) do twice
    // the rows per instruction. Measured with llvm-mca (znver3) on the
    // reference workload: 8.6 cycles per row against 14 at four.
    llvm::Metadata* width[] = {llvm::MDString::get(ctx_, "llvm.loop.vectorize.width"),
                               llvm::ConstantAsMetadata::get(b_.getInt32(kRowsPerVector))};
    llvm::Metadata* ops[] = {nullptr, llvm::MDNode::get(ctx_, width)};
    llvm::MDNode* loop = llvm::MDNode::getDistinct(ctx_, ops);
    loop->replaceOperandWith(0, loop);
    back->setMetadata(llvm::LLVMContext::MD_loop, loop);
  }
}

Value* Generator::strongest_effect(const Group& group) {
  // masks[effect][word]: the rules of the group with that effect.
  std::map<int, std::vector<uint64_t>> masks;
  for (size_t i = group.begin; i < group.end; ++i) {
    std::vector<uint64_t>& m = masks[m_.rules[i].effect];
    m.resize(fired_words_.size(), 0);
    m[i / 64] |= uint64_t{1} << (i % 64);
  }
  std::vector<Value*> words(fired_words_.size(), nullptr);
  for (size_t w = 0; w < words.size(); ++w)
    if (fired_words_[w]) words[w] = b_.CreateLoad(fired_ty_, fired_words_[w]);
  Value* outcome = b_.getInt8(static_cast<uint8_t>(m_.default_outcome));
  for (auto& [effect, mask] : masks) {  // weakest first: the strongest fired one wins
    Value* any = b_.getFalse();
    for (size_t w = 0; w < words.size(); ++w)
      if (mask[w] && words[w])
        any = b_.CreateOr(any,
                          b_.CreateICmpNE(b_.CreateAnd(words[w], llvm::ConstantInt::get(fired_ty_, mask[w])),
                                          llvm::ConstantInt::get(fired_ty_, 0)));
    outcome = pick(any, b_.getInt8(static_cast<uint8_t>(effect)), outcome);
  }
  return outcome;
}

Value* Generator::window(const ir::Rule& rule, Value* time) {
  Value* in_effect = b_.getTrue();
  if (rule.effective_from)
    in_effect = b_.CreateICmpSGE(time, b_.getInt64(static_cast<uint64_t>(*rule.effective_from)));
  if (rule.effective_until)
    in_effect =
        both(in_effect, b_.CreateICmpSLT(time, b_.getInt64(static_cast<uint64_t>(*rule.effective_until))));
  return in_effect;
}

void Generator::emit_kind(int event, Value* kind_active, const Group& group) {
  const ir::EventSchema& schema = m_.events[static_cast<size_t>(event)];
  Value* time = nullptr;
  for (size_t i = group.begin; i < group.end && !failed(); ++i) {
    const ir::Rule& rule = m_.rules[i];
    const ir::RuleBody* rb = rule.body_for(event);
    if (!rb || rb->fires == ir::kNoFunc) continue;
    if ((rule.effective_from || rule.effective_until) && !time) {
      const ir::Field* tf = field_of(event, schema.time_field);
      if (!tf || tf->type != ir::Ty::Time || tf->optional) {
        fail("event `" + schema.name + "` has no time field");
        return;
      }
      time = field_value(event, schema.time_field, i64_);
      if (failed()) return;
      time->setName("time." + schema.name);
    }
    // Effective dates are metadata: an out-of-window rule never runs.
    emit_rule(static_cast<int>(i), *rb, event, both(kind_active, window(rule, time)));
  }
}

bool Generator::prepare_body(Body& body) {
  const ir::Function& f = *body.f;
  std::vector<uint32_t> assignments(f.regs.size(), 0);
  for (const ir::Block& block : f.blocks) {
    if (block.insts.empty() || !ir::op_info(block.insts.back().op).terminator) {
      fail("fn " + f.name + ": a block has no terminator");
      return false;
    }
    for (const ir::Inst& in : block.insts) {
      if (!ir::op_info(in.op).has_result) continue;
      if (in.dst >= f.regs.size()) {
        fail("fn " + f.name + ": result register out of range");
        return false;
      }
      ++assignments[in.dst];
    }
  }
  body.ssa.assign(f.regs.size(), nullptr);
  body.slots.assign(f.regs.size(), nullptr);
  body.range.assign(f.regs.size(), std::nullopt);
  for (size_t r = 0; r < f.regs.size(); ++r) {
    if (f.regs[r] == ir::Ty::Void) {
      fail("fn " + f.name + ": register of type void");
      return false;
    }
    if (assignments[r] > 1) body.slots[r] = make_alloca(reg_type(f.regs[r]), "%" + std::to_string(r));
  }
  return true;
}

void Generator::emit_rule(int rule_index, const ir::RuleBody& rb, int event, Value* active) {
  const ir::Rule& rule = m_.rules[static_cast<size_t>(rule_index)];
  if (rb.fires < 0 || static_cast<size_t>(rb.fires) >= m_.functions.size()) {
    fail("rule `" + rule.name + "` names a missing function");
    return;
  }
  if (rule.effect < 0 || rule.effect >= kUndecided) {
    fail("rule `" + rule.name + "` has no valid effect");
    return;
  }
  Body body;
  body.f = &m_.functions[static_cast<size_t>(rb.fires)];
  body.rule = rule_index;
  body.event = event;
  if (body.f->kind != ir::FunctionKind::Fires || body.f->blocks.empty() || body.f->event != event) {
    fail("fn " + body.f->name + ": not a fires function of event `" +
         m_.events[static_cast<size_t>(event)].name + "`");
    return;
  }
  if (!prepare_body(body)) return;
  body.predicated = instruction_count(*body.f) <= predicated_limit();
  if (body.predicated)
    emit_predicated(body, active);
  else
    emit_branching(body, active);
}

void Generator::record_outcome(int rule_index, Value* fired, Value* faulted, Value* site) {
  if (!is_false(fired)) {
    size_t word = static_cast<size_t>(rule_index) / 64;
    uint64_t bit = uint64_t{1} << (static_cast<size_t>(rule_index) % 64);
    Value* old = b_.CreateLoad(fired_ty_, fired_words_[word]);
    // A shift by an immediate rather than a select between two constants:
    // vector code then needs no constant register per rule.
    Value* flag = is_true(fired)
                      ? llvm::ConstantInt::get(fired_ty_, bit)
                      : b_.CreateShl(b_.CreateZExt(fired, fired_ty_), static_cast<uint64_t>(rule_index) % 64);
    b_.CreateStore(b_.CreateOr(old, flag), fired_words_[word]);
    if (effects_from_fired_) return record_fault(rule_index, faulted, site);
    Value* best = b_.CreateLoad(i32_, best_);
    Value* effect = b_.getInt32(static_cast<uint32_t>(m_.rules[static_cast<size_t>(rule_index)].effect));
    Value* stronger = b_.CreateBinaryIntrinsic(llvm::Intrinsic::smax, best, effect);
    b_.CreateStore(pick(fired, stronger, best), best_);
  }
  record_fault(rule_index, faulted, site);
}

void Generator::record_fault(int rule_index, Value* faulted, Value* site) {
  if (!is_false(faulted)) {
    loop_may_fault_ = true;
    // Only the first faulting rule (in rule order) is recorded.
    Value* already = b_.CreateLoad(i1_, row_faulted_);
    Value* first = both(faulted, b_.CreateNot(already));
    b_.CreateStore(
        pick(first, b_.getInt32(static_cast<uint32_t>(rule_index)), b_.CreateLoad(i32_, row_fault_rule_)),
        row_fault_rule_);
    b_.CreateStore(pick(first, site, b_.CreateLoad(i32_, row_fault_site_)), row_fault_site_);
    b_.CreateStore(either(already, faulted), row_faulted_);
  }
}

void Generator::emit_predicated(Body& body, Value* active) {
  const ir::Function& f = *body.f;
  std::vector<ir::BlockId> order = ir::reverse_postorder(f);
  if (order.empty()) {
    fail("fn " + f.name + ": cyclic control flow");
    return;
  }
  // Merge registers start defined, so that no path leaves them undef.
  for (size_t r = 0; r < body.slots.size(); ++r)
    if (body.slots[r])
      b_.CreateStore(Constant::getNullValue(body.slots[r]->getAllocatedType()), body.slots[r]);
  body.reach.assign(f.blocks.size(), nullptr);
  body.reach[0] = active;
  body.fires = b_.getFalse();
  body.faulted = b_.getFalse();
  body.site = b_.getInt32(UINT32_MAX);
  for (ir::BlockId id : order) {
    // Blocks are visited in a topological order: every edge into this one
    // has been seen.
    body.alive = body.reach[id] ? body.reach[id] : b_.getFalse();
    if (is_false(body.alive)) continue;  // statically dead (e.g. the kind never matches)
    for (const ir::Inst& in : f.blocks[id].insts) {
      emit_inst(body, in);
      if (failed()) return;
    }
  }
  if (body.rule < 0) return finish_input(body);
  record_outcome(body.rule, body.fires, body.faulted, body.site);
}

void Generator::emit_branching(Body& body, Value* active) {
  const ir::Function& f = *body.f;
  std::vector<ir::BlockId> order = ir::reverse_postorder(f);
  if (order.empty()) {
    fail("fn " + f.name + ": cyclic control flow");
    return;
  }
  const std::string prefix = body.name(m_) + ".";
  body.next = BasicBlock::Create(ctx_, prefix + "next", fn_);
  body.fired = BasicBlock::Create(ctx_, prefix + "fired", fn_);
  body.blocks.assign(f.blocks.size(), nullptr);
  for (ir::BlockId id : order)
    body.blocks[id] = BasicBlock::Create(ctx_, f.name + ".bb" + std::to_string(id), fn_);
  b_.CreateCondBr(active, body.blocks[0], body.next);
  for (ir::BlockId id : order) {
    b_.SetInsertPoint(body.blocks[id]);
    for (const ir::Inst& in : f.blocks[id].insts) {
      emit_inst(body, in);
      if (failed()) return;
    }
  }
  b_.SetInsertPoint(body.fired);
  if (body.rule < 0) {
    if (f.kind == ir::FunctionKind::Fires) b_.CreateStore(b_.getInt64(1), body.out_value);
  } else {
    record_outcome(body.rule, b_.getTrue(), b_.getFalse(), nullptr);
  }
  b_.CreateBr(body.next);
  if (body.fault) {
    b_.SetInsertPoint(body.fault);
    if (body.rule < 0)
      b_.CreateStore(body.fault_phi, body.out_site);
    else
      record_outcome(body.rule, b_.getFalse(), b_.getTrue(), body.fault_phi);
    b_.CreateBr(body.next);
  }
  b_.SetInsertPoint(body.next);
}

Value* Generator::get(Body& body, ir::Reg r) {
  if (r >= body.f->regs.size()) {
    fail("fn " + body.f->name + ": operand register out of range");
    return llvm::PoisonValue::get(i64_);
  }
  if (body.slots[r]) return b_.CreateLoad(body.slots[r]->getAllocatedType(), body.slots[r]);
  if (!body.ssa[r]) {
    fail("fn " + body.f->name + ": register %" + std::to_string(r) + " used before it is defined");
    return poison(body.f->regs[r]);
  }
  return body.ssa[r];
}

void Generator::set(Body& body, ir::Reg r, Value* v) {
  if (v->getType() != reg_type(body.f->regs[r])) {
    fail("fn " + body.f->name + ": register %" + std::to_string(r) + " assigned a value of another type");
    return;
  }
  if (!body.slots[r]) {
    body.ssa[r] = v;
    return;
  }
  if (body.predicated && !is_true(body.alive))
    v = b_.CreateSelect(body.alive, v, b_.CreateLoad(v->getType(), body.slots[r]));
  b_.CreateStore(v, body.slots[r]);
}

BasicBlock* Generator::fault_block(Body& body, uint32_t site) {
  if (!body.fault) {
    body.fault = BasicBlock::Create(ctx_, body.name(m_) + ".fault", fn_);
    llvm::IRBuilder<> fb(body.fault);
    body.fault_phi = fb.CreatePHI(i32_, 4, "site");
  }
  body.fault_phi->addIncoming(b_.getInt32(site), b_.GetInsertBlock());
  return body.fault;
}

void Generator::fault_if(Body& body, Value* cond, uint32_t site) {
  if (site != ir::kNoSite && site >= m_.fault_sites.size())
    fail("fn " + body.f->name + ": fault site out of range");
  if (body.predicated) {
    // A fault ends the function: what follows runs only where it did not.
    Value* faults = both(body.alive, cond);
    body.site = pick(faults, b_.getInt32(site), body.site);
    body.faulted = either(body.faulted, faults);
    body.alive = both(body.alive, b_.CreateNot(cond));
    return;
  }
  BasicBlock* ok = BasicBlock::Create(ctx_, "ok", fn_);
  b_.CreateCondBr(cond, fault_block(body, site), ok, llvm::MDBuilder(ctx_).createUnlikelyBranchWeights());
  b_.SetInsertPoint(ok);
}

void Generator::reach(Body& body, ir::BlockId target, Value* pred) {
  if (target >= body.reach.size()) {
    fail("fn " + body.f->name + ": a branch targets a missing block");
    return;
  }
  body.reach[target] = body.reach[target] ? either(body.reach[target], pred) : pred;
}

void Generator::emit_inst(Body& body, const ir::Inst& in) {
  const ir::Function& f = *body.f;
  const ir::OpInfo& info = ir::op_info(in.op);
  if (info.has_result && in.dst >= f.regs.size()) return fail("fn " + f.name + ": bad result register");
  auto result = [&](Value* v) { set(body, in.dst, v); };
  auto fn_fail = [&](const std::string& what) { fail("fn " + f.name + ": `" + info.name + "` " + what); };
  const ir::Ty ty = info.has_result ? f.regs[in.dst] : ir::Ty::Void;
  auto range_of = [&](ir::Reg r) -> std::optional<Range> {
    if (r >= body.range.size() || body.slots[r]) return std::nullopt;
    return body.range[r];
  };
  auto set_range = [&](std::optional<Range> r) {
    if (r && finite(*r) && in.dst < body.range.size() && !body.slots[in.dst]) body.range[in.dst] = r;
  };
  switch (in.op) {
    case ir::Op::Const: {
      if (ty == ir::Ty::Row) return result(b_.getInt64(static_cast<uint64_t>(in.imm)));
      if (ty == ir::Ty::Number) set_range(Range{in.fimm, in.fimm});
      if (ty == ir::Ty::Int && exact_int(Range{double(in.imm), double(in.imm)}))
        set_range(Range{double(in.imm), double(in.imm)});
      return result(scalar_constant(ty, ir::Scalar{in.imm, in.fimm}, false));
    }
    case ir::Op::Copy: set_range(range_of(in.a)); return result(get(body, in.a));
    case ir::Op::Load:
    case ir::Op::LoadChecked:
    case ir::Op::Has: {
      if (batch_column(body.event, in.imm) < 0) return;
      // A field required in this kind is present on every decoded row.
      bool optional = field_of(body.event, in.imm)->optional;
      if (in.op == ir::Op::Has) return result(optional ? field_present(body.event, in.imm) : b_.getTrue());
      if (in.op == ir::Op::LoadChecked && optional)
        fault_if(body, b_.CreateNot(field_present(body.event, in.imm)), in.site);
      Value* v = field_value(body.event, in.imm, storage_type(ty));
      if (failed()) return;
      v = from_storage(ty, v);
      if (ty == ir::Ty::Country && !options_.single_event && !record_)
        loaded_from_[v] = batch_column(body.event, in.imm);
      return result(v);
    }
    case ir::Op::SetContains:
      if (in.imm < 0 || static_cast<size_t>(in.imm) >= m_.sets.size()) return fn_fail("names a missing set");
      return result(set_contains(static_cast<uint32_t>(in.imm), get(body, in.a)));
    case ir::Op::TableFind:
      if (in.imm < 0 || static_cast<size_t>(in.imm) >= m_.tables.size())
        return fn_fail("names a missing table");
      return result(table_find(static_cast<uint32_t>(in.imm), get(body, in.a)));
    case ir::Op::RowHas: return result(b_.CreateICmpNE(get(body, in.a), b_.getInt64(UINT64_MAX)));
    case ir::Op::CellHas:
    case ir::Op::CellLoad:
    case ir::Op::CellLoadChecked: {
      if (in.imm < 0 || static_cast<size_t>(in.imm) >= m_.tables.size() ||
          in.aux >= m_.tables[static_cast<size_t>(in.imm)].columns.size())
        return fn_fail("names a missing table column");
      auto table = static_cast<uint32_t>(in.imm);
      Value* row = get(body, in.a);
      Value* valid = cell_valid(table, in.aux, row);
      if (in.op != ir::Op::CellHas) set_range(cell_range(table, in.aux));
      if (in.op == ir::Op::CellHas) return result(valid);
      if (in.op == ir::Op::CellLoadChecked) {
        fault_if(body, b_.CreateNot(valid), in.site);
        return result(cell_value(table, in.aux, row));
      }
      // Proven present by the verifier; the interpreter reads 0 otherwise.
      Value* v = cell_value(table, in.aux, row);
      return result(b_.CreateSelect(valid, v, Constant::getNullValue(v->getType())));
    }
    case ir::Op::IAdd:
    case ir::Op::ISub:
    case ir::Op::IMul:
    case ir::Op::INeg: {
      llvm::Intrinsic::ID id = in.op == ir::Op::IAdd   ? llvm::Intrinsic::sadd_with_overflow
                               : in.op == ir::Op::IMul ? llvm::Intrinsic::smul_with_overflow
                                                       : llvm::Intrinsic::ssub_with_overflow;
      Value* a = in.op == ir::Op::INeg ? b_.getInt64(0) : get(body, in.a);
      Value* b = in.op == ir::Op::INeg ? get(body, in.a) : get(body, in.b);
      if (a->getType() != i64_ || b->getType() != i64_) return fn_fail("operands are not 64-bit integers");
      auto ra = in.op == ir::Op::INeg ? std::optional<Range>(Range{0, 0}) : range_of(in.a);
      auto rb = range_of(in.op == ir::Op::INeg ? in.a : in.b);
      std::optional<Range> rr;
      if (ra && rb && exact_int(*ra) && exact_int(*rb))
        rr = combine(in.op == ir::Op::INeg ? ir::Op::ISub : in.op, *ra, *rb);
      if (rr && finite(*rr) && exact_int(*rr)) {  // cannot overflow
        set_range(rr);
        return result(in.op == ir::Op::IAdd   ? b_.CreateAdd(a, b)
                      : in.op == ir::Op::IMul ? b_.CreateMul(a, b)
                                              : b_.CreateSub(a, b));
      }
      Value* pair = b_.CreateBinaryIntrinsic(id, a, b);
      fault_if(body, b_.CreateExtractValue(pair, 1), in.site);
      return result(b_.CreateExtractValue(pair, 0));
    }
    case ir::Op::FAdd:
    case ir::Op::FSub:
    case ir::Op::FMul:
    case ir::Op::FDiv: {
      Value* a = get(body, in.a);
      Value* b = get(body, in.b);
      if (a->getType() != f64_ || b->getType() != f64_) return fn_fail("operands are not numbers");
      auto ra = range_of(in.a), rb = range_of(in.b);
      std::optional<Range> rr;
      if (ra && rb) rr = combine(in.op, *ra, *rb);
      Value* v = nullptr;
      switch (in.op) {
        case ir::Op::FAdd: v = b_.CreateFAdd(a, b); break;
        case ir::Op::FSub: v = b_.CreateFSub(a, b); break;
        case ir::Op::FMul: v = b_.CreateFMul(a, b); break;
        default:
          // Division by zero is its own fault, reported before a non-finite result.
          if (!(rb && (rb->lo > 0 || rb->hi < 0)))
            fault_if(body, b_.CreateFCmpOEQ(b, llvm::ConstantFP::get(f64_, 0.0)), in.site);
          v = b_.CreateFDiv(a, b);
      }
      if (rr && finite(*rr)) {  // finite operands, finite result: no fault possible
        set_range(rr);
        return result(v);
      }
      Value* magnitude = b_.CreateUnaryIntrinsic(llvm::Intrinsic::fabs, v);
      fault_if(body, b_.CreateFCmpUGE(magnitude, llvm::ConstantFP::getInfinity(f64_)), in.site);
      return result(v);
    }
    case ir::Op::FNeg: return result(b_.CreateFNeg(get(body, in.a)));
    case ir::Op::IToF: set_range(range_of(in.a)); return result(b_.CreateSIToFP(get(body, in.a), f64_));
    case ir::Op::ICmp: {
      Value* a = get(body, in.a);
      Value* b = get(body, in.b);
      if (a->getType() != b->getType() || !a->getType()->isIntegerTy())
        return fn_fail("operands differ in type");
      // Countries and bools are unsigned; ints, times and durations signed.
      bool is_signed = a->getType() == i64_;
      llvm::CmpInst::Predicate p = llvm::CmpInst::ICMP_EQ;
      switch (in.pred) {
        case ir::Pred::Eq: p = llvm::CmpInst::ICMP_EQ; break;
        case ir::Pred::Ne: p = llvm::CmpInst::ICMP_NE; break;
        case ir::Pred::Lt: p = is_signed ? llvm::CmpInst::ICMP_SLT : llvm::CmpInst::ICMP_ULT; break;
        case ir::Pred::Le: p = is_signed ? llvm::CmpInst::ICMP_SLE : llvm::CmpInst::ICMP_ULE; break;
        case ir::Pred::Gt: p = is_signed ? llvm::CmpInst::ICMP_SGT : llvm::CmpInst::ICMP_UGT; break;
        case ir::Pred::Ge: p = is_signed ? llvm::CmpInst::ICMP_SGE : llvm::CmpInst::ICMP_UGE; break;
      }
      return result(b_.CreateICmp(p, a, b));
    }
    case ir::Op::FCmp: {
      Value* a = get(body, in.a);
      Value* b = get(body, in.b);
      if (a->getType() != f64_ || b->getType() != f64_) return fn_fail("operands are not numbers");
      llvm::CmpInst::Predicate p = llvm::CmpInst::FCMP_OEQ;
      switch (in.pred) {
        case ir::Pred::Eq: p = llvm::CmpInst::FCMP_OEQ; break;
        case ir::Pred::Ne: p = llvm::CmpInst::FCMP_UNE; break;
        case ir::Pred::Lt: p = llvm::CmpInst::FCMP_OLT; break;
        case ir::Pred::Le: p = llvm::CmpInst::FCMP_OLE; break;
        case ir::Pred::Gt: p = llvm::CmpInst::FCMP_OGT; break;
        case ir::Pred::Ge: p = llvm::CmpInst::FCMP_OGE; break;
      }
      return result(b_.CreateFCmp(p, a, b));
    }
    case ir::Op::SCmp: {
      Value* a = get(body, in.a);
      Value* b = get(body, in.b);
      if (a->getType() != i32_ || b->getType() != i32_) return fn_fail("operands are not strings");
      if (in.pred == ir::Pred::Eq) return result(b_.CreateICmpEQ(a, b));
      if (in.pred == ir::Pred::Ne) return result(b_.CreateICmpNE(a, b));
      Value* c = call_helper(body, helper("edict_str_compare", true, i32_, 2), {strings_, a, b});
      Value* zero = b_.getInt32(0);
      switch (in.pred) {
        case ir::Pred::Lt: return result(b_.CreateICmpSLT(c, zero));
        case ir::Pred::Le: return result(b_.CreateICmpSLE(c, zero));
        case ir::Pred::Gt: return result(b_.CreateICmpSGT(c, zero));
        default: return result(b_.CreateICmpSGE(c, zero));
      }
    }
    case ir::Op::Not: return result(b_.CreateNot(get(body, in.a)));
    case ir::Op::Call: {
      const ir::BuiltinInfo& bi = ir::builtin_info(in.builtin);
      if (bi.arity == 0) return fn_fail("names an unknown builtin");
      llvm::SmallVector<Value*, 3> args{strings_, get(body, in.a)};
      if (bi.arity == 2) args.push_back(get(body, in.b));
      for (size_t i = 1; i < args.size(); ++i)
        if (args[i]->getType() != i32_) return fn_fail("arguments are not strings");
      switch (in.builtin) {
        case ir::Builtin::StartsWith:
        case ir::Builtin::EndsWith:
        case ir::Builtin::Contains:
          return result(
              b_.CreateICmpNE(call_helper(body, helper(bi.symbol, true, i32_, 2), args), b_.getInt32(0)));
        case ir::Builtin::Lower:
        case ir::Builtin::Upper: return result(call_helper(body, helper(bi.symbol, false, i32_, 1), args));
        case ir::Builtin::Len: return result(call_helper(body, helper(bi.symbol, true, i64_, 1), args));
      }
      return fn_fail("names an unknown builtin");
    }
    case ir::Op::EmitText:
    case ir::Op::EmitValue: return fn_fail("appears in a fires function");
    case ir::Op::Jmp:
    case ir::Op::Br: {
      for (int i = 0; i < (in.op == ir::Op::Br ? 2 : 1); ++i)
        if (in.target[i] >= f.blocks.size()) return fn_fail("targets a missing block");
      Value* c = in.op == ir::Op::Br ? get(body, in.a) : nullptr;
      if (c && c->getType() != i1_) return fn_fail("condition is not a bool");
      if (body.predicated) {
        if (!c) return reach(body, in.target[0], body.alive);
        reach(body, in.target[0], both(body.alive, c));
        return reach(body, in.target[1], both(body.alive, b_.CreateNot(c)));
      }
      if (!body.blocks[in.target[0]] || (c && !body.blocks[in.target[1]]))
        return fn_fail("targets a missing block");
      if (!c)
        b_.CreateBr(body.blocks[in.target[0]]);
      else
        b_.CreateCondBr(c, body.blocks[in.target[0]], body.blocks[in.target[1]]);
      return;
    }
    case ir::Op::Ret:
      if (f.kind == ir::FunctionKind::Value) {
        if (body.rule >= 0 || !body.out_value) return fn_fail("returns a value where none is expected");
        Value* bits = in.a == ir::kNoReg ? b_.getInt64(0) : to_bits(get(body, in.a));
        if (body.predicated) bits = pick(body.alive, bits, b_.CreateLoad(i64_, body.out_value));
        b_.CreateStore(bits, body.out_value);
        if (!body.predicated) b_.CreateBr(body.fired);
        return;
      }
      if (body.predicated) {
        if (in.imm) body.fires = either(body.fires, body.alive);
        return;
      }
      b_.CreateBr(in.imm ? body.fired : body.next);
      return;
    case ir::Op::Fault:
      if (body.predicated) return fault_if(body, b_.getTrue(), in.site);
      if (in.site != ir::kNoSite && in.site >= m_.fault_sites.size())
        return fn_fail("has a fault site out of range");
      b_.CreateBr(fault_block(body, in.site));
      return;
  }
  fn_fail("is not supported");
}

Value* Generator::widen_key(ir::Ty t, Value* v) {
  // Str, country and bool values are unsigned; int, time and dur signed.
  if (t == ir::Ty::Str || t == ir::Ty::Country || t == ir::Ty::Bool) return b_.CreateZExt(v, i64_);
  return v;
}

// ---- sets and tables -----------------------------------------------------------

Value* Generator::set_contains(uint32_t index, Value* v) {
  const ir::Set& set = m_.sets[index];
  if (v->getType() != reg_type(set.elem)) {
    fail("set `" + set.name + "` tested with a value of another type");
    return b_.getFalse();
  }
  const std::string name = "set." + set.name;
  if (set.elem == ir::Ty::Number) {
    if (set.members.empty()) return b_.getFalse();
    if (set.members.size() <= kMaxCompareChain) {
      Value* any = b_.getFalse();
      for (const ir::Scalar& s : set.members)
        any = b_.CreateOr(any, b_.CreateFCmpOEQ(v, llvm::ConstantFP::get(f64_, s.f)));
      return any;
    }
    std::vector<double> sorted;
    for (const ir::Scalar& s : set.members) sorted.push_back(s.f);
    std::sort(sorted.begin(), sorted.end());
    std::vector<Constant*> values;
    for (double d : sorted) values.push_back(llvm::ConstantFP::get(f64_, d));
    auto* g = constant_array(f64_, values, name);
    Value* at = search_sorted(g, f64_, sorted.size(), v, true);
    return b_.CreateFCmpOEQ(load_elem(f64_, g, at, false), v);
  }
  if (Value* bit = class_bit(v, index)) return bit;
  if (auto it = country_class_bit_.find(index); it != country_class_bit_.end() && country_classes_) {
    // Entry kCountryIndexLimit is empty: every out-of-range value lands
    // there. A record's countries are valid indices (abi/abi.h).
    Value* key = b_.CreateZExt(v, i64_);
    Value* at =
        record_ ? key : b_.CreateBinaryIntrinsic(llvm::Intrinsic::umin, key, b_.getInt64(kCountryIndexLimit));
    Value* classes = load_elem(country_class_type_, country_classes_, at, false);
    Value* bit =
        b_.CreateAnd(classes, llvm::ConstantInt::get(country_class_type_, uint64_t{1} << it->second));
    return b_.CreateICmpNE(bit, llvm::ConstantInt::get(country_class_type_, 0));
  }
  std::vector<int64_t> members;
  for (const ir::Scalar& s : set.members) members.push_back(s.i);
  if (set.elem == ir::Ty::Str) {
    // A string that is not in the pool can never equal a member.
    std::erase_if(members,
                  [&](int64_t id) { return id < 0 || static_cast<uint64_t>(id) >= m_.strings.size(); });
  }
  if (set.elem == ir::Ty::Str && members.size() > kMaxCompareChain) {
    // Pool ids within 32 of each other: a bit test in the symbols' own
    // 32-bit lanes (a synthetic set over a table's keys is the usual case).
    auto [lo, hi] = std::minmax_element(members.begin(), members.end());
    const int64_t span = *hi - *lo;
    if (span < 32 && span + 1 != static_cast<int64_t>(members.size())) {
      uint32_t mask = 0;
      for (int64_t m : members) mask |= uint32_t{1} << (m - *lo);
      Value* offset = b_.CreateSub(v, b_.getInt32(static_cast<uint32_t>(*lo)));
      Value* in_range = b_.CreateICmpULE(offset, b_.getInt32(static_cast<uint32_t>(span)));
      Value* bits = b_.CreateLShr(b_.getInt32(mask), b_.CreateAnd(offset, b_.getInt32(31)));
      return b_.CreateAnd(in_range, b_.CreateTrunc(bits, i1_));
    }
  }
  return int_membership(widen_key(set.elem, v), std::move(members), name);
}

Value* Generator::class_bit(Value* v, uint32_t set) {
  auto from = loaded_from_.find(v);
  if (from == loaded_from_.end()) return nullptr;
  for (const ColumnMap::CountryClasses& c : map_.classes) {
    if (c.source != from->second || c.column < 0) continue;
    for (size_t j = 0; j < c.sets.size() && j < 8; ++j) {
      if (c.sets[j] != set) continue;
      Value* classes = load_elem(i8_, column_data(c.column), row_, true);
      return b_.CreateICmpNE(b_.CreateAnd(classes, b_.getInt8(static_cast<uint8_t>(1u << j))), b_.getInt8(0));
    }
  }
  return nullptr;
}

void Generator::plan_country_classes() {
  std::vector<uint32_t> used;
  for (const ir::Function& f : m_.functions) {
    if (f.kind != ir::FunctionKind::Fires) continue;
    for (const ir::Block& b : f.blocks)
      for (const ir::Inst& in : b.insts)
        if (in.op == ir::Op::SetContains && in.imm >= 0 && static_cast<size_t>(in.imm) < m_.sets.size() &&
            wants_table(m_.sets[static_cast<size_t>(in.imm)]))
          used.push_back(static_cast<uint32_t>(in.imm));
  }
  std::sort(used.begin(), used.end());
  used.erase(std::unique(used.begin(), used.end()), used.end());
  if (used.empty()) return;
  if (used.size() > 64) used.resize(64);  // the rest keep their own bitsets
  // Batch code has entries of at least 32 bits: the vectorised row loop
  // loads an entry per lane (AVX2 gathers are slower still) and combines
  // conditions in 32-bit lanes, so a 32-bit entry goes straight into its
  // lane while a byte needs a widening per column afterwards (measured: the
  // reference workload's loop is ~10% faster). Single-event code is scalar
  // and keeps the smallest table.
  const unsigned narrowest = options_.single_event ? 8 : 32;
  const unsigned bits = std::max(narrowest, used.size() <= 8    ? 8u
                                            : used.size() <= 16 ? 16u
                                            : used.size() <= 32 ? 32u
                                                                : 64u);
  country_class_type_ = llvm::IntegerType::get(ctx_, bits);
  std::vector<uint64_t> entries(kCountryIndexLimit + 1, 0);
  for (unsigned j = 0; j < used.size(); ++j) {
    country_class_bit_[used[j]] = j;
    for (const ir::Scalar& s : m_.sets[used[j]].members)
      if (s.i >= 0 && s.i < kCountryIndexLimit) entries[static_cast<size_t>(s.i)] |= uint64_t{1} << j;
  }
  std::vector<Constant*> values;
  for (uint64_t e : entries) values.push_back(llvm::ConstantInt::get(country_class_type_, e));
  country_classes_ = constant_array(country_class_type_, values, "country_classes");
}

Value* Generator::int_membership(Value* key, std::vector<int64_t> members, const std::string& name) {
  std::sort(members.begin(), members.end());
  members.erase(std::unique(members.begin(), members.end()), members.end());
  if (members.empty()) return b_.getFalse();
  if (members.size() <= kMaxCompareChain) {
    Value* any = b_.getFalse();
    for (int64_t m : members)
      any = b_.CreateOr(any, b_.CreateICmpEQ(key, b_.getInt64(static_cast<uint64_t>(m))));
    return any;
  }
  const uint64_t lo = static_cast<uint64_t>(members.front());
  const uint64_t span = static_cast<uint64_t>(members.back()) - lo;  // wraps correctly for signed order
  Value* offset = b_.CreateSub(key, b_.getInt64(lo));
  Value* in_range = b_.CreateICmpULE(offset, b_.getInt64(span));
  if (span == members.size() - 1) return in_range;  // consecutive members
  if (span < kMaxDenseSpan) {
    std::vector<uint64_t> words(span / 64 + 1, 0);
    for (int64_t m : members) {
      uint64_t o = static_cast<uint64_t>(m) - lo;
      words[o / 64] |= uint64_t{1} << (o % 64);
    }
    std::vector<Constant*> values;
    for (uint64_t w : words) values.push_back(b_.getInt64(w));
    auto* g = constant_array(i64_, values, name);
    Value* word_index = b_.CreateBinaryIntrinsic(llvm::Intrinsic::umin, b_.CreateLShr(offset, 6),
                                                 b_.getInt64(words.size() - 1));
    Value* word = load_elem(i64_, g, word_index, false);
    Value* bit = b_.CreateTrunc(b_.CreateLShr(word, b_.CreateAnd(offset, b_.getInt64(63))), i1_);
    return b_.CreateAnd(in_range, bit);
  }
  std::vector<Constant*> values;
  for (int64_t m : members) values.push_back(b_.getInt64(static_cast<uint64_t>(m)));
  auto* g = constant_array(i64_, values, name);
  Value* at = search_sorted(g, i64_, members.size(), key, false);
  return b_.CreateICmpEQ(load_elem(i64_, g, at, false), key);
}

// The index of the last element <= key (0 when none is): an unrolled,
// branch-free binary search, log2(n) loads and selects.
Value* Generator::search_sorted(llvm::GlobalVariable* keys, llvm::Type* elem, size_t n, Value* key,
                                bool is_float) {
  Value* base = b_.getInt64(0);
  size_t len = n;
  while (len > 1) {
    size_t half = len / 2;
    Value* probe_at = b_.CreateAdd(base, b_.getInt64(half), "", true, true);
    Value* probe = load_elem(elem, keys, probe_at, false);
    Value* le = is_float ? b_.CreateFCmpOLE(probe, key) : b_.CreateICmpSLE(probe, key);
    base = b_.CreateSelect(le, probe_at, base);
    len -= half;
  }
  return base;
}

Value* Generator::table_find(uint32_t index, Value* key) {
  const ir::Table& table = m_.tables[index];
  if (key->getType() != reg_type(table.key)) {
    fail("table `" + table.name + "` searched with a key of another type");
    return b_.getInt64(UINT64_MAX);
  }
  const size_t n = table.rows();
  Value* none = b_.getInt64(UINT64_MAX);
  if (n == 0) return none;
  const std::string name = "table." + table.name;
  if (table.key == ir::Ty::Number) {
    std::vector<std::pair<double, int64_t>> sorted;
    for (size_t r = 0; r < n; ++r) sorted.emplace_back(table.keys[r].f, static_cast<int64_t>(r));
    std::sort(sorted.begin(), sorted.end());
    std::vector<Constant*> keys, rows;
    for (auto& [k, r] : sorted) {
      keys.push_back(llvm::ConstantFP::get(f64_, k));
      rows.push_back(b_.getInt32(static_cast<uint32_t>(r)));
    }
    auto* kg = constant_array(f64_, keys, name + ".keys");
    auto* rg = constant_array(i32_, rows, name + ".rows");
    Value* at = search_sorted(kg, f64_, n, key, true);
    Value* found = b_.CreateFCmpOEQ(load_elem(f64_, kg, at, false), key);
    return b_.CreateSelect(found, b_.CreateSExt(load_elem(i32_, rg, at, false), i64_), none);
  }
  std::vector<std::pair<int64_t, int64_t>> sorted;
  for (size_t r = 0; r < n; ++r) {
    int64_t k = table.keys[r].i;
    // Out-of-pool string keys cannot match any event string's symbol.
    if (table.key == ir::Ty::Str && (k < 0 || static_cast<uint64_t>(k) >= m_.strings.size())) continue;
    sorted.emplace_back(k, static_cast<int64_t>(r));
  }
  if (sorted.empty()) return none;
  std::sort(sorted.begin(), sorted.end());
  Value* wide = widen_key(table.key, key);
  const uint64_t lo = static_cast<uint64_t>(sorted.front().first);
  const uint64_t span = static_cast<uint64_t>(sorted.back().first) - lo;
  Value* offset = b_.CreateSub(wide, b_.getInt64(lo));
  Value* in_range = b_.CreateICmpULE(offset, b_.getInt64(span));
  bool identity = span == sorted.size() - 1;
  for (size_t i = 0; identity && i < sorted.size(); ++i)
    identity = sorted[i].second == static_cast<int64_t>(i);
  if (identity) return b_.CreateSelect(in_range, offset, none);  // row r has key min + r
  if (span < kMaxDenseSpan && span <= 16 * sorted.size() + 64) {
    // Dense: (key - min) indexes an array of rows, -1 in the gaps.
    std::vector<Constant*> slots(span + 1, b_.getInt32(UINT32_MAX));
    for (auto& [k, r] : sorted) slots[static_cast<uint64_t>(k) - lo] = b_.getInt32(static_cast<uint32_t>(r));
    auto* g = constant_array(i32_, slots, name + ".rows");
    Value* at = b_.CreateBinaryIntrinsic(llvm::Intrinsic::umin, offset, b_.getInt64(span));
    return b_.CreateSelect(in_range, b_.CreateSExt(load_elem(i32_, g, at, false), i64_), none);
  }
  std::vector<Constant*> keys, rows;
  for (auto& [k, r] : sorted) {
    keys.push_back(b_.getInt64(static_cast<uint64_t>(k)));
    rows.push_back(b_.getInt32(static_cast<uint32_t>(r)));
  }
  auto* kg = constant_array(i64_, keys, name + ".keys");
  auto* rg = constant_array(i32_, rows, name + ".rows");
  Value* at = search_sorted(kg, i64_, sorted.size(), wide, false);
  Value* found = b_.CreateICmpEQ(load_elem(i64_, kg, at, false), wide);
  return b_.CreateSelect(found, b_.CreateSExt(load_elem(i32_, rg, at, false), i64_), none);
}

std::optional<Range> Generator::cell_range(uint32_t table_index, uint32_t column) const {
  const ir::Column& col = m_.tables[table_index].columns[column];
  if (col.type != ir::Ty::Number && col.type != ir::Ty::Int) return std::nullopt;
  std::optional<Range> r;
  for (size_t i = 0; i < col.cells.size(); ++i) {
    if (col.optional && (i >= col.present.size() || !col.present[i])) continue;
    double v = col.type == ir::Ty::Number ? col.cells[i].f : static_cast<double>(col.cells[i].i);
    if (!std::isfinite(v) || (col.type == ir::Ty::Int && std::fabs(v) > kExactInt)) return std::nullopt;
    r = r ? Range{std::min(r->lo, v), std::max(r->hi, v)} : Range{v, v};
  }
  return r;
}

Value* Generator::cell_valid(uint32_t table_index, uint32_t column, Value* row) {
  const ir::Table& table = m_.tables[table_index];
  const ir::Column& col = table.columns[column];
  if (row->getType() != i64_) {
    fail("table `" + table.name + "` read with a row of another type");
    return b_.getFalse();
  }
  // Unsigned: -1 (no such row) is out of range too.
  Value* valid = b_.CreateICmpULT(row, b_.getInt64(table.rows()));
  if (table.rows() == 0 || !col.optional) return valid;
  bool all_present = std::all_of(col.present.begin(), col.present.end(), [](uint8_t p) { return p != 0; });
  if (all_present && col.present.size() == table.rows()) return valid;
  auto key = std::make_pair(table_index, column);
  llvm::GlobalVariable*& g = cell_present_globals_[key];
  if (!g) {
    std::vector<Constant*> values;
    for (size_t r = 0; r < table.rows(); ++r)
      values.push_back(b_.getInt8(r < col.present.size() && col.present[r] ? 1 : 0));
    g = constant_array(i8_, values, "table." + table.name + "." + col.name + ".present");
  }
  Value* at = b_.CreateBinaryIntrinsic(llvm::Intrinsic::umin, row, b_.getInt64(table.rows() - 1));
  return b_.CreateAnd(valid, b_.CreateICmpNE(load_elem(i8_, g, at, false), b_.getInt8(0)));
}

Value* Generator::cell_value(uint32_t table_index, uint32_t column, Value* row) {
  const ir::Table& table = m_.tables[table_index];
  const ir::Column& col = table.columns[column];
  if (!ir::is_scalar(col.type)) {
    fail("table `" + table.name + "` has a column of a non-scalar type");
    return b_.getInt64(0);
  }
  if (table.rows() == 0) return llvm::Constant::getNullValue(reg_type(col.type));
  auto key = std::make_pair(table_index, column);
  llvm::GlobalVariable*& g = cell_globals_[key];
  llvm::Type* elem = storage_type(col.type);
  if (!g) {
    std::vector<Constant*> values;
    for (size_t r = 0; r < table.rows(); ++r)
      values.push_back(r < col.cells.size() ? scalar_constant(col.type, col.cells[r], true)
                                            : llvm::Constant::getNullValue(elem));
    g = constant_array(elem, values, "table." + table.name + "." + col.name);
  }
  // Clamped so that even an unproven row never reads out of bounds.
  Value* at = b_.CreateBinaryIntrinsic(llvm::Intrinsic::umin, row, b_.getInt64(table.rows() - 1));
  return from_storage(col.type, load_elem(elem, g, at, false));
}

}  // namespace

std::vector<ColumnMap::CountryClasses> plan_country_classes(const ir::Module& module,
                                                            const std::vector<std::vector<int>>& column) {
  std::map<int, std::vector<uint32_t>> sets_of;  // batch column -> sets
  for (const ir::Function& f : module.functions) {
    if (f.kind == ir::FunctionKind::Message || f.event < 0 || static_cast<size_t>(f.event) >= column.size())
      continue;
    const std::vector<int>& columns = column[static_cast<size_t>(f.event)];
    // The instruction defining each register assigned once.
    std::vector<const ir::Inst*> def(f.regs.size(), nullptr);
    std::vector<uint32_t> assigned(f.regs.size(), 0);
    for (const ir::Block& b : f.blocks)
      for (const ir::Inst& in : b.insts)
        if (ir::op_info(in.op).has_result && in.dst < f.regs.size() && ++assigned[in.dst] == 1)
          def[in.dst] = &in;
    auto source = [&](ir::Reg r) -> const ir::Inst* {
      for (int hops = 0; hops < 8 && r < def.size() && assigned[r] == 1; ++hops) {
        const ir::Inst* d = def[r];
        if (d->op != ir::Op::Copy) return d;
        r = d->a;
      }
      return nullptr;
    };
    for (const ir::Block& b : f.blocks)
      for (const ir::Inst& in : b.insts) {
        if (in.op != ir::Op::SetContains || in.imm < 0 || static_cast<size_t>(in.imm) >= module.sets.size() ||
            !wants_table(module.sets[static_cast<size_t>(in.imm)]))
          continue;
        const ir::Inst* d = source(in.a);
        if (!d || (d->op != ir::Op::Load && d->op != ir::Op::LoadChecked) || d->imm < 0 ||
            static_cast<size_t>(d->imm) >= columns.size() || columns[static_cast<size_t>(d->imm)] < 0)
          continue;
        sets_of[columns[static_cast<size_t>(d->imm)]].push_back(static_cast<uint32_t>(in.imm));
      }
  }
  std::vector<ColumnMap::CountryClasses> out;
  for (auto& [source, sets] : sets_of) {
    std::sort(sets.begin(), sets.end());
    sets.erase(std::unique(sets.begin(), sets.end()), sets.end());
    if (sets.size() > 8) sets.resize(8);  // a byte's worth; the rest keep their table
    out.push_back({source, -1, std::move(sets)});
  }
  return out;
}

std::vector<ir::FuncId> aggregate_input_functions(const ir::Module& module) {
  std::vector<ir::FuncId> out;
  for (const ir::Aggregate& a : module.aggregates)
    for (const ir::AggregateInput& in : a.inputs)
      for (ir::FuncId f : {in.key, in.filter, in.operand})
        if (f != ir::kNoFunc) out.push_back(f);
  return out;
}

std::unique_ptr<llvm::Module> generate(const ir::Module& module, const ColumnMap& columns,
                                       llvm::LLVMContext& context, const CodegenOptions& options,
                                       std::string* error) {
  std::string ignored;
  if (!error) error = &ignored;
  Generator g(module, columns, context, options);
  return g.run(error);
}

void optimize(llvm::Module& module, OptLevel level, llvm::TargetMachine* target) {
  if (level == OptLevel::O0) return;
  llvm::LoopAnalysisManager lam;
  llvm::FunctionAnalysisManager fam;
  llvm::CGSCCAnalysisManager cgam;
  llvm::ModuleAnalysisManager mam;
  llvm::PipelineTuningOptions tuning;
  tuning.LoopVectorization = true;
  // The row loop is vectorised whole; SLP would only revisit its scalar
  // remainder, and unrolling only grows that remainder: compile time spent
  // on code that runs for fewer than one vector of rows per batch.
  tuning.SLPVectorization = false;
  tuning.LoopUnrolling = false;
  llvm::PassBuilder pb(target, tuning);
  pb.registerModuleAnalyses(mam);
  pb.registerCGSCCAnalyses(cgam);
  pb.registerFunctionAnalyses(fam);
  pb.registerLoopAnalyses(lam);
  pb.crossRegisterProxies(lam, fam, cgam, mam);
  llvm::ModulePassManager mpm = pb.buildPerModuleDefaultPipeline(llvm::OptimizationLevel::O2);
  mpm.run(module, mam);
}

std::string print_llvm(const llvm::Module& module) {
  std::string text;
  llvm::raw_string_ostream os(text);
  module.print(os, nullptr);
  os.flush();
  return text;
}

}  // namespace edict::codegen
