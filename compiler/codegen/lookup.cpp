// The code generator's sets and tables: membership tests (compare chains,
// bit tests, bitsets, the country set table or a column's class byte, a
// branch-free binary search) and table lookups (identity, dense or searched
// keys), with cells as constant arrays.
#include <llvm/IR/Constants.h>
#include <llvm/IR/GlobalVariable.h>
#include <llvm/IR/Intrinsics.h>

#include <algorithm>
#include <cmath>

#include "compiler/codegen/generator.h"
#include "support/countries.h"

namespace edict::codegen::detail {
namespace {

// Integer sets and dense lookup tables at most this many slots wide are
// stored as bitsets / arrays indexed by (value - min); wider ones are
// searched (an unrolled, branch-free binary search over a sorted array).
constexpr uint64_t kMaxDenseSpan = uint64_t{1} << 16;

}  // namespace

Value* Generator::widen_key(ir::Ty t, Value* v) {
  // Str, country and bool values are unsigned; int, time and dur signed.
  if (t == ir::Ty::Str || t == ir::Ty::Country || t == ir::Ty::Bool) return b_.CreateZExt(v, i64_);
  return v;
}

Value* Generator::set_contains(uint32_t index, Value* v) {
  const ir::Set& set = m_.sets[index];
  if (v->getType() != reg_type(set.elem)) {
    fail("set `" + set.name + "` tested with a value of another type");
    return b_.getFalse();
  }
  const std::string name = "set." + set.name;
  if (set.elem == ir::Ty::Number) {
    if (set.members.empty()) return b_.getFalse();
    if (set.members.size() <= kMaxCompareChain) {
      Value* any = b_.getFalse();
      for (const ir::Scalar& s : set.members)
        any = b_.CreateOr(any, b_.CreateFCmpOEQ(v, llvm::ConstantFP::get(f64_, s.f)));
      return any;
    }
    std::vector<double> sorted;
    for (const ir::Scalar& s : set.members) sorted.push_back(s.f);
    std::sort(sorted.begin(), sorted.end());
    std::vector<Constant*> values;
    for (double d : sorted) values.push_back(llvm::ConstantFP::get(f64_, d));
    auto* g = constant_array(f64_, values, name);
    Value* at = search_sorted(g, f64_, sorted.size(), v, true);
    return b_.CreateFCmpOEQ(load_elem(f64_, g, at, false), v);
  }
  if (Value* bit = class_bit(v, index)) return bit;
  if (auto it = country_class_bit_.find(index); it != country_class_bit_.end() && country_classes_) {
    // Entry kCountryIndexLimit is empty: every out-of-range value lands
    // there. A record's countries are valid indices (abi/abi.h).
    Value* key = b_.CreateZExt(v, i64_);
    Value* at =
        record_ ? key : b_.CreateBinaryIntrinsic(llvm::Intrinsic::umin, key, b_.getInt64(kCountryIndexLimit));
    Value* classes = load_elem(country_class_type_, country_classes_, at, false);
    Value* bit =
        b_.CreateAnd(classes, llvm::ConstantInt::get(country_class_type_, uint64_t{1} << it->second));
    return b_.CreateICmpNE(bit, llvm::ConstantInt::get(country_class_type_, 0));
  }
  std::vector<int64_t> members;
  for (const ir::Scalar& s : set.members) members.push_back(s.i);
  if (set.elem == ir::Ty::Str) {
    // A string that is not in the pool can never equal a member.
    std::erase_if(members,
                  [&](int64_t id) { return id < 0 || static_cast<uint64_t>(id) >= m_.strings.size(); });
  }
  if (set.elem == ir::Ty::Str && members.size() > kMaxCompareChain) {
    // Pool ids within 32 of each other: a bit test in the symbols' own
    // 32-bit lanes (a synthetic set over a table's keys is the usual case).
    auto [lo, hi] = std::minmax_element(members.begin(), members.end());
    const int64_t span = *hi - *lo;
    if (span < 32 && span + 1 != static_cast<int64_t>(members.size())) {
      uint32_t mask = 0;
      for (int64_t m : members) mask |= uint32_t{1} << (m - *lo);
      Value* offset = b_.CreateSub(v, b_.getInt32(static_cast<uint32_t>(*lo)));
      Value* in_range = b_.CreateICmpULE(offset, b_.getInt32(static_cast<uint32_t>(span)));
      Value* bits = b_.CreateLShr(b_.getInt32(mask), b_.CreateAnd(offset, b_.getInt32(31)));
      return b_.CreateAnd(in_range, b_.CreateTrunc(bits, i1_));
    }
  }
  return int_membership(widen_key(set.elem, v), std::move(members), name);
}

Value* Generator::class_bit(Value* v, uint32_t set) {
  auto from = loaded_from_.find(v);
  if (from == loaded_from_.end()) return nullptr;
  for (const ColumnMap::CountryClasses& c : map_.classes) {
    if (c.source != from->second || c.column < 0) continue;
    for (size_t j = 0; j < c.sets.size() && j < 8; ++j) {
      if (c.sets[j] != set) continue;
      Value* classes = load_elem(i8_, column_data(c.column), row_, true);
      return b_.CreateICmpNE(b_.CreateAnd(classes, b_.getInt8(static_cast<uint8_t>(1u << j))), b_.getInt8(0));
    }
  }
  return nullptr;
}

void Generator::make_country_set_table() {
  CountrySetTable table = plan_country_set_table(m_, options_.single_event);
  if (table.bits == 0) return;
  country_class_type_ = llvm::IntegerType::get(ctx_, table.bits);
  country_class_bit_ = std::move(table.bit_of);
  std::vector<Constant*> values;
  for (uint64_t e : table.entries) values.push_back(llvm::ConstantInt::get(country_class_type_, e));
  country_classes_ = constant_array(country_class_type_, values, "country_classes");
}

Value* Generator::int_membership(Value* key, std::vector<int64_t> members, const std::string& name) {
  std::sort(members.begin(), members.end());
  members.erase(std::unique(members.begin(), members.end()), members.end());
  if (members.empty()) return b_.getFalse();
  if (members.size() <= kMaxCompareChain) {
    Value* any = b_.getFalse();
    for (int64_t m : members)
      any = b_.CreateOr(any, b_.CreateICmpEQ(key, b_.getInt64(static_cast<uint64_t>(m))));
    return any;
  }
  const uint64_t lo = static_cast<uint64_t>(members.front());
  const uint64_t span = static_cast<uint64_t>(members.back()) - lo;  // wraps correctly for signed order
  Value* offset = b_.CreateSub(key, b_.getInt64(lo));
  Value* in_range = b_.CreateICmpULE(offset, b_.getInt64(span));
  if (span == members.size() - 1) return in_range;  // consecutive members
  if (span < kMaxDenseSpan) {
    std::vector<uint64_t> words(span / 64 + 1, 0);
    for (int64_t m : members) {
      uint64_t o = static_cast<uint64_t>(m) - lo;
      words[o / 64] |= uint64_t{1} << (o % 64);
    }
    std::vector<Constant*> values;
    for (uint64_t w : words) values.push_back(b_.getInt64(w));
    auto* g = constant_array(i64_, values, name);
    Value* word_index = b_.CreateBinaryIntrinsic(llvm::Intrinsic::umin, b_.CreateLShr(offset, 6),
                                                 b_.getInt64(words.size() - 1));
    Value* word = load_elem(i64_, g, word_index, false);
    Value* bit = b_.CreateTrunc(b_.CreateLShr(word, b_.CreateAnd(offset, b_.getInt64(63))), i1_);
    return b_.CreateAnd(in_range, bit);
  }
  std::vector<Constant*> values;
  for (int64_t m : members) values.push_back(b_.getInt64(static_cast<uint64_t>(m)));
  auto* g = constant_array(i64_, values, name);
  Value* at = search_sorted(g, i64_, members.size(), key, false);
  return b_.CreateICmpEQ(load_elem(i64_, g, at, false), key);
}

// The index of the last element <= key (0 when none is): an unrolled,
// branch-free binary search, log2(n) loads and selects.
Value* Generator::search_sorted(llvm::GlobalVariable* keys, llvm::Type* elem, size_t n, Value* key,
                                bool is_float) {
  Value* base = b_.getInt64(0);
  size_t len = n;
  while (len > 1) {
    size_t half = len / 2;
    Value* probe_at = b_.CreateAdd(base, b_.getInt64(half), "", true, true);
    Value* probe = load_elem(elem, keys, probe_at, false);
    Value* le = is_float ? b_.CreateFCmpOLE(probe, key) : b_.CreateICmpSLE(probe, key);
    base = b_.CreateSelect(le, probe_at, base);
    len -= half;
  }
  return base;
}

Value* Generator::table_find(uint32_t index, Value* key) {
  const ir::Table& table = m_.tables[index];
  if (key->getType() != reg_type(table.key)) {
    fail("table `" + table.name + "` searched with a key of another type");
    return b_.getInt64(UINT64_MAX);
  }
  const size_t n = table.rows();
  Value* none = b_.getInt64(UINT64_MAX);
  if (n == 0) return none;
  const std::string name = "table." + table.name;
  if (table.key == ir::Ty::Number) {
    std::vector<std::pair<double, int64_t>> sorted;
    for (size_t r = 0; r < n; ++r) sorted.emplace_back(table.keys[r].f, static_cast<int64_t>(r));
    std::sort(sorted.begin(), sorted.end());
    std::vector<Constant*> keys, rows;
    for (auto& [k, r] : sorted) {
      keys.push_back(llvm::ConstantFP::get(f64_, k));
      rows.push_back(b_.getInt32(static_cast<uint32_t>(r)));
    }
    auto* kg = constant_array(f64_, keys, name + ".keys");
    auto* rg = constant_array(i32_, rows, name + ".rows");
    Value* at = search_sorted(kg, f64_, n, key, true);
    Value* found = b_.CreateFCmpOEQ(load_elem(f64_, kg, at, false), key);
    return b_.CreateSelect(found, b_.CreateSExt(load_elem(i32_, rg, at, false), i64_), none);
  }
  std::vector<std::pair<int64_t, int64_t>> sorted;
  for (size_t r = 0; r < n; ++r) {
    int64_t k = table.keys[r].i;
    // Out-of-pool string keys cannot match any event string's symbol.
    if (table.key == ir::Ty::Str && (k < 0 || static_cast<uint64_t>(k) >= m_.strings.size())) continue;
    sorted.emplace_back(k, static_cast<int64_t>(r));
  }
  if (sorted.empty()) return none;
  std::sort(sorted.begin(), sorted.end());
  Value* wide = widen_key(table.key, key);
  const uint64_t lo = static_cast<uint64_t>(sorted.front().first);
  const uint64_t span = static_cast<uint64_t>(sorted.back().first) - lo;
  Value* offset = b_.CreateSub(wide, b_.getInt64(lo));
  Value* in_range = b_.CreateICmpULE(offset, b_.getInt64(span));
  bool identity = span == sorted.size() - 1;
  for (size_t i = 0; identity && i < sorted.size(); ++i)
    identity = sorted[i].second == static_cast<int64_t>(i);
  if (identity) return b_.CreateSelect(in_range, offset, none);  // row r has key min + r
  if (span < kMaxDenseSpan && span <= 16 * sorted.size() + 64) {
    // Dense: (key - min) indexes an array of rows, -1 in the gaps.
    std::vector<Constant*> slots(span + 1, b_.getInt32(UINT32_MAX));
    for (auto& [k, r] : sorted) slots[static_cast<uint64_t>(k) - lo] = b_.getInt32(static_cast<uint32_t>(r));
    auto* g = constant_array(i32_, slots, name + ".rows");
    Value* at = b_.CreateBinaryIntrinsic(llvm::Intrinsic::umin, offset, b_.getInt64(span));
    return b_.CreateSelect(in_range, b_.CreateSExt(load_elem(i32_, g, at, false), i64_), none);
  }
  std::vector<Constant*> keys, rows;
  for (auto& [k, r] : sorted) {
    keys.push_back(b_.getInt64(static_cast<uint64_t>(k)));
    rows.push_back(b_.getInt32(static_cast<uint32_t>(r)));
  }
  auto* kg = constant_array(i64_, keys, name + ".keys");
  auto* rg = constant_array(i32_, rows, name + ".rows");
  Value* at = search_sorted(kg, i64_, sorted.size(), wide, false);
  Value* found = b_.CreateICmpEQ(load_elem(i64_, kg, at, false), wide);
  return b_.CreateSelect(found, b_.CreateSExt(load_elem(i32_, rg, at, false), i64_), none);
}

std::optional<Range> Generator::cell_range(uint32_t table_index, uint32_t column) const {
  const ir::Column& col = m_.tables[table_index].columns[column];
  if (col.type != ir::Ty::Number && col.type != ir::Ty::Int) return std::nullopt;
  std::optional<Range> r;
  for (size_t i = 0; i < col.cells.size(); ++i) {
    if (col.optional && (i >= col.present.size() || !col.present[i])) continue;
    double v = col.type == ir::Ty::Number ? col.cells[i].f : static_cast<double>(col.cells[i].i);
    if (!std::isfinite(v) || (col.type == ir::Ty::Int && std::fabs(v) > kExactInt)) return std::nullopt;
    r = r ? Range{std::min(r->lo, v), std::max(r->hi, v)} : Range{v, v};
  }
  return r;
}

Value* Generator::cell_valid(uint32_t table_index, uint32_t column, Value* row) {
  const ir::Table& table = m_.tables[table_index];
  const ir::Column& col = table.columns[column];
  if (row->getType() != i64_) {
    fail("table `" + table.name + "` read with a row of another type");
    return b_.getFalse();
  }
  // Unsigned: -1 (no such row) is out of range too.
  Value* valid = b_.CreateICmpULT(row, b_.getInt64(table.rows()));
  if (table.rows() == 0 || !col.optional) return valid;
  bool all_present = std::all_of(col.present.begin(), col.present.end(), [](uint8_t p) { return p != 0; });
  if (all_present && col.present.size() == table.rows()) return valid;
  auto key = std::make_pair(table_index, column);
  llvm::GlobalVariable*& g = cell_present_globals_[key];
  if (!g) {
    std::vector<Constant*> values;
    for (size_t r = 0; r < table.rows(); ++r)
      values.push_back(b_.getInt8(r < col.present.size() && col.present[r] ? 1 : 0));
    g = constant_array(i8_, values, "table." + table.name + "." + col.name + ".present");
  }
  Value* at = b_.CreateBinaryIntrinsic(llvm::Intrinsic::umin, row, b_.getInt64(table.rows() - 1));
  return b_.CreateAnd(valid, b_.CreateICmpNE(load_elem(i8_, g, at, false), b_.getInt8(0)));
}

Value* Generator::cell_value(uint32_t table_index, uint32_t column, Value* row) {
  const ir::Table& table = m_.tables[table_index];
  const ir::Column& col = table.columns[column];
  if (!ir::is_scalar(col.type)) {
    fail("table `" + table.name + "` has a column of a non-scalar type");
    return b_.getInt64(0);
  }
  if (table.rows() == 0) return llvm::Constant::getNullValue(reg_type(col.type));
  auto key = std::make_pair(table_index, column);
  llvm::GlobalVariable*& g = cell_globals_[key];
  llvm::Type* elem = storage_type(col.type);
  if (!g) {
    std::vector<Constant*> values;
    for (size_t r = 0; r < table.rows(); ++r)
      values.push_back(r < col.cells.size() ? scalar_constant(col.type, col.cells[r], true)
                                            : llvm::Constant::getNullValue(elem));
    g = constant_array(elem, values, "table." + table.name + "." + col.name);
  }
  // Clamped so that even an unproven row never reads out of bounds.
  Value* at = b_.CreateBinaryIntrinsic(llvm::Intrinsic::umin, row, b_.getInt64(table.rows() - 1));
  return from_storage(col.type, load_elem(elem, g, at, false));
}

}  // namespace edict::codegen::detail
