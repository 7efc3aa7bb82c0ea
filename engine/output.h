// Decision records: one per input line, JSON Lines or CSV, written in input
// order, and the run summary (counts per decision, errors by reason).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "engine/message_template.h"
#include "engine/record_buffer.h"

namespace edict::engine {

class Tracer;

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
  // Message functions run here (interpreter) for fired rules; a message that
  // faults turns the event's decision into `error` naming that rule.
  void write(const abi::Batch& batch, const Results& results, std::string& out, Summary& summary) const;
  // CSV header line (empty for JSONL).
  std::string header() const;
  // `eval --explain` (JSONL only): each fired rule's record gains the
  // condition trees its `when`/`unless` saw ("conditions", docs/events.md).
  void explain_with(const Tracer* tracer) { tracer_ = tracer; }

 private:
  // A record whose decision stands and whose fired rules' messages all have
  // templates that do not fault on the row (nearly every record): written
  // from precomputed pieces. False, with nothing written, for any other.
  bool write_fast(RecordBuffer& out, const abi::Batch& batch, const Results& results,
                  const EdictColumns& columns, uint32_t row, std::string_view line, Summary& summary) const;
  // Any record: messages from the interpreter, faults, errors, explanations.
  void write_general(std::string& out, const abi::Batch& batch, const Results& results,
                     const EdictColumns& columns, uint32_t row, Summary& summary) const;

  const Policy* policy_;
  OutputFormat format_;
  const Tracer* tracer_ = nullptr;
  size_t kinds_ = 0, outcomes_ = 0;
  std::vector<std::string> rule_prefix_;  // JSON `{"name":..,"effect":..,"cite":..` per rule
  // JSONL: rule_prefix_ + `,"message":"`; CSV: the rule's name.
  std::vector<std::string> rule_open_;
  // Per (kind, outcome): JSONL `,"kind":"K","decision":"D","rules":[`, CSV
  // `,K,D,`; then the same closing a record without rules.
  std::vector<std::string> kind_decision_;
  MessageTemplates messages_;  // per (rule, kind)
};

using ::edict::append_json_string;  // support/text.h, named here for the engine's callers
// 1234567 -> "1,234,567", for summaries people read.
std::string with_commas(uint64_t n);
// "integer overflow in rule `r` (policies/x.edict:12:5)"
std::string fault_message(const Policy& policy, uint32_t rule, uint32_t site, ir::FaultReason reason);

}  // namespace edict::engine
