// The server's counters, rendered in the Prometheus text format (GET
// /metrics; docs/operations.md lists them).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "engine/output.h"

namespace edict::server {

class Metrics {
 public:
  // Upper bounds of the latency histogram, in seconds.
  static constexpr std::array<double, 12> kBuckets{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                   0.01,   0.025,   0.05,   0.1,   0.5,    1.0};

  void request(const std::string& endpoint, int status, double seconds);
  // The decisions of one request (rule and outcome names from `policy`).
  void decisions(const engine::Policy& policy, const engine::Summary& summary);
  void error(const std::string& reason);
  void reload(bool ok, double compile_seconds);
  // The decision log's figures (all 0 without one).
  struct LogFigures {
    uint64_t bytes = 0, rotations = 0, direct_bytes = 0;
  };
  std::string render(const LogFigures& log, uint64_t policy_version) const;

 private:
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;
  std::map<std::string, uint64_t> decisions_, rules_, errors_;
  std::array<uint64_t, kBuckets.size()> latency_buckets_{};
  uint64_t latency_count_ = 0;
  double latency_sum_ = 0;
  uint64_t reloads_ok_ = 0, reloads_failed_ = 0;
  double compile_seconds_ = 0;
};

}  // namespace edict::server
