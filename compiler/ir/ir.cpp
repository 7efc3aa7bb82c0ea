// The IR's vocabulary (opcode, type, fault and helper tables), module
// bookkeeping, and the CFG analyses that lowering, the verifier and the
// backends share: successors, predecessors, reverse postorder and the
// presence dataflow that proves optional values present.
#include <algorithm>
#include <iterator>

#include "compiler/ir/ir.h"

namespace edict::ir {

const char* ty_name(Ty t) {
  switch (t) {
    case Ty::Void: return "void";
    case Ty::Bool: return "bool";
    case Ty::Int: return "int";
    case Ty::Number: return "num";
    case Ty::Str: return "str";
    case Ty::Country: return "country";
    case Ty::Time: return "time";
    case Ty::Duration: return "dur";
    case Ty::Row: return "row";
  }
  return "?";
}

bool is_scalar(Ty t) {
  return t != Ty::Void && t != Ty::Row;
}

const OpInfo& op_info(Op op) {
  // Indexed by Op; keep in enum order.
  static const OpInfo kTable[kOpCount] = {
      {"const", 0, true, false, false},
      {"copy", 1, true, false, false},
      {"load", 0, true, false, false},
      {"load.checked", 0, true, false, true},
      {"has", 0, true, false, false},
      {"set.contains", 1, true, false, false},
      {"table.find", 1, true, false, false},
      {"row.has", 1, true, false, false},
      {"cell.has", 1, true, false, false},
      {"cell.load", 1, true, false, false},
      {"cell.load.checked", 1, true, false, true},
      {"iadd", 2, true, false, true},
      {"isub", 2, true, false, true},
      {"imul", 2, true, false, true},
      {"ineg", 1, true, false, true},
      {"fadd", 2, true, false, true},
      {"fsub", 2, true, false, true},
      {"fmul", 2, true, false, true},
      {"fdiv", 2, true, false, true},
      {"fneg", 1, true, false, false},
      {"itof", 1, true, false, false},
      {"icmp", 2, true, false, false},
      {"fcmp", 2, true, false, false},
      {"scmp", 2, true, false, false},
      {"not", 1, true, false, false},
      {"call", 2, true, false, false},
      {"emit.text", 0, false, false, false},
      {"emit", 1, false, false, false},
      {"jmp", 0, false, true, false},
      {"br", 1, false, true, false},
      {"ret", 0, false, true, false},
      {"fault", 0, false, true, true},
  };
  auto i = static_cast<size_t>(op);
  static const OpInfo kBad = {"<bad-op>", 0, false, false, false};
  return i < std::size(kTable) ? kTable[i] : kBad;
}

const char* pred_name(Pred p) {
  switch (p) {
    case Pred::Eq: return "eq";
    case Pred::Ne: return "ne";
    case Pred::Lt: return "lt";
    case Pred::Le: return "le";
    case Pred::Gt: return "gt";
    case Pred::Ge: return "ge";
  }
  return "?";
}

const char* agg_fn_name(AggFn f) {
  switch (f) {
    case AggFn::Sum: return "sum";
    case AggFn::Count: return "count";
    case AggFn::CountDistinct: return "count distinct";
    case AggFn::Min: return "min";
    case AggFn::Max: return "max";
    case AggFn::Avg: return "avg";
  }
  return "?";
}

const char* fault_reason_name(FaultReason r) {
  switch (r) {
    case FaultReason::None: return "none";
    case FaultReason::IntOverflow: return "int_overflow";
    case FaultReason::DivisionByZero: return "division_by_zero";
    case FaultReason::NonFinite: return "non_finite";
    case FaultReason::Absent: return "absent";
  }
  return "?";
}

FaultReason fault_reason_named(std::string_view name) {
  for (FaultReason r :
       {FaultReason::IntOverflow, FaultReason::DivisionByZero, FaultReason::NonFinite, FaultReason::Absent})
    if (name == fault_reason_name(r)) return r;
  return FaultReason::None;
}

const char* fault_reason_text(FaultReason r) {
  switch (r) {
    case FaultReason::None: return "no fault";
    case FaultReason::IntOverflow: return "integer overflow";
    case FaultReason::DivisionByZero: return "division by zero";
    case FaultReason::NonFinite: return "non-finite number";
    case FaultReason::Absent: return "absent value with no default";
  }
  return "?";
}

const BuiltinInfo& builtin_info(Builtin b) {
  // Indexed by check::Builtin; keep in enum order.
  static const BuiltinInfo kTable[kBuiltinCount] = {
      {"starts_with", "edict_str_starts_with", 2, Ty::Bool},
      {"ends_with", "edict_str_ends_with", 2, Ty::Bool},
      {"contains", "edict_str_contains", 2, Ty::Bool},
      {"lower", "edict_str_lower", 1, Ty::Str},
      {"upper", "edict_str_upper", 1, Ty::Str},
      {"len", "edict_str_len", 1, Ty::Int},
  };
  static const BuiltinInfo kBad = {"<bad-builtin>", "", 0, Ty::Void};
  auto i = static_cast<size_t>(b);
  return i < std::size(kTable) ? kTable[i] : kBad;
}

int EventSchema::field_index(std::string_view field) const {
  for (size_t i = 0; i < fields.size(); ++i)
    if (fields[i].name == field) return static_cast<int>(i);
  return -1;
}

const RuleBody* Rule::body_for(int event) const {
  for (const RuleBody& b : bodies)
    if (b.event == event) return &b;
  return nullptr;
}

int Module::event_index(std::string_view name) const {
  for (size_t i = 0; i < events.size(); ++i)
    if (events[i].name == name) return static_cast<int>(i);
  return -1;
}

StrId Module::intern(std::string_view s) {
  auto it = string_ids_.find(std::string(s));
  if (it != string_ids_.end()) return it->second;
  // The map may have been left empty by a copy made elsewhere; rebuild lazily.
  if (string_ids_.size() != strings.size()) {
    string_ids_.clear();
    for (size_t i = 0; i < strings.size(); ++i) string_ids_.emplace(strings[i], static_cast<StrId>(i));
    if (auto again = string_ids_.find(std::string(s)); again != string_ids_.end()) return again->second;
  }
  auto id = static_cast<StrId>(strings.size());
  strings.emplace_back(s);
  string_ids_.emplace(std::string(s), id);
  return id;
}

std::optional<StrId> Module::find_string(std::string_view s) const {
  auto it = string_ids_.find(std::string(s));
  if (it != string_ids_.end()) return it->second;
  for (size_t i = 0; i < strings.size(); ++i)
    if (strings[i] == s) return static_cast<StrId>(i);
  return std::nullopt;
}

bool rule_in_effect(const Rule& rule, int64_t event_time) {
  if (rule.effective_from && event_time < *rule.effective_from) return false;
  if (rule.effective_until && event_time >= *rule.effective_until) return false;
  return true;
}

// ---- CFG analyses ---------------------------------------------------------------

std::vector<BlockId> successors(const Block& b) {
  if (b.insts.empty()) return {};
  const Inst& t = b.insts.back();
  if (t.op == Op::Jmp) return {t.target[0]};
  if (t.op == Op::Br) {
    if (t.target[0] == t.target[1]) return {t.target[0]};
    return {t.target[0], t.target[1]};
  }
  return {};
}

std::vector<std::vector<BlockId>> predecessors(const Function& f) {
  std::vector<std::vector<BlockId>> preds(f.blocks.size());
  for (BlockId b = 0; b < f.blocks.size(); ++b)
    for (BlockId s : successors(f.blocks[b]))
      if (s < f.blocks.size()) preds[s].push_back(b);
  return preds;
}

std::vector<BlockId> reverse_postorder(const Function& f) {
  if (f.blocks.empty()) return {};
  // Iterative DFS (functions can be large after inlining): 0 new, 1 on the
  // stack, 2 finished. Reaching a block that is on the stack is a cycle.
  std::vector<uint8_t> state(f.blocks.size(), 0);
  std::vector<BlockId> post;
  std::vector<std::pair<BlockId, size_t>> stack;
  std::vector<std::vector<BlockId>> succ(f.blocks.size());
  // Visiting the false side first puts the true side first in the result,
  // which is the order people read branches in.
  for (BlockId b = 0; b < f.blocks.size(); ++b) {
    succ[b] = successors(f.blocks[b]);
    std::reverse(succ[b].begin(), succ[b].end());
  }
  stack.push_back({0, 0});
  state[0] = 1;
  while (!stack.empty()) {
    auto& [b, next] = stack.back();
    if (next < succ[b].size()) {
      BlockId s = succ[b][next++];
      if (s >= f.blocks.size()) continue;
      if (state[s] == 1) return {};
      if (state[s] == 0) {
        state[s] = 1;
        stack.push_back({s, 0});
      }
      continue;
    }
    state[b] = 2;
    post.push_back(b);
    stack.pop_back();
  }
  std::reverse(post.begin(), post.end());
  return post;
}

Dominators dominators(const Function& f) {
  Dominators d;
  std::vector<BlockId> order = reverse_postorder(f);
  if (order.empty()) return d;
  const size_t n = f.blocks.size();
  d.idom.assign(n, UINT32_MAX);
  // Without back edges every predecessor precedes its block in reverse
  // postorder, so one pass assigns final idoms, and a block's idom is the
  // nearest common ancestor of its predecessors in the tree built so far.
  // Ancestor tables (binary lifting) answer each query in O(log n).
  int levels = 1;
  while ((size_t{1} << levels) < n) ++levels;
  std::vector<std::vector<BlockId>> up(levels, std::vector<BlockId>(n, 0));
  std::vector<uint32_t> depth(n, 0);
  auto link = [&](BlockId b, BlockId parent) {
    d.idom[b] = parent;
    depth[b] = b == parent ? 0 : depth[parent] + 1;
    up[0][b] = parent;
    for (int k = 1; k < levels; ++k) up[k][b] = up[k - 1][up[k - 1][b]];
  };
  auto common = [&](BlockId x, BlockId y) {
    if (depth[x] < depth[y]) std::swap(x, y);
    for (int k = levels - 1; k >= 0; --k)
      if (depth[x] - depth[y] >= (uint32_t{1} << k)) x = up[k][x];
    if (x == y) return x;
    for (int k = levels - 1; k >= 0; --k)
      if (up[k][x] != up[k][y]) {
        x = up[k][x];
        y = up[k][y];
      }
    return up[0][x];
  };
  auto preds = predecessors(f);
  link(0, 0);
  for (BlockId b : order) {
    if (b == 0) continue;
    BlockId dom = UINT32_MAX;
    for (BlockId p : preds[b]) {
      if (d.idom[p] == UINT32_MAX) continue;  // unreachable predecessor
      dom = dom == UINT32_MAX ? p : common(p, dom);
    }
    link(b, dom);
  }
  // Preorder intervals for O(1) dominance queries.
  std::vector<std::vector<BlockId>> children(n);
  for (BlockId b : order)
    if (b != 0) children[d.idom[b]].push_back(b);
  d.pre.assign(n, UINT32_MAX);
  d.post.assign(n, 0);
  uint32_t clock = 0;
  std::vector<std::pair<BlockId, size_t>> stack = {{0, 0}};
  d.pre[0] = clock++;
  while (!stack.empty()) {
    auto& [b, next] = stack.back();
    if (next < children[b].size()) {
      BlockId c = children[b][next++];
      d.pre[c] = clock++;
      stack.push_back({c, 0});
      continue;
    }
    d.post[b] = clock;
    stack.pop_back();
  }
  return d;
}

bool Dominators::dominates(BlockId a, BlockId b) const {
  if (a >= pre.size() || b >= pre.size() || pre[a] == UINT32_MAX || pre[b] == UINT32_MAX) return false;
  return pre[a] <= pre[b] && pre[b] < post[a];
}

// ---- presence facts ---------------------------------------------------------------

bool PresenceFacts::has_field(uint32_t column) const {
  return std::binary_search(fields.begin(), fields.end(), column);
}
bool PresenceFacts::has_row(Reg r) const {
  return std::binary_search(rows.begin(), rows.end(), r);
}
bool PresenceFacts::has_cell(Reg r, uint32_t column) const {
  return std::binary_search(cells.begin(), cells.end(), std::make_pair(r, column));
}
void PresenceFacts::forget_row(Reg r) {
  rows.erase(std::remove(rows.begin(), rows.end(), r), rows.end());
  cells.erase(std::remove_if(cells.begin(), cells.end(), [r](const auto& c) { return c.first == r; }),
              cells.end());
}

namespace {

template <typename T>
void insert_sorted(std::vector<T>& v, T x) {
  auto it = std::lower_bound(v.begin(), v.end(), x);
  if (it == v.end() || *it != x) v.insert(it, x);
}

template <typename T>
std::vector<T> intersect(const std::vector<T>& a, const std::vector<T>& b) {
  std::vector<T> out;
  std::set_intersection(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out));
  return out;
}

// The instruction that writes each register, when exactly one does.
std::vector<const Inst*> unique_defs(const Function& f) {
  std::vector<const Inst*> def(f.regs.size(), nullptr);
  std::vector<uint8_t> count(f.regs.size(), 0);
  for (const Block& b : f.blocks)
    for (const Inst& in : b.insts)
      if (in.dst < def.size()) {
        def[in.dst] = &in;
        if (count[in.dst] < 2) ++count[in.dst];
      }
  for (size_t r = 0; r < def.size(); ++r)
    if (count[r] != 1) def[r] = nullptr;
  return def;
}

// The presence test a branch condition comes from: the register's only
// definition, or else its last definition in the branching block (with the
// tested row not overwritten in between). Null when it is no presence test.
const Inst* presence_test(const Function& f, const Block& b, Reg cond, const std::vector<const Inst*>& defs) {
  if (cond >= f.regs.size()) return nullptr;
  const Inst* in = defs[cond];
  if (in && (in->op == Op::RowHas || in->op == Op::CellHas) && (in->a >= f.regs.size() || !defs[in->a]))
    in = nullptr;  // the row register is reassigned somewhere: trust only the local form below
  if (!in) {
    for (size_t i = b.insts.size() - 1; i-- > 0;) {
      if (b.insts[i].dst != cond) continue;
      in = &b.insts[i];
      if (in->op == Op::RowHas || in->op == Op::CellHas)
        for (size_t j = i + 1; j + 1 < b.insts.size(); ++j)
          if (b.insts[j].dst == in->a) return nullptr;
      break;
    }
  }
  if (!in || (in->op != Op::Has && in->op != Op::RowHas && in->op != Op::CellHas)) return nullptr;
  return in;
}

// Facts that hold on the edge from `b` to `succ`: what held at b's end plus
// what the branch proves when it goes to `succ` on the true side.
PresenceFacts edge_facts(const Function& f, const Block& b, PresenceFacts at_end, BlockId succ,
                         const std::vector<const Inst*>& defs) {
  const Inst& t = b.insts.back();
  if (t.op != Op::Br || t.target[0] != succ || t.target[1] == succ) return at_end;
  const Inst* in = presence_test(f, b, t.a, defs);
  if (!in) return at_end;
  if (in->op == Op::Has) insert_sorted(at_end.fields, static_cast<uint32_t>(in->imm));
  if (in->op == Op::RowHas && in->a < f.regs.size()) insert_sorted(at_end.rows, in->a);
  if (in->op == Op::CellHas && in->a < f.regs.size()) {
    // cell.has is false on a missing row, so a true one proves the row too.
    insert_sorted(at_end.rows, in->a);
    insert_sorted(at_end.cells, std::make_pair(in->a, in->aux));
  }
  return at_end;
}

}  // namespace

std::vector<PresenceFacts> presence_facts(const Function& f) {
  std::vector<PresenceFacts> entry(f.blocks.size());
  std::vector<BlockId> order = reverse_postorder(f);
  if (order.empty()) return entry;
  std::vector<const Inst*> defs = unique_defs(f);
  std::vector<std::vector<std::pair<BlockId, PresenceFacts>>> incoming(f.blocks.size());
  for (BlockId b : order) {
    PresenceFacts facts;
    if (b != 0 && !incoming[b].empty()) {
      facts = incoming[b][0].second;
      for (size_t i = 1; i < incoming[b].size(); ++i) {
        const PresenceFacts& o = incoming[b][i].second;
        facts.fields = intersect(facts.fields, o.fields);
        facts.rows = intersect(facts.rows, o.rows);
        facts.cells = intersect(facts.cells, o.cells);
      }
    }
    incoming[b].clear();
    entry[b] = facts;
    const Block& block = f.blocks[b];
    if (block.insts.empty()) continue;
    for (const Inst& in : block.insts)
      if (in.dst != kNoReg && in.dst < f.regs.size() && f.regs[in.dst] == Ty::Row) facts.forget_row(in.dst);
    for (BlockId s : successors(block))
      if (s < f.blocks.size()) incoming[s].push_back({b, edge_facts(f, block, facts, s, defs)});
  }
  return entry;
}

}  // namespace edict::ir
