// Helpers shared by the subcommands that compile policies.
#include "cli/tooling.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>

#include "engine/output.h"
#include "support/time_util.h"

namespace edict::cli {

bool is_policy_path(const std::string& p) {
  auto ends = [&](std::string_view s) {
    return p.size() >= s.size() && p.compare(p.size() - s.size(), s.size(), s) == 0;
  };
  return ends(".edict") || ends(".edict.md");
}

std::string split_policies_and_events(const std::vector<std::string>& inputs,
                                      std::vector<std::string>& policies) {
  std::string events("-");
  for (size_t i = 0; i < inputs.size(); ++i) {
    const std::string& a = inputs[i];
    bool last = i + 1 == inputs.size();
    if (last && i > 0 && (a == "-" || !(is_policy_path(a) || std::filesystem::is_directory(a))))
      events = a;
    else
      policies.push_back(a);
  }
  return events;
}

parse::Limits parse_limits(const FrontEndLimits& limits, const std::vector<std::string>& policy_args) {
  parse::Limits out;
  out.max_file_bytes = limits.max_file_bytes;
  out.max_nesting = limits.max_nesting;
  out.max_total_bytes = limits.max_policy_bytes;
  out.max_rules = limits.max_rules;
  out.import_paths = limits.import_paths;
  for (const std::string& p : policy_args) {
    std::error_code ec;
    if (std::filesystem::is_directory(p, ec)) out.import_paths.push_back(p);
  }
  return out;
}

engine::Backend backend_named(const std::string& name) {
  if (name == "interp") return engine::Backend::Interp;
  if (name == "jit") return engine::Backend::Jit;
  return engine::Backend::Tiered;
}

std::string render_stats(const engine::Policy& policy, uint64_t interpreter_runs, uint64_t lines) {
  std::string s =
      fmt::format("  compile: front end {:.1f} ms{}, data sources {:.1f} ms", policy.front_end_ms,
                  policy.front_end_from_cache ? " (from the front-end cache)" : "", policy.data_ms);
  if (policy.backend() == engine::Backend::Jit)
    s += fmt::format(", JIT {:.1f} ms before the first event{}", policy.jit_ms,
                     policy.jit_from_cache() ? " (from the code cache)" : "");
  if (policy.backend() == engine::Backend::Tiered) {
    engine::Policy::TierStatus t = policy.tier_status();
    if (t.compiling)
      s += ", JIT still compiling in the background at the end";
    else if (!t.error.empty())
      s += fmt::format(", JIT failed in the background ({}); the interpreter decided throughout", t.error);
    else
      s += fmt::format(", JIT {:.1f} ms in the background{}", t.jit_ms,
                       policy.jit_from_cache() ? " (from the code cache)" : "");
    s += fmt::format("; batches decided by the interpreter {}, by JIT code {}",
                     engine::with_commas(t.interpreted_batches), engine::with_commas(t.compiled_batches));
  }
  if (!policy.front_end_cache_note.empty()) s += "\n  note: " + policy.front_end_cache_note;
  s += fmt::format("\n  interpreter runs finishing decisions: {} ({:.4f} per event)\n",
                   engine::with_commas(interpreter_runs),
                   static_cast<double>(interpreter_runs) / static_cast<double>(std::max<uint64_t>(lines, 1)));
  return s;
}

std::unique_ptr<engine::Policy> load_policy(const std::vector<std::string>& paths, engine::Backend backend,
                                            const FrontEndLimits& limits, SourceManager& sources,
                                            int opt_level, uint64_t tier_switch_after,
                                            const std::string& code_cache_dir, std::string* diagnostics,
                                            bool front_end_cache) {
  bool paths_ok = false;
  std::vector<std::string> files = expand_policy_paths(paths, &paths_ok);
  if (!paths_ok) return nullptr;
  if (files.empty()) {
    if (diagnostics) {
      *diagnostics = "edict: no policy files (*.edict, *.edict.md) given\n";
      return nullptr;
    }
    std::fprintf(stderr, "edict: no policy files (*.edict, *.edict.md) given\n");
    return nullptr;
  }
  DiagnosticSink sink(limits.max_errors);
  engine::CompileOptions copts;
  copts.backend = backend;
  copts.opt_level = opt_level;
  copts.tier_switch_after = tier_switch_after;
  copts.code_cache_dir = code_cache_dir;
  copts.front_end_cache = front_end_cache;
  copts.limits = parse_limits(limits, paths);
  copts.data_files = limits.data_files;
  auto policy = engine::Policy::compile(files, sources, sink, copts,
                                        parse::disk_reader(copts.limits.max_file_bytes * 2));
  if (policy && !policy->code_cache_warning.empty() && !diagnostics)
    std::fprintf(stderr, "edict: warning: %s\n", policy->code_cache_warning.c_str());
  if (!policy) {
    size_t hidden = sink.error_count() > sink.max_errors() ? sink.error_count() - sink.max_errors() : 0;
    std::string text = render_human(sources, sink.sorted(), hidden);
    if (diagnostics)
      *diagnostics = std::move(text);
    else
      std::fputs(text.c_str(), stderr);
  }
  return policy;
}

bool apply_max_future(const std::string& text, window::Options& windows) {
  if (text == "none") return true;
  auto future = parse_duration(text);
  if (!future || *future < 0) {
    std::fprintf(stderr, "edict: --max-future `%s` is not a duration like `1d` (or `none`)\n", text.c_str());
    return false;
  }
  const int64_t now = std::chrono::duration_cast<std::chrono::microseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  windows.max_future = *future;
  if (__builtin_add_overflow(now, *future, &windows.latest_acceptable)) windows.latest_acceptable = INT64_MAX;
  return true;
}

}  // namespace edict::cli
