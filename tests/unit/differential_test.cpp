// Differential testing of the evaluation engines: random well-typed policies,
// written as Edict source, and random events with boundary values, evaluated
// by the interpreter, the JIT at O0 and the JIT at O2. Every decision, fired
// bit, fault rule, fault site and fault reason must agree.
// EDICT_DIFFERENTIAL_CASES=N runs N policies (default 2000),
// EDICT_DIFFERENTIAL_SEED=S starts at seed S,
// EDICT_DIFFERENTIAL_PRINT=1 prints each policy, EDICT_DIFFERENTIAL_THREADS=T.
#include <fmt/format.h>
#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "analysis/analysis.h"
#include "compiler/interp/interp.h"
#include "compiler/ir/ir.h"
#include "compiler/jit/jit.h"
#include "engine/engine.h"
#include "support/countries.h"
#include "support/time_util.h"

namespace {

using namespace edict;

constexpr int64_t kIntMax = std::numeric_limits<int64_t>::max();
constexpr int64_t kIntMin = std::numeric_limits<int64_t>::min();

// ---- deterministic randomness (splitmix64: same stream on every platform) ----

class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  size_t below(size_t n) { return n == 0 ? 0 : static_cast<size_t>(next() % n); }
  int range(int lo, int hi) { return lo + static_cast<int>(below(static_cast<size_t>(hi - lo + 1))); }
  bool chance(unsigned percent) { return below(100) < percent; }
  template <typename T>
  const T& pick(const std::vector<T>& v) {
    return v[below(v.size())];
  }

 private:
  uint64_t state_;
};

// ---- types and value pools ---------------------------------------------------------

enum class Ty { Bool, Int, Num, Str, Country, Time, Dur };
constexpr int kTypes = 7;
const Ty kAllTypes[kTypes] = {Ty::Bool, Ty::Int, Ty::Num, Ty::Str, Ty::Country, Ty::Time, Ty::Dur};

const char* type_name(Ty t) {
  switch (t) {
    case Ty::Bool: return "bool";
    case Ty::Int: return "int";
    case Ty::Num: return "number";
    case Ty::Str: return "string";
    case Ty::Country: return "country";
    case Ty::Time: return "time";
    case Ty::Dur: return "duration";
  }
  return "?";
}

// Values at and around the edges of int64 arithmetic: the bounds, their
// neighbours, the square root of the bound, 2^53 + 1 (not a double).
// clang-format off
const std::vector<int64_t> kInts = {
    0, 1, -1, 2, 3, 7, 10, 100, 4'800, -4'800,
    3'037'000'499, 3'037'000'500, -3'037'000'500, 4'294'967'296,
    4'611'686'018'427'387'904, 9'007'199'254'740'993,
    kIntMax, kIntMax - 1, kIntMin, kIntMin + 1};

// Signed zeros, denormals, the largest finite doubles, 2^53 and 2^63.
const std::vector<double> kNums = {
    0.0, -0.0, 0.5, 1.0, -1.0, 2.5, 3.0, 0.1, 4800.0, 5.92,
    1e-300, 5e-324, -5e-324, 1e20, 1e300, -1e300,
    1.7976931348623157e308, -1.7976931348623157e308, 9007199254740992.0, 9.223372036854775808e18};
// clang-format on

// Strings that policies use as literals (so events hit them exactly) ...
const std::vector<std::string> kPoolStrings = {"",     "a",     "A",    "alpha",   "Alpha",      "ALPHA",
                                               "beta", "H100",  "h100", "cn-",     "cn-north-1", "zz",
                                               "é",    "École", "日本", "training"};
// ... and strings only events carry: near misses, prefixes, a NUL byte.
const std::vector<std::string> kEventStrings = {
    "alph", "alpha ", "b", "H1000", "nope", "ÉCOLE", "école", "日", "Z", "cn", std::string("a\0b", 3)};

const std::vector<std::string> kCountries = {"CN", "MO", "RU", "US", "GB", "JP",
                                             "IR", "KP", "SG", "AD", "ZW", "HK"};

// Duration literals (microseconds, text).
const std::vector<std::pair<int64_t, std::string>> kDurLits = {
    {0, "0s"},
    {kMicrosPerSecond, "1s"},
    {90 * 60 * kMicrosPerSecond, "90m"},
    {kMicrosPerDay, "1d"},
    {kMicrosPerDay + 12 * 3600 * kMicrosPerSecond, "1d12h"},
    {30 * kMicrosPerDay, "30d"},
    {3650 * kMicrosPerDay, "3650d"}};
const std::vector<int64_t> kDurs = {
    0,       1,       -1,         kMicrosPerSecond, kMicrosPerDay, -kMicrosPerDay, 30 * kMicrosPerDay,
    kIntMax, kIntMin, kIntMax / 2};

// Instants written in policies (effective/until, comparisons); events are
// placed exactly on them and one microsecond either side.
struct Instant {
  std::string text;
  bool date;
  int64_t micros;
};
const std::vector<Instant>& instants() {
  static const std::vector<Instant> v = [] {
    std::vector<Instant> out;
    for (const char* d : {"2023-11-17", "2024-01-01", "2024-02-29", "2025-01-13", "1970-01-01"})
      out.push_back({d, true, *parse_date(d)});
    for (const char* t : {"2024-06-01T12:00:00Z", "2024-06-01T12:00:00.5Z", "2024-03-14T09:12:00+08:00",
                          "2023-11-16T23:59:59Z"})
      out.push_back({t, false, *parse_rfc3339(t)});
    return out;
  }();
  return v;
}

// ---- literals ------------------------------------------------------------------------

std::string int_lit(int64_t v) {
  if (v == kIntMin) return "(-9223372036854775807 - 1)";
  if (v < 0) return fmt::format("(-{})", -v);
  return std::to_string(v);
}

std::string num_lit(double v) {
  std::string s = fmt::format("{}", std::fabs(v));
  if (s.find_first_of(".e") == std::string::npos) s += ".0";
  return std::signbit(v) ? "(-" + s + ")" : s;
}

std::string str_lit(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\' || c == '{' || c == '}') out += '\\';
    out += c;
  }
  return out + "\"";
}

// ---- the policy model ------------------------------------------------------------------

struct FieldDef {
  std::string name;
  Ty type;
};
struct KindField {
  int field;  // FieldDef index; -1 is the `time` field
  bool optional;
};
struct KindDef {
  std::string name;
  std::vector<KindField> fields;
};
struct SetDef {
  std::string name;
  Ty elem;
};
struct ColumnDef {
  std::string name;
  Ty type;
  bool optional;
};
struct TableDef {
  std::string name;
  Ty key;
  std::vector<ColumnDef> columns;
  std::vector<std::string> key_literals;  // as written in the rows
};
struct DefDef {
  std::string name;
  std::vector<Ty> params;
  Ty result;
};
struct ConstDef {
  std::string name;
  Ty type;
};

struct Model {
  std::vector<FieldDef> fields;
  std::vector<KindDef> kinds;
  std::vector<SetDef> sets;
  std::vector<TableDef> tables;
  std::vector<DefDef> defs;
  std::vector<ConstDef> consts;
  std::string text;
};

// Where a country literal may stand: `Hint` where the checker expects a
// country (so an `if` passes the hint on to its branches), `Coerce` where a
// bare literal is converted but nested ones are not, `None` nowhere.
enum class Lit { None, Coerce, Hint };

// What an expression may read: the rule's fields (optional for the rule when
// optional or missing in one of its kinds), def parameters, earlier defs, and
// the guards (facts) in force: "f:FIELD", "r:TABLE|KEY", "c:TABLE|KEY|COLUMN".
struct Scope {
  bool rule = false;
  std::vector<std::pair<int, bool>> fields;  // FieldDef index, optional for the rule
  std::vector<Ty> params;
  size_t callable_defs = 0;
  std::set<std::string> facts;
  bool in_key = false;  // table keys: no set literals (guards compare keys as written)
};

struct E {
  std::string text;
  bool constant = false;
};

class Generator {
 public:
  Generator(Rng& rng, Model& m) : rng_(rng), m_(m) {}

  void generate();

 private:
  Rng& rng_;
  Model& m_;
  // Per rule or def: which types have a non-constant expression, and how
  // many derivation steps it takes (so leaves only step to smaller ranks).
  // Guards do not change it.
  int rank_[kTypes] = {};

  static int idx(Ty t) { return static_cast<int>(t); }
  bool nonconst_ok(Ty t) const { return rank_[idx(t)] >= 0; }

  void compute_ranks(const Scope& s);
  E literal(Ty t);
  E expr(Ty t, int depth, Scope& s, bool nonconst, Lit lit = Lit::Hint);
  std::optional<E> atom(Ty t, int depth, Scope& s, bool nonconst, Lit lit);
  std::optional<E> composite(Ty t, int depth, Scope& s, bool nonconst, Lit lit);
  std::optional<E> guarded(Ty t, int depth, Scope& s, bool nonconst, Lit lit);
  E comparison(int depth, Scope& s, bool nonconst);
  E membership(int depth, Scope& s, bool nonconst);
  E key_expr(const TableDef& t, Scope& s);
  std::string set_expr(Ty elem, bool bare);
  E def_call(const DefDef& d, int depth, Scope& s);

  void gen_schema();
  void gen_sets(std::string& out);
  void gen_tables(std::string& out);
  void gen_consts(std::string& out);
  void gen_defs(std::string& out);
  void gen_rules(std::string& out);
};

void Generator::compute_ranks(const Scope& s) {
  bool base[kTypes] = {};
  if (s.rule) {
    base[idx(Ty::Time)] = true;
    for (auto [f, opt] : s.fields) base[idx(m_.fields[static_cast<size_t>(f)].type)] = true;
  }
  for (Ty p : s.params) base[idx(p)] = true;
  for (const TableDef& t : m_.tables) {
    base[idx(Ty::Bool)] = true;
    for (const ColumnDef& c : t.columns) base[idx(c.type)] = true;
  }
  for (size_t i = 0; i < s.callable_defs; ++i) base[idx(m_.defs[i].result)] = true;
  for (int t = 0; t < kTypes; ++t) rank_[t] = base[t] ? 0 : -1;
  // Derivations: number <- int; int <- len(string); duration <- int (1d * i)
  // and <- time (t - t); time <- duration (literal + d); bool <- anything.
  for (int round = 1; round < 8; ++round) {
    auto derive = [&](Ty to, Ty from) {
      if (rank_[idx(to)] < 0 && rank_[idx(from)] >= 0 && rank_[idx(from)] < round) rank_[idx(to)] = round;
    };
    derive(Ty::Num, Ty::Int);
    derive(Ty::Int, Ty::Str);
    derive(Ty::Dur, Ty::Int);
    derive(Ty::Dur, Ty::Time);
    derive(Ty::Time, Ty::Dur);
    for (Ty from : kAllTypes)
      if (from != Ty::Bool) derive(Ty::Bool, from);
  }
}

E Generator::literal(Ty t) {
  switch (t) {
    case Ty::Bool: return {rng_.chance(50) ? "true" : "false", true};
    case Ty::Int: return {int_lit(rng_.chance(80) ? rng_.pick(kInts) : rng_.range(-50, 50)), true};
    case Ty::Num: return {rng_.chance(15) ? int_lit(rng_.range(-3, 5)) : num_lit(rng_.pick(kNums)), true};
    case Ty::Str: return {str_lit(rng_.pick(kPoolStrings)), true};
    case Ty::Country: return {str_lit(rng_.pick(kCountries)), true};
    case Ty::Time: {
      const Instant& i = rng_.pick(instants());
      return {i.date ? format_time(i.micros) : i.text, true};
    }
    case Ty::Dur: return {rng_.pick(kDurLits).second, true};
  }
  return {"true", true};
}

// An atom: a literal, const, field, parameter, table cell, built-in or def
// call. Returns nothing when no atom of this type fits the constraints.
std::optional<E> Generator::atom(Ty t, int depth, Scope& s, bool nonconst, Lit lit) {
  std::vector<std::pair<int, std::function<E()>>> options;
  if (!nonconst && (t != Ty::Country || lit != Lit::None))
    options.push_back({t == Ty::Bool ? 1 : 3, [&] { return literal(t); }});
  if (!nonconst)
    for (const ConstDef& c : m_.consts)
      if (c.type == t || (t == Ty::Num && c.type == Ty::Int))
        options.push_back({1, [&, c] { return E{c.name, true}; }});
  if (s.rule) {
    if (t == Ty::Time) options.push_back({4, [] { return E{"event.time", false}; }});
    for (auto [f, optional] : s.fields) {
      const FieldDef& fd = m_.fields[static_cast<size_t>(f)];
      if (fd.type != t && !(t == Ty::Num && fd.type == Ty::Int)) continue;
      if (!optional || s.facts.count("f:" + fd.name)) {
        options.push_back({optional ? 8 : 4, [&, fd] { return E{"event." + fd.name, false}; }});
      } else {
        options.push_back(
            {2, [&, fd] {
               Ty dt = fd.type;
               return E{fmt::format("(event.{} otherwise {})", fd.name, expr(dt, 0, s, false).text), false};
             }});
      }
    }
  }
  for (size_t i = 0; i < s.params.size(); ++i)
    if (s.params[i] == t || (t == Ty::Num && s.params[i] == Ty::Int))
      options.push_back({4, [i] { return E{fmt::format("p{}", i), false}; }});
  for (const TableDef& tab : m_.tables) {
    for (const ColumnDef& c : tab.columns) {
      if (c.type != t) continue;
      // Guarded reads of rows and cells the facts prove present.
      for (const std::string& fact : s.facts) {
        std::string row_prefix = "r:" + tab.name + "|";
        if (fact.rfind(row_prefix, 0) == 0 && !c.optional) {
          std::string key = fact.substr(row_prefix.size());
          options.push_back({8, [&, key, c] {
                               return E{fmt::format("{}[{}].{}", tab.name, key, c.name), false};
                             }});
        }
        std::string cell_prefix = "c:" + tab.name + "|";
        std::string cell_suffix = "|" + c.name;
        if (fact.rfind(cell_prefix, 0) == 0 && fact.size() > cell_prefix.size() + cell_suffix.size() &&
            fact.compare(fact.size() - cell_suffix.size(), cell_suffix.size(), cell_suffix) == 0) {
          std::string key =
              fact.substr(cell_prefix.size(), fact.size() - cell_prefix.size() - cell_suffix.size());
          options.push_back({8, [&, key, c] {
                               return E{fmt::format("{}[{}].{}", tab.name, key, c.name), false};
                             }});
        }
      }
      options.push_back({s.in_key ? 1 : 2, [&, c] {
                           E key = key_expr(tab, s);
                           return E{fmt::format("({}[{}].{} otherwise {})", tab.name, key.text, c.name,
                                                expr(c.type, 0, s, false).text),
                                    false};
                         }});
    }
  }
  if (t == Ty::Int)
    options.push_back({1, [&] { return E{"len(" + expr(Ty::Str, depth - 1, s, false).text + ")", false}; }});
  if (t == Ty::Str && depth > 0)
    options.push_back({1, [&] {
                         return E{fmt::format("{}({})", rng_.chance(50) ? "lower" : "upper",
                                              expr(Ty::Str, depth - 1, s, false).text),
                                  false};
                       }});
  if (t == Ty::Bool && depth > 0)
    options.push_back(
        {2, [&] {
           const char* fn = rng_.pick(std::vector<const char*>{"starts_with", "ends_with", "contains"});
           E a = expr(Ty::Str, depth - 1, s, false);
           E b = expr(Ty::Str, depth - 1, s, false);
           return E{fmt::format("{}({}, {})", fn, a.text, b.text), false};
         }});
  if (depth > 0 || nonconst)
    for (size_t i = 0; i < s.callable_defs; ++i)
      if (m_.defs[i].result == t || (t == Ty::Num && m_.defs[i].result == Ty::Int))
        options.push_back({2, [&, i] { return def_call(m_.defs[i], depth, s); }});
  if (options.empty()) return std::nullopt;
  int total = 0;
  for (auto& o : options) total += o.first;
  int r = static_cast<int>(rng_.below(static_cast<size_t>(total)));
  for (auto& o : options) {
    if (r < o.first) return o.second();
    r -= o.first;
  }
  return options.back().second();
}

E Generator::def_call(const DefDef& d, int depth, Scope& s) {
  std::string args;
  for (size_t i = 0; i < d.params.size(); ++i) {
    if (i) args += ", ";
    args += expr(d.params[i], std::max(0, depth - 2), s, false).text;
  }
  return {fmt::format("{}({})", d.name, args), false};
}

E Generator::key_expr(const TableDef& t, Scope& s) {
  bool saved = s.in_key;
  s.in_key = true;
  // Keys inside keys are literals, so lookups nest only one level deep.
  E k;
  if ((saved || rng_.chance(40)) && !t.key_literals.empty())
    k = {rng_.pick(t.key_literals), true};
  else if (saved)
    k = literal(t.key);
  else
    k = expr(t.key, rng_.range(0, 1), s, false, Lit::Coerce);
  s.in_key = saved;
  return k;
}

// A set of `elem`: a named set, a literal, or a union or difference. `bare`:
// a literal set stands alone, so its members alone decide its element type;
// number literals are then whole, so that an int on the left of `in` keeps
// an int set.
std::string Generator::set_expr(Ty elem, bool bare) {
  std::vector<const SetDef*> named;
  for (const SetDef& d : m_.sets)
    if (d.elem == elem) named.push_back(&d);
  auto literal_set = [&](bool whole) {
    std::string out = "{ ";
    int n = rng_.range(1, 4);
    for (int i = 0; i < n; ++i) {
      if (i) out += ", ";
      out += whole && elem == Ty::Num ? int_lit(rng_.range(-3, 5)) : literal(elem).text;
    }
    return out + " }";
  };
  if (named.empty() || rng_.chance(25)) return literal_set(bare);
  const SetDef& d = *named[rng_.below(named.size())];
  if (rng_.chance(20))
    return fmt::format("({} {} {})", d.name, rng_.chance(50) ? "+" : "-", literal_set(false));
  return d.name;
}

// `x in S`, `x not in S`, `k in T`, `k not in T`.
E Generator::membership(int depth, Scope& s, bool nonconst) {
  if (!m_.tables.empty() && rng_.chance(40)) {
    const TableDef& t = rng_.pick(m_.tables);
    E k = key_expr(t, s);
    return {fmt::format("({} {}in {})", k.text, rng_.chance(30) ? "not " : "", t.name), false};
  }
  std::vector<Ty> elems;
  for (Ty t : {Ty::Str, Ty::Country, Ty::Int, Ty::Num, Ty::Dur, Ty::Time})
    if (!nonconst || nonconst_ok(t)) elems.push_back(t);
  if (elems.empty()) {
    if (!m_.tables.empty()) {
      const TableDef& t = m_.tables.front();
      return {fmt::format("({} in {})", key_expr(t, s).text, t.name), false};
    }
    return comparison(depth, s, nonconst);
  }
  Ty elem = rng_.pick(elems);
  E x = expr(elem, depth - 1, s, nonconst, Lit::Coerce);
  return {fmt::format("({} {}in {})", x.text, rng_.chance(30) ? "not " : "", set_expr(elem, true)),
          x.constant};
}

E Generator::comparison(int depth, Scope& s, bool nonconst) {
  // Pick a comparable type; with `nonconst`, one whose left side can be non-constant.
  std::vector<Ty> types;
  for (Ty t : {Ty::Int, Ty::Num, Ty::Str, Ty::Country, Ty::Time, Ty::Dur, Ty::Bool})
    if (nonconst_ok(t) && (!nonconst || rank_[idx(t)] < rank_[idx(Ty::Bool)] || depth > 0))
      types.push_back(t);
  if (types.empty()) types.push_back(Ty::Int);
  Ty t = rng_.pick(types);
  bool left_nonconst = nonconst || t == Ty::Country;
  if (left_nonconst && !nonconst_ok(t)) left_nonconst = false;
  bool ordered = t != Ty::Country && t != Ty::Bool;
  const char* op = ordered ? rng_.pick(std::vector<const char*>{"==", "!=", "<", "<=", ">", ">="})
                           : rng_.pick(std::vector<const char*>{"==", "!="});
  Ty lt = t, rt = t;
  if (t == Ty::Num) {
    lt = rng_.chance(70) ? Ty::Num : Ty::Int;
    rt = rng_.chance(70) ? Ty::Num : Ty::Int;
    if (lt == Ty::Int && left_nonconst && !nonconst_ok(Ty::Int)) lt = Ty::Num;
  }
  E a = expr(lt, depth - 1, s, left_nonconst, Lit::None);
  E b;
  if (t == Ty::Time && rng_.chance(40)) {
    const Instant& i = rng_.pick(instants());
    b = {i.text, true};
  } else {
    b = expr(rt, depth - 1, s, false, a.constant ? Lit::None : Lit::Hint);
  }
  return {fmt::format("({} {} {})", a.text, op, b.text), a.constant && b.constant};
}

// Guard patterns: an optional field, a table row or an optional cell tested
// first, then read in the guarded part.
std::optional<E> Generator::guarded(Ty t, int depth, Scope& s, bool nonconst, Lit lit) {
  struct Guard {
    std::string test, negated, fact;
  };
  std::vector<Guard> guards;
  if (s.rule)
    for (auto [f, optional] : s.fields) {
      const std::string& name = m_.fields[static_cast<size_t>(f)].name;
      if (optional && !s.facts.count("f:" + name))
        guards.push_back(
            {fmt::format("event.{} is present", name), fmt::format("event.{} is absent", name), "f:" + name});
    }
  if (!s.in_key && !m_.tables.empty()) {
    const TableDef& tab = rng_.pick(m_.tables);
    E k = key_expr(tab, s);
    if (rng_.chance(75))
      guards.push_back({fmt::format("{} in {}", k.text, tab.name),
                        fmt::format("{} not in {}", k.text, tab.name),
                        fmt::format("r:{}|{}", tab.name, k.text)});
    else
      guards.push_back({fmt::format("{}[{}] is present", tab.name, k.text),
                        fmt::format("{}[{}] is absent", tab.name, k.text),
                        fmt::format("r:{}|{}", tab.name, k.text)});
    for (const ColumnDef& c : tab.columns)
      if (c.optional && rng_.chance(50)) {
        guards.push_back({fmt::format("{}[{}].{} is present", tab.name, k.text, c.name),
                          fmt::format("{}[{}].{} is absent", tab.name, k.text, c.name),
                          fmt::format("c:{}|{}|{}", tab.name, k.text, c.name)});
        break;
      }
  }
  if (guards.empty()) return std::nullopt;
  if (t == Ty::Country && lit != Lit::Hint && !nonconst_ok(Ty::Country)) return std::nullopt;
  const Guard& g = rng_.pick(guards);
  Scope inner = s;
  inner.facts.insert(g.fact);
  if (t == Ty::Bool && rng_.chance(60)) {
    E body = expr(Ty::Bool, depth - 1, inner, false);
    if (rng_.chance(50)) return E{fmt::format("({} and {})", g.test, body.text), false};
    return E{fmt::format("({} or {})", g.negated, body.text), false};
  }
  Lit branch_lit = lit == Lit::Hint ? Lit::Hint : Lit::None;
  E then_e = expr(t, depth - 1, inner, nonconst || (t == Ty::Country && branch_lit == Lit::None), branch_lit);
  E else_e = expr(t, depth - 1, s, nonconst || (t == Ty::Country && branch_lit == Lit::None), branch_lit);
  return E{fmt::format("(if {} then {} else {})", g.test, then_e.text, else_e.text), false};
}

std::optional<E> Generator::composite(Ty t, int depth, Scope& s, bool nonconst, Lit lit) {
  // One side of every arithmetic operation is non-constant: the checker
  // folds constant operations and rejects the ones that overflow.
  auto arith = [&](Ty lt, Ty rt, const char* op) -> std::optional<E> {
    const bool divide = std::string_view(op) == "/";
    bool left_nc = rng_.chance(50);
    if (!nonconst_ok(left_nc ? lt : rt)) left_nc = !left_nc;
    if (!nonconst_ok(left_nc ? lt : rt)) return std::nullopt;
    // A divisor the checker folds to zero is a compile error: divide by a
    // non-constant, or by a non-zero literal.
    const bool literal_divisor = divide && left_nc && (!nonconst_ok(rt) || rng_.chance(50));
    if (divide && !literal_divisor && !nonconst_ok(rt)) return std::nullopt;
    E a = expr(lt, depth - 1, s, left_nc);
    E b;
    if (literal_divisor) {
      double d = rng_.pick(kNums);
      b = {d == 0 ? "3" : num_lit(d), true};
    } else {
      b = expr(rt, depth - 1, s, !left_nc || divide);
    }
    return E{fmt::format("({} {} {})", a.text, op, b.text), false};
  };
  auto conditional = [&]() -> std::optional<E> {
    // A constant condition folds the `if` away: mostly avoid it.
    bool cond_nc = (nonconst || rng_.chance(85)) && nonconst_ok(Ty::Bool);
    if (nonconst && !cond_nc) return std::nullopt;
    E c = expr(Ty::Bool, depth - 1, s, cond_nc);
    Lit branch_lit = lit == Lit::Hint ? Lit::Hint : Lit::None;
    bool branch_nc = t == Ty::Country && branch_lit == Lit::None;
    if (branch_nc && !nonconst_ok(t)) return std::nullopt;
    E a = expr(t, depth - 1, s, branch_nc, branch_lit);
    E b = expr(t, depth - 1, s, branch_nc, branch_lit);
    return E{fmt::format("(if {} then {} else {})", c.text, a.text, b.text),
             c.constant && (a.constant || b.constant)};
  };
  std::vector<std::pair<int, std::function<std::optional<E>()>>> options;
  options.push_back({2, conditional});
  if (!s.in_key) options.push_back({3, [&] { return guarded(t, depth, s, nonconst, lit); }});
  switch (t) {
    case Ty::Int:
      for (const char* op : {"+", "-", "*"})
        options.push_back({3, [&, op] { return arith(Ty::Int, Ty::Int, op); }});
      if (nonconst_ok(Ty::Int))
        options.push_back({1, [&]() -> std::optional<E> {
                             return E{"(-" + expr(Ty::Int, depth - 1, s, true).text + ")", false};
                           }});
      break;
    case Ty::Num:
      for (const char* op : {"+", "-", "*", "/"})
        options.push_back({3, [&, op] {
                             return arith(rng_.chance(70) ? Ty::Num : Ty::Int,
                                          rng_.chance(70) ? Ty::Num : Ty::Int, op);
                           }});
      if (nonconst_ok(Ty::Num))
        options.push_back({1, [&]() -> std::optional<E> {
                             return E{"(-" + expr(Ty::Num, depth - 1, s, true).text + ")", false};
                           }});
      break;
    case Ty::Time:
      options.push_back({3, [&] { return arith(Ty::Time, Ty::Dur, rng_.chance(50) ? "+" : "-"); }});
      options.push_back({1, [&] { return arith(Ty::Dur, Ty::Time, "+"); }});
      break;
    case Ty::Dur:
      options.push_back({2, [&] { return arith(Ty::Time, Ty::Time, "-"); }});
      options.push_back({2, [&] { return arith(Ty::Dur, Ty::Dur, rng_.chance(50) ? "+" : "-"); }});
      options.push_back({2, [&] { return arith(Ty::Dur, Ty::Int, "*"); }});
      options.push_back({1, [&] { return arith(Ty::Int, Ty::Dur, "*"); }});
      if (nonconst_ok(Ty::Dur))
        options.push_back({1, [&]() -> std::optional<E> {
                             return E{"(-" + expr(Ty::Dur, depth - 1, s, true).text + ")", false};
                           }});
      break;
    case Ty::Bool:
      options.push_back({6, [&]() -> std::optional<E> { return comparison(depth, s, nonconst); }});
      if (!s.in_key)
        options.push_back({3, [&]() -> std::optional<E> { return membership(depth, s, nonconst); }});
      for (const char* op : {"and", "or"})
        options.push_back(
            {3, [&, op]() -> std::optional<E> {
               E a = expr(Ty::Bool, depth - 1, s, nonconst);
               E b = expr(Ty::Bool, depth - 1, s, false);
               return E{fmt::format("({} {} {})", a.text, op, b.text), a.constant && b.constant};
             }});
      options.push_back({2, [&]() -> std::optional<E> {
                           E a = expr(Ty::Bool, depth - 1, s, nonconst);
                           return E{"(not " + a.text + ")", a.constant};
                         }});
      if (!m_.tables.empty() && !s.in_key)
        options.push_back({1, [&]() -> std::optional<E> {
                             const TableDef& tab = rng_.pick(m_.tables);
                             return E{fmt::format("({}[{}] is {})", tab.name, key_expr(tab, s).text,
                                                  rng_.chance(50) ? "present" : "absent"),
                                      false};
                           }});
      if (s.rule)
        for (const auto& [f, optional] : s.fields)
          if (optional) {
            const std::string name = m_.fields[static_cast<size_t>(f)].name;
            options.push_back(
                {1, [&, name]() -> std::optional<E> {
                   return E{fmt::format("(event.{} is {})", name, rng_.chance(50) ? "present" : "absent"),
                            false};
                 }});
          }
      break;
    default: break;
  }
  for (int attempt = 0; attempt < 4; ++attempt) {
    int total = 0;
    for (auto& o : options) total += o.first;
    int r = static_cast<int>(rng_.below(static_cast<size_t>(total)));
    for (auto& o : options) {
      if (r < o.first) {
        if (auto e = o.second()) {
          if (!nonconst || !e->constant) return e;
        }
        break;
      }
      r -= o.first;
    }
  }
  return std::nullopt;
}

E Generator::expr(Ty t, int depth, Scope& s, bool nonconst, Lit lit) {
  if (nonconst && !nonconst_ok(t)) nonconst = false;  // callers check; never loop
  if (depth > 0 && rng_.chance(65)) {
    if (auto e = composite(t, depth, s, nonconst, lit)) return *e;
  }
  if (auto e = atom(t, depth, s, nonconst, lit)) return *e;
  // No non-constant atom of this type here: derive one from a type of lower
  // rank (this terminates: ranks strictly decrease).
  if (nonconst) {
    int r = rank_[idx(t)];
    auto lower = [&](Ty from) { return rank_[idx(from)] >= 0 && rank_[idx(from)] < r; };
    switch (t) {
      case Ty::Num:
        if (lower(Ty::Int)) return expr(Ty::Int, depth, s, true);
        break;
      case Ty::Int:
        if (lower(Ty::Str)) return {"len(" + expr(Ty::Str, depth, s, true).text + ")", false};
        break;
      case Ty::Dur:
        if (lower(Ty::Time))
          return {fmt::format("({} - {})", expr(Ty::Time, depth, s, true).text, literal(Ty::Time).text),
                  false};
        if (lower(Ty::Int)) return {fmt::format("(1d * {})", expr(Ty::Int, depth, s, true).text), false};
        break;
      case Ty::Time:
        if (lower(Ty::Dur))
          return {fmt::format("({} + {})", literal(Ty::Time).text, expr(Ty::Dur, depth, s, true).text),
                  false};
        break;
      case Ty::Bool:
        for (Ty from : {Ty::Int, Ty::Str, Ty::Num, Ty::Time, Ty::Dur, Ty::Country})
          if (lower(from)) {
            E a = expr(from, depth, s, true, Lit::None);
            E b = expr(from, 0, s, false, Lit::Hint);
            return {fmt::format("({} {} {})", a.text, from == Ty::Country ? "!=" : "<=", b.text), false};
          }
        break;
      default: break;
    }
  }
  return literal(t == Ty::Country && lit == Lit::None ? Ty::Str : t);  // unreachable in practice
}

// ---- declarations ------------------------------------------------------------------------

void Generator::gen_schema() {
  static const std::vector<Ty> field_types = {Ty::Bool, Ty::Int, Ty::Num, Ty::Str, Ty::Country, Ty::Dur};
  int pool = rng_.range(4, 10);
  for (int i = 0; i < pool; ++i) m_.fields.push_back({fmt::format("f{}", i), rng_.pick(field_types)});
  int kinds = rng_.chance(50) ? 1 : rng_.chance(80) ? 2 : 3;
  for (int k = 0; k < kinds; ++k) {
    KindDef kd{fmt::format("k{}", static_cast<char>('a' + k)), {}};
    int n = rng_.range(3, 8) - 1;  // plus `time`
    std::vector<int> order(m_.fields.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int>(i);
    for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng_.below(i)]);
    size_t time_at = rng_.below(static_cast<size_t>(std::min<int>(n, static_cast<int>(order.size()))) + 1);
    for (int i = 0; i < n && i < static_cast<int>(order.size()); ++i) {
      if (static_cast<size_t>(i) == time_at) kd.fields.push_back({-1, false});
      kd.fields.push_back({order[static_cast<size_t>(i)], rng_.chance(30)});
    }
    if (time_at >= kd.fields.size()) kd.fields.push_back({-1, false});
    m_.kinds.push_back(kd);
  }
}

void Generator::gen_sets(std::string& out) {
  static const std::vector<Ty> elems = {Ty::Country, Ty::Str, Ty::Int, Ty::Country, Ty::Str,
                                        Ty::Int,     Ty::Num, Ty::Dur, Ty::Time};
  int n = rng_.range(1, 3);
  for (int i = 0; i < n; ++i) {
    Ty elem = rng_.pick(elems);
    std::string name = fmt::format("S{}", i);
    std::string body;
    std::vector<const SetDef*> same;
    for (const SetDef& d : m_.sets)
      if (d.elem == elem) same.push_back(&d);
    if (!same.empty() && rng_.chance(40)) {
      const SetDef& base = *same[rng_.below(same.size())];
      // Union, difference, or (rarely) the empty set.
      body = rng_.chance(15)
                 ? fmt::format("{} - {}", base.name, base.name)
                 : fmt::format("{} {} {}", base.name, rng_.chance(60) ? "+" : "-", set_expr(elem, false));
    } else {
      std::set<std::string> members;
      int count = rng_.range(1, 6);
      for (int j = 0; j < count; ++j) members.insert(literal(elem).text);
      body = "{ ";
      bool first = true;
      for (const std::string& mtext : members) {
        body += (first ? "" : ", ") + mtext;
        first = false;
      }
      body += " }";
    }
    out += fmt::format("set {}: {} = {}\n", name, type_name(elem), body);
    m_.sets.push_back({name, elem});
  }
}

void Generator::gen_tables(std::string& out) {
  int n = rng_.range(0, 2);
  static const std::vector<Ty> keys = {Ty::Str, Ty::Country, Ty::Int, Ty::Str, Ty::Country,
                                       Ty::Int, Ty::Num,     Ty::Dur, Ty::Time};
  static const std::vector<Ty> cols = {Ty::Bool, Ty::Int, Ty::Num, Ty::Str, Ty::Country, Ty::Time, Ty::Dur};
  for (int i = 0; i < n; ++i) {
    TableDef t{fmt::format("t{}", i), rng_.pick(keys), {}, {}};
    int ncols = rng_.range(1, 4);
    for (int c = 0; c < ncols; ++c)
      t.columns.push_back({fmt::format("c{}", c), rng_.pick(cols), rng_.chance(35)});
    std::string text = fmt::format("table {}: {} -> {{ ", t.name, type_name(t.key));
    for (size_t c = 0; c < t.columns.size(); ++c)
      text += fmt::format("{}{}: {}{}", c ? ", " : "", t.columns[c].name, type_name(t.columns[c].type),
                          t.columns[c].optional ? "?" : "");
    text += " } = {\n";
    std::set<std::string> used;
    int rows = rng_.range(1, 5);
    for (int r = 0; r < rows; ++r) {
      std::string key = literal(t.key).text, same = key;
      if (t.key == Ty::Num) {  // keys are compared by value: 3 is 3.0, -0.0 is 0.0
        double d = rng_.pick(kNums);
        key = num_lit(d);
        same = fmt::format("{}", d == 0 ? 0.0 : d);
      }
      if (!used.insert(same).second) continue;
      t.key_literals.push_back(key);
      text += "  " + key + ": { ";
      bool first = true;
      for (const ColumnDef& c : t.columns) {
        if (c.optional && rng_.chance(40)) continue;
        text += fmt::format("{}{}: {}", first ? "" : ", ", c.name, literal(c.type).text);
        first = false;
      }
      if (first) {  // every column optional and skipped: `{}` would read as a set
        text += fmt::format("{}: {}", t.columns[0].name, literal(t.columns[0].type).text);
      }
      text += " },\n";
    }
    out += text + "}\n";
    m_.tables.push_back(std::move(t));
  }
}

void Generator::gen_consts(std::string& out) {
  int n = rng_.range(0, 2);
  for (int i = 0; i < n; ++i) {
    ConstDef c{fmt::format("K{}", i), rng_.chance(60) ? Ty::Int : Ty::Num};
    if (c.type == Ty::Int)
      out += fmt::format("const {} = {}\n", c.name, int_lit(rng_.pick(kInts)));
    else
      out += fmt::format("const {}: number = {}\n", c.name,
                         rng_.chance(30) ? int_lit(rng_.range(-9, 9)) : num_lit(rng_.pick(kNums)));
    m_.consts.push_back(c);
  }
}

void Generator::gen_defs(std::string& out) {
  static const std::vector<Ty> types = {Ty::Bool, Ty::Int, Ty::Num, Ty::Str, Ty::Country, Ty::Time, Ty::Dur};
  int n = rng_.range(1, 3);
  for (int i = 0; i < n; ++i) {
    DefDef d{fmt::format("d{}", i), {}, rng_.chance(40) ? Ty::Bool : rng_.pick(types)};
    int params = rng_.range(1, 3);
    for (int p = 0; p < params; ++p) d.params.push_back(rng_.pick(types));
    Scope s;
    s.params = d.params;
    s.callable_defs = static_cast<size_t>(i);
    compute_ranks(s);
    E body = expr(d.result, rng_.range(1, 3), s, false, Lit::Hint);
    std::string sig;
    for (size_t p = 0; p < d.params.size(); ++p)
      sig += fmt::format("{}p{}: {}", p ? ", " : "", p, type_name(d.params[p]));
    out += fmt::format("def {}({}): {} = {}\n", d.name, sig, type_name(d.result), body.text);
    m_.defs.push_back(d);
  }
}

void Generator::gen_rules(std::string& out) {
  bool custom = rng_.chance(30);
  std::vector<std::string> effects = {"allow", "report", "review", "deny"};
  if (custom) {
    effects = {"o_clear", "o_note", "o_hold"};
    if (rng_.chance(50)) effects.push_back("o_block");
    out += "outcomes " + effects[0];
    for (size_t i = 1; i < effects.size(); ++i) out += " < " + effects[i];
    out += "\n";
  }
  if (rng_.chance(30)) out += "default " + rng_.pick(effects) + "\n";

  // Now and then more than 64 rules, so fired bits span several words and
  // the JIT splits the rules into groups with a row loop each; now and then
  // deep conditions, past the size up to which the JIT if-converts a rule.
  const bool wide = rng_.chance(1);
  const bool deep = !wide && rng_.chance(3);
  int rules = wide ? rng_.range(65, 130) : rng_.range(1, 8);
  for (int r = 0; r < rules; ++r) {
    std::vector<int> kinds;
    std::string on;
    if (rng_.chance(m_.kinds.size() > 1 ? 25 : 10)) {
      on = "any";
      for (size_t k = 0; k < m_.kinds.size(); ++k) kinds.push_back(static_cast<int>(k));
    } else if (m_.kinds.size() > 1 && rng_.chance(35)) {
      // Two kinds, in either order.
      int a = static_cast<int>(rng_.below(m_.kinds.size()));
      int b =
          static_cast<int>((static_cast<size_t>(a) + 1 + rng_.below(m_.kinds.size() - 1)) % m_.kinds.size());
      on = m_.kinds[static_cast<size_t>(a)].name + ", " + m_.kinds[static_cast<size_t>(b)].name;
      kinds = {a, b};
    } else {
      int k = static_cast<int>(rng_.below(m_.kinds.size()));
      on = m_.kinds[static_cast<size_t>(k)].name;
      kinds = {k};
    }
    Scope s;
    s.rule = true;
    s.callable_defs = m_.defs.size();
    std::map<int, std::pair<int, bool>> seen;  // field -> (kinds having it, optional in one)
    for (int k : kinds)
      for (const KindField& kf : m_.kinds[static_cast<size_t>(k)].fields) {
        if (kf.field < 0) continue;
        auto& e = seen[kf.field];
        e.first++;
        e.second = e.second || kf.optional;
      }
    for (auto& [f, e] : seen) s.fields.push_back({f, e.second || e.first < static_cast<int>(kinds.size())});
    compute_ranks(s);

    std::string text = fmt::format("rule r{} on {}\n", r, on);
    if (rng_.chance(35)) text += "  effective " + rng_.pick(instants()).text + "\n";
    if (rng_.chance(25)) text += "  until " + rng_.pick(instants()).text + "\n";
    if (rng_.chance(70)) text += "  cite \"differential\"\n";
    std::string effect = rng_.pick(effects);

    // `when`, optionally opening with a guard that `unless` and the message may rely on.
    std::string when, unless;
    std::string guard_field;
    Scope after_when = s;
    if (rng_.chance(80)) {
      int depth = wide ? rng_.range(1, 3) : deep ? rng_.range(5, 6) : rng_.range(1, 4);
      std::vector<std::string> optional_fields;
      for (auto [f, optional] : s.fields)
        if (optional) optional_fields.push_back(m_.fields[static_cast<size_t>(f)].name);
      if (!optional_fields.empty() && rng_.chance(30)) {
        guard_field = rng_.pick(optional_fields);
        Scope inner = s;
        inner.facts.insert("f:" + guard_field);
        when =
            fmt::format("event.{} is present and {}", guard_field, expr(Ty::Bool, depth, inner, false).text);
        after_when = inner;
      } else {
        when = expr(Ty::Bool, depth, s, rng_.chance(80)).text;
      }
    }
    if (rng_.chance(30)) {
      unless = expr(Ty::Bool, rng_.range(1, 3), after_when, false).text;
    }
    // The message interpolates required fields and the guarded one.
    std::string message;
    if (rng_.chance(30)) {
      message = " \"fired";
      for (auto [f, optional] : s.fields)
        if ((!optional || m_.fields[static_cast<size_t>(f)].name == guard_field) && rng_.chance(50))
          message += fmt::format(" {{event.{}}}", m_.fields[static_cast<size_t>(f)].name);
      if (rng_.chance(30)) message += " at {event.time}";
      message += "\"";
    }
    text += "  " + effect + message + "\n";
    if (!when.empty()) text += "  when " + when + "\n";
    if (!unless.empty()) text += "  unless " + unless + "\n";
    out += text;
  }
}

void Generator::generate() {
  gen_schema();
  std::string out;
  for (const KindDef& k : m_.kinds) {
    out += "event " + k.name + " { ";
    for (size_t i = 0; i < k.fields.size(); ++i) {
      const KindField& kf = k.fields[i];
      if (i) out += ", ";
      if (kf.field < 0)
        out += "time: time";
      else
        out += fmt::format("{}: {}{}", m_.fields[static_cast<size_t>(kf.field)].name,
                           type_name(m_.fields[static_cast<size_t>(kf.field)].type), kf.optional ? "?" : "");
    }
    out += " }\n";
  }
  gen_consts(out);
  gen_sets(out);
  gen_tables(out);
  gen_defs(out);
  gen_rules(out);
  m_.text = out;
}

// ---- events ----------------------------------------------------------------------------

struct FieldValue {
  bool present = false;
  int64_t i = 0;
  double f = 0;
  std::string s;
};

struct Row {
  int kind = -1;  // -1: a row that failed to decode
  std::map<std::string, FieldValue> fields;
  int64_t time = 0;
};

int64_t random_time(Rng& rng) {
  if (rng.chance(4)) return rng.chance(50) ? kIntMax : kIntMin;
  if (rng.chance(70)) {
    int64_t t = rng.pick(instants()).micros;
    static const std::vector<int64_t> offsets = {0, 0, 0, 1, -1, kMicrosPerDay, -kMicrosPerDay, 500'000};
    return t + rng.pick(offsets);
  }
  return *parse_date("2020-01-01") + static_cast<int64_t>(rng.below(7ULL * 365 * 86400)) * kMicrosPerSecond;
}

FieldValue random_value(Rng& rng, Ty t) {
  FieldValue v;
  v.present = true;
  switch (t) {
    case Ty::Bool: v.i = rng.chance(50); break;
    case Ty::Int:
      v.i = rng.chance(70)   ? rng.pick(kInts)
            : rng.chance(70) ? rng.range(-100, 100)
                             : static_cast<int64_t>(rng.next());
      break;
    case Ty::Num:
      v.f = rng.chance(70)   ? rng.pick(kNums)
            : rng.chance(50) ? rng.range(-100, 100)
                             : rng.range(-1000, 1000) / 7.0;
      break;
    case Ty::Str: v.s = rng.chance(55) ? rng.pick(kPoolStrings) : rng.pick(kEventStrings); break;
    case Ty::Country:
      v.i = rng.chance(90) ? *country_index(rng.pick(kCountries))
                           : *country_index(rng.pick(all_country_codes()));
      break;
    case Ty::Time: v.i = random_time(rng); break;
    case Ty::Dur: v.i = rng.chance(80) ? rng.pick(kDurs) : rng.pick(kDurLits).first; break;
  }
  return v;
}

Row random_row(Rng& rng, const Model& m) {
  Row row;
  if (rng.chance(3)) return row;
  row.kind = static_cast<int>(rng.below(m.kinds.size()));
  for (const KindField& kf : m.kinds[static_cast<size_t>(row.kind)].fields) {
    if (kf.field < 0) {
      row.time = random_time(rng);
      continue;
    }
    const FieldDef& fd = m.fields[static_cast<size_t>(kf.field)];
    if (kf.optional && rng.chance(30)) continue;
    row.fields[fd.name] = random_value(rng, fd.type);
  }
  return row;
}

std::string show_row(const Model& m, const Row& row) {
  if (row.kind < 0) return "(a row that failed to decode)";
  const KindDef& k = m.kinds[static_cast<size_t>(row.kind)];
  const bool readable = row.time >= *parse_date("0001-01-01") && row.time <= *parse_date("9999-12-31");
  std::string out =
      k.name + " { time: " + (readable ? format_time(row.time) : std::to_string(row.time) + "us");
  for (const KindField& kf : k.fields) {
    if (kf.field < 0) continue;
    const FieldDef& fd = m.fields[static_cast<size_t>(kf.field)];
    auto it = row.fields.find(fd.name);
    if (it == row.fields.end()) continue;
    const FieldValue& v = it->second;
    std::string text;
    switch (fd.type) {
      case Ty::Bool: text = v.i ? "true" : "false"; break;
      case Ty::Num: text = fmt::format("{}", v.f); break;
      case Ty::Str: text = str_lit(v.s); break;
      case Ty::Country: text = str_lit(country_code(static_cast<uint16_t>(v.i))); break;
      case Ty::Dur: text = std::to_string(v.i) + "us"; break;
      default: text = std::to_string(v.i); break;
    }
    out += ", " + fd.name + ": " + text;
  }
  return out + " }";
}

// Writes the rows into a batch of the policy's schema.
void fill(const engine::Policy& p, const Model& m, const std::vector<Row>& rows, abi::Batch& batch) {
  batch.clear();
  for (size_t r = 0; r < rows.size(); ++r) {
    const Row& row = rows[r];
    uint32_t at = batch.begin_row(r + 1);
    if (row.kind < 0) continue;
    int kind = p.schema().kind_index(m.kinds[static_cast<size_t>(row.kind)].name);
    if (kind < 0) continue;  // cannot happen: the schema is the policy's own
    const abi::KindSpec& spec = p.schema().kinds[static_cast<size_t>(kind)];
    batch.set_kind(at, static_cast<uint8_t>(kind));
    for (const abi::FieldSpec& f : spec.fields) {
      abi::Column& col = batch.column(static_cast<size_t>(f.column));
      FieldValue v;
      if (f.name == "time") {
        v.present = true;
        v.i = row.time;
      } else if (auto it = row.fields.find(f.name); it != row.fields.end()) {
        v = it->second;
      }
      if (!v.present) continue;
      switch (f.type) {
        case abi::ColumnType::Bool: col.data<uint8_t>()[at] = v.i ? 1 : 0; break;
        case abi::ColumnType::Number: col.data<double>()[at] = v.f; break;
        case abi::ColumnType::String: col.data<uint32_t>()[at] = batch.intern(v.s); break;
        case abi::ColumnType::Country:
          batch.set_country(at, static_cast<size_t>(f.column), static_cast<uint16_t>(v.i));
          break;
        default: col.data<int64_t>()[at] = v.i; break;
      }
      if (!col.present.empty()) col.present[at] = 1;
    }
  }
}

// ---- running one case ------------------------------------------------------------------

// What one policy produced. Cases run on worker threads, so failures are
// collected as text and reported by the test's own thread (Catch2 assertions
// are not thread-safe).
struct CaseResult {
  bool rejected = false;
  std::string rejection_code, rejection_sample;
  std::vector<std::string> failures;
  size_t rows = 0, fired = 0, errors = 0, mismatches = 0;
  size_t largest_function = 0, instructions = 0;  // IR instructions of fires functions
  bool collapsed = false;                         // string regions became synthetic sets
  bool classes = false;                           // the JIT read country class bytes
  double front_ms = 0, o0_ms = 0, o2_ms = 0;
  std::array<size_t, 5> reasons{};  // error rows per ir::FaultReason
};

const char* kEngineNames[3] = {"interp", "jit -O0", "jit -O2"};

std::string show_result(const ir::Module& m, const engine::Results& r, uint32_t row) {
  uint8_t d = r.decision[row];
  std::string out = d == EDICT_DECISION_SKIPPED ? "skipped"
                    : d == EDICT_DECISION_ERROR ? "error"
                    : d < m.outcomes.size()     ? m.outcomes[d]
                                                : fmt::format("decision {}", d);
  out += ", fired [";
  bool first = true;
  for (size_t i = 0; i < m.rules.size(); ++i)
    if (r.rule_fired(row, i)) {
      out += (first ? "" : ", ") + m.rules[i].name;
      first = false;
    }
  out += "]";
  if (d == EDICT_DECISION_ERROR)
    out += fmt::format(", fault rule {} site {} reason {}",
                       r.fault_rule[row] < m.rules.size() ? m.rules[r.fault_rule[row]].name : "?",
                       r.fault_site[row], int{r.fault_reason[row]});
  return out;
}

// Generates policy `seed`, compiles it for the interpreter (through the
// engine) and twice with `jit` (O0, O2) from the same IR module, and compares
// the three on two batches of random rows.
CaseResult run_case(uint64_t seed, jit::Jit& jit) {
  CaseResult out;
  Rng rng(seed);
  Model model;
  Generator gen(rng, model);
  gen.generate();
  const std::string text = model.text;
  if (std::getenv("EDICT_DIFFERENTIAL_PRINT"))
    std::printf("---- seed %llu ----\n%s", static_cast<unsigned long long>(seed), text.c_str());

  SourceManager sources;
  DiagnosticSink sink;
  engine::CompileOptions options;
  options.backend = engine::Backend::Interp;
  auto reader = [&text](const std::string&, std::string*) -> std::optional<std::string> { return text; };
  std::unique_ptr<engine::Policy> policy =
      engine::Policy::compile({"differential.edict"}, sources, sink, options, reader);
  if (!policy) {
    out.rejected = true;
    for (const Diagnostic& d : sink.sorted())
      if (d.severity == Severity::Error) {
        out.rejection_code = d.code;
        out.rejection_sample = fmt::format("seed {}:\n{}\n{}", seed, text, render_human(sources, d));
        break;
      }
    return out;
  }
  out.front_ms = policy->compile_ms;
  const ir::Module& module = policy->module();
  for (const ir::Function& f : module.functions) {
    if (f.kind != ir::FunctionKind::Fires) continue;
    size_t n = 0;
    for (const ir::Block& b : f.blocks) n += b.insts.size();
    out.largest_function = std::max(out.largest_function, n);
    out.instructions += n;
  }

  // The same program lowered without collapsing string-only regions into
  // synthetic sets (ir/passes.h), run by the interpreter: the collapse must
  // not change any decision, fired rule or faulting rule.
  ir::LowerOptions plain_options;
  plain_options.collapse_string_regions = false;
  DiagnosticSink plain_sink;
  const ir::Module plain = ir::lower(policy->checked(), plain_sink, plain_options);
  if (!plain.ok() || plain.strings != module.strings) {
    out.failures.push_back(
        fmt::format("seed {}: lowering without collapse failed or renumbered strings\n{}", seed, text));
    ++out.mismatches;
    return out;
  }
  const interp::Interpreter plain_interp(plain, abi::column_map(policy->schema()));
  out.collapsed = module.sets.size() > plain.sets.size();

  // The JIT's columns as `edict eval` lays them out: the policy's, then the
  // class bytes of the country columns batch code tests against sets (the
  // interpreters read the same fields, which keep their columns).
  abi::Schema jit_schema = policy->schema();
  engine::add_country_classes(module, jit_schema);
  const jit::ColumnMap jit_columns = engine::jit_columns(jit_schema);
  out.classes = !jit_columns.classes.empty();
  std::unique_ptr<jit::CompiledPolicy> compiled[2];
  for (int level = 0; level < 2; ++level) {
    jit::JitOptions jo;
    jo.opt = level == 0 ? jit::OptLevel::O0 : jit::OptLevel::O2;
    auto c = jit.compile(module, jit_columns, jo);
    if (!c) {
      out.failures.push_back(
          fmt::format("seed {}: the checker accepted this policy but {} could not compile it: {}\n{}", seed,
                      kEngineNames[level + 1], c.error(), text));
      ++out.mismatches;
      return out;
    }
    compiled[level] = std::move(*c);
    (level == 0 ? out.o0_ms : out.o2_ms) = compiled[level]->codegen_ms() + compiled[level]->native_ms();
  }

  // Two batches through one Batch object, as the decoder reuses it: nothing
  // may leak from one batch into the next.
  abi::Batch batch(jit_schema, policy->symbols(), 256);
  for (int round = 0; round < 2; ++round) {
    // Mostly 64-256 rows; sometimes a handful, for loops with only a remainder.
    const uint32_t rows = static_cast<uint32_t>(rng.chance(8) ? rng.range(1, 9) : rng.range(64, 256));
    std::vector<Row> events;
    for (uint32_t r = 0; r < rows; ++r) events.push_back(random_row(rng, model));
    out.rows += rows;

    fill(*policy, model, events, batch);
    std::vector<const void*> data;
    std::vector<const uint8_t*> present;
    EdictColumns columns = engine::Policy::columns_of(batch, data, present);
    engine::Results results[3], uncollapsed;
    uncollapsed.reserve(rows, module.rules.size());
    for (int e = 0; e < 3; ++e) {
      results[e].reserve(rows, module.rules.size());
      // Poison the outputs: an engine must write every decision and fired word.
      std::fill(results[e].decision.begin(), results[e].decision.end(), uint8_t{0xAB});
      std::fill(results[e].fired.begin(), results[e].fired.end(), ~uint64_t{0});
    }
    policy->evaluate(batch, results[0]);
    for (int level = 0; level < 2; ++level) {
      EdictResults view = results[level + 1].view();
      compiled[level]->evaluate(columns, view);
    }
    EdictResults plain_view = uncollapsed.view();
    plain_interp.eval_batch(columns, plain_view);

    for (uint32_t r = 0; r < rows; ++r) {
      const engine::Results& a = results[0];
      const uint8_t d = a.decision[r];
      // The decision must follow from the fired rules and the fault must name
      // a site of the faulting rule: a check of all engines at once.
      if (d != EDICT_DECISION_ERROR && d != EDICT_DECISION_SKIPPED) {
        int best = -1;
        for (size_t i = 0; i < module.rules.size(); ++i)
          if (a.rule_fired(r, i)) best = std::max(best, module.rules[i].effect);
        if (static_cast<int>(d) != (best >= 0 ? best : module.default_outcome))
          out.failures.push_back(
              fmt::format("seed {} row {}: decision {} does not follow from the fired rules ({})\n{}", seed,
                          r, d, show_result(module, a, r), text));
        if (best >= 0) ++out.fired;
        // Messages only run in the interpreter; those of fired rules read
        // required or guarded fields only, so they must never fault.
        for (size_t i = 0; i < module.rules.size(); ++i)
          if (a.rule_fired(r, i) && !policy->interpreter().message(static_cast<int>(i), columns, r).ok())
            out.failures.push_back(fmt::format("seed {} row {}: the message of fired rule {} faulted\n{}{}",
                                               seed, r, module.rules[i].name, text,
                                               show_row(model, events[r])));
      } else if (d == EDICT_DECISION_ERROR) {
        ++out.errors;
        const bool site_ok =
            a.fault_rule[r] < module.rules.size() && a.fault_site[r] < module.fault_sites.size() &&
            module.functions[static_cast<size_t>(module.fault_sites[a.fault_site[r]].function)].rule ==
                static_cast<int>(a.fault_rule[r]);
        if (!site_ok)
          out.failures.push_back(
              fmt::format("seed {} row {}: fault site {} is not a site of fault rule {}\n{}", seed, r,
                          a.fault_site[r], a.fault_rule[r], text));
        // The reason in the results is the one the consumers used to
        // recover by running the rule again.
        const ir::FaultReason reason =
            policy->interpreter().eval_rule(static_cast<int>(a.fault_rule[r]), columns, r).reason;
        if (a.fault_reason[r] != static_cast<uint8_t>(reason))
          out.failures.push_back(
              fmt::format("seed {} row {}: fault reason {} where the rule faults with {}\n{}", seed, r,
                          int{a.fault_reason[r]}, int(reason), text));
        if (a.fault_reason[r] < out.reasons.size()) ++out.reasons[a.fault_reason[r]];
      } else if (events[r].kind >= 0) {
        out.failures.push_back(fmt::format("seed {} row {}: a decoded row was skipped", seed, r));
      }
      {
        // Fault sites are numbered per module: compare where they point.
        auto same_span = [](const Span& x, const Span& y) {
          return x.file == y.file && x.begin == y.begin && x.end == y.end;
        };
        const engine::Results& b = uncollapsed;
        bool same = b.decision[r] == d;
        for (uint32_t w = 0; w < a.fired_words; ++w)
          same = same && a.fired[size_t{r} * a.fired_words + w] == b.fired[size_t{r} * b.fired_words + w];
        if (same && d == EDICT_DECISION_ERROR)
          same = a.fault_rule[r] == b.fault_rule[r] && a.fault_reason[r] == b.fault_reason[r] &&
                 b.fault_site[r] < plain.fault_sites.size() && a.fault_site[r] < module.fault_sites.size() &&
                 same_span(plain.fault_sites[b.fault_site[r]].span, module.fault_sites[a.fault_site[r]].span);
        if (!same && out.mismatches++ < 2)
          out.failures.push_back(fmt::format(
              "collapsing string regions changed a result (reproduce: EDICT_DIFFERENTIAL_SEED={} "
              "EDICT_DIFFERENTIAL_CASES=1)\n---- policy ----\n{}---- row {} ----\n{}\n---- results ----\n"
              "  collapsed: {}\n  uncollapsed: {}",
              seed, text, r, show_row(model, events[r]), show_result(module, a, r),
              show_result(plain, uncollapsed, r)));
      }
      for (int e = 1; e < 3; ++e) {
        const engine::Results& b = results[e];
        bool same = b.decision[r] == d;
        for (uint32_t w = 0; w < a.fired_words; ++w)
          same = same && a.fired[size_t{r} * a.fired_words + w] == b.fired[size_t{r} * b.fired_words + w];
        if (same && d == EDICT_DECISION_ERROR)
          same = a.fault_rule[r] == b.fault_rule[r] && a.fault_site[r] == b.fault_site[r] &&
                 a.fault_reason[r] == b.fault_reason[r];
        if (same) continue;
        if (out.mismatches++ < 2)
          out.failures.push_back(fmt::format(
              "engines disagree (reproduce: EDICT_DIFFERENTIAL_SEED={} EDICT_DIFFERENTIAL_CASES=1)\n"
              "---- policy ----\n{}---- row {} ----\n{}\n---- results ----\n  {}: {}\n  {}: {}\n  {}: {}",
              seed, text, r, show_row(model, events[r]), kEngineNames[0], show_result(module, results[0], r),
              kEngineNames[1], show_result(module, results[1], r), kEngineNames[2],
              show_result(module, results[2], r)));
        break;
      }
    }
  }
  return out;
}

uint64_t env_number(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  return std::strtoull(v, nullptr, 10);
}

}  // namespace

TEST_CASE("interpreter, JIT -O0 and JIT -O2 agree on random well-typed policies", "[differential]") {
  const uint64_t cases = env_number("EDICT_DIFFERENTIAL_CASES", 2000);
  const uint64_t first_seed = env_number("EDICT_DIFFERENTIAL_SEED", 1);
  // JIT compilation dominates; each worker has its own JIT, so compiles do
  // not queue on one JIT's locks.
  const unsigned hardware = std::max(1u, std::thread::hardware_concurrency());
  const uint64_t threads =
      std::max<uint64_t>(1, env_number("EDICT_DIFFERENTIAL_THREADS", std::min(2u, hardware)));

  std::vector<CaseResult> results(cases);
  std::atomic<uint64_t> next{0};
  std::vector<std::string> setup_errors(threads);
  auto worker = [&](size_t id) {
    auto jit = jit::Jit::create();
    if (!jit) {
      setup_errors[id] = jit.error();
      return;
    }
    for (uint64_t i = next++; i < cases; i = next++) results[i] = run_case(first_seed + i, **jit);
  };
  auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> pool;
  for (size_t t = 0; t < threads; ++t) pool.emplace_back(worker, t);
  for (std::thread& t : pool) t.join();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (const std::string& e : setup_errors) REQUIRE(e.empty());

  size_t rejected = 0, rows = 0, fired = 0, errors = 0, mismatches = 0, failures = 0;
  size_t branching = 0, grouped = 0;  // policies past the JIT's if-conversion and group sizes
  size_t collapsed = 0, classes = 0;
  double front_ms = 0, o0_ms = 0, o2_ms = 0;
  std::array<size_t, 5> reasons{};
  std::map<std::string, size_t> codes;
  std::vector<std::string> samples;
  for (const CaseResult& r : results) {
    rejected += r.rejected;
    if (r.rejected) {
      codes[r.rejection_code]++;
      if (samples.size() < 5) samples.push_back(r.rejection_sample);
    }
    rows += r.rows;
    branching += r.largest_function > 256;
    grouped += r.instructions > 1024;
    collapsed += r.collapsed;
    classes += r.classes;
    fired += r.fired;
    errors += r.errors;
    mismatches += r.mismatches;
    front_ms += r.front_ms;
    o0_ms += r.o0_ms;
    o2_ms += r.o2_ms;
    for (size_t i = 0; i < reasons.size(); ++i) reasons[i] += r.reasons[i];
    for (const std::string& f : r.failures)
      if (failures++ < 5) FAIL_CHECK(f);
  }
  std::printf(
      "differential: %llu policies (seeds %llu..%llu) on %llu threads, %zu rejected by the checker (%.1f%%), "
      "%zu rows (%zu with a fired rule, %zu errors), %zu disagreements, %zu failures; %.1f s "
      "(front end %.1f s, JIT -O0 %.1f s, JIT -O2 %.1f s, summed over threads)\n",
      static_cast<unsigned long long>(cases), static_cast<unsigned long long>(first_seed),
      static_cast<unsigned long long>(first_seed + cases - 1), static_cast<unsigned long long>(threads),
      rejected, cases ? 100.0 * static_cast<double>(rejected) / static_cast<double>(cases) : 0.0, rows, fired,
      errors, mismatches, failures, seconds, front_ms / 1000, o0_ms / 1000, o2_ms / 1000);
  std::printf(
      "  %zu policies with a rule over 256 IR instructions, %zu with over 1024 in all, %zu with string "
      "regions collapsed into synthetic sets, %zu with country class bytes\n",
      branching, grouped, collapsed, classes);
  std::printf("  errors by reason: %zu int_overflow, %zu division_by_zero, %zu non_finite, %zu absent\n",
              reasons[1], reasons[2], reasons[3], reasons[4]);
  for (const auto& [code, n] : codes) std::printf("  rejected with %s: %zu\n", code.c_str(), n);
  if (std::getenv("EDICT_DIFFERENTIAL_VERBOSE"))
    for (const std::string& s : samples) std::printf("%s\n", s.c_str());

  CHECK(mismatches == 0);
  CHECK(failures == 0);
  // The generator writes well-typed policies: a rejection is a generator bug.
  CHECK(rejected * 100 <= cases * 3);
  // Enough rows must fire rules and fault for agreement to mean something.
  CHECK(fired * 10 >= rows);
  CHECK(errors * 100 >= rows);
  // And the collapse of string regions must be exercised (about 3% of the
  // generated policies have a region over one string; checked over a real
  // run, not a one-seed reproduction).
  if (cases >= 100) CHECK(collapsed * 100 >= cases - rejected);
  // Faults of each reason a generated policy can reach (no checked source
  // reaches an absent value in a fires function; the [jit] tests cover it).
  if (cases >= 100) {
    CHECK(reasons[static_cast<size_t>(ir::FaultReason::IntOverflow)] > 0);
    CHECK(reasons[static_cast<size_t>(ir::FaultReason::DivisionByZero)] > 0);
    CHECK(reasons[static_cast<size_t>(ir::FaultReason::NonFinite)] > 0);
  }
}

// ---- symbolic analysis against the engines ----------------------------------------------

namespace {

// A row the decoder could have made: times of years 0001-9999 and durations
// in whole seconds >= 0 (what `edict verify` calls valid under the schema;
// the rows above also probe the engines past it).
bool valid_under_schema(const Model& m, const Row& row) {
  if (row.kind < 0) return false;
  if (row.time < *parse_date("0001-01-01") || row.time >= *parse_date("9999-12-31") + kMicrosPerDay)
    return false;
  for (const KindField& kf : m.kinds[static_cast<size_t>(row.kind)].fields) {
    if (kf.field < 0) continue;
    const FieldDef& fd = m.fields[static_cast<size_t>(kf.field)];
    auto it = row.fields.find(fd.name);
    if (it != row.fields.end() && fd.type == Ty::Dur && (it->second.i < 0 || it->second.i % kMicrosPerSecond))
      return false;
  }
  return true;
}

}  // namespace

// `edict verify`'s "cannot fire" (a proof, with no witness to replay) checked
// against the engines: on random policies from the generator above, a rule
// the solver proves vacuous never fires, on the interpreter or the JIT, on
// 10,000 random events valid under the schema.
// EDICT_ANALYSIS_CASES=N policies (default 25).
TEST_CASE("a rule verify proves vacuous never fires on random events", "[analysis]") {
  const uint64_t cases = env_number("EDICT_ANALYSIS_CASES", 25);
  constexpr uint32_t kRows = 10'000;
  size_t policies = 0, vacuous = 0, vacuous_fired = 0, rows_fired = 0, unknown = 0;
  for (uint64_t seed = 1; seed <= cases; ++seed) {
    Rng rng(seed);
    Model model;
    Generator gen(rng, model);
    gen.generate();
    const std::string text = model.text;
    auto reader = [&text](const std::string&, std::string*) -> std::optional<std::string> { return text; };
    SourceManager sources[2];
    std::unique_ptr<engine::Policy> policy[2];
    for (int e = 0; e < 2; ++e) {
      DiagnosticSink sink;
      engine::CompileOptions options;
      options.backend = e == 0 ? engine::Backend::Interp : engine::Backend::Jit;
      policy[e] = engine::Policy::compile({"analysis.edict"}, sources[e], sink, options, reader);
    }
    if (!policy[0] || !policy[1]) continue;  // the generator's rare rejections (counted by [differential])
    ++policies;
    const analysis::VerifyReport report = analysis::verify({policy[1].get(), policy[0].get()});
    std::set<std::string> cannot_fire;
    for (const analysis::Finding& f : report.findings) {
      if (f.check == "vacuous") cannot_fire.insert(f.rule);
      if (f.check == "unknown") ++unknown;
    }
    vacuous += cannot_fire.size();

    std::vector<Row> events;
    Rng event_rng(seed * 1'000'003);
    while (events.size() < kRows) {
      Row row = random_row(event_rng, model);
      if (valid_under_schema(model, row)) events.push_back(std::move(row));
    }
    const ir::Module& module = policy[0]->module();
    for (int e = 0; e < 2; ++e) {
      abi::Batch batch(policy[e]->schema(), policy[e]->symbols(), kRows);
      fill(*policy[e], model, events, batch);
      engine::Results results;
      results.reserve(kRows, module.rules.size());
      policy[e]->evaluate(batch, results);
      for (uint32_t r = 0; r < kRows; ++r)
        for (size_t i = 0; i < module.rules.size(); ++i) {
          if (!results.rule_fired(r, i)) continue;
          ++rows_fired;
          if (cannot_fire.count(module.rules[i].name)) {
            ++vacuous_fired;
            FAIL_CHECK(fmt::format("seed {}: verify proved rule {} vacuous, but {} fires it on {}\n{}", seed,
                                   module.rules[i].name, e == 0 ? "the interpreter" : "the JIT",
                                   show_row(model, events[r]), text));
          }
        }
    }
  }
  std::printf(
      "analysis: %zu policies, %zu rules proved vacuous, %zu rule firings on %u events each, %zu of "
      "them by a vacuous rule; %zu queries unknown\n",
      policies, vacuous, rows_fired, kRows, vacuous_fired, unknown);
  CHECK(vacuous_fired == 0);
  // The check means something only if the generator yields vacuous rules
  // and rules that do fire.
  CHECK(vacuous > 0);
  CHECK(rows_fired > 0);
}
