// libFuzzer target for the whole front end: parse, check, lower and render
// diagnostics of arbitrary bytes. Also built without libFuzzer as a replay
// tool (replay_main.cpp) so every saved input runs in the normal test suite.
#include <cstddef>
#include <cstdint>
#include <string>

#include "compiler/check/check.h"
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
  if (!sink.limit_reached()) edict::check::check(program, sources, sink);
  std::string rendered = edict::render_human(sources, sink.sorted());
  rendered += edict::render_json(sources, sink.sorted());
  return rendered.empty() && sink.has_errors() ? 1 : 0;
}
