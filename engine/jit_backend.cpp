// Engine seam to the LLVM JIT (compiler/jit): owns a CompiledPolicy, whose
// destruction unloads the policy's code.
#include "engine/jit_backend.h"

#include <algorithm>

#include "compiler/jit/jit.h"

namespace edict::engine {
namespace {
struct JitCode : Policy::Jitted {
  std::unique_ptr<jit::CompiledPolicy> compiled;
};
}  // namespace

namespace {

// Everything the machine code depends on that the JIT does not add itself:
// Edict's version, the printed IR with every table row and set member, the
// string pool in order (string constants are pool ids in the code), the fault
// sites in order and the batch column map.
std::string code_cache_key(const ir::Module& module, const codegen::ColumnMap& columns) {
  std::string key = "edict " EDICT_VERSION "\n";
  // Without spans: the code does not depend on file names or positions (the
  // fault sites' offsets are below), and the background compiler's copy of
  // the module has no SourceManager to print them from.
  ir::PrintOptions print_options;
  print_options.spans = false;
  key += ir::print(module, print_options);
  key += "\nstrings";
  for (const std::string& s : module.strings) key += " " + std::to_string(s.size()) + ":" + s;
  key += "\nsites";
  for (const ir::FaultSite& site : module.fault_sites)
    key += " " + std::to_string(site.function) + ":" + std::to_string(site.span.file) + ":" +
           std::to_string(site.span.begin) + "-" + std::to_string(site.span.end);
  key += "\ncolumns";
  for (const std::vector<int>& kind : columns.column) {
    key += " [";
    for (int c : kind) key += std::to_string(c) + ",";
    key += "]";
  }
  key += "\nclasses";
  for (const codegen::ColumnMap::CountryClasses& c : columns.classes) {
    key += " " + std::to_string(c.source) + ">" + std::to_string(c.column) + ":";
    for (uint32_t set : c.sets) key += std::to_string(set) + ",";
  }
  return key + "\n";
}

}  // namespace

std::unique_ptr<Policy::Jitted> jit_compile(const ir::Module& module, const abi::Schema& schema,
                                            int opt_level, std::string* error, bool single_event,
                                            bool aggregate_inputs, bool record_functions,
                                            const std::string& cache_dir, bool* from_cache) {
  jit::JitOptions options;
  options.single_event = single_event;
  options.record_functions = record_functions;
  options.aggregate_inputs = aggregate_inputs;
  options.opt = opt_level == 0 ? jit::OptLevel::O0 : jit::OptLevel::O2;
  const codegen::ColumnMap columns = jit_columns(schema);
  // Code that reads a `data` source reaches its slot through a symbol the
  // JIT defines when it links the code, so it is cached like any other.
  if (!cache_dir.empty()) {
    options.cache_dir = cache_dir;
    options.cache_key = code_cache_key(module, columns);
  }
  auto compiled = jit::compile(module, columns, options);
  if (!compiled) {
    *error = compiled.error();
    return nullptr;
  }
  if (from_cache) *from_cache = (*compiled)->from_cache();
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
