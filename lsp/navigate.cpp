// Go to definition, document symbols, the diagnostics to publish, and
// formatting through the formatter `edict fmt` uses.
#include <fmt/format.h>

#include <map>
#include <set>

#include "compiler/fmt/format.h"
#include "lsp/features.h"
#include "lsp/locate.h"

namespace edict::lsp {
namespace {

json position_json(Position p) {
  return json{{"line", p.line}, {"character", p.character}};
}

json location(const Analysis& a, Span span) {
  const SourceFile& f = a.sources.file(span.file);
  return json{{"uri", uri_from_path(normal_path(f.path))}, {"range", to_range(f, span)}};
}

// The declaration a name at `f` refers to, as a span to jump to.
Span target_of(const Analysis& a, const Found& f) {
  const ast::Program& p = *a.front.program;
  const check::CheckedProgram* c = a.checked();
  auto named = [&](ast::DeclKind kind) {
    const ast::Decl* d = find_decl(p, kind, f.name);
    return d ? d->name_span : Span{};
  };
  switch (f.what) {
    case Found::What::EventKind: return named(ast::DeclKind::Event);
    case Found::What::ExampleRef: return named(ast::DeclKind::Example);
    case Found::What::RuleRef: return named(ast::DeclKind::Rule);
    case Found::What::Outcome:
      for (const auto& m : p.modules)
        for (const auto& d : m->decls)
          if (d && d->kind == ast::DeclKind::Outcomes)
            for (const ast::Ident& o : static_cast<const ast::OutcomesDecl&>(*d).order)
              if (o.name == f.name) return o.span;
      return {};
    case Found::What::DeclName: {
      if (f.decl->kind != ast::DeclKind::Import) return f.decl->name_span;
      const ast::Module* m = a.module();
      for (size_t i = 0, k = 0; m && i < m->decls.size(); ++i) {
        if (m->decls[i]->kind != ast::DeclKind::Import) continue;
        if (m->decls[i].get() == f.decl && k < m->imports.size() && m->imports[k] != kNoFile)
          return Span{m->imports[k], 0, 0};
        ++k;
      }
      return {};
    }
    case Found::What::Expr: {
      const ast::Expr& e = *f.expr;
      if ((e.kind == ast::ExprKind::Name || e.kind == ast::ExprKind::Call) && c &&
          e.id < c->resolved.size() && c->resolved[e.id])
        return c->resolved[e.id]->name_span;
      if (e.kind == ast::ExprKind::Name && f.decl && f.decl->kind == ast::DeclKind::Def)
        for (const ast::Param& prm : static_cast<const ast::DefDecl&>(*f.decl).params)
          if (prm.name == e.text) return prm.name_span;
      if (e.kind == ast::ExprKind::Field && c && !e.children.empty() && e.children[0]) {
        const ast::Expr& object = *e.children[0];
        if (object.kind == ast::ExprKind::Event) {
          if (const check::FieldInfo* fi = event_field(*c, f.decl, e.text)) return fi->span;
        } else if (object.id < c->expr_types.size()) {
          int rec = c->type_of(object).record;
          if (rec >= 0 && static_cast<size_t>(rec) < c->records.size()) {
            const check::RecordSchema& s = c->records[static_cast<size_t>(rec)];
            int i = s.field_index(e.text);
            if (i >= 0) return s.fields[static_cast<size_t>(i)].span;
          }
        }
      }
      return {};
    }
    default: return {};
  }
}

int symbol_kind(ast::DeclKind k) {
  switch (k) {                                // LSP SymbolKind numbers
    case ast::DeclKind::Policy: return 3;     // Namespace
    case ast::DeclKind::Import: return 2;     // Module
    case ast::DeclKind::Outcomes: return 10;  // Enum
    case ast::DeclKind::Default: return 22;   // EnumMember
    case ast::DeclKind::Event: return 23;     // Struct
    case ast::DeclKind::Const: return 14;     // Constant
    case ast::DeclKind::Set: return 18;       // Array
    case ast::DeclKind::Table: return 5;      // Class
    case ast::DeclKind::Def: return 12;       // Function
    case ast::DeclKind::Rule: return 6;       // Method
    case ast::DeclKind::Example: return 19;   // Object
    case ast::DeclKind::Test: return 24;      // Event
  }
  return 13;  // Variable
}

json symbol(const SourceFile& file, const std::string& name, const std::string& detail, int kind, Span range,
            Span selection) {
  if (!selection.valid()) selection = range;
  return json{{"name", name.empty() ? std::string("(unnamed)") : name},
              {"detail", detail},
              {"kind", kind},
              {"range", to_range(file, range)},
              {"selectionRange", to_range(file, selection)}};
}

json diagnostic_json(const Analysis& a, const Diagnostic& d, Span at, const std::string& prefix) {
  const SourceFile* file = at.valid() ? &a.sources.file(at.file) : nullptr;
  std::string message = prefix + d.message;
  if (!d.help.empty()) message += "\nhelp: " + d.help;
  json out{
      {"severity", d.severity == Severity::Error     ? 1
                   : d.severity == Severity::Warning ? 2
                                                     : 3},
      {"code", d.code},
      {"source", "edict"},
      {"message", message},
      {"range", file ? to_range(*file, at) : json{{"start", position_json({})}, {"end", position_json({})}}}};
  json related = json::array();
  for (const Label& l : d.labels)
    if (l.span.valid()) related.push_back({{"location", location(a, l.span)}, {"message", l.message}});
  if (!related.empty()) out["relatedInformation"] = related;
  return out;
}

}  // namespace

json to_range(const SourceFile& file, Span span) {
  return json{{"start", position_json(position_of(file, span.begin))},
              {"end", position_json(position_of(file, std::max(span.begin, span.end)))}};
}

json definition(const Analysis& a, Position at) {
  const ast::Module* m = a.module();
  if (!m) return nullptr;
  const SourceFile& file = a.sources.file(a.file);
  uint32_t offset = offset_of(file, at);
  if (!in_code(file, offset)) return nullptr;
  Span target = target_of(a, locate(*m, offset));
  if (!target.valid()) return nullptr;
  return location(a, target);
}

json document_symbols(const Analysis& a) {
  json out = json::array();
  const ast::Module* m = a.module();
  if (!m) return out;
  const SourceFile& file = a.sources.file(a.file);
  for (const auto& d : m->decls) {
    if (!d) continue;
    std::string detail = ast::decl_kind_name(d->kind);
    json s = symbol(file, d->name, detail, symbol_kind(d->kind), d->span, d->name_span);
    json children = json::array();
    const std::vector<ast::FieldDecl>* fields = nullptr;
    if (d->kind == ast::DeclKind::Event) fields = &static_cast<const ast::EventDecl&>(*d).fields;
    if (d->kind == ast::DeclKind::Table) fields = &static_cast<const ast::TableDecl&>(*d).value_type.fields;
    if (fields)
      for (const ast::FieldDecl& f : *fields)
        children.push_back(
            symbol(file, f.name, std::string(a.sources.text(f.type.span)), 8, f.span, f.name_span));
    if (d->kind == ast::DeclKind::Outcomes)
      for (const ast::Ident& o : static_cast<const ast::OutcomesDecl&>(*d).order)
        children.push_back(symbol(file, o.name, "outcome", 22, o.span, o.span));
    if (d->kind == ast::DeclKind::Rule) {
      const auto& r = static_cast<const ast::RuleDecl&>(*d);
      s["detail"] = "rule -> " + r.effect.name + (r.cite.empty() ? "" : "  (" + r.cite + ")");
    }
    if (!children.empty()) s["children"] = children;
    out.push_back(std::move(s));
  }
  return out;
}

json diagnostics(const Analysis& a, const std::string& uri) {
  json list = json::array();
  const ast::Module* m = a.module();
  // Which of the document's imports leads to each loaded file.
  std::map<FileId, Span> via;
  if (m && a.front.program) {
    size_t k = 0;
    for (const auto& d : m->decls) {
      if (!d || d->kind != ast::DeclKind::Import) continue;
      FileId target = k < m->imports.size() ? m->imports[k] : kNoFile;
      ++k;
      std::vector<FileId> stack{target};
      while (!stack.empty()) {
        FileId f = stack.back();
        stack.pop_back();
        if (f == kNoFile || f == a.file || !via.emplace(f, d->name_span).second) continue;
        if (const ast::Module* im = a.front.program->module_for(f))
          stack.insert(stack.end(), im->imports.begin(), im->imports.end());
      }
    }
  }
  for (const Diagnostic& d : a.sink.sorted()) {
    if (!d.span.valid() || d.span.file == a.file) {
      list.push_back(diagnostic_json(a, d, d.span, ""));
    } else if (auto it = via.find(d.span.file); it != via.end()) {
      LineCol lc = a.sources.line_col(d.span.file, d.span.begin);
      list.push_back(diagnostic_json(
          a, d, it->second,
          ::fmt::format("in `{}` ({}:{}): ", a.sources.file(d.span.file).path, lc.line, lc.column)));
    }
  }
  return json{{"uri", uri}, {"diagnostics", list}};
}

std::optional<json> formatting(const std::string& path, const std::string& text, std::string& error) {
  SourceManager sources;
  FileId id = sources.add(path, text);
  DiagnosticSink sink;
  std::optional<std::string> formatted = edict::fmt::format_source(sources, id, sink);
  if (!formatted) {
    auto sorted = sink.sorted();
    error = sorted.empty() ? "the document cannot be formatted"
                           : "the document cannot be formatted: " + render_human(sources, sorted.front());
    return std::nullopt;
  }
  json edits = json::array();
  if (*formatted != text) {
    const SourceFile& f = sources.file(id);
    edits.push_back(
        {{"range", to_range(f, Span{id, 0, static_cast<uint32_t>(text.size())})}, {"newText", *formatted}});
  }
  return edits;
}

}  // namespace edict::lsp
