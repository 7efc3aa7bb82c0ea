// `edict eval POLICY... [EVENTS]`: evaluate a JSON Lines event stream and write
// one decision record per input line, in input order, then a summary. The
// event path (threads, windows, input order) is engine::Stream's; this
// command opens the files, handles checkpoints and signals, and prints.
#include <fmt/format.h>
#include <unistd.h>
#include <CLI/CLI.hpp>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "cli/commands.h"
#include "cli/tooling.h"
#include "engine/output.h"
#include "engine/stream.h"
#include "engine/trace.h"
#include "support/time_util.h"

namespace edict::cli {
namespace {

std::atomic<bool> checkpoint_requested{false};
extern "C" void request_checkpoint(int) {
  checkpoint_requested = true;
}

}  // namespace

void add_eval_options(CLI::App& cmd, EvalOptions& o) {
  cmd.add_option("inputs", o.inputs,
                 "Policy files or folders (*.edict, *.edict.md), then the events file (JSON Lines, "
                 "gzip allowed; `-` or none: standard input)")
      ->required();
  cmd.add_option("--engine", o.engine, "Evaluation engine: `jit` (compiled with LLVM) or `interp`")
      ->capture_default_str()
      ->check(CLI::IsMember({"jit", "interp"}));
  cmd.add_option("-O,--opt-level", o.opt_level, "JIT optimisation level (0 or 2)")
      ->capture_default_str()
      ->check(CLI::IsMember({0, 2}));
  cmd.add_option("-o,--output", o.output, "Write decision records here instead of standard output");
  cmd.add_option("--format", o.format, "Decision records as `jsonl` or `csv`")
      ->capture_default_str()
      ->check(CLI::IsMember({"jsonl", "csv"}));
  cmd.add_option("-j,--threads", o.threads, "Worker threads (output stays in input order)")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  cmd.add_flag("-q,--quiet", o.quiet, "No summary or progress on standard error");
  cmd.add_flag("--stats", o.stats,
               "After the summary: compile time, and how often the reference interpreter ran to finish a "
               "decision (a message without a template, a fault's reason)");
  cmd.add_flag(
      "--explain", o.explain,
      "Add to each fired rule the values its conditions saw (JSONL only; slower: traced interpreter)");
  cmd.add_option("--max-line-bytes", o.max_line_bytes,
                 "Longest input line decoded; longer lines are `line_too_long` errors. Memory: the line "
                 "buffer grows to at most this plus 1 MiB, and each thread's parser to about 7 bytes per "
                 "byte of the longest line decoded")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1024}, size_t{1} << 30));
  cmd.add_option("--batch-size", o.batch_size, "Events per evaluation batch")
      ->capture_default_str()
      ->check(CLI::Range(1u, 1u << 20));
  add_limit_options(cmd, o.limits);
  cmd.add_option("--max-lateness", o.max_lateness,
                 "Windowed aggregates: how far (a duration like `1h`, `2d`) an event may be earlier than the "
                 "latest event time seen; earlier ones are `late_event` errors")
      ->capture_default_str();
  cmd.add_option("--max-window-events", o.max_window_events,
                 "Windowed aggregates: most events held in all windows; an event over the limit is a "
                 "`window_state_limit` error")
      ->capture_default_str()
      ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 40));
  cmd.add_option("--checkpoint", o.checkpoint,
                 "Windowed aggregates: restore the windows from this file when it exists, save them to it at "
                 "exit and on SIGUSR1");
}

int run_eval(const EvalOptions& o) {
  std::vector<std::string> policy_args;
  std::string events = split_policies_and_events(o.inputs, policy_args);
  SourceManager sources;
  std::unique_ptr<engine::Policy> policy =
      load_policy(policy_args, o.engine == "interp" ? engine::Backend::Interp : engine::Backend::Jit,
                  o.limits, sources, o.opt_level);
  if (!policy) return kExitUsage;

  engine::StreamOptions stream_options;
  stream_options.threads = static_cast<unsigned>(o.threads);
  stream_options.batch_size = o.batch_size;
  stream_options.max_line_bytes = o.max_line_bytes;
  window::Options& wopts = stream_options.windows;
  wopts.max_events = o.max_window_events;
  wopts.record_members = o.explain;  // explanations list each aggregate's events
  if (auto lateness = parse_duration(o.max_lateness); lateness && *lateness >= 0) {
    wopts.max_lateness = *lateness;
  } else {
    std::fprintf(stderr, "edict: --max-lateness `%s` is not a duration like `1h` or `2d`\n",
                 o.max_lateness.c_str());
    return kExitUsage;
  }
  engine::Stream stream(*policy, stream_options);
  window::WindowState& windows = stream.windows();
  std::string error;
  if (!o.checkpoint.empty() && std::filesystem::exists(o.checkpoint) && !windows.load(o.checkpoint, &error)) {
    std::fprintf(stderr, "edict: cannot restore the windows: %s\n", error.c_str());
    return kExitUsage;
  }
  auto save_checkpoint = [&] {
    if (o.checkpoint.empty()) return true;
    std::string why;
    if (windows.save(o.checkpoint, &why)) return true;
    std::fprintf(stderr, "edict: cannot save the windows: %s\n", why.c_str());
    return false;
  };
  if (!o.checkpoint.empty()) std::signal(SIGUSR1, request_checkpoint);

  auto reader = decode::LineReader::open(events, o.max_line_bytes, &error);
  if (!reader) {
    std::fprintf(stderr, "edict: cannot read events `%s`: %s\n", events.c_str(), error.c_str());
    return kExitUsage;
  }
  std::FILE* out = stdout;
  if (!o.output.empty() && o.output != "-") {
    out = std::fopen(o.output.c_str(), "wb");
    if (!out) {
      std::fprintf(stderr, "edict: cannot write `%s`: %s\n", o.output.c_str(), std::strerror(errno));
      return kExitUsage;
    }
  }

  engine::RecordWriter writer(*policy,
                              o.format == "csv" ? engine::OutputFormat::Csv : engine::OutputFormat::Jsonl);
  std::unique_ptr<engine::Tracer> tracer;
  if (o.explain) {
    if (o.format == "csv") {
      std::fprintf(stderr, "edict: --explain needs JSONL output (--format jsonl)\n");
      return kExitUsage;
    }
    tracer = engine::Tracer::create(*policy, &error);
    if (!tracer) {
      std::fprintf(stderr, "edict: internal error: cannot trace this policy: %s\n", error.c_str());
      return kExitInternal;
    }
    tracer->read_windows(&windows);
    writer.explain_with(tracer.get());
  }
  std::fputs(writer.header().c_str(), out);
  bool write_failed = false;
  engine::RecordSink sink(writer, stream.lanes(), [&](std::string_view records) {
    write_failed = std::fwrite(records.data(), 1, records.size(), out) != records.size();
    return !write_failed;
  });

  const bool progress = !o.quiet && isatty(STDERR_FILENO);
  auto start = std::chrono::steady_clock::now();
  auto last_progress = start;
  bool checkpoint_failed = false;
  stream.run(*reader, sink, [&](uint64_t lines) {
    if (checkpoint_requested.exchange(false) && !save_checkpoint()) return !(checkpoint_failed = true);
    if (progress) {
      auto now = std::chrono::steady_clock::now();
      if (now - last_progress > std::chrono::milliseconds(500)) {
        last_progress = now;
        std::fprintf(stderr, "\r%s lines...", engine::with_commas(lines).c_str());
      }
    }
    return true;
  });
  if (checkpoint_failed) return kExitUsage;
  if (std::fflush(out) != 0) write_failed = true;
  if (out != stdout) std::fclose(out);
  if (progress) std::fputs("\r\033[K", stderr);
  if (!reader->error().empty()) {
    std::fprintf(stderr, "edict: reading `%s` failed: %s\n", events.c_str(), reader->error().c_str());
    return kExitUsage;
  }
  if (write_failed) {
    std::fprintf(stderr, "edict: writing the decision records failed\n");
    return kExitUsage;
  }
  if (!save_checkpoint()) return kExitUsage;

  engine::Summary summary = sink.summary();
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!o.quiet) {
    std::string s =
        engine::render_summary(*policy, summary, {o.engine, seconds, reader->bytes_read(), &windows});
    if (o.stats)
      s += fmt::format(
          "  compile {:.1f} ms (JIT {:.1f} ms); interpreter runs finishing decisions: {} ({:.4f} "
          "per event)\n",
          policy->compile_ms, policy->jit_ms, engine::with_commas(writer.finisher().interpreter_runs()),
          static_cast<double>(writer.finisher().interpreter_runs()) /
              static_cast<double>(std::max<uint64_t>(summary.lines, 1)));
    std::fputs(s.c_str(), stderr);
  }
  return summary.errors > 0 ? kExitEvalErrors : kExitOk;
}

}  // namespace edict::cli
