// What sits at a position of a parsed module: the declaration, the innermost
// expression, or one of the names a declaration writes outside expressions
// (a rule's event kinds and effect, an import's path, a test's example, the
// outcome and rules of an `expect`). Shared by hover, definition and
// completion.
#pragma once

#include <string>

#include "compiler/ast/ast.h"
#include "compiler/check/check.h"

namespace edict::lsp {

struct Found {
  enum class What {
    Nothing,
    DeclName,    // decl->name_span
    EventKind,   // `rule r on KIND`, `example e: KIND`, `given KIND { ... }`
    Outcome,     // a rule's effect, an `expect` outcome, `outcomes`/`default` names
    ExampleRef,  // `given NAME`, `= NAME with`
    RuleRef,     // `expect deny by NAME`
    Field,       // an event field or a record type's field name
    Param,       // a def's parameter name
    Expr,        // `expr`
  };
  What what = What::Nothing;
  const ast::Decl* decl = nullptr;
  const ast::Expr* expr = nullptr;
  const ast::Expr* parent = nullptr;  // of `expr`, when it has one
  std::string name;                   // the word, for the name kinds
  Span span;
};

// `offset` counts as inside a span that ends right before it (the cursor
// after a word's last letter).
Found locate(const ast::Module& module, uint32_t offset);

// A top-level declaration of `kind` named `name` anywhere in the program.
const ast::Decl* find_decl(const ast::Program& program, ast::DeclKind kind, const std::string& name);
// The rule's side-table entry, or null.
const check::RuleInfo* rule_info(const check::CheckedProgram& checked, const ast::Decl* rule);
// The event field `field` is in a rule on `rule`'s kinds (first kind that has
// it); null when not found.
const check::FieldInfo* event_field(const check::CheckedProgram& checked, const ast::Decl* rule,
                                    const std::string& field);

}  // namespace edict::lsp
