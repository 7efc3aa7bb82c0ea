// `edict diff OLD NEW [EVENTS]`: evaluate two versions of a policy over the
// same events in one pass over the input and report every event whose
// decision or set of fired rules changed.
#include <fmt/format.h>
#include <unistd.h>
#include <CLI/CLI.hpp>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>

#include "cli/commands.h"
#include "cli/tooling.h"
#include "engine/decode/decoder.h"
#include "engine/decode/line_reader.h"
#include "engine/window/window.h"
#include "tools/diff.h"

namespace edict::cli {
namespace {

window::Options window_options(const engine::Policy& p) {
  window::Options options;
  options.inputs = p.window_inputs();
  return options;
}

// One policy version's decoding and evaluation state.
struct Side {
  abi::Batch batch;
  decode::Decoder decoder;
  engine::Results results;
  // The version's own windowed aggregates, advanced in input order as in
  // `edict eval` (default lateness).
  window::WindowState windows;
  Side(const engine::Policy& p, uint32_t capacity)
      : batch(p.schema(), p.symbols(), capacity),
        decoder(p.schema()),
        windows(p.module(), p.interpreter(), p.schema(), window_options(p)) {
    results.reserve(capacity, p.module().rules.size());
  }
};

bool is_blank(std::string_view s) {
  for (char c : s)
    if (c != ' ' && c != '\t' && c != '\r') return false;
  return true;
}

// Adds a line to a side's batch exactly as `edict eval` does.
void add_line(Side& s, const decode::Line& line, size_t max_line) {
  if (line.too_long) {
    uint32_t row = s.batch.begin_row(line.number);
    s.batch.fail(
        row, abi::ErrorReason::LineTooLong,
        fmt::format("line is {} bytes, over the limit of {} (--max-line-bytes)", line.too_long, max_line));
  } else if (is_blank(line.text)) {
    uint32_t row = s.batch.begin_row(line.number);
    s.batch.fail(row, abi::ErrorReason::BlankLine, "blank line");
  } else {
    s.decoder.decode(line.text, line.capacity, line.number, s.batch);
  }
}

}  // namespace

void add_diff_options(CLI::App& cmd, DiffOptions& o) {
  cmd.add_option("old", o.old_policy, "The current policy: a file or a folder")->required();
  cmd.add_option("new", o.new_policy, "The amended policy: a file or a folder")->required();
  cmd.add_option("events", o.events, "Events (JSON Lines, gzip allowed; `-` or none: standard input)");
  cmd.add_option("-o,--output", o.output, "Write one JSONL record per changed event to this file");
  cmd.add_option("--examples", o.examples, "Example event ids listed per transition")
      ->capture_default_str()
      ->check(CLI::Range(0, 1000));
  cmd.add_option("--engine", o.engine, "Evaluation engine: `jit` or `interp`")
      ->capture_default_str()
      ->check(CLI::IsMember({"jit", "interp"}));
  cmd.add_option("--max-line-bytes", o.max_line_bytes, "Longest input line decoded; longer lines are errors")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1024}, size_t{1} << 30));
  cmd.add_option("-j,--threads", o.threads,
                 "1: evaluate the versions one after the other; 2: side by side on two threads")
      ->capture_default_str()
      ->check(CLI::Range(1, 2));
  cmd.add_flag("-q,--quiet", o.quiet, "No timing line on standard error");
  add_limit_options(cmd, o.limits);
}

int run_diff(const DiffOptions& o) {
  engine::Backend backend = o.engine == "interp" ? engine::Backend::Interp : engine::Backend::Jit;
  SourceManager old_sources, new_sources;
  auto old_policy = load_policy({o.old_policy}, backend, o.limits, old_sources);
  if (!old_policy) return kExitUsage;
  auto new_policy = load_policy({o.new_policy}, backend, o.limits, new_sources);
  if (!new_policy) return kExitUsage;
  std::vector<std::string> differences = tools::schema_differences(*old_policy, *new_policy);
  if (!differences.empty()) {
    std::fprintf(stderr,
                 "edict: the two policies read events differently, so their decisions cannot be compared:\n");
    for (const std::string& d : differences) std::fprintf(stderr, "  %s\n", d.c_str());
    std::fprintf(
        stderr, "  help: keep the event declarations (e.g. common/events.edict) the same in both versions\n");
    return kExitUsage;
  }

  std::string error;
  auto reader = decode::LineReader::open(o.events, o.max_line_bytes, &error);
  if (!reader) {
    std::fprintf(stderr, "edict: cannot read events `%s`: %s\n", o.events.c_str(), error.c_str());
    return kExitUsage;
  }
  std::FILE* out = nullptr;
  if (!o.output.empty()) {
    out = o.output == "-" ? stdout : std::fopen(o.output.c_str(), "wb");
    if (!out) {
      std::fprintf(stderr, "edict: cannot write `%s`: %s\n", o.output.c_str(), std::strerror(errno));
      return kExitUsage;
    }
  }

  // Usually the versions differ in rules only: then each line is decoded once
  // (not with windowed aggregates, whose values each version computes itself).
  constexpr uint32_t kBatch = 4096;
  Side a(*old_policy, kBatch), b(*new_policy, kBatch);
  const bool shared =
      tools::batches_shareable(*old_policy, *new_policy) && !a.windows.active() && !b.windows.active();
  tools::DecisionDiff diff(*old_policy, *new_policy, static_cast<size_t>(o.examples));
  std::vector<decode::Line> lines;
  std::string records;
  bool write_failed = false;
  auto start = std::chrono::steady_clock::now();
  while (reader->next(lines)) {
    for (size_t i = 0; i < lines.size();) {
      a.batch.clear();
      b.batch.clear();
      size_t end = std::min(lines.size(), i + kBatch);
      // The versions are independent until compared: the new one runs on a
      // second thread while this one runs the old.
      auto run_side = [&](Side& side, const engine::Policy& policy) {
        for (size_t k = i; k < end; ++k) add_line(side, lines[k], o.max_line_bytes);
        side.windows.advance(side.batch);
        policy.evaluate(side.batch, side.results);
      };
      if (shared) {
        // One decoding, evaluated by both versions.
        run_side(a, *old_policy);
        new_policy->evaluate(a.batch, b.results);
      } else if (o.threads > 1) {
        std::thread other([&] { run_side(b, *new_policy); });
        run_side(a, *old_policy);
        other.join();
      } else {
        run_side(a, *old_policy);
        run_side(b, *new_policy);
      }
      i = end;
      records.clear();
      diff.compare(a.batch, a.results, shared ? a.batch : b.batch, b.results, out ? &records : nullptr);
      if (out && !records.empty() && std::fwrite(records.data(), 1, records.size(), out) != records.size())
        write_failed = true;
    }
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (out && std::fflush(out) != 0) write_failed = true;
  if (out && out != stdout) std::fclose(out);
  if (!reader->error().empty()) {
    std::fprintf(stderr, "edict: reading `%s` failed: %s\n", o.events.c_str(), reader->error().c_str());
    return kExitUsage;
  }
  if (write_failed) {
    std::fprintf(stderr, "edict: writing `%s` failed\n", o.output.c_str());
    return kExitUsage;
  }
  std::string report = fmt::format("edict diff: {} -> {}: ", o.old_policy, o.new_policy) + diff.render();
  std::fputs(report.c_str(), out == stdout ? stderr : stdout);
  if (!o.quiet)
    std::fprintf(stderr, "edict diff: %.2f s, %.1f MB/s of input, events decoded %s\n", seconds,
                 static_cast<double>(reader->bytes_read()) / 1e6 / std::max(seconds, 1e-9),
                 shared ? "once for both versions" : "once per version");
  return diff.changed() ? kExitFindings : kExitOk;
}

}  // namespace edict::cli
