// Completion from the words before the cursor: event fields after `event.`,
// table row fields after another `.`, country codes (and string table keys)
// inside a string, outcomes after `expect` and `default`, event kinds
// after `on`, examples after `given`, rules after `by`, and otherwise the
// keywords and the names the program declares (its imports' included).
#include <set>

#include "lsp/features.h"
#include "support/countries.h"

namespace edict::lsp {
namespace {

// LSP CompletionItemKind numbers.
constexpr int kFunction = 3, kField = 5, kVariable = 6, kClass = 7, kValue = 12, kKeyword = 14,
              kEnumMember = 20, kConstant = 21, kStruct = 22, kEvent = 23;

const char* const kKeywords[] = {
    "policy", "version",   "source",  "status", "import", "outcomes", "default",   "event", "const",
    "set",    "table",     "def",     "rule",   "on",     "any",      "effective", "until", "cite",
    "when",   "unless",    "example", "test",   "given",  "with",     "expect",    "by",    "only",
    "and",    "or",        "not",     "in",     "is",     "present",  "absent",    "if",    "then",
    "else",   "otherwise", "true",    "false",  "over",   "where",    "distinct",  "data",  "from"};
const char* const kBuiltins[] = {"starts_with", "ends_with", "contains", "lower", "upper", "len",
                                 "sum",         "count",     "min",      "max",   "avg"};

bool word_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
}

struct Items {
  json list = json::array();
  std::set<std::string> seen;
  void add(const std::string& label, int kind, const std::string& detail = {}) {
    if (label.empty() || !seen.insert(label).second) return;
    json item{{"label", label}, {"kind", kind}};
    if (!detail.empty()) item["detail"] = detail;
    list.push_back(std::move(item));
  }
};

template <typename F>
void each_decl(const Analysis& a, F&& f) {
  if (!a.front.program) return;
  for (const auto& m : a.front.program->modules)
    for (const auto& d : m->decls)
      if (d) f(*d);
}

void add_fields(const Analysis& a, Items& items, bool events) {
  each_decl(a, [&](const ast::Decl& d) {
    const std::vector<ast::FieldDecl>* fields = nullptr;
    if (events && d.kind == ast::DeclKind::Event) fields = &static_cast<const ast::EventDecl&>(d).fields;
    if (!events && d.kind == ast::DeclKind::Table)
      fields = &static_cast<const ast::TableDecl&>(d).value_type.fields;
    if (fields)
      for (const ast::FieldDecl& f : *fields)
        items.add(f.name, kField, std::string(a.sources.text(f.type.span)) + " (" + d.name + ")");
  });
}

void add_outcomes(const Analysis& a, Items& items) {
  each_decl(a, [&](const ast::Decl& d) {
    if (d.kind == ast::DeclKind::Outcomes)
      for (const ast::Ident& o : static_cast<const ast::OutcomesDecl&>(d).order)
        items.add(o.name, kEnumMember, "outcome");
  });
  items.add("error", kEnumMember, "outcome");
}

void add_decls(const Analysis& a, Items& items, ast::DeclKind kind, int item_kind) {
  each_decl(a, [&](const ast::Decl& d) {
    if (d.kind == kind) items.add(d.name, item_kind, ast::decl_kind_name(kind));
  });
}

void add_countries(const Analysis& a, Items& items) {
  for (const std::string& code : all_country_codes())
    items.add(code, kValue, std::string(country_name(*country_index(code))));
  each_decl(a, [&](const ast::Decl& d) {
    if (d.kind != ast::DeclKind::Table) return;
    for (const ast::TableRow& row : static_cast<const ast::TableDecl&>(d).rows)
      if (row.key && row.key->kind == ast::ExprKind::String)
        items.add(row.key->text, kValue, "row of " + d.name);
  });
}

// The word before `end` on the same line, skipping blanks.
std::string word_before(std::string_view line, size_t end) {
  while (end > 0 && (line[end - 1] == ' ' || line[end - 1] == '\t')) --end;
  size_t begin = end;
  while (begin > 0 && word_char(line[begin - 1])) --begin;
  return std::string(line.substr(begin, end - begin));
}

bool inside_string(std::string_view before) {
  bool inside = false;
  for (size_t i = 0; i < before.size(); ++i) {
    if (before[i] == '\\' && inside)
      ++i;
    else if (before[i] == '"')
      inside = !inside;
  }
  return inside;
}

}  // namespace

json completion(const Analysis& a, Position at) {
  Items items;
  if (a.file == kNoFile) return items.list;
  const SourceFile& file = a.sources.file(a.file);
  uint32_t offset = offset_of(file, at);
  if (!in_code(file, offset)) return items.list;
  uint32_t line_start = file.line_starts[position_of(file, offset).line];
  std::string_view line(file.text.data() + line_start, offset - line_start);
  size_t word = line.size();
  while (word > 0 && word_char(line[word - 1])) --word;

  if (inside_string(line)) {
    add_countries(a, items);
  } else if (word > 0 && line[word - 1] == '.') {
    add_fields(a, items, word_before(line, word - 1) == "event");
  } else {
    std::string previous = word_before(line, word);
    if (previous == "expect" || previous == "default") {
      add_outcomes(a, items);
    } else if (previous == "on") {
      add_decls(a, items, ast::DeclKind::Event, kStruct);
      items.add("any", kKeyword);
    } else if (previous == "given") {
      add_decls(a, items, ast::DeclKind::Example, kVariable);
      add_decls(a, items, ast::DeclKind::Event, kStruct);
    } else if (previous == "by" || previous == "only") {
      add_decls(a, items, ast::DeclKind::Rule, kEvent);
      if (previous == "by") items.add("only", kKeyword);
    } else {
      for (const char* k : kKeywords) items.add(k, kKeyword);
      add_decls(a, items, ast::DeclKind::Const, kConstant);
      add_decls(a, items, ast::DeclKind::Set, kConstant);
      add_decls(a, items, ast::DeclKind::Table, kClass);
      add_decls(a, items, ast::DeclKind::Def, kFunction);
      for (const char* b : kBuiltins) items.add(b, kFunction, "built-in");
      add_outcomes(a, items);
      add_decls(a, items, ast::DeclKind::Event, kStruct);
    }
  }
  return json{{"isIncomplete", false}, {"items", items.list}};
}

}  // namespace edict::lsp
