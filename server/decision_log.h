// The decision log: every decision record the server returns is appended
// here first (support/atomic_file.h's AppendOnlyFile: whole records only).
// One writer at a time; a request waits at most `wait` for its turn and is
// refused (503 + Retry-After) rather than queued without bound, and a failed
// append (a full disk) refuses the request: no decision is returned that
// the log does not hold.
//
// Two ways in: append() writes a request's lines on the caller's thread
// (through the page cache: one event's line, where waiting for the disk
// would cost more than the copy); submit() and wait() hand a streamed
// chunk's lines to the log's writer thread, which writes their whole blocks
// directly to the disk (O_DIRECT) while the caller decides its next chunk
// (docs/operations.md, "Decision log").
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "support/atomic_file.h"

namespace edict::server {

enum class FsyncPolicy { Always, Interval, Never };

// Log lines built in place where a direct write can take them: the text
// starts `offset` bytes past a page-aligned address, `offset` being where
// the log's next byte falls in a file block, so the whole blocks between
// the first and last partial ones are aligned in memory and in the file.
// Its room is kept from one use to the next (a connection's buffer).
class LogLines {
 public:
  LogLines() = default;
  LogLines(const LogLines&) = delete;
  LogLines& operator=(const LogLines&) = delete;
  ~LogLines() { std::free(base_); }

  // Empties it; the text will start `offset` (< 4096) bytes into a page.
  void clear(size_t offset) {
    offset_ = offset;
    size_ = 0;
  }
  // Room for `bytes` more, so that the appends after it need no check.
  void reserve_more(size_t bytes) {
    if (offset_ + size_ + bytes > capacity_) grow(offset_ + size_ + bytes);
  }
  // Appends after reserve_more() made room.
  void put(std::string_view s) {
    std::memcpy(base_ + offset_ + size_, s.data(), s.size());
    size_ += s.size();
  }
  void put(char c) { base_[offset_ + size_++] = c; }
  void append(std::string_view s) {
    reserve_more(s.size());
    put(s);
  }
  // Moves the text to start `offset` bytes into a page (the log's end
  // moved since clear()).
  void realign(size_t offset);
  std::string_view text() const { return {base_ + offset_, size_}; }
  // Gives its room back (a buffer grown for a huge request).
  void release() {
    std::free(base_);
    base_ = nullptr;
    capacity_ = offset_ = size_ = 0;
  }
  size_t capacity() const { return capacity_; }
  size_t offset() const { return offset_; }

 private:
  void grow(size_t at_least);
  char* base_ = nullptr;  // page-aligned
  size_t capacity_ = 0, offset_ = 0, size_ = 0;
};

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

  // A write handed to the writer thread.
  struct Write;
  using Ticket = std::shared_ptr<Write>;
  // Where the log's next byte will fall in a file block (for LogLines::clear).
  size_t next_block_offset() const { return next_offset_.load(std::memory_order_relaxed); }
  // Hands `lines` to the writer thread, to be appended after everything
  // handed or appended before (moved to the right place in their page
  // first, if the log's end moved since they were laid out). `lines` must
  // stay untouched until wait() returned.
  Ticket submit(LogLines& lines);
  // Waits for `ticket`'s write: Ok once its lines are in the log (as after
  // append()); Busy when its turn did not come within the wait (it is then
  // not written); Failed (with `error`) when the write failed.
  Result wait(const Ticket& ticket, std::string* error);

  uint64_t bytes() const { return bytes_.load(); }
  uint64_t rotations() const { return rotations_.load(); }
  // Bytes written to the disk directly, bypassing the page cache.
  uint64_t direct_bytes() const { return direct_bytes_.load(); }

 private:
  DecisionLog() = default;
  void sync_loop();
  void write_loop();
  // Appends on the caller's thread; file_mutex_ held.
  bool write_now(std::string_view records, bool direct, std::string* error);
  Ticket enqueue(std::string_view records);  // mutex_ held
  void predict_end(uint64_t bytes);          // mutex_ held

  // Under mutex_: the queue of writes and the predicted end of the log
  // (what was appended or queued; a refused or cancelled write makes it
  // wrong, which only costs the next writes their direct path).
  std::timed_mutex mutex_;
  std::condition_variable_any changed_;
  std::deque<Ticket> queue_;
  bool writing_ = false;  // the writer holds queue_.front()
  bool stop_writer_ = false;
  uint64_t predicted_end_ = 0;
  std::atomic<size_t> next_offset_{0};
  std::thread writer_;

  // Under file_mutex_ (taken after mutex_ when both are): the file.
  std::mutex file_mutex_;
  std::unique_ptr<AppendOnlyFile> file_;
  bool dirty_ = false;  // appended since the last sync
  FsyncPolicy fsync_ = FsyncPolicy::Interval;
  uint64_t rotate_bytes_ = 0;
  unsigned keep_ = 0;
  std::chrono::milliseconds wait_{200};
  std::atomic<uint64_t> bytes_{0}, rotations_{0}, direct_bytes_{0};
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
