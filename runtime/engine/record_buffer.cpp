#include "runtime/engine/record_buffer.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <algorithm>
#include <bit>

namespace edict::engine {

namespace {

bool needs_escape(unsigned char c) {
  return c < 0x20 || c == '"' || c == '\\';
}

// The escape of a byte needs_escape() accepts: at most 6 bytes.
size_t escape(unsigned char c, char* to) {
  static constexpr char kHex[] = "0123456789abcdef";
  switch (c) {
    case '"': std::memcpy(to, "\\\"", 2); return 2;
    case '\\': std::memcpy(to, "\\\\", 2); return 2;
    case '\n': std::memcpy(to, "\\n", 2); return 2;
    case '\r': std::memcpy(to, "\\r", 2); return 2;
    case '\t': std::memcpy(to, "\\t", 2); return 2;
    default:
      std::memcpy(to, "\\u00", 4);
      to[4] = kHex[c >> 4];
      to[5] = kHex[c & 15];
      return 6;
  }
}

// Writes the escape of s to `to` (room for 6 * s.size()); returns its length.
size_t escape_into(std::string_view s, char* to) {
  char* const start = to;
  size_t run = 0;  // copy plain stretches in one go
  for (size_t i = next_json_escape(s, 0); i < s.size(); i = next_json_escape(s, i)) {
    std::memcpy(to, s.data() + run, i - run);
    to += i - run;
    to += escape(static_cast<unsigned char>(s[i]), to);
    run = ++i;
  }
  std::memcpy(to, s.data() + run, s.size() - run);
  return static_cast<size_t>(to - start) + (s.size() - run);
}

}  // namespace

size_t next_json_escape(std::string_view s, size_t i) {
  const char* d = s.data();
#if defined(__SSE2__)
  const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\'), space = _mm_set1_epi8(0x20),
                minus_one = _mm_set1_epi8(-1);
  for (; i + 16 <= s.size(); i += 16) {
    __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(d + i));
    // Signed bytes: a control character is >= 0 and < 0x20 (UTF-8 bytes are negative).
    __m128i control = _mm_and_si128(_mm_cmplt_epi8(v, space), _mm_cmpgt_epi8(v, minus_one));
    __m128i hit = _mm_or_si128(control, _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)));
    if (unsigned mask = static_cast<unsigned>(_mm_movemask_epi8(hit))) return i + std::countr_zero(mask);
  }
#endif
  while (i < s.size() && !needs_escape(static_cast<unsigned char>(d[i]))) ++i;
  return i;
}

void append_json_escaped(std::string& out, std::string_view s) {
  size_t run = 0;
  for (size_t i = next_json_escape(s, 0); i < s.size(); i = next_json_escape(s, i)) {
    out.append(s.data() + run, i - run);
    char e[6];
    out.append(e, escape(static_cast<unsigned char>(s[i]), e));
    run = ++i;
  }
  out.append(s.data() + run, s.size() - run);
}

void RecordBuffer::put_json_escaped(std::string_view s) {
  used_ += escape_into(s, out_.data() + used_);
}

void RecordBuffer::grow(size_t n) {
  // Steps of 64 KiB bound the zero-filling resize() does to the bytes
  // written; the string's own growth keeps reallocations rare.
  out_.resize(used_ + std::max(n, size_t{64} << 10));
}

}  // namespace edict::engine
