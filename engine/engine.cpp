// Policy compilation (front end, lowering, backend) and batch evaluation.
#include "engine/engine.h"

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "compiler/check/check.h"
#include "compiler/codegen/codegen.h"
#include "compiler/ir/type_map.h"
#include "compiler/jit/code_cache.h"
#include "compiler/jit/jit.h"
#include "engine/front_end_cache.h"
#include "engine/jit_backend.h"
#include "support/countries.h"

namespace edict::engine {
namespace {

double ms_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

void Results::reserve(uint32_t rows, size_t rule_count) {
  fired_words = static_cast<uint32_t>(std::max<size_t>(1, (rule_count + 63) / 64));
  fired.assign(size_t{rows} * fired_words, 0);
  decision.assign(rows, 0);
  fault_rule.assign(rows, 0);
  fault_site.assign(rows, 0);
  fault_reason.assign(rows, 0);
}

EdictResults Results::view() {
  return EdictResults{fired.data(),      fired_words,       decision.data(),
                      fault_rule.data(), fault_site.data(), fault_reason.data()};
}

abi::Schema schema_for(const ir::Module& module) {
  // Which fields' values any function reads (a field only tested with `is
  // present` needs its presence, not its value); the event time is always
  // read (effective dates).
  std::vector<std::vector<bool>> read(module.events.size());
  for (size_t e = 0; e < module.events.size(); ++e) {
    read[e].assign(module.events[e].fields.size(), false);
    if (module.events[e].time_field >= 0) read[e][static_cast<size_t>(module.events[e].time_field)] = true;
  }
  for (const ir::Function& f : module.functions)
    for (const ir::Block& b : f.blocks)
      for (const ir::Inst& in : b.insts)
        if ((in.op == ir::Op::Load || in.op == ir::Op::LoadChecked) && f.event >= 0)
          read[static_cast<size_t>(f.event)][static_cast<size_t>(in.imm)] = true;
  abi::Schema schema;
  for (size_t e = 0; e < module.events.size(); ++e) {
    const ir::EventSchema& ev = module.events[e];
    std::vector<abi::FieldSpec> fields;
    for (size_t i = 0; i < ev.fields.size(); ++i) {
      const ir::Field& f = ev.fields[i];
      fields.push_back({f.name, ir::column_type_of(f.type), f.optional, -1, read[e][i], f.aggregate >= 0});
    }
    schema.add_kind(ev.name, fields, ev.time_field);
  }
  return schema;
}

void add_country_classes(const ir::Module& module, abi::Schema& schema) {
  // Filled by every writer of a country value (abi::Batch::set_country).
  for (codegen::ColumnMap::CountryClasses& c :
       codegen::plan_class_byte_columns(module, abi::column_map(schema))) {
    std::vector<uint8_t> class_of(kCountryIndexLimit, 0);
    for (size_t j = 0; j < c.sets.size(); ++j)
      for (const ir::Scalar& m : module.sets[c.sets[j]].members)
        if (m.i >= 0 && m.i < kCountryIndexLimit)
          class_of[static_cast<size_t>(m.i)] |= static_cast<uint8_t>(1u << j);
    schema.add_country_classes(c.source, std::move(class_of), std::move(c.sets));
  }
}

codegen::ColumnMap jit_columns(const abi::Schema& schema) {
  codegen::ColumnMap columns{abi::column_map(schema), {}};
  for (size_t c = 0; c < schema.columns.size(); ++c)
    if (schema.columns[c].classes >= 0)
      columns.classes.push_back(
          {static_cast<int>(c), schema.columns[c].classes, schema.columns[c].class_sets});
  return columns;
}

namespace {
std::atomic<int> running_compilations{0};
}  // namespace

// What a Policy and its compiling thread share: the thread's own copies of
// the module and schema, and what it leaves.
struct Policy::Tier {
  ir::Module module;
  abi::Schema schema;
  std::unique_ptr<Jitted> code, code_one;
  std::atomic<const Jitted*> ready{nullptr}, ready_one{nullptr};
  std::string error;  // set before `finished`
  double ms = 0;
  bool from_cache = false;  // set before `finished`
  std::string cache_dir;
  std::atomic<uint64_t> interpreted{0}, compiled{0};
  uint64_t switch_after = 0;  // CompileOptions::tier_switch_after
  std::atomic<uint64_t> batches{0};
  std::mutex mutex;
  std::condition_variable finished_changed;
  bool finished = false;  // under `mutex`
};

namespace {
// The compiling thread yields to the threads deciding events. On an idle
// machine with a core to spare this changes nothing; on a busy one its
// process's threads share one scheduling group (Linux's autogroup), and an
// equal share for LLVM halved the deciding thread's: a tiered run of 100k
// events took 1.7x the interpreter's wall time, for code that came too late
// to run. Nice 10 weighs about a tenth of nice 0.
constexpr int kCompilerNice = 10;

void lower_this_threads_priority() {
#if defined(__linux__)
  // On Linux a thread's nice value is its own (setpriority on its thread id).
  setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), kCompilerNice);
#endif
}
}  // namespace

int background_compilations() {
  return running_compilations.load();
}

void Policy::compile_in_background(const CompileOptions& options) {
  tier_ = std::make_shared<Tier>();
  tier_->module = module_;
  // The caller's SourceManager may be gone before the thread is done (a
  // command that refuses its arguments right after loading): the copy
  // compiles without it.
  tier_->module.sources = nullptr;
  tier_->schema = schema_;
  tier_->switch_after = options.tier_switch_after;
  tier_->cache_dir = options.code_cache_dir;
  running_compilations.fetch_add(1);
  std::thread([tier = tier_, opt = options.opt_level, one = options.single_event_code]() mutable {
    lower_this_threads_priority();
    auto started = std::chrono::steady_clock::now();
    std::string error;
    bool cached = false, cached_one = true;
    tier->code = jit_compile(tier->module, tier->schema, opt, &error, false, /*aggregate_inputs=*/true, false,
                             tier->cache_dir, &cached);
    if (tier->code && one)
      tier->code_one =
          jit_compile(tier->module, tier->schema, opt, &error, true, false,
                      /*record_functions=*/tier->module.aggregates.empty(), tier->cache_dir, &cached_one);
    {
      std::lock_guard<std::mutex> lock(tier->mutex);
      if (tier->code && (!one || tier->code_one)) {
        tier->ready_one.store(tier->code_one.get(), std::memory_order_release);
        tier->ready.store(tier->code.get(), std::memory_order_release);
      } else {
        tier->error = error;
      }
      tier->ms = ms_since(started);
      tier->from_cache = cached && cached_one;
      tier->finished = true;
    }
    tier->finished_changed.notify_all();
    // The Policy may be gone, leaving this thread the last owner: destroy
    // the compiled code here, before the count says the thread is done, so
    // an exiting process never tears LLVM's static state down under it.
    tier.reset();
    running_compilations.fetch_sub(1);
  }).detach();
}

const Policy::Jitted* Policy::active() const {
  if (tier_) return tier_->ready.load(std::memory_order_acquire);
  return jitted_.get();
}

const Policy::Jitted* Policy::active_one() const {
  if (tier_) return tier_->ready_one.load(std::memory_order_acquire);
  return jitted_one_.get();
}

std::string default_code_cache_dir() {
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  if (xdg && *xdg == '/') return std::string(xdg) + "/edict/code";
  const char* home = std::getenv("HOME");
  if (home && *home == '/') return std::string(home) + "/.cache/edict/code";
  return {};
}

bool Policy::jit_from_cache() const {
  if (!tier_) return jit_from_cache_;
  std::lock_guard<std::mutex> lock(tier_->mutex);
  return tier_->finished && tier_->from_cache;
}

Policy::TierStatus Policy::tier_status() const {
  TierStatus s;
  if (!tier_) return s;
  std::lock_guard<std::mutex> lock(tier_->mutex);
  s.compiling = !tier_->finished;
  s.ready = tier_->ready.load() != nullptr;
  s.error = tier_->error;
  s.jit_ms = tier_->ms;
  s.interpreted_batches = tier_->interpreted.load();
  s.compiled_batches = tier_->compiled.load();
  return s;
}

void Policy::wait_for_tier() const {
  if (!tier_) return;
  std::unique_lock<std::mutex> lock(tier_->mutex);
  tier_->finished_changed.wait(lock, [&] { return tier_->finished; });
}

Policy::~Policy() = default;

FrontEnd run_front_end(const std::vector<std::string>& paths, SourceManager& sources, DiagnosticSink& sink,
                       const parse::Limits& limits, const parse::FileReader& reader, bool keep_going) {
  FrontEnd f;
  f.program = std::make_unique<ast::Program>(parse::load_program(paths, sources, sink, limits, reader));
  if (keep_going ? sink.limit_reached() : sink.has_errors()) return f;
  f.checked = std::make_unique<check::CheckedProgram>(check::check(*f.program, sources, sink));
  // Lowering is part of checking: its limits (a rule too large after
  // inlining) are the user's problem and reported like any other.
  if (sink.has_errors()) return f;
  f.module = ir::lower(*f.checked, sink);
  if (sink.has_errors()) return f;
  f.internal_error = !f.module.ok();
  f.lowered = !f.internal_error;
  return f;
}

bool emit_code(const ir::Module& module, CodeText kind, std::string* text, std::string* error) {
  abi::Schema schema = schema_for(module);
  add_country_classes(module, schema);
  auto emitted = jit::emit(module, jit_columns(schema),
                           kind == CodeText::LlvmIr ? jit::EmitKind::LlvmIr : jit::EmitKind::Assembly);
  if (!emitted) {
    *error = emitted.error();
    return false;
  }
  *text = std::move(*emitted);
  return true;
}

std::unique_ptr<Policy> Policy::compile(const std::vector<std::string>& paths, SourceManager& sources,
                                        DiagnosticSink& sink, const CompileOptions& options,
                                        const parse::FileReader& reader) {
  auto start = std::chrono::steady_clock::now();
  std::unique_ptr<Policy> p(new Policy());
  std::string cache_folder, why;
  if (options.front_end_cache && !options.code_cache_dir.empty() &&
      jit::open_cache_folder(options.code_cache_dir, &why))
    cache_folder = options.code_cache_dir;
  const FrontEndCacheRequest cache_request{cache_folder, &paths, &options.limits};
  std::optional<ir::Module> cached;
  if (!cache_folder.empty())
    cached = read_front_end(cache_request, reader, sources, &p->front_end_cache_note);
  if (cached) {
    p->module_ = std::move(*cached);
    p->front_end_from_cache = true;
  } else {
    FrontEnd front = run_front_end(paths, sources, sink, options.limits, reader);
    if (front.internal_error)
      for (const std::string& e : front.module.errors) sink.error("E0999", Span{}, "internal error: " + e);
    if (!front.lowered) return nullptr;
    p->program_ = std::move(front.program);
    p->checked_ = std::move(front.checked);
    p->module_ = std::move(front.module);
    // Only a front end that said nothing is kept: a hit then says nothing too.
    std::string note;
    if (!cache_folder.empty() && sink.all().empty() &&
        !write_front_end(cache_request, sources, p->module_, &note))
      p->front_end_cache_note = "the front-end cache entry was not written: " + note;
  }
  p->front_end_ms = ms_since(start);
  const auto data_start = std::chrono::steady_clock::now();
  if (!load_data_sources(p->module_, options.data_files, sources, sink)) return nullptr;
  p->data_ms = ms_since(data_start);
  p->schema_ = schema_for(p->module_);
  // Pool strings keep their IR ids as run-time symbols.
  for (const std::string& s : p->module_.strings) p->symbols_.intern(s);
  p->interpreter_ = std::make_unique<interp::Interpreter>(p->module_, abi::column_map(p->schema_));
  p->compile_ms = ms_since(start);
  p->backend_ = options.backend;
  CompileOptions resolved = options;
  if (!options.code_cache_dir.empty() && options.backend != Backend::Interp) {
    std::string why;
    if (!jit::open_cache_folder(options.code_cache_dir, &why)) {
      p->code_cache_warning = "the code cache is not used: " + why;
      resolved.code_cache_dir.clear();
    }
  }
  if (options.backend == Backend::Tiered) {
    add_country_classes(p->module_, p->schema_);
    p->compile_in_background(resolved);
  } else if (options.backend == Backend::Jit) {
    auto jit_start = std::chrono::steady_clock::now();
    std::string error;
    add_country_classes(p->module_, p->schema_);
    bool cached = false, cached_one = true;
    p->jitted_ = jit_compile(p->module_, p->schema_, options.opt_level, &error,
                             /*single_event=*/false, /*aggregate_inputs=*/true, false,
                             resolved.code_cache_dir, &cached);
    if (!p->jitted_) {
      sink.error("E0998", Span{}, "the JIT could not compile this policy: " + error).help =
          "run with `--engine interp` to use the interpreter";
      return nullptr;
    }
    if (options.single_event_code) {
      p->jitted_one_ = jit_compile(p->module_, p->schema_, options.opt_level, &error, true,
                                   /*aggregate_inputs=*/false,
                                   /*record_functions=*/p->module_.aggregates.empty(),
                                   resolved.code_cache_dir, &cached_one);
      if (!p->jitted_one_) {
        sink.error("E0998", Span{}, "the JIT could not compile this policy: " + error).help =
            "run with `--engine interp` to use the interpreter";
        return nullptr;
      }
    }
    p->jit_ms = ms_since(jit_start);
    p->jit_from_cache_ = cached && cached_one;
  }
  return p;
}

const std::string& Policy::outcome_name(uint8_t decision) const {
  if (decision < module_.outcomes.size()) return module_.outcomes[decision];
  return error_name_;
}

EdictColumns Policy::columns_of(const abi::Batch& batch, std::vector<const void*>& data,
                                std::vector<const uint8_t*>& present) {
  const size_t n = batch.schema().columns.size();
  data.resize(n);
  present.resize(n);
  for (size_t c = 0; c < n; ++c) {
    const abi::Column& col = batch.column(c);
    data[c] = col.storage.data();
    present[c] = col.present.empty() ? nullptr : col.present.data();
  }
  return EdictColumns{batch.size(), batch.kinds(), data.data(), present.data(),
                      const_cast<abi::Batch*>(&batch)};
}

void Policy::evaluate(const abi::Batch& batch, Results& results) const {
  std::vector<const void*> data;
  std::vector<const uint8_t*> present;
  EdictColumns columns = columns_of(batch, data, present);
  EdictResults out = results.view();
  evaluate(columns, out);
}

window::CompiledInputs Policy::window_inputs() const {
  // Tiered: the code ready when the stream starts, else the window stage
  // interprets the inputs itself for the whole run.
  window::CompiledInputs inputs;
  const Jitted* code = active();
  inputs.function = code ? jit_inputs_function(*code) : nullptr;
  if (inputs.function) inputs.functions = codegen::aggregate_input_functions(module_);
  return inputs;
}

EdictEvalBatchFn Policy::single_event_function() const {
  const Jitted* code = active_one();
  return code ? jit_function(*code) : nullptr;
}

EdictEvalRecordFn Policy::record_function(int kind) const {
  const Jitted* code = active_one();
  return code && kind >= 0 ? jit_record_function(*code, static_cast<size_t>(kind)) : nullptr;
}

void Policy::evaluate_one(const EdictColumns& columns, EdictResults& results) const {
  if (const Jitted* code = active_one())
    jit_run(*code, columns, results);
  else
    evaluate(columns, results);
}

void Policy::evaluate(const EdictColumns& columns, EdictResults& results) const {
  const Jitted* code = active();
  if (tier_) {
    if (tier_->switch_after > 0) {
      if (tier_->batches.fetch_add(1, std::memory_order_relaxed) < tier_->switch_after) {
        code = nullptr;
      } else if (!code) {
        wait_for_tier();
        code = active();
      }
    }
    (code ? tier_->compiled : tier_->interpreted).fetch_add(1, std::memory_order_relaxed);
  }
  if (code)
    jit_run(*code, columns, results);
  else
    interpreter_->eval_batch(columns, results);
}

}  // namespace edict::engine
