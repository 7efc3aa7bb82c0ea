// Decision records: one per input line, JSON Lines or CSV, written in input
// order, and the run summary (counts per decision, errors by reason).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "engine/decision.h"
#include "engine/engine.h"
#include "engine/message_template.h"
#include "engine/record_buffer.h"
#include "engine/stream.h"
#include "support/cache_aligned.h"

namespace edict::engine {

class Tracer;
class AuditStamp;

enum class OutputFormat { Jsonl, Csv };

// Counts over a run; merge per-thread summaries with add().
struct Summary {
  uint64_t lines = 0;
  std::vector<uint64_t> per_decision;  // by outcome index
  uint64_t errors = 0;
  std::map<std::string, uint64_t> error_reasons;  // reason name -> count
  std::vector<uint64_t> per_rule;                 // times each rule fired
  void add(const Summary& other);
};

class RecordWriter {
 public:
  RecordWriter(const Policy& policy, OutputFormat format);

  // Appends the records of every row of `batch` to `out`, updating `summary`.
  // Decisions are finished by the DecisionFinisher; a fired rule's message
  // that faults turns the event's decision into `error` naming that rule.
  // `lines` are the rows' input lines (EvaluatedBatch::lines), which audit
  // records' decision ids are derived from; null: derived from the id alone.
  void write(const abi::Batch& batch, const Results& results, std::string& out, Summary& summary,
             const decode::Line* lines = nullptr) const;
  // CSV header line (empty for JSONL).
  std::string header() const;
  // `eval --explain` (JSONL only): each fired rule's record gains the
  // condition trees its `when`/`unless` saw ("conditions", docs/events.md).
  void explain_with(const Tracer* tracer) { tracer_ = tracer; }
  // Audit records (JSONL only): each record opens with the stamp's fields
  // (engine/audit.h, docs/events.md "Audit records").
  void audit_with(const AuditStamp* stamp) { audit_ = stamp; }
  const DecisionFinisher& finisher() const { return finisher_; }

 private:
  // A record whose decision stands and whose fired rules' messages all have
  // templates that do not fault on the row (nearly every record): written
  // from precomputed pieces. False, with nothing written, for any other.
  bool write_fast(RecordBuffer& out, const abi::Batch& batch, const Results& results,
                  const EdictColumns& columns, uint32_t row, std::string_view line, std::string_view opening,
                  Summary& summary) const;
  // Any record, from its finished decision: faults, errors, explanations.
  void write_general(std::string& out, const abi::Batch& batch, const EdictColumns& columns, uint32_t row,
                     std::string_view opening, const FinishedDecision& decision, Summary& summary) const;

  const Policy* policy_;
  OutputFormat format_;
  const Tracer* tracer_ = nullptr;
  const AuditStamp* audit_ = nullptr;
  size_t kinds_ = 0, outcomes_ = 0;
  std::vector<std::string> rule_prefix_;  // JSON `{"name":..,"effect":..,"cite":..` per rule
  // JSONL: rule_prefix_ + `,"message":"`; CSV: the rule's name.
  std::vector<std::string> rule_open_;
  // Per (kind, outcome): JSONL `,"kind":"K","decision":"D","rules":[`, CSV
  // `,K,D,`; then the same closing a record without rules.
  std::vector<std::string> kind_decision_;
  DecisionFinisher finisher_;
};

// The Stream sink of `edict eval`: each lane formats its batches' records
// into its own buffer and summary; flush() hands a lane's records to `emit`
// (in input order, on the stream's thread), which writes them out.
class RecordSink : public StreamSink {
 public:
  RecordSink(const RecordWriter& writer, unsigned lanes, std::function<bool(std::string_view)> emit);
  void consume(unsigned lane, const EvaluatedBatch& evaluated) override;
  bool flush(unsigned lane) override;
  // Counts over every lane so far.
  Summary summary() const;

 private:
  // A cache line each: the lanes append to theirs at once.
  struct alignas(kCacheLine) LaneOutput {
    std::string out;
    Summary summary;
  };
  const RecordWriter* writer_;
  std::vector<LaneOutput> lanes_;
  std::function<bool(std::string_view)> emit_;
};

// The figures of a run beside its counts.
struct RunFigures {
  std::string engine;       // "tiered", "jit" or "interp"
  double seconds = 0;       // deciding: reading, decoding, evaluating, writing
  double load_seconds = 0;  // loading and compiling the policy before that (a tiered run's
                            // background JIT overlaps the deciding and is not in it)
  uint64_t bytes_read = 0;
  const window::WindowState* windows = nullptr;  // its size is shown when active
  // The JSON summary's extra figures (text shows them with --stats).
  double compile_ms = 0, jit_ms = 0;
  uint64_t interpreter_runs = 0;
};
// The run summary people read: lines, speed, decisions per outcome, errors
// by reason, how often each rule fired, the windows' size.
std::string render_summary(const Policy& policy, const Summary& summary, const RunFigures& run);
// The same as one JSON object and a newline (`eval --summary-format json`,
// docs/events.md "Run summary"): for programs, with exact counts.
std::string render_summary_json(const Policy& policy, const Summary& summary, const RunFigures& run);

// Rule `rule`'s fields as records and `serve`'s GET /v1/policy show them:
// `{"name":..,"effect":..,"cite":..` and, when it belongs to a policy,
// `,"policy":..,"status":..,"version":..`, without the closing brace.
// `empty_status`: also an empty status (records leave it out); an undeclared
// version is left out. The policy's source is in audit records' `policies`.
std::string rule_json_fields(const ir::Module& m, size_t rule, bool empty_status);

using ::edict::append_json_string;  // support/text.h, named here for the engine's callers
// 1234567 -> "1,234,567", for summaries people read.
std::string with_commas(uint64_t n);

}  // namespace edict::engine
