// Column layout shared by every kind of a schema.
#include "abi/schema.h"

namespace edict::abi {

size_t column_width(ColumnType t) {
  switch (t) {
    case ColumnType::Bool: return 1;
    case ColumnType::Country: return 2;
    case ColumnType::String: return 4;
    case ColumnType::Int:
    case ColumnType::Number:
    case ColumnType::Time:
    case ColumnType::Duration: return 8;
  }
  return 8;
}

const char* column_type_name(ColumnType t) {
  switch (t) {
    case ColumnType::Bool: return "bool";
    case ColumnType::Int: return "int";
    case ColumnType::Number: return "number";
    case ColumnType::String: return "string";
    case ColumnType::Country: return "country";
    case ColumnType::Time: return "time";
    case ColumnType::Duration: return "duration";
  }
  return "?";
}

int Schema::add_kind(std::string name, const std::vector<FieldSpec>& fields, int time_field) {
  KindSpec kind;
  kind.name = std::move(name);
  kind.time_field = time_field;
  for (FieldSpec f : fields) {
    int column = -1;
    for (size_t c = 0; c < columns.size(); ++c)
      if (columns[c].name == f.name && columns[c].type == f.type) column = static_cast<int>(c);
    if (column < 0) {
      column = static_cast<int>(columns.size());
      // A column new to a later kind is absent from the earlier ones.
      ColumnSpec spec;
      spec.name = f.name;
      spec.type = f.type;
      spec.optional = f.optional || !kinds.empty();
      columns.push_back(std::move(spec));
    } else if (f.optional) {
      columns[column].optional = true;
    }
    f.column = column;
    if (!f.computed) kind.field_index.emplace(f.name, static_cast<int>(kind.fields.size()));
    kind.fields.push_back(std::move(f));
  }
  kinds.push_back(std::move(kind));
  // A column that an existing kind lacks is optional for the schema.
  for (size_t c = 0; c < columns.size(); ++c) {
    for (const KindSpec& k : kinds) {
      bool has = false;
      for (const FieldSpec& f : k.fields) has = has || f.column == static_cast<int>(c);
      if (!has) columns[c].optional = true;
    }
  }
  return static_cast<int>(kinds.size() - 1);
}

int Schema::add_country_classes(int source, std::vector<uint8_t> class_of, std::vector<uint32_t> sets) {
  const int column = static_cast<int>(columns.size());
  // Bool storage: one byte per row (the byte holds bits, not just 0 or 1).
  ColumnSpec spec;
  spec.name = columns[static_cast<size_t>(source)].name + "#classes";
  spec.type = ColumnType::Bool;
  columns.push_back(std::move(spec));
  columns[static_cast<size_t>(source)].classes = column;
  columns[static_cast<size_t>(source)].class_of = std::move(class_of);
  columns[static_cast<size_t>(source)].class_sets = std::move(sets);
  return column;
}

int Schema::kind_index(std::string_view name) const {
  for (size_t i = 0; i < kinds.size(); ++i)
    if (kinds[i].name == name) return static_cast<int>(i);
  return -1;
}

}  // namespace edict::abi

namespace edict::abi {
std::vector<std::vector<int>> column_map(const Schema& schema) {
  std::vector<std::vector<int>> map;
  for (const KindSpec& k : schema.kinds) {
    std::vector<int> cols;
    for (const FieldSpec& f : k.fields) cols.push_back(f.column);
    map.push_back(std::move(cols));
  }
  return map;
}
}  // namespace edict::abi
