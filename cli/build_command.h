// `edict build POLICY... -o OUT`: ahead-of-time compilation of a policy into
// a shared library or object file plus a C header (see compiler/aot/aot.h).
#pragma once

#include <string>
#include <vector>

#include "cli/commands.h"

namespace edict::cli {

struct BuildOptions {
  std::vector<std::string> paths;
  std::string output;                   // *.so: shared library; *.o: relocatable object
  std::string header;                   // default: OUT's folder, `<name>.h`
  std::string name;                     // C prefix; default from OUT (libscreen.so -> screen)
  std::string target_cpu = "portable";  // portable | host
  bool quiet = false;
  FrontEndLimits limits;
};
void add_build_options(CLI::App& cmd, BuildOptions& options);
int run_build(const BuildOptions& options);

}  // namespace edict::cli
