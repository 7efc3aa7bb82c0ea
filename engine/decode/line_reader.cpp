// Chunked line splitting over zlib's reader (which passes plain files
// through unchanged), with bounded memory for oversized lines.
#include "engine/decode/line_reader.h"

#include "engine/decode/decoder.h"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstring>

namespace edict::decode {

namespace {
constexpr size_t kChunk = 1 << 20;
constexpr size_t kPadding = kLinePadding;
}  // namespace

struct LineReader::Impl {
  gzFile gz = nullptr;
  size_t max_line = 0;
  std::vector<char> buffer;
  size_t begin = 0, end = 0;  // unconsumed bytes [begin, end)
  uint64_t line = 0;
  bool eof = false;
  uint64_t skipping = 0;  // > 0: inside an oversized line, this many bytes seen
};

std::unique_ptr<LineReader> LineReader::open(const std::string& path, size_t max_line_bytes,
                                             std::string* error) {
  int fd = path == "-" ? dup(STDIN_FILENO) : ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *error = std::strerror(errno);
    return nullptr;
  }
  gzFile gz = gzdopen(fd, "rb");
  if (!gz) {
    close(fd);
    *error = "cannot start reading";
    return nullptr;
  }
  gzbuffer(gz, 256 * 1024);
  std::unique_ptr<LineReader> r(new LineReader());
  r->impl_ = std::make_unique<Impl>();
  r->impl_->gz = gz;
  r->impl_->max_line = max_line_bytes;
  r->impl_->buffer.resize(max_line_bytes + kChunk + kPadding);
  return r;
}

LineReader::~LineReader() {
  if (impl_ && impl_->gz) gzclose(impl_->gz);
}

bool LineReader::next(std::vector<Line>& out) {
  out.clear();
  Impl& s = *impl_;
  char* buf = s.buffer.data();
  const size_t usable = s.buffer.size() - kPadding;
  while (out.empty()) {
    // Keep the partial line at the front, then fill the rest.
    if (s.begin > 0) {
      std::memmove(buf, buf + s.begin, s.end - s.begin);
      s.end -= s.begin;
      s.begin = 0;
    }
    if (!s.eof) {
      size_t want = std::min(kChunk, usable - s.end);
      int n = gzread(s.gz, buf + s.end, static_cast<unsigned>(want));
      if (n < 0) {
        int code = 0;
        const char* msg = gzerror(s.gz, &code);
        error_ = code == Z_ERRNO ? std::strerror(errno) : (msg ? msg : "read error");
        return false;
      }
      if (n == 0) s.eof = true;
      s.end += static_cast<size_t>(n);
      bytes_read_ += static_cast<uint64_t>(n);
    }
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

}  // namespace edict::decode
