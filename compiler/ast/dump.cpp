// The S-expression dump behind `--emit=ast` and the parser's tests. It shows
// everything semantic (names, values, operators, clauses, message parts,
// types, test steps) and nothing positional (no spans, no ids, no comments),
// so parse(format(x)) and parse(x) dump identically.
#include <fmt/format.h>

#include <string>

#include "compiler/ast/ast.h"
#include "support/text.h"
#include "support/time_util.h"

namespace edict::ast {

namespace {

void type(std::string& out, const TypeExpr& t);

void fields(std::string& out, const std::vector<FieldDecl>& fs) {
  out += '{';
  for (size_t i = 0; i < fs.size(); ++i) {
    if (i) out += ", ";
    out += fs[i].name;
    out += ": ";
    type(out, fs[i].type);
  }
  out += '}';
}

void type(std::string& out, const TypeExpr& t) {
  if (t.is_record()) {
    fields(out, t.fields);
  } else {
    out += t.name;
    if (!t.args.empty()) {
      out += '<';
      for (size_t i = 0; i < t.args.size(); ++i) {
        if (i) out += ", ";
        type(out, t.args[i]);
      }
      out += '>';
    }
  }
  if (t.optional) out += '?';
}

void expr(std::string& out, const Expr* e);

void children(std::string& out, const Expr& e) {
  for (const auto& c : e.children) {
    out += ' ';
    expr(out, c.get());
  }
}

void expr(std::string& out, const Expr* e) {
  if (!e) {
    out += "(none)";
    return;
  }
  switch (e->kind) {
    case ExprKind::Int: out += std::to_string(e->int_value); break;
    case ExprKind::Number: out += edict_number_literal(e->number_value); break;
    case ExprKind::String: append_edict_string_literal(out, e->text); break;
    case ExprKind::Bool: out += e->bool_value ? "true" : "false"; break;
    case ExprKind::Date: out += format_date(e->int_value); break;
    case ExprKind::Time: out += format_time(e->int_value); break;
    case ExprKind::Duration: out += format_duration(e->int_value); break;
    case ExprKind::Event: out += "event"; break;
    case ExprKind::Name: out += e->text; break;
    case ExprKind::Field:
      out += "(. ";
      expr(out, e->children.empty() ? nullptr : e->children[0].get());
      out += ' ';
      out += e->text;
      out += ')';
      break;
    case ExprKind::Index:
      out += "(index";
      children(out, *e);
      out += ')';
      break;
    case ExprKind::Call:
      out += "(call ";
      out += e->text;
      children(out, *e);
      out += ')';
      break;
    case ExprKind::Aggregate: {
      out += "(aggregate ";
      out += e->text;
      if (e->distinct) out += " distinct";
      auto part = [&](const char* label, int index) {
        if (index < 0 || size_t(index) >= e->children.size()) return;
        out += fmt::format(" ({} ", label);
        expr(out, e->children[size_t(index)].get());
        out += ')';
      };
      part("arg", e->agg_arg);
      if (e->calendar_year)
        out += " (over calendar year)";
      else
        part("over", e->agg_window);
      part("by", e->agg_key);
      part("where", e->agg_filter);
      out += ')';
      break;
    }
    case ExprKind::Unary:
    case ExprKind::Binary:
      out += '(';
      out += op_spelling(e->op);
      children(out, *e);
      out += ')';
      break;
    case ExprKind::In:
      out += e->negated ? "(not-in" : "(in";
      children(out, *e);
      out += ')';
      break;
    case ExprKind::Is:
      out += e->present ? "(is-present" : "(is-absent";
      children(out, *e);
      out += ')';
      break;
    case ExprKind::If:
      out += "(if";
      children(out, *e);
      out += ')';
      break;
    case ExprKind::Otherwise:
      out += "(otherwise";
      children(out, *e);
      out += ')';
      break;
    case ExprKind::SetLit:
      out += "(set";
      children(out, *e);
      out += ')';
      break;
    case ExprKind::RecordLit:
      out += "(record";
      for (size_t i = 0; i < e->children.size(); ++i) {
        out += " (";
        out += i < e->fields.size() ? e->fields[i].name : "?";
        out += ' ';
        expr(out, e->children[i].get());
        out += ')';
      }
      out += ')';
      break;
    case ExprKind::Interpolation:
      out += "(message";
      for (const MessagePart& p : e->parts) {
        out += ' ';
        if (p.expr_index >= 0 && size_t(p.expr_index) < e->children.size())
          expr(out, e->children[size_t(p.expr_index)].get());
        else
          append_edict_string_literal(out, p.text);
      }
      out += ')';
      break;
    case ExprKind::Error: out += "(error)"; break;
  }
}

// String-returning form, for the declaration layout below.
std::string expr_text(const Expr* e) {
  std::string out;
  expr(out, e);
  return out;
}
std::string type_text(const TypeExpr& t) {
  std::string out;
  type(out, t);
  return out;
}

void ident_list(std::string& out, const std::vector<Ident>& ids) {
  for (const Ident& id : ids) {
    out += ' ';
    out += id.name;
  }
}

void decl(std::string& out, const Decl& d) {
  const std::string in = "\n    ";
  out += "  (";
  out += decl_kind_name(d.kind);
  switch (d.kind) {
    case DeclKind::Policy: {
      const auto& p = static_cast<const PolicyDecl&>(d);
      out += ' ';
      append_edict_string_literal(out, p.name);
      if (!p.version.empty()) out += " (version " + edict_string_literal(p.version) + ")";
      if (!p.source.empty()) out += " (source " + edict_string_literal(p.source) + ")";
      if (!p.status.empty()) out += " (status " + p.status + ")";
      break;
    }
    case DeclKind::Import:
      out += ' ';
      append_edict_string_literal(out, d.name);
      break;
    case DeclKind::Outcomes: ident_list(out, static_cast<const OutcomesDecl&>(d).order); break;
    case DeclKind::Default: out += ' ' + d.name; break;
    case DeclKind::Event:
      out += ' ' + d.name;
      for (const FieldDecl& f : static_cast<const EventDecl&>(d).fields) {
        out += in + "(" + f.name + " ";
        type(out, f.type);
        out += ')';
      }
      break;
    case DeclKind::Const: {
      const auto& c = static_cast<const ConstDecl&>(d);
      out += ' ' + d.name;
      if (c.type) out.append(" ").append(type_text(*c.type));
      out += in;
      expr(out, c.value.get());
      break;
    }
    case DeclKind::Set: {
      const auto& s = static_cast<const SetDecl&>(d);
      out += ' ' + d.name + ' ';
      type(out, s.element_type);
      out += in;
      expr(out, s.value.get());
      break;
    }
    case DeclKind::Table: {
      const auto& t = static_cast<const TableDecl&>(d);
      out += ' ' + d.name + ' ';
      type(out, t.key_type);
      out += " -> ";
      type(out, t.value_type);
      if (t.data) {
        out += in + "(data \"" + t.data->file + "\" key \"" + t.data->key_header + "\"";
        for (const DataSpec::ColumnName& c : t.data->columns)
          out += " (" + c.field + " \"" + c.header + "\")";
        if (!t.data->in_force_from.empty())
          out += " (in_force " + t.data->in_force_from + ' ' + t.data->in_force_until + ')';
        if (!t.data->screen_fields.empty()) {
          out += " (screen";
          for (const Ident& f : t.data->screen_fields) out += ' ' + f.name;
          out += ' ' + t.data->threshold_text + ')';
        }
        for (const std::string& w : t.data->legal_forms) out += " (ignoring \"" + w + "\")";
        out += ')';
      }
      for (const TableRow& r : t.rows) {
        out += in + "(row ";
        expr(out, r.key.get());
        out += ' ';
        expr(out, r.value.get());
        out += ')';
      }
      break;
    }
    case DeclKind::Def: {
      const auto& f = static_cast<const DefDecl&>(d);
      out += ' ' + d.name + " (";
      for (size_t i = 0; i < f.params.size(); ++i) {
        if (i) out += ' ';
        out += '(' + f.params[i].name + ' ';
        type(out, f.params[i].type);
        out += ')';
      }
      out += ") ";
      type(out, f.result);
      out += in;
      expr(out, f.body.get());
      break;
    }
    case DeclKind::Rule: {
      const auto& r = static_cast<const RuleDecl&>(d);
      out += ' ' + d.name + " (on";
      if (r.on_any) out += " any";
      ident_list(out, r.kinds);
      out += ')';
      // Clauses in a fixed order: the formatter may reorder them.
      if (r.effective) out += in + "(effective " + expr_text(r.effective.get()) + ")";
      if (r.until) out += in + "(until " + expr_text(r.until.get()) + ")";
      if (!r.cite.empty()) out += in + "(cite " + edict_string_literal(r.cite) + ")";
      if (!r.effect.name.empty()) {
        out += in + "(" + r.effect.name;
        if (r.message) out.append(" ").append(expr_text(r.message.get()));
        out += ')';
      }
      if (r.when) out += in + "(when " + expr_text(r.when.get()) + ")";
      if (r.unless) out += in + "(unless " + expr_text(r.unless.get()) + ")";
      break;
    }
    case DeclKind::Example: {
      const auto& x = static_cast<const ExampleDecl&>(d);
      out += ' ' + d.name + ' ' + x.event_kind.name;
      if (!x.base.name.empty()) out += " (with " + x.base.name + ")";
      out += in;
      expr(out, x.value.get());
      break;
    }
    case DeclKind::Test: {
      const auto& t = static_cast<const TestDecl&>(d);
      out += ' ';
      append_edict_string_literal(out, t.name);
      for (const TestStep& s : t.steps) {
        out += in + "(given ";
        if (!s.inline_kind.name.empty())
          out += "(event " + s.inline_kind.name + ")";
        else
          out += s.example.name;
        if (s.overrides) out.append(" ").append(expr_text(s.overrides.get()));
        out += ')';
        for (const Expectation& e : s.expects) {
          out += in + "(expect " + e.decision.name;
          if (!e.rules.empty()) {
            out += e.only ? " (by only" : " (by";
            ident_list(out, e.rules);
            out += ')';
          }
          out += ')';
        }
      }
      break;
    }
  }
  out += ")\n";
}

}  // namespace

std::string dump(const Module& m, const SourceManager& /*sm: spans are not dumped*/) {
  std::string out = "(module\n";
  for (const auto& d : m.decls)
    if (d) decl(out, *d);
  out += ")\n";
  return out;
}

std::string dump(const Expr& e) {
  std::string out;
  expr(out, &e);
  return out;
}

}  // namespace edict::ast
