// Names of semantic types and the source spelling of compile-time values, used
// by diagnostics, the IR printer and the formatter of folded constants.
#include "compiler/check/types.h"

#include <fmt/format.h>

#include <cmath>

#include "support/time_util.h"

namespace edict {

std::string type_kind_name(TypeKind k) {
  switch (k) {
    case TypeKind::Error: return "<error>";
    case TypeKind::Bool: return "bool";
    case TypeKind::Int: return "int";
    case TypeKind::Number: return "number";
    case TypeKind::String: return "string";
    case TypeKind::Country: return "country";
    case TypeKind::Time: return "time";
    case TypeKind::Date: return "date";
    case TypeKind::Duration: return "duration";
    case TypeKind::Set: return "set";
    case TypeKind::Record: return "record";
    case TypeKind::Table: return "table";
    case TypeKind::Event: return "event";
  }
  return "<error>";
}

std::span<const ScalarTypeName> scalar_type_names() {
  static constexpr ScalarTypeName kNames[] = {
      {"bool", TypeKind::Bool},     {"int", TypeKind::Int},          {"number", TypeKind::Number},
      {"string", TypeKind::String}, {"country", TypeKind::Country},  {"time", TypeKind::Time},
      {"date", TypeKind::Date},     {"duration", TypeKind::Duration}};
  return kNames;
}

TypeKind scalar_type_named(std::string_view name) {
  for (const ScalarTypeName& s : scalar_type_names())
    if (s.name == name) return s.kind;
  return TypeKind::Error;
}

namespace {

std::string quote(std::string_view s) {
  std::string out = "\"";
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
  return out + "\"";
}

// The shortest spelling that reads back as the same double and still lexes as
// a `number` (the grammar wants a `.` or an exponent).
std::string number_spelling(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v < 0 ? "-inf" : "inf";
  std::string s = fmt::format("{}", v);
  if (s.find_first_of(".eEn") == std::string::npos) s += ".0";
  return s;
}

}  // namespace

std::string value_to_source(const Value& v) {
  switch (v.kind) {
    case TypeKind::Bool: return v.i ? "true" : "false";
    case TypeKind::Int: return std::to_string(v.i);
    case TypeKind::Number: return number_spelling(v.n);
    case TypeKind::String:
    case TypeKind::Country: return quote(v.s);
    case TypeKind::Time: return format_time(v.i);
    case TypeKind::Date: return format_date(v.i);
    case TypeKind::Duration: return format_duration(v.i);
    default: return "<error>";
  }
}

}  // namespace edict
