// A write cursor over the std::string that collects decision records. The
// string is grown in large steps and written through a raw pointer, so a
// record's many small pieces are plain stores instead of one capacity check
// and size update each. Callers reserve() room for what they write next.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "support/text.h"

namespace edict::engine {

class RecordBuffer {
 public:
  // Writes after out's current contents; out gets its final size in done()
  // or the destructor, and is not to be touched before.
  explicit RecordBuffer(std::string& out)
      : out_(out), at_(out.data() + out.size()), end_(out.data() + out.size()) {}
  ~RecordBuffer() { done(); }
  RecordBuffer(const RecordBuffer&) = delete;
  RecordBuffer& operator=(const RecordBuffer&) = delete;

  // Room for n more bytes; put/put_json_escaped need it first.
  void reserve(size_t n) {
    if (static_cast<size_t>(end_ - at_) < n) grow(n);
  }
  void put(std::string_view s) {
    const size_t n = s.size();
    const char* p = s.data();
    // The short pieces of a record as two overlapping moves instead of a
    // call to memcpy.
    if (n >= 8 && n <= 16) {
      std::memcpy(at_, p, 8);
      std::memcpy(at_ + n - 8, p + n - 8, 8);
    } else if (n != 0) {
      std::memcpy(at_, p, n);
    }
    at_ += n;
  }
  void put(char c) { *at_++ = c; }
  // The longest decimal uint64, and the longest JSON escape of s.
  static constexpr size_t kNumberBound = 20;
  static size_t json_escaped_bound(std::string_view s) { return 6 * s.size(); }
  // s with the escapes of a JSON string, without quotes (support/text.h).
  void put_json_escaped(std::string_view s) { at_ += json_escape_into(s, at_); }

  void done() { out_.resize(static_cast<size_t>(at_ - out_.data())); }

 private:
  void grow(size_t n);
  std::string& out_;
  char* at_;   // the next byte to write, in out_
  char* end_;  // the end of out_: [at_, end_) is room
};

}  // namespace edict::engine
