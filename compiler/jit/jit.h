// The JIT: compiles an ir::Module to a native EdictEvalBatchFn with LLVM ORC
// (LLJIT) for the host CPU, in the BuildingAJIT style: a fallible create(),
// one resource tracker per compiled policy (destroying the policy unloads its
// code), and dumps of the generated LLVM IR and assembly. No LLVM type
// appears here; failures are strings (internal errors, never user mistakes).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "abi/abi.h"
#include "compiler/codegen/codegen.h"
#include "compiler/ir/ir.h"

namespace edict::jit {

using codegen::ColumnMap;
using codegen::OptLevel;

// A value or the reason there is none.
template <typename T>
class Result {
 public:
  struct Failure {
    std::string message;
  };
  Result(T value) : value_(std::move(value)) {}                    // NOLINT: implicit by design
  Result(Failure failure) : error_(std::move(failure.message)) {}  // NOLINT
  static Result fail(std::string message) { return Result(Failure{std::move(message)}); }

  bool ok() const { return value_.has_value(); }
  explicit operator bool() const { return ok(); }
  T& operator*() { return *value_; }
  const T& operator*() const { return *value_; }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  const std::string& error() const { return error_; }

 private:
  std::optional<T> value_;
  std::string error_;
};

struct JitOptions {
  OptLevel opt = OptLevel::O2;
  // The exported symbol. Empty: a fresh name per compilation, so any number
  // of policies can be loaded at once. A fixed name can be reused once the
  // policy that used it has been destroyed.
  std::string function_name;
  // Also keep the optimised LLVM IR text of the policy (CompiledPolicy::llvm_ir).
  bool keep_llvm_ir = false;
  // Code shaped for one event per call (codegen::CodegenOptions::single_event).
  bool single_event = false;
  // Also compile, per event kind, code deciding one event from a record
  // (CompiledPolicy::record_function); with single_event.
  bool record_functions = false;
  // Also compile the inputs of the module's windowed aggregates
  // (CompiledPolicy::inputs_function), when it has any.
  bool aggregate_inputs = false;
  // The persistent code cache (code_cache.h): a folder (open_cache_folder)
  // and the caller's description of everything the code depends on besides
  // LLVM, the host CPU and the options above (the printed IR, the column
  // map, Edict's version). Both set: a matching entry is linked instead of
  // compiling, and a compilation leaves one. Not with function_name.
  std::string cache_dir{}, cache_key{};
};

class Jit;

// Native code for one policy. Immutable; call function() from any number of
// threads at once. Destroying it removes its code from the JIT. It keeps its
// Jit alive, but not the ir::Module it was compiled from.
class CompiledPolicy {
 public:
  ~CompiledPolicy();
  CompiledPolicy(const CompiledPolicy&) = delete;
  CompiledPolicy& operator=(const CompiledPolicy&) = delete;

  EdictEvalBatchFn function() const { return function_; }
  // JitOptions::aggregate_inputs: computes codegen::aggregate_input_functions
  // over a batch; null when not asked for or the module has no aggregates.
  EdictEvalInputsFn inputs_function() const { return inputs_function_; }
  // JitOptions::record_functions: the record function of IR event kind
  // `kind`; null when not asked for or not compiled (codegen::CodegenOptions).
  EdictEvalRecordFn record_function(size_t kind) const {
    return kind < record_functions_.size() ? record_functions_[kind] : nullptr;
  }
  void evaluate(const EdictColumns& columns, EdictResults& results) const { function_(&columns, &results); }
  const std::string& symbol() const;
  const std::string& llvm_ir() const;  // empty unless JitOptions::keep_llvm_ir
  double codegen_ms() const;           // IR -> LLVM IR, verification and optimisation
  double native_ms() const;            // LLVM IR -> machine code, linking
  bool from_cache() const;             // linked from the code cache, nothing compiled

 private:
  friend class Jit;
  struct State;
  explicit CompiledPolicy(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
  EdictEvalBatchFn function_ = nullptr;
  EdictEvalInputsFn inputs_function_ = nullptr;
  std::vector<EdictEvalRecordFn> record_functions_;
};

// One LLJIT instance targeting the host. Thread-safe: compile from several
// threads at once; policies may outlive the Jit handle that made them.
class Jit {
 public:
  // Initialises LLVM's native target once per process (thread-safe) and
  // sets up the JIT, with the abi/abi.h helpers resolvable from JIT code.
  static Result<std::shared_ptr<Jit>> create();
  // A process-wide Jit, created on first use.
  static Result<std::shared_ptr<Jit>> shared();
  ~Jit();

  Result<std::unique_ptr<CompiledPolicy>> compile(const ir::Module& module, const ColumnMap& columns,
                                                  const JitOptions& options = {});
  // "znver4", "icelake-server", ...: the CPU code is generated for.
  std::string host_cpu() const;

  struct Impl;

 private:
  explicit Jit(std::shared_ptr<Impl> impl);
  std::unique_ptr<CompiledPolicy> load_cached(std::unique_ptr<CompiledPolicy::State>& state,
                                              const std::string& path, const std::string& key,
                                              const ir::Module& module);
  std::shared_ptr<Impl> impl_;
};

// compile() on the process-wide Jit.
Result<std::unique_ptr<CompiledPolicy>> compile(const ir::Module& module, const ColumnMap& columns,
                                                const JitOptions& options = {});

enum class EmitKind { LlvmIr, Assembly };
// The policy's code as text for `--emit=llvm` (optimised at `opt`) or
// `--emit=asm` (host assembly), without loading it into any JIT.
Result<std::string> emit(const ir::Module& module, const ColumnMap& columns, EmitKind kind,
                         OptLevel opt = OptLevel::O2);

}  // namespace edict::jit
