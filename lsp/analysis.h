// One document as the language server sees it: compiled with its imports
// (open documents read from the editor's text, other files from disk) by
// the same front end `edict check` runs, kept for the requests that follow.
// Positions: LSP counts lines from 0 and characters in UTF-16 code units; a
// literate `.edict.md` file keeps its markdown offsets (support/source.h), so
// positions map back to the markdown file as they are.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "compiler/parse/parse.h"
#include "engine/engine.h"
#include "support/diagnostics.h"
#include "support/source.h"

namespace edict::lsp {

struct Position {
  uint32_t line = 0;       // 0-based
  uint32_t character = 0;  // UTF-16 code units
};

// The byte offset of `p` in `file` (clamped to its line and the text).
uint32_t offset_of(const SourceFile& file, Position p);
// The LSP position of byte `offset`.
Position position_of(const SourceFile& file, uint32_t offset);
// False for an offset in a literate file's prose (outside ```edict blocks).
bool in_code(const SourceFile& file, uint32_t offset);

// `file:///a/b%20c.edict` -> `/a/b c.edict`; other schemes -> empty.
std::string path_from_uri(const std::string& uri);
std::string uri_from_path(const std::string& path);
// Absolute with `.` and `..` removed: how the loader keys files.
std::string normal_path(const std::string& path);

// The text of open documents by normal path: what the compiler reads
// instead of the disk.
using OpenTexts = std::map<std::string, std::string>;

struct Analysis {
  SourceManager sources;
  DiagnosticSink sink{200};
  engine::FrontEnd front;
  FileId file = kNoFile;  // the document (loaded first, so normally 0)

  const ast::Module* module() const;
  const check::CheckedProgram* checked() const { return front.checked.get(); }
  // True when the program's files include `normal` (an import, maybe indirect).
  bool reads(const std::string& normal) const;
};

// Compiles the document at `path` (absolute) and its imports. Imports may
// read under `limits.import_paths` and the document's folder, as for `check`.
std::unique_ptr<Analysis> analyse(const std::string& path, const OpenTexts& open,
                                  const parse::Limits& limits);

}  // namespace edict::lsp
