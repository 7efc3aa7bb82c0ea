// `edict explain POLICY... EVENT_FILE|-`: the decision on one event (or each
// line of a JSON Lines file), every rule with its effect and citation, and
// the value each condition and sub-expression took, as an indented tree or
// JSON.
#include <CLI/CLI.hpp>

#include <cstdio>

#include "cli/commands.h"
#include "cli/tooling.h"
#include "engine/decode/decoder.h"
#include "engine/decode/line_reader.h"
#include "engine/trace.h"
#include "engine/window/window.h"

namespace edict::cli {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

// One event to explain: its text and first line number.
struct EventText {
  std::string text;
  uint64_t line = 0;
};

// JSON Lines when every non-blank line is an object of its own; otherwise the
// whole input is one (pretty-printed) JSON event.
std::vector<EventText> split_events(const std::vector<std::pair<uint64_t, std::string>>& lines) {
  std::vector<EventText> out;
  bool one_per_line = true;
  for (const auto& [number, text] : lines) {
    std::string_view t = trim(text);
    if (t.empty()) continue;
    if (t.front() != '{' || t.back() != '}') one_per_line = false;
  }
  if (one_per_line) {
    for (const auto& [number, text] : lines)
      if (!trim(text).empty()) out.push_back({text, number});
    return out;
  }
  EventText whole;
  for (const auto& [number, text] : lines) {
    if (whole.line == 0 && !trim(text).empty()) whole.line = number;
    whole.text += text;
    whole.text += '\n';
  }
  if (whole.line) out.push_back(std::move(whole));
  return out;
}

}  // namespace

void add_explain_options(CLI::App& cmd, ExplainOptions& o) {
  cmd.add_option("inputs", o.inputs,
                 "Policy files or folders, then a file with one JSON event (or JSON Lines); `-` or "
                 "none: standard input")
      ->required();
  cmd.add_option("--format", o.format, "`human` (an indented tree) or `json` (one object per event)")
      ->capture_default_str()
      ->check(CLI::IsMember({"human", "json"}));
  cmd.add_option("--engine", o.engine, "Engine that makes the decision: `interp` or `jit`")
      ->capture_default_str()
      ->check(CLI::IsMember({"jit", "interp"}));
  add_limit_options(cmd, o.limits);
}

int run_explain(const ExplainOptions& o) {
  std::vector<std::string> policy_args;
  std::string events = split_policies_and_events(o.inputs, policy_args);
  SourceManager sources;
  auto policy = load_policy(policy_args, o.engine == "jit" ? engine::Backend::Jit : engine::Backend::Interp,
                            o.limits, sources);
  if (!policy) return kExitUsage;
  std::string error;
  auto tracer = engine::Tracer::create(*policy, &error);
  if (!tracer) {
    std::fprintf(stderr, "edict: internal error: cannot trace this policy: %s\n", error.c_str());
    return kExitInternal;
  }

  constexpr size_t kMaxEventBytes = 64 << 20;
  auto reader = decode::LineReader::open(events, kMaxEventBytes, &error);
  if (!reader) {
    std::fprintf(stderr, "edict: cannot read events `%s`: %s\n", events.c_str(), error.c_str());
    return kExitUsage;
  }
  std::vector<std::pair<uint64_t, std::string>> lines;
  std::vector<decode::Line> chunk;
  size_t total = 0;
  while (reader->next(chunk)) {
    for (const decode::Line& l : chunk) {
      if (l.too_long || (total += l.text.size()) > kMaxEventBytes) {
        std::fprintf(stderr, "edict: `%s` is larger than %zu bytes; explain takes a few events\n",
                     events.c_str(), kMaxEventBytes);
        return kExitUsage;
      }
      lines.emplace_back(l.number, std::string(l.text));
    }
  }
  if (!reader->error().empty()) {
    std::fprintf(stderr, "edict: reading `%s` failed: %s\n", events.c_str(), reader->error().c_str());
    return kExitUsage;
  }
  std::vector<EventText> items = split_events(lines);
  if (items.empty()) {
    std::fprintf(stderr, "edict: `%s` holds no event\n", events.c_str());
    return kExitUsage;
  }

  decode::Decoder decoder(policy->schema());
  abi::Batch batch(policy->schema(), policy->symbols(), 1);
  // The events given form one stream, as in `edict eval`: windowed
  // aggregates see the earlier events of the file (default lateness).
  // Aggregates list the events their values were computed over.
  window::Options window_options;
  window_options.record_members = true;
  window_options.inputs = policy->window_inputs();
  window::WindowState windows(policy->module(), policy->interpreter(), policy->schema(), window_options);
  tracer->read_windows(&windows);
  engine::Results results;
  results.reserve(1, policy->module().rules.size());
  bool any_error = false;
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    EventText& item = items[i];
    size_t size = item.text.size();
    item.text.append(64, '\0');  // simdjson reads up to its padding past the end
    batch.clear();
    decoder.decode(std::string_view(item.text.data(), size), item.text.size(), item.line, batch);
    windows.advance(batch);
    policy->evaluate(batch, results);
    engine::EventExplanation e = engine::explain_row(*tracer, batch, results, 0);
    any_error = any_error || e.decision == "error";
    if (o.format == "json") {
      engine::append_explanation_json(out, *tracer, e);
      out += '\n';
    } else {
      if (i) out += '\n';
      out += engine::render_explanation(*tracer, e);
    }
  }
  std::fputs(out.c_str(), stdout);
  return any_error ? kExitEvalErrors : kExitOk;
}

}  // namespace edict::cli
