// `edict fmt`: rewrite files in the canonical layout, or with --check only
// report which would change. A file that does not parse is never rewritten.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "cli/commands.h"
#include "compiler/fmt/format.h"
#include "compiler/parse/parse.h"
#include "support/atomic_file.h"

namespace edict::cli {

void add_fmt_options(CLI::App& cmd, FmtOptions& o) {
  cmd.add_option("files", o.paths, "Policy files or folders (*.edict, *.edict.md)")->required();
  cmd.add_flag("--check", o.check, "Change nothing; exit 1 if any file is not formatted");
  cmd.add_flag("--stdout", o.to_stdout, "Print the formatted text instead of rewriting files");
  add_limit_options(cmd, o.limits);
}

int run_fmt(const FmtOptions& o) {
  bool paths_ok = false;
  std::vector<std::string> files = expand_policy_paths(o.paths, &paths_ok);
  if (!paths_ok) return kExitUsage;
  parse::FileReader reader = parse::disk_reader(o.limits.max_file_bytes * 2);
  int status = kExitOk;
  for (const std::string& path : files) {
    std::string error;
    std::optional<std::string> text = reader(path, &error);
    if (!text) {
      std::fprintf(stderr, "edict: cannot read `%s`: %s\n", path.c_str(), error.c_str());
      status = kExitUsage;
      continue;
    }
    SourceManager sources;
    DiagnosticSink sink(o.limits.max_errors);
    FileId file = sources.add(path, *text);
    std::optional<std::string> formatted = fmt::format_source(sources, file, sink);
    if (!formatted) {
      std::fputs(render_human(sources, sink.sorted(), 0).c_str(), stderr);
      std::fprintf(stderr, "edict: `%s` has syntax errors; not formatted\n", path.c_str());
      status = kExitFindings;
      continue;
    }
    if (o.to_stdout) {
      std::fputs(formatted->c_str(), stdout);
      continue;
    }
    if (*formatted == *text) continue;
    if (o.check) {
      std::fprintf(stderr, "would reformat %s\n", path.c_str());
      status = status == kExitOk ? kExitFindings : status;
      continue;
    }
    // Written beside the file and renamed over it: a full disk must not
    // leave a policy cut short (a rule without its `when` still checks).
    if (std::string why; !write_file_atomically(path, *formatted, &why)) {
      std::fprintf(stderr, "edict: %s; `%s` is unchanged\n", why.c_str(), path.c_str());
      status = kExitUsage;
      continue;
    }
    std::fprintf(stderr, "reformatted %s\n", path.c_str());
  }
  if (o.check && status == kExitOk)
    std::fprintf(stderr, "%zu file%s already formatted\n", files.size(), files.size() == 1 ? "" : "s");
  return status;
}

}  // namespace edict::cli
