// Helpers shared by the subcommands that compile policies (eval, explain,
// diff, build): policy loading with diagnostics on stderr, and the
// policies-then-events argument split.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "engine/engine.h"

namespace edict::cli {

// Expands, loads, checks and compiles (JIT at `opt_level`); prints
// diagnostics (or puts them in `diagnostics` when given: `serve`'s reloads)
// and returns null on any problem. `front_end_cache`: keep and reuse the
// lowered IR in `code_cache_dir` (CompileOptions::front_end_cache).
// `tiered`, `jit` or `interp` (the --engine values).
engine::Backend backend_named(const std::string& name);
// `eval --stats`: compile times (a tiered run's background compilation and
// how many batches each engine decided) and how often the finisher ran the
// interpreter.
std::string render_stats(const engine::Policy& policy, uint64_t interpreter_runs, uint64_t lines);

std::unique_ptr<engine::Policy> load_policy(const std::vector<std::string>& paths, engine::Backend backend,
                                            const FrontEndLimits& limits, SourceManager& sources,
                                            int opt_level = 2, uint64_t tier_switch_after = 0,
                                            const std::string& code_cache_dir = {},
                                            std::string* diagnostics = nullptr, bool front_end_cache = false);

// The front end's limits for policies named by `policy_args` (files and
// folders, as given): imports may read below --import-path folders and the
// folders among `policy_args` (the loader adds the files' own folders).
parse::Limits parse_limits(const FrontEndLimits& limits, const std::vector<std::string>& policy_args);

// True for `*.edict` and `*.edict.md` names.
bool is_policy_path(const std::string& path);

// `--max-future DURATION|none` into the window options (an event further
// ahead of the clock than this is refused); false, with the message printed,
// when the text is not a duration.
bool apply_max_future(const std::string& text, window::Options& windows);

// `POLICY... [EVENTS]`: the last argument is the events file when it is `-`
// or neither a policy file nor a folder (and not the only argument); returns
// it (`-` when none) and appends the others to `policies`.
std::string split_policies_and_events(const std::vector<std::string>& inputs,
                                      std::vector<std::string>& policies);

}  // namespace edict::cli
