// The IR's arithmetic, conversion and comparison instructions over register
// bits (see VALUES and FAULTS in ir.h), defined by the scalar functions of
// compiler/check/arith.h. The interpreter runs each opcode through
// evaluate<Op>, so the dispatch costs nothing at run time; the string-region
// collapse evaluates at compile time through evaluate(op, ...). scmp is
// not here: ordering needs the strings' bytes (edict_str_compare).
#pragma once

#include <bit>
#include <type_traits>

#include "compiler/check/arith.h"
#include "compiler/ir/ir.h"

namespace edict::ir {

// Whether evaluate() computes `op`.
constexpr bool is_arith(Op op) {
  switch (op) {
    case Op::IAdd:
    case Op::ISub:
    case Op::IMul:
    case Op::INeg:
    case Op::FAdd:
    case Op::FSub:
    case Op::FMul:
    case Op::FDiv:
    case Op::FNeg:
    case Op::IToF:
    case Op::ICmp:
    case Op::FCmp:
    case Op::Not: return true;
    default: return false;
  }
}

// The result bits of `kOp` (is_arith) on operand bits `a` and `b` (`b`
// ignored by unary ops, `p` by all but icmp and fcmp), or its fault.
template <Op kOp>
constexpr arith::Checked<uint64_t> evaluate(Pred p, uint64_t a, uint64_t b) {
  static_assert(is_arith(kOp));
  auto i = [](uint64_t bits) { return static_cast<int64_t>(bits); };
  auto f = [](uint64_t bits) { return std::bit_cast<double>(bits); };
  auto from = [](auto checked) {
    uint64_t bits;
    if constexpr (std::is_same_v<decltype(checked.value), double>)
      bits = std::bit_cast<uint64_t>(checked.value);
    else
      bits = static_cast<uint64_t>(checked.value);
    return arith::Checked<uint64_t>{bits, checked.fault};
  };
  if constexpr (kOp == Op::IAdd) return from(arith::int_add(i(a), i(b)));
  if constexpr (kOp == Op::ISub) return from(arith::int_sub(i(a), i(b)));
  if constexpr (kOp == Op::IMul) return from(arith::int_mul(i(a), i(b)));
  if constexpr (kOp == Op::INeg) return from(arith::int_neg(i(a)));
  if constexpr (kOp == Op::FAdd) return from(arith::num_add(f(a), f(b)));
  if constexpr (kOp == Op::FSub) return from(arith::num_sub(f(a), f(b)));
  if constexpr (kOp == Op::FMul) return from(arith::num_mul(f(a), f(b)));
  if constexpr (kOp == Op::FDiv) return from(arith::num_div(f(a), f(b)));
  if constexpr (kOp == Op::FNeg) return {std::bit_cast<uint64_t>(arith::num_neg(f(a)))};
  if constexpr (kOp == Op::IToF) return {std::bit_cast<uint64_t>(arith::int_to_num(i(a)))};
  if constexpr (kOp == Op::ICmp) return {arith::compare(p, i(a), i(b))};
  if constexpr (kOp == Op::FCmp) return {arith::compare(p, f(a), f(b))};
  if constexpr (kOp == Op::Not) return {a ? 0u : 1u};
}

// evaluate<op> for an opcode known only at run time; a non-arith opcode
// yields 0 (callers test is_arith first).
constexpr arith::Checked<uint64_t> evaluate(Op op, Pred p, uint64_t a, uint64_t b) {
  switch (op) {
    case Op::IAdd: return evaluate<Op::IAdd>(p, a, b);
    case Op::ISub: return evaluate<Op::ISub>(p, a, b);
    case Op::IMul: return evaluate<Op::IMul>(p, a, b);
    case Op::INeg: return evaluate<Op::INeg>(p, a, b);
    case Op::FAdd: return evaluate<Op::FAdd>(p, a, b);
    case Op::FSub: return evaluate<Op::FSub>(p, a, b);
    case Op::FMul: return evaluate<Op::FMul>(p, a, b);
    case Op::FDiv: return evaluate<Op::FDiv>(p, a, b);
    case Op::FNeg: return evaluate<Op::FNeg>(p, a, b);
    case Op::IToF: return evaluate<Op::IToF>(p, a, b);
    case Op::ICmp: return evaluate<Op::ICmp>(p, a, b);
    case Op::FCmp: return evaluate<Op::FCmp>(p, a, b);
    case Op::Not: return evaluate<Op::Not>(p, a, b);
    default: return {};
  }
}

}  // namespace edict::ir
