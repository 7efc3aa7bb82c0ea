// collapse_string_tests (passes.h): a region of jumping code that depends on
// one string only is a compile-time function of that string's pool id, i.e.
// a set of pool ids. Evaluating the region once per pool string replaces a
// table lookup, cell loads, arithmetic and several branches per event by one
// membership test that backends turn into a range or bit test.
#include <algorithm>
#include <bit>
#include <optional>

#include "compiler/ir/arith.h"
#include "compiler/ir/passes.h"

namespace edict::ir {
namespace {

// Derivation of a register: from constants only, or from one root string
// register (its index), or neither.
constexpr Reg kFromConstants = kNoReg - 1;
// Compile-time budget: pool strings times region instructions evaluated.
constexpr size_t kMaxWork = size_t{1} << 22;

bool region_op(const Module& m, const Inst& in) {
  if (is_arith(in.op)) return true;  // evaluate() computes it
  switch (in.op) {
    case Op::TableFind:
    case Op::CellHas:
    case Op::CellLoad:
    case Op::CellLoadChecked:
      // Data tables are read at run time: nothing to fold.
      if (in.imm < 0 || static_cast<size_t>(in.imm) >= m.tables.size() ||
          m.tables[static_cast<size_t>(in.imm)].external())
        return false;
      return true;
    case Op::Const:
    case Op::RowHas:
    case Op::SetContains: return true;
    // Equality compares ids; ordering needs the bytes of strings outside the pool.
    case Op::SCmp: return in.pred == Pred::Eq || in.pred == Pred::Ne;
    default: return false;
  }
}

// Register operands of an instruction (unused operand slots hold kNoReg).
int operands(const Inst& in, Reg out[2]) {
  int n = 0;
  if (in.a != kNoReg) out[n++] = in.a;
  if (in.b != kNoReg) out[n++] = in.b;
  return n;
}

// Register values are IR value bits (see VALUES in ir.h), as the interpreter
// keeps them.
uint64_t scalar_bits(Ty t, const Scalar& s) {
  return t == Ty::Number ? std::bit_cast<uint64_t>(s.f) : static_cast<uint64_t>(s.i);
}

bool scalar_equals(Ty t, const Scalar& s, uint64_t v) {
  return t == Ty::Number ? s.f == std::bit_cast<double>(v) : static_cast<uint64_t>(s.i) == v;
}

// Evaluates one region instruction with the interpreter's semantics (the
// arithmetic through the same evaluator, arith.h). False: it would fault (or
// reads a cell the verifier proved unreachable), and the region is not
// collapsed.
bool evaluate(const Module& m, const Inst& in, std::vector<uint64_t>& reg) {
  uint64_t& d = reg[in.dst];
  if (is_arith(in.op)) {
    arith::Checked<uint64_t> r = evaluate(in.op, in.pred, reg[in.a], in.b != kNoReg ? reg[in.b] : 0);
    d = r.value;
    return r.ok();
  }
  switch (in.op) {
    case Op::Const:
      d = in.type == Ty::Number ? std::bit_cast<uint64_t>(in.fimm) : static_cast<uint64_t>(in.imm);
      return true;
    case Op::TableFind: {
      const Table& t = m.tables[static_cast<size_t>(in.imm)];
      d = static_cast<uint64_t>(int64_t{-1});
      for (size_t r = 0; r < t.keys.size(); ++r)
        if (scalar_equals(t.key, t.keys[r], reg[in.a])) {
          d = r;
          break;
        }
      return true;
    }
    case Op::RowHas: d = static_cast<int64_t>(reg[in.a]) >= 0; return true;
    case Op::CellHas:
    case Op::CellLoad:
    case Op::CellLoadChecked: {
      const Column& col = m.tables[static_cast<size_t>(in.imm)].columns[in.aux];
      int64_t r = static_cast<int64_t>(reg[in.a]);
      bool has = r >= 0 && static_cast<size_t>(r) < col.cells.size() &&
                 (static_cast<size_t>(r) >= col.present.size() || col.present[static_cast<size_t>(r)]);
      if (in.op == Op::CellHas) {
        d = has;
        return true;
      }
      if (!has) return false;
      d = scalar_bits(col.type, col.cells[static_cast<size_t>(r)]);
      return true;
    }
    case Op::SetContains: {
      const Set& s = m.sets[static_cast<size_t>(in.imm)];
      d = std::any_of(s.members.begin(), s.members.end(),
                      [&](const Scalar& x) { return scalar_equals(s.elem, x, reg[in.a]); });
      return true;
    }
    case Op::SCmp: d = arith::compare(in.pred, reg[in.a], reg[in.b]); return true;  // eq/ne: ids
    default: return false;
  }
}

class Collapser {
 public:
  Collapser(Module& m, Function& f) : m_(m), f_(f) {}

  // Collapses one region; false when none is left.
  bool step() {
    analyse();
    for (BlockId e : order_) {
      const Inst& t = f_.blocks[e].insts.back();
      if (t.op != Op::Br || t.a >= origin_.size()) continue;
      Reg key = origin_[t.a];
      if (key == kNoReg || key == kFromConstants) continue;
      if (try_region(e, key)) return true;
    }
    return false;
  }

 private:
  Module& m_;
  Function& f_;
  std::vector<BlockId> order_;
  std::vector<uint32_t> defs_;
  std::vector<Reg> origin_;
  std::vector<std::vector<BlockId>> preds_;

  void analyse() {
    order_ = reverse_postorder(f_);
    preds_ = predecessors(f_);
    defs_.assign(f_.regs.size(), 0);
    for (const Block& b : f_.blocks)
      for (const Inst& in : b.insts)
        if (op_info(in.op).has_result && in.dst < defs_.size()) ++defs_[in.dst];
    origin_.assign(f_.regs.size(), kNoReg);
    for (BlockId id : order_)
      for (const Inst& in : f_.blocks[id].insts) {
        if (!op_info(in.op).has_result || in.dst >= f_.regs.size() || defs_[in.dst] != 1 ||
            !region_op(m_, in))
          continue;
        Reg from = kFromConstants, ops[2];
        int n = operands(in, ops);
        for (int i = 0; i < n && from != kNoReg; ++i) {
          Reg o = ops[i] < origin_.size() ? source(ops[i]) : kNoReg;
          if (o == kNoReg || (from != kFromConstants && o != kFromConstants && o != from))
            from = kNoReg;
          else if (o != kFromConstants)
            from = o;
        }
        origin_[in.dst] = from;
      }
  }

  // What a use of register r derives from: its origin, or r itself when it
  // is a string assigned once by something else (a load, a builtin).
  Reg source(Reg r) const {
    if (origin_[r] != kNoReg) return origin_[r];
    if (f_.regs[r] == Ty::Str && defs_[r] == 1) return r;
    return kNoReg;
  }

  bool in_region(const Inst& in, Reg key) const {
    return op_info(in.op).has_result && in.dst < origin_.size() && region_op(m_, in) &&
           (origin_[in.dst] == key || origin_[in.dst] == kFromConstants);
  }

  bool try_region(BlockId entry, Reg key) {
    const size_t nb = f_.blocks.size();
    std::vector<bool> member(nb, false);
    member[entry] = true;
    // Grow: a block joins when every predecessor is in the region and all
    // of it derives from the key (reverse postorder sees predecessors first).
    bool after = false;
    for (BlockId b : order_) {
      if (b == entry) {
        after = true;
        continue;
      }
      if (!after || b == 0) continue;
      if (!std::all_of(preds_[b].begin(), preds_[b].end(), [&](BlockId p) { return member[p]; })) continue;
      const Block& blk = f_.blocks[b];
      bool ok = true;
      for (size_t i = 0; ok && i + 1 < blk.insts.size(); ++i) ok = in_region(blk.insts[i], key);
      const Inst& t = blk.insts.back();
      ok = ok && (t.op == Op::Jmp || (t.op == Op::Br && t.a < origin_.size() &&
                                      (origin_[t.a] == key || origin_[t.a] == kFromConstants)));
      if (ok) member[b] = true;
    }
    // Exactly two ways out.
    std::vector<BlockId> exits;
    for (BlockId b = 0; b < nb; ++b)
      if (member[b])
        for (BlockId s : successors(f_.blocks[b]))
          if (s < nb && !member[s] && std::find(exits.begin(), exits.end(), s) == exits.end())
            exits.push_back(s);
    if (exits.size() != 2) return false;

    // The region's instructions: all of the other blocks, and the entry's
    // key-derived ones. A constant of the entry used elsewhere stays.
    std::vector<bool> defined(f_.regs.size(), false);
    std::vector<bool> kept(f_.blocks[entry].insts.size(), false);
    const Block& eb = f_.blocks[entry];
    for (size_t i = 0; i + 1 < eb.insts.size(); ++i) {
      if (in_region(eb.insts[i], key))
        defined[eb.insts[i].dst] = true;
      else
        kept[i] = true;
    }
    size_t work = 0;
    for (BlockId b = 0; b < nb; ++b)
      if (member[b] && b != entry)
        for (const Inst& in : f_.blocks[b].insts) {
          if (op_info(in.op).has_result) defined[in.dst] = true;
          ++work;
        }
    size_t computing = 0;  // region instructions that are not constants
    for (size_t i = 0; i + 1 < eb.insts.size(); ++i)
      if (!kept[i] && eb.insts[i].op != Op::Const) ++computing;
    for (BlockId b = 0; b < nb; ++b)
      if (member[b] && b != entry)
        for (const Inst& in : f_.blocks[b].insts)
          if (op_info(in.op).has_result && in.op != Op::Const) ++computing;
    // One test is already as small as the set test that would replace it.
    if (computing < 2) return false;
    // Nothing outside may read a region register (a constant of the entry
    // read outside is kept instead).
    for (BlockId b = 0; b < nb; ++b) {
      if (member[b] && b != entry) continue;
      const Block& blk = f_.blocks[b];
      for (size_t i = 0; i < blk.insts.size(); ++i) {
        if (b == entry && (i + 1 == blk.insts.size() || !kept[i])) continue;
        Reg ops[2];
        int n = operands(blk.insts[i], ops);
        for (int k = 0; k < n; ++k) {
          if (ops[k] >= defined.size() || !defined[ops[k]]) continue;
          auto at = std::find_if(eb.insts.begin(), eb.insts.end() - 1,
                                 [&](const Inst& in) { return in.dst == ops[k] && in.op == Op::Const; });
          if (at == eb.insts.end() - 1) return false;
          kept[static_cast<size_t>(at - eb.insts.begin())] = true;
          defined[ops[k]] = false;
        }
      }
    }

    // The region must compute everything it reads but the key: a register
    // derived from the key outside it (e.g. a lookup in a dominating block)
    // has no value in the evaluation.
    std::vector<bool> evaluated(f_.regs.size(), false);
    evaluated[key] = true;
    auto reads_only_evaluated = [&](const Inst& in) {
      Reg ops[2];
      int n = operands(in, ops);
      for (int k = 0; k < n; ++k)
        if (ops[k] >= evaluated.size() || !evaluated[ops[k]]) return false;
      if (op_info(in.op).has_result && in.dst < evaluated.size()) evaluated[in.dst] = true;
      return true;
    };
    for (size_t i = 0; i < eb.insts.size(); ++i)
      if ((i + 1 == eb.insts.size() || !kept[i] || eb.insts[i].op == Op::Const) &&
          !reads_only_evaluated(eb.insts[i]))
        return false;
    for (BlockId b : order_)
      if (member[b] && b != entry)
        for (const Inst& in : f_.blocks[b].insts)
          if (!reads_only_evaluated(in)) return false;

    // Evaluate for every pool string and one string outside the pool.
    const size_t keys = m_.strings.size() + 1;
    work += eb.insts.size();
    if (keys > kMaxWork / std::max<size_t>(work, 1)) return false;
    std::vector<uint64_t> reg(f_.regs.size());
    std::vector<uint8_t> exit_of(keys, 0);
    for (size_t k = 0; k < keys; ++k) {
      reg[key] = k;
      auto exit = run(entry, member, kept, reg, exits);
      if (!exit) return false;
      exit_of[k] = *exit;
    }
    const uint8_t other = exit_of.back();
    std::vector<Scalar> members;
    for (size_t k = 0; k + 1 < keys; ++k)
      if (exit_of[k] != other) members.push_back(Scalar{static_cast<int64_t>(k), 0});
    rewrite(entry, key, kept, members, exits[other == 0 ? 1 : 0], exits[other]);
    return true;
  }

  // The exit (index into `exits`) the region takes for the key in `reg`.
  std::optional<uint8_t> run(BlockId entry, const std::vector<bool>& member, const std::vector<bool>& kept,
                             std::vector<uint64_t>& reg, const std::vector<BlockId>& exits) {
    BlockId b = entry;
    for (size_t steps = 0; steps <= f_.blocks.size(); ++steps) {
      const Block& blk = f_.blocks[b];
      for (size_t i = 0; i + 1 < blk.insts.size(); ++i) {
        if (b == entry && kept[i] && blk.insts[i].op != Op::Const) continue;
        if (!evaluate(m_, blk.insts[i], reg)) return std::nullopt;
      }
      const Inst& t = blk.insts.back();
      BlockId next = t.op == Op::Jmp ? t.target[0] : reg[t.a] ? t.target[0] : t.target[1];
      if (next >= member.size()) return std::nullopt;
      if (!member[next])
        return static_cast<uint8_t>(std::find(exits.begin(), exits.end(), next) - exits.begin());
      b = next;
    }
    return std::nullopt;
  }

  void rewrite(BlockId entry, Reg key, const std::vector<bool>& kept, std::vector<Scalar> members,
               BlockId in_set, BlockId otherwise) {
    Block& eb = f_.blocks[entry];
    const Inst last = eb.insts.back();
    std::vector<Inst> insts;
    for (size_t i = 0; i + 1 < eb.insts.size(); ++i)
      if (kept[i]) insts.push_back(eb.insts[i]);
    Inst t;
    t.span = last.span;
    if (members.empty()) {
      t.op = Op::Jmp;
      t.target[0] = otherwise;
    } else {
      std::sort(members.begin(), members.end(), [&](const Scalar& a, const Scalar& b) {
        return m_.strings[static_cast<size_t>(a.i)] < m_.strings[static_cast<size_t>(b.i)];
      });
      Inst test;
      test.op = Op::SetContains;
      test.type = Ty::Bool;
      test.dst = static_cast<Reg>(f_.regs.size());
      f_.regs.push_back(Ty::Bool);
      test.a = key;
      test.imm = set_for(members, last.span);
      test.span = last.span;
      insts.push_back(test);
      t.op = Op::Br;
      t.a = test.dst;
      t.target[0] = in_set;
      t.target[1] = otherwise;
    }
    insts.push_back(t);
    eb.insts = std::move(insts);
  }

  // An existing string set with these members, or a new synthetic one.
  int64_t set_for(const std::vector<Scalar>& members, Span span) {
    for (size_t s = 0; s < m_.sets.size(); ++s)
      if (m_.sets[s].elem == Ty::Str && m_.sets[s].members == members) return static_cast<int64_t>(s);
    Set set;
    set.name = "$";
    set.name += std::to_string(m_.sets.size());
    set.elem = Ty::Str;
    set.members = members;
    set.span = span;
    m_.sets.push_back(std::move(set));
    return static_cast<int64_t>(m_.sets.size() - 1);
  }
};

}  // namespace

bool collapse_string_tests(Module& m, Function& f) {
  if (f.blocks.empty() || !f.trace.empty()) return false;
  Collapser c(m, f);
  bool changed = false;
  for (size_t guard = 0; guard < f.blocks.size() && c.step(); ++guard) changed = true;
  return changed;
}

}  // namespace edict::ir
