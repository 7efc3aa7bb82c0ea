// Edict literal spellings, message clipping and JSON string escaping; see
// text.h.
#include "support/text.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <fmt/format.h>

#include <bit>
#include <cmath>
#include <cstring>

namespace edict {

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

#if defined(__SSE2__)
// Bit i set when byte i of the 16 at p needs an escape.
unsigned escape_mask(const char* p) {
  const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\'), space = _mm_set1_epi8(0x20),
                minus_one = _mm_set1_epi8(-1);
  __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  // Signed bytes: a control character is >= 0 and < 0x20 (UTF-8 bytes are negative).
  __m128i control = _mm_and_si128(_mm_cmplt_epi8(v, space), _mm_cmpgt_epi8(v, minus_one));
  __m128i hit = _mm_or_si128(control, _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)));
  return static_cast<unsigned>(_mm_movemask_epi8(hit));
}
#endif

// Non-zero when a byte of v needs an escape: the bit tricks of "determine
// if a word has a byte less than n / equal to n" (exact as a whole-word
// test; bytes >= 0x80 never match).
uint64_t escapes_in(uint64_t v) {
  constexpr uint64_t kOnes = 0x0101010101010101, kHigh = 0x8080808080808080;
  auto has_zero = [](uint64_t x) { return (x - kOnes) & ~x & kHigh; };
  return ((v - kOnes * 0x20) & ~v & kHigh) | has_zero(v ^ (kOnes * '"')) | has_zero(v ^ (kOnes * '\\'));
}

uint64_t load64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

// Whether any byte of s needs an escape; short strings (ids, names) in a
// word or two, longer ones sixteen bytes at a time.
bool any_escape(std::string_view s) {
  const char* d = s.data();
  const size_t n = s.size();
  if (n == 0) return false;
  if (n < 8) {
    uint64_t v = 0x2020202020202020;  // spaces need no escape
    std::memcpy(&v, d, n);
    return escapes_in(v) != 0;
  }
  if (n <= 16) return (escapes_in(load64(d)) | escapes_in(load64(d + n - 8))) != 0;
#if defined(__SSE2__)
  size_t i = 0;
  for (; i + 16 <= n; i += 16)
    if (escape_mask(d + i)) return true;
  return i < n && escape_mask(d + n - 16);  // the tail, overlapping the last block
#else
  return next_json_escape(s, 0) != n;
#endif
}

}  // namespace

size_t next_json_escape(std::string_view s, size_t i) {
  const char* d = s.data();
#if defined(__SSE2__)
  for (; i + 16 <= s.size(); i += 16)
    if (unsigned mask = escape_mask(d + i)) return i + std::countr_zero(mask);
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

void append_edict_string_literal(std::string& out, std::string_view s) {
  out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (c < 0x20)
          out += fmt::format("\\u{{{:x}}}", c);
        else
          out += static_cast<char>(c);
    }
  }
  out += '"';
}

std::string edict_string_literal(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  append_edict_string_literal(out, s);
  return out;
}

std::string edict_number_literal(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v < 0 ? "-inf" : "inf";
  std::string s = fmt::format("{}", v);
  if (s.find_first_of(".eE") == std::string::npos) s += ".0";  // keep 814.0 apart from the int 814
  return s;
}

std::string clip_for_message(std::string_view s, size_t max_bytes) {
  if (s.size() <= max_bytes) return std::string(s);
  size_t cut = max_bytes;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;  // keep UTF-8 whole
  return std::string(s.substr(0, cut)) + "...";
}

// Writes the escape of s to `to` (room for 6 * s.size()); returns its length.
size_t json_escape_into(std::string_view s, char* to) {
  if (!any_escape(s)) {
    if (!s.empty()) std::memcpy(to, s.data(), s.size());
    return s.size();
  }
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

void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  append_json_escaped(out, s);
  out += '"';
}

}  // namespace edict
