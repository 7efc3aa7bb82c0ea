// `edict lsp`: the language server on stdin and stdout (lsp/server.h).
#include <CLI/CLI.hpp>

#include <iostream>

#include "cli/commands.h"
#include "lsp/server.h"

namespace edict::cli {

void add_lsp_options(CLI::App& cmd, LspOptions& o) {
  cmd.add_option("--import-path", o.import_paths,
                 "Folder imports may read from, besides the document's folder and the editor's workspace "
                 "folders (repeatable)");
}

int run_lsp(const LspOptions& o) {
  std::ios::sync_with_stdio(false);
  lsp::ServerOptions options;
  options.import_paths = o.import_paths;
  return lsp::serve(std::cin, std::cout, options);
}

}  // namespace edict::cli
