// The code generator's record functions (EdictEvalRecordFn, abi/abi.h):
// one event of one kind per call, read from a flat record: each field a
// load at a constant offset from one pointer, no kind dispatch, no row loop
// and no batch checks. The rules branch and short-circuit as in the
// single-event batch function.
#include <llvm/IR/MDBuilder.h>

#include "abi/abi.h"
#include "compiler/codegen/generator.h"

namespace edict::codegen::detail {

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

  const RuleGroup all{0, m_.rules.size()};
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
  b_.CreateStore(b_.getInt8(static_cast<uint8_t>(ir::FaultReason::None)), row_fault_reason_);
  emit_kind(event, b_.getTrue(), all);
  if (failed()) return;

  // The results' arrays, loaded only here: the rules need none of them.
  llvm::StructType* results_ty = results_type();
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
    b_.CreateStore(b_.CreateLoad(i8_, row_fault_reason_), result_array(5, "fault_reason"));
    b_.CreateBr(done);
    b_.SetInsertPoint(done);
  }
  b_.CreateRet(b_.CreateZExt(code, i32_));
  record_ = nullptr;
}

}  // namespace edict::codegen::detail
