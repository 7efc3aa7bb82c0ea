// The parser stage: source text -> Edict AST. ANTLR stays inside this folder;
// no antlr4 type appears in this header. Never throws: syntax errors, limit
// breaches and I/O failures become diagnostics.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "compiler/ast/ast.h"
#include "support/diagnostics.h"
#include "support/source.h"

namespace edict::parse {

// Limits on user input. Every limit breach is a clean diagnostic.
// With the defaults, parsing the worst accepted input needs under 1 MB of
// stack (Debug build), and a 4 MB file peaks at roughly 100-150 times its
// size in memory (ANTLR tokens and parse tree plus the AST).
struct Limits {
  size_t max_file_bytes = 4 * 1024 * 1024;  // per source file
  unsigned max_nesting = 200;               // brackets, prefix operators, if/else, expression depth
  size_t max_files = 500;                   // files loaded through imports
  // All files together. The front end holds about 130 bytes per byte of
  // policy text (the parse tree, the AST, the checker's tables), so this
  // bounds `check` at about 1 GB.
  size_t max_total_bytes = 8 * 1024 * 1024;
  // Rules over all files. The JIT compiles about 3 ms of machine code per
  // rule (a 10,000-rule policy: about 30 s); the interpreter has no such
  // cost but one bound keeps both engines accepting the same policies.
  size_t max_rules = 10'000;
  // Folders imports may read from besides those of the root files (the
  // command line's folders and `--import-path`). An import whose real path
  // (symbolic links and `..` resolved) is under none of them is refused
  // (E0054) before the file is opened.
  std::vector<std::string> import_paths;
};

// Reads a file; nullopt when it cannot be read (the error text goes to *error).
using FileReader = std::function<std::optional<std::string>(const std::string& path, std::string* error)>;
// Reads whole files from disk. Refuses anything but a regular file (a
// directory, a FIFO, a device: opened without blocking, never read) and files
// larger than `max_bytes` without reading them (the error text then says so); the parser
// reports a file between max_file_bytes and `max_bytes` as too large (E0003)
// with its exact size. The no-argument form allows twice the default limit.
FileReader disk_reader(size_t max_bytes);
FileReader disk_reader();

// Parses one already-added file. Ids come from program.next_id.
std::unique_ptr<ast::Module> parse_module(const SourceManager& sources, FileId file, ast::Program& program,
                                          DiagnosticSink& sink, const Limits& limits = {});

// Loads the root files and, transitively, their imports (paths relative to
// the importing file). Import cycles, missing files and imports outside the
// root files' folders and limits.import_paths are diagnosed; each file is
// loaded once.
ast::Program load_program(const std::vector<std::string>& root_paths, SourceManager& sources,
                          DiagnosticSink& sink, const Limits& limits = {},
                          const FileReader& reader = disk_reader());

}  // namespace edict::parse
