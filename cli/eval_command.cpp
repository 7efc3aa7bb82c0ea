// `edict eval POLICY... [EVENTS]`: evaluate a JSON Lines event stream and write
// one decision record per input line, in input order, then a summary.
// Threads split each chunk of input lines; their outputs are joined in order.
// A policy with windowed aggregates updates its windows in input order between
// decoding and evaluation (with -j N: decode in parallel, advance the windows
// with each thread holding its own share of the keys, evaluate in parallel;
// see engine/window/window.h).
#include <fmt/format.h>
#include <unistd.h>
#include <CLI/CLI.hpp>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <thread>

#include "cli/commands.h"
#include "cli/tooling.h"
#include "engine/decode/decoder.h"
#include "engine/decode/line_reader.h"
#include "engine/engine.h"
#include "engine/output.h"
#include "engine/trace.h"
#include "engine/window/window.h"
#include "support/time_util.h"

namespace edict::cli {
namespace {

// One worker's reusable state. `held` batches keep a decoded slice for the
// stateful -j N path, whose windows advance between decoding and evaluation.
struct Worker {
  const engine::Policy& policy;
  abi::Batch batch;
  decode::Decoder decoder;
  engine::Results results;
  std::string out;
  engine::Summary summary;
  std::vector<std::unique_ptr<abi::Batch>> held;
  size_t held_used = 0;
  Worker(const engine::Policy& p, uint32_t capacity)
      : policy(p), batch(p.schema(), p.symbols(), capacity), decoder(p.schema()) {
    results.reserve(capacity, p.module().rules.size());
  }
};

std::atomic<bool> checkpoint_requested{false};
extern "C" void request_checkpoint(int) {
  checkpoint_requested = true;
}

bool is_blank(std::string_view s) {
  for (char c : s)
    if (c != ' ' && c != '\t' && c != '\r') return false;
  return true;
}

// Decodes lines from `i` into `batch` until it is full or `end`; returns the next line.
size_t decode(Worker& w, abi::Batch& batch, const std::vector<decode::Line>& lines, size_t i, size_t end,
              size_t max_line) {
  batch.clear();
  for (; i < end && !batch.full(); ++i) {
    const decode::Line& line = lines[i];
    if (line.too_long) {
      uint32_t row = batch.begin_row(line.number);
      batch.fail(
          row, abi::ErrorReason::LineTooLong,
          fmt::format("line is {} bytes, over the limit of {} (--max-line-bytes)", line.too_long, max_line));
    } else if (is_blank(line.text)) {
      uint32_t row = batch.begin_row(line.number);
      batch.fail(row, abi::ErrorReason::BlankLine, "blank line");
    } else {
      w.decoder.decode(line.text, line.capacity, line.number, batch);
    }
  }
  return i;
}

// Decodes, advances the windows (when given), evaluates and formats lines
// [begin, end) into w.out.
void process(const engine::Policy& policy, const engine::RecordWriter& writer, Worker& w,
             const std::vector<decode::Line>& lines, size_t begin, size_t end, size_t max_line,
             window::WindowState* windows) {
  w.out.clear();
  for (size_t i = begin; i < end;) {
    i = decode(w, w.batch, lines, i, end, max_line);
    if (windows) windows->advance(w.batch);
    policy.evaluate(w.batch, w.results);
    writer.write(w.batch, w.results, w.out, w.summary);
  }
}

// The stateful -j N path, phase 1: decode a slice into held batches.
void decode_slice(Worker& w, const std::vector<decode::Line>& lines, size_t begin, size_t end,
                  size_t max_line) {
  w.held_used = 0;
  for (size_t i = begin; i < end; ++w.held_used) {
    if (w.held_used == w.held.size())
      w.held.push_back(
          std::make_unique<abi::Batch>(w.policy.schema(), w.policy.symbols(), w.batch.capacity()));
    i = decode(w, *w.held[w.held_used], lines, i, end, max_line);
  }
}

// Phase 3: evaluate and format the held batches.
void evaluate_slice(const engine::RecordWriter& writer, Worker& w) {
  w.out.clear();
  for (size_t b = 0; b < w.held_used; ++b) {
    w.policy.evaluate(*w.held[b], w.results);
    writer.write(*w.held[b], w.results, w.out, w.summary);
  }
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
  cmd.add_flag(
      "--explain", o.explain,
      "Add to each fired rule the values its conditions saw (JSONL only; slower: traced interpreter)");
  cmd.add_option("--max-line-bytes", o.max_line_bytes, "Longest input line decoded; longer lines are errors")
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

  window::Options wopts;
  wopts.max_events = o.max_window_events;
  wopts.record_members = o.explain;  // explanations list each aggregate's events
  wopts.threads = static_cast<unsigned>(o.threads);
  if (auto lateness = parse_duration(o.max_lateness); lateness && *lateness >= 0) {
    wopts.max_lateness = *lateness;
  } else {
    std::fprintf(stderr, "edict: --max-lateness `%s` is not a duration like `1h` or `2d`\n",
                 o.max_lateness.c_str());
    return kExitUsage;
  }
  wopts.inputs = policy->window_inputs();
  window::WindowState windows(policy->module(), policy->interpreter(), policy->schema(), wopts);
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
  const unsigned threads = static_cast<unsigned>(o.threads);
  std::vector<std::unique_ptr<Worker>> workers;
  for (unsigned t = 0; t < threads; ++t) workers.push_back(std::make_unique<Worker>(*policy, o.batch_size));

  const bool progress = !o.quiet && isatty(STDERR_FILENO);
  auto start = std::chrono::steady_clock::now();
  auto last_progress = start;
  std::vector<decode::Line> lines;
  std::vector<abi::Batch*> decoded;  // the stateful -j N path: a chunk's batches in input order
  uint64_t total_lines = 0;
  bool write_failed = false;
  while (reader->next(lines)) {
    total_lines += lines.size();
    const size_t per = (lines.size() + threads - 1) / threads;
    if (threads == 1) {
      process(*policy, writer, *workers[0], lines, 0, lines.size(), o.max_line_bytes, &windows);
    } else if (windows.active()) {
      auto in_parallel = [&](auto&& work) {
        std::vector<std::thread> pool;
        for (unsigned t = 0; t < threads; ++t) {
          size_t b = std::min(lines.size(), t * per), e = std::min(lines.size(), b + per);
          pool.emplace_back([&, t, b, e] { work(*workers[t], b, e); });
        }
        for (std::thread& th : pool) th.join();
      };
      in_parallel([&](Worker& w, size_t b, size_t e) { decode_slice(w, lines, b, e, o.max_line_bytes); });
      decoded.clear();
      for (unsigned t = 0; t < threads; ++t)
        for (size_t b = 0; b < workers[t]->held_used; ++b) decoded.push_back(workers[t]->held[b].get());
      windows.advance(decoded);
      in_parallel([&](Worker& w, size_t, size_t) { evaluate_slice(writer, w); });
    } else {
      std::vector<std::thread> pool;
      for (unsigned t = 0; t < threads; ++t) {
        size_t b = std::min(lines.size(), t * per), e = std::min(lines.size(), b + per);
        pool.emplace_back(
            [&, t, b, e] { process(*policy, writer, *workers[t], lines, b, e, o.max_line_bytes, nullptr); });
      }
      for (std::thread& th : pool) th.join();
    }
    for (unsigned t = 0; t < threads; ++t) {
      const std::string& s = workers[t]->out;
      if (!s.empty() && std::fwrite(s.data(), 1, s.size(), out) != s.size()) write_failed = true;
    }
    if (write_failed) break;
    if (checkpoint_requested.exchange(false) && !save_checkpoint()) return kExitUsage;
    if (progress) {
      auto now = std::chrono::steady_clock::now();
      if (now - last_progress > std::chrono::milliseconds(500)) {
        last_progress = now;
        std::fprintf(stderr, "\r%s lines...", engine::with_commas(total_lines).c_str());
      }
    }
  }
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

  engine::Summary summary;
  for (auto& w : workers) summary.add(w->summary);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!o.quiet) {
    const ir::Module& m = policy->module();
    std::string s =
        fmt::format("edict eval: {} lines, {} engine, {:.2f} s ({} lines/s, {:.1f} MB/s)\n",
                    engine::with_commas(summary.lines), o.engine, seconds,
                    engine::with_commas(static_cast<uint64_t>(summary.lines / std::max(seconds, 1e-9))),
                    reader->bytes_read() / 1e6 / std::max(seconds, 1e-9));
    for (size_t d = m.outcomes.size(); d-- > 0;)
      s += fmt::format("  {:<28} {:>12}\n", m.outcomes[d],
                       engine::with_commas(summary.per_decision.size() > d ? summary.per_decision[d] : 0));
    s += fmt::format("  {:<28} {:>12}\n", "error", engine::with_commas(summary.errors));
    for (const auto& [reason, n] : summary.error_reasons)
      s += fmt::format("    {:<26} {:>12}\n", reason, engine::with_commas(n));
    s += "  rules fired:\n";
    for (size_t r = 0; r < m.rules.size(); ++r)
      s += fmt::format("    {:<26} {:>12}\n", m.rules[r].name,
                       engine::with_commas(summary.per_rule.size() > r ? summary.per_rule[r] : 0));
    if (windows.active()) {
      window::Stats ws = windows.stats();
      s += fmt::format("  windows: {} events held under {} keys, about {:.1f} MB\n",
                       engine::with_commas(ws.events), engine::with_commas(ws.keys), ws.bytes / 1e6);
    }
    std::fputs(s.c_str(), stderr);
  }
  return summary.errors > 0 ? kExitEvalErrors : kExitOk;
}

}  // namespace edict::cli
