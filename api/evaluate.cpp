// Events, evaluators and decisions of the public API. Decisions follow the
// record writer of `edict eval` (engine/output.cpp) rule for rule:
// decode errors, rule faults, messages of fired rules and message faults.
#include <simdjson.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <new>
#include <optional>

#include "api/impl.h"
#include "engine/output.h"
#include "engine/stream.h"
#include "support/countries.h"
#include "support/time_util.h"

namespace edict {

using detail::Access;
using detail::EventImpl;
using detail::PolicyImpl;

namespace detail {

// A typed event is line 1 of its own input, as one JSON event is.
Row::Row(const PolicyImpl& policy) : batch(policy.engine->schema(), policy.engine->symbols(), 1) {
  batch.begin_row(1);
  columns = engine::Policy::columns_of(batch, data, present);
}

EventImpl::EventImpl(std::shared_ptr<const PolicyImpl> p, int k)
    : policy(std::move(p)), kind(k), row(*policy), required(&policy->required[static_cast<size_t>(k)]) {
  row.batch.set_kind(0, static_cast<uint8_t>(k));
  field_count = policy->engine->schema().kinds[static_cast<size_t>(k)].fields.size();
  record.assign(EDICT_RECORD_BYTES(field_count) / 8, 0);
  decide_record = policy->engine->record_function(k);
  policy_ptr = policy.get();
  strings = row.columns.strings;
  kind_name = policy->kinds[static_cast<size_t>(k)];
  quiet_code = policy->quiet_outcome;
  if (quiet_code >= 0) quiet_name = policy->outcomes[static_cast<size_t>(quiet_code)];
  set.assign(required->size(), 0);
  missing = required_count();
}

void EventImpl::clear() {
  row.batch.clear();
  row.batch.begin_row(1);
  row.batch.set_kind(0, static_cast<uint8_t>(kind));
  std::fill(set.begin(), set.end(), 0);
  std::fill(record.begin(), record.end(), 0);
  missing = required_count();
  id.clear();
  arena_bytes = 0;
}

uint32_t EventImpl::intern(std::string_view text) {
  const uint32_t symbol = row.batch.intern(text);
  if (symbol >= row.batch.symbols().size()) arena_bytes += text.size();  // not a policy constant
  return symbol;
}

void EventImpl::rebuild_arena() {
  abi::Batch& batch = row.batch;
  const abi::KindSpec& spec = policy->engine->schema().kinds[static_cast<size_t>(kind)];
  struct Kept {
    int field;
    abi::Column* column;
    uint8_t present;
    bool string;
    std::string text;
  };
  std::vector<Kept> kept;
  for (size_t f = 0; f < spec.fields.size(); ++f) {
    const abi::FieldSpec& field = spec.fields[f];
    if (field.computed) continue;
    abi::Column& col = batch.column(static_cast<size_t>(field.column));
    Kept k{static_cast<int>(f), &col, col.present.empty() ? uint8_t{1} : col.present[0], false, {}};
    if (field.type == abi::ColumnType::String && field.read && (set[f / 64] >> (f % 64) & 1)) {
      k.string = true;
      k.text = batch.string(col.data<uint32_t>()[0]);
    }
    kept.push_back(std::move(k));
  }
  batch.clear();
  batch.begin_row(1);  // resets every presence flag: restored below
  batch.set_kind(0, static_cast<uint8_t>(kind));
  arena_bytes = 0;
  for (Kept& k : kept) {
    if (!k.column->present.empty()) k.column->present[0] = k.present;
    if (k.string) {
      const uint32_t symbol = intern(k.text);
      k.column->data<uint32_t>()[0] = symbol;
      record_value(k.field, symbol);
    }
  }
}

}  // namespace detail

namespace {

Code code_of(abi::ErrorReason reason) {
  using R = abi::ErrorReason;
  switch (reason) {
    case R::InvalidUtf8: return Code::InvalidUtf8;
    case R::BlankLine:
    case R::LineTooLong:
    case R::InvalidJson:
    case R::NotObject:
    case R::DuplicateKey: return Code::InvalidJson;
    case R::MissingKind:
    case R::UnknownKind: return Code::WrongKind;
    default: return Code::InvalidEvent;
  }
}

void set_error(Decision& out, Code code, std::string_view reason, std::string message) {
  out.status.code = code;
  out.status.message = std::move(message);
  out.outcome = "error";
  out.outcome_index = -1;
  out.error_reason = reason;
  out.fault_rule = {};
}

// Status, outcome and error fields of a decided event (rules set apart).
inline void set_decided(const PolicyImpl& p, uint8_t decision, Decision& out) {
  out.status.code = Code::Ok;
  if (!out.status.message.empty()) out.status.message.clear();
  out.outcome = p.outcomes[decision];
  out.outcome_index = decision;
  out.error_reason = {};
  out.fault_rule = {};
}

// The decision when no rule fired or faulted on `row`, as on most events:
// a few stores, no lookups. False (nothing written) otherwise.
inline bool decide_quiet(const PolicyImpl& p, uint32_t row, const engine::Results& results, Decision& out) {
  const uint8_t decision = results.decision[row];
  if (decision == EDICT_DECISION_ERROR) return false;
  if (decision != p.quiet_outcome) {
    const uint64_t* words = &results.fired[size_t{row} * results.fired_words];
    for (uint32_t w = 0; w < results.fired_words; ++w)
      if (words[w] != 0) return false;
  }
  if (!out.rules.empty()) out.rules.clear();
  set_decided(p, decision, out);
  return true;
}

// The decision for `row` of an evaluated batch (kind and id already set),
// from the decision finisher, with each fired rule's message written straight
// into the Decision. `finished` is the evaluator's scratch. Allocates nothing
// in the steady state unless a fired rule has a message.
void decide_loud(const PolicyImpl& p, const EdictColumns& columns, uint32_t row,
                 const engine::Results& results, engine::FinishedDecision& finished, Decision& out) {
  size_t used = 0;
  p.finisher->finish_into(columns, results, row, finished, [&](size_t i, uint32_t r) -> std::string& {
    if (i == out.rules.size()) out.rules.emplace_back();
    used = i + 1;
    FiredRule& fr = out.rules[i];
    const detail::RuleNames& names = p.rules[r];
    fr.name = names.name;
    fr.effect = names.effect;
    fr.cite = names.cite;
    fr.policy = names.policy;
    return fr.message;  // its buffer serves the next event too
  });
  if (used != out.rules.size()) out.rules.resize(used);
  if (!finished.faulted) [[likely]] {
    set_decided(p, finished.outcome, out);
    return;
  }
  set_error(out, Code::RuleFault, ir::fault_reason_name(finished.fault_reason),
            engine::fault_message(p.engine->module(), finished.fault_rule, finished.fault_site,
                                  finished.fault_reason));
  out.fault_rule = p.rules[finished.fault_rule].name;
}

// Decides a decoded or failed row of `batch`.
void decide_row(const PolicyImpl& p, const abi::Batch& batch, const EdictColumns& columns, uint32_t row,
                engine::FinishedDecision& finished, const engine::Results& results, Decision& out) {
  out.id.assign(batch.id(row));
  if (batch.kind(row) == abi::kErrorRow) {
    const abi::RowError* e = batch.error_of(row);
    out.kind = {};
    out.rules.clear();
    set_error(out, e ? code_of(e->reason) : Code::InvalidJson,
              e ? abi::error_reason_name(e->reason) : "invalid_json", e ? e->message : "invalid input");
    return;
  }
  out.kind = p.kinds[batch.kind(row)];
  if (!decide_quiet(p, row, results, out)) decide_loud(p, columns, row, results, finished, out);
}

// ---- explanations ----

ExplainedExpr to_public(const engine::TraceNode& n) {
  ExplainedExpr e;
  e.expr = n.source;
  e.line = n.line;
  e.note = n.note;
  e.state = static_cast<ExplainedExpr::State>(n.state);
  if (n.state == engine::TraceNode::State::Value) {
    e.value = n.text;
    e.json = n.json;
  }
  e.children.reserve(n.children.size());
  for (const engine::TraceNode& c : n.children) e.children.push_back(to_public(c));
  return e;
}

static_assert(static_cast<int>(ExplainedExpr::State::Present) ==
              static_cast<int>(engine::TraceNode::State::Present));
static_assert(static_cast<int>(RuleStatus::Error) == static_cast<int>(engine::RuleTrace::Status::Error));

// Explains `out` (already decided) for row `row` of `batch`: traced when the
// row was evaluated into `results`, else (not decoded, a field missing)
// only the decision and why it is `error`.
Status explain(const PolicyImpl& p, const abi::Batch& batch, const engine::Results& results, uint32_t row,
               bool evaluated, Explain mode, Decision& out) {
  out.explanation.clear();
  out.explanation_json.clear();
  std::string error;
  const engine::Tracer* tracer = p.tracer(&error);
  if (!tracer) return {Code::Internal, error};
  engine::EventExplanation e;
  if (evaluated) {
    e = engine::explain_row(*tracer, batch, results, row);
  } else {
    e.line = batch.line(row);
    e.decision = "error";
    e.error_reason = out.error_reason;
    e.error = out.status.message;
  }
  if (batch.kind(row) != abi::kErrorRow) {
    // Decoded (not a line `edict explain` could not read): typed events keep
    // their id outside the batch, and a missing field is found only here.
    e.id = out.id;
    e.kind = out.kind;
  }
  if (mode == Explain::Fired)
    std::erase_if(e.rules, [](const engine::RuleTrace& t) {
      return t.status != engine::RuleTrace::Status::Fired && t.status != engine::RuleTrace::Status::Error;
    });
  engine::append_explanation_json(out.explanation_json, *tracer, e);
  out.explanation.reserve(e.rules.size());
  for (const engine::RuleTrace& t : e.rules) {
    RuleExplanation& r = out.explanation.emplace_back();
    const detail::RuleNames& names = p.rules[static_cast<size_t>(t.rule)];
    r.rule = static_cast<size_t>(t.rule);
    r.name = names.name;
    r.effect = names.effect;
    r.cite = names.cite;
    r.status = static_cast<RuleStatus>(t.status);
    r.message = t.message;
    r.error = t.error;
    if (t.when) r.when = to_public(*t.when);
    if (t.unless) r.unless = to_public(*t.unless);
  }
  return {};
}

// Drops the explanation a reused Decision may still hold.
inline void forget_explanation(Decision& out) {
  if (!out.explanation_json.empty()) [[unlikely]] {
    out.explanation.clear();
    out.explanation_json.clear();
  }
}

template <typename F>
Status guarded(F&& f) {
  try {
    return f();
  } catch (const std::bad_alloc&) {
    return {Code::OutOfMemory, "out of memory"};
  } catch (const std::exception& e) {
    return {Code::Internal, std::string("internal error: ") + e.what()};
  }
}

}  // namespace

// ---- Event -----------------------------------------------------------------

Event::Event() = default;
Event::~Event() = default;
Event::Event(Event&&) noexcept = default;
Event& Event::operator=(Event&&) noexcept = default;

Status Event::create(const Policy& policy, std::string_view kind, Event& out) {
  return guarded([&]() -> Status {
    const auto& impl = Access::impl(policy);
    if (!impl) return {Code::InvalidArgument, "the policy is empty"};
    int k = impl->engine->schema().kind_index(kind);
    if (k < 0) return {Code::WrongKind, "the policy declares no event kind `" + std::string(kind) + "`"};
    Access::set(out, std::make_unique<EventImpl>(impl, k));
    return {};
  });
}

void Event::clear() {
  if (impl_) impl_->clear();
}

namespace {

// Past this many bytes of strings set since, an Event rebuilds its string
// arena from its current values.
constexpr size_t kArenaLimit = 64 * 1024;

// Checks a field handle against the event; on success *spec is its schema.
Status check_field(const EventImpl* e, const Field& field, const abi::FieldSpec** spec) {
  if (!e) return {Code::InvalidArgument, "the event is empty"};
  const abi::KindSpec& kind = e->policy->engine->schema().kinds[static_cast<size_t>(e->kind)];
  if (field.kind != e->kind || field.index < 0 || static_cast<size_t>(field.index) >= kind.fields.size())
    return {Code::UnknownField, "the field is not one of event kind `" + kind.name + "`"};
  *spec = &kind.fields[static_cast<size_t>(field.index)];
  return {};
}

Status wrong_type(const abi::FieldSpec& f, const char* given) {
  return {Code::WrongType,
          std::string(f.name) + ": expected " + abi::column_type_name(f.type) + ", given " + given};
}

// Stores one value of the field and marks it set (and present).
template <typename T>
void store(EventImpl* e, const Field& field, const abi::FieldSpec& f, T value) {
  abi::Column& col = e->row.batch.column(static_cast<size_t>(f.column));
  col.data<T>()[0] = value;
  if (!col.present.empty()) col.present[0] = 1;
  e->record_value<T>(field.index, value);
  e->record_present(field.index, true);
  e->mark_set(field.index);
}

// The setter of a field whose column type must be `type` exactly.
template <typename T>
Status set_exact(EventImpl* e, const Field& field, abi::ColumnType type, const char* given, T value) {
  const abi::FieldSpec* f = nullptr;
  if (Status s = check_field(e, field, &f); !s.ok()) return s;
  if (f->type != type) return wrong_type(*f, given);
  store<T>(e, field, *f, value);
  return {};
}

}  // namespace

Status Event::set_bool(const Field& field, bool value) {
  return set_exact<uint8_t>(impl_.get(), field, abi::ColumnType::Bool, "a bool", value ? 1 : 0);
}

Status Event::set_int(const Field& field, int64_t value) {
  const abi::FieldSpec* f = nullptr;
  if (Status s = check_field(impl_.get(), field, &f); !s.ok()) return s;
  if (f->type == abi::ColumnType::Number) {
    store<double>(impl_.get(), field, *f, static_cast<double>(value));
    return {};
  }
  if (f->type != abi::ColumnType::Int) return wrong_type(*f, "an int");
  store<int64_t>(impl_.get(), field, *f, value);
  return {};
}

Status Event::set_number(const Field& field, double value) {
  const abi::FieldSpec* f = nullptr;
  if (Status s = check_field(impl_.get(), field, &f); !s.ok()) return s;
  if (f->type != abi::ColumnType::Number) return wrong_type(*f, "a number");
  if (!std::isfinite(value)) return {Code::WrongType, f->name + ": number out of range (not finite)"};
  store<double>(impl_.get(), field, *f, value);
  return {};
}

Status Event::set_time(const Field& field, int64_t micros) {
  return set_exact<int64_t>(impl_.get(), field, abi::ColumnType::Time, "a time", micros);
}

Status Event::set_duration(const Field& field, int64_t micros) {
  return set_exact<int64_t>(impl_.get(), field, abi::ColumnType::Duration, "a duration", micros);
}

Status Event::set_absent(const Field& field) {
  const abi::FieldSpec* f = nullptr;
  if (Status s = check_field(impl_.get(), field, &f); !s.ok()) return s;
  if (!f->optional) return {Code::WrongType, f->name + ": the field is required, it cannot be absent"};
  abi::Column& col = impl_->row.batch.column(static_cast<size_t>(f->column));
  col.present[0] = 0;
  impl_->record_present(field.index, false);
  impl_->mark_set(field.index);
  return {};
}

Status Event::set_string(const Field& field, std::string_view value) {
  const abi::FieldSpec* f = nullptr;
  if (Status s = check_field(impl_.get(), field, &f); !s.ok()) return s;
  if (!simdjson::validate_utf8(value.data(), value.size()))
    return {Code::InvalidUtf8, f->name + ": the string is not valid UTF-8"};
  EventImpl* e = impl_.get();
  return guarded([&]() -> Status {
    switch (f->type) {
      case abi::ColumnType::String:
        if (f->name == "id") e->id.assign(value);
        store<uint32_t>(e, field, *f, f->read ? e->intern(value) : 0);
        if (e->arena_bytes > kArenaLimit) e->rebuild_arena();
        return {};
      case abi::ColumnType::Country: {
        auto index = country_index(value);
        if (!index)
          return {Code::WrongType,
                  f->name + ": `" + std::string(value) + "` is not an ISO 3166-1 alpha-2 country code"};
        store<uint16_t>(e, field, *f, *index);
        e->row.batch.set_country(0, static_cast<size_t>(f->column), *index);  // and its class byte
        return {};
      }
      case abi::ColumnType::Time: {
        int64_t t;
        if (!decode::parse_event_time(value, &t))
          return {Code::WrongType, f->name + ": `" + std::string(value) + "` is not an RFC 3339 time"};
        store<int64_t>(e, field, *f, t);
        return {};
      }
      case abi::ColumnType::Duration: {
        auto d = parse_duration(value);
        if (!d) return {Code::WrongType, f->name + ": `" + std::string(value) + "` is not a duration"};
        store<int64_t>(e, field, *f, *d);
        return {};
      }
      default: return wrong_type(*f, "a string");
    }
  });
}

namespace {
Field field_at(const EventImpl* e, int index) {
  Field f;
  if (!e) return f;
  const abi::KindSpec& kind = e->policy->engine->schema().kinds[static_cast<size_t>(e->kind)];
  if (index < 0 || static_cast<size_t>(index) >= kind.fields.size()) return f;
  const abi::FieldSpec& spec = kind.fields[static_cast<size_t>(index)];
  f.kind = e->kind;
  f.index = index;
  f.type = static_cast<FieldType>(spec.type);
  f.optional = spec.optional;
  return f;
}
Field field_of(const EventImpl* e, std::string_view name) {
  if (!e) return {};
  const abi::KindSpec& kind = e->policy->engine->schema().kinds[static_cast<size_t>(e->kind)];
  auto it = kind.field_index.find(name);
  return it == kind.field_index.end() ? Field{} : field_at(e, it->second);
}
Status no_field(const EventImpl* e, std::string_view name) {
  if (!e) return {Code::InvalidArgument, "the event is empty"};
  const abi::KindSpec& kind = e->policy->engine->schema().kinds[static_cast<size_t>(e->kind)];
  return {Code::UnknownField, "event kind `" + kind.name + "` has no field `" + std::string(name) + "`"};
}
}  // namespace

std::string_view Event::kind() const {
  return impl_ ? std::string_view(impl_->policy->kinds[static_cast<size_t>(impl_->kind)])
               : std::string_view();
}
Field Event::field(std::string_view name) const {
  return field_of(impl_.get(), name);
}
Field Event::field(int index) const {
  return field_at(impl_.get(), index);
}

Status Event::set_string(std::string_view name, std::string_view value) {
  Field f = field_of(impl_.get(), name);
  return f.valid() ? set_string(f, value) : no_field(impl_.get(), name);
}
Status Event::set_int(std::string_view name, int64_t value) {
  Field f = field_of(impl_.get(), name);
  return f.valid() ? set_int(f, value) : no_field(impl_.get(), name);
}
Status Event::set_number(std::string_view name, double value) {
  Field f = field_of(impl_.get(), name);
  return f.valid() ? set_number(f, value) : no_field(impl_.get(), name);
}
Status Event::set_bool(std::string_view name, bool value) {
  Field f = field_of(impl_.get(), name);
  return f.valid() ? set_bool(f, value) : no_field(impl_.get(), name);
}

// ---- Evaluator -------------------------------------------------------------------

namespace detail {

// Events per batch of evaluate_batch.
constexpr uint32_t kBatchChunk = 1024;

// Scratch for one policy: rebuilt when a followed slot changes policy.
struct Scratch {
  Row single;  // one JSON event
  engine::Results one;
  // The event path: decodes JSON texts (into `single`, or its own batches
  // for evaluate_batch) and evaluates batches of them.
  engine::Stream stream;
  // The decision finisher's output, reused from event to event.
  mutable engine::FinishedDecision finished;
  EdictResults one_view;  // of `one`, whose buffers never move
  static engine::StreamOptions stream_options() {
    engine::StreamOptions options;
    options.batch_size = kBatchChunk;
    return options;
  }
  explicit Scratch(const PolicyImpl& p) : single(p), stream(*p.engine, stream_options()) {
    one.reserve(1, p.rule_count());
    one_view = one.view();
  }
};

struct EvaluatorImpl {
  std::shared_ptr<SlotState> slot;  // null: bound to `policy`
  uint64_t version = 0;
  Policy policy;
  std::unique_ptr<Scratch> scratch;

  const PolicyImpl* bound = nullptr;  // `policy`'s, while `scratch` is made for it
  EdictResults* one_view = nullptr;   // &scratch->one_view, for the typed short path

  void bind(Policy p) {
    policy = std::move(p);
    scratch.reset();
    bound = nullptr;
    one_view = nullptr;
    if (policy.valid()) {
      scratch = std::make_unique<Scratch>(*Access::impl(policy));
      bound = Access::impl(policy).get();
      one_view = &scratch->one_view;
    }
  }
  // Whether evaluations may run on `p` without refresh(): it is the bound
  // policy and a followed slot has not changed since.
  bool current(const PolicyImpl* p) const {
    return p == bound && (!slot || slot->version.load(std::memory_order_acquire) == version);
  }
  // Picks up a replacement published in the slot since the last call.
  void refresh() {
    if (!slot) return;
    uint64_t now = slot->version.load(std::memory_order_acquire);
    if (now == version && scratch) return;
    Policy next;
    {
      std::lock_guard<std::mutex> lock(slot->mutex);
      next = slot->current;
      version = slot->version.load(std::memory_order_relaxed);
    }
    if (next != policy || !scratch) bind(std::move(next));
  }
  void stamp(Decision& out) const {
    if (out.policy != policy) out.policy = policy;
  }
  // Decodes one JSON text as the next row of `batch`.
  void decode(std::string_view json, abi::Batch& batch, uint64_t line) {
    scratch->stream.append_text(json, line, batch);
  }
};

}  // namespace detail

Evaluator::Evaluator(Policy policy) : impl_(std::make_unique<detail::EvaluatorImpl>()) {
  try {
    impl_->bind(std::move(policy));
  } catch (...) {
    impl_->scratch.reset();  // evaluate() then reports the failure
  }
}

Evaluator::Evaluator(const PolicySlot& slot) : impl_(std::make_unique<detail::EvaluatorImpl>()) {
  impl_->slot = Access::state(slot);
  impl_->version = ~uint64_t{0};
}

Evaluator::~Evaluator() = default;
Evaluator::Evaluator(Evaluator&&) noexcept = default;
Evaluator& Evaluator::operator=(Evaluator&&) noexcept = default;

const Policy& Evaluator::policy() {
  try {
    impl_->refresh();
  } catch (...) {
  }
  return impl_->policy;
}

namespace {
Status no_policy() {
  return {Code::InvalidArgument, "the evaluator has no policy"};
}
}  // namespace

namespace {

// A call that failed before deciding: the decision says why.
Status failed(Status status, Decision& out) {
  out.rules.clear();
  forget_explanation(out);
  set_error(out, status.code, code_name(status.code), status.message);
  return status;
}

}  // namespace

Status Evaluator::evaluate(std::string_view json, Decision& out, Explain explain) {
  detail::EvaluatorImpl& self = *impl_;
  Status status = guarded([&]() -> Status {
    self.refresh();
    if (!self.scratch) return no_policy();
    const PolicyImpl& p = *Access::impl(self.policy);
    std::optional<engine::PinnedVersions> pinned;  // the decision and its messages read one version
    if (p.reads_data) pinned.emplace(*p.engine);
    detail::Scratch& s = *self.scratch;
    abi::Batch& batch = s.single.batch;
    batch.clear();
    self.decode(json, batch, 1);
    const bool decoded = batch.kind(0) != abi::kErrorRow;
    if (decoded) {
      if (p.single_event)
        p.single_event(&s.single.columns, &s.one_view);
      else
        p.engine->evaluate_one(s.single.columns, s.one_view);
    }
    self.stamp(out);
    decide_row(p, batch, s.single.columns, 0, s.finished, s.one, out);
    if (explain == Explain::None) [[likely]] {
      forget_explanation(out);
      return {};
    }
    return edict::explain(p, batch, s.one, 0, decoded, explain, out);
  });
  if (!status.ok()) [[unlikely]]
    return failed(std::move(status), out);
  return out.status.ok() ? Status{} : out.status;
}

namespace {

// Copies `from` into `to` when that needs no allocation and no call: `to`
// at least as long already (the same id format, as from the previous event).
// False (nothing changed) otherwise.
inline bool copy_in_place(std::string& to, const std::string& from) {
  const size_t n = from.size();
  if (n > to.size() || n > 16) return false;
  to.resize(n);  // shrinks in place
  const char* s = from.data();
  char* d = to.data();
  if (n >= 8) {  // two overlapping words
    uint64_t head, tail;
    std::memcpy(&head, s, 8);
    std::memcpy(&tail, s + n - 8, 8);
    std::memcpy(d, &head, 8);
    std::memcpy(d + n - 8, &tail, 8);
  } else if (n >= 4) {
    uint32_t head, tail;
    std::memcpy(&head, s, 4);
    std::memcpy(&tail, s + n - 4, 4);
    std::memcpy(d, &head, 4);
    std::memcpy(d + n - 4, &tail, 4);
  } else if (n > 0) {
    d[0] = s[0];
    d[n / 2] = s[n / 2];
    d[n - 1] = s[n - 1];
  }
  return true;
}

// Every typed evaluation the short path does not take.
[[gnu::noinline]] Status evaluate_general(detail::EvaluatorImpl& self, const EventImpl* e, Decision& out,
                                          Explain explain);

// Evaluates a complete typed event of the bound policy on its row (no
// record code: the interpreter, or a policy too large for it); returns the
// decision code.
[[gnu::noinline]] uint32_t evaluate_row(const detail::EvaluatorImpl& self, const EventImpl& e) {
  const PolicyImpl& p = *e.policy;
  detail::Scratch& s = *self.scratch;
  if (p.single_event)
    p.single_event(&e.row.columns, &s.one_view);
  else
    p.engine->evaluate_one(e.row.columns, s.one_view);
  return s.one.decision[0];
}

// The decision of a short-path typed evaluation (the event evaluated into
// the scratch results) when it is not the quick one: a rule fired or
// faulted, the Decision held another policy, rules, a message or an
// explanation, or the id needs more room. Out of line, so that the short
// path stays short; it writes every field.
[[gnu::noinline]] Status finish_typed(const detail::EvaluatorImpl& self, const EventImpl& e, Decision& out) {
  try {
    const PolicyImpl& p = *e.policy;
    const detail::Scratch& s = *self.scratch;
    self.stamp(out);
    out.kind = p.kinds[static_cast<size_t>(e.kind)];
    forget_explanation(out);
    out.id.assign(e.id);
    if (!decide_quiet(p, 0, s.one, out)) decide_loud(p, e.row.columns, 0, s.one, s.finished, out);
  } catch (const std::bad_alloc&) {
    return failed({Code::OutOfMemory, "out of memory"}, out);
  } catch (const std::exception& x) {
    return failed({Code::Internal, std::string("internal error: ") + x.what()}, out);
  }
  return out.status.ok() ? Status{} : out.status;
}

}  // namespace

Status Evaluator::evaluate(const Event& event, Decision& out, Explain explain) {
  detail::EvaluatorImpl& self = *impl_;
  const EventImpl* e = Access::impl(event);
  if (e && e->policy->reads_data) [[unlikely]] {
    // The decision and its messages read one version of each source.
    const engine::PinnedVersions pinned(*e->policy->engine);
    return e->complete() && explain == Explain::None && self.current(e->policy_ptr)
               ? (evaluate_row(self, *e), finish_typed(self, *e, out))
               : evaluate_general(self, e, out, explain);
  }
  // The common case first, short: a complete event of the current policy,
  // no explanation, no rule fired. Everything else takes the general path.
  if (explain == Explain::None && e && e->complete() && self.current(e->policy_ptr)) [[likely]] {
    const uint32_t code = e->decide_record ? e->decide_record(e->record.data(), e->strings, self.one_view)
                                           : evaluate_row(self, *e);
    // The quick decision: the default outcome, which no rule has, so no
    // rule fired; the Decision already of this policy, with no rules, no
    // message, no explanation, and room for the id. A few stores.
    if (static_cast<int>(code) == e->quiet_code && Access::impl(out.policy).get() == e->policy_ptr &&
        out.rules.empty() && (out.status.message.size() | out.explanation_json.size()) == 0 &&
        copy_in_place(out.id, e->id)) [[likely]] {
      out.status.code = Code::Ok;
      out.outcome = e->quiet_name;
      out.outcome_index = e->quiet_code;
      out.kind = e->kind_name;
      out.error_reason = {};
      out.fault_rule = {};
      return {};
    }
    return finish_typed(self, *e, out);
  }
  return evaluate_general(self, e, out, explain);
}

namespace {

Status evaluate_general(detail::EvaluatorImpl& self, const EventImpl* e, Decision& out, Explain explain) {
  Status status = guarded([&]() -> Status {
    self.refresh();
    if (!self.scratch) [[unlikely]]
      return no_policy();
    if (!e) [[unlikely]]
      return {Code::InvalidArgument, "the event is empty"};
    const PolicyImpl& p = *e->policy;
    if (&p != self.bound) [[unlikely]]
      return {Code::PolicyMismatch, "the event was made for another policy than the evaluator's"};
    self.stamp(out);
    out.id.assign(e->id);
    out.kind = p.kinds[static_cast<size_t>(e->kind)];
    const bool complete = e->complete();
    if (!complete) {
      const std::vector<uint64_t>& required = *e->required;
      for (size_t w = 0; w < required.size(); ++w) {
        if (uint64_t missing = required[w] & ~e->set[w]) {
          const auto& fields = p.engine->schema().kinds[static_cast<size_t>(e->kind)].fields;
          out.rules.clear();
          set_error(
              out, Code::InvalidEvent, abi::error_reason_name(abi::ErrorReason::MissingField),
              "missing field `" + fields[w * 64 + static_cast<size_t>(std::countr_zero(missing))].name + "`");
          break;
        }
      }
    } else {
      detail::Scratch& s = *self.scratch;
      if (p.single_event)
        p.single_event(&e->row.columns, &s.one_view);
      else
        p.engine->evaluate_one(e->row.columns, s.one_view);
      if (!decide_quiet(p, 0, s.one, out)) decide_loud(p, e->row.columns, 0, s.one, s.finished, out);
    }
    if (explain == Explain::None) [[likely]] {
      forget_explanation(out);
      return {};
    }
    return edict::explain(p, e->row.batch, self.scratch->one, 0, complete, explain, out);
  });
  if (!status.ok()) [[unlikely]]
    return failed(std::move(status), out);
  return out.status.ok() ? Status{} : out.status;
}

}  // namespace

Status Evaluator::evaluate_batch(const std::vector<std::string_view>& lines, std::vector<Decision>& out,
                                 Explain explain) {
  detail::EvaluatorImpl& self = *impl_;
  return guarded([&]() -> Status {
    self.refresh();
    if (!self.scratch) return no_policy();
    const PolicyImpl& p = *Access::impl(self.policy);
    detail::Scratch& s = *self.scratch;
    const engine::PinnedVersions pinned(*p.engine);  // the whole call and its messages read one version
    out.resize(lines.size());
    Status first;
    for (size_t begin = 0; begin < lines.size(); begin += detail::kBatchChunk) {
      const size_t end = std::min(lines.size(), begin + detail::kBatchChunk);
      abi::Batch& batch = s.stream.new_batch();
      for (size_t i = begin; i < end; ++i) self.decode(lines[i], batch, i + 1);
      const engine::EvaluatedBatch evaluated = s.stream.evaluate(batch);
      for (size_t i = begin; i < end; ++i) {
        Decision& d = out[i];
        const auto row = static_cast<uint32_t>(i - begin);
        self.stamp(d);
        decide_row(p, batch, evaluated.columns, row, s.finished, evaluated.results, d);
        if (explain == Explain::None) {
          forget_explanation(d);
        } else if (Status x = edict::explain(p, batch, evaluated.results, row,
                                             batch.kind(row) != abi::kErrorRow, explain, d);
                   !x.ok()) {
          return x;
        }
        if (first.ok() && !d.status.ok()) first = d.status;
      }
    }
    return first;
  });
}

const char* rule_status_name(RuleStatus status) {
  return engine::status_name(static_cast<engine::RuleTrace::Status>(status));
}

}  // namespace edict
