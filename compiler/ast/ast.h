// Edict's own abstract syntax tree. Built by the parser stage from the ANTLR
// parse tree (which it never points into); read by the checker, formatter and
// lowering. Every node has a kind enum and a dense id (unique within one
// Program) so later stages keep their results in side tables keyed by id
// instead of mutating the tree. Nodes are owned by unique_ptr, non-copyable;
// use clone() for an explicit deep copy.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "support/source.h"

namespace edict::ast {

using NodeId = uint32_t;
inline constexpr NodeId kNoNode = UINT32_MAX;

// ---- types as written -----------------------------------------------------

struct FieldDecl;

// `int`, `country?`, `set<string>`, `{ tpp: int, die_area: number }`.
struct TypeExpr {
  Span span;
  std::string name;               // empty for a record type
  std::vector<TypeExpr> args;     // `set<T>`: one arg
  std::vector<FieldDecl> fields;  // record type fields
  bool optional = false;          // trailing `?`
  bool is_record() const { return name.empty(); }
};

struct FieldDecl {
  Span span;  // whole `name: type`
  Span name_span;
  std::string name;
  TypeExpr type;
};

// ---- expressions ----------------------------------------------------------

enum class ExprKind : uint8_t {
  Int,            // int_value
  Number,         // number_value
  String,         // text = decoded value (escapes resolved)
  Bool,           // bool_value
  Date,           // text = literal as written; int_value = micros since epoch (UTC midnight)
  Time,           // text = literal as written; int_value = micros since epoch (UTC)
  Duration,       // text = literal as written; int_value = micros
  Event,          // the keyword `event`
  Name,           // text = identifier (const, set, table, def parameter)
  Field,          // children[0].text ; text = field name ; name_span = field name
  Index,          // children[0][children[1]]
  Call,           // text = function name; children = arguments; name_span
  Aggregate,      // text = function (sum, count, ...); distinct; children: [arg?] then
                  // window (agg_window), key (agg_key), filter (agg_filter) as indices
  Unary,          // op (Neg, Not); children[0]
  Binary,         // op; children[0], children[1]
  In,             // negated; children[0] in children[1]
  Is,             // present (true) / absent; children[0]
  If,             // children: cond, then, else
  Otherwise,      // children[0] otherwise children[1]
  SetLit,         // children = elements
  RecordLit,      // fields[i].name = children[i]
  Interpolation,  // a message string: text pieces and children interleaved (see parts)
  Error,          // placeholder after a syntax error; checker stays silent on it
};

enum class Op : uint8_t {
  None,
  Neg,
  Not,  // unary
  Mul,
  Div,
  Add,
  Sub,  // arithmetic (Add/Sub also time/duration, set union/difference)
  Eq,
  Ne,
  Lt,
  Le,
  Gt,
  Ge,  // comparison
  And,
  Or,  // short-circuit logic
};

const char* op_spelling(Op op);

struct FieldInit {
  Span name_span;
  std::string name;
};

// One piece of an interpolated message: literal text, or children[expr_index].
struct MessagePart {
  std::string text;
  int expr_index = -1;  // >= 0: an interpolated expression
};

struct Expr {
  ExprKind kind = ExprKind::Error;
  NodeId id = kNoNode;
  Span span;       // the whole expression
  Span name_span;  // Field: the field name; Call/Aggregate: the function name; Name: same as span

  std::string text;
  int64_t int_value = 0;
  double number_value = 0;
  bool bool_value = false;
  Op op = Op::None;
  bool negated = false;   // In: `not in`
  bool present = false;   // Is: `is present` (true) or `is absent` (false)
  bool distinct = false;  // Aggregate: `count(distinct x)`
  bool calendar_year =
      false;  // Aggregate: `over calendar year` (its window child is then 366d, the longest year)
  bool parenthesized = false;  // written inside ( ); kept for the formatter

  std::vector<std::unique_ptr<Expr>> children;
  std::vector<FieldInit> fields;   // RecordLit: names of children, same order
  std::vector<MessagePart> parts;  // Interpolation
  // Aggregate: indices into children; -1 when absent.
  int agg_arg = -1, agg_window = -1, agg_key = -1, agg_filter = -1;

  Expr() = default;
  Expr(const Expr&) = delete;
  Expr& operator=(const Expr&) = delete;
  // Deep copy; the copy keeps the same ids (it stands for the same source).
  std::unique_ptr<Expr> clone() const;
};

using ExprPtr = std::unique_ptr<Expr>;

// ---- declarations ---------------------------------------------------------

enum class DeclKind : uint8_t {
  Policy,
  Import,
  Outcomes,
  Default,
  Event,
  Const,
  Set,
  Table,
  Def,
  Rule,
  Example,
  Test,
};

const char* decl_kind_name(DeclKind k);  // "policy", "rule", ...

struct Decl {
  DeclKind kind;
  NodeId id = kNoNode;
  Span span;       // the whole declaration
  Span name_span;  // the declared name (policy: the title string; import: the path string)
  std::string name;
  // A syntax error lies inside it: later stages check what survived but
  // warn about nothing in it (a missing `cite` may be the clause that broke).
  bool damaged = false;

  explicit Decl(DeclKind k) : kind(k) {}
  virtual ~Decl() = default;
  Decl(const Decl&) = delete;
  Decl& operator=(const Decl&) = delete;
};

struct PolicyDecl : Decl {
  PolicyDecl() : Decl(DeclKind::Policy) {}
  // name = title
  std::string version, source, status;  // empty when not given
  Span version_span, source_span, status_span;
};

struct ImportDecl : Decl {
  ImportDecl() : Decl(DeclKind::Import) {}
  // name = the path as written (decoded string)
};

struct Ident {
  Span span;
  std::string name;
};

struct OutcomesDecl : Decl {
  OutcomesDecl() : Decl(DeclKind::Outcomes) {}
  std::vector<Ident> order;  // weakest first
};

struct DefaultDecl : Decl {
  DefaultDecl() : Decl(DeclKind::Default) {}
  // name = the outcome
};

struct EventDecl : Decl {
  EventDecl() : Decl(DeclKind::Event) {}
  std::vector<FieldDecl> fields;
};

struct ConstDecl : Decl {
  ConstDecl() : Decl(DeclKind::Const) {}
  std::unique_ptr<TypeExpr> type;  // may be null (inferred)
  ExprPtr value;
};

struct SetDecl : Decl {
  SetDecl() : Decl(DeclKind::Set) {}
  TypeExpr element_type;  // as written after the colon: `country`
  ExprPtr value;          // a set literal or set expression
};

struct TableRow {
  Span span;
  ExprPtr key;
  ExprPtr value;  // a RecordLit
};

// What a `data` declaration adds to a table: its rows come from a file at
// run time (abi/data.h), not from the source.
struct DataSpec {
  std::string file;  // as written after `from`, relative to the policy file
  Span file_span;
  std::string key_header;  // `key "id"`: the file's key column; empty when not given
  Span key_span;           // the clause
  struct ColumnName {
    Span field_span, header_span;
    std::string field, header;
  };
  std::vector<ColumnName> columns;  // `columns { notice: "federal_register_notice" }`
  Span columns_span;
  std::string in_force_from, in_force_until;  // field names; empty when absent
  Span in_force_span, from_span, until_span;
  // `screen name, aliases above 0.9`: lookups screen names (abi/screen.h).
  std::vector<Ident> screen_fields;
  std::string threshold_text;  // as written
  double threshold = 0;
  Span screen_span, threshold_span;
  // `ignoring "ooo", "pao"`: legal-form words added to the built-in table.
  std::vector<std::string> legal_forms;
  Span ignoring_span;
};

struct TableDecl : Decl {
  TableDecl() : Decl(DeclKind::Table) {}
  TypeExpr key_type;
  TypeExpr value_type;  // a record type
  std::vector<TableRow> rows;
  std::unique_ptr<DataSpec> data;  // non-null: a `data` declaration (no rows)
};

struct Param {
  Span span;
  Span name_span;
  std::string name;
  TypeExpr type;
};

struct DefDecl : Decl {
  DefDecl() : Decl(DeclKind::Def) {}
  std::vector<Param> params;
  TypeExpr result;
  ExprPtr body;
};

struct RuleDecl : Decl {
  RuleDecl() : Decl(DeclKind::Rule) {}
  bool on_any = false;
  std::vector<Ident> kinds;  // empty when on_any
  ExprPtr effective;         // Date/Time literal, or null
  ExprPtr until;             // Date/Time literal, or null
  std::string cite;          // empty when no `cite`
  Span cite_span;
  Ident effect;     // empty name when missing (a syntax-level error)
  ExprPtr message;  // Interpolation, or null
  ExprPtr when;     // null: always
  ExprPtr unless;   // null: never
  // Every clause in source order, for the formatter and duplicate-clause errors.
  struct Clause {
    enum Kind : uint8_t { Effective, Until, Cite, Effect, When, Unless } kind;
    Span span;
  };
  std::vector<Clause> clauses;
};

struct ExampleDecl : Decl {
  ExampleDecl() : Decl(DeclKind::Example) {}
  Ident event_kind;  // `: rental`
  Ident base;        // `= other with { ... }`: the other example; empty name if none
  ExprPtr value;     // RecordLit
};

struct Expectation {
  Span span;
  Ident decision;            // deny, allow, error, or a declared outcome
  std::vector<Ident> rules;  // `by a, b`
  bool only = false;         // `by only a, b`
};

struct TestStep {
  Span span;
  // `given NAME` / `given NAME with { ... }`: an example reference.
  // `given KIND { ... }`: an inline event; `inline_kind` set.
  Ident example;      // example name (empty for inline)
  Ident inline_kind;  // event kind (empty for an example reference)
  ExprPtr overrides;  // RecordLit or null (`with {...}` or the inline record)
  std::vector<Expectation> expects;
};

struct TestDecl : Decl {
  TestDecl() : Decl(DeclKind::Test) {}
  // name = the test's title (decoded string)
  std::vector<TestStep> steps;
};

// ---- files ----------------------------------------------------------------

struct Comment {
  Span span;  // includes the `//` or `/* */`
  bool block = false;
};

// One parsed source file.
struct Module {
  FileId file = kNoFile;
  std::vector<std::unique_ptr<Decl>> decls;  // source order
  std::vector<Comment> comments;             // source order, for the formatter
  // Resolved import targets, parallel to the Import decls in `decls` order
  // (kNoFile when the import failed to load).
  std::vector<FileId> imports;
  bool has_syntax_errors = false;  // no unused-declaration warnings then: the use may be what broke
};

// Everything loaded for one compilation: the root files and, transitively,
// their imports. Node ids are unique across the whole program.
struct Program {
  std::vector<std::unique_ptr<Module>> modules;  // indexed in load order
  std::vector<FileId> roots;                     // files named by the user
  NodeId next_id = 0;

  const Module* module_for(FileId f) const;
};

// Generic traversal: calls f(expr) for `e` and every descendant, pre-order.
template <typename F>
void walk(const Expr& e, F&& f) {
  f(e);
  for (const auto& c : e.children)
    if (c) walk(*c, f);
}

// Calls f(expr) for every top-level expression slot of a declaration.
template <typename F>
void for_each_expr(const Decl& d, F&& f);

// S-expression dump used by `--emit=ast` and the parser's golden tests.
std::string dump(const Module& m, const SourceManager& sm);
std::string dump(const Expr& e);

}  // namespace edict::ast

#include "compiler/ast/ast_inl.h"
