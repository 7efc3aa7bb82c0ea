#include "server/decision_log.h"

#include <sys/mman.h>

#include <algorithm>
#include <new>

namespace edict::server {

void LogLines::grow(size_t at_least) {
  // In 2 MB pages where the buffer is that large: a direct write pins each
  // page of its buffer, and one huge page pins for 512 small ones.
  constexpr size_t kHugePage = 2 << 20;
  const size_t wanted = std::max(at_least, 2 * capacity_);
  const size_t page = wanted >= kHugePage ? kHugePage : AppendOnlyFile::kDirectAlign;
  const size_t capacity = (wanted + page - 1) / page * page;
  char* base = static_cast<char*>(std::aligned_alloc(page, capacity));
  if (!base) throw std::bad_alloc();
  if (page == kHugePage) (void)::madvise(base, capacity, MADV_HUGEPAGE);
  if (base_) std::memcpy(base + offset_, base_ + offset_, size_);
  std::free(base_);
  base_ = base;
  capacity_ = capacity;
}

void LogLines::realign(size_t offset) {
  if (offset == offset_) return;
  if (offset + size_ > capacity_) grow(offset + size_);
  std::memmove(base_ + offset, base_ + offset_, size_);
  offset_ = offset;
}

struct DecisionLog::Write {
  std::string_view bytes;
  std::chrono::steady_clock::time_point deadline;  // its turn comes by then, or it is not written
  bool started = false, done = false, ok = false;  // under mutex_
  std::string error;
};

std::unique_ptr<DecisionLog> DecisionLog::open(const std::string& path, FsyncPolicy fsync,
                                               uint64_t rotate_bytes, unsigned keep,
                                               std::chrono::milliseconds wait, std::string* error) {
  std::unique_ptr<DecisionLog> log(new DecisionLog());
  log->file_ = AppendOnlyFile::open(path, error);
  if (!log->file_) return nullptr;
  log->fsync_ = fsync;
  log->rotate_bytes_ = rotate_bytes;
  log->keep_ = keep;
  log->wait_ = wait;
  log->bytes_ = log->file_->size();
  log->predicted_end_ = log->file_->size();
  log->next_offset_ = log->file_->block_offset();
  log->writer_ = std::thread([l = log.get()] { l->write_loop(); });
  if (fsync == FsyncPolicy::Interval) log->syncer_ = std::thread([l = log.get()] { l->sync_loop(); });
  return log;
}

DecisionLog::~DecisionLog() {
  {
    std::lock_guard lock(mutex_);
    stop_writer_ = true;  // the writer first writes what is queued
  }
  changed_.notify_all();
  if (writer_.joinable()) writer_.join();
  {
    std::lock_guard lock(stop_mutex_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  if (syncer_.joinable()) syncer_.join();
  std::string ignored;
  if (file_) file_->sync(&ignored);
}

void DecisionLog::sync_loop() {
  std::unique_lock stop(stop_mutex_);
  while (!stop_cv_.wait_for(stop, std::chrono::milliseconds(100), [&] { return stopping_; })) {
    // The sync runs without the log's locks: an fdatasync can take long on
    // a busy disk, and appends (requests) must not wait for it.
    std::unique_ptr<AppendOnlyFile::Syncer> syncer;
    uint64_t rotations = 0;
    {
      std::lock_guard lock(file_mutex_);
      if (!dirty_) continue;
      syncer = file_->syncer();
      rotations = rotations_;
      dirty_ = false;
    }
    if (!syncer->sync()) {
      std::lock_guard lock(file_mutex_);
      dirty_ = true;  // tried again next time; a failing disk shows in the next append
      continue;
    }
    // Nothing reads the log back while it is written: the pages that went
    // through the cache are let go once on disk, and the next appends reuse
    // them (docs/operations.md). From where the last drop ended (a rotation
    // starts the file anew).
    syncer->drop_cached(rotations == dropped_rotations_ ? dropped_ : 0);
    dropped_ = syncer->bytes();
    dropped_rotations_ = rotations;
  }
}

bool DecisionLog::write_now(std::string_view records, bool direct, std::string* error) {
  if (rotate_bytes_ > 0 && file_->size() > 0 && file_->size() + records.size() > rotate_bytes_) {
    if (!file_->rotate(keep_, error)) return false;
    ++rotations_;
  }
  if (!file_->append(records, error, direct)) return false;
  direct_bytes_ += file_->last_direct_bytes();
  if (fsync_ == FsyncPolicy::Always && !file_->sync(error)) return false;
  dirty_ = true;
  bytes_ = file_->size();
  return true;
}

// The same rotation rule as write_now's, on the predicted end.
void DecisionLog::predict_end(uint64_t bytes) {
  if (rotate_bytes_ > 0 && predicted_end_ > 0 && predicted_end_ + bytes > rotate_bytes_) predicted_end_ = 0;
  predicted_end_ += bytes;
  next_offset_.store(static_cast<size_t>(predicted_end_ % AppendOnlyFile::kDirectAlign),
                     std::memory_order_relaxed);
}

DecisionLog::Ticket DecisionLog::enqueue(std::string_view records) {
  auto write = std::make_shared<Write>();
  write->bytes = records;
  write->deadline = std::chrono::steady_clock::now() + wait_;
  predict_end(records.size());
  queue_.push_back(write);
  changed_.notify_all();
  return write;
}

DecisionLog::Result DecisionLog::append(std::string_view records, std::string* error) {
  std::unique_lock lock(mutex_, std::defer_lock);
  if (!lock.try_lock_for(wait_)) return Result::Busy;
  if (writing_ || !queue_.empty()) {
    // Behind the writer's: its turn comes after theirs.
    Ticket write = enqueue(records);
    lock.unlock();
    return wait(write, error);
  }
  std::lock_guard file(file_mutex_);
  const bool ok = write_now(records, false, error);
  predicted_end_ = file_->size();
  next_offset_.store(file_->block_offset(), std::memory_order_relaxed);
  return ok ? Result::Ok : Result::Failed;
}

DecisionLog::Ticket DecisionLog::submit(LogLines& lines) {
  std::unique_lock lock(mutex_, std::defer_lock);
  if (!lock.try_lock_for(wait_)) return nullptr;
  const uint64_t start = predicted_end_;
  const bool rotates = rotate_bytes_ > 0 && start > 0 && start + lines.text().size() > rotate_bytes_;
  lines.realign(rotates ? 0 : static_cast<size_t>(start % AppendOnlyFile::kDirectAlign));
  return enqueue(lines.text());
}

DecisionLog::Result DecisionLog::wait(const Ticket& write, std::string* error) {
  if (!write) return Result::Busy;
  std::unique_lock lock(mutex_);
  if (!changed_.wait_until(lock, write->deadline, [&] { return write->started; })) {
    // Its turn did not come: it leaves the queue unwritten.
    queue_.erase(std::find(queue_.begin(), queue_.end(), write));
    if (queue_.empty() && !writing_) {
      predicted_end_ = bytes_;
      next_offset_.store(static_cast<size_t>(predicted_end_ % AppendOnlyFile::kDirectAlign),
                         std::memory_order_relaxed);
    }
    return Result::Busy;
  }
  changed_.wait(lock, [&] { return write->done; });
  if (write->ok) return Result::Ok;
  *error = write->error;
  return Result::Failed;
}

void DecisionLog::write_loop() {
  std::unique_lock lock(mutex_);
  for (;;) {
    changed_.wait(lock, [&] { return !queue_.empty() || stop_writer_; });
    if (queue_.empty()) return;
    Ticket write = queue_.front();
    write->started = true;
    writing_ = true;
    changed_.notify_all();
    lock.unlock();
    uint64_t end = 0;
    {
      std::lock_guard file(file_mutex_);
      write->ok = write_now(write->bytes, true, &write->error);
      end = file_->size();
    }
    lock.lock();
    queue_.pop_front();
    writing_ = false;
    write->done = true;
    if (queue_.empty()) {  // the prediction is the file's end again (a failed write moved it)
      predicted_end_ = end;
      next_offset_.store(static_cast<size_t>(end % AppendOnlyFile::kDirectAlign), std::memory_order_relaxed);
    }
    changed_.notify_all();
  }
}

}  // namespace edict::server
