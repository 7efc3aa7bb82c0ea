// Small AST utilities: deep copies, operator spellings and kind names for
// diagnostics and dumps, and file -> module lookup.
#include "compiler/ast/ast.h"

namespace edict::ast {

std::unique_ptr<Expr> Expr::clone() const {
  auto e = std::make_unique<Expr>();
  e->kind = kind;
  e->id = id;
  e->span = span;
  e->name_span = name_span;
  e->text = text;
  e->int_value = int_value;
  e->number_value = number_value;
  e->bool_value = bool_value;
  e->op = op;
  e->negated = negated;
  e->present = present;
  e->distinct = distinct;
  e->calendar_year = calendar_year;
  e->parenthesized = parenthesized;
  e->children.reserve(children.size());
  for (const auto& c : children) e->children.push_back(c ? c->clone() : nullptr);
  e->fields = fields;
  e->parts = parts;
  e->agg_arg = agg_arg;
  e->agg_window = agg_window;
  e->agg_key = agg_key;
  e->agg_filter = agg_filter;
  return e;
}

const char* op_spelling(Op op) {
  switch (op) {
    case Op::None: return "";
    case Op::Neg: return "-";
    case Op::Not: return "not";
    case Op::Mul: return "*";
    case Op::Div: return "/";
    case Op::Add: return "+";
    case Op::Sub: return "-";
    case Op::Eq: return "==";
    case Op::Ne: return "!=";
    case Op::Lt: return "<";
    case Op::Le: return "<=";
    case Op::Gt: return ">";
    case Op::Ge: return ">=";
    case Op::And: return "and";
    case Op::Or: return "or";
  }
  return "?";
}

const char* decl_kind_name(DeclKind k) {
  switch (k) {
    case DeclKind::Policy: return "policy";
    case DeclKind::Import: return "import";
    case DeclKind::Outcomes: return "outcomes";
    case DeclKind::Default: return "default";
    case DeclKind::Event: return "event";
    case DeclKind::Const: return "const";
    case DeclKind::Set: return "set";
    case DeclKind::Table: return "table";
    case DeclKind::Def: return "def";
    case DeclKind::Rule: return "rule";
    case DeclKind::Example: return "example";
    case DeclKind::Test: return "test";
  }
  return "?";
}

const Module* Program::module_for(FileId f) const {
  for (const auto& m : modules)
    if (m && m->file == f) return m.get();
  return nullptr;
}

}  // namespace edict::ast
