// Names of semantic types and the two spellings of compile-time values: as
// Edict source (diagnostics, folded constants) and as message text.
#include "compiler/check/types.h"

#include <fmt/format.h>

#include "support/countries.h"
#include "support/text.h"
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

std::string value_to_source(const Value& v) {
  switch (v.kind) {
    case TypeKind::Bool: return v.i ? "true" : "false";
    case TypeKind::Int: return std::to_string(v.i);
    case TypeKind::Number: return edict_number_literal(v.n);
    case TypeKind::String:
    case TypeKind::Country: return edict_string_literal(v.s);
    case TypeKind::Time: return format_time(v.i);
    case TypeKind::Date: return format_date(v.i);
    case TypeKind::Duration: return format_duration(v.i);
    default: return "<error>";
  }
}

std::string value_to_text(const Value& v) {
  switch (v.kind) {
    case TypeKind::Bool: return v.i ? "true" : "false";
    case TypeKind::Int: return std::to_string(v.i);
    case TypeKind::Number: return fmt::format("{}", v.n);
    case TypeKind::String: return v.s;
    case TypeKind::Country: return country_code(static_cast<uint16_t>(v.i));
    case TypeKind::Time: return format_time(v.i);
    case TypeKind::Date: return format_date(v.i);
    case TypeKind::Duration: return format_duration(v.i);
    default: return "<error>";
  }
}

}  // namespace edict
