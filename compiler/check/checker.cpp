// The checker's driver and its declaration checks: names and scopes across
// imports, policy metadata, outcomes, events, consts, sets, tables, defs (with
// the recursion check), rules and unused-declaration warnings. Expressions are
// in check_expr.cpp, examples and tests in check_tests.cpp.
//
// Diagnostic codes (stable: tests and docs refer to them; never reuse one).
// Names, scopes, imports
//   E0100 unknown name                      E0101 unknown function or aggregate
//   E0102 unknown event kind                E0103 unknown field
//   E0104 unknown outcome or decision       E0105 unknown rule
//   E0106 unknown example                   E0107 unknown type
//   E0108 name from a file that is not imported
//   E0109 a name declared twice in the program
//   E0110 `event` outside a rule
//   E0111 a declaration used as the wrong kind of thing (`rental` as a value)
//   E0112 duplicate def parameter
// Types and expressions
//   E0200 type mismatch (expected X, found Y)
//   E0201 optional value used where a value is needed
//   E0202 `is present`/`otherwise` on a value that is never absent
//   E0203 operator does not apply to these operand types
//   E0204 comparison does not apply to these operand types
//   E0206 right side of `in` is neither a set nor a table
//   E0207 `in`: element or key type mismatch
//   E0208 wrong number of arguments
//   E0209 `if` branches of different types
//   E0210 not an ISO 3166-1 alpha-2 country code
//   E0211 value must be known at compile time
//   E0212 integer overflow in a constant expression
//   E0213 division by zero
//   E0214 field access on a value without fields
//   E0215 indexing a value that is not a table
//   E0216 record literal where none is allowed
//   E0218 type not allowed here (optional, set or record type in the wrong place)
//   E0219 type arguments on a type that takes none
//   E0220 constant expression is not a finite number
//   E0221 a field has different types in the kinds of a multi-kind rule
//   E0290 (retired: windowed aggregates were not supported before stateful rules)
//   E0291 malformed windowed aggregate (window, distinct, argument)
//   E0292 windowed aggregate outside a rule, or inside another aggregate
// Declarations
//   E0300 duplicate field (event schema, record type, record literal)
//   E0301 event without a `time` field       E0302 event with two `time` fields
//   E0303 the event time is optional         E0304 rules but no event declared
//   E0305 a const or set defined in terms of itself (or nested too deeply)
//   E0306 recursive def (direct or mutual)   E0307 def body does not match the result type
//   E0308 duplicate table key                E0309 table row missing a field
//   E0311 event kind listed twice in `on`
//   (E0312, E0313: not used; duplicate clauses and a missing effect are the parser's E0014, E0015)
//   E0314 `effective`/`until` not a date or time literal
//   E0315 second `outcomes` declaration      E0316 second `default` declaration
//   E0317 bad outcome list (duplicate, or the reserved `error`)
//   E0318 second `policy` in one file        E0319 unknown policy status
//   E0321 a rule without `cite` in an `in_force` policy (elsewhere: W0104)
//   E0320 `data` declaration: no `key`, or a `columns`/`in force`/`screen` field
//         it does not declare, an `in force` field that is not a date or time,
//         a screened field that is not a string, a threshold outside (0, 1]
// Examples and tests
//   E0400 example or inline event missing required fields
//   E0401 example value not known at compile time
//   E0402 example based on an example of another kind
//   E0403 `given` names an event kind without giving its fields
//   E0404 `expect ... by` a rule that does not apply to the event's kind
//   E0405 duplicate test title               E0406 example based on itself
// Warnings
//   W0100 unused declaration (files that declare rules; examples only when the program has tests)
//   W0101 empty effective range (`until` not after `effective`)
//   W0102 condition that is always true or always false
//   W0103 duplicate set member               W0104 rule without `cite`
//   W0105 test step that expects nothing
#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <set>

#include "compiler/check/checker_internal.h"

namespace edict::check {

using namespace detail;

int RecordSchema::field_index(std::string_view field) const {
  for (size_t i = 0; i < fields.size(); ++i)
    if (fields[i].name == field) return static_cast<int>(i);
  return -1;
}

int CheckedProgram::event_index(std::string_view kind) const {
  for (int i : events)
    if (records[i].name == kind) return i;
  return -1;
}

std::string CheckedProgram::type_name(const Type& t) const {
  std::string s;
  switch (t.kind) {
    case TypeKind::Set: s = t.elem == TypeKind::Error ? "set" : "set<" + type_kind_name(t.elem) + ">"; break;
    case TypeKind::Record:
      if (t.record >= 0 && t.record < static_cast<int>(records.size()))
        s = records[t.record].is_event ? records[t.record].name + " event" : records[t.record].name + " row";
      else
        s = "record";
      break;
    case TypeKind::Table:
      s = t.record >= 0 && t.record < static_cast<int>(records.size()) ? "table " + records[t.record].name
                                                                       : "table";
      break;
    default: s = type_kind_name(t.kind);
  }
  if (t.optional) s += "?";
  return s;
}

const char* builtin_name(Builtin b) {
  switch (b) {
    case Builtin::StartsWith: return "starts_with";
    case Builtin::EndsWith: return "ends_with";
    case Builtin::Contains: return "contains";
    case Builtin::Lower: return "lower";
    case Builtin::Upper: return "upper";
    case Builtin::Len: return "len";
  }
  return "";
}

CheckedProgram check(const ast::Program& program, const SourceManager& sources, DiagnosticSink& sink,
                     const CheckOptions& options) {
  Checker checker(program, sources, sink, options);
  return checker.run();
}

namespace detail {

std::string a_decl_kind(ast::DeclKind k) {
  switch (k) {
    case ast::DeclKind::Event: return "an event kind";
    case ast::DeclKind::Const: return "a constant";
    case ast::DeclKind::Set: return "a set";
    case ast::DeclKind::Table: return "a table";
    case ast::DeclKind::Def: return "a function";
    case ast::DeclKind::Rule: return "a rule";
    case ast::DeclKind::Example: return "an example";
    case ast::DeclKind::Test: return "a test";
    default: return "a declaration";
  }
}

bool is_scalar(TypeKind k) {
  return k >= TypeKind::Bool && k <= TypeKind::Duration;
}

namespace {

bool is_named_decl(ast::DeclKind k) {
  switch (k) {
    case ast::DeclKind::Event:
    case ast::DeclKind::Const:
    case ast::DeclKind::Set:
    case ast::DeclKind::Table:
    case ast::DeclKind::Def:
    case ast::DeclKind::Rule:
    case ast::DeclKind::Example: return true;
    default: return false;
  }
}

constexpr const char* kStatuses[] = {"in_force", "proposed", "not_enforced", "hypothetical"};

// On-demand checks (a const naming a later const) recurse; this bounds the
// depth so a hostile chain of thousands of forward references cannot exhaust
// the stack.
constexpr int kMaxLazyDepth = 200;

std::string backticked_list(const std::vector<std::string>& names, size_t max_shown = 6) {
  std::string out;
  for (size_t i = 0; i < names.size() && i < max_shown; ++i) {
    if (i) out += i + 1 == names.size() ? " and " : ", ";
    out += "`" + names[i] + "`";
  }
  if (names.size() > max_shown) out += fmt::format(" and {} more", names.size() - max_shown);
  return out;
}

}  // namespace

Checker::Checker(const ast::Program& program, const SourceManager& sources, DiagnosticSink& sink,
                 const CheckOptions& options)
    : program_(program), sources_(sources), sink_(sink), options_(options) {
  out_.program = &program;
  out_.sources = &sources;
}

CheckedProgram Checker::run() {
  size_side_tables();
  compute_visibility();
  collect_names();
  check_policies();
  check_outcomes();
  declare_events();
  declare_tables_and_sets();
  declare_defs();
  check_consts();
  check_sets();
  check_tables();
  check_def_bodies();
  check_recursion();
  check_rules();
  check_examples();
  check_tests();
  warn_unused();
  return std::move(out_);
}

void Checker::size_side_tables() {
  const size_t n = program_.next_id;
  out_.expr_types.assign(n, Type::error());
  out_.resolved.assign(n, nullptr);
  out_.param_index.assign(n, -1);
  out_.set_index.assign(n, -1);
  out_.table_index.assign(n, -1);
  out_.constant.assign(n, Value{});
  out_.builtin_index.assign(n, -1);
  maybe_absent_.assign(n, 0);
}

// ---- names and scopes -------------------------------------------------------

void Checker::compute_visibility() {
  const size_t files = sources_.size();
  visible_.assign(files, std::vector<bool>(files, false));
  failed_import_.assign(files, false);
  std::vector<std::vector<FileId>> direct(files);
  for (const auto& m : program_.modules) {
    if (!m || m->file >= files) continue;
    for (FileId target : m->imports) {
      if (target == kNoFile || target >= files)
        failed_import_[m->file] = true;
      else
        direct[m->file].push_back(target);
    }
  }
  for (FileId from = 0; from < files; ++from) {
    std::vector<FileId> work{from};
    visible_[from][from] = true;
    while (!work.empty()) {
      FileId f = work.back();
      work.pop_back();
      for (FileId t : direct[f]) {
        if (visible_[from][t]) continue;
        visible_[from][t] = true;
        work.push_back(t);
      }
    }
  }
}

// Modules with every file's imports before it (post-order from the roots):
// when a policy clashes with the library it imports, the library's
// declaration is the one kept and the policy's is reported.
static std::vector<const ast::Module*> imports_first(const ast::Program& program) {
  std::unordered_map<FileId, const ast::Module*> by_file;
  for (const auto& m : program.modules)
    if (m) by_file[m->file] = m.get();
  std::vector<const ast::Module*> order;
  std::unordered_map<const ast::Module*, bool> visited;
  std::vector<std::pair<const ast::Module*, size_t>> stack;  // iterative: import chains may be long
  auto visit = [&](const ast::Module* root) {
    if (!root || visited[root]) return;
    visited[root] = true;
    stack.push_back({root, 0});
    while (!stack.empty()) {
      auto& [m, next] = stack.back();
      if (next < m->imports.size()) {
        auto it = by_file.find(m->imports[next++]);
        if (it != by_file.end() && !visited[it->second]) {
          visited[it->second] = true;
          stack.push_back({it->second, 0});
        }
        continue;
      }
      order.push_back(m);
      stack.pop_back();
    }
  };
  for (const auto& m : program.modules) visit(m.get());
  return order;
}

void Checker::collect_names() {
  std::unordered_map<std::string, const ast::Decl*> test_titles;
  for (const ast::Module* m : imports_first(program_)) {
    for (const auto& d : m->decls) {
      decl_file_[d.get()] = m->file;
      if (d->kind == ast::DeclKind::Test) {
        auto [it, fresh] = test_titles.emplace(d->name, d.get());
        if (!fresh) {
          auto& diag =
              sink_.error("E0405", d->name_span, fmt::format("a test named `{}` already exists", d->name));
          diag.labels.push_back({it->second->name_span, "first declared here"});
          diag.help = "give each test its own title, so a failure names one test";
        }
        continue;
      }
      if (!is_named_decl(d->kind) || d->name.empty()) continue;
      auto [it, fresh] = names_.emplace(d->name, d.get());
      if (fresh) continue;
      const ast::Decl* first = it->second;
      auto& diag = sink_.error("E0109", d->name_span, fmt::format("`{}` is already declared", d->name));
      diag.labels.push_back(
          {first->name_span, fmt::format("first declared here as {}", a_decl_kind(first->kind))});
      diag.help =
          file_of(first) == m->file
              ? "every name in a program is declared once; rename one of them"
              : "every name in a program is declared once, across all imported files; rename one of them";
    }
  }
}

FileId Checker::file_of(const ast::Decl* d) const {
  auto it = decl_file_.find(d);
  return it == decl_file_.end() ? kNoFile : it->second;
}

bool Checker::file_has_failed_import(FileId f) const {
  return f < failed_import_.size() && failed_import_[f];
}

const ast::Decl* Checker::lookup(const std::string& name, FileId) const {
  auto it = names_.find(name);
  return it == names_.end() ? nullptr : it->second;
}

bool Checker::visible(const ast::Decl* d, FileId from) const {
  FileId target = file_of(d);
  if (from == kNoFile || target == kNoFile || from >= visible_.size()) return true;
  return visible_[from][target];
}

std::string Checker::import_hint(FileId from, FileId target) const {
  namespace fs = std::filesystem;
  const std::string& target_path = sources_.file(target).path;
  std::string rel = target_path;
  if (from < sources_.size()) {
    fs::path base = fs::path(sources_.file(from).path).parent_path();
    fs::path r = fs::path(target_path).lexically_relative(base);
    if (!r.empty()) rel = r.generic_string();
  }
  return fmt::format("add `import \"{}\"` to this file", rel);
}

const std::vector<std::string>& Checker::names_of(std::initializer_list<ast::DeclKind> kinds, FileId) {
  uint32_t mask = 0;
  for (ast::DeclKind k : kinds) mask |= 1u << static_cast<unsigned>(k);
  auto [it, fresh] = names_cache_.try_emplace(mask);
  if (!fresh) return it->second;
  for (const auto& [name, d] : names_)
    if (mask & (1u << static_cast<unsigned>(d->kind))) it->second.push_back(name);
  std::sort(it->second.begin(), it->second.end());
  return it->second;
}

std::string Checker::near(const std::string& word, const std::vector<std::string>& candidates) {
  // Each comparison is an edit distance; a file with thousands of unknown
  // names among thousands of declared ones must not make checking quadratic.
  if (sink_.limit_reached() || suggestion_budget_ < candidates.size()) return {};
  suggestion_budget_ -= candidates.size();
  return closest_match(word, candidates);
}

std::string Checker::name_help(const std::string& word, const std::vector<std::string>& candidates) {
  std::string near = this->near(word, candidates);
  if (!near.empty()) return fmt::format("did you mean `{}`?", near);
  // A name the docs use unversioned, declared in the library once per edition.
  auto lower = [](std::string v) {
    for (char& c : v) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return v;
  };
  std::vector<std::string> extending;
  const std::string lw = lower(word);
  for (const std::string& c : candidates)
    if (c.size() > word.size() + 1 && lower(c.substr(0, word.size())) == lw && c[word.size()] == '_')
      extending.push_back(c);
  if (extending.empty() || extending.size() > 8) return {};
  std::string list;
  for (size_t i = 0; i < extending.size(); ++i)
    list += (i == 0 ? "" : i + 1 == extending.size() ? " or " : ", ") + ("`" + extending[i] + "`");
  std::string where;
  if (const ast::Decl* d = lookup(extending[0], kNoFile))
    where = fmt::format(" (declared in `{}`)", sources_.file(file_of(d)).path);
  return fmt::format("did you mean {}{}?", list, where);
}

std::string Checker::field_help(const std::string& word, const std::vector<std::string>& fields,
                                const std::string& whose) {
  std::string near = this->near(word, fields);
  if (!near.empty()) return fmt::format("did you mean `{}`?", near);
  if (fields.empty()) return {};
  return fmt::format("the fields of {}, nearest first: {}", whose,
                     backticked_list(nearest_first(word, fields), fields.size()));
}

std::string value_key(const Value& v) {
  return std::to_string(static_cast<int>(v.kind)) + ":" + value_to_source(v);
}

std::vector<std::string> Checker::event_kind_names() const {
  std::vector<std::string> out;
  for (int i : out_.events) out.push_back(out_.records[i].name);
  return out;
}

const ast::Decl* Checker::resolve_global(const std::string& name, Span where, FileId from, const char* what,
                                         const std::vector<std::string>& candidates, const char* code) {
  if (name.empty()) return nullptr;
  if (const ast::Decl* d = lookup(name, from)) {
    if (!visible(d, from)) {
      FileId target = file_of(d);
      auto& diag = sink_.error("E0108", where,
                               fmt::format("`{}` is declared in `{}`, which this file does not import", name,
                                           sources_.file(target).path));
      diag.help = import_hint(from, target);
      diag.labels.push_back({d->name_span, "declared here"});
    }
    return d;
  }
  // A file whose import failed to load may well name what that file declares;
  // the failed import is already reported.
  if (file_has_failed_import(from)) return nullptr;
  auto& diag = sink_.error(code, where, fmt::format("unknown {} `{}`", what, name));
  std::string near = this->near(name, candidates);
  if (!near.empty())
    diag.help = fmt::format("did you mean `{}`?", near);
  else if (std::string_view(code) == "E0106")
    diag.help = fmt::format(
        "declare it with `example {}: KIND = {{ ... }}`, or give the event inline: `given KIND {{ ... }}`",
        name);
  else if (std::string_view(code) == "E0105")
    diag.help = "name a rule declared with `rule NAME on KIND` in this file or one it imports";
  return nullptr;
}

void Checker::mark_used(const ast::Decl* d, const Scope& s) {
  if (d && d != s.owner) used_[d] = true;
}

int Checker::outcome_index(std::string_view name) const {
  for (size_t i = 0; i < out_.outcomes.size(); ++i)
    if (out_.outcomes[i] == name) return static_cast<int>(i);
  return -1;
}

// ---- policy metadata and outcomes -----------------------------------------------

void Checker::check_policies() {
  for (const auto& m : program_.modules) {
    if (!m) continue;
    const ast::PolicyDecl* first = nullptr;
    for (const auto& d : m->decls) {
      if (d->kind != ast::DeclKind::Policy) continue;
      const auto& p = static_cast<const ast::PolicyDecl&>(*d);
      if (first) {
        auto& diag = sink_.error("E0318", p.name_span, "a file declares at most one `policy`");
        diag.labels.push_back({first->name_span, "the file's policy is declared here"});
        diag.help = "split the rules into two files, each with its own `policy`, or merge the declarations";
        continue;
      }
      first = &p;
      PolicyInfo info{p.name, p.version, p.source, p.status.empty() ? "in_force" : p.status, m->file};
      if (!p.status.empty() &&
          std::find(std::begin(kStatuses), std::end(kStatuses), p.status) == std::end(kStatuses)) {
        auto& diag = sink_.error("E0319", p.status_span, fmt::format("unknown policy status `{}`", p.status));
        std::string near = this->near(p.status, {std::begin(kStatuses), std::end(kStatuses)});
        diag.help = near.empty()
                        ? "the status is one of `in_force`, `proposed`, `not_enforced`, `hypothetical`"
                        : fmt::format("did you mean `{}`?", near);
      }
      policy_of_file_[m->file] = static_cast<int>(out_.policies.size());
      out_.policies.push_back(std::move(info));
    }
  }
}

void Checker::check_outcomes() {
  const ast::OutcomesDecl* first = nullptr;
  const ast::DefaultDecl* first_default = nullptr;
  for (const auto& m : program_.modules) {
    if (!m) continue;
    for (const auto& d : m->decls) {
      if (d->kind == ast::DeclKind::Outcomes) {
        const auto& o = static_cast<const ast::OutcomesDecl&>(*d);
        if (first) {
          auto& diag = sink_.error("E0315", o.span, "the outcomes are already declared");
          diag.labels.push_back({first->span, "first declared here"});
          diag.help = "a program declares its ordered outcomes once";
          continue;
        }
        first = &o;
      } else if (d->kind == ast::DeclKind::Default) {
        if (first_default) {
          auto& diag = sink_.error("E0316", d->span, "the default decision is already declared");
          diag.labels.push_back({first_default->span, "first declared here"});
          continue;
        }
        first_default = static_cast<const ast::DefaultDecl*>(d.get());
      }
    }
  }
  if (first) {
    outcomes_declared_ = true;
    std::unordered_map<std::string, Span> seen;
    for (const ast::Ident& id : first->order) {
      if (id.name == "error") {
        auto& diag = sink_.error("E0317", id.span, "`error` cannot be declared as an outcome");
        diag.help =
            "`error` is the decision of an event a rule could not evaluate, and outranks every outcome";
        continue;
      }
      auto [it, fresh] = seen.emplace(id.name, id.span);
      if (!fresh) {
        auto& diag = sink_.error("E0317", id.span, fmt::format("outcome `{}` is listed twice", id.name));
        diag.labels.push_back({it->second, "first listed here"});
        continue;
      }
      out_.outcomes.push_back(id.name);
    }
  }
  if (out_.outcomes.empty()) out_.outcomes = {"allow", "report", "review", "deny"};
  out_.default_outcome = 0;
  if (first_default) {
    int idx = outcome_index(first_default->name);
    if (idx >= 0) {
      out_.default_outcome = idx;
    } else if (!first_default->name.empty()) {
      auto& diag = sink_.error("E0104", first_default->name_span,
                               fmt::format("unknown outcome `{}`", first_default->name));
      std::string near = this->near(first_default->name, out_.outcomes);
      if (first_default->name == "error")
        diag.help = "`error` is reserved for events a rule could not evaluate; name an outcome";
      else if (!near.empty())
        diag.help = fmt::format("did you mean `{}`?", near);
      else
        diag.help = fmt::format("the outcomes, nearest first, are {}",
                                backticked_list(nearest_first(first_default->name, out_.outcomes), 12));
    }
  }
}

// ---- types as written -------------------------------------------------------

Type Checker::resolve_type(const ast::TypeExpr& t, TypeUse use) {
  if (t.is_record()) {
    auto& diag = sink_.error("E0218", t.span, "a record type cannot be used here");
    diag.help = "record types describe table rows: `table chips: string -> { tpp: int } = { ... }`";
    return Type::error();
  }
  if (t.name == "set") {
    auto& diag = sink_.error("E0218", t.span, "a set type cannot be used here");
    diag.help = use == TypeUse::SetElement
                    ? "write the element type after the colon: `set D5: country = { ... }`"
                    : "sets are compile-time values: declare one with `set NAME: country = { ... }` and use "
                      "it by name";
    return Type::error();
  }
  TypeKind kind = scalar_type_named(t.name);
  if (kind == TypeKind::Error) {
    auto& diag = sink_.error("E0107", t.span, fmt::format("unknown type `{}`", t.name));
    static const std::pair<const char*, const char*> kAliases[] = {
        {"float", "number"}, {"double", "number"},     {"real", "number"},    {"decimal", "number"},
        {"integer", "int"},  {"long", "int"},          {"int64", "int"},      {"str", "string"},
        {"text", "string"},  {"boolean", "bool"},      {"datetime", "time"},  {"timestamp", "time"},
        {"instant", "time"}, {"interval", "duration"}, {"Country", "country"}};
    std::string near;
    for (const auto& [alias, real] : kAliases)
      if (t.name == alias) near = real;
    if (near.empty()) {
      std::vector<std::string> names;
      for (const ScalarTypeName& s : scalar_type_names()) names.emplace_back(s.name);
      near = closest_match(t.name, names);
    }
    diag.help = near.empty()
                    ? "the types are `bool`, `int`, `number`, `string`, `country`, `time`, `date`, `duration`"
                    : fmt::format("did you mean `{}`?", near);
    return Type::error();
  }
  if (!t.args.empty()) {
    sink_.error("E0219", t.span, fmt::format("`{}` takes no type arguments", t.name));
    return Type::error();
  }
  Type r = Type::of(kind);
  if (t.optional) {
    if (use == TypeUse::EventField || use == TypeUse::TableCell) {
      r.optional = true;
    } else {
      auto& diag = sink_.error("E0218", t.span, fmt::format("`{}?` cannot be used here", t.name));
      diag.help = "only event fields and table cells may be optional";
    }
  }
  return r;
}

// ---- events, tables, sets, defs -----------------------------------------------

void Checker::declare_events() {
  for (const auto& m : program_.modules) {
    if (!m) continue;
    for (const auto& d : m->decls) {
      if (d->kind != ast::DeclKind::Event) continue;
      const auto& ev = static_cast<const ast::EventDecl&>(*d);
      if (ev.name.empty() || lookup(ev.name, m->file) != &ev) continue;  // a clash, reported
      RecordSchema schema;
      schema.name = ev.name;
      schema.is_event = true;
      schema.decl = &ev;
      std::unordered_map<std::string, Span> seen;
      Span first_time;
      for (const ast::FieldDecl& f : ev.fields) {
        auto [it, fresh] = seen.emplace(f.name, f.name_span);
        if (!fresh) {
          auto& diag = sink_.error("E0300", f.name_span, fmt::format("field `{}` is declared twice", f.name));
          diag.labels.push_back({it->second, "first declared here"});
          continue;
        }
        Type t = resolve_type(f.type, TypeUse::EventField);
        if (t.kind == TypeKind::Time) {
          if (schema.time_field >= 0) {
            auto& diag = sink_.error("E0302", f.name_span,
                                     fmt::format("event `{}` has more than one `time` field", ev.name));
            diag.labels.push_back({first_time, "the event's time"});
            diag.help = "an event has exactly one `time` field, its time, used for effective dating";
          } else {
            schema.time_field = static_cast<int>(schema.fields.size());
            first_time = f.name_span;
            if (t.optional) {
              auto& diag = sink_.error("E0303", f.type.span,
                                       fmt::format("the time of event `{}` cannot be optional", ev.name));
              diag.help = "every event has a time: rules are in force over a range of event times";
            }
          }
        }
        schema.fields.push_back(FieldInfo{f.name, t, f.name_span});
      }
      if (schema.time_field < 0) {
        auto& diag =
            sink_.error("E0301", ev.name_span, fmt::format("event `{}` has no `time` field", ev.name));
        diag.help = "add the event's time, e.g. `time: time`; rules are in force over a range of event times";
      }
      event_record_[&ev] = static_cast<int>(out_.records.size());
      out_.events.push_back(static_cast<int>(out_.records.size()));
      out_.records.push_back(std::move(schema));
    }
  }
  if (!out_.events.empty()) return;
  for (const auto& m : program_.modules) {
    if (!m) continue;
    for (const auto& d : m->decls) {
      if (d->kind != ast::DeclKind::Rule) continue;
      if (file_has_failed_import(m->file)) return;  // the schemas were in the file it could not read
      auto& diag = sink_.error("E0304", d->name_span, "no event is declared for rules to apply to");
      diag.help = "declare the event's schema, e.g. `event rental { time: time, chip: string }`";
      return;
    }
  }
}

void Checker::declare_tables_and_sets() {
  for (const auto& m : program_.modules) {
    if (!m) continue;
    for (const auto& d : m->decls) {
      if (d->kind != ast::DeclKind::Table) continue;
      const auto& t = static_cast<const ast::TableDecl&>(*d);
      TableInfo info;
      info.decl = &t;
      info.external = t.data != nullptr;
      Type key = resolve_type(t.key_type, TypeUse::TableKey);
      info.key = key.kind;
      RecordSchema row;
      row.name = t.name;
      row.decl = &t;
      if (!t.value_type.is_record()) {
        auto& diag = sink_.error("E0218", t.value_type.span, "the rows of a table must be records");
        diag.help =
            "write the row type as fields: `table chips: string -> { tpp: int, die_area: number } = ...`";
      } else {
        std::unordered_map<std::string, Span> seen;
        for (const ast::FieldDecl& f : t.value_type.fields) {
          auto [it, fresh] = seen.emplace(f.name, f.name_span);
          if (!fresh) {
            auto& diag =
                sink_.error("E0300", f.name_span, fmt::format("field `{}` is declared twice", f.name));
            diag.labels.push_back({it->second, "first declared here"});
            continue;
          }
          if (t.data && f.type.name == "set" && f.type.args.size() == 1 && f.type.args[0].name == "string") {
            info.list_fields.push_back(f.name);  // aliases: for screening, not a row value
            continue;
          }
          row.fields.push_back(FieldInfo{f.name, resolve_type(f.type, TypeUse::TableCell), f.name_span});
        }
        if (t.data && t.data->screen_span.valid()) add_score_field(t, row, info);
      }
      info.record = static_cast<int>(out_.records.size());
      out_.records.push_back(std::move(row));
      table_of_[&t] = static_cast<int>(out_.tables.size());
      out_.tables.push_back(std::move(info));
    }
  }
}

// `list[name].score`: how well the lookup's name matched the entry, in
// [threshold, 1]. A field of the match, so it reads like the row's others; a
// declared field of that name would hide it, so it is refused.
void Checker::add_score_field(const ast::TableDecl& t, RecordSchema& row, TableInfo& info) {
  int declared = row.field_index(kScoreField);
  if (declared >= 0) {
    auto& diag =
        sink_.error("E0320", row.fields[static_cast<size_t>(declared)].span,
                    fmt::format("data `{}` screens names, so `{}` is the score of its matches, not a column",
                                t.name, kScoreField));
    diag.labels.push_back({t.data->screen_span, "names are screened here"});
    diag.help = fmt::format("rename the field and map it to its column: `columns {{ {}_value: \"{}\" }}`",
                            kScoreField, kScoreField);
    return;
  }
  info.score_field = static_cast<int>(row.fields.size());
  row.fields.push_back(FieldInfo{kScoreField, Type::of(TypeKind::Number), t.data->screen_span});
}

void Checker::declare_defs() {
  for (const auto& m : program_.modules) {
    if (!m) continue;
    for (const auto& d : m->decls) {
      if (d->kind != ast::DeclKind::Def) continue;
      const auto& def = static_cast<const ast::DefDecl&>(*d);
      DefSignature sig;
      std::unordered_map<std::string, Span> seen;
      for (const ast::Param& p : def.params) {
        auto [it, fresh] = seen.emplace(p.name, p.name_span);
        if (!fresh) {
          auto& diag =
              sink_.error("E0112", p.name_span, fmt::format("parameter `{}` is declared twice", p.name));
          diag.labels.push_back({it->second, "first declared here"});
        }
        sig.params.push_back(resolve_type(p.type, TypeUse::Param));
      }
      sig.result = resolve_type(def.result, TypeUse::Result);
      defs_[&def] = std::move(sig);
    }
  }
}

// ---- consts and sets: checked on demand, in dependency order ------------------

void Checker::ensure_const(const ast::ConstDecl& d, Span use_site) {
  ConstState& st = consts_[&d];
  if (st.state == State::Done) return;
  if (st.state == State::InProgress) {
    auto& diag = sink_.error("E0305", use_site, fmt::format("`{}` is defined in terms of itself", d.name));
    diag.labels.push_back({d.name_span, "declared here"});
    return;
  }
  if (lazy_depth_ >= kMaxLazyDepth) {
    sink_.error("E0305", use_site,
                fmt::format("`{}` depends on more than {} nested constants", d.name, kMaxLazyDepth));
    return;
  }
  st.state = State::InProgress;
  ++lazy_depth_;
  Scope s;
  s.file = file_of(&d);
  s.owner = &d;
  Type declared = d.type ? resolve_type(*d.type, TypeUse::ConstAnnotation) : Type::error();
  Type t = d.value ? expr(*d.value, s, d.type ? &declared : nullptr) : Type::error();
  --lazy_depth_;
  if (d.type && declared.is_error()) t = Type::error();
  if (!t.is_error() && (t.kind == TypeKind::Set || t.kind == TypeKind::Table || t.kind == TypeKind::Record ||
                        t.kind == TypeKind::Event)) {
    auto& diag = sink_.error("E0200", d.value->span,
                             fmt::format("a constant holds a single value, found {}", type_text(t)));
    if (t.kind == TypeKind::Set) diag.help = "declare a set with `set NAME: country = { ... }`";
    t = Type::error();
  }
  if (!t.is_error() && d.type) {
    if (expect_type(*d.value, t, declared, fmt::format("the value of `{}`", d.name)))
      t = declared;
    else
      t = Type::error();
  }
  if (!t.is_error()) {
    t = require_value(*d.value, t);
    auto v = constant_as(*d.value, t);
    if (v) {
      consts_[&d].value = *v;
    } else {
      auto& diag = sink_.error("E0211", d.value->span,
                               fmt::format("the value of `{}` must be known at compile time", d.name));
      diag.help =
          "constants are made of literals, other constants and operators; not `event`, tables or calls";
      t = Type::error();
    }
  }
  ConstState& done = consts_[&d];
  done.type = t;
  done.state = State::Done;
}

void Checker::check_consts() {
  for (const auto& m : program_.modules) {
    if (!m) continue;
    for (const auto& d : m->decls)
      if (d->kind == ast::DeclKind::Const) ensure_const(static_cast<const ast::ConstDecl&>(*d), d->name_span);
  }
}

void Checker::ensure_set(const ast::SetDecl& d, Span use_site) {
  State& st = set_state_[&d];
  if (st == State::Done) return;
  if (st == State::InProgress) {
    auto& diag = sink_.error("E0305", use_site, fmt::format("`{}` is defined in terms of itself", d.name));
    diag.labels.push_back({d.name_span, "declared here"});
    return;
  }
  if (lazy_depth_ >= kMaxLazyDepth) {
    sink_.error("E0305", use_site,
                fmt::format("`{}` depends on more than {} nested sets", d.name, kMaxLazyDepth));
    return;
  }
  st = State::InProgress;
  ++lazy_depth_;
  Scope s;
  s.file = file_of(&d);
  s.owner = &d;
  Type elem = resolve_type(d.element_type, TypeUse::SetElement);
  Type want = Type::set_of(elem.kind);
  Type t = d.value ? expr(*d.value, s, elem.is_error() ? nullptr : &want) : Type::error();
  --lazy_depth_;
  std::vector<Value> members;
  if (!t.is_error() && !elem.is_error()) {
    if (t.kind != TypeKind::Set) {
      auto& diag =
          sink_.error("E0200", d.value->span,
                      fmt::format("the value of set `{}` must be a set, found {}", d.name, type_text(t)));
      diag.help = "write the members in braces: `{ \"CN\", \"RU\" }`";
    } else if (coerce(*d.value, t, want)) {
      int idx = out_.set_index[d.value->id];
      if (idx >= 0) members = out_.sets[idx].members;
    } else {
      sink_.error(
          "E0200", d.value->span,
          fmt::format("set `{}` holds {}, but its value is {}", d.name, type_text(elem), type_text(t)));
    }
  }
  if (elem.kind == TypeKind::Number)
    for (Value& v : members)
      if (v.kind == TypeKind::Int) v = Value::make_number(static_cast<double>(v.i));
  // The value expression's own anonymous set becomes the named one, so
  // lowering sees one SetInfo per set.
  int idx = d.value && d.value->id < out_.set_index.size() ? out_.set_index[d.value->id] : -1;
  if (idx >= 0 && out_.sets[idx].decl == nullptr && d.value->kind == ast::ExprKind::SetLit) {
    out_.sets[idx].decl = &d;
    out_.sets[idx].element = elem.kind;
    out_.sets[idx].members = std::move(members);
  } else {
    idx = new_set(elem.kind, std::move(members), &d, d.name_span);
    if (d.value && d.value->id < out_.set_index.size() && !t.is_error()) out_.set_index[d.value->id] = idx;
  }
  set_of_[&d] = idx;
  set_state_[&d] = State::Done;
}

void Checker::check_sets() {
  for (const auto& m : program_.modules) {
    if (!m) continue;
    for (const auto& d : m->decls)
      if (d->kind == ast::DeclKind::Set) ensure_set(static_cast<const ast::SetDecl&>(*d), d->name_span);
  }
}

// ---- tables -------------------------------------------------------------------

void Checker::check_tables() {
  for (const auto& m : program_.modules) {
    if (!m) continue;
    for (const auto& d : m->decls)
      if (d->kind == ast::DeclKind::Table) check_table_rows(static_cast<const ast::TableDecl&>(*d), m->file);
  }
}

void Checker::check_data_spec(const ast::TableDecl& d) {
  const ast::DataSpec& spec = *d.data;
  const TableInfo& info = out_.tables[table_of_.at(&d)];
  const RecordSchema& row = out_.records[info.record];
  auto declared = [&](const std::string& f) {
    return (row.field_index(f) >= 0 && row.field_index(f) != info.score_field) ||
           std::find(info.list_fields.begin(), info.list_fields.end(), f) != info.list_fields.end();
  };
  if (!spec.key_span.valid()) {
    auto& diag = sink_.error("E0320", d.name_span,
                             fmt::format("data `{}` does not say which column is its key", d.name));
    diag.help = "name the file's key column after `from`: `key \"id\"`";
  }
  for (const ast::DataSpec::ColumnName& c : spec.columns)
    if (info.score_field >= 0 && c.field == kScoreField)
      sink_.error("E0320", c.field_span,
                  fmt::format("`{}` of data `{}` is the score of a screening match, which has no column",
                              c.field, d.name));
    else if (!declared(c.field))
      sink_.error("E0320", c.field_span,
                  fmt::format("`columns` names `{}`, which is not a field of data `{}`", c.field, d.name));
  auto dated = [&](const std::string& f, Span at) {
    if (f.empty()) return;
    int i = row.field_index(f);
    if (i < 0 || i == info.score_field) {
      sink_.error("E0320", at,
                  fmt::format("`in force` names `{}`, which is not a field of data `{}`", f, d.name));
      return;
    }
    TypeKind k = row.fields[static_cast<size_t>(i)].type.kind;
    if (k != TypeKind::Date && k != TypeKind::Time && k != TypeKind::Error) {
      auto& diag = sink_.error("E0320", at,
                               fmt::format("`{}` dates a row in force, so it must be a date or a time", f));
      diag.help = fmt::format("declare it `{}: date` (or `date?` when some rows have none)", f);
    }
  };
  dated(spec.in_force_from, spec.from_span);
  dated(spec.in_force_until, spec.until_span);
  if (!spec.screen_span.valid()) return;
  if (info.key != TypeKind::String && info.key != TypeKind::Error) {
    auto& diag =
        sink_.error("E0320", d.key_type.span, "a data source that screens names is looked up by a name");
    diag.help = "declare its key type `string`: `data entity_list: string -> { ... }`";
  }
  for (const ast::Ident& f : spec.screen_fields) {
    int i = row.field_index(f.name);
    bool is_list =
        std::find(info.list_fields.begin(), info.list_fields.end(), f.name) != info.list_fields.end();
    if (is_list) continue;
    if (i < 0 || i == info.score_field) {
      sink_.error("E0320", f.span,
                  fmt::format("`screen` names `{}`, which is not a field of data `{}`", f.name, d.name));
    } else if (row.fields[static_cast<size_t>(i)].type.kind != TypeKind::String) {
      auto& diag = sink_.error(
          "E0320", f.span, fmt::format("`{}` is screened, so it must be a string or set<string>", f.name));
      diag.help = "screen the fields that hold names and aliases";
    }
  }
  if (!(spec.threshold > 0 && spec.threshold <= 1)) {
    auto& diag = sink_.error("E0320", spec.threshold_span,
                             fmt::format("the screening threshold {} is not in (0, 1]", spec.threshold_text));
    diag.help = "a similarity of 1 is the same name; the shipped library uses 0.9";
  }
}

void Checker::check_table_rows(const ast::TableDecl& d, FileId file) {
  if (d.data) return check_data_spec(d);
  TableInfo& info = out_.tables[table_of_.at(&d)];
  const int record = info.record;
  const Type key_type = Type::of(info.key);
  std::unordered_map<std::string, Span> seen_keys;
  Scope s;
  s.file = file;
  s.owner = &d;
  for (const ast::TableRow& row : d.rows) {
    Value key;
    if (row.key) {
      Type kt = expr(*row.key, s, key_type.is_error() ? nullptr : &key_type);
      if (!kt.is_error() && !key_type.is_error() &&
          expect_type(*row.key, kt, key_type, fmt::format("a key of `{}`", d.name))) {
        if (auto v = constant_as(*row.key, key_type)) {
          key = *v;
          auto [dup, fresh] = seen_keys.emplace(value_key(key), row.key->span);
          if (!fresh) {
            auto& diag = sink_.error(
                "E0308", row.key->span,
                fmt::format("key `{}` appears twice in table `{}`", value_to_source(key), d.name));
            diag.labels.push_back({dup->second, "first row with this key"});
          }
        } else {
          auto& diag = sink_.error("E0211", row.key->span, "table keys must be known at compile time");
          diag.help = "write the key as a literal, like `\"H100-SXM5-80GB\"`";
        }
      }
    }
    const RecordSchema& schema = out_.records[record];
    std::vector<Value> cells(schema.fields.size());
    if (row.value && row.value->kind == ast::ExprKind::RecordLit) {
      const ast::Expr& rec = *row.value;
      out_.expr_types[rec.id] = Type{TypeKind::Record, TypeKind::Error, record, false};
      std::vector<Span> given(schema.fields.size());
      RecordLiteralText text{
          fmt::format("table `{}`", d.name), false, [&](const ast::FieldInit&, const ast::Expr& value) {
            auto& diag = sink_.error("E0211", value.span, "table cells must be known at compile time");
            diag.help = "write the value as a literal or a constant";
          }};
      record_literal_fields(rec, schema, s, text, cells, given);
      std::vector<std::string> missing;
      for (size_t i = 0; i < schema.fields.size(); ++i)
        if (!given[i].valid() && !schema.fields[i].type.optional && !schema.fields[i].type.is_error())
          missing.push_back(schema.fields[i].name);
      if (!missing.empty()) {
        auto& diag =
            sink_.error("E0309", row.key ? row.key->span : row.span,
                        fmt::format("this row of `{}` is missing {} {}", d.name,
                                    missing.size() == 1 ? "field" : "fields", backticked_list(missing)));
        diag.help = "every field that is not optional (`T?`) needs a value";
      }
    } else if (row.value && row.value->kind != ast::ExprKind::Error) {
      auto& diag =
          sink_.error("E0200", row.value->span, fmt::format("a row of table `{}` must be a record", d.name));
      diag.help = "write the row's fields in braces: `{ tpp: 15832, die_area: 814 }`";
      expr(*row.value, s);
    }
    info.keys.push_back(std::move(key));
    info.cells.push_back(std::move(cells));
  }
}

void Checker::record_literal_fields(const ast::Expr& rec, const RecordSchema& schema, Scope& s,
                                    const RecordLiteralText& text, std::vector<Value>& values,
                                    std::vector<Span>& given) {
  for (size_t i = 0; i < rec.fields.size() && i < rec.children.size(); ++i) {
    const ast::FieldInit& f = rec.fields[i];
    if (!rec.children[i]) continue;
    const ast::Expr& value = *rec.children[i];
    int fi = schema.field_index(f.name);
    if (fi < 0) {
      auto& diag = sink_.error("E0103", f.name_span, fmt::format("{} has no field `{}`", text.owner, f.name));
      std::vector<std::string> names;
      for (const auto& fd : schema.fields) names.push_back(fd.name);
      if (text.list_fields) {
        // As for `event.<field>` in a rule: a near name, or the fields to pick from.
        diag.help = field_help(f.name, names, "`" + schema.name + "`");
      } else if (std::string close = near(f.name, names); !close.empty()) {
        diag.help = fmt::format("did you mean `{}`?", close);
      }
      expr(value, s);
      continue;
    }
    if (given[fi].valid()) {
      auto& diag = sink_.error("E0300", f.name_span, fmt::format("field `{}` is given twice", f.name));
      diag.labels.push_back({given[fi], "first given here"});
      continue;
    }
    given[fi] = f.name_span;
    Type want = schema.fields[fi].type.required();
    Type t = expr(value, s, want.is_error() ? nullptr : &want);
    if (t.is_error() || want.is_error()) continue;
    if (!expect_type(value, t, want, fmt::format("field `{}`", f.name))) continue;
    if (auto v = constant_as(value, want))
      values[fi] = *v;
    else
      text.not_constant(f, value);
  }
}

// ---- defs -------------------------------------------------------------------------

void Checker::check_def_bodies() {
  for (const auto& m : program_.modules) {
    if (!m) continue;
    for (const auto& d : m->decls) {
      if (d->kind != ast::DeclKind::Def) continue;
      const auto& def = static_cast<const ast::DefDecl&>(*d);
      const DefSignature& sig = defs_.at(&def);
      Scope s;
      s.file = m->file;
      s.owner = &def;
      s.def = &def;
      s.param_types = &sig.params;
      if (!def.body) continue;
      Type t = expr(*def.body, s, sig.result.is_error() ? nullptr : &sig.result);
      if (t.is_error() || sig.result.is_error()) continue;
      t = require_value(*def.body, t);
      if (!coerce(*def.body, t, sig.result)) {
        auto& diag = sink_.error("E0307", def.body->span,
                                 fmt::format("the body of `{}` is {}, but `{}` returns {}", def.name,
                                             type_text(t), def.name, type_text(sig.result)));
        diag.labels.push_back({def.result.span, "the result type"});
      }
    }
  }
}

namespace {

// Tarjan's strongly connected components, iteratively (a chain of thousands
// of defs must not exhaust the stack): each node's component, numbered from
// 0; their number in `components`.
std::vector<int> strongly_connected_components(const std::vector<std::vector<std::pair<int, Span>>>& edges,
                                               int& components) {
  const int n = static_cast<int>(edges.size());
  std::vector<int> index(n, -1), low(n, 0), component(n, -1);
  std::vector<bool> on_stack(n, false);
  std::vector<int> stack;
  int counter = 0;
  components = 0;
  for (int root = 0; root < n; ++root) {
    if (index[root] >= 0) continue;
    std::vector<std::pair<int, size_t>> work{{root, 0}};
    index[root] = low[root] = counter++;
    stack.push_back(root);
    on_stack[root] = true;
    while (!work.empty()) {
      auto& [v, next] = work.back();
      if (next < edges[v].size()) {
        int w = edges[v][next++].first;
        if (index[w] < 0) {
          index[w] = low[w] = counter++;
          stack.push_back(w);
          on_stack[w] = true;
          work.emplace_back(w, 0);
        } else if (on_stack[w]) {
          low[v] = std::min(low[v], index[w]);
        }
        continue;
      }
      int done = v;
      if (low[done] == index[done]) {
        int w;
        do {
          w = stack.back();
          stack.pop_back();
          on_stack[w] = false;
          component[w] = components;
        } while (w != done);
        ++components;
      }
      work.pop_back();
      if (!work.empty()) low[work.back().first] = std::min(low[work.back().first], low[done]);
    }
  }
  return component;
}

}  // namespace

// Each cycle of defs calling each other is reported once, at the def that
// comes first in the source, with the call sites that close it.
void Checker::check_recursion() {
  std::vector<const ast::Decl*> defs;
  std::unordered_map<const ast::Decl*, int> index_of;
  for (const auto& m : program_.modules) {
    if (!m) continue;
    for (const auto& d : m->decls)
      if (d->kind == ast::DeclKind::Def) {
        index_of[d.get()] = static_cast<int>(defs.size());
        defs.push_back(d.get());
      }
  }
  const int n = static_cast<int>(defs.size());
  std::vector<std::vector<std::pair<int, Span>>> edges(n);
  for (int i = 0; i < n; ++i) {
    auto it = calls_.find(defs[i]);
    if (it == calls_.end()) continue;
    for (const auto& [callee, span] : it->second) {
      auto c = index_of.find(callee);
      if (c != index_of.end()) edges[i].emplace_back(c->second, span);
    }
  }
  int components = 0;
  const std::vector<int> component = strongly_connected_components(edges, components);
  std::vector<bool> reported(components, false);
  for (int start = 0; start < n; ++start) {
    int c = component[start];
    if (reported[c]) continue;
    bool self_loop = false;
    bool bigger = false;
    for (const auto& [w, span] : edges[start]) {
      if (w == start)
        self_loop = true;
      else if (component[w] == c)
        bigger = true;
    }
    if (!self_loop && !bigger) continue;
    reported[c] = true;
    // Shortest path back to `start` inside the component, for the message.
    std::vector<int> prev(n, -1);
    std::vector<Span> via(n);
    std::vector<int> queue;
    int found_from = -1;
    Span closing;
    if (self_loop) {
      found_from = start;
      for (const auto& [w, span] : edges[start])
        if (w == start) {
          closing = span;
          break;
        }
    } else {
      queue.push_back(start);
      prev[start] = start;
      for (size_t qi = 0; qi < queue.size() && found_from < 0; ++qi) {
        int v = queue[qi];
        for (const auto& [w, span] : edges[v]) {
          if (component[w] != c) continue;
          if (w == start) {
            found_from = v;
            closing = span;
            break;
          }
          if (prev[w] < 0) {
            prev[w] = v;
            via[w] = span;
            queue.push_back(w);
          }
        }
      }
    }
    std::vector<int> path;  // start ... found_from
    for (int v = found_from; v != start && v >= 0; v = prev[v]) path.push_back(v);
    path.push_back(start);
    std::reverse(path.begin(), path.end());
    // Long cycles are shortened: the message stays one readable line.
    constexpr size_t kShown = 8;
    std::string chain;
    for (size_t i = 0; i < path.size(); ++i) {
      if (path.size() > kShown && i == kShown - 1) {
        chain += fmt::format("... ({} more) -> ", path.size() - kShown);
        i = path.size() - 1;
      }
      chain += "`" + defs[path[i]]->name + "` -> ";
    }
    chain += "`" + defs[start]->name + "`";
    auto& diag =
        sink_.error("E0306", defs[start]->name_span,
                    self_loop ? fmt::format("`{}` calls itself", defs[start]->name)
                              : fmt::format("`{}` calls itself through {}", defs[start]->name, chain));
    for (size_t i = 1; i < path.size() && i < kShown; ++i)
      diag.labels.push_back(
          {via[path[i]], fmt::format("`{}` calls `{}` here", defs[path[i - 1]]->name, defs[path[i]]->name)});
    diag.labels.push_back(
        {closing, fmt::format("`{}` calls `{}` here", defs[path.back()]->name, defs[start]->name)});
    diag.help =
        "Edict has no recursion, so that every policy terminates; compute the value without the cycle";
  }
}

// ---- rules ------------------------------------------------------------------------

void Checker::check_rules() {
  for (const auto& m : program_.modules) {
    if (!m) continue;
    for (const auto& d : m->decls)
      if (d->kind == ast::DeclKind::Rule) {
        rule_index_[d.get()] = static_cast<int>(out_.rules.size());
        out_.rules.emplace_back();
      }
  }
  for (const auto& m : program_.modules) {
    if (!m) continue;
    for (const auto& d : m->decls)
      if (d->kind == ast::DeclKind::Rule) check_rule(static_cast<const ast::RuleDecl&>(*d), m->file);
  }
}

void Checker::check_rule(const ast::RuleDecl& rule, FileId file) {
  RuleInfo info;
  info.decl = &rule;
  auto pol = policy_of_file_.find(file);
  info.policy = pol == policy_of_file_.end() ? -1 : pol->second;

  // Kinds.
  if (rule.on_any) {
    info.kinds = out_.events;
  } else if (!out_.events.empty()) {
    std::vector<Span> seen_spans;
    for (const ast::Ident& k : rule.kinds) {
      const ast::Decl* d = resolve_global(k.name, k.span, file, "event kind", event_kind_names(), "E0102");
      if (!d) continue;
      if (d->kind != ast::DeclKind::Event) {
        auto& diag = sink_.error("E0111", k.span,
                                 fmt::format("`{}` is {}, not an event kind", k.name, a_decl_kind(d->kind)));
        diag.labels.push_back({d->name_span, "declared here"});
        std::string near = this->near(k.name, event_kind_names());
        if (!near.empty()) diag.help = fmt::format("did you mean `{}`?", near);
        continue;
      }
      auto it = event_record_.find(d);
      if (it == event_record_.end()) continue;
      auto dup = std::find(info.kinds.begin(), info.kinds.end(), it->second);
      if (dup != info.kinds.end()) {
        auto& diag = sink_.error("E0311", k.span, fmt::format("event kind `{}` is listed twice", k.name));
        diag.labels.push_back({seen_spans[dup - info.kinds.begin()], "first listed here"});
        continue;
      }
      info.kinds.push_back(it->second);
      seen_spans.push_back(k.span);
    }
  }

  // Effect. Duplicate clauses and a missing effect are the parser's to report
  // (E0014, E0015): they are facts of the syntax.
  if (!rule.effect.name.empty()) {
    info.effect = outcome_index(rule.effect.name);
    if (info.effect < 0 && !(file_has_failed_import(file) && !outcomes_declared_)) {
      auto& diag =
          sink_.error("E0104", rule.effect.span, fmt::format("unknown outcome `{}`", rule.effect.name));
      std::string near = this->near(rule.effect.name, out_.outcomes);
      if (!near.empty())
        diag.help = fmt::format("did you mean `{}`?", near);
      else
        diag.help = fmt::format("the outcomes, nearest first, are {}{}",
                                backticked_list(nearest_first(rule.effect.name, out_.outcomes), 12),
                                outcomes_declared_ ? "" : " unless the program declares its own `outcomes`");
    }
  }

  // Effective range.
  auto date_of = [&](const ast::ExprPtr& e, const char* clause) -> std::optional<int64_t> {
    if (!e) return std::nullopt;
    if (e->kind == ast::ExprKind::Date || e->kind == ast::ExprKind::Time) {
      out_.expr_types[e->id] = Type::of(e->kind == ast::ExprKind::Date ? TypeKind::Date : TypeKind::Time);
      out_.constant[e->id] = Value{out_.expr_types[e->id].kind, e->int_value, 0, {}};
      return e->int_value;
    }
    if (e->kind != ast::ExprKind::Error) {
      auto& diag = sink_.error("E0314", e->span, fmt::format("`{}` takes a date or a time literal", clause));
      diag.help = "write the date itself, like `2023-11-17` or `2023-11-17T00:00:00Z`";
    }
    return std::nullopt;
  };
  info.effective_from = date_of(rule.effective, "effective");
  info.effective_until = date_of(rule.until, "until");
  if (info.effective_from && info.effective_until && *info.effective_until <= *info.effective_from &&
      !rule.damaged) {
    auto& diag = sink_.warning(
        "W0101", rule.until->span,
        fmt::format("rule `{}` is never in force: `until` is not after `effective`", rule.name));
    diag.labels.push_back({rule.effective->span, "in force from here"});
    diag.help = "`effective` is inclusive and `until` exclusive";
  }

  // Citation: required of the law as enforced, since every decision must name
  // its legal basis. The help names no citation: only the author knows it.
  if (rule.cite.empty() && !rule.damaged) {
    auto policy = policy_of_file_.find(file);
    bool in_force = policy != policy_of_file_.end() && out_.policies[policy->second].status == "in_force";
    auto& diag =
        in_force
            ? sink_.error("E0321", rule.name_span,
                          fmt::format("rule `{}` has no citation, and its policy is `in_force`", rule.name))
            : sink_.warning("W0104", rule.name_span, fmt::format("rule `{}` has no citation", rule.name));
    diag.help =
        "add `cite \"...\"` with the provision this rule applies, so every decision names its legal basis";
  }

  // Conditions and message, with the guards each may rely on.
  Scope s;
  s.file = file;
  s.owner = &rule;
  s.kinds = &info.kinds;
  auto condition = [&](const ast::ExprPtr& e, const char* clause) {
    if (!e) return;
    Type t = expr(*e, s);
    if (t.is_error()) return;
    t = require_value(*e, t);
    if (t.kind != TypeKind::Bool) {
      sink_.error("E0200", e->span,
                  fmt::format("`{}` needs a condition (`bool`), found {}", clause, type_text(t)));
      return;
    }
    warn_constant_condition(*e, clause);
  };
  condition(rule.when, "when");
  if (rule.when) facts_when(*rule.when, true, s.facts);
  condition(rule.unless, "unless");
  if (rule.unless) facts_when(*rule.unless, false, s.facts);
  if (rule.message) expr(*rule.message, s);

  out_.rules[rule_index_.at(&rule)] = std::move(info);
}

// ---- unused declarations --------------------------------------------------------

void Checker::warn_unused() {
  // With errors pending, an unused declaration is most often one whose use
  // is the broken line: the warning would only echo the error.
  if (!options_.warn_unused || sink_.has_errors()) return;
  // Examples exist for tests. A program without any test is most likely a
  // rules file checked on its own while its tests live in a `*_test.edict`
  // that imports it: its examples are not unused, just not loaded.
  const bool has_tests = !out_.tests.empty();
  for (const auto& m : program_.modules) {
    if (!m) continue;
    bool has_rules = std::any_of(m->decls.begin(), m->decls.end(),
                                 [](const auto& d) { return d->kind == ast::DeclKind::Rule; });
    if (!has_rules) continue;  // a library file: its declarations are for importers
    if (m->has_syntax_errors) continue;
    for (const auto& d : m->decls) {
      switch (d->kind) {
        case ast::DeclKind::Const:
        case ast::DeclKind::Set:
        case ast::DeclKind::Table:
        case ast::DeclKind::Def:
        case ast::DeclKind::Example: break;
        default: continue;
      }
      if (d->kind == ast::DeclKind::Example && !has_tests) continue;
      if (d->name.empty() || lookup(d->name, m->file) != d.get() || used_.count(d.get())) continue;
      const char* what = d->kind == ast::DeclKind::Const   ? "constant"
                         : d->kind == ast::DeclKind::Set   ? "set"
                         : d->kind == ast::DeclKind::Table ? "table"
                         : d->kind == ast::DeclKind::Def   ? "function"
                                                           : "example";
      auto& diag = sink_.warning("W0100", d->name_span, fmt::format("{} `{}` is never used", what, d->name));
      if (d->kind == ast::DeclKind::Example)
        diag.help = "use it in a test: `given " + d->name + "`";
      else
        diag.help = "remove it, or move it to a library file (one without rules) if other files need it";
    }
  }
}

}  // namespace detail
}  // namespace edict::check
