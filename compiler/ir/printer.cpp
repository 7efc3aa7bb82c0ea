// The IR as stable, readable text: what `edict check --emit=ir` prints and
// what golden tests compare. Deterministic (no addresses, no hash order);
// tolerant of malformed IR (an out-of-range id prints as `?`), because the
// verifier's own messages and failing tests print broken functions too.
#include <fmt/format.h>

#include "compiler/check/types.h"
#include "compiler/ir/ir.h"
#include "support/countries.h"
#include "support/text.h"
#include "support/time_util.h"

namespace edict::ir {

namespace {

constexpr size_t kSpanColumn = 52;

std::string instant(int64_t micros) {
  return micros % kMicrosPerDay == 0 ? format_date(micros) : format_time(micros);
}

std::string scalar_text(const Module& m, Ty t, const Scalar& v) {
  switch (t) {
    case Ty::Bool: return v.i ? "true" : "false";
    case Ty::Int: return std::to_string(v.i);
    case Ty::Number: return edict_number_literal(v.f);
    case Ty::Str:
      if (v.i >= 0 && static_cast<size_t>(v.i) < m.strings.size())
        return edict_string_literal(m.strings[v.i]);
      return fmt::format("<str ?{}>", v.i);
    case Ty::Country:
      if (v.i >= 0 && v.i < kCountryIndexLimit) return country_code(static_cast<uint16_t>(v.i));
      return fmt::format("<country ?{}>", v.i);
    case Ty::Time: return format_time(v.i);
    case Ty::Duration: return format_duration(v.i);
    case Ty::Row: return v.i < 0 ? "norow" : fmt::format("row {}", v.i);
    case Ty::Void: break;
  }
  return "?";
}

std::string reg(Reg r) {
  return r == kNoReg ? "%?" : fmt::format("%{}", r);
}

std::string event_name(const Module& m, int e) {
  return e >= 0 && static_cast<size_t>(e) < m.events.size() ? m.events[e].name : "?";
}

std::string field_name(const Module& m, const Function& f, int64_t column) {
  std::string kind = event_name(m, f.event);
  if (f.event >= 0 && static_cast<size_t>(f.event) < m.events.size() && column >= 0 &&
      static_cast<size_t>(column) < m.events[f.event].fields.size())
    return kind + "." + m.events[f.event].fields[column].name;
  return fmt::format("{}.?{}", kind, column);
}

std::string set_name(const Module& m, int64_t s) {
  if (s >= 0 && static_cast<size_t>(s) < m.sets.size()) return "@" + m.sets[s].name;
  return fmt::format("@?{}", s);
}

std::string table_name(const Module& m, int64_t t) {
  if (t >= 0 && static_cast<size_t>(t) < m.tables.size()) return "@" + m.tables[t].name;
  return fmt::format("@?{}", t);
}

std::string cell_name(const Module& m, int64_t t, uint32_t column) {
  std::string table = table_name(m, t);
  if (t >= 0 && static_cast<size_t>(t) < m.tables.size() && column < m.tables[t].columns.size())
    return table + "." + m.tables[t].columns[column].name;
  return fmt::format("{}.?{}", table, column);
}

std::string block_name(BlockId b) {
  return fmt::format("bb{}", b);
}

std::string span_text(const Module& m, Span span) {
  if (!span.valid() || !m.sources || span.file >= m.sources->size()) return "";
  LineCol lc = m.sources->line_col(span.file, span.begin);
  return fmt::format("{}:{}:{}", m.sources->file(span.file).path, lc.line, lc.column);
}

std::string window_text(const Rule& r) {
  std::string from = r.effective_from ? "[" + instant(*r.effective_from) : "(-inf";
  std::string until = r.effective_until ? instant(*r.effective_until) + ")" : "+inf)";
  return from + ", " + until;
}

}  // namespace

std::string print_inst(const Module& m, const Function& f, const Inst& in) {
  const OpInfo& info = op_info(in.op);
  std::string out;
  if (info.has_result) out = fmt::format("{}:{} = ", reg(in.dst), ty_name(in.type));
  out += info.name;
  switch (in.op) {
    case Op::Const: out.append(" ").append(scalar_text(m, in.type, Scalar{in.imm, in.fimm})); break;
    case Op::Copy:
    case Op::RowHas:
    case Op::INeg:
    case Op::FNeg:
    case Op::IToF:
    case Op::Not: out.append(" ").append(reg(in.a)); break;
    case Op::EmitValue:
      out.append(" ").append(reg(in.a));
      if (in.aux == kEmitDate) out += " as date";
      break;
    case Op::Load:
    case Op::LoadChecked:
    case Op::Has: out.append(" ").append(field_name(m, f, in.imm)); break;
    case Op::SetContains: out += fmt::format(" {}, {}", set_name(m, in.imm), reg(in.a)); break;
    case Op::TableFind:
      out += fmt::format(" {}, {}", table_name(m, in.imm), reg(in.a));
      if (in.b != kNoReg) out += ", " + reg(in.b);
      break;
    case Op::CellHas:
    case Op::CellLoad:
    case Op::CellLoadChecked: out += fmt::format(" {}, {}", cell_name(m, in.imm, in.aux), reg(in.a)); break;
    case Op::IAdd:
    case Op::ISub:
    case Op::IMul:
    case Op::FAdd:
    case Op::FSub:
    case Op::FMul:
    case Op::FDiv: out += fmt::format(" {}, {}", reg(in.a), reg(in.b)); break;
    case Op::ICmp:
    case Op::FCmp:
    case Op::SCmp: out += fmt::format(".{} {}, {}", pred_name(in.pred), reg(in.a), reg(in.b)); break;
    case Op::Call: {
      const BuiltinInfo& b = builtin_info(in.builtin);
      out += fmt::format(" {}({}", b.name, reg(in.a));
      if (b.arity == 2) out += ", " + reg(in.b);
      out += ")";
      break;
    }
    case Op::EmitText: out.append(" ").append(scalar_text(m, Ty::Str, Scalar{in.imm, 0})); break;
    case Op::Jmp: out.append(" ").append(block_name(in.target[0])); break;
    case Op::Br:
      out += fmt::format(" {}, {}, {}", reg(in.a), block_name(in.target[0]), block_name(in.target[1]));
      break;
    case Op::Ret:
      if (f.kind == FunctionKind::Fires) out += in.imm ? " true" : " false";
      if (f.kind == FunctionKind::Value) out.append(" ").append(reg(in.a));
      break;
    case Op::Fault: out += std::string(" ") + fault_reason_name(in.reason); break;
  }
  return out;
}

std::string print_function(const Module& m, const Function& f, const PrintOptions& options) {
  std::string out = fmt::format("  fn {}: {}\n", f.name,
                                f.kind == FunctionKind::Fires   ? "fires"
                                : f.kind == FunctionKind::Value ? "value"
                                                                : "message");
  for (BlockId b = 0; b < f.blocks.size(); ++b) {
    out += fmt::format("  {}:\n", block_name(b));
    for (const Inst& in : f.blocks[b].insts) {
      std::string line = "    " + print_inst(m, f, in);
      std::string where = options.spans ? span_text(m, in.span) : "";
      if (!where.empty()) {
        if (line.size() < kSpanColumn)
          line.resize(kSpanColumn, ' ');
        else
          line += "  ";
        line += "; " + where;
      }
      out += line + "\n";
    }
  }
  return out;
}

std::string print(const Module& m, const PrintOptions& options) {
  std::string out = "; edict IR\n";
  for (const std::string& e : m.errors) out += "; internal error: " + e + "\n";
  for (size_t i = 0; i < m.policies.size(); ++i) {
    const Policy& p = m.policies[i];
    out += fmt::format("policy #{} {}", i, edict_string_literal(p.title));
    if (!p.version.empty()) out += " version " + edict_string_literal(p.version);
    if (!p.source.empty()) out += " source " + edict_string_literal(p.source);
    if (!p.status.empty()) out += " status " + p.status;
    out += "\n";
  }
  out += "outcomes ";
  for (size_t i = 0; i < m.outcomes.size(); ++i) out += (i ? " < " : "") + m.outcomes[i];
  out += " < error\n";
  if (m.default_outcome >= 0 && static_cast<size_t>(m.default_outcome) < m.outcomes.size())
    out += "default " + m.outcomes[m.default_outcome] + "\n";

  for (const EventSchema& e : m.events) {
    out += fmt::format("\nevent {} {{\n", e.name);
    for (size_t i = 0; i < e.fields.size(); ++i) {
      const Field& f = e.fields[i];
      out += fmt::format("  #{} {}: {}{}{}\n", i, f.name, ty_name(f.type), f.optional ? "?" : "",
                         static_cast<int>(i) == e.time_field ? "  ; event time" : "");
    }
    out += "}\n";
  }

  if (!m.sets.empty()) out += "\n";
  for (const Set& s : m.sets) {
    out += fmt::format("set @{}: {} = {{", s.name, ty_name(s.elem));
    if (options.tables) {
      for (size_t i = 0; i < s.members.size(); ++i)
        out += (i ? ", " : "") + scalar_text(m, s.elem, s.members[i]);
    } else {
      out += fmt::format("{} members", s.members.size());
    }
    out += "}\n";
  }

  for (const Table& t : m.tables) {
    out += fmt::format("\ntable @{}: {} -> {{", t.name, ty_name(t.key));
    for (size_t c = 0; c < t.columns.size(); ++c)
      out += fmt::format("{}{}: {}{}", c ? ", " : "", t.columns[c].name, ty_name(t.columns[c].type),
                         t.columns[c].optional ? "?" : "");
    out += fmt::format("}}  ; {} rows\n", t.rows());
    if (!options.tables) continue;
    for (size_t r = 0; r < t.rows(); ++r) {
      out += "  " + scalar_text(m, t.key, t.keys[r]) + " -> {";
      for (size_t c = 0; c < t.columns.size(); ++c) {
        const Column& col = t.columns[c];
        bool present = r < col.present.size() && col.present[r];
        std::string cell = r < col.cells.size() && present ? scalar_text(m, col.type, col.cells[r]) : "-";
        out += (c ? ", " : "") + cell;
      }
      out += "}\n";
    }
  }

  for (const Rule& r : m.rules) {
    out += fmt::format("\nrule {} on ", r.name);
    for (size_t i = 0; i < r.bodies.size(); ++i) out += (i ? ", " : "") + event_name(m, r.bodies[i].event);
    out += " effective " + window_text(r);
    if (r.effect >= 0 && static_cast<size_t>(r.effect) < m.outcomes.size())
      out += " effect " + m.outcomes[r.effect];
    if (!r.cite.empty()) out += " cite " + edict_string_literal(r.cite);
    if (r.policy >= 0) out += fmt::format(" policy #{}", r.policy);
    out += "\n";
    for (const RuleBody& body : r.bodies)
      for (FuncId id : {body.fires, body.message})
        if (id >= 0 && static_cast<size_t>(id) < m.functions.size())
          out += print_function(m, m.functions[id], options);
  }
  // Windowed aggregates; their filter/key/operand functions follow below.
  for (const Aggregate& a : m.aggregates) {
    out += fmt::format("\naggregate {} = {}({}) over {} by {} -> {}{} ; {}\n", a.name, agg_fn_name(a.fn),
                       ty_name(a.operand),
                       a.calendar_year ? std::string("calendar year") : format_duration(a.window),
                       ty_name(a.key), ty_name(a.result), a.optional ? "?" : "", span_text(m, a.span));
    for (const AggregateInput& in : a.inputs)
      out += fmt::format("  on {}: field {} where {} by {} value {}\n", event_name(m, in.event), in.field,
                         in.filter, in.key, in.operand);
  }
  // Functions no rule owns (aggregate inputs; hand-built modules in tests) are shown too.
  for (size_t i = 0; i < m.functions.size(); ++i) {
    const Function& f = m.functions[i];
    bool owned = false;
    if (f.rule >= 0 && static_cast<size_t>(f.rule) < m.rules.size())
      for (const RuleBody& b : m.rules[f.rule].bodies)
        if (b.fires == static_cast<FuncId>(i) || b.message == static_cast<FuncId>(i)) owned = true;
    if (!owned) out.append("\n").append(print_function(m, f, options));
  }
  return out;
}

}  // namespace edict::ir
