// The one mapping between the three enums that name Edict's scalar types:
// the checker's TypeKind (with dates, sets, records), the IR's Ty (what a
// register holds) and abi::ColumnType (how a batch column stores it). Every
// conversion between them goes through these functions; their switches have
// no default, so a new enumerator is a -Wswitch warning here, not a silent
// mismatch somewhere else.
#pragma once

#include "abi/schema.h"
#include "compiler/check/types.h"
#include "compiler/ir/ir.h"

namespace edict::ir {

// Scalars map one to one, except that a date is a time in the IR (UTC
// midnight); a record (a table row) is a Row; sets, tables, events and
// Error have no register type and map to Void.
Ty ty_of(TypeKind kind);
// The reverse: Row -> Record, Void -> Error; Time -> Time (never Date).
TypeKind type_kind_of(Ty ty);

// A scalar's column type (is_scalar(ty)); Void and Row have no column and
// map to Int, never asked for, since event fields are scalars.
abi::ColumnType column_type_of(Ty ty);
// The reverse, total: every column type is a scalar Ty.
Ty ty_of(abi::ColumnType column);

}  // namespace edict::ir
