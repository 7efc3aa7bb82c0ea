// The engine's seam to the LLVM JIT (compiler/jit): kept to two functions so
// the engine header needs no LLVM or JIT types.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "abi/abi.h"
#include "compiler/ir/ir.h"
#include "engine/engine.h"

namespace edict::engine {

// Compiled against `schema`'s columns, class bytes included.
std::unique_ptr<Policy::Jitted> jit_compile(const ir::Module& module, const abi::Schema& schema,
                                            int opt_level, std::string* error, bool single_event = false,
                                            bool aggregate_inputs = false, bool record_functions = false,
                                            const std::string& cache_dir = {}, bool* from_cache = nullptr);
void jit_run(const Policy::Jitted& jitted, const EdictColumns& columns, EdictResults& results);
EdictEvalBatchFn jit_function(const Policy::Jitted& jitted);
EdictEvalInputsFn jit_inputs_function(const Policy::Jitted& jitted);               // null unless compiled
EdictEvalRecordFn jit_record_function(const Policy::Jitted& jitted, size_t kind);  // null unless compiled

}  // namespace edict::engine
