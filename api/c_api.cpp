// The C ABI (include/edict/edict.h) over the C++ API: handles are tagged
// structs around the C++ objects, errors become status codes plus a
// per-thread message, and no exception leaves an extern "C" function.
#include "edict/edict.h"

#include <simdjson.h>

#include <atomic>
#include <cstring>
#include <mutex>
#include <new>
#include <string>
#include <vector>

#include "edict/edict.hpp"

namespace {

// Type tags: the first member of every handle. A freed handle's tag is
// overwritten, so (with debug handles on, which keep the memory) later use
// is reported instead of touching freed memory.
enum Tag : uint32_t {
  kPolicyTag = 0xED1C7001,
  kSlotTag = 0xED1C7002,
  kEvaluatorTag = 0xED1C7003,
  kEventTag = 0xED1C7004,
  kFreedTag = 0xDEADED1C,
};

#ifdef NDEBUG
std::atomic<bool> debug_handles{false};
#else
std::atomic<bool> debug_handles{true};
#endif

thread_local std::string last_error;

edict_status fail(edict_status status, std::string message) {
  try {
    last_error = std::move(message);
  } catch (...) {
    last_error.clear();
  }
  return status;
}

edict_status report(const edict::Status& s) {
  if (s.ok()) [[likely]]
    return EDICT_OK;
  return fail(static_cast<edict_status>(s.code), s.message);
}

// Why a handle is not valid; out of line, off the evaluation path.
[[gnu::noinline, gnu::cold]] edict_status bad_handle(bool null, uint32_t tag, const char* what) {
  if (null) return fail(EDICT_NULL_ARGUMENT, std::string(what) + " is NULL");
  return fail(EDICT_INVALID_HANDLE, std::string(what) + (tag == kFreedTag ? " was already freed"
                                                                          : " is not a handle of this type"));
}

// Validates a handle: non-null and carrying `tag`.
template <typename H>
inline edict_status check(const H* h, Tag tag, const char* what) {
  if (h && h->tag == tag) [[likely]]
    return EDICT_OK;
  return bad_handle(!h, h ? h->tag : 0, what);
}

// Freed shells kept by debug handles stay reachable from here (so leak
// checkers do not report them).
std::mutex quarantine_mutex;
std::vector<const void*>* quarantine = nullptr;

template <typename H>
void release(H* h, Tag tag) {
  if (!h || h->tag != tag) return;
  h->tag = kFreedTag;
  if (debug_handles.load(std::memory_order_relaxed)) {
    h->destroy_contents();  // keep the tagged shell so later use is caught
    try {
      std::lock_guard<std::mutex> lock(quarantine_mutex);
      if (!quarantine) quarantine = new std::vector<const void*>();
      quarantine->push_back(h);
    } catch (...) {
    }
    return;
  }
  delete h;
}

template <typename F>
edict_status guarded(F&& f) {
  try {
    return f();
  } catch (const std::bad_alloc&) {
    return fail(EDICT_OUT_OF_MEMORY, "out of memory");
  } catch (const std::exception& e) {
    return fail(EDICT_INTERNAL, std::string("internal error: ") + e.what());
  } catch (...) {
    return fail(EDICT_INTERNAL, "internal error");
  }
}

edict_status engine_of(edict_engine engine, edict::CompileOptions* options) {
  if (engine != EDICT_ENGINE_JIT && engine != EDICT_ENGINE_INTERPRETER)
    return fail(EDICT_INVALID_ARGUMENT, "unknown engine " + std::to_string(static_cast<int>(engine)));
  options->engine = engine == EDICT_ENGINE_JIT ? edict::Engine::Jit : edict::Engine::Interpreter;
  return EDICT_OK;
}

edict_status check_utf8(const char* text, size_t length, const char* what) {
  if (!simdjson::validate_utf8(text, length))
    return fail(EDICT_INVALID_UTF8, std::string(what) + " is not valid UTF-8");
  return EDICT_OK;
}

}  // namespace

struct edict_policy {
  uint32_t tag = kPolicyTag;
  edict::Policy policy;
  void destroy_contents() { policy = {}; }
};

struct edict_slot {
  uint32_t tag = kSlotTag;
  edict::PolicySlot slot;
  void destroy_contents() { slot.store({}); }
};

struct edict_decision {
  edict::Decision decision;
};

struct edict_evaluator {
  uint32_t tag = kEvaluatorTag;
  edict::Evaluator evaluator;
  edict_decision decision;
  edict::Explain explain = edict::Explain::None;
  explicit edict_evaluator(edict::Evaluator e) : evaluator(std::move(e)) {}
  void destroy_contents() {
    evaluator = edict::Evaluator(edict::Policy{});
    decision = {};
  }
};

struct edict_event {
  uint32_t tag = kEventTag;
  edict::Event event;
  edict::Policy policy;
  void destroy_contents() {
    event = {};
    policy = {};
  }
};

extern "C" {

const char* edict_last_error(void) {
  return last_error.c_str();
}

const char* edict_status_name(int status) {
  if (status < 0 || status > EDICT_DATA_ERROR) return "unknown";
  return edict::code_name(static_cast<edict::Code>(status));
}

const char* edict_version(void) {
#ifdef EDICT_VERSION
  return EDICT_VERSION;
#else
  return "unknown";
#endif
}

int edict_debug_handles(int on) {
  return debug_handles.exchange(on != 0) ? 1 : 0;
}

// ---- compiling ----

}  // extern "C"

static edict_status finish_compile(edict::Compiled compiled, edict_policy** out) {
  if (!compiled.status.ok()) {
    std::string message = compiled.status.message;
    if (!compiled.report.empty()) message += ":\n" + compiled.report;
    return fail(static_cast<edict_status>(compiled.status.code), std::move(message));
  }
  auto* handle = new edict_policy;
  handle->policy = std::move(compiled.policy);
  *out = handle;
  return EDICT_OK;
}

extern "C" {

edict_status edict_policy_compile_file(const char* path, edict_engine engine, edict_policy** out) {
  return guarded([&] {
    if (!out) return fail(EDICT_NULL_ARGUMENT, "out is NULL");
    *out = nullptr;
    if (!path) return fail(EDICT_NULL_ARGUMENT, "path is NULL");
    if (edict_status s = check_utf8(path, std::strlen(path), "path")) return s;
    edict::CompileOptions options;
    if (edict_status s = engine_of(engine, &options)) return s;
    return finish_compile(edict::Policy::compile_files({path}, options), out);
  });
}

edict_status edict_policy_compile_string(const char* name, const char* text, size_t length,
                                         edict_engine engine, edict_policy** out) {
  return guarded([&] {
    if (!out) return fail(EDICT_NULL_ARGUMENT, "out is NULL");
    *out = nullptr;
    if (!name) return fail(EDICT_NULL_ARGUMENT, "name is NULL");
    if (!text && length > 0) return fail(EDICT_NULL_ARGUMENT, "text is NULL");
    if (edict_status s = check_utf8(name, std::strlen(name), "name")) return s;
    if (edict_status s = check_utf8(text ? text : "", length, "policy text")) return s;
    edict::CompileOptions options;
    if (edict_status s = engine_of(engine, &options)) return s;
    return finish_compile(
        edict::Policy::compile_sources({{name, std::string(text ? text : "", length)}}, options), out);
  });
}

void edict_policy_free(edict_policy* policy) {
  release(policy, kPolicyTag);
}

size_t edict_policy_rule_count(const edict_policy* policy) {
  if (check(policy, kPolicyTag, "policy")) return 0;
  return policy->policy.rule_count();
}

edict_status edict_policy_replace_data(const edict_policy* policy, const char* name, const char* path) {
  return guarded([&] {
    if (edict_status s = check(policy, kPolicyTag, "policy")) return s;
    if (!name) return fail(EDICT_NULL_ARGUMENT, "name is NULL");
    if (!path) return fail(EDICT_NULL_ARGUMENT, "path is NULL");
    if (edict_status s = check_utf8(path, std::strlen(path), "path")) return s;
    bool known = false;
    for (const edict::DataVersion& v : policy->policy.data_versions()) known |= v.name == name;
    if (!known)
      return fail(EDICT_INVALID_ARGUMENT, std::string("the policy declares no data `") + name + "`");
    edict::Status s = policy->policy.replace_data(name, path);
    if (!s.ok()) return fail(EDICT_DATA_ERROR, s.message);
    return EDICT_OK;
  });
}

// ---- hot replacement ----

edict_status edict_slot_new(const edict_policy* initial, edict_slot** out) {
  return guarded([&] {
    if (!out) return fail(EDICT_NULL_ARGUMENT, "out is NULL");
    *out = nullptr;
    if (initial)
      if (edict_status s = check(initial, kPolicyTag, "initial")) return s;
    auto* handle = new edict_slot;
    if (initial) handle->slot.store(initial->policy);
    *out = handle;
    return EDICT_OK;
  });
}

edict_status edict_slot_store(edict_slot* slot, const edict_policy* next) {
  return guarded([&] {
    if (edict_status s = check(slot, kSlotTag, "slot")) return s;
    if (edict_status s = check(next, kPolicyTag, "next")) return s;
    slot->slot.store(next->policy);
    return EDICT_OK;
  });
}

void edict_slot_free(edict_slot* slot) {
  release(slot, kSlotTag);
}

// ---- evaluating ----

edict_status edict_evaluator_new(const edict_policy* policy, edict_evaluator** out) {
  return guarded([&] {
    if (!out) return fail(EDICT_NULL_ARGUMENT, "out is NULL");
    *out = nullptr;
    if (edict_status s = check(policy, kPolicyTag, "policy")) return s;
    *out = new edict_evaluator(edict::Evaluator(policy->policy));
    return EDICT_OK;
  });
}

edict_status edict_evaluator_new_from_slot(const edict_slot* slot, edict_evaluator** out) {
  return guarded([&] {
    if (!out) return fail(EDICT_NULL_ARGUMENT, "out is NULL");
    *out = nullptr;
    if (edict_status s = check(slot, kSlotTag, "slot")) return s;
    *out = new edict_evaluator(edict::Evaluator(slot->slot));
    return EDICT_OK;
  });
}

void edict_evaluator_free(edict_evaluator* evaluator) {
  release(evaluator, kEvaluatorTag);
}

edict_status edict_evaluator_set_explain(edict_evaluator* evaluator, edict_explain explain) {
  if (edict_status s = check(evaluator, kEvaluatorTag, "evaluator")) return s;
  if (explain != EDICT_EXPLAIN_NONE && explain != EDICT_EXPLAIN_FIRED && explain != EDICT_EXPLAIN_ALL)
    return fail(EDICT_INVALID_ARGUMENT, "unknown explain mode " + std::to_string(static_cast<int>(explain)));
  evaluator->explain = explain == EDICT_EXPLAIN_ALL     ? edict::Explain::All
                       : explain == EDICT_EXPLAIN_FIRED ? edict::Explain::Fired
                                                        : edict::Explain::None;
  return EDICT_OK;
}

edict_status edict_eval_json(edict_evaluator* evaluator, const char* json, size_t length,
                             const edict_decision** out) {
  if (out) *out = nullptr;
  if (edict_status s = check(evaluator, kEvaluatorTag, "evaluator")) return s;
  if (!json) return fail(EDICT_NULL_ARGUMENT, "json is NULL");
  edict::Status status = evaluator->evaluator.evaluate(std::string_view(json, length),
                                                       evaluator->decision.decision, evaluator->explain);
  if (out) *out = &evaluator->decision;
  return report(status);
}

edict_status edict_event_new(const edict_policy* policy, const char* kind, edict_event** out) {
  return guarded([&] {
    if (!out) return fail(EDICT_NULL_ARGUMENT, "out is NULL");
    *out = nullptr;
    if (edict_status s = check(policy, kPolicyTag, "policy")) return s;
    if (!kind) return fail(EDICT_NULL_ARGUMENT, "kind is NULL");
    if (edict_status s = check_utf8(kind, std::strlen(kind), "kind")) return s;
    auto* handle = new edict_event;
    if (edict_status s = report(edict::Event::create(policy->policy, kind, handle->event))) {
      delete handle;
      return s;
    }
    handle->policy = policy->policy;
    *out = handle;
    return EDICT_OK;
  });
}

void edict_event_free(edict_event* event) {
  release(event, kEventTag);
}

edict_status edict_event_clear(edict_event* event) {
  if (edict_status s = check(event, kEventTag, "event")) return s;
  event->event.clear();
  return EDICT_OK;
}

edict_status edict_event_field(const edict_event* event, const char* name, int32_t* index) {
  return guarded([&] {
    if (edict_status s = check(event, kEventTag, "event")) return s;
    if (!name || !index) return fail(EDICT_NULL_ARGUMENT, name ? "index is NULL" : "name is NULL");
    if (edict_status s = check_utf8(name, std::strlen(name), "name")) return s;
    edict::Field field = event->event.field(std::string_view(name));
    if (!field.valid())
      return fail(EDICT_UNKNOWN_FIELD,
                  "event kind `" + std::string(event->event.kind()) + "` has no field `" + name + "`");
    *index = field.index;
    return EDICT_OK;
  });
}

}  // extern "C"

// Runs one setter on field `index` of a checked event.
template <typename F>
static edict_status set_field(edict_event* event, int32_t index, F&& set) {
  if (edict_status s = check(event, kEventTag, "event")) return s;
  return guarded([&] {
    edict::Field field = event->event.field(static_cast<int>(index));
    if (!field.valid())
      return fail(EDICT_UNKNOWN_FIELD, "event kind `" + std::string(event->event.kind()) +
                                           "` has no field number " + std::to_string(index));
    return report(set(field));
  });
}

extern "C" {

edict_status edict_event_set_bool(edict_event* event, int32_t field, int value) {
  return set_field(event, field, [&](const edict::Field& f) { return event->event.set_bool(f, value != 0); });
}

edict_status edict_event_set_int(edict_event* event, int32_t field, int64_t value) {
  return set_field(event, field, [&](const edict::Field& f) { return event->event.set_int(f, value); });
}

edict_status edict_event_set_number(edict_event* event, int32_t field, double value) {
  return set_field(event, field, [&](const edict::Field& f) { return event->event.set_number(f, value); });
}

edict_status edict_event_set_string(edict_event* event, int32_t field, const char* value, size_t length) {
  if (!value && length > 0) return fail(EDICT_NULL_ARGUMENT, "value is NULL");
  return set_field(event, field, [&](const edict::Field& f) {
    return event->event.set_string(f, std::string_view(value ? value : "", length));
  });
}

edict_status edict_event_set_time(edict_event* event, int32_t field, int64_t micros) {
  return set_field(event, field, [&](const edict::Field& f) { return event->event.set_time(f, micros); });
}

edict_status edict_event_set_absent(edict_event* event, int32_t field) {
  return set_field(event, field, [&](const edict::Field& f) { return event->event.set_absent(f); });
}

edict_status edict_eval_event(edict_evaluator* evaluator, const edict_event* event,
                              const edict_decision** out) {
  if (out) *out = nullptr;
  if (edict_status s = check(evaluator, kEvaluatorTag, "evaluator")) return s;
  if (edict_status s = check(event, kEventTag, "event")) return s;
  edict::Status status =
      evaluator->evaluator.evaluate(event->event, evaluator->decision.decision, evaluator->explain);
  if (out) *out = &evaluator->decision;
  return report(status);
}

// ---- decisions ----
// Every string_view of a Decision views a NUL-terminated std::string of the
// policy or a string literal, so .data() is a C string.

const char* edict_decision_outcome(const edict_decision* d) {
  return d ? d->decision.outcome.data() : "";
}

edict_status edict_decision_status(const edict_decision* d) {
  return d ? static_cast<edict_status>(d->decision.status.code) : EDICT_NULL_ARGUMENT;
}

const char* edict_decision_error(const edict_decision* d) {
  return d ? d->decision.status.message.c_str() : "";
}

const char* edict_decision_kind(const edict_decision* d) {
  return d && !d->decision.kind.empty() ? d->decision.kind.data() : "";
}

const char* edict_decision_id(const edict_decision* d) {
  return d ? d->decision.id.c_str() : "";
}

size_t edict_decision_rule_count(const edict_decision* d) {
  return d ? d->decision.rules.size() : 0;
}

}  // extern "C"

static const edict::FiredRule* rule_at(const edict_decision* d, size_t index) {
  return d && index < d->decision.rules.size() ? &d->decision.rules[index] : nullptr;
}

extern "C" {

const char* edict_decision_rule_name(const edict_decision* d, size_t index) {
  const edict::FiredRule* r = rule_at(d, index);
  return r ? r->name.data() : "";
}

const char* edict_decision_rule_effect(const edict_decision* d, size_t index) {
  const edict::FiredRule* r = rule_at(d, index);
  return r ? r->effect.data() : "";
}

const char* edict_decision_rule_cite(const edict_decision* d, size_t index) {
  const edict::FiredRule* r = rule_at(d, index);
  return r ? r->cite.data() : "";
}

const char* edict_decision_rule_message(const edict_decision* d, size_t index) {
  const edict::FiredRule* r = rule_at(d, index);
  return r ? r->message.c_str() : "";
}

const char* edict_decision_explanation_json(const edict_decision* d) {
  return d ? d->decision.explanation_json.c_str() : "";
}

}  // extern "C"
