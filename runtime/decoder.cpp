// JSON decoding with simdjson On-Demand: find `kind`, then one pass over the
// object's fields, decoding only those the schema names into their columns.
#include "runtime/decoder.h"

#include <fmt/format.h>
#include <simdjson.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <bit>
#include <charconv>
#include <cmath>
#include <cstring>

#include "compiler/support/countries.h"
#include "compiler/support/time_util.h"

namespace edict::runtime {
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

// Shortens user text quoted in an error message.
std::string quote(std::string_view s) {
  constexpr size_t kMax = 40;
  if (s.size() <= kMax) return std::string(s);
  size_t cut = kMax;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;  // keep UTF-8 whole
  return std::string(s.substr(0, cut)) + "...";
}

bool two_digits(const char* p, int* out) {
  if (p[0] < '0' || p[0] > '9' || p[1] < '0' || p[1] > '9') return false;
  *out = (p[0] - '0') * 10 + (p[1] - '0');
  return true;
}

}  // namespace

bool parse_event_time(std::string_view s, int64_t* micros) {
  // Fast path: exactly `YYYY-MM-DDTHH:MM:SSZ` with in-range fields.
  if (s.size() == 20 && s[4] == '-' && s[7] == '-' && s[10] == 'T' && s[13] == ':' && s[16] == ':' &&
      s[19] == 'Z') {
    int y1, y2, mo, d, h, mi, se;
    const char* p = s.data();
    if (two_digits(p, &y1) && two_digits(p + 2, &y2) && two_digits(p + 5, &mo) && two_digits(p + 8, &d) &&
        two_digits(p + 11, &h) && two_digits(p + 14, &mi) && two_digits(p + 17, &se) && mo >= 1 && mo <= 12 &&
        d >= 1 && d <= 28 && h <= 23 && mi <= 59 && se <= 59 && (y1 | y2) != 0) {
      int64_t days = days_from_civil(y1 * 100 + y2, static_cast<unsigned>(mo), static_cast<unsigned>(d));
      *micros = (days * 86400 + h * 3600 + mi * 60 + se) * kMicrosPerSecond;
      return true;
    }
  }
  auto v = parse_rfc3339(s);
  if (!v) return false;
  *micros = *v;
  return true;
}

// A schema key and its closing quote as masked 16-byte chunks, compared
// against the raw key in the input one chunk at a time. A chunk is read only
// when the one before matched in full (a name holds no `"`), so the raw key
// runs at least to that chunk's start and the read stays within the key's
// closing quote plus 16 bytes: inside the input's padding, however long the
// schema's name and however short the key.
struct KeyPattern {
  struct Chunk {
    uint64_t word[2] = {0, 0}, mask[2] = {0, 0};
  };
  std::vector<Chunk> chunks;

  explicit KeyPattern(std::string_view name) {
    std::string bytes(name);
    bytes += '"';
    for (size_t at = 0; at < bytes.size(); at += 16) {
      const size_t n = std::min<size_t>(16, bytes.size() - at);
      unsigned char text[16] = {}, ones[16] = {};
      std::memcpy(text, bytes.data() + at, n);
      std::memset(ones, 0xFF, n);
      Chunk& c = chunks.emplace_back();
      std::memcpy(c.word, text, 16);
      std::memcpy(c.mask, ones, 16);
    }
  }
  bool matches(const char* raw) const {
    for (const Chunk& c : chunks) {
      uint64_t in[2];
      std::memcpy(in, raw, 16);
      if (((in[0] & c.mask[0]) ^ c.word[0]) != 0 || ((in[1] & c.mask[1]) ^ c.word[1]) != 0) return false;
      raw += 16;
    }
    return true;
  }
};

constexpr size_t kMaxDocument = size_t{1} << 20;  // the simdjson parser's capacity

// One `"key": value` of a plain line (see decode_plain).
enum class PlainType : uint8_t { String, Number, True, False, Null };
struct PlainField {
  std::string_view key;
  std::string_view value;  // a string's text without quotes, else the token
  PlainType type;
  bool integer;  // a Number without fraction or exponent
};

struct Decoder::Impl {
  const Schema* schema;
  bool fast_path = true;
  uint64_t plain_lines = 0;
  std::vector<PlainField> plain;                  // fields of the current plain line
  std::vector<std::vector<int>> plain_predicted;  // per kind: field index at each key position
  od::parser parser{kMaxDocument};
  std::vector<uint8_t> seen;  // per field of the current kind
  // Per kind: the field index met at each key position last time. Producers
  // write keys in a fixed order, so one string compare usually replaces a
  // hash lookup.
  std::vector<std::vector<int>> predicted;
  std::vector<std::vector<KeyPattern>> keys;  // per kind, per field
};

Decoder::Decoder(const Schema& schema, bool fast_path) : impl_(std::make_unique<Impl>()) {
  impl_->schema = &schema;
  impl_->fast_path = fast_path;
  impl_->plain_predicted.resize(schema.kinds.size());
  for (const KindSpec& kind : schema.kinds) {
    auto& keys = impl_->keys.emplace_back();
    for (const FieldSpec& f : kind.fields) keys.emplace_back(f.name);
  }
}
Decoder::~Decoder() = default;
uint64_t Decoder::plain_lines() const {
  return impl_->plain_lines;
}

namespace {

// ---- The plain fast path ---------------------------------------------------
// Producers write flat objects of printable ASCII: no escapes, no nesting, no
// whitespace but spaces. Such a line is tokenised and decoded here directly,
// without simdjson's two stages. Anything else, and every line that would be
// an error, falls back to the full simdjson path below, which alone words
// errors; so this path is only ever stricter than the full one, and a line it
// accepts decodes to exactly the same row (tests/unit/runtime_test.cpp
// compares the two on generated and mutated lines).

// True when no byte is a control character, non-ASCII or a backslash.
bool plain_ascii(const char* p, size_t n) {
  size_t i = 0;
#if defined(__SSE2__)
  // Signed bytes: one compare catches both < 0x20 and >= 0x80.
  const __m128i space = _mm_set1_epi8(0x20), backslash = _mm_set1_epi8('\\');
  __m128i bad = _mm_setzero_si128();
  for (; i + 16 <= n; i += 16) {
    __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i));
    bad = _mm_or_si128(bad, _mm_or_si128(_mm_cmplt_epi8(v, space), _mm_cmpeq_epi8(v, backslash)));
  }
  if (_mm_movemask_epi8(bad)) return false;
#endif
  for (; i < n; ++i) {
    unsigned char c = static_cast<unsigned char>(p[i]);
    if (c < 0x20 || c >= 0x80 || c == '\\') return false;
  }
  return true;
}

// The first '"' in [p, end), or null. Reads whole 16-byte blocks up to
// `readable` (the caller's padding) rather than stopping at `end`.
const char* find_quote(const char* p, const char* end, const char* readable) {
#if defined(__SSE2__)
  const __m128i quote = _mm_set1_epi8('"');
  while (p < end && p + 16 <= readable) {
    unsigned mask = static_cast<unsigned>(
        _mm_movemask_epi8(_mm_cmpeq_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)), quote)));
    if (mask) {
      const char* q = p + std::countr_zero(mask);
      return q < end ? q : nullptr;
    }
    p += 16;
  }
#endif
  while (p < end && *p != '"') ++p;
  return p < end ? p : nullptr;
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// Tokenises a plain line into `out`; false when it is not one (then the full
// path decides). JSON's number grammar is checked exactly; values are not
// converted here.
bool tokenise_plain(std::string_view line, size_t capacity, std::vector<PlainField>& out) {
  out.clear();
  const char* p = line.data();
  const char* const end = p + line.size();
  const char* const readable = p + capacity;
  auto skip_spaces = [&] {
    while (p < end && *p == ' ') ++p;
  };
  auto read_string = [&](std::string_view& text) {
    // At the opening quote; no escapes can occur (plain_ascii).
    const char* begin = ++p;
    const char* q = find_quote(begin, end, readable);
    if (!q) return false;
    p = q;
    text = std::string_view(begin, static_cast<size_t>(p - begin));
    ++p;
    return true;
  };
  skip_spaces();
  if (p == end || *p != '{') return false;
  ++p;
  skip_spaces();
  if (p == end || *p == '}') return false;  // `{}` has no kind: the full path words it
  for (;;) {
    PlainField f{};
    if (p == end || *p != '"' || !read_string(f.key)) return false;
    skip_spaces();
    if (p == end || *p != ':') return false;
    ++p;
    skip_spaces();
    if (p == end) return false;
    const char c = *p;
    if (c == '"') {
      if (!read_string(f.value)) return false;
      f.type = PlainType::String;
    } else if (c == '-' || is_digit(c)) {
      const char* begin = p;
      if (*p == '-') ++p;
      if (p == end || !is_digit(*p)) return false;
      if (*p == '0') {
        ++p;
      } else {
        while (p < end && is_digit(*p)) ++p;
      }
      f.integer = true;
      if (p < end && *p == '.') {
        f.integer = false;
        ++p;
        if (p == end || !is_digit(*p)) return false;
        while (p < end && is_digit(*p)) ++p;
      }
      if (p < end && (*p == 'e' || *p == 'E')) {
        f.integer = false;
        ++p;
        if (p < end && (*p == '+' || *p == '-')) ++p;
        if (p == end || !is_digit(*p)) return false;
        while (p < end && is_digit(*p)) ++p;
      }
      f.value = std::string_view(begin, static_cast<size_t>(p - begin));
      f.type = PlainType::Number;
    } else {
      auto literal = [&](std::string_view word, PlainType type) {
        if (static_cast<size_t>(end - p) < word.size() || std::memcmp(p, word.data(), word.size()) != 0)
          return false;
        f.value = std::string_view(p, word.size());
        f.type = type;
        p += word.size();
        return true;
      };
      if (!(c == 't'   ? literal("true", PlainType::True)
            : c == 'f' ? literal("false", PlainType::False)
            : c == 'n' ? literal("null", PlainType::Null)
                       : false))
        return false;  // an object, an array or not JSON
    }
    out.push_back(f);
    skip_spaces();
    if (p == end) return false;
    if (*p == ',') {
      ++p;
      skip_spaces();
      continue;
    }
    if (*p != '}') return false;
    ++p;
    break;
  }
  skip_spaces();
  return p == end;
}

// An integer token of at most 18 digits (always fits int64_t).
bool plain_int(std::string_view token, int64_t* out) {
  const bool negative = token[0] == '-';
  const size_t digits = token.size() - (negative ? 1 : 0);
  if (digits > 18) return false;
  int64_t v = 0;
  for (size_t i = negative ? 1 : 0; i < token.size(); ++i) v = v * 10 + (token[i] - '0');
  *out = negative ? -v : v;
  return true;
}

// A number token as a double. from_chars and simdjson both round correctly,
// so they agree on every finite, normal result; anything else (out of range,
// subnormal) is left to the full path.
bool plain_double(std::string_view token, double* out) {
  // Clinger's fast path: at most 15 digits and no exponent make an exact
  // integer over an exact power of ten, and one IEEE division rounds that
  // correctly.
  static constexpr double kPow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                      1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
  {
    const char* p = token.data();
    const char* const e = p + token.size();
    const bool negative = *p == '-';
    if (negative) ++p;
    uint64_t mantissa = 0;
    int digits = 0, scale = 0;
    for (; p < e && is_digit(*p); ++p, ++digits) mantissa = mantissa * 10 + static_cast<uint64_t>(*p - '0');
    if (p < e && *p == '.')
      for (++p; p < e && is_digit(*p); ++p, ++digits, ++scale)
        mantissa = mantissa * 10 + static_cast<uint64_t>(*p - '0');
    if (p == e && digits <= 15 && scale <= 22) {
      double d = static_cast<double>(mantissa) / kPow10[scale];
      *out = negative ? -d : d;
      return true;
    }
  }
  double d = 0;
  auto [ptr, ec] = std::from_chars(token.data(), token.data() + token.size(), d);
  if (ec != std::errc() || ptr != token.data() + token.size()) return false;
  if (d != 0 && !std::isnormal(d)) return false;
  if (d == 0) {
    // Zero only when written as zero (not an underflow).
    for (char c : token) {
      if (c == 'e' || c == 'E') break;
      if (c >= '1' && c <= '9') return false;
    }
  }
  *out = d;
  return true;
}

// Stores one plain value into its column; false to fall back.
bool store_plain(const PlainField& v, const FieldSpec& f, uint32_t row, Batch& batch) {
  Column& col = batch.column(static_cast<size_t>(f.column));
  if (v.type == PlainType::Null) return f.optional;  // absent, or the full path's error
  switch (f.type) {
    case ColumnType::Bool:
      if (v.type != PlainType::True && v.type != PlainType::False) return false;
      col.data<uint8_t>()[row] = v.type == PlainType::True ? 1 : 0;
      break;
    case ColumnType::Int: {
      int64_t i;
      if (v.type != PlainType::Number || !v.integer || !plain_int(v.value, &i)) return false;
      col.data<int64_t>()[row] = i;
      break;
    }
    case ColumnType::Number: {
      double d;
      if (v.type != PlainType::Number || !plain_double(v.value, &d)) return false;
      col.data<double>()[row] = d;
      break;
    }
    case ColumnType::String:
      if (v.type != PlainType::String) return false;
      col.data<uint32_t>()[row] = f.read ? batch.intern(v.value) : 0;
      break;
    case ColumnType::Country: {
      if (v.type != PlainType::String) return false;
      auto index = country_index(v.value);
      if (!index) return false;
      col.data<uint16_t>()[row] = *index;
      break;
    }
    case ColumnType::Time: {
      int64_t t;
      if (v.type != PlainType::String || !parse_event_time(v.value, &t)) return false;
      col.data<int64_t>()[row] = t;
      break;
    }
    case ColumnType::Duration: {
      if (v.type != PlainType::String) return false;
      auto d = parse_duration(v.value);
      if (!d) return false;
      col.data<int64_t>()[row] = *d;
      break;
    }
  }
  if (!col.present.empty()) col.present[row] = 1;
  return true;
}

}  // namespace

// Decodes a plain line into `row`; false (row possibly half written) when the
// line must take the full path.
bool Decoder::decode_plain(std::string_view line, size_t capacity, uint32_t row, Batch& batch) {
  Impl& s = *impl_;
  // Longer lines are over the full parser's capacity, an error it words.
  if (line.size() > kMaxDocument) return false;
  if (!plain_ascii(line.data(), line.size()) || !tokenise_plain(line, capacity, s.plain)) return false;
  const Schema& schema = *s.schema;
  const PlainField* kind_field = nullptr;
  for (const PlainField& f : s.plain) {
    if (!(f.key.size() == 4 && std::memcmp(f.key.data(), "kind", 4) == 0)) continue;
    if (kind_field || f.type != PlainType::String) return false;
    kind_field = &f;
  }
  if (!kind_field) return false;
  const int kind_index = schema.kind_index(kind_field->value);
  if (kind_index < 0) return false;
  const KindSpec& kind = schema.kinds[static_cast<size_t>(kind_index)];
  std::vector<uint8_t>& seen = s.seen;
  seen.assign(kind.fields.size(), 0);
  std::vector<int>& predicted = s.plain_predicted[static_cast<size_t>(kind_index)];
  // Keys are compared raw: each is followed by its closing quote in the line.
  const std::vector<KeyPattern>& keys = s.keys[static_cast<size_t>(kind_index)];
  bool seen_id = false;
  size_t position = 0;
  for (const PlainField& v : s.plain) {
    if (&v == kind_field) continue;
    // The field index met at this key position last time, else a lookup.
    int index = position < predicted.size() ? predicted[position] : -2;
    if (index < 0 || !keys[static_cast<size_t>(index)].matches(v.key.data())) {
      auto it = kind.field_index.find(v.key);
      index = it == kind.field_index.end() ? -1 : it->second;
      if (position >= predicted.size()) predicted.resize(position + 1, -2);
      predicted[position] = index;
    }
    ++position;
    if (v.key.size() == 2 && v.key[0] == 'i' && v.key[1] == 'd') {
      // Kept for the output record whether or not the schema has it.
      if (seen_id) return false;
      seen_id = true;
      if (index < 0 || kind.fields[static_cast<size_t>(index)].type == ColumnType::String) {
        if (v.type == PlainType::String)
          batch.set_id(row, v.value);
        else if (index >= 0)
          return false;
      }
    }
    if (index < 0) continue;  // not in the schema: skipped
    if (seen[static_cast<size_t>(index)]) return false;
    seen[static_cast<size_t>(index)] = 1;
    if (!store_plain(v, kind.fields[static_cast<size_t>(index)], row, batch)) return false;
  }
  for (size_t i = 0; i < kind.fields.size(); ++i)
    if (!seen[i] && !kind.fields[i].optional && !kind.fields[i].computed) return false;
  batch.set_kind(row, static_cast<uint8_t>(kind_index));
  return true;
}

namespace {

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
  auto wrong_type = [&] {
    batch.fail(row, ErrorReason::WrongType,
               fmt::format("{}: expected {}, found {}", f.name, expected_name(f.type), json_type_name(type)));
    return false;
  };
  switch (f.type) {
    case ColumnType::Bool: {
      bool b;
      if (type != od::json_type::boolean || value.get_bool().get(b)) return wrong_type();
      col.data<uint8_t>()[row] = b ? 1 : 0;
      break;
    }
    case ColumnType::Int: {
      if (type != od::json_type::number) return wrong_type();
      int64_t i;
      if (value.get_int64().get(i)) {
        batch.fail(row, ErrorReason::WrongType,
                   fmt::format("{}: expected an integer, found `{}`", f.name,
                               quote(std::string_view(value.raw_json_token()))));
        return false;
      }
      col.data<int64_t>()[row] = i;
      break;
    }
    case ColumnType::Number: {
      double d;
      if (type != od::json_type::number) return wrong_type();
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
      if (type != od::json_type::string) return wrong_type();
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
          batch.fail(row, ErrorReason::BadCountry,
                     fmt::format("{}: `{}` is not an ISO 3166-1 alpha-2 country code", f.name, quote(s)));
          return false;
        }
        col.data<uint16_t>()[row] = *index;
      } else if (f.type == ColumnType::Time) {
        int64_t t;
        if (!parse_event_time(s, &t)) {
          std::string why = explain_bad_time(s);
          batch.fail(row, ErrorReason::BadTime,
                     fmt::format("{}: `{}` is not an RFC 3339 time{}{}", f.name, quote(s),
                                 why.empty() ? "" : ": ", why));
          return false;
        }
        col.data<int64_t>()[row] = t;
      } else {
        auto d = parse_duration(s);
        if (!d) {
          batch.fail(row, ErrorReason::WrongType,
                     fmt::format("{}: `{}` is not a duration", f.name, quote(s)));
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
    if (capacity >= line.size() + simdjson::SIMDJSON_PADDING && decode_plain(line, capacity, row, batch)) {
      ++impl_->plain_lines;
      return;
    }
    batch.restart_row(row);
  }
  const Schema& schema = *impl_->schema;

  od::document doc;
  auto err = impl_->parser.iterate(line.data(), line.size(), capacity).get(doc);
  if (err) {
    ErrorReason reason = err == simdjson::UTF8_ERROR ? ErrorReason::InvalidUtf8 : ErrorReason::InvalidJson;
    batch.fail(row, reason,
               reason == ErrorReason::InvalidUtf8
                   ? "invalid UTF-8"
                   : fmt::format("invalid JSON: {}", simdjson::error_message(err)));
    return;
  }
  od::json_type top;
  if (doc.type().get(top)) {
    batch.fail(row, ErrorReason::InvalidJson, "invalid JSON");
    return;
  }
  if (top != od::json_type::object) {
    batch.fail(row, ErrorReason::NotObject, fmt::format("not a JSON object (found {})", json_type_name(top)));
    return;
  }
  od::object obj;
  if (doc.get_object().get(obj)) {
    batch.fail(row, ErrorReason::InvalidJson, "invalid JSON object");
    return;
  }

  // Pass 1: the kind selects the schema.
  std::string_view kind_name;
  {
    od::value kv;
    auto kerr = obj.find_field_unordered("kind").get(kv);
    if (kerr == simdjson::NO_SUCH_FIELD) {
      batch.fail(row, ErrorReason::MissingKind, "missing field `kind`");
      return;
    }
    if (kerr || kv.get_string().get(kind_name)) {
      batch.fail(row,
                 kerr && kerr != simdjson::INCORRECT_TYPE ? ErrorReason::InvalidJson : ErrorReason::WrongType,
                 kerr && kerr != simdjson::INCORRECT_TYPE
                     ? fmt::format("invalid JSON: {}", simdjson::error_message(kerr))
                     : "kind: expected a string");
      return;
    }
  }
  int kind_index = schema.kind_index(kind_name);
  if (kind_index < 0) {
    batch.fail(row, ErrorReason::UnknownKind,
               fmt::format("unknown event kind `{}`; this policy reads {}", quote(kind_name), [&] {
                 std::string names;
                 for (size_t i = 0; i < schema.kinds.size(); ++i)
                   names += (i ? ", `" : "`") + schema.kinds[i].name + "`";
                 return names;
               }()));
    return;
  }
  const KindSpec& kind = schema.kinds[static_cast<size_t>(kind_index)];
  batch.set_event_kind(row, static_cast<uint8_t>(kind_index));

  // Pass 2: every field once; duplicates and type errors are row errors.
  if (obj.reset().error()) {
    batch.fail(row, ErrorReason::InvalidJson, "invalid JSON");
    return;
  }
  std::vector<uint8_t>& seen = impl_->seen;
  seen.assign(kind.fields.size(), 0);
  bool seen_kind = false;
  if (impl_->predicted.size() < schema.kinds.size()) impl_->predicted.resize(schema.kinds.size());
  std::vector<int>& predicted = impl_->predicted[static_cast<size_t>(kind_index)];
  size_t key_position = 0;
  for (auto field_result : obj) {
    od::field field;
    if (std::move(field_result).get(field)) {
      batch.fail(row, ErrorReason::InvalidJson, "invalid JSON: malformed object");
      return;
    }
    // Fast path: the key the producer wrote at this position last time,
    // compared raw (a key written with escapes takes the slow path).
    {
      const size_t position = key_position;
      const int guess = position < predicted.size() ? predicted[position] : -1;
      if (guess >= 0) {
        const FieldSpec& spec = kind.fields[static_cast<size_t>(guess)];
        const KeyPattern& pattern = impl_->keys[static_cast<size_t>(kind_index)][static_cast<size_t>(guess)];
        if (spec.name != "id" && pattern.matches(field.key().raw())) {
          ++key_position;
          if (seen[static_cast<size_t>(guess)]) {
            batch.fail(row, ErrorReason::DuplicateKey, fmt::format("duplicate key `{}`", quote(spec.name)));
            return;
          }
          seen[static_cast<size_t>(guess)] = 1;
          if (!decode_field(field.value(), spec, row, batch)) return;
          continue;
        }
      }
    }
    std::string_view key;
    if (field.unescaped_key().get(key)) {
      batch.fail(row, ErrorReason::InvalidJson, "invalid JSON: malformed object");
      return;
    }
    if (key == "kind") {
      if (seen_kind) {
        batch.fail(row, ErrorReason::DuplicateKey, "duplicate key `kind`");
        return;
      }
      seen_kind = true;
      continue;
    }
    const size_t position = key_position++;
    int index = position < predicted.size() ? predicted[position] : -2;
    if (index < 0 || kind.fields[static_cast<size_t>(index)].name != key) {
      auto it = kind.field_index.find(key);
      index = it == kind.field_index.end() ? -1 : it->second;
      if (position >= predicted.size()) predicted.resize(position + 1, -2);
      predicted[position] = index;
    }
    if (index < 0 || (key == "id" && kind.fields[static_cast<size_t>(index)].type == ColumnType::String)) {
      // The id is kept for the output record whether or not the schema has it.
      std::string_view id;
      if (key == "id") {
        if (field.value().get_string().get(id)) {
          if (index >= 0) {
            batch.fail(row, ErrorReason::WrongType, "id: expected a string");
            return;
          }
        } else {
          batch.set_id(row, id);
        }
      }
      if (index < 0) continue;  // not in the schema: skipped, not materialised
      const FieldSpec& spec = kind.fields[static_cast<size_t>(index)];
      if (seen[static_cast<size_t>(index)]) {
        batch.fail(row, ErrorReason::DuplicateKey, "duplicate key `id`");
        return;
      }
      seen[static_cast<size_t>(index)] = 1;
      Column& col = batch.column(static_cast<size_t>(spec.column));
      if (spec.type == ColumnType::String) {
        col.data<uint32_t>()[row] = spec.read ? batch.intern(id) : 0;
        if (!col.present.empty()) col.present[row] = 1;
      }
      continue;
    }
    if (seen[static_cast<size_t>(index)]) {
      batch.fail(row, ErrorReason::DuplicateKey, fmt::format("duplicate key `{}`", quote(key)));
      return;
    }
    seen[static_cast<size_t>(index)] = 1;
    if (!decode_field(field.value(), kind.fields[static_cast<size_t>(index)], row, batch)) return;
  }
  // The object is consumed; a location still inside the line means trailing content.
  const char* trailing = nullptr;
  if (!doc.current_location().get(trailing)) {
    batch.fail(row, ErrorReason::InvalidJson, "invalid JSON: trailing content after the object");
    return;
  }
  for (size_t i = 0; i < kind.fields.size(); ++i) {
    if (!seen[i] && !kind.fields[i].optional && !kind.fields[i].computed) {
      batch.fail(row, ErrorReason::MissingField, fmt::format("missing field `{}`", kind.fields[i].name));
      return;
    }
  }
  batch.set_kind(row, static_cast<uint8_t>(kind_index));
}

}  // namespace edict::runtime
