// The SMT encoding of lowered functions: a symbolic run over the acyclic CFG
// in reverse postorder, each block's reach condition the disjunction of its
// incoming edges', registers merged with if-then-else where arms differ
// (see encode.h for how each type is represented).
#include "analysis/encode.h"

#include <cmath>
#include <limits>
#include <stdexcept>
#include <unordered_set>

#include <fmt/format.h>

#include "support/countries.h"
#include "support/time_util.h"

namespace edict::analysis {
namespace {

constexpr int64_t kIntMin = std::numeric_limits<int64_t>::min();
constexpr int64_t kIntMax = std::numeric_limits<int64_t>::max();

z3::expr int64_val(z3::context& ctx, int64_t v) {
  return ctx.int_val(v);
}

// Strings, countries and rows are compared for equality only (countries also
// by index): bit-vectors keep those comparisons out of the arithmetic solver.
constexpr unsigned kStrBits = 32, kCountryBits = 10, kRowBits = 32;
z3::expr row_val(z3::context& ctx, int64_t row) {
  return ctx.bv_val(static_cast<uint64_t>(row) & 0xffffffffu, kRowBits);
}

z3::expr or_all(z3::context& ctx, const std::vector<z3::expr>& xs) {
  if (xs.empty()) return ctx.bool_val(false);
  if (xs.size() == 1) return xs[0];
  z3::expr_vector v(ctx);
  for (const z3::expr& x : xs) v.push_back(x);
  return z3::mk_or(v);
}

bool same(const z3::expr& a, const z3::expr& b) {
  return z3::eq(a, b);
}

// Nonlinear arithmetic (`tpp / die_area` over a table's cells) is slow for
// the solver, yet its operands usually depend on one input alone, through
// equalities with constants (a table lookup by the chip's name). Then the
// result is a finite case split: one constant per value the input is
// compared with, and one for any other value. Returns nullopt when the
// operands depend on more than one input or use it otherwise.
std::optional<z3::expr> split_by_input(z3::context& ctx, z3::expr e) {
  std::optional<z3::expr> var;
  std::vector<z3::expr> literals;
  std::unordered_set<unsigned> seen, seen_literal;
  std::vector<z3::expr> stack{e};
  auto is_var = [](const z3::expr& x) {
    return x.is_app() && x.num_args() == 0 && x.decl().decl_kind() == Z3_OP_UNINTERPRETED;
  };
  while (!stack.empty()) {
    z3::expr x = stack.back();
    stack.pop_back();
    if (!seen.insert(x.id()).second || !x.is_app()) continue;
    if (is_var(x)) return std::nullopt;  // reached other than as `var = literal`
    const bool eq = x.decl().decl_kind() == Z3_OP_EQ && x.num_args() == 2;
    for (unsigned i = 0; i < x.num_args(); ++i) {
      z3::expr arg = x.arg(i);
      if (eq && is_var(arg) && x.arg(1 - i).is_numeral()) {
        if (var && !z3::eq(*var, arg)) return std::nullopt;
        var = arg;
        z3::expr lit = x.arg(1 - i);
        if (seen_literal.insert(lit.id()).second) literals.push_back(lit);
        continue;
      }
      stack.push_back(arg);
    }
  }
  if (!var || literals.size() > 256 || !(var->is_int() || var->is_bv())) return std::nullopt;
  // A value no literal has, for "any other value".
  uint64_t other = 0;
  for (const z3::expr& l : literals) {
    int64_t v = 0;
    uint64_t u = 0;
    if (var->is_int() ? !l.is_numeral_i64(v) : !l.is_numeral_u64(u)) return std::nullopt;
    other = std::max(other, var->is_int() ? static_cast<uint64_t>(std::max<int64_t>(v, -1) + 1) : u + 1);
  }
  if (var->is_bv() && var->get_sort().bv_size() < 64 && other >> var->get_sort().bv_size())
    return std::nullopt;
  z3::expr_vector from(ctx), to(ctx);
  from.push_back(*var);
  to.push_back(var->is_int() ? ctx.int_val(other) : ctx.bv_val(other, var->get_sort().bv_size()));
  z3::expr result = e.substitute(from, to).simplify();
  for (const z3::expr& l : literals) {
    z3::expr_vector value(ctx);
    value.push_back(l);
    result = z3::ite(*var == l, e.substitute(from, value).simplify(), result);
  }
  return result;
}

}  // namespace

z3::expr real_of(z3::context& ctx, double d) {
  if (d == 0) return ctx.real_val(0);
  int exp = 0;
  double mant = std::frexp(d, &exp);  // d = mant * 2^exp, 0.5 <= |mant| < 1
  // 53 bits of mantissa as an integer: d = m * 2^(exp - 53).
  auto m = static_cast<int64_t>(std::ldexp(mant, 53));
  int shift = exp - 53;
  while (shift < 0 && (m % 2) == 0) {
    m /= 2;
    ++shift;
  }
  z3::expr num = ctx.real_val(std::to_string(m).c_str());
  if (shift == 0) return num;
  std::string pow = "1";
  // 2^|shift| as a decimal string (|shift| <= 1100).
  for (int i = 0; i < std::abs(shift); ++i) {
    int carry = 0;
    for (auto it = pow.rbegin(); it != pow.rend(); ++it) {
      int digit = (*it - '0') * 2 + carry;
      *it = static_cast<char>('0' + digit % 10);
      carry = digit / 10;
    }
    if (carry) pow.insert(pow.begin(), static_cast<char>('0' + carry));
  }
  z3::expr p = ctx.real_val(pow.c_str());
  return shift > 0 ? num * p : num / p;
}

double double_of(const z3::expr& real) {
  z3::expr e = real;
  if (e.is_numeral()) {
    // Z3 prints rationals exactly; strtod rounds the decimal expansion.
    std::string dec = e.get_decimal_string(40);
    if (!dec.empty() && dec.back() == '?') dec.pop_back();
    return std::strtod(dec.c_str(), nullptr);
  }
  return 0;
}

// ---- strings ---------------------------------------------------------------

int64_t StringUniverse::id(const std::string& s) {
  auto it = ids_.find(s);
  if (it != ids_.end()) return it->second;
  int64_t id = static_cast<int64_t>(strings_.size());
  strings_.push_back(s);
  ids_.emplace(s, id);
  return id;
}

std::string StringUniverse::other(int64_t id) const {
  std::string s = fmt::format("other-{}", id - size());
  while (ids_.count(s)) s += "'";
  return s;
}

// ---- symbolic events ----------------------------------------------------------

SymEvent::SymEvent(z3::context& ctx, std::string kind, std::string tag)
    : ctx_(&ctx), kind_(std::move(kind)), tag_(std::move(tag)) {}

const SymField* SymEvent::field(const std::string& name, ir::Ty type, bool optional) {
  for (const SymField& f : fields_)
    if (f.name == name) return f.type == type && f.optional == optional ? &f : nullptr;
  std::string base = fmt::format("{}{}.{}", tag_, kind_, name);
  z3::context& c = *ctx_;
  z3::expr value = c.bool_val(false);
  switch (type) {
    case ir::Ty::Bool: value = c.bool_const(base.c_str()); break;
    case ir::Ty::Number: value = c.real_const(base.c_str()); break;
    case ir::Ty::Str: value = c.bv_const(base.c_str(), kStrBits); break;
    case ir::Ty::Country: value = c.bv_const(base.c_str(), kCountryBits); break;
    default: value = c.int_const(base.c_str()); break;
  }
  z3::expr present = optional ? c.bool_const((base + "?").c_str()) : c.bool_val(true);
  switch (type) {
    case ir::Ty::Int:
      domain_.push_back(value >= int64_val(c, kIntMin) && value <= int64_val(c, kIntMax));
      break;
    case ir::Ty::Time:
      // Decoded times are of years 0001-9999.
      domain_.push_back(value >= int64_val(c, days_from_civil(1, 1, 1) * kMicrosPerDay) &&
                        value < int64_val(c, days_from_civil(10000, 1, 1) * kMicrosPerDay));
      break;
    case ir::Ty::Duration: {
      // Durations are written in whole seconds (`1d12h`, `10s`).
      z3::expr secs = c.int_const((base + "#s").c_str());
      domain_.push_back(secs >= 0 && secs <= int64_val(c, kIntMax / kMicrosPerSecond) &&
                        value == secs * int64_val(c, kMicrosPerSecond));
      break;
    }
    case ir::Ty::Number: {
      z3::expr max = real_of(c, std::numeric_limits<double>::max());
      domain_.push_back(value <= max && value >= -max);
      break;
    }
    case ir::Ty::Country: {
      std::vector<z3::expr> codes;
      for (const std::string& code : all_country_codes())
        codes.push_back(value == c.bv_val(static_cast<unsigned>(*country_index(code)), kCountryBits));
      domain_.push_back(or_all(c, codes));
      break;
    }
    default: break;
  }
  fields_.push_back(SymField{name, type, optional, value, present});
  return &fields_.back();
}

z3::expr SymEvent::domain() const {
  z3::expr_vector v(*ctx_);
  for (const z3::expr& d : domain_) v.push_back(d);
  return v.empty() ? ctx_->bool_val(true) : z3::mk_and(v);
}

// ---- modules -------------------------------------------------------------------

ModuleEncoder::ModuleEncoder(z3::context& ctx, const ir::Module& module, StringUniverse& strings,
                             SymEvent& event, Solver* solver)
    : ctx_(&ctx), module_(&module), strings_(&strings), sym_(&event), solver_(solver), time_(ctx.int_val(0)) {
  for (const std::string& s : module.strings) strings.id(s);
  event_ = module.event_index(event.kind());
  if (event_ < 0) {
    problem_ = fmt::format("no event kind `{}`", event.kind());
    return;
  }
  const ir::EventSchema& schema = module.events[static_cast<size_t>(event_)];
  for (const ir::Field& f : schema.fields) {
    // Windowed aggregates are free inputs, named by their source text so
    // that two versions of a policy share the same aggregate.
    std::string name =
        f.aggregate >= 0 ? "$" + module.aggregates[static_cast<size_t>(f.aggregate)].text : f.name;
    const SymField* sf = event.field(name, f.type, f.optional);
    if (!sf) {
      problem_ = fmt::format("field `{}.{}` has another type in the other version", event.kind(), f.name);
      return;
    }
    if (f.aggregate >= 0) {
      ir::AggFn fn = module.aggregates[static_cast<size_t>(f.aggregate)].fn;
      if (fn == ir::AggFn::Sum || fn == ir::AggFn::Count || fn == ir::AggFn::CountDistinct)
        event.always_present(*sf);
    }
    columns_.push_back(sf);
  }
  if (schema.time_field >= 0) time_ = columns_[static_cast<size_t>(schema.time_field)]->value;
}

z3::sort ModuleEncoder::sort_of(ir::Ty t) {
  switch (t) {
    case ir::Ty::Bool: return ctx_->bool_sort();
    case ir::Ty::Number: return ctx_->real_sort();
    case ir::Ty::Str: return ctx_->bv_sort(kStrBits);
    case ir::Ty::Country: return ctx_->bv_sort(kCountryBits);
    case ir::Ty::Row: return ctx_->bv_sort(kRowBits);
    default: return ctx_->int_sort();
  }
}

z3::expr ModuleEncoder::pool_string(int64_t pool_id) {
  return ctx_->bv_val(static_cast<uint64_t>(strings_->id(module_->strings.at(static_cast<size_t>(pool_id)))),
                      kStrBits);
}

z3::expr ModuleEncoder::scalar(ir::Ty t, const ir::Scalar& s) {
  switch (t) {
    case ir::Ty::Bool: return ctx_->bool_val(s.i != 0);
    case ir::Ty::Number: return real_of(*ctx_, s.f);
    case ir::Ty::Str: return pool_string(s.i);
    case ir::Ty::Country: return ctx_->bv_val(static_cast<uint64_t>(s.i), kCountryBits);
    case ir::Ty::Row: return row_val(*ctx_, s.i);
    default: return int64_val(*ctx_, s.i);
  }
}

z3::expr ModuleEncoder::no_data_found() const {
  z3::expr none = ctx_->bool_val(true);
  for (const z3::expr& found : data_lookups_) none = none && !found;
  return none;
}

z3::expr ModuleEncoder::ext_call(const std::string& name, const std::vector<z3::expr>& args,
                                 z3::sort result) {
  auto it = uninterpreted_.find(name);
  if (it == uninterpreted_.end()) {
    z3::sort_vector domain(*ctx_);
    for (const z3::expr& a : args) domain.push_back(a.get_sort());
    it = uninterpreted_.emplace(name, ctx_->function(name.c_str(), domain, result)).first;
  }
  z3::expr_vector v(*ctx_);
  for (const z3::expr& a : args) v.push_back(a);
  return it->second(v);
}

FunctionFormula ModuleEncoder::function(ir::FuncId fid) {
  z3::context& c = *ctx_;
  const ir::Function& f = module_->functions.at(static_cast<size_t>(fid));
  const std::vector<ir::BlockId> order = ir::reverse_postorder(f);
  if (order.empty()) throw std::runtime_error("function " + f.name + " has a cyclic CFG");
  using Env = std::vector<std::optional<Val>>;
  struct Edge {
    z3::expr cond;
    Env env;
  };
  std::vector<std::vector<Edge>> incoming(f.blocks.size());
  FunctionFormula out{c.bool_val(false), c.bool_val(false), {}, std::nullopt};
  std::vector<z3::expr> returns_true, faults;
  std::vector<std::pair<z3::expr, z3::expr>> values;
  const z3::expr int_min = int64_val(c, kIntMin), int_max = int64_val(c, kIntMax);
  const z3::expr real_max = real_of(c, std::numeric_limits<double>::max());

  for (ir::BlockId b : order) {
    z3::expr cur = c.bool_val(true);
    Env env(f.regs.size());
    if (b != 0) {
      std::vector<Edge>& in = incoming[b];
      if (in.empty()) continue;
      std::vector<z3::expr> conds;
      for (const Edge& e : in) conds.push_back(e.cond);
      cur = or_all(c, conds);
      for (size_t r = 0; r < env.size(); ++r) {
        // The value from the last edge that has one, then earlier edges' by
        // their conditions: `ite(c0, v0, ite(c1, v1, ... vN))`.
        std::optional<Val> merged;
        for (size_t i = in.size(); i-- > 0;) {
          const std::optional<Val>& v = in[i].env[r];
          if (!v) continue;
          if (!merged) {
            merged = v;
          } else if (!same(merged->e, v->e)) {
            merged->e = z3::ite(in[i].cond, v->e, merged->e);
            if (merged->key && v->key) merged->key = z3::ite(in[i].cond, *v->key, *merged->key);
            if (merged->at && v->at) merged->at = z3::ite(in[i].cond, *v->at, *merged->at);
          }
        }
        env[r] = merged;
      }
      in.clear();
      in.shrink_to_fit();
    }
    auto reg = [&](ir::Reg r) -> const Val& {
      if (!env.at(r)) throw std::runtime_error(fmt::format("{}: register %{} used before set", f.name, r));
      return *env[r];
    };
    auto set = [&](ir::Reg r, z3::expr e) { env.at(r) = Val{e, -1, std::nullopt, std::nullopt}; };
    auto checked = [&](const ir::Inst& in, z3::expr fault_if, ir::FaultReason reason,
                       std::optional<z3::expr> clearly_if = std::nullopt) {
      z3::expr when = cur && fault_if;
      std::optional<z3::expr> clearly;
      if (clearly_if) clearly = cur && *clearly_if;
      out.sites.push_back(SiteFault{in.site, reason, when, clearly});
      faults.push_back(when);
      cur = cur && !fault_if;
    };
    for (const ir::Inst& in : f.blocks[b].insts) {
      switch (in.op) {
        case ir::Op::Const:
          set(in.dst,
              in.type == ir::Ty::Number ? real_of(c, in.fimm) : scalar(in.type, ir::Scalar{in.imm, in.fimm}));
          break;
        case ir::Op::Copy: env.at(in.dst) = reg(in.a); break;
        case ir::Op::Load:
        case ir::Op::LoadChecked: {
          const SymField* sf = columns_.at(static_cast<size_t>(in.imm));
          if (in.op == ir::Op::LoadChecked) checked(in, !sf->present, ir::FaultReason::Absent);
          set(in.dst, sf->value);
          break;
        }
        case ir::Op::Has: set(in.dst, columns_.at(static_cast<size_t>(in.imm))->present); break;
        case ir::Op::SetContains: {
          const ir::Set& s = module_->sets.at(static_cast<size_t>(in.imm));
          std::vector<z3::expr> eqs;
          for (const ir::Scalar& m : s.members) eqs.push_back(reg(in.a).e == scalar(s.elem, m));
          set(in.dst, or_all(c, eqs));
          break;
        }
        case ir::Op::TableFind: {
          const ir::Table& t = module_->tables.at(static_cast<size_t>(in.imm));
          const z3::expr& key = reg(in.a).e;
          if (t.external()) {
            z3::expr at = in.b != ir::kNoReg ? reg(in.b).e : time_;
            z3::expr found = ext_call(fmt::format("data:{}:found", t.name), {key, at}, c.bool_sort());
            data_lookups_.push_back(found);
            env.at(in.dst) =
                Val{z3::ite(found, row_val(c, 0), row_val(c, -1)), static_cast<int>(in.imm), key, at};
            break;
          }
          z3::expr row = row_val(c, -1);
          for (size_t i = t.keys.size(); i-- > 0;)
            row = z3::ite(key == scalar(t.key, t.keys[i]), row_val(c, static_cast<int64_t>(i)), row);
          set(in.dst, row);
          break;
        }
        case ir::Op::RowHas: {
          z3::expr found = reg(in.a).e != row_val(c, -1);
          set(in.dst, reg(in.a).ext_table >= 0 ? found : split_by_input(c, found).value_or(found));
          break;
        }
        case ir::Op::CellHas:
        case ir::Op::CellLoad:
        case ir::Op::CellLoadChecked: {
          const ir::Table& t = module_->tables.at(static_cast<size_t>(in.imm));
          const ir::Column& col = t.columns.at(in.aux);
          const Val& row = reg(in.a);
          z3::expr found = row.e != row_val(c, -1);
          z3::expr has = found, value = c.bool_val(false);
          if (t.external()) {
            std::string base = fmt::format("data:{}.{}", t.name, col.name);
            if (col.optional) has = found && ext_call(base + ":has", {*row.key, *row.at}, c.bool_sort());
            value = ext_call(base, {*row.key, *row.at}, sort_of(col.type));
          } else {
            z3::expr present = c.bool_val(false);
            // No row: any value (the load faults or is not reached there).
            value = scalar(col.type, ir::Scalar{});
            for (size_t i = t.rows(); i-- > 0;) {
              z3::expr is_row = row.e == row_val(c, static_cast<int64_t>(i));
              present = z3::ite(is_row, c.bool_val(col.present.empty() || col.present[i] != 0), present);
              value = z3::ite(is_row, scalar(col.type, col.cells[i]), value);
            }
            has = found && present;
            // Per key rather than per row: `chip = "H100"`, not `row(chip) = 3`.
            has = split_by_input(c, has).value_or(has);
            value = split_by_input(c, value).value_or(value);
          }
          if (in.op == ir::Op::CellHas) {
            set(in.dst, has);
          } else {
            if (in.op == ir::Op::CellLoadChecked) checked(in, !has, ir::FaultReason::Absent);
            set(in.dst, value);
          }
          break;
        }
        case ir::Op::IAdd:
        case ir::Op::ISub:
        case ir::Op::IMul: {
          const z3::expr& a = reg(in.a).e;
          const z3::expr& bb = reg(in.b).e;
          z3::expr r = in.op == ir::Op::IAdd ? a + bb : in.op == ir::Op::ISub ? a - bb : a * bb;
          if (in.op == ir::Op::IMul && !a.is_numeral() && !bb.is_numeral())
            r = split_by_input(c, r).value_or(r);
          checked(in, r < int_min || r > int_max, ir::FaultReason::IntOverflow);
          set(in.dst, r);
          break;
        }
        case ir::Op::INeg:
          checked(in, reg(in.a).e == int_min, ir::FaultReason::IntOverflow);
          set(in.dst, -reg(in.a).e);
          break;
        case ir::Op::FAdd:
        case ir::Op::FSub:
        case ir::Op::FMul: {
          const z3::expr& a = reg(in.a).e;
          const z3::expr& bb = reg(in.b).e;
          z3::expr r = in.op == ir::Op::FAdd ? a + bb : in.op == ir::Op::FSub ? a - bb : a * bb;
          if (in.op == ir::Op::FMul && !a.is_numeral() && !bb.is_numeral())
            r = split_by_input(c, r).value_or(r);
          checked(in, r > real_max || r<-real_max, ir::FaultReason::NonFinite, r> 2 * real_max ||
                          r < -2 * real_max);
          set(in.dst, r);
          break;
        }
        case ir::Op::FDiv: {
          const z3::expr& a = reg(in.a).e;
          const z3::expr& bb = reg(in.b).e;
          checked(in, bb == 0, ir::FaultReason::DivisionByZero);
          z3::expr r = a / bb;
          if (!bb.is_numeral()) r = split_by_input(c, r).value_or(r);
          checked(in, r > real_max || r<-real_max, ir::FaultReason::NonFinite, r> 2 * real_max ||
                          r < -2 * real_max);
          set(in.dst, r);
          break;
        }
        case ir::Op::FNeg: set(in.dst, -reg(in.a).e); break;
        case ir::Op::IToF: set(in.dst, z3::to_real(reg(in.a).e)); break;
        case ir::Op::ICmp:
        case ir::Op::FCmp:
        case ir::Op::SCmp: {
          const z3::expr& a = reg(in.a).e;
          const z3::expr& bb = reg(in.b).e;
          z3::expr r = c.bool_val(false);
          if (in.op == ir::Op::SCmp && in.pred != ir::Pred::Eq && in.pred != ir::Pred::Ne) {
            // Byte order of strings: uninterpreted (witnesses are replayed).
            z3::expr less = ext_call("str<", {a, bb}, c.bool_sort());
            z3::expr greater = ext_call("str<", {bb, a}, c.bool_sort());
            switch (in.pred) {
              case ir::Pred::Lt: r = less; break;
              case ir::Pred::Le: r = less || a == bb; break;
              case ir::Pred::Gt: r = greater; break;
              default: r = greater || a == bb; break;
            }
            set(in.dst, r);
            break;
          }
          const bool bv = a.is_bv();  // countries, by dense index
          switch (in.pred) {
            case ir::Pred::Eq: r = a == bb; break;
            case ir::Pred::Ne: r = a != bb; break;
            case ir::Pred::Lt: r = bv ? z3::ult(a, bb) : a < bb; break;
            case ir::Pred::Le: r = bv ? z3::ule(a, bb) : a <= bb; break;
            case ir::Pred::Gt: r = bv ? z3::ugt(a, bb) : a > bb; break;
            case ir::Pred::Ge: r = bv ? z3::uge(a, bb) : a >= bb; break;
          }
          // A comparison of values a table lookup gave: true or false per key.
          if (in.op == ir::Op::FCmp && !(a.is_const() && bb.is_const())) r = split_by_input(c, r).value_or(r);
          set(in.dst, r);
          break;
        }
        case ir::Op::Not: set(in.dst, !reg(in.a).e); break;
        case ir::Op::Call: {
          const ir::BuiltinInfo& info = ir::builtin_info(in.builtin);
          std::vector<z3::expr> args{reg(in.a).e};
          if (info.arity > 1) args.push_back(reg(in.b).e);
          z3::expr r = ext_call(fmt::format("call:{}", info.name), args, sort_of(info.result));
          set(in.dst, r);
          break;
        }
        case ir::Op::EmitText:
        case ir::Op::EmitValue: break;
        case ir::Op::Jmp: incoming[in.target[0]].push_back(Edge{cur, env}); break;
        case ir::Op::Br: {
          const z3::expr cond = reg(in.a).e;
          incoming[in.target[0]].push_back(Edge{cur && cond, env});
          incoming[in.target[1]].push_back(Edge{cur && !cond, env});
          break;
        }
        case ir::Op::Ret:
          if (f.kind == ir::FunctionKind::Fires && in.imm == 1) returns_true.push_back(cur);
          if (f.kind == ir::FunctionKind::Value && in.a != ir::kNoReg) values.emplace_back(cur, reg(in.a).e);
          break;
        case ir::Op::Fault:
          out.sites.push_back(SiteFault{in.site, in.reason, cur, std::nullopt});
          faults.push_back(cur);
          break;
      }
    }
  }
  out.returns_true = or_all(c, returns_true);
  out.faults = or_all(c, faults);
  if (!values.empty()) {
    z3::expr v = values.back().second;
    for (size_t i = values.size() - 1; i-- > 0;) v = z3::ite(values[i].first, values[i].second, v);
    out.value = v;
  }
  return out;
}

const RuleFormula& ModuleEncoder::rule(size_t r) {
  auto it = rules_.find(r);
  if (it != rules_.end()) return it->second;
  z3::context& c = *ctx_;
  const ir::Rule& rule = module_->rules.at(r);
  RuleFormula out{false, c.bool_val(false), c.bool_val(false), c.bool_val(false), c.bool_val(false),
                  {},    std::nullopt};
  const ir::RuleBody* body = rule.body_for(event_);
  if (body) {
    out.applies = true;
    z3::expr in_effect = c.bool_val(true);
    if (rule.effective_from) in_effect = in_effect && time_ >= int64_val(c, *rule.effective_from);
    if (rule.effective_until) in_effect = in_effect && time_ < int64_val(c, *rule.effective_until);
    out.in_effect = in_effect;
    FunctionFormula fires = function(body->fires);
    out.body = fires.returns_true;
    out.fires = in_effect && fires.returns_true;
    std::vector<z3::expr> faults{in_effect && fires.faults};
    auto within = [](const z3::expr& reached, const SiteFault& s) {
      std::optional<z3::expr> clearly;
      if (s.clearly) clearly = reached && *s.clearly;
      return SiteFault{s.site, s.reason, reached && s.when, clearly};
    };
    for (SiteFault& s : fires.sites) out.sites.push_back(within(in_effect, s));
    if (body->message != ir::kNoFunc) {
      FunctionFormula msg = function(body->message);
      faults.push_back(out.fires && msg.faults);
      for (SiteFault& s : msg.sites) out.sites.push_back(within(out.fires, s));
    }
    out.faults = or_all(c, faults);
    if (solver_) {
      out.body = solver_->define(out.body);
      out.fires_formula = out.fires;
      out.fires = solver_->define(out.fires);
      out.faults = solver_->define(out.faults);
      for (SiteFault& s : out.sites) {
        s.when = solver_->define(s.when);
        if (s.clearly) s.clearly = solver_->define(*s.clearly);
      }
    }
  }
  return rules_.emplace(r, std::move(out)).first->second;
}

z3::expr ModuleEncoder::decision_is_error() {
  std::vector<z3::expr> faults;
  for (size_t r = 0; r < module_->rules.size(); ++r)
    if (rule(r).applies) faults.push_back(rule(r).faults);
  return or_all(*ctx_, faults);
}

z3::expr ModuleEncoder::decision_is(int outcome) {
  std::vector<z3::expr> at, above;
  for (size_t r = 0; r < module_->rules.size(); ++r) {
    const RuleFormula& f = rule(r);
    if (!f.applies) continue;
    int effect = module_->rules[r].effect;
    if (effect == outcome) at.push_back(f.fires);
    if (effect > outcome) above.push_back(f.fires);
  }
  z3::expr some_at = or_all(*ctx_, at);
  z3::expr none_above = !or_all(*ctx_, above);
  if (outcome == module_->default_outcome) {
    // No rule fires, or the strongest that fires has this outcome.
    std::vector<z3::expr> any;
    for (size_t r = 0; r < module_->rules.size(); ++r)
      if (rule(r).applies) any.push_back(rule(r).fires);
    some_at = some_at || !or_all(*ctx_, any);
  }
  return !decision_is_error() && some_at && none_above;
}

}  // namespace edict::analysis
