// Engine seam to the LLVM JIT. (Being connected: compiler/jit is in progress.)
#include "runtime/engine/jit_backend.h"

namespace edict::engine {

std::unique_ptr<Policy::Jitted> jit_compile(const ir::Module&, std::vector<std::vector<int>>, int,
                                            std::string* error) {
  *error = "this build has no JIT yet";
  return nullptr;
}

void jit_run(const Policy::Jitted&, const EdictColumns&, EdictResults&) {}

}  // namespace edict::engine
