// `edict verify POLICY...` (symbolic analysis, analysis/) and the symbolic
// half of `edict diff` (`--symbolic`).
#pragma once

#include <string>
#include <vector>

#include "cli/commands.h"

namespace edict::cli {

struct VerifyOptions {
  std::vector<std::string> paths;
  std::string format = "human";  // human | json
  std::string allow;             // --allow FILE
  uint64_t rlimit = 200'000'000;
  unsigned seed = 0;
  FrontEndLimits limits;
};
void add_verify_options(CLI::App& cmd, VerifyOptions& options);
int run_verify(const VerifyOptions& options);

// `edict diff --symbolic OLD NEW`, with the options diff was given.
struct SymbolicDiffOptions {
  bool symbolic = false;
  std::vector<std::string> assume;  // --assume '[on KIND[, KIND]:] CONDITION'
  std::string format = "human";
  uint64_t rlimit = 200'000'000;
  unsigned seed = 0;
};
void add_symbolic_diff_options(CLI::App& cmd, SymbolicDiffOptions& options);
int run_symbolic_diff(const std::string& old_policy, const std::string& new_policy,
                      const FrontEndLimits& limits, const SymbolicDiffOptions& options);

}  // namespace edict::cli
