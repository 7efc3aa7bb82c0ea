// ir::Module -> llvm::Module: one batch function whose row loop runs every
// applicable rule's fires function inline. Small functions are if-converted
// (every block evaluated under a path predicate, branches become selects) so
// that the row loop is branch-free and can vectorise; large ones keep their
// branches. Merge registers become allocas for mem2reg; sets and tables
// become constant globals. This file has the entry points; the emitter is
// split by what it emits (generator.h lists its files).
#include "compiler/codegen/codegen.h"

#include <llvm/IR/DiagnosticHandler.h>
#include <llvm/IR/DiagnosticInfo.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <llvm/IR/Verifier.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetMachine.h>

#include "abi/abi.h"
#include "compiler/codegen/generator.h"

namespace edict::codegen {
namespace detail {

std::unique_ptr<llvm::Module> Generator::run(std::string* error) {
  if (!m_.ok()) {
    *error = "the IR module has errors: " + m_.errors.front();
    return nullptr;
  }
  if (m_.events.size() >= EDICT_KIND_ERROR) {
    *error = "too many event kinds for a batch's kind byte";
    return nullptr;
  }
  if (map_.column.size() < m_.events.size()) {
    *error = "the column map does not cover every event kind";
    return nullptr;
  }
  if (m_.default_outcome < 0 || m_.default_outcome >= kUndecided) {
    *error = "the default outcome is out of range";
    return nullptr;
  }
  i1_ = b_.getInt1Ty();
  i8_ = b_.getInt8Ty();
  i16_ = b_.getInt16Ty();
  i32_ = b_.getInt32Ty();
  i64_ = b_.getInt64Ty();
  f64_ = b_.getDoubleTy();
  ptr_ = b_.getPtrTy();
  mod_ = std::make_unique<llvm::Module>("edict", ctx_);
  make_country_set_table();
  emit_function();
  // A policy split into groups keeps its rules' code apart for compile time:
  // no record functions, whose single body would undo the split.
  if (!options_.record_function_prefix.empty() && plan_rule_groups(m_).size() == 1)
    for (size_t e = 0; e < m_.events.size() && !failed(); ++e) emit_record_function(static_cast<int>(e));
  if (!failed() && !options_.inputs_function_name.empty()) emit_inputs_function();
  if (!failed()) {
    std::string findings;
    llvm::raw_string_ostream os(findings);
    if (llvm::verifyModule(*mod_, &os)) fail("llvm verifier: " + os.str());
  }
  if (failed()) {
    *error = error_;
    return nullptr;
  }
  return std::move(mod_);
}

}  // namespace detail

std::vector<ir::FuncId> aggregate_input_functions(const ir::Module& module) {
  std::vector<ir::FuncId> out;
  for (const ir::Aggregate& a : module.aggregates)
    for (const ir::AggregateInput& in : a.inputs)
      for (ir::FuncId f : {in.key, in.filter, in.operand})
        if (f != ir::kNoFunc) out.push_back(f);
  return out;
}

namespace {
// LLVM's remarks and warnings (a loop the vectoriser was asked to widen and
// could not) are advice to compiler writers: by default they go to standard
// error, past `-q` and into users' logs. Errors still take LLVM's default path.
struct QuietDiagnostics : llvm::DiagnosticHandler {
  bool handleDiagnostics(const llvm::DiagnosticInfo& info) override {
    return info.getSeverity() != llvm::DS_Error;
  }
};
}  // namespace

std::unique_ptr<llvm::Module> generate(const ir::Module& module, const ColumnMap& columns,
                                       llvm::LLVMContext& context, const CodegenOptions& options,
                                       std::string* error) {
  context.setDiagnosticHandler(std::make_unique<QuietDiagnostics>());
  std::string ignored;
  if (!error) error = &ignored;
  detail::Generator g(module, columns, context, options);
  return g.run(error);
}

void optimize(llvm::Module& module, OptLevel level, llvm::TargetMachine* target) {
  if (level == OptLevel::O0) return;
  llvm::LoopAnalysisManager lam;
  llvm::FunctionAnalysisManager fam;
  llvm::CGSCCAnalysisManager cgam;
  llvm::ModuleAnalysisManager mam;
  llvm::PipelineTuningOptions tuning;
  tuning.LoopVectorization = true;
  // The row loop is vectorised whole; SLP would only revisit its scalar
  // remainder, and unrolling only grows that remainder: compile time spent
  // on code that runs for fewer than one vector of rows per batch.
  tuning.SLPVectorization = false;
  tuning.LoopUnrolling = false;
  llvm::PassBuilder pb(target, tuning);
  pb.registerModuleAnalyses(mam);
  pb.registerCGSCCAnalyses(cgam);
  pb.registerFunctionAnalyses(fam);
  pb.registerLoopAnalyses(lam);
  pb.crossRegisterProxies(lam, fam, cgam, mam);
  llvm::ModulePassManager mpm = pb.buildPerModuleDefaultPipeline(llvm::OptimizationLevel::O2);
  mpm.run(module, mam);
}

std::string print_llvm(const llvm::Module& module) {
  std::string text;
  llvm::raw_string_ostream os(text);
  module.print(os, nullptr);
  os.flush();
  return text;
}

std::string data_slot_symbol(const std::string& prefix, size_t table) {
  return prefix + std::to_string(table);
}

}  // namespace edict::codegen
