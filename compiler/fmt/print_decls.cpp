// Declarations in the canonical layout, and the regions (a whole file, or one
// block of a literate file) they are printed in.
#include "compiler/fmt/printer.h"

#include <algorithm>

namespace edict::fmt::detail {

Printer::Printer(const SourceManager& sources, const ast::Module& module, const Options& options)
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

std::pair<size_t, size_t> Printer::decls_in(uint32_t begin, uint32_t end) const {
  auto by_begin = [](const std::unique_ptr<ast::Decl>& d, uint32_t pos) { return d->span.begin < pos; };
  auto first = std::lower_bound(module_.decls.begin(), module_.decls.end(), begin, by_begin);
  auto last = std::lower_bound(first, module_.decls.end(), end, by_begin);
  return {static_cast<size_t>(first - module_.decls.begin()),
          static_cast<size_t>(last - module_.decls.begin())};
}

std::pair<size_t, size_t> Printer::comments_in(uint32_t begin, uint32_t end) const {
  auto by_begin = [](const ast::Comment& c, uint32_t pos) { return c.span.begin < pos; };
  auto first = std::lower_bound(module_.comments.begin(), module_.comments.end(), begin, by_begin);
  auto last = std::lower_bound(first, module_.comments.end(), end, by_begin);
  return {static_cast<size_t>(first - module_.comments.begin()),
          static_cast<size_t>(last - module_.comments.begin())};
}

std::string Printer::format_region(uint32_t begin, uint32_t end, std::string_view margin) {
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

void Printer::push(Frags frags) {
  for (Line& l : frags) lines_.push_back(std::move(l));
}

void Printer::push_with(int indent, std::string prefix, Range prefix_range, Frags frags) {
  frags[0].indent = indent;
  frags[0].text = prefix + frags[0].text;
  frags[0].range.add(prefix_range);
  push(std::move(frags));
}

void Printer::push_line(int indent, std::string text, Range range, Blank blank, int comment_indent) {
  Line l;
  l.indent = indent;
  l.text = std::move(text);
  l.range = range;
  l.blank = blank;
  l.comment_indent = comment_indent;
  lines_.push_back(std::move(l));
}

Range Printer::head_range(const ast::Decl& d, Span last) const {
  Range r;
  r.add(d.span.begin, d.span.begin + 1);
  r.add(d.name_span);
  r.add(last);
  return r;
}

void Printer::push_binding(const std::string& header, Range header_range, const Expr* value) {
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

bool Printer::hugs(const Expr& e) {
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

void Printer::print_decl(const ast::Decl& d) {
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

void Printer::print_policy(const ast::PolicyDecl& p) {
  push_line(0, "policy " + string_at(p.name_span, p.name), head_range(p, {}));
  if (p.version_span.valid() || !p.version.empty())
    push_line(2, "version " + string_at(p.version_span, p.version), Range::of(p.version_span));
  if (p.source_span.valid() || !p.source.empty())
    push_line(2, "source " + string_at(p.source_span, p.source), Range::of(p.source_span));
  if (p.status_span.valid() || !p.status.empty())
    push_line(2, "status " + p.status, Range::of(p.status_span));
}

void Printer::print_event(const ast::EventDecl& e) {
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

// `data NAME: K -> { ... }` and its clauses, one per line under it.
void Printer::print_data(const ast::TableDecl& t) {
  const ast::DataSpec& d = *t.data;
  std::string lead = "data " + t.name + ": " + type_flat(t.key_type) + " -> ";
  Frags head = layout_type(t.value_type, 0, width(lead));
  push_with(0, lead, head_range(t, t.key_type.span), std::move(head));
  push_line(2, "from " + string_at(d.file_span, d.file), Range::of(d.file_span));
  if (d.key_span.valid()) push_line(2, "key " + string_at({}, d.key_header), Range::of(d.key_span));
  if (d.columns_span.valid()) {
    std::string line = "columns {";
    for (size_t i = 0; i < d.columns.size(); ++i)
      line += (i ? ", " : " ") + d.columns[i].field + ": " +
              string_at(d.columns[i].header_span, d.columns[i].header);
    line += d.columns.empty() ? "}" : " }";
    push_line(2, line, Range::of(d.columns_span));
  }
  if (d.in_force_span.valid())
    push_line(
        2,
        "in force from " + d.in_force_from + (d.in_force_until.empty() ? "" : " until " + d.in_force_until),
        Range::of(d.in_force_span));
  if (d.screen_span.valid()) {
    std::string line = "screen";
    for (size_t i = 0; i < d.screen_fields.size(); ++i) line += (i ? ", " : " ") + d.screen_fields[i].name;
    push_line(2, line + " above " + d.threshold_text, Range::of(d.screen_span));
  }
  if (d.ignoring_span.valid()) {
    std::string line = "ignoring";
    for (size_t i = 0; i < d.legal_forms.size(); ++i)
      line += (i ? ", " : " ") + string_at({}, d.legal_forms[i]);
    push_line(2, line, Range::of(d.ignoring_span));
  }
}

void Printer::print_table(const ast::TableDecl& t) {
  if (t.data) return print_data(t);
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

void Printer::print_rule(const ast::RuleDecl& r) {
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
    push_line(2, "cite " + string_at(r.cite_span, r.cite), Range::of(clause_span(Clause::Cite, r.cite_span)));
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

void Printer::print_example(const ast::ExampleDecl& e) {
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

void Printer::print_test(const ast::TestDecl& t) {
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

}  // namespace edict::fmt::detail
