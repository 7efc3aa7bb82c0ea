#include "server/decision_log.h"

namespace edict::server {

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
  if (fsync == FsyncPolicy::Interval) log->syncer_ = std::thread([l = log.get()] { l->sync_loop(); });
  return log;
}

DecisionLog::~DecisionLog() {
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
    // The sync runs without the log's lock: an fdatasync can take long on a
    // busy disk, and appends (requests) must not wait for it.
    std::unique_ptr<AppendOnlyFile::Syncer> syncer;
    uint64_t rotations = 0;
    {
      std::lock_guard lock(mutex_);
      if (!dirty_) continue;
      syncer = file_->syncer();
      rotations = rotations_;
      dirty_ = false;
    }
    if (!syncer->sync()) {
      std::lock_guard lock(mutex_);
      dirty_ = true;  // tried again next time; a failing disk shows in the next append
      continue;
    }
    // Nothing reads the log back while it is written: its pages are let go
    // once on disk, and the next appends reuse them (docs/operations.md).
    // From where the last drop ended (a rotation starts the file anew).
    syncer->drop_cached(rotations == dropped_rotations_ ? dropped_ : 0);
    dropped_ = syncer->bytes();
    dropped_rotations_ = rotations;
  }
}

DecisionLog::Result DecisionLog::append(std::string_view records, std::string* error) {
  std::unique_lock lock(mutex_, std::defer_lock);
  if (!lock.try_lock_for(wait_)) return Result::Busy;
  if (rotate_bytes_ > 0 && file_->size() > 0 && file_->size() + records.size() > rotate_bytes_) {
    if (!file_->rotate(keep_, error)) return Result::Failed;
    ++rotations_;
  }
  if (!file_->append(records, error)) return Result::Failed;
  if (fsync_ == FsyncPolicy::Always && !file_->sync(error)) return Result::Failed;
  dirty_ = true;
  bytes_ = file_->size();
  return Result::Ok;
}

}  // namespace edict::server
