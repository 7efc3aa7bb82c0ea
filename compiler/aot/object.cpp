// Object-file emission for `edict build`: the JIT's code generator and
// optimiser, then an LLVM TargetMachine writing a PIC object for either the
// architecture's baseline CPU or this host's.
#include <llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/LegacyPassManager.h>
#include <llvm/IR/Module.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetMachine.h>
#include <llvm/TargetParser/Triple.h>

#include <mutex>

#include "compiler/aot/aot.h"

namespace edict::aot {
namespace {

void initialize_llvm_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
  });
}

// The baseline CPU of an architecture: what `--target-cpu portable` means.
std::string portable_cpu(const llvm::Triple& triple) {
  return triple.isX86() ? "x86-64" : "generic";
}

llvm::Expected<llvm::orc::JITTargetMachineBuilder> machine_builder(TargetCpu cpu) {
  auto host = llvm::orc::JITTargetMachineBuilder::detectHost();
  if (!host || cpu == TargetCpu::Host) return host;
  llvm::orc::JITTargetMachineBuilder portable(host->getTargetTriple());
  portable.setCPU(portable_cpu(host->getTargetTriple()));
  return portable;
}

// A policy's data lookups pass the batch's string context, which in a
// library is the generated C's own string table, not an abi::Batch: the
// code calls the generated C's helpers over that table (data_helper_symbol)
// instead of the Batch-based ones of abi/data.cpp. The sources' slots are
// the generated C's EdictRtSource objects (data_source_symbol), hidden like
// the batch function.
bool use_library_data_helpers(llvm::Module& m, const std::string& prefix, std::string* error) {
  if (m.getFunction("edict_data_find_rows")) {  // only batch code hoists lookups
    *error = "single-event code calls edict_data_find_rows";
    return false;
  }
  for (const char* helper : {"edict_data_find", "edict_data_cell"})
    if (llvm::Function* f = m.getFunction(helper)) f->setName(data_helper_symbol(prefix, helper));
  for (llvm::GlobalVariable& g : m.globals())
    if (g.isDeclaration()) g.setVisibility(llvm::GlobalValue::HiddenVisibility);
  return true;
}

}  // namespace

bool has_data(const ir::Module& module) {
  for (const ir::Table& t : module.tables)
    if (t.external()) return true;
  return false;
}

std::string data_source_symbol(const std::string& prefix, const std::string& table) {
  return prefix + "_rt_source_" + table;
}

std::string data_helper_symbol(const std::string& prefix, const std::string& helper) {
  return prefix + "_rt_" + helper.substr(std::string_view("edict_").size());
}

std::string target_cpu_name(TargetCpu cpu) {
  initialize_llvm_once();
  auto builder = machine_builder(cpu);
  if (!builder) {
    llvm::consumeError(builder.takeError());
    return "unknown";
  }
  return builder->getCPU();
}

std::string compile_object(const ir::Module& module, const codegen::ColumnMap& columns,
                           const AotOptions& options, std::string* error) {
  if (!module.aggregates.empty()) {  // `edict build` reports them with their positions
    *error = "a policy with windowed aggregates cannot be compiled ahead of time";
    return {};
  }
  initialize_llvm_once();
  auto builder = machine_builder(options.cpu);
  if (!builder) {
    *error = "cannot target this machine: " + llvm::toString(builder.takeError());
    return {};
  }
  builder->setRelocationModel(llvm::Reloc::PIC_);
  builder->setCodeModel(
      llvm::CodeModel::Small);  // the JIT's default is Large; a library needs no more than Small
  builder->setCodeGenOptLevel(options.opt == codegen::OptLevel::O0 ? llvm::CodeGenOptLevel::None
                                                                   : llvm::CodeGenOptLevel::Default);
  auto tm = builder->createTargetMachine();
  if (!tm) {
    *error = "cannot create the code generator: " + llvm::toString(tm.takeError());
    return {};
  }

  llvm::LLVMContext context;
  codegen::CodegenOptions codegen_options;
  codegen_options.function_name = options.prefix + "_batch";
  codegen_options.single_event = true;  // entry points decide one event per call
  if (has_data(module)) codegen_options.data_slot_prefix = data_source_symbol(options.prefix, "");
  std::unique_ptr<llvm::Module> m = codegen::generate(module, columns, context, codegen_options, error);
  if (!m) return {};
  if (has_data(module) && !use_library_data_helpers(*m, options.prefix, error)) return {};
  // As the JIT prepares a module (compiler/jit/jit.cpp): the vectorisers'
  // cost model reads the target attributes.
  m->setDataLayout((*tm)->createDataLayout());
  m->setTargetTriple((*tm)->getTargetTriple().str());
  for (llvm::Function& f : *m) {
    if (f.isDeclaration()) continue;
    f.addFnAttr("target-cpu", (*tm)->getTargetCPU());
    f.addFnAttr("target-features", (*tm)->getTargetFeatureString());
    // Only the generated C entry points are the library's interface.
    if (!f.hasLocalLinkage()) f.setVisibility(llvm::GlobalValue::HiddenVisibility);
  }
  codegen::optimize(*m, options.opt, tm->get());

  llvm::SmallVector<char, 0> buffer;
  llvm::raw_svector_ostream os(buffer);
  llvm::legacy::PassManager passes;
  if ((*tm)->addPassesToEmitFile(passes, os, nullptr, llvm::CodeGenFileType::ObjectFile)) {
    *error = "this target cannot emit object files";
    return {};
  }
  passes.run(*m);
  return std::string(buffer.begin(), buffer.end());
}

}  // namespace edict::aot
