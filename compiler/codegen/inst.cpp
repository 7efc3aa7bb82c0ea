// The code generator's values and instructions: constants, constant
// arrays, predicates, and one IR instruction at a time in either form of a
// function body (body.cpp). emit_inst dispatches on the opcode; each family
// of opcodes has its own function.
#include <llvm/IR/Constants.h>
#include <llvm/IR/Intrinsics.h>
#include <llvm/IR/Module.h>

#include <algorithm>

#include "compiler/codegen/generator.h"

namespace edict::codegen::detail {
namespace {

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
}  // namespace

Constant* Generator::scalar_constant(ir::Ty t, const ir::Scalar& s, bool storage) {
  switch (t) {
    case ir::Ty::Bool: return storage ? b_.getInt8(s.i != 0) : b_.getInt1(s.i != 0);
    case ir::Ty::Number: return llvm::ConstantFP::get(f64_, s.f);
    case ir::Ty::Str: return b_.getInt32(static_cast<uint32_t>(s.i));
    case ir::Ty::Country: return b_.getInt16(static_cast<uint16_t>(s.i));
    default: return b_.getInt64(static_cast<uint64_t>(s.i));
  }
}

llvm::GlobalVariable* Generator::constant_array(llvm::Type* elem, llvm::ArrayRef<Constant*> values,
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

Value* Generator::load_elem(llvm::Type* elem, Value* base, Value* index, bool input) {
  Value* addr = b_.CreateInBoundsGEP(elem, base, index);
  llvm::LoadInst* v = b_.CreateLoad(elem, addr);
  if (input) tag_input(v);
  return v;
}

Value* Generator::both(Value* a, Value* b) {
  if (is_true(a)) return b;
  if (is_true(b)) return a;
  if (is_false(a) || is_false(b)) return b_.getFalse();
  return b_.CreateSelect(a, b, b_.getFalse());
}

Value* Generator::either(Value* a, Value* b) {
  if (is_false(a)) return b;
  if (is_false(b)) return a;
  if (is_true(a) || is_true(b)) return b_.getTrue();
  return b_.CreateSelect(a, b_.getTrue(), b);
}

Value* Generator::pick(Value* cond, Value* a, Value* b) {
  if (is_true(cond)) return a;
  if (is_false(cond)) return b;
  return b_.CreateSelect(cond, a, b);
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

// ---- instructions --------------------------------------------------------------

void Generator::inst_fail(const Body& body, const ir::Inst& in, const std::string& what) {
  fail("fn " + body.f->name + ": `" + ir::op_info(in.op).name + "` " + what);
}

std::optional<Range> Generator::range_of(const Body& body, ir::Reg r) const {
  if (r >= body.range.size() || body.slots[r]) return std::nullopt;
  return body.range[r];
}

void Generator::set_range(Body& body, const ir::Inst& in, std::optional<Range> r) {
  if (r && finite(*r) && in.dst < body.range.size() && !body.slots[in.dst]) body.range[in.dst] = r;
}

void Generator::emit_inst(Body& body, const ir::Inst& in) {
  const ir::Function& f = *body.f;
  if (ir::op_info(in.op).has_result && in.dst >= f.regs.size())
    return fail("fn " + f.name + ": bad result register");
  switch (in.op) {
    case ir::Op::Const: return emit_const(body, in);
    case ir::Op::Copy: set_range(body, in, range_of(body, in.a)); return set(body, in.dst, get(body, in.a));
    case ir::Op::Load:
    case ir::Op::LoadChecked:
    case ir::Op::Has: return emit_field(body, in);
    case ir::Op::SetContains:
      if (in.imm < 0 || static_cast<size_t>(in.imm) >= m_.sets.size())
        return inst_fail(body, in, "names a missing set");
      return set(body, in.dst, set_contains(static_cast<uint32_t>(in.imm), get(body, in.a)));
    case ir::Op::TableFind:
      if (in.imm < 0 || static_cast<size_t>(in.imm) >= m_.tables.size())
        return inst_fail(body, in, "names a missing table");
      if (m_.tables[static_cast<size_t>(in.imm)].external()) return emit_data_find(body, in);
      return set(body, in.dst, table_find(static_cast<uint32_t>(in.imm), get(body, in.a)));
    case ir::Op::RowHas: return set(body, in.dst, b_.CreateICmpNE(get(body, in.a), b_.getInt64(UINT64_MAX)));
    case ir::Op::CellHas:
    case ir::Op::CellLoad:
    case ir::Op::CellLoadChecked: return emit_cell(body, in);
    case ir::Op::IAdd:
    case ir::Op::ISub:
    case ir::Op::IMul:
    case ir::Op::INeg: return emit_int_arith(body, in);
    case ir::Op::FAdd:
    case ir::Op::FSub:
    case ir::Op::FMul:
    case ir::Op::FDiv: return emit_float_arith(body, in);
    case ir::Op::FNeg: return set(body, in.dst, b_.CreateFNeg(get(body, in.a)));
    case ir::Op::IToF:
      set_range(body, in, range_of(body, in.a));
      return set(body, in.dst, b_.CreateSIToFP(get(body, in.a), f64_));
    case ir::Op::ICmp:
    case ir::Op::FCmp:
    case ir::Op::SCmp: return emit_compare(body, in);
    case ir::Op::Not: return set(body, in.dst, b_.CreateNot(get(body, in.a)));
    case ir::Op::Call: return emit_call(body, in);
    case ir::Op::EmitText:
    case ir::Op::EmitValue: return inst_fail(body, in, "appears in a fires function");
    case ir::Op::Jmp:
    case ir::Op::Br: return emit_jump(body, in);
    case ir::Op::Ret: return emit_ret(body, in);
    case ir::Op::Fault: return emit_fault(body, in);
  }
  inst_fail(body, in, "is not supported");
}

void Generator::emit_const(Body& body, const ir::Inst& in) {
  const ir::Ty ty = body.f->regs[in.dst];
  if (ty == ir::Ty::Row) return set(body, in.dst, b_.getInt64(static_cast<uint64_t>(in.imm)));
  if (ty == ir::Ty::Number) set_range(body, in, Range{in.fimm, in.fimm});
  if (ty == ir::Ty::Int && exact_int(Range{double(in.imm), double(in.imm)}))
    set_range(body, in, Range{double(in.imm), double(in.imm)});
  set(body, in.dst, scalar_constant(ty, ir::Scalar{in.imm, in.fimm}, false));
}

void Generator::emit_field(Body& body, const ir::Inst& in) {
  if (batch_column(body.event, in.imm) < 0) return;
  const ir::Ty ty = body.f->regs[in.dst];
  // A field required in this kind is present on every decoded row.
  bool optional = field_of(body.event, in.imm)->optional;
  if (in.op == ir::Op::Has)
    return set(body, in.dst, optional ? field_present(body.event, in.imm) : b_.getTrue());
  if (in.op == ir::Op::LoadChecked && optional)
    fault_if(body, b_.CreateNot(field_present(body.event, in.imm)), in.site, ir::FaultReason::Absent);
  Value* v = field_value(body.event, in.imm, storage_type(ty));
  if (failed()) return;
  v = from_storage(ty, v);
  if (ty == ir::Ty::Country && !options_.single_event && !record_)
    loaded_from_[v] = batch_column(body.event, in.imm);
  set(body, in.dst, v);
}

void Generator::emit_cell(Body& body, const ir::Inst& in) {
  if (in.imm < 0 || static_cast<size_t>(in.imm) >= m_.tables.size() ||
      in.aux >= m_.tables[static_cast<size_t>(in.imm)].columns.size())
    return inst_fail(body, in, "names a missing table column");
  auto table = static_cast<uint32_t>(in.imm);
  if (m_.tables[table].external()) return emit_data_cell(body, in);
  Value* row = get(body, in.a);
  Value* valid = cell_valid(table, in.aux, row);
  if (in.op != ir::Op::CellHas) set_range(body, in, cell_range(table, in.aux));
  if (in.op == ir::Op::CellHas) return set(body, in.dst, valid);
  if (in.op == ir::Op::CellLoadChecked) {
    fault_if(body, b_.CreateNot(valid), in.site, ir::FaultReason::Absent);
    return set(body, in.dst, cell_value(table, in.aux, row));
  }
  // Proven present by the verifier; the interpreter reads 0 otherwise.
  Value* v = cell_value(table, in.aux, row);
  set(body, in.dst, b_.CreateSelect(valid, v, Constant::getNullValue(v->getType())));
}

Value* Generator::from_bits(ir::Ty t, Value* bits) {
  llvm::Type* want = reg_type(t);
  if (want == f64_) return b_.CreateBitCast(bits, f64_);
  if (want == i1_) return b_.CreateICmpNE(bits, b_.getInt64(0));
  if (want == i64_) return bits;
  return b_.CreateTrunc(bits, want);
}

Value* Generator::data_slot(uint32_t table) {
  const ir::Table& t = m_.tables[table];
  // The slot outlives the compiled code (the module owns it) and never moves.
  if (options_.data_slot_prefix.empty())
    return b_.CreateIntToPtr(b_.getInt64(reinterpret_cast<uintptr_t>(t.data.get())), ptr_);
  const std::string name = data_slot_symbol(options_.data_slot_prefix, table);
  Value* slot = mod_->getGlobalVariable(name);
  if (!slot)
    slot = new llvm::GlobalVariable(*mod_, i8_, true, llvm::GlobalValue::ExternalLinkage, nullptr, name);
  return slot;
}

void Generator::emit_data_find(Body& body, const ir::Inst& in) {
  if (!record_ && !hoisted_rows_.empty())
    if (auto find = hoistable_find(m_, *body.f, in))
      if (auto it = hoisted_rows_.find(*find); it != hoisted_rows_.end())
        return set(body, in.dst, load_elem(i64_, it->second, row_, true));
  Value* slot = data_slot(static_cast<uint32_t>(in.imm));
  auto callee = mod_->getOrInsertFunction("edict_data_find",
                                          llvm::FunctionType::get(i64_, {ptr_, ptr_, i64_, i64_}, false));
  if (auto* f = llvm::dyn_cast<llvm::Function>(callee.getCallee())) f->addFnAttr(llvm::Attribute::NoUnwind);
  set(body, in.dst, call_helper(body, callee, {slot, strings_, to_bits(get(body, in.a)), get(body, in.b)}));
}

void Generator::emit_data_cell(Body& body, const ir::Inst& in) {
  Value* row = get(body, in.a);
  auto has_fn =
      mod_->getOrInsertFunction("edict_data_cell_has", llvm::FunctionType::get(i32_, {i64_, i32_}, false));
  if (auto* f = llvm::dyn_cast<llvm::Function>(has_fn.getCallee())) f->addFnAttr(llvm::Attribute::NoUnwind);
  Value* column = b_.getInt32(in.aux);
  if (in.op == ir::Op::CellHas || in.op == ir::Op::CellLoadChecked) {
    Value* has = b_.CreateICmpNE(call_helper(body, has_fn, {row, column}), b_.getInt32(0));
    if (in.op == ir::Op::CellHas) return set(body, in.dst, has);
    fault_if(body, b_.CreateNot(has), in.site, ir::FaultReason::Absent);
  }
  // String cells are interned into the batch: not a pure call.
  auto cell_fn =
      mod_->getOrInsertFunction("edict_data_cell", llvm::FunctionType::get(i64_, {i64_, ptr_, i32_}, false));
  if (auto* f = llvm::dyn_cast<llvm::Function>(cell_fn.getCallee())) f->addFnAttr(llvm::Attribute::NoUnwind);
  set(body, in.dst, from_bits(body.f->regs[in.dst], call_helper(body, cell_fn, {row, strings_, column})));
}

void Generator::emit_int_arith(Body& body, const ir::Inst& in) {
  llvm::Intrinsic::ID id = in.op == ir::Op::IAdd   ? llvm::Intrinsic::sadd_with_overflow
                           : in.op == ir::Op::IMul ? llvm::Intrinsic::smul_with_overflow
                                                   : llvm::Intrinsic::ssub_with_overflow;
  Value* a = in.op == ir::Op::INeg ? b_.getInt64(0) : get(body, in.a);
  Value* b = in.op == ir::Op::INeg ? get(body, in.a) : get(body, in.b);
  if (a->getType() != i64_ || b->getType() != i64_)
    return inst_fail(body, in, "operands are not 64-bit integers");
  auto ra = in.op == ir::Op::INeg ? std::optional<Range>(Range{0, 0}) : range_of(body, in.a);
  auto rb = range_of(body, in.op == ir::Op::INeg ? in.a : in.b);
  std::optional<Range> rr;
  if (ra && rb && exact_int(*ra) && exact_int(*rb))
    rr = combine(in.op == ir::Op::INeg ? ir::Op::ISub : in.op, *ra, *rb);
  if (rr && finite(*rr) && exact_int(*rr)) {  // cannot overflow
    set_range(body, in, rr);
    return set(body, in.dst,
               in.op == ir::Op::IAdd   ? b_.CreateAdd(a, b)
               : in.op == ir::Op::IMul ? b_.CreateMul(a, b)
                                       : b_.CreateSub(a, b));
  }
  Value* pair = b_.CreateBinaryIntrinsic(id, a, b);
  fault_if(body, b_.CreateExtractValue(pair, 1), in.site, ir::FaultReason::IntOverflow);
  set(body, in.dst, b_.CreateExtractValue(pair, 0));
}

void Generator::emit_float_arith(Body& body, const ir::Inst& in) {
  Value* a = get(body, in.a);
  Value* b = get(body, in.b);
  if (a->getType() != f64_ || b->getType() != f64_) return inst_fail(body, in, "operands are not numbers");
  auto ra = range_of(body, in.a), rb = range_of(body, in.b);
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
        fault_if(body, b_.CreateFCmpOEQ(b, llvm::ConstantFP::get(f64_, 0.0)), in.site,
                 ir::FaultReason::DivisionByZero);
      v = b_.CreateFDiv(a, b);
  }
  if (rr && finite(*rr)) {  // finite operands, finite result: no fault possible
    set_range(body, in, rr);
    return set(body, in.dst, v);
  }
  Value* magnitude = b_.CreateUnaryIntrinsic(llvm::Intrinsic::fabs, v);
  fault_if(body, b_.CreateFCmpUGE(magnitude, llvm::ConstantFP::getInfinity(f64_)), in.site,
           ir::FaultReason::NonFinite);
  set(body, in.dst, v);
}

void Generator::emit_compare(Body& body, const ir::Inst& in) {
  Value* a = get(body, in.a);
  Value* b = get(body, in.b);
  if (in.op == ir::Op::ICmp) {
    if (a->getType() != b->getType() || !a->getType()->isIntegerTy())
      return inst_fail(body, in, "operands differ in type");
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
    return set(body, in.dst, b_.CreateICmp(p, a, b));
  }
  if (in.op == ir::Op::FCmp) {
    if (a->getType() != f64_ || b->getType() != f64_) return inst_fail(body, in, "operands are not numbers");
    llvm::CmpInst::Predicate p = llvm::CmpInst::FCMP_OEQ;
    switch (in.pred) {
      case ir::Pred::Eq: p = llvm::CmpInst::FCMP_OEQ; break;
      case ir::Pred::Ne: p = llvm::CmpInst::FCMP_UNE; break;
      case ir::Pred::Lt: p = llvm::CmpInst::FCMP_OLT; break;
      case ir::Pred::Le: p = llvm::CmpInst::FCMP_OLE; break;
      case ir::Pred::Gt: p = llvm::CmpInst::FCMP_OGT; break;
      case ir::Pred::Ge: p = llvm::CmpInst::FCMP_OGE; break;
    }
    return set(body, in.dst, b_.CreateFCmp(p, a, b));
  }
  if (a->getType() != i32_ || b->getType() != i32_) return inst_fail(body, in, "operands are not strings");
  if (in.pred == ir::Pred::Eq) return set(body, in.dst, b_.CreateICmpEQ(a, b));
  if (in.pred == ir::Pred::Ne) return set(body, in.dst, b_.CreateICmpNE(a, b));
  // Ordering needs the strings' bytes.
  Value* c = call_helper(body, helper("edict_str_compare", true, i32_, 2), {strings_, a, b});
  Value* zero = b_.getInt32(0);
  switch (in.pred) {
    case ir::Pred::Lt: return set(body, in.dst, b_.CreateICmpSLT(c, zero));
    case ir::Pred::Le: return set(body, in.dst, b_.CreateICmpSLE(c, zero));
    case ir::Pred::Gt: return set(body, in.dst, b_.CreateICmpSGT(c, zero));
    default: return set(body, in.dst, b_.CreateICmpSGE(c, zero));
  }
}

void Generator::emit_call(Body& body, const ir::Inst& in) {
  const ir::BuiltinInfo& bi = ir::builtin_info(in.builtin);
  if (bi.arity == 0) return inst_fail(body, in, "names an unknown builtin");
  llvm::SmallVector<Value*, 3> args{strings_, get(body, in.a)};
  if (bi.arity == 2) args.push_back(get(body, in.b));
  for (size_t i = 1; i < args.size(); ++i)
    if (args[i]->getType() != i32_) return inst_fail(body, in, "arguments are not strings");
  switch (in.builtin) {
    case ir::Builtin::StartsWith:
    case ir::Builtin::EndsWith:
    case ir::Builtin::Contains:
      return set(body, in.dst,
                 b_.CreateICmpNE(call_helper(body, helper(bi.symbol, true, i32_, 2), args), b_.getInt32(0)));
    case ir::Builtin::Lower:
    case ir::Builtin::Upper:
      return set(body, in.dst, call_helper(body, helper(bi.symbol, false, i32_, 1), args));
    case ir::Builtin::Len:
      return set(body, in.dst, call_helper(body, helper(bi.symbol, true, i64_, 1), args));
  }
  inst_fail(body, in, "names an unknown builtin");
}

void Generator::emit_jump(Body& body, const ir::Inst& in) {
  for (int i = 0; i < (in.op == ir::Op::Br ? 2 : 1); ++i)
    if (in.target[i] >= body.f->blocks.size()) return inst_fail(body, in, "targets a missing block");
  Value* c = in.op == ir::Op::Br ? get(body, in.a) : nullptr;
  if (c && c->getType() != i1_) return inst_fail(body, in, "condition is not a bool");
  if (body.predicated) {
    if (!c) return reach(body, in.target[0], body.alive);
    reach(body, in.target[0], both(body.alive, c));
    return reach(body, in.target[1], both(body.alive, b_.CreateNot(c)));
  }
  if (!body.blocks[in.target[0]] || (c && !body.blocks[in.target[1]]))
    return inst_fail(body, in, "targets a missing block");
  if (!c)
    b_.CreateBr(body.blocks[in.target[0]]);
  else
    b_.CreateCondBr(c, body.blocks[in.target[0]], body.blocks[in.target[1]]);
}

void Generator::emit_ret(Body& body, const ir::Inst& in) {
  if (body.f->kind == ir::FunctionKind::Value) {
    if (body.rule >= 0 || !body.out_value)
      return inst_fail(body, in, "returns a value where none is expected");
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
}

void Generator::emit_fault(Body& body, const ir::Inst& in) {
  if (body.predicated) return fault_if(body, b_.getTrue(), in.site, in.reason);
  if (in.site != ir::kNoSite && in.site >= m_.fault_sites.size())
    return inst_fail(body, in, "has a fault site out of range");
  b_.CreateBr(fault_block(body, in.site, in.reason));
}

}  // namespace edict::codegen::detail
