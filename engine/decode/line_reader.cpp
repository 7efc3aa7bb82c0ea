// Chunked line splitting over plain or gzip input, with bounded memory for
// oversized lines. Gzip is inflated here rather than through gzread(),
// which reports a truncated stream as a plain end of file and skips
// anything after the last member: both are errors here.
#include "engine/decode/line_reader.h"

#include "engine/decode/decoder.h"
#include "support/mapped_file.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>

namespace edict::decode {

namespace {
constexpr size_t kChunk = 1 << 20;
constexpr size_t kPadding = kLinePadding;
constexpr size_t kRawChunk = 256 * 1024;  // compressed bytes read at a time
// A mapped file is read through windows of this many bytes (more when a
// line may be longer): few enough mappings, and little of the file resident.
constexpr size_t kWindow = 16 << 20;
}  // namespace

struct LineReader::Impl {
  int fd = -1;
  size_t max_line = 0;
  std::vector<char> buffer;   // grows as lines need it, up to max_line + kChunk + kPadding
  size_t begin = 0, end = 0;  // unconsumed bytes [begin, end)
  uint64_t line = 0;
  bool eof = false;
  bool at_start = true;   // a byte order mark may still come
  uint64_t skipping = 0;  // > 0: inside an oversized line, this many bytes seen

  // Input as read, before inflating: [raw_begin, raw_end) not yet used.
  std::vector<unsigned char> raw;
  size_t raw_begin = 0, raw_end = 0;
  bool raw_eof = false;
  uint64_t raw_offset = 0;  // bytes of input before raw[0]
  bool detected = false;    // plain or gzip decided
  bool gzip = false;
  bool inflating = false;  // inflateInit2 done
  bool member_done = false;
  z_stream z{};
  // interrupt_when(): a pipe or socket is waited on with poll(), which a
  // signal always cuts short, and a set flag then ends the wait.
  const std::atomic<int>* interrupt = nullptr;
  bool waitable = false;  // not a regular file: a read may block indefinitely
  bool interrupted = false;

  // Read-ahead (regular files): a thread splits the next chunk into the
  // other buffer while the caller works on this one.
  bool regular_file = false;
  bool double_buffered = false;  // set before the thread starts
  std::vector<char> spare;       // the buffer before `buffer` (read-ahead only)
  std::thread ahead;
  std::mutex mutex;
  std::condition_variable changed;
  bool requested = false, ready = false, stopping = false;
  bool finished = false;  // the thread returned the last chunk
  struct Chunk {
    std::vector<Line> lines;
    bool more = false;
    std::string error;
    uint64_t bytes = 0;
    std::shared_ptr<support::FileWindow> window;  // the lines' bytes, when mapped
  } pending;

  // Mapped input (a regular file, not gzip, opened by name): lines are
  // views into windows of the file mapped into memory, so the kernel copies
  // nothing. `shrank` (before the windows, which point at it) is set when
  // a read found a page the file no longer has.
  bool mapped = false;
  std::atomic<bool> shrank{false};
  uint64_t file_size = 0;      // as last seen
  uint64_t original_size = 0;  // when opened
  uint64_t pos = 0;            // file offset of the next byte to split
  size_t window_bytes = kWindow;
  std::shared_ptr<support::FileWindow> window;  // the one being split
  std::shared_ptr<support::FileWindow> handed;  // the caller's chunk's (read-ahead)
  // The window of the chunk before, which the caller is done with: the
  // read-ahead thread unmaps it, off the deciding thread.
  std::shared_ptr<support::FileWindow> retired;

  ~Impl() {
    if (ahead.joinable()) {
      {
        std::lock_guard lock(mutex);
        stopping = true;
      }
      changed.notify_all();
      ahead.join();
    }
    if (inflating) inflateEnd(&z);
    if (fd >= 0) close(fd);
  }
  // The next chunk's lines into `out` (LineReader::next's contract).
  bool read_lines(std::vector<Line>& out, std::string& error, uint64_t& bytes);
  // The read-ahead thread's loop: one chunk per request.
  void read_ahead_loop();
  // Moves the unused raw bytes to the front and reads more after them;
  // false (with `error`) on a read error.
  bool read_raw(std::string& error);
  // Before a read that may block: false when the wait was interrupted.
  bool wait_readable();
  // Up to `want` bytes of input (inflated when gzip) into `to`: the count,
  // 0 at the end of input, -1 (with `error`) on a read error or bad gzip.
  long fill(char* to, size_t want, std::string& error);
  long inflate_into(char* to, size_t want, std::string& error);
  // read_lines() of a mapped file.
  bool read_mapped(std::vector<Line>& out, std::string& error, uint64_t& bytes);
  // The window holding `pos` (and a line's worth after it); false with
  // `error` when the file cannot be mapped or shrank.
  bool map_window(std::string& error);
  // Maps the first window; false (the read() path then) when the file
  // cannot be mapped.
  bool start_mapped(uint64_t size);
  std::string changed_error() const;
};

bool LineReader::Impl::wait_readable() {
  if (!interrupt || !waitable) return true;
  pollfd p{fd, POLLIN, 0};
  for (;;) {
    if (interrupt->load()) return !(interrupted = true);
    // A signal ends poll() with EINTR whatever SA_RESTART says (signal(7)).
    if (::poll(&p, 1, -1) >= 0 || errno != EINTR) return true;
  }
}

bool LineReader::Impl::read_raw(std::string& error) {
  if (raw_begin > 0) {
    std::memmove(raw.data(), raw.data() + raw_begin, raw_end - raw_begin);
    raw_offset += raw_begin;
    raw_end -= raw_begin;
    raw_begin = 0;
  }
  if (!wait_readable()) return false;
  for (;;) {
    const ssize_t n = ::read(fd, raw.data() + raw_end, raw.size() - raw_end);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      error = std::strerror(errno);
      return false;
    }
    if (n == 0) raw_eof = true;
    raw_end += static_cast<size_t>(n);
    return true;
  }
}

long LineReader::Impl::fill(char* to, size_t want, std::string& error) {
  if (!detected) {
    // Gzip when the input starts with its magic bytes.
    while (raw_end - raw_begin < 2 && !raw_eof)
      if (!read_raw(error)) return -1;
    gzip = raw_end - raw_begin >= 2 && raw[raw_begin] == 0x1F && raw[raw_begin + 1] == 0x8B;
    detected = true;
    if (gzip) {
      if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) {
        error = "cannot start inflating gzip input";
        return -1;
      }
      inflating = true;
    }
  }
  if (gzip) return inflate_into(to, want, error);
  if (raw_end == raw_begin) {
    if (raw_eof) return 0;
    if (!wait_readable()) return -1;
    for (;;) {
      const ssize_t n = ::read(fd, to, want);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        error = std::strerror(errno);
        return -1;
      }
      return static_cast<long>(n);
    }
  }
  const size_t n = std::min(want, raw_end - raw_begin);
  std::memcpy(to, raw.data() + raw_begin, n);
  raw_begin += n;
  return static_cast<long>(n);
}

long LineReader::Impl::inflate_into(char* to, size_t want, std::string& error) {
  for (;;) {
    if (member_done) {
      // After a member: the end of input, or another member (concatenated
      // gzip files are one stream); anything else is an error.
      while (raw_end - raw_begin < 2 && !raw_eof)
        if (!read_raw(error)) return -1;
      if (raw_end == raw_begin) return 0;
      if (raw_end - raw_begin < 2 || raw[raw_begin] != 0x1F || raw[raw_begin + 1] != 0x8B) {
        error = fmt::format(
            "corrupt gzip input: {} bytes of trailing data after the compressed data (at byte {}), "
            "not another gzip member",
            raw_end - raw_begin, raw_offset + raw_begin);
        return -1;
      }
      inflateReset(&z);
      member_done = false;
    }
    if (raw_end == raw_begin && !raw_eof && !read_raw(error)) return -1;
    z.next_in = raw.data() + raw_begin;
    z.avail_in = static_cast<uInt>(raw_end - raw_begin);
    z.next_out = reinterpret_cast<Bytef*>(to);
    z.avail_out = static_cast<uInt>(want);
    const int ret = inflate(&z, Z_NO_FLUSH);
    raw_begin = raw_end - z.avail_in;
    const size_t produced = want - z.avail_out;
    if (ret == Z_STREAM_END) {
      member_done = true;
    } else if (ret != Z_OK && ret != Z_BUF_ERROR) {
      error = fmt::format("corrupt gzip input at byte {}: {}", raw_offset + raw_begin,
                          z.msg                ? z.msg
                          : ret == Z_MEM_ERROR ? "out of memory"
                                               : "invalid compressed data");
      return -1;
    }
    if (produced > 0) return static_cast<long>(produced);
    if (!member_done && raw_end == raw_begin && raw_eof) {
      error = fmt::format("truncated gzip input: it ends after {} bytes, inside the compressed data",
                          raw_offset + raw_end);
      return -1;
    }
  }
}

std::string LineReader::Impl::changed_error() const {
  struct stat st {};
  const uint64_t now = ::fstat(fd, &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
  return fmt::format(
      "the file changed while being read: it shrank under the reader ({} bytes when opened, {} now), so "
      "lines read since may hold bytes that are gone; the run stops without claiming them",
      original_size, now);
}

bool LineReader::Impl::start_mapped(uint64_t size) {
  // Gzip input is inflated through read() (its first two bytes say which).
  unsigned char magic[2] = {};
  if (::pread(fd, magic, 2, 0) == 2 && magic[0] == 0x1F && magic[1] == 0x8B) return false;
  file_size = original_size = size;
  std::string ignored;
  mapped = true;
  if (map_window(ignored)) return true;
  mapped = false;
  window.reset();
  return false;
}

bool LineReader::Impl::map_window(std::string& error) {
  window.reset();  // before mapping the next: at most the caller's and this one
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    error = std::strerror(errno);
    return false;
  }
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size < file_size || shrank.load()) {
    shrank.store(true);
    error = changed_error();
    return false;
  }
  file_size = size;                   // it may have grown, as a read() would see
  if (pos >= file_size) return true;  // the end: no window
  const uint64_t page = support::FileWindow::page_size();
  const uint64_t offset = pos / page * page;
  const size_t length = static_cast<size_t>(std::min<uint64_t>(window_bytes, file_size - offset));
  window = support::FileWindow::map(fd, offset, length, &shrank, &error);
  return window != nullptr;
}

bool LineReader::Impl::read_mapped(std::vector<Line>& out, std::string& error, uint64_t& bytes_read) {
  out.clear();
  for (;;) {
    if (shrank.load()) {
      error = changed_error();
      return false;
    }
    if (!window || pos >= window->offset() + window->size()) {
      if (!map_window(error)) return false;
      if (!window) break;  // the end of the file
    }
    const char* base = window->data();
    const size_t readable = window->size() + support::FileWindow::guard_bytes();
    const size_t end = window->size();
    const size_t from = static_cast<size_t>(pos - window->offset());
    size_t at = from;
    if (at_start) {
      // A UTF-8 byte order mark at the very start of the input is skipped.
      if (end - at >= 3 && std::memcmp(base + at, "\xEF\xBB\xBF", 3) == 0) at += 3;
      at_start = false;
    }
    // Chunks of read()'s size: 4 MiB ones cut the joins of -j N by four but
    // cost 8-10% more CPU (1M reference events, the batches and records of
    // a chunk no longer fit the caches).
    const size_t chunk_end = at + kChunk;
    while (at < end && at < chunk_end) {
      const char* nl = static_cast<const char*>(std::memchr(base + at, '\n', end - at));
      if (!nl) break;
      const size_t stop = static_cast<size_t>(nl - base);
      if (skipping > 0) {
        out.push_back(Line{{}, 0, ++line, skipping + (stop - at)});
        skipping = 0;
      } else {
        size_t len = stop - at;
        if (len > 0 && base[stop - 1] == '\r') --len;
        if (len > max_line)
          out.push_back(Line{{}, 0, ++line, stop - at});
        else
          out.push_back(Line{std::string_view(base + at, len), readable - at, ++line, 0});
      }
      at = stop + 1;
    }
    bytes_read += at - from;
    pos = window->offset() + at;
    if (!out.empty()) return true;
    // No line ends in the rest of this window.
    const size_t partial = end - at;
    const bool at_file_end = window->offset() + end >= file_size;
    if (skipping > 0 || partial > max_line) {
      // An oversized line: count its bytes and go on past them.
      skipping += partial;
      bytes_read += partial;
      pos += partial;
      if (!at_file_end) continue;
    } else if (!at_file_end) {
      // The line goes on in the next window, mapped from its page; when this
      // one started there, a longer one (a line up to the limit fits in the
      // largest, wherever it starts in a page).
      const uint64_t page = support::FileWindow::page_size();
      if (window->offset() == pos / page * page)
        window_bytes = std::min(2 * window_bytes, (max_line + kChunk + 2 * page) / page * page);
      window.reset();
      continue;
    }
    // At the end of the file as mapped: it may have grown since.
    struct stat st {};
    if (::fstat(fd, &st) == 0 && static_cast<uint64_t>(st.st_size) != file_size) {
      window.reset();
      continue;  // map_window() reads the size again, and tells a shrink
    }
    if (skipping > 0) {
      out.push_back(Line{{}, 0, ++line, skipping});
      skipping = 0;
    } else if (partial > 0) {
      // The last line, without LF: its padding is the guard's zeros.
      size_t len = partial;
      if (base[end - 1] == '\r') --len;
      out.push_back(Line{std::string_view(base + at, len), readable - at, ++line, 0});
      bytes_read += partial;
      pos += partial;
    }
    return !out.empty();
  }
  return false;
}

std::unique_ptr<LineReader> LineReader::open(const std::string& path, size_t max_line_bytes,
                                             std::string* error, bool map) {
  int fd = path == "-" ? dup(STDIN_FILENO) : ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *error = std::strerror(errno);
    return nullptr;
  }
  std::unique_ptr<LineReader> r(new LineReader());
  r->impl_ = std::make_unique<Impl>();
  Impl& s = *r->impl_;
  s.fd = fd;
  s.max_line = max_line_bytes;
  struct stat st {};
  s.regular_file = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
  // Standard input keeps read(): its offset need not be the file's start.
  if (map && s.regular_file && path != "-" && st.st_size > 0 &&
      s.start_mapped(static_cast<uint64_t>(st.st_size)))
    return r;
  s.raw.resize(kRawChunk);
  // The buffer grows as lines need it (next()), so that a large limit
  // costs nothing on short lines.
  s.buffer.resize(kChunk + kPadding);
  return r;
}

LineReader::~LineReader() = default;

bool LineReader::input_changed() const {
  return impl_->shrank.load();
}

const std::string& LineReader::error() const {
  if (error_.empty() && impl_->shrank.load()) error_ = impl_->changed_error();
  return error_;
}

void LineReader::interrupt_when(const std::atomic<int>* flag) {
  struct stat st {};
  impl_->interrupt = flag;
  impl_->waitable = ::fstat(impl_->fd, &st) == 0 && !S_ISREG(st.st_mode);
}

bool LineReader::Impl::read_lines(std::vector<Line>& out, std::string& error, uint64_t& bytes_read) {
  if (mapped) return read_mapped(out, error, bytes_read);
  out.clear();
  Impl& s = *this;
  if (s.double_buffered) {
    // The last chunk's lines stay in `buffer` for the caller: this one goes
    // to the other, after the partial line copied to its front.
    if (s.spare.size() < s.buffer.size()) s.spare.resize(s.buffer.size());
    std::memcpy(s.spare.data(), s.buffer.data() + s.begin, s.end - s.begin);
    s.end -= s.begin;
    s.begin = 0;
    s.buffer.swap(s.spare);
  }
  while (out.empty()) {
    // Keep the partial line at the front, then fill the rest.
    if (s.begin > 0) {
      std::memmove(s.buffer.data(), s.buffer.data() + s.begin, s.end - s.begin);
      s.end -= s.begin;
      s.begin = 0;
    }
    if (!s.eof) {
      // Room for a chunk after the partial line, which is at most max_line
      // bytes (a longer one is skipped, not kept).
      if (s.buffer.size() - kPadding - s.end < kChunk) {
        const size_t most = s.max_line + kChunk + kPadding;
        s.buffer.resize(std::min(most, std::max(2 * s.buffer.size(), s.end + kChunk + kPadding)));
      }
      const long n = s.fill(s.buffer.data() + s.end, kChunk, error);
      if (n < 0 && s.interrupted) {
        s.interrupted = false;
        return true;  // no lines: the caller looks at its flag
      }
      if (n < 0) return false;
      if (n == 0) s.eof = true;
      s.end += static_cast<size_t>(n);
      bytes_read += static_cast<uint64_t>(n);
    }
    if (s.at_start) {
      // A UTF-8 byte order mark at the very start of the input is skipped.
      if (s.end - s.begin < 3 && !s.eof) continue;
      if (s.end - s.begin >= 3 && std::memcmp(s.buffer.data() + s.begin, "\xEF\xBB\xBF", 3) == 0)
        s.begin += 3;
      s.at_start = false;
    }
    char* buf = s.buffer.data();
    std::memset(buf + s.end, 0, kPadding);
    size_t pos = s.begin;
    while (pos < s.end) {
      const char* nl = static_cast<const char*>(std::memchr(buf + pos, '\n', s.end - pos));
      if (!nl) break;
      size_t stop = static_cast<size_t>(nl - buf);
      if (s.skipping > 0) {
        out.push_back(Line{{}, 0, ++s.line, s.skipping + (stop - pos)});
        s.skipping = 0;
      } else {
        size_t len = stop - pos;
        if (len > 0 && buf[stop - 1] == '\r') --len;
        if (len > s.max_line)
          out.push_back(Line{{}, 0, ++s.line, stop - pos});
        else
          out.push_back(Line{std::string_view(buf + pos, len), s.buffer.size() - pos, ++s.line, 0});
      }
      pos = stop + 1;
    }
    s.begin = pos;
    size_t partial = s.end - s.begin;
    if (s.skipping > 0 || partial > s.max_line) {
      // An oversized line: count it and drop its bytes instead of buffering it.
      s.skipping += partial;
      s.begin = s.end;
    }
    if (s.eof) {
      if (s.skipping > 0) {
        out.push_back(Line{{}, 0, ++s.line, s.skipping});
        s.skipping = 0;
      } else if (s.end > s.begin) {
        size_t len = s.end - s.begin;
        if (buf[s.end - 1] == '\r') --len;
        out.push_back(Line{std::string_view(buf + s.begin, len), s.buffer.size() - s.begin, ++s.line, 0});
      }
      s.begin = s.end;
      return !out.empty();
    }
  }
  return true;
}

void LineReader::Impl::read_ahead_loop() {
  std::unique_lock lock(mutex);
  for (;;) {
    changed.wait(lock, [&] { return requested || stopping; });
    if (stopping) return;
    requested = false;
    Chunk chunk;
    chunk.lines.swap(pending.lines);  // the caller's previous vector, reused
    std::shared_ptr<support::FileWindow> done = std::move(retired);
    lock.unlock();
    done.reset();
    chunk.more = read_lines(chunk.lines, chunk.error, chunk.bytes);
    chunk.window = window;
    lock.lock();
    pending = std::move(chunk);
    ready = true;
    changed.notify_all();
  }
}

void LineReader::read_ahead() {
  Impl& s = *impl_;
  if (!s.regular_file || s.ahead.joinable()) return;
  s.double_buffered = true;
  s.handed = s.window;  // the caller's chunk, if it read one already
  s.ahead = std::thread([&s] { s.read_ahead_loop(); });
  std::lock_guard lock(s.mutex);
  s.requested = true;
  s.changed.notify_all();
}

bool LineReader::next(std::vector<Line>& out) {
  Impl& s = *impl_;
  if (!s.ahead.joinable()) return s.read_lines(out, error_, bytes_read_);
  if (s.finished) {
    out.clear();
    return false;
  }
  std::unique_lock lock(s.mutex);
  s.changed.wait(lock, [&] { return s.ready; });
  s.ready = false;
  out.swap(s.pending.lines);
  s.retired = std::move(s.handed);  // the chunk before it is done with
  s.handed = std::move(s.pending.window);
  bool more = s.pending.more;
  if (s.shrank.load() && s.pending.error.empty()) {
    // Split before the file shrank, but its bytes may be gone by now.
    out.clear();
    more = false;
    s.pending.bytes = 0;
    s.pending.error = s.changed_error();
  }
  bytes_read_ += s.pending.bytes;
  if (!s.pending.error.empty()) error_ = s.pending.error;
  // The next chunk is split while the caller works on this one; the lines
  // of the chunk before it, which the caller is done with, are overwritten.
  if (more) {
    s.requested = true;
    s.changed.notify_all();
  } else {
    s.finished = true;
  }
  return more;
}

}  // namespace edict::decode
