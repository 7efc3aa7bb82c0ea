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
#include "engine/audit.h"
#include "engine/output.h"
#include "engine/stream.h"
#include "engine/trace.h"
#include "support/atomic_file.h"
#include "support/time_util.h"

namespace edict::cli {
namespace {

std::atomic<bool> checkpoint_requested{false};
extern "C" void request_checkpoint(int) {
  checkpoint_requested = true;
}
// SIGTERM, SIGINT or SIGHUP with --checkpoint: save and stop.
std::atomic<int> stop_signal{0};
extern "C" void request_stop(int sig) {
  stop_signal = sig;
}

}  // namespace

void add_eval_options(CLI::App& cmd, EvalOptions& o) {
  cmd.add_option("inputs", o.inputs,
                 "Policy files or folders (*.edict, *.edict.md), then the events file (JSON Lines, "
                 "gzip allowed; `-` or none: standard input)")
      ->required();
  cmd.add_option("--engine", o.engine,
                 "Evaluation engine: `tiered` (the interpreter at once, switching to JIT code compiled "
                 "on a background thread when it is ready), `jit` (compiled with LLVM before the first "
                 "event) or `interp`")
      ->capture_default_str()
      ->check(CLI::IsMember({"tiered", "jit", "interp"}));
  cmd.add_option(
      "--code-cache", o.code_cache,
      "Keep the JIT's machine code and the policy's lowered IR in this folder between runs (default: "
      "$XDG_CACHE_HOME/edict/code or ~/.cache/edict/code; a folder other users can write is not used)");
  cmd.add_flag("--no-code-cache", o.no_code_cache, "Compile afresh; read and write no code cache");
  cmd.add_option("--tier-switch-after", o.tier_switch_after,
                 "With `--engine tiered`: decide exactly the first N batches on the interpreter, then wait "
                 "for the JIT's code (for tests and measurements; 0: switch as soon as it is ready)")
      ->capture_default_str();
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
  cmd.add_option("--summary-format", o.summary_format,
                 "The run summary on standard error as `text` or `json` (one JSON object, "
                 "docs/events.md)")
      ->capture_default_str()
      ->check(CLI::IsMember({"text", "json"}));
  cmd.add_flag("--audit", o.audit,
               "Audit records (JSONL only): each record opens with its schema version, decision id, "
               "decision time, the policy's hash, versions and statuses, the data versions and Edict's "
               "version (docs/events.md)");
  cmd.add_option("--replay", o.replay,
                 "Decide every record of this decision log (`serve --decision-log`) again against the policy "
                 "files given, and print each decision that differs (exit 1 when any does)");
  cmd.add_flag("--no-decision-time", o.no_decision_time,
               "With --audit: leave the decision time out, so the same events and policy give "
               "byte-identical records");
  cmd.add_flag("--stats", o.stats,
               "After the summary: compile time, and how often the reference interpreter ran to finish a "
               "decision (a message without a template, a fault's reason)");
  cmd.add_flag(
      "--explain", o.explain,
      "Add to each fired rule the values its conditions saw (JSONL only; slower: traced interpreter)");
  add_max_line_bytes_option(cmd, o.max_line_bytes);
  cmd.add_option("--batch-size", o.batch_size,
                 "Events per evaluation batch; each thread holds one, about 200 bytes per event, and -j x "
                 "--batch-size may not exceed 1,048,576")
      ->capture_default_str()
      ->check(CLI::Range(1u, 1u << 20));
  add_limit_options(cmd, o.limits);
  add_import_option(cmd, o.limits);
  add_data_option(cmd, o.limits.data_files);
  cmd.add_option("--max-lateness", o.max_lateness,
                 "Windowed aggregates: how far (a duration like `1h`, `2d`) an event may be earlier than the "
                 "latest event time seen; earlier ones are `late_event` errors")
      ->capture_default_str();
  cmd.add_option("--max-window-events", o.max_window_events,
                 "Windowed aggregates: most events held in all windows; an event over the limit is a "
                 "`window_state_limit` error")
      ->capture_default_str()
      ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 40));
  cmd.add_option(
         "--max-future", o.max_future,
         "Windowed aggregates: how far (a duration) an event's time may be ahead of this machine's "
         "clock; later ones are `future_event` errors that do not move the latest event time (`none`: "
         "no limit)")
      ->capture_default_str();
  cmd.add_option(
      "--checkpoint", o.checkpoint,
      "Restore the windows (and, after an interruption, the input position) from this file when it "
      "exists; save them to it at the end, on SIGUSR1, and on SIGTERM, SIGINT or SIGHUP, which then "
      "stop with exit code 75 (run the same command to resume)");
}

int run_eval(const EvalOptions& o) {
  if (!o.replay.empty()) return run_replay(o);
  std::vector<std::string> policy_args;
  std::string events = split_policies_and_events(o.inputs, policy_args);
  SourceManager sources;
  const auto load_start = std::chrono::steady_clock::now();
  std::unique_ptr<engine::Policy> policy =
      load_policy(policy_args, backend_named(o.engine), o.limits, sources, o.opt_level, o.tier_switch_after,
                  o.no_code_cache        ? std::string()
                  : o.code_cache.empty() ? engine::default_code_cache_dir()
                                         : o.code_cache,
                  nullptr, /*front_end_cache=*/!o.explain);
  if (!policy) return kExitUsage;
  const double load_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - load_start).count();

  // Nothing written may replace what is read: the events, any policy file
  // (imports included) or the checkpoint.
  std::vector<std::string> inputs{events};
  for (size_t i = 0; i < sources.size(); ++i) inputs.push_back(sources.file(static_cast<FileId>(i)).path);
  if (!output_spares_inputs(o.output, "-o", inputs)) return kExitUsage;
  if (!o.checkpoint.empty()) {
    if (!o.output.empty() && (o.output == o.checkpoint || same_file(o.output, o.checkpoint))) {
      std::fprintf(stderr, "edict: --checkpoint and -o both name `%s`: choose another file\n",
                   o.checkpoint.c_str());
      return kExitUsage;
    }
    if (!output_spares_inputs(o.checkpoint, "--checkpoint", inputs)) return kExitUsage;
  }

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
  if (std::string why = engine::check_stream_options(stream_options); !why.empty()) {
    std::fprintf(stderr, "edict: %s\n", why.c_str());
    return kExitUsage;
  }
  if (!apply_max_future(o.max_future, wopts)) return kExitUsage;
  engine::Stream stream(*policy, stream_options);
  window::WindowState& windows = stream.windows();
  std::string error;
  // A checkpoint saved at the end of an input is restored and the events
  // file is the next one; one saved mid-way resumes the same file after its
  // recorded lines (docs/events.md, "Checkpoints").
  window::InputPosition resume;
  if (!o.checkpoint.empty() && std::filesystem::exists(o.checkpoint) &&
      !windows.load(o.checkpoint, &resume, &error)) {
    std::fprintf(stderr, "edict: %s\n", error.c_str());
    return kExitUsage;
  }
  const bool resuming = !resume.at_end;
  const std::string output_name = o.output == "-" ? std::string() : o.output;
  if (resuming && resume.output != output_name) {
    std::fprintf(
        stderr,
        "edict: the checkpoint `%s` was saved after line %s while writing the decision records to %s; "
        "run that command again to resume (or delete the checkpoint to start over)\n",
        o.checkpoint.c_str(), engine::with_commas(resume.lines).c_str(),
        resume.output.empty() ? "standard output" : ("`" + resume.output + "`").c_str());
    return kExitUsage;
  }

  if (!o.checkpoint.empty()) {
    std::signal(SIGUSR1, request_checkpoint);
    // From here on (nothing was written yet), the first of these stops at
    // the next batch boundary with a checkpoint; a second one has its
    // default effect.
    struct sigaction sa {};
    sa.sa_handler = request_stop;
    sa.sa_flags = SA_RESTART | SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    for (int sig : {SIGTERM, SIGINT, SIGHUP}) sigaction(sig, &sa, nullptr);
  }

  // With -j N a regular file is mapped: the reading thread's copy would
  // take a core's share from the lanes.
  auto reader = decode::LineReader::open(events, o.max_line_bytes, &error, o.threads > 1);
  if (!reader) {
    std::fprintf(stderr, "edict: cannot read events `%s`: %s\n", events.c_str(), error.c_str());
    return kExitUsage;
  }
  // Resuming: read the lines the checkpoint covers, check they are the ones
  // it was saved on, and keep the rest of the chunk that holds the last.
  engine::LinePrefix consumed;
  std::vector<decode::Line> lines;
  size_t first_new = 0;  // in `lines`: the first line to evaluate
  bool have_lines = false;
  // With --checkpoint, a stop signal also ends a wait for input that may
  // never come (an idle pipe): the run then stops at once with its checkpoint.
  if (!o.checkpoint.empty()) reader->interrupt_when(&stop_signal);
  reader->read_ahead();  // a regular file's next chunk is split while this one is decided
  if (resuming) {
    while (consumed.lines < resume.lines && reader->next(lines)) {
      if (lines.empty() && stop_signal.load()) {
        // Stopped while re-reading the lines the checkpoint covers: nothing
        // was written, and the checkpoint still holds.
        std::fprintf(stderr,
                     "edict: resuming from the checkpoint `%s` after line %s of `%s`: interrupted before "
                     "reaching it again; the checkpoint is unchanged; run the same command to resume\n",
                     o.checkpoint.c_str(), engine::with_commas(resume.lines).c_str(), events.c_str());
        return kExitInterrupted;
      }
      for (first_new = 0; first_new < lines.size() && consumed.lines < resume.lines; ++first_new)
        consumed.add(lines[first_new]);
      have_lines = true;
    }
    if (!reader->error().empty()) {
      std::fprintf(stderr, "edict: reading `%s` failed: %s\n", events.c_str(), reader->error().c_str());
      return kExitUsage;
    }
    if (consumed.lines < resume.lines || consumed.bytes != resume.bytes || consumed.crc != resume.crc) {
      std::fprintf(stderr,
                   "edict: `%s` is not the events file the checkpoint `%s` was saved on: %s (delete the "
                   "checkpoint to start over)\n",
                   events.c_str(), o.checkpoint.c_str(),
                   consumed.lines < resume.lines
                       ? fmt::format("it has {} lines, the checkpoint was saved after line {}",
                                     engine::with_commas(consumed.lines), engine::with_commas(resume.lines))
                             .c_str()
                       : fmt::format("its first {} lines differ from those the checkpoint was saved after",
                                     engine::with_commas(resume.lines))
                             .c_str());
      return kExitUsage;
    }
  }

  // -o is written beside its file and renamed only after the last record:
  // a failed or interrupted run leaves the old file as it was. A resumed run
  // continues the interrupted run's temporary file from the checkpoint's length.
  std::unique_ptr<AtomicFile> output_file;
  std::FILE* out = stdout;
  if (!output_name.empty()) {
    output_file = resuming && !resume.output_temp.empty()
                      ? AtomicFile::resume(output_name, resume.output_temp, resume.output_bytes, &error)
                      : AtomicFile::create(output_name, &error);
    if (!output_file) {
      std::fprintf(stderr, "edict: %s\n", error.c_str());
      return kExitUsage;
    }
    out = output_file->stream();
  }
  if (resuming)  // even with -q: it says which records the output replaces
    std::fprintf(stderr, "edict: resuming from the checkpoint `%s` after line %s of `%s`%s\n",
                 o.checkpoint.c_str(), engine::with_commas(resume.lines).c_str(), events.c_str(),
                 output_name.empty()
                     ? "; records from line 1 to that line come from the interrupted run, and "
                       "any it wrote after it are replaced by these"
                     : "");

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
  std::unique_ptr<engine::AuditStamp> audit;
  if (o.no_decision_time && !o.audit) {
    std::fprintf(stderr, "edict: --no-decision-time is an option of audit records: add --audit\n");
    return kExitUsage;
  }
  if (o.audit) {
    if (o.format == "csv") {
      std::fprintf(stderr, "edict: --audit needs JSONL output (--format jsonl)\n");
      return kExitUsage;
    }
    engine::AuditOptions audit_options;
    audit_options.decision_time = !o.no_decision_time;
    audit = std::make_unique<engine::AuditStamp>(*policy, audit_options);
    writer.audit_with(audit.get());
  }
  if (!resuming) {  // a resumed output already has its header
    if (output_file)
      output_file->write(writer.header());
    else
      std::fputs(writer.header().c_str(), out);
  }
  bool write_failed = false;
  engine::RecordSink sink(writer, stream.lanes(), [&](std::string_view records) {
    // A mapped events file shrank: these lines may hold bytes that are gone.
    if (reader->input_changed()) return false;
    write_failed = output_file ? !output_file->write(records)
                               : std::fwrite(records.data(), 1, records.size(), out) != records.size();
    return !write_failed;
  });

  // Every record of the lines read so far reaches its file (synced for -o)
  // before the checkpoint that says they were written.
  auto flush_output = [&] {
    if (output_file) {
      if (output_file->sync(&error)) return true;
      std::fprintf(stderr, "edict: %s\n", error.c_str());
      return false;
    }
    if (std::fflush(out) == 0 && !write_failed) return true;
    std::fprintf(stderr, "edict: writing the decision records to standard output failed: %s\n",
                 std::strerror(errno));
    return false;
  };
  auto save_checkpoint = [&](bool at_end) {
    if (o.checkpoint.empty()) return true;
    window::InputPosition position;
    position.at_end = at_end;
    if (!at_end) {
      position.lines = consumed.lines;
      position.bytes = consumed.bytes;
      position.crc = consumed.crc;
      position.output = output_name;
      if (output_file && !output_file->temp_path().empty()) {
        position.output_temp = output_file->temp_path();
        position.output_bytes = output_file->size();
      }
    }
    std::string why;
    if (windows.save(o.checkpoint, position, &why)) return true;
    std::fprintf(stderr, "edict: cannot save the checkpoint: %s\n", why.c_str());
    return false;
  };
  const bool progress = !o.quiet && isatty(STDERR_FILENO);
  auto start = std::chrono::steady_clock::now();
  auto last_progress = start;
  // The batch boundary: a checkpoint when asked for; false stops the run.
  enum class Stop { No, Failed, Interrupted } stopped = Stop::No;
  auto boundary = [&] {
    const int sig = stop_signal.load();
    if (checkpoint_requested.exchange(false) || sig) {
      if (!flush_output() || !save_checkpoint(false)) {
        stopped = Stop::Failed;
        return false;
      }
      if (sig) {
        stopped = Stop::Interrupted;
        return false;
      }
    }
    if (progress) {
      auto now = std::chrono::steady_clock::now();
      if (now - last_progress > std::chrono::milliseconds(500)) {
        last_progress = now;
        std::fprintf(stderr, "\r%s lines...", engine::with_commas(consumed.lines).c_str());
      }
    }
    return true;
  };
  const bool track = !o.checkpoint.empty();
  if (have_lines && first_new < lines.size()) {
    lines.erase(lines.begin(), lines.begin() + static_cast<std::ptrdiff_t>(first_new));
    for (const decode::Line& l : lines) consumed.add(l);
    if (!stream.process(lines, sink) && stopped == Stop::No) stopped = Stop::Failed;
    if (stopped == Stop::No) boundary();
  }
  while (stopped == Stop::No && reader->next(lines)) {
    if (lines.empty()) {  // a wait for input ended by a stop signal
      boundary();
      continue;
    }
    if (track)
      for (const decode::Line& l : lines) consumed.add(l);
    else
      consumed.lines += lines.size();
    if (!stream.process(lines, sink)) {
      stopped = Stop::Failed;
      break;
    }
    // Standard output is a pipe or a terminal a reader may be waiting on:
    // the records of every chunk leave now, not when stdio's buffer fills
    // (a chunk is what one read returned, so a slow writer's line is decided
    // and written as it arrives; a fast one's chunks are a megabyte).
    if (!output_file && std::fflush(out) != 0) {
      write_failed = true;
      stopped = Stop::Failed;
      break;
    }
    boundary();
  }
  if (progress) std::fputs("\r\033[K", stderr);
  if (stopped == Stop::Interrupted) {
    if (output_file) output_file->keep();  // incomplete: resumed, never renamed
    std::fprintf(
        stderr,
        "edict: interrupted after line %s; checkpoint saved to `%s`; run the same command to resume\n",
        engine::with_commas(consumed.lines).c_str(), o.checkpoint.c_str());
    return kExitInterrupted;
  }
  if (!reader->error().empty()) {
    std::fprintf(stderr, "edict: reading `%s` failed: %s\n", events.c_str(), reader->error().c_str());
    return kExitUsage;
  }
  if (stopped == Stop::Failed && !write_failed) return kExitUsage;  // a checkpoint failed (said why)
  if (output_file) {
    if (!output_file->commit(&error)) {
      std::fprintf(stderr, "edict: %s; no decision records written\n", error.c_str());
      return kExitUsage;
    }
  } else if (std::fflush(out) != 0) {
    write_failed = true;
  }
  if (write_failed) {
    std::fprintf(stderr, "edict: writing the decision records to standard output failed: %s\n",
                 std::strerror(errno));
    return kExitUsage;
  }
  if (!save_checkpoint(true)) return kExitUsage;

  engine::Summary summary = sink.summary();
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!o.quiet && o.summary_format == "json") {
    engine::RunFigures figures{o.engine, seconds, load_seconds, reader->bytes_read(), &windows};
    figures.compile_ms = policy->compile_ms;
    // A tiered run's JIT compiled in the background (0 while it still runs).
    figures.jit_ms =
        policy->backend() == engine::Backend::Tiered ? policy->tier_status().jit_ms : policy->jit_ms;
    figures.interpreter_runs = writer.finisher().interpreter_runs();
    std::string s = engine::render_summary_json(*policy, summary, figures);
    std::fputs(s.c_str(), stderr);
  } else if (!o.quiet) {
    std::string s = engine::render_summary(*policy, summary,
                                           {o.engine, seconds, load_seconds, reader->bytes_read(), &windows});
    if (o.stats) s += render_stats(*policy, writer.finisher().interpreter_runs(), summary.lines);
    std::fputs(s.c_str(), stderr);
  }
  return summary.errors > 0 ? kExitEvalErrors : kExitOk;
}

}  // namespace edict::cli
