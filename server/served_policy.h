// One policy version as the server serves it: the compiled policy, its audit
// stamp and record writer, and the Stream every decision of this version
// goes through. A version lives while a request holds it (shared_ptr), so a
// reload never pulls it from under a request in flight.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "engine/audit.h"
#include "engine/output.h"
#include "engine/stream.h"
#include "engine/trace.h"
#include "server/server.h"

namespace edict::server {

// The records of one request's lines and their counts.
struct Decided {
  std::string records;
  engine::Summary summary;
};

class ServedPolicy {
 public:
  ServedPolicy(std::unique_ptr<LoadedPolicy> loaded, uint64_t version, const ServerOptions& options);

  // Decides `lines` (their texts padded as decode::Line requires) in order
  // into audit records. One request at a time per version: the windows of
  // stateful rules see events in the order they were decided.
  void decide(const std::vector<decode::Line>& lines, Decided& out);
  // The explanation of one event (JSON text): every rule with the values
  // its conditions saw, as `edict explain --format json` prints it.
  std::string explain(std::string_view event);
  // GET /v1/policy's body.
  std::string describe() const;

  const engine::Policy& policy() const { return *loaded_->policy; }
  const engine::AuditStamp& stamp() const { return stamp_; }
  uint64_t version() const { return version_; }

 private:
  std::unique_ptr<LoadedPolicy> loaded_;
  uint64_t version_;
  std::string loaded_at_;
  engine::AuditStamp stamp_;
  engine::RecordWriter writer_;
  std::mutex mutex_;
  engine::Stream stream_;
  // Explanations: a traced copy and its own stream (its windows see only
  // explained events).
  std::unique_ptr<engine::Tracer> tracer_;
  std::unique_ptr<engine::Stream> explain_stream_;
};

// Splits a JSON Lines body into lines numbered from 1 (`whole`: the body is
// one JSON text). The body gets decode's padding appended, so the lines
// point into it: it must outlive them and not change.
std::vector<decode::Line> body_lines(std::string& body, bool whole, size_t max_line_bytes);

}  // namespace edict::server
