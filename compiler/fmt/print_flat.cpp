// The printer's reading of the source (slices, tokens as written, blank
// lines, comments between positions) and its one-line forms of expressions.
#include "compiler/fmt/printer.h"

#include <algorithm>

#include "support/text.h"

namespace edict::fmt::detail {

std::string_view Printer::slice(uint32_t b, uint32_t e) const {
  b = std::min<uint32_t>(b, src_.size());
  e = std::min<uint32_t>(std::max(e, b), src_.size());
  return std::string_view(src_).substr(b, e - b);
}

bool Printer::has_blank_line(uint32_t a, uint32_t b) const {
  if (a == kNoPos || a >= b) return false;
  std::string_view s = slice(a, b);
  size_t nl = s.find('\n');
  while (nl != std::string_view::npos) {
    size_t i = nl + 1;
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r')) ++i;
    if (i < s.size() && s[i] == '\n') return true;
    nl = s.find('\n', nl + 1);
  }
  return false;
}

bool Printer::comment_between(uint32_t a, uint32_t b) const {
  if (a >= b) return false;
  auto it = std::lower_bound(comment_begins_.begin(), comment_begins_.end(), a);
  return it != comment_begins_.end() && *it < b;
}

std::string Printer::string_at(Span span, std::string_view decoded) const {
  if (span.valid()) {
    std::string_view s = slice(span.begin, span.end);
    size_t i = 0;
    while (i < s.size()) {
      if (s.compare(i, 2, "//") == 0) {
        size_t nl = s.find('\n', i);
        i = nl == std::string_view::npos ? s.size() : nl;
      } else if (s.compare(i, 2, "/*") == 0) {
        size_t close = s.find("*/", i + 2);
        i = close == std::string_view::npos ? s.size() : close + 2;
      } else if (s[i] == '"') {
        size_t j = i + 1;
        while (j < s.size() && s[j] != '"' && s[j] != '\n') j += s[j] == '\\' ? 2 : 1;
        if (j < s.size() && s[j] == '"') return std::string(s.substr(i, j + 1 - i));
        break;
      } else {
        ++i;
      }
    }
  }
  return edict_string_literal(decoded);
}

std::string_view Printer::token(const Expr& e) const {
  std::string_view t = trim(sources_.text(e.span));
  while (t.size() >= 2 && t.front() == '(' && t.back() == ')') t = trim(t.substr(1, t.size() - 2));
  return t;
}

std::string Printer::int_text(const Expr& e) const {
  std::string_view t = token(e);
  bool negative = !t.empty() && t[0] == '-';
  if (negative) t = trim(t.substr(1));
  if (!all_of_chars(t, "0123456789_") || t[0] == '_' || negative != (e.int_value < 0))
    return std::to_string(e.int_value);
  return (negative ? "-" : "") + strip_leading_zeros(t);
}

std::string Printer::number_text(const Expr& e) const {
  std::string_view t = token(e);
  bool negative = !t.empty() && t[0] == '-';
  if (negative) t = trim(t.substr(1));
  if (!all_of_chars(t, "0123456789_.eE+-") || !(t[0] >= '0' && t[0] <= '9') ||
      negative != (e.number_value < 0))
    return shortest_double(e.number_value);
  size_t e_pos = t.find_first_of("eE");
  std::string_view mantissa = t.substr(0, e_pos);
  size_t dot = mantissa.find('.');
  std::string out = negative ? "-" : "";
  out += strip_leading_zeros(mantissa.substr(0, dot));
  if (dot != std::string_view::npos) out += mantissa.substr(dot);
  if (e_pos != std::string_view::npos) {
    std::string_view exp = t.substr(e_pos + 1);
    bool exp_negative = !exp.empty() && exp[0] == '-';
    if (!exp.empty() && (exp[0] == '-' || exp[0] == '+')) exp.remove_prefix(1);
    out += exp_negative ? "e-" : "e";
    out += strip_leading_zeros(exp);
  }
  return out;
}

std::string Printer::message_text(const Expr& m) const {
  std::string decoded;
  for (const ast::MessagePart& p : m.parts) {
    if (p.expr_index >= 0 && static_cast<size_t>(p.expr_index) < m.children.size() &&
        m.children[p.expr_index])
      decoded += "{" + flat(*m.children[p.expr_index]) + "}";
    else
      decoded += p.text;
  }
  return string_at(m.span, decoded);
}

Range Printer::closer_range(Span span, char closer) const {
  if (!span.valid() || span.end == 0) return {};
  uint32_t i = span.end;
  while (i > span.begin) {
    char c = src_[i - 1];
    if (c == closer) return Range::at(i - 1);
    if (!is_space(c) && c != ')' && c != '?') break;
    --i;
  }
  return {};
}

Range Printer::opener_range(Span span, char opener) const {
  if (!span.valid()) return {};
  for (uint32_t i = span.begin; i < span.end && i < src_.size(); ++i) {
    if (src_[i] == opener) return Range::at(i);
    if (!is_space(src_[i]) && src_[i] != '(') break;
  }
  return {};
}

std::string Printer::flat(const Expr& e) const {
  std::string s = flat_bare(e);
  return e.parenthesized ? "(" + s + ")" : s;
}

std::string Printer::flat_child(const Expr* c, int min_prec, bool followed) const {
  if (!c) return "";
  std::string s = flat(*c);
  return needs_parens(*c, min_prec, followed) ? "(" + s + ")" : s;
}

std::string Printer::flat_base(const Expr* base) const {
  if (!base) return "";
  std::string s = flat(*base);
  return needs_parens_as_base(*base) ? "(" + s + ")" : s;
}

const Expr* Printer::kid(const Expr& e, size_t i) {
  return i < e.children.size() ? e.children[i].get() : nullptr;
}

std::string Printer::flat_bare(const Expr& e) const {
  switch (e.kind) {
    case ExprKind::Int: return int_text(e);
    case ExprKind::Number: return number_text(e);
    case ExprKind::String: return string_at(e.span, e.text);
    case ExprKind::Bool: return e.bool_value ? "true" : "false";
    case ExprKind::Date:
    case ExprKind::Time:
    case ExprKind::Duration: return e.text.empty() ? std::string(token(e)) : e.text;
    case ExprKind::Event: return "event";
    case ExprKind::Name: return e.text;
    case ExprKind::Field: return flat_base(kid(e, size_t{0})) + "." + e.text;
    case ExprKind::Index:
      return flat_base(kid(e, size_t{0})) + "[" + flat_child(kid(e, size_t{1}), 0, false) + "]";
    case ExprKind::Call: {
      std::string s = e.text + "(";
      for (size_t i = 0; i < e.children.size(); ++i) s += (i ? ", " : "") + flat_child(kid(e, i), 0, false);
      return s + ")";
    }
    case ExprKind::Aggregate: return aggregate_text(e);
    case ExprKind::Unary:
      if (e.op == Op::Not) return "not " + flat_child(kid(e, size_t{0}), kPrecNot, false);
      return "-" + flat_child(kid(e, size_t{0}), kPrecNeg, false);
    case ExprKind::Binary:
    case ExprKind::In:
    case ExprKind::Otherwise: {
      if (!is_infix(e)) return "";
      std::string s;
      for (const Operand& o : spine(e)) {
        if (!o.op.empty()) s += " " + o.op + " ";
        std::string t = flat(*o.expr);
        s += o.wrap ? "(" + t + ")" : t;
      }
      return s;
    }
    case ExprKind::Is:
      return flat_child(kid(e, size_t{0}), kPrecIs, true) + (e.present ? " is present" : " is absent");
    case ExprKind::If:
      return "if " + flat_child(kid(e, size_t{0}), 0, false) + " then " +
             flat_child(kid(e, size_t{1}), 0, false) + " else " + flat_child(kid(e, size_t{2}), 0, false);
    case ExprKind::SetLit: {
      if (e.children.empty()) return "{}";
      std::string s = "{ ";
      for (size_t i = 0; i < e.children.size(); ++i) s += (i ? ", " : "") + flat_child(kid(e, i), 0, false);
      return s + " }";
    }
    case ExprKind::RecordLit: {
      if (e.children.empty()) return "{}";
      std::string s = "{ ";
      for (size_t i = 0; i < e.children.size(); ++i)
        s += (i ? ", " : "") + field_name(e, i) + ": " + flat_child(kid(e, i), 0, false);
      return s + " }";
    }
    case ExprKind::Interpolation: return message_text(e);
    case ExprKind::Error: return "";
  }
  return "";
}

std::string Printer::field_name(const Expr& record, size_t i) {
  return i < record.fields.size() ? record.fields[i].name : "";
}

std::string Printer::aggregate_text(const Expr& e) const {
  std::string s = e.text + "(" + (e.distinct ? "distinct " : "");
  bool first = true;
  for (size_t i = 0; i < e.children.size(); ++i) {
    int j = static_cast<int>(i);
    if (j == e.agg_window || j == e.agg_key || j == e.agg_filter) continue;
    s += (first ? "" : ", ") + flat_child(kid(e, i), 0, false);
    first = false;
  }
  s += ")";
  if (const Expr* w = kid(e, e.agg_window))
    s += " over " + (e.calendar_year ? std::string("calendar year") : aggregate_operand(*w));
  if (const Expr* k = kid(e, e.agg_key)) s += " by " + aggregate_operand(*k);
  if (const Expr* f = kid(e, e.agg_filter)) s += " where " + flat_child(f, 0, false);
  return s;
}

std::string Printer::aggregate_operand(const Expr& operand) const {
  std::string s = flat(operand);
  bool wrap = !operand.parenthesized && (prec(operand) < kPrecAtom || operand.kind == ExprKind::Aggregate);
  return wrap ? "(" + s + ")" : s;
}

}  // namespace edict::fmt::detail
