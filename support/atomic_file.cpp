#include "support/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

namespace edict {
namespace {

std::string failure(const std::string& path, int err) {
  return "cannot write `" + path + "`: " + std::strerror(err);
}

// Where `path`'s temporaries live and what they replace: beside the target
// (a symlink's target, so the link survives and the rename stays on one file
// system), named `.NAME.edict-` and six characters of mkstemp's.
struct TempNaming {
  std::string target;
  std::string prefix;
};
TempNaming temp_naming(const std::string& path, bool exists) {
  std::error_code ec;
  std::filesystem::path target = exists ? std::filesystem::canonical(path, ec) : std::filesystem::path(path);
  if (ec) target = path;
  const std::filesystem::path dir = target.parent_path();
  return {target.string(),
          (dir.empty() ? std::string() : dir.string() + "/") + "." + target.filename().string() + ".edict-"};
}

}  // namespace

std::unique_ptr<AtomicFile> AtomicFile::create(const std::string& path, std::string* error) {
  std::unique_ptr<AtomicFile> f(new AtomicFile());
  f->path_ = path;
  struct stat st {};
  const bool exists = ::stat(path.c_str(), &st) == 0;
  if (exists && !S_ISREG(st.st_mode)) {
    if (S_ISDIR(st.st_mode)) {
      *error = "cannot write `" + path + "`: it is a folder";
      return nullptr;
    }
    f->file_ = std::fopen(path.c_str(), "wb");
    if (!f->file_) {
      *error = failure(path, errno);
      return nullptr;
    }
    return f;
  }
  const TempNaming naming = temp_naming(path, exists);
  std::string pattern = naming.prefix + "XXXXXX";
  int fd = ::mkstemp(pattern.data());
  if (fd < 0) {
    *error = failure(path, errno);
    return nullptr;
  }
  // mkstemp makes the file 0600; give it the old file's mode, or the usual
  // 0666 less the umask for a new one.
  mode_t mode = exists ? (st.st_mode & 07777) : 0;
  if (!exists) {
    mode_t mask = ::umask(0);
    ::umask(mask);
    mode = 0666 & ~mask;
  }
  (void)::fchmod(fd, mode);
  f->file_ = ::fdopen(fd, "wb");
  if (!f->file_) {
    int err = errno;
    ::close(fd);
    ::unlink(pattern.c_str());
    *error = failure(path, err);
    return nullptr;
  }
  f->temp_ = pattern;
  f->target_ = naming.target;
  return f;
}

std::unique_ptr<AtomicFile> AtomicFile::resume(const std::string& path, const std::string& temp,
                                               uint64_t length, std::string* error) {
  auto refuse = [&](const std::string& why) {
    *error = "cannot continue `" + path + "` in `" + temp + "`: " + why;
    return nullptr;
  };
  std::unique_ptr<AtomicFile> f(new AtomicFile());
  f->path_ = path;
  struct stat st {};
  const bool exists = ::stat(path.c_str(), &st) == 0;
  if (exists && !S_ISREG(st.st_mode)) return refuse("it is not a regular file");
  const TempNaming naming = temp_naming(path, exists);
  const std::string& prefix = naming.prefix;
  if (temp.size() != prefix.size() + 6 || temp.compare(0, prefix.size(), prefix) != 0 ||
      temp.find('/', prefix.size()) != std::string::npos)
    return refuse("not a temporary file of it");
  int fd = ::open(temp.c_str(), O_RDWR | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return refuse(errno == ENOENT ? "it no longer exists" : std::strerror(errno));
  struct stat ts {};
  if (::fstat(fd, &ts) != 0 || !S_ISREG(ts.st_mode)) {
    ::close(fd);
    return refuse("not a regular file");
  }
  if (static_cast<uint64_t>(ts.st_size) < length) {
    ::close(fd);
    return refuse("it holds " + std::to_string(ts.st_size) + " bytes, fewer than the " +
                  std::to_string(length) + " written before the checkpoint");
  }
  if (::ftruncate(fd, static_cast<off_t>(length)) != 0 || ::lseek(fd, 0, SEEK_END) < 0) {
    int err = errno;
    ::close(fd);
    return refuse(std::strerror(err));
  }
  f->file_ = ::fdopen(fd, "ab");
  if (!f->file_) {
    int err = errno;
    ::close(fd);
    return refuse(std::strerror(err));
  }
  f->temp_ = temp;
  f->target_ = naming.target;
  f->size_ = length;
  return f;
}

void AtomicFile::keep() {
  if (file_) std::fclose(file_);
  file_ = nullptr;
  committed_ = true;  // not removed by the destructor
}

AtomicFile::~AtomicFile() {
  if (file_) std::fclose(file_);
  if (!committed_ && !temp_.empty()) ::unlink(temp_.c_str());
}

bool AtomicFile::write(std::string_view bytes) {
  if (bytes.empty()) return first_errno_ == 0;
  if (std::fwrite(bytes.data(), 1, bytes.size(), file_) != bytes.size() && first_errno_ == 0)
    first_errno_ = errno ? errno : EIO;
  size_ += bytes.size();
  return first_errno_ == 0;
}

bool AtomicFile::sync(std::string* error) {
  if (first_errno_ == 0 && std::fflush(file_) != 0) first_errno_ = errno;
  // fsync fails with EINVAL on what cannot be synced (a pipe, /dev/null).
  if (first_errno_ == 0 && ::fsync(::fileno(file_)) != 0 && errno != EINVAL && errno != EROFS)
    first_errno_ = errno;
  if (first_errno_ == 0) return true;
  *error = failure(path_, first_errno_);
  return false;
}

bool AtomicFile::commit(std::string* error) {
  if (!sync(error)) return false;
  int closed = std::fclose(file_);
  file_ = nullptr;
  if (closed != 0) {
    *error = failure(path_, errno);
    return false;
  }
  if (temp_.empty()) return committed_ = true;
  if (std::rename(temp_.c_str(), target_.c_str()) != 0) {
    *error = failure(path_, errno);
    return false;
  }
  committed_ = true;
  // Make the rename itself durable.
  std::string dir = std::filesystem::path(target_).parent_path().string();
  int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    (void)::fsync(dfd);
    ::close(dfd);
  }
  return true;
}

bool write_file_atomically(const std::string& path, std::string_view bytes, std::string* error) {
  std::unique_ptr<AtomicFile> f = AtomicFile::create(path, error);
  if (!f) return false;
  f->write(bytes);
  return f->commit(error);
}

bool same_file(const std::string& a, const std::string& b) {
  struct stat sa {
  }, sb{};
  if (::stat(a.c_str(), &sa) != 0 || ::stat(b.c_str(), &sb) != 0) return false;
  return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

std::unique_ptr<AppendOnlyFile> AppendOnlyFile::open(const std::string& path, std::string* error) {
  std::unique_ptr<AppendOnlyFile> f(new AppendOnlyFile());
  f->path_ = path;
  if (!f->reopen(error)) return nullptr;
  return f;
}

bool AppendOnlyFile::reopen(std::string* error) {
  if (fd_ >= 0) ::close(fd_);
  if (direct_fd_ >= 0) ::close(direct_fd_);
  direct_fd_ = -1;
  fd_ = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    *error = failure(path_, errno);
    return false;
  }
  struct stat st {};
  if (::fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode)) {
    *error = "cannot write `" + path_ + "`: not a regular file";
    ::close(fd_);
    fd_ = -1;
    return false;
  }
  size_ = static_cast<uint64_t>(st.st_size);
  reserved_ = size_;
  cut_torn_tail();
  // The same file for direct writes at explicit offsets (no O_APPEND: the
  // kernel would refuse nothing, but the offset is ours to align). Refused
  // (EINVAL) by file systems without O_DIRECT: the cache takes everything.
  direct_fd_ = ::open(path_.c_str(), O_WRONLY | O_DIRECT | O_CLOEXEC);
  // Blocks past the end that an earlier run allocated ahead and could not
  // give back (it crashed) are given back now.
  if (static_cast<uint64_t>(st.st_blocks) * 512 > size_ + static_cast<uint64_t>(st.st_blksize))
    (void)::ftruncate(fd_, static_cast<off_t>(size_));
  return true;
}

// A run that died mid-append (an append is up to three writes: the first
// partial block, the direct blocks, the last partial block) can leave a
// last line without its line break. Nothing in it was answered (callers
// answer once append() returned), and appending after it would leave a
// torn record followed by others, so it is cut off back to the last line
// break. A file with no line break at all is left as it is (not a log).
void AppendOnlyFile::cut_torn_tail() {
  if (size_ == 0) return;
  const int in = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) return;
  char buffer[65536];
  uint64_t end = size_, keep = 0;
  bool found = false;
  while (end > 0 && !found) {
    const uint64_t from = end > sizeof buffer ? end - sizeof buffer : 0;
    const ssize_t n = ::pread(in, buffer, end - from, static_cast<off_t>(from));
    if (n != static_cast<ssize_t>(end - from)) break;  // unreadable: left as it is
    if (end == size_ && buffer[n - 1] == '\n') break;  // whole lines: nothing to cut
    for (ssize_t i = n; i-- > 0;)
      if (buffer[i] == '\n') {
        keep = from + static_cast<uint64_t>(i) + 1;
        found = true;
        break;
      }
    end = from;
  }
  ::close(in);
  if (found && ::ftruncate(fd_, static_cast<off_t>(keep)) == 0) size_ = reserved_ = keep;
}

AppendOnlyFile::~AppendOnlyFile() {
  release_reserved();
  if (fd_ >= 0) ::close(fd_);
  if (direct_fd_ >= 0) ::close(direct_fd_);
}

// Ext4 (and XFS) allocate a buffered append's blocks one by one as they are
// written (delayed allocation's per-block bookkeeping: a quarter of the
// write's time in a logged `edict serve` batch); blocks allocated ahead in
// one call skip it. A failure (a full disk, a file system without
// fallocate) only means the writes allocate as before: it is not retried
// before another step was written.
void AppendOnlyFile::reserve_for(uint64_t bytes) {
  if (size_ + bytes <= reserved_) return;
  const uint64_t step = std::max<uint64_t>(bytes, kReserveStep);
  ::fallocate(fd_, FALLOC_FL_KEEP_SIZE, static_cast<off_t>(size_), static_cast<off_t>(step));
  reserved_ = size_ + step;
}

// Gives back the blocks allocated past the end (a truncate to the same size
// frees them; the contents are untouched).
void AppendOnlyFile::release_reserved() {
  if (fd_ >= 0 && reserved_ > size_ && ::ftruncate(fd_, static_cast<off_t>(size_)) == 0) reserved_ = size_;
}

bool AppendOnlyFile::write_cached(std::string_view bytes, size_t& done, int& err) {
  for (size_t at = 0; at < bytes.size();) {
    const ssize_t n = ::write(fd_, bytes.data() + at, bytes.size() - at);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      err = n < 0 ? errno : ENOSPC;
      return false;
    }
    at += static_cast<size_t>(n);
    done += static_cast<size_t>(n);
  }
  return true;
}

bool AppendOnlyFile::write_direct(std::string_view blocks, size_t& done, int& err) {
  for (size_t at = 0; at < blocks.size();) {
    const ssize_t n =
        ::pwrite(direct_fd_, blocks.data() + at, blocks.size() - at, static_cast<off_t>(size_ + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EINVAL && at == 0) {
      // The file system took the open but not the write: no more tries.
      ::close(direct_fd_);
      direct_fd_ = -1;
      return false;
    }
    if (n <= 0) {
      err = n < 0 ? errno : ENOSPC;
      return false;
    }
    at += static_cast<size_t>(n);
    done += static_cast<size_t>(n);
    last_direct_ += static_cast<uint64_t>(n);
    if (at % kDirectAlign != 0) return false;  // a short write: the rest goes through the cache
  }
  return true;
}

bool AppendOnlyFile::append(std::string_view bytes, std::string* error, bool direct) {
  if (fd_ < 0 && !reopen(error)) return false;
  reserve_for(bytes.size());
  last_direct_ = 0;
  // The whole blocks after the first partial one go directly when they lie
  // aligned in memory too; the partial blocks at both ends go through the
  // cache, where the blocks' other bytes are.
  size_t head = bytes.size(), blocks = 0;
  if (direct && direct_fd_ >= 0) {
    const size_t lead = (kDirectAlign - block_offset()) % kDirectAlign;
    const size_t whole = lead < bytes.size() ? (bytes.size() - lead) / kDirectAlign * kDirectAlign : 0;
    if (whole >= kDirectMin && (reinterpret_cast<uintptr_t>(bytes.data()) + lead) % kDirectAlign == 0) {
      head = lead;
      blocks = whole;
    }
  }
  size_t done = 0;
  int err = 0;
  bool ok = write_cached(bytes.substr(0, head), done, err);
  if (ok && blocks > 0 && !write_direct(bytes.substr(head, blocks), done, err)) ok = err == 0;
  if (ok) ok = write_cached(bytes.substr(done), done, err);
  if (!ok) {
    // Cut the partial record back off: the log holds whole records only
    // (the truncate also gives back the blocks allocated ahead).
    if ((done > 0 || reserved_ > size_) && ::ftruncate(fd_, static_cast<off_t>(size_)) != 0 && done > 0) {
      ::close(fd_);
      fd_ = -1;  // reopened (and measured) by the next append
    }
    reserved_ = size_;
    *error = failure(path_, err);
    return false;
  }
  size_ += bytes.size();
  return true;
}

bool AppendOnlyFile::sync(std::string* error) {
  if (fd_ >= 0 && ::fdatasync(fd_) != 0) {
    *error = failure(path_, errno);
    return false;
  }
  return true;
}

AppendOnlyFile::Syncer::~Syncer() {
  if (fd_ >= 0) ::close(fd_);
}

bool AppendOnlyFile::Syncer::sync() {
  return fd_ >= 0 && ::fdatasync(fd_) == 0;
}

void AppendOnlyFile::Syncer::drop_cached(uint64_t from) {
  const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  from -= from % page;  // the last call's partial page, whole now
  if (fd_ >= 0 && bytes_ > from)
    ::posix_fadvise(fd_, static_cast<off_t>(from), static_cast<off_t>(bytes_ - from), POSIX_FADV_DONTNEED);
}

std::unique_ptr<AppendOnlyFile::Syncer> AppendOnlyFile::syncer() const {
  return std::make_unique<Syncer>(fd_ >= 0 ? ::fcntl(fd_, F_DUPFD_CLOEXEC, 0) : -1, size_);
}

bool AppendOnlyFile::rotate(unsigned keep, std::string* error) {
  release_reserved();
  if (!sync(error)) return false;
  std::error_code ec;
  for (unsigned i = keep; i > 1; --i) {
    const std::string from = path_ + "." + std::to_string(i - 1), to = path_ + "." + std::to_string(i);
    if (std::filesystem::exists(from, ec)) std::filesystem::rename(from, to, ec);
  }
  if (keep > 0)
    std::filesystem::rename(path_, path_ + ".1", ec);
  else
    std::filesystem::remove(path_, ec);
  if (ec) {
    *error = "cannot rotate `" + path_ + "`: " + ec.message();
    return false;
  }
  return reopen(error);
}

}  // namespace edict
