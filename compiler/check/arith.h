// Edict's scalar arithmetic and comparisons with their faults, once: the
// checker's constant folding, the IR's string-region collapse and the
// interpreter all call these, so a constant folded at compile time and the
// same expression run over events cannot disagree. Here, with the checker,
// because it is the lowest stage that evaluates; the IR names the same
// enums (ir::FaultReason, ir::Pred). The JIT emits the same semantics as
// LLVM IR (compiler/codegen); the differential and conformance tests hold
// it to these. Header-only and inline: the interpreter's hot loop calls them.
#pragma once

#include <cstdint>

namespace edict {

// Why an evaluation fails closed instead of producing a value (see FAULTS
// in compiler/ir/ir.h). `Absent` comes from checked loads, never from
// arithmetic.
enum class FaultReason : uint8_t { None, IntOverflow, DivisionByZero, NonFinite, Absent };

// A comparison predicate.
enum class Pred : uint8_t { Eq, Ne, Lt, Le, Gt, Ge };

namespace arith {

// A value, or the fault that took its place (`value` is then meaningless).
template <typename T>
struct Checked {
  T value{};
  FaultReason fault = FaultReason::None;
  constexpr bool ok() const { return fault == FaultReason::None; }
};

// ---- int, time and duration: checked int64 (iadd isub imul ineg) ----------
// Time and duration arithmetic is int64 microseconds arithmetic: time+dur,
// time-time, dur*int are these same functions.

constexpr Checked<int64_t> int_add(int64_t a, int64_t b) {
  Checked<int64_t> r;
  if (__builtin_add_overflow(a, b, &r.value)) r.fault = FaultReason::IntOverflow;
  return r;
}
constexpr Checked<int64_t> int_sub(int64_t a, int64_t b) {
  Checked<int64_t> r;
  if (__builtin_sub_overflow(a, b, &r.value)) r.fault = FaultReason::IntOverflow;
  return r;
}
constexpr Checked<int64_t> int_mul(int64_t a, int64_t b) {
  Checked<int64_t> r;
  if (__builtin_mul_overflow(a, b, &r.value)) r.fault = FaultReason::IntOverflow;
  return r;
}
// Only INT64_MIN has no negation.
constexpr Checked<int64_t> int_neg(int64_t a) {
  return int_sub(0, a);
}

// ---- number: IEEE doubles that are never NaN or infinite (fadd ... fdiv) ---

// The builtin rather than std::isfinite, which is not constexpr before C++23.
constexpr Checked<double> finite(double z) {
  return {z, __builtin_isfinite(z) ? FaultReason::None : FaultReason::NonFinite};
}
constexpr Checked<double> num_add(double a, double b) {
  return finite(a + b);
}
constexpr Checked<double> num_sub(double a, double b) {
  return finite(a - b);
}
constexpr Checked<double> num_mul(double a, double b) {
  return finite(a * b);
}
// A zero divisor (either sign) faults before the quotient is looked at.
constexpr Checked<double> num_div(double a, double b) {
  if (b == 0) return {0, FaultReason::DivisionByZero};
  return finite(a / b);
}
// Never faults: negating a finite number is finite.
constexpr double num_neg(double a) {
  return -a;
}
// int -> number: exact up to 2^53, then rounded to nearest (itof).
constexpr double int_to_num(int64_t a) {
  return static_cast<double>(a);
}

// ---- comparisons (icmp fcmp, scmp on ids or on a three-way result) ---------

template <typename T>
constexpr bool compare(Pred p, T a, T b) {
  switch (p) {
    case Pred::Eq: return a == b;
    case Pred::Ne: return a != b;
    case Pred::Lt: return a < b;
    case Pred::Le: return a <= b;
    case Pred::Gt: return a > b;
    case Pred::Ge: return a >= b;
  }
  return false;
}

}  // namespace arith
}  // namespace edict
