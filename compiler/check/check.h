// The checker: name resolution across imports, types, guards for optional
// values, and the whole-program checks of the language brief. Its result is a
// CheckedProgram: the AST untouched plus side tables keyed by node id, which
// lowering (compiler/ir) turns into the backend-neutral IR.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "compiler/ast/ast.h"
#include "compiler/check/types.h"
#include "support/diagnostics.h"

namespace edict::check {

struct FieldInfo {
  std::string name;
  Type type;  // optional fields have type.optional set
  Span span;
};

// An event schema or a table's row type.
struct RecordSchema {
  std::string name;  // event kind (`rental`) or `table chips` row
  bool is_event = false;
  std::vector<FieldInfo> fields;
  int time_field = -1;  // events: index of the one `time` field
  const ast::Decl* decl = nullptr;

  int field_index(std::string_view field) const;
};

struct PolicyInfo {
  std::string title, version, source, status;  // status: in_force, proposed, ...
  FileId file = kNoFile;
};

// Evaluation contract the checker's guards rely on: `unless` is evaluated only
// when `when` held (it may read what `when` proved present), and the message
// only when the rule fires. `and`/`or`/`if` short-circuit.
struct RuleInfo {
  const ast::RuleDecl* decl = nullptr;
  std::vector<int> kinds;                  // indices into CheckedProgram::records (events)
  std::optional<int64_t> effective_from;   // inclusive, micros UTC
  std::optional<int64_t> effective_until;  // exclusive, micros UTC
  int effect = -1;                         // index into outcomes
  int policy = -1;                         // index into policies (-1: file has no `policy`)
};

// The field of a screening source's match that is not in its file.
inline constexpr const char* kScoreField = "score";

struct TableInfo {
  const ast::TableDecl* decl = nullptr;
  TypeKind key = TypeKind::Error;
  int record = -1;  // row schema
  // Rows in source order, keys and cells folded to values (cells follow the
  // row schema's field order; an absent optional cell has kind Error).
  std::vector<Value> keys;
  std::vector<std::vector<Value>> cells;
  // `data` declarations: rows come from a file at run time (no keys or cells
  // here); `set<string>` fields (aliases) are read for name screening and
  // are not row fields, so they are listed apart.
  bool external = false;
  std::vector<std::string> list_fields;
  // A source that screens names: its row has one field the file does not
  // hold, `score: number`, the similarity of the lookup's match (the last
  // field of the row schema; -1 otherwise).
  int score_field = -1;
};

struct SetInfo {
  const ast::SetDecl* decl = nullptr;  // null for an anonymous set literal
  Span span;                           // the declaration's name, or the literal
  TypeKind element = TypeKind::Error;
  std::vector<Value> members;  // deduplicated, in first-seen order
};

// A complete event as an example or a test step gives it: one value per field
// of the event schema `record`, in schema order; an absent optional field has
// kind Error. Values have the field's type (an `int` literal given for a
// `number` field is stored as a number, a country literal as a country).
struct EventValue {
  int record = -1;
  std::vector<Value> fields;
};

struct ExpectInfo {
  Span span;
  int decision = -1;       // index into outcomes; -1 for `error`
  std::vector<int> rules;  // indices into CheckedProgram::rules
  bool only = false;
};

struct TestStepInfo {
  const ast::TestStep* step = nullptr;
  EventValue event;  // the example with the overrides applied
  std::vector<ExpectInfo> expects;
};

struct TestInfo {
  const ast::TestDecl* decl = nullptr;
  std::vector<TestStepInfo> steps;
};

struct CheckedProgram {
  const ast::Program* program = nullptr;
  const SourceManager* sources = nullptr;

  // Side tables indexed by ast::NodeId.
  std::vector<Type> expr_types;
  // Name/Call expressions: the declaration they refer to (Const, Set, Table,
  // Def), or null for a def parameter (see param_index) or a builtin.
  std::vector<const ast::Decl*> resolved;
  std::vector<int> param_index;  // Name expressions naming a def parameter
  // Set-typed expressions (named sets and literals): index into `sets`.
  std::vector<int> set_index;
  // Table-typed Name expressions: index into `tables`.
  std::vector<int> table_index;
  // Folded value of every constant expression (kind Error when not constant).
  std::vector<Value> constant;
  // Call expressions: the builtin called (a Builtin value), or -1 for a def.
  std::vector<int> builtin_index;
  //
  // Conversions the checker allowed and lowering must make explicit:
  // - an `int`-typed expression where its context is `number` (the other
  //   operand of arithmetic or a comparison, a `number` parameter or def
  //   result, a branch of `if`/`otherwise` whose type is `number`, a member
  //   tested against a `set<number>`) widens to a double;
  // - a `date` compared with a `time` is its UTC midnight (same micros);
  // - a string literal in a country context already has type `country` here,
  //   and its `constant` holds the country value.
  // `event.f` in a rule on several kinds: the Field's type is the field's type
  // (optional where some kinds lack it); the `event` expression's record is -1
  // then, and each kind's field is records[kind].field_index(f).

  std::vector<RecordSchema> records;  // events first, then table rows
  std::vector<int> events;            // indices of event schemas in `records`
  std::vector<TableInfo> tables;
  std::vector<SetInfo> sets;
  std::vector<PolicyInfo> policies;
  std::vector<RuleInfo> rules;        // source order across the program
  std::vector<std::string> outcomes;  // weakest first; `error` is implicit and strongest
  int default_outcome = 0;            // index into outcomes
  std::vector<const ast::ExampleDecl*> examples;
  std::vector<EventValue> example_events;  // parallel to `examples`
  std::vector<TestInfo> tests;

  const Type& type_of(const ast::Expr& e) const { return expr_types.at(e.id); }
  int event_index(std::string_view kind) const;  // into records, or -1
  std::string type_name(const Type& t) const;    // for messages
};

// The string functions every policy may call. Signatures: starts_with,
// ends_with, contains (string, string) -> bool; lower, upper (string) ->
// string; len (string) -> int.
enum class Builtin : uint8_t { StartsWith, EndsWith, Contains, Lower, Upper, Len };
const char* builtin_name(Builtin b);

struct CheckOptions {
  bool warn_unused = true;
};

// Checks a loaded program. Always returns a CheckedProgram (partially filled
// when there are errors); diagnostics go to `sink`. The result is only fit
// for lowering when !sink.has_errors().
CheckedProgram check(const ast::Program& program, const SourceManager& sources, DiagnosticSink& sink,
                     const CheckOptions& options = {});

}  // namespace edict::check
