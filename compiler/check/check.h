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
#include "compiler/support/diagnostics.h"

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

struct RuleInfo {
  const ast::RuleDecl* decl = nullptr;
  std::vector<int> kinds;                // indices into CheckedProgram::records (events)
  std::optional<int64_t> effective_from;  // inclusive, micros UTC
  std::optional<int64_t> effective_until; // exclusive, micros UTC
  int effect = -1;                       // index into outcomes
  int policy = -1;                       // index into policies (-1: file has no `policy`)
};

struct TableInfo {
  const ast::TableDecl* decl = nullptr;
  TypeKind key = TypeKind::Error;
  int record = -1;  // row schema
  // Rows in source order, keys and cells folded to values (cells follow the
  // row schema's field order; an absent optional cell has kind Error).
  std::vector<Value> keys;
  std::vector<std::vector<Value>> cells;
};

struct SetInfo {
  const ast::SetDecl* decl = nullptr;  // null for an anonymous set literal
  TypeKind element = TypeKind::Error;
  std::vector<Value> members;  // deduplicated, in first-seen order
};

struct TestInfo {
  const ast::TestDecl* decl = nullptr;
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

  std::vector<RecordSchema> records;  // events first, then table rows
  std::vector<int> events;            // indices of event schemas in `records`
  std::vector<TableInfo> tables;
  std::vector<SetInfo> sets;
  std::vector<PolicyInfo> policies;
  std::vector<RuleInfo> rules;        // source order across the program
  std::vector<std::string> outcomes;  // weakest first; `error` is implicit and strongest
  int default_outcome = 0;            // index into outcomes
  std::vector<const ast::ExampleDecl*> examples;
  std::vector<TestInfo> tests;

  const Type& type_of(const ast::Expr& e) const { return expr_types.at(e.id); }
  int event_index(std::string_view kind) const;  // into records, or -1
  std::string type_name(const Type& t) const;    // for messages
};

struct CheckOptions {
  bool warn_unused = true;
};

// Checks a loaded program. Always returns a CheckedProgram (partially filled
// when there are errors); diagnostics go to `sink`. The result is only fit
// for lowering when !sink.has_errors().
CheckedProgram check(const ast::Program& program, const SourceManager& sources,
                     DiagnosticSink& sink, const CheckOptions& options = {});

}  // namespace edict::check
