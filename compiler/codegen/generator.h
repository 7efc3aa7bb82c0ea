// The code generator's emitter, shared by its translation units: values,
// instructions and function bodies (inst.cpp, body.cpp), sets and tables
// (lookup.cpp), rules and their row state (rules.cpp), the batch function
// and its row loop (batch.cpp), record functions (record.cpp) and aggregate
// inputs (inputs.cpp). Decisions taken from the IR alone are in plan.h. Not
// part of the stage's contract; see codegen.h.
#pragma once

#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Module.h>

#include <cmath>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "compiler/codegen/codegen.h"
#include "compiler/codegen/plan.h"

namespace edict::codegen::detail {

using llvm::BasicBlock;
using llvm::Constant;
using llvm::Value;

// Fires functions up to this many instructions are if-converted: evaluating
// both arms of a few branches costs less than one mispredicted branch.
constexpr size_t kMaxPredicatedFunction = 256;
// Decision byte of a row no rule has decided yet, between group passes.
constexpr uint8_t kUndecided = 0xFD;

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

inline bool finite(const Range& r) {
  return std::isfinite(r.lo) && std::isfinite(r.hi);
}
inline bool exact_int(const Range& r) {
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
    std::vector<BasicBlock*> blocks;            // per IR block; null when unreachable
    BasicBlock* fired = nullptr;                // `ret true`
    BasicBlock* next = nullptr;                 // after the rule (`ret false` and faults end here)
    BasicBlock* fault = nullptr;                // created on the first fault edge
    llvm::PHINode* fault_phi = nullptr;         // the fault's site (i32)
    llvm::PHINode* fault_reason_phi = nullptr;  // and its ir::FaultReason (i8)
    // If-converted form: the predicate of the instruction being emitted
    // (its block is executed and nothing before it in the block faulted),
    // the predicate of entering each block, and the function's outcome.
    Value* alive = nullptr;
    std::vector<Value*> reach;
    Value* fires = nullptr;    // i1
    Value* faulted = nullptr;  // i1
    Value* site = nullptr;     // i32; only meaningful when faulted
    Value* reason = nullptr;   // i8 ir::FaultReason; only meaningful when faulted
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
        *fault_site_ = nullptr, *fault_reason_ = nullptr;
  Value* row_ = nullptr;     // i64 row index
  Value* record_ = nullptr;  // a record function's event record (EdictEvalRecordFn); null in batch functions
  std::map<int, Value*> data_ptr_;                              // batch column -> element array
  std::map<int, Value*> present_ptr_;                           // batch column -> presence bytes
  std::map<Constant*, llvm::GlobalVariable*> constant_arrays_;  // by contents

  // Per-row state, promoted to registers by mem2reg.
  std::vector<llvm::AllocaInst*> fired_words_;
  llvm::AllocaInst *row_faulted_ = nullptr, *row_fault_rule_ = nullptr, *row_fault_site_ = nullptr,
                   *row_fault_reason_ = nullptr, *best_ = nullptr;
  // After a fused loop: whether any row of the batch faulted.
  llvm::AllocaInst* batch_faulted_ = nullptr;
  // How a fused loop packs a row's fault site and reason into one word.
  static constexpr unsigned kPackedReasonShift = 24;
  static constexpr uint32_t kPackedSiteMask = (1u << kPackedReasonShift) - 1;
  // Fused loops derive the decision from the fired words once per row (a
  // few masks) instead of tracking the strongest effect rule by rule.
  bool effects_from_fired_ = false;
  llvm::IntegerType* fired_ty_ = nullptr;  // of the fired-word state
  // Whether any rule of the loop being emitted can fault: when none can,
  // rows keep their fault outputs without a read-modify-write.
  bool loop_may_fault_ = false;

  AliasScopes scopes_;

  std::map<std::pair<uint32_t, uint32_t>, llvm::GlobalVariable*> cell_globals_, cell_present_globals_;

  // The country set table (plan_country_set_table) as a constant global.
  std::map<uint32_t, unsigned> country_class_bit_;  // set index -> bit
  llvm::GlobalVariable* country_classes_ = nullptr;
  llvm::IntegerType* country_class_type_ = nullptr;
  void make_country_set_table();
  // Batch code: the batch column each country value loaded for the current
  // row came from, so that a set test on it can read the column's class
  // byte (ColumnMap::classes) instead.
  std::map<Value*, int> loaded_from_;
  Value* class_bit(Value* v, uint32_t set);

  // ---- types and values (inst.cpp) ---------------------------------------

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
  Constant* scalar_constant(ir::Ty t, const ir::Scalar& s, bool storage);
  llvm::GlobalVariable* constant_array(llvm::Type* elem, llvm::ArrayRef<Constant*> values,
                                       const std::string& name);
  Value* load_elem(llvm::Type* elem, Value* base, Value* index, bool input);
  void tag_input(llvm::Instruction* i) {
    i->setMetadata(llvm::LLVMContext::MD_alias_scope, scopes_.scope_in);
    i->setMetadata(llvm::LLVMContext::MD_noalias, scopes_.noalias_in);
  }
  void tag_output(llvm::Instruction* i, Out which) {
    i->setMetadata(llvm::LLVMContext::MD_alias_scope, scopes_.scope_out[which]);
    i->setMetadata(llvm::LLVMContext::MD_noalias, scopes_.noalias_out[which]);
  }
  llvm::AllocaInst* make_alloca(llvm::Type* t, const std::string& name) {
    llvm::IRBuilder<> ab(entry_->getTerminator());
    return ab.CreateAlloca(t, nullptr, name);
  }
  Value* poison(ir::Ty t) { return llvm::PoisonValue::get(reg_type(t)); }
  // struct EdictResults (abi/abi.h); natural alignment gives the C layout:
  // fired, fired_words, decision, fault_rule, fault_site, fault_reason.
  llvm::StructType* results_type() const {
    return llvm::StructType::get(ctx_, {ptr_, i32_, ptr_, ptr_, ptr_, ptr_});
  }

  // Boolean connectives for predicates. Selects rather than and/or: a value
  // computed on a path not taken must never make a predicate poison.
  static bool is_true(Value* v) {
    return llvm::isa<llvm::ConstantInt>(v) && llvm::cast<llvm::ConstantInt>(v)->isOne();
  }
  static bool is_false(Value* v) {
    return llvm::isa<llvm::ConstantInt>(v) && llvm::cast<llvm::ConstantInt>(v)->isZero();
  }
  Value* both(Value* a, Value* b);
  Value* either(Value* a, Value* b);
  Value* pick(Value* cond, Value* a, Value* b);

  // ---- event fields (body.cpp) --------------------------------------------

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
  std::vector<int> presence_columns();

  // ---- function bodies (body.cpp) -----------------------------------------

  bool prepare_body(Body& body);
  void emit_branching(Body& body, Value* active);
  void emit_predicated(Body& body, Value* active);
  Value* get(Body& body, ir::Reg r);
  void set(Body& body, ir::Reg r, Value* v);
  // The rule's fault exit (branching form), recording `site` and `reason`
  // for an edge from the current block.
  BasicBlock* fault_block(Body& body, uint32_t site, ir::FaultReason reason);
  // The function faults with `reason` at `site` where `cond` holds. The
  // reason is given where the fault happens, not derived from the site:
  // fdiv has two (division_by_zero, non_finite) at one site.
  void fault_if(Body& body, Value* cond, uint32_t site, ir::FaultReason reason);
  void reach(Body& body, ir::BlockId target, Value* pred);

  // ---- instructions (inst.cpp) --------------------------------------------

  void emit_inst(Body& body, const ir::Inst& in);
  void emit_const(Body& body, const ir::Inst& in);
  void emit_field(Body& body, const ir::Inst& in);  // load, load.checked, has
  void emit_cell(Body& body, const ir::Inst& in);   // cell.has, cell.load, cell.load.checked
  // The same on a data table (ir.h, REFERENCE DATA): calls of the helpers
  // the interpreter calls, with the table's slot as a constant address.
  void emit_data_find(Body& body, const ir::Inst& in);
  void emit_data_cell(Body& body, const ir::Inst& in);
  Value* data_slot(uint32_t table);  // the DataSlot's address (a constant, or the AOT slot symbol)
  // Batch row loops: the lookups plan_hoisted_finds found, made for every
  // row ahead of the loop (edict_data_find_rows), as arrays the loop reads.
  std::map<HoistedFind, Value*> hoisted_rows_;
  uint32_t lookup_sites_ = 0;  // Batch::scratch_rows sites given out so far
  void emit_hoisted_finds(const RuleGroup& group);
  Value* from_bits(ir::Ty t, Value* bits);  // 64 IR bits as a register of type t (to_bits's inverse)
  void emit_int_arith(Body& body, const ir::Inst& in);
  void emit_float_arith(Body& body, const ir::Inst& in);
  void emit_compare(Body& body, const ir::Inst& in);  // icmp, fcmp, scmp
  void emit_call(Body& body, const ir::Inst& in);
  void emit_jump(Body& body, const ir::Inst& in);  // jmp, br
  void emit_ret(Body& body, const ir::Inst& in);
  void emit_fault(Body& body, const ir::Inst& in);
  // An internal-error line naming the function and the instruction.
  void inst_fail(const Body& body, const ir::Inst& in, const std::string& what);
  // The known range of a register (see Range), and recording the result's.
  std::optional<Range> range_of(const Body& body, ir::Reg r) const;
  void set_range(Body& body, const ir::Inst& in, std::optional<Range> r);
  llvm::FunctionCallee helper(const char* name, bool pure, llvm::Type* result, unsigned string_args);
  Value* call_helper(Body& body, llvm::FunctionCallee callee, llvm::ArrayRef<Value*> args);

  // ---- sets and tables (lookup.cpp) ---------------------------------------

  Value* set_contains(uint32_t set, Value* v);
  Value* int_membership(Value* key, std::vector<int64_t> members, const std::string& name);
  Value* table_find(uint32_t table, Value* key);
  // The range of a numeric table column's present cells.
  std::optional<Range> cell_range(uint32_t table, uint32_t column) const;
  Value* search_sorted(llvm::GlobalVariable* keys, llvm::Type* elem, size_t n, Value* key, bool is_float);
  Value* cell_valid(uint32_t table, uint32_t column, Value* row);
  Value* cell_value(uint32_t table, uint32_t column, Value* row);
  Value* widen_key(ir::Ty t, Value* v);

  // ---- rules and the row state (rules.cpp) --------------------------------

  // The per-row fault and effect state of a row loop or record function,
  // before any rule that could fault is emitted.
  void make_row_state();
  void emit_kind(int event, Value* kind_active, const RuleGroup& group);
  Value* window(const ir::Rule& rule, Value* time);
  void emit_rule(int rule_index, const ir::RuleBody& body, int event, Value* active);
  // `site` (i32) and `reason` (i8) matter only where `faulted` holds.
  void record_outcome(int rule_index, Value* fired, Value* faulted, Value* site, Value* reason);
  void record_fault(int rule_index, Value* faulted, Value* site, Value* reason);
  // The decision byte of a row's fired rules (i8): the strongest effect
  // among them, from its fired words, or the default outcome.
  Value* strongest_effect(const RuleGroup& group);

  // ---- the batch function (batch.cpp) -------------------------------------

  void emit_function();
  // Returns the block after the prologue; `rule_results`: the second
  // argument is an EdictResults.
  BasicBlock* begin_function(llvm::Function* fn, bool rule_results = true);
  // A loop over every row from the current block to `exit`; `body` emits
  // one row's work at row_.
  llvm::BranchInst* simple_row_loop(BasicBlock* exit, const char* name, const std::function<void()>& body);
  void emit_fail_closed(BasicBlock* from, BasicBlock* exit);
  void emit_unpack_faults(BasicBlock* from, BasicBlock* exit);
  void keep_scalar(llvm::BranchInst* back_edge);
  void emit_group_passes(llvm::Function* main, BasicBlock* evaluate, BasicBlock* exit,
                         const std::vector<RuleGroup>& groups);
  llvm::Function* emit_group_function(const RuleGroup& group, size_t index);
  void emit_row_loop(BasicBlock* from, BasicBlock* exit, const RuleGroup& group, bool fused);
  // The row state before the group's rules: cleared in a fused loop, read
  // back from the results between group passes. Returns the decision byte
  // so far (group passes) or null.
  Value* load_row_state(bool fused, Value* decision_at, const std::function<Value*(size_t)>& fired_at);
  void store_row_results(const RuleGroup& group, bool fused, Value* kind, Value* code_before,
                         Value* decision_at, const std::function<Value*(size_t)>& fired_at);

  // ---- record functions (record.cpp) --------------------------------------

  void emit_record_function(int event);

  // ---- aggregate inputs (inputs.cpp) --------------------------------------

  void emit_inputs_function();
  void emit_input(ir::FuncId id, Value* active, Value* values, Value* sites);
  void finish_input(Body& body);
  Value* to_bits(Value* v);
};

}  // namespace edict::codegen::detail
