// The code generator's aggregate inputs (EdictEvalInputsFn, abi/abi.h):
// one pass over the batch: per row, every listed function of the row's kind,
// inlined as the rules' fires functions are (if-converted when small), its
// result bits and fault site stored unconditionally (rows of other kinds get
// 0 and no fault), so the loop stays branch-free for small functions.
#include "abi/abi.h"
#include "compiler/codegen/generator.h"

namespace edict::codegen::detail {

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

}  // namespace edict::codegen::detail
