// Helpers shared by the subcommands that compile policies.
#include "cli/tooling.h"

#include <cstdio>
#include <filesystem>

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

std::unique_ptr<engine::Policy> load_policy(const std::vector<std::string>& paths, engine::Backend backend,
                                            const FrontEndLimits& limits, SourceManager& sources,
                                            int opt_level) {
  bool paths_ok = false;
  std::vector<std::string> files = expand_policy_paths(paths, &paths_ok);
  if (!paths_ok) return nullptr;
  if (files.empty()) {
    std::fprintf(stderr, "edict: no policy files (*.edict, *.edict.md) given\n");
    return nullptr;
  }
  DiagnosticSink sink(limits.max_errors);
  engine::CompileOptions copts;
  copts.backend = backend;
  copts.opt_level = opt_level;
  copts.limits = parse_limits(limits, paths);
  copts.data_files = limits.data_files;
  auto policy = engine::Policy::compile(files, sources, sink, copts,
                                        parse::disk_reader(copts.limits.max_file_bytes * 2));
  if (!policy) {
    size_t hidden = sink.error_count() > sink.max_errors() ? sink.error_count() - sink.max_errors() : 0;
    std::fputs(render_human(sources, sink.sorted(), hidden).c_str(), stderr);
  }
  return policy;
}

}  // namespace edict::cli
