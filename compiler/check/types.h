// Semantic types and compile-time values, shared by the checker, lowering,
// the IR and (later) the runtime. Small value types; no AST pointers.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace edict {

enum class TypeKind : uint8_t {
  Error,  // an earlier error; suppresses follow-up diagnostics
  Bool,
  Int,     // 64-bit, overflow is an evaluation error
  Number,  // 64-bit float, never NaN or infinite at run time
  String,
  Country,   // ISO 3166-1 alpha-2, see support/countries.h
  Time,      // UTC instant, microseconds since 1970-01-01T00:00:00Z
  Date,      // a date literal: UTC midnight, compares with Time
  Duration,  // microseconds
  Set,       // set of a scalar element type (elem)
  Record,    // a table row or event (record index into the checked program)
  Table,     // a named table (record: its row record; elem: its key type)
  Event,     // the `event` keyword inside a rule (record: the event schema)
};

struct Type {
  TypeKind kind = TypeKind::Error;
  TypeKind elem = TypeKind::Error;  // Set: element; Table: key
  int32_t record = -1;              // Record/Table/Event: index of the record schema
  bool optional = false;            // may be absent (optional field, table lookup)

  static Type of(TypeKind k) { return Type{k, TypeKind::Error, -1, false}; }
  static Type set_of(TypeKind e) { return Type{TypeKind::Set, e, -1, false}; }
  static Type error() { return Type{}; }
  bool is_error() const { return kind == TypeKind::Error; }
  bool is_numeric() const { return kind == TypeKind::Int || kind == TypeKind::Number; }
  Type required() const {
    Type t = *this;
    t.optional = false;
    return t;
  }
  Type as_optional() const {
    Type t = *this;
    t.optional = true;
    return t;
  }
  bool operator==(const Type&) const = default;
};

// "int", "set<country>", "string?"; records print as their name when known
// by the caller (see CheckedProgram::type_name).
std::string type_kind_name(TypeKind k);

// The scalar types as type annotations spell them ("int", "date", ...), in
// the order the language reference lists them: the checker resolves written
// types with it, lowering a def parameter's declared type.
struct ScalarTypeName {
  std::string_view name;
  TypeKind kind;
};
std::span<const ScalarTypeName> scalar_type_names();
// The scalar type `name` spells, or Error.
TypeKind scalar_type_named(std::string_view name);

// A compile-time scalar value (literal, folded constant, set member, table
// key or cell). Country codes are stored as their two-letter text in `s` and
// their dense index (see countries.h) in `i`.
struct Value {
  TypeKind kind = TypeKind::Error;
  int64_t i = 0;  // Int, Time, Date, Duration, Country (index), Bool (0/1)
  double n = 0;   // Number
  std::string s;  // String, Country

  static Value make_int(int64_t v) { return Value{TypeKind::Int, v, 0, {}}; }
  static Value make_number(double v) { return Value{TypeKind::Number, 0, v, {}}; }
  static Value make_bool(bool v) { return Value{TypeKind::Bool, v ? 1 : 0, 0, {}}; }
  static Value make_string(std::string v) { return Value{TypeKind::String, 0, 0, std::move(v)}; }
  bool operator==(const Value&) const = default;
};

// Literal spelling of a value as it would appear in Edict source.
std::string value_to_source(const Value& v);
// The text a message prints for `{v}`: strings and country codes bare,
// numbers in their shortest form without a forced `.0`, times, dates and
// durations canonical. The one spelling of message text: the interpreter's
// format_value, the trace and the test runner build on it. `<error>` for a
// value that is not a scalar.
std::string value_to_text(const Value& v);

}  // namespace edict
