// The public Policy and PolicySlot: compiling through the engine, with
// diagnostics turned into data, and the metadata hosts read.
#include <filesystem>
#include <map>
#include <new>
#include <optional>

#include "abi/schema.h"
#include "api/impl.h"

namespace edict {
namespace {

using detail::Access;
using detail::PolicyImpl;

static_assert(static_cast<int>(FieldType::Duration) == static_cast<int>(abi::ColumnType::Duration) &&
              static_cast<int>(FieldType::String) == static_cast<int>(abi::ColumnType::String));

PolicyDiagnostic to_public(const SourceManager& sources, const Diagnostic& d);

}  // namespace

const char* code_name(Code code) {
  switch (code) {
    case Code::Ok: return "ok";
    case Code::NullArgument: return "null_argument";
    case Code::InvalidHandle: return "invalid_handle";
    case Code::InvalidArgument: return "invalid_argument";
    case Code::InvalidUtf8: return "invalid_utf8";
    case Code::CompileError: return "compile_error";
    case Code::InvalidJson: return "invalid_json";
    case Code::WrongKind: return "wrong_kind";
    case Code::InvalidEvent: return "invalid_event";
    case Code::UnknownField: return "unknown_field";
    case Code::WrongType: return "wrong_type";
    case Code::RuleFault: return "rule_fault";
    case Code::PolicyMismatch: return "policy_mismatch";
    case Code::OutOfMemory: return "out_of_memory";
    case Code::Internal: return "internal";
    case Code::DataError: return "data_error";
  }
  return "unknown";
}

namespace {

Compiled compile(const std::vector<std::string>& roots, const CompileOptions& options,
                 const parse::FileReader& reader) {
  Compiled result;
  try {
    auto impl = std::make_shared<PolicyImpl>();
    DiagnosticSink sink(options.max_errors);
    engine::CompileOptions engine_options;
    engine_options.backend = options.engine == Engine::Jit ? engine::Backend::Jit : engine::Backend::Interp;
    engine_options.opt_level = options.opt_level == 0 ? 0 : 2;
    engine_options.single_event_code = options.single_event_code;
    engine_options.data_files = options.data_files;
    impl->engine = engine::Policy::compile(roots, impl->sources, sink, engine_options, reader);
    // A windowed aggregate needs the window state of an ordered event stream,
    // which the one-event-at-a-time API does not keep: refuse the policy
    // rather than evaluate it over empty windows.
    if (impl->engine) {
      for (const ir::Aggregate& a : impl->engine->module().aggregates)
        sink.error("E0603", a.span,
                   "the windowed aggregate `" + a.text + "` is not supported by the embedding API")
            .help = "windows need the ordered event stream; evaluate this policy with `edict eval`";
      if (!impl->engine->module().aggregates.empty()) impl->engine.reset();
    }
    std::vector<Diagnostic> sorted = sink.sorted();
    for (const Diagnostic& d : sorted) result.diagnostics.push_back(to_public(impl->sources, d));
    size_t dropped = sink.error_count() > sink.max_errors() ? sink.error_count() - sink.max_errors() : 0;
    if (!sorted.empty()) result.report = render_human(impl->sources, sorted, dropped);
    if (!impl->engine) {
      result.status = {Code::CompileError,
                       sink.error_count() == 1
                           ? "the policy has 1 error"
                           : "the policy has " + std::to_string(sink.error_count()) + " errors"};
      return result;
    }
    impl->engine_kind = options.engine;
    impl->single_event = impl->engine->single_event_function();
    impl->reads_data = !impl->engine->pin_data().empty();
    const ir::Module& m = impl->engine->module();
    for (const std::string& o : m.outcomes) impl->outcomes.emplace_back(o);
    impl->quiet_outcome = m.default_outcome;
    for (const ir::Rule& r : m.rules)
      if (r.effect == m.default_outcome) impl->quiet_outcome = -1;
    for (const ir::Rule& r : m.rules) {
      detail::RuleNames& n = impl->rules.emplace_back();
      n.name = r.name;
      n.effect = m.outcomes[static_cast<size_t>(r.effect)];
      n.cite = r.cite;
      if (r.policy >= 0) n.policy = m.policies[static_cast<size_t>(r.policy)].title;
      for (const ir::RuleBody& b : r.bodies) n.has_message = n.has_message || b.message != ir::kNoFunc;
    }
    const abi::Schema& schema = impl->engine->schema();
    for (const abi::KindSpec& k : schema.kinds) {
      impl->kinds.push_back(k.name);
      std::vector<uint64_t> mask((k.fields.size() + 63) / 64, 0);
      for (size_t f = 0; f < k.fields.size(); ++f)
        if (!k.fields[f].optional) mask[f / 64] |= uint64_t{1} << (f % 64);
      impl->required.push_back(std::move(mask));
    }
    impl->finisher = std::make_unique<engine::DecisionFinisher>(*impl->engine);
    result.policy = Access::make(std::move(impl));
  } catch (const std::bad_alloc&) {
    result.status = {Code::OutOfMemory, "out of memory while compiling the policy"};
  } catch (const std::exception& e) {
    result.status = {Code::Internal, std::string("internal error while compiling the policy: ") + e.what()};
  }
  return result;
}

PolicyDiagnostic to_public(const SourceManager& sources, const Diagnostic& d) {
  PolicyDiagnostic out;
  out.error = d.severity == Severity::Error;
  out.code = d.code;
  out.message = d.message;
  out.help = d.help;
  if (d.span.valid()) {
    out.file = sources.file(d.span.file).path;
    LineCol lc = sources.line_col(d.span.file, d.span.begin);
    out.line = lc.line;
    out.column = lc.column;
  }
  return out;
}

}  // namespace

Compiled Policy::compile_files(const std::vector<std::string>& paths, const CompileOptions& options) {
  return compile(paths, options, parse::disk_reader());
}

Compiled Policy::compile_sources(const std::vector<PolicySource>& files, const CompileOptions& options) {
  std::vector<std::string> roots;
  auto texts = std::make_shared<std::map<std::string, std::string>>();
  for (const PolicySource& f : files) {
    // Imports arrive as normalised paths; key the texts the same way.
    std::string key = std::filesystem::path(f.path).lexically_normal().string();
    (*texts)[key] = f.text;
    roots.push_back(key);
  }
  parse::FileReader disk = parse::disk_reader();
  bool read_disk = options.read_disk;
  parse::FileReader reader = [texts, disk, read_disk](const std::string& path,
                                                      std::string* error) -> std::optional<std::string> {
    auto it = texts->find(std::filesystem::path(path).lexically_normal().string());
    if (it != texts->end()) return it->second;
    if (read_disk) return disk(path, error);
    *error = "not among the given sources (reading from disk is off)";
    return std::nullopt;
  };
  return compile(roots, options, reader);
}

std::vector<DataVersion> Policy::data_versions() const {
  std::vector<DataVersion> out;
  if (!impl_) return out;
  for (const engine::DataVersion& v : impl_->engine->data_versions())
    out.push_back({v.name, v.file, v.hash, v.rows});
  return out;
}

Status Policy::replace_data(const std::string& name, const std::string& path) const {
  if (!impl_) return {Code::InvalidArgument, "the policy is empty"};
  std::string error;
  if (!impl_->engine->replace_data(name, path, &error)) return {Code::DataError, error};
  return {};
}

Engine Policy::engine() const {
  return impl_->engine_kind;
}

const std::vector<std::string>& Policy::outcomes() const {
  return impl_->engine->module().outcomes;
}

size_t Policy::rule_count() const {
  return impl_ ? impl_->rule_count() : 0;
}

RuleInfo Policy::rule(size_t index) const {
  const detail::RuleNames& r = impl_->rules[index];
  return {r.name, r.effect, r.cite, r.policy};
}

std::vector<std::string> Policy::kinds() const {
  return impl_ ? impl_->kinds : std::vector<std::string>{};
}

Field Policy::field(std::string_view kind, std::string_view name) const {
  Field f;
  if (!impl_) return f;
  const abi::Schema& schema = impl_->engine->schema();
  int k = schema.kind_index(kind);
  if (k < 0) return f;
  const abi::KindSpec& spec = schema.kinds[static_cast<size_t>(k)];
  auto it = spec.field_index.find(name);
  if (it == spec.field_index.end()) return f;
  const abi::FieldSpec& fs = spec.fields[static_cast<size_t>(it->second)];
  f.kind = k;
  f.index = it->second;
  f.type = static_cast<FieldType>(fs.type);
  f.optional = fs.optional;
  return f;
}

namespace detail {

const engine::Tracer* PolicyImpl::tracer(std::string* error) const {
  std::call_once(tracer_once_, [this] {
    std::string why;
    tracer_ = engine::Tracer::create(*engine, &why);
    if (!tracer_) tracer_error_ = "this policy cannot be explained: " + why;
  });
  if (!tracer_) *error = tracer_error_;
  return tracer_.get();
}

}  // namespace detail

// ---- PolicySlot ------------------------------------------------------------------

PolicySlot::PolicySlot(Policy initial) : state_(std::make_shared<detail::SlotState>()) {
  state_->current = std::move(initial);
}

Policy PolicySlot::load() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->current;
}

void PolicySlot::store(Policy next) {
  Policy old;
  {
    std::lock_guard<std::mutex> lock(state_->mutex);
    old = std::move(state_->current);
    state_->current = std::move(next);
    state_->version.fetch_add(1, std::memory_order_release);
  }
  // `old` is released here, outside the lock: freeing JIT code takes time.
}

uint64_t PolicySlot::version() const {
  return state_->version.load(std::memory_order_acquire);
}

}  // namespace edict
