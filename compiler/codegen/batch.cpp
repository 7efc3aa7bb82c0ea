// The code generator's batch function (EdictEvalBatchFn, abi/abi.h): the
// batch checks, then one fused row loop over every rule or, for a policy
// split into rule groups (plan.h), one pass per group over the batch with the
// row state kept in the results between passes.
#include <llvm/IR/Constants.h>
#include <llvm/IR/MDBuilder.h>
#include <llvm/IR/Metadata.h>

#include "abi/abi.h"
#include "compiler/codegen/generator.h"

namespace edict::codegen::detail {
namespace {

// Rows per vector iteration of a straight-line batch loop (emit_row_loop).
constexpr unsigned kRowsPerVector = 8;

}  // namespace

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
  llvm::StructType* results_ty = results_type();
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
  fault_reason_ = field(results_ty, results, 5, ptr_, "fault_reason");
  b_.CreateBr(start);
  b_.SetInsertPoint(start);
  return start;
}

// Loops that run rarely (a refused batch, a batch with a fault) are not
// worth the vectorizer's time at compile time.
void Generator::keep_scalar(llvm::BranchInst* back_edge) {
  llvm::Metadata* no_vectors[] = {llvm::MDString::get(ctx_, "llvm.loop.vectorize.enable"),
                                  llvm::ConstantAsMetadata::get(b_.getFalse())};
  llvm::Metadata* no_unrolling[] = {llvm::MDString::get(ctx_, "llvm.loop.unroll.disable")};
  llvm::Metadata* ops[] = {nullptr, llvm::MDNode::get(ctx_, no_vectors),
                           llvm::MDNode::get(ctx_, no_unrolling)};
  llvm::MDNode* loop = llvm::MDNode::getDistinct(ctx_, ops);
  loop->replaceOperandWith(0, loop);
  back_edge->setMetadata(llvm::LLVMContext::MD_loop, loop);
}

void Generator::emit_fail_closed(BasicBlock* from, BasicBlock* exit) {
  b_.SetInsertPoint(from);
  llvm::BranchInst* back = simple_row_loop(exit, "fail_closed_row", [&] {
    b_.CreateStore(b_.getInt8(EDICT_DECISION_ERROR), b_.CreateInBoundsGEP(i8_, decision_, row_));
    b_.CreateStore(b_.getInt32(UINT32_MAX), b_.CreateInBoundsGEP(i32_, fault_rule_, row_));
    b_.CreateStore(b_.getInt32(UINT32_MAX), b_.CreateInBoundsGEP(i32_, fault_site_, row_));
    b_.CreateStore(b_.getInt8(static_cast<uint8_t>(ir::FaultReason::None)),
                   b_.CreateInBoundsGEP(i8_, fault_reason_, row_));
  });
  keep_scalar(back);
}

llvm::BranchInst* Generator::simple_row_loop(BasicBlock* exit, const char* name,
                                             const std::function<void()>& body) {
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
  return b_.CreateCondBr(b_.CreateICmpULT(next, rows_), loop, exit);
}

void Generator::emit_function() {
  scopes_ = plan_alias_scopes(ctx_);
  auto* fn_ty = llvm::FunctionType::get(b_.getVoidTy(), {ptr_, ptr_}, false);
  auto* main =
      llvm::Function::Create(fn_ty, llvm::GlobalValue::ExternalLinkage, options_.function_name, *mod_);
  BasicBlock* start = begin_function(main);
  const size_t words = (m_.rules.size() + 63) / 64;
  std::vector<RuleGroup> groups = plan_rule_groups(m_);
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
    BasicBlock* after = BasicBlock::Create(ctx_, "after_rows", fn_);
    emit_row_loop(evaluate, after, groups[0], /*fused=*/true);
    if (failed()) return;
    emit_unpack_faults(after, exit);
  } else {
    emit_group_passes(main, evaluate, exit, groups);
    if (failed()) return;
  }
  b_.SetInsertPoint(exit);
  b_.CreateRetVoid();
}

// A fused loop stores each row's fault site and reason as one word
// (kPackedReasonShift): one output array and one pointer fewer in the
// hottest loop. Only a batch with a fault splits them afterwards, on its
// faulted rows.
void Generator::emit_unpack_faults(BasicBlock* from, BasicBlock* exit) {
  b_.SetInsertPoint(from);
  if (!loop_may_fault_) {
    b_.CreateBr(exit);
    return;
  }
  // Whether any row faulted: a scan of the decision bytes, which vectorizes
  // to many rows per compare (an OR of `faulted` kept in the row loop costs
  // that loop a mask register).
  BasicBlock* scanned = BasicBlock::Create(ctx_, "faults_scanned", fn_);
  BasicBlock* unpack = BasicBlock::Create(ctx_, "unpack_faults", fn_);
  b_.CreateStore(b_.getFalse(), batch_faulted_);
  simple_row_loop(scanned, "scan_fault_row", [&] {
    auto* code = b_.CreateLoad(i8_, b_.CreateInBoundsGEP(i8_, decision_, row_));
    Value* faulted = b_.CreateICmpEQ(code, b_.getInt8(EDICT_DECISION_ERROR));
    b_.CreateStore(b_.CreateOr(b_.CreateLoad(i1_, batch_faulted_), faulted), batch_faulted_);
  });
  b_.SetInsertPoint(scanned);
  b_.CreateCondBr(b_.CreateLoad(i1_, batch_faulted_), unpack, exit,
                  llvm::MDBuilder(ctx_).createUnlikelyBranchWeights());
  b_.SetInsertPoint(unpack);
  llvm::BranchInst* back = simple_row_loop(exit, "unpack_fault_row", [&] {
    BasicBlock* split = BasicBlock::Create(ctx_, "split_fault", fn_);
    BasicBlock* next = BasicBlock::Create(ctx_, "split_done", fn_);
    auto* code = b_.CreateLoad(i8_, b_.CreateInBoundsGEP(i8_, decision_, row_));
    b_.CreateCondBr(b_.CreateICmpEQ(code, b_.getInt8(EDICT_DECISION_ERROR)), split, next);
    b_.SetInsertPoint(split);
    Value* site_at = b_.CreateInBoundsGEP(i32_, fault_site_, row_);
    Value* packed = b_.CreateLoad(i32_, site_at);
    b_.CreateStore(b_.CreateTrunc(b_.CreateLShr(packed, kPackedReasonShift), i8_),
                   b_.CreateInBoundsGEP(i8_, fault_reason_, row_));
    b_.CreateStore(b_.CreateAnd(packed, b_.getInt32(kPackedSiteMask)), site_at);
    b_.CreateBr(next);
    b_.SetInsertPoint(next);
  });
  keep_scalar(back);
}

// One pass per group over the batch, the row state kept in the results:
// fired words OR-ed in, the decision byte holding the strongest effect so
// far (kUndecided before any), error, or skipped.
void Generator::emit_group_passes(llvm::Function* main, BasicBlock* evaluate, BasicBlock* exit,
                                  const std::vector<RuleGroup>& groups) {
  Value* main_rows = rows_;
  Value* main_decision = decision_;
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

llvm::Function* Generator::emit_group_function(const RuleGroup& group, size_t index) {
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

void Generator::emit_row_loop(BasicBlock* from, BasicBlock* exit, const RuleGroup& group, bool fused) {
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
  emit_hoisted_finds(group);
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
  auto fired_at = [&](size_t w) -> Value* {
    return b_.CreateInBoundsGEP(i64_, fired_, b_.CreateAdd(base, b_.getInt64(w), "", true, true));
  };
  Value* decision_at = b_.CreateInBoundsGEP(i8_, decision_, r);
  Value* code_before = load_row_state(fused, decision_at, fired_at);

  const RowDispatch dispatch = plan_row_dispatch(m_, group, predicated_limit());
  if (dispatch.straight) {
    // Straight-line: every kind's rules under `kind == k`. Rows of no kind
    // (skipped, or out of range) match none and keep the initial state.
    for (int e : dispatch.kinds) {
      if (failed()) return;
      emit_kind(e, b_.CreateICmpEQ(kind, b_.getInt8(static_cast<uint8_t>(e))), group);
    }
  } else {
    for (int e : dispatch.kinds) {
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
  hoisted_rows_.clear();  // the arrays belong to this loop's function

  b_.SetInsertPoint(latch);
  store_row_results(group, fused, kind, code_before, decision_at, fired_at);
  Value* next = b_.CreateAdd(r, b_.getInt64(1), "", true, true);
  r->addIncoming(next, b_.GetInsertBlock());
  llvm::BranchInst* back = b_.CreateBr(header);
  if (dispatch.straight && !options_.single_event) {
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

void Generator::emit_hoisted_finds(const RuleGroup& group) {
  hoisted_rows_.clear();
  if (options_.single_event) return;  // one row per call: nothing to gain
  auto callee = mod_->getOrInsertFunction(
      "edict_data_find_rows",
      llvm::FunctionType::get(ptr_, {ptr_, ptr_, ptr_, ptr_, ptr_, i32_, i32_, i32_}, false));
  if (auto* f = llvm::dyn_cast<llvm::Function>(callee.getCallee())) f->addFnAttr(llvm::Attribute::NoUnwind);
  for (const HoistedFind& find : plan_hoisted_finds(m_, group)) {
    const int key = batch_column(find.event, find.key_field),
              time = batch_column(find.event, find.time_field);
    if (key < 0 || time < 0) return;
    Value* rows = b_.CreateCall(callee, {data_slot(find.table), strings_, column_data(key), column_data(time),
                                         kinds_, b_.getInt32(static_cast<uint32_t>(find.event)),
                                         b_.CreateTrunc(rows_, i32_), b_.getInt32(lookup_sites_++)});
    hoisted_rows_[find] = rows;
  }
}

Value* Generator::load_row_state(bool fused, Value* decision_at,
                                 const std::function<Value*(size_t)>& fired_at) {
  b_.CreateStore(b_.getInt32(UINT32_MAX), row_fault_rule_);
  b_.CreateStore(b_.getInt32(UINT32_MAX), row_fault_site_);
  b_.CreateStore(b_.getInt8(static_cast<uint8_t>(ir::FaultReason::None)), row_fault_reason_);
  if (fused) {
    if (m_.fault_sites.size() > kPackedSiteMask) {
      fail("the policy has more than " + std::to_string(kPackedSiteMask) + " fault sites");
      return nullptr;
    }
    for (auto* w : fired_words_)
      if (w) b_.CreateStore(llvm::ConstantInt::get(fired_ty_, 0), w);
    b_.CreateStore(b_.getFalse(), row_faulted_);
    b_.CreateStore(b_.getInt32(-1), best_);
    return nullptr;
  }
  for (size_t w = 0; w < fired_words_.size(); ++w) {
    if (!fired_words_[w]) continue;
    auto* v = b_.CreateLoad(i64_, fired_at(w));
    tag_output(v, kOutFired);
    b_.CreateStore(v, fired_words_[w]);
  }
  auto* code = b_.CreateLoad(i8_, decision_at);
  tag_output(code, kOutDecision);
  b_.CreateStore(b_.CreateICmpEQ(code, b_.getInt8(EDICT_DECISION_ERROR)), row_faulted_);
  Value* is_outcome = b_.CreateICmpULT(code, b_.getInt8(kUndecided));
  b_.CreateStore(b_.CreateSelect(is_outcome, b_.CreateZExt(code, i32_), b_.getInt32(-1)), best_);
  return code;
}

// The row's results, stored unconditionally so the loop stays straight.
void Generator::store_row_results(const RuleGroup& group, bool fused, Value* kind, Value* code_before,
                                  Value* decision_at, const std::function<Value*(size_t)>& fired_at) {
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
  // A fused loop is the only pass over the rows, and the fault outputs mean
  // something only where the decision is ERROR: it stores the row's rule and
  // its site and reason packed (emit_unpack_faults), and notes the fault for
  // the batch. A group pass keeps what an earlier pass found unless this one
  // found the row's first fault (the state still holds UINT32_MAX
  // otherwise); that costs a load and a select per output and row.
  Value* found =
      fused ? nullptr : b_.CreateICmpNE(b_.CreateLoad(i32_, row_fault_rule_), b_.getInt32(UINT32_MAX));
  auto store_fault_output = [&](Value* array, llvm::AllocaInst* state, Out scope) {
    llvm::Type* elem = state->getAllocatedType();
    Value* at = b_.CreateInBoundsGEP(elem, array, row_);
    Value* value = b_.CreateLoad(elem, state);
    if (!fused) {
      auto* old = b_.CreateLoad(elem, at);
      tag_output(old, scope);
      value = b_.CreateSelect(found, value, old);
    }
    tag_output(b_.CreateStore(value, at), scope);
  };
  if (loop_may_fault_ && fused) {
    store_fault_output(fault_rule_, row_fault_rule_, kOutFaultRule);
    Value* reason = b_.CreateZExt(b_.CreateLoad(i8_, row_fault_reason_), i32_);
    Value* packed =
        b_.CreateOr(b_.CreateLoad(i32_, row_fault_site_), b_.CreateShl(reason, kPackedReasonShift));
    tag_output(b_.CreateStore(packed, b_.CreateInBoundsGEP(i32_, fault_site_, row_)), kOutFaultSite);
  } else if (loop_may_fault_) {
    store_fault_output(fault_rule_, row_fault_rule_, kOutFaultRule);
    store_fault_output(fault_site_, row_fault_site_, kOutFaultSite);
    store_fault_output(fault_reason_, row_fault_reason_, kOutFaultReason);
  }
  for (size_t w = 0; w < fired_words_.size(); ++w)
    if (fired_words_[w])
      tag_output(b_.CreateStore(b_.CreateZExt(b_.CreateLoad(fired_ty_, fired_words_[w]), i64_), fired_at(w)),
                 kOutFired);
}

}  // namespace edict::codegen::detail
