// Every file Edict writes goes through here: bytes go to a temporary file
// beside the target, which replaces the target only once everything was
// written, flushed and synced. A failed write, a full disk or a crash leaves
// the old file as it was. Targets that are not regular files (/dev/null,
// /dev/stdout, a pipe) cannot be replaced and are written directly.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>

namespace edict {

class AtomicFile {
 public:
  // Opens the temporary file; nullptr and `error` ("cannot write `path`:
  // reason") when the folder cannot take it.
  static std::unique_ptr<AtomicFile> create(const std::string& path, std::string* error);
  // Reopens the temporary file `temp` of an earlier AtomicFile for `path`
  // (an interrupted run's, named in its checkpoint), cut to `length` bytes,
  // to append to it. Refused, with `error` saying why, unless `temp` is a
  // regular file (not a link) beside `path` named as create() names its
  // temporaries and holds at least `length` bytes: a checkpoint can only
  // name a file this class made for the same target.
  static std::unique_ptr<AtomicFile> resume(const std::string& path, const std::string& temp, uint64_t length,
                                            std::string* error);
  ~AtomicFile();  // removes the temporary file unless committed

  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  std::FILE* stream() { return file_; }
  bool write(std::string_view bytes);
  // Flushes, syncs and renames over the target. False with `error` naming
  // the file and the system error (the target is then untouched).
  bool commit(std::string* error);
  // Flushes and syncs what was written so far without renaming (a
  // checkpoint of a long-running output); the bytes live in temp_path().
  bool sync(std::string* error);
  // Bytes in the file so far (after sync(): on disk).
  uint64_t size() const { return size_; }
  // Closes the file and keeps the temporary one in place, uncommitted (an
  // interrupted run: resume() continues it).
  void keep();
  const std::string& path() const { return path_; }
  const std::string& temp_path() const { return temp_; }

 private:
  AtomicFile() = default;
  std::string path_;    // as given, for messages
  std::string target_;  // what the rename replaces (a symlink's target)
  std::string temp_;    // empty: written directly
  std::FILE* file_ = nullptr;
  int first_errno_ = 0;  // the first write's failure, reported by commit()
  bool committed_ = false;
  uint64_t size_ = 0;
};

// Writes `bytes` to `path` through an AtomicFile.
bool write_file_atomically(const std::string& path, std::string_view bytes, std::string* error);

// The one file Edict appends to rather than replaces: a log (`edict serve
// --decision-log`). Temp-and-rename cannot apply to a file that grows record
// by record, so instead each append() is one whole record or nothing: a
// write that fails part-way (a full disk) is cut back off the file, so the
// log never holds a torn record that a later one follows (and a last line
// without its line break, which a killed run can leave, is cut off when the
// file is opened: the file is taken to be lines). rotate() renames
// the file to FILE.1 (FILE.1 to FILE.2, ...) and starts a new one.
// Its blocks are allocated up to kReserveStep ahead of what was written,
// without changing its size; rotate() and closing give back what was not
// used.
//
// A large append may skip the page cache: its whole file blocks go to the
// disk directly (O_DIRECT, no copy into the cache, nothing to drop after
// the sync) and only its first and last partial blocks are written through
// the cache, so the file never holds padding and its size is always the
// last record's end. Where the file system refuses O_DIRECT, every append
// goes through the cache.
class AppendOnlyFile {
 public:
  static constexpr uint64_t kReserveStep = 16ull << 20;
  // O_DIRECT's alignment of file offsets, lengths and memory (the page
  // size: a multiple of any disk's logical block).
  static constexpr size_t kDirectAlign = 4096;
  // Direct writes of fewer whole blocks than this go through the cache
  // (a small write waits for the disk for no gain).
  static constexpr size_t kDirectMin = 64 << 10;
  static std::unique_ptr<AppendOnlyFile> open(const std::string& path, std::string* error);
  ~AppendOnlyFile();
  AppendOnlyFile(const AppendOnlyFile&) = delete;
  AppendOnlyFile& operator=(const AppendOnlyFile&) = delete;

  // Appends all of `bytes` or (false, `error` with the system's reason)
  // leaves the file as it was. With `direct`, the whole blocks of a large
  // append whose bytes lie at block_offset() from a kDirectAlign-aligned
  // address are written with O_DIRECT (the call then waits for the disk);
  // any other append, or where O_DIRECT is refused, goes through the cache.
  bool append(std::string_view bytes, std::string* error, bool direct = false);
  // Where the next append's first byte falls within a file block.
  size_t block_offset() const { return static_cast<size_t>(size_ % kDirectAlign); }
  // Whether the file takes O_DIRECT writes (false on file systems that
  // refuse them, or after one was refused).
  bool takes_direct() const { return direct_fd_ >= 0; }
  // Bytes the last append wrote with O_DIRECT (for tests and benchmarks).
  uint64_t last_direct_bytes() const { return last_direct_; }
  // fdatasync: what was appended is on disk.
  bool sync(std::string* error);
  // A syncer of what was appended so far, for a thread that syncs while
  // others go on appending (the descriptor is duplicated, so a rotation
  // meanwhile cannot close it under the sync); `sync()` on it, once.
  class Syncer {
   public:
    Syncer(int fd, uint64_t bytes) : fd_(fd), bytes_(bytes) {}
    ~Syncer();
    Syncer(const Syncer&) = delete;
    Syncer& operator=(const Syncer&) = delete;
    bool sync();
    // After a sync: drops the synced bytes' pages from `from` on (rounded
    // down to a page) from the page cache (POSIX_FADV_DONTNEED). For a file
    // that is written and not read back soon (a log): it then holds no
    // memory others could cache with, and the kernel hands those pages to
    // the next appends, which is several times cheaper than new ones on
    // virtual machines.
    void drop_cached(uint64_t from = 0);
    // The file's size when the syncer was made: what sync() covers.
    uint64_t bytes() const { return bytes_; }

   private:
    int fd_;
    uint64_t bytes_;  // the file's size when the syncer was made
  };
  std::unique_ptr<Syncer> syncer() const;
  // Keeps at most `keep` old files (FILE.1 newest); false with `error`.
  bool rotate(unsigned keep, std::string* error);
  uint64_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  AppendOnlyFile() = default;
  bool reopen(std::string* error);
  void reserve_for(uint64_t bytes);
  void release_reserved();
  void cut_torn_tail();
  // Writes `bytes` at the end through the cache; false with `err` set.
  bool write_cached(std::string_view bytes, size_t& done, int& err);
  // Writes whole blocks directly at the end; false when O_DIRECT was
  // refused (the caller goes on through the cache) or failed (`err` set).
  bool write_direct(std::string_view blocks, size_t& done, int& err);
  std::string path_;
  int fd_ = -1;
  int direct_fd_ = -1;  // the same file opened O_DIRECT, or -1
  uint64_t last_direct_ = 0;
  uint64_t size_ = 0;
  // The file's blocks are allocated this far ahead of its size (fallocate
  // with KEEP_SIZE, a hint: a write into allocated blocks costs the file
  // system less than one that allocates them as it goes).
  uint64_t reserved_ = 0;
};

// True when both paths name the same existing file (same device and inode,
// so links and different spellings are caught).
bool same_file(const std::string& a, const std::string& b);

}  // namespace edict
