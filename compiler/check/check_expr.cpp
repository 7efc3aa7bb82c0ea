// Expression checking: types, implicit conversions (int -> number, string
// literal -> country), constant folding, set folding, and the guards (facts)
// that let an optional value be read where a condition proved it present.
#include <fmt/format.h>

#include <cctype>
#include <cstdlib>

#include <algorithm>
#include <cmath>
#include <unordered_set>

#include "compiler/check/checker_internal.h"
#include "support/countries.h"
#include "support/time_util.h"

namespace edict::check::detail {

namespace {

struct BuiltinSig {
  const char* name;
  Builtin id;
  std::vector<TypeKind> params;
  TypeKind result;
};

const std::vector<BuiltinSig>& builtins() {
  static const std::vector<BuiltinSig> sigs = {
      {"starts_with", Builtin::StartsWith, {TypeKind::String, TypeKind::String}, TypeKind::Bool},
      {"ends_with", Builtin::EndsWith, {TypeKind::String, TypeKind::String}, TypeKind::Bool},
      {"contains", Builtin::Contains, {TypeKind::String, TypeKind::String}, TypeKind::Bool},
      {"lower", Builtin::Lower, {TypeKind::String}, TypeKind::String},
      {"upper", Builtin::Upper, {TypeKind::String}, TypeKind::String},
      {"len", Builtin::Len, {TypeKind::String}, TypeKind::Int},
  };
  return sigs;
}

constexpr const char* kAggregates[] = {"sum", "avg", "min", "max", "count"};

bool ordered(TypeKind k) {
  return k == TypeKind::Int || k == TypeKind::Number || k == TypeKind::Time || k == TypeKind::Date ||
         k == TypeKind::Duration || k == TypeKind::String;
}

bool instant(TypeKind k) {
  return k == TypeKind::Time || k == TypeKind::Date;
}

// An int widens to a number as the IR's itof does.
double as_double(const Value& v) {
  return v.kind == TypeKind::Number ? v.n : arith::int_to_num(v.i);
}

// -1, 0, 1; both values of comparable kinds (checked before).
int compare_values(const Value& a, const Value& b) {
  if (a.kind == TypeKind::Number || b.kind == TypeKind::Number) {
    double x = as_double(a), y = as_double(b);
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (a.kind == TypeKind::String || a.kind == TypeKind::Country) return a.s < b.s ? -1 : a.s > b.s ? 1 : 0;
  return a.i < b.i ? -1 : a.i > b.i ? 1 : 0;
}

bool same_value(const Value& a, const Value& b) {
  if ((a.kind == TypeKind::Int || a.kind == TypeKind::Number) &&
      (b.kind == TypeKind::Int || b.kind == TypeKind::Number))
    return compare_values(a, b) == 0;
  if (instant(a.kind) && instant(b.kind)) return a.i == b.i;
  if (a.kind != b.kind) return false;
  return compare_values(a, b) == 0;
}

// `+`, `-` and `*` on ints, instants and durations, as the IR's iadd, isub
// and imul compute them.
arith::Checked<int64_t> fold_int(ast::Op op, int64_t a, int64_t b) {
  return op == ast::Op::Add   ? arith::int_add(a, b)
         : op == ast::Op::Sub ? arith::int_sub(a, b)
                              : arith::int_mul(a, b);
}

// `+`, `-`, `*` and `/` on numbers, as the IR's fadd ... fdiv compute them.
arith::Checked<double> fold_number(ast::Op op, double a, double b) {
  switch (op) {
    case ast::Op::Add: return arith::num_add(a, b);
    case ast::Op::Sub: return arith::num_sub(a, b);
    case ast::Op::Mul: return arith::num_mul(a, b);
    default: return arith::num_div(a, b);
  }
}

bool is_user_assigned_country(std::string_view code) {
  if (code.size() != 2) return false;
  char a = code[0], b = code[1];
  return (a == 'A' && b == 'A') || (a == 'Q' && b >= 'M' && b <= 'Z') || a == 'X' || (a == 'Z' && b == 'Z');
}

}  // namespace

// ---- entry -------------------------------------------------------------------

Type Checker::expr(const ast::Expr& e, Scope& s, const Type* hint) {
  if (e.id >= out_.expr_types.size()) {
    // Ids come from the parser; a node past next_id is a broken invariant,
    // but growing keeps the checker safe instead of writing out of bounds.
    const size_t n = static_cast<size_t>(e.id) + 1;
    out_.expr_types.resize(n, Type::error());
    out_.resolved.resize(n, nullptr);
    out_.param_index.resize(n, -1);
    out_.set_index.resize(n, -1);
    out_.table_index.resize(n, -1);
    out_.constant.resize(n, Value{});
    out_.builtin_index.resize(n, -1);
    maybe_absent_.resize(n, 0);
  }
  Type t = expr_inner(e, s, hint);
  out_.expr_types[e.id] = t;
  return t;
}

Type Checker::expr_inner(const ast::Expr& e, Scope& s, const Type* hint) {
  using K = ast::ExprKind;
  switch (e.kind) {
    case K::Int: out_.constant[e.id] = Value::make_int(e.int_value); return Type::of(TypeKind::Int);
    case K::Number:
      if (!std::isfinite(e.number_value)) {
        sink_.error("E0220", e.span, "this number is too large");
        return Type::error();
      }
      out_.constant[e.id] = Value::make_number(e.number_value);
      return Type::of(TypeKind::Number);
    case K::String:
      if (hint && hint->kind == TypeKind::Country) {
        auto v = country_value(e, true);
        if (!v) return Type::error();
        out_.constant[e.id] = *v;
        return Type::of(TypeKind::Country);
      }
      out_.constant[e.id] = Value::make_string(e.text);
      return Type::of(TypeKind::String);
    case K::Bool: out_.constant[e.id] = Value::make_bool(e.bool_value); return Type::of(TypeKind::Bool);
    case K::Date:
      out_.constant[e.id] = Value{TypeKind::Date, e.int_value, 0, {}};
      return Type::of(TypeKind::Date);
    case K::Time:
      out_.constant[e.id] = Value{TypeKind::Time, e.int_value, 0, {}};
      return Type::of(TypeKind::Time);
    case K::Duration:
      out_.constant[e.id] = Value{TypeKind::Duration, e.int_value, 0, {}};
      return Type::of(TypeKind::Duration);
    case K::Event: {
      if (!s.kinds) {
        auto& diag = sink_.error("E0110", e.span, "`event` is only available in rules");
        if (s.def)
          diag.help = "pass the value as a parameter: `def f(chip: string) ...` called as `f(event.chip)`";
        return Type::error();
      }
      if (s.kinds->empty()) return Type::error();  // the rule's kinds are in error
      Type t = Type::of(TypeKind::Event);
      t.record = s.kinds->size() == 1 ? (*s.kinds)[0] : -1;
      return t;
    }
    case K::Name: return name_expr(e, s);
    case K::Field: return field_expr(e, s);
    case K::Index: return index_expr(e, s);
    case K::Call: return call_expr(e, s);
    case K::Aggregate: return aggregate_expr(e, s);
    case K::Unary: return unary_expr(e, s);
    case K::Binary: return binary_expr(e, s);
    case K::In: return in_expr(e, s);
    case K::Is: return is_expr(e, s);
    case K::If: return if_expr(e, s, hint);
    case K::Otherwise: return otherwise_expr(e, s, hint);
    case K::SetLit: return set_literal(e, s, hint);
    case K::RecordLit: {
      auto& diag = sink_.error("E0216", e.span, "a record cannot be written here");
      diag.help = "records are the rows of a table and the events of examples and tests";
      return Type::error();
    }
    case K::Interpolation: return interpolation(e, s);
    case K::Error: return Type::error();
  }
  return Type::error();
}

// ---- names, fields, lookups, calls ------------------------------------------------

Type Checker::name_expr(const ast::Expr& e, Scope& s) {
  if (s.def && s.param_types) {
    for (size_t i = 0; i < s.def->params.size() && i < s.param_types->size(); ++i) {
      if (s.def->params[i].name != e.text) continue;
      out_.param_index[e.id] = static_cast<int>(i);
      return (*s.param_types)[i];
    }
  }
  const ast::Decl* d = lookup(e.text, s.file);
  if (!d) {
    if (file_has_failed_import(s.file)) return Type::error();
    auto& diag = sink_.error("E0100", e.span, fmt::format("unknown name `{}`", e.text));
    bool is_field = false;
    if (s.kinds)
      for (int k : *s.kinds) is_field = is_field || out_.records[k].field_index(e.text) >= 0;
    if (is_field) {
      diag.help = fmt::format("did you mean `event.{}`?", e.text);
    } else if (!sink_.limit_reached()) {
      std::vector<std::string> candidates =
          names_of({ast::DeclKind::Const, ast::DeclKind::Set, ast::DeclKind::Table}, s.file);
      if (s.def)
        for (const auto& p : s.def->params) candidates.push_back(p.name);
      diag.help = name_help(e.text, candidates);
    }
    return Type::error();
  }
  if (!visible(d, s.file)) resolve_global(e.text, e.span, s.file, "name", {}, "E0100");
  mark_used(d, s);
  out_.resolved[e.id] = d;
  switch (d->kind) {
    case ast::DeclKind::Const: {
      ensure_const(static_cast<const ast::ConstDecl&>(*d), e.span);
      const ConstState& st = consts_[d];
      if (st.state != State::Done) return Type::error();
      if (!st.type.is_error()) out_.constant[e.id] = st.value;
      return st.type;
    }
    case ast::DeclKind::Set: {
      ensure_set(static_cast<const ast::SetDecl&>(*d), e.span);
      auto it = set_of_.find(d);
      if (it == set_of_.end()) return Type::error();
      out_.set_index[e.id] = it->second;
      TypeKind elem = out_.sets[it->second].element;
      if (elem == TypeKind::Error) return Type::error();
      return Type::set_of(elem);
    }
    case ast::DeclKind::Table: {
      auto it = table_of_.find(d);
      if (it == table_of_.end()) return Type::error();
      out_.table_index[e.id] = it->second;
      const TableInfo& t = out_.tables[it->second];
      if (t.key == TypeKind::Error) return Type::error();
      return Type{TypeKind::Table, t.key, t.record, false};
    }
    default: break;
  }
  auto& diag =
      sink_.error("E0111", e.span, fmt::format("`{}` is {}, not a value", e.text, a_decl_kind(d->kind)));
  diag.labels.push_back({d->name_span, "declared here"});
  if (d->kind == ast::DeclKind::Def)
    diag.help = fmt::format("call it: `{}(...)`", e.text);
  else if (d->kind == ast::DeclKind::Event)
    diag.help = "read the event's fields with `event.field`";
  return Type::error();
}

Type Checker::field_expr(const ast::Expr& e, Scope& s) {
  if (e.children.empty() || !e.children[0]) return Type::error();
  const ast::Expr& base = *e.children[0];
  Type b = expr(base, s);
  if (b.is_error()) return Type::error();
  if (b.kind == TypeKind::Event) return event_field(e, s);
  if (b.kind == TypeKind::Record && b.record >= 0) {
    const RecordSchema& rs = out_.records[b.record];
    int fi = rs.field_index(e.text);
    if (fi < 0) {
      auto& diag = sink_.error("E0103", e.name_span,
                               rs.is_event ? fmt::format("event `{}` has no field `{}`", rs.name, e.text)
                                           : fmt::format("table `{}` has no field `{}`", rs.name, e.text));
      std::vector<std::string> names;
      for (const auto& f : rs.fields) names.push_back(f.name);
      diag.help = field_help(e.text, names, "`" + rs.name + "`");
      return Type::error();
    }
    Type t = rs.fields[fi].type;
    if (t.is_error()) return t;
    maybe_absent_[e.id] = maybe_absent_[base.id] || b.optional || t.optional;
    t.optional = b.optional || t.optional;
    if (t.optional && proven_present(e, s)) t.optional = false;
    return t;
  }
  auto& diag = sink_.error("E0214", e.name_span,
                           fmt::format("cannot read field `{}`: {} is {}, which has no fields", e.text,
                                       describe(base), type_text(b)));
  if (b.kind == TypeKind::Table)
    diag.help = fmt::format("look a row up first: `{}[key].{}`", base.text, e.text);
  return Type::error();
}

Type Checker::event_field(const ast::Expr& e, Scope& s) {
  const std::vector<int>& kinds = *s.kinds;
  std::vector<std::pair<int, Type>> found;
  for (int k : kinds) {
    int fi = out_.records[k].field_index(e.text);
    if (fi >= 0) found.emplace_back(k, out_.records[k].fields[fi].type);
  }
  if (found.empty()) {
    auto& diag = sink_.error(
        "E0103", e.name_span,
        kinds.size() == 1 ? fmt::format("event `{}` has no field `{}`", out_.records[kinds[0]].name, e.text)
                          : fmt::format("no event kind of this rule has a field `{}`", e.text));
    std::vector<std::string> names;
    for (int k : kinds)
      for (const auto& f : out_.records[k].fields)
        if (std::find(names.begin(), names.end(), f.name) == names.end()) names.push_back(f.name);
    diag.help = field_help(
        e.text, names,
        kinds.size() == 1 ? "`" + out_.records[kinds[0]].name + "`" : std::string("this rule's event kinds"));
    return Type::error();
  }
  for (const auto& [k, t] : found) {
    if (t.is_error()) return Type::error();
    if (t.required() == found[0].second.required()) continue;
    auto& diag = sink_.error(
        "E0221", e.name_span,
        fmt::format("field `{}` is {} in `{}` but {} in `{}`", e.text, type_text(found[0].second.required()),
                    out_.records[found[0].first].name, type_text(t.required()), out_.records[k].name));
    diag.help = "a rule on several kinds reads a field that has one type in all of them";
    return Type::error();
  }
  Type t = found[0].second.required();
  t.optional = found.size() < kinds.size() ||
               std::any_of(found.begin(), found.end(), [](const auto& f) { return f.second.optional; });
  maybe_absent_[e.id] = t.optional;
  if (t.optional && proven_present(e, s)) t.optional = false;
  return t;
}

Type Checker::index_expr(const ast::Expr& e, Scope& s) {
  if (e.children.size() < 2 || !e.children[0] || !e.children[1]) return Type::error();
  const ast::Expr& base = *e.children[0];
  const ast::Expr& key = *e.children[1];
  Type tb = expr(base, s);
  Type key_type = tb.kind == TypeKind::Table ? Type::of(tb.elem) : Type::error();
  Type tk = expr(key, s, tb.kind == TypeKind::Table ? &key_type : nullptr);
  if (tb.is_error()) return Type::error();
  if (tb.kind != TypeKind::Table) {
    auto& diag =
        sink_.error("E0215", base.span, fmt::format("{} is {}, not a table", describe(base), type_text(tb)));
    if (tb.kind == TypeKind::Set) diag.help = fmt::format("test membership with `x in {}`", base.text);
    return Type::error();
  }
  if (tk.is_error()) return Type::error();
  tk = require_value(key, tk);
  if (!coerce(key, tk, key_type)) {
    sink_.error(
        "E0200", key.span,
        fmt::format("the keys of {} are {}, found {}", describe(base), type_text(key_type), type_text(tk)));
    return Type::error();
  }
  Type t{TypeKind::Record, TypeKind::Error, tb.record, true};
  maybe_absent_[e.id] = 1;
  if (proven_present(e, s)) t.optional = false;
  return t;
}

Type Checker::call_expr(const ast::Expr& e, Scope& s) {
  const auto& sigs = builtins();
  auto b = std::find_if(sigs.begin(), sigs.end(), [&](const BuiltinSig& sig) { return e.text == sig.name; });
  std::vector<Type> params;
  TypeKind result_kind = TypeKind::Error;
  Type result = Type::error();
  std::string fn = e.text;
  bool known = false;
  if (b != sigs.end()) {
    out_.builtin_index[e.id] = static_cast<int>(b->id);
    for (TypeKind k : b->params) params.push_back(Type::of(k));
    result_kind = b->result;
    result = Type::of(result_kind);
    known = true;
  } else if (const ast::Decl* d = lookup(e.text, s.file)) {
    if (!visible(d, s.file)) resolve_global(e.text, e.name_span, s.file, "function", {}, "E0101");
    if (d->kind == ast::DeclKind::Def) {
      mark_used(d, s);
      out_.resolved[e.id] = d;
      if (s.owner && s.owner->kind == ast::DeclKind::Def) calls_[s.owner].emplace_back(d, e.name_span);
      const DefSignature& sig = defs_.at(d);
      params = sig.params;
      result = sig.result;
      known = true;
    } else {
      auto& diag = sink_.error("E0111", e.name_span,
                               fmt::format("`{}` is {}, not a function", e.text, a_decl_kind(d->kind)));
      diag.labels.push_back({d->name_span, "declared here"});
      if (d->kind == ast::DeclKind::Table) diag.help = fmt::format("look a row up with `{}[key]`", e.text);
    }
  } else if (!file_has_failed_import(s.file)) {
    auto& diag = sink_.error("E0101", e.name_span, fmt::format("unknown function `{}`", e.text));
    if (!sink_.limit_reached()) {
      std::vector<std::string> candidates = names_of({ast::DeclKind::Def}, s.file);
      for (const auto& sig : sigs) candidates.push_back(sig.name);
      std::string near = this->near(e.text, candidates);
      if (!near.empty()) diag.help = fmt::format("did you mean `{}`?", near);
    }
  }
  if (!known) {
    for (const auto& c : e.children)
      if (c) expr(*c, s);
    return Type::error();
  }
  if (e.children.size() != params.size()) {
    for (const auto& c : e.children)
      if (c) expr(*c, s);
    sink_.error("E0208", e.name_span,
                fmt::format("`{}` takes {} argument{}, but {} {} given", fn, params.size(),
                            params.size() == 1 ? "" : "s", e.children.size(),
                            e.children.size() == 1 ? "was" : "were"));
    return result;
  }
  for (size_t i = 0; i < params.size(); ++i) {
    if (!e.children[i]) continue;
    const ast::Expr& arg = *e.children[i];
    Type t = expr(arg, s, params[i].is_error() ? nullptr : &params[i]);
    if (t.is_error() || params[i].is_error()) continue;
    t = require_value(arg, t);
    if (!coerce(arg, t, params[i])) {
      std::string which =
          b == sigs.end() && out_.resolved[e.id]
              ? fmt::format("argument `{}` of `{}`",
                            static_cast<const ast::DefDecl*>(out_.resolved[e.id])->params[i].name, fn)
              : fmt::format("argument {} of `{}`", i + 1, fn);
      sink_.error("E0200", arg.span,
                  fmt::format("{} must be {}, found {}", which, type_text(params[i]), type_text(t)));
    }
  }
  return result;
}

// Windowed aggregates (semantics in docs/language.md, "Windowed aggregates").
// What the filter proves holds in the operand: `sum(event.x) over 30d where
// event.x is present` reads `event.x` unguarded, because the runtime
// evaluates the operand only for events that pass the filter. The key is
// evaluated for every event of the rule's kinds (it names the window the
// event reads, whether or not the event enters it), so it gets no facts. `sum` and `count` of an empty window
// are 0; `min`, `max` and `avg` of an empty window have no value, so their type is optional and a rule must
// say what then (`otherwise`, `is present`).
Type Checker::aggregate_expr(const ast::Expr& e, Scope& s) {
  auto child = [&](int i) -> const ast::Expr* {
    return i >= 0 && i < static_cast<int>(e.children.size()) ? e.children[i].get() : nullptr;
  };
  const ast::Expr* arg = child(e.agg_arg);
  const ast::Expr* window = child(e.agg_window);
  const ast::Expr* key = child(e.agg_key);
  const ast::Expr* filter = child(e.agg_filter);
  const std::string& fn = e.text;
  bool known = std::find(std::begin(kAggregates), std::end(kAggregates), fn) != std::end(kAggregates);
  Type result = Type::error();
  if (!known) {
    auto& diag = sink_.error("E0101", e.name_span, fmt::format("unknown aggregate `{}`", fn));
    std::string near = this->near(fn, {std::begin(kAggregates), std::end(kAggregates)});
    diag.help = near.empty() ? "the aggregates are `sum`, `avg`, `min`, `max` and `count`"
                             : fmt::format("did you mean `{}`?", near);
  }
  bool placed = true;
  if (!s.kinds) {
    auto& diag = sink_.error("E0292", e.name_span, "windowed aggregates are only available in rules");
    diag.help =
        "an aggregate counts the events a rule sees; write it in the rule's `when`, `unless` or message";
    placed = false;
  } else if (aggregate_depth_ > 0) {
    auto& diag = sink_.error("E0292", e.name_span, "a windowed aggregate cannot contain another one");
    diag.help = "aggregate the events' own fields; compare the aggregates in the rule instead";
    placed = false;
  }
  ++aggregate_depth_;
  Scope inner = s;
  if (filter) {
    Type tf = expr(*filter, s);
    if (!tf.is_error()) {
      tf = require_value(*filter, tf);
      if (tf.kind != TypeKind::Bool)
        sink_.error("E0200", filter->span,
                    fmt::format("`where` needs a condition (`bool`), found {}", type_text(tf)));
      else
        facts_when(*filter, true, inner.facts);
    }
  }
  Type ta = arg ? expr(*arg, inner) : Type::error();
  if (arg && !ta.is_error()) ta = require_value(*arg, ta);
  if (known && fn == "count") {
    result = Type::of(TypeKind::Int);
    if (e.distinct) {
      if (!arg) {
        sink_.error("E0291", e.name_span, "`count(distinct ...)` needs the value to count");
      } else if (!ta.is_error() && !is_scalar(ta.kind)) {
        sink_.error("E0200", arg->span,
                    fmt::format("`count(distinct ...)` counts single values, found {}", type_text(ta)));
      }
    } else if (arg) {
      auto& diag = sink_.error("E0291", arg->span, "`count()` takes no argument");
      diag.help = "write `count()` to count events, or `count(distinct x)` to count distinct values";
    }
  } else if (known) {
    if (e.distinct)
      sink_.error("E0291", e.name_span, fmt::format("`distinct` only applies to `count`, not `{}`", fn));
    if (!arg) {
      sink_.error("E0208", e.name_span, fmt::format("`{}` takes one argument", fn));
    } else if (!ta.is_error()) {
      bool ok = ta.is_numeric() || ((fn == "min" || fn == "max") &&
                                    (ta.kind == TypeKind::Duration || ta.kind == TypeKind::Time));
      if (!ok) {
        sink_.error("E0200", arg->span, fmt::format("`{}` needs numbers, found {}", fn, type_text(ta)));
      } else if (fn == "sum") {
        result = ta.required();
      } else {
        // An empty window has no minimum, maximum or average.
        result = fn == "avg" ? Type::of(TypeKind::Number) : ta.required();
        result.optional = true;
      }
    }
  }
  if (window) {
    Type tw = expr(*window, s);
    if (!tw.is_error() && (window->kind != ast::ExprKind::Duration || window->int_value <= 0)) {
      auto& diag = sink_.error("E0291", window->span, "the window must be a positive duration literal");
      diag.help = "write the window like `30d` or `12h`";
    }
  }
  if (key) {
    Type tk = expr(*key, s);  // evaluated for every event of the kind, filter or not
    if (!tk.is_error()) {
      tk = require_value(*key, tk);
      if (!is_scalar(tk.kind))
        sink_.error("E0200", key->span,
                    fmt::format("the key of a window must be a single value, found {}", type_text(tk)));
    }
  }
  --aggregate_depth_;
  if (!placed) return Type::error();
  maybe_absent_[e.id] = result.optional;
  if (result.optional && proven_present(e, s)) result.optional = false;
  return result;
}

// ---- operators -------------------------------------------------------------------

Type Checker::unary_expr(const ast::Expr& e, Scope& s) {
  if (e.children.empty() || !e.children[0]) return Type::error();
  const ast::Expr& c = *e.children[0];
  Type t = expr(c, s);
  if (t.is_error()) return t;
  t = require_value(c, t);
  const Value& v = out_.constant[c.id];
  if (e.op == ast::Op::Not) {
    if (t.kind != TypeKind::Bool) {
      sink_.error("E0200", c.span, fmt::format("`not` needs a condition (`bool`), found {}", type_text(t)));
      return Type::error();
    }
    if (v.kind == TypeKind::Bool) out_.constant[e.id] = Value::make_bool(!v.i);
    return t;
  }
  if (t.kind != TypeKind::Int && t.kind != TypeKind::Number && t.kind != TypeKind::Duration) {
    sink_.error("E0203", e.span, fmt::format("cannot negate {}", type_text(t)));
    return Type::error();
  }
  if (v.kind == TypeKind::Number) {
    out_.constant[e.id] = Value::make_number(arith::num_neg(v.n));
  } else if (v.kind == TypeKind::Int || v.kind == TypeKind::Duration) {
    arith::Checked<int64_t> z = arith::int_neg(v.i);
    if (!z.ok()) return fold_fault(e, z.fault);
    out_.constant[e.id] = Value{v.kind, z.value, 0, {}};
  }
  return t;
}

Type Checker::binary_expr(const ast::Expr& e, Scope& s) {
  if (e.children.size() < 2 || !e.children[0] || !e.children[1]) return Type::error();
  const ast::Expr& L = *e.children[0];
  const ast::Expr& R = *e.children[1];
  switch (e.op) {
    case ast::Op::And:
    case ast::Op::Or: {
      Type l = expr(L, s);
      size_t mark = s.facts.size();
      facts_when(L, e.op == ast::Op::And, s.facts);
      Type r = expr(R, s);
      s.facts.resize(mark);
      bool ok = true;
      for (auto [side, t] : {std::pair<const ast::Expr*, Type>{&L, l}, {&R, r}}) {
        if (t.is_error()) {
          ok = false;
          continue;
        }
        t = require_value(*side, t);
        if (t.kind != TypeKind::Bool) {
          sink_.error(
              "E0200", side->span,
              fmt::format("`{}` needs conditions (`bool`), found {}", ast::op_spelling(e.op), type_text(t)));
          ok = false;
        }
      }
      if (!ok) return Type::of(TypeKind::Bool);
      const Value& lv = out_.constant[L.id];
      const Value& rv = out_.constant[R.id];
      // Short-circuit folding: `false and x` is false whatever x is, since x is never evaluated.
      bool absorbing = e.op == ast::Op::Or;
      if (lv.kind == TypeKind::Bool && (lv.i != 0) == absorbing)
        out_.constant[e.id] = lv;
      else if (lv.kind == TypeKind::Bool && rv.kind == TypeKind::Bool)
        out_.constant[e.id] = rv;
      return Type::of(TypeKind::Bool);
    }
    case ast::Op::Add:
    case ast::Op::Sub:
    case ast::Op::Mul:
    case ast::Op::Div: {
      Type l = expr(L, s);
      const Type* hint = l.kind == TypeKind::Set ? &l : nullptr;
      Type r = expr(R, s, hint);
      if (l.is_error() || r.is_error()) return Type::error();
      if (l.kind == TypeKind::Set && r.kind == TypeKind::Set && l.elem != r.elem) {
        // `{"CN"} + D5`: a literal on the left learns its element type from the right.
        coerce(L, l, r);
        coerce(R, r, l);
      }
      l = require_value(L, l);
      r = require_value(R, r);
      return arithmetic(e, l, r);
    }
    default: {
      Type l = expr(L, s);
      const Type* hint = l.kind == TypeKind::Country ? &l : nullptr;
      Type r = expr(R, s, hint);
      if (l.is_error() || r.is_error()) return Type::error();
      l = require_value(L, l);
      r = require_value(R, r);
      if (l.kind == TypeKind::String && r.kind == TypeKind::Country) coerce(L, l, r);
      return comparison(e, l, r);
    }
  }
}

Type Checker::arithmetic(const ast::Expr& e, Type l, Type r) {
  const ast::Expr& L = *e.children[0];
  const ast::Expr& R = *e.children[1];
  const ast::Op op = e.op;
  const char* sp = ast::op_spelling(op);
  auto mismatch = [&](const char* help) {
    auto& diag = sink_.error("E0203", e.span,
                             fmt::format("cannot apply `{}` to {} and {}", sp, type_text(l), type_text(r)));
    if (help) diag.help = help;
    return Type::error();
  };
  const Value& lv = out_.constant[L.id];
  const Value& rv = out_.constant[R.id];
  const bool folded = lv.kind != TypeKind::Error && rv.kind != TypeKind::Error;

  if (l.kind == TypeKind::Set || r.kind == TypeKind::Set) {
    if (l.kind != TypeKind::Set || r.kind != TypeKind::Set)
      return mismatch("`+` and `-` combine two sets; test membership with `in`");
    if (op != ast::Op::Add && op != ast::Op::Sub)
      return mismatch("sets combine with `+` (union) and `-` (difference)");
    if (l.elem != r.elem && l.elem != TypeKind::Error && r.elem != TypeKind::Error) return mismatch(nullptr);
    TypeKind elem = l.elem != TypeKind::Error ? l.elem : r.elem;
    int li = out_.set_index[L.id], ri = out_.set_index[R.id];
    std::vector<Value> members;
    if (li >= 0 && ri >= 0) {
      const auto& a = out_.sets[li].members;
      const auto& b = out_.sets[ri].members;
      std::unordered_set<std::string> b_keys;
      for (const Value& v : b) b_keys.insert(value_key(v));
      if (op == ast::Op::Add) {
        MemberSet set;
        for (const Value& v : a) add_member(set, v, Span{}, false);
        for (const Value& v : b) add_member(set, v, Span{}, false);
        members = std::move(set.members);
      } else {
        for (const Value& v : a)
          if (!b_keys.count(value_key(v))) members.push_back(v);
      }
    }
    out_.set_index[e.id] = new_set(elem, std::move(members), nullptr, e.span);
    return Type::set_of(elem);
  }

  const TypeKind a = l.kind, b = r.kind;
  if (l.is_numeric() && r.is_numeric()) {
    const bool ints = a == TypeKind::Int && b == TypeKind::Int && op != ast::Op::Div;
    if (rv.kind != TypeKind::Error && op == ast::Op::Div && as_double(rv) == 0) {
      sink_.error("E0213", R.span, "division by zero");
      return Type::error();
    }
    if (folded) {
      if (ints) {
        arith::Checked<int64_t> z = fold_int(op, lv.i, rv.i);
        if (!z.ok()) return fold_fault(e, z.fault);
        out_.constant[e.id] = Value::make_int(z.value);
      } else {
        arith::Checked<double> z = fold_number(op, as_double(lv), as_double(rv));
        if (!z.ok()) return fold_fault(e, z.fault);
        out_.constant[e.id] = Value::make_number(z.value);
      }
    }
    return Type::of(ints ? TypeKind::Int : TypeKind::Number);
  }

  // Instants and durations.
  TypeKind result = TypeKind::Error;
  if (op == ast::Op::Add) {
    if ((a == TypeKind::Time && b == TypeKind::Duration) || (a == TypeKind::Duration && b == TypeKind::Time))
      result = TypeKind::Time;
    else if (a == TypeKind::Duration && b == TypeKind::Duration)
      result = TypeKind::Duration;
  } else if (op == ast::Op::Sub) {
    if (a == TypeKind::Time && b == TypeKind::Duration)
      result = TypeKind::Time;
    else if (a == TypeKind::Time && b == TypeKind::Time)
      result = TypeKind::Duration;
    else if (a == TypeKind::Duration && b == TypeKind::Duration)
      result = TypeKind::Duration;
  } else if (op == ast::Op::Mul) {
    if ((a == TypeKind::Duration && b == TypeKind::Int) || (a == TypeKind::Int && b == TypeKind::Duration))
      result = TypeKind::Duration;
  }
  if (result == TypeKind::Error) {
    if (a == TypeKind::Date || b == TypeKind::Date)
      return mismatch("date arithmetic is not defined; write a time, like `2023-11-17T00:00:00Z`");
    if (a == TypeKind::String && b == TypeKind::String && op == ast::Op::Add)
      return mismatch("strings cannot be joined; messages interpolate values with `{...}`");
    std::string quoted = quoted_literal_help(L, l, R, r);
    return mismatch(quoted.empty() ? nullptr : quoted.c_str());
  }
  if (folded) {
    arith::Checked<int64_t> z = fold_int(op, lv.i, rv.i);  // instants and durations are int64 micros
    if (!z.ok()) return fold_fault(e, z.fault);
    out_.constant[e.id] = Value{result, z.value, 0, {}};
  }
  return Type::of(result);
}

Type Checker::fold_fault(const ast::Expr& e, FaultReason why) {
  switch (why) {
    case FaultReason::IntOverflow:
      sink_.error("E0212", e.span, "integer overflow in this constant expression");
      break;
    case FaultReason::NonFinite:
      sink_.error("E0220", e.span, "this constant expression is not a finite number");
      break;
    case FaultReason::DivisionByZero:  // arithmetic() reports a zero divisor before folding
      sink_.error("E0213", e.span, "division by zero");
      break;
    case FaultReason::None:
    case FaultReason::Absent: break;  // not arithmetic faults
  }
  return Type::error();
}

namespace {

bool parses_as_number(const std::string& text) {
  if (text.empty() || text.size() > 32) return false;
  char* end = nullptr;
  std::strtod(text.c_str(), &end);
  return end == text.c_str() + text.size() && std::isdigit(static_cast<unsigned char>(text.back()));
}

}  // namespace

// What to write instead, when two values of different types are compared:
// most often a number or a date put in quotes.
std::string Checker::comparison_help(const ast::Expr& L, const Type& l, const ast::Expr& R, const Type& r) {
  std::string quoted = quoted_literal_help(L, l, R, r);
  if (!quoted.empty()) return quoted;
  if (l.kind == TypeKind::Duration || r.kind == TypeKind::Duration)
    return "a duration is written with its unit: `30d`, `12h`, `15m`, `10s`";
  return fmt::format("{} is {} and {} is {}; compare values of one type", describe(L), type_text(l),
                     describe(R), type_text(r));
}

// A number, date or time written in quotes next to a value of that type.
std::string Checker::quoted_literal_help(const ast::Expr& L, const Type& l, const ast::Expr& R,
                                         const Type& r) {
  const bool left_literal = L.kind == ast::ExprKind::String;
  const ast::Expr& literal = left_literal ? L : R;
  const ast::Expr& other = left_literal ? R : L;
  const Type& other_type = left_literal ? r : l;
  if (literal.kind == ast::ExprKind::String) {
    if (other_type.is_numeric() && parses_as_number(literal.text))
      return fmt::format("{} is {}: write the number without quotes, `{}`", describe(other),
                         type_text(other_type), literal.text);
    if (instant(other_type.kind) && parse_date(literal.text))
      return fmt::format("{} is {}: write the date without quotes, `{}`", describe(other),
                         type_text(other_type), literal.text);
    if (instant(other_type.kind) && parse_rfc3339(literal.text))
      return fmt::format("{} is {}: write the time without quotes, `{}`", describe(other),
                         type_text(other_type), literal.text);
  }
  return {};
}

Type Checker::comparison(const ast::Expr& e, Type l, Type r) {
  const ast::Expr& L = *e.children[0];
  const ast::Expr& R = *e.children[1];
  const bool equality = e.op == ast::Op::Eq || e.op == ast::Op::Ne;
  const TypeKind a = l.kind, b = r.kind;
  const bool comparable =
      (is_scalar(a) && a == b) || (l.is_numeric() && r.is_numeric()) || (instant(a) && instant(b));
  if (!comparable || (!equality && !ordered(a))) {
    auto& diag = sink_.error(
        "E0204", e.span,
        comparable ? fmt::format("`{}` does not apply to {}", ast::op_spelling(e.op), type_text(l))
                   : fmt::format("cannot compare {} with {}", type_text(l), type_text(r)));
    if (a == TypeKind::Set || b == TypeKind::Set)
      diag.help = "test membership with `in`";
    else if ((a == TypeKind::String && b == TypeKind::Country) ||
             (a == TypeKind::Country && b == TypeKind::String))
      diag.help = "only string literals convert to countries; declare the constant with `: country`";
    else
      diag.help = comparison_help(L, l, R, r);
    return Type::error();
  }
  const Value& lv = out_.constant[L.id];
  const Value& rv = out_.constant[R.id];
  if (lv.kind != TypeKind::Error && rv.kind != TypeKind::Error) {
    bool z = false;
    switch (e.op) {
      case ast::Op::Eq: z = same_value(lv, rv); break;
      case ast::Op::Ne: z = !same_value(lv, rv); break;
      case ast::Op::Lt: z = arith::compare(Pred::Lt, compare_values(lv, rv), 0); break;
      case ast::Op::Le: z = arith::compare(Pred::Le, compare_values(lv, rv), 0); break;
      case ast::Op::Gt: z = arith::compare(Pred::Gt, compare_values(lv, rv), 0); break;
      case ast::Op::Ge: z = arith::compare(Pred::Ge, compare_values(lv, rv), 0); break;
      default: break;
    }
    out_.constant[e.id] = Value::make_bool(z);
  }
  return Type::of(TypeKind::Bool);
}

Type Checker::in_expr(const ast::Expr& e, Scope& s) {
  if (e.children.size() < 2 || !e.children[0] || !e.children[1]) return Type::error();
  const ast::Expr& L = *e.children[0];
  const ast::Expr& R = *e.children[1];
  Type l = expr(L, s);
  Type hint = Type::set_of(l.kind);
  Type r = expr(R, s, is_scalar(l.kind) ? &hint : nullptr);
  const Type boolean = Type::of(TypeKind::Bool);
  if (r.is_error()) return boolean;
  if (r.kind != TypeKind::Set && r.kind != TypeKind::Table) {
    auto& diag = sink_.error("E0206", R.span,
                             fmt::format("{} is {}, not a set or a table", describe(R), type_text(r)));
    diag.help =
        "`in` tests membership in a set (`{ \"CN\", \"RU\" }` or a named set) or among a table's keys";
    return boolean;
  }
  if (l.is_error()) return boolean;
  l = require_value(L, l);
  const Type want = Type::of(r.elem);
  if (!coerce(L, l, want)) {
    sink_.error("E0207", L.span,
                r.kind == TypeKind::Set ? fmt::format("{} is {}, but {} holds {}", describe(L), type_text(l),
                                                      describe(R), type_text(want))
                                        : fmt::format("{} is {}, but the keys of {} are {}", describe(L),
                                                      type_text(l), describe(R), type_text(want)));
    return boolean;
  }
  const Value& lv = out_.constant[L.id];
  int si = out_.set_index[R.id];
  if (r.kind == TypeKind::Set && lv.kind != TypeKind::Error && si >= 0) {
    const auto& members = out_.sets[si].members;
    bool found =
        std::any_of(members.begin(), members.end(), [&](const Value& m) { return same_value(m, lv); });
    out_.constant[e.id] = Value::make_bool(found != e.negated);
  }
  return boolean;
}

Type Checker::is_expr(const ast::Expr& e, Scope& s) {
  if (e.children.empty() || !e.children[0]) return Type::error();
  const ast::Expr& c = *e.children[0];
  Type t = expr(c, s);
  if (!t.is_error() && !maybe_absent_[c.id]) {
    auto& diag = sink_.error("E0202", c.span, fmt::format("{} is never absent", describe(c)));
    diag.help = "`is present` and `is absent` apply to optional fields (`T?`) and table lookups";
  }
  return Type::of(TypeKind::Bool);
}

// The common type of two branches (`if`, `otherwise`), or Error when none.
// Widening int -> number and string literal -> country apply.
static Type unify_branches(Checker& c, const ast::Expr& a, Type ta, const ast::Expr& b, Type tb) {
  bool optional = ta.optional || tb.optional;
  Type ra = ta.required(), rb = tb.required();
  Type result = Type::error();
  if (ra.kind == TypeKind::Set || rb.kind == TypeKind::Set) return Type::error();
  if (ra == rb)
    result = ra;
  else if (ra.is_numeric() && rb.is_numeric())
    result = Type::of(TypeKind::Number);
  else if (c.coerce(b, rb, ra))
    result = ra;
  else if (c.coerce(a, ra, rb))
    result = rb;
  if (result.is_error()) return result;
  result.optional = optional;
  return result;
}

Type Checker::if_expr(const ast::Expr& e, Scope& s, const Type* hint) {
  if (e.children.size() < 3 || !e.children[0] || !e.children[1] || !e.children[2]) return Type::error();
  const ast::Expr& C = *e.children[0];
  const ast::Expr& T = *e.children[1];
  const ast::Expr& F = *e.children[2];
  Type c = expr(C, s);
  size_t mark = s.facts.size();
  facts_when(C, true, s.facts);
  Type t = expr(T, s, hint);
  s.facts.resize(mark);
  facts_when(C, false, s.facts);
  Type f = expr(F, s, hint);
  s.facts.resize(mark);
  if (!c.is_error()) {
    c = require_value(C, c);
    if (c.kind != TypeKind::Bool)
      sink_.error("E0200", C.span, fmt::format("`if` needs a condition (`bool`), found {}", type_text(c)));
  }
  if (t.is_error() || f.is_error()) return Type::error();
  // Branches are values: an optional one is reported where it is, not at the
  // `if` as a whole.
  t = require_value(T, t);
  f = require_value(F, f);
  Type r = unify_branches(*this, T, t, F, f);
  if (r.is_error()) {
    auto& diag = sink_.error(
        "E0209", e.span,
        fmt::format("the branches of `if` have different types: {} and {}", type_text(t), type_text(f)));
    if (t.kind == TypeKind::Set || f.kind == TypeKind::Set)
      diag.help = "sets are compile-time values and cannot be chosen at run time";
    return r;
  }
  const Value& cv = out_.constant[C.id];
  if (cv.kind == TypeKind::Bool) {
    const ast::Expr& chosen = cv.i ? T : F;
    if (out_.constant[chosen.id].kind != TypeKind::Error) out_.constant[e.id] = out_.constant[chosen.id];
  }
  return r;
}

Type Checker::otherwise_expr(const ast::Expr& e, Scope& s, const Type* hint) {
  if (e.children.size() < 2 || !e.children[0] || !e.children[1]) return Type::error();
  const ast::Expr& L = *e.children[0];
  const ast::Expr& R = *e.children[1];
  Type l = expr(L, s, hint);
  Type want = l.required();
  Type r = expr(R, s, l.is_error() ? hint : &want);
  if (l.is_error() || r.is_error()) return Type::error();
  if (!maybe_absent_[L.id]) {
    auto& diag = sink_.error("E0202", L.span, fmt::format("{} is never absent", describe(L)));
    diag.help =
        "`otherwise` gives the value of an optional field or a table lookup where it is absent; remove it";
  }
  Type lr = l.required();
  Type result = unify_branches(*this, L, lr, R, r);
  if (result.is_error()) {
    sink_.error(
        "E0200", R.span,
        fmt::format("the default after `otherwise` must be {}, found {}", type_text(lr), type_text(r)));
    return result;
  }
  result.optional = r.optional;
  maybe_absent_[e.id] = maybe_absent_[R.id];
  return result;
}

Type Checker::set_literal(const ast::Expr& e, Scope& s, const Type* hint) {
  TypeKind elem = hint && hint->kind == TypeKind::Set ? hint->elem : TypeKind::Error;
  const bool hinted = elem != TypeKind::Error;
  std::vector<std::pair<Value, Span>> pending;
  for (const auto& cp : e.children) {
    if (!cp) continue;
    const ast::Expr& c = *cp;
    Type h = Type::of(elem);
    Type t = expr(c, s, elem != TypeKind::Error ? &h : nullptr);
    if (t.is_error()) continue;
    t = require_value(c, t);
    if (!is_scalar(t.kind)) {
      sink_.error("E0200", c.span, fmt::format("set members are single values, found {}", type_text(t)));
      continue;
    }
    if (elem == TypeKind::Error) {
      elem = t.kind;
    } else if (!hinted && elem == TypeKind::Int && t.kind == TypeKind::Number) {
      elem = TypeKind::Number;
    } else if (!coerce(c, t, Type::of(elem))) {
      sink_.error(
          "E0200", c.span,
          fmt::format("the members of this set are {}, found {}", type_text(Type::of(elem)), type_text(t)));
      continue;
    }
    const Value& v = out_.constant[c.id];
    if (v.kind == TypeKind::Error) {
      auto& diag = sink_.error("E0211", c.span, "set members must be known at compile time");
      diag.help = "sets are compile-time values: write literals or constants";
      continue;
    }
    pending.emplace_back(v, c.span);
  }
  MemberSet set;
  for (auto& [v, span] : pending) {
    Value m = v;
    if (elem == TypeKind::Number && m.kind == TypeKind::Int) m = Value::make_number(static_cast<double>(m.i));
    add_member(set, std::move(m), span, true);
  }
  out_.set_index[e.id] = new_set(elem, std::move(set.members), nullptr, e.span);
  return Type::set_of(elem);
}

void Checker::add_member(MemberSet& set, Value v, Span span, bool warn) {
  auto [it, fresh] = set.index.emplace(value_key(v), set.members.size());
  if (fresh) {
    set.members.push_back(std::move(v));
    set.spans.push_back(span);
    return;
  }
  if (!warn) return;
  auto& diag =
      sink_.warning("W0103", span, fmt::format("`{}` appears twice in this set", value_to_source(v)));
  diag.labels.push_back({set.spans[it->second], "first listed here"});
}

int Checker::new_set(TypeKind element, std::vector<Value> members, const ast::SetDecl* decl, Span span) {
  SetInfo info;
  info.decl = decl;
  info.span = span;
  info.element = element;
  info.members = std::move(members);
  out_.sets.push_back(std::move(info));
  return static_cast<int>(out_.sets.size()) - 1;
}

Type Checker::interpolation(const ast::Expr& e, Scope& s) {
  for (const auto& cp : e.children) {
    if (!cp) continue;
    Type t = expr(*cp, s);
    if (t.is_error()) continue;
    t = require_value(*cp, t);
    if (!is_scalar(t.kind))
      sink_.error("E0200", cp->span,
                  fmt::format("a message can only show single values, found {}", type_text(t)));
  }
  return Type::of(TypeKind::String);
}

// ---- conversions and optional values ------------------------------------------------

Type Checker::require_value(const ast::Expr& e, Type t) {
  if (t.is_error() || !t.optional) return t;
  const std::string x = describe(e);
  auto& diag = sink_.error("E0201", e.span, fmt::format("{} may be absent", x));
  auto plain = [](const std::string& d) -> std::optional<std::string> {
    if (d.size() < 2 || d.front() != '`') return std::nullopt;
    return d.substr(1, d.size() - 2);
  };
  // Name the guard that fits: an unguarded table lookup is guarded by `key in table`.
  const ast::Expr* inner = &e;
  while (inner->kind == ast::ExprKind::Field && !inner->children.empty() && inner->children[0])
    inner = inner->children[0].get();
  std::string guard;
  if (inner->kind == ast::ExprKind::Index && inner->children.size() == 2 && inner->children[0] &&
      inner->children[1] && out_.expr_types[inner->id].optional) {
    auto key = plain(describe(*inner->children[1]));
    auto table = plain(describe(*inner->children[0]));
    guard = key && table ? *key + " in " + *table : "key in table";
  } else {
    guard = plain(x).value_or("x") + " is present";
  }
  std::string value = plain(x).value_or("x");
  if (e.kind == ast::ExprKind::Aggregate) {
    // `by` and `where` extend to the right: the aggregate needs parentheses.
    value = "(" + value + ")";
    guard = value + " is present";
  }
  diag.help = fmt::format("write `{} otherwise <default>`, or guard it with `{}`", value, guard);
  return t.required();
}

bool Checker::coerce(const ast::Expr& e, Type& t, const Type& target) {
  if (t.is_error() || target.is_error()) return true;
  if (target.kind == TypeKind::Set) {
    if (t.kind != TypeKind::Set) return false;
    if (t.elem == target.elem || t.elem == TypeKind::Error || target.elem == TypeKind::Error) return true;
    if (target.elem == TypeKind::Country && t.elem == TypeKind::String && e.kind == ast::ExprKind::SetLit) {
      bool all_literals = std::all_of(e.children.begin(), e.children.end(),
                                      [](const auto& c) { return c && c->kind == ast::ExprKind::String; });
      if (!all_literals) return false;
      MemberSet set;
      for (const auto& c : e.children) {
        auto v = country_value(*c, true);
        out_.expr_types[c->id] = v ? Type::of(TypeKind::Country) : Type::error();
        out_.constant[c->id] = v ? *v : Value{};
        if (v) add_member(set, *v, c->span, false);
      }
      int idx = out_.set_index[e.id];
      if (idx >= 0) {
        out_.sets[idx].element = TypeKind::Country;
        out_.sets[idx].members = std::move(set.members);
      }
      t = Type::set_of(TypeKind::Country);
      out_.expr_types[e.id] = t;
      return true;
    }
    return false;
  }
  if (t.kind == target.kind) {
    if (t.kind == TypeKind::Record || t.kind == TypeKind::Table) return t.record == target.record;
    return true;
  }
  if (t.kind == TypeKind::Int && target.kind == TypeKind::Number) return true;
  if (t.kind == TypeKind::String && target.kind == TypeKind::Country && e.kind == ast::ExprKind::String) {
    auto v = country_value(e, true);
    out_.expr_types[e.id] = v ? Type::of(TypeKind::Country) : Type::error();
    out_.constant[e.id] = v ? *v : Value{};
    t = out_.expr_types[e.id];
    return true;
  }
  return false;
}

namespace {
// A literal of each scalar type, for hints on literals of the wrong type.
const char* literal_example(TypeKind k) {
  switch (k) {
    case TypeKind::Int: return "64";
    case TypeKind::Number: return "1.5";
    case TypeKind::Bool: return "true";
    case TypeKind::String: return "\"text\"";
    case TypeKind::Time: return "2024-03-01T00:00:00Z";
    case TypeKind::Date: return "2024-03-01";
    case TypeKind::Duration: return "30d";
    default: return nullptr;
  }
}
bool is_literal(const ast::Expr& e) {
  using K = ast::ExprKind;
  return e.kind == K::Int || e.kind == K::Number || e.kind == K::String || e.kind == K::Bool ||
         e.kind == K::Date || e.kind == K::Time || e.kind == K::Duration;
}
}  // namespace

bool Checker::expect_type(const ast::Expr& e, Type t, const Type& target, const std::string& what) {
  if (t.is_error() || target.is_error()) return false;
  t = require_value(e, t);
  if (coerce(e, t, target)) return !t.is_error();
  auto& diag = sink_.error("E0200", e.span,
                           fmt::format("{} must be {}, found {}", what, type_text(target), type_text(t)));
  if (target.kind == TypeKind::Time && t.kind == TypeKind::Date)
    diag.help = fmt::format("write a time, like `{}T00:00:00Z`", e.text.empty() ? "2024-03-01" : e.text);
  else if (target.kind == TypeKind::Country && t.kind == TypeKind::String)
    diag.help = "write the country code as a literal, like `\"CN\"`";
  else if (const char* like = literal_example(target.kind); like && is_literal(e))
    diag.help = fmt::format("write a literal of type {}, like `{}`", type_text(target), like);
  return false;
}

std::optional<Value> Checker::constant_as(const ast::Expr& e, const Type& target) {
  if (e.id >= out_.constant.size()) return std::nullopt;
  Value v = out_.constant[e.id];
  if (v.kind == TypeKind::Error) return std::nullopt;
  if (target.kind == TypeKind::Number && v.kind == TypeKind::Int)
    return Value::make_number(static_cast<double>(v.i));
  return v;
}

bool Checker::is_constant(const ast::Expr& e) const {
  return e.id < out_.constant.size() && out_.constant[e.id].kind != TypeKind::Error;
}

std::optional<Value> Checker::country_value(const ast::Expr& literal, bool report) {
  const std::string& code = literal.text;
  if (auto idx = country_index(code)) return Value{TypeKind::Country, *idx, 0, code};
  if (!report) return std::nullopt;
  auto& diag =
      sink_.error("E0210", literal.span, fmt::format("`{}` is not an ISO 3166-1 alpha-2 country code", code));
  if (auto near = suggest_country(code)) {
    diag.help = fmt::format("did you mean `{}` ({})?", country_code(*near), country_name(*near));
  } else if (is_user_assigned_country(code)) {
    diag.help =
        fmt::format("`{}` is a user-assigned code; Edict accepts the officially assigned codes only", code);
  } else {
    diag.help = "country codes are two upper-case letters, like `\"CN\"` or `\"MO\"`";
  }
  return std::nullopt;
}

// ---- guards -------------------------------------------------------------------------

void Checker::facts_when(const ast::Expr& e, bool truth, std::vector<Fact>& out) const {
  switch (e.kind) {
    case ast::ExprKind::Is:
      if (!e.children.empty() && e.children[0] && e.present == truth)
        out.push_back(Fact{Fact::Present, e.children[0].get(), nullptr});
      break;
    case ast::ExprKind::In:
      if (e.children.size() == 2 && e.children[0] && e.children[1] && e.negated != truth &&
          e.children[1]->id < out_.expr_types.size() &&
          out_.expr_types[e.children[1]->id].kind == TypeKind::Table)
        out.push_back(Fact{Fact::InTable, e.children[1].get(), e.children[0].get()});
      break;
    case ast::ExprKind::Unary:
      if (e.op == ast::Op::Not && !e.children.empty() && e.children[0])
        facts_when(*e.children[0], !truth, out);
      break;
    case ast::ExprKind::Binary:
      if (e.children.size() == 2 && e.children[0] && e.children[1] &&
          ((e.op == ast::Op::And && truth) || (e.op == ast::Op::Or && !truth))) {
        facts_when(*e.children[0], truth, out);
        facts_when(*e.children[1], truth, out);
      }
      break;
    default: break;
  }
}

bool Checker::same_expr(const ast::Expr& a, const ast::Expr& b) const {
  if (a.kind != b.kind || a.children.size() != b.children.size()) return false;
  using K = ast::ExprKind;
  switch (a.kind) {
    case K::Int:
    case K::Date:
    case K::Time:
    case K::Duration:
      if (a.int_value != b.int_value) return false;
      break;
    case K::Number:
      if (a.number_value != b.number_value) return false;
      break;
    case K::Bool:
      if (a.bool_value != b.bool_value) return false;
      break;
    case K::String:
    case K::Name:
    case K::Field:
    case K::Call:
      if (a.text != b.text) return false;
      break;
    case K::Event:
    case K::Index:
    case K::If:
    case K::Otherwise: break;
    case K::Unary:
    case K::Binary:
      if (a.op != b.op) return false;
      break;
    case K::In:
      if (a.negated != b.negated) return false;
      break;
    case K::Is:
      if (a.present != b.present) return false;
      break;
    case K::Aggregate:
      if (a.text != b.text || a.distinct != b.distinct || a.agg_arg != b.agg_arg ||
          a.agg_window != b.agg_window || a.agg_key != b.agg_key || a.agg_filter != b.agg_filter)
        return false;
      break;
    default: return false;  // literals of sets and records, errors: never the same key
  }
  for (size_t i = 0; i < a.children.size(); ++i) {
    if (!a.children[i] || !b.children[i]) return false;
    if (!same_expr(*a.children[i], *b.children[i])) return false;
  }
  return true;
}

bool Checker::proven_present(const ast::Expr& e, const Scope& s) const {
  for (const Fact& f : s.facts) {
    if (f.kind == Fact::Present && same_expr(*f.subject, e)) return true;
    if (f.kind == Fact::InTable && e.kind == ast::ExprKind::Index && e.children.size() == 2 &&
        e.children[0] && e.children[1] && same_expr(*f.subject, *e.children[0]) &&
        same_expr(*f.key, *e.children[1]))
      return true;
  }
  return false;
}

void Checker::warn_constant_condition(const ast::Expr& e, const char* clause) {
  const Value& v = out_.constant[e.id];
  if (v.kind != TypeKind::Bool) return;
  auto& diag = sink_.warning("W0102", e.span,
                             fmt::format("this `{}` condition is always {}", clause, v.i ? "true" : "false"));
  bool never_fires = (std::string_view(clause) == "when") != (v.i != 0);
  diag.help = never_fires ? "the rule can never fire" : "the condition does not depend on the event";
}

// ---- message helpers -------------------------------------------------------------------

std::string Checker::describe(const ast::Expr& e) const {
  if (!e.span.valid() || e.span.file >= sources_.size()) return "this value";
  std::string_view text = sources_.text(e.span);
  if (text.empty() || text.size() > 48 || text.find('\n') != std::string_view::npos ||
      text.find('`') != std::string_view::npos)
    return "this value";
  return "`" + std::string(text) + "`";
}

std::string Checker::type_text(const Type& t) const {
  return fmt::format("`{}`", out_.type_name(t));
}

}  // namespace edict::check::detail
