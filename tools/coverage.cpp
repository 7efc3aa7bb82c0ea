// Coverage: points registered from the checked program, outcomes read from
// evaluation traces (the traced module's registers), reports.
#include "tools/coverage.h"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <filesystem>
#include <functional>
#include <unordered_map>

#include "compiler/check/check.h"
#include "compiler/ir/type_map.h"
#include "engine/output.h"

namespace edict::tools {
using namespace engine;  // the engine this tool drives

using Kind = CoveragePoint::Kind;

const char* coverage_kind_name(Kind k) {
  switch (k) {
    case Kind::Rule: return "rule";
    case Kind::Condition: return "condition";
    case Kind::TableRow: return "table_row";
    case Kind::SetMember: return "set_member";
  }
  return "?";
}

// Where one compiled policy's points live, by the traced module's numbering.
struct Coverage::PolicyIndex {
  std::vector<Key> rules;
  std::unordered_map<uint32_t, Key> conditions;  // ast::NodeId -> point
  std::vector<std::vector<Key>> rows;            // [table][row]; empty when no rule looks it up
  std::vector<std::vector<Key>> members;         // [set][member]; empty when no rule tests it
};

namespace {

bool is_logic(const ast::Expr& e) {
  return e.kind == ast::ExprKind::Binary && (e.op == ast::Op::And || e.op == ast::Op::Or);
}

// The text of an IR constant of type t.
std::string scalar_text(const ir::Module& m, ir::Ty t, const ir::Scalar& s) {
  if (!ir::is_scalar(t)) return "?";
  Value v;
  v.kind = ir::type_kind_of(t);
  v.i = s.i;
  v.n = s.f;
  if (t == ir::Ty::Str) v.s = m.strings[static_cast<size_t>(s.i)];
  return value_text(v);
}

}  // namespace

const std::string* Coverage::line_text(const std::string& file, uint32_t line) const {
  auto it = lines_.find({file, line});
  return it == lines_.end() ? nullptr : &it->second;
}

void Coverage::add_policy(const Tracer& tracer) {
  const check::CheckedProgram& cp = tracer.policy().checked();
  const ir::Module& m = tracer.module();
  const SourceManager& sm = *cp.sources;
  auto index = std::make_shared<PolicyIndex>();

  auto add = [&](Kind kind, Span span, std::string owner, std::string label, bool needs_false) {
    // Every point the lowering creates has a place; one without (a future
    // synthesised construct) is still counted, under no source line.
    const bool placed = span.valid() && span.file < sm.size();
    const std::string path = placed ? sm.file(span.file).path : std::string("<generated>");
    const uint32_t line = placed ? sm.line_col(span.file, span.begin).line : 0;
    Key key{path, span.begin, static_cast<uint8_t>(kind), label};
    auto [it, inserted] = points_.try_emplace(key);
    if (inserted) {
      CoveragePoint& p = it->second;
      p.kind = kind;
      p.file = path;
      p.line = line;
      p.owner = std::move(owner);
      p.label = std::move(label);
      p.needs_false = needs_false;
      if (placed) lines_.try_emplace({path, line}, std::string(sm.line_text(span.file, line)));
    }
    return key;
  };

  // Conditions: a root and, through `and`/`or` (and `not`), every operand.
  std::function<void(const ast::Expr&, const std::string&)> operands = [&](const ast::Expr& e,
                                                                           const std::string& owner) {
    if (is_logic(e)) {
      for (const auto& c : e.children) {
        if (!c) continue;
        if (!(c->id < cp.constant.size() && cp.constant[c->id].kind != TypeKind::Error))
          index->conditions.emplace(
              c->id, add(Kind::Condition, c->span, owner, collapse_whitespace(sm.text(c->span)), true));
        operands(*c, owner);
      }
    } else if (e.kind == ast::ExprKind::Unary && e.op == ast::Op::Not && !e.children.empty() &&
               e.children[0]) {
      operands(*e.children[0], owner);
    }
  };
  auto condition = [&](const ast::Expr* e, const std::string& owner) {
    if (!e) return;
    if (e->id < cp.constant.size() && cp.constant[e->id].kind != TypeKind::Error) return;  // a constant
    index->conditions.emplace(
        e->id, add(Kind::Condition, e->span, owner, collapse_whitespace(sm.text(e->span)), true));
    operands(*e, owner);
  };

  for (const check::PolicyInfo& info : cp.policies)
    if (info.file < sm.size()) policy_of_file_.try_emplace(sm.file(info.file).path, info.title);
  for (FileId f = 0; f < sm.size(); ++f) policy_of_file_.try_emplace(sm.file(f).path, "");

  for (const check::RuleInfo& r : cp.rules) {
    const ast::RuleDecl& d = *r.decl;
    index->rules.push_back(add(Kind::Rule, d.name_span, d.name, d.name, d.when || d.unless));
    condition(d.when.get(), d.name);
    condition(d.unless.get(), d.name);
  }
  // Windowed aggregates' `where` filters: conditions the window stage
  // evaluates on every event of the rule's kinds (entered the window or
  // not). Identical aggregates share one filter function, lowered from the
  // first occurrence (ir::Aggregate::span): only that one gets points.
  std::function<void(const ast::Expr&, const std::string&)> filters = [&](const ast::Expr& e,
                                                                          const std::string& owner) {
    if (e.kind == ast::ExprKind::Aggregate && e.agg_filter >= 0 &&
        static_cast<size_t>(e.agg_filter) < e.children.size() && e.children[e.agg_filter]) {
      for (const ir::Aggregate& a : m.aggregates)
        if (a.span.file == e.span.file && a.span.begin == e.span.begin) {
          condition(e.children[e.agg_filter].get(), owner);
          break;
        }
    }
    for (const auto& c : e.children)
      if (c) filters(*c, owner);
  };
  for (const check::RuleInfo& r : cp.rules)
    for (const ast::Expr* e : {r.decl->when.get(), r.decl->unless.get(), r.decl->message.get()})
      if (e) filters(*e, r.decl->name);
  for (const auto& mod : cp.program->modules)
    for (const auto& decl : mod->decls) {
      if (decl->kind != ast::DeclKind::Def) continue;
      const auto& def = static_cast<const ast::DefDecl&>(*decl);
      if (def.body && cp.type_of(*def.body).kind == TypeKind::Bool)
        condition(def.body.get(), "def " + def.name);
    }

  // Tables and sets that some rule looks up or tests.
  std::vector<bool> table_used(m.tables.size(), false), set_used(m.sets.size(), false);
  for (const ir::Function& f : m.functions)
    for (const ir::Block& b : f.blocks)
      for (const ir::Inst& in : b.insts) {
        if (in.op == ir::Op::TableFind) table_used[static_cast<size_t>(in.imm)] = true;
        if (in.op == ir::Op::SetContains) set_used[static_cast<size_t>(in.imm)] = true;
      }
  index->rows.resize(m.tables.size());
  for (size_t t = 0; t < m.tables.size() && t < cp.tables.size(); ++t) {
    if (!table_used[t] || !cp.tables[t].decl) continue;
    const ast::TableDecl& d = *cp.tables[t].decl;
    for (size_t r = 0; r < d.rows.size() && r < cp.tables[t].keys.size(); ++r)
      index->rows[t].push_back(
          add(Kind::TableRow, d.rows[r].span, d.name, value_text(cp.tables[t].keys[r]), false));
  }
  // A member's place: its element in the set literal that spells it, found
  // through named sets that the set is built from; else the set itself.
  std::function<const ast::Expr*(const ast::Expr&, const std::string&, int)> find_member =
      [&](const ast::Expr& e, const std::string& text, int depth) -> const ast::Expr* {
    if (depth > 16) return nullptr;
    if (e.kind == ast::ExprKind::SetLit) {
      for (const auto& c : e.children)
        if (c && c->id < cp.constant.size() && value_text(cp.constant[c->id]) == text) return c.get();
      return nullptr;
    }
    if (e.kind == ast::ExprKind::Name) {
      const ast::Decl* d = e.id < cp.resolved.size() ? cp.resolved[e.id] : nullptr;
      if (d && d->kind == ast::DeclKind::Set && static_cast<const ast::SetDecl*>(d)->value)
        return find_member(*static_cast<const ast::SetDecl*>(d)->value, text, depth + 1);
      return nullptr;
    }
    for (const auto& c : e.children)
      if (c)
        if (const ast::Expr* found = find_member(*c, text, depth + 1)) return found;
    return nullptr;
  };
  index->members.resize(m.sets.size());
  for (size_t s = 0; s < m.sets.size(); ++s) {
    if (!set_used[s]) continue;
    const ir::Set& set = m.sets[s];
    const ast::SetDecl* decl = s < cp.sets.size() ? cp.sets[s].decl : nullptr;
    std::string owner = set.name.starts_with('$') ? "set literal" : set.name;
    for (const ir::Scalar& member : set.members) {
      std::string text = scalar_text(m, set.elem, member);
      const ast::Expr* where = decl && decl->value ? find_member(*decl->value, text, 0) : nullptr;
      Span span = where ? where->span : decl ? decl->span : set.span;
      index->members[s].push_back(add(Kind::SetMember, span, owner, text, false));
    }
  }
  indexes_[&tracer] = std::move(index);
}

void Coverage::record(const Tracer& tracer, const EdictColumns& columns, uint32_t row) {
  auto found = indexes_.find(&tracer);
  if (found == indexes_.end()) return;
  const PolicyIndex& index = *found->second;
  const ir::Module& m = tracer.module();
  // What a run of `f` assigned: its conditions' truth, the table rows it
  // found and the set members it matched.
  auto record_run = [&](const ir::Function& f, const std::vector<uint64_t>& regs,
                        const std::vector<uint8_t>& assigned) {
    for (const ir::TracePoint& p : f.trace) {
      if (!assigned[p.reg] || f.regs[p.reg] != ir::Ty::Bool) continue;
      auto it = index.conditions.find(p.expr);
      if (it == index.conditions.end()) continue;
      CoveragePoint& c = points_.at(it->second);
      (regs[p.reg] ? c.seen_true : c.seen_false) = true;
    }
    for (const ir::Block& b : f.blocks)
      for (const ir::Inst& in : b.insts) {
        if (in.dst == ir::kNoReg || !assigned[in.dst]) continue;
        size_t id = static_cast<size_t>(in.imm);
        if (in.op == ir::Op::TableFind) {
          int64_t hit = static_cast<int64_t>(regs[in.dst]);
          if (hit >= 0 && id < index.rows.size() && static_cast<size_t>(hit) < index.rows[id].size())
            points_.at(index.rows[id][static_cast<size_t>(hit)]).seen_true = true;
        } else if (in.op == ir::Op::SetContains && regs[in.dst] && id < index.members.size()) {
          const ir::Set& set = m.sets[id];
          uint64_t v = regs[in.a];
          for (size_t k = 0; k < set.members.size() && k < index.members[id].size(); ++k) {
            bool same = set.elem == ir::Ty::Number ? std::bit_cast<double>(v) == set.members[k].f
                                                   : static_cast<int64_t>(v) == set.members[k].i;
            if (same) points_.at(index.members[id][k]).seen_true = true;
          }
        }
      }
  };
  // The aggregates' filters, as the window stage ran them on this event (a
  // row it rejected, or that failed decoding, has no kind).
  const uint8_t kind = columns.kind[row];
  for (const ir::Aggregate& a : m.aggregates)
    for (const ir::AggregateInput& in : a.inputs) {
      if (in.event != kind || in.filter == ir::kNoFunc) continue;
      interp::Interpreter::Trace t = tracer.trace_input(in.filter, columns, row);
      if (t.function) record_run(*t.function, t.regs, t.assigned);
    }
  for (size_t r = 0; r < m.rules.size(); ++r) {
    RawTrace raw = tracer.raw_trace(static_cast<int>(r), columns, row);
    if (!raw.regs.function) continue;  // not for this kind, or not in effect
    CoveragePoint& rule = points_.at(index.rules[r]);
    if (raw.result.kind == interp::RuleResult::Fired) rule.seen_true = true;
    if (raw.result.kind == interp::RuleResult::NotFired) rule.seen_false = true;
    record_run(*raw.regs.function, raw.regs.regs, raw.regs.assigned);
  }
}

namespace {

std::string canonical(const std::string& path) {
  std::error_code ec;
  std::filesystem::path p = std::filesystem::weakly_canonical(path, ec);
  return ec ? path : p.string();
}

}  // namespace

void Coverage::set_scope(const std::vector<std::string>& files_or_policies) {
  scoped_ = !files_or_policies.empty();
  scope_files_.clear();
  unmatched_scope_.clear();
  for (const std::string& entry : files_or_policies) {
    const std::string wanted = canonical(entry);
    bool matched = false;
    for (const auto& [file, title] : policy_of_file_) {
      if (title != entry && canonical(file) != wanted) continue;
      matched = true;
      if (std::find(scope_files_.begin(), scope_files_.end(), file) == scope_files_.end())
        scope_files_.push_back(file);
    }
    if (!matched) unmatched_scope_.push_back(entry);
  }
  std::sort(scope_files_.begin(), scope_files_.end());
}

bool Coverage::in_scope(const CoveragePoint& p) const {
  return !scoped_ || std::binary_search(scope_files_.begin(), scope_files_.end(), p.file);
}

std::vector<CoveragePoint> Coverage::points() const {
  std::vector<CoveragePoint> out;
  for (const auto& [key, p] : points_)
    if (in_scope(p)) out.push_back(p);
  std::stable_sort(out.begin(), out.end(), [](const CoveragePoint& a, const CoveragePoint& b) {
    return std::tie(a.file, a.line) < std::tie(b.file, b.line);
  });
  return out;
}

CoverageTally Coverage::tally(Kind k) const {
  CoverageTally t;
  for (const auto& [key, p] : points_)
    if (p.kind == k && in_scope(p))
      t.covered += static_cast<size_t>(p.covered()), t.wanted += static_cast<size_t>(p.wanted());
  return t;
}

CoverageTally Coverage::total() const {
  CoverageTally t;
  for (const auto& [key, p] : points_)
    if (in_scope(p))
      t.covered += static_cast<size_t>(p.covered()), t.wanted += static_cast<size_t>(p.wanted());
  return t;
}

namespace {

std::string tally_text(const CoverageTally& t) {
  return fmt::format("{:>5.1f}% ({} of {})", t.percent(), t.covered, t.wanted);
}

// What a point missed, for people; empty when covered.
std::string missed(const CoveragePoint& p) {
  switch (p.kind) {
    case Kind::Rule:
      if (!p.seen_true && p.needs_false && !p.seen_false)
        return fmt::format("rule {} never evaluated", p.label);
      if (!p.seen_true) return fmt::format("rule {} never fired", p.label);
      if (p.needs_false && !p.seen_false) return fmt::format("rule {} never not fired", p.label);
      return "";
    case Kind::Condition:
      if (!p.seen_true && !p.seen_false) return fmt::format("`{}` never evaluated", p.label);
      if (!p.seen_true) return fmt::format("`{}` never true", p.label);
      if (!p.seen_false) return fmt::format("`{}` never false", p.label);
      return "";
    default: return "";
  }
}

}  // namespace

std::string render_coverage_human(const Coverage& c) {
  std::string out = fmt::format("coverage: {}\n", tally_text(c.total()));
  out += fmt::format("  rules        {}\n", tally_text(c.tally(Kind::Rule)));
  out += fmt::format("  conditions   {}\n", tally_text(c.tally(Kind::Condition)));
  out += fmt::format("  table rows   {}\n", tally_text(c.tally(Kind::TableRow)));
  out += fmt::format("  set members  {}\n", tally_text(c.tally(Kind::SetMember)));
  if (!c.scope_files().empty()) {
    out += "  scope       ";
    for (size_t k = 0; k < c.scope_files().size(); ++k) out += (k ? ", " : "") + c.scope_files()[k];
    out += "\n";
  }
  std::vector<CoveragePoint> points = c.points();
  // A scoped file is always shown, even with nothing to cover.
  for (const std::string& f : c.scope_files())
    if (std::none_of(points.begin(), points.end(), [&](const CoveragePoint& p) { return p.file == f; }))
      out += fmt::format("\n{}\n  (nothing to cover: no rules, conditions, table rows or set members)\n", f);
  std::string file;
  for (size_t i = 0; i < points.size();) {
    size_t j = i;
    int wanted = 0, covered = 0;
    while (j < points.size() && points[j].file == points[i].file && points[j].line == points[i].line) {
      wanted += points[j].wanted();
      covered += points[j].covered();
      ++j;
    }
    if (points[i].file != file) {
      file = points[i].file;
      out += fmt::format("\n{}\n", file);
    }
    const std::string* text = c.line_text(points[i].file, points[i].line);
    char mark = covered == wanted ? '+' : covered == 0 ? '-' : '!';
    out += fmt::format("  {} {:>5} | {}\n", mark, points[i].line, text ? *text : "");
    // Untouched rows and members are summed up per owner; the rest one by one.
    std::map<std::string, std::vector<std::string>> untouched;
    for (size_t k = i; k < j; ++k) {
      const CoveragePoint& p = points[k];
      if ((p.kind == Kind::TableRow || p.kind == Kind::SetMember) && !p.seen_true)
        untouched[(p.kind == Kind::TableRow ? "table " : "set ") + p.owner].push_back(p.label);
      std::string m = missed(p);
      if (!m.empty()) out += fmt::format("          |     ^ {}\n", m);
    }
    for (const auto& [owner, labels] : untouched) {
      std::string list;
      for (size_t k = 0; k < labels.size(); ++k) list += (k ? ", " : "") + labels[k];
      out += fmt::format("          |     ^ {} never touched: {}\n", owner, list);
    }
    i = j;
  }
  return out;
}

std::string render_coverage_json(const Coverage& c) {
  auto tally_json = [](const CoverageTally& t) {
    return fmt::format("{{\"covered\":{},\"wanted\":{},\"percent\":{:.2f}}}", t.covered, t.wanted,
                       t.percent());
  };
  std::string out = "{\"summary\":{\"total\":" + tally_json(c.total()) +
                    ",\"rules\":" + tally_json(c.tally(Kind::Rule)) +
                    ",\"conditions\":" + tally_json(c.tally(Kind::Condition)) +
                    ",\"table_rows\":" + tally_json(c.tally(Kind::TableRow)) +
                    ",\"set_members\":" + tally_json(c.tally(Kind::SetMember)) + "},";
  if (!c.scope_files().empty()) {
    out += "\"scope\":[";
    for (size_t k = 0; k < c.scope_files().size(); ++k) {
      if (k) out += ',';
      append_json_string(out, c.scope_files()[k]);
    }
    out += "],";
  }
  out += "\"points\":[";
  std::vector<CoveragePoint> points = c.points();
  for (size_t i = 0; i < points.size(); ++i) {
    const CoveragePoint& p = points[i];
    if (i) out += ',';
    out += fmt::format("{{\"kind\":\"{}\",\"file\":", coverage_kind_name(p.kind));
    append_json_string(out, p.file);
    out += fmt::format(",\"line\":{},\"owner\":", p.line);
    append_json_string(out, p.owner);
    out += ",\"label\":";
    append_json_string(out, p.label);
    switch (p.kind) {
      case Kind::Rule:
        out += fmt::format(",\"fired\":{},\"not_fired\":{}", p.seen_true, p.seen_false);
        if (!p.needs_false) out += ",\"unconditional\":true";
        break;
      case Kind::Condition: out += fmt::format(",\"true\":{},\"false\":{}", p.seen_true, p.seen_false); break;
      default: out += fmt::format(",\"touched\":{}", p.seen_true);
    }
    out += '}';
  }
  out += "]}\n";
  return out;
}

}  // namespace edict::tools
