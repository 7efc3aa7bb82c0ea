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
  // stateful rules see events in the order they were decided. False, with
  // nothing decided, once this version has handed its windows to the next
  // (the caller decides on the version now serving).
  bool decide(const std::vector<decode::Line>& lines, Decided& out);
  // A reload: gives this version's windows (the state of its windowed
  // aggregates) to `next` when their shapes are the same (the same
  // aggregates, windows, keys and event kinds: window.h's checkpoint
  // fingerprint), and retires this version for decisions, so that every
  // event counts in exactly one version's windows. "kept"; "reset" (the
  // shapes differ, or `next` refused them: `why` says why), and this
  // version keeps deciding the requests already on it; "none" (no windows).
  std::string hand_windows_to(ServedPolicy& next, std::string* why);
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
  bool retired_ = false;  // under mutex_: the windows went to the next version
  engine::Stream stream_;
  // Explanations: a traced copy and its own stream (its windows see only
  // explained events).
  std::unique_ptr<engine::Tracer> tracer_;
  std::unique_ptr<engine::Stream> explain_stream_;
};

}  // namespace edict::server
