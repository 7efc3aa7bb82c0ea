// The LLVM code generator: compiles a whole ir::Module into one llvm::Module
// exporting a batch function with the EdictEvalBatchFn contract of
// abi/abi.h (the row loop, kind dispatch, effective dates, every rule's
// fires function inlined, decisions) and, on request, an EdictEvalInputsFn
// computing windowed aggregates' inputs with the same instruction code. Message functions are not compiled:
// the runtime interprets them for fired rules. Only LLVM forward declarations here.
//
// Code shape (generator.h, plan.cpp and batch.cpp have the reasons): small
// fires functions are if-converted, so a typical policy's row loop is
// straight-line code that the O2 pipeline vectorises; large ones keep their branches. Policies beyond
// about a thousand IR instructions are split into groups of rules, each an
// internal function with its own pass over the batch, so that compile time
// stays linear in the number of rules.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "compiler/ir/ir.h"

namespace llvm {
class LLVMContext;
class Module;
class TargetMachine;
}  // namespace llvm

namespace edict::codegen {

// Where each event field lives in a batch: column[event][field] is the batch
// column (abi::Schema::columns index, as abi::column_map builds it)
// of field `field` of IR event kind `event`. A batch row's `kind` byte is the
// IR event index. Element types follow the IR field type (abi/schema.h):
// bool uint8, int/time/dur int64, num double, str uint32, country uint16.
struct ColumnMap {
  std::vector<std::vector<int>> column;
  // Country columns with class bytes (abi::Schema::add_country_classes):
  // batch code tests a value loaded from `source` against sets[j] as bit j
  // of the row's byte in batch column `column`, a contiguous load instead
  // of an indexed one per row. Empty: every set is tested through a table
  // of its own (single-event and ahead-of-time code, callers that do not
  // fill class bytes).
  struct CountryClasses {
    int source = -1;
    int column = -1;
    std::vector<uint32_t> sets;  // ir::Module::sets indices; at most 8
  };
  std::vector<CountryClasses> classes;
};

// The country columns whose class bytes batch code would read, each with
// the sets it tests values loaded from that column against (`column` left
// -1 for the caller to assign): sets a table would otherwise serve (more
// than a few members, not one range). `column` maps fields as in ColumnMap.
std::vector<ColumnMap::CountryClasses> plan_class_byte_columns(const ir::Module& module,
                                                               const std::vector<std::vector<int>>& column);

enum class OptLevel : uint8_t {
  O0,  // no IR passes; fast instruction selection (debugging, quick compiles)
  O2,  // the standard -O2 pipeline for the host CPU: mem2reg, SimplifyCFG, vectorisers
};

struct CodegenOptions {
  // Name of the exported batch function (group functions are named after it).
  std::string function_name = "edict_eval_batch";
  // Code for one event per call (ahead-of-time entry points, single-event
  // evaluation): no if-conversion, so rows branch on their kind and
  // conditions short-circuit. Batches are faster without it (vectorised).
  bool single_event = false;
  // Also export, per event kind e (IR event index), an EdictEvalRecordFn
  // (abi/abi.h) named record_function_prefix + e, deciding one event of
  // that kind read from a record (fixed offsets known here, no column
  // pointers, no kind dispatch). Empty: none. Meant with single_event; not
  // for modules with windowed aggregates (records carry no aggregate values).
  // A module large enough to be split into groups of rules gets none.
  std::string record_function_prefix;
  // Also export an EdictEvalInputsFn (abi/abi.h) of this name computing
  // `input_functions` (aggregate_input_functions' order) over a batch. Empty:
  // none.
  std::string inputs_function_name;
  std::vector<ir::FuncId> input_functions;
  // Non-empty: the code reaches data source N's slot (ir::Table::data)
  // through the external symbol data_slot_prefix + N, which the JIT defines
  // when it links the code, so the code holds no run-time address and can
  // be cached. Empty: the slot's address is a constant in the code.
  std::string data_slot_prefix;
};

// The symbol of data source `table`'s slot under CodegenOptions::data_slot_prefix.
std::string data_slot_symbol(const std::string& prefix, size_t table);

// The key, filter and operand functions of every windowed aggregate input
// (ir::Module::aggregates in order, each input's key, filter, operand when
// present): the order of an EdictEvalInputsFn's outputs.
std::vector<ir::FuncId> aggregate_input_functions(const ir::Module& module);

// Builds the module. The result has no target triple or data layout yet (the
// JIT sets the host's). On failure (an IR module that is not ok(), malformed
// IR, a column map that does not cover the module, more than 253 outcomes,
// or an LLVM verifier finding) returns null and sets *error to an
// internal-error line. Never throws.
//
// Semantics, per row r: a row whose kind is EDICT_KIND_ERROR gets
// EDICT_DECISION_SKIPPED and no fired bits. Otherwise every rule with a body
// for the row's kind and in effect at the row's time (effective_from <= t <
// effective_until) runs its fires function: `true` sets the rule's fired bit,
// a fault is remembered (the first faulting rule in rule order, its fault
// site and its ir::FaultReason) and evaluation continues with the next rule.
// Decision: error when a rule faulted, else the strongest effect among fired
// rules, else the module's default outcome. fault_rule/fault_site/
// fault_reason are written only on rows whose decision is error; other rows
// keep what was there (as the interpreter does). A kind byte naming no event
// kind gets the default.
//
// Batch requirements, checked once per call: results->fired_words >=
// ceil(rules / 64) (words past the rules' are zeroed), and a presence array
// for every column an optional field the code reads lives in. A batch that
// fails either gets EDICT_DECISION_ERROR on every row with fault_rule =
// fault_site = UINT32_MAX and fault_reason = none, and no fired bits written.
// The context then keeps LLVM's remarks and warnings to itself.
std::unique_ptr<llvm::Module> generate(const ir::Module& module, const ColumnMap& columns,
                                       llvm::LLVMContext& context, const CodegenOptions& options,
                                       std::string* error);

// Runs the IR pass pipeline of `level` over `module` in place. `target` (may
// be null) supplies the cost model the vectorisers use; `module` should
// already carry that target's triple and data layout.
void optimize(llvm::Module& module, OptLevel level, llvm::TargetMachine* target);

// The module as LLVM assembly text (`--emit=llvm`).
std::string print_llvm(const llvm::Module& module);

}  // namespace edict::codegen
