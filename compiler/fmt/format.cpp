// The canonical formatter. Layout runs in two passes: the printer turns each
// declaration into output lines, each tagged with the source range it prints;
// then every comment is placed by position against those ranges (trailing on
// the line it follows, or leading before the line it precedes or sits inside).
// format_source re-parses its own output and refuses to return text that
// parses to a different tree or loses a comment.
#include "compiler/fmt/format.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <unordered_map>
#include <utility>
#include <vector>

#include "compiler/parse/parse.h"
#include "support/text.h"

namespace edict::fmt {
namespace {

using ast::Expr;
using ast::ExprKind;
using ast::Op;

constexpr uint32_t kNoPos = UINT32_MAX;

// The source bytes [begin, end) that one output line prints; empty when the
// line prints only punctuation with no known position.
struct Range {
  uint32_t begin = kNoPos;
  uint32_t end = 0;

  bool empty() const { return begin == kNoPos; }
  void add(uint32_t b, uint32_t e) {
    if (b > e) return;
    begin = std::min(begin, b);
    end = std::max(end, e);
  }
  void add(Span s) {
    if (s.valid()) add(s.begin, s.end);
  }
  void add(const Range& r) {
    if (!r.empty()) add(r.begin, r.end);
  }
  static Range of(Span s) {
    Range r;
    r.add(s);
    return r;
  }
  static Range at(uint32_t pos) {
    Range r;
    r.add(pos, pos + 1);
    return r;
  }
};

// Whether a blank line may precede a line: never, where the author wrote one,
// or always (between declarations).
enum class Blank : uint8_t { Never, Keep, Force };

// One output line, or, inside a layout, one piece of it: the first piece of a
// layout continues the line the caller is building.
struct Line {
  int indent = 0;
  std::string text;
  Range range;
  Blank blank = Blank::Never;
  int comment_indent = -1;                // indentation of leading comments; -1: `indent`
  std::vector<size_t> leading, trailing;  // indices into the comment list
};
using Frags = std::vector<Line>;

// Display width in code points (continuation bytes do not count).
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

// Binding strength, tightest highest, after grammar/Edict.g4's `expr` rule.
constexpr int kPrecIf = 2, kPrecOr = 3, kPrecAnd = 4, kPrecNot = 5, kPrecCmp = 6, kPrecIn = 7, kPrecIs = 8,
              kPrecAdd = 9, kPrecMul = 10, kPrecOtherwise = 11, kPrecNeg = 12, kPrecAtom = 13;

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

// Left-associative infix forms, printed by walking their left spine.
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

// True when the printed form of `e` ends in an expression slot that the
// parser fills greedily (an aggregate's `where` filter, an `if`'s `else`):
// such an expression must be parenthesised when tokens follow it.
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

// Parentheses the tree needs where the author wrote none. For a tree the
// parser built this never fires; it guards trees built by hand.
bool needs_parens(const Expr& child, int min_prec, bool followed) {
  if (child.parenthesized) return false;
  return prec(child) < min_prec || (followed && ends_open(child));
}

// The base of `.f` or `[k]`: an aggregate's window or key operand would take
// the postfix for itself.
bool needs_parens_as_base(const Expr& base) {
  return needs_parens(base, kPrecAtom, true) || (!base.parenthesized && base.kind == ExprKind::Aggregate);
}

// One operand of an infix spine: `a + b - c` is {a, +, b, -, c}.
struct Operand {
  const Expr* expr;
  bool wrap;       // needs parentheses the author did not write
  std::string op;  // operator before this operand; empty for the first
};

// Flattens the left spine of same-precedence infix nodes (iteratively, so a
// long chain costs no stack).
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

// `007` -> `7`, `0_100` -> `100`; `_` grouping after the first digit kept.
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

class Printer {
 public:
  Printer(const SourceManager& sources, const ast::Module& module, const Options& options)
      : sources_(sources),
        module_(module),
        src_(sources.file(module.file).code),
        max_width_(static_cast<int>(options.max_width)) {
    for (const ast::Comment& c : module.comments) comment_begins_.push_back(c.span.begin);
    std::sort(comment_begins_.begin(), comment_begins_.end());
    // The markdown itself, not the code view (which blanks a prose line's \r).
    const std::string& text = sources.file(module.file).text;
    size_t nl = text.find('\n');
    newline_ = nl != std::string::npos && nl > 0 && text[nl - 1] == '\r' ? "\r\n" : "\n";
  }

  // Declarations and comments are in source order, so those of one region
  // are found by binary search (a literate file may hold many small blocks).
  std::pair<size_t, size_t> decls_in(uint32_t begin, uint32_t end) const {
    auto by_begin = [](const std::unique_ptr<ast::Decl>& d, uint32_t pos) { return d->span.begin < pos; };
    auto first = std::lower_bound(module_.decls.begin(), module_.decls.end(), begin, by_begin);
    auto last = std::lower_bound(first, module_.decls.end(), end, by_begin);
    return {static_cast<size_t>(first - module_.decls.begin()),
            static_cast<size_t>(last - module_.decls.begin())};
  }
  std::pair<size_t, size_t> comments_in(uint32_t begin, uint32_t end) const {
    auto by_begin = [](const ast::Comment& c, uint32_t pos) { return c.span.begin < pos; };
    auto first = std::lower_bound(module_.comments.begin(), module_.comments.end(), begin, by_begin);
    auto last = std::lower_bound(first, module_.comments.end(), end, by_begin);
    return {static_cast<size_t>(first - module_.comments.begin()),
            static_cast<size_t>(last - module_.comments.begin())};
  }

  // Formats the declarations and comments whose start lies in [begin, end),
  // each line prefixed by `margin` (a literate fence's indentation).
  std::string format_region(uint32_t begin, uint32_t end, std::string_view margin) {
    lines_.clear();
    size_t prev_count = 0;
    const ast::Decl* prev = nullptr;
    auto [first_decl, last_decl] = decls_in(begin, end);
    for (size_t i = first_decl; i < last_decl; ++i) {
      const auto& d = module_.decls[i];
      size_t first = lines_.size();
      print_decl(*d);
      if (lines_.size() == first) continue;
      size_t count = lines_.size() - first;
      Blank blank = Blank::Force;
      if (!prev || (prev_count == 1 && count == 1 && !has_blank_line(prev->span.end, d->span.begin)))
        blank = Blank::Keep;
      lines_[first].blank = blank;
      prev = d.get();
      prev_count = count;
    }
    std::vector<size_t> comments;
    auto [first_comment, last_comment] = comments_in(begin, end);
    for (size_t i = first_comment; i < last_comment; ++i) comments.push_back(i);
    return emit(comments, margin);
  }

 private:
  // ---- source text ---------------------------------------------------------

  std::string_view slice(uint32_t b, uint32_t e) const {
    b = std::min<uint32_t>(b, src_.size());
    e = std::min<uint32_t>(std::max(e, b), src_.size());
    return std::string_view(src_).substr(b, e - b);
  }

  // A blank line (only whitespace between two newlines) in [a, b).
  bool has_blank_line(uint32_t a, uint32_t b) const {
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

  bool comment_between(uint32_t a, uint32_t b) const {
    if (a >= b) return false;
    auto it = std::lower_bound(comment_begins_.begin(), comment_begins_.end(), a);
    return it != comment_begins_.end() && *it < b;
  }
  bool comment_within(Span s) const { return s.valid() && comment_between(s.begin, s.end); }

  // The string token starting at the first `"` in the span (comments
  // skipped), as written; `decoded` re-quoted when there is none.
  std::string string_at(Span span, std::string_view decoded) const {
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

  // A literal's token as written (the span may include the parentheses).
  std::string_view token(const Expr& e) const {
    std::string_view t = trim(sources_.text(e.span));
    while (t.size() >= 2 && t.front() == '(' && t.back() == ')') t = trim(t.substr(1, t.size() - 2));
    return t;
  }

  std::string int_text(const Expr& e) const {
    std::string_view t = token(e);
    bool negative = !t.empty() && t[0] == '-';
    if (negative) t = trim(t.substr(1));
    if (!all_of_chars(t, "0123456789_") || t[0] == '_' || negative != (e.int_value < 0))
      return std::to_string(e.int_value);
    return (negative ? "-" : "") + strip_leading_zeros(t);
  }

  std::string number_text(const Expr& e) const {
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

  std::string message_text(const Expr& m) const {
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

  // The range of a closing bracket at the end of `span` (skipping the
  // author's parentheses around it and a type's `?`), empty when absent.
  Range closer_range(Span span, char closer) const {
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

  Range opener_range(Span span, char opener) const {
    if (!span.valid()) return {};
    for (uint32_t i = span.begin; i < span.end && i < src_.size(); ++i) {
      if (src_[i] == opener) return Range::at(i);
      if (!is_space(src_[i]) && src_[i] != '(') break;
    }
    return {};
  }

  // ---- expressions on one line ----------------------------------------------

  std::string flat(const Expr& e) const {
    std::string s = flat_bare(e);
    return e.parenthesized ? "(" + s + ")" : s;
  }

  std::string flat_child(const Expr* c, int min_prec, bool followed) const {
    if (!c) return "";
    std::string s = flat(*c);
    return needs_parens(*c, min_prec, followed) ? "(" + s + ")" : s;
  }

  std::string flat_base(const Expr* base) const {
    if (!base) return "";
    std::string s = flat(*base);
    return needs_parens_as_base(*base) ? "(" + s + ")" : s;
  }

  static const Expr* kid(const Expr& e, size_t i) {
    return i < e.children.size() ? e.children[i].get() : nullptr;
  }
  static const Expr* kid(const Expr& e, int i) { return i >= 0 ? kid(e, static_cast<size_t>(i)) : nullptr; }

  std::string flat_bare(const Expr& e) const {
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

  static std::string field_name(const Expr& record, size_t i) {
    return i < record.fields.size() ? record.fields[i].name : "";
  }

  std::string aggregate_text(const Expr& e) const {
    std::string s = e.text + "(" + (e.distinct ? "distinct " : "");
    bool first = true;
    for (size_t i = 0; i < e.children.size(); ++i) {
      int j = static_cast<int>(i);
      if (j == e.agg_window || j == e.agg_key || j == e.agg_filter) continue;
      s += (first ? "" : ", ") + flat_child(kid(e, i), 0, false);
      first = false;
    }
    s += ")";
    if (const Expr* w = kid(e, e.agg_window)) s += " over " + aggregate_operand(*w);
    if (const Expr* k = kid(e, e.agg_key)) s += " by " + aggregate_operand(*k);
    if (const Expr* f = kid(e, e.agg_filter)) s += " where " + flat_child(f, 0, false);
    return s;
  }

  // The window and key are simple operands in the grammar (a primary and
  // postfix `.`/`[]`), so a comparison after them applies to the aggregate. An
  // aggregate there is parenthesised too: it could take the `by`/`where` that
  // follows.
  std::string aggregate_operand(const Expr& operand) const {
    std::string s = flat(operand);
    bool wrap = !operand.parenthesized && (prec(operand) < kPrecAtom || operand.kind == ExprKind::Aggregate);
    return wrap ? "(" + s + ")" : s;
  }

  // ---- expressions over several lines ----------------------------------------

  // True when the broken layout of `e` keeps a comment in place that the
  // one-line form would move: a comment between the operands of an `and`/`or`
  // chain, or inside a set or record literal. Only constructs whose broken
  // layout lays their children out again propagate it, which keeps the
  // decision the same on the formatter's own output (idempotence).
  bool forced(const Expr& e) {
    auto it = forced_.find(&e);
    if (it != forced_.end()) return it->second;
    bool result = false;
    switch (e.kind) {
      case ExprKind::SetLit:
      case ExprKind::RecordLit: result = comment_within(e.span); break;
      case ExprKind::Binary:
      case ExprKind::In:
      case ExprKind::Otherwise: {
        if (!is_infix(e)) break;
        std::vector<Operand> ops = spine(e);
        for (size_t i = 0; i < ops.size() && !result; ++i) {
          result = forced(*ops[i].expr);
          if (!result && is_chain(e) && i + 1 < ops.size())
            result = comment_between(ops[i].expr->span.end, ops[i + 1].expr->span.begin);
        }
        break;
      }
      case ExprKind::Unary:
      case ExprKind::Is:
      case ExprKind::Field:
      case ExprKind::Index: result = kid(e, size_t{0}) && forced(*kid(e, size_t{0})); break;
      case ExprKind::Call:
      case ExprKind::If:
        for (const auto& c : e.children) result = result || (c && forced(*c));
        break;
      default: break;
    }
    forced_[&e] = result;
    return result;
  }

  // Appends `tail` to `head`: tail's first piece joins head's last line.
  static void join(Frags& head, Frags tail, std::string_view glue = "") {
    if (tail.empty()) return;
    head.back().text += glue;
    head.back().text += tail[0].text;
    head.back().range.add(tail[0].range);
    for (size_t i = 1; i < tail.size(); ++i) head.push_back(std::move(tail[i]));
  }

  static Frags one(int indent, std::string text, Range range = {}) {
    Line l;
    l.indent = indent;
    l.text = std::move(text);
    l.range = range;
    return {std::move(l)};
  }

  // Where a layout starts: on a line indented `li`, at column `col`; lines
  // that continue an `and`/`or` chain are indented `ci`. Brackets opened on
  // that line close at `li`, their contents at `li + 2`.
  struct Place {
    int li;
    int ci;
    int col;
  };

  static Line closer(int indent, const char* text, Range range) {
    Line close;
    close.indent = indent;
    close.text = text;
    close.range = range;
    close.comment_indent = indent + 2;
    return close;
  }

  // Lays `e` out at `at`: on one line when it fits and no comment forces it
  // apart. `wrap`: parentheses the tree needs but the author did not write.
  Frags layout(const Expr& e, bool wrap, Place at) {
    std::string f = flat(e);
    if (wrap) f = "(" + f + ")";
    if (!forced(e) && at.col + width(f) <= max_width_) return one(at.ci, f, Range::of(e.span));
    bool parens = wrap || e.parenthesized;
    if (parens && is_chain(e)) {
      Frags out = one(at.ci, "(", opener_range(e.span, '('));
      Frags inner = layout_chain(e, Place{at.li + 2, at.li + 2, at.li + 2});
      inner[0].indent = at.li + 2;
      for (Line& l : inner) out.push_back(std::move(l));
      out.push_back(closer(at.li, ")", closer_range(e.span, ')')));
      return out;
    }
    Frags out = layout_bare(e, Place{at.li, at.ci, at.col + (parens ? 1 : 0)});
    if (parens) {
      out.front().text = "(" + out.front().text;
      out.back().text += ")";
    }
    return out;
  }

  Frags layout_child(const Expr* c, int min_prec, bool followed, Place at) {
    if (!c) return one(at.ci, "");
    return layout(*c, needs_parens(*c, min_prec, followed), at);
  }

  // The place right after the last line of `f`, which began at `at`.
  static Place after(const Frags& f, Place at, int extra) {
    if (f.size() == 1) return Place{at.li, at.ci, at.col + width(f[0].text) + extra};
    return Place{f.back().indent, at.ci, f.back().indent + width(f.back().text) + extra};
  }

  // The first operand stays on the current line; each other one starts a
  // line at `ci` with its operator, and its own continuations go two deeper.
  Frags layout_chain(const Expr& e, Place at) {
    std::vector<Operand> ops = spine(e);
    Frags out = layout(*ops[0].expr, ops[0].wrap, at);
    for (size_t i = 1; i < ops.size(); ++i) {
      std::string lead = ops[i].op + " ";
      Frags sub = layout(*ops[i].expr, ops[i].wrap, Place{at.ci, at.ci + 2, at.ci + width(lead)});
      sub[0].indent = at.ci;
      sub[0].text = lead + sub[0].text;
      for (Line& l : sub) out.push_back(std::move(l));
    }
    return out;
  }

  Frags layout_bare(const Expr& e, Place at) {
    switch (e.kind) {
      case ExprKind::Binary:
      case ExprKind::In:
      case ExprKind::Otherwise: {
        if (!is_infix(e)) break;
        if (is_chain(e)) return layout_chain(e, at);
        std::vector<Operand> ops = spine(e);
        Frags out = layout(*ops[0].expr, ops[0].wrap, at);
        Place next = at;
        for (size_t i = 1; i < ops.size(); ++i) {
          std::string glue = " " + ops[i].op + " ";
          next = after(out, next, width(glue));
          join(out, layout(*ops[i].expr, ops[i].wrap, next), glue);
        }
        return out;
      }
      case ExprKind::Unary: {
        bool is_not = e.op == Op::Not;
        std::string prefix = is_not ? "not " : "-";
        Frags out = one(at.ci, prefix);
        join(out, layout_child(kid(e, size_t{0}), is_not ? kPrecNot : kPrecNeg, false,
                               Place{at.li, at.ci, at.col + width(prefix)}));
        out[0].range.add(e.span.begin, e.span.begin + 1);
        return out;
      }
      case ExprKind::Is: {
        Frags out = layout_child(kid(e, size_t{0}), kPrecIs, true, at);
        out.back().text += e.present ? " is present" : " is absent";
        return out;
      }
      case ExprKind::Field: {
        const Expr* base = kid(e, size_t{0});
        Frags out = base ? layout(*base, needs_parens_as_base(*base), at) : one(at.ci, "");
        out.back().text += "." + e.text;
        out.back().range.add(e.name_span);
        return out;
      }
      case ExprKind::Index: {
        const Expr* base = kid(e, size_t{0});
        Frags out = base ? layout(*base, needs_parens_as_base(*base), at) : one(at.ci, "");
        out.back().text += "[" + flat_child(kid(e, size_t{1}), 0, false) + "]";
        if (const Expr* i = kid(e, size_t{1})) out.back().range.add(i->span);
        return out;
      }
      case ExprKind::If: {
        // `if c` / `then a` / `else b`, the branches at `ci`.
        Frags out = one(at.ci, "if ", Range::at(e.span.begin));
        join(out, layout_child(kid(e, size_t{0}), 0, false, Place{at.li, at.ci + 2, at.col + 3}));
        for (size_t i = 1; i <= 2; ++i) {
          std::string lead = i == 1 ? "then " : "else ";
          Frags sub = layout_child(kid(e, i), 0, false, Place{at.ci, at.ci + 2, at.ci + width(lead)});
          sub[0].indent = at.ci;
          sub[0].text = lead + sub[0].text;
          for (Line& l : sub) out.push_back(std::move(l));
        }
        return out;
      }
      case ExprKind::Call: {
        if (e.children.empty()) break;
        Frags out = one(at.ci, e.text + "(", Range::of(e.name_span));
        const int inner = at.li + 2;
        for (size_t i = 0; i < e.children.size(); ++i) {
          Frags sub = layout_child(kid(e, i), 0, false, Place{inner, inner + 2, inner});
          sub[0].indent = inner;
          if (i + 1 < e.children.size()) sub.back().text += ",";
          for (Line& l : sub) out.push_back(std::move(l));
        }
        out.push_back(closer(at.li, ")", closer_range(e.span, ')')));
        return out;
      }
      case ExprKind::SetLit: return layout_set(e, at.li);
      case ExprKind::RecordLit: return layout_record(e, at.li, Blank::Keep);
      case ExprKind::Aggregate: return layout_aggregate(e, at);
      default: break;
    }
    return one(at.ci, flat_bare(e), Range::of(e.span));
  }

  // A long aggregate: `FN(x) over W` where it starts, then `by K` and
  // `where F` each on a line of their own two columns deeper than the
  // aggregate (the filter's own continuations two deeper again).
  Frags layout_aggregate(const Expr& e, Place at) {
    const Expr* key = kid(e, e.agg_key);
    const Expr* filter = kid(e, e.agg_filter);
    if (!key && !filter) return one(at.ci, flat_bare(e), Range::of(e.span));
    std::string head = e.text + "(" + (e.distinct ? "distinct " : "");
    Range head_range = Range::at(e.span.begin);
    bool first = true;
    for (size_t i = 0; i < e.children.size(); ++i) {
      int j = static_cast<int>(i);
      if (j == e.agg_window || j == e.agg_key || j == e.agg_filter) continue;
      head += (first ? "" : ", ") + flat_child(kid(e, i), 0, false);
      if (const Expr* c = kid(e, i)) head_range.add(c->span);
      first = false;
    }
    head += ")";
    if (const Expr* w = kid(e, e.agg_window)) {
      head += " over " + aggregate_operand(*w);
      head_range.add(w->span);
    }
    Frags out = one(at.ci, head, head_range);
    const int inner = at.col + 2;
    if (key) {
      Frags by = one(inner, "by " + aggregate_operand(*key), Range::of(key->span));
      out.push_back(std::move(by[0]));
    }
    if (filter) {
      Frags sub = layout_child(filter, 0, false, Place{inner, inner + 2, inner + width("where ")});
      sub[0].indent = inner;
      sub[0].text = "where " + sub[0].text;
      for (Line& l : sub) out.push_back(std::move(l));
    }
    return out;
  }

  // `{`, the elements filled up to the width (a comment between two elements,
  // or inside one, starts a new line so it stays where it is), `}` at `li`.
  Frags layout_set(const Expr& e, int li) {
    Frags out = one(li, "{", opener_range(e.span, '{'));
    const int inner = li + 2;
    Line cur;
    cur.indent = inner;
    auto flush = [&] {
      if (!cur.text.empty()) out.push_back(std::move(cur));
      cur = Line{};
      cur.indent = inner;
    };
    const Expr* prev = nullptr;
    for (const auto& c : e.children) {
      if (!c) continue;
      std::string t = flat(*c) + ",";
      bool break_before = (prev && comment_between(prev->span.end, c->span.begin)) || comment_within(c->span);
      if (!cur.text.empty() && (break_before || inner + width(cur.text) + 1 + width(t) > max_width_)) flush();
      cur.text += (cur.text.empty() ? "" : " ") + t;
      cur.range.add(c->span);
      prev = c.get();
    }
    flush();
    out.push_back(closer(li, "}", closer_range(e.span, '}')));
    return out;
  }

  // `{`, one `name: value,` per line, `}` at `li`.
  Frags layout_record(const Expr& e, int li, Blank blank) {
    Frags out = one(li, "{", opener_range(e.span, '{'));
    const int inner = li + 2;
    for (size_t i = 0; i < e.children.size(); ++i) {
      const Expr* value = kid(e, i);
      if (!value) continue;
      std::string lead = field_name(e, i) + ": ";
      Frags sub = layout(*value, false, Place{inner, inner + 2, inner + width(lead)});
      sub[0].indent = inner;
      sub[0].text = lead + sub[0].text;
      if (i < e.fields.size()) sub[0].range.add(e.fields[i].name_span);
      sub[0].blank = blank;
      sub.back().text += ",";
      for (Line& l : sub) out.push_back(std::move(l));
    }
    out.push_back(closer(li, "}", closer_range(e.span, '}')));
    return out;
  }

  // ---- types -------------------------------------------------------------

  std::string type_flat(const ast::TypeExpr& t) const {
    std::string s;
    if (t.is_record()) {
      if (t.fields.empty()) {
        s = "{}";
      } else {
        s = "{ ";
        for (size_t i = 0; i < t.fields.size(); ++i)
          s += (i ? ", " : "") + t.fields[i].name + ": " + type_flat(t.fields[i].type);
        s += " }";
      }
    } else {
      s = t.name;
      if (!t.args.empty()) {
        s += "<";
        for (size_t i = 0; i < t.args.size(); ++i) s += (i ? ", " : "") + type_flat(t.args[i]);
        s += ">";
      }
    }
    return t.optional ? s + "?" : s;
  }

  Frags layout_type(const ast::TypeExpr& t, int ci, int col) {
    std::string f = type_flat(t);
    bool inner_comment = t.is_record() && comment_within(t.span);
    if (!t.is_record() || t.fields.empty() || (!inner_comment && col + width(f) <= max_width_))
      return one(ci, f, Range::of(t.span));
    Frags out = one(ci, "{", opener_range(t.span, '{'));
    for (const ast::FieldDecl& fd : t.fields) {
      std::string lead = fd.name + ": ";
      Frags sub = layout_type(fd.type, ci + 2, ci + 2 + width(lead));
      sub[0].indent = ci + 2;
      sub[0].text = lead + sub[0].text;
      sub[0].range.add(fd.name_span);
      sub[0].blank = Blank::Keep;
      sub.back().text += ",";
      for (Line& l : sub) out.push_back(std::move(l));
    }
    Line close;
    close.indent = ci;
    close.text = t.optional ? "}?" : "}";
    close.range = closer_range(t.span, '}');
    close.comment_indent = ci + 2;
    out.push_back(std::move(close));
    return out;
  }

  // ---- declarations ------------------------------------------------------

  void push(Frags frags) {
    for (Line& l : frags) lines_.push_back(std::move(l));
  }

  // `prefix` followed by a layout of `e`, on a line indented `indent`.
  void push_with(int indent, std::string prefix, Range prefix_range, Frags frags) {
    frags[0].indent = indent;
    frags[0].text = prefix + frags[0].text;
    frags[0].range.add(prefix_range);
    push(std::move(frags));
  }

  void push_line(int indent, std::string text, Range range, Blank blank = Blank::Never,
                 int comment_indent = -1) {
    Line l;
    l.indent = indent;
    l.text = std::move(text);
    l.range = range;
    l.blank = blank;
    l.comment_indent = comment_indent;
    lines_.push_back(std::move(l));
  }

  Range head_range(const ast::Decl& d, Span last) const {
    Range r;
    r.add(d.span.begin, d.span.begin + 1);
    r.add(d.name_span);
    r.add(last);
    return r;
  }

  // `header = value`: on one line when it fits; a set, record or call opens
  // on the header line; anything else moves to the next line, indented two,
  // its continuation lines four (as under a rule's `when`).
  void push_binding(const std::string& header, Range header_range, const Expr* value) {
    if (!value) {
      push_line(0, header, header_range);
      return;
    }
    std::string f = flat(*value);
    int col = width(header) + 3;
    if (!forced(*value) && col + width(f) <= max_width_) {
      Range r = header_range;
      r.add(value->span);
      push_line(0, header + " = " + f, r);
    } else if (hugs(*value)) {
      push_with(0, header + " = ", header_range, layout(*value, false, Place{0, 2, col}));
    } else {
      push_line(0, header + " =", header_range);
      Frags body = layout(*value, false, Place{2, 4, 2});
      body[0].indent = 2;
      push(std::move(body));
    }
  }

  bool hugs(const Expr& e) {
    if (e.parenthesized) return false;
    if (e.kind == ExprKind::SetLit || e.kind == ExprKind::RecordLit || e.kind == ExprKind::Call) return true;
    if (e.kind == ExprKind::Binary && (e.op == Op::Add || e.op == Op::Sub) && is_infix(e)) {
      std::vector<Operand> ops = spine(e);
      for (size_t i = 0; i + 1 < ops.size(); ++i)
        if (forced(*ops[i].expr)) return false;
      return !ops.back().wrap && hugs(*ops.back().expr);
    }
    return false;
  }

  void print_decl(const ast::Decl& d) {
    switch (d.kind) {
      case ast::DeclKind::Policy: return print_policy(static_cast<const ast::PolicyDecl&>(d));
      case ast::DeclKind::Import:
        return push_line(0, "import " + string_at(d.name_span, d.name), Range::of(d.span));
      case ast::DeclKind::Outcomes: {
        const auto& o = static_cast<const ast::OutcomesDecl&>(d);
        std::string s = "outcomes";
        for (size_t i = 0; i < o.order.size(); ++i) s += (i ? " < " : " ") + o.order[i].name;
        return push_line(0, s, Range::of(d.span));
      }
      case ast::DeclKind::Default: return push_line(0, "default " + d.name, Range::of(d.span));
      case ast::DeclKind::Event: return print_event(static_cast<const ast::EventDecl&>(d));
      case ast::DeclKind::Const: {
        const auto& c = static_cast<const ast::ConstDecl&>(d);
        std::string header = "const " + d.name;
        Range r = head_range(d, {});
        if (c.type) {
          header += ": " + type_flat(*c.type);
          r.add(c.type->span);
        }
        return push_binding(header, r, c.value.get());
      }
      case ast::DeclKind::Set: {
        const auto& s = static_cast<const ast::SetDecl&>(d);
        return push_binding("set " + d.name + ": " + type_flat(s.element_type),
                            head_range(d, s.element_type.span), s.value.get());
      }
      case ast::DeclKind::Table: return print_table(static_cast<const ast::TableDecl&>(d));
      case ast::DeclKind::Def: {
        const auto& f = static_cast<const ast::DefDecl&>(d);
        std::string header = "def " + d.name + "(";
        for (size_t i = 0; i < f.params.size(); ++i)
          header += (i ? ", " : "") + f.params[i].name + ": " + type_flat(f.params[i].type);
        header += "): " + type_flat(f.result);
        return push_binding(header, head_range(d, f.result.span), f.body.get());
      }
      case ast::DeclKind::Rule: return print_rule(static_cast<const ast::RuleDecl&>(d));
      case ast::DeclKind::Example: return print_example(static_cast<const ast::ExampleDecl&>(d));
      case ast::DeclKind::Test: return print_test(static_cast<const ast::TestDecl&>(d));
    }
  }

  void print_policy(const ast::PolicyDecl& p) {
    push_line(0, "policy " + string_at(p.name_span, p.name), head_range(p, {}));
    if (p.version_span.valid() || !p.version.empty())
      push_line(2, "version " + string_at(p.version_span, p.version), Range::of(p.version_span));
    if (p.source_span.valid() || !p.source.empty())
      push_line(2, "source " + string_at(p.source_span, p.source), Range::of(p.source_span));
    if (p.status_span.valid() || !p.status.empty())
      push_line(2, "status " + p.status, Range::of(p.status_span));
  }

  void print_event(const ast::EventDecl& e) {
    std::string header = "event " + e.name + " {";
    Range head = head_range(e, {});
    if (e.fields.empty() && !comment_within(e.span)) return push_line(0, header + "}", head);
    push_line(0, header, head);
    for (const ast::FieldDecl& f : e.fields) {
      std::string lead = f.name + ": ";
      Frags sub = layout_type(f.type, 2, 2 + width(lead));
      sub[0].blank = Blank::Keep;
      sub.back().text += ",";
      push_with(2, lead, Range::of(f.name_span), std::move(sub));
    }
    push_line(0, "}", closer_range(e.span, '}'), Blank::Never, 2);
  }

  void print_table(const ast::TableDecl& t) {
    std::string lead = "table " + t.name + ": " + type_flat(t.key_type) + " -> ";
    Frags head = layout_type(t.value_type, 0, width(lead));
    Range lead_range = head_range(t, t.key_type.span);
    bool empty = t.rows.empty() && !comment_between(t.value_type.span.end, t.span.end);
    head.back().text += empty ? " = {}" : " = {";
    push_with(0, lead, lead_range, std::move(head));
    if (empty) return;
    // Rows that fit on one line are aligned by padding their keys, in runs
    // the author did not separate by a blank line (a classification list reads
    // as a table).
    struct RowOut {
      std::string key;
      Frags value;
      Range range;
      bool blank_before;
    };
    std::vector<RowOut> rows;
    const ast::TableRow* prev = nullptr;
    for (const ast::TableRow& row : t.rows) {
      if (!row.key || !row.value) continue;
      RowOut r;
      r.key = flat(*row.key) + ":";
      r.value = layout(*row.value, false, Place{2, 4, 2 + width(r.key) + 1});
      r.value.back().text += ",";
      r.range = Range::of(row.key->span);
      r.range.add(row.span.begin, row.span.begin + 1);
      r.blank_before = prev && has_blank_line(prev->span.end, row.span.begin);
      rows.push_back(std::move(r));
      prev = &row;
    }
    for (size_t i = 0; i < rows.size();) {
      size_t j = i;
      int key_width = 0;
      bool fits = true;
      while (j < rows.size() && rows[j].value.size() == 1 && (j == i || !rows[j].blank_before)) {
        key_width = std::max(key_width, width(rows[j].key));
        ++j;
      }
      for (size_t k = i; k < j; ++k)
        fits = fits && 2 + key_width + 1 + width(rows[k].value[0].text) <= max_width_;
      for (size_t k = i; k < j && fits; ++k)
        rows[k].key.append(static_cast<size_t>(key_width - width(rows[k].key)), ' ');
      i = std::max(j, i + 1);
    }
    for (RowOut& r : rows) {
      r.value[0].blank = Blank::Keep;
      push_with(2, r.key + " ", r.range, std::move(r.value));
    }
    push_line(0, "}", closer_range(t.span, '}'), Blank::Never, 2);
  }

  void print_rule(const ast::RuleDecl& r) {
    std::string header = "rule " + r.name + " on ";
    Range head = head_range(r, {});
    if (r.on_any) {
      header += "any";
    } else {
      for (size_t i = 0; i < r.kinds.size(); ++i) {
        header += (i ? ", " : "") + r.kinds[i].name;
        head.add(r.kinds[i].span);
      }
    }
    push_line(0, header, head);
    using Clause = ast::RuleDecl::Clause;
    auto clause_span = [&](Clause::Kind k, Span fallback) {
      for (const Clause& c : r.clauses)
        if (c.kind == k) return c.span;
      return fallback;
    };
    auto expr_clause = [&](Clause::Kind k, const char* keyword, const ast::ExprPtr& e) {
      if (!e) return;
      std::string lead = std::string(keyword) + " ";
      Span s = clause_span(k, e->span);
      Range kw;
      if (s.valid()) kw.add(s.begin, s.begin + 1);
      push_with(2, lead, kw, layout(*e, false, Place{2, 4, 2 + width(lead)}));
    };
    expr_clause(Clause::Effective, "effective", r.effective);
    expr_clause(Clause::Until, "until", r.until);
    if (!r.cite.empty() || r.cite_span.valid())
      push_line(2, "cite " + string_at(r.cite_span, r.cite),
                Range::of(clause_span(Clause::Cite, r.cite_span)));
    if (!r.effect.name.empty()) {
      std::string s = r.effect.name;
      Range range = Range::of(clause_span(Clause::Effect, r.effect.span));
      if (r.message) {
        s += " " + message_text(*r.message);
        range.add(r.message->span);
      }
      push_line(2, s, range);
    }
    expr_clause(Clause::When, "when", r.when);
    expr_clause(Clause::Unless, "unless", r.unless);
  }

  void print_example(const ast::ExampleDecl& e) {
    std::string header = "example " + e.name + ": " + e.event_kind.name + " = ";
    if (!e.base.name.empty()) header += e.base.name + " with ";
    Range head = head_range(e, e.event_kind.span);
    head.add(e.base.span);
    const Expr* value = e.value.get();
    if (!value || (value->children.empty() && !comment_within(value->span))) {
      push_line(0, header + "{}", head);
      return;
    }
    // A full event is one field per line; `base with { ... }` overrides are
    // short and read best on one line, as after `given`.
    if (e.base.name.empty())
      push_with(0, header, head, layout_record(*value, 0, Blank::Keep));
    else
      push_with(0, header, head, layout(*value, false, Place{0, 2, width(header)}));
  }

  void print_test(const ast::TestDecl& t) {
    std::string header = "test " + string_at(t.name_span, t.name) + " {";
    Range head = head_range(t, {});
    if (t.steps.empty() && !comment_between(t.name_span.valid() ? t.name_span.end : t.span.begin, t.span.end))
      return push_line(0, header + "}", head);
    push_line(0, header, head);
    for (const ast::TestStep& step : t.steps) {
      std::string lead = "given ";
      Range r;
      r.add(step.span.begin, step.span.begin + 1);
      if (!step.inline_kind.name.empty()) {
        lead += step.inline_kind.name;
        r.add(step.inline_kind.span);
      } else {
        lead += step.example.name;
        r.add(step.example.span);
      }
      Frags given;
      if (step.overrides) {
        lead += step.inline_kind.name.empty() ? " with " : " ";
        given = layout(*step.overrides, false, Place{2, 4, 2 + width(lead)});
      } else {
        given = one(2, "");
      }
      given[0].blank = Blank::Keep;
      push_with(2, lead, r, std::move(given));
      for (const ast::Expectation& x : step.expects) {
        std::string s = "expect " + x.decision.name;
        if (!x.rules.empty()) {
          s += x.only ? " by only " : " by ";
          for (size_t i = 0; i < x.rules.size(); ++i) s += (i ? ", " : "") + x.rules[i].name;
        }
        push_line(2, s, Range::of(x.span), Blank::Keep);
      }
    }
    push_line(0, "}", closer_range(t.span, '}'), Blank::Never, 2);
  }

  // ---- comments and output -----------------------------------------------

  std::string comment_text(size_t i) const {
    const ast::Comment& c = module_.comments[i];
    std::string_view t = slice(c.span.begin, c.span.end);
    if (!c.block) t = trim(t);
    return std::string(t);
  }

  // Places each comment: inside a line's range -> before that line; after a
  // line with no newline in between -> trailing it; else before the next line
  // in source order (or at the end).
  std::vector<size_t> attach(const std::vector<size_t>& comments) {
    std::vector<size_t> order;
    for (size_t i = 0; i < lines_.size(); ++i)
      if (!lines_[i].range.empty()) order.push_back(i);
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return lines_[a].range.begin < lines_[b].range.begin; });
    std::vector<size_t> at_end;
    for (size_t ci : comments) {
      uint32_t cb = module_.comments[ci].span.begin;
      auto it = std::upper_bound(order.begin(), order.end(), cb,
                                 [&](uint32_t pos, size_t li) { return pos < lines_[li].range.begin; });
      if (it != order.begin()) {
        Line& prev = lines_[*(it - 1)];
        if (prev.range.end > cb) {
          prev.leading.push_back(ci);
          continue;
        }
        if (slice(prev.range.end, cb).find('\n') == std::string_view::npos) {
          prev.trailing.push_back(ci);
          continue;
        }
      }
      if (it != order.end())
        lines_[*it].leading.push_back(ci);
      else
        at_end.push_back(ci);
    }
    return at_end;
  }

  // One line of output before it is written: code or a comment on its own.
  struct OutLine {
    bool blank_before = false;
    bool code = false;  // a printed line (not a comment on its own line)
    int indent = 0;
    std::string text;
    std::vector<size_t> trailing;
  };

  std::string emit(const std::vector<size_t>& comments, std::string_view margin) {
    std::vector<size_t> at_end = attach(comments);
    std::vector<OutLine> out;
    uint32_t last_end = kNoPos;
    auto extend = [&](uint32_t end) { last_end = last_end == kNoPos ? end : std::max(last_end, end); };
    auto blank_before = [&](Blank mode, bool first, uint32_t begin) {
      if (out.empty()) return false;
      if (mode == Blank::Force && first) return true;
      return mode != Blank::Never && begin != kNoPos && has_blank_line(last_end, begin);
    };
    auto comment_line = [&](size_t ci, bool blank, int indent) {
      OutLine o;
      o.blank_before = blank;
      o.indent = indent;
      o.text = comment_text(ci);
      out.push_back(std::move(o));
      extend(module_.comments[ci].span.end);
    };
    for (Line& l : lines_) {
      bool first = true;
      int comment_indent = l.comment_indent >= 0 ? l.comment_indent : l.indent;
      for (size_t ci : l.leading) {
        comment_line(ci, blank_before(l.blank, first, module_.comments[ci].span.begin), comment_indent);
        first = false;
      }
      OutLine o;
      o.blank_before = blank_before(l.blank, first, l.range.empty() ? kNoPos : l.range.begin);
      o.code = true;
      o.indent = l.indent;
      o.text = std::move(l.text);
      o.trailing = l.trailing;
      out.push_back(std::move(o));
      if (!l.range.empty()) extend(l.range.end);
      for (size_t ci : l.trailing) extend(module_.comments[ci].span.end);
    }
    for (size_t ci : at_end)
      comment_line(ci, !out.empty() && has_blank_line(last_end, module_.comments[ci].span.begin), 0);
    return render(out, margin);
  }

  // Trailing comments of consecutive code lines at one indentation (no blank
  // line or comment line between them) start in one column, one space after
  // the longest of those lines that has one, as gofmt does.
  std::string render(const std::vector<OutLine>& out, std::string_view margin) const {
    std::vector<int> column(out.size(), 0);
    for (size_t i = 0; i < out.size();) {
      size_t j = i + 1;
      while (j < out.size() && out[j].code && !out[j].blank_before && out[j].indent == out[i].indent &&
             out[i].code)
        ++j;
      int col = 0;
      for (size_t k = i; k < j; ++k)
        if (!out[k].trailing.empty()) col = std::max(col, out[k].indent + width(out[k].text) + 1);
      for (size_t k = i; k < j; ++k) column[k] = col;
      i = j;
    }
    std::string text;
    for (size_t i = 0; i < out.size(); ++i) {
      const OutLine& o = out[i];
      if (o.blank_before) text += newline_;
      text += margin;
      text.append(static_cast<size_t>(std::max(o.indent, 0)), ' ');
      text += o.text;
      for (size_t k = 0; k < o.trailing.size(); ++k) {
        if (k == 0) {
          int used = o.indent + width(o.text);
          text.append(static_cast<size_t>(std::max(column[i] - used, 1)), ' ');
        } else {
          text += ' ';
        }
        text += comment_text(o.trailing[k]);
      }
      text += newline_;
    }
    return text;
  }

  const SourceManager& sources_;
  const ast::Module& module_;
  const std::string& src_;
  int max_width_;
  std::string newline_;
  std::vector<uint32_t> comment_begins_;
  std::unordered_map<const Expr*, bool> forced_;
  std::vector<Line> lines_;
};

// The code regions of a literate file: maximal runs of lines where the code
// view equals the markdown (a fence line, or prose, always differs, because
// the code view blanks it). Each holds one fenced block's contents.
struct Region {
  uint32_t begin, end;
  std::string margin;  // the opening fence's indentation
};

std::vector<Region> literate_regions(const SourceFile& f) {
  std::vector<Region> regions;
  const std::string& text = f.text;
  const std::string& code = f.code;
  size_t pos = 0;
  size_t run_begin = 0;
  std::string margin;
  bool in_run = false;
  while (pos <= text.size()) {
    size_t nl = text.find('\n', pos);
    size_t end = nl == std::string::npos ? text.size() : nl + 1;
    bool differs = text.compare(pos, end - pos, code, pos, end - pos) != 0;
    if (differs) {
      if (in_run) regions.push_back({static_cast<uint32_t>(run_begin), static_cast<uint32_t>(pos), margin});
      in_run = false;
      size_t indent = 0;
      while (pos + indent < end && text[pos + indent] == ' ') ++indent;
      margin = text.substr(pos, std::min<size_t>(indent, 3));
    } else if (!in_run) {
      in_run = true;
      run_begin = pos;
    }
    if (nl == std::string::npos) break;
    pos = end;
  }
  if (in_run)
    regions.push_back({static_cast<uint32_t>(run_begin), static_cast<uint32_t>(text.size()), margin});
  return regions;
}

std::string format_parsed(const SourceManager& sources, const ast::Module& module, const Options& options) {
  const SourceFile& f = sources.file(module.file);
  Printer printer(sources, module, options);
  if (!f.literate) return printer.format_region(0, static_cast<uint32_t>(f.text.size()) + 1, "");
  std::string out;
  size_t copied = 0;
  for (const Region& r : literate_regions(f)) {
    auto [first_decl, last_decl] = printer.decls_in(r.begin, r.end);
    auto [first_comment, last_comment] = printer.comments_in(r.begin, r.end);
    if (first_decl == last_decl && first_comment == last_comment) continue;
    out.append(f.text, copied, r.begin - copied);
    out += printer.format_region(r.begin, r.end, r.margin);
    copied = r.end;
  }
  out.append(f.text, copied, std::string::npos);
  return out;
}

bool has_error_node(const ast::Module& m) {
  bool found = false;
  for (const auto& d : m.decls) {
    if (!d) return true;
    ast::for_each_expr(*d, [&](const Expr& e) {
      ast::walk(e, [&](const Expr& x) { found = found || x.kind == ExprKind::Error; });
    });
  }
  return found;
}

// A rule clause written twice: the tree keeps one, so formatting would drop
// the other; the checker reports it, the formatter refuses.
const ast::RuleDecl* rule_with_duplicate_clause(const ast::Module& m) {
  for (const auto& d : m.decls) {
    if (!d || d->kind != ast::DeclKind::Rule) continue;
    const auto& r = static_cast<const ast::RuleDecl&>(*d);
    unsigned seen = 0;
    for (const auto& c : r.clauses) {
      unsigned bit = 1u << c.kind;
      if (seen & bit) return &r;
      seen |= bit;
    }
  }
  return nullptr;
}

// What ast::dump leaves out but the formatter must also keep: the author's
// parentheses. One line per expression node, pre-order.
void fingerprint(const Expr& e, std::string& out) {
  ast::walk(e, [&](const Expr& x) {
    out += std::to_string(static_cast<int>(x.kind)) + " " + std::to_string(static_cast<int>(x.op)) +
           (x.parenthesized ? " (p)" : "") + (x.negated ? " not" : "") + " " +
           std::to_string(x.children.size()) + " " + x.text + "\n";
  });
}

std::string fingerprint(const ast::Module& m) {
  std::string out;
  for (const auto& d : m.decls)
    if (d) ast::for_each_expr(*d, [&](const Expr& e) { fingerprint(e, out); });
  return out;
}

std::vector<std::string> comment_texts(const SourceManager& sources, const ast::Module& m) {
  std::vector<std::string> texts;
  for (const ast::Comment& c : m.comments) {
    std::string_view t = sources.text(c.span);
    texts.emplace_back(c.block ? t : trim(t));
  }
  std::sort(texts.begin(), texts.end());
  return texts;
}

}  // namespace

std::string format_module(const SourceManager& sources, const ast::Module& module, const Options& options) {
  return format_parsed(sources, module, options);
}

std::optional<std::string> format_source(const SourceManager& sources, FileId file, DiagnosticSink& sink,
                                         const Options& options) {
  size_t errors_before = sink.error_count();
  ast::Program program;
  std::unique_ptr<ast::Module> module = parse::parse_module(sources, file, program, sink);
  if (!module || sink.error_count() > errors_before) return std::nullopt;
  if (has_error_node(*module)) {
    sink.error("E0903", Span{file, 0, 0}, "file not formatted: it has a syntax error");
    return std::nullopt;
  }
  if (const ast::RuleDecl* r = rule_with_duplicate_clause(*module)) {
    sink.error("E0902", r->span, "rule `" + r->name + "` has a clause written twice; file not formatted")
        .help = "remove the duplicate clause, then format again";
    return std::nullopt;
  }
  std::string out = format_parsed(sources, *module, options);

  // Never hand back text that means something else: re-parse and compare.
  SourceManager check_sources;
  FileId check_file = check_sources.add(sources.file(file).path, out);
  DiagnosticSink check_sink;
  ast::Program check_program;
  std::unique_ptr<ast::Module> again =
      parse::parse_module(check_sources, check_file, check_program, check_sink);
  const char* problem = nullptr;
  if (!again || check_sink.has_errors())
    problem = "the formatted text does not parse";
  else if (ast::dump(*again, check_sources) != ast::dump(*module, sources) ||
           fingerprint(*again) != fingerprint(*module))
    problem = "the formatted text parses to a different program";
  else if (comment_texts(check_sources, *again) != comment_texts(sources, *module))
    problem = "the formatted text lost or duplicated a comment";
  if (problem) {
    sink.error("E0901", Span{file, 0, 0}, std::string("internal formatter error: ") + problem).help =
        "the file was left unchanged; please report this with the file attached";
    return std::nullopt;
  }
  return out;
}

}  // namespace edict::fmt
