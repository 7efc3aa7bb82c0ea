// `edict lsp`: a Language Server Protocol server over a pair of streams
// (stdin and stdout). Documents are synchronised whole or by range edits;
// each change recompiles the document (and the open documents that import
// it) and publishes its diagnostics. One request at a time, in order.
#pragma once

#include <istream>
#include <ostream>
#include <string>
#include <vector>

#include "lsp/protocol.h"

namespace edict::lsp {

struct ServerOptions {
  // Folders imports may read besides the document's own folder and the
  // workspace folders the client names (`--import-path`).
  std::vector<std::string> import_paths;
  FrameLimits frames;
  size_t max_documents = 1000;  // open at once
};

// Serves until an `exit` notification or the end of input. Returns the
// process exit code: 0 after `shutdown` then `exit`, 1 otherwise (as the
// protocol asks).
int serve(std::istream& in, std::ostream& out, const ServerOptions& options);

}  // namespace edict::lsp
