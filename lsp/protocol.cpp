// JSON-RPC framing for the language server (see protocol.h).
#include "lsp/protocol.h"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace edict::lsp {
namespace {

enum class LineStatus { Ok, End, TooLong };

// One header line without its `\r\n` (or bare `\n`); a line over `max` bytes
// is consumed to its end and reported as too long.
LineStatus read_header_line(std::istream& in, std::string& line, size_t max) {
  line.clear();
  bool too_long = false;
  for (;;) {
    int c = in.get();
    if (c == std::char_traits<char>::eof()) return LineStatus::End;
    if (c == '\n') break;
    if (line.size() < max)
      line.push_back(static_cast<char>(c));
    else
      too_long = true;
  }
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return too_long ? LineStatus::TooLong : LineStatus::Ok;
}

bool equals_ignoring_case(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

}  // namespace

bool skip_bytes(std::istream& in, size_t n) {
  char buffer[4096];
  while (n > 0) {
    size_t chunk = std::min(n, sizeof buffer);
    in.read(buffer, static_cast<std::streamsize>(chunk));
    if (static_cast<size_t>(in.gcount()) != chunk) return false;
    n -= chunk;
  }
  return true;
}

ReadStatus read_frame(std::istream& in, std::string& body, std::string& error, size_t& skip,
                      const FrameLimits& limits) {
  body.clear();
  error.clear();
  skip = 0;
  bool have_length = false, bad = false;
  size_t length = 0;
  size_t lines = 0;
  std::string line;
  for (;;) {
    LineStatus s = read_header_line(in, line, limits.max_header_line);
    if (s == LineStatus::End) return ReadStatus::End;
    if (s == LineStatus::TooLong) {
      bad = true;
      error = "a header line longer than " + std::to_string(limits.max_header_line) + " bytes";
      continue;
    }
    if (line.empty()) {
      if (lines == 0) continue;  // blank lines between frames
      break;
    }
    if (++lines > limits.max_header_lines) {
      bad = true;
      error = "more than " + std::to_string(limits.max_header_lines) + " header lines";
      continue;
    }
    size_t colon = line.find(':');
    if (colon == std::string::npos) {
      bad = true;
      error = "a header line without `:`";
      continue;
    }
    std::string_view name(line.data(), colon), value(line.data() + colon + 1, line.size() - colon - 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    if (!equals_ignoring_case(name, "Content-Length")) continue;  // Content-Type and others
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), length);
    if (ec != std::errc() || end != value.data() + value.size()) {
      bad = true;
      error = "Content-Length `" + std::string(value) + "` is not a byte count";
      continue;
    }
    have_length = true;
  }
  if (bad || !have_length) {
    if (error.empty()) error = "a message without a Content-Length header";
    return ReadStatus::BadHeader;
  }
  if (length > limits.max_body_bytes) {
    error = "a message of " + std::to_string(length) + " bytes, more than the limit of " +
            std::to_string(limits.max_body_bytes);
    skip = length;
    return ReadStatus::TooLarge;
  }
  body.resize(length);
  in.read(body.data(), static_cast<std::streamsize>(length));
  if (static_cast<size_t>(in.gcount()) != length) return ReadStatus::End;
  return ReadStatus::Message;
}

void write_frame(std::ostream& out, const std::string& body) {
  out << "Content-Length: " << body.size() << "\r\n\r\n" << body;
  out.flush();
}

}  // namespace edict::lsp
