// The type mapping of type_map.h: one switch per direction, no defaults.
#include "compiler/ir/type_map.h"

namespace edict::ir {

Ty ty_of(TypeKind kind) {
  switch (kind) {
    case TypeKind::Bool: return Ty::Bool;
    case TypeKind::Int: return Ty::Int;
    case TypeKind::Number: return Ty::Number;
    case TypeKind::String: return Ty::Str;
    case TypeKind::Country: return Ty::Country;
    case TypeKind::Time:
    case TypeKind::Date: return Ty::Time;
    case TypeKind::Duration: return Ty::Duration;
    case TypeKind::Record: return Ty::Row;
    case TypeKind::Error:
    case TypeKind::Set:
    case TypeKind::Table:
    case TypeKind::Event: return Ty::Void;
  }
  return Ty::Void;
}

TypeKind type_kind_of(Ty ty) {
  switch (ty) {
    case Ty::Void: return TypeKind::Error;
    case Ty::Bool: return TypeKind::Bool;
    case Ty::Int: return TypeKind::Int;
    case Ty::Number: return TypeKind::Number;
    case Ty::Str: return TypeKind::String;
    case Ty::Country: return TypeKind::Country;
    case Ty::Time: return TypeKind::Time;
    case Ty::Duration: return TypeKind::Duration;
    case Ty::Row: return TypeKind::Record;
  }
  return TypeKind::Error;
}

abi::ColumnType column_type_of(Ty ty) {
  switch (ty) {
    case Ty::Bool: return abi::ColumnType::Bool;
    case Ty::Number: return abi::ColumnType::Number;
    case Ty::Str: return abi::ColumnType::String;
    case Ty::Country: return abi::ColumnType::Country;
    case Ty::Time: return abi::ColumnType::Time;
    case Ty::Duration: return abi::ColumnType::Duration;
    case Ty::Int:
    case Ty::Void:
    case Ty::Row: return abi::ColumnType::Int;
  }
  return abi::ColumnType::Int;
}

Ty ty_of(abi::ColumnType column) {
  switch (column) {
    case abi::ColumnType::Bool: return Ty::Bool;
    case abi::ColumnType::Int: return Ty::Int;
    case abi::ColumnType::Number: return Ty::Number;
    case abi::ColumnType::String: return Ty::Str;
    case abi::ColumnType::Country: return Ty::Country;
    case abi::ColumnType::Time: return Ty::Time;
    case abi::ColumnType::Duration: return Ty::Duration;
  }
  return Ty::Void;
}

}  // namespace edict::ir
