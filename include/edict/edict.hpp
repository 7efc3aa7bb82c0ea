// Edict as a C++ library: compile policies, evaluate events, replace a policy
// while a host runs. Needs C++17; no exception crosses this API (failures
// are Status values), and the library never writes to stdout/stderr or exits.
//
// Objects and their rules:
//   Policy      immutable compiled policy, a shared handle (copy = share).
//               Safe to use from any number of threads at once.
//   PolicySlot  the current Policy of a running host; store() replaces it
//               while other threads evaluate. Thread-safe.
//   Evaluator   per-thread scratch for evaluation (decoder, batch, results).
//               Not thread-safe: one per thread. Cheap to keep, costly to
//               create (allocates), so keep one per worker thread.
//   Event       a typed event built without JSON; per-thread like Evaluator.
//   Decision    the answer for one event, reused across calls to avoid
//               allocation. Its string_views point into the Policy that
//               produced it, which the Decision keeps alive. On request it
//               also explains itself: the values each rule's conditions saw.
//
// Decisions are exactly those of `edict eval`: a rule that faults (or whose
// message faults) makes the decision `error`, naming the rule.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace edict {

namespace detail {
struct PolicyImpl;
struct EventImpl;
struct EvaluatorImpl;
struct AuditRecorderImpl;
struct SlotState;
struct Access;  // the implementation's way into handles
}  // namespace detail

// Why a call failed. Values equal the C ABI's EDICT_* status codes (edict.h).
enum class Code : int {
  Ok = 0,
  NullArgument = 1,     // a required pointer was null (C ABI)
  InvalidHandle = 2,    // a handle of the wrong type, or already freed (C ABI)
  InvalidArgument = 3,  // e.g. an empty Policy, a field of another kind
  InvalidUtf8 = 4,      // a string (or JSON text) is not valid UTF-8
  CompileError = 5,     // the policy has errors: see the diagnostics
  InvalidJson = 6,      // the event is not one JSON object
  WrongKind = 7,        // the event has no `kind`, or one the policy does not declare
  InvalidEvent = 8,     // a field is missing, null, of the wrong type or malformed
  UnknownField = 9,     // no such field in the event kind
  WrongType = 10,       // the value does not fit the field's type
  RuleFault = 11,       // a rule faulted: the decision is `error` (fail closed)
  PolicyMismatch = 12,  // an Event built for another Policy than the Evaluator's
  OutOfMemory = 13,
  Internal = 14,   // a bug in Edict
  DataError = 15,  // a data file cannot be read or is malformed: the message says where
};
const char* code_name(Code code);  // "ok", "invalid_json", ... (static storage)

struct Status {
  Code code = Code::Ok;
  std::string message;  // empty when ok
  bool ok() const { return code == Code::Ok; }
};

// ---- compiling -------------------------------------------------------------

enum class Engine { Jit, Interpreter };

struct CompileOptions {
  Engine engine = Engine::Jit;
  int opt_level = 2;  // JIT: 0 or 2
  // JIT: also compile code shaped for one event per call (no if-conversion,
  // short-circuiting) for the single-event evaluate() calls; batches use the
  // vectorised code. Roughly doubles JIT compile time.
  bool single_event_code = true;
  size_t max_errors = 100;  // diagnostics kept
  bool read_disk = true;    // compile_sources: imports not among the sources may be read from disk
  // The file a `data` source reads instead of the one its declaration names
  // (as `edict eval --data NAME=FILE`).
  std::map<std::string, std::string> data_files = {};
};

// One loaded version of a `data` source: what a decision record names.
struct DataVersion {
  std::string name, file;
  std::string hash;  // `sha256:<hex>` of the file's bytes
  uint32_t rows = 0;
};

struct PolicyDiagnostic {
  bool error = true;  // false: a warning
  std::string code;   // stable, e.g. "E0201"
  std::string message, help;
  std::string file;               // empty for file-less diagnostics
  uint32_t line = 0, column = 0;  // 1-based; 0 when unknown
};

// A source file given as text. Imports resolve against `path` (relative
// paths are relative to the importing file) and find other PolicySources first.
struct PolicySource {
  std::string path;
  std::string text;
};

class Policy;

// The outcome of compiling: a valid Policy, or status CompileError with the
// diagnostics (warnings come with a successful compile too).
struct Compiled;

struct RuleInfo {
  std::string_view name, effect, cite;
  std::string_view policy;  // title of the rule file's `policy`, empty if none
};

enum class FieldType { Bool, Int, Number, String, Country, Time, Duration };

// A field of one event kind, looked up once and used for fast Event::set_*.
struct Field {
  int kind = -1;
  int index = -1;
  FieldType type = FieldType::Int;
  bool optional = false;
  bool valid() const { return index >= 0; }
};

class Policy {
 public:
  Policy() = default;  // empty: valid() is false
  static Compiled compile_files(const std::vector<std::string>& paths, const CompileOptions& options = {});
  static Compiled compile_sources(const std::vector<PolicySource>& files, const CompileOptions& options = {});

  bool valid() const { return impl_ != nullptr; }
  Engine engine() const;
  // Outcomes, weakest first (e.g. allow, review, deny).
  const std::vector<std::string>& outcomes() const;
  size_t rule_count() const;
  RuleInfo rule(size_t index) const;  // index < rule_count()
  std::vector<std::string> kinds() const;
  // The field `name` of event kind `kind`; !valid() when there is none.
  Field field(std::string_view kind, std::string_view name) const;
  // The `data` sources in use, in declaration order.
  std::vector<DataVersion> data_versions() const;
  // Replaces the rows of data source `name` by those of file `path`, for
  // every evaluator of this policy, without recompiling it: evaluations
  // after the call see the new rows. An evaluation running meanwhile
  // finishes on the version it started with: each evaluate() or
  // evaluate_batch() call (its conditions and messages) and each
  // AuditRecorder::record() call (whose records name that version) reads
  // one version of each source. On error (DataError, with
  // `file:line:col: error[E0074]: ...`) the previous rows stay in use.
  Status replace_data(const std::string& name, const std::string& path) const;

  // Handles sharing this policy (this one included); for tests and
  // diagnostics of hot replacement.
  long use_count() const { return impl_.use_count(); }

  bool operator==(const Policy& other) const { return impl_ == other.impl_; }
  bool operator!=(const Policy& other) const { return impl_ != other.impl_; }

 private:
  friend struct detail::Access;
  std::shared_ptr<const detail::PolicyImpl> impl_;
};

struct Compiled {
  Status status;
  Policy policy;                              // valid() iff status.ok()
  std::vector<PolicyDiagnostic> diagnostics;  // errors and warnings, sorted by place
  std::string report;                         // the diagnostics as `edict check` prints them
};

// ---- events and decisions --------------------------------------------------

// A typed event of one kind. Set every required field, then evaluate; reuse
// it for the next event after clear(). Strings given to set_string are copied.
// Not thread-safe; keeps its Policy alive.
class Event {
 public:
  Event();
  ~Event();
  Event(Event&&) noexcept;
  Event& operator=(Event&&) noexcept;
  // An event of `kind` for `policy`; !valid() with a status on failure.
  static Status create(const Policy& policy, std::string_view kind, Event& out);

  bool valid() const { return impl_ != nullptr; }
  std::string_view kind() const;  // empty when !valid()
  // A field of this event's kind by name, or by its index in the kind's
  // declaration; !valid() when there is none.
  Field field(std::string_view name) const;
  Field field(int index) const;
  // Forgets every field value (and the strings set so far).
  void clear();

  // Setters check the field's kind and type. set_string accepts every type
  // JSON text would (string, country code, RFC 3339 time, duration); set_int
  // also sets number fields. set_absent makes an optional field absent.
  Status set_bool(const Field& field, bool value);
  Status set_int(const Field& field, int64_t value);
  Status set_number(const Field& field, double value);
  Status set_string(const Field& field, std::string_view value);
  Status set_time(const Field& field, int64_t micros_since_epoch_utc);
  Status set_duration(const Field& field, int64_t micros);
  Status set_absent(const Field& field);
  // By name (a lookup per call; prefer Field handles in hot paths).
  Status set_string(std::string_view field, std::string_view value);
  Status set_int(std::string_view field, int64_t value);
  Status set_number(std::string_view field, double value);
  Status set_bool(std::string_view field, bool value);

 private:
  friend struct detail::Access;
  std::unique_ptr<detail::EventImpl> impl_;
};

struct FiredRule {
  std::string_view name, effect, cite, policy;
  std::string message;  // the rule's message for this event ("" when it has none)
};

// ---- explanations ------------------------------------------------------------

// What an evaluation explains (Decision::explanation). Explaining re-runs the
// event's rules on a tracing interpreter: microseconds per event, for audits
// and debugging. Not explaining costs nothing.
enum class Explain {
  None,   // no explanation (the default)
  Fired,  // the rules that fired, and the one that faulted
  All,    // every rule of the policy, as `edict explain` shows them
};

// One expression of a rule's condition and the value it took on the event.
struct ExplainedExpr {
  enum class State {
    Value,         // evaluated: `value` and `json` hold the value
    NotEvaluated,  // skipped (short circuit, an untaken branch, after a fault)
    Absent,        // an optional value that was absent
    Present,       // an optional value that was present (its value not needed)
  };
  std::string expr;   // the expression as written, whitespace collapsed
  uint32_t line = 0;  // 1-based line in the policy source; 0 when unknown
  std::string note;   // e.g. "def advanced" for the body of a def
  State state = State::NotEvaluated;
  std::string value;  // for people: 64, "CN", true, 2024-06-01T00:00:00Z
  std::string json;   // the value as a JSON literal
  // Its sub-expressions; an expression already shown with its parts in the
  // same condition is shown again without them.
  std::vector<ExplainedExpr> children;
};

enum class RuleStatus {
  Fired,
  NotFired,
  NotInEffect,    // the event's time is outside the rule's effective dates
  NotApplicable,  // the rule is not on the event's kind
  Error,          // the rule faulted: `error` says where and why
};
const char* rule_status_name(RuleStatus status);  // "fired", "not_fired", ... (static storage)

struct RuleExplanation {
  size_t rule = 0;  // index for Policy::rule()
  std::string_view name, effect, cite;
  RuleStatus status = RuleStatus::NotApplicable;
  std::string message;                        // Fired: the rule's message ("" when it has none)
  std::string error;                          // Error: the fault and its place in the source
  std::optional<ExplainedExpr> when, unless;  // the conditions the rule has
};

struct Decision {
  // Ok: `outcome` is a declared outcome. Otherwise outcome is "error": the
  // event was not decoded (InvalidJson, WrongKind, InvalidEvent, InvalidUtf8)
  // or a rule faulted (RuleFault); status.message says where and what.
  Status status;
  std::string_view outcome;       // "deny", "allow", ... or "error"
  int outcome_index = -1;         // into Policy::outcomes(); -1 for error
  std::string_view kind;          // the event's kind; empty when not decoded
  std::string id;                 // the event's `id` when it has one
  std::string_view error_reason;  // stable name: invalid_json, integer_overflow, ...
  std::string_view fault_rule;    // RuleFault: the rule that faulted
  std::vector<FiredRule> rules;   // fired rules, in rule order
  Policy policy;                  // the policy that decided (keeps the views valid)

  // Filled only when the evaluation was asked to explain (Explain::Fired or
  // All); empty otherwise. `explanation` lists rules in rule order (none
  // when the event was not decoded or lacks a field); `explanation_json` is
  // the same as one line of `edict explain --format json` (without the
  // newline; "line" is 1), with only the explained rules. Both stay valid
  // until the Decision is reused.
  std::vector<RuleExplanation> explanation;
  std::string explanation_json;
};

// ---- evaluating --------------------------------------------------------------

class PolicySlot;

// Per-thread evaluation state. Bound to one Policy, or following a
// PolicySlot: then each evaluation uses the slot's current policy, and the
// previous policy is released at the first evaluation after a replacement.
class Evaluator {
 public:
  explicit Evaluator(Policy policy);
  explicit Evaluator(const PolicySlot& slot);
  ~Evaluator();
  Evaluator(Evaluator&&) noexcept;
  Evaluator& operator=(Evaluator&&) noexcept;

  // `explain` (all three calls): what to explain in out.explanation and
  // out.explanation_json; with Explain::None (the default) they are emptied.
  // The first explaining call on a policy lowers it for tracing (once per
  // policy, shared by its evaluators); a policy that cannot be traced gives
  // Code::Internal.
  //
  // One JSON object (one JSON Lines record without its newline).
  Status evaluate(std::string_view json, Decision& out, Explain explain = Explain::None);
  // A typed event; it must be made for this Evaluator's current policy.
  Status evaluate(const Event& event, Decision& out, Explain explain = Explain::None);
  // Many JSON records; out[i] is the decision for lines[i] (each with its own
  // status). Returns the first non-ok decision status, or ok.
  Status evaluate_batch(const std::vector<std::string_view>& lines, std::vector<Decision>& out,
                        Explain explain = Explain::None);

  // The policy evaluations use now (refreshed from the slot, if following one).
  const Policy& policy();

 private:
  std::unique_ptr<detail::EvaluatorImpl> impl_;
};

// The current policy of a running host. store() publishes a new policy;
// evaluations already running finish on the old one, which is freed when
// the last Evaluator, Decision or handle using it lets go. All members are
// thread-safe.
class PolicySlot {
 public:
  explicit PolicySlot(Policy initial = {});
  Policy load() const;
  void store(Policy next);
  uint64_t version() const;  // increases with every store()

 private:
  friend struct detail::Access;
  std::shared_ptr<detail::SlotState> state_;
};

// ---- audit records -----------------------------------------------------------

struct AuditOptions {
  // false: records carry no "time", so the same events and policy give
  // byte-identical records (regression diffs, `edict eval --replay`).
  bool decision_time = true;
};

// Audit decision records (docs/events.md, "Audit records"): the JSON Lines
// records `edict eval --audit` writes and `edict serve` returns and logs,
// made by the same writer -- schema version, decision id (derived from the
// event text, the policy's content hash and its data versions), decision
// time, policy hash, versions and statuses, data versions, Edict's version,
// then the decision, its rules and messages. For a host that keeps its own
// decision log. Not thread-safe: one per thread.
class AuditRecorder {
 public:
  explicit AuditRecorder(Policy policy, AuditOptions options = {});
  ~AuditRecorder();
  AuditRecorder(AuditRecorder&&) noexcept;
  AuditRecorder& operator=(AuditRecorder&&) noexcept;

  // Decides each line of `jsonl` (JSON Lines, lines numbered from 1 in each
  // call, as `edict eval` numbers a file's) and appends its record, newline
  // included, to `records`: exactly what `edict eval --audit` writes for
  // the same lines. An event that cannot be decided gets its error record,
  // as in eval. Not ok (InvalidArgument) only for an empty Policy.
  Status record(std::string_view jsonl, std::string& records);
  // The policy's content hash, "xxh3-128:<hex>", as records carry it.
  const std::string& policy_hash() const;

 private:
  std::unique_ptr<detail::AuditRecorderImpl> impl_;
};

}  // namespace edict
