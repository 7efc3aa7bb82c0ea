// JSON decoding with simdjson On-Demand: find `kind`, then one pass over the
// object's fields, decoding only those the schema names into their columns.
#include "engine/decode/decoder.h"

#include <fmt/format.h>
#include <simdjson.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstring>
#include <optional>

#include "support/countries.h"
#include "support/text.h"
#include "support/time_util.h"

namespace edict::decode {
static_assert(kLinePadding >= simdjson::SIMDJSON_PADDING);
using namespace edict::abi;  // the batch and schema this stage writes into
namespace od = simdjson::ondemand;

namespace {

const char* json_type_name(od::json_type t) {
  switch (t) {
    case od::json_type::array: return "an array";
    case od::json_type::object: return "an object";
    case od::json_type::number: return "a number";
    case od::json_type::string: return "a string";
    case od::json_type::boolean: return "a boolean";
    case od::json_type::null: return "null";
  }
  return "a value";
}

const char* expected_name(ColumnType t) {
  switch (t) {
    case ColumnType::Bool: return "a boolean";
    case ColumnType::Int: return "an integer";
    case ColumnType::Number: return "a number";
    case ColumnType::String: return "a string";
    case ColumnType::Country: return "an ISO 3166-1 alpha-2 country code";
    case ColumnType::Time: return "an RFC 3339 time";
    case ColumnType::Duration: return "a duration";
  }
  return "a value";
}

// Exactly `YYYY-MM-DDTHH:MM:SSZ` (20 bytes at `s`) with in-range fields, as
// microseconds; false for anything else (RFC 3339 parsing then decides).
bool fixed_utc_time(const char* s, int64_t* micros) {
  int y1, y2, mo, d, h, mi, se;
  if constexpr (std::endian::native == std::endian::little) {
    // Eight bytes at a time: `YYYY-MM-`, `DDTHH:MM`, `:SSZ`. A byte is a
    // digit when its high nibble is 3 and adding 6 to it leaves it so.
    uint64_t a, b;
    uint32_t c;
    std::memcpy(&a, s, 8);
    std::memcpy(&b, s + 8, 8);
    std::memcpy(&c, s + 16, 4);
    constexpr uint64_t kHigh = 0xF0F0F0F0F0F0F0F0, kThree = 0x3030303030303030, kSix = 0x0606060606060606;
    constexpr uint64_t kDigitsA = 0x00FFFF00FFFFFFFF, kDigitsB = 0xFFFF00FFFF00FFFF, kDigitsC = 0x00FFFF00;
    constexpr uint64_t kSepsA = 0xFF0000FF00000000, kSepsB = 0x0000FF0000FF0000, kSepsC = 0xFF0000FF;
    if ((a & kSepsA) != 0x2D00002D00000000 || (b & kSepsB) != 0x00003A0000540000 ||
        (c & kSepsC) != 0x5A00003A)  // `-` `-`, `T` `:`, `:` `Z`
      return false;
    auto digits = [&](uint64_t x, uint64_t lanes) {
      return (x & kHigh & lanes) == (kThree & lanes) && ((x + kSix) & kHigh & lanes) == (kThree & lanes);
    };
    if (!digits(a, kDigitsA) || !digits(b, kDigitsB) || !digits(c, kDigitsC)) return false;
    // Byte i of pairs(x) is 10 * digit i + digit i + 1 (no lane overflows:
    // every low nibble is at most 15).
    auto pairs = [](uint64_t x) {
      x &= 0x0F0F0F0F0F0F0F0F;
      return x * 10 + (x >> 8);
    };
    const uint64_t pa = pairs(a), pb = pairs(b), pc = pairs(c);
    y1 = static_cast<int>(pa & 0xFF);
    y2 = static_cast<int>((pa >> 16) & 0xFF);
    mo = static_cast<int>((pa >> 40) & 0xFF);
    d = static_cast<int>(pb & 0xFF);
    h = static_cast<int>((pb >> 24) & 0xFF);
    mi = static_cast<int>((pb >> 48) & 0xFF);
    se = static_cast<int>((pc >> 8) & 0xFF);
  } else {
    // A lambda, not a function: a function used only in this discarded
    // branch draws clang's -Wunneeded-internal-declaration.
    auto two_digits = [](const char* p, int* out) {
      if (p[0] < '0' || p[0] > '9' || p[1] < '0' || p[1] > '9') return false;
      *out = (p[0] - '0') * 10 + (p[1] - '0');
      return true;
    };
    if (!(s[4] == '-' && s[7] == '-' && s[10] == 'T' && s[13] == ':' && s[16] == ':' && s[19] == 'Z' &&
          two_digits(s, &y1) && two_digits(s + 2, &y2) && two_digits(s + 5, &mo) && two_digits(s + 8, &d) &&
          two_digits(s + 11, &h) && two_digits(s + 14, &mi) && two_digits(s + 17, &se)))
      return false;
  }
  if (!(mo >= 1 && mo <= 12 && d >= 1 && d <= 28 && h <= 23 && mi <= 59 && se <= 59 && (y1 | y2) != 0))
    return false;
  const int64_t days = days_from_civil(y1 * 100 + y2, static_cast<unsigned>(mo), static_cast<unsigned>(d));
  *micros = (days * 86400 + h * 3600 + mi * 60 + se) * kMicrosPerSecond;
  return true;
}

}  // namespace

bool parse_event_time(std::string_view s, int64_t* micros) {
  if (s.size() == 20 && fixed_utc_time(s.data(), micros)) return true;
  auto v = parse_rfc3339(s);
  if (!v) return false;
  *micros = *v;
  return true;
}

// A byte string (a schema key and its closing quote; `"key":` for the plain
// path) as masked 16-byte chunks, compared against input one chunk at a
// time. A chunk is read only when the one before matched in full. On the
// full path the input is a raw key, which runs at least to that chunk's
// start (a name holds no `"`), so reads stay within the key's closing quote
// plus 16 bytes: inside the input's padding, however long the schema's name
// and however short the key. The plain path checks span() against its
// padding instead.
struct KeyPattern {
  struct Chunk {
    uint64_t word[2] = {0, 0}, mask[2] = {0, 0};
    bool matches(const char* raw) const {
      uint64_t in[2];
      std::memcpy(in, raw, 16);
      return (((in[0] & mask[0]) ^ word[0]) | ((in[1] & mask[1]) ^ word[1])) == 0;
    }
  };
  Chunk first;              // most names fit in one chunk
  std::vector<Chunk> more;  // the rest of a longer one
  size_t size = 0;          // bytes matched

  explicit KeyPattern(std::string_view bytes) : size(bytes.size()) {
    for (size_t at = 0; at < bytes.size(); at += 16) {
      const size_t n = std::min<size_t>(16, bytes.size() - at);
      unsigned char text[16] = {}, ones[16] = {};
      std::memcpy(text, bytes.data() + at, n);
      std::memset(ones, 0xFF, n);
      Chunk& c = at == 0 ? first : more.emplace_back();
      std::memcpy(c.word, text, 16);
      std::memcpy(c.mask, ones, 16);
    }
  }
  // A pattern nothing matches.
  static KeyPattern never() {
    KeyPattern k("");
    k.first.word[0] = 1;
    return k;
  }
  // Bytes matches() may read from `raw`.
  size_t span() const { return 16 * (1 + more.size()); }
  bool matches(const char* raw) const {
    if (!first.matches(raw)) return false;
    if (size <= 16) [[likely]]
      return true;
    for (const Chunk& c : more) {
      raw += 16;
      if (!c.matches(raw)) return false;
    }
    return true;
  }
};

// Per field of a kind, what the plain path needs, in one place.
struct PlainField {
  KeyPattern member;  // `"name":`, as compact JSON writes it (never matching unless raw_name)
  int column;
  ColumnType type;
  bool optional;
  bool read;
  bool id;               // named `id`
  bool column_optional;  // the column has presence bytes
};

// Per kind, what the plain path needs beyond the schema.
struct PlainKind {
  std::vector<PlainField> fields;
  // `"kind":"name"` with the closing quote, when the name can be compared
  // raw (raw_name).
  std::optional<KeyPattern> kind_member;
  // The field index met at each key position (the kind key not counted) last
  // time: producers write keys in a fixed order, so one masked compare
  // usually finds the field and the key's end.
  std::vector<int> predicted;
  uint64_t required_low = 0;            // bit per field 0-63: neither optional nor computed
  std::vector<uint64_t> required_high;  // the same for fields 64 and up, 64 a word
};

struct Decoder::Impl {
  const Schema* schema;
  bool fast_path = true;
  uint64_t plain_lines = 0;
  std::vector<PlainKind> plain_kinds;      // per kind
  std::vector<uint64_t> seen_high;         // the plain path's seen bits of fields 64 and up
  size_t max_line = kDefaultMaxLineBytes;  // the longest line decoded (the parser's capacity)
  od::parser parser;
  std::vector<uint8_t> json_stack;  // the strict check's open arrays and objects
  std::vector<uint8_t> seen;        // per field of the current kind
  // Per kind: the field index met at each key position last time. Producers
  // write keys in a fixed order, so one string compare usually replaces a
  // hash lookup.
  std::vector<std::vector<int>> predicted;
  std::vector<std::vector<KeyPattern>> keys;  // per kind, per field

  // The full path (simdjson On Demand), for lines the plain path declines,
  // in its steps: each reports its own row error and returns false or -1.
  // Forced inline, so decode() compiles as the one function it was: called,
  // they take simdjson's document and object by reference and keep the
  // parser's state in memory (3% more instructions per event, callgrind).
  [[gnu::always_inline]] inline void decode_full(std::string_view line, size_t capacity, uint32_t row,
                                                 Batch& batch);
  [[gnu::always_inline]] inline bool open_object(std::string_view line, size_t capacity, uint32_t row,
                                                 Batch& batch, od::document& doc, od::object& obj);
  [[gnu::always_inline]] inline int read_kind(od::object& obj, uint32_t row, Batch& batch);
  [[gnu::always_inline]] inline bool read_fields(od::object& obj, int kind_index, uint32_t row, Batch& batch);
  [[gnu::always_inline]] inline bool read_id(od::field& field, std::string_view key, const KindSpec& kind,
                                             int index, uint32_t row, Batch& batch);
  [[gnu::always_inline]] inline bool mark_seen(int index, std::string_view key, uint32_t row, Batch& batch);
  // The error path: not inlined, so the decode of good lines stays as it was.
  [[gnu::noinline]] void note_field_error(uint32_t row, Batch& batch);
  [[gnu::noinline]] void fail_fields(uint32_t row, Batch& batch, const KindSpec& kind);
  std::vector<std::pair<ErrorReason, std::string>> field_errors;  // the current line's bad fields
};

namespace {

// Whether the plain path may compare `name` raw: printable ASCII without a
// quote, a backslash (an escape in JSON) or `}` (see decode_plain).
bool raw_name(std::string_view name) {
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return c >= 0x20 && c < 0x7F && c != '"' && c != '\\' && c != '}'; });
}

}  // namespace

Decoder::Decoder(const Schema& schema, bool fast_path, size_t max_line_bytes)
    : impl_(std::make_unique<Impl>()) {
  impl_->schema = &schema;
  impl_->fast_path = fast_path;
  impl_->max_line = max_line_bytes;
  // Allocated as lines need it (open_object), up to this.
  impl_->parser = od::parser(max_line_bytes);
  size_t most_fields = 0;
  for (const KindSpec& kind : schema.kinds) {
    auto& keys = impl_->keys.emplace_back();
    PlainKind& plain = impl_->plain_kinds.emplace_back();
    if (raw_name(kind.name)) plain.kind_member.emplace("\"kind\":\"" + kind.name + '"');
    if (kind.fields.size() > 64) plain.required_high.assign((kind.fields.size() - 1) / 64, 0);
    for (size_t i = 0; i < kind.fields.size(); ++i) {
      const FieldSpec& f = kind.fields[i];
      keys.emplace_back(f.name + '"');
      plain.fields.push_back(PlainField{
          raw_name(f.name) ? KeyPattern('"' + f.name + "\":") : KeyPattern::never(), f.column, f.type,
          f.optional, f.read, f.name == "id", schema.columns[static_cast<size_t>(f.column)].optional});
      if (f.optional || f.computed) continue;
      if (i < 64)
        plain.required_low |= uint64_t{1} << i;
      else
        plain.required_high[i / 64 - 1] |= uint64_t{1} << (i % 64);
    }
    most_fields = std::max(most_fields, kind.fields.size());
  }
  if (most_fields > 64) impl_->seen_high.assign((most_fields - 1) / 64, 0);
}
Decoder::~Decoder() = default;
uint64_t Decoder::plain_lines() const {
  return impl_->plain_lines;
}

namespace {

// ---- The plain fast path ---------------------------------------------------
// Producers write flat objects of printable ASCII: no escapes, no nesting, no
// whitespace but spaces. Such a line is decoded here in one pass, each value
// straight into its column, without simdjson's two stages. Anything else,
// and every line that would be an error, falls back to the full simdjson
// path below, which alone words errors; so this path is only ever stricter
// than the full one, and a line it accepts decodes to exactly the same row
// (tests/unit/runtime_test.cpp and tests/fuzz/fuzz_decoder.cpp compare the
// two on generated and mutated lines).
//
// Two facts keep the pass short:
// - The line (trailing spaces trimmed) must end in `}`. Every scan below
//   (digits, spaces, literals, keys compared raw, the fixed-shape time) stops
//   at a byte that is not `}`, so none runs past that last byte without
//   bounds checks; only string scans, whose text may hold `}`, check `end`.
//   Reads beyond a token are at most 16 bytes past it: inside the padding.
// - Every byte of an accepted line is checked: outside strings by the
//   grammar, inside strings by string_end(), which refuses control
//   characters, non-ASCII bytes and backslashes (escapes).

// The closing '"' of a string whose text starts at `p`, or null when there is
// none before `end` or the text holds a byte a plain line may not. Reads
// whole 16-byte blocks, at most 15 bytes past `end`: inside the padding.
inline const char* string_end(const char* p, const char* end) {
#if defined(__SSE2__)
  // Signed bytes: one compare catches both < 0x20 and >= 0x80.
  const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\'), space = _mm_set1_epi8(0x20);
  for (; p < end; p += 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const unsigned mask = static_cast<unsigned>(_mm_movemask_epi8(_mm_or_si128(
        _mm_cmpeq_epi8(v, quote), _mm_or_si128(_mm_cmpeq_epi8(v, backslash), _mm_cmplt_epi8(v, space)))));
    if (mask) {
      const char* q = p + std::countr_zero(mask);
      return q < end && *q == '"' ? q : nullptr;
    }
  }
  return nullptr;
#else
  for (; p < end; ++p) {
    const auto c = static_cast<unsigned char>(*p);
    if (c == '"') return p;
    if (c < 0x20 || c >= 0x80 || c == '\\') return nullptr;
  }
  return nullptr;
#endif
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

const char* skip_spaces(const char* p) {
  while (*p == ' ') ++p;
  return p;
}

// ---- Strict validation for the full path -----------------------------------
// simdjson On Demand validates UTF-8 and the structure it walks, but not a
// value it skips (an unknown field's `[1,}`) nor a scalar past its first
// byte when only its type is asked (`nul` reads as null, `tru` as a
// boolean). So the full path first checks the whole line against RFC 8259's
// grammar here, saying where and what is wrong. Numbers are checked for
// grammar only: `1e400` is valid JSON (a field that needs its value reports
// it out of range). simdjson's DOM parser would validate too, but it also
// rejects such numbers and integers past 64 bits, and names no position.

struct JsonFault {
  size_t at = 0;  // byte offset in the line
  std::string what;
};

constexpr size_t kMaxJsonDepth = 1024;  // simdjson's default nesting limit

bool is_json_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

// Bytes that end a scalar token: JSON whitespace and structural characters.
bool ends_token(char c) {
  return is_json_space(c) || c == ',' || c == ']' || c == '}' || c == ':' || c == '[' || c == '{' || c == '"';
}

// The token at `p` (up to the next delimiter), quoted for a message.
std::string token_at(const char* p, const char* end) {
  if (p >= end) return "the end of the line";
  if (end - p >= 3 && std::memcmp(p, "\xEF\xBB\xBF", 3) == 0) return "a byte order mark (U+FEFF)";
  const char* q = p;
  if (ends_token(*q)) {
    ++q;
  } else {
    while (q < end && !ends_token(*q)) ++q;
  }
  std::string text;
  for (const char* c = p; c < q && text.size() < 48; ++c) {
    const auto u = static_cast<unsigned char>(*c);
    if (u < 0x20 || u == 0x7F)
      text += fmt::format("\\x{:02X}", u);
    else
      text += *c;
  }
  return "`" + clip_for_message(text) + "`";
}

// The first byte from `p` that is '"', '\\' or a control character, or
// `end`. Reads 16-byte blocks up to 15 bytes past `end` when `padded`.
inline const char* string_stop(const char* p, const char* end, bool padded) {
#if defined(__SSE2__)
  if (padded) {
    const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\'), low = _mm_set1_epi8(0x1F);
    for (; p < end; p += 16) {
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
      const __m128i control = _mm_cmpeq_epi8(_mm_max_epu8(v, low), low);  // v <= 0x1F, unsigned
      const unsigned mask = static_cast<unsigned>(_mm_movemask_epi8(
          _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)), control)));
      if (mask) return std::min(end, p + std::countr_zero(mask));
    }
    return end;
  }
#else
  (void)padded;
#endif
  for (; p < end; ++p) {
    const auto c = static_cast<unsigned char>(*p);
    if (c == '"' || c == '\\' || c < 0x20) return p;
  }
  return end;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The code unit of a `\uXXXX` escape at `p` (the backslash), or -1.
int unicode_escape(const char* p, const char* end) {
  if (end - p < 6 || p[1] != 'u') return -1;
  int v = 0;
  for (int i = 2; i < 6; ++i) {
    const int h = hex_value(p[i]);
    if (h < 0) return -1;
    v = v * 16 + h;
  }
  return v;
}

class JsonChecker {
 public:
  JsonChecker(std::string_view text, bool padded)
      : begin_(text.data()), end_(text.data() + text.size()), padded_(padded) {}

  std::optional<JsonFault> check(std::vector<uint8_t>& stack) {
    stack.clear();
    const char* p = begin_;
    enum class Next { Value, Key, AfterValue } next = Next::Value;
    for (;;) {
      while (p < end_ && is_json_space(*p)) ++p;
      if (next == Next::Key) {
        if (p == end_ || *p != '"') return fault(p, "expected a key (a string), found " + token_at(p, end_));
        if (!string(p)) return std::move(fault_);
        while (p < end_ && is_json_space(*p)) ++p;
        if (p == end_ || *p != ':') return fault(p, "expected `:` after the key, found " + token_at(p, end_));
        ++p;
        next = Next::Value;
        continue;
      }
      if (next == Next::AfterValue) {
        if (stack.empty()) {
          if (p != end_) return fault(p, "content after the JSON value: " + token_at(p, end_));
          return std::nullopt;
        }
        const bool in_object = stack.back() == '{';
        if (p < end_ && *p == ',') {
          ++p;
          next = in_object ? Next::Key : Next::Value;
          continue;
        }
        if (p < end_ && *p == (in_object ? '}' : ']')) {
          ++p;
          stack.pop_back();
          continue;
        }
        return fault(p,
                     fmt::format("expected `,` or `{}`, found {}", in_object ? '}' : ']', token_at(p, end_)));
      }
      // A value.
      if (p == end_) return fault(p, "expected a value, found the end of the line");
      const char c = *p;
      next = Next::AfterValue;
      if (c == '{' || c == '[') {
        if (stack.size() >= kMaxJsonDepth)
          return fault(p, fmt::format("nested more than {} deep", kMaxJsonDepth));
        ++p;
        while (p < end_ && is_json_space(*p)) ++p;
        if (p < end_ && *p == (c == '{' ? '}' : ']')) {
          ++p;  // empty
          continue;
        }
        stack.push_back(static_cast<uint8_t>(c));
        next = c == '{' ? Next::Key : Next::Value;
        continue;
      }
      if (c == '"') {
        if (!string(p)) return std::move(fault_);
      } else if (c == '-' || is_digit(c)) {
        if (!number(p)) return std::move(fault_);
      } else if (c == 't' || c == 'f' || c == 'n') {
        const std::string_view word = c == 't' ? "true" : c == 'f' ? "false" : "null";
        const auto n = static_cast<size_t>(end_ - p);
        if (n < word.size() || std::string_view(p, word.size()) != word ||
            (n > word.size() && !ends_token(p[word.size()])))
          return fault(p, "invalid literal " + token_at(p, end_) + " (expected true, false or null)");
        p += word.size();
      } else {
        return fault(p, "expected a value, found " + token_at(p, end_));
      }
    }
  }

 private:
  std::optional<JsonFault> fault(const char* at, std::string what) {
    return JsonFault{static_cast<size_t>(at - begin_), std::move(what)};
  }
  bool fail(const char* at, std::string what) {
    fault_ = fault(at, std::move(what));
    return false;
  }

  // The string whose opening quote is at `p`; `p` moves past its closing
  // quote. UTF-8 is left to simdjson's stage 1.
  bool string(const char*& p) {
    const char* open = p++;
    for (;;) {
      p = string_stop(p, end_, padded_);
      if (p == end_) return fail(open, "unterminated string");
      const auto c = static_cast<unsigned char>(*p);
      if (c == '"') {
        ++p;
        return true;
      }
      if (c < 0x20)
        return fail(p, fmt::format("control character U+{:04X} in a string (it must be escaped)", c));
      // An escape.
      if (p + 1 == end_) return fail(open, "unterminated string");
      const char e = p[1];
      if (e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' || e == 'n' || e == 'r' || e == 't') {
        p += 2;
        continue;
      }
      if (e != 'u') return fail(p, "invalid escape " + token_at(p, std::min(end_, p + 2)) + " in a string");
      const int unit = unicode_escape(p, end_);
      if (unit < 0)
        return fail(
            p, "invalid escape " + token_at(p, std::min(end_, p + 6)) + " (expected \\u and 4 hex digits)");
      if (unit >= 0xDC00 && unit <= 0xDFFF)
        return fail(p, fmt::format("unpaired surrogate escape \\u{:04X} in a string", unit));
      if (unit >= 0xD800 && unit <= 0xDBFF) {
        const int low = unicode_escape(p + 6, end_);
        if (p[6] != '\\' || low < 0xDC00 || low > 0xDFFF)
          return fail(p, fmt::format("unpaired surrogate escape \\u{:04X} in a string", unit));
        p += 12;
      } else {
        p += 6;
      }
    }
  }

  // The number at `p`, its grammar only; `p` moves past it.
  bool number(const char*& p) {
    const char* start = p;
    auto bad = [&](const char* why) {
      return fail(start, fmt::format("invalid number {}{}", token_at(start, end_), why));
    };
    if (*p == '-') ++p;
    if (p == end_ || !is_digit(*p)) return bad("");
    if (*p == '0') {
      ++p;
      if (p < end_ && is_digit(*p)) return bad(" (a leading zero)");
    } else {
      while (p < end_ && is_digit(*p)) ++p;
    }
    if (p < end_ && *p == '.') {
      ++p;
      if (p == end_ || !is_digit(*p)) return bad(" (no digit after the decimal point)");
      while (p < end_ && is_digit(*p)) ++p;
    }
    if (p < end_ && (*p == 'e' || *p == 'E')) {
      ++p;
      if (p < end_ && (*p == '+' || *p == '-')) ++p;
      if (p == end_ || !is_digit(*p)) return bad(" (no digit in the exponent)");
      while (p < end_ && is_digit(*p)) ++p;
    }
    if (p < end_ && !ends_token(*p)) return bad("");
    return true;
  }

  const char* begin_;
  const char* end_;
  bool padded_;
  std::optional<JsonFault> fault_;
};

// A JSON number token, its grammar checked exactly, with its decimal
// digits gathered on the way (significant only while `digits` <= 19).
struct NumberToken {
  const char* end;
  uint64_t mantissa = 0;   // the digits before and after the point, as one integer
  int digits = 0;          // how many
  int scale = 0;           // how many after the point
  int exponent_value = 0;  // the exponent's value, capped at +-100000
  bool negative = false;
  bool exponent = false;
  bool integer() const { return scale == 0 && !exponent; }
};

// Scans the number starting at `p`; false when it is none.
inline bool scan_number(const char* p, NumberToken* t) {
  if (*p == '-') {
    t->negative = true;
    ++p;
  }
  if (!is_digit(*p)) return false;
  uint64_t m = 0;
  int digits = 0;
  if (*p == '0') {
    ++p;
    digits = 1;
  } else {
    for (; is_digit(*p); ++p, ++digits) m = m * 10 + static_cast<uint64_t>(*p - '0');
  }
  if (*p == '.') {
    ++p;
    if (!is_digit(*p)) return false;
    for (; is_digit(*p); ++p, ++digits, ++t->scale) m = m * 10 + static_cast<uint64_t>(*p - '0');
  }
  if (*p == 'e' || *p == 'E') {
    t->exponent = true;
    ++p;
    bool negative_exponent = false;
    if (*p == '+' || *p == '-') negative_exponent = *p++ == '-';
    if (!is_digit(*p)) return false;
    int e = 0;
    for (; is_digit(*p); ++p)
      if (e < 100000) e = e * 10 + (*p - '0');
    t->exponent_value = negative_exponent ? -e : e;
  }
  t->end = p;
  t->mantissa = m;
  t->digits = digits;
  return true;
}

// An integer token of at most 18 digits (always fits int64_t).
bool plain_int(const NumberToken& t, int64_t* out) {
  if (!t.integer() || t.digits > 18) return false;
  const auto v = static_cast<int64_t>(t.mantissa);
  *out = t.negative ? -v : v;
  return true;
}

// A number token (`begin` to t.end) as a double. from_chars and simdjson
// both round correctly, so they agree on every finite, normal result;
// anything else (out of range, subnormal) is left to the full path.
bool plain_double(const char* begin, const NumberToken& t, double* out) {
  // Clinger's fast path: at most 15 digits make an exact integer m, and
  // m * 10^e with |e| <= 22 is one IEEE multiplication or division of exact
  // operands, which rounds correctly. Up to 15 - digits more powers of ten
  // move into m first (still exact below 10^15).
  static constexpr double kPow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                      1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
  if (t.digits <= 15) {
    const int e = t.exponent_value - t.scale;
    uint64_t m = t.mantissa;
    double d;
    bool exact = true;
    if (e >= 0 && e <= 22) {
      d = static_cast<double>(m) * kPow10[e];
    } else if (e < 0 && e >= -22) {
      d = static_cast<double>(m) / kPow10[-e];
    } else if (e > 22 && e - 22 <= 15 - t.digits) {
      for (int k = 22; k < e; ++k) m *= 10;
      d = static_cast<double>(m) * 1e22;
    } else {
      exact = false;
    }
    if (exact) {
      *out = t.negative ? -d : d;
      return true;
    }
  }
  double d = 0;
  auto [ptr, ec] = std::from_chars(begin, t.end, d);
  if (ec != std::errc() || ptr != t.end) return false;
  if (d != 0 && !std::isnormal(d)) return false;
  if (d == 0) {
    // Zero only when written as zero (not an underflow).
    for (const char* c = begin; c < t.end; ++c) {
      if (*c == 'e' || *c == 'E') break;
      if (*c >= '1' && *c <= '9') return false;
    }
  }
  *out = d;
  return true;
}

// Dense country index by code, -1 where country_index() has none: one load
// instead of a call per country field.
struct CountryTable {
  int16_t index[kCountryIndexLimit];
  CountryTable() {
    for (int i = 0; i < kCountryIndexLimit; ++i) {
      const char code[2] = {static_cast<char>('A' + i / 26), static_cast<char>('A' + i % 26)};
      auto found = country_index(std::string_view(code, 2));
      index[i] = found ? static_cast<int16_t>(*found) : int16_t{-1};
    }
  }
};
const CountryTable kCountryTable;

// The two bytes at `p` as a country index, exactly as country_index() would
// take them; -1 for none.
inline int plain_country(const char* p) {
  const unsigned a = static_cast<unsigned>(p[0] - 'A'), b = static_cast<unsigned>(p[1] - 'A');
  if (a >= 26 || b >= 26) return -1;
  return kCountryTable.index[a * 26 + b];
}

bool literal(const char* p, const char (&word)[5]) {
  return std::memcmp(p, word, 4) == 0;
}

// The `"kind": "..."` member a plain line must have, found before decoding
// so that every other value can go straight into its column. `first_key` is
// the object's first '"'. In a line the plain path accepts, quotes alternate
// opening and closing (no escapes) and a string followed by ':' is a key, so
// the first `"kind"` followed by ':' is the first `kind` key; the decoding
// pass checks the rest. False when there is none or its value is no string.
bool find_kind(const char* first_key, const char* end, const char** key, std::string_view* name,
               const char** after) {
  const char* q = first_key;
  for (;;) {
    if (std::memcmp(q, "\"kind\"", 6) == 0) {
      const char* p = skip_spaces(q + 6);
      if (*p == ':') {
        p = skip_spaces(p + 1);
        if (*p != '"') return false;
        const char* close = string_end(p + 1, end);
        if (!close) return false;
        *key = q;
        *name = std::string_view(p + 1, static_cast<size_t>(close - p - 1));
        *after = close + 1;
        return true;
      }
    }
    // The next quote, whichever side of a string it is on.
    q = string_end(q + 1, end);
    if (!q) return false;
  }
}

// Skips a value of a field the schema does not name, checked as the full
// path would accept it; null when it is no plain scalar. An `id` string is
// kept for the output record.
const char* skip_plain_value(const char* p, const char* end, bool is_id, uint32_t row, Batch& batch) {
  const char c = *p;
  if (c == '"') {
    const char* close = string_end(p + 1, end);
    if (!close) return nullptr;
    if (is_id) batch.set_id(row, std::string_view(p + 1, static_cast<size_t>(close - p - 1)));
    return close + 1;
  }
  if (c == '-' || is_digit(c)) {
    NumberToken t;
    return scan_number(p, &t) ? t.end : nullptr;
  }
  if (literal(p, "true")) return p + 4;
  if (literal(p, "fals") && p[4] == 'e') return p + 5;
  if (literal(p, "null")) return p + 4;
  return nullptr;  // an object, an array or not JSON
}

// The end of a `null` at `p` for field `f` when the full path takes it as
// absent (an optional field), else null.
[[gnu::noinline]] const char* plain_null(const char* p, const PlainField& f) {
  // A null `id` the schema reads as a string is the full path's error.
  if (!f.optional || (f.id && f.type == ColumnType::String) || !literal(p, "null")) return nullptr;
  return p + 4;
}

// Decodes the value at `p` of field `f` into `row`; returns the end of the
// value, or null to fall back.
inline const char* decode_plain_value(const char* p, const char* end, const PlainField& f, uint32_t row,
                                      Batch& batch) {
  Column& col = batch.column(static_cast<size_t>(f.column));
  switch (f.type) {
    case ColumnType::Bool:
      if (literal(p, "true")) {
        col.data<uint8_t>()[row] = 1;
        p += 4;
      } else if (literal(p, "fals") && p[4] == 'e') {
        col.data<uint8_t>()[row] = 0;
        p += 5;
      } else {
        return plain_null(p, f);
      }
      break;
    case ColumnType::Int: {
      if (*p == 'n') return plain_null(p, f);
      NumberToken t;
      int64_t v;
      if (!scan_number(p, &t) || !plain_int(t, &v)) return nullptr;
      col.data<int64_t>()[row] = v;
      p = t.end;
      break;
    }
    case ColumnType::Number: {
      if (*p == 'n') return plain_null(p, f);
      NumberToken t;
      double v;
      if (!scan_number(p, &t) || !plain_double(p, t, &v)) return nullptr;
      col.data<double>()[row] = v;
      p = t.end;
      break;
    }
    case ColumnType::Country: {
      // Two upper-case letters and the closing quote, or not a country.
      if (p[0] != '"') return plain_null(p, f);
      const int country = p[3] == '"' ? plain_country(p + 1) : -1;
      if (country < 0) return nullptr;
      batch.set_country(row, static_cast<size_t>(f.column), static_cast<uint16_t>(country));
      p += 4;
      break;
    }
    case ColumnType::Time: {
      if (*p != '"') return plain_null(p, f);
      int64_t t;
      // The common shape holds no quote, so its closing quote is at p + 21.
      if (p[21] == '"' && fixed_utc_time(p + 1, &t)) {
        p += 22;
      } else {
        const char* close = string_end(p + 1, end);
        if (!close || !parse_event_time(std::string_view(p + 1, static_cast<size_t>(close - p - 1)), &t))
          return nullptr;
        p = close + 1;
      }
      col.data<int64_t>()[row] = t;
      break;
    }
    case ColumnType::String:
    case ColumnType::Duration: {
      if (*p != '"') return plain_null(p, f);
      const char* close = string_end(p + 1, end);
      if (!close) return nullptr;
      const std::string_view text(p + 1, static_cast<size_t>(close - p - 1));
      p = close + 1;
      if (f.type == ColumnType::String) {
        if (f.id) batch.set_id(row, text);
        col.data<uint32_t>()[row] = f.read ? batch.intern(text) : 0;
      } else {
        auto d = parse_duration(text);
        if (!d) return nullptr;
        col.data<int64_t>()[row] = *d;
      }
      break;
    }
  }
  if (f.column_optional) col.present[row] = 1;
  return p;
}

}  // namespace

// Decodes a plain line into `row` in one pass; false (row possibly half
// written) when the line must take the full path.
bool Decoder::decode_plain(std::string_view line, uint32_t row, Batch& batch) {
  Impl& s = *impl_;
  // Longer lines are over the full parser's capacity, an error it words.
  if (line.size() > s.max_line) return false;
  const char* p = line.data();
  const char* end = p + line.size();
  while (end > p && end[-1] == ' ') --end;
  if (end == p || end[-1] != '}') return false;  // the last byte, which stops every scan

  p = skip_spaces(p);
  if (*p != '{') return false;
  p = skip_spaces(p + 1);
  if (*p != '"') return false;  // `{}` has no kind: the full path words it

  // The kind: usually the first member, compared raw against each kind's.
  const Schema& schema = *s.schema;
  int kind_index = -1;
  const char* kind_key = p;
  const char* after_kind = nullptr;
  for (size_t k = 0; k < s.plain_kinds.size(); ++k) {
    const std::optional<KeyPattern>& m = s.plain_kinds[k].kind_member;
    if (m && m->matches(p)) {
      kind_index = static_cast<int>(k);
      after_kind = p + m->size;
      break;
    }
  }
  if (kind_index < 0) {
    std::string_view kind_name;
    if (!find_kind(p, end, &kind_key, &kind_name, &after_kind)) return false;
    kind_index = schema.kind_index(kind_name);
    if (kind_index < 0) return false;
  }
  const KindSpec& kind = schema.kinds[static_cast<size_t>(kind_index)];
  PlainKind& pk = s.plain_kinds[static_cast<size_t>(kind_index)];
  const PlainField* const fields = pk.fields.data();
  uint64_t seen_low = 0;  // fields 0-63; the rest in s.seen_high
  if (!pk.required_high.empty()) std::fill(s.seen_high.begin(), s.seen_high.end(), 0);
  std::vector<int>& predicted = pk.predicted;
  const int* predicted_index = predicted.data();  // refreshed when `predicted` grows
  size_t predicted_count = predicted.size();

  // The id's duplicates are caught by the seen bits when the schema names
  // it; this catches them when it does not.
  bool seen_unknown_id = false;
  size_t position = 0;  // of the key among the line's keys, `kind` not counted
  for (;;) {
    // At a key's opening quote, or what should be one.
    if (p == kind_key) {
      p = after_kind;  // decoded above
    } else {
      int index = position < predicted_count ? predicted_index[position] : -2;
      if (index >= 0 && fields[index].member.matches(p)) {
        // The key met here last time, written `"name":`.
        p += fields[index].member.size;
      } else {
        if (*p != '"') return false;
        const char* key = p + 1;
        const char* key_end = string_end(key, end);
        if (!key_end) return false;
        const std::string_view name(key, static_cast<size_t>(key_end - key));
        if (name == "kind") return false;  // a second `kind`: the full path words it
        auto it = kind.field_index.find(name);
        index = it == kind.field_index.end() ? -1 : it->second;
        if (position >= predicted.size()) predicted.resize(position + 1, -2);
        predicted[position] = index;
        predicted_index = predicted.data();
        predicted_count = predicted.size();
        p = skip_spaces(key_end + 1);
        if (*p != ':') return false;
        p = skip_spaces(p + 1);
        if (index < 0) {
          const bool is_id = name == "id";
          if (is_id) {
            if (seen_unknown_id) return false;  // a duplicate: the full path words it
            seen_unknown_id = true;
          }
          p = skip_plain_value(p, end, is_id, row, batch);
        }
      }
      ++position;
      if (index >= 0) {
        const auto i = static_cast<size_t>(index);
        uint64_t& word = i < 64 ? seen_low : s.seen_high[i / 64 - 1];
        const uint64_t bit = uint64_t{1} << (i % 64);
        if (word & bit) return false;  // a duplicate: the full path words it
        word |= bit;
        p = decode_plain_value(p, end, fields[i], row, batch);
      }
      if (!p) return false;
    }
    // After a value: `,` and the next key, or the end of the object.
    if (*p == ',') {
      p = skip_spaces(p + 1);
      continue;
    }
    p = skip_spaces(p);
    if (*p == ',') {
      p = skip_spaces(p + 1);
      continue;
    }
    if (*p != '}') return false;
    ++p;
    break;
  }
  if (p != end) return false;                     // content after the object
  if (pk.required_low & ~seen_low) return false;  // a required field is missing
  for (size_t w = 0; w < pk.required_high.size(); ++w)
    if (pk.required_high[w] & ~s.seen_high[w]) return false;
  batch.set_kind(row, static_cast<uint8_t>(kind_index));
  return true;
}

namespace {

// The error path's messages, out of line and cold so that decode_field, on
// the path every good line takes, compiles as it did without them.

// A wrong JSON type, with the checker's hint for `"256"` where a number is
// expected: "write the number without quotes".
[[gnu::noinline, gnu::cold]] void fail_wrong_type(std::string_view raw_string, od::json_type type,
                                                  const FieldSpec& f, uint32_t row, Batch& batch) {
  // `raw_string` is the JSON token, quotes included; a number has no escapes.
  std::string hint;
  std::string_view s =
      raw_string.size() >= 2 ? raw_string.substr(1, raw_string.size() - 2) : std::string_view();
  if ((f.type == ColumnType::Int || f.type == ColumnType::Number) && !s.empty() && s.size() <= 32) {
    double d;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), d);
    if (ec == std::errc() && end == s.data() + s.size())
      hint = fmt::format(" (write the number without quotes: {})", s);
  }
  batch.fail(
      row, ErrorReason::WrongType,
      fmt::format("{}: expected {}, found {}{}", f.name, expected_name(f.type), json_type_name(type), hint));
}

// Not a country code, with the checker's hint for the same mistake in a
// policy (`UK` -> `GB`).
[[gnu::noinline, gnu::cold]] void fail_country(std::string_view s, const FieldSpec& f, uint32_t row,
                                               Batch& batch) {
  auto near = suggest_country(s);
  batch.fail(
      row, ErrorReason::BadCountry,
      fmt::format("{}: `{}` is not an ISO 3166-1 alpha-2 country code{}", f.name, clip_for_message(s),
                  near ? fmt::format(" (did you mean `{}` ({})?)", country_code(*near), country_name(*near))
                       : std::string()));
}

// Decodes one field value into its column; returns false after recording the
// row error.
bool decode_field(od::value value, const FieldSpec& f, uint32_t row, Batch& batch) {
  Column& col = batch.column(static_cast<size_t>(f.column));
  od::json_type type;
  if (value.type().get(type)) {
    batch.fail(row, ErrorReason::InvalidJson, fmt::format("{}: invalid JSON value", f.name));
    return false;
  }
  if (type == od::json_type::null) {
    if (f.optional) return true;  // absent
    batch.fail(row, ErrorReason::NullValue,
               fmt::format("{}: null where {} is required", f.name, expected_name(f.type)));
    return false;
  }
  // `raw_string`: the JSON token of a string found where a number is
  // expected (for the hint); `value` itself stays out of the lambda, which
  // keeps decode_field's arguments in registers.
  auto wrong_type = [&](std::string_view raw_string) {
    fail_wrong_type(raw_string, type, f, row, batch);
    return false;
  };

  switch (f.type) {
    case ColumnType::Bool: {
      bool b;
      if (type != od::json_type::boolean || value.get_bool().get(b)) return wrong_type({});
      col.data<uint8_t>()[row] = b ? 1 : 0;
      break;
    }
    case ColumnType::Int: {
      if (type != od::json_type::number)
        return wrong_type(type == od::json_type::string ? std::string_view(value.raw_json_token()) : "");
      int64_t i;
      if (value.get_int64().get(i)) {
        batch.fail(row, ErrorReason::WrongType,
                   fmt::format("{}: expected an integer, found `{}`", f.name,
                               clip_for_message(std::string_view(value.raw_json_token()))));
        return false;
      }
      col.data<int64_t>()[row] = i;
      break;
    }
    case ColumnType::Number: {
      double d;
      if (type != od::json_type::number)
        return wrong_type(type == od::json_type::string ? std::string_view(value.raw_json_token()) : "");
      if (value.get_double().get(d) || !std::isfinite(d)) {
        batch.fail(row, ErrorReason::WrongType, fmt::format("{}: number out of range", f.name));
        return false;
      }
      col.data<double>()[row] = d;
      break;
    }
    case ColumnType::String:
    case ColumnType::Country:
    case ColumnType::Time:
    case ColumnType::Duration: {
      std::string_view s;
      if (type != od::json_type::string) return wrong_type({});
      if (f.type == ColumnType::String && !f.read) {
        // Not read by the policy: checked to be a string, not unescaped
        // (as unknown fields are skipped, not materialised).
        col.data<uint32_t>()[row] = 0;
        if (!col.present.empty()) col.present[row] = 1;
        return true;
      }
      if (value.get_string().get(s)) {
        batch.fail(row, ErrorReason::InvalidJson, fmt::format("{}: invalid string", f.name));
        return false;
      }
      if (f.type == ColumnType::String) {
        col.data<uint32_t>()[row] = f.read ? batch.intern(s) : 0;
      } else if (f.type == ColumnType::Country) {
        auto index = country_index(s);
        if (!index) {
          fail_country(s, f, row, batch);
          return false;
        }
        batch.set_country(row, static_cast<size_t>(f.column), *index);
      } else if (f.type == ColumnType::Time) {
        int64_t t;
        if (!parse_event_time(s, &t)) {
          std::string why = explain_bad_time(s);
          batch.fail(row, ErrorReason::BadTime,
                     fmt::format("{}: `{}` is not an RFC 3339 time{}{}", f.name, clip_for_message(s),
                                 why.empty() ? "" : ": ", why));
          return false;
        }
        col.data<int64_t>()[row] = t;
      } else {
        auto d = parse_duration(s);
        if (!d) {
          batch.fail(row, ErrorReason::WrongType,
                     fmt::format("{}: `{}` is not a duration", f.name, clip_for_message(s)));
          return false;
        }
        col.data<int64_t>()[row] = *d;
      }
      break;
    }
  }
  if (!col.present.empty()) col.present[row] = 1;
  return true;
}

}  // namespace

void Decoder::decode(std::string_view line, size_t capacity, uint64_t line_number, Batch& batch) {
  uint32_t row = batch.begin_row(line_number);
  if (impl_->fast_path) {
    if (capacity >= line.size() + simdjson::SIMDJSON_PADDING && decode_plain(line, row, batch)) {
      ++impl_->plain_lines;
      return;
    }
    batch.restart_row(row);
  }
  impl_->decode_full(line, capacity, row, batch);
}

void Decoder::Impl::decode_full(std::string_view line, size_t capacity, uint32_t row, Batch& batch) {
  od::document doc;
  od::object obj;
  if (!open_object(line, capacity, row, batch, doc, obj)) return;
  // Pass 1: the kind selects the schema.
  int kind_index = read_kind(obj, row, batch);
  if (kind_index < 0) return;
  batch.set_event_kind(row, static_cast<uint8_t>(kind_index));
  // Pass 2: every field once.
  if (obj.reset().error()) {
    batch.fail(row, ErrorReason::InvalidJson, "invalid JSON");
    return;
  }
  field_errors.clear();
  if (!read_fields(obj, kind_index, row, batch)) return;
  // The object is consumed; a location still inside the line means trailing content.
  const char* trailing = nullptr;
  if (!doc.current_location().get(trailing)) {
    batch.fail(row, ErrorReason::InvalidJson, "invalid JSON: trailing content after the object");
    return;
  }
  const KindSpec& kind = schema->kinds[static_cast<size_t>(kind_index)];
  bool complete = field_errors.empty();
  for (size_t i = 0; i < kind.fields.size() && complete; ++i)
    complete = seen[i] || kind.fields[i].optional || kind.fields[i].computed;
  if (!complete) {
    fail_fields(row, batch, kind);
    return;
  }
  batch.set_kind(row, static_cast<uint8_t>(kind_index));
}

bool Decoder::Impl::open_object(std::string_view line, size_t capacity, uint32_t row, Batch& batch,
                                od::document& doc, od::object& obj) {
  if (line.size() > max_line) {
    batch.fail(row, ErrorReason::LineTooLong,
               fmt::format("line is {} bytes, over the limit of {}", line.size(), max_line));
    return false;
  }
  if (parser.capacity() < line.size()) {
    // Grown by a quarter at least (iterate() would allocate each longer line's
    // exact size), never past the limit.
    const size_t grown =
        std::min(max_line, std::max({line.size(), parser.capacity() + parser.capacity() / 4, size_t{4096}}));
    if (parser.allocate(grown) != simdjson::SUCCESS) {
      batch.fail(row, ErrorReason::LineTooLong,
                 fmt::format("line is {} bytes, more than memory allows to decode", line.size()));
      return false;
    }
  }
  auto err = parser.iterate(line.data(), line.size(), capacity).get(doc);
  if (err == simdjson::UTF8_ERROR) {
    batch.fail(row, ErrorReason::InvalidUtf8, "invalid UTF-8");
    return false;
  }
  // On Demand leaves skipped values and most of each scalar unchecked: the
  // whole line is checked first (also to word simdjson's own errors).
  if (auto fault =
          JsonChecker(line, capacity >= line.size() + simdjson::SIMDJSON_PADDING).check(json_stack)) {
    batch.fail(row, ErrorReason::InvalidJson,
               fmt::format("invalid JSON at column {}: {}", fault->at + 1, fault->what));
    return false;
  }
  if (err) {
    batch.fail(row, ErrorReason::InvalidJson, fmt::format("invalid JSON: {}", simdjson::error_message(err)));
    return false;
  }
  od::json_type top;
  if (doc.type().get(top)) {
    batch.fail(row, ErrorReason::InvalidJson, "invalid JSON");
    return false;
  }
  if (top != od::json_type::object) {
    batch.fail(row, ErrorReason::NotObject, fmt::format("not a JSON object (found {})", json_type_name(top)));
    return false;
  }
  if (doc.get_object().get(obj)) {
    batch.fail(row, ErrorReason::InvalidJson, "invalid JSON object");
    return false;
  }
  return true;
}

int Decoder::Impl::read_kind(od::object& obj, uint32_t row, Batch& batch) {
  std::string_view kind_name;
  od::value kv;
  auto kerr = obj.find_field_unordered("kind").get(kv);
  if (kerr == simdjson::NO_SUCH_FIELD) {
    batch.fail(row, ErrorReason::MissingKind, "missing field `kind`");
    return -1;
  }
  if (kerr || kv.get_string().get(kind_name)) {
    batch.fail(row,
               kerr && kerr != simdjson::INCORRECT_TYPE ? ErrorReason::InvalidJson : ErrorReason::WrongType,
               kerr && kerr != simdjson::INCORRECT_TYPE
                   ? fmt::format("invalid JSON: {}", simdjson::error_message(kerr))
                   : "kind: expected a string");
    return -1;
  }
  int kind_index = schema->kind_index(kind_name);
  if (kind_index < 0) {
    batch.fail(row, ErrorReason::UnknownKind,
               fmt::format("unknown event kind `{}`; this policy reads {}", clip_for_message(kind_name), [&] {
                 std::string names;
                 for (size_t i = 0; i < schema->kinds.size(); ++i)
                   names += (i ? ", `" : "`") + schema->kinds[i].name + "`";
                 return names;
               }()));
  }
  return kind_index;
}

// Duplicates and type errors are row errors; a key outside the schema is
// skipped, except `id`, kept for the output record.
bool Decoder::Impl::read_fields(od::object& obj, int kind_index, uint32_t row, Batch& batch) {
  const KindSpec& kind = schema->kinds[static_cast<size_t>(kind_index)];
  seen.assign(kind.fields.size(), 0);
  bool seen_kind = false;
  if (predicted.size() < schema->kinds.size()) predicted.resize(schema->kinds.size());
  std::vector<int>& order = predicted[static_cast<size_t>(kind_index)];
  size_t key_position = 0;
  for (auto field_result : obj) {
    od::field field;
    if (std::move(field_result).get(field)) {
      batch.fail(row, ErrorReason::InvalidJson, "invalid JSON: malformed object");
      return false;
    }
    // Fast path: the key the producer wrote at this position last time,
    // compared raw (a key written with escapes takes the slow path).
    const int guess = key_position < order.size() ? order[key_position] : -1;
    if (guess >= 0) {
      const FieldSpec& spec = kind.fields[static_cast<size_t>(guess)];
      const KeyPattern& pattern = keys[static_cast<size_t>(kind_index)][static_cast<size_t>(guess)];
      if (spec.name != "id" && pattern.matches(field.key().raw())) {
        ++key_position;
        if (!mark_seen(guess, spec.name, row, batch)) return false;
        if (!decode_field(field.value(), spec, row, batch)) note_field_error(row, batch);
        continue;
      }
    }
    std::string_view key;
    if (field.unescaped_key().get(key)) {
      batch.fail(row, ErrorReason::InvalidJson, "invalid JSON: malformed object");
      return false;
    }
    if (key == "kind") {
      if (seen_kind) {
        batch.fail(row, ErrorReason::DuplicateKey, "duplicate key `kind`");
        return false;
      }
      seen_kind = true;
      continue;
    }
    const size_t position = key_position++;
    int index = position < order.size() ? order[position] : -2;
    if (index < 0 || kind.fields[static_cast<size_t>(index)].name != key) {
      auto it = kind.field_index.find(key);
      index = it == kind.field_index.end() ? -1 : it->second;
      if (position >= order.size()) order.resize(position + 1, -2);
      order[position] = index;
    }
    if (index < 0 || (key == "id" && kind.fields[static_cast<size_t>(index)].type == ColumnType::String)) {
      if (!read_id(field, key, kind, index, row, batch)) return false;
      continue;
    }
    if (!mark_seen(index, key, row, batch)) return false;
    if (!decode_field(field.value(), kind.fields[static_cast<size_t>(index)], row, batch))
      note_field_error(row, batch);
  }
  return true;
}

// A field's bad value does not stop the reading of the others: the record
// then names every bad field at once, as the checker does for a policy.
void Decoder::Impl::note_field_error(uint32_t row, Batch& batch) {
  if (const abi::RowError* e = batch.error_of(row)) field_errors.emplace_back(e->reason, e->message);
}

void Decoder::Impl::fail_fields(uint32_t row, Batch& batch, const KindSpec& kind) {
  std::string missing;
  size_t missing_count = 0;
  for (size_t i = 0; i < kind.fields.size(); ++i)
    if (!seen[i] && !kind.fields[i].optional && !kind.fields[i].computed)
      missing += (missing_count++ ? ", `" : "`") + kind.fields[i].name + "`";
  if (field_errors.empty() && missing_count == 0) return;
  ErrorReason reason = field_errors.empty() ? ErrorReason::MissingField : field_errors.front().first;
  std::string message;
  for (const auto& [why, text] : field_errors) message += (message.empty() ? "" : "; ") + text;
  if (missing_count)
    message += (message.empty() ? "" : "; ") +
               std::string(missing_count == 1 ? "missing field " : "missing fields ") + missing;
  batch.fail(row, reason, std::move(message));
}

// A key outside the schema (`index` -1), or `id` as a string field: the id
// is kept for the output record whether or not the schema has it.
bool Decoder::Impl::read_id(od::field& field, std::string_view key, const KindSpec& kind, int index,
                            uint32_t row, Batch& batch) {
  std::string_view id;
  if (key == "id") {
    if (field.value().get_string().get(id)) {
      if (index >= 0) {
        batch.fail(row, ErrorReason::WrongType, "id: expected a string");
        return false;
      }
    } else {
      batch.set_id(row, id);
    }
  }
  if (index < 0) return true;  // not in the schema: skipped, not materialised
  const FieldSpec& spec = kind.fields[static_cast<size_t>(index)];
  if (!mark_seen(index, "id", row, batch)) return false;
  Column& col = batch.column(static_cast<size_t>(spec.column));
  if (spec.type == ColumnType::String) {
    col.data<uint32_t>()[row] = spec.read ? batch.intern(id) : 0;
    if (!col.present.empty()) col.present[row] = 1;
  }
  return true;
}

// Records field `index` as read; false (a row error) when it was already.
bool Decoder::Impl::mark_seen(int index, std::string_view key, uint32_t row, Batch& batch) {
  if (seen[static_cast<size_t>(index)]) {
    batch.fail(row, ErrorReason::DuplicateKey, fmt::format("duplicate key `{}`", clip_for_message(key)));
    return false;
  }
  seen[static_cast<size_t>(index)] = 1;
  return true;
}

}  // namespace edict::decode
