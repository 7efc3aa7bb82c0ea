// The code generator's plans (plan.h) and codegen::plan_class_byte_columns:
// decisions taken from the IR alone, before any LLVM code is emitted.
#include "compiler/codegen/plan.h"

#include <llvm/ADT/SmallVector.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/MDBuilder.h>
#include <llvm/IR/Metadata.h>

#include <algorithm>

#include "compiler/codegen/codegen.h"
#include "support/countries.h"

namespace edict::codegen {
namespace detail {
namespace {

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

}  // namespace

size_t instruction_count(const ir::Function& f) {
  size_t n = 0;
  for (const ir::Block& b : f.blocks) n += b.insts.size();
  return n;
}

bool wants_table(const ir::Set& set) {
  if (set.elem != ir::Ty::Country || set.members.size() <= kMaxCompareChain) return false;
  int64_t lo = set.members.front().i, hi = lo;
  for (const ir::Scalar& s : set.members) lo = std::min(lo, s.i), hi = std::max(hi, s.i);
  return hi - lo + 1 != static_cast<int64_t>(set.members.size());
}

std::vector<RuleGroup> plan_rule_groups(const ir::Module& m) {
  std::vector<RuleGroup> groups;
  size_t size = 0;
  for (size_t i = 0; i < m.rules.size(); ++i) {
    size_t n = 0;
    for (const ir::RuleBody& rb : m.rules[i].bodies)
      if (rb.fires >= 0 && static_cast<size_t>(rb.fires) < m.functions.size())
        n += instruction_count(m.functions[static_cast<size_t>(rb.fires)]);
    if (groups.empty() || (size > 0 && size + n > kMaxGroupInstructions)) {
      groups.push_back(RuleGroup{i, i});
      size = 0;
    }
    groups.back().end = i + 1;
    size += n;
  }
  if (groups.empty()) groups.push_back(RuleGroup{0, 0});
  return groups;
}

RowDispatch plan_row_dispatch(const ir::Module& m, const RuleGroup& group, size_t predicated_limit) {
  RowDispatch plan;
  bool all_small = true;
  size_t total = 0;
  for (size_t e = 0; e < m.events.size(); ++e) {
    bool any = false;
    for (size_t i = group.begin; i < group.end; ++i) {
      const ir::RuleBody* rb = m.rules[i].body_for(static_cast<int>(e));
      if (!rb || rb->fires == ir::kNoFunc) continue;
      any = true;
      if (rb->fires >= 0 && static_cast<size_t>(rb->fires) < m.functions.size()) {
        size_t n = instruction_count(m.functions[static_cast<size_t>(rb->fires)]);
        total += n;
        all_small = all_small && n <= predicated_limit;
      }
    }
    if (any) plan.kinds.push_back(static_cast<int>(e));
  }
  plan.straight = all_small && total <= kMaxPredicatedKinds;
  return plan;
}

namespace {
// The field a register holds, when its only definition loads a required
// input field of the function's event.
std::optional<int64_t> loaded_field(const ir::Module& m, const ir::Function& f, ir::Reg r) {
  if (r == ir::kNoReg || f.event < 0 || static_cast<size_t>(f.event) >= m.events.size()) return std::nullopt;
  const ir::Inst* def = nullptr;
  for (const ir::Block& b : f.blocks)
    for (const ir::Inst& in : b.insts)
      if (in.dst == r) {
        if (def) return std::nullopt;  // assigned on several paths
        def = &in;
      }
  if (!def || (def->op != ir::Op::Load && def->op != ir::Op::LoadChecked)) return std::nullopt;
  const auto& fields = m.events[static_cast<size_t>(f.event)].fields;
  if (def->imm < 0 || static_cast<size_t>(def->imm) >= fields.size()) return std::nullopt;
  const ir::Field& field = fields[static_cast<size_t>(def->imm)];
  if (field.optional || field.aggregate >= 0) return std::nullopt;
  return def->imm;
}
}  // namespace

std::optional<HoistedFind> hoistable_find(const ir::Module& m, const ir::Function& f, const ir::Inst& in) {
  if (in.op != ir::Op::TableFind || f.kind != ir::FunctionKind::Fires || in.imm < 0 ||
      static_cast<size_t>(in.imm) >= m.tables.size())
    return std::nullopt;
  const ir::Table& table = m.tables[static_cast<size_t>(in.imm)];
  if (!table.external() || table.key != ir::Ty::Str) return std::nullopt;
  // A screening answer lives in a bounded per-thread ring until its event
  // has read it (abi/data.cpp), so a whole batch's answers cannot be made
  // ahead of the loop; and a screening costs microseconds, which no loop
  // vectorisation would win back.
  if (table.data->schema().screens()) return std::nullopt;
  std::optional<int64_t> key = loaded_field(m, f, in.a), time = loaded_field(m, f, in.b);
  const ir::EventSchema& event = m.events[static_cast<size_t>(f.event)];
  if (!key || !time || *time != event.time_field) return std::nullopt;
  if (event.fields[static_cast<size_t>(*key)].type != ir::Ty::Str ||
      event.fields[static_cast<size_t>(*time)].type != ir::Ty::Time)
    return std::nullopt;
  return HoistedFind{static_cast<uint32_t>(in.imm), f.event, *key, *time};
}

std::vector<HoistedFind> plan_hoisted_finds(const ir::Module& m, const RuleGroup& group) {
  std::vector<HoistedFind> finds;
  for (size_t i = group.begin; i < group.end; ++i)
    for (const ir::RuleBody& rb : m.rules[i].bodies) {
      if (rb.fires < 0 || static_cast<size_t>(rb.fires) >= m.functions.size()) continue;
      const ir::Function& f = m.functions[static_cast<size_t>(rb.fires)];
      for (const ir::Block& b : f.blocks)
        for (const ir::Inst& in : b.insts)
          if (auto find = hoistable_find(m, f, in)) finds.push_back(*find);
    }
  std::sort(finds.begin(), finds.end());
  finds.erase(std::unique(finds.begin(), finds.end()), finds.end());
  return finds;
}

CountrySetTable plan_country_set_table(const ir::Module& m, bool single_event) {
  CountrySetTable table;
  std::vector<uint32_t> used;
  for (const ir::Function& f : m.functions) {
    if (f.kind != ir::FunctionKind::Fires) continue;
    for (const ir::Block& b : f.blocks)
      for (const ir::Inst& in : b.insts)
        if (in.op == ir::Op::SetContains && in.imm >= 0 && static_cast<size_t>(in.imm) < m.sets.size() &&
            wants_table(m.sets[static_cast<size_t>(in.imm)]))
          used.push_back(static_cast<uint32_t>(in.imm));
  }
  std::sort(used.begin(), used.end());
  used.erase(std::unique(used.begin(), used.end()), used.end());
  if (used.empty()) return table;
  if (used.size() > 64) used.resize(64);  // the rest keep their own bitsets
  // Batch code has entries of at least 32 bits: the vectorised row loop
  // loads an entry per lane (AVX2 gathers are slower still) and combines
  // conditions in 32-bit lanes, so a 32-bit entry goes straight into its
  // lane while a byte needs a widening per column afterwards (measured: the
  // reference workload's loop is ~10% faster). Single-event code is scalar
  // and keeps the smallest table.
  const unsigned narrowest = single_event ? 8 : 32;
  table.bits = std::max(narrowest, used.size() <= 8    ? 8u
                                   : used.size() <= 16 ? 16u
                                   : used.size() <= 32 ? 32u
                                                       : 64u);
  table.entries.assign(kCountryIndexLimit + 1, 0);
  for (unsigned j = 0; j < used.size(); ++j) {
    table.bit_of[used[j]] = j;
    for (const ir::Scalar& s : m.sets[used[j]].members)
      if (s.i >= 0 && s.i < kCountryIndexLimit) table.entries[static_cast<size_t>(s.i)] |= uint64_t{1} << j;
  }
  return table;
}

AliasScopes plan_alias_scopes(llvm::LLVMContext& ctx) {
  AliasScopes s;
  llvm::MDBuilder md(ctx);
  llvm::MDNode* domain = md.createAnonymousAliasScopeDomain("edict.batch");
  llvm::MDNode* in = md.createAnonymousAliasScope(domain, "columns");
  llvm::MDNode* out[kOutCount];
  const char* names[kOutCount] = {"decision", "fault_rule", "fault_site", "fault_reason", "fired"};
  for (int i = 0; i < kOutCount; ++i) out[i] = md.createAnonymousAliasScope(domain, names[i]);
  s.scope_in = llvm::MDNode::get(ctx, {in});
  s.noalias_in = llvm::MDNode::get(ctx, llvm::SmallVector<llvm::Metadata*, kOutCount>(out, out + kOutCount));
  for (int i = 0; i < kOutCount; ++i) {
    s.scope_out[i] = llvm::MDNode::get(ctx, {out[i]});
    llvm::SmallVector<llvm::Metadata*, kOutCount> others{in};
    for (int j = 0; j < kOutCount; ++j)
      if (j != i) others.push_back(out[j]);
    s.noalias_out[i] = llvm::MDNode::get(ctx, others);
  }
  return s;
}

}  // namespace detail

std::vector<ColumnMap::CountryClasses> plan_class_byte_columns(const ir::Module& module,
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
            !detail::wants_table(module.sets[static_cast<size_t>(in.imm)]))
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

}  // namespace edict::codegen
