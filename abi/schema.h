// The runtime's view of a policy's event kinds: which JSON fields to read and
// into which column of a batch. Built from the compiled policy; the decoder,
// the interpreter and JIT code all index columns the same way.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "abi/strings.h"

namespace edict::abi {

// How a value is stored in a column.
enum class ColumnType : uint8_t {
  Bool,      // uint8_t 0/1
  Int,       // int64_t
  Number,    // double (never NaN or infinite)
  String,    // uint32_t symbol (see strings.h)
  Country,   // uint16_t dense ISO 3166-1 index (countries.h)
  Time,      // int64_t microseconds since the epoch, UTC
  Duration,  // int64_t microseconds
};

size_t column_width(ColumnType t);
const char* column_type_name(ColumnType t);

struct FieldSpec {
  std::string name;
  ColumnType type = ColumnType::Int;
  bool optional = false;
  int column = -1;  // index into Schema::columns
  // False when no rule reads the field: its value is still checked against
  // the declared type, but a string is not interned (not materialised).
  bool read = true;
  // Written by the window stage (a windowed aggregate), never decoded: not
  // in KindSpec::field_index, so an input field of the same name is skipped.
  bool computed = false;
};

struct KindSpec {
  std::string name;  // the `kind` value selecting this schema
  std::vector<FieldSpec> fields;
  int time_field = -1;                                                            // index into fields
  std::unordered_map<std::string, int, StringHash, std::equal_to<>> field_index;  // name -> index into fields
};

struct ColumnSpec {
  std::string name;
  ColumnType type = ColumnType::Int;
  bool optional = false;  // optional in at least one kind, or absent from one
  // A country column that compiled batch code tests against sets: the
  // column of its rows' class bytes (Schema::add_country_classes), else -1.
  int classes = -1;
  // That column's class byte per country index (kCountryIndexLimit
  // entries), and the policy set (ir::Module::sets index) each bit stands for.
  std::vector<uint8_t> class_of;
  std::vector<uint32_t> class_sets;
};

// Fields of the same name and type in several kinds share one column, so a
// rule `on any` reads `event.customer_hq` from one place whatever the kind.
struct Schema {
  std::vector<KindSpec> kinds;
  std::vector<ColumnSpec> columns;

  // Adds a kind; fields given as (name, type, optional). Returns its index.
  int add_kind(std::string name, const std::vector<FieldSpec>& fields, int time_field);
  // Gives country column `source` a column of class bytes, one per row,
  // written with every country value (Batch::set_country): class_of[c] is
  // the byte of country index c. Compiled batch code reads a row's set
  // memberships from it as contiguous bytes instead of an indexed table
  // load per row. The class column belongs to no kind and is never
  // optional; call after the last add_kind. Returns its index.
  int add_country_classes(int source, std::vector<uint8_t> class_of, std::vector<uint32_t> sets);
  int kind_index(std::string_view name) const;
};

}  // namespace edict::abi

namespace edict::abi {
// [event kind][field] -> batch column (Schema::kinds[k].fields[f].column):
// how engines find an IR field load's column.
std::vector<std::vector<int>> column_map(const Schema& schema);
}  // namespace edict::abi
