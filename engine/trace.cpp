// Evaluation traces: tracing lowering, trace trees, and their renderings.
#include "engine/trace.h"

#include <fmt/format.h>

#include <bit>
#include <set>
#include <unordered_map>

#include "compiler/check/check.h"
#include "engine/output.h"
#include "support/countries.h"
#include "support/time_util.h"

namespace edict::engine {
namespace {

using State = TraceNode::State;

}  // namespace

std::string collapse_whitespace(std::string_view s) {
  std::string out;
  bool space = false;
  for (char c : s) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

namespace {

std::string json_string(std::string_view s) {
  std::string out;
  append_json_string(out, s);
  return out;
}

// A scalar (register bits or a module constant) for people and as JSON.
void format_scalar(ir::Ty t, uint64_t bits, const EdictColumns& columns, std::string& text,
                   std::string& json) {
  switch (t) {
    case ir::Ty::Bool: text = json = bits ? "true" : "false"; return;
    case ir::Ty::Int: text = json = std::to_string(static_cast<int64_t>(bits)); return;
    case ir::Ty::Number: text = json = fmt::format("{}", std::bit_cast<double>(bits)); return;
    case ir::Ty::Str: {
      auto* batch = static_cast<const abi::Batch*>(columns.strings);
      json = json_string(batch->string(static_cast<uint32_t>(bits)));
      text = json;
      return;
    }
    case ir::Ty::Country: text = json = json_string(country_code(static_cast<uint16_t>(bits))); return;
    case ir::Ty::Time: text = format_time(static_cast<int64_t>(bits)), json = json_string(text); return;
    case ir::Ty::Duration:
      text = format_duration(static_cast<int64_t>(bits)), json = json_string(text);
      return;
    default: text = "?", json = "null"; return;
  }
}

// A checker-folded constant.
void format_constant(const Value& v, std::string& text, std::string& json) {
  switch (v.kind) {
    case TypeKind::Bool:
    case TypeKind::Int:
    case TypeKind::Number: text = json = value_to_text(v); return;
    case TypeKind::String:
    case TypeKind::Country: text = json = json_string(value_to_text(v)); return;
    case TypeKind::Time:
    case TypeKind::Date:
    case TypeKind::Duration: text = value_to_text(v), json = json_string(text); return;
    default: text = value_to_source(v), json = json_string(text); return;
  }
}

bool is_literal(const ast::Expr& e) {
  switch (e.kind) {
    case ast::ExprKind::Int:
    case ast::ExprKind::Number:
    case ast::ExprKind::String:
    case ast::ExprKind::Bool:
    case ast::ExprKind::Date:
    case ast::ExprKind::Time:
    case ast::ExprKind::Duration:
    case ast::ExprKind::Event:
    case ast::ExprKind::SetLit:
    case ast::ExprKind::RecordLit: return true;
    default: return false;
  }
}

// Builds the tree of one expression over one function's trace.
class TreeBuilder {
 public:
  TreeBuilder(const Tracer& tracer, const RawTrace& raw, const EdictColumns& columns,
              const window::WindowState* windows, uint32_t row)
      : tracer_(tracer),
        cp_(tracer.policy().checked()),
        raw_(raw),
        columns_(columns),
        windows_(windows),
        row_(row) {
    const ir::Function& f = *raw.regs.function;
    for (const ir::TracePoint& p : f.trace) points_[key(p.frame, p.expr)].push_back(p.reg);
    const ir::EventSchema& event = tracer.module().events[static_cast<size_t>(f.event)];
    for (const ir::Block& b : f.blocks)
      for (const ir::Inst& in : b.insts) {
        if (in.op == ir::Op::TableFind) row_table_[in.dst] = in.imm;
        // Registers loaded from an aggregate's synthetic field.
        if ((in.op == ir::Op::Load || in.op == ir::Op::LoadChecked) && in.imm >= 0 &&
            static_cast<size_t>(in.imm) < event.fields.size() &&
            event.fields[static_cast<size_t>(in.imm)].aggregate >= 0)
          aggregate_of_reg_[in.dst] = event.fields[static_cast<size_t>(in.imm)].aggregate;
      }
  }

  TraceNode build(const ast::Expr& e, uint32_t frame, const TraceNode* parent, size_t index) {
    TraceNode n;
    n.expr = &e;
    n.source = collapse_whitespace(cp_.sources->text(e.span));
    if (e.span.valid()) n.line = cp_.sources->line_col(e.span.file, e.span.begin).line;
    evaluate(n, e, frame, parent, index);
    if (e.kind == ast::ExprKind::Aggregate) add_members(n, e, frame);
    // Sub-expressions of what was not evaluated say nothing new, and an
    // expression shown once with its parts is shown alone afterwards.
    if (n.state == State::NotEvaluated || !shown_.insert({frame, n.source}).second) return n;
    add_children(n, e, frame);
    return n;
  }

 private:
  static uint64_t key(uint32_t frame, uint32_t expr) { return (uint64_t{frame} << 32) | expr; }

  // The events the windows folded into this aggregate's value for the row.
  void add_members(TraceNode& n, const ast::Expr& e, uint32_t frame) {
    if (!windows_ || row_ == UINT32_MAX || !columns_.strings) return;
    auto it = points_.find(key(frame, e.id));
    if (it == points_.end()) return;
    for (ir::Reg r : it->second) {
      auto agg = aggregate_of_reg_.find(r);
      if (agg == aggregate_of_reg_.end()) continue;
      // The traced module lowers the aggregates as the policy's module does;
      // its indices name the windows' aggregates.
      const auto& aggregates = tracer_.policy().module().aggregates;
      if (static_cast<size_t>(agg->second) >= aggregates.size() ||
          aggregates[static_cast<size_t>(agg->second)].text !=
              tracer_.module().aggregates[static_cast<size_t>(agg->second)].text)
        return;
      const auto* batch = static_cast<const abi::Batch*>(columns_.strings);
      if (const window::Members* m = windows_->members(*batch, row_, agg->second)) {
        n.members = *m;
        n.member_type = aggregates[static_cast<size_t>(agg->second)].operand;
      }
      return;
    }
  }

  void evaluate(TraceNode& n, const ast::Expr& e, uint32_t frame, const TraceNode* parent, size_t index) {
    const ir::Function& f = *raw_.regs.function;
    auto it = points_.find(key(frame, e.id));
    if (it != points_.end()) {
      for (ir::Reg r : it->second) {
        if (r >= raw_.regs.assigned.size() || !raw_.regs.assigned[r]) continue;
        set_value(n, f.regs[r], raw_.regs.regs[r], r);
        return;
      }
      n.state = State::NotEvaluated;
      // The left operand of `otherwise` is only unassigned when absent.
      if (parent && parent->state == State::Value && parent->expr->kind == ast::ExprKind::Otherwise &&
          index == 0)
        n.state = State::Absent;
      return;
    }
    if (e.id < cp_.constant.size() && cp_.constant[e.id].kind != TypeKind::Error) {
      n.state = State::Value;
      format_constant(cp_.constant[e.id], n.text, n.json);
      if (cp_.constant[e.id].kind == TypeKind::Bool) n.truth = cp_.constant[e.id].i != 0;
      return;
    }
    // `x is present` tests presence without loading x.
    if (parent && parent->expr->kind == ast::ExprKind::Is && parent->truth) {
      n.state = *parent->truth == parent->expr->present ? State::Present : State::Absent;
      return;
    }
    n.state = State::NotEvaluated;
  }

  void set_value(TraceNode& n, ir::Ty t, uint64_t bits, ir::Reg r) {
    n.state = State::Value;
    if (t == ir::Ty::Row) {
      auto table = row_table_.find(r);
      int64_t row = static_cast<int64_t>(bits);
      if (row < 0 || table == row_table_.end()) {
        n.text = "no row", n.json = "null";
        return;
      }
      const ir::Table& tab = tracer_.module().tables[static_cast<size_t>(table->second)];
      if (tab.external()) {  // a data row: its key, and the file line it is on is in the record
        const auto* data_row = reinterpret_cast<const abi::DataSnapshot::Row*>(static_cast<uintptr_t>(row));
        std::string_view key_text = data_row->owner->key_text(data_row->index);
        if (tab.key == ir::Ty::Str) {
          n.text = n.json = json_string(key_text);
        } else {
          format_scalar(tab.key, data_row->owner->key_bits(data_row->index), columns_, n.text, n.json);
        }
        n.text = "row " + n.text;
        return;
      }
      const ir::Scalar& k = tab.keys[static_cast<size_t>(row)];
      std::string text, json;
      uint64_t kb = tab.key == ir::Ty::Number ? std::bit_cast<uint64_t>(k.f) : static_cast<uint64_t>(k.i);
      if (tab.key == ir::Ty::Str)
        text = json = json_string(tracer_.module().strings[static_cast<size_t>(k.i)]);
      else
        format_scalar(tab.key, kb, columns_, text, json);
      n.text = "row " + text;
      n.json = json;
      return;
    }
    format_scalar(t, bits, columns_, n.text, n.json);
    if (t == ir::Ty::Bool) n.truth = bits != 0;
  }

  void child(TraceNode& n, const ast::Expr* c, uint32_t frame) {
    if (!c || is_literal(*c)) return;
    const Type& t = cp_.type_of(*c);
    if (t.kind == TypeKind::Set || t.kind == TypeKind::Table) return;  // named by the parent's text
    n.children.push_back(build(*c, frame, &n, n.children.size()));
    // Constants written by name are worth showing; the parent already says
    // everything about literal-only operands.
  }

  void add_children(TraceNode& n, const ast::Expr& e, uint32_t frame) {
    using K = ast::ExprKind;
    switch (e.kind) {
      case K::Field:
        if (!e.children.empty() && e.children[0] && e.children[0]->kind != K::Event)
          child(n, e.children[0].get(), frame);
        return;
      case K::Index:
        if (e.children.size() > 1) child(n, e.children[1].get(), frame);
        return;
      case K::Call: {
        for (const auto& c : e.children) child(n, c.get(), frame);
        const ast::Decl* d = e.id < cp_.resolved.size() ? cp_.resolved[e.id] : nullptr;
        if (!d || d->kind != ast::DeclKind::Def) return;
        const auto* def = static_cast<const ast::DefDecl*>(d);
        if (!def->body) return;
        uint32_t inner = body_frame(frame, e.id);
        if (inner == UINT32_MAX) return;
        TraceNode body = build(*def->body, inner, nullptr, 0);
        body.note = "def " + def->name;
        n.children.push_back(std::move(body));
        return;
      }
      case K::Name:
      case K::Interpolation:
      case K::Error:
      case K::Aggregate: return;
      default:
        if (is_literal(e)) return;
        for (const auto& c : e.children) child(n, c.get(), frame);
        return;
    }
  }

  // The frame of the def body inlined for call `call` in frame `frame`: the
  // one this run evaluated when the call was lowered more than once.
  uint32_t body_frame(uint32_t frame, uint32_t call) const {
    const ir::Function& f = *raw_.regs.function;
    uint32_t found = UINT32_MAX;
    for (uint32_t i = 1; i < f.frames.size(); ++i) {
      if (f.frames[i].call != call || f.frames[i].parent != frame) continue;
      if (found == UINT32_MAX) found = i;
      for (const ir::TracePoint& p : f.trace)
        if (p.frame == i && raw_.regs.assigned[p.reg]) return i;
    }
    return found;
  }

  const Tracer& tracer_;
  const check::CheckedProgram& cp_;
  const RawTrace& raw_;
  const EdictColumns& columns_;
  const window::WindowState* windows_;
  uint32_t row_;
  std::unordered_map<uint64_t, std::vector<ir::Reg>> points_;
  std::unordered_map<ir::Reg, int> aggregate_of_reg_;
  std::unordered_map<ir::Reg, int64_t> row_table_;
  std::set<std::pair<uint32_t, std::string>> shown_;  // (frame, source) already expanded
};

std::string describe_kinds(const ir::Module& m, const ir::Rule& r) {
  std::string out;
  for (size_t i = 0; i < r.bodies.size(); ++i)
    out += (i ? (i + 1 == r.bodies.size() ? " and " : ", ") : "") + m.events[r.bodies[i].event].name;
  return out;
}

std::string describe_window(const ir::Rule& r) {
  std::string out;
  if (r.effective_from) out += "effective " + format_time(*r.effective_from);
  if (r.effective_until) out += (out.empty() ? "until " : " until ") + format_time(*r.effective_until);
  return out;
}

const char* state_name(State s) {
  switch (s) {
    case State::Value: return "value";
    case State::NotEvaluated: return "not_evaluated";
    case State::Absent: return "absent";
    case State::Present: return "present";
  }
  return "?";
}

// A member's operand for people and as JSON ("" and "null" for `count()`).
void member_value(const window::Member& m, ir::Ty type, std::string& text, std::string& json) {
  switch (type) {
    case ir::Ty::Void: text.clear(), json = "null"; return;
    case ir::Ty::Str: text = json = json_string(m.text); return;
    case ir::Ty::Int: text = json = std::to_string(static_cast<int64_t>(m.bits)); return;
    case ir::Ty::Number: text = json = fmt::format("{}", std::bit_cast<double>(m.bits)); return;
    case ir::Ty::Time: text = format_time(static_cast<int64_t>(m.bits)), json = json_string(text); return;
    case ir::Ty::Duration:
      text = format_duration(static_cast<int64_t>(m.bits)), json = json_string(text);
      return;
    case ir::Ty::Bool: text = json = m.bits ? "true" : "false"; return;
    case ir::Ty::Country: text = json = json_string(country_code(static_cast<uint16_t>(m.bits))); return;
    default: text = "?", json = "null"; return;
  }
}

void render_members(std::string& out, const TraceNode& n, int depth) {
  const window::Members& ms = *n.members;
  const std::string indent(static_cast<size_t>(depth) * 2, ' ');
  if (ms.count == 0) {
    out += indent + "over no events in its window\n";
    return;
  }
  out += indent + fmt::format("over {} event{} in its window:\n", ms.count, ms.count == 1 ? "" : "s");
  auto line = [&](const window::Member& m) {
    std::string text, json;
    member_value(m, n.member_type, text, json);
    out += indent + "  ";
    out += m.line ? fmt::format("line {}", m.line) : std::string("from the checkpoint");
    if (!m.id.empty()) out += fmt::format(", id {}", m.id);
    out += ", " + format_time(m.time);
    if (!text.empty()) out += ": " + text;
    out += '\n';
  };
  for (const window::Member& m : ms.first) line(m);
  if (!ms.last.empty()) {
    out += indent + fmt::format("  ... and {} more ...\n", ms.count - ms.first.size() - ms.last.size());
    for (const window::Member& m : ms.last) line(m);
  }
}

void append_members_json(std::string& out, const TraceNode& n) {
  const window::Members& ms = *n.members;
  out += fmt::format(",\"events\":{{\"count\":{},\"first\":[", ms.count);
  auto list = [&](const std::vector<window::Member>& v) {
    for (size_t i = 0; i < v.size(); ++i) {
      const window::Member& m = v[i];
      std::string text, json;
      member_value(m, n.member_type, text, json);
      if (i) out += ',';
      out += m.line ? fmt::format("{{\"line\":{}", m.line) : std::string("{\"line\":null");
      if (!m.id.empty()) out += ",\"id\":" + json_string(m.id);
      out += ",\"time\":" + json_string(format_time(m.time));
      if (n.member_type != ir::Ty::Void) out += ",\"value\":" + json;
      out += '}';
    }
  };
  list(ms.first);
  out += "],\"last\":[";
  list(ms.last);
  out += fmt::format("],\"more\":{}}}", ms.count - ms.first.size() - ms.last.size());
}

void render_node(std::string& out, const TraceNode& n, int depth, const char* label) {
  std::string value;
  switch (n.state) {
    case State::Value: value = n.text; break;
    case State::NotEvaluated: value = "(not evaluated)"; break;
    case State::Absent: value = "absent"; break;
    case State::Present: value = "present"; break;
  }
  std::string source = n.source;
  if (source.size() > 120) source = source.substr(0, 117) + "...";
  out += std::string(static_cast<size_t>(depth) * 2, ' ');
  if (label) out += label, out += ' ';
  if (!n.note.empty()) out += n.note + ": ";
  out += source + " = " + value + "\n";
  if (n.members) render_members(out, n, depth + 1);
  for (const TraceNode& c : n.children) render_node(out, c, depth + 1, nullptr);
}

}  // namespace

std::string value_text(const Value& v) {
  std::string text, json;
  format_constant(v, text, json);
  return text;
}

const char* status_name(RuleTrace::Status s) {
  switch (s) {
    case RuleTrace::Status::Fired: return "fired";
    case RuleTrace::Status::NotFired: return "not_fired";
    case RuleTrace::Status::NotInEffect: return "not_in_effect";
    case RuleTrace::Status::NotApplicable: return "not_applicable";
    case RuleTrace::Status::Error: return "error";
  }
  return "?";
}

Tracer::~Tracer() = default;

std::unique_ptr<Tracer> Tracer::create(const Policy& policy, std::string* error) {
  std::unique_ptr<Tracer> t(new Tracer());
  t->policy_ = &policy;
  ir::LowerOptions options;
  options.trace = true;
  // Tracing doubles the nesting of conditions and keeps every instruction.
  options.max_expression_depth *= 2;
  options.max_instructions_per_function *= 4;
  options.max_instructions_total *= 4;
  DiagnosticSink sink;
  t->module_ = ir::lower(policy.checked(), sink, options);
  // Data tables read the policy's loaded sources (same table order).
  for (size_t i = 0; i < t->module_.tables.size() && i < policy.module().tables.size(); ++i)
    if (t->module_.tables[i].external()) t->module_.tables[i].data = policy.module().tables[i].data;
  if (sink.has_errors() || !t->module_.ok()) {
    *error = !t->module_.ok()     ? t->module_.errors.front()
             : sink.all().empty() ? std::string("lowering failed")
                                  : sink.all().front().message;
    return nullptr;
  }
  // Batches intern strings against the policy's pool: the traced module
  // must number its strings the same way. Its sets are the policy's less the
  // synthetic ones that untraced lowering appends (ir/passes.h).
  if (t->module_.strings != policy.module().strings || t->module_.sets.size() > policy.module().sets.size()) {
    *error = "the traced module's constants differ from the policy's";
    return nullptr;
  }
  t->interpreter_ = std::make_unique<interp::Interpreter>(t->module_, abi::column_map(policy.schema()));
  t->finisher_ = std::make_unique<DecisionFinisher>(policy);
  return t;
}

RawTrace Tracer::raw_trace(int rule, const EdictColumns& columns, uint32_t row) const {
  RawTrace raw;
  raw.result = interpreter_->trace_rule(rule, columns, row, raw.regs);
  return raw;
}

interp::Interpreter::Trace Tracer::trace_input(ir::FuncId function, const EdictColumns& columns,
                                               uint32_t row) const {
  interp::Interpreter::Trace trace;
  if (!interpreter_->trace_function(function, columns, row, trace)) trace.function = nullptr;
  return trace;
}

TraceNode Tracer::tree(const ast::Expr& e, const RawTrace& raw, const EdictColumns& columns,
                       uint32_t row) const {
  TreeBuilder b(*this, raw, columns, windows_, row);
  return b.build(e, 0, nullptr, 0);
}

RuleTrace Tracer::trace_rule(int rule, const EdictColumns& columns, uint32_t row) const {
  RuleTrace t;
  t.rule = rule;
  const ir::Rule& r = module_.rules[static_cast<size_t>(rule)];
  uint8_t kind = columns.kind[row];
  const ir::RuleBody* body = kind == EDICT_KIND_ERROR ? nullptr : r.body_for(kind);
  if (!body || body->fires == ir::kNoFunc) {
    t.status = RuleTrace::Status::NotApplicable;
    return t;
  }
  RawTrace raw = raw_trace(rule, columns, row);
  if (!raw.regs.function) {
    t.status = RuleTrace::Status::NotInEffect;
    return t;
  }
  switch (raw.result.kind) {
    case interp::RuleResult::Fired: t.status = RuleTrace::Status::Fired; break;
    case interp::RuleResult::NotFired: t.status = RuleTrace::Status::NotFired; break;
    default:
      t.status = RuleTrace::Status::Error;
      t.error = fault_message(module_, static_cast<uint32_t>(rule), raw.result.site, raw.result.reason);
  }
  const ast::RuleDecl* decl = policy_->checked().rules[static_cast<size_t>(rule)].decl;
  if (decl->when) t.when = tree(*decl->when, raw, columns, row);
  if (decl->unless) t.unless = tree(*decl->unless, raw, columns, row);
  return t;
}

EventExplanation explain_row(const Tracer& tracer, const abi::Batch& batch, const Results& results,
                             uint32_t row) {
  const Policy& policy = tracer.policy();
  const ir::Module& m = policy.module();
  EventExplanation e;
  e.line = batch.line(row);
  uint8_t decision = results.decision[row];
  if (decision == EDICT_DECISION_SKIPPED) {
    const abi::RowError* err = batch.error_of(row);
    e.decision = "error";
    e.error_reason = err ? abi::error_reason_name(err->reason) : "invalid_input";
    e.error = err ? err->message : "invalid input";
    return e;
  }
  e.id = std::string(batch.id(row));
  e.kind = m.events[batch.kind(row)].name;
  std::vector<const void*> data;
  std::vector<const uint8_t*> present;
  EdictColumns columns = Policy::columns_of(batch, data, present);
  for (size_t r = 0; r < m.rules.size(); ++r)
    e.rules.push_back(tracer.trace_rule(static_cast<int>(r), columns, row));
  FinishedDecision d;
  tracer.finisher().finish(batch, columns, results, row, d);
  if (decision == EDICT_DECISION_ERROR) {
    e.decision = "error";
    e.error = e.rules[results.fault_rule[row]].error;
    e.error_reason = ir::fault_reason_name(d.fault_reason);
    return e;
  }
  // A message that faults makes the decision `error`, as in `edict eval`;
  // rules after it keep no message.
  for (size_t i = 0; i < d.fired.size(); ++i) {
    const uint32_t r = d.fired[i];
    e.rules[r].message = d.messages[i];
    if (d.faulted && r == d.fault_rule) {
      e.decision = "error";
      e.error = fault_message(m, r, d.fault_site, d.fault_reason);
      e.error_reason = ir::fault_reason_name(d.fault_reason);
      return e;
    }
  }
  e.decision = policy.outcome_name(decision);
  return e;
}

std::string render_explanation(const Tracer& tracer, const EventExplanation& e) {
  const ir::Module& m = tracer.policy().module();
  std::string out = fmt::format("line {}", e.line);
  if (!e.id.empty()) out += fmt::format(", id {}", e.id);
  if (!e.kind.empty()) out += fmt::format(", {} event", e.kind);
  out += fmt::format(": decision {}\n", e.decision);
  if (!e.error.empty()) out += fmt::format("  error: {}\n", e.error);
  for (const RuleTrace& t : e.rules) {
    const ir::Rule& r = m.rules[static_cast<size_t>(t.rule)];
    out += fmt::format("  rule {} ({}, {}): ", r.name, m.outcomes[static_cast<size_t>(r.effect)],
                       r.cite.empty() ? "no citation" : r.cite);
    switch (t.status) {
      case RuleTrace::Status::Fired:
        out += "FIRED\n";
        if (!t.message.empty()) out += fmt::format("    message: {}\n", t.message);
        break;
      case RuleTrace::Status::NotFired: out += "not fired\n"; break;
      case RuleTrace::Status::Error: out += fmt::format("ERROR: {}\n", t.error); break;
      case RuleTrace::Status::NotInEffect:
        out += fmt::format("not in effect at the event's time ({})\n", describe_window(r));
        break;
      case RuleTrace::Status::NotApplicable:
        out += fmt::format("skipped (applies to {} events)\n", describe_kinds(m, r));
        break;
    }
    if (t.when) render_node(out, *t.when, 2, "when");
    if (t.unless) render_node(out, *t.unless, 2, "unless");
  }
  return out;
}

void append_trace_json(std::string& out, const TraceNode& n) {
  out += "{\"expr\":";
  append_json_string(out, n.source);
  if (n.line) out += fmt::format(",\"line\":{}", n.line);
  if (!n.note.empty()) {
    out += ",\"note\":";
    append_json_string(out, n.note);
  }
  out += ",\"state\":\"";
  out += state_name(n.state);
  out += '"';
  if (n.state == State::Value) out += ",\"value\":" + n.json;
  if (n.members) append_members_json(out, n);
  if (!n.children.empty()) {
    out += ",\"children\":[";
    for (size_t i = 0; i < n.children.size(); ++i) {
      if (i) out += ',';
      append_trace_json(out, n.children[i]);
    }
    out += ']';
  }
  out += '}';
}

void append_explanation_json(std::string& out, const Tracer& tracer, const EventExplanation& e) {
  const ir::Module& m = tracer.policy().module();
  out += fmt::format("{{\"line\":{}", e.line);
  if (!e.id.empty()) out += ",\"id\":" + json_string(e.id);
  if (!e.kind.empty()) out += ",\"kind\":" + json_string(e.kind);
  out += ",\"decision\":" + json_string(e.decision);
  if (!e.error.empty())
    out += ",\"reason\":" + json_string(e.error_reason) + ",\"error\":" + json_string(e.error);
  out += ",\"rules\":[";
  for (size_t i = 0; i < e.rules.size(); ++i) {
    const RuleTrace& t = e.rules[i];
    const ir::Rule& r = m.rules[static_cast<size_t>(t.rule)];
    if (i) out += ',';
    out += "{\"name\":" + json_string(r.name) +
           ",\"effect\":" + json_string(m.outcomes[static_cast<size_t>(r.effect)]) +
           ",\"cite\":" + json_string(r.cite) + ",\"status\":\"" + status_name(t.status) + '"';
    if (!t.error.empty()) out += ",\"error\":" + json_string(t.error);
    if (!t.message.empty()) out += ",\"message\":" + json_string(t.message);
    if (t.when) {
      out += ",\"when\":";
      append_trace_json(out, *t.when);
    }
    if (t.unless) {
      out += ",\"unless\":";
      append_trace_json(out, *t.unless);
    }
    out += '}';
  }
  out += "]}";
}

}  // namespace edict::engine
