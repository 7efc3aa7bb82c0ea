// The reference interpreter: walks ir::Module functions over batch rows with
// exactly the contract of compiled code (abi/abi.h), and is the only
// engine that runs message functions. Semantics are documented in ir.h; where
// the JIT and this file disagree, this file is right.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "abi/abi.h"
#include "abi/batch.h"
#include "compiler/ir/ir.h"

namespace edict::interp {

// The outcome of one rule on one event.
struct RuleResult {
  enum Kind : uint8_t { NotApplicable, NotFired, Fired, Fault } kind = NotApplicable;
  uint32_t site = ir::kNoSite;  // Fault: ir::Module::fault_sites index
  ir::FaultReason reason = ir::FaultReason::None;
};

// A message, or the fault that stopped it.
struct MessageResult {
  std::string text;
  uint32_t fault_site = ir::kNoSite;
  ir::FaultReason reason = ir::FaultReason::None;
  bool ok() const { return fault_site == ir::kNoSite; }
};

// Immutable after construction; evaluate from any number of threads.
class Interpreter {
 public:
  // `column_map`: [event][field] -> batch column (abi::column_map).
  Interpreter(const ir::Module& module, std::vector<std::vector<int>> column_map);
  ~Interpreter();
  Interpreter(Interpreter&&) noexcept;

  // Same contract as compiled code (EdictEvalBatchFn).
  void eval_batch(const EdictColumns& columns, EdictResults& results) const;

  // One rule on one decoded row (kind dispatch and effective dates included).
  RuleResult eval_rule(int rule, const EdictColumns& columns, uint32_t row) const;

  // The registers of one fires-function run: each register's last value and
  // whether the run assigned it. Read with the module's Function::trace.
  struct Trace {
    const ir::Function* function = nullptr;  // null when the rule did not run
    std::vector<uint64_t> regs;
    std::vector<uint8_t> assigned;
  };
  // eval_rule, also recording the registers in `trace` (slower; for
  // explanations and coverage over a module lowered with LowerOptions::trace).
  RuleResult trace_rule(int rule, const EdictColumns& columns, uint32_t row, Trace& trace) const;

  // The message of a fired rule on a row ("" when the rule has none).
  MessageResult message(int rule, const EdictColumns& columns, uint32_t row) const;

  // Runs an aggregate input function (engine/window) on a row: a fires
  // function's 0/1 or a value function's bits in *out. False on a fault
  // (site and reason set).
  bool eval_function(ir::FuncId f, const EdictColumns& columns, uint32_t row, uint64_t* out,
                     uint32_t* fault_site, ir::FaultReason* reason) const;
  // eval_function, also recording the registers in `trace` (coverage of
  // aggregates' `where` filters). False on a fault.
  bool trace_function(ir::FuncId f, const EdictColumns& columns, uint32_t row, Trace& trace) const;

  const ir::Module& module() const { return *module_; }

 private:
  struct SetIndex;
  struct TableIndex;
  // Runs function `f` on row `row`; returns the `ret` immediate, or -1 on a
  // fault (site in *fault_site). Message functions append to *message.
  // With kTrace, registers live in *trace and assignments are recorded.
  template <bool kTrace>
  int64_t run(const ir::Function& f, const EdictColumns& columns, uint32_t row, uint32_t* fault_site,
              ir::FaultReason* reason, std::string* message, uint64_t* value = nullptr,
              Trace* trace = nullptr) const;
  // The fires function eval_rule runs on `row`, or null when the rule does
  // not apply to its kind or is not in effect at its time.
  const ir::Function* fires_for(int rule, const EdictColumns& columns, uint32_t row) const;
  bool set_contains(uint32_t set, uint64_t value) const;
  int64_t table_find(uint32_t table, uint64_t key) const;

  const ir::Module* module_;
  std::vector<std::vector<int>> column_map_;
  std::vector<SetIndex> sets_;
  std::vector<TableIndex> tables_;
  size_t max_regs_ = 0;
};

// Formats a register value for a message (see ir.h `emit`).
// as_date: a `date` (a Time at UTC midnight) as its day, `2024-10-21`.
std::string format_value(ir::Ty type, uint64_t bits, void* strings, bool as_date = false);

}  // namespace edict::interp
