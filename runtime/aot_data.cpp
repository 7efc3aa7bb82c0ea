// The data runtime of ahead-of-time libraries (aot_data.h): the loader,
// slots, snapshots and name screening of the runtime's own data layers,
// behind a C interface whose strings are bytes instead of a batch's symbols.
#include "runtime/aot_data.h"

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <mutex>
#include <string>
#include <string_view>

#include "abi/data.h"
#include "data/loader.h"

namespace {

using edict::abi::CellType;
using edict::abi::DataSlot;
using edict::abi::DataSnapshot;

edict::abi::DataSchema schema_of(const EdictRtSchema& s) {
  edict::abi::DataSchema out;
  out.name = s.name;
  out.default_file = s.default_file;
  out.key_header = s.key_header;
  out.key = static_cast<CellType>(s.key_type);
  for (uint32_t i = 0; i < s.column_count; ++i)
    out.columns.push_back(edict::abi::DataColumn{s.columns[i].name, s.columns[i].header,
                                                 static_cast<CellType>(s.columns[i].type),
                                                 s.columns[i].optional != 0});
  out.in_force_from = s.in_force_from;
  out.in_force_until = s.in_force_until;
  out.score_column = s.score_column;
  out.screen_columns.assign(s.screen_columns, s.screen_columns + s.screen_count);
  out.screen_threshold = s.screen_threshold;
  out.legal_forms.assign(s.legal_forms, s.legal_forms + s.legal_form_count);
  return out;
}

// The source's slot, or null before its first load. The generated C never
// touches `slot` itself; here it is an atomic (C++20 atomic_ref).
DataSlot* slot_of(const EdictRtSource* source) {
  return static_cast<DataSlot*>(
      std::atomic_ref<void*>(const_cast<EdictRtSource*>(source)->slot).load(std::memory_order_acquire));
}

DataSlot* make_slot(EdictRtSource* source) {
  static std::mutex making;
  std::lock_guard lock(making);
  if (DataSlot* slot = slot_of(source)) return slot;
  auto* slot = new DataSlot(schema_of(*source->schema));  // lives as long as the process (aot_data.h)
  std::atomic_ref<void*>(source->slot).store(slot, std::memory_order_release);
  return slot;
}

void copy_error(std::string_view text, char* error, size_t size) {
  if (!error || size == 0) return;
  const size_t n = std::min(text.size(), size - 1);
  std::memcpy(error, text.data(), n);
  error[n] = '\0';
}

const DataSnapshot* current(const EdictRtSource* source) {
  const DataSlot* slot = slot_of(source);
  return slot ? slot->current() : nullptr;
}

}  // namespace

extern "C" {

int32_t edict_rt_data_load(EdictRtSource* source, const char* path, char* error, size_t error_size) {
  if (!source || !path) {
    copy_error("no source or no path", error, error_size);
    return 0;
  }
  try {
    DataSlot* slot = make_slot(source);
    edict::data::LoadResult loaded = edict::data::load_file(slot->schema(), path);
    if (loaded.error) {
      copy_error(loaded.error->text(), error, error_size);
      return 0;
    }
    slot->replace(std::move(loaded.snapshot));
    copy_error("", error, error_size);
    return 1;
  } catch (const std::bad_alloc&) {
    copy_error(std::string(path) + ": out of memory", error, error_size);
  } catch (const std::exception& e) {
    copy_error(std::string(path) + ": " + e.what(), error, error_size);
  }
  return 0;
}

const void* edict_rt_data_current(const EdictRtSource* source) {
  return current(source);
}

const char* edict_rt_data_version(const EdictRtSource* source) {
  const DataSnapshot* s = current(source);
  return s ? s->content_hash().c_str() : nullptr;
}

const char* edict_rt_data_file(const EdictRtSource* source) {
  const DataSnapshot* s = current(source);
  return s ? s->file().c_str() : nullptr;
}

// What abi/data.cpp's edict_data_find does per key, with the key's text
// given instead of a batch symbol.
int64_t edict_rt_data_find(const void* snapshot, uint64_t key, const char* text, size_t size, int64_t time) {
  const auto* s = static_cast<const DataSnapshot*>(snapshot);
  if (!s) return -1;
  if (s->schema().key == CellType::Number) key = edict::abi::data_number_key(std::bit_cast<double>(key));
  // Compiled code has no unwind tables: an allocation failure must not unwind through it.
  try {
    const DataSnapshot::Row* row = s->find(key, std::string_view(text ? text : "", text ? size : 0), time);
    return row ? static_cast<int64_t>(reinterpret_cast<uintptr_t>(row)) : -1;
  } catch (...) {
    std::abort();
  }
}

// What abi/data.cpp's edict_data_cell does, a string cell given as bytes.
uint64_t edict_rt_data_cell(int64_t row, uint32_t column, const char** text, size_t* size) {
  const edict::abi::RowCell cell = edict::abi::row_cell(row, column);
  *text = cell.is_text ? cell.text.data() : nullptr;
  *size = cell.is_text ? cell.text.size() : 0;
  return cell.is_text ? 0 : cell.bits;
}

}  // extern "C"
