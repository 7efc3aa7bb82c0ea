// The audit part of a decision record (docs/events.md, "Audit records"):
// the schema version, a reproducible decision id, the decision time, the
// policy's content hash, versions and statuses, the data versions and
// Edict's version. `edict eval --audit`, `edict serve` and its decision log
// write it through RecordWriter, which calls open_record() first for every
// record, so every consumer's records carry the same fields in one place.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "engine/engine.h"

namespace edict::engine {

// The version of the audit record's schema: raised when a field changes
// meaning or goes away (adding a field keeps it).
inline constexpr int kRecordSchemaVersion = 1;

struct AuditOptions {
  // false: no "time" field, so the same events and policy give
  // byte-identical records (regression diffs, `eval --replay`).
  bool decision_time = true;
};

class AuditStamp {
 public:
  AuditStamp(const Policy& policy, const AuditOptions& options);

  // "xxh3-128:<32 hex digits>": the policy's content hash, over the text of
  // every source file the policy was compiled from (imports included), in
  // an order that does not depend on the order files were named in.
  const std::string& policy_hash() const { return policy_hash_; }
  // The data sources' versions as one JSON object, `{}` for a policy that
  // reads no data: {"NAME":{"hash":"sha256:..","rows":N,"file":".."},..},
  // as loaded when the stamp was made (a stamp is made per loaded version).
  const std::string& data_versions() const { return data_json_; }
  // The policies' titles, versions and statuses as a JSON array (as in records).
  const std::string& policies() const { return policies_json_; }
  bool decision_time() const { return options_.decision_time; }
  // True when the stamp names exactly these versions of the policy's data
  // (a batch's PinnedVersions): else a consumer whose data may be replaced
  // makes a new stamp for the batch.
  bool names(const std::vector<abi::DataPin>& pins) const;

  // "d-<32 hex digits>": derived from the policy hash, the data versions
  // (when the policy reads data) and the event's text (the line as read), so
  // the same event under the same policy and data always gets the same id.
  std::string decision_id(std::string_view event_text) const;
  // Appends `{"schema":1,"decision_id":..,["time":..,]"edict":..,"policy_hash":..,
  // "policies":[..],"data":..,` -- a record's opening, which the caller
  // continues with `"line":`. `time` is the batch's decision time
  // (now_text()), ignored without AuditOptions::decision_time.
  void open_record(std::string& out, std::string_view event_text, std::string_view time) const;
  // The current time as RFC 3339 UTC with microseconds.
  static std::string now_text();

 private:
  void rebuild_tail();
  AuditOptions options_;
  std::string policy_hash_;
  unsigned char hash_bytes_[16] = {};  // the policy hash, with the data versions mixed in
  std::string policies_json_;          // [{"title":..,"version":..,"status":..},..]
  std::string data_json_ = "{}";
  std::vector<const abi::DataSnapshot*> versions_;  // what data_json_ names, in declaration order
  std::string tail_;                                // the fields after the time, up to `"line":`
};

}  // namespace edict::engine
