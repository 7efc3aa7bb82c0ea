// Template bodies for ast.h; not for direct inclusion.
#pragma once

namespace edict::ast {

template <typename F>
void for_each_expr(const Decl& d, F&& f) {
  auto visit = [&](const ExprPtr& e) {
    if (e) f(*e);
  };
  switch (d.kind) {
    case DeclKind::Const: visit(static_cast<const ConstDecl&>(d).value); break;
    case DeclKind::Set: visit(static_cast<const SetDecl&>(d).value); break;
    case DeclKind::Table:
      for (const auto& row : static_cast<const TableDecl&>(d).rows) {
        visit(row.key);
        visit(row.value);
      }
      break;
    case DeclKind::Def: visit(static_cast<const DefDecl&>(d).body); break;
    case DeclKind::Rule: {
      const auto& r = static_cast<const RuleDecl&>(d);
      visit(r.effective);
      visit(r.until);
      visit(r.message);
      visit(r.when);
      visit(r.unless);
      break;
    }
    case DeclKind::Example: visit(static_cast<const ExampleDecl&>(d).value); break;
    case DeclKind::Test:
      for (const auto& s : static_cast<const TestDecl&>(d).steps) visit(s.overrides);
      break;
    default: break;
  }
}

}  // namespace edict::ast
