#include "engine/audit.h"

#include <fmt/format.h>
#define XXH_STATIC_LINKING_ONLY  // XXH3_state_t on the stack
#include <xxhash.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <vector>

#include "support/text.h"

#ifndef EDICT_VERSION
#error "EDICT_VERSION must be defined by the build"
#endif

namespace edict::engine {
namespace {

void append_hex(std::string& out, const XXH128_hash_t& h) {
  XXH128_canonical_t c;
  XXH128_canonicalFromHash(&c, h);
  static constexpr char kDigits[] = "0123456789abcdef";
  for (unsigned char b : c.digest) {
    out += kDigits[b >> 4];
    out += kDigits[b & 15];
  }
}

}  // namespace

AuditStamp::AuditStamp(const Policy& policy, const AuditOptions& options) : options_(options) {
  const ir::Module& m = policy.module();
  // Each file's hash, sorted, then hashed together: naming the same files
  // in another order gives the same policy hash.
  std::vector<XXH128_canonical_t> files;
  if (m.sources)
    for (size_t i = 0; i < m.sources->size(); ++i) {
      const std::string& text = m.sources->file(static_cast<FileId>(i)).text;
      XXH128_canonical_t c;
      XXH128_canonicalFromHash(&c, XXH3_128bits(text.data(), text.size()));
      files.push_back(c);
    }
  std::sort(files.begin(), files.end(), [](const auto& a, const auto& b) {
    return std::memcmp(a.digest, b.digest, sizeof a.digest) < 0;
  });
  const XXH128_hash_t whole = XXH3_128bits(files.data(), files.size() * sizeof(XXH128_canonical_t));
  XXH128_canonical_t canonical;
  XXH128_canonicalFromHash(&canonical, whole);
  std::memcpy(hash_bytes_, canonical.digest, sizeof hash_bytes_);
  policy_hash_ = "xxh3-128:";
  append_hex(policy_hash_, whole);

  // The data read is part of a decision's identity: other data, another id.
  // A policy without data keeps the policy hash alone (the ids as before).
  const std::vector<DataVersion> data = policy.data_versions();
  for (const abi::DataPin& pin : policy.pin_data()) versions_.push_back(pin.snapshot);
  std::string identity(reinterpret_cast<const char*>(hash_bytes_), sizeof hash_bytes_);
  data_json_ = "{";
  for (size_t i = 0; i < data.size(); ++i) {
    if (i) data_json_ += ',';
    append_json_string(data_json_, data[i].name);
    data_json_ += ":{\"hash\":";
    append_json_string(data_json_, data[i].hash);
    data_json_ += ",\"rows\":" + std::to_string(data[i].rows) + ",\"file\":";
    append_json_string(data_json_, data[i].file);
    data_json_ += '}';
    identity += '\0' + data[i].name + '\0' + data[i].hash;
  }
  data_json_ += '}';
  if (!data.empty()) {
    XXH128_canonicalFromHash(&canonical, XXH3_128bits(identity.data(), identity.size()));
    std::memcpy(hash_bytes_, canonical.digest, sizeof hash_bytes_);
  }

  policies_json_ = "[";
  for (size_t i = 0; i < m.policies.size(); ++i) {
    const ir::Policy& p = m.policies[i];
    if (i) policies_json_ += ',';
    policies_json_ += "{\"title\":";
    append_json_string(policies_json_, p.title);
    policies_json_ += ",\"version\":";
    append_json_string(policies_json_, p.version);
    policies_json_ += ",\"status\":";
    append_json_string(policies_json_, p.status);
    policies_json_ += ",\"source\":";
    append_json_string(policies_json_, p.source);
    policies_json_ += '}';
  }
  policies_json_ += ']';
  rebuild_tail();
}

void AuditStamp::rebuild_tail() {
  tail_ = ",\"edict\":\"" EDICT_VERSION "\",\"policy_hash\":\"";
  tail_ += policy_hash_;
  tail_ += "\",\"policies\":";
  tail_ += policies_json_;
  tail_ += ",\"data\":";
  tail_ += data_json_;
  tail_ += ',';
}

bool AuditStamp::names(const std::vector<abi::DataPin>& pins) const {
  if (pins.size() != versions_.size()) return false;
  for (size_t i = 0; i < pins.size(); ++i)
    if (pins[i].snapshot != versions_[i]) return false;
  return true;
}

std::string AuditStamp::decision_id(std::string_view event_text) const {
  XXH3_state_t state;
  XXH3_128bits_reset(&state);
  XXH3_128bits_update(&state, hash_bytes_, sizeof hash_bytes_);
  XXH3_128bits_update(&state, event_text.data(), event_text.size());
  std::string id = "d-";
  append_hex(id, XXH3_128bits_digest(&state));
  return id;
}

void AuditStamp::open_record(std::string& out, std::string_view event_text, std::string_view time) const {
  out += "{\"schema\":";
  out += static_cast<char>('0' + kRecordSchemaVersion);
  out += ",\"decision_id\":\"";
  out += decision_id(event_text);
  out += '"';
  if (options_.decision_time) {
    out += ",\"time\":\"";
    out += time;
    out += '"';
  }
  out += tail_;
}

std::string AuditStamp::now_text() {
  const auto now = std::chrono::system_clock::now();
  const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count();
  const std::time_t seconds = static_cast<std::time_t>(micros / 1'000'000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z", utc.tm_year + 1900, utc.tm_mon + 1,
                     utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, micros % 1'000'000);
}

}  // namespace edict::engine
