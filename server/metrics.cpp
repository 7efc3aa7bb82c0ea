#include "server/metrics.h"

#include <fmt/format.h>

namespace edict::server {

namespace {
// A label value with `\`, `"` and newlines escaped, as the text format asks.
std::string label(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}
}  // namespace

void Metrics::request(const std::string& endpoint, int status, double seconds) {
  std::lock_guard lock(mutex_);
  ++requests_[{endpoint, status}];
  ++latency_count_;
  latency_sum_ += seconds;
  for (size_t b = 0; b < kBuckets.size(); ++b)
    if (seconds <= kBuckets[b]) ++latency_buckets_[b];
}

void Metrics::decisions(const engine::Policy& policy, const engine::Summary& summary) {
  const ir::Module& m = policy.module();
  std::lock_guard lock(mutex_);
  for (size_t d = 0; d < summary.per_decision.size() && d < m.outcomes.size(); ++d)
    if (summary.per_decision[d]) decisions_[m.outcomes[d]] += summary.per_decision[d];
  if (summary.errors) decisions_["error"] += summary.errors;
  for (size_t r = 0; r < summary.per_rule.size() && r < m.rules.size(); ++r)
    if (summary.per_rule[r]) rules_[m.rules[r].name] += summary.per_rule[r];
  for (const auto& [reason, n] : summary.error_reasons) errors_[reason] += n;
}

void Metrics::error(const std::string& reason) {
  std::lock_guard lock(mutex_);
  ++errors_[reason];
}

void Metrics::reload(bool ok, double compile_seconds) {
  std::lock_guard lock(mutex_);
  ++(ok ? reloads_ok_ : reloads_failed_);
  if (ok) compile_seconds_ = compile_seconds;
}

std::string Metrics::render(const LogFigures& log, uint64_t policy_version) const {
  std::lock_guard lock(mutex_);
  std::string s;
  s += "# HELP edict_requests_total HTTP requests by endpoint and status code.\n"
       "# TYPE edict_requests_total counter\n";
  for (const auto& [key, n] : requests_)
    s += fmt::format("edict_requests_total{{endpoint=\"{}\",code=\"{}\"}} {}\n", label(key.first), key.second,
                     n);
  s += "# HELP edict_decisions_total Decisions by outcome (error: decided as error).\n"
       "# TYPE edict_decisions_total counter\n";
  for (const auto& [d, n] : decisions_)
    s += fmt::format("edict_decisions_total{{decision=\"{}\"}} {}\n", label(d), n);
  s += "# HELP edict_rule_fired_total Times each rule fired.\n# TYPE edict_rule_fired_total counter\n";
  for (const auto& [r, n] : rules_)
    s += fmt::format("edict_rule_fired_total{{rule=\"{}\"}} {}\n", label(r), n);
  s += "# HELP edict_errors_total Errors by reason (event errors and request errors).\n"
       "# TYPE edict_errors_total counter\n";
  for (const auto& [r, n] : errors_)
    s += fmt::format("edict_errors_total{{reason=\"{}\"}} {}\n", label(r), n);
  s += "# HELP edict_request_duration_seconds Time from request read to response written.\n"
       "# TYPE edict_request_duration_seconds histogram\n";
  for (size_t b = 0; b < kBuckets.size(); ++b)
    s += fmt::format("edict_request_duration_seconds_bucket{{le=\"{}\"}} {}\n", kBuckets[b],
                     latency_buckets_[b]);
  s += fmt::format("edict_request_duration_seconds_bucket{{le=\"+Inf\"}} {}\n", latency_count_);
  s += fmt::format("edict_request_duration_seconds_sum {:.6f}\n", latency_sum_);
  s += fmt::format("edict_request_duration_seconds_count {}\n", latency_count_);
  s += fmt::format(
      "# HELP edict_policy_compile_seconds Compile time of the policy version serving.\n"
      "# TYPE edict_policy_compile_seconds gauge\nedict_policy_compile_seconds {:.6f}\n"
      "# HELP edict_policy_version Policy versions loaded so far (1: the first).\n"
      "# TYPE edict_policy_version gauge\nedict_policy_version {}\n"
      "# HELP edict_reloads_total Policy loads by result (the first load included).\n# TYPE "
      "edict_reloads_total counter\n"
      "edict_reloads_total{{result=\"ok\"}} {}\nedict_reloads_total{{result=\"failed\"}} {}\n"
      "# HELP edict_decision_log_bytes Size of the current decision log file.\n"
      "# TYPE edict_decision_log_bytes gauge\nedict_decision_log_bytes {}\n"
      "# HELP edict_decision_log_rotations_total Decision log rotations.\n"
      "# TYPE edict_decision_log_rotations_total counter\nedict_decision_log_rotations_total {}\n"
      "# HELP edict_decision_log_direct_bytes_total Decision log bytes written to the disk directly "
      "(O_DIRECT), not through the page cache.\n"
      "# TYPE edict_decision_log_direct_bytes_total counter\nedict_decision_log_direct_bytes_total {}\n",
      compile_seconds_, policy_version, reloads_ok_, reloads_failed_, log.bytes, log.rotations,
      log.direct_bytes);
  return s;
}

}  // namespace edict::server
