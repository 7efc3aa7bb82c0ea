// The evaluation engine: compiles policy files into an immutable Policy
// (parse -> check -> lower -> interpreter or JIT) and evaluates decoded
// batches with it. A Policy is safe to share between threads; each thread
// brings its own Batch and Results.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "abi/abi.h"
#include "abi/batch.h"
#include "abi/data.h"
#include "abi/schema.h"
#include "abi/strings.h"
#include "compiler/check/check.h"
#include "compiler/codegen/codegen.h"
#include "compiler/interp/interp.h"
#include "compiler/ir/ir.h"
#include "compiler/parse/parse.h"
#include "engine/window/window.h"
#include "support/diagnostics.h"

namespace edict::engine {

// Jit compiles before the first decision; Tiered decides on the
// interpreter at once while the JIT compiles on a background thread, and
// switches batch by batch when the code is ready (the engines agree on
// every decision, so outputs are the same either way).
enum class Backend { Jit, Interp, Tiered };

struct CompileOptions {
  Backend backend = Backend::Jit;
  int opt_level = 2;  // JIT: 0 (no passes) or 2
  parse::Limits limits;
  // JIT: also compile code shaped for one event per call (evaluate_one,
  // and record_function for a policy without windowed aggregates); costs a
  // second compilation, pays off when events come one at a time.
  bool single_event_code = false;
  // Tiered: 0 switches to the JIT's code as soon as it is ready. N > 0
  // decides exactly the first N batches on the interpreter and then waits
  // for the JIT (tests and benchmarks that need both engines in one run).
  uint64_t tier_switch_after = 0;
  // JIT: the persistent code cache's folder (default_code_cache_dir()), or
  // empty for none. A folder that is not safe to use (another user's, or
  // writable by others) is not used: Policy::code_cache_warning says why.
  std::string code_cache_dir{};
  // `--data NAME=FILE`: the file a `data` source reads instead of the one its
  // declaration names. Every source is loaded before the policy is returned.
  std::map<std::string, std::string> data_files = {};
  // Keep the lowered IR in code_cache_dir between runs and, when the policy
  // files are unchanged, take it from there instead of parsing, checking and
  // lowering (engine/front_end_cache.h). A Policy from the cache has no AST
  // or checked program: only for callers that never ask for checked()
  // (`eval` without `--explain`).
  bool front_end_cache = false;
};

// One loaded version of a `data` source: what a decision record names.
struct DataVersion {
  std::string name, file;
  std::string hash;  // `sha256:...` of the file's bytes
  uint32_t rows = 0;
};

// $XDG_CACHE_HOME/edict/code, else $HOME/.cache/edict/code; empty when
// neither variable is set.
std::string default_code_cache_dir();

// Per-row results of one batch (see EdictResults in abi/abi.h).
struct Results {
  uint32_t fired_words = 1;
  CacheAlignedVector<uint64_t> fired;
  CacheAlignedVector<uint8_t> decision;
  CacheAlignedVector<uint32_t> fault_rule, fault_site;
  CacheAlignedVector<uint8_t> fault_reason;  // ir::FaultReason

  void reserve(uint32_t rows, size_t rule_count);
  EdictResults view();
  bool rule_fired(uint32_t row, size_t rule) const {
    return (fired[size_t{row} * fired_words + rule / 64] >> (rule % 64)) & 1;
  }
};

// The compile driver's front half, parse -> check -> lower, as `Policy::compile`
// and `edict check` run it.
struct FrontEnd {
  std::unique_ptr<ast::Program> program;           // at a stable address: `checked` points into it
  std::unique_ptr<check::CheckedProgram> checked;  // null when not checked
  ir::Module module;
  bool lowered = false;         // `module` is the lowered program, free of errors
  bool internal_error = false;  // lowering broke an invariant (module.errors): not the user's
};
// Runs the stages while the sink holds no errors. `keep_going`: check even a
// program whose parse reported errors (more diagnostics for `edict check`),
// unless the sink reached its limit.
FrontEnd run_front_end(const std::vector<std::string>& paths, SourceManager& sources, DiagnosticSink& sink,
                       const parse::Limits& limits, const parse::FileReader& reader, bool keep_going = false);

// `check --emit=llvm|asm`: the JIT's batch code for `module` as `edict eval`
// runs it (class bytes included), as LLVM IR or host assembly; false with
// *error set when code generation fails.
enum class CodeText { LlvmIr, Assembly };
bool emit_code(const ir::Module& module, CodeText kind, std::string* text, std::string* error);

class Policy {
 public:
  // Loads, checks, lowers and compiles. Null on any error (diagnostics in
  // `sink`, rendered with `sources`, which must outlive the Policy).
  static std::unique_ptr<Policy> compile(const std::vector<std::string>& paths, SourceManager& sources,
                                         DiagnosticSink& sink, const CompileOptions& options = {},
                                         const parse::FileReader& reader = parse::disk_reader());
  ~Policy();

  const ir::Module& module() const { return module_; }
  // Not for a Policy whose front end came from the cache (front_end_from_cache).
  const check::CheckedProgram& checked() const { return *checked_; }
  const abi::Schema& schema() const { return schema_; }
  const abi::SymbolTable& symbols() const { return symbols_; }
  const interp::Interpreter& interpreter() const { return *interpreter_; }
  Backend backend() const { return backend_; }
  const std::string& outcome_name(uint8_t decision) const;

  // Evaluates every row of `batch` into `results` (reserved for it). A
  // policy with windowed aggregates (module().aggregates not empty) reads
  // values the window stage writes: pass every batch, in input order, through
  // one window::WindowState::advance (engine/window) first. Without it a
  // `sum` or `count` read faults (`absent`) and `min`/`max`/`avg` read as
  // over an empty window.
  void evaluate(const abi::Batch& batch, Results& results) const;
  // The same over a raw column view (the embedding API's one-event path).
  void evaluate(const EdictColumns& columns, EdictResults& results) const;
  // The same for a batch of one row, with the single-event code if compiled.
  void evaluate_one(const EdictColumns& columns, EdictResults& results) const;
  // The single-event code itself (null unless compiled), for callers that
  // call it directly; valid while the Policy lives.
  EdictEvalBatchFn single_event_function() const;
  // The single-event code deciding one event of kind `kind` from a record
  // (abi/abi.h EdictEvalRecordFn); null unless compiled (not for a policy
  // with windowed aggregates or one split into groups of rules).
  EdictEvalRecordFn record_function(int kind) const;
  // The JIT's code for the windowed aggregates' inputs, for
  // window::Options::inputs; empty with the interpreter (which the window
  // stage then runs itself). Valid while the Policy lives.
  window::CompiledInputs window_inputs() const;
  // The raw column view engines read.
  static EdictColumns columns_of(const abi::Batch& batch, std::vector<const void*>& data,
                                 std::vector<const uint8_t*>& present);

  // The data sources in use on this thread (pinned ones as pinned, see
  // abi::PinnedData), in declaration order.
  std::vector<DataVersion> data_versions() const;
  // Each source's version in use on this thread, for a batch to pin
  // (empty for a policy that reads no data).
  std::vector<abi::DataPin> pin_data() const;
  // Replaces the rows of data source `name` with `path`'s, while the policy
  // keeps running (no recompilation: compiled code reads through the slot).
  // On any error the previous version stays in use; *error says why
  // (`file:line:col: error[E0074]: ...`).
  bool replace_data(const std::string& name, const std::string& path, std::string* error) const;

  // Compile-time figures, for `--stats` and benchmarks: compile_ms is all
  // of compile() before the JIT (the front end, or reading it from the
  // cache, then the data sources), jit_ms the JIT before the first event.
  double compile_ms = 0, jit_ms = 0;
  double front_end_ms = 0, data_ms = 0;
  // The IR came from the front-end cache (CompileOptions::front_end_cache).
  bool front_end_from_cache = false;
  // Why a front-end cache entry there was not used or not written; empty
  // when it was, or when there was none yet.
  std::string front_end_cache_note;

  // The JIT's code came from the code cache (Tiered: once ready).
  bool jit_from_cache() const;
  // Why the code cache folder was not used; empty when it was or none was given.
  std::string code_cache_warning;

  // Tiered: where the background compilation stands.
  struct TierStatus {
    bool compiling = false;  // not finished yet
    bool ready = false;      // the JIT's code decides from now on
    std::string error;       // the JIT failed: the interpreter decides throughout
    double jit_ms = 0;       // the background compilation's wall time, once finished
    uint64_t interpreted_batches = 0, compiled_batches = 0;
  };
  TierStatus tier_status() const;
  // Blocks until a background compilation has finished (tests, benchmarks).
  void wait_for_tier() const;

  // The JIT's compiled code, opaque here (see jit_backend.h).
  struct Jitted {
    virtual ~Jitted() = default;
  };

 private:
  Policy() = default;
  std::unique_ptr<ast::Program> program_;  // `checked_` points into it
  std::unique_ptr<check::CheckedProgram> checked_;
  ir::Module module_;
  abi::Schema schema_;
  abi::SymbolTable symbols_;
  std::unique_ptr<interp::Interpreter> interpreter_;
  std::unique_ptr<Jitted> jitted_;
  std::unique_ptr<Jitted> jitted_one_;  // CompileOptions::single_event_code
  bool jit_from_cache_ = false;
  // Tiered: the background compilation, shared with its thread so that a
  // Policy destroyed before the code is ready never waits for it.
  struct Tier;
  std::shared_ptr<Tier> tier_;
  void compile_in_background(const CompileOptions& options);
  // The compiled code evaluation uses now (null: the interpreter).
  const Jitted* active() const;
  const Jitted* active_one() const;
  Backend backend_ = Backend::Jit;
  std::string error_name_ = "error";
};

// Pins `policy`'s data versions on this thread while it lives (see
// abi::PinnedData): what every consumer holds across deciding a batch and
// finishing its records, so a replacement (Policy::replace_data) never
// splits them. Versions already pinned on the thread carry over. Nothing
// to do, and no allocation, for a policy that reads no data.
class PinnedVersions {
 public:
  explicit PinnedVersions(const Policy& policy) : pins_(policy.pin_data()), scope_(&pins_) {}
  const std::vector<abi::DataPin>& pins() const { return pins_; }

 private:
  std::vector<abi::DataPin> pins_;
  abi::PinnedData scope_;
};

// How many background compilations (Backend::Tiered) are still running in
// this process, policies destroyed or not. A process about to exit with one
// running should leave with std::_Exit once its output is flushed: LLVM's
// static state must not be destroyed under a compiling thread.
int background_compilations();
// Loads every `data` source of `module` (from `files` when named there, else
// from its declaration's file) into its slot. Any error is a diagnostic
// naming the file, line and column (the file is added to `sources` to show
// it), and then no source is replaced: all or nothing.
bool load_data_sources(const ir::Module& module, const std::map<std::string, std::string>& files,
                       SourceManager& sources, DiagnosticSink& sink);

// The batch schema for a module's event kinds, kinds in module order.
abi::Schema schema_for(const ir::Module& module);
// Adds the class bytes of the country columns that JIT batch code tests
// against sets (codegen::plan_class_byte_columns) to `schema`: the JIT's
// schema. The interpreter and ahead-of-time code read the countries.
void add_country_classes(const ir::Module& module, abi::Schema& schema);
// The JIT's view of `schema`'s columns, class bytes included.
codegen::ColumnMap jit_columns(const abi::Schema& schema);

}  // namespace edict::engine
