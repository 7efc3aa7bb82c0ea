// The checker's private state, shared by its translation units: declarations
// (checker.cpp), expressions and guards (check_expr.cpp), examples and tests
// (check_tests.cpp). Not part of the stage's contract; see check.h.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "compiler/check/arith.h"
#include "compiler/check/check.h"

namespace edict::check::detail {

// What a condition proves about optional values where it holds.
struct Fact {
  enum Kind : uint8_t { Present, InTable } kind = Present;
  const ast::Expr* subject = nullptr;  // Present: the expression; InTable: the table
  const ast::Expr* key = nullptr;      // InTable: the key expression
};

// Where an expression is checked: whose names it sees and what it may read.
struct Scope {
  FileId file = kNoFile;
  const ast::Decl* owner = nullptr;                // the declaration being checked
  const ast::DefDecl* def = nullptr;               // def bodies: the parameters
  const std::vector<Type>* param_types = nullptr;  // parallel to def->params
  const std::vector<int>* kinds = nullptr;         // rules: event kinds; null: no `event`
  std::vector<Fact> facts;
};

// Where a written type is used, which decides what it may be.
enum class TypeUse { EventField, TableKey, TableCell, SetElement, ConstAnnotation, Param, Result };

enum class State : uint8_t { Unvisited, InProgress, Done };

struct ConstState {
  State state = State::Unvisited;
  Type type;
  Value value;
};

struct DefSignature {
  std::vector<Type> params;
  Type result;
};

// Members of a set being built, deduplicated in O(1) per member (sets and
// tables may hold tens of thousands of entries).
struct MemberSet {
  std::vector<Value> members;
  std::vector<Span> spans;
  std::unordered_map<std::string, size_t> index;  // value_key -> position
};

// A hashable identity of a value: kind and canonical spelling.
std::string value_key(const Value& v);

struct ExampleState {
  State state = State::Unvisited;
  int index = -1;  // into CheckedProgram::examples
  bool ok = false;
};

class Checker {
 public:
  Checker(const ast::Program& program, const SourceManager& sources, DiagnosticSink& sink,
          const CheckOptions& options);
  CheckedProgram run();

 private:
  // ---- checker.cpp: program structure and declarations ---------------------
  void size_side_tables();
  void collect_names();
  void compute_visibility();
  void check_policies();
  void check_outcomes();
  void declare_events();
  void declare_tables_and_sets();
  void add_score_field(const ast::TableDecl& t, RecordSchema& row, TableInfo& info);
  void declare_defs();
  void check_consts();
  void check_sets();
  void check_tables();
  void check_def_bodies();
  void check_recursion();
  void check_rules();
  void check_rule(const ast::RuleDecl& rule, FileId file);
  void warn_unused();

  Type resolve_type(const ast::TypeExpr& t, TypeUse use);
  void ensure_const(const ast::ConstDecl& d, Span use_site);
  void ensure_set(const ast::SetDecl& d, Span use_site);
  void check_table_rows(const ast::TableDecl& d, FileId file);
  void check_data_spec(const ast::TableDecl& d);

  // Name lookup. Reports unknown or not-imported names; returns null then.
  const ast::Decl* lookup(const std::string& name, FileId from) const;
  const ast::Decl* resolve_global(const std::string& name, Span where, FileId from, const char* what,
                                  const std::vector<std::string>& candidates, const char* code);
  bool visible(const ast::Decl* d, FileId from) const;
  std::string import_hint(FileId from, FileId target) const;
  const std::vector<std::string>& names_of(std::initializer_list<ast::DeclKind> kinds, FileId from);
  std::vector<std::string> event_kind_names() const;
  int outcome_index(std::string_view name) const;
  bool file_has_failed_import(FileId f) const;
  FileId file_of(const ast::Decl* d) const;
  void mark_used(const ast::Decl* d, const Scope& s);

  // ---- check_expr.cpp: expressions, folding, guards -------------------------
 public:
  Type expr(const ast::Expr& e, Scope& s, const Type* hint = nullptr);

 private:
  Type expr_inner(const ast::Expr& e, Scope& s, const Type* hint);
  Type name_expr(const ast::Expr& e, Scope& s);
  Type field_expr(const ast::Expr& e, Scope& s);
  Type event_field(const ast::Expr& e, Scope& s);
  Type index_expr(const ast::Expr& e, Scope& s);
  Type call_expr(const ast::Expr& e, Scope& s);
  Type aggregate_expr(const ast::Expr& e, Scope& s);
  Type unary_expr(const ast::Expr& e, Scope& s);
  Type binary_expr(const ast::Expr& e, Scope& s);
  Type arithmetic(const ast::Expr& e, Type l, Type r);
  Type comparison(const ast::Expr& e, Type l, Type r);
  std::string comparison_help(const ast::Expr& L, const Type& l, const ast::Expr& R, const Type& r);
  std::string quoted_literal_help(const ast::Expr& L, const Type& l, const ast::Expr& R, const Type& r);
  // The error a constant expression gets when its evaluation (arith.h)
  // faults, as the same expression would on every event.
  Type fold_fault(const ast::Expr& e, FaultReason why);
  Type in_expr(const ast::Expr& e, Scope& s);
  Type is_expr(const ast::Expr& e, Scope& s);
  Type if_expr(const ast::Expr& e, Scope& s, const Type* hint);
  Type otherwise_expr(const ast::Expr& e, Scope& s, const Type* hint);
  Type set_literal(const ast::Expr& e, Scope& s, const Type* hint);
  Type interpolation(const ast::Expr& e, Scope& s);

 public:
  // Requires a present value: reports an optional (with the otherwise/guard
  // help) and returns the required type. Error types pass silently.
  Type require_value(const ast::Expr& e, Type t);
  // Checks that `e` (of type `t`) may be used where `target` is expected,
  // converting a string literal to a country (or a set literal of them) when
  // `target` asks for one. Returns false, without reporting, on a mismatch.
  bool coerce(const ast::Expr& e, Type& t, const Type& target);
  // Both of the above plus a mismatch report "`what` must be X, found Y".
  bool expect_type(const ast::Expr& e, Type t, const Type& target, const std::string& what);
  // The folded value of `e` converted to `target` (int -> number, country).
  std::optional<Value> constant_as(const ast::Expr& e, const Type& target);
  bool is_constant(const ast::Expr& e) const;
  void facts_when(const ast::Expr& e, bool truth, std::vector<Fact>& out) const;
  bool same_expr(const ast::Expr& a, const ast::Expr& b) const;
  bool proven_present(const ast::Expr& e, const Scope& s) const;
  std::optional<Value> country_value(const ast::Expr& literal, bool report);
  void warn_constant_condition(const ast::Expr& e, const char* clause);
  std::string describe(const ast::Expr& e) const;
  std::string type_text(const Type& t) const;  // with backticks
  int new_set(TypeKind element, std::vector<Value> members, const ast::SetDecl* decl, Span span);
  void add_member(MemberSet& set, Value v, Span span, bool warn);
  // closest_match, skipped once the error cap is reached (the diagnostic is
  // dropped anyway, and a hostile file must not make it quadratic).
  std::string near(const std::string& word, const std::vector<std::string>& candidates);
  // The help line of an unknown name: the closest candidate, or the names
  // that extend it (`D5` -> `D5_2023`, `D5_2026`) with the file declaring them.
  std::string name_help(const std::string& word, const std::vector<std::string>& candidates);
  // The help line of an unknown field: the closest field, or all of `whose`
  // fields, nearest first.
  std::string field_help(const std::string& word, const std::vector<std::string>& fields,
                         const std::string& whose);

  // What differs between the record literals of table rows and test events.
  struct RecordLiteralText {
    std::string owner;  // "table `chips`", "event `rental`"
    bool list_fields;   // an unknown field's help lists every field, not only the nearest
    std::function<void(const ast::FieldInit&, const ast::Expr&)> not_constant;
  };
  // The fields of record literal `rec` against `schema`: unknown and repeated
  // fields, each value's type, and its folded value into `values[field]`;
  // `given[field]` is the span where it was written.
  void record_literal_fields(const ast::Expr& rec, const RecordSchema& schema, Scope& s,
                             const RecordLiteralText& text, std::vector<Value>& values,
                             std::vector<Span>& given);

  // ---- check_tests.cpp: examples and tests ----------------------------------
 private:
  void check_examples();
  void ensure_example(const ast::ExampleDecl& d);
  void check_tests();
  // Checks a record of event fields against schema `record`; with `complete`
  // every required field must be given. Writes the values into `event`.
  void event_record(const ast::Expr& rec, int record, bool complete, Span missing_at, FileId file,
                    const ast::Decl* owner, EventValue& event);

 public:
  const ast::Program& program_;
  const SourceManager& sources_;
  DiagnosticSink& sink_;
  CheckOptions options_;
  CheckedProgram out_;

  std::vector<uint8_t> maybe_absent_;  // by node id: may be absent before guards
  std::unordered_map<std::string, const ast::Decl*> names_;
  std::unordered_map<const ast::Decl*, FileId> decl_file_;
  std::vector<std::vector<bool>> visible_;                  // [from][target]
  std::vector<bool> failed_import_;                         // by file
  std::unordered_map<const ast::Decl*, int> event_record_;  // EventDecl -> records index
  std::unordered_map<const ast::Decl*, int> table_of_;      // TableDecl -> tables index
  std::unordered_map<const ast::Decl*, int> set_of_;        // SetDecl -> sets index
  std::unordered_map<const ast::Decl*, State> set_state_;
  std::unordered_map<const ast::Decl*, ConstState> consts_;
  std::unordered_map<const ast::Decl*, DefSignature> defs_;
  std::unordered_map<const ast::Decl*, ExampleState> example_state_;
  std::unordered_map<const ast::Decl*, int> rule_index_;
  std::unordered_map<const ast::Decl*, std::vector<std::pair<const ast::Decl*, Span>>>
      calls_;  // def -> callees
  std::unordered_map<const ast::Decl*, bool> used_;
  std::unordered_map<FileId, int> policy_of_file_;
  bool outcomes_declared_ = false;
  int aggregate_depth_ = 0;             // > 0 inside a windowed aggregate
  int lazy_depth_ = 0;                  // nesting of on-demand const/set/example checks
  size_t suggestion_budget_ = 200'000;  // candidate comparisons left for "did you mean"
  std::unordered_map<uint32_t, std::vector<std::string>> names_cache_;  // by mask of DeclKinds
};

// The message-ready spelling of a declaration kind with its article: "a rule".
std::string a_decl_kind(ast::DeclKind k);
bool is_scalar(TypeKind k);

}  // namespace edict::check::detail
