// JSON decoding with simdjson On-Demand: find `kind`, then one pass over the
// object's fields, decoding only those the schema names into their columns.
#include "runtime/decoder.h"

#include <fmt/format.h>
#include <simdjson.h>

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

// A schema key and its closing quote as 16 masked bytes: one compare against
// the raw key in the input (whose padding makes the 16-byte read safe).
struct KeyPattern {
  uint64_t word[2] = {0, 0}, mask[2] = {0, 0};
  bool fits = false;  // name shorter than 16 bytes

  explicit KeyPattern(std::string_view name) {
    if (name.size() >= 16) return;
    unsigned char bytes[16] = {}, ones[16] = {};
    std::memcpy(bytes, name.data(), name.size());
    bytes[name.size()] = '"';
    std::memset(ones, 0xFF, name.size() + 1);
    std::memcpy(word, bytes, 16);
    std::memcpy(mask, ones, 16);
    fits = true;
  }
  bool matches(const char* raw, std::string_view name) const {
    if (!fits) return raw[name.size()] == '"' && std::memcmp(raw, name.data(), name.size()) == 0;
    uint64_t in[2];
    std::memcpy(in, raw, 16);
    return ((in[0] & mask[0]) ^ word[0]) == 0 && ((in[1] & mask[1]) ^ word[1]) == 0;
  }
};

struct Decoder::Impl {
  const Schema* schema;
  od::parser parser{1u << 20};
  std::vector<uint8_t> seen;  // per field of the current kind
  // Per kind: the field index met at each key position last time. Producers
  // write keys in a fixed order, so one string compare usually replaces a
  // hash lookup.
  std::vector<std::vector<int>> predicted;
  std::vector<std::vector<KeyPattern>> keys;  // per kind, per field
};

Decoder::Decoder(const Schema& schema) : impl_(std::make_unique<Impl>()) {
  impl_->schema = &schema;
  for (const KindSpec& kind : schema.kinds) {
    auto& keys = impl_->keys.emplace_back();
    for (const FieldSpec& f : kind.fields) keys.emplace_back(f.name);
  }
}
Decoder::~Decoder() = default;

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
        if (spec.name != "id" && pattern.matches(field.key().raw(), spec.name)) {
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
