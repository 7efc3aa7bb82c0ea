// Ahead-of-time compilation (`edict build`): the JIT's code generator
// (compiler/codegen) emits the policy's batch function as an object file,
// and this stage writes the C around it: a header declaring one struct per
// event kind, the result and one entry point per kind, and a C source with
// the entry points, the policy's string constants and the string helpers of
// abi/abi.h, compiled from the runtime's own abi.h and helper core
// (embedded_sources.h). Compiled and linked with the system C compiler, the
// result needs neither LLVM nor ANTLR nor the C++ runtime.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "compiler/codegen/codegen.h"
#include "compiler/ir/ir.h"

namespace edict::aot {

enum class TargetCpu {
  Portable,  // the architecture's baseline (x86-64: SSE2), runs on any machine of it
  Host,      // this machine's CPU and features (e.g. AVX-512), fastest here
};

struct AotOptions {
  // C identifier prefixing every generated name: `<prefix>_eval_rental`.
  std::string prefix = "edict_policy";
  TargetCpu cpu = TargetCpu::Portable;
  codegen::OptLevel opt = codegen::OptLevel::O2;
};

// The batch function `<prefix>_batch` (hidden visibility) as a relocatable,
// position-independent object file for this machine's architecture. Empty
// on failure, with *error set.
std::string compile_object(const ir::Module& module, const codegen::ColumnMap& columns,
                           const AotOptions& options, std::string* error);
// Whether the module has `data` sources (ir::Table::external): its library
// links the data runtime (runtime/aot_data.h) and its header can load them.
bool has_data(const ir::Module& module);
// The hidden C symbols that join the compiled code and the generated C of
// a policy with data: the EdictRtSource of table `table` (its index in
// ir::Module::tables, as text), and the generated C's version of abi.h's
// helper `helper` ("edict_data_find" -> "<prefix>_rt_data_find").
std::string data_source_symbol(const std::string& prefix, const std::string& table);
std::string data_helper_symbol(const std::string& prefix, const std::string& helper);

// The CPU name code is generated for ("x86-64", "znver4", ...).
std::string target_cpu_name(TargetCpu cpu);

// A hash of everything the header and the library must agree on (kinds,
// fields and their types, outcomes, rules, prefix): a program compiled
// against one header refuses a library built from another policy.
uint64_t schema_version(const ir::Module& module, const std::string& prefix);

// Where the runtime keeps each event field (see abi/schema.h).
struct Layout {
  std::vector<std::vector<int>> column;  // [event][field] -> batch column (abi::column_map)
  std::vector<std::vector<bool>> read;  // [event][field]: some rule reads it; unread strings are not interned
  std::vector<bool> optional_column;    // per batch column: it has presence bytes
};

// The generated header (for programs) and C source (for the library);
// `header_name` is how the source includes the header: a plain relative
// file name (other characters become `_`; no user text reaches C unquoted).
// String fields come with a length (`x_len`, 0: NUL-terminated), so an
// event string may hold NUL bytes as in `edict eval`.
std::string generate_header(const ir::Module& module, const AotOptions& options,
                            const std::string& policy_name);
std::string generate_source(const ir::Module& module, const Layout& layout, const AotOptions& options,
                            const std::string& header_name);

// Why the generated C names would meet (two fields of a kind, or a field's
// `has_x` or `x_len` and another field, two kinds, outcomes or rules that
// become one C name), or empty when they do not.
std::string name_clash(const ir::Module& module);

// True when `name` is usable as the prefix: a C identifier, not a keyword,
// not starting (in any case) with a prefix the embedded runtime sources use
// (edict_str, edict_decision, edict_kind, edict_record, edict_case,
// edict_country, edict_rt).
bool valid_prefix(const std::string& name);

}  // namespace edict::aot
