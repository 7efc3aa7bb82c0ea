// `edict test PATH...`: run the `test` blocks of policy files on both engines
// (or the one --engine names) and report every failing step.
#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <cstdio>
#include <map>

#include "cli/commands.h"
#include "runtime/engine/testing.h"

namespace edict::cli {

void add_test_options(CLI::App& cmd, TestOptions& o) {
  cmd.add_option("paths", o.paths, "Policy files or folders whose `test` blocks to run")->required();
  cmd.add_option("--engine", o.engine, "Run on `jit`, `interp` or `both`")
      ->capture_default_str()
      ->check(CLI::IsMember({"jit", "interp", "both"}));
  cmd.add_option("--filter", o.filter, "Only tests whose title contains this text");
  add_limit_options(cmd, o.limits);
}

int run_test(const TestOptions& o) {
  bool paths_ok = false;
  std::vector<std::string> files = expand_policy_paths(o.paths, &paths_ok);
  if (!paths_ok) return kExitUsage;
  std::vector<engine::Backend> backends;
  if (o.engine != "interp") backends.push_back(engine::Backend::Jit);
  if (o.engine != "jit") backends.push_back(engine::Backend::Interp);

  size_t passed = 0, failed = 0;
  bool compile_failed = false;
  for (const std::string& file : files) {
    // Each test: passes when every step passes on every engine.
    std::map<std::pair<uint32_t, std::string>, bool> verdict;  // (offset, title) -> passed
    std::string report;
    for (engine::Backend backend : backends) {
      SourceManager sources;
      DiagnosticSink sink(o.limits.max_errors);
      engine::CompileOptions copts;
      copts.backend = backend;
      copts.limits.max_file_bytes = o.limits.max_file_bytes;
      copts.limits.max_nesting = o.limits.max_nesting;
      auto policy = engine::Policy::compile({file}, sources, sink, copts,
                                            parse::disk_reader(copts.limits.max_file_bytes * 2));
      if (!policy) {
        std::fputs(render_human(sources, sink.sorted()).c_str(), stderr);
        compile_failed = true;
        break;
      }
      const FileId root = policy->checked().program->roots.at(0);
      const char* engine_name = backend == engine::Backend::Jit ? "jit" : "interp";
      for (const engine::StepOutcome& s : engine::run_tests(*policy)) {
        if (s.span.file != root) continue;  // tests of imported files run with those files
        if (!o.filter.empty() && s.test.find(o.filter) == std::string::npos) continue;
        auto key = std::make_pair(s.test_span.begin, s.test);
        auto it = verdict.emplace(key, true).first;
        if (s.passed) continue;
        it->second = false;
        LineCol lc = sources.line_col(s.span.file, s.span.begin);
        report += fmt::format("FAIL {}:{}:{}: test \"{}\", step {} [{}]\n", sources.file(root).path, lc.line,
                              lc.column, s.test, s.step + 1, engine_name);
        report +=
            fmt::format("  given:    {}\n  expected: {}\n  actual:   {}\n", s.event, s.expected, s.actual);
        if (!s.error.empty()) report += fmt::format("  error:    {}\n", s.error);
        report += "  fired:    ";
        if (s.fired.empty()) report += "no rule";
        for (size_t i = 0; i < s.fired.size(); ++i) report += (i ? "\n            " : "") + s.fired[i];
        report += "\n";
      }
    }
    size_t p = 0, f = 0;
    for (const auto& [key, ok] : verdict) (ok ? p : f)++;
    passed += p;
    failed += f;
    std::fputs(report.c_str(), stdout);
    if (!verdict.empty())
      std::printf("%s: %zu test%s, %zu failed\n", file.c_str(), p + f, p + f == 1 ? "" : "s", f);
  }
  std::printf("%zu passed, %zu failed\n", passed, failed);
  if (compile_failed) return kExitUsage;
  return failed ? kExitFindings : kExitOk;
}

}  // namespace edict::cli
