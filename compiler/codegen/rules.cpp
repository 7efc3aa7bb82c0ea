// The code generator's rules: each rule of a kind in effect at the row's
// time, its fires function inlined (body.cpp), and its outcome folded into
// the per-row state (fired words, the first fault, the strongest effect)
// that the batch loop (batch.cpp) and record functions (record.cpp) store.
#include <llvm/IR/Intrinsics.h>

#include "compiler/codegen/generator.h"

namespace edict::codegen::detail {

void Generator::make_row_state() {
  row_faulted_ = make_alloca(i1_, "faulted");
  row_fault_rule_ = make_alloca(i32_, "fault_rule");
  row_fault_site_ = make_alloca(i32_, "fault_site");
  row_fault_reason_ = make_alloca(i8_, "fault_reason");
  best_ = make_alloca(i32_, "best");
  batch_faulted_ = make_alloca(i1_, "batch_faulted");
  loop_may_fault_ = false;
}

void Generator::emit_kind(int event, Value* kind_active, const RuleGroup& group) {
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

Value* Generator::window(const ir::Rule& rule, Value* time) {
  Value* in_effect = b_.getTrue();
  if (rule.effective_from)
    in_effect = b_.CreateICmpSGE(time, b_.getInt64(static_cast<uint64_t>(*rule.effective_from)));
  if (rule.effective_until)
    in_effect =
        both(in_effect, b_.CreateICmpSLT(time, b_.getInt64(static_cast<uint64_t>(*rule.effective_until))));
  return in_effect;
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

void Generator::record_outcome(int rule_index, Value* fired, Value* faulted, Value* site, Value* reason) {
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
    if (effects_from_fired_) return record_fault(rule_index, faulted, site, reason);
    Value* best = b_.CreateLoad(i32_, best_);
    Value* effect = b_.getInt32(static_cast<uint32_t>(m_.rules[static_cast<size_t>(rule_index)].effect));
    Value* stronger = b_.CreateBinaryIntrinsic(llvm::Intrinsic::smax, best, effect);
    b_.CreateStore(pick(fired, stronger, best), best_);
  }
  record_fault(rule_index, faulted, site, reason);
}

void Generator::record_fault(int rule_index, Value* faulted, Value* site, Value* reason) {
  if (!is_false(faulted)) {
    loop_may_fault_ = true;
    // Only the first faulting rule (in rule order) is recorded.
    Value* already = b_.CreateLoad(i1_, row_faulted_);
    Value* first = both(faulted, b_.CreateNot(already));
    b_.CreateStore(
        pick(first, b_.getInt32(static_cast<uint32_t>(rule_index)), b_.CreateLoad(i32_, row_fault_rule_)),
        row_fault_rule_);
    b_.CreateStore(pick(first, site, b_.CreateLoad(i32_, row_fault_site_)), row_fault_site_);
    b_.CreateStore(pick(first, reason, b_.CreateLoad(i8_, row_fault_reason_)), row_fault_reason_);
    b_.CreateStore(either(already, faulted), row_faulted_);
  }
}

Value* Generator::strongest_effect(const RuleGroup& group) {
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

}  // namespace edict::codegen::detail
