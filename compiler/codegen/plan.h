// The code generator's plans: what it decides from the IR before emitting
// any code (which rules share a row loop and how rows dispatch on their kind,
// which country sets share one table) and the alias scopes every access is
// tagged with. Internal to compiler/codegen; see codegen.h for the contract.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <vector>

#include "compiler/ir/ir.h"

namespace llvm {
class LLVMContext;
class MDNode;
}  // namespace llvm

namespace edict::codegen::detail {

// Sets of at most this many members are tested by a chain of compares.
constexpr size_t kMaxCompareChain = 4;

size_t instruction_count(const ir::Function& f);

// Country sets a compare chain or a range check decides cheaply keep those;
// the others are looked up in a table (or read from class bytes).
bool wants_table(const ir::Set& set);

// A group of consecutive rules [begin, end) compiled as one row loop.
struct RuleGroup {
  size_t begin = 0, end = 0;
};

// The module's rules in groups of about kMaxGroupInstructions IR
// instructions (plan.cpp has the reason); at least one group, empty for a
// module without rules.
std::vector<RuleGroup> plan_rule_groups(const ir::Module& m);

// How a group's row loop reaches its rules.
struct RowDispatch {
  std::vector<int> kinds;  // the event kinds some rule of the group has a body for
  // Every fires function is at most `predicated_limit` instructions and
  // together they stay small: each kind's rules run under a `kind == k`
  // predicate instead of a branch, and the row loop is straight-line code.
  bool straight = false;
};
RowDispatch plan_row_dispatch(const ir::Module& m, const RuleGroup& group, size_t predicated_limit);

// One table for the country sets that fires functions test and a table
// would serve (wants_table): entry c has bit bit_of[s] set when country c is
// in set s, so rules testing one field against several sets load one entry
// per row, which the optimiser reuses across rules. Entry
// kCountryIndexLimit is empty (out-of-range values are clamped to it).
struct CountrySetTable {
  unsigned bits = 0;                    // entry width; 0: no table
  std::map<uint32_t, unsigned> bit_of;  // ir::Module::sets index -> bit
  std::vector<uint64_t> entries;        // kCountryIndexLimit + 1
};
CountrySetTable plan_country_set_table(const ir::Module& m, bool single_event);

// A data lookup (TableFind on a data table) whose key is a string field of
// the event and whose time is the event's time field, both required: its
// result for every row of the kind is known before the rules run, so batch
// code looks it up for all rows at once ahead of the row loop
// (edict_data_find_rows) and the loop reads it like a column. A call inside
// the loop would keep it from being vectorised (measured: ~22 ns per event
// on the reference workload, against ~2 for the loop without it).
struct HoistedFind {
  uint32_t table = 0;
  int event = -1;
  int64_t key_field = -1, time_field = -1;
  auto operator<=>(const HoistedFind&) const = default;
};
// `in` of fires function `f` as a HoistedFind, or nullopt when it is not one.
std::optional<HoistedFind> hoistable_find(const ir::Module& m, const ir::Function& f, const ir::Inst& in);
// The hoistable lookups of the group's fires functions, each once.
std::vector<HoistedFind> plan_hoisted_finds(const ir::Module& m, const RuleGroup& group);

// Which results array an access writes (or reads back).
enum Out { kOutDecision, kOutFaultRule, kOutFaultSite, kOutFaultReason, kOutFired, kOutCount };

// Alias scopes: the input columns never overlap the results, and the
// results arrays never overlap each other.
struct AliasScopes {
  llvm::MDNode *scope_in = nullptr, *noalias_in = nullptr;
  llvm::MDNode* scope_out[kOutCount] = {};
  llvm::MDNode* noalias_out[kOutCount] = {};
};
AliasScopes plan_alias_scopes(llvm::LLVMContext& ctx);

}  // namespace edict::codegen::detail
