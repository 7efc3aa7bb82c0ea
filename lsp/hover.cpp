// Hover: what a name is and means. A rule shows its citation, effective dates
// and its policy's status; a country literal its name; a table lookup the
// row it finds; any other expression its type.
#include <fmt/format.h>

#include "lsp/features.h"
#include "lsp/locate.h"
#include "support/countries.h"
#include "support/time_util.h"

namespace edict::lsp {
namespace {

using check::CheckedProgram;

std::string code_block(const std::string& text) {
  return "```edict\n" + text + "\n```";
}

std::string written(const Analysis& a, Span span) {
  return span.valid() ? std::string(a.sources.text(span)) : std::string();
}

std::string where(const Analysis& a, Span span) {
  if (!span.valid()) return {};
  LineCol lc = a.sources.line_col(span.file, span.begin);
  return fmt::format("{}:{}", a.sources.file(span.file).path, lc.line);
}

std::string rule_text(const Analysis& a, const ast::RuleDecl& r) {
  std::string head = "rule " + r.name + " on " + (r.on_any ? std::string("any") : std::string());
  for (size_t i = 0; i < r.kinds.size(); ++i) head += (i ? ", " : "") + r.kinds[i].name;
  std::string s = code_block(head + (r.effect.name.empty() ? "" : "\n  " + r.effect.name));
  s += "\n\n**cite** " + (r.cite.empty() ? std::string("(none)") : "`" + r.cite + "`");
  const CheckedProgram* c = a.checked();
  const check::RuleInfo* info = c ? rule_info(*c, &r) : nullptr;
  if (info) {
    std::string from = info->effective_from ? format_date(*info->effective_from) : "";
    std::string until = info->effective_until ? format_date(*info->effective_until) : "";
    if (r.effective && r.effective->kind == ast::ExprKind::Time) from = r.effective->text;
    if (r.until && r.until->kind == ast::ExprKind::Time) until = r.until->text;
    s += "\n\n**effective** " + (from.empty() && until.empty() ? std::string("always")
                                 : from.empty()                ? "until " + until + " (exclusive)"
                                 : until.empty()               ? "from " + from
                                                 : "from " + from + " until " + until + " (exclusive)");
    if (info->policy >= 0 && static_cast<size_t>(info->policy) < c->policies.size()) {
      const check::PolicyInfo& p = c->policies[static_cast<size_t>(info->policy)];
      s += "\n\n**policy** \"" + p.title + "\"" + (p.version.empty() ? "" : " version " + p.version) +
           (p.status.empty() ? std::string(", no status given") : ", status `" + p.status + "`");
      if (!p.source.empty()) s += "\n\n**source** " + p.source;
    } else {
      s += "\n\nno `policy` declaration in its file (no status)";
    }
  }
  return s + "\n\n" + where(a, r.name_span);
}

std::string value_list(const std::vector<Value>& values, size_t max) {
  std::string s;
  for (size_t i = 0; i < values.size() && i < max; ++i) {
    s += (i ? ", " : "") + value_to_source(values[i]);
    if (values[i].kind == TypeKind::Country)
      if (auto idx = country_index(values[i].s)) s += " (" + std::string(country_name(*idx)) + ")";
  }
  if (values.size() > max) s += fmt::format(", … ({} in all)", values.size());
  return s;
}

std::string decl_text(const Analysis& a, const ast::Decl& d) {
  const CheckedProgram* c = a.checked();
  switch (d.kind) {
    case ast::DeclKind::Rule: return rule_text(a, static_cast<const ast::RuleDecl&>(d));
    case ast::DeclKind::Const: {
      const auto& k = static_cast<const ast::ConstDecl&>(d);
      std::string s = "const " + d.name;
      if (c && k.value && k.value->id < c->expr_types.size()) s += ": " + c->type_name(c->type_of(*k.value));
      if (c && k.value && k.value->id < c->constant.size() &&
          c->constant[k.value->id].kind != TypeKind::Error)
        s += " = " + value_to_source(c->constant[k.value->id]);
      return code_block(s) + "\n\n" + where(a, d.name_span);
    }
    case ast::DeclKind::Set: {
      const auto& k = static_cast<const ast::SetDecl&>(d);
      std::string s = code_block("set " + d.name + ": " + written(a, k.element_type.span));
      if (c)
        for (const check::SetInfo& info : c->sets)
          if (info.decl == &d) s += "\n\n" + value_list(info.members, 40);
      return s + "\n\n" + where(a, d.name_span);
    }
    case ast::DeclKind::Table: {
      const auto& t = static_cast<const ast::TableDecl&>(d);
      std::string s = code_block((t.data ? "data " : "table ") + d.name + ": " + written(a, t.key_type.span) +
                                 " -> " + written(a, t.value_type.span));
      if (t.data)
        s += "\n\nrows read from `" + t.data->file + "` at run time";
      else
        s += fmt::format("\n\n{} rows", t.rows.size());
      return s + "\n\n" + where(a, d.name_span);
    }
    case ast::DeclKind::Def: {
      const auto& f = static_cast<const ast::DefDecl&>(d);
      std::string s = "def " + d.name + "(";
      for (size_t i = 0; i < f.params.size(); ++i) s += (i ? ", " : "") + written(a, f.params[i].span);
      return code_block(s + "): " + written(a, f.result.span)) + "\n\n" + where(a, d.name_span);
    }
    case ast::DeclKind::Event: {
      std::string s = "event " + d.name + " {\n";
      for (const ast::FieldDecl& f : static_cast<const ast::EventDecl&>(d).fields)
        s += "  " + written(a, f.span) + "\n";
      return code_block(s + "}") + "\n\n" + where(a, d.name_span);
    }
    case ast::DeclKind::Policy: {
      const auto& p = static_cast<const ast::PolicyDecl&>(d);
      return "**policy** \"" + d.name + "\"" + (p.version.empty() ? "" : "\n\nversion " + p.version) +
             (p.status.empty() ? std::string("\n\nno status given") : "\n\nstatus `" + p.status + "`") +
             (p.source.empty() ? "" : "\n\nsource " + p.source);
    }
    default:
      return code_block(std::string(ast::decl_kind_name(d.kind)) + " " + d.name) + "\n\n" +
             where(a, d.name_span);
  }
}

// Row `i` of a table with its fields, as a markdown table.
std::string row_text(const CheckedProgram& c, const check::TableInfo& t, size_t i) {
  const check::RecordSchema& row = c.records[static_cast<size_t>(t.record)];
  std::string s = "| " + t.decl->name + "[" + value_to_source(t.keys[i]) + "] | |\n|---|---|\n";
  for (size_t f = 0; f < row.fields.size() && f < t.cells[i].size(); ++f)
    s += "| " + row.fields[f].name + " | " +
         (t.cells[i][f].kind == TypeKind::Error ? std::string("(absent)") : value_to_source(t.cells[i][f])) +
         " |\n";
  return s;
}

// `chips["H100"]` with a constant key: the row it finds.
std::string table_row(const Analysis& a, const ast::Expr& index) {
  const CheckedProgram* c = a.checked();
  if (!c || index.kind != ast::ExprKind::Index || index.children.size() != 2 || !index.children[0] ||
      !index.children[1])
    return {};
  const ast::Expr& table = *index.children[0];
  const ast::Expr& key = *index.children[1];
  if (table.id >= c->table_index.size() || c->table_index[table.id] < 0 || key.id >= c->constant.size())
    return {};
  const check::TableInfo& t = c->tables[static_cast<size_t>(c->table_index[table.id])];
  const Value& k = c->constant[key.id];
  if (k.kind == TypeKind::Error) return {};
  if (t.external) return "row of `" + table.text + "` read at run time";
  for (size_t i = 0; i < t.keys.size(); ++i)
    if (t.keys[i] == k) return row_text(*c, t, i);
  return "no row `" + value_to_source(k) + "` in `" + table.text + "`";
}

// Any string literal that is a key of a table (a chip model named in a set,
// an example or a test): the rows it names.
std::string rows_keyed_by(const Analysis& a, const std::string& key) {
  const CheckedProgram* c = a.checked();
  std::string s;
  if (!c) return s;
  for (const check::TableInfo& t : c->tables) {
    if (t.external || t.key != TypeKind::String || !t.decl) continue;
    for (size_t i = 0; i < t.keys.size(); ++i)
      if (t.keys[i].kind == TypeKind::String && t.keys[i].s == key)
        s += (s.empty() ? "" : "\n") + row_text(*c, t, i);
  }
  return s;
}

std::string expr_text(const Analysis& a, const Found& f) {
  const CheckedProgram* c = a.checked();
  const ast::Expr& e = *f.expr;
  bool typed = c && e.id < c->expr_types.size() && !c->type_of(e).is_error();
  std::string type = typed ? c->type_name(c->type_of(e)) : "";
  if ((e.kind == ast::ExprKind::Name || e.kind == ast::ExprKind::Call) && c && e.id < c->resolved.size() &&
      c->resolved[e.id])
    return decl_text(a, *c->resolved[e.id]);
  if (e.kind == ast::ExprKind::Call && c && e.id < c->builtin_index.size() && c->builtin_index[e.id] >= 0)
    return code_block(std::string(check::builtin_name(static_cast<check::Builtin>(c->builtin_index[e.id]))) +
                      "(…): " + type) +
           "\n\nbuilt-in function";
  if (e.kind == ast::ExprKind::Name && f.decl && f.decl->kind == ast::DeclKind::Def)
    return code_block("parameter " + e.text + (type.empty() ? "" : ": " + type));
  if (e.kind == ast::ExprKind::Field) {
    std::string s = code_block("field " + e.text + (type.empty() ? "" : ": " + type));
    if (c && e.children.size() == 1 && e.children[0] && e.children[0]->kind == ast::ExprKind::Event)
      if (const check::FieldInfo* fi = event_field(*c, f.decl, e.text)) s += "\n\n" + where(a, fi->span);
    return s;
  }
  if (e.kind == ast::ExprKind::Index) {
    std::string row = table_row(a, e);
    if (!row.empty()) return row;
  }
  if (e.kind == ast::ExprKind::String && f.parent && f.parent->kind == ast::ExprKind::Index &&
      f.parent->children.size() == 2 && f.parent->children[1].get() == &e) {
    std::string row = table_row(a, *f.parent);
    if (!row.empty()) return row;
  }
  if (e.kind == ast::ExprKind::String && !(typed && c->type_of(e).kind == TypeKind::Country)) {
    std::string rows = rows_keyed_by(a, e.text);
    if (!rows.empty()) return rows;
  }
  if (e.kind == ast::ExprKind::String && typed && c->type_of(e).kind == TypeKind::Country)
    if (auto idx = country_index(e.text))
      return code_block("\"" + e.text + "\": country") + "\n\n" + std::string(country_name(*idx));
  if (e.kind == ast::ExprKind::String)
    if (auto idx = country_index(e.text))
      return code_block("\"" + e.text + "\": " + (type.empty() ? "string" : type)) + "\n\n" +
             std::string(country_name(*idx)) + " (as a country code)";
  if (type.empty()) return {};
  return code_block(written(a, e.span).size() <= 60 ? written(a, e.span) + ": " + type : type);
}

// A field or parameter where it is declared, with its type as written.
std::string declared_field(const Analysis& a, const Found& f) {
  const std::vector<ast::FieldDecl>* fields = nullptr;
  if (f.decl->kind == ast::DeclKind::Event) fields = &static_cast<const ast::EventDecl&>(*f.decl).fields;
  if (f.decl->kind == ast::DeclKind::Table)
    fields = &static_cast<const ast::TableDecl&>(*f.decl).value_type.fields;
  if (fields)
    for (const ast::FieldDecl& d : *fields)
      if (d.name_span.begin == f.span.begin) return "field " + f.decl->name + "." + written(a, d.span);
  if (f.decl->kind == ast::DeclKind::Def)
    for (const ast::Param& p : static_cast<const ast::DefDecl&>(*f.decl).params)
      if (p.name_span.begin == f.span.begin) return "parameter " + written(a, p.span);
  return (f.what == Found::What::Field ? "field " : "parameter ") + f.name;
}

std::string word_text(const Analysis& a, const Found& f) {
  const ast::Program& p = *a.front.program;
  const CheckedProgram* c = a.checked();
  switch (f.what) {
    case Found::What::DeclName:
      if (f.decl->kind == ast::DeclKind::Import) {
        const ast::Module* m = a.module();
        for (size_t i = 0, k = 0; m && i < m->decls.size(); ++i) {
          if (m->decls[i]->kind != ast::DeclKind::Import) continue;
          if (m->decls[i].get() == f.decl && k < m->imports.size() && m->imports[k] != kNoFile)
            return "imports `" + a.sources.file(m->imports[k]).path + "`";
          ++k;
        }
        return "import not loaded";
      }
      return decl_text(a, *f.decl);
    case Found::What::EventKind:
      if (const ast::Decl* d = find_decl(p, ast::DeclKind::Event, f.name)) return decl_text(a, *d);
      return {};
    case Found::What::ExampleRef:
      if (const ast::Decl* d = find_decl(p, ast::DeclKind::Example, f.name)) return decl_text(a, *d);
      return {};
    case Found::What::RuleRef:
      if (const ast::Decl* d = find_decl(p, ast::DeclKind::Rule, f.name)) return decl_text(a, *d);
      return {};
    case Found::What::Outcome: {
      std::string s = code_block("outcome " + f.name);
      if (c) {
        std::string order;
        for (size_t i = 0; i < c->outcomes.size(); ++i) order += (i ? " < " : "") + c->outcomes[i];
        if (!order.empty()) s += "\n\nweakest first: " + order + " < error";
      }
      return s;
    }
    case Found::What::Field:
    case Found::What::Param: return code_block(declared_field(a, f));
    default: return {};
  }
}

}  // namespace

json hover(const Analysis& a, Position at) {
  const ast::Module* m = a.module();
  if (!m) return nullptr;
  const SourceFile& file = a.sources.file(a.file);
  uint32_t offset = offset_of(file, at);
  if (!in_code(file, offset)) return nullptr;
  Found f = locate(*m, offset);
  std::string text;
  if (f.what == Found::What::Expr)
    text = expr_text(a, f);
  else if (f.what != Found::What::Nothing)
    text = word_text(a, f);
  if (text.empty()) return nullptr;
  return json{{"contents", {{"kind", "markdown"}, {"value", text}}}, {"range", to_range(file, f.span)}};
}

}  // namespace edict::lsp
