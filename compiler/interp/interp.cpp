// IR interpreter: a register file of 64-bit words, one switch per
// instruction. Set and table lookups are precomputed per module.
#include "compiler/interp/interp.h"

#include <algorithm>
#include <bit>
#include <bitset>
#include <cstring>
#include <unordered_map>

#include "compiler/ir/arith.h"
#include "support/countries.h"

namespace edict::interp {
namespace {

uint64_t from_double(double d) {
  return std::bit_cast<uint64_t>(d);
}
double to_double(uint64_t b) {
  return std::bit_cast<double>(b);
}
int64_t as_int(uint64_t b) {
  return static_cast<int64_t>(b);
}

// A scalar constant (set member, table key or cell) as register bits.
uint64_t scalar_bits(ir::Ty t, const ir::Scalar& s) {
  return t == ir::Ty::Number ? from_double(s.f) : static_cast<uint64_t>(s.i);
}

uint64_t load_column(const EdictColumns& c, int column, ir::Ty t, uint32_t row) {
  const void* data = c.data[column];
  switch (t) {
    case ir::Ty::Bool: return static_cast<const uint8_t*>(data)[row] ? 1 : 0;
    case ir::Ty::Str: return static_cast<const uint32_t*>(data)[row];
    case ir::Ty::Country: return static_cast<const uint16_t*>(data)[row];
    case ir::Ty::Number: return from_double(static_cast<const double*>(data)[row]);
    default: return static_cast<uint64_t>(static_cast<const int64_t*>(data)[row]);
  }
}

// Runs arithmetic or comparison instruction `in` (ir::is_arith) on the
// register file; the fault, if it has one, leaves its register unwritten.
template <ir::Op kOp>
inline ir::FaultReason compute(const ir::Inst& in, uint64_t* reg) {
  constexpr bool binary =
      kOp != ir::Op::INeg && kOp != ir::Op::FNeg && kOp != ir::Op::IToF && kOp != ir::Op::Not;
  arith::Checked<uint64_t> r = ir::evaluate<kOp>(in.pred, reg[in.a], binary ? reg[in.b] : 0);
  if (!r.ok()) return r.fault;
  reg[in.dst] = r.value;
  return ir::FaultReason::None;
}

}  // namespace

struct Interpreter::SetIndex {
  ir::Ty elem = ir::Ty::Void;
  std::bitset<kCountryIndexLimit> countries;
  std::vector<uint8_t> strings;  // by pool id
  std::vector<uint64_t> sorted;  // ints/times/durations/bools as bits (signed order), numbers as doubles
};

struct Interpreter::TableIndex {
  ir::Ty key = ir::Ty::Void;
  std::vector<int32_t> by_string;  // pool id -> row
  std::unordered_map<uint64_t, int32_t> by_bits;
};

Interpreter::Interpreter(const ir::Module& module, std::vector<std::vector<int>> column_map)
    : module_(&module), column_map_(std::move(column_map)) {
  for (const ir::Set& s : module.sets) {
    SetIndex idx;
    idx.elem = s.elem;
    if (s.elem == ir::Ty::Str) idx.strings.assign(module.strings.size(), 0);
    for (const ir::Scalar& m : s.members) {
      if (s.elem == ir::Ty::Country)
        idx.countries.set(static_cast<size_t>(m.i));
      else if (s.elem == ir::Ty::Str)
        idx.strings[static_cast<size_t>(m.i)] = 1;
      else
        idx.sorted.push_back(scalar_bits(s.elem, m));
    }
    sets_.push_back(std::move(idx));
  }
  for (const ir::Table& t : module.tables) {
    TableIndex idx;
    idx.key = t.key;
    if (t.key == ir::Ty::Str) idx.by_string.assign(module.strings.size(), -1);
    for (size_t r = 0; r < t.keys.size(); ++r) {
      if (t.key == ir::Ty::Str)
        idx.by_string[static_cast<size_t>(t.keys[r].i)] = static_cast<int32_t>(r);
      else if (t.key == ir::Ty::Number)
        idx.by_bits.emplace(from_double(t.keys[r].f == 0 ? 0.0 : t.keys[r].f), r);
      else
        idx.by_bits.emplace(static_cast<uint64_t>(t.keys[r].i), static_cast<int32_t>(r));
    }
    tables_.push_back(std::move(idx));
  }
  for (const ir::Function& f : module.functions) max_regs_ = std::max(max_regs_, f.regs.size());
}

Interpreter::~Interpreter() = default;
Interpreter::Interpreter(Interpreter&&) noexcept = default;

bool Interpreter::set_contains(uint32_t set, uint64_t v) const {
  const SetIndex& s = sets_[set];
  switch (s.elem) {
    case ir::Ty::Country: return v < kCountryIndexLimit && s.countries.test(v);
    case ir::Ty::Str: return v < s.strings.size() && s.strings[v];
    case ir::Ty::Number: {
      double d = to_double(v);
      return std::any_of(s.sorted.begin(), s.sorted.end(), [&](uint64_t m) { return to_double(m) == d; });
    }
    default: return std::find(s.sorted.begin(), s.sorted.end(), v) != s.sorted.end();
  }
}

int64_t Interpreter::table_find(uint32_t table, uint64_t key) const {
  const TableIndex& t = tables_[table];
  if (t.key == ir::Ty::Str) return key < t.by_string.size() ? t.by_string[key] : -1;
  if (t.key == ir::Ty::Number && to_double(key) == 0) key = from_double(0.0);  // -0 == 0
  auto it = t.by_bits.find(key);
  return it == t.by_bits.end() ? -1 : it->second;
}

// One function with one switch on purpose (~140 lines): it is the hot loop,
// and every opcode's case in one place keeps dispatch a single jump table
// with the register file in a local pointer.
template <bool kTrace>
int64_t Interpreter::run(const ir::Function& f, const EdictColumns& c, uint32_t row, uint32_t* fault_site,
                         ir::FaultReason* reason, std::string* message, uint64_t* value, Trace* trace) const {
  // Registers live on the stack for small functions, which is every real rule.
  uint64_t small[64];
  std::vector<uint64_t> big;
  uint64_t* reg = small;
  if constexpr (kTrace) {
    trace->function = &f;
    trace->regs.assign(f.regs.size(), 0);
    trace->assigned.assign(f.regs.size(), 0);
    reg = trace->regs.data();
  } else if (f.regs.size() > 64) {
    big.assign(f.regs.size(), 0);
    reg = big.data();
  }
  const std::vector<int>& columns = column_map_[static_cast<size_t>(f.event)];
  const ir::Block* block = &f.blocks[0];
  for (;;) {
    for (const ir::Inst& in : block->insts) {
      auto fault = [&](uint32_t site, ir::FaultReason why) {
        *fault_site = site;
        *reason = why;
        return int64_t{-1};
      };
      switch (in.op) {
        case ir::Op::Const:
          reg[in.dst] = in.type == ir::Ty::Number ? from_double(in.fimm) : static_cast<uint64_t>(in.imm);
          break;
        case ir::Op::Copy: reg[in.dst] = reg[in.a]; break;
        case ir::Op::Load:
        case ir::Op::LoadChecked: {
          int col = columns[static_cast<size_t>(in.imm)];
          if (in.op == ir::Op::LoadChecked && c.present[col] && !c.present[col][row])
            return fault(in.site, ir::FaultReason::Absent);
          reg[in.dst] = load_column(c, col, in.type, row);
          break;
        }
        case ir::Op::Has: {
          int col = columns[static_cast<size_t>(in.imm)];
          reg[in.dst] = c.present[col] ? c.present[col][row] != 0 : 1;
          break;
        }
        case ir::Op::SetContains: reg[in.dst] = set_contains(static_cast<uint32_t>(in.imm), reg[in.a]); break;
        case ir::Op::TableFind:
          if (const abi::DataSlot* data = module_->tables[static_cast<size_t>(in.imm)].data.get()) {
            reg[in.dst] = static_cast<uint64_t>(
                edict_data_find(data, c.strings, reg[in.a], static_cast<int64_t>(reg[in.b])));
            break;
          }
          reg[in.dst] = static_cast<uint64_t>(table_find(static_cast<uint32_t>(in.imm), reg[in.a]));
          break;
        case ir::Op::RowHas: reg[in.dst] = as_int(reg[in.a]) >= 0; break;
        case ir::Op::CellHas:
        case ir::Op::CellLoad:
        case ir::Op::CellLoadChecked: {
          const ir::Table& table = module_->tables[static_cast<size_t>(in.imm)];
          if (table.external()) {  // the same helpers compiled code calls
            int64_t r = as_int(reg[in.a]);
            bool has = edict_data_cell_has(r, in.aux) != 0;
            if (in.op == ir::Op::CellLoadChecked && !has) return fault(in.site, ir::FaultReason::Absent);
            reg[in.dst] = in.op == ir::Op::CellHas ? has : edict_data_cell(r, c.strings, in.aux);
            break;
          }
          const ir::Column& col = table.columns[in.aux];
          int64_t r = as_int(reg[in.a]);
          bool has = r >= 0 && col.present[static_cast<size_t>(r)];
          if (in.op == ir::Op::CellHas) {
            reg[in.dst] = has;
            break;
          }
          if (!has) {
            if (in.op == ir::Op::CellLoadChecked) return fault(in.site, ir::FaultReason::Absent);
            reg[in.dst] = 0;  // the verifier proved this unreachable
            break;
          }
          reg[in.dst] = scalar_bits(col.type, col.cells[static_cast<size_t>(r)]);
          break;
        }
        case ir::Op::IAdd:
          if (auto why = compute<ir::Op::IAdd>(in, reg); why != ir::FaultReason::None)
            return fault(in.site, why);
          break;
        case ir::Op::ISub:
          if (auto why = compute<ir::Op::ISub>(in, reg); why != ir::FaultReason::None)
            return fault(in.site, why);
          break;
        case ir::Op::IMul:
          if (auto why = compute<ir::Op::IMul>(in, reg); why != ir::FaultReason::None)
            return fault(in.site, why);
          break;
        case ir::Op::INeg:
          if (auto why = compute<ir::Op::INeg>(in, reg); why != ir::FaultReason::None)
            return fault(in.site, why);
          break;
        case ir::Op::FAdd:
          if (auto why = compute<ir::Op::FAdd>(in, reg); why != ir::FaultReason::None)
            return fault(in.site, why);
          break;
        case ir::Op::FSub:
          if (auto why = compute<ir::Op::FSub>(in, reg); why != ir::FaultReason::None)
            return fault(in.site, why);
          break;
        case ir::Op::FMul:
          if (auto why = compute<ir::Op::FMul>(in, reg); why != ir::FaultReason::None)
            return fault(in.site, why);
          break;
        case ir::Op::FDiv:
          if (auto why = compute<ir::Op::FDiv>(in, reg); why != ir::FaultReason::None)
            return fault(in.site, why);
          break;
        case ir::Op::FNeg: compute<ir::Op::FNeg>(in, reg); break;  // never faults
        case ir::Op::IToF: compute<ir::Op::IToF>(in, reg); break;  // never faults
        case ir::Op::ICmp: compute<ir::Op::ICmp>(in, reg); break;  // never faults
        case ir::Op::FCmp: compute<ir::Op::FCmp>(in, reg); break;  // never faults
        case ir::Op::SCmp: {
          uint32_t a = static_cast<uint32_t>(reg[in.a]), b = static_cast<uint32_t>(reg[in.b]);
          if (in.pred == ir::Pred::Eq || in.pred == ir::Pred::Ne) {
            reg[in.dst] = arith::compare(in.pred, a, b);
          } else {
            reg[in.dst] = arith::compare(in.pred, edict_str_compare(c.strings, a, b), 0);
          }
          break;
        }
        case ir::Op::Not: compute<ir::Op::Not>(in, reg); break;
        case ir::Op::Call: {
          uint32_t a = static_cast<uint32_t>(reg[in.a]);
          uint32_t b = in.b != ir::kNoReg ? static_cast<uint32_t>(reg[in.b]) : 0;
          switch (in.builtin) {
            case ir::Builtin::StartsWith: reg[in.dst] = edict_str_starts_with(c.strings, a, b) != 0; break;
            case ir::Builtin::EndsWith: reg[in.dst] = edict_str_ends_with(c.strings, a, b) != 0; break;
            case ir::Builtin::Contains: reg[in.dst] = edict_str_contains(c.strings, a, b) != 0; break;
            case ir::Builtin::Lower: reg[in.dst] = edict_str_lower(c.strings, a); break;
            case ir::Builtin::Upper: reg[in.dst] = edict_str_upper(c.strings, a); break;
            case ir::Builtin::Len: reg[in.dst] = static_cast<uint64_t>(edict_str_len(c.strings, a)); break;
          }
          break;
        }
        case ir::Op::EmitText:
          if (message) *message += module_->strings[static_cast<size_t>(in.imm)];
          break;
        case ir::Op::EmitValue:
          if (message) *message += format_value(f.regs[in.a], reg[in.a], c.strings, in.aux == ir::kEmitDate);
          break;
        case ir::Op::Jmp: block = &f.blocks[in.target[0]]; goto next_block;
        case ir::Op::Br: block = &f.blocks[reg[in.a] ? in.target[0] : in.target[1]]; goto next_block;
        case ir::Op::Ret:
          if (value && in.a != ir::kNoReg) *value = reg[in.a];  // a value function's result
          return in.imm;
        case ir::Op::Fault: return fault(in.site, in.reason);
      }
      // Only instructions that completed get here (faults and jumps left above).
      if constexpr (kTrace)
        if (in.dst != ir::kNoReg) trace->assigned[in.dst] = 1;
    }
    return -1;  // unterminated block: the verifier rejects this; fail closed
  next_block:;
  }
}

bool Interpreter::eval_function(ir::FuncId id, const EdictColumns& c, uint32_t row, uint64_t* out,
                                uint32_t* fault_site, ir::FaultReason* reason) const {
  const ir::Function& f = module_->functions[static_cast<size_t>(id)];
  uint64_t value = 0;
  *fault_site = ir::kNoSite;
  int64_t r = run<false>(f, c, row, fault_site, reason, nullptr, &value);
  if (*fault_site != ir::kNoSite) return false;
  *out = f.kind == ir::FunctionKind::Value ? value : static_cast<uint64_t>(r);
  return true;
}

bool Interpreter::trace_function(ir::FuncId id, const EdictColumns& c, uint32_t row, Trace& trace) const {
  const ir::Function& f = module_->functions[static_cast<size_t>(id)];
  uint32_t site = ir::kNoSite;
  ir::FaultReason reason = ir::FaultReason::None;
  uint64_t value = 0;
  run<true>(f, c, row, &site, &reason, nullptr, &value, &trace);
  return site == ir::kNoSite;
}

const ir::Function* Interpreter::fires_for(int rule_index, const EdictColumns& c, uint32_t row) const {
  const ir::Rule& rule = module_->rules[static_cast<size_t>(rule_index)];
  uint8_t kind = c.kind[row];
  if (kind == EDICT_KIND_ERROR) return nullptr;
  const ir::RuleBody* body = rule.body_for(kind);
  if (!body || body->fires == ir::kNoFunc) return nullptr;
  const ir::EventSchema& schema = module_->events[kind];
  int time_col = column_map_[kind][static_cast<size_t>(schema.time_field)];
  int64_t t = static_cast<const int64_t*>(c.data[time_col])[row];
  if (!ir::rule_in_effect(rule, t)) return nullptr;
  return &module_->functions[static_cast<size_t>(body->fires)];
}

RuleResult Interpreter::eval_rule(int rule_index, const EdictColumns& c, uint32_t row) const {
  const ir::Function* f = fires_for(rule_index, c, row);
  if (!f) return {};
  uint32_t site = ir::kNoSite;
  ir::FaultReason reason = ir::FaultReason::None;
  int64_t r = run<false>(*f, c, row, &site, &reason, nullptr);
  if (r < 0) return {RuleResult::Fault, site, reason};
  return {r ? RuleResult::Fired : RuleResult::NotFired, ir::kNoSite, ir::FaultReason::None};
}

RuleResult Interpreter::trace_rule(int rule_index, const EdictColumns& c, uint32_t row, Trace& trace) const {
  trace.function = nullptr;
  const ir::Function* f = fires_for(rule_index, c, row);
  if (!f) return {};
  uint32_t site = ir::kNoSite;
  ir::FaultReason reason = ir::FaultReason::None;
  int64_t r = run<true>(*f, c, row, &site, &reason, nullptr, nullptr, &trace);
  if (r < 0) return {RuleResult::Fault, site, reason};
  return {r ? RuleResult::Fired : RuleResult::NotFired, ir::kNoSite, ir::FaultReason::None};
}

void Interpreter::eval_batch(const EdictColumns& c, EdictResults& out) const {
  const size_t rules = module_->rules.size();
  for (uint32_t row = 0; row < c.rows; ++row) {
    uint64_t* fired = out.fired + size_t{row} * out.fired_words;
    std::memset(fired, 0, sizeof(uint64_t) * out.fired_words);
    if (c.kind[row] == EDICT_KIND_ERROR) {
      out.decision[row] = EDICT_DECISION_SKIPPED;
      continue;
    }
    int best = -1;
    bool faulted = false;
    for (size_t r = 0; r < rules; ++r) {
      RuleResult res = eval_rule(static_cast<int>(r), c, row);
      if (res.kind == RuleResult::Fired) {
        fired[r / 64] |= uint64_t{1} << (r % 64);
        best = std::max(best, module_->rules[r].effect);
      } else if (res.kind == RuleResult::Fault && !faulted) {
        faulted = true;
        out.fault_rule[row] = static_cast<uint32_t>(r);
        out.fault_site[row] = res.site;
        out.fault_reason[row] = static_cast<uint8_t>(res.reason);
      }
    }
    out.decision[row] =
        faulted ? EDICT_DECISION_ERROR : static_cast<uint8_t>(best >= 0 ? best : module_->default_outcome);
  }
}

MessageResult Interpreter::message(int rule_index, const EdictColumns& c, uint32_t row) const {
  const ir::Rule& rule = module_->rules[static_cast<size_t>(rule_index)];
  const ir::RuleBody* body = rule.body_for(c.kind[row]);
  MessageResult out;
  if (!body || body->message == ir::kNoFunc) return out;
  if (run<false>(module_->functions[static_cast<size_t>(body->message)], c, row, &out.fault_site, &out.reason,
                 &out.text) < 0 &&
      out.fault_site == ir::kNoSite)
    out.fault_site = 0;
  if (!out.ok()) out.text.clear();
  return out;
}

// The checker's value_to_text spells message text; this maps a register's
// bits onto its Value (a string's bytes live in the batch, so they are read
// here).
std::string format_value(ir::Ty type, uint64_t bits, void* strings, bool as_date) {
  if (as_date && type == ir::Ty::Time) return value_to_text(Value{TypeKind::Date, as_int(bits), 0, {}});
  switch (type) {
    case ir::Ty::Bool: return value_to_text(Value::make_bool(bits != 0));
    case ir::Ty::Int: return value_to_text(Value::make_int(as_int(bits)));
    case ir::Ty::Number: return value_to_text(Value::make_number(to_double(bits)));
    case ir::Ty::Str: {
      auto* batch = static_cast<const abi::Batch*>(strings);
      return std::string(batch->string(static_cast<uint32_t>(bits)));
    }
    case ir::Ty::Country: return value_to_text(Value{TypeKind::Country, as_int(bits), 0, {}});
    case ir::Ty::Time: return value_to_text(Value{TypeKind::Time, as_int(bits), 0, {}});
    case ir::Ty::Duration: return value_to_text(Value{TypeKind::Duration, as_int(bits), 0, {}});
    default: return "?";
  }
}

}  // namespace edict::interp
