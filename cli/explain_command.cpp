// `edict explain POLICY... EVENT_FILE|-`: the decision on one event (or each
// line of a JSON Lines file), every rule with its effect and citation, and
// the value each condition and sub-expression took, as an indented tree or
// JSON.
#include <CLI/CLI.hpp>

#include <cstdio>

#include "cli/commands.h"
#include "cli/tooling.h"
#include "engine/stream.h"
#include "engine/trace.h"

namespace edict::cli {

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
  add_import_option(cmd, o.limits);
  add_data_option(cmd, o.limits.data_files);
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
  std::vector<engine::EventText> items;
  if (!engine::read_event_document(events, kMaxEventBytes, items, &error)) {
    std::fprintf(stderr, "edict: %s\n", error.c_str());
    return kExitUsage;
  }

  // The events given form one stream, as in `edict eval`: windowed
  // aggregates see the earlier events of the file (default lateness).
  // Aggregates list the events their values were computed over.
  engine::StreamOptions options;
  options.batch_size = 1;
  options.windows.record_members = true;
  engine::Stream stream(*policy, options);
  tracer->read_windows(&stream.windows());
  bool any_error = false;
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    const engine::EventText& item = items[i];
    const engine::EvaluatedBatch evaluated = stream.evaluate(stream.decode_text(item.text, item.line));
    engine::EventExplanation e = engine::explain_row(*tracer, evaluated.batch, evaluated.results, 0);
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
