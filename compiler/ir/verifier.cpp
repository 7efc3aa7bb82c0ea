// The IR verifier: structural and type checks that lowering (and anyone who
// builds IR by hand) must pass before a backend sees the module. Findings are
// internal errors, one line each, never user diagnostics. Checks: terminated
// blocks, valid and acyclic branches, ids in range, operand types per opcode,
// every register defined on every path before use, no optional value read
// without a proven presence test, and fault sites exactly on checked ops.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "compiler/ir/ir.h"
#include "support/countries.h"

namespace edict::ir {

namespace {

class FunctionVerifier {
 public:
  FunctionVerifier(const Module& m, const Function& f, std::vector<std::string>& out)
      : m_(m), f_(f), out_(out) {
    for (size_t i = 0; i < m.functions.size(); ++i)
      if (&m.functions[i] == &f) index_ = static_cast<FuncId>(i);
  }

  void run() {
    if (f_.blocks.empty()) return fail_fn("has no blocks");
    if (f_.event < 0 || static_cast<size_t>(f_.event) >= m_.events.size())
      return fail_fn(fmt::format("names event kind #{} of {}", f_.event, m_.events.size()));
    if (f_.rule >= 0 && static_cast<size_t>(f_.rule) >= m_.rules.size())
      fail_fn(fmt::format("names rule #{} of {}", f_.rule, m_.rules.size()));
    for (size_t r = 0; r < f_.regs.size(); ++r)
      if (f_.regs[r] == Ty::Void) fail_fn(fmt::format("register %{} has type void", r));
    collect_row_tables();
    bool structure_ok = true;
    for (BlockId b = 0; b < f_.blocks.size(); ++b) structure_ok &= check_block(b);
    if (!structure_ok) return;  // the dataflow below needs well-formed blocks
    if (reverse_postorder(f_).empty()) return fail_fn("has a cycle in its control flow");
    check_defined_before_use();
    check_presence();
  }

 private:
  const Module& m_;
  const Function& f_;
  std::vector<std::string>& out_;
  FuncId index_ = kNoFunc;
  // Row register -> the table its lookups search (-2: conflicting tables).
  std::vector<int64_t> row_table_;

  void fail_fn(const std::string& what) { out_.push_back(fmt::format("fn {}: {}", f_.name, what)); }
  void fail(BlockId b, size_t i, const std::string& what) {
    const Inst& in = f_.blocks[b].insts[i];
    out_.push_back(fmt::format("fn {} bb{} #{} `{}`: {}", f_.name, b, i, op_info(in.op).name, what));
  }

  bool reg_ok(Reg r) const { return r < f_.regs.size(); }
  bool table_is_data(int64_t t) const {
    return t >= 0 && static_cast<size_t>(t) < m_.tables.size() &&
           m_.tables[static_cast<size_t>(t)].external();
  }
  Ty ty(Reg r) const { return reg_ok(r) ? f_.regs[r] : Ty::Void; }

  void collect_row_tables() {
    row_table_.assign(f_.regs.size(), -1);
    // Copies of rows inherit the table; two passes settle copies of copies in
    // any block order, which is all lowering produces.
    for (int pass = 0; pass < 2; ++pass)
      for (const Block& b : f_.blocks)
        for (const Inst& in : b.insts) {
          if (!reg_ok(in.dst) || f_.regs[in.dst] != Ty::Row) continue;
          int64_t table = -1;
          if (in.op == Op::TableFind)
            table = in.imm;
          else if (in.op == Op::Copy && reg_ok(in.a))
            table = row_table_[in.a];
          if (table == -1) continue;
          int64_t& slot = row_table_[in.dst];
          if (slot == -1)
            slot = table;
          else if (slot != table)
            slot = -2;
        }
  }

  bool check_block(BlockId b) {
    const Block& block = f_.blocks[b];
    if (block.insts.empty()) {
      out_.push_back(fmt::format("fn {} bb{}: empty block", f_.name, b));
      return false;
    }
    bool ok = true;
    for (size_t i = 0; i < block.insts.size(); ++i) {
      const Inst& in = block.insts[i];
      if (static_cast<int>(in.op) >= kOpCount) {
        out_.push_back(fmt::format("fn {} bb{} #{}: opcode {} out of range", f_.name, b, i, int(in.op)));
        ok = false;
        continue;
      }
      bool last = i + 1 == block.insts.size();
      if (op_info(in.op).terminator && !last) {
        fail(b, i, "terminator in the middle of a block");
        ok = false;
      }
      if (last && !op_info(in.op).terminator) {
        fail(b, i, "block is not terminated");
        ok = false;
      }
      ok &= check_inst(b, i);
    }
    return ok;
  }

  // Checks one instruction in isolation; false when its registers or targets
  // are unusable (so the dataflow passes would index out of range).
  bool check_inst(BlockId b, size_t i) {
    const Inst& in = f_.blocks[b].insts[i];
    const OpInfo& info = op_info(in.op);
    bool usable = true;
    auto want_reg = [&](Reg r, const char* which) {
      if (!reg_ok(r)) {
        fail(b, i,
             fmt::format("operand {} is {} (function has {} registers)", which,
                         r == kNoReg ? std::string("missing") : fmt::format("%{}", r), f_.regs.size()));
        usable = false;
      }
    };
    size_t operands = info.operands;
    if (in.op == Op::Call) operands = builtin_info(in.builtin).arity;
    if (in.op == Op::TableFind && table_is_data(in.imm)) operands = 2;
    if (in.op == Op::Ret && f_.kind == FunctionKind::Value) operands = 1;
    if (operands >= 1) want_reg(in.a, "a");
    if (operands >= 2) want_reg(in.b, "b");
    if (operands < 1 && in.a != kNoReg) fail(b, i, "has an unexpected operand a");
    if (operands < 2 && in.b != kNoReg) fail(b, i, "has an unexpected operand b");
    if (info.has_result) {
      if (!reg_ok(in.dst)) {
        fail(b, i, "result register missing or out of range");
        usable = false;
      } else if (f_.regs[in.dst] != in.type) {
        fail(b, i,
             fmt::format("result type {} but %{} is {}", ty_name(in.type), in.dst, ty_name(f_.regs[in.dst])));
      }
    } else if (in.dst != kNoReg) {
      fail(b, i, "writes a register but has no result");
    }
    if (!in.span.valid()) fail(b, i, "has no source span");
    check_site(b, i);
    if (in.op == Op::Jmp || in.op == Op::Br) {
      for (int t = 0; t < (in.op == Op::Br ? 2 : 1); ++t) {
        if (in.target[t] >= f_.blocks.size()) {
          fail(b, i, fmt::format("branch to bb{} of {}", in.target[t], f_.blocks.size()));
          usable = false;
        } else if (in.target[t] == 0) {
          fail(b, i, "branch to the entry block");
        }
      }
    }
    if (usable) check_types(b, i);
    return usable;
  }

  void check_site(BlockId b, size_t i) {
    const Inst& in = f_.blocks[b].insts[i];
    bool checked = op_info(in.op).checked;
    if (!checked) {
      if (in.site != kNoSite) fail(b, i, "has a fault site but cannot fault");
      return;
    }
    if (in.site == kNoSite || in.site >= m_.fault_sites.size()) {
      fail(b, i, "may fault but has no valid fault site");
      return;
    }
    if (index_ != kNoFunc && m_.fault_sites[in.site].function != index_)
      fail(b, i, fmt::format("fault site {} belongs to another function", in.site));
  }

  bool field_ok(int64_t column) const {
    return column >= 0 && static_cast<size_t>(column) < m_.events[f_.event].fields.size();
  }
  const Field& field(int64_t column) const { return m_.events[f_.event].fields[column]; }

  void expect(BlockId b, size_t i, bool cond, const std::string& what) {
    if (!cond) fail(b, i, what);
  }

  std::string types_of(const Inst& in) const {
    std::string s = ty_name(ty(in.a));
    if (in.b != kNoReg) s += std::string(", ") + ty_name(ty(in.b));
    return fmt::format("({}) -> {}", s, ty_name(in.type));
  }

  bool int_signature(const Inst& in) const {
    Ty a = ty(in.a), b = ty(in.b), r = in.type;
    using T = Ty;
    switch (in.op) {
      case Op::IAdd:
        return (a == T::Int && b == T::Int && r == T::Int) ||
               (a == T::Time && b == T::Duration && r == T::Time) ||
               (a == T::Duration && b == T::Time && r == T::Time) ||
               (a == T::Duration && b == T::Duration && r == T::Duration);
      case Op::ISub:
        return (a == T::Int && b == T::Int && r == T::Int) ||
               (a == T::Time && b == T::Duration && r == T::Time) ||
               (a == T::Time && b == T::Time && r == T::Duration) ||
               (a == T::Duration && b == T::Duration && r == T::Duration);
      case Op::IMul:
        return (a == T::Int && b == T::Int && r == T::Int) ||
               (a == T::Duration && b == T::Int && r == T::Duration) ||
               (a == T::Int && b == T::Duration && r == T::Duration);
      case Op::INeg: return (a == T::Int && r == T::Int) || (a == T::Duration && r == T::Duration);
      default: return false;
    }
  }

  void check_table_cell(BlockId b, size_t i) {
    const Inst& in = f_.blocks[b].insts[i];
    if (in.imm < 0 || static_cast<size_t>(in.imm) >= m_.tables.size())
      return fail(b, i, fmt::format("table #{} of {}", in.imm, m_.tables.size()));
    const Table& t = m_.tables[in.imm];
    if (in.aux >= t.columns.size())
      return fail(b, i, fmt::format("column #{} of table `{}` with {}", in.aux, t.name, t.columns.size()));
    expect(b, i, ty(in.a) == Ty::Row,
           fmt::format("operand %{} is {}, expected row", in.a, ty_name(ty(in.a))));
    if (ty(in.a) == Ty::Row && row_table_[in.a] != in.imm)
      fail(b, i, fmt::format("row %{} does not come from a lookup in `{}`", in.a, t.name));
    const Column& c = t.columns[in.aux];
    if (in.op == Op::CellHas)
      expect(b, i, in.type == Ty::Bool, "result must be bool");
    else
      expect(b, i, in.type == c.type,
             fmt::format("result {} but column `{}` is {}", ty_name(in.type), c.name, ty_name(c.type)));
  }

  // One case per opcode (~130 lines): the type rules read as the table of
  // signatures in ir.h, in its order.
  void check_types(BlockId b, size_t i) {
    const Inst& in = f_.blocks[b].insts[i];
    switch (in.op) {
      case Op::Const:
        expect(b, i, is_scalar(in.type), fmt::format("constant of type {}", ty_name(in.type)));
        if (in.type == Ty::Str)
          expect(b, i, in.imm >= 0 && static_cast<size_t>(in.imm) < m_.strings.size(),
                 fmt::format("string #{} of {}", in.imm, m_.strings.size()));
        if (in.type == Ty::Country)
          expect(b, i, in.imm >= 0 && in.imm < kCountryIndexLimit && !country_name(uint16_t(in.imm)).empty(),
                 fmt::format("country index {} is not an assigned code", in.imm));
        if (in.type == Ty::Bool) expect(b, i, in.imm == 0 || in.imm == 1, "bool constant not 0 or 1");
        if (in.type == Ty::Number) expect(b, i, std::isfinite(in.fimm), "non-finite number constant");
        break;
      case Op::Copy:
        expect(b, i, ty(in.a) == in.type,
               fmt::format("copies {} into {}", ty_name(ty(in.a)), ty_name(in.type)));
        break;
      case Op::Load:
      case Op::LoadChecked:
      case Op::Has: {
        if (!field_ok(in.imm))
          return fail(b, i, fmt::format("column #{} of event `{}`", in.imm, m_.events[f_.event].name));
        const Field& fd = field(in.imm);
        if (in.op == Op::Has) {
          expect(b, i, in.type == Ty::Bool, "result must be bool");
        } else {
          expect(b, i, in.type == fd.type,
                 fmt::format("result {} but field `{}` is {}", ty_name(in.type), fd.name, ty_name(fd.type)));
        }
        if (in.op == Op::LoadChecked)
          expect(b, i, fd.optional, fmt::format("checked load of required field `{}`", fd.name));
        break;
      }
      case Op::SetContains: {
        if (in.imm < 0 || static_cast<size_t>(in.imm) >= m_.sets.size())
          return fail(b, i, fmt::format("set #{} of {}", in.imm, m_.sets.size()));
        const Set& s = m_.sets[in.imm];
        expect(b, i, ty(in.a) == s.elem,
               fmt::format("operand is {} but `{}` holds {}", ty_name(ty(in.a)), s.name, ty_name(s.elem)));
        expect(b, i, in.type == Ty::Bool, "result must be bool");
        break;
      }
      case Op::TableFind: {
        if (in.imm < 0 || static_cast<size_t>(in.imm) >= m_.tables.size())
          return fail(b, i, fmt::format("table #{} of {}", in.imm, m_.tables.size()));
        const Table& t = m_.tables[in.imm];
        expect(b, i, ty(in.a) == t.key,
               fmt::format("key is {} but `{}` is keyed by {}", ty_name(ty(in.a)), t.name, ty_name(t.key)));
        if (t.external()) expect(b, i, ty(in.b) == Ty::Time, "a data table's lookup takes the event time");
        expect(b, i, in.type == Ty::Row, "result must be row");
        break;
      }
      case Op::RowHas:
        expect(b, i, ty(in.a) == Ty::Row && in.type == Ty::Bool,
               "expects (row) -> bool, got " + types_of(in));
        break;
      case Op::CellHas:
      case Op::CellLoad:
      case Op::CellLoadChecked: check_table_cell(b, i); break;
      case Op::IAdd:
      case Op::ISub:
      case Op::IMul:
      case Op::INeg: expect(b, i, int_signature(in), "operand types do not fit: " + types_of(in)); break;
      case Op::FAdd:
      case Op::FSub:
      case Op::FMul:
      case Op::FDiv:
        expect(b, i, ty(in.a) == Ty::Number && ty(in.b) == Ty::Number && in.type == Ty::Number,
               "expects (num, num) -> num, got " + types_of(in));
        break;
      case Op::FNeg:
        expect(b, i, ty(in.a) == Ty::Number && in.type == Ty::Number,
               "expects (num) -> num, got " + types_of(in));
        break;
      case Op::IToF:
        expect(b, i, ty(in.a) == Ty::Int && in.type == Ty::Number,
               "expects (int) -> num, got " + types_of(in));
        break;
      case Op::ICmp: {
        Ty t = ty(in.a);
        bool ok = t == ty(in.b) && in.type == Ty::Bool &&
                  (t == Ty::Int || t == Ty::Time || t == Ty::Duration || t == Ty::Country ||
                   (t == Ty::Bool && (in.pred == Pred::Eq || in.pred == Pred::Ne)));
        expect(b, i, ok, "operand types do not fit: " + types_of(in));
        break;
      }
      case Op::FCmp:
        expect(b, i, ty(in.a) == Ty::Number && ty(in.b) == Ty::Number && in.type == Ty::Bool,
               "expects (num, num) -> bool, got " + types_of(in));
        break;
      case Op::SCmp:
        expect(b, i, ty(in.a) == Ty::Str && ty(in.b) == Ty::Str && in.type == Ty::Bool,
               "expects (str, str) -> bool, got " + types_of(in));
        break;
      case Op::Not:
        expect(b, i, ty(in.a) == Ty::Bool && in.type == Ty::Bool,
               "expects (bool) -> bool, got " + types_of(in));
        break;
      case Op::Call: {
        if (static_cast<int>(in.builtin) >= kBuiltinCount) return fail(b, i, "unknown helper");
        const BuiltinInfo& h = builtin_info(in.builtin);
        bool ok = ty(in.a) == Ty::Str && (h.arity < 2 || ty(in.b) == Ty::Str) && in.type == h.result;
        expect(b, i, ok,
               fmt::format("`{}` expects {} str argument(s) and gives {}, got {}", h.name, h.arity,
                           ty_name(h.result), types_of(in)));
        break;
      }
      case Op::EmitText:
        expect(b, i, f_.kind == FunctionKind::Message, "emits outside a message function");
        expect(b, i, in.imm >= 0 && static_cast<size_t>(in.imm) < m_.strings.size(),
               fmt::format("string #{} of {}", in.imm, m_.strings.size()));
        break;
      case Op::EmitValue:
        expect(b, i, f_.kind == FunctionKind::Message, "emits outside a message function");
        expect(b, i, is_scalar(ty(in.a)), fmt::format("cannot format a {}", ty_name(ty(in.a))));
        expect(b, i, in.aux == 0 || (in.aux == kEmitDate && ty(in.a) == Ty::Time),
               fmt::format("formats a {} as a date", ty_name(ty(in.a))));
        break;
      case Op::Br:
        expect(b, i, ty(in.a) == Ty::Bool, fmt::format("condition is {}", ty_name(ty(in.a))));
        break;
      case Op::Ret:
        if (f_.kind == FunctionKind::Fires)
          expect(b, i, in.imm == 0 || in.imm == 1, "fires result not 0 or 1");
        if (f_.kind == FunctionKind::Value && reg_ok(in.a))
          expect(b, i, is_scalar(ty(in.a)), fmt::format("returns a {}", ty_name(ty(in.a))));
        break;
      case Op::Fault: expect(b, i, in.reason != FaultReason::None, "fault without a reason"); break;
      case Op::Jmp: break;
    }
  }

  // Every use must see a definition on every path from the entry. A
  // register written once needs its definition to dominate the use. For a
  // merge register (written in several blocks) a backward walk from the use
  // must not reach the entry without crossing a block that writes it; the
  // walk stops at those blocks, so for lowering's diamonds it only visits the
  // arms. Both stay near linear on large inlined rules.
  void check_defined_before_use() {
    Dominators dom = dominators(f_);
    auto preds = predecessors(f_);
    struct Site {
      BlockId block;
      uint32_t index;
    };
    std::vector<std::vector<Site>> defs(f_.regs.size());
    for (BlockId b = 0; b < f_.blocks.size(); ++b)
      for (uint32_t i = 0; i < f_.blocks[b].insts.size(); ++i) {
        Reg d = f_.blocks[b].insts[i].dst;
        if (reg_ok(d)) defs[d].push_back({b, i});
      }
    std::vector<uint32_t> seen(f_.blocks.size(), 0);
    uint32_t stamp = 0;
    auto writes = [&](Reg r, BlockId b) {
      return std::any_of(defs[r].begin(), defs[r].end(), [&](const Site& d) { return d.block == b; });
    };
    // Every path from the entry to b's entry passes a block writing r.
    auto defined_on_entry = [&](Reg r, BlockId b) {
      if (b == 0) return false;
      ++stamp;
      std::vector<BlockId> work(preds[b].begin(), preds[b].end());
      while (!work.empty()) {
        BlockId p = work.back();
        work.pop_back();
        if (seen[p] == stamp) continue;
        seen[p] = stamp;
        if (writes(r, p)) continue;
        if (p == 0) return false;
        for (BlockId q : preds[p])
          if (seen[q] != stamp) work.push_back(q);
      }
      return true;
    };
    std::map<std::pair<Reg, BlockId>, bool> memo;
    auto defined_at = [&](Reg r, BlockId b, uint32_t i) {
      for (const Site& d : defs[r])
        if (d.block == b && d.index < i) return true;  // written earlier in the same block
      if (defs[r].empty()) return false;
      if (defs[r].size() == 1) return defs[r][0].block != b && dom.dominates(defs[r][0].block, b);
      auto [it, fresh] = memo.try_emplace({r, b}, false);
      if (fresh) it->second = defined_on_entry(r, b);
      return it->second;
    };
    std::vector<bool> reachable(f_.blocks.size(), false);
    for (BlockId b : reverse_postorder(f_)) reachable[b] = true;
    for (BlockId b = 0; b < f_.blocks.size(); ++b) {
      if (!reachable[b]) continue;
      const Block& block = f_.blocks[b];
      for (uint32_t i = 0; i < block.insts.size(); ++i) {
        const Inst& in = block.insts[i];
        size_t operands = in.op == Op::Call ? builtin_info(in.builtin).arity : op_info(in.op).operands;
        if (in.op == Op::Ret && f_.kind == FunctionKind::Value) operands = 1;
        Reg uses[2] = {in.a, in.b};
        for (size_t k = 0; k < operands; ++k)
          if (reg_ok(uses[k]) && !defined_at(uses[k], b, i))
            fail(b, i, fmt::format("%{} is used before it is defined on some path", uses[k]));
      }
    }
  }

  void check_presence() {
    std::vector<PresenceFacts> entry = presence_facts(f_);
    for (BlockId b : reverse_postorder(f_)) {
      PresenceFacts facts = entry[b];
      const Block& block = f_.blocks[b];
      for (size_t i = 0; i < block.insts.size(); ++i) {
        const Inst& in = block.insts[i];
        if (in.op == Op::Load && field_ok(in.imm) && field(in.imm).optional &&
            !facts.has_field(static_cast<uint32_t>(in.imm)))
          fail(b, i,
               fmt::format("reads optional field `{}` without a proven `has` test", field(in.imm).name));
        if (in.op == Op::CellLoad && in.imm >= 0 && static_cast<size_t>(in.imm) < m_.tables.size() &&
            in.aux < m_.tables[in.imm].columns.size()) {
          if (!facts.has_row(in.a))
            fail(b, i, fmt::format("reads row %{} without a proven `row.has` test", in.a));
          else if (m_.tables[in.imm].columns[in.aux].optional && !facts.has_cell(in.a, in.aux))
            fail(b, i,
                 fmt::format("reads optional cell `{}` without a proven `cell.has` test",
                             m_.tables[in.imm].columns[in.aux].name));
        }
        if (reg_ok(in.dst) && f_.regs[in.dst] == Ty::Row) facts.forget_row(in.dst);
      }
    }
  }
};

void verify_module_tables(const Module& m, std::vector<std::string>& out) {
  auto str_ok = [&](int64_t id) { return id >= 0 && static_cast<size_t>(id) < m.strings.size(); };
  auto scalar_ok = [&](Ty t, const Scalar& v) {
    if (t == Ty::Str) return str_ok(v.i);
    if (t == Ty::Country) return v.i >= 0 && v.i < kCountryIndexLimit && !country_name(uint16_t(v.i)).empty();
    if (t == Ty::Number) return std::isfinite(v.f);
    if (t == Ty::Bool) return v.i == 0 || v.i == 1;
    return is_scalar(t);
  };
  auto less = [&](Ty t, const Scalar& a, const Scalar& b) {
    if (t == Ty::Number) return a.f < b.f;
    if (t == Ty::Str) return m.strings[a.i] < m.strings[b.i];
    return a.i < b.i;
  };

  if (m.outcomes.empty()) out.push_back("module has no outcomes");
  if (m.default_outcome < 0 || static_cast<size_t>(m.default_outcome) >= m.outcomes.size())
    out.push_back(fmt::format("default outcome #{} of {}", m.default_outcome, m.outcomes.size()));
  for (const EventSchema& e : m.events) {
    for (const Field& f : e.fields)
      if (!is_scalar(f.type))
        out.push_back(fmt::format("event `{}` field `{}` has type {}", e.name, f.name, ty_name(f.type)));
    if (e.time_field >= 0 &&
        (static_cast<size_t>(e.time_field) >= e.fields.size() || e.fields[e.time_field].type != Ty::Time))
      out.push_back(fmt::format("event `{}`: time field #{} is not a time field", e.name, e.time_field));
  }
  for (const Set& s : m.sets) {
    if (!is_scalar(s.elem)) {
      out.push_back(fmt::format("set `{}` holds {}", s.name, ty_name(s.elem)));
      continue;
    }
    for (size_t i = 0; i < s.members.size(); ++i) {
      if (!scalar_ok(s.elem, s.members[i])) {
        out.push_back(fmt::format("set `{}`: member #{} is not a valid {}", s.name, i, ty_name(s.elem)));
        break;
      }
      if (i > 0 && !less(s.elem, s.members[i - 1], s.members[i])) {
        out.push_back(fmt::format("set `{}`: members not sorted and unique at #{}", s.name, i));
        break;
      }
    }
  }
  for (const Table& t : m.tables) {
    if (!is_scalar(t.key)) out.push_back(fmt::format("table `{}` keyed by {}", t.name, ty_name(t.key)));
    bool keys_ok = is_scalar(t.key);
    for (size_t r = 0; r < t.keys.size() && keys_ok; ++r)
      if (!scalar_ok(t.key, t.keys[r])) {
        out.push_back(fmt::format("table `{}`: key #{} invalid", t.name, r));
        keys_ok = false;
      }
    if (keys_ok) {
      std::vector<Scalar> keys = t.keys;
      std::sort(keys.begin(), keys.end(),
                [&](const Scalar& a, const Scalar& b) { return less(t.key, a, b); });
      for (size_t r = 1; r < keys.size(); ++r)
        if (!less(t.key, keys[r - 1], keys[r]))
          out.push_back(fmt::format("table `{}`: duplicate key", t.name));
    }
    for (const Column& c : t.columns) {
      if (c.cells.size() != t.rows() || c.present.size() != t.rows()) {
        out.push_back(fmt::format("table `{}` column `{}`: {} cells for {} rows", t.name, c.name,
                                  c.cells.size(), t.rows()));
        continue;
      }
      for (size_t r = 0; r < t.rows(); ++r) {
        if (!c.present[r] && !c.optional)
          out.push_back(fmt::format("table `{}` column `{}`: required cell #{} absent", t.name, c.name, r));
        if (c.present[r] && !scalar_ok(c.type, c.cells[r]))
          out.push_back(fmt::format("table `{}` column `{}`: cell #{} not a valid {}", t.name, c.name, r,
                                    ty_name(c.type)));
      }
    }
  }
  for (size_t ri = 0; ri < m.rules.size(); ++ri) {
    const Rule& r = m.rules[ri];
    std::string who = fmt::format("rule `{}`", r.name);
    if (r.effect < 0 || static_cast<size_t>(r.effect) >= m.outcomes.size())
      out.push_back(fmt::format("{}: effect #{} of {}", who, r.effect, m.outcomes.size()));
    if (r.policy < -1 || (r.policy >= 0 && static_cast<size_t>(r.policy) >= m.policies.size()))
      out.push_back(fmt::format("{}: policy #{} of {}", who, r.policy, m.policies.size()));
    std::set<int> seen;
    for (const RuleBody& body : r.bodies) {
      if (body.event < 0 || static_cast<size_t>(body.event) >= m.events.size()) {
        out.push_back(fmt::format("{}: body for event #{} of {}", who, body.event, m.events.size()));
        continue;
      }
      if (!seen.insert(body.event).second)
        out.push_back(fmt::format("{}: two bodies for one event kind", who));
      if ((r.effective_from || r.effective_until) && m.events[body.event].time_field < 0)
        out.push_back(
            fmt::format("{}: dated, but event `{}` has no time field", who, m.events[body.event].name));
      auto check_fn = [&](FuncId id, FunctionKind kind, const char* what) {
        if (id < 0 || static_cast<size_t>(id) >= m.functions.size()) {
          out.push_back(fmt::format("{}: {} function #{} of {}", who, what, id, m.functions.size()));
          return;
        }
        const Function& f = m.functions[id];
        if (f.kind != kind || f.rule != static_cast<int>(ri) || f.event != body.event)
          out.push_back(fmt::format("{}: {} function `{}` belongs elsewhere", who, what, f.name));
      };
      check_fn(body.fires, FunctionKind::Fires, "fires");
      if (body.message != kNoFunc) check_fn(body.message, FunctionKind::Message, "message");
    }
  }
  std::vector<int> site_uses(m.fault_sites.size(), 0);
  for (const Function& f : m.functions)
    for (const Block& b : f.blocks)
      for (const Inst& in : b.insts)
        if (in.site != kNoSite && in.site < site_uses.size() && ++site_uses[in.site] == 2)
          out.push_back(fmt::format("fault site {} used by more than one instruction", in.site));
  for (size_t s = 0; s < m.fault_sites.size(); ++s)
    if (m.fault_sites[s].function < 0 || static_cast<size_t>(m.fault_sites[s].function) >= m.functions.size())
      out.push_back(fmt::format("fault site {} names function #{}", s, m.fault_sites[s].function));
}

}  // namespace

std::vector<std::string> verify_function(const Module& m, const Function& f) {
  std::vector<std::string> out;
  FunctionVerifier(m, f, out).run();
  return out;
}

std::vector<std::string> verify(const Module& m) {
  std::vector<std::string> out;
  verify_module_tables(m, out);
  for (const Function& f : m.functions) FunctionVerifier(m, f, out).run();
  return out;
}

}  // namespace edict::ir
