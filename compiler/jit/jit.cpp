// LLJIT set-up and per-policy compilation: codegen -> verify -> optimise for
// the host -> add to the JIT under the policy's own resource tracker -> look
// up the batch function. Also the `--emit=llvm|asm` dumps.
#include "compiler/jit/jit.h"

#include <llvm/ExecutionEngine/Orc/CompileUtils.h>
#include <llvm/ExecutionEngine/Orc/Core.h>
#include <llvm/ExecutionEngine/Orc/IRCompileLayer.h>
#include <llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/ExecutionEngine/Orc/ThreadSafeModule.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/LegacyPassManager.h>
#include <llvm/IR/Module.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetMachine.h>

#include <atomic>
#include <chrono>
#include <mutex>

namespace edict::jit {
namespace {

using Clock = std::chrono::steady_clock;

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

std::string message_of(llvm::Error error) {
  return llvm::toString(std::move(error));
}

void initialize_llvm_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    llvm::InitializeNativeTargetAsmParser();
  });
}

// Named metadata marking a module optimised at O0: its machine code is made
// with fast instruction selection too.
constexpr const char* kFastCodegen = "edict.fast_codegen";

// The JIT's compiler: picks the code generation level each module asks for.
class LevelledCompiler : public llvm::orc::IRCompileLayer::IRCompiler {
 public:
  LevelledCompiler(std::unique_ptr<llvm::TargetMachine> fast, std::unique_ptr<llvm::TargetMachine> optimising)
      : IRCompiler(llvm::orc::irManglingOptionsFromTargetOptions(optimising->Options)),
        fast_(std::move(fast)),
        optimising_(std::move(optimising)) {}

  llvm::Expected<std::unique_ptr<llvm::MemoryBuffer>> operator()(llvm::Module& module) override {
    bool fast = module.getNamedMetadata(kFastCodegen) != nullptr;
    // A TargetMachine is not safe to use from two threads at once.
    std::lock_guard<std::mutex> lock(mutex_);
    llvm::orc::SimpleCompiler compile(fast ? *fast_ : *optimising_);
    return compile(module);
  }

 private:
  std::mutex mutex_;
  std::unique_ptr<llvm::TargetMachine> fast_, optimising_;
};

llvm::Expected<std::unique_ptr<llvm::TargetMachine>> host_machine(llvm::orc::JITTargetMachineBuilder jtmb,
                                                                  OptLevel level) {
  jtmb.setCodeGenOptLevel(level == OptLevel::O0 ? llvm::CodeGenOptLevel::None
                                                : llvm::CodeGenOptLevel::Default);
  return jtmb.createTargetMachine();
}

// Target, data layout and CPU attributes: the vectorisers' cost model reads
// the function attributes.
void prepare_for_host(llvm::Module& module, const llvm::TargetMachine& tm, OptLevel level) {
  module.setDataLayout(tm.createDataLayout());
  module.setTargetTriple(tm.getTargetTriple().str());
  for (llvm::Function& f : module) {
    if (f.isDeclaration()) continue;
    f.addFnAttr("target-cpu", tm.getTargetCPU());
    f.addFnAttr("target-features", tm.getTargetFeatureString());
  }
  if (level == OptLevel::O0) module.getOrInsertNamedMetadata(kFastCodegen);
}

}  // namespace

// ---- Jit ----------------------------------------------------------------------

struct Jit::Impl {
  std::unique_ptr<llvm::orc::LLJIT> lljit;
  std::unique_ptr<llvm::TargetMachine> optimiser_target;  // cost model for the IR passes
  std::mutex optimiser_mutex;
  std::string cpu;
  std::atomic<uint64_t> next_symbol{0};
};

struct CompiledPolicy::State {
  std::shared_ptr<Jit::Impl> jit;
  llvm::orc::ResourceTrackerSP tracker;
  std::string symbol;
  std::string llvm_ir;
  double codegen_ms = 0, native_ms = 0;
};

CompiledPolicy::CompiledPolicy(std::unique_ptr<State> state) : state_(std::move(state)) {}

CompiledPolicy::~CompiledPolicy() {
  if (state_ && state_->tracker) {
    // Frees the code and data and forgets the symbol; nothing to report to
    // a destructor's caller if the JIT cannot.
    if (llvm::Error error = state_->tracker->remove()) llvm::consumeError(std::move(error));
  }
}

const std::string& CompiledPolicy::symbol() const {
  return state_->symbol;
}
const std::string& CompiledPolicy::llvm_ir() const {
  return state_->llvm_ir;
}
double CompiledPolicy::codegen_ms() const {
  return state_->codegen_ms;
}
double CompiledPolicy::native_ms() const {
  return state_->native_ms;
}

Jit::Jit(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
Jit::~Jit() = default;

Result<std::shared_ptr<Jit>> Jit::create() {
  initialize_llvm_once();
  auto jtmb = llvm::orc::JITTargetMachineBuilder::detectHost();
  if (!jtmb)
    return Result<std::shared_ptr<Jit>>::fail("cannot target this host: " + message_of(jtmb.takeError()));
  auto impl = std::make_shared<Impl>();
  impl->cpu = jtmb->getCPU();
  auto optimiser = host_machine(*jtmb, OptLevel::O2);
  if (!optimiser) return Result<std::shared_ptr<Jit>>::fail(message_of(optimiser.takeError()));
  impl->optimiser_target = std::move(*optimiser);

  auto lljit = llvm::orc::LLJITBuilder()
                   .setJITTargetMachineBuilder(*jtmb)
                   .setCompileFunctionCreator(
                       [](llvm::orc::JITTargetMachineBuilder builder)
                           -> llvm::Expected<std::unique_ptr<llvm::orc::IRCompileLayer::IRCompiler>> {
                         auto fast = host_machine(builder, OptLevel::O0);
                         if (!fast) return fast.takeError();
                         auto optimising = host_machine(builder, OptLevel::O2);
                         if (!optimising) return optimising.takeError();
                         return std::make_unique<LevelledCompiler>(std::move(*fast), std::move(*optimising));
                       })
                   .create();
  if (!lljit)
    return Result<std::shared_ptr<Jit>>::fail("cannot start the JIT: " + message_of(lljit.takeError()));
  impl->lljit = std::move(*lljit);

  // The string helpers by address: they live in this binary, which need not
  // export them dynamically. (Process symbols, e.g. memset, are linked in by
  // LLJIT's default process-symbols library.)
  llvm::orc::LLJIT& j = *impl->lljit;
  llvm::orc::SymbolMap helpers;
  auto add = [&](const char* name, auto* fn) {
    helpers[j.mangleAndIntern(name)] =
        llvm::orc::ExecutorSymbolDef(llvm::orc::ExecutorAddr::fromPtr(fn),
                                     llvm::JITSymbolFlags::Exported | llvm::JITSymbolFlags::Callable);
  };
  add("edict_str_starts_with", &edict_str_starts_with);
  add("edict_str_ends_with", &edict_str_ends_with);
  add("edict_str_contains", &edict_str_contains);
  add("edict_str_lower", &edict_str_lower);
  add("edict_str_upper", &edict_str_upper);
  add("edict_str_len", &edict_str_len);
  add("edict_str_compare", &edict_str_compare);
  add("edict_data_find", &edict_data_find);
  add("edict_data_cell_has", &edict_data_cell_has);
  add("edict_data_cell", &edict_data_cell);
  if (llvm::Error error = j.getMainJITDylib().define(llvm::orc::absoluteSymbols(std::move(helpers))))
    return Result<std::shared_ptr<Jit>>::fail("cannot define the runtime helpers: " +
                                              message_of(std::move(error)));
  return std::shared_ptr<Jit>(new Jit(std::move(impl)));
}

Result<std::shared_ptr<Jit>> Jit::shared() {
  // Never destroyed: policies in other static objects may outlive any
  // destruction order we could pick.
  static std::once_flag once;
  static Result<std::shared_ptr<Jit>>* instance = nullptr;
  std::call_once(once, [] { instance = new Result<std::shared_ptr<Jit>>(create()); });
  return *instance;
}

std::string Jit::host_cpu() const {
  return impl_->cpu;
}

Result<std::unique_ptr<CompiledPolicy>> Jit::compile(const ir::Module& module, const ColumnMap& columns,
                                                     const JitOptions& options) {
  using R = Result<std::unique_ptr<CompiledPolicy>>;
  auto start = Clock::now();
  auto state = std::make_unique<CompiledPolicy::State>();
  state->jit = impl_;
  state->symbol = options.function_name.empty()
                      ? "edict_eval_batch." + std::to_string(impl_->next_symbol.fetch_add(1))
                      : options.function_name;

  auto context = std::make_unique<llvm::LLVMContext>();
  codegen::CodegenOptions codegen_options;
  codegen_options.function_name = state->symbol;
  codegen_options.single_event = options.single_event;
  if (options.aggregate_inputs) codegen_options.input_functions = codegen::aggregate_input_functions(module);
  if (!codegen_options.input_functions.empty())
    codegen_options.inputs_function_name = state->symbol + ".inputs";
  if (options.record_functions) codegen_options.record_function_prefix = state->symbol + ".kind";
  std::string error;
  std::unique_ptr<llvm::Module> llvm_module =
      codegen::generate(module, columns, *context, codegen_options, &error);
  if (!llvm_module) return R::fail(error);
  // The record functions the generator emitted (none for a policy split into groups).
  std::vector<std::string> record_names;
  if (options.record_functions)
    for (size_t e = 0; e < module.events.size(); ++e) {
      std::string name = codegen_options.record_function_prefix + std::to_string(e);
      record_names.push_back(llvm_module->getFunction(name) ? name : std::string());
    }
  {
    std::lock_guard<std::mutex> lock(impl_->optimiser_mutex);
    prepare_for_host(*llvm_module, *impl_->optimiser_target, options.opt);
    codegen::optimize(*llvm_module, options.opt, impl_->optimiser_target.get());
  }
  if (options.keep_llvm_ir) state->llvm_ir = codegen::print_llvm(*llvm_module);
  auto generated = Clock::now();

  llvm::orc::LLJIT& j = *impl_->lljit;
  state->tracker = j.getMainJITDylib().createResourceTracker();
  if (llvm::Error e = j.addIRModule(
          state->tracker, llvm::orc::ThreadSafeModule(std::move(llvm_module), std::move(context)))) {
    if (llvm::Error again = state->tracker->remove()) llvm::consumeError(std::move(again));
    return R::fail("cannot add the policy to the JIT: " + message_of(std::move(e)));
  }
  // Looking the function up compiles and links it.
  auto address = j.lookup(state->symbol);
  if (!address) {
    std::string why = message_of(address.takeError());
    if (llvm::Error again = state->tracker->remove()) llvm::consumeError(std::move(again));
    return R::fail("cannot compile the policy to machine code: " + why);
  }
  EdictEvalInputsFn inputs = nullptr;
  if (!codegen_options.inputs_function_name.empty()) {
    auto at = j.lookup(codegen_options.inputs_function_name);
    if (!at) {
      std::string why = message_of(at.takeError());
      if (llvm::Error again = state->tracker->remove()) llvm::consumeError(std::move(again));
      return R::fail("cannot compile the aggregate inputs to machine code: " + why);
    }
    inputs = at->toPtr<EdictEvalInputsFn>();
  }
  std::vector<EdictEvalRecordFn> records;
  for (const std::string& name : record_names) {
    if (name.empty()) {
      records.push_back(nullptr);
      continue;
    }
    auto at = j.lookup(name);
    if (!at) {
      std::string why = message_of(at.takeError());
      if (llvm::Error again = state->tracker->remove()) llvm::consumeError(std::move(again));
      return R::fail("cannot compile the record functions to machine code: " + why);
    }
    records.push_back(at->toPtr<EdictEvalRecordFn>());
  }
  auto done = Clock::now();
  state->codegen_ms = ms_between(start, generated);
  state->native_ms = ms_between(generated, done);
  auto function = address->toPtr<EdictEvalBatchFn>();
  std::unique_ptr<CompiledPolicy> policy(new CompiledPolicy(std::move(state)));
  policy->function_ = function;
  policy->inputs_function_ = inputs;
  policy->record_functions_ = std::move(records);
  return policy;
}

Result<std::unique_ptr<CompiledPolicy>> compile(const ir::Module& module, const ColumnMap& columns,
                                                const JitOptions& options) {
  auto jit = Jit::shared();
  if (!jit) return Result<std::unique_ptr<CompiledPolicy>>::fail(jit.error());
  return (*jit)->compile(module, columns, options);
}

Result<std::string> emit(const ir::Module& module, const ColumnMap& columns, EmitKind kind, OptLevel opt) {
  using R = Result<std::string>;
  initialize_llvm_once();
  auto jtmb = llvm::orc::JITTargetMachineBuilder::detectHost();
  if (!jtmb) return R::fail("cannot target this host: " + message_of(jtmb.takeError()));
  auto tm = host_machine(*jtmb, opt);
  if (!tm) return R::fail(message_of(tm.takeError()));
  llvm::LLVMContext context;
  std::string error;
  std::unique_ptr<llvm::Module> llvm_module = codegen::generate(module, columns, context, {}, &error);
  if (!llvm_module) return R::fail(error);
  prepare_for_host(*llvm_module, **tm, opt);
  codegen::optimize(*llvm_module, opt, tm->get());
  if (kind == EmitKind::LlvmIr) return codegen::print_llvm(*llvm_module);

  llvm::SmallVector<char, 0> buffer;
  llvm::raw_svector_ostream os(buffer);
  llvm::legacy::PassManager passes;
  if ((*tm)->addPassesToEmitFile(passes, os, nullptr, llvm::CodeGenFileType::AssemblyFile))
    return R::fail("this target cannot emit assembly");
  passes.run(*llvm_module);
  return std::string(buffer.begin(), buffer.end());
}

}  // namespace edict::jit
