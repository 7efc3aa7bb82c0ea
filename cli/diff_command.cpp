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
#include <filesystem>
#include <optional>
#include <thread>

#include "cli/commands.h"
#include "cli/tooling.h"
#include "engine/stream.h"
#include "support/atomic_file.h"
#include "tools/diff.h"

namespace edict::cli {

void add_diff_options(CLI::App& cmd, DiffOptions& o) {
  cmd.add_option("old", o.old_policy, "The current policy: a file or a folder")->required();
  cmd.add_option("new", o.new_policy, "The amended policy: a file or a folder")->required();
  cmd.add_option("events", o.events, "Events (JSON Lines, gzip allowed; `-` or none: standard input)");
  cmd.add_option("-o,--output", o.output, "Write one JSONL record per changed event to this file");
  cmd.add_option("--examples", o.examples, "Example event ids listed per transition")
      ->capture_default_str()
      ->check(CLI::Range(0, 1000));
  cmd.add_option("--engine", o.engine, "Evaluation engine: `tiered`, `jit` or `interp` (as for `eval`)")
      ->capture_default_str()
      ->check(CLI::IsMember({"tiered", "jit", "interp"}));
  add_max_line_bytes_option(cmd, o.max_line_bytes);
  cmd.add_option("-j,--threads", o.threads,
                 "1: evaluate the versions one after the other; 2: side by side on two threads")
      ->capture_default_str()
      ->check(CLI::Range(1, 2));
  cmd.add_flag("-q,--quiet", o.quiet, "No timing line on standard error");
  add_limit_options(cmd, o.limits);
  add_import_option(cmd, o.limits);
  add_data_option(cmd, o.limits.data_files);
  add_data_option(
      cmd, o.old_data, "--old-data",
      "Read data source NAME from FILE for the old version only (with --new-data: this week's list "
      "against last week's under one policy)");
  add_data_option(cmd, o.new_data, "--new-data", "Read data source NAME from FILE for the new version only");
}

int run_diff(const DiffOptions& o) {
  engine::Backend backend = backend_named(o.engine);
  SourceManager old_sources, new_sources;
  // Both versions were named on the command line: imports of either may read
  // below the folders of both (an amendment in whatif/ importing ../law.edict).
  FrontEndLimits limits = o.limits;
  for (const std::string& p : {o.old_policy, o.new_policy}) {
    std::error_code ec;
    limits.import_paths.push_back(
        std::filesystem::is_directory(p, ec) ? p : std::filesystem::path(p).parent_path().string());
  }
  // The timing line counts loading and compiling both versions, apart and in the total.
  const auto load_start = std::chrono::steady_clock::now();
  FrontEndLimits old_limits = limits, new_limits = limits;
  for (const auto& [name, file] : o.old_data) old_limits.data_files[name] = file;
  for (const auto& [name, file] : o.new_data) new_limits.data_files[name] = file;
  auto old_policy = load_policy({o.old_policy}, backend, old_limits, old_sources);
  if (!old_policy) return kExitUsage;
  auto new_policy = load_policy({o.new_policy}, backend, new_limits, new_sources);
  if (!new_policy) return kExitUsage;
  const double load_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - load_start).count();
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
  reader->read_ahead();  // the next chunk is split while this one is decided
  std::vector<std::string> inputs{o.events};
  for (const SourceManager* sources : {&old_sources, &new_sources})
    for (size_t i = 0; i < sources->size(); ++i) inputs.push_back(sources->file(static_cast<FileId>(i)).path);
  if (!output_spares_inputs(o.output, "-o", inputs)) return kExitUsage;
  // Written beside the file and renamed after the last record.
  std::unique_ptr<AtomicFile> output_file;
  std::FILE* out = nullptr;
  if (!o.output.empty()) {
    if (o.output != "-") {
      output_file = AtomicFile::create(o.output, &error);
      if (!output_file) {
        std::fprintf(stderr, "edict: %s\n", error.c_str());
        return kExitUsage;
      }
    }
    out = output_file ? output_file->stream() : stdout;
  }

  // Each version is its own event stream (its own windowed aggregates,
  // advanced in input order as in `edict eval`, default lateness). Usually
  // the versions differ in rules only: then each line is decoded once (not
  // with windowed aggregates, whose values each version computes itself).
  constexpr uint32_t kBatch = 4096;
  engine::StreamOptions options;
  options.batch_size = kBatch;
  options.max_line_bytes = o.max_line_bytes;
  engine::Stream a(*old_policy, options), b(*new_policy, options);
  const bool shared =
      tools::batches_shareable(*old_policy, *new_policy) && !a.windows().active() && !b.windows().active();
  tools::DecisionDiff diff(*old_policy, *new_policy, static_cast<size_t>(o.examples));
  std::vector<decode::Line> lines;
  std::string records;
  bool write_failed = false;
  auto start = std::chrono::steady_clock::now();
  while (reader->next(lines)) {
    for (size_t i = 0; i < lines.size();) {
      const size_t end = std::min(lines.size(), i + kBatch);
      // The versions are independent until compared: the new one runs on a
      // second thread while this one runs the old.
      auto run_side = [&](engine::Stream& side) { return side.evaluate(side.decode_lines(lines, i, end)); };
      std::optional<engine::EvaluatedBatch> old_side, new_side;
      if (shared) {
        // One decoding, evaluated by both versions.
        old_side.emplace(run_side(a));
        new_side.emplace(b.evaluate_decoded(old_side->batch));
      } else if (o.threads > 1) {
        std::thread other([&] { new_side.emplace(run_side(b)); });
        old_side.emplace(run_side(a));
        other.join();
      } else {
        old_side.emplace(run_side(a));
        new_side.emplace(run_side(b));
      }
      i = end;
      if (reader->input_changed()) break;  // a mapped file shrank: reported below
      records.clear();
      diff.compare(old_side->batch, old_side->results, new_side->batch, new_side->results,
                   out ? &records : nullptr);
      if (output_file ? !output_file->write(records)
                      : out && !records.empty() &&
                            std::fwrite(records.data(), 1, records.size(), out) != records.size())
        write_failed = true;
    }
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!reader->error().empty()) {
    std::fprintf(stderr, "edict: reading `%s` failed: %s\n", o.events.c_str(), reader->error().c_str());
    return kExitUsage;
  }
  if (output_file && !output_file->commit(&error)) {
    std::fprintf(stderr, "edict: %s\n", error.c_str());
    return kExitUsage;
  }
  if (!output_file && out && std::fflush(out) != 0) write_failed = true;
  if (write_failed) {
    std::fprintf(stderr, "edict: writing `%s` failed: %s\n", o.output.c_str(), std::strerror(errno));
    return kExitUsage;
  }
  std::string report = fmt::format("edict diff: {} -> {}: ", o.old_policy, o.new_policy) + diff.render();
  std::fputs(report.c_str(), out == stdout ? stderr : stdout);
  if (!o.quiet)
    std::fprintf(
        stderr,
        "edict diff: %.2f s (loading and compiling both versions %.2f s, deciding %.2f s at %.1f MB/s "
        "of input), events decoded %s\n",
        load_seconds + seconds, load_seconds, seconds,
        static_cast<double>(reader->bytes_read()) / 1e6 / std::max(seconds, 1e-9),
        shared ? "once for both versions" : "once per version");
  return diff.changed() ? kExitFindings : kExitOk;
}

}  // namespace edict::cli
