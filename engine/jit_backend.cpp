// Engine seam to the LLVM JIT (compiler/jit): owns a CompiledPolicy, whose
// destruction unloads the policy's code.
#include "engine/jit_backend.h"

#include "compiler/jit/jit.h"

namespace edict::engine {
namespace {
struct JitCode : Policy::Jitted {
  std::unique_ptr<jit::CompiledPolicy> compiled;
};
}  // namespace

std::unique_ptr<Policy::Jitted> jit_compile(const ir::Module& module, const abi::Schema& schema,
                                            int opt_level, std::string* error, bool single_event,
                                            bool aggregate_inputs, bool record_functions) {
  jit::JitOptions options;
  options.single_event = single_event;
  options.record_functions = record_functions;
  options.aggregate_inputs = aggregate_inputs;
  options.opt = opt_level == 0 ? jit::OptLevel::O0 : jit::OptLevel::O2;
  auto compiled = jit::compile(module, jit_columns(schema), options);
  if (!compiled) {
    *error = compiled.error();
    return nullptr;
  }
  auto code = std::make_unique<JitCode>();
  code->compiled = std::move(*compiled);
  return code;
}

void jit_run(const Policy::Jitted& jitted, const EdictColumns& columns, EdictResults& results) {
  static_cast<const JitCode&>(jitted).compiled->evaluate(columns, results);
}

EdictEvalBatchFn jit_function(const Policy::Jitted& jitted) {
  return static_cast<const JitCode&>(jitted).compiled->function();
}

EdictEvalInputsFn jit_inputs_function(const Policy::Jitted& jitted) {
  return static_cast<const JitCode&>(jitted).compiled->inputs_function();
}

EdictEvalRecordFn jit_record_function(const Policy::Jitted& jitted, size_t kind) {
  return static_cast<const JitCode&>(jitted).compiled->record_function(kind);
}

}  // namespace edict::engine
