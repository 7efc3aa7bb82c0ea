// The decision log: every decision record the server returns is appended
// here first (support/atomic_file.h's AppendOnlyFile: whole records only).
// One writer at a time; a request waits at most `wait` for its turn and is
// refused (503 + Retry-After) rather than queued without bound, and a failed
// append (a full disk) refuses the request: no decision is returned that
// the log does not hold.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "support/atomic_file.h"

namespace edict::server {

enum class FsyncPolicy { Always, Interval, Never };

class DecisionLog {
 public:
  enum class Result { Ok, Busy, Failed };
  static std::unique_ptr<DecisionLog> open(const std::string& path, FsyncPolicy fsync, uint64_t rotate_bytes,
                                           unsigned keep, std::chrono::milliseconds wait, std::string* error);
  ~DecisionLog();

  // Appends `records` (whole lines) before the caller answers; Busy when
  // the log stayed taken for the wait, Failed (with `error`) when the write
  // failed and nothing was appended.
  Result append(std::string_view records, std::string* error);
  uint64_t bytes() const { return bytes_.load(); }
  uint64_t rotations() const { return rotations_.load(); }

 private:
  DecisionLog() = default;
  void sync_loop();
  std::timed_mutex mutex_;
  std::unique_ptr<AppendOnlyFile> file_;
  FsyncPolicy fsync_ = FsyncPolicy::Interval;
  uint64_t rotate_bytes_ = 0;
  unsigned keep_ = 0;
  std::chrono::milliseconds wait_{200};
  std::atomic<uint64_t> bytes_{0}, rotations_{0};
  bool dirty_ = false;  // appended since the last sync (under mutex_)
  // The syncer's own: the log's pages before `dropped_` left the page
  // cache, in the file of rotation `dropped_rotations_`.
  uint64_t dropped_ = 0, dropped_rotations_ = 0;
  // The interval policy's syncing thread.
  std::mutex stop_mutex_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  std::thread syncer_;
};

}  // namespace edict::server
