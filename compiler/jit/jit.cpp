// LLJIT set-up and per-policy compilation: codegen -> verify -> optimise for
// the host -> add to the JIT under the policy's own resource tracker -> look
// up the batch function. Also the `--emit=llvm|asm` dumps.
#include "compiler/jit/jit.h"

#include <llvm/Config/llvm-config.h>
#include <llvm/ExecutionEngine/Orc/CompileUtils.h>
#include <llvm/ExecutionEngine/Orc/Core.h>
#include <llvm/ExecutionEngine/Orc/IRCompileLayer.h>
#include <llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/ExecutionEngine/Orc/ThreadSafeModule.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/LegacyPassManager.h>
#include <llvm/IR/Module.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetMachine.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <set>

#include "compiler/jit/code_cache.h"

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
// Named metadata asking the compiler to keep a copy of the module's object
// (for the code cache), under the module's identifier.
constexpr const char* kCaptureObject = "edict.capture_object";

// Objects kept for the code cache, by module identifier.
struct ObjectCapture {
  std::mutex mutex;
  std::map<std::string, std::string> objects;
};

// The JIT's compiler: picks the code generation level each module asks for.
class LevelledCompiler : public llvm::orc::IRCompileLayer::IRCompiler {
 public:
  LevelledCompiler(std::unique_ptr<llvm::TargetMachine> fast, std::unique_ptr<llvm::TargetMachine> optimising,
                   std::shared_ptr<ObjectCapture> capture)
      : IRCompiler(llvm::orc::irManglingOptionsFromTargetOptions(optimising->Options)),
        fast_(std::move(fast)),
        optimising_(std::move(optimising)),
        capture_(std::move(capture)) {}

  llvm::Expected<std::unique_ptr<llvm::MemoryBuffer>> operator()(llvm::Module& module) override {
    bool fast = module.getNamedMetadata(kFastCodegen) != nullptr;
    // A TargetMachine is not safe to use from two threads at once.
    std::lock_guard<std::mutex> lock(mutex_);
    llvm::orc::SimpleCompiler compile(fast ? *fast_ : *optimising_);
    auto object = compile(module);
    if (object && module.getNamedMetadata(kCaptureObject)) {
      std::lock_guard<std::mutex> keep(capture_->mutex);
      capture_->objects[module.getModuleIdentifier()] = std::string((*object)->getBuffer());
    }
    return object;
  }

 private:
  std::mutex mutex_;
  std::unique_ptr<llvm::TargetMachine> fast_, optimising_;
  std::shared_ptr<ObjectCapture> capture_;
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
  std::string cpu, features;
  std::atomic<uint64_t> next_symbol{0};
  std::shared_ptr<ObjectCapture> capture = std::make_shared<ObjectCapture>();
  // Symbols of code-cache entries loaded now: one entry's code can be
  // loaded once at a time under its fixed names.
  std::mutex cached_mutex;
  std::set<std::string> cached_symbols;
};

struct CompiledPolicy::State {
  std::shared_ptr<Jit::Impl> jit;
  llvm::orc::ResourceTrackerSP tracker;
  std::string symbol;
  std::string llvm_ir;
  double codegen_ms = 0, native_ms = 0;
  bool cached_symbol = false;  // `symbol` is a code-cache name (Impl::cached_symbols)
  bool from_cache = false;
};

CompiledPolicy::CompiledPolicy(std::unique_ptr<State> state) : state_(std::move(state)) {}

CompiledPolicy::~CompiledPolicy() {
  if (state_ && state_->tracker) {
    // Frees the code and data and forgets the symbol; nothing to report to
    // a destructor's caller if the JIT cannot.
    if (llvm::Error error = state_->tracker->remove()) llvm::consumeError(std::move(error));
  }
  if (state_ && state_->cached_symbol) {
    std::lock_guard<std::mutex> lock(state_->jit->cached_mutex);
    state_->jit->cached_symbols.erase(state_->symbol);
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
bool CompiledPolicy::from_cache() const {
  return state_->from_cache;
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
  impl->features = jtmb->getFeatures().getString();
  auto optimiser = host_machine(*jtmb, OptLevel::O2);
  if (!optimiser) return Result<std::shared_ptr<Jit>>::fail(message_of(optimiser.takeError()));
  impl->optimiser_target = std::move(*optimiser);

  auto lljit =
      llvm::orc::LLJITBuilder()
          .setJITTargetMachineBuilder(*jtmb)
          .setCompileFunctionCreator(
              [capture = impl->capture](llvm::orc::JITTargetMachineBuilder builder)
                  -> llvm::Expected<std::unique_ptr<llvm::orc::IRCompileLayer::IRCompiler>> {
                auto fast = host_machine(builder, OptLevel::O0);
                if (!fast) return fast.takeError();
                auto optimising = host_machine(builder, OptLevel::O2);
                if (!optimising) return optimising.takeError();
                return std::make_unique<LevelledCompiler>(std::move(*fast), std::move(*optimising), capture);
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
  add("edict_data_find_rows", &edict_data_find_rows);
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

namespace {

// The code cache's record of the symbols an entry defines besides the batch
// function: "inputs=0|1" and "records=" one 0/1 per event kind.
std::string cache_manifest(bool inputs, const std::vector<std::string>& record_names) {
  std::string m = std::string("inputs=") + (inputs ? "1" : "0") + "\nrecords=";
  for (const std::string& name : record_names) m += name.empty() ? '0' : '1';
  return m + "\n";
}

bool parse_manifest(const std::string& m, bool* inputs, std::string* records) {
  const std::string head = "inputs=";
  if (m.compare(0, head.size(), head) != 0 || m.size() < head.size() + 1) return false;
  *inputs = m[head.size()] == '1';
  const size_t at = m.find("\nrecords=");
  if (at == std::string::npos || m.empty() || m.back() != '\n') return false;
  *records = m.substr(at + 9, m.size() - at - 10);
  return records->find_first_not_of("01") == std::string::npos;
}

// Defines the data sources' slots under their symbols
// (CodegenOptions::data_slot_prefix) for the code of `symbol`, removed with
// that code's tracker.
llvm::Error define_data_slots(llvm::orc::LLJIT& j, const ir::Module& module, const std::string& symbol,
                              const llvm::orc::ResourceTrackerSP& tracker) {
  llvm::orc::SymbolMap slots;
  for (size_t i = 0; i < module.tables.size(); ++i)
    if (module.tables[i].external())
      slots[j.mangleAndIntern(codegen::data_slot_symbol(symbol + ".data", i))] = llvm::orc::ExecutorSymbolDef(
          llvm::orc::ExecutorAddr::fromPtr(module.tables[i].data.get()), llvm::JITSymbolFlags::Exported);
  if (slots.empty()) return llvm::Error::success();
  return j.getMainJITDylib().define(llvm::orc::absoluteSymbols(std::move(slots)), tracker);
}

}  // namespace

// A code-cache hit: the entry's object linked under a fresh tracker and its
// functions looked up; null (nothing left behind) when anything is off, and
// the caller compiles instead.
std::unique_ptr<CompiledPolicy> Jit::load_cached(std::unique_ptr<CompiledPolicy::State>& state,
                                                 const std::string& path, const std::string& key,
                                                 const ir::Module& module) {
  const size_t event_kinds = module.events.size();
  auto start = Clock::now();
  std::optional<CachedCode> code = read_cached_code(path, key);
  bool inputs = false;
  std::string records;
  if (!code || !parse_manifest(code->manifest, &inputs, &records) ||
      (!records.empty() && records.size() != event_kinds))
    return nullptr;
  llvm::orc::LLJIT& j = *impl_->lljit;
  state->tracker = j.getMainJITDylib().createResourceTracker();
  auto give_up = [&] {
    if (llvm::Error again = state->tracker->remove()) llvm::consumeError(std::move(again));
    state->tracker = nullptr;
    return nullptr;
  };
  if (llvm::Error e = define_data_slots(j, module, state->symbol, state->tracker)) {
    llvm::consumeError(std::move(e));
    return give_up();
  }
  if (llvm::Error e =
          j.addObjectFile(state->tracker, llvm::MemoryBuffer::getMemBufferCopy(code->object, path))) {
    llvm::consumeError(std::move(e));
    return give_up();
  }
  auto find = [&](const std::string& name) -> void* {
    auto at = j.lookup(name);
    if (!at) {
      llvm::consumeError(at.takeError());
      return nullptr;
    }
    return at->toPtr<void*>();
  };
  void* function = find(state->symbol);
  void* inputs_function = inputs ? find(state->symbol + ".inputs") : nullptr;
  if (!function || (inputs && !inputs_function)) return give_up();
  std::vector<EdictEvalRecordFn> record_functions;
  for (size_t e = 0; e < records.size(); ++e) {
    void* f = records[e] == '1' ? find(state->symbol + ".kind" + std::to_string(e)) : nullptr;
    if (records[e] == '1' && !f) return give_up();
    record_functions.push_back(reinterpret_cast<EdictEvalRecordFn>(f));
  }
  state->from_cache = true;
  state->native_ms = ms_between(start, Clock::now());
  std::unique_ptr<CompiledPolicy> policy(new CompiledPolicy(std::move(state)));
  policy->function_ = reinterpret_cast<EdictEvalBatchFn>(function);
  policy->inputs_function_ = reinterpret_cast<EdictEvalInputsFn>(inputs_function);
  policy->record_functions_ = std::move(record_functions);
  return policy;
}

Result<std::unique_ptr<CompiledPolicy>> Jit::compile(const ir::Module& module, const ColumnMap& columns,
                                                     const JitOptions& options) {
  using R = Result<std::unique_ptr<CompiledPolicy>>;
  auto start = Clock::now();
  auto state = std::make_unique<CompiledPolicy::State>();
  state->jit = impl_;

  // The code cache: the caller's key plus what else the machine code
  // depends on; the entry's symbols are named after it, so one entry's code
  // is loaded once at a time (a second copy compiles under fresh names).
  std::string cache_path, cache_key;
  if (!options.cache_dir.empty() && !options.cache_key.empty() && options.function_name.empty()) {
    cache_key = options.cache_key + "\nllvm " LLVM_VERSION_STRING "\ncpu " + impl_->cpu + "\nfeatures " +
                impl_->features + "\nopt " + (options.opt == OptLevel::O0 ? "0" : "2") + " single " +
                (options.single_event ? "1" : "0") + " records " + (options.record_functions ? "1" : "0") +
                " inputs " + (options.aggregate_inputs ? "1" : "0") + "\n";
    const std::string file = cache_file_name(cache_key);
    std::string symbol = "edict_eval_batch.c" + file.substr(0, 16);
    std::lock_guard<std::mutex> lock(impl_->cached_mutex);
    if (impl_->cached_symbols.insert(symbol).second) {
      state->symbol = std::move(symbol);
      state->cached_symbol = true;
      cache_path = options.cache_dir + "/" + file;
    }
  }
  if (state->symbol.empty())
    state->symbol = options.function_name.empty()
                        ? "edict_eval_batch." + std::to_string(impl_->next_symbol.fetch_add(1))
                        : options.function_name;
  if (!cache_path.empty() && !options.keep_llvm_ir)
    if (auto hit = load_cached(state, cache_path, cache_key, module)) return R(std::move(hit));

  auto context = std::make_unique<llvm::LLVMContext>();
  codegen::CodegenOptions codegen_options;
  codegen_options.function_name = state->symbol;
  codegen_options.single_event = options.single_event;
  codegen_options.data_slot_prefix = state->symbol + ".data";
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
  if (!cache_path.empty()) {
    llvm_module->setModuleIdentifier(cache_path);
    llvm_module->getOrInsertNamedMetadata(kCaptureObject);
  }
  auto generated = Clock::now();

  llvm::orc::LLJIT& j = *impl_->lljit;
  state->tracker = j.getMainJITDylib().createResourceTracker();
  if (llvm::Error e = define_data_slots(j, module, state->symbol, state->tracker)) {
    if (llvm::Error again = state->tracker->remove()) llvm::consumeError(std::move(again));
    return R::fail("cannot define the data sources for the JIT: " + message_of(std::move(e)));
  }
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
  if (!cache_path.empty()) {
    std::string object;
    {
      std::lock_guard<std::mutex> lock(impl_->capture->mutex);
      auto at = impl_->capture->objects.find(cache_path);
      if (at != impl_->capture->objects.end()) {
        object = std::move(at->second);
        impl_->capture->objects.erase(at);
      }
    }
    // A cache that cannot be written costs the next run a compilation, no more.
    std::string ignored;
    if (!object.empty())
      write_cached_code(cache_path, cache_key,
                        {cache_manifest(!codegen_options.inputs_function_name.empty(), record_names), object},
                        &ignored);
  }
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
