// The playground's requests (see playground.h).
#include "tools/playground.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <memory>
#include <string_view>

#include "engine/stream.h"
#include "engine/trace.h"
#include "tools/diff.h"
#include "tools/testing.h"

namespace edict::tools {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct BadRequest {
  std::string message;
};

// One compilation of a user policy: its sources (which the Policy's
// diagnostics and traces point into) and the result.
struct Compiled {
  SourceManager sources;
  std::unique_ptr<engine::Policy> policy;
  json diagnostics = json::array();
  bool ok = false;
};

std::string text_member(const json& body, const char* name, size_t max_bytes) {
  auto it = body.find(name);
  if (it == body.end() || !it->is_string()) throw BadRequest{std::string("`") + name + "` must be a string"};
  std::string text = it->get<std::string>();
  if (text.size() > max_bytes)
    throw BadRequest{std::string("`") + name + "` is larger than " + std::to_string(max_bytes) + " bytes"};
  return text;
}

// A policy text with a fenced ```edict block is literate markdown (a plain
// `.edict` file cannot hold a line starting with a fence), unless the request
// says which it is with `literate`.
bool is_literate(const json& body, const std::string& text) {
  auto it = body.find("literate");
  if (it != body.end()) {
    if (!it->is_boolean()) throw BadRequest{"`literate` must be true or false"};
    return it->get<bool>();
  }
  for (size_t pos = 0; pos < text.size();) {
    size_t end = std::min(text.find('\n', pos), text.size());
    std::string_view line(text.data() + pos, end - pos);
    pos = end + 1;
    size_t indent = line.find_first_not_of(' ');
    if (indent == std::string_view::npos || indent > 3) continue;
    line.remove_prefix(indent);
    const char fence = line[0];
    size_t length = std::min(line.find_first_not_of(fence), line.size());
    if ((fence != '`' && fence != '~') || length < 3) continue;
    std::string_view info = line.substr(std::min(line.find_first_not_of(" \t", length), line.size()));
    if (info.substr(0, info.find_first_of(" \t{")) == "edict") return true;
  }
  return false;
}

// The virtual file a policy text is compiled as: `stem.edict`, or
// `stem.edict.md` for literate markdown.
std::string policy_file(const char* stem, const json& body, const std::string& text) {
  return std::string(stem) + (is_literate(body, text) ? ".edict.md" : ".edict");
}

json diagnostics_json(const SourceManager& sources, const std::vector<Diagnostic>& ds,
                      const std::string& library) {
  json list = json::parse(render_json(sources, ds));
  for (json& d : list) {  // library files by their path in the library, the user's file by its name
    std::string file = d.value("file", "");
    if (file.starts_with(library + "/")) d["file"] = file.substr(library.size() + 1);
  }
  return list;
}

class Session {
 public:
  Session(const std::string& library, const PlaygroundLimits& limits) : library_(library), limits_(limits) {}

  // Checks, then (when clean and `build`) compiles for the interpreter.
  std::unique_ptr<Compiled> compile(const std::string& name, const std::string& text, bool build) const {
    auto c = std::make_unique<Compiled>();
    const std::string path = library_ + "/" + name;
    const parse::FileReader disk = parse::disk_reader(limits().max_file_bytes * 2);
    parse::FileReader reader = [&](const std::string& p, std::string* error) -> std::optional<std::string> {
      if (p == path) return text;
      return disk(p, error);
    };
    {
      SourceManager sources;
      DiagnosticSink sink;
      engine::FrontEnd front = engine::run_front_end({path}, sources, sink, limits(), reader, true);
      c->diagnostics = diagnostics_json(sources, sink.sorted(), library_);
      c->ok = !sink.has_errors() && front.lowered;
      if (c->ok && declares_data(front, sources, path)) {
        c->ok = false;
        c->diagnostics.push_back(
            {{"severity", "error"},
             {"code", "playground"},
             {"file", name},
             {"line", 1},
             {"column", 1},
             {"message", "the playground reads no data files: declare a `table` instead of `data`"}});
      }
    }
    if (!c->ok || !build) return c;
    DiagnosticSink sink;
    engine::CompileOptions options;
    options.backend = engine::Backend::Interp;
    options.limits = limits();
    c->policy = engine::Policy::compile({path}, c->sources, sink, options, reader);
    if (!c->policy) {
      c->ok = false;
      c->diagnostics = diagnostics_json(c->sources, sink.sorted(), library_);
    }
    return c;
  }

  std::vector<engine::EventText> events(const json& body) const {
    std::vector<engine::EventText> out =
        engine::split_event_text(text_member(body, "events", limits_.max_events_bytes));
    if (out.empty()) throw BadRequest{"`events` holds no event"};
    if (out.size() > limits_.max_events)
      throw BadRequest{"more than " + std::to_string(limits_.max_events) + " events"};
    return out;
  }

  const PlaygroundLimits& limits_of() const { return limits_; }

  // Called before each event: stops a request past its time limit.
  void check_time(size_t done, size_t total) const {
    if (past_limit())
      throw BadRequest{::fmt::format(
          "the request took longer than the limit of {:g} s, after {} of {} events; send fewer events",
          limits_.max_seconds, done, total)};
  }

  // Called after each test step (`done` of `total` have run).
  void check_test_time(size_t done, size_t total) const {
    if (past_limit())
      throw BadRequest{::fmt::format(
          "the tests took longer than the limit of {:g} s, after {} of {} steps; run fewer steps at a time",
          limits_.max_seconds, done, total)};
  }

 private:
  std::string library_;
  PlaygroundLimits limits_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();

  bool past_limit() const {
    std::chrono::duration<double> spent = std::chrono::steady_clock::now() - start_;
    return spent.count() >= limits_.max_seconds;
  }

  parse::Limits limits() const {
    parse::Limits l;
    l.max_file_bytes = std::max(limits_.max_policy_bytes, parse::Limits{}.max_file_bytes);
    return l;
  }

  static bool declares_data(const engine::FrontEnd& front, const SourceManager& sources,
                            const std::string& path) {
    for (FileId f : front.program->roots) {
      if (sources.file(f).path != path) continue;
      if (const ast::Module* m = front.program->module_for(f))
        for (const auto& d : m->decls)
          if (d && d->kind == ast::DeclKind::Table && static_cast<const ast::TableDecl&>(*d).data)
            return true;
    }
    return false;
  }
};

json step_json(const Compiled& c, const StepOutcome& s) {
  LineCol lc = s.span.valid() ? c.sources.line_col(s.span.file, s.span.begin) : LineCol{};
  return json{{"test", s.test},     {"step", s.step + 1},     {"line", lc.line},
              {"passed", s.passed}, {"expected", s.expected}, {"actual", s.actual},
              {"fired", s.fired},   {"error", s.error},       {"event", s.event}};
}

json run_test_request(const Session& session, const json& body) {
  const std::string text = text_member(body, "policy", session.limits_of().max_policy_bytes);
  const std::string file = policy_file("playground", body, text);
  auto c = session.compile(file, text, true);
  if (!c->ok) return {{"ok", false}, {"file", file}, {"diagnostics", c->diagnostics}};
  json steps = json::array();
  size_t failed = 0;
  // The observer sees each step after it ran: a step past the limit stops
  // the rest (run_tests unwinds; its results are dropped).
  size_t ran = 0, total = 0;
  for (const auto& t : c->policy->checked().tests) total += t.steps.size();
  auto bound = [&](const StepOutcome&, const abi::Batch&) { session.check_test_time(++ran, total); };
  for (const StepOutcome& s : run_tests(*c->policy, bound)) {
    failed += !s.passed;
    steps.push_back(step_json(*c, s));
  }
  return {
      {"ok", true}, {"file", file}, {"diagnostics", c->diagnostics}, {"steps", steps}, {"failed", failed}};
}

json explain_request(const Session& session, const json& body) {
  const std::string text = text_member(body, "policy", session.limits_of().max_policy_bytes);
  const std::string file = policy_file("playground", body, text);
  auto c = session.compile(file, text, true);
  if (!c->ok) return {{"ok", false}, {"file", file}, {"diagnostics", c->diagnostics}};
  std::vector<engine::EventText> items = session.events(body);
  std::string error;
  auto tracer = engine::Tracer::create(*c->policy, &error);
  if (!tracer) throw std::runtime_error("cannot trace this policy: " + error);
  // As `edict explain`: one stream, so windowed aggregates see earlier events.
  engine::StreamOptions options;
  options.batch_size = 1;
  options.windows.record_members = true;
  engine::Stream stream(*c->policy, options);
  tracer->read_windows(&stream.windows());
  json out = json::array();
  for (const engine::EventText& item : items) {
    session.check_time(out.size(), items.size());
    const engine::EvaluatedBatch evaluated = stream.evaluate(stream.decode_text(item.text, item.line));
    engine::EventExplanation e = engine::explain_row(*tracer, evaluated.batch, evaluated.results, 0);
    std::string js;
    engine::append_explanation_json(js, *tracer, e);
    out.push_back({{"explanation", json::parse(js)}, {"text", engine::render_explanation(*tracer, e)}});
  }
  return {{"ok", true}, {"file", file}, {"diagnostics", c->diagnostics}, {"events", out}};
}

json diff_request(const Session& session, const json& body) {
  size_t max = session.limits_of().max_policy_bytes;
  const std::string old_text = text_member(body, "old", max), new_text = text_member(body, "new", max);
  auto old_c = session.compile(policy_file("playground_old", body, old_text), old_text, true);
  auto new_c = session.compile(policy_file("playground_new", body, new_text), new_text, true);
  if (!old_c->ok || !new_c->ok) {
    json all = old_c->diagnostics;
    for (const json& d : new_c->diagnostics) all.push_back(d);
    return {{"ok", false}, {"diagnostics", all}};
  }
  std::vector<std::string> differences = schema_differences(*old_c->policy, *new_c->policy);
  if (!differences.empty())
    return {{"ok", false}, {"schema_differences", differences}, {"diagnostics", json::array()}};
  std::vector<engine::EventText> items = session.events(body);
  engine::StreamOptions options;
  options.batch_size = 1;
  engine::Stream a(*old_c->policy, options), b(*new_c->policy, options);
  DecisionDiff diff(*old_c->policy, *new_c->policy);
  std::string records;
  for (const engine::EventText& item : items) {
    session.check_time(diff.events(), items.size());
    engine::EvaluatedBatch old_side = a.evaluate(a.decode_text(item.text, item.line));
    engine::EvaluatedBatch new_side = b.evaluate(b.decode_text(item.text, item.line));
    diff.compare(old_side.batch, old_side.results, new_side.batch, new_side.results, &records);
  }
  json changed = json::array();
  for (const engine::EventText& line : engine::split_event_text(records))
    changed.push_back(json::parse(line.text));
  return {{"ok", true},
          {"diagnostics", json::array()},
          {"events", diff.events()},
          {"changed", diff.changed()},
          {"summary", diff.render()},
          {"records", changed}};
}

}  // namespace

Playground::Playground(std::string library, PlaygroundLimits limits) : limits_(limits) {
  std::error_code ec;
  fs::path absolute = fs::absolute(fs::path(library), ec);
  library_ = (ec ? fs::path(library) : absolute).lexically_normal().string();
  while (library_.size() > 1 && library_.back() == '/') library_.pop_back();
}

PlaygroundReply Playground::handle(const std::string& endpoint, const std::string& body) const {
  Session session(library_, limits_);
  try {
    json request = json::parse(body, nullptr, false);
    if (request.is_discarded() || !request.is_object())
      throw BadRequest{"the request body must be a JSON object"};
    json reply;
    if (endpoint == "check") {
      const std::string text = text_member(request, "policy", limits_.max_policy_bytes);
      const std::string file = policy_file("playground", request, text);
      auto c = session.compile(file, text, false);
      reply = {{"ok", c->ok}, {"file", file}, {"diagnostics", c->diagnostics}};
    } else if (endpoint == "test") {
      reply = run_test_request(session, request);
    } else if (endpoint == "explain") {
      reply = explain_request(session, request);
    } else if (endpoint == "diff") {
      reply = diff_request(session, request);
    } else {
      throw BadRequest{"no endpoint `" + endpoint + "`"};
    }
    return {200, reply.dump(-1, ' ', false, json::error_handler_t::replace)};
  } catch (const BadRequest& e) {
    return {400, json{{"error", e.message}}.dump(-1, ' ', false, json::error_handler_t::replace)};
  } catch (const std::exception& e) {
    return {500, json{{"error", std::string("internal error: ") + e.what()}}.dump(
                     -1, ' ', false, json::error_handler_t::replace)};
  }
}

std::string Playground::library_json() const {
  json files = json::array();
  std::error_code ec;
  for (fs::recursive_directory_iterator it(library_, fs::directory_options::skip_permission_denied, ec), end;
       !ec && it != end; it.increment(ec)) {
    std::string p = it->path().string();
    if (it->is_regular_file(ec) && (p.ends_with(".edict") || p.ends_with(".edict.md")))
      files.push_back(p.substr(library_.size() + 1));
  }
  std::sort(files.begin(), files.end());
  return json{{"library", files}}.dump();
}

}  // namespace edict::tools
