// ir::Module -> llvm::Module: one batch function whose row loop dispatches on
// the row's kind and runs every applicable rule's fires function inline.
// Registers assigned once become SSA values; merge registers become allocas
// that mem2reg turns into phis. Sets and tables become constant globals.
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
#include <limits>
#include <map>

#include "compiler/support/countries.h"
#include "runtime/abi.h"

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

class Generator {
 public:
  Generator(const ir::Module& m, const ColumnMap& map, llvm::LLVMContext& ctx, const CodegenOptions& options)
      : m_(m), map_(map), ctx_(ctx), options_(options), b_(ctx) {}

  std::unique_ptr<llvm::Module> run(std::string* error);

 private:
  // The state of one fires function being inlined into the row loop.
  struct Body {
    const ir::Function* f = nullptr;
    int rule = -1;
    int event = -1;
    std::vector<Value*> ssa;               // registers assigned once
    std::vector<llvm::AllocaInst*> slots;  // registers assigned more than once
    std::vector<BasicBlock*> blocks;       // per IR block; null when unreachable
    BasicBlock* fired = nullptr;           // `ret true`
    BasicBlock* next = nullptr;            // after the rule (`ret false` and faults end here)
    BasicBlock* fault = nullptr;           // created on the first fault edge
    llvm::PHINode* fault_site = nullptr;
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

  llvm::Function* fn_ = nullptr;
  BasicBlock* entry_ = nullptr;     // allocas only
  BasicBlock* prologue_ = nullptr;  // loop-invariant loads of column pointers
  Value* data_array_ = nullptr;
  Value* present_array_ = nullptr;
  Value* kinds_ = nullptr;
  Value* strings_ = nullptr;
  Value* row_ = nullptr;  // i64 row index
  std::map<int, Value*> data_ptr_;                         // batch column -> element array
  std::map<int, std::pair<Value*, Value*>> present_ptr_;  // batch column -> (bytes, is null)
  llvm::GlobalVariable* one_byte_ = nullptr;

  // Per-row state.
  std::vector<llvm::AllocaInst*> fired_words_;
  llvm::AllocaInst *faulted_ = nullptr, *fault_rule_ = nullptr, *fault_site_ = nullptr, *best_ = nullptr;

  // Alias scopes: inputs never overlap results, results never overlap each other.
  llvm::MDNode *scope_in_ = nullptr, *noalias_in_ = nullptr;
  enum Out { kOutDecision, kOutFaultRule, kOutFaultSite, kOutFired, kOutCount };
  llvm::MDNode* scope_out_[kOutCount] = {};
  llvm::MDNode* noalias_out_[kOutCount] = {};

  std::map<std::pair<uint32_t, uint32_t>, llvm::GlobalVariable*> cell_globals_, cell_present_globals_;

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

  Value* from_storage(ir::Ty t, Value* v) { return t == ir::Ty::Bool ? b_.CreateICmpNE(v, b_.getInt8(0)) : v; }

  Constant* scalar_constant(ir::Ty t, const ir::Scalar& s, bool storage) {
    switch (t) {
      case ir::Ty::Bool: return storage ? b_.getInt8(s.i != 0) : b_.getInt1(s.i != 0);
      case ir::Ty::Number: return llvm::ConstantFP::get(f64_, s.f);
      case ir::Ty::Str: return b_.getInt32(static_cast<uint32_t>(s.i));
      case ir::Ty::Country: return b_.getInt16(static_cast<uint16_t>(s.i));
      default: return b_.getInt64(static_cast<uint64_t>(s.i));
    }
  }

  llvm::GlobalVariable* constant_array(llvm::Type* elem, llvm::ArrayRef<Constant*> values, const std::string& name) {
    auto* type = llvm::ArrayType::get(elem, values.size());
    auto* g = new llvm::GlobalVariable(*mod_, type, /*isConstant=*/true, llvm::GlobalValue::PrivateLinkage,
                                       llvm::ConstantArray::get(type, values), name);
    g->setUnnamedAddr(llvm::GlobalValue::UnnamedAddr::Global);
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

  void setup_alias_scopes();
  Value* column_data(int column);
  Value* column_present(int column);  // i1 for the current row
  int batch_column(int event, int64_t field);

  // ---- the function ------------------------------------------------------
  void emit_function();
  void emit_kind(int event, BasicBlock* done);
  void emit_rule(int rule_index, const ir::RuleBody& body, int event, Value* time);
  void emit_body(Body& body);
  void emit_inst(Body& body, const ir::Inst& in);

  Value* get(Body& body, ir::Reg r);
  void set(Body& body, ir::Reg r, Value* v);
  // The rule's fault exit, with `site` recorded for an edge from the current block.
  BasicBlock* fault_block(Body& body, uint32_t site);
  void fault_if(Body& body, Value* cond, uint32_t site);
  void jump_to_fault(Body& body, uint32_t site);

  Value* set_contains(uint32_t set, Value* v);
  Value* int_membership(Value* key, std::vector<int64_t> members, const std::string& name);
  Value* table_find(uint32_t table, Value* key);
  Value* search_sorted(llvm::GlobalVariable* keys, llvm::Type* elem, size_t n, Value* key, bool is_float);
  Value* cell_valid(uint32_t table, uint32_t column, Value* row);
  Value* cell_value(uint32_t table, uint32_t column, Value* row);
  Value* widen_key(ir::Ty t, Value* v);
  llvm::FunctionCallee helper(const char* name, bool pure, llvm::Type* result, unsigned string_args);
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
  i1_ = b_.getInt1Ty();
  i8_ = b_.getInt8Ty();
  i16_ = b_.getInt16Ty();
  i32_ = b_.getInt32Ty();
  i64_ = b_.getInt64Ty();
  f64_ = b_.getDoubleTy();
  ptr_ = b_.getPtrTy();
  mod_ = std::make_unique<llvm::Module>("edict", ctx_);
  emit_function();
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

int Generator::batch_column(int event, int64_t field) {
  const auto& columns = map_.column[static_cast<size_t>(event)];
  const auto& fields = m_.events[static_cast<size_t>(event)].fields;
  if (field < 0 || static_cast<size_t>(field) >= fields.size() || static_cast<size_t>(field) >= columns.size() ||
      columns[static_cast<size_t>(field)] < 0) {
    fail("field #" + std::to_string(field) + " of event `" + m_.events[static_cast<size_t>(event)].name +
         "` has no batch column");
    return -1;
  }
  return columns[static_cast<size_t>(field)];
}

Value* Generator::column_data(int column) {
  auto it = data_ptr_.find(column);
  if (it != data_ptr_.end()) return it->second;
  llvm::IRBuilder<> pb(prologue_->getTerminator());
  auto* slot = pb.CreateInBoundsGEP(ptr_, data_array_, pb.getInt64(static_cast<uint64_t>(column)));
  Value* p = pb.CreateLoad(ptr_, slot, "col" + std::to_string(column));
  data_ptr_.emplace(column, p);
  return p;
}

Value* Generator::column_present(int column) {
  auto it = present_ptr_.find(column);
  if (it == present_ptr_.end()) {
    llvm::IRBuilder<> pb(prologue_->getTerminator());
    auto* slot = pb.CreateInBoundsGEP(ptr_, present_array_, pb.getInt64(static_cast<uint64_t>(column)));
    Value* p = pb.CreateLoad(ptr_, slot, "present" + std::to_string(column));
    Value* is_null = pb.CreateICmpEQ(p, llvm::ConstantPointerNull::get(ptr_));
    it = present_ptr_.emplace(column, std::make_pair(p, is_null)).first;
  }
  // A column without presence bytes is never absent: read a constant 1
  // instead (a select of addresses keeps the row loop branch-free).
  Value* addr = b_.CreateSelect(it->second.second, one_byte_, b_.CreateGEP(i8_, it->second.first, row_));
  auto* v = b_.CreateLoad(i8_, addr);
  tag_input(v);
  return b_.CreateICmpNE(v, b_.getInt8(0));
}

llvm::FunctionCallee Generator::helper(const char* name, bool pure, llvm::Type* result, unsigned string_args) {
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

// ---- the row loop ------------------------------------------------------------

void Generator::emit_function() {
  setup_alias_scopes();
  // struct EdictColumns / EdictResults (runtime/abi.h); natural alignment
  // gives the C layout.
  auto* columns_ty = llvm::StructType::get(ctx_, {i32_, ptr_, ptr_, ptr_, ptr_});
  auto* results_ty = llvm::StructType::get(ctx_, {ptr_, i32_, ptr_, ptr_, ptr_});
  auto* fn_ty = llvm::FunctionType::get(b_.getVoidTy(), {ptr_, ptr_}, false);
  fn_ = llvm::Function::Create(fn_ty, llvm::GlobalValue::ExternalLinkage, options_.function_name, *mod_);
  fn_->addFnAttr(llvm::Attribute::NoUnwind);
  fn_->addParamAttr(0, llvm::Attribute::NoCapture);
  fn_->addParamAttr(1, llvm::Attribute::NoCapture);
  Value* columns = fn_->getArg(0);
  Value* results = fn_->getArg(1);
  columns->setName("columns");
  results->setName("results");

  one_byte_ = new llvm::GlobalVariable(*mod_, i8_, true, llvm::GlobalValue::PrivateLinkage, b_.getInt8(1),
                                       "edict.present");

  entry_ = BasicBlock::Create(ctx_, "entry", fn_);
  prologue_ = BasicBlock::Create(ctx_, "prologue", fn_);
  b_.SetInsertPoint(entry_);
  b_.CreateBr(prologue_);

  b_.SetInsertPoint(prologue_);
  auto field = [&](llvm::StructType* st, Value* base, unsigned i, llvm::Type* t, const char* name) {
    return b_.CreateLoad(t, b_.CreateStructGEP(st, base, i), name);
  };
  Value* rows = b_.CreateZExt(field(columns_ty, columns, 0, i32_, "rows"), i64_);
  kinds_ = field(columns_ty, columns, 1, ptr_, "kinds");
  data_array_ = field(columns_ty, columns, 2, ptr_, "data");
  present_array_ = field(columns_ty, columns, 3, ptr_, "present");
  strings_ = field(columns_ty, columns, 4, ptr_, "strings");
  Value* fired = field(results_ty, results, 0, ptr_, "fired");
  Value* fired_words = b_.CreateZExt(field(results_ty, results, 1, i32_, "fired_words"), i64_);
  Value* decision = field(results_ty, results, 2, ptr_, "decision");
  Value* fault_rule = field(results_ty, results, 3, ptr_, "fault_rule");
  Value* fault_site = field(results_ty, results, 4, ptr_, "fault_site");

  const size_t words = (m_.rules.size() + 63) / 64;
  BasicBlock* check = BasicBlock::Create(ctx_, "check", fn_);
  b_.CreateBr(check);

  // Per-row state, promoted to registers by mem2reg.
  for (size_t w = 0; w < words; ++w) fired_words_.push_back(make_alloca(i64_, "fired" + std::to_string(w)));
  faulted_ = make_alloca(i1_, "faulted");
  fault_rule_ = make_alloca(i32_, "fault_rule");
  fault_site_ = make_alloca(i32_, "fault_site");
  best_ = make_alloca(i32_, "best");

  BasicBlock* too_few_words = BasicBlock::Create(ctx_, "too_few_words", fn_);
  BasicBlock* clear_extra = BasicBlock::Create(ctx_, "clear_extra_words", fn_);
  BasicBlock* preheader = BasicBlock::Create(ctx_, "preheader", fn_);
  BasicBlock* header = BasicBlock::Create(ctx_, "row", fn_);
  BasicBlock* body = BasicBlock::Create(ctx_, "row_body", fn_);
  BasicBlock* latch = BasicBlock::Create(ctx_, "row_done", fn_);
  BasicBlock* exit = BasicBlock::Create(ctx_, "exit", fn_);

  b_.SetInsertPoint(check);
  Value* k_words = b_.getInt64(words);
  BasicBlock* enough = BasicBlock::Create(ctx_, "enough_words", fn_);
  b_.CreateCondBr(b_.CreateICmpULT(fired_words, k_words), too_few_words, enough);
  b_.SetInsertPoint(enough);
  b_.CreateCondBr(b_.CreateICmpUGT(fired_words, k_words), clear_extra, preheader);
  b_.SetInsertPoint(clear_extra);
  b_.CreateMemSet(fired, b_.getInt8(0), b_.CreateMul(rows, b_.CreateMul(fired_words, b_.getInt64(8))),
                  llvm::MaybeAlign(8));
  b_.CreateBr(preheader);

  // Fail closed when results cannot hold the fired bits.
  {
    BasicBlock* loop = BasicBlock::Create(ctx_, "too_few_words_row", fn_);
    b_.SetInsertPoint(too_few_words);
    b_.CreateCondBr(b_.CreateICmpEQ(rows, b_.getInt64(0)), exit, loop);
    b_.SetInsertPoint(loop);
    llvm::PHINode* r = b_.CreatePHI(i64_, 2, "r");
    r->addIncoming(b_.getInt64(0), too_few_words);
    b_.CreateStore(b_.getInt8(EDICT_DECISION_ERROR), b_.CreateInBoundsGEP(i8_, decision, r));
    b_.CreateStore(b_.getInt32(UINT32_MAX), b_.CreateInBoundsGEP(i32_, fault_rule, r));
    b_.CreateStore(b_.getInt32(UINT32_MAX), b_.CreateInBoundsGEP(i32_, fault_site, r));
    Value* next = b_.CreateAdd(r, b_.getInt64(1), "", true, true);
    r->addIncoming(next, loop);
    b_.CreateCondBr(b_.CreateICmpULT(next, rows), loop, exit);
  }

  b_.SetInsertPoint(preheader);
  b_.CreateBr(header);

  b_.SetInsertPoint(header);
  llvm::PHINode* r = b_.CreatePHI(i64_, 2, "r");
  r->addIncoming(b_.getInt64(0), preheader);
  row_ = r;
  b_.CreateCondBr(b_.CreateICmpULT(r, rows), body, exit);

  b_.SetInsertPoint(body);
  for (auto* w : fired_words_) b_.CreateStore(b_.getInt64(0), w);
  b_.CreateStore(b_.getFalse(), faulted_);
  b_.CreateStore(b_.getInt32(UINT32_MAX), fault_rule_);
  b_.CreateStore(b_.getInt32(UINT32_MAX), fault_site_);
  b_.CreateStore(b_.getInt32(-1), best_);
  auto* kind_load = b_.CreateLoad(i8_, b_.CreateInBoundsGEP(i8_, kinds_, r), "kind");
  tag_input(kind_load);
  Value* kind = kind_load;

  BasicBlock* skipped = BasicBlock::Create(ctx_, "skipped", fn_);
  BasicBlock* dispatch = BasicBlock::Create(ctx_, "dispatch", fn_);
  b_.CreateCondBr(b_.CreateICmpEQ(kind, b_.getInt8(EDICT_KIND_ERROR)), skipped, dispatch);
  b_.SetInsertPoint(skipped);
  // `best` doubles as the decision: SKIPPED is past every outcome index.
  b_.CreateStore(b_.getInt32(EDICT_DECISION_SKIPPED), best_);
  b_.CreateBr(latch);

  // A compare chain over the kinds that have rules (kinds without any, and
  // kind bytes out of range, take the default decision).
  b_.SetInsertPoint(dispatch);
  for (size_t e = 0; e < m_.events.size() && !failed(); ++e) {
    bool any = std::any_of(m_.rules.begin(), m_.rules.end(), [&](const ir::Rule& rule) {
      const ir::RuleBody* rb = rule.body_for(static_cast<int>(e));
      return rb && rb->fires != ir::kNoFunc;
    });
    if (!any) continue;
    BasicBlock* kind_block = BasicBlock::Create(ctx_, "kind." + m_.events[e].name, fn_);
    BasicBlock* other = BasicBlock::Create(ctx_, "dispatch", fn_);
    b_.CreateCondBr(b_.CreateICmpEQ(kind, b_.getInt8(static_cast<uint8_t>(e))), kind_block, other);
    b_.SetInsertPoint(kind_block);
    emit_kind(static_cast<int>(e), latch);
    b_.SetInsertPoint(other);
  }
  b_.CreateBr(latch);
  if (failed()) return;

  // The row's results.
  b_.SetInsertPoint(latch);
  Value* faulted = b_.CreateLoad(i1_, faulted_);
  Value* best = b_.CreateLoad(i32_, best_);
  Value* outcome = b_.CreateSelect(b_.CreateICmpSGE(best, b_.getInt32(0)), best,
                                   b_.getInt32(static_cast<uint32_t>(m_.default_outcome)));
  Value* code = b_.CreateSelect(faulted, b_.getInt32(EDICT_DECISION_ERROR), outcome);
  tag_output(b_.CreateStore(b_.CreateTrunc(code, i8_), b_.CreateInBoundsGEP(i8_, decision, r)), kOutDecision);
  BasicBlock* record_fault = BasicBlock::Create(ctx_, "record_fault", fn_);
  BasicBlock* store_fired = BasicBlock::Create(ctx_, "store_fired", fn_);
  b_.CreateCondBr(faulted, record_fault, store_fired);
  b_.SetInsertPoint(record_fault);
  tag_output(b_.CreateStore(b_.CreateLoad(i32_, fault_rule_), b_.CreateInBoundsGEP(i32_, fault_rule, r)),
             kOutFaultRule);
  tag_output(b_.CreateStore(b_.CreateLoad(i32_, fault_site_), b_.CreateInBoundsGEP(i32_, fault_site, r)),
             kOutFaultSite);
  b_.CreateBr(store_fired);
  b_.SetInsertPoint(store_fired);
  Value* base = b_.CreateMul(r, fired_words, "", true, true);
  for (size_t w = 0; w < words; ++w) {
    Value* at = b_.CreateInBoundsGEP(i64_, fired, b_.CreateAdd(base, b_.getInt64(w), "", true, true));
    tag_output(b_.CreateStore(b_.CreateLoad(i64_, fired_words_[w]), at), kOutFired);
  }
  Value* next = b_.CreateAdd(r, b_.getInt64(1), "", true, true);
  r->addIncoming(next, store_fired);
  b_.CreateBr(header);

  b_.SetInsertPoint(exit);
  b_.CreateRetVoid();
}

void Generator::emit_kind(int event, BasicBlock* done) {
  const ir::EventSchema& schema = m_.events[static_cast<size_t>(event)];
  Value* time = nullptr;
  bool windows = std::any_of(m_.rules.begin(), m_.rules.end(), [](const ir::Rule& rule) {
    return rule.effective_from || rule.effective_until;
  });
  if (windows) {
    if (schema.time_field < 0 || static_cast<size_t>(schema.time_field) >= schema.fields.size() ||
        schema.fields[static_cast<size_t>(schema.time_field)].type != ir::Ty::Time) {
      fail("event `" + schema.name + "` has no time field");
      return;
    }
    int column = batch_column(event, schema.time_field);
    if (failed()) return;
    time = load_elem(i64_, column_data(column), row_, true);
    time->setName("time");
  }
  for (size_t i = 0; i < m_.rules.size() && !failed(); ++i) {
    const ir::RuleBody* rb = m_.rules[i].body_for(event);
    if (!rb || rb->fires == ir::kNoFunc) continue;
    emit_rule(static_cast<int>(i), *rb, event, time);
  }
  b_.CreateBr(done);
}

void Generator::emit_rule(int rule_index, const ir::RuleBody& rb, int event, Value* time) {
  const ir::Rule& rule = m_.rules[static_cast<size_t>(rule_index)];
  if (rb.fires < 0 || static_cast<size_t>(rb.fires) >= m_.functions.size()) {
    fail("rule `" + rule.name + "` names a missing function");
    return;
  }
  Body body;
  body.f = &m_.functions[static_cast<size_t>(rb.fires)];
  body.rule = rule_index;
  body.event = event;
  if (body.f->kind != ir::FunctionKind::Fires || body.f->blocks.empty()) {
    fail("fn " + body.f->name + ": not a fires function with blocks");
    return;
  }
  if (rule.effect < 0 || rule.effect >= EDICT_DECISION_ERROR) {
    fail("rule `" + rule.name + "` has no valid effect");
    return;
  }
  const std::string prefix = rule.name + ".";
  body.next = BasicBlock::Create(ctx_, prefix + "next", fn_);
  body.fired = BasicBlock::Create(ctx_, prefix + "fired", fn_);

  // Effective dates are metadata: an out-of-window rule never runs.
  Value* in_effect = nullptr;
  if (rule.effective_from)
    in_effect = b_.CreateICmpSGE(time, b_.getInt64(static_cast<uint64_t>(*rule.effective_from)));
  if (rule.effective_until) {
    Value* before = b_.CreateICmpSLT(time, b_.getInt64(static_cast<uint64_t>(*rule.effective_until)));
    in_effect = in_effect ? b_.CreateAnd(in_effect, before) : before;
  }
  emit_body(body);
  if (failed()) return;
  // Wire the entry now that the body's blocks exist.
  BasicBlock* start = body.blocks[0];
  if (in_effect) b_.CreateCondBr(in_effect, start, body.next);
  else b_.CreateBr(start);

  b_.SetInsertPoint(body.fired);
  size_t word = static_cast<size_t>(rule_index) / 64;
  uint64_t bit = uint64_t{1} << (static_cast<size_t>(rule_index) % 64);
  b_.CreateStore(b_.CreateOr(b_.CreateLoad(i64_, fired_words_[word]), b_.getInt64(bit)), fired_words_[word]);
  Value* best = b_.CreateLoad(i32_, best_);
  Value* effect = b_.getInt32(static_cast<uint32_t>(rule.effect));
  b_.CreateStore(b_.CreateSelect(b_.CreateICmpSGT(effect, best), effect, best), best_);
  b_.CreateBr(body.next);

  if (body.fault) {
    // Only the first faulting rule (in rule order) is recorded.
    b_.SetInsertPoint(body.fault);
    Value* already = b_.CreateLoad(i1_, faulted_);
    b_.CreateStore(b_.CreateSelect(already, b_.CreateLoad(i32_, fault_rule_),
                                   b_.getInt32(static_cast<uint32_t>(rule_index))),
                   fault_rule_);
    b_.CreateStore(b_.CreateSelect(already, b_.CreateLoad(i32_, fault_site_), body.fault_site), fault_site_);
    b_.CreateStore(b_.getTrue(), faulted_);
    b_.CreateBr(body.next);
  }
  b_.SetInsertPoint(body.next);
}

void Generator::emit_body(Body& body) {
  const ir::Function& f = *body.f;
  std::vector<ir::BlockId> order = ir::reverse_postorder(f);
  if (order.empty()) {
    fail("fn " + f.name + ": cyclic or empty control flow");
    return;
  }
  std::vector<uint32_t> assignments(f.regs.size(), 0);
  for (const ir::Block& block : f.blocks)
    for (const ir::Inst& in : block.insts) {
      if (!ir::op_info(in.op).has_result) continue;
      if (in.dst >= f.regs.size()) {
        fail("fn " + f.name + ": result register out of range");
        return;
      }
      ++assignments[in.dst];
    }
  body.ssa.assign(f.regs.size(), nullptr);
  body.slots.assign(f.regs.size(), nullptr);
  for (size_t r = 0; r < f.regs.size(); ++r) {
    if (f.regs[r] == ir::Ty::Void) {
      fail("fn " + f.name + ": register of type void");
      return;
    }
    if (assignments[r] > 1) body.slots[r] = make_alloca(reg_type(f.regs[r]), "%" + std::to_string(r));
  }
  body.blocks.assign(f.blocks.size(), nullptr);
  for (ir::BlockId id : order)
    body.blocks[id] = BasicBlock::Create(ctx_, body.f->name + ".bb" + std::to_string(id), fn_);
  // Keep the insertion point of the caller: emit_rule branches to bb0 later.
  BasicBlock* caller = b_.GetInsertBlock();
  for (ir::BlockId id : order) {
    b_.SetInsertPoint(body.blocks[id]);
    const ir::Block& block = f.blocks[id];
    if (block.insts.empty() || !ir::op_info(block.insts.back().op).terminator) {
      fail("fn " + f.name + ": block bb" + std::to_string(id) + " has no terminator");
      return;
    }
    for (const ir::Inst& in : block.insts) {
      emit_inst(body, in);
      if (failed()) return;
    }
  }
  b_.SetInsertPoint(caller);
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
  if (body.slots[r]) b_.CreateStore(v, body.slots[r]);
  else body.ssa[r] = v;
}

BasicBlock* Generator::fault_block(Body& body, uint32_t site) {
  if (site != ir::kNoSite && site >= m_.fault_sites.size()) fail("fn " + body.f->name + ": fault site out of range");
  if (!body.fault) {
    body.fault = BasicBlock::Create(ctx_, m_.rules[static_cast<size_t>(body.rule)].name + ".fault", fn_);
    llvm::IRBuilder<> fb(body.fault);
    body.fault_site = fb.CreatePHI(i32_, 4, "site");
  }
  body.fault_site->addIncoming(b_.getInt32(site), b_.GetInsertBlock());
  return body.fault;
}

void Generator::jump_to_fault(Body& body, uint32_t site) { b_.CreateBr(fault_block(body, site)); }

void Generator::fault_if(Body& body, Value* cond, uint32_t site) {
  BasicBlock* ok = BasicBlock::Create(ctx_, "ok", fn_);
  b_.CreateCondBr(cond, fault_block(body, site), ok, llvm::MDBuilder(ctx_).createUnlikelyBranchWeights());
  b_.SetInsertPoint(ok);
}

Value* Generator::widen_key(ir::Ty t, Value* v) {
  // Str, country and bool values are unsigned; int, time and dur signed.
  if (t == ir::Ty::Str || t == ir::Ty::Country || t == ir::Ty::Bool) return b_.CreateZExt(v, i64_);
  return v;
}

void Generator::emit_inst(Body& body, const ir::Inst& in) {
  const ir::Function& f = *body.f;
  const ir::OpInfo& info = ir::op_info(in.op);
  if (info.has_result && in.dst >= f.regs.size()) return fail("fn " + f.name + ": bad result register");
  auto result = [&](Value* v) { set(body, in.dst, v); };
  auto fn_fail = [&](const std::string& what) { fail("fn " + f.name + ": `" + info.name + "` " + what); };
  const ir::Ty ty = info.has_result ? f.regs[in.dst] : ir::Ty::Void;
  switch (in.op) {
    case ir::Op::Const: {
      ir::Scalar s{in.imm, in.fimm};
      if (ty == ir::Ty::Row) return result(b_.getInt64(static_cast<uint64_t>(in.imm)));
      return result(scalar_constant(ty, s, false));
    }
    case ir::Op::Copy: return result(get(body, in.a));
    case ir::Op::Load:
    case ir::Op::LoadChecked: {
      int column = batch_column(body.event, in.imm);
      if (column < 0) return;
      if (in.op == ir::Op::LoadChecked) fault_if(body, b_.CreateNot(column_present(column)), in.site);
      return result(from_storage(ty, load_elem(storage_type(ty), column_data(column), row_, true)));
    }
    case ir::Op::Has: {
      int column = batch_column(body.event, in.imm);
      if (column < 0) return;
      return result(column_present(column));
    }
    case ir::Op::SetContains:
      if (in.imm < 0 || static_cast<size_t>(in.imm) >= m_.sets.size()) return fn_fail("names a missing set");
      return result(set_contains(static_cast<uint32_t>(in.imm), get(body, in.a)));
    case ir::Op::TableFind:
      if (in.imm < 0 || static_cast<size_t>(in.imm) >= m_.tables.size()) return fn_fail("names a missing table");
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
      if (in.op == ir::Op::CellHas) return result(valid);
      if (in.op == ir::Op::CellLoadChecked) {
        fault_if(body, b_.CreateNot(valid), in.site);
        return result(cell_value(table, in.aux, row));
      }
      // Proven present by the verifier; the interpreter reads 0 otherwise.
      Value* v = cell_value(table, in.aux, row);
      return result(b_.CreateSelect(valid, v, llvm::Constant::getNullValue(v->getType())));
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
      Value* v = nullptr;
      switch (in.op) {
        case ir::Op::FAdd: v = b_.CreateFAdd(a, b); break;
        case ir::Op::FSub: v = b_.CreateFSub(a, b); break;
        case ir::Op::FMul: v = b_.CreateFMul(a, b); break;
        default:
          // Division by zero is its own fault, reported before a non-finite result.
          fault_if(body, b_.CreateFCmpOEQ(b, llvm::ConstantFP::get(f64_, 0.0)), in.site);
          v = b_.CreateFDiv(a, b);
      }
      Value* magnitude = b_.CreateUnaryIntrinsic(llvm::Intrinsic::fabs, v);
      Value* finite = b_.CreateFCmpOLT(magnitude, llvm::ConstantFP::getInfinity(f64_));
      fault_if(body, b_.CreateNot(finite), in.site);
      return result(v);
    }
    case ir::Op::FNeg: return result(b_.CreateFNeg(get(body, in.a)));
    case ir::Op::IToF: return result(b_.CreateSIToFP(get(body, in.a), f64_));
    case ir::Op::ICmp: {
      Value* a = get(body, in.a);
      Value* b = get(body, in.b);
      if (a->getType() != b->getType() || !a->getType()->isIntegerTy()) return fn_fail("operands differ in type");
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
      Value* c = b_.CreateCall(helper("edict_str_compare", true, i32_, 2), {strings_, a, b});
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
          return result(b_.CreateICmpNE(b_.CreateCall(helper(bi.symbol, true, i32_, 2), args), b_.getInt32(0)));
        case ir::Builtin::Lower:
        case ir::Builtin::Upper: return result(b_.CreateCall(helper(bi.symbol, false, i32_, 1), args));
        case ir::Builtin::Len: return result(b_.CreateCall(helper(bi.symbol, true, i64_, 1), args));
      }
      return fn_fail("names an unknown builtin");
    }
    case ir::Op::EmitText:
    case ir::Op::EmitValue: return fn_fail("appears in a fires function");
    case ir::Op::Jmp:
    case ir::Op::Br: {
      auto target = [&](int i) -> BasicBlock* {
        ir::BlockId t = in.target[i];
        if (t >= body.blocks.size() || !body.blocks[t]) {
          fn_fail("targets a missing block");
          return body.next;
        }
        return body.blocks[t];
      };
      if (in.op == ir::Op::Jmp) {
        b_.CreateBr(target(0));
        return;
      }
      Value* c = get(body, in.a);
      if (c->getType() != i1_) return fn_fail("condition is not a bool");
      b_.CreateCondBr(c, target(0), target(1));
      return;
    }
    case ir::Op::Ret: b_.CreateBr(in.imm ? body.fired : body.next); return;
    case ir::Op::Fault: jump_to_fault(body, in.site); return;
  }
  fn_fail("is not supported");
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
  std::vector<int64_t> members;
  for (const ir::Scalar& s : set.members) members.push_back(s.i);
  if (set.elem == ir::Ty::Str) {
    // A string that is not in the pool can never equal a member.
    std::erase_if(members, [&](int64_t id) { return id < 0 || static_cast<uint64_t>(id) >= m_.strings.size(); });
  }
  return int_membership(widen_key(set.elem, v), std::move(members), name);
}

Value* Generator::int_membership(Value* key, std::vector<int64_t> members, const std::string& name) {
  std::sort(members.begin(), members.end());
  members.erase(std::unique(members.begin(), members.end()), members.end());
  if (members.empty()) return b_.getFalse();
  if (members.size() <= kMaxCompareChain) {
    Value* any = b_.getFalse();
    for (int64_t m : members) any = b_.CreateOr(any, b_.CreateICmpEQ(key, b_.getInt64(static_cast<uint64_t>(m))));
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
Value* Generator::search_sorted(llvm::GlobalVariable* keys, llvm::Type* elem, size_t n, Value* key, bool is_float) {
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
  if (span < kMaxDenseSpan && span <= 16 * sorted.size() + 64) {
    // Dense: (key - min) indexes an array of rows, -1 in the gaps.
    std::vector<Constant*> slots(span + 1, b_.getInt32(UINT32_MAX));
    for (auto& [k, r] : sorted) slots[static_cast<uint64_t>(k) - lo] = b_.getInt32(static_cast<uint32_t>(r));
    auto* g = constant_array(i32_, slots, name + ".rows");
    Value* offset = b_.CreateSub(wide, b_.getInt64(lo));
    Value* in_range = b_.CreateICmpULE(offset, b_.getInt64(span));
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
  tuning.SLPVectorization = true;
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
