// The optimisation passes of passes.h that lowering runs on every function
// it builds (collapse_string_tests has its own file, collapse.cpp). Each pass
// keeps the IR well formed and never reorders or drops an instruction that
// may fault, except for a dominating identical twin (see SIMPLIFICATIONS in
// ir.h).
#include <algorithm>
#include <cstring>
#include <map>
#include <tuple>

#include "compiler/ir/passes.h"

namespace edict::ir {
namespace {

bool pure_with_result(Op op) {
  switch (op) {
    case Op::Copy:  // copies assign merge registers; never shared
    case Op::EmitText:
    case Op::EmitValue:
    case Op::Jmp:
    case Op::Br:
    case Op::Ret:
    case Op::Fault: return false;
    default: return true;
  }
}

size_t operand_count(const Inst& in) {
  if (in.op == Op::Ret) return in.a != kNoReg ? 1 : 0;        // value functions return a register
  if (in.op == Op::TableFind) return in.b != kNoReg ? 2 : 1;  // a data table's lookup takes the time
  return in.op == Op::Call ? builtin_info(in.builtin).arity : op_info(in.op).operands;
}

std::vector<uint32_t> def_counts(const Function& f) {
  std::vector<uint32_t> defs(f.regs.size(), 0);
  for (const Block& b : f.blocks)
    for (const Inst& in : b.insts)
      if (in.dst < defs.size()) ++defs[in.dst];
  return defs;
}

}  // namespace

void simplify_cfg(Function& f) {
  if (f.blocks.empty()) return;
  for (bool changed = true; changed;) {
    changed = false;
    // Jump threading.
    auto forward = [&](BlockId b) {
      for (int guard = 0; guard < 1'000'000; ++guard) {
        const Block& blk = f.blocks[b];
        if (b == 0 || blk.insts.size() != 1 || blk.insts[0].op != Op::Jmp || blk.insts[0].target[0] == b)
          return b;
        b = blk.insts[0].target[0];
      }
      return b;
    };
    for (Block& blk : f.blocks) {
      if (blk.insts.empty()) continue;
      Inst& t = blk.insts.back();
      if (t.op == Op::Jmp || t.op == Op::Br) {
        for (int k = 0; k < (t.op == Op::Br ? 2 : 1); ++k) {
          if (t.target[k] >= f.blocks.size()) continue;
          BlockId to = forward(t.target[k]);
          if (to != t.target[k]) {
            t.target[k] = to;
            changed = true;
          }
        }
      }
      if (t.op == Op::Br && t.target[0] == t.target[1]) {
        t.op = Op::Jmp;
        t.a = kNoReg;
        changed = true;
      }
    }
    // Merge a block into its only predecessor when that one jumps to it.
    // Predecessor lists are kept up to date by hand: recomputing them per
    // merge would be quadratic in the size of a large inlined rule.
    std::vector<bool> reachable(f.blocks.size(), false);
    for (BlockId b : reverse_postorder(f)) reachable[b] = true;
    std::vector<std::vector<BlockId>> preds(f.blocks.size());
    for (BlockId b = 0; b < f.blocks.size(); ++b)
      if (reachable[b])
        for (BlockId s : successors(f.blocks[b]))
          if (s < preds.size()) preds[s].push_back(b);
    for (BlockId b = 0; b < f.blocks.size(); ++b) {
      if (!reachable[b]) continue;
      for (;;) {
        Block& blk = f.blocks[b];
        if (blk.insts.empty() || blk.insts.back().op != Op::Jmp) break;
        BlockId c = blk.insts.back().target[0];
        if (c == 0 || c == b || c >= f.blocks.size() || preds[c].size() != 1) break;
        blk.insts.pop_back();
        std::vector<Inst> moved = std::move(f.blocks[c].insts);
        f.blocks[c].insts.clear();
        reachable[c] = false;
        preds[c].clear();
        for (Inst& in : moved) blk.insts.push_back(in);
        for (BlockId s : successors(blk))
          if (s < preds.size()) std::replace(preds[s].begin(), preds[s].end(), c, b);
        changed = true;
      }
    }
  }
  // Renumber reachable blocks in reverse postorder.
  std::vector<BlockId> order = reverse_postorder(f);
  if (order.empty()) return;  // a cycle: leave it for the verifier to report
  std::vector<BlockId> number(f.blocks.size(), UINT32_MAX);
  for (BlockId i = 0; i < order.size(); ++i) number[order[i]] = i;
  std::vector<Block> blocks;
  blocks.reserve(order.size());
  for (BlockId b : order) {
    Block blk = std::move(f.blocks[b]);
    if (!blk.insts.empty()) {
      Inst& t = blk.insts.back();
      if (t.op == Op::Jmp || t.op == Op::Br)
        for (int k = 0; k < 2; ++k)
          if (t.target[k] < number.size() && number[t.target[k]] != UINT32_MAX)
            t.target[k] = number[t.target[k]];
    }
    blocks.push_back(std::move(blk));
  }
  f.blocks = std::move(blocks);
}

void eliminate_common_subexpressions(Function& f) {
  std::vector<BlockId> order = reverse_postorder(f);
  if (order.empty()) return;
  std::vector<BlockId> idom = dominators(f).idom;
  std::vector<std::vector<BlockId>> children(f.blocks.size());
  for (BlockId b : order)
    if (b != 0 && idom[b] != UINT32_MAX) children[idom[b]].push_back(b);
  std::vector<uint32_t> defs = def_counts(f);
  auto single = [&](Reg r) { return r == kNoReg || (r < defs.size() && defs[r] == 1); };

  using Key = std::tuple<uint8_t, uint8_t, uint8_t, uint8_t, int64_t, uint64_t, uint32_t, Reg, Reg>;
  auto key_of = [](const Inst& in) {
    uint64_t fbits = 0;
    std::memcpy(&fbits, &in.fimm, sizeof fbits);
    return Key{static_cast<uint8_t>(in.op),
               static_cast<uint8_t>(in.type),
               static_cast<uint8_t>(in.pred),
               static_cast<uint8_t>(in.builtin),
               in.imm,
               fbits,
               in.aux,
               in.a,
               in.b};
  };
  std::map<Key, Reg> available;
  std::vector<Reg> replace(f.regs.size(), kNoReg);
  auto resolve = [&](Reg r) { return r < replace.size() && replace[r] != kNoReg ? replace[r] : r; };

  // Iterative dominator-tree walk; each frame remembers which keys it added.
  struct Frame {
    BlockId block;
    size_t next_child;
    std::vector<Key> added;
  };
  std::vector<Frame> stack;
  auto enter = [&](BlockId b) {
    Frame fr{b, 0, {}};
    for (Inst& in : f.blocks[b].insts) {
      in.a = resolve(in.a);
      in.b = resolve(in.b);
      if (!pure_with_result(in.op) || !single(in.dst) || !single(in.a) || !single(in.b)) continue;
      Key k = key_of(in);
      auto it = available.find(k);
      if (it != available.end()) {
        replace[in.dst] = it->second;
        in.op = Op::Jmp;  // marks the instruction for removal below
        in.dst = kNoReg;
        continue;
      }
      available.emplace(k, in.dst);
      fr.added.push_back(k);
    }
    stack.push_back(std::move(fr));
  };
  enter(0);
  while (!stack.empty()) {
    Frame& top = stack.back();
    if (top.next_child < children[top.block].size()) {
      enter(children[top.block][top.next_child++]);
      continue;
    }
    for (const Key& k : top.added) available.erase(k);
    stack.pop_back();
  }
  for (Block& b : f.blocks) {
    std::vector<Inst> kept;
    kept.reserve(b.insts.size());
    for (size_t i = 0; i < b.insts.size(); ++i) {
      const Inst& in = b.insts[i];
      bool removed = in.op == Op::Jmp && i + 1 < b.insts.size();
      if (!removed) kept.push_back(in);
    }
    b.insts = std::move(kept);
  }
}

void elide_proven_checks(const Module& m, Function& f) {
  std::vector<PresenceFacts> entry = presence_facts(f);
  for (BlockId b : reverse_postorder(f)) {
    PresenceFacts facts = entry[b];
    for (Inst& in : f.blocks[b].insts) {
      if (in.op == Op::LoadChecked && facts.has_field(static_cast<uint32_t>(in.imm))) {
        in.op = Op::Load;
        in.site = kNoSite;
      }
      bool optional_cell = in.imm >= 0 && static_cast<size_t>(in.imm) < m.tables.size() &&
                           in.aux < m.tables[in.imm].columns.size() &&
                           m.tables[in.imm].columns[in.aux].optional;
      if (in.op == Op::CellLoadChecked && facts.has_row(in.a) &&
          (!optional_cell || facts.has_cell(in.a, in.aux))) {
        in.op = Op::CellLoad;
        in.site = kNoSite;
      }
      if (in.dst < f.regs.size() && f.regs[in.dst] == Ty::Row) facts.forget_row(in.dst);
    }
  }
}

void eliminate_dead_code(Function& f) {
  // A worklist, so a long dead chain costs linear time.
  std::vector<uint32_t> uses(f.regs.size(), 0);
  std::vector<std::vector<std::pair<BlockId, uint32_t>>> defs(f.regs.size());
  for (BlockId b = 0; b < f.blocks.size(); ++b)
    for (uint32_t i = 0; i < f.blocks[b].insts.size(); ++i) {
      const Inst& in = f.blocks[b].insts[i];
      size_t n = operand_count(in);
      if (n >= 1 && in.a < uses.size()) ++uses[in.a];
      if (n >= 2 && in.b < uses.size()) ++uses[in.b];
      if (in.dst < defs.size()) defs[in.dst].push_back({b, i});
    }
  std::vector<std::vector<bool>> dead(f.blocks.size());
  for (BlockId b = 0; b < f.blocks.size(); ++b) dead[b].assign(f.blocks[b].insts.size(), false);
  std::vector<Reg> work;
  for (Reg r = 0; r < uses.size(); ++r)
    if (uses[r] == 0) work.push_back(r);
  while (!work.empty()) {
    Reg r = work.back();
    work.pop_back();
    for (auto [b, i] : defs[r]) {
      const Inst& in = f.blocks[b].insts[i];
      if (dead[b][i] || op_info(in.op).checked || !op_info(in.op).has_result) continue;
      dead[b][i] = true;
      size_t n = operand_count(in);
      for (size_t k = 0; k < n; ++k) {
        Reg o = k == 0 ? in.a : in.b;
        if (o < uses.size() && --uses[o] == 0) work.push_back(o);
      }
    }
  }
  for (BlockId b = 0; b < f.blocks.size(); ++b) {
    std::vector<Inst> kept;
    kept.reserve(f.blocks[b].insts.size());
    for (uint32_t i = 0; i < f.blocks[b].insts.size(); ++i)
      if (!dead[b][i]) kept.push_back(f.blocks[b].insts[i]);
    f.blocks[b].insts = std::move(kept);
  }
}

void compact_registers(Function& f) {
  std::vector<Reg> number(f.regs.size(), kNoReg);
  std::vector<Ty> regs;
  auto map = [&](Reg r) -> Reg {
    if (r >= number.size()) return r;
    if (number[r] == kNoReg) {
      number[r] = static_cast<Reg>(regs.size());
      regs.push_back(f.regs[r]);
    }
    return number[r];
  };
  for (Block& b : f.blocks)
    for (Inst& in : b.insts) {
      size_t n = operand_count(in);
      if (n >= 1) in.a = map(in.a);
      if (n >= 2) in.b = map(in.b);
      if (in.dst != kNoReg) in.dst = map(in.dst);
    }
  f.regs = std::move(regs);
}

void optimise_function(const Module& m, Function& f) {
  simplify_cfg(f);
  eliminate_common_subexpressions(f);
  elide_proven_checks(m, f);
  eliminate_dead_code(f);
  simplify_cfg(f);  // dead code leaves empty and straight-line blocks behind
  compact_registers(f);
}

}  // namespace edict::ir
