// The code generator's access to event fields (batch columns, or a record's
// fixed offsets) and the two forms of a function body: branching, with the
// IR's blocks as LLVM blocks, and if-converted, every block evaluated under
// the predicate of reaching it.
#include <llvm/IR/MDBuilder.h>

#include <algorithm>

#include "abi/abi.h"
#include "compiler/codegen/generator.h"

namespace edict::codegen::detail {

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

// ---- function bodies ---------------------------------------------------------

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
  body.reason = b_.getInt8(static_cast<uint8_t>(ir::FaultReason::None));
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
  record_outcome(body.rule, body.fires, body.faulted, body.site, body.reason);
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
    record_outcome(body.rule, b_.getTrue(), b_.getFalse(), nullptr, nullptr);
  }
  b_.CreateBr(body.next);
  if (body.fault) {
    b_.SetInsertPoint(body.fault);
    if (body.rule < 0)
      b_.CreateStore(body.fault_phi, body.out_site);
    else
      record_outcome(body.rule, b_.getFalse(), b_.getTrue(), body.fault_phi, body.fault_reason_phi);
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

BasicBlock* Generator::fault_block(Body& body, uint32_t site, ir::FaultReason reason) {
  if (!body.fault) {
    body.fault = BasicBlock::Create(ctx_, body.name(m_) + ".fault", fn_);
    llvm::IRBuilder<> fb(body.fault);
    body.fault_phi = fb.CreatePHI(i32_, 4, "site");
    body.fault_reason_phi = fb.CreatePHI(i8_, 4, "reason");
  }
  body.fault_phi->addIncoming(b_.getInt32(site), b_.GetInsertBlock());
  body.fault_reason_phi->addIncoming(b_.getInt8(static_cast<uint8_t>(reason)), b_.GetInsertBlock());
  return body.fault;
}

void Generator::fault_if(Body& body, Value* cond, uint32_t site, ir::FaultReason reason) {
  if (site != ir::kNoSite && site >= m_.fault_sites.size())
    fail("fn " + body.f->name + ": fault site out of range");
  if (body.predicated) {
    // A fault ends the function: what follows runs only where it did not.
    Value* faults = both(body.alive, cond);
    body.site = pick(faults, b_.getInt32(site), body.site);
    body.reason = pick(faults, b_.getInt8(static_cast<uint8_t>(reason)), body.reason);
    body.faulted = either(body.faulted, faults);
    body.alive = both(body.alive, b_.CreateNot(cond));
    return;
  }
  BasicBlock* ok = BasicBlock::Create(ctx_, "ok", fn_);
  b_.CreateCondBr(cond, fault_block(body, site, reason), ok,
                  llvm::MDBuilder(ctx_).createUnlikelyBranchWeights());
  b_.SetInsertPoint(ok);
}

void Generator::reach(Body& body, ir::BlockId target, Value* pred) {
  if (target >= body.reach.size()) {
    fail("fn " + body.f->name + ": a branch targets a missing block");
    return;
  }
  body.reach[target] = body.reach[target] ? either(body.reach[target], pred) : pred;
}

}  // namespace edict::codegen::detail
