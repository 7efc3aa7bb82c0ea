// The language features over one Analysis, as LSP JSON results: hover,
// go to definition, completion, document symbols, formatting and the
// diagnostics to publish. Each returns `null` JSON when there is nothing to
// say at the position.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "lsp/analysis.h"

namespace edict::lsp {

using nlohmann::json;

json to_range(const SourceFile& file, Span span);

// `textDocument/publishDiagnostics` params for the document: its own
// diagnostics, and one at the `import` line for each problem in an imported
// file (there the editor may not have the file open).
json diagnostics(const Analysis& a, const std::string& uri);

json hover(const Analysis& a, Position at);
json definition(const Analysis& a, Position at);
// `text` is the document's current text (the analysis may lag behind it
// while the user types).
json completion(const Analysis& a, Position at);
json document_symbols(const Analysis& a);
// The whole document's replacement in the canonical layout; nullopt when it
// cannot be formatted (syntax errors), with the reason in `error`.
std::optional<json> formatting(const std::string& path, const std::string& text, std::string& error);

}  // namespace edict::lsp
