// Lowering: CheckedProgram -> ir::Module. Reads the checker's side tables
// (types, resolved names, folded constants, set and table indices) and redoes
// none of its analysis. Conditions become jumping code, defs are inlined,
// optional reads become presence tests or checked loads; then the passes of
// passes.h (see SIMPLIFICATIONS in ir.h) and the verifier.
#include <fmt/format.h>

#include <filesystem>

#include <algorithm>
#include <map>

#include "compiler/ir/ir.h"
#include "compiler/ir/passes.h"
#include "compiler/ir/type_map.h"
#include "support/countries.h"

namespace edict::ir {

namespace {

using ast::Expr;
using ast::ExprKind;

// A def parameter's declared scalar type, or Void for anything else.
Ty ty_of_written(const ast::TypeExpr& t) {
  return ty_of(scalar_type_named(t.name));
}

// ---- the lowering proper ---------------------------------------------------------

class Lowerer {
 public:
  Lowerer(const check::CheckedProgram& p, DiagnosticSink& sink, const LowerOptions& options, Module& m)
      : p_(p), sink_(sink), options_(options), m_(m) {}

  void run() {
    m_.sources = p_.sources;
    lower_metadata();
    lower_events();
    lower_sets();
    lower_tables();
    collect_aggregates();
    for (size_t r = 0; r < p_.rules.size(); ++r) lower_rule(static_cast<int>(r));
    lower_aggregate_inputs();
    if (!options_.trace && options_.collapse_string_regions) collapse_string_regions();
    renumber_fault_sites();
    if (options_.verify)
      for (std::string& e : verify(m_)) m_.errors.push_back("verifier: " + e);
  }

 private:
  const check::CheckedProgram& p_;
  DiagnosticSink& sink_;
  const LowerOptions& options_;
  Module& m_;
  std::vector<int> event_of_record_;                        // checker record index -> Module::events
  std::unordered_map<ast::NodeId, int> aggregate_of_node_;  // Aggregate expression -> Module::aggregates
  struct AggregateSource {
    const Expr* expr;
    int rule;
  };
  std::vector<AggregateSource> aggregate_sources_;  // parallel to Module::aggregates

  // Per function being built.
  Function* fn_ = nullptr;
  FuncId fn_id_ = kNoFunc;
  BlockId cur_ = 0;
  bool open_ = false;  // cur_ is open for instructions
  bool failed_ = false;
  size_t inst_count_ = 0;
  unsigned inline_depth_ = 0;
  unsigned depth_ = 0;
  size_t total_insts_ = 0;
  bool total_reported_ = false;
  const ast::RuleDecl* rule_decl_ = nullptr;
  std::vector<bool> merge_reg_;
  std::vector<int64_t> row_table_;                 // row register -> table id
  std::vector<std::optional<int64_t>> int_const_;  // int register -> its constant value
  const std::vector<Reg>* params_ = nullptr;       // current def's arguments
  // Trace mode (LowerOptions::trace): the expression being traced by value()
  // or cond() (their re-entry lowers it plainly), and the current inline frame.
  const Expr* traced_value_ = nullptr;
  const Expr* traced_cond_ = nullptr;
  uint32_t frame_ = 0;

  void note(const Expr& e, Reg r) {
    if (!failed_ && r != kNoReg && e.id != ast::kNoNode) fn_->trace.push_back({e.id, r, frame_});
  }
  // Enters the body of the def called by `call`; returns the frame to restore.
  uint32_t enter_frame(const Expr& call) {
    uint32_t saved = frame_;
    if (options_.trace && !failed_) {
      fn_->frames.push_back({call.id, frame_});
      frame_ = static_cast<uint32_t>(fn_->frames.size() - 1);
    }
    return saved;
  }

  // ---- module tables ---------------------------------------------------------

  void internal(Span span, const std::string& what) {
    std::string where;
    if (span.valid() && p_.sources && span.file < p_.sources->size()) {
      LineCol lc = p_.sources->line_col(span.file, span.begin);
      where = fmt::format("{}:{}:{}: ", p_.sources->file(span.file).path, lc.line, lc.column);
    }
    m_.errors.push_back(fmt::format("{}{}{}", where, fn_ ? "fn " + fn_->name + ": " : "", what));
    failed_ = true;
  }

  void lower_metadata() {
    for (const check::PolicyInfo& pi : p_.policies)
      m_.policies.push_back({pi.title, pi.version, pi.source, pi.status});
    m_.outcomes = p_.outcomes;
    m_.default_outcome = p_.default_outcome;
  }

  void lower_events() {
    event_of_record_.assign(p_.records.size(), -1);
    for (int rec : p_.events) {
      if (rec < 0 || static_cast<size_t>(rec) >= p_.records.size()) {
        internal({}, fmt::format("event record #{} out of range", rec));
        continue;
      }
      const check::RecordSchema& rs = p_.records[rec];
      EventSchema e;
      e.name = rs.name;
      e.time_field = rs.time_field;
      if (rs.decl) e.span = rs.decl->name_span;
      for (const check::FieldInfo& fi : rs.fields)
        e.fields.push_back({fi.name, ty_of(fi.type.kind), fi.type.optional});
      event_of_record_[rec] = static_cast<int>(m_.events.size());
      m_.events.push_back(std::move(e));
    }
  }

  std::optional<Scalar> scalar_of(const Value& v, Ty t) {
    switch (t) {
      case Ty::Bool:
        if (v.kind == TypeKind::Bool) return Scalar{v.i ? 1 : 0, 0};
        break;
      case Ty::Int:
        if (v.kind == TypeKind::Int) return Scalar{v.i, 0};
        break;
      case Ty::Number:
        if (v.kind == TypeKind::Number) return Scalar{0, v.n};
        if (v.kind == TypeKind::Int) return Scalar{0, static_cast<double>(v.i)};
        break;
      case Ty::Str:
        if (v.kind == TypeKind::String) return Scalar{m_.intern(v.s), 0};
        break;
      case Ty::Country:
        // The code is the authority; the index is used only when no code came along.
        if ((v.kind == TypeKind::Country || v.kind == TypeKind::String) && !v.s.empty()) {
          if (auto idx = country_index(v.s)) return Scalar{*idx, 0};
          break;
        }
        if (v.kind == TypeKind::Country && v.i >= 0 && v.i < kCountryIndexLimit) return Scalar{v.i, 0};
        break;
      case Ty::Time:
        if (v.kind == TypeKind::Time || v.kind == TypeKind::Date) return Scalar{v.i, 0};
        break;
      case Ty::Duration:
        if (v.kind == TypeKind::Duration) return Scalar{v.i, 0};
        break;
      default: break;
    }
    return std::nullopt;
  }

  void sort_members(Ty t, std::vector<Scalar>& v) {
    auto less = [&](const Scalar& a, const Scalar& b) {
      if (t == Ty::Number) return a.f < b.f;
      if (t == Ty::Str) return m_.strings[a.i] < m_.strings[b.i];
      return a.i < b.i;
    };
    std::sort(v.begin(), v.end(), less);
    v.erase(std::unique(v.begin(), v.end(),
                        [&](const Scalar& a, const Scalar& b) { return !less(a, b) && !less(b, a); }),
            v.end());
  }

  void lower_sets() {
    for (size_t i = 0; i < p_.sets.size(); ++i) {
      const check::SetInfo& si = p_.sets[i];
      Set s;
      s.name = si.decl ? si.decl->name : fmt::format("${}", i);
      s.span = si.span;
      s.elem = ty_of(si.element);
      for (const Value& v : si.members) {
        if (auto sc = scalar_of(v, s.elem))
          s.members.push_back(*sc);
        else
          internal(s.span, fmt::format("set `{}`: member {} is not a {}", s.name, value_to_source(v),
                                       ty_name(s.elem)));
      }
      sort_members(s.elem, s.members);
      m_.sets.push_back(std::move(s));
    }
  }

  // The run-time handle of a `data` table: its file's layout, from the
  // declaration (headers default to the field names).
  std::shared_ptr<abi::DataSlot> data_slot(const check::TableInfo& ti, const check::RecordSchema& rs,
                                           const Table& t) {
    const ast::DataSpec& spec = *ti.decl->data;
    abi::DataSchema schema;
    schema.name = t.name;
    std::filesystem::path policy_file = p_.sources->file(ti.decl->span.file).path;
    schema.default_file = (policy_file.parent_path() / spec.file).lexically_normal().string();
    schema.key_header = spec.key_header;
    auto header_of = [&](const std::string& field) {
      for (const ast::DataSpec::ColumnName& c : spec.columns)
        if (c.field == field) return c.header;
      return field;
    };
    auto cell_type = [](TypeKind k) {
      switch (k) {
        case TypeKind::Bool: return abi::CellType::Bool;
        case TypeKind::Int: return abi::CellType::Int;
        case TypeKind::Number: return abi::CellType::Number;
        case TypeKind::Country: return abi::CellType::Country;
        case TypeKind::Time: return abi::CellType::Time;
        case TypeKind::Date: return abi::CellType::Date;
        default: return abi::CellType::Str;
      }
    };
    schema.key = cell_type(ti.key);
    for (const check::FieldInfo& fi : rs.fields) {
      if (&fi - rs.fields.data() == ti.score_field) {  // the last field: the match's, not the file's
        schema.score_column = ti.score_field;
        continue;
      }
      if (fi.name == spec.in_force_from) schema.in_force_from = static_cast<int>(schema.columns.size());
      if (fi.name == spec.in_force_until) schema.in_force_until = static_cast<int>(schema.columns.size());
      schema.columns.push_back({fi.name, header_of(fi.name), cell_type(fi.type.kind), fi.type.optional});
    }
    for (const std::string& list : ti.list_fields)
      schema.columns.push_back({list, header_of(list), abi::CellType::StrList, true});
    for (const ast::Ident& f : spec.screen_fields)
      for (size_t c = 0; c < schema.columns.size(); ++c)
        if (schema.columns[c].name == f.name) schema.screen_columns.push_back(static_cast<int>(c));
    schema.screen_threshold = spec.threshold;
    schema.legal_forms = spec.legal_forms;
    return std::make_shared<abi::DataSlot>(std::move(schema));
  }

  void lower_tables() {
    for (const check::TableInfo& ti : p_.tables) {
      Table t;
      t.name = ti.decl ? ti.decl->name : fmt::format("${}", m_.tables.size());
      if (ti.decl) t.span = ti.decl->name_span;
      t.key = ty_of(ti.key);
      if (ti.record < 0 || static_cast<size_t>(ti.record) >= p_.records.size()) {
        internal(t.span, "table row schema out of range");
        m_.tables.push_back(std::move(t));
        continue;
      }
      const check::RecordSchema& rs = p_.records[ti.record];
      for (const check::FieldInfo& fi : rs.fields) {
        Column c;
        c.name = fi.name;
        c.type = ty_of(fi.type.kind);
        c.optional = fi.type.optional;
        t.columns.push_back(std::move(c));
      }
      if (ti.external) t.data = data_slot(ti, rs, t);
      for (const Value& k : ti.keys) {
        auto sc = scalar_of(k, t.key);
        if (!sc)
          internal(t.span,
                   fmt::format("table `{}`: key {} is not a {}", t.name, value_to_source(k), ty_name(t.key)));
        t.keys.push_back(sc.value_or(Scalar{}));
      }
      for (size_t r = 0; r < ti.keys.size(); ++r) {
        for (size_t c = 0; c < t.columns.size(); ++c) {
          Column& col = t.columns[c];
          const Value* v = r < ti.cells.size() && c < ti.cells[r].size() ? &ti.cells[r][c] : nullptr;
          std::optional<Scalar> sc;
          if (v && v->kind != TypeKind::Error) sc = scalar_of(*v, col.type);
          if (!sc && !col.optional)
            internal(t.span, fmt::format("table `{}`: row {} has no valid `{}`", t.name, r, col.name));
          col.cells.push_back(sc.value_or(Scalar{}));
          col.present.push_back(sc ? 1 : 0);
        }
      }
      m_.tables.push_back(std::move(t));
    }
  }

  // After every function is lowered, so that the synthetic sets follow every
  // set lowering made (a traced module has the same sets, then none of these).
  void collapse_string_regions() {
    for (Function& f : m_.functions) {
      if (!collapse_string_tests(m_, f)) continue;
      eliminate_dead_code(f);
      simplify_cfg(f);
      compact_registers(f);
    }
  }

  void renumber_fault_sites() {
    std::vector<FaultSite> sites;
    for (Function& f : m_.functions)
      for (Block& b : f.blocks)
        for (Inst& in : b.insts)
          if (in.site != kNoSite && in.site < m_.fault_sites.size()) {
            sites.push_back(m_.fault_sites[in.site]);
            in.site = static_cast<uint32_t>(sites.size() - 1);
          }
    m_.fault_sites = std::move(sites);
  }

  // ---- rules ------------------------------------------------------------------

  void lower_rule(int index) {
    const check::RuleInfo& ri = p_.rules[index];
    if (!ri.decl) {
      internal({}, fmt::format("rule #{} has no declaration", index));
      return;
    }
    Rule rule;
    rule.name = ri.decl->name;
    rule.span = ri.decl->name_span;
    rule.effective_from = ri.effective_from;
    rule.effective_until = ri.effective_until;
    rule.effect = ri.effect;
    rule.cite = ri.decl->cite;
    rule.policy = ri.policy;
    std::vector<int> kinds;
    for (int rec : ri.kinds) {
      int e = rec >= 0 && static_cast<size_t>(rec) < event_of_record_.size() ? event_of_record_[rec] : -1;
      if (e < 0)
        internal(rule.span, fmt::format("rule `{}` names event record #{}", rule.name, rec));
      else
        kinds.push_back(e);
    }
    std::sort(kinds.begin(), kinds.end());
    kinds.erase(std::unique(kinds.begin(), kinds.end()), kinds.end());
    m_.rules.push_back(rule);
    for (int e : kinds) {
      RuleBody body;
      body.event = e;
      body.fires = lower_function(index, e, FunctionKind::Fires);
      if (ri.decl->message) body.message = lower_function(index, e, FunctionKind::Message);
      m_.rules[index].bodies.push_back(body);
    }
  }

  FuncId lower_function(int rule, int event, FunctionKind kind) {
    const ast::RuleDecl& d = *p_.rules[rule].decl;
    return build_function(
        d.name + "/" + m_.events[event].name + (kind == FunctionKind::Message ? "/message" : ""), kind, rule,
        event, [&] {
          if (kind == FunctionKind::Fires)
            lower_fires(d);
          else
            lower_message(d);
        });
  }

  // Creates a function of the rule's (the rule's name span, its limits) and
  // lowers `body` into it, then runs the cleanups.
  template <typename Body>
  FuncId build_function(std::string name, FunctionKind kind, int rule, int event, Body&& body) {
    const ast::RuleDecl& d = *p_.rules[rule].decl;
    FuncId id = static_cast<FuncId>(m_.functions.size());
    m_.functions.emplace_back();
    Function& f = m_.functions.back();
    f.name = std::move(name);
    f.kind = kind;
    f.rule = rule;
    f.event = event;
    f.span = d.name_span;

    fn_ = &f;
    fn_id_ = id;
    failed_ = false;
    inst_count_ = 0;
    inline_depth_ = 0;
    rule_decl_ = &d;
    merge_reg_.clear();
    row_table_.clear();
    int_const_.clear();
    params_ = nullptr;
    frame_ = 0;
    if (options_.trace) f.frames.push_back({});
    cur_ = new_block();
    open_ = true;

    body();

    if (!failed_ && options_.trace) {
      simplify_cfg(f);  // trace points name registers: keep every one
    } else if (!failed_) {
      optimise_function(m_, f);
    }
    if (failed_) {
      // Keep the module well formed for the printer: one block that faults.
      f.blocks.clear();
      f.regs.clear();
      f.blocks.push_back({});
      Inst in;
      in.op = Op::Fault;
      in.reason = FaultReason::Absent;
      in.span = d.name_span;
      in.site = new_site(d.name_span);
      f.blocks[0].insts.push_back(in);
    }
    fn_ = nullptr;
    return id;
  }

  void lower_fires(const ast::RuleDecl& d) {
    BlockId yes = new_block(), no = new_block();
    terminate_block(yes, ret(true, d.name_span));
    terminate_block(no, ret(false, d.name_span));
    if (d.when) {
      BlockId then = new_block();
      cond(*d.when, then, no);
      enter(then);
    }
    if (d.unless)
      cond(*d.unless, no, yes);
    else
      jump(yes, d.name_span);
  }

  void lower_message(const ast::RuleDecl& d) {
    const Expr& msg = *d.message;
    for (const ast::MessagePart& part : msg.parts) {
      if (part.expr_index < 0) {
        if (part.text.empty()) continue;
        Inst in;
        in.op = Op::EmitText;
        in.imm = m_.intern(part.text);
        in.span = msg.span;
        emit(in);
        continue;
      }
      if (static_cast<size_t>(part.expr_index) >= msg.children.size() || !msg.children[part.expr_index]) {
        internal(msg.span, "message part out of range");
        return;
      }
      const Expr& e = *msg.children[part.expr_index];
      Reg v = value(e);
      Inst in;
      in.op = Op::EmitValue;
      in.a = v;
      if (const Type* t = full_type(e); t && t->kind == TypeKind::Date) in.aux = kEmitDate;
      in.span = e.span;
      emit(in);
    }
    Inst r;
    r.op = Op::Ret;
    r.span = d.name_span;
    finish(r);
  }

  // ---- windowed aggregates ------------------------------------------------------
  // See WINDOWED AGGREGATES in ir.h. Each aggregate becomes a synthetic field
  // of the rule's kinds before any rule is lowered (rules load it like an
  // input field), and its filter, key and operand become functions per kind.

  static AggFn agg_fn_of(const Expr& e) {
    if (e.text == "sum") return AggFn::Sum;
    if (e.text == "min") return AggFn::Min;
    if (e.text == "max") return AggFn::Max;
    if (e.text == "avg") return AggFn::Avg;
    return e.distinct ? AggFn::CountDistinct : AggFn::Count;
  }

  const Expr* agg_part(const Expr& e, int index) const {
    return index >= 0 && static_cast<size_t>(index) < e.children.size() ? e.children[index].get() : nullptr;
  }

  void collect_aggregates() {
    std::map<std::string, int> by_text;  // dump + kinds -> aggregate: identical ones share a field
    for (size_t r = 0; r < p_.rules.size(); ++r) {
      const check::RuleInfo& ri = p_.rules[r];
      if (!ri.decl) continue;
      std::vector<int> kinds;
      for (int rec : ri.kinds)
        if (rec >= 0 && static_cast<size_t>(rec) < event_of_record_.size() && event_of_record_[rec] >= 0)
          kinds.push_back(event_of_record_[rec]);
      std::sort(kinds.begin(), kinds.end());
      kinds.erase(std::unique(kinds.begin(), kinds.end()), kinds.end());
      auto visit = [&](const Expr& e) {
        if (e.kind != ExprKind::Aggregate) return;
        std::string key = ast::dump(e);
        for (int k : kinds) key += fmt::format("|{}", k);
        auto [it, fresh] = by_text.emplace(key, static_cast<int>(m_.aggregates.size()));
        aggregate_of_node_[e.id] = it->second;
        if (fresh) add_aggregate(e, static_cast<int>(r), kinds);
      };
      for (const ast::ExprPtr* slot : {&ri.decl->when, &ri.decl->unless, &ri.decl->message})
        if (*slot) ast::walk(**slot, visit);
    }
  }

  void add_aggregate(const Expr& e, int rule, const std::vector<int>& kinds) {
    Aggregate a;
    a.name = fmt::format("$agg{}", m_.aggregates.size());
    a.text = p_.sources ? std::string(p_.sources->text(e.span)) : a.name;
    a.fn = agg_fn_of(e);
    a.span = e.span;
    const Expr* arg = agg_part(e, e.agg_arg);
    const Expr* window = agg_part(e, e.agg_window);
    const Expr* key = agg_part(e, e.agg_key);
    if (arg) a.operand = type_of(*arg);
    if (key) a.key = type_of(*key);
    a.window = window ? window->int_value : 0;
    a.calendar_year = e.calendar_year;
    a.optional = a.fn == AggFn::Min || a.fn == AggFn::Max || a.fn == AggFn::Avg;
    a.result = a.fn == AggFn::Avg                                     ? Ty::Number
               : a.fn == AggFn::Count || a.fn == AggFn::CountDistinct ? Ty::Int
                                                                      : a.operand;
    if (a.window <= 0 || a.result == Ty::Void || (a.fn != AggFn::Count && a.operand == Ty::Void))
      internal(e.span, "malformed aggregate (the checker should have rejected it)");
    for (int k : kinds) {
      AggregateInput in;
      in.event = k;
      in.field = static_cast<int>(m_.events[k].fields.size());
      // Optional even for `sum` and `count`, so reads are checked: a batch
      // that never went through the window stage faults (fails closed)
      // instead of reading zeros.
      Field f{a.name, a.result, true};
      f.aggregate = static_cast<int>(m_.aggregates.size());
      m_.events[k].fields.push_back(f);
      a.inputs.push_back(in);
    }
    m_.aggregates.push_back(std::move(a));
    aggregate_sources_.push_back({&e, rule});
  }

  void lower_aggregate_inputs() {
    for (size_t i = 0; i < m_.aggregates.size(); ++i) {
      const Expr& e = *aggregate_sources_[i].expr;
      const int rule = aggregate_sources_[i].rule;
      const Expr* filter = agg_part(e, e.agg_filter);
      const Expr* key = agg_part(e, e.agg_key);
      const Expr* arg = agg_part(e, e.agg_arg);
      for (AggregateInput& in : m_.aggregates[i].inputs) {
        std::string base = fmt::format("{}/{}/{}", m_.aggregates[i].name, m_.events[in.event].name,
                                       p_.rules[rule].decl->name);
        if (filter)
          in.filter = build_function(base + "/where", FunctionKind::Fires, rule, in.event, [&] {
            BlockId yes = new_block(), no = new_block();
            terminate_block(yes, ret(true, filter->span));
            terminate_block(no, ret(false, filter->span));
            cond(*filter, yes, no);
          });
        auto value_function = [&](const Expr& x, const char* part) {
          return build_function(base + part, FunctionKind::Value, rule, in.event, [&] {
            Reg r = value(x);
            Inst term;
            term.op = Op::Ret;
            term.a = r;
            term.span = x.span;
            finish(term);
          });
        };
        if (key) in.key = value_function(*key, "/by");
        if (arg) in.operand = value_function(*arg, "/value");
      }
    }
  }

  // The synthetic field of aggregate `e` in the current function's kind.
  int aggregate_field(const Expr& e) {
    auto it = aggregate_of_node_.find(e.id);
    if (it != aggregate_of_node_.end())
      for (const AggregateInput& in : m_.aggregates[it->second].inputs)
        if (in.event == fn_->event) return in.field;
    internal(e.span, "aggregate without a field in this event kind");
    return -1;
  }

  // ---- emission -----------------------------------------------------------------

  BlockId new_block() {
    fn_->blocks.emplace_back();
    return static_cast<BlockId>(fn_->blocks.size() - 1);
  }

  Reg new_reg(Ty t, bool merge = false) {
    fn_->regs.push_back(t);
    merge_reg_.push_back(merge);
    row_table_.push_back(-1);
    int_const_.emplace_back();
    return static_cast<Reg>(fn_->regs.size() - 1);
  }

  uint32_t new_site(Span span) {
    m_.fault_sites.push_back({fn_id_, span});
    return static_cast<uint32_t>(m_.fault_sites.size() - 1);
  }

  void enter(BlockId b) {
    cur_ = b;
    open_ = true;
  }

  void count_inst() {
    ++total_insts_;
    if (++inst_count_ > options_.max_instructions_per_function && !failed_) {
      failed_ = true;
      std::string what =
          fmt::format("rule `{}` is too large to compile: more than {} instructions after inlining",
                      rule_decl_->name, options_.max_instructions_per_function);
      Diagnostic& d = sink_.error("E0601", rule_decl_->name_span, what);
      d.help = "every call of a `def` copies its body; split the rule or its `def`s";
    } else if (total_insts_ > options_.max_instructions_total && !failed_ && !total_reported_) {
      failed_ = true;
      total_reported_ = true;
      std::string what =
          fmt::format("the policy is too large to compile: more than {} instructions after inlining",
                      options_.max_instructions_total);
      Diagnostic& d = sink_.error("E0601", rule_decl_->name_span, what);
      d.help = "every call of a `def` copies its body into the rule; split the policy or its `def`s";
    } else if (total_reported_) {
      failed_ = true;
    }
  }

  // Bounds lowering's recursion (expression nesting times def inlining).
  struct Nest {
    Lowerer& l;
    bool ok;
    Nest(Lowerer& lowerer, Span span) : l(lowerer) {
      ok = ++l.depth_ <= l.options_.max_expression_depth;
      if (!ok && !l.failed_) {
        Diagnostic& d = l.sink_.error(
            "E0602", span,
            fmt::format("expression nests too deeply to compile (more than {} levels after inlining `def`s)",
                        l.options_.max_expression_depth));
        d.help = "split the condition into smaller `def`s or rules";
      }
      if (!ok) l.failed_ = true;
    }
    ~Nest() { --l.depth_; }
  };

  // Appends to the current block; after a terminator, code goes to a fresh
  // unreachable block that the cleanup removes.
  void emit(Inst in) {
    if (failed_) return;
    count_inst();
    if (op_info(in.op).checked && in.site == kNoSite) in.site = new_site(in.span);
    if (!open_) enter(new_block());
    fn_->blocks[cur_].insts.push_back(in);
  }

  void finish(Inst term) {
    emit(term);
    open_ = false;
  }

  void terminate_block(BlockId b, Inst term) {
    BlockId saved = cur_;
    bool saved_open = open_;
    enter(b);
    finish(term);
    cur_ = saved;
    open_ = saved_open;
  }

  Inst ret(bool fires, Span span) {
    Inst in;
    in.op = Op::Ret;
    in.imm = fires ? 1 : 0;
    in.span = span;
    return in;
  }

  void jump(BlockId to, Span span) {
    Inst in;
    in.op = Op::Jmp;
    in.target[0] = to;
    in.span = span;
    finish(in);
  }

  void branch(Reg c, BlockId t, BlockId f, Span span) {
    Inst in;
    in.op = Op::Br;
    in.a = c;
    in.target[0] = t;
    in.target[1] = f;
    in.span = span;
    finish(in);
  }

  void fault(FaultReason reason, Span span) {
    Inst in;
    in.op = Op::Fault;
    in.reason = reason;
    in.span = span;
    finish(in);
  }

  Reg op(Op o, Ty t, Span span, Reg a = kNoReg, Reg b = kNoReg, int64_t imm = 0, uint32_t aux = 0) {
    Reg d = new_reg(t);
    Inst in;
    in.op = o;
    in.type = t;
    in.dst = d;
    in.a = a;
    in.b = b;
    in.imm = imm;
    in.aux = aux;
    in.span = span;
    emit(in);
    return d;
  }

  Reg cmp(Op o, Pred p, Reg a, Reg b, Span span) {
    Reg d = op(o, Ty::Bool, span, a, b);
    if (!failed_) fn_->blocks[cur_].insts.back().pred = p;
    return d;
  }

  Reg konst(Ty t, Scalar v, Span span) {
    Reg d = op(Op::Const, t, span, kNoReg, kNoReg, v.i);
    if (!failed_) fn_->blocks[cur_].insts.back().fimm = v.f;
    if (t == Ty::Int) int_const_[d] = v.i;
    return d;
  }

  void copy_into(Reg dst, Reg src, Span span) {
    Inst in;
    in.op = Op::Copy;
    in.type = fn_->regs[dst];
    in.dst = dst;
    in.a = src;
    in.span = span;
    emit(in);
    if (fn_->regs[dst] == Ty::Row && src < row_table_.size()) row_table_[dst] = row_table_[src];
  }

  Ty reg_ty(Reg r) const { return r < fn_->regs.size() ? fn_->regs[r] : Ty::Void; }

  // A placeholder for code that will not run (dead arms, failed lowering).
  Reg dummy(Ty t, Span span) {
    if (!is_scalar(t)) t = Ty::Bool;
    return konst(t, Scalar{}, span);
  }

  // int -> num where a number is wanted; an int constant becomes a num
  // constant rather than a run-time conversion.
  Reg widen(Reg r, Ty want, Span span) {
    if (reg_ty(r) != Ty::Int || want != Ty::Number) return r;
    if (r < int_const_.size() && int_const_[r])
      return konst(Ty::Number, Scalar{0, static_cast<double>(*int_const_[r])}, span);
    return op(Op::IToF, Ty::Number, span, r);
  }

  // ---- checker side tables ---------------------------------------------------

  Ty type_of(const Expr& e) const {
    if (e.id >= p_.expr_types.size()) return Ty::Void;
    return ty_of(p_.expr_types[e.id].kind);
  }
  const Type* full_type(const Expr& e) const {
    return e.id < p_.expr_types.size() ? &p_.expr_types[e.id] : nullptr;
  }

  const Value* folded(const Expr& e) const {
    if (e.id >= p_.constant.size() || p_.constant[e.id].kind == TypeKind::Error) return nullptr;
    if (!is_scalar(type_of(e))) return nullptr;
    return &p_.constant[e.id];
  }

  const ast::Decl* resolved(const Expr& e) const {
    return e.id < p_.resolved.size() ? p_.resolved[e.id] : nullptr;
  }
  int param_of(const Expr& e) const { return e.id < p_.param_index.size() ? p_.param_index[e.id] : -1; }
  int builtin_of(const Expr& e) const { return e.id < p_.builtin_index.size() ? p_.builtin_index[e.id] : -1; }

  int table_of(const Expr& e) const {
    if (e.id < p_.table_index.size() && p_.table_index[e.id] >= 0) return p_.table_index[e.id];
    if (const ast::Decl* d = resolved(e))
      for (size_t i = 0; i < p_.tables.size(); ++i)
        if (p_.tables[i].decl == d) return static_cast<int>(i);
    return -1;
  }

  // The IR set for a set-valued expression: the checker's index, or, for a
  // union or difference it did not index, a set built from its operands.
  int set_of(const Expr& e) {
    if (e.id < p_.set_index.size() && p_.set_index[e.id] >= 0) return p_.set_index[e.id];
    if (const ast::Decl* d = resolved(e))
      for (size_t i = 0; i < p_.sets.size(); ++i)
        if (p_.sets[i].decl == d) return static_cast<int>(i);
    if (e.kind == ExprKind::Binary && (e.op == ast::Op::Add || e.op == ast::Op::Sub) &&
        e.children.size() == 2) {
      int a = set_of(*e.children[0]), b = set_of(*e.children[1]);
      if (a < 0 || b < 0) return -1;
      Set s;
      s.name = fmt::format("${}", m_.sets.size());
      s.span = e.span;
      s.elem = m_.sets[a].elem;
      const std::vector<Scalar>& bm = m_.sets[b].members;
      auto in_b = [&](const Scalar& x) { return std::find(bm.begin(), bm.end(), x) != bm.end(); };
      for (const Scalar& x : m_.sets[a].members)
        if (e.op == ast::Op::Add || !in_b(x)) s.members.push_back(x);
      if (e.op == ast::Op::Add) s.members.insert(s.members.end(), bm.begin(), bm.end());
      sort_members(s.elem, s.members);
      m_.sets.push_back(std::move(s));
      return static_cast<int>(m_.sets.size() - 1);
    }
    return -1;
  }

  // ---- expressions: values -----------------------------------------------------

  const Expr& child(const Expr& e, size_t i) {
    static const Expr kMissing;
    if (i < e.children.size() && e.children[i]) return *e.children[i];
    internal(e.span, fmt::format("expression is missing operand {}", i));
    return kMissing;
  }

  Reg constant(const Expr& e, const Value& v) {
    Ty t = type_of(e);
    auto sc = scalar_of(v, t);
    if (!sc) {
      internal(e.span, fmt::format("constant {} is not a {}", value_to_source(v), ty_name(t)));
      return dummy(t, e.span);
    }
    return konst(t, *sc, e.span);
  }

  Reg value(const Expr& e) {
    if (options_.trace && traced_value_ != &e) {
      const Expr* saved = traced_value_;
      traced_value_ = &e;
      Reg r = value(e);
      traced_value_ = saved;
      note(e, r);
      return r;
    }
    Ty t = type_of(e);
    if (failed_) return kNoReg;
    Nest nest(*this, e.span);
    if (!nest.ok) return kNoReg;
    if (const Value* v = folded(e)) return constant(e, *v);
    switch (e.kind) {
      case ExprKind::Int:
      case ExprKind::Number:
      case ExprKind::String:
      case ExprKind::Bool:
      case ExprKind::Date:
      case ExprKind::Time:
      case ExprKind::Duration: {
        Value v;
        v.kind = e.kind == ExprKind::Int      ? TypeKind::Int
                 : e.kind == ExprKind::Number ? TypeKind::Number
                 : e.kind == ExprKind::String ? TypeKind::String
                 : e.kind == ExprKind::Bool   ? TypeKind::Bool
                 : e.kind == ExprKind::Date   ? TypeKind::Date
                 : e.kind == ExprKind::Time   ? TypeKind::Time
                                              : TypeKind::Duration;
        v.i = e.kind == ExprKind::Bool ? (e.bool_value ? 1 : 0) : e.int_value;
        v.n = e.number_value;
        v.s = e.text;
        if (t == Ty::Country) v.kind = TypeKind::String;  // a country literal the checker did not fold
        return constant(e, v);
      }
      case ExprKind::Name: return name_value(e);
      case ExprKind::Field: return field_value(e);
      case ExprKind::Call: return call_value(e);
      case ExprKind::Unary: {
        if (e.op == ast::Op::Not) return op(Op::Not, Ty::Bool, e.span, value(child(e, 0)));
        Reg a = value(child(e, 0));
        if (t == Ty::Number) return op(Op::FNeg, Ty::Number, e.span, widen(a, Ty::Number, e.span));
        return op(Op::INeg, t, e.span, a);
      }
      case ExprKind::Binary: return binary_value(e);
      case ExprKind::In: {
        Reg r = membership(e);
        return e.negated ? op(Op::Not, Ty::Bool, e.span, r) : r;
      }
      case ExprKind::Is: return materialize(e);
      case ExprKind::If: {
        Reg res = new_reg(t, true);
        BlockId a = new_block(), b = new_block(), join = new_block();
        cond(child(e, 0), a, b);
        enter(a);
        copy_into(res, widen(value(child(e, 1)), t, e.span), e.span);
        jump(join, e.span);
        enter(b);
        copy_into(res, widen(value(child(e, 2)), t, e.span), e.span);
        jump(join, e.span);
        enter(join);
        return res;
      }
      case ExprKind::Otherwise: {
        Reg res = new_reg(t, true);
        BlockId absent = new_block(), join = new_block();
        copy_into(res, widen(optional_value(child(e, 0), absent), t, e.span), e.span);
        jump(join, e.span);
        enter(absent);
        copy_into(res, widen(value(child(e, 1)), t, e.span), e.span);
        jump(join, e.span);
        enter(join);
        return res;
      }
      case ExprKind::Aggregate: {
        int col = aggregate_field(e);
        if (col < 0) return kNoReg;
        const Field& f = m_.events[fn_->event].fields[col];
        return op(f.optional ? Op::LoadChecked : Op::Load, f.type, e.span, kNoReg, kNoReg, col);
      }
      default:
        internal(e.span,
                 fmt::format("cannot lower this expression as a value (kind {})", static_cast<int>(e.kind)));
        return kNoReg;
    }
  }

  // A bool expression best lowered as jumping code, turned into a register.
  Reg materialize(const Expr& e) {
    Reg res = new_reg(Ty::Bool, true);
    BlockId yes = new_block(), no = new_block(), join = new_block();
    cond(e, yes, no);
    enter(yes);
    copy_into(res, konst(Ty::Bool, Scalar{1, 0}, e.span), e.span);
    jump(join, e.span);
    enter(no);
    copy_into(res, konst(Ty::Bool, Scalar{0, 0}, e.span), e.span);
    jump(join, e.span);
    enter(join);
    return res;
  }

  Reg name_value(const Expr& e) {
    int param = param_of(e);
    if (param >= 0) {
      if (!params_ || static_cast<size_t>(param) >= params_->size()) {
        internal(e.span, fmt::format("parameter `{}` outside its def", e.text));
        return kNoReg;
      }
      return widen((*params_)[param], type_of(e), e.span);
    }
    const ast::Decl* d = resolved(e);
    if (d && d->kind == ast::DeclKind::Const) {
      const auto& c = static_cast<const ast::ConstDecl&>(*d);
      if (!c.value || !enter_inline(e.span)) return kNoReg;
      Reg r = widen(value(*c.value), type_of(e), e.span);
      --inline_depth_;
      return r;
    }
    internal(e.span, fmt::format("`{}` is not a value here", e.text));
    return kNoReg;
  }

  bool enter_inline(Span span) {
    if (inline_depth_ + 1 > options_.max_inline_depth) {
      if (!failed_) {
        std::string what = fmt::format("`def`s call each other too deeply to inline (more than {} levels)",
                                       options_.max_inline_depth);
        Diagnostic& d = sink_.error("E0602", span, what);
        d.help = "a `def` that calls a `def` that calls ... is copied into each rule; flatten the chain";
      }
      failed_ = true;
      return false;
    }
    ++inline_depth_;
    return true;
  }

  // The column of `name` in the function's event kind, or -1 when the kind
  // has no such field (on a multi-kind rule: statically absent).
  int event_column(const std::string& name) const { return m_.events[fn_->event].field_index(name); }

  bool is_event_field(const Expr& e) {
    return e.kind == ExprKind::Field && child(e, 0).kind == ExprKind::Event;
  }

  Reg field_value(const Expr& e) {
    Ty t = type_of(e);
    if (is_event_field(e)) {
      int col = event_column(e.text);
      if (col < 0) {
        fault(FaultReason::Absent, e.span);
        return dummy(t, e.span);
      }
      const Field& f = m_.events[fn_->event].fields[col];
      return op(f.optional ? Op::LoadChecked : Op::Load, f.type, e.span, kNoReg, kNoReg, col);
    }
    Reg row = row_of(child(e, 0));
    int64_t table = row < row_table_.size() ? row_table_[row] : -1;
    int col = column_of(table, e);
    if (col < 0) return kNoReg;
    const Column& c = m_.tables[table].columns[col];
    return op(Op::CellLoadChecked, c.type, e.span, row, kNoReg, table, static_cast<uint32_t>(col));
  }

  int column_of(int64_t table, const Expr& field) {
    if (table < 0 || static_cast<size_t>(table) >= m_.tables.size()) {
      if (!failed_) internal(field.span, "field of something that is not a table row");
      return -1;
    }
    const std::vector<Column>& cols = m_.tables[table].columns;
    for (size_t i = 0; i < cols.size(); ++i)
      if (cols[i].name == field.text) return static_cast<int>(i);
    internal(field.span, fmt::format("table `{}` has no column `{}`", m_.tables[table].name, field.text));
    return -1;
  }

  // `table.find`; on a data table also the event's time, so the lookup sees
  // the rows in force then (a kind without a time reads the rows in force
  // now: those not removed).
  Reg find_row(int table, Reg key, Span span) {
    Reg time = kNoReg;
    if (m_.tables[table].external()) {
      const EventSchema& kind = m_.events[fn_->event];
      time = kind.time_field >= 0 ? op(Op::Load, Ty::Time, span, kNoReg, kNoReg, kind.time_field)
                                  : op(Op::Const, Ty::Time, span, kNoReg, kNoReg, INT64_MAX);
    }
    return op(Op::TableFind, Ty::Row, span, key, time, table);
  }

  // The row register of `t[k]` or of a def parameter holding a row.
  Reg row_of(const Expr& e) {
    if (failed_) return kNoReg;
    if (e.kind == ExprKind::Index) {
      const Expr& tab = child(e, 0);
      int table = table_of(tab);
      if (table < 0 || static_cast<size_t>(table) >= m_.tables.size()) {
        internal(e.span, "lookup in something that is not a table");
        return kNoReg;
      }
      Reg key = widen(value(child(e, 1)), m_.tables[table].key, e.span);
      Reg r = find_row(table, key, e.span);
      if (r < row_table_.size()) row_table_[r] = table;
      if (options_.trace) note(e, r);
      return r;
    }
    if (e.kind == ExprKind::Name && param_of(e) >= 0 && params_ &&
        static_cast<size_t>(param_of(e)) < params_->size())
      return (*params_)[param_of(e)];
    internal(e.span, "expected a table row");
    return kNoReg;
  }

  Reg call_value(const Expr& e) {
    int builtin = builtin_of(e);
    if (builtin >= 0 && builtin < kBuiltinCount) {
      auto b = static_cast<Builtin>(builtin);
      const BuiltinInfo& info = builtin_info(b);
      if (e.children.size() != info.arity) {
        internal(e.span, fmt::format("`{}` takes {} arguments", info.name, info.arity));
        return kNoReg;
      }
      Reg a = value(child(e, 0));
      Reg c = info.arity == 2 ? value(child(e, 1)) : kNoReg;
      Reg d = op(Op::Call, info.result, e.span, a, c);
      if (!failed_) fn_->blocks[cur_].insts.back().builtin = b;
      return d;
    }
    const ast::DefDecl* def = def_of(e);
    if (!def) return kNoReg;
    std::vector<Reg> args = bind_args(e, *def);
    if (failed_ || !enter_inline(e.span)) return kNoReg;
    const std::vector<Reg>* saved = params_;
    params_ = &args;
    uint32_t saved_frame = enter_frame(e);
    Reg r = widen(value(*def->body), type_of(e), e.span);
    frame_ = saved_frame;
    params_ = saved;
    --inline_depth_;
    return r;
  }

  const ast::DefDecl* def_of(const Expr& e) {
    const ast::Decl* d = resolved(e);
    if (!d || d->kind != ast::DeclKind::Def || !static_cast<const ast::DefDecl*>(d)->body) {
      internal(e.span, fmt::format("call of `{}`, which is neither a def nor a builtin", e.text));
      return nullptr;
    }
    const auto* def = static_cast<const ast::DefDecl*>(d);
    if (def->params.size() != e.children.size()) {
      internal(e.span, fmt::format("`{}` called with {} arguments", e.text, e.children.size()));
      return nullptr;
    }
    return def;
  }

  // Call by value: arguments left to right, before the body. A merge
  // register is copied so the body sees a register assigned once (which the
  // common-subexpression pass needs to share lookups on it).
  std::vector<Reg> bind_args(const Expr& call, const ast::DefDecl& def) {
    std::vector<Reg> args;
    for (size_t i = 0; i < def.params.size(); ++i) {
      const Expr& arg = child(call, i);
      if (failed_) return args;
      const Type* at = full_type(arg);
      Reg r;
      if (at && at->kind == TypeKind::Record) {
        r = row_of(arg);
      } else {
        r = widen(value(arg), ty_of_written(def.params[i].type), arg.span);
      }
      if (r < merge_reg_.size() && merge_reg_[r]) {
        Reg c = new_reg(reg_ty(r));
        Inst in;
        in.op = Op::Copy;
        in.type = reg_ty(r);
        in.dst = c;
        in.a = r;
        in.span = arg.span;
        emit(in);
        if (r < row_table_.size()) row_table_[c] = row_table_[r];
        r = c;
      }
      args.push_back(r);
    }
    return args;
  }

  Reg binary_value(const Expr& e) {
    using AO = ast::Op;
    if (e.op == AO::And || e.op == AO::Or) return materialize(e);
    Ty t = type_of(e);
    const Expr& l = child(e, 0);
    const Expr& r = child(e, 1);
    if (failed_) return kNoReg;
    Reg a = value(l);
    Reg b = value(r);
    switch (e.op) {
      case AO::Add:
      case AO::Sub:
      case AO::Mul:
      case AO::Div: {
        if (t == Ty::Number || e.op == AO::Div) {
          Op o = e.op == AO::Add   ? Op::FAdd
                 : e.op == AO::Sub ? Op::FSub
                 : e.op == AO::Mul ? Op::FMul
                                   : Op::FDiv;
          return op(o, Ty::Number, e.span, widen(a, Ty::Number, e.span), widen(b, Ty::Number, e.span));
        }
        Op o = e.op == AO::Add ? Op::IAdd : e.op == AO::Sub ? Op::ISub : Op::IMul;
        return op(o, t, e.span, a, b);
      }
      case AO::Eq:
      case AO::Ne:
      case AO::Lt:
      case AO::Le:
      case AO::Gt:
      case AO::Ge: {
        Pred p = e.op == AO::Eq   ? Pred::Eq
                 : e.op == AO::Ne ? Pred::Ne
                 : e.op == AO::Lt ? Pred::Lt
                 : e.op == AO::Le ? Pred::Le
                 : e.op == AO::Gt ? Pred::Gt
                                  : Pred::Ge;
        Ty ta = reg_ty(a), tb = reg_ty(b);
        if (ta == Ty::Number || tb == Ty::Number)
          return cmp(Op::FCmp, p, widen(a, Ty::Number, e.span), widen(b, Ty::Number, e.span), e.span);
        if (ta == Ty::Str) return cmp(Op::SCmp, p, a, b, e.span);
        return cmp(Op::ICmp, p, a, b, e.span);
      }
      default:
        internal(e.span, fmt::format("operator `{}` cannot be lowered here", ast::op_spelling(e.op)));
        return kNoReg;
    }
  }

  // `x in S` (set) or `k in T` (table), not negated.
  Reg membership(const Expr& e) {
    const Expr& x = child(e, 0);
    const Expr& rhs = child(e, 1);
    if (failed_) return kNoReg;
    const Type* rt = full_type(rhs);
    if (rt && rt->kind == TypeKind::Table) {
      int table = table_of(rhs);
      if (table < 0 || static_cast<size_t>(table) >= m_.tables.size()) {
        internal(rhs.span, "`in` a table the checker did not index");
        return kNoReg;
      }
      Reg key = widen(value(x), m_.tables[table].key, x.span);
      Reg row = find_row(table, key, e.span);
      if (row < row_table_.size()) row_table_[row] = table;
      return op(Op::RowHas, Ty::Bool, e.span, row);
    }
    int set = set_of(rhs);
    if (set < 0) {
      internal(rhs.span, "`in` a set the checker did not index");
      return kNoReg;
    }
    Reg v = widen(value(x), m_.sets[set].elem, x.span);
    return op(Op::SetContains, Ty::Bool, e.span, v, kNoReg, set);
  }

  // ---- expressions: conditions (jumping code) ----------------------------------

  void cond(const Expr& e, BlockId yes, BlockId no) {
    if (failed_) return;
    if (options_.trace && traced_cond_ != &e) {  // the condition's value in a register
      const Expr* saved = traced_cond_;
      traced_cond_ = &e;
      Reg r = materialize(e);
      traced_cond_ = saved;
      note(e, r);
      return branch(r, yes, no, e.span);
    }
    Nest nest(*this, e.span);
    if (!nest.ok) return;
    if (const Value* v = folded(e); v && v->kind == TypeKind::Bool) return jump(v->i ? yes : no, e.span);
    using AO = ast::Op;
    switch (e.kind) {
      case ExprKind::Binary:
        if (e.op == AO::And || e.op == AO::Or) {
          BlockId mid = new_block();
          if (e.op == AO::And)
            cond(child(e, 0), mid, no);
          else
            cond(child(e, 0), yes, mid);
          enter(mid);
          cond(child(e, 1), yes, no);
          return;
        }
        break;
      case ExprKind::Unary:
        if (e.op == AO::Not) return cond(child(e, 0), no, yes);
        break;
      case ExprKind::If: {
        BlockId a = new_block(), b = new_block();
        cond(child(e, 0), a, b);
        enter(a);
        cond(child(e, 1), yes, no);
        enter(b);
        cond(child(e, 2), yes, no);
        return;
      }
      case ExprKind::Is:
        if (e.present) return presence(child(e, 0), yes, no);
        return presence(child(e, 0), no, yes);
      case ExprKind::In: {
        Reg r = membership(e);
        if (e.negated) return branch(r, no, yes, e.span);
        return branch(r, yes, no, e.span);
      }
      case ExprKind::Otherwise: {
        BlockId absent = new_block();
        Reg v = optional_value(child(e, 0), absent);
        branch(v, yes, no, e.span);
        enter(absent);
        cond(child(e, 1), yes, no);
        return;
      }
      case ExprKind::Call: {
        if (builtin_of(e) >= 0) break;
        const ast::DefDecl* def = def_of(e);
        if (!def) return;
        std::vector<Reg> args = bind_args(e, *def);
        if (failed_ || !enter_inline(e.span)) return;
        const std::vector<Reg>* saved = params_;
        params_ = &args;
        uint32_t saved_frame = enter_frame(e);
        cond(*def->body, yes, no);
        frame_ = saved_frame;
        params_ = saved;
        --inline_depth_;
        return;
      }
      case ExprKind::Name:
        if (param_of(e) < 0) {
          const ast::Decl* d = resolved(e);
          if (d && d->kind == ast::DeclKind::Const && static_cast<const ast::ConstDecl*>(d)->value) {
            if (!enter_inline(e.span)) return;
            cond(*static_cast<const ast::ConstDecl*>(d)->value, yes, no);
            --inline_depth_;
            return;
          }
        }
        break;
      default: break;
    }
    Reg r = value(e);
    branch(r, yes, no, e.span);
  }

  // `e is present`: branches to `yes` when e has a value.
  void presence(const Expr& e, BlockId yes, BlockId no) {
    if (failed_) return;
    Nest nest(*this, e.span);
    if (!nest.ok) return;
    if (is_event_field(e)) {
      int col = event_column(e.text);
      if (col < 0) return jump(no, e.span);
      if (!m_.events[fn_->event].fields[col].optional) return jump(yes, e.span);
      Reg p = op(Op::Has, Ty::Bool, e.span, kNoReg, kNoReg, col);
      return branch(p, yes, no, e.span);
    }
    if (e.kind == ExprKind::Aggregate) {
      int col = aggregate_field(e);
      if (col < 0) return;
      if (!m_.events[fn_->event].fields[col].optional) return jump(yes, e.span);
      return branch(op(Op::Has, Ty::Bool, e.span, kNoReg, kNoReg, col), yes, no, e.span);
    }
    if (e.kind == ExprKind::Field) {  // t[k].f
      Reg row = row_of(child(e, 0));
      int64_t table = row < row_table_.size() ? row_table_[row] : -1;
      int col = column_of(table, e);
      if (col < 0) return;
      Reg p = m_.tables[table].columns[col].optional
                  ? op(Op::CellHas, Ty::Bool, e.span, row, kNoReg, table, static_cast<uint32_t>(col))
                  : op(Op::RowHas, Ty::Bool, e.span, row);
      return branch(p, yes, no, e.span);
    }
    if (e.kind == ExprKind::Index) {
      Reg row = row_of(e);
      return branch(op(Op::RowHas, Ty::Bool, e.span, row), yes, no, e.span);
    }
    const Type* t = full_type(e);
    if (t && !t->optional) return jump(yes, e.span);
    BlockId absent = new_block();
    optional_value(e, absent);
    jump(yes, e.span);
    enter(absent);
    jump(no, e.span);
  }

  // Event field `col` of the current kind (a computed aggregate field too):
  // when optional, jumps to `absent` unless present; then loads it.
  Reg load_present(int col, BlockId absent, Span span) {
    const Field& f = m_.events[fn_->event].fields[col];
    if (f.optional) {
      BlockId ok = new_block();
      branch(op(Op::Has, Ty::Bool, span, kNoReg, kNoReg, col), ok, absent, span);
      enter(ok);
    }
    return op(Op::Load, f.type, span, kNoReg, kNoReg, col);
  }

  // The value of a possibly absent expression; jumps to `absent` instead
  // when it has none, so everything after reads it unchecked.
  Reg optional_value(const Expr& e, BlockId absent) {
    if (failed_) return kNoReg;
    if (options_.trace && traced_value_ != &e) {
      const Expr* saved = traced_value_;
      traced_value_ = &e;
      Reg r = optional_value(e, absent);
      traced_value_ = saved;
      note(e, r);
      return r;
    }
    Nest nest(*this, e.span);
    if (!nest.ok) return kNoReg;
    Ty t = type_of(e);
    if (folded(e)) return value(e);
    if (is_event_field(e)) {
      int col = event_column(e.text);
      if (col < 0) {
        jump(absent, e.span);
        return dummy(t, e.span);
      }
      return load_present(col, absent, e.span);
    }
    if (e.kind == ExprKind::Aggregate) {
      int col = aggregate_field(e);
      if (col < 0) return kNoReg;
      return load_present(col, absent, e.span);
    }
    if (e.kind == ExprKind::Field) {
      Reg row = row_of(child(e, 0));
      int64_t table = row < row_table_.size() ? row_table_[row] : -1;
      int col = column_of(table, e);
      if (col < 0) return kNoReg;
      const Column& c = m_.tables[table].columns[col];
      BlockId ok = new_block();
      Reg p = c.optional ? op(Op::CellHas, Ty::Bool, e.span, row, kNoReg, table, static_cast<uint32_t>(col))
                         : op(Op::RowHas, Ty::Bool, e.span, row);
      branch(p, ok, absent, e.span);
      enter(ok);
      return op(Op::CellLoad, c.type, e.span, row, kNoReg, table, static_cast<uint32_t>(col));
    }
    if (e.kind == ExprKind::Otherwise) {
      Reg res = new_reg(t, true);
      BlockId inner = new_block(), join = new_block();
      copy_into(res, widen(optional_value(child(e, 0), inner), t, e.span), e.span);
      jump(join, e.span);
      enter(inner);
      copy_into(res, widen(optional_value(child(e, 1), absent), t, e.span), e.span);
      jump(join, e.span);
      enter(join);
      return res;
    }
    if (e.kind == ExprKind::If) {
      Reg res = new_reg(t, true);
      BlockId a = new_block(), b = new_block(), join = new_block();
      cond(child(e, 0), a, b);
      enter(a);
      copy_into(res, widen(optional_value(child(e, 1), absent), t, e.span), e.span);
      jump(join, e.span);
      enter(b);
      copy_into(res, widen(optional_value(child(e, 2), absent), t, e.span), e.span);
      jump(join, e.span);
      enter(join);
      return res;
    }
    return value(e);
  }
};

}  // namespace

Module lower(const check::CheckedProgram& program, DiagnosticSink& sink, const LowerOptions& options) {
  Module m;
  if (!program.program || !program.sources) {
    m.errors.push_back("lowering needs a checked program with its AST and sources");
    return m;
  }
  Lowerer lowerer(program, sink, options, m);
  lowerer.run();
  return m;
}

Module lower(const check::CheckedProgram& program) {
  DiagnosticSink sink;
  Module m = lower(program, sink);
  for (const Diagnostic& d : sink.all()) m.errors.push_back(d.code + ": " + d.message);
  return m;
}

}  // namespace edict::ir
