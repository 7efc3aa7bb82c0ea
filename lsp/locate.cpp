// Finding what is at a position (see locate.h).
#include "lsp/locate.h"

namespace edict::lsp {
namespace {

bool holds(Span s, uint32_t offset) {
  return s.valid() && s.begin <= offset && offset <= s.end;
}

struct Locator {
  uint32_t offset;
  Found found;

  bool word(Found::What what, const ast::Decl* decl, Span span, const std::string& name) {
    if (!holds(span, offset) || name.empty()) return false;
    found.what = what;
    found.decl = decl;
    found.span = span;
    found.name = name;
    return true;
  }
  bool ident(Found::What what, const ast::Decl* decl, const ast::Ident& id) {
    return word(what, decl, id.span, id.name);
  }

  void expr(const ast::Decl* decl, const ast::Expr& e, const ast::Expr* parent) {
    if (!holds(e.span, offset)) return;
    // Children are visited after their parent, so the innermost one wins.
    found.what = Found::What::Expr;
    found.decl = decl;
    found.expr = &e;
    found.parent = parent;
    found.span = e.span;
    if (e.kind == ast::ExprKind::RecordLit)
      for (const ast::FieldInit& f : e.fields)
        if (word(Found::What::Field, decl, f.name_span, f.name)) return;
    for (const auto& c : e.children)
      if (c) expr(decl, *c, &e);
  }

  bool fields(const ast::Decl* decl, const std::vector<ast::FieldDecl>& list) {
    for (const ast::FieldDecl& f : list)
      if (word(Found::What::Field, decl, f.name_span, f.name)) return true;
    return false;
  }

  bool names(const ast::Decl& d);
  void decl(const ast::Decl& d) {
    if (!holds(d.span, offset) && !holds(d.name_span, offset)) return;
    if (d.kind != ast::DeclKind::Import && d.kind != ast::DeclKind::Default &&
        word(Found::What::DeclName, &d, d.name_span, d.name))
      return;
    if (names(d)) return;
    ast::for_each_expr(d, [&](const ast::Expr& e) { expr(&d, e, nullptr); });
    if (found.what == Found::What::Nothing) {
      found.decl = &d;
      found.span = d.span;
    }
  }
};

bool Locator::names(const ast::Decl& d) {
  using K = ast::DeclKind;
  using W = Found::What;
  switch (d.kind) {
    case K::Import: return word(W::DeclName, &d, d.name_span, d.name);
    case K::Default: return word(W::Outcome, &d, d.name_span, d.name);
    case K::Outcomes:
      for (const ast::Ident& o : static_cast<const ast::OutcomesDecl&>(d).order)
        if (ident(W::Outcome, &d, o)) return true;
      return false;
    case K::Event: return fields(&d, static_cast<const ast::EventDecl&>(d).fields);
    case K::Table: return fields(&d, static_cast<const ast::TableDecl&>(d).value_type.fields);
    case K::Def:
      for (const ast::Param& p : static_cast<const ast::DefDecl&>(d).params)
        if (word(W::Param, &d, p.name_span, p.name)) return true;
      return false;
    case K::Rule: {
      const auto& r = static_cast<const ast::RuleDecl&>(d);
      for (const ast::Ident& k : r.kinds)
        if (ident(W::EventKind, &d, k)) return true;
      return ident(W::Outcome, &d, r.effect);
    }
    case K::Example: {
      const auto& x = static_cast<const ast::ExampleDecl&>(d);
      return ident(W::EventKind, &d, x.event_kind) || ident(W::ExampleRef, &d, x.base);
    }
    case K::Test:
      for (const ast::TestStep& s : static_cast<const ast::TestDecl&>(d).steps) {
        if (ident(W::ExampleRef, &d, s.example) || ident(W::EventKind, &d, s.inline_kind)) return true;
        for (const ast::Expectation& x : s.expects) {
          if (ident(W::Outcome, &d, x.decision)) return true;
          for (const ast::Ident& r : x.rules)
            if (ident(W::RuleRef, &d, r)) return true;
        }
      }
      return false;
    default: return false;
  }
}

}  // namespace

Found locate(const ast::Module& module, uint32_t offset) {
  Locator l{offset, {}};
  for (const auto& d : module.decls) {
    if (!d) continue;
    l.decl(*d);
    if (l.found.decl) break;
  }
  return l.found;
}

const ast::Decl* find_decl(const ast::Program& program, ast::DeclKind kind, const std::string& name) {
  for (const auto& m : program.modules)
    for (const auto& d : m->decls)
      if (d && d->kind == kind && d->name == name) return d.get();
  return nullptr;
}

const check::RuleInfo* rule_info(const check::CheckedProgram& checked, const ast::Decl* rule) {
  for (const check::RuleInfo& r : checked.rules)
    if (r.decl == rule) return &r;
  return nullptr;
}

const check::FieldInfo* event_field(const check::CheckedProgram& checked, const ast::Decl* rule,
                                    const std::string& field) {
  std::vector<int> kinds;
  if (const check::RuleInfo* r = rule ? rule_info(checked, rule) : nullptr) kinds = r->kinds;
  if (kinds.empty()) kinds = checked.events;
  for (int k : kinds) {
    if (k < 0 || static_cast<size_t>(k) >= checked.records.size()) continue;
    const check::RecordSchema& s = checked.records[static_cast<size_t>(k)];
    int i = s.field_index(field);
    if (i >= 0) return &s.fields[static_cast<size_t>(i)];
  }
  return nullptr;
}

}  // namespace edict::lsp
