// Expression syntax the printer relies on: precedence after the grammar,
// infix spines, when parentheses are needed, and number spelling.
#include "compiler/fmt/printer.h"

#include <cstdio>
#include <cstdlib>

namespace edict::fmt::detail {

int width(std::string_view s) {
  int n = 0;
  for (unsigned char c : s)
    if ((c & 0xC0) != 0x80) ++n;
  return n;
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f';
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

namespace {

int binary_prec(Op op) {
  switch (op) {
    case Op::Mul:
    case Op::Div: return kPrecMul;
    case Op::Add:
    case Op::Sub: return kPrecAdd;
    case Op::And: return kPrecAnd;
    case Op::Or: return kPrecOr;
    default: return kPrecCmp;
  }
}

}  // namespace

int prec(const Expr& e) {
  switch (e.kind) {
    case ExprKind::Unary: return e.op == Op::Not ? kPrecNot : kPrecNeg;
    case ExprKind::Binary: return binary_prec(e.op);
    case ExprKind::Otherwise: return kPrecOtherwise;
    case ExprKind::Is: return kPrecIs;
    case ExprKind::In: return kPrecIn;
    case ExprKind::If: return kPrecIf;
    default: return kPrecAtom;
  }
}

bool is_infix(const Expr& e) {
  return (e.kind == ExprKind::Binary || e.kind == ExprKind::Otherwise || e.kind == ExprKind::In) &&
         e.children.size() == 2 && e.children[0] && e.children[1];
}

bool is_chain(const Expr& e) {
  return e.kind == ExprKind::Binary && (e.op == Op::And || e.op == Op::Or) && is_infix(e);
}

std::string infix_spelling(const Expr& e) {
  switch (e.kind) {
    case ExprKind::Otherwise: return "otherwise";
    case ExprKind::In: return e.negated ? "not in" : "in";
    default: break;
  }
  return ast::op_spelling(e.op);  // the AST's one spelling table
}

bool ends_open(const Expr& e) {
  const Expr* cur = &e;
  while (cur && !cur->parenthesized) {
    switch (cur->kind) {
      case ExprKind::Aggregate: return cur->agg_filter >= 0;
      case ExprKind::If: return true;
      case ExprKind::Unary:
      case ExprKind::Binary:
      case ExprKind::In:
      case ExprKind::Otherwise: cur = cur->children.empty() ? nullptr : cur->children.back().get(); break;
      default: return false;
    }
  }
  return false;
}

bool needs_parens(const Expr& child, int min_prec, bool followed) {
  if (child.parenthesized) return false;
  return prec(child) < min_prec || (followed && ends_open(child));
}

bool needs_parens_as_base(const Expr& base) {
  return needs_parens(base, kPrecAtom, true) || (!base.parenthesized && base.kind == ExprKind::Aggregate);
}

std::vector<Operand> spine(const Expr& e) {
  std::vector<const Expr*> nodes;
  const Expr* cur = &e;
  int level = prec(e);
  nodes.push_back(cur);
  while (true) {
    const Expr* left = cur->children[0].get();
    if (left->parenthesized || !is_infix(*left) || prec(*left) != level) break;
    nodes.push_back(left);
    cur = left;
  }
  std::vector<Operand> out;
  const Expr* first = nodes.back()->children[0].get();
  out.push_back({first, needs_parens(*first, level, true), ""});
  for (size_t i = nodes.size(); i-- > 0;) {
    const Expr* n = nodes[i];
    const Expr* right = n->children[1].get();
    out.push_back({right, needs_parens(*right, level + 1, i > 0), infix_spelling(*n)});
  }
  return out;
}

bool all_of_chars(std::string_view s, std::string_view allowed) {
  return !s.empty() && s.find_first_not_of(allowed) == std::string_view::npos;
}

std::string strip_leading_zeros(std::string_view digits) {
  size_t i = digits.find_first_of("123456789");
  if (i == std::string_view::npos) return "0";
  return std::string(digits.substr(i));
}

std::string shortest_double(double v) {
  char buf[64];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof buf, "%.*g", precision, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  std::string s = buf;
  // The lexer needs `.` or an exponent to read a number, and no `e+`.
  size_t e = s.find('e');
  if (e != std::string::npos) {
    std::string mant = s.substr(0, e), exp = s.substr(e + 1);
    bool neg = !exp.empty() && exp[0] == '-';
    if (!exp.empty() && (exp[0] == '-' || exp[0] == '+')) exp.erase(0, 1);
    return mant + "e" + (neg ? "-" : "") + strip_leading_zeros(exp);
  }
  if (s.find('.') == std::string::npos) s += ".0";
  return s;
}

}  // namespace edict::fmt::detail
