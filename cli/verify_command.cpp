// `edict verify POLICY...` and `edict diff --symbolic OLD NEW`: the command
// lines of the symbolic analyses (analysis/analysis.h). Each policy is
// compiled twice, for the interpreter and the JIT, so that every witness is
// replayed on both engines.
#include "cli/verify_command.h"

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <cstdio>
#include <filesystem>

#include "analysis/analysis.h"
#include "cli/tooling.h"

namespace edict::cli {
namespace {

struct LoadedPair {
  SourceManager jit_sources, interp_sources;
  std::unique_ptr<engine::Policy> jit, interp;
  analysis::EnginePair pair() const { return {jit.get(), interp.get()}; }
};

bool load_pair(const std::vector<std::string>& paths, const FrontEndLimits& limits, LoadedPair& out) {
  // The JIT's code from the code cache when it has it (as `eval` does).
  out.jit = load_policy(paths, engine::Backend::Jit, limits, out.jit_sources, 2, 0,
                        engine::default_code_cache_dir());
  if (!out.jit) return false;
  out.interp = load_policy(paths, engine::Backend::Interp, limits, out.interp_sources);
  return out.interp != nullptr;
}

void add_solver_options(CLI::App& cmd, uint64_t& rlimit, unsigned& seed, std::string& format) {
  cmd.add_option("--format", format, "Report as `human` text or `json`")
      ->capture_default_str()
      ->check(CLI::IsMember({"human", "json"}));
  cmd.add_option(
         "--rlimit", rlimit,
         "Z3's deterministic resource limit per query; a query that reaches it is reported as unknown")
      ->capture_default_str()
      ->check(CLI::Range(uint64_t{1000}, uint64_t{4'000'000'000}));
  cmd.add_option("--seed", seed, "Z3's random seed")->capture_default_str();
}

// `[on KIND[, KIND...]:] CONDITION` -> the kinds clause and the condition.
std::pair<std::string, std::string> split_assumption(const std::string& text) {
  std::string t = text;
  size_t start = t.find_first_not_of(" \t");
  if (start != std::string::npos && t.compare(start, 3, "on ") == 0) {
    size_t colon = t.find(':', start);
    if (colon == std::string::npos) return {t.substr(start + 3), "true"};
    return {t.substr(start + 3, colon - start - 3), t.substr(colon + 1)};
  }
  return {"any", t};
}

}  // namespace

void add_verify_options(CLI::App& cmd, VerifyOptions& o) {
  cmd.add_option("files", o.paths, "Policy files or folders (*.edict, *.edict.md)")->required();
  add_solver_options(cmd, o.rlimit, o.seed, o.format);
  cmd.add_option("--allow", o.allow,
                 "Accepted findings: a file of `RULE: reason` or `RULE/CHECK: reason` lines (CHECK: vacuous, "
                 "shadowed, faulting, gap, overlap, unknown)");
  add_limit_options(cmd, o.limits);
  add_import_option(cmd, o.limits);
  add_data_option(cmd, o.limits.data_files);
}

int run_verify(const VerifyOptions& o) {
  std::vector<analysis::Allowance> allow;
  std::string error;
  if (!o.allow.empty() && !analysis::read_allow_file(o.allow, allow, &error)) {
    std::fprintf(stderr, "edict: %s\n", error.c_str());
    return kExitUsage;
  }
  LoadedPair policy;
  if (!load_pair(o.paths, o.limits, policy)) return kExitUsage;
  analysis::Options options;
  options.rlimit = o.rlimit;
  options.seed = o.seed;
  analysis::VerifyReport report = analysis::verify(policy.pair(), options);
  analysis::apply_allowances(report, allow);
  std::string text = o.format == "json" ? analysis::verify_json(report) : analysis::render_verify(report);
  std::fputs(text.c_str(), stdout);
  for (const analysis::Allowance& a : allow)
    if (!a.used)
      std::fprintf(stderr, "edict: warning: --allow names %s%s%s, which has no finding\n", a.rule.c_str(),
                   a.check.empty() ? "" : "/", a.check.c_str());
  for (const analysis::Finding& f : report.findings)
    if (!f.allowed) return kExitFindings;
  return kExitOk;
}

void add_symbolic_diff_options(CLI::App& cmd, SymbolicDiffOptions& o) {
  cmd.add_flag("--symbolic", o.symbolic,
               "Compare the versions on every possible event (Z3) instead of an events file: each outcome "
               "transition with a witness event, or a proof that there is none");
  cmd.add_option("--assume", o.assume,
                 "--symbolic: consider only events meeting this Edict condition, `[on KIND[, KIND]:] "
                 "CONDITION` (e.g. `on rental: event.time >= 2025-01-01`); repeatable");
  auto* format = cmd.add_option("--format", o.format, "--symbolic: report as `human` text or `json`");
  format->capture_default_str()->check(CLI::IsMember({"human", "json"}));
  cmd.add_option("--rlimit", o.rlimit, "--symbolic: Z3's deterministic resource limit per query")
      ->capture_default_str();
  cmd.add_option("--seed", o.seed, "--symbolic: Z3's random seed")->capture_default_str();
}

int run_symbolic_diff(const std::string& old_path, const std::string& new_path, const FrontEndLimits& given,
                      const SymbolicDiffOptions& o) {
  FrontEndLimits limits = given;
  for (const std::string& p : {old_path, new_path}) {
    std::error_code ec;
    limits.import_paths.push_back(
        std::filesystem::is_directory(p, ec) ? p : std::filesystem::path(p).parent_path().string());
  }
  LoadedPair old_policy, new_policy;
  if (!load_pair({old_path}, limits, old_policy) || !load_pair({new_path}, limits, new_policy))
    return kExitUsage;

  // The assumptions, as rules `assume_N` of a file compiled with NEW's:
  // they see its events, constants, sets and defs.
  SourceManager assume_sources;
  std::unique_ptr<engine::Policy> assume;
  if (!o.assume.empty()) {
    // It imports every file of NEW (imports are not transitive), from
    // NEW's folder.
    const SourceManager& loaded = new_policy.jit_sources;
    std::filesystem::path folder = std::filesystem::path(loaded.file(0).path).parent_path();
    const std::string virtual_path = (folder / "--assume.edict").string();
    const std::string weakest = new_policy.jit->module().outcomes.at(0);
    std::string text;
    for (size_t i = 0; i < loaded.size(); ++i) {
      std::filesystem::path p = loaded.file(static_cast<FileId>(i)).path;
      text += fmt::format("import \"{}\"\n", std::filesystem::relative(p, folder).generic_string());
    }
    for (size_t i = 0; i < o.assume.size(); ++i) {
      auto [kinds, condition] = split_assumption(o.assume[i]);
      text += fmt::format("\nrule assume_{} on {}\n  {}\n  when {}\n", i + 1, kinds, weakest, condition);
    }
    std::vector<std::string> paths{virtual_path};
    parse::FileReader disk = parse::disk_reader();
    parse::FileReader reader = [&](const std::string& path, std::string* err) -> std::optional<std::string> {
      if (path == virtual_path) return text;
      return disk(path, err);
    };
    DiagnosticSink sink(limits.max_errors);
    engine::CompileOptions options;
    options.backend = engine::Backend::Interp;
    options.limits = parse_limits(limits, {new_path});
    options.data_files = limits.data_files;
    assume = engine::Policy::compile(paths, assume_sources, sink, options, reader);
    if (!assume) {
      std::fprintf(stderr, "edict: an --assume condition does not compile:\n%s",
                   render_human(assume_sources, sink.sorted(), 0).c_str());
      return kExitUsage;
    }
  }
  analysis::Options options;
  options.rlimit = o.rlimit;
  options.seed = o.seed;
  analysis::SymDiffReport report =
      analysis::symbolic_diff(old_policy.pair(), new_policy.pair(), assume.get(), options);
  std::string out =
      o.format == "json" ? analysis::symbolic_diff_json(report) : analysis::render_symbolic_diff(report);
  std::fputs(out.c_str(), stdout);
  if (!report.unknown.empty()) return kExitFindings;
  return report.transitions.empty() && report.unconfirmed.empty() ? kExitOk : kExitFindings;
}

}  // namespace edict::cli
