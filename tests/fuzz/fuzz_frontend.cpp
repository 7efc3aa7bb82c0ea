// libFuzzer target for the whole front end: parse, check, lower and render
// diagnostics of arbitrary bytes. Also built without libFuzzer as a replay
// tool (replay_main.cpp) so every saved input runs in the normal test suite.
#include <cstddef>
#include <cstdint>
#include <string>

#include "compiler/check/check.h"
#include "compiler/fmt/format.h"
#include "compiler/ir/ir.h"
#include "compiler/parse/parse.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  // The first byte picks plain or literate mode so both paths get fuzzed.
  const std::string root = (size > 0 && (data[0] & 1)) ? "fuzz.edict.md" : "fuzz.edict";
  edict::parse::FileReader reader = [&](const std::string& path,
                                        std::string* error) -> std::optional<std::string> {
    if (path == root) return text;
    *error = "no such file";
    return std::nullopt;
  };
  edict::SourceManager sources;
  edict::DiagnosticSink sink(50);
  edict::parse::Limits limits;
  edict::ast::Program program = edict::parse::load_program({root}, sources, sink, limits, reader);
  if (!sink.limit_reached()) {
    edict::check::CheckedProgram checked = edict::check::check(program, sources, sink);
    if (!sink.has_errors()) {
      // A checked program must lower to verified IR: anything else is a bug.
      edict::ir::Module module = edict::ir::lower(checked, sink);
      if (!sink.has_errors() && !module.ok()) __builtin_trap();
    }
  }
  // The formatter re-parses its own output and refuses (a diagnostic, not a
  // crash) when the tree would change; here it must simply not crash.
  if (!program.roots.empty()) {
    edict::DiagnosticSink fmt_sink(50);
    (void)edict::fmt::format_source(sources, program.roots[0], fmt_sink);
  }
  std::string rendered = edict::render_human(sources, sink.sorted());
  rendered += edict::render_json(sources, sink.sorted());
  return rendered.empty() && sink.has_errors() ? 1 : 0;
}
