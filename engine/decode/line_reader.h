// Reads JSON Lines input (a file, `-` for standard input, gzip or plain) in
// large chunks and hands out numbered lines. Line rules, documented in
// docs/events.md: LF ends a line and a CR before it is dropped; a last line
// without LF still counts; a line longer than max_line_bytes is reported by
// length and skipped without being buffered whole.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace edict::decode {

struct Line {
  std::string_view text;  // without the terminator
  size_t capacity = 0;    // readable bytes from text.data() (>= text.size() + 64)
  uint64_t number = 0;    // 1-based
  uint64_t too_long = 0;  // non-zero: the line's full length, over the limit; text is empty
};

class LineReader {
 public:
  // nullptr and *error set when the input cannot be opened. With `map`, a
  // regular file (not gzip, not `-`) is mapped into memory rather than
  // copied by read(); the lines are the same either way. Mapping saves the
  // reading thread the copy, but the decoder then reads the file's pages
  // where read() left its buffer warm: worth it when the cores are all
  // busy (`eval -j N`), not for one deciding thread (docs/architecture.md).
  static std::unique_ptr<LineReader> open(const std::string& path, size_t max_line_bytes, std::string* error,
                                          bool map = false);
  ~LineReader();

  // Replaces `out` with the complete lines of the next chunk; views stay valid
  // until the next call. Returns false at the end of input (out empty) or on
  // a read error (error() non-empty).
  bool next(std::vector<Line>& out);
  // While `flag` is non-zero, a wait for input on a pipe, socket or
  // terminal ends at once: next() then returns true with `out` empty (no
  // line is lost; the next call goes on). A signal handler that sets the
  // flag thus stops a run whose input is idle.
  void interrupt_when(const std::atomic<int>* flag);
  // From now on a thread splits the next chunk while the caller works on
  // the one next() returned (same lines, same views' lifetime). Only for a
  // regular file: a read that may block (a pipe) stays on the caller's
  // thread, where a signal can end it (interrupt_when).
  void read_ahead();
  const std::string& error() const;
  // A mapped file shrank while being read: lines handed out may hold zeros
  // where its bytes were (they read as such rather than crash the process).
  // Whoever writes results checks this before claiming them; next() then
  // fails with an error saying so.
  bool input_changed() const;
  uint64_t bytes_read() const { return bytes_read_; }

 private:
  LineReader() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
  mutable std::string error_;  // error() also tells a changed input found by a decoding thread
  uint64_t bytes_read_ = 0;
};

}  // namespace edict::decode
