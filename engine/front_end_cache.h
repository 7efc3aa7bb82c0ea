// The front-end cache: a policy's lowered IR kept between runs beside the
// JIT's code cache (same folder), so a second `edict eval` of unchanged
// policy files skips parse, check and lower. An entry is found by the root
// paths, the front end's limits and this build of Edict; it lists every
// source file the front end read (imports included) with a hash of its
// bytes, and is used only when every file still hashes the same. A
// truncated, corrupt or foreign entry is a miss with a note, and replaced.
// Only a front end that reported nothing (no warnings either) is kept, so a
// hit prints exactly what a fresh compilation would: nothing.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "compiler/ir/ir.h"
#include "compiler/parse/parse.h"
#include "support/source.h"

namespace edict::engine {

struct FrontEndCacheRequest {
  std::string folder;  // a folder jit::open_cache_folder accepted
  const std::vector<std::string>* paths = nullptr;
  const parse::Limits* limits = nullptr;
};

// The module of a usable entry, its files added to `sources` (empty on entry)
// in the order the front end added them, so spans point where they did.
// nullopt on a miss, `sources` untouched; *note says why when an entry was
// there but could not be used (empty when there was none).
std::optional<ir::Module> read_front_end(const FrontEndCacheRequest& request, const parse::FileReader& reader,
                                         SourceManager& sources, std::string* note);

// Keeps `module`, lowered from the files in `sources` (all of them, in order).
// False with *note when the folder would not take it.
bool write_front_end(const FrontEndCacheRequest& request, const SourceManager& sources,
                     const ir::Module& module, std::string* note);

}  // namespace edict::engine
