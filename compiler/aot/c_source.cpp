// The C half of `edict build`: the header programs include and the source
// that turns one event struct into the one-row column batch of
// abi/abi.h, calls the generated batch function and reports the result.
// The source carries abi/abi.h and the helpers' core as the runtime
// compiles them (embedded at build time), around a string table of its own.
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>
#include <string_view>

#include "abi/data.h"
#include "compiler/aot/aot.h"
#include "compiler/aot/embedded_sources.h"
#include "support/countries.h"

namespace edict::aot {
namespace {

// Status codes of the generated entry points: the values of edict.h's
// edict_status where they mean the same, plus one of their own.
constexpr int kOk = 0, kNullArgument = 1, kInvalidUtf8 = 4, kInvalidEvent = 8, kRuleFault = 11,
              kSchemaMismatch = 15;
// A policy with data only. edict.h's EDICT_DATA_ERROR is 15, which the
// entry points already return for a schema mismatch: these are their own.
constexpr int kInvalidArgument = 3, kDataError = 16, kDataNotLoaded = 17;
constexpr uint64_t kAbiRevision = 2;  // bump when the generated C changes shape (2: string lengths)

bool is_c_keyword(const std::string& s) {
  static const std::set<std::string> keywords = {
      "auto",     "break",   "case",   "char",     "const",    "continue", "default",  "do",
      "double",   "else",    "enum",   "extern",   "float",    "for",      "goto",     "if",
      "inline",   "int",     "long",   "register", "restrict", "return",   "short",    "signed",
      "sizeof",   "static",  "struct", "switch",   "typedef",  "union",    "unsigned", "void",
      "volatile", "while",   "bool",   "true",     "false",    "class",    "new",      "delete",
      "this",     "private", "public", "template", "typename", "operator", "namespace"};
  return keywords.count(s) > 0;
}

// A C identifier for an Edict name (already identifier-shaped).
std::string c_name(const std::string& s) {
  std::string out;
  for (char c : s) out += (std::isalnum(static_cast<unsigned char>(c)) || c == '_') ? c : '_';
  if (out.empty() || std::isdigit(static_cast<unsigned char>(out[0]))) out = "_" + out;
  if (is_c_keyword(out)) out += '_';
  return out;
}

std::string upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

// A C string literal: octal escapes for everything but printable ASCII.
std::string c_string(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\')
      out += std::string("\\") + static_cast<char>(c);
    else if (c >= 0x20 && c < 0x7F && c != '?')
      out += static_cast<char>(c);
    else
      out += fmt::format("\\{:03o}", c);
  }
  return out + "\"";
}

// Text for inside a C comment: printable ASCII, and no `*/` or `/*`
// (a file name may hold anything).
std::string c_comment_text(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if ((c == '/' && !out.empty() && out.back() == '*') || (c == '*' && !out.empty() && out.back() == '/'))
      out += ' ';
    out += c >= 0x20 && c < 0x7F ? static_cast<char>(c) : '?';
  }
  return out;
}

const char* c_type(ir::Ty t) {
  switch (t) {
    case ir::Ty::Bool: return "bool";
    case ir::Ty::Number: return "double";
    case ir::Ty::Str:
    case ir::Ty::Country: return "const char*";
    default: return "int64_t";  // int, time (µs since the epoch, UTC), duration (µs)
  }
}

bool is_text(ir::Ty t) {
  return t == ir::Ty::Str || t == ir::Ty::Country;
}

const char* c_comment(ir::Ty t) {
  switch (t) {
    case ir::Ty::Str: return "  /* UTF-8 */";
    case ir::Ty::Country: return "  /* ISO 3166-1 alpha-2 code, e.g. \"CN\" */";
    case ir::Ty::Time: return "  /* microseconds since 1970-01-01T00:00:00Z */";
    case ir::Ty::Duration: return "  /* microseconds */";
    default: return "";
  }
}

uint32_t fired_words(const ir::Module& m) {
  return static_cast<uint32_t>(std::max<size_t>(1, (m.rules.size() + 63) / 64));
}

// Must equal the generated C's `hash`.
uint32_t fnv1a32(std::string_view s) {
  uint32_t h = 2166136261u;
  for (unsigned char c : s) h = (h ^ c) * 16777619u;
  return h;
}

uint64_t fnv1a(uint64_t h, std::string_view s) {
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ULL;
  return (h ^ 0xff) * 0x100000001b3ULL;  // a separator, so "ab"+"c" != "a"+"bc"
}

}  // namespace

bool valid_prefix(const std::string& name) {
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0]))) return false;
  for (char c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  if (is_c_keyword(name)) return false;
  // The generated names (`<prefix>_<kind>`, `<PREFIX>_ERROR`, ...) must not
  // meet those of the embedded runtime sources: abi.h's EDICT_DECISION_*,
  // EDICT_KIND_* and EDICT_RECORD_*, the helpers' edict_str_* and
  // EDICT_CASE_*, country_code.h's edict_country_*, aot_data.h's edict_rt_*.
  std::string lower = name;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (std::string_view taken : {"edict_str", "edict_decision", "edict_kind", "edict_record", "edict_case",
                                 "edict_country", "edict_rt"})
    if (lower.starts_with(taken)) return false;
  return true;
}

std::string name_clash(const ir::Module& m) {
  auto first_clash = [](const std::vector<std::pair<std::string, std::string>>& names,
                        const std::string& what) -> std::string {
    std::map<std::string, std::string> seen;  // C name -> Edict name
    for (const auto& [c, edict] : names) {
      auto [it, fresh] = seen.emplace(c, edict);
      if (!fresh)
        return what + " `" + it->second + "` and `" + edict + "` both become the C name `" + c + "`";
    }
    return "";
  };
  for (const ir::EventSchema& e : m.events) {
    std::vector<std::pair<std::string, std::string>> members;
    for (const ir::Field& f : e.fields) {
      members.emplace_back(c_name(f.name), f.name);
      if (f.optional) members.emplace_back("has_" + c_name(f.name), f.name + " (its presence)");
      if (is_text(f.type)) members.emplace_back(c_name(f.name) + "_len", f.name + " (its length)");
    }
    std::string clash = first_clash(members, "in event `" + e.name + "`, the fields");
    if (!clash.empty()) return clash;
  }
  std::vector<std::pair<std::string, std::string>> kinds, outcomes, rules;
  for (const ir::EventSchema& e : m.events) kinds.emplace_back(c_name(e.name), e.name);
  for (const std::string& o : m.outcomes) outcomes.emplace_back(upper(c_name(o)), o);
  for (const ir::Rule& r : m.rules) rules.emplace_back(upper(c_name(r.name)), r.name);
  for (const auto& [names, what] : {std::pair{&kinds, "the event kinds"},
                                    std::pair{&outcomes, "the outcomes"}, std::pair{&rules, "the rules"}}) {
    std::string clash = first_clash(*names, what);
    if (!clash.empty()) return clash;
  }
  return "";
}

uint64_t schema_version(const ir::Module& m, const std::string& prefix) {
  uint64_t h = fnv1a(0xcbf29ce484222325ULL, prefix);
  h = fnv1a(h, std::to_string(kAbiRevision));
  for (const std::string& o : m.outcomes) h = fnv1a(h, o);
  for (const ir::Rule& r : m.rules) h = fnv1a(h, r.name);
  for (const ir::EventSchema& e : m.events) {
    h = fnv1a(h, e.name);
    for (const ir::Field& f : e.fields)
      h = fnv1a(h, f.name + ':' + ir::ty_name(f.type) + (f.optional ? "?" : ""));
  }
  for (const ir::Table& t : m.tables)  // the header names the sources a program loads
    if (t.external()) h = fnv1a(h, "data:" + t.name);
  return h;
}

namespace {

std::vector<const ir::Table*> data_tables(const ir::Module& m) {
  std::vector<const ir::Table*> out;
  for (const ir::Table& t : m.tables)
    if (t.external()) out.push_back(&t);
  return out;
}

// The header's part for a policy with data: loading, replacing, versions.
std::string data_header(const ir::Module& m, const AotOptions& o) {
  const std::string p = o.prefix, P = upper(o.prefix);
  std::string names;
  for (const ir::Table* t : data_tables(m))
    names += fmt::format(" *   {} (from {})\n", c_comment_text(t->name),
                         c_comment_text(t->data->schema().default_file));
  return fmt::format(
      "/* Reference data: the policy's `data` sources, read at run time by the\n"
      " * data runtime linked into the library (as `edict eval` reads them):\n"
      "{2}"
      " * No entry point decides before every source is loaded: until then they\n"
      " * return {1}_DATA_NOT_LOADED (the declared files are not read by\n"
      " * themselves; {0}_data_default_file gives them). Load or replace a source\n"
      " * with {0}_load_data from any thread at any time: the replacement is\n"
      " * atomic, each call decides on the versions current when it starts, and\n"
      " * a file that fails to load leaves the previous version in use.\n"
      " * Every version loaded stays in memory until the process ends. */\n"
      "#define {1}_INVALID_ARGUMENT {3}\n#define {1}_DATA_ERROR {4}\n#define {1}_DATA_NOT_LOADED {5}\n"
      "#define {1}_DATA_COUNT {6}\n\n"
      "/* The sources in declaration order (\"\" past the end), and the file each\n"
      " * declares (`from`, as edict build resolved it). */\n"
      "const char* {0}_data_name(uint32_t source);\n"
      "const char* {0}_data_default_file(uint32_t source);\n"
      "/* Reads `path` (CSV or JSON Lines, by its extension) into source `name`.\n"
      " * Returns {1}_OK; {1}_INVALID_ARGUMENT when the policy declares no such\n"
      " * source or name or path is NULL; {1}_DATA_ERROR when the file cannot be\n"
      " * read or is malformed. `error` (error_size bytes, may be NULL) receives\n"
      " * why, e.g. `list.csv:12:7: error[E0074]: ...` (\"\" on success). */\n"
      "int {0}_load_data(const char* name, const char* path, char* error, size_t error_size);\n"
      "/* `sha256:<hex>` of the file of source `name` now in use (the data version\n"
      " * a decision record names), or NULL before it is loaded. The text stays\n"
      " * valid until the process ends. */\n"
      "const char* {0}_data_version(const char* name);\n\n",
      p, P, names, kInvalidArgument, kDataError, kDataNotLoaded, data_tables(m).size());
}

}  // namespace

std::string generate_header(const ir::Module& m, const AotOptions& o, const std::string& policy_name) {
  const std::string p = o.prefix, P = upper(o.prefix);
  std::string h;
  h += fmt::format(
      "/* Generated by `edict build` from {}. Do not edit: rebuild instead.\n"
      " *\n"
      " * One struct and one entry point per event kind. Fill the struct (strings\n"
      " * are borrowed for the call only), call {}_eval_<kind>, read the result.\n"
      " * Entry points are thread-safe and allocate nothing unless the policy\n"
      " * maps string case{}. Messages are not evaluated ahead of time; use the\n"
      " * library (libedict) for them. */\n",
      c_comment_text(policy_name), p,
      has_data(m) ? " or reads data (a name screening keeps a cache of recent\n * names)" : "");
  h += fmt::format(
      "#ifndef {0}_H\n#define {0}_H\n\n#include <stdbool.h>\n#include <stddef.h>\n#include <stdint.h>\n\n",
      P);
  h += "#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n";
  h += fmt::format(
      "/* Must equal {0}_schema_version() of the library: the inline entry points\n"
      " * pass it, and the library refuses a header of another policy. */\n"
      "#define {1}_SCHEMA_VERSION 0x{2:016x}ULL\n\n",
      p, P, schema_version(m, o.prefix));
  h += fmt::format(
      "/* Status codes (the values of edict.h's edict_status). */\n"
      "#define {0}_OK {1}\n#define {0}_NULL_ARGUMENT {2}\n#define {0}_INVALID_UTF8 {3}\n"
      "#define {0}_INVALID_EVENT {4}\n#define {0}_RULE_FAULT {5}\n#define {0}_SCHEMA_MISMATCH {6}\n\n",
      P, kOk, kNullArgument, kInvalidUtf8, kInvalidEvent, kRuleFault, kSchemaMismatch);
  h += "/* Decisions: the policy's outcomes, weakest first, and error. */\n";
  for (size_t i = 0; i < m.outcomes.size(); ++i)
    h += fmt::format("#define {}_{} {}\n", P, upper(c_name(m.outcomes[i])), i);
  h += fmt::format("#define {}_ERROR (-1)\n\n", P);
  h += fmt::format("#define {}_RULE_COUNT {}\n#define {}_FIRED_WORDS {}\n", P, m.rules.size(), P,
                   fired_words(m));
  for (size_t r = 0; r < m.rules.size(); ++r)
    h += fmt::format("#define {}_RULE_{} {}\n", P, upper(c_name(m.rules[r].name)), r);
  h += "\n";
  for (const ir::EventSchema& e : m.events) {
    h += fmt::format("/* Event kind `{}`. */\ntypedef struct {}_{} {{\n", c_comment_text(e.name), p,
                     c_name(e.name));
    for (const ir::Field& f : e.fields) {
      if (f.optional)
        h += fmt::format("  bool has_{};  /* false: `{}` is absent */\n", c_name(f.name),
                         c_comment_text(f.name));
      h += fmt::format("  {} {};{}\n", c_type(f.type), c_name(f.name), c_comment(f.type));
      if (is_text(f.type))
        h +=
            fmt::format("  size_t {0}_len;  /* bytes of {0} (NUL bytes allowed); 0: up to its first NUL */\n",
                        c_name(f.name));
    }
    h += fmt::format("}} {}_{};\n\n", p, c_name(e.name));
  }
  h += fmt::format(
      "typedef struct {0}_result {{\n"
      "  int decision;         /* {1}_<OUTCOME>, or {1}_ERROR */\n"
      "  uint32_t fault_rule;  /* the rule that faulted when the status is {1}_RULE_FAULT, else UINT32_MAX "
      "*/\n"
      "  const char* error;    /* why the decision is {1}_ERROR (static text), else NULL */\n"
      "  uint64_t fired[{1}_FIRED_WORDS]; /* bit r: rule r fired */\n"
      "}} {0}_result;\n\n",
      p, P);
  h += fmt::format(
      "static inline int {0}_fired(const {0}_result* r, uint32_t rule) {{\n"
      "  return (int)((r->fired[rule / 64] >> (rule % 64)) & 1);\n}}\n\n",
      p);
  h += fmt::format(
      "uint64_t {0}_schema_version(void);\n"
      "const char* {0}_outcome_name(int decision); /* \"error\" for {1}_ERROR */\n"
      "const char* {0}_rule_name(uint32_t rule);\n"
      "const char* {0}_rule_cite(uint32_t rule);\n"
      "const char* {0}_rule_effect(uint32_t rule);\n\n",
      p, P);
  for (const ir::EventSchema& e : m.events) {
    std::string k = c_name(e.name);
    h += fmt::format(
        "int {0}_eval_{1}_checked(uint64_t header_version, const {0}_{1}* event, {0}_result* result);\n"
        "/* Decides one `{2}` event. Returns {3}_OK, or why result->decision is {3}_ERROR. */\n"
        "static inline int {0}_eval_{1}(const {0}_{1}* event, {0}_result* result) {{\n"
        "  return {0}_eval_{1}_checked({3}_SCHEMA_VERSION, event, result);\n}}\n\n",
        p, k, c_comment_text(e.name), P);
  }
  if (has_data(m)) h += data_header(m, o);
  h += fmt::format("#ifdef __cplusplus\n}}\n#endif\n\n#endif /* {}_H */\n", P);
  return h;
}

// ---- the library's C source --------------------------------------------------

namespace {

// The runtime's C sources, inlined as the preprocessor would include them:
// `#include "x"` of another embedded file becomes its text, each file once,
// and `#pragma once` goes (compilers warn about it in a main file). Every
// other line is the file's own, so the library compiles what edict does.
void append_embedded(std::string_view path, std::set<std::string_view>& done, std::string& out) {
  if (!done.insert(path).second) return;
  const auto sources = embedded_sources();
  auto embedded = [&](std::string_view p) {
    return std::find_if(sources.begin(), sources.end(), [&](const EmbeddedSource& e) { return e.path == p; });
  };
  auto file = embedded(path);
  if (file == sources.end()) {  // compiler/aot/CMakeLists.txt lists the files to embed
    fmt::print(stderr, "edict: internal error: {} is not embedded\n", path);
    std::abort();
  }
  out += fmt::format("\n/* ---- {}, as edict compiles it ---- */\n", path);
  std::string_view text = file->text;
  while (!text.empty()) {
    const size_t end = std::min(text.find('\n'), text.size());
    const std::string_view line = text.substr(0, end);
    text.remove_prefix(std::min(end + 1, text.size()));
    if (line == "#pragma once") continue;
    constexpr std::string_view kInclude = "#include \"";
    if (line.starts_with(kInclude) && line.ends_with('"')) {
      std::string_view target = line.substr(kInclude.size(), line.size() - kInclude.size() - 1);
      if (embedded(target) != sources.end()) {
        append_embedded(target, done, out);
        continue;
      }
    }
    out.append(line).append("\n");
  }
}

// The library's string table, which the helpers resolve symbols through:
// symbols below POOL are the policy's constants; event strings and
// case-mapped strings get symbols from a per-call table. Every decision on
// the bytes is the shared core's (helpers_core.c).
const char* kStrings = R"(
typedef struct owned { struct owned* next; char data[]; } owned;
typedef struct strings {
  EdictBytes* extra;
  uint32_t count, capacity;
  owned* blocks;
  EdictBytes local[64];
} strings;

static EdictBytes text_of(const strings* s, uint32_t sym) {
  if (sym < POOL) { EdictBytes t = {pool[sym], pool_len[sym]}; return t; }
  return s->extra[sym - POOL];
}

/* Called from compiled code, which has no unwind tables: out of memory aborts. */
static uint32_t hash(const char* p, uint32_t n) {
  uint32_t h = 2166136261u;
  for (uint32_t i = 0; i < n; ++i) h = (h ^ (unsigned char)p[i]) * 16777619u;
  return h;
}

static uint32_t intern(strings* s, const char* p, uint32_t n) {
  const EdictBytes t = {p, n};
  for (uint32_t h = hash(p, n) & (SLOTS - 1); slot[h]; h = (h + 1) & (SLOTS - 1))
    if (edict_str_bytes_compare(text_of(s, slot[h] - 1), t) == 0) return slot[h] - 1;
  for (uint32_t i = 0; i < s->count; ++i)
    if (edict_str_bytes_compare(s->extra[i], t) == 0) return POOL + i;
  if (s->count == s->capacity) {
    EdictBytes* grown = (EdictBytes*)malloc(sizeof(EdictBytes) * s->capacity * 2);
    if (!grown) abort();
    memcpy(grown, s->extra, sizeof(EdictBytes) * s->count);
    if (s->extra != s->local) free(s->extra);
    s->extra = grown;
    s->capacity *= 2;
  }
  s->extra[s->count] = t;
  return POOL + s->count++;
}

static void strings_init(strings* s) {
  s->extra = s->local;
  s->count = 0;
  s->capacity = 64;
  s->blocks = NULL;
}

static void strings_free(strings* s) {
  while (s->blocks) { owned* next = s->blocks->next; free(s->blocks); s->blocks = next; }
  if (s->extra != s->local) free(s->extra);
}

/* abi.h's helpers over this table, as abi/helpers.cpp's are over a batch. */
int32_t edict_str_starts_with(void* ctx, uint32_t a, uint32_t b) {
  return edict_str_bytes_starts_with(text_of((strings*)ctx, a), text_of((strings*)ctx, b));
}
int32_t edict_str_ends_with(void* ctx, uint32_t a, uint32_t b) {
  return edict_str_bytes_ends_with(text_of((strings*)ctx, a), text_of((strings*)ctx, b));
}
int32_t edict_str_contains(void* ctx, uint32_t a, uint32_t b) {
  return edict_str_bytes_contains(text_of((strings*)ctx, a), text_of((strings*)ctx, b));
}
static uint32_t map_case(void* ctx, uint32_t a, int32_t to_case) {
  strings* s = (strings*)ctx;
  const EdictBytes t = text_of(s, a);
  if (!edict_str_bytes_changes_case(t, to_case)) return a;
  owned* o = (owned*)malloc(sizeof(owned) + t.size + 1);
  if (!o) abort();
  edict_str_bytes_map_case(t, to_case, o->data);
  o->data[t.size] = 0;
  o->next = s->blocks;
  s->blocks = o;
  return intern(s, o->data, (uint32_t)t.size);
}
uint32_t edict_str_lower(void* ctx, uint32_t a) { return map_case(ctx, a, EDICT_CASE_LOWER); }
uint32_t edict_str_upper(void* ctx, uint32_t a) { return map_case(ctx, a, EDICT_CASE_UPPER); }
int64_t edict_str_len(void* ctx, uint32_t a) { return edict_str_bytes_len(text_of((strings*)ctx, a)); }
int32_t edict_str_compare(void* ctx, uint32_t a, uint32_t b) {
  if (a == b) return 0;
  return edict_str_bytes_compare(text_of((strings*)ctx, a), text_of((strings*)ctx, b));
}
)";

// The sources of a policy with data: each one's schema (from its `data`
// declaration) and EdictRtSource, and abi.h's two lookup helpers that take
// a string context, over this library's table (data_helper_symbol): the
// compiled code calls them, the data runtime does the rest.
std::string data_sources_source(const ir::Module& m, const AotOptions& o) {
  const std::string p = o.prefix;
  std::string s = "\n/* ---- the data sources ---- */\n";
  std::string sources, not_loaded;
  uint32_t sources_count = 0;
  for (size_t i = 0; i < m.tables.size(); ++i) {
    if (!m.tables[i].external()) continue;
    const abi::DataSchema& d = m.tables[i].data->schema();
    s += fmt::format("static const EdictRtColumn data_columns_{}[] = {{\n", i);
    for (const abi::DataColumn& c : d.columns)
      s += fmt::format("  {{{}, {}, {}, {}}},\n", c_string(c.name), c_string(c.header),
                       static_cast<int>(c.type), c.optional ? 1 : 0);
    if (d.columns.empty()) s += "  {\"\", \"\", 0, 0},\n";
    s += fmt::format("}};\nstatic const int32_t data_screen_{}[] = {{", i);
    for (int c : d.screen_columns) s += fmt::format("{},", c);
    if (d.screen_columns.empty()) s += "0";
    s += fmt::format("}};\nstatic const char* const data_legal_forms_{}[] = {{", i);
    for (const std::string& f : d.legal_forms) s += c_string(f) + ",";
    if (d.legal_forms.empty()) s += "\"\"";
    s += fmt::format(
        "}};\nstatic const EdictRtSchema data_schema_{0} = {{{1}, {2}, {3}, {4}, {5}, data_columns_{0}, {6}, "
        "{7}, "
        "{8},\n  {9}, data_screen_{0}, {10}, {11}, data_legal_forms_{0}}};\n",
        i, c_string(d.name), c_string(d.default_file), c_string(d.key_header), static_cast<int>(d.key),
        d.columns.size(), d.in_force_from, d.in_force_until, d.score_column, d.screen_columns.size(),
        fmt::format("{:.17g}", d.screen_threshold), d.legal_forms.size());
    const std::string symbol = data_source_symbol(p, std::to_string(i));
    s += fmt::format("EdictRtSource {} = {{&data_schema_{}, {}u, NULL}};\n", symbol, i, sources_count++);
    sources += "&" + symbol + ", ";
    not_loaded += c_string(fmt::format("data `{}` is not loaded: call {}_load_data first", d.name, p)) + ", ";
  }
  s += fmt::format(
      "#define DATA_COUNT {}u\n"
      "static EdictRtSource* const data_source[DATA_COUNT] = {{{}}};\n"
      "static const char* const data_not_loaded[DATA_COUNT] = {{{}}};\n",
      data_tables(m).size(), sources, not_loaded);
  s += fmt::format(R"C(
/* The version of each source this thread's evaluation decides on, read once
 * when it starts (data_pin): a replacement meanwhile never splits one
 * decision between two versions. */
static _Thread_local const void* pinned[DATA_COUNT];

static int data_pin(const char** error) {{
  for (uint32_t i = 0; i < DATA_COUNT; ++i)
    if (!(pinned[i] = edict_rt_data_current(data_source[i]))) {{ *error = data_not_loaded[i]; return 0; }}
  return 1;
}}

/* abi.h's edict_data_find and edict_data_cell over this library's strings. */
int64_t {0}(const void* source, void* ctx, uint64_t key, int64_t time) {{
  const EdictRtSource* src = (const EdictRtSource*)source;
  if (src->schema->key_type == {2} || src->schema->screen_count) {{ /* a string key or a screened name */
    const EdictBytes t = text_of((strings*)ctx, (uint32_t)key);
    return edict_rt_data_find(pinned[src->index], key, t.data, t.size, time);
  }}
  return edict_rt_data_find(pinned[src->index], key, NULL, 0, time);
}}
uint64_t {1}(int64_t row, void* ctx, uint32_t column) {{
  const char* text;
  size_t size;
  const uint64_t bits = edict_rt_data_cell(row, column, &text, &size);
  return text ? intern((strings*)ctx, text, (uint32_t)size) : bits;
}}

static EdictRtSource* data_named(const char* name) {{
  for (uint32_t i = 0; name && i < DATA_COUNT; ++i)
    if (strcmp(data_source[i]->schema->name, name) == 0) return data_source[i];
  return NULL;
}}

static void set_error(char* error, size_t size, const char* a, const char* b, const char* c) {{
  const char* parts[3] = {{a, b, c}};
  size_t n = 0;
  if (!error || !size) return;
  for (int i = 0; i < 3; ++i)
    for (const char* q = parts[i]; q && *q && n + 1 < size; ++q) error[n++] = *q;
  error[n] = 0;
}}
)C",
                   data_helper_symbol(p, "edict_data_find"), data_helper_symbol(p, "edict_data_cell"),
                   static_cast<int>(abi::CellType::Str));
  return s;
}

// The header's data functions (data_header).
std::string data_functions_source(const AotOptions& o) {
  return fmt::format(R"C(
const char* {0}_data_name(uint32_t source) {{
  return source < DATA_COUNT ? data_source[source]->schema->name : "";
}}
const char* {0}_data_default_file(uint32_t source) {{
  return source < DATA_COUNT ? data_source[source]->schema->default_file : "";
}}
int {0}_load_data(const char* name, const char* path, char* error, size_t error_size) {{
  EdictRtSource* src = data_named(name);
  if (!src) {{
    set_error(error, error_size, "the policy declares no data `", name ? name : "(NULL)", "`");
    return {1};
  }}
  if (!path) {{
    set_error(error, error_size, "no file to load data `", name, "` from (path is NULL)");
    return {1};
  }}
  return edict_rt_data_load(src, path, error, error_size) ? {2} : {3};
}}
const char* {0}_data_version(const char* name) {{
  const EdictRtSource* src = data_named(name);
  return src ? edict_rt_data_version(src) : NULL;
}}
)C",
                     o.prefix, kInvalidArgument, kOk, kDataError);
}

}  // namespace

std::string generate_source(const ir::Module& m, const Layout& layout, const AotOptions& o,
                            const std::string& header_name) {
  // Never user text inside `#include "..."`: a quote or a newline there
  // would let a file name add C to the library.
  std::string include = header_name;
  for (char& c : include)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != '-' && c != '/') c = '_';
  const std::vector<std::vector<int>>& column_map = layout.column;
  const std::vector<bool>& optional_columns = layout.optional_column;
  const std::string p = o.prefix, P = upper(o.prefix);
  const size_t columns = optional_columns.size();
  std::string s = fmt::format(
      "/* Generated by `edict build`: the entry points around the compiled policy. */\n"
      "#include <math.h>\n#include <stddef.h>\n#include <stdint.h>\n#include <stdlib.h>\n"
      "#include <string.h>\n\n#include \"{}\"\n\n",
      include);
  // Everything up to the entry points is the library's own: hidden, so a
  // shared library exports only the header's functions and an object file
  // keeps the helpers local (objcopy --localize-hidden). The system headers
  // the embedded files include come above, where they keep their visibility.
  s +=
      "#pragma GCC visibility push(hidden)\n#define EDICT_STR_BYTES_LINKAGE static __attribute__((unused))\n";
  std::set<std::string_view> done;
  for (std::string_view file :
       {"abi/abi.h", "abi/helpers_core.h", "abi/helpers_core.c", "support/country_code.h"})
    append_embedded(file, done, s);
  if (has_data(m)) append_embedded("runtime/aot_data.h", done, s);
  s += fmt::format(
      "\n/* ---- the policy ---- */\nvoid {}_batch(const EdictColumns* columns, EdictResults* results);\n\n",
      p);

  // The string pool: symbol i is pool[i], as in the JIT's symbol table.
  // POOL is a variable, not a literal: an empty pool would make `sym < 0` warn.
  s += fmt::format("static const uint32_t pool_count = {}u;\n#define POOL pool_count\n", m.strings.size());
  s += fmt::format("static const char* const pool[{}] = {{\n", std::max<size_t>(1, m.strings.size()));
  for (const std::string& str : m.strings) s += "  " + c_string(str) + ",\n";
  if (m.strings.empty()) s += "  \"\",\n";
  s += fmt::format("}};\nstatic const uint32_t pool_len[{}] = {{", std::max<size_t>(1, m.strings.size()));
  for (const std::string& str : m.strings) s += fmt::format("{},", str.size());
  if (m.strings.empty()) s += "0";
  // An open-addressing table of the pool by FNV-1a hash (slot = symbol + 1).
  size_t slots = 16;
  while (slots < 2 * m.strings.size()) slots *= 2;
  std::vector<uint32_t> table(slots, 0);
  for (size_t i = 0; i < m.strings.size(); ++i) {
    size_t h = fnv1a32(m.strings[i]) & (slots - 1);
    while (table[h]) h = (h + 1) & (slots - 1);
    table[h] = static_cast<uint32_t>(i + 1);
  }
  s += fmt::format("}};\n#define SLOTS {}u\nstatic const uint32_t slot[SLOTS] = {{", slots);
  for (size_t i = 0; i < slots; ++i) s += (i % 32 == 0 ? "\n  " : "") + std::to_string(table[i]) + ",";
  s += "\n};\n";
  s += kStrings;
  if (has_data(m)) s += data_sources_source(m, o);

  // Countries: by dense index (support/country_code.h), whether the code is
  // assigned, from support/countries.cpp's table as this edict has it.
  s += fmt::format("\nstatic const uint8_t assigned[{}] = {{", kCountryIndexLimit);
  for (int i = 0; i < kCountryIndexLimit; ++i) {
    const std::string code = country_code(static_cast<uint16_t>(i));
    s += (i % 64 == 0 ? "\n  " : "") + std::string(country_index(code) ? "1" : "0") + ",";
  }
  s += "\n};\n";
  s += R"(__attribute__((unused)) static int country(const char* code, size_t size, uint16_t* index) {
  const int32_t i = code ? edict_country_dense_index(code, size ? size : strlen(code)) : -1;
  if (i < 0 || !assigned[i]) return 0;
  *index = (uint16_t)i;
  return 1;
}
#pragma GCC visibility pop
)";

  // Metadata.
  s += fmt::format("\nuint64_t {}_schema_version(void) {{ return {}_SCHEMA_VERSION; }}\n", p, P);
  s += fmt::format("const char* {}_outcome_name(int decision) {{\n  switch (decision) {{\n", p);
  for (size_t i = 0; i < m.outcomes.size(); ++i)
    s += fmt::format("    case {}: return {};\n", i, c_string(m.outcomes[i]));
  s += "    default: return \"error\";\n  }\n}\n";
  auto rule_table = [&](const char* what, auto field) {
    s +=
        fmt::format("const char* {}_rule_{}(uint32_t rule) {{\n  static const char* const t[] = {{", p, what);
    for (const ir::Rule& r : m.rules) s += c_string(field(r)) + ",";
    if (m.rules.empty()) s += "\"\"";
    s += fmt::format("}};\n  return rule < {} ? t[rule] : \"\";\n}}\n", m.rules.size());
  };
  rule_table("name", [](const ir::Rule& r) { return r.name; });
  rule_table("cite", [](const ir::Rule& r) { return r.cite; });
  rule_table("effect", [&](const ir::Rule& r) { return m.outcomes[static_cast<size_t>(r.effect)]; });
  s += fmt::format("static const char* const fault_text[] = {{");
  for (const ir::Rule& r : m.rules) s += c_string("a rule faulted: `" + r.name + "` (fail closed)") + ",";
  if (m.rules.empty()) s += "\"\"";
  s += "};\n";
  if (has_data(m)) s += data_functions_source(o);

  // One entry point per kind.
  for (size_t k = 0; k < m.events.size(); ++k) {
    const ir::EventSchema& e = m.events[k];
    const std::string kind = c_name(e.name);
    s += fmt::format(
        "\nint {0}_eval_{1}_checked(uint64_t header_version, const {0}_{1}* event, {0}_result* result) {{\n"
        "  if (!result) return {2};\n"
        "  result->decision = {3}_ERROR;\n  result->fault_rule = UINT32_MAX;\n  result->error = NULL;\n"
        "  memset(result->fired, 0, sizeof result->fired);\n"
        "  if (header_version != {3}_SCHEMA_VERSION) {{\n"
        "    result->error = \"the header was generated from another policy than this library (schema "
        "version "
        "mismatch)\";\n"
        "    return {4};\n  }}\n"
        "  if (!event) {{ result->error = \"event is NULL\"; return {2}; }}\n"
        "{6}"
        "  uint64_t cell[{5}];\n  uint8_t set[{5}];\n  memset(cell, 0, sizeof cell);\n  memset(set, 0, "
        "sizeof set);\n"
        "  strings str;\n  strings_init(&str);\n",
        p, kind, kNullArgument, P, kSchemaMismatch, std::max<size_t>(1, columns),
        has_data(m) ? fmt::format("  if (!data_pin(&result->error)) return {};\n", kDataNotLoaded) : "");
    for (size_t f = 0; f < e.fields.size(); ++f) {
      const ir::Field& field = e.fields[f];
      const int col = column_map[k][f];
      const std::string v = "event->" + c_name(field.name);
      std::string indent = "  ";
      if (field.optional) {
        s += fmt::format("  if (event->has_{}) {{\n", c_name(field.name));
        indent = "    ";
      }
      auto fail = [&](int code, const std::string& why) {
        return fmt::format("{{ result->error = {}; strings_free(&str); return {}; }}",
                           c_string(field.name + ": " + why), code);
      };
      switch (field.type) {
        case ir::Ty::Bool:
          s += fmt::format("{}{{ uint8_t b = {} ? 1 : 0; memcpy(&cell[{}], &b, 1); }}\n", indent, v, col);
          break;
        case ir::Ty::Number:
          s +=
              fmt::format("{}if (!isfinite({})) {}\n", indent, v, fail(kInvalidEvent, "number out of range"));
          s += fmt::format("{}memcpy(&cell[{}], &{}, 8);\n", indent, col, v);
          break;
        case ir::Ty::Str:
          s += fmt::format("{}if (!{}) {}\n", indent, v, fail(kInvalidEvent, "NULL string"));
          if (!layout.read[k][f]) {  // checked like the decoder does, not interned
            s += fmt::format(
                "{}if (!edict_str_bytes_valid_utf8((EdictBytes){{{}, {}_len ? {}_len : strlen({})}})) {}\n",
                indent, v, v, v, v, fail(kInvalidUtf8, "not valid UTF-8"));
            break;
          }
          s += fmt::format("{}{{ size_t n = {}_len ? {}_len : strlen({});\n", indent, v, v, v);
          s += fmt::format(
              "{}  if (n > UINT32_MAX || !edict_str_bytes_valid_utf8((EdictBytes){{{}, n}})) {}\n", indent, v,
              fail(kInvalidUtf8, "not valid UTF-8"));
          s += fmt::format(
              "{}  uint32_t sym = intern(&str, {}, (uint32_t)n); memcpy(&cell[{}], &sym, 4); }}\n", indent, v,
              col);
          break;
        case ir::Ty::Country:
          s += fmt::format("{}{{ uint16_t c; if (!country({}, {}_len, &c)) {}\n", indent, v, v,
                           fail(kInvalidEvent, "not an ISO 3166-1 alpha-2 country code"));
          s += fmt::format("{}  memcpy(&cell[{}], &c, 2); }}\n", indent, col);
          break;
        default: s += fmt::format("{}memcpy(&cell[{}], &{}, 8);\n", indent, col, v); break;
      }
      if (optional_columns[static_cast<size_t>(col)]) s += fmt::format("{}set[{}] = 1;\n", indent, col);
      if (field.optional) s += "  }\n";
    }
    s += fmt::format("  const void* data[{}];\n  const uint8_t* present[{}];\n", std::max<size_t>(1, columns),
                     std::max<size_t>(1, columns));
    for (size_t c = 0; c < columns; ++c)
      s += fmt::format("  data[{0}] = &cell[{0}]; present[{0}] = {1};\n", c,
                       optional_columns[c] ? fmt::format("&set[{}]", c) : "NULL");
    s += fmt::format(
        "  const uint8_t kind = {1};\n"
        "  EdictColumns columns = {{1, &kind, data, present, &str}};\n"
        "  uint8_t decision = 0, fault_reason = 0;\n"
        "  uint32_t fault_rule = UINT32_MAX, fault_site = UINT32_MAX;\n"
        "  EdictResults results = {{result->fired, {2}_FIRED_WORDS, &decision, &fault_rule, &fault_site,\n"
        "                          &fault_reason}};\n"
        "  {0}_batch(&columns, &results);\n"
        "  strings_free(&str);\n"
        "  if (decision == EDICT_DECISION_ERROR) {{\n"
        "    result->fault_rule = fault_rule;\n"
        "    result->error = fault_rule < {2}_RULE_COUNT ? fault_text[fault_rule] : \"the batch was "
        "refused\";\n"
        "    return {3};\n  }}\n"
        "  result->decision = decision;\n  return {4};\n}}\n",
        p, k, P, kRuleFault, kOk);
  }
  return s;
}

}  // namespace edict::aot
