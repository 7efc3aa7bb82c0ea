// A lowered Module as bytes and back, for the front-end cache (a second run
// of the same policy skips parse, check and lower). The reader trusts
// nothing: every count is bounded by the bytes left, every enum by its
// range, every index by what it indexes, every span by its file; anything
// else is a refusal, never a crash. Numbers little-endian.
#include <bit>
#include <cstring>

#include "compiler/ir/ir.h"

namespace edict::ir {
namespace {

// Bumped whenever the layout below changes.
constexpr uint32_t kSerialFormat = 1;

class Out {
 public:
  std::string bytes;
  void u8(uint8_t v) { bytes.push_back(static_cast<char>(v)); }
  void u32(uint32_t v) {
    for (int i = 0; i < 4; ++i) u8(static_cast<uint8_t>(v >> (8 * i)));
  }
  void u64(uint64_t v) {
    for (int i = 0; i < 8; ++i) u8(static_cast<uint8_t>(v >> (8 * i)));
  }
  void i64(int64_t v) { u64(static_cast<uint64_t>(v)); }
  void i32(int32_t v) { u32(static_cast<uint32_t>(v)); }
  void f64(double v) { u64(std::bit_cast<uint64_t>(v)); }
  void str(std::string_view s) {
    u64(s.size());
    bytes.append(s);
  }
  void span(const Span& s) {
    u32(s.file);
    u32(s.begin);
    u32(s.end);
  }
  void opt(const std::optional<int64_t>& v) {
    u8(v.has_value());
    if (v) i64(*v);
  }
};

class In {
 public:
  In(std::string_view bytes, const SourceManager& sources) : rest_(bytes), sources_(sources) {}
  bool ok = true;

  bool fail() { return ok = false; }
  uint8_t u8() {
    if (rest_.empty()) return fail(), 0;
    uint8_t v = static_cast<uint8_t>(rest_[0]);
    rest_.remove_prefix(1);
    return v;
  }
  uint32_t u32() {
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= uint32_t{u8()} << (8 * i);
    return v;
  }
  uint64_t u64() {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v |= uint64_t{u8()} << (8 * i);
    return v;
  }
  int64_t i64() { return static_cast<int64_t>(u64()); }
  int32_t i32() { return static_cast<int32_t>(u32()); }
  double f64() { return std::bit_cast<double>(u64()); }
  bool flag() {
    uint8_t v = u8();
    if (v > 1) fail();
    return v == 1;
  }
  std::string str() {
    uint64_t n = u64();
    if (!ok || n > rest_.size()) return fail(), std::string();
    std::string s(rest_.substr(0, n));
    rest_.remove_prefix(n);
    return s;
  }
  // A count of items each at least `min_bytes` long: never more than fit.
  size_t count(size_t min_bytes) {
    uint64_t n = u64();
    if (!ok || n > rest_.size() / std::max<size_t>(min_bytes, 1)) return fail(), 0;
    return static_cast<size_t>(n);
  }
  template <class E>
  E enumerated(E last) {
    uint8_t v = u8();
    if (v > static_cast<uint8_t>(last)) fail();
    return ok ? static_cast<E>(v) : E{};
  }
  Span span() {
    Span s{u32(), u32(), u32()};
    if (!ok) return {};
    if (s.file == kNoFile) return s;
    if (s.file >= sources_.size() || s.begin > s.end || s.end > sources_.file(s.file).text.size()) fail();
    return s;
  }
  std::optional<int64_t> opt() {
    if (!flag()) return std::nullopt;
    return i64();
  }
  // An index into something of `size` elements, or -1 when `none_ok`.
  int index(size_t size, bool none_ok) {
    int32_t v = i32();
    if (v == -1 && none_ok) return v;
    if (v < 0 || static_cast<size_t>(v) >= size) fail();
    return v;
  }
  bool done() const { return ok && rest_.empty(); }

 private:
  std::string_view rest_;
  const SourceManager& sources_;
};

void put_scalars(Out& o, const std::vector<Scalar>& v) {
  o.u64(v.size());
  for (const Scalar& s : v) {
    o.i64(s.i);
    o.f64(s.f);
  }
}
std::vector<Scalar> get_scalars(In& in) {
  std::vector<Scalar> v(in.count(16));
  for (Scalar& s : v) {
    s.i = in.i64();
    s.f = in.f64();
  }
  return v;
}

void put_data_schema(Out& o, const abi::DataSchema& s) {
  o.str(s.name);
  o.str(s.default_file);
  o.str(s.key_header);
  o.u8(static_cast<uint8_t>(s.key));
  o.u64(s.columns.size());
  for (const abi::DataColumn& c : s.columns) {
    o.str(c.name);
    o.str(c.header);
    o.u8(static_cast<uint8_t>(c.type));
    o.u8(c.optional);
  }
  o.i32(s.in_force_from);
  o.i32(s.in_force_until);
  o.u64(s.screen_columns.size());
  for (int c : s.screen_columns) o.i32(c);
  o.f64(s.screen_threshold);
  o.u64(s.legal_forms.size());
  for (const std::string& f : s.legal_forms) o.str(f);
  o.i32(s.score_column);
}
abi::DataSchema get_data_schema(In& in) {
  abi::DataSchema s;
  s.name = in.str();
  s.default_file = in.str();
  s.key_header = in.str();
  s.key = in.enumerated(abi::CellType::StrList);
  s.columns.resize(in.count(18));
  for (abi::DataColumn& c : s.columns) {
    c.name = in.str();
    c.header = in.str();
    c.type = in.enumerated(abi::CellType::StrList);
    c.optional = in.flag();
  }
  s.in_force_from = in.index(s.columns.size(), true);
  s.in_force_until = in.index(s.columns.size(), true);
  s.screen_columns.resize(in.count(4));
  for (int& c : s.screen_columns) c = in.index(s.columns.size(), false);
  s.screen_threshold = in.f64();
  s.legal_forms.resize(in.count(8));
  for (std::string& f : s.legal_forms) f = in.str();
  s.score_column = in.i32();
  if (s.score_column < -1 || s.score_column > static_cast<int>(s.columns.size())) in.fail();
  return s;
}

void put_inst(Out& o, const Inst& x) {
  o.u8(static_cast<uint8_t>(x.op));
  o.u8(static_cast<uint8_t>(x.type));
  o.u8(static_cast<uint8_t>(x.pred));
  o.u8(static_cast<uint8_t>(x.builtin));
  o.u8(static_cast<uint8_t>(x.reason));
  o.u32(x.dst);
  o.u32(x.a);
  o.u32(x.b);
  o.i64(x.imm);
  o.f64(x.fimm);
  o.u32(x.aux);
  o.u32(x.target[0]);
  o.u32(x.target[1]);
  o.u32(x.site);
  o.span(x.span);
}
constexpr size_t kInstBytes = 5 + 12 + 16 + 16 + 4 + 12;
Inst get_inst(In& in) {
  Inst x;
  x.op = in.enumerated(Op::Fault);
  x.type = in.enumerated(Ty::Row);
  x.pred = in.enumerated(Pred::Ge);
  x.builtin = in.enumerated(Builtin::Len);
  x.reason = in.enumerated(FaultReason::Absent);
  x.dst = in.u32();
  x.a = in.u32();
  x.b = in.u32();
  x.imm = in.i64();
  x.fimm = in.f64();
  x.aux = in.u32();
  x.target[0] = in.u32();
  x.target[1] = in.u32();
  x.site = in.u32();
  x.span = in.span();
  return x;
}

void put_function(Out& o, const Function& f) {
  o.str(f.name);
  o.u8(static_cast<uint8_t>(f.kind));
  o.i32(f.rule);
  o.i32(f.event);
  o.span(f.span);
  o.u64(f.regs.size());
  for (Ty t : f.regs) o.u8(static_cast<uint8_t>(t));
  o.u64(f.blocks.size());
  for (const Block& b : f.blocks) {
    o.u64(b.insts.size());
    for (const Inst& x : b.insts) put_inst(o, x);
  }
  o.u64(f.trace.size());
  for (const TracePoint& t : f.trace) {
    o.u32(t.expr);
    o.u32(t.reg);
    o.u32(t.frame);
  }
  o.u64(f.frames.size());
  for (const InlineFrame& fr : f.frames) {
    o.u32(fr.call);
    o.u32(fr.parent);
  }
}
// Indices into the module's other tables are checked after everything is
// read (rules and events come first, functions may name both); register and
// block indices are the verifier's to check.
Function get_function(In& in) {
  Function f;
  f.name = in.str();
  f.kind = in.enumerated(FunctionKind::Value);
  f.rule = in.i32();
  f.event = in.i32();
  f.span = in.span();
  f.regs.resize(in.count(1));
  for (Ty& t : f.regs) t = in.enumerated(Ty::Row);
  f.blocks.resize(in.count(8));
  for (Block& b : f.blocks) {
    b.insts.resize(in.count(kInstBytes));
    for (Inst& x : b.insts) x = get_inst(in);
  }
  f.trace.resize(in.count(12));
  for (TracePoint& t : f.trace) t = TracePoint{in.u32(), in.u32(), in.u32()};
  f.frames.resize(in.count(8));
  for (InlineFrame& fr : f.frames) fr = InlineFrame{in.u32(), in.u32()};
  return f;
}

void put_header(Out& o, const Module& m) {
  o.u64(m.policies.size());
  for (const Policy& p : m.policies)
    for (const std::string* s : {&p.title, &p.version, &p.source, &p.status}) o.str(*s);
  o.u64(m.outcomes.size());
  for (const std::string& s : m.outcomes) o.str(s);
  o.i32(m.default_outcome);
  o.u64(m.events.size());
  for (const EventSchema& e : m.events) {
    o.str(e.name);
    o.u64(e.fields.size());
    for (const Field& f : e.fields) {
      o.str(f.name);
      o.u8(static_cast<uint8_t>(f.type));
      o.u8(f.optional);
      o.i32(f.aggregate);
    }
    o.i32(e.time_field);
    o.span(e.span);
  }
  o.u64(m.strings.size());
  for (const std::string& s : m.strings) o.str(s);
}
void get_header(In& in, Module& m) {
  m.policies.resize(in.count(32));
  for (Policy& p : m.policies)
    for (std::string* s : {&p.title, &p.version, &p.source, &p.status}) *s = in.str();
  m.outcomes.resize(in.count(8));
  for (std::string& s : m.outcomes) s = in.str();
  m.default_outcome = in.index(m.outcomes.size(), false);
  m.events.resize(in.count(32));
  for (EventSchema& e : m.events) {
    e.name = in.str();
    e.fields.resize(in.count(14));
    for (Field& f : e.fields) {
      f.name = in.str();
      f.type = in.enumerated(Ty::Row);
      f.optional = in.flag();
      f.aggregate = in.i32();
    }
    e.time_field = in.index(e.fields.size(), true);
    e.span = in.span();
  }
  m.strings.resize(in.count(8));
  for (std::string& s : m.strings) s = in.str();
}

void put_constants(Out& o, const Module& m) {
  o.u64(m.sets.size());
  for (const Set& s : m.sets) {
    o.str(s.name);
    o.u8(static_cast<uint8_t>(s.elem));
    put_scalars(o, s.members);
    o.span(s.span);
  }
  o.u64(m.tables.size());
  for (const Table& t : m.tables) {
    o.str(t.name);
    o.u8(static_cast<uint8_t>(t.key));
    put_scalars(o, t.keys);
    o.u64(t.columns.size());
    for (const Column& c : t.columns) {
      o.str(c.name);
      o.u8(static_cast<uint8_t>(c.type));
      o.u8(c.optional);
      put_scalars(o, c.cells);
      o.str(std::string_view(reinterpret_cast<const char*>(c.present.data()), c.present.size()));
    }
    o.span(t.span);
    o.u8(t.external());
    if (t.external()) put_data_schema(o, t.data->schema());
  }
}
void get_constants(In& in, Module& m) {
  m.sets.resize(in.count(29));
  for (Set& s : m.sets) {
    s.name = in.str();
    s.elem = in.enumerated(Ty::Row);
    s.members = get_scalars(in);
    s.span = in.span();
  }
  m.tables.resize(in.count(42));
  for (Table& t : m.tables) {
    t.name = in.str();
    t.key = in.enumerated(Ty::Row);
    t.keys = get_scalars(in);
    t.columns.resize(in.count(26));
    for (Column& c : t.columns) {
      c.name = in.str();
      c.type = in.enumerated(Ty::Row);
      c.optional = in.flag();
      c.cells = get_scalars(in);
      const std::string present = in.str();
      c.present.assign(present.begin(), present.end());
      if (c.cells.size() != t.keys.size() || c.present.size() != t.keys.size()) in.fail();
    }
    t.span = in.span();
    if (in.flag()) t.data = std::make_shared<abi::DataSlot>(get_data_schema(in));
  }
}

void put_rules(Out& o, const Module& m) {
  o.u64(m.rules.size());
  for (const Rule& r : m.rules) {
    o.str(r.name);
    o.span(r.span);
    o.u64(r.bodies.size());
    for (const RuleBody& b : r.bodies) {
      o.i32(b.event);
      o.i32(b.fires);
      o.i32(b.message);
    }
    o.opt(r.effective_from);
    o.opt(r.effective_until);
    o.i32(r.effect);
    o.str(r.cite);
    o.i32(r.policy);
  }
  o.u64(m.functions.size());
  for (const Function& f : m.functions) put_function(o, f);
  o.u64(m.fault_sites.size());
  for (const FaultSite& s : m.fault_sites) {
    o.i32(s.function);
    o.span(s.span);
  }
  o.u64(m.aggregates.size());
  for (const Aggregate& a : m.aggregates) {
    o.str(a.name);
    o.str(a.text);
    o.u8(static_cast<uint8_t>(a.fn));
    o.u8(static_cast<uint8_t>(a.operand));
    o.u8(static_cast<uint8_t>(a.key));
    o.u8(static_cast<uint8_t>(a.result));
    o.u8(a.optional);
    o.i64(a.window);
    o.u8(a.calendar_year);
    o.span(a.span);
    o.u64(a.inputs.size());
    for (const AggregateInput& x : a.inputs)
      for (int32_t v : {x.event, x.field, x.filter, x.key, x.operand}) o.i32(v);
  }
}
void get_rules(In& in, Module& m) {
  m.rules.resize(in.count(40));
  for (Rule& r : m.rules) {
    r.name = in.str();
    r.span = in.span();
    r.bodies.resize(in.count(12));
    for (RuleBody& b : r.bodies) {
      b.event = in.index(m.events.size(), false);
      b.fires = in.i32();
      b.message = in.i32();
    }
    r.effective_from = in.opt();
    r.effective_until = in.opt();
    r.effect = in.index(m.outcomes.size(), false);
    r.cite = in.str();
    r.policy = in.index(m.policies.size(), true);
  }
  m.functions.resize(in.count(40));
  for (Function& f : m.functions) f = get_function(in);
  m.fault_sites.resize(in.count(16));
  for (FaultSite& s : m.fault_sites) {
    s.function = in.index(m.functions.size(), true);
    s.span = in.span();
  }
  m.aggregates.resize(in.count(50));
  for (Aggregate& a : m.aggregates) {
    a.name = in.str();
    a.text = in.str();
    a.fn = in.enumerated(AggFn::Avg);
    a.operand = in.enumerated(Ty::Row);
    a.key = in.enumerated(Ty::Row);
    a.result = in.enumerated(Ty::Row);
    a.optional = in.flag();
    a.window = in.i64();
    a.calendar_year = in.flag();
    a.span = in.span();
    a.inputs.resize(in.count(20));
    for (AggregateInput& x : a.inputs) {
      x.event = in.index(m.events.size(), false);
      x.field = in.i32();
      x.filter = in.index(m.functions.size(), true);
      x.key = in.index(m.functions.size(), true);
      x.operand = in.index(m.functions.size(), true);
      if (in.ok && (x.field < 0 || static_cast<size_t>(x.field) >= m.events[x.event].fields.size()))
        in.fail();
    }
  }
}

// The cross references the verifier takes for granted: functions' rules and
// events, rule bodies' functions, fields' aggregates.
bool references_hold(const Module& m) {
  const auto in_range = [](int64_t v, size_t size, bool none_ok) {
    return (none_ok && v == -1) || (v >= 0 && static_cast<size_t>(v) < size);
  };
  for (const Function& f : m.functions)
    if (!in_range(f.rule, m.rules.size(), true) || !in_range(f.event, m.events.size(), true)) return false;
  for (const Rule& r : m.rules)
    for (const RuleBody& b : r.bodies)
      if (!in_range(b.fires, m.functions.size(), false) || !in_range(b.message, m.functions.size(), true))
        return false;
  for (const EventSchema& e : m.events)
    for (const Field& f : e.fields)
      if (!in_range(f.aggregate, m.aggregates.size(), true)) return false;
  return true;
}

}  // namespace

std::string serialize(const Module& m) {
  Out o;
  o.u32(kSerialFormat);
  put_header(o, m);
  put_constants(o, m);
  put_rules(o, m);
  return std::move(o.bytes);
}

std::optional<Module> deserialize(std::string_view bytes, const SourceManager& sources, std::string* why) {
  In in(bytes, sources);
  Module m;
  m.sources = &sources;
  if (in.u32() != kSerialFormat) {
    *why = "another format";
    return std::nullopt;
  }
  get_header(in, m);
  if (in.ok) get_constants(in, m);
  if (in.ok) get_rules(in, m);
  if (!in.done()) {
    *why = "truncated or malformed";
    return std::nullopt;
  }
  if (!references_hold(m)) {
    *why = "an index out of range";
    return std::nullopt;
  }
  if (std::vector<std::string> problems = verify(m); !problems.empty()) {
    *why = "ill-formed IR: " + problems.front();
    return std::nullopt;
  }
  return m;
}

}  // namespace edict::ir
