// Expressions and types laid out over several lines when they do not fit
// the width or a comment keeps them apart.
#include "compiler/fmt/printer.h"

#include <algorithm>

namespace edict::fmt::detail {

bool Printer::forced(const Expr& e) {
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

void Printer::join(Frags& head, Frags tail, std::string_view glue) {
  if (tail.empty()) return;
  head.back().text += glue;
  head.back().text += tail[0].text;
  head.back().range.add(tail[0].range);
  for (size_t i = 1; i < tail.size(); ++i) head.push_back(std::move(tail[i]));
}

Frags Printer::one(int indent, std::string text, Range range) {
  Line l;
  l.indent = indent;
  l.text = std::move(text);
  l.range = range;
  return {std::move(l)};
}

Line Printer::closer(int indent, const char* text, Range range) {
  Line close;
  close.indent = indent;
  close.text = text;
  close.range = range;
  close.comment_indent = indent + 2;
  return close;
}

Frags Printer::layout(const Expr& e, bool wrap, Place at) {
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

Frags Printer::layout_child(const Expr* c, int min_prec, bool followed, Place at) {
  if (!c) return one(at.ci, "");
  return layout(*c, needs_parens(*c, min_prec, followed), at);
}

Printer::Place Printer::after(const Frags& f, Place at, int extra) {
  if (f.size() == 1) return Place{at.li, at.ci, at.col + width(f[0].text) + extra};
  return Place{f.back().indent, at.ci, f.back().indent + width(f.back().text) + extra};
}

Frags Printer::layout_chain(const Expr& e, Place at) {
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

Frags Printer::layout_bare(const Expr& e, Place at) {
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

Frags Printer::layout_aggregate(const Expr& e, Place at) {
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
    head += " over " + (e.calendar_year ? std::string("calendar year") : aggregate_operand(*w));
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

Frags Printer::layout_set(const Expr& e, int li) {
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

Frags Printer::layout_record(const Expr& e, int li, Blank blank) {
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

std::string Printer::type_flat(const ast::TypeExpr& t) const {
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

Frags Printer::layout_type(const ast::TypeExpr& t, int ci, int col) {
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

}  // namespace edict::fmt::detail
