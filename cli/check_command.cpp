// `edict check`: parse and check each named policy file (with its imports) as
// one program, and print every diagnostic, sorted, once.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <set>
#include <tuple>

#include "cli/commands.h"
#include "cli/tooling.h"
#include "compiler/ast/ast.h"
#include "compiler/ir/ir.h"
#include "engine/engine.h"

namespace edict::cli {

void add_check_options(CLI::App& cmd, CheckOptions& o) {
  cmd.add_option("files", o.paths, "Policy files or folders (*.edict, *.edict.md)")->required();
  cmd.add_option("--error-format", o.error_format, "Diagnostics as `human` text or `json`")
      ->capture_default_str()
      ->check(CLI::IsMember({"human", "json"}));
  cmd.add_option("--emit", o.emit,
                 "Also print an intermediate form: `ast`, `ir`, `llvm` (optimised LLVM IR) or `asm` (host "
                 "assembly)")
      ->check(CLI::IsMember({"ast", "ir", "llvm", "asm"}));
  cmd.add_flag("--deny-warnings", o.deny_warnings, "Exit 1 on warnings too");
  add_limit_options(cmd, o.limits);
  add_import_option(cmd, o.limits);
}

int run_check(const CheckOptions& o) {
  bool paths_ok = false;
  std::vector<std::string> files = expand_policy_paths(o.paths, &paths_ok);
  if (!paths_ok) return kExitUsage;
  if (files.empty()) {
    std::fprintf(stderr, "edict: no policy files (*.edict, *.edict.md) found\n");
    return kExitUsage;
  }

  const parse::Limits limits = parse_limits(o.limits, o.paths);

  // Each root is its own program; a library imported by several roots would
  // report the same problem several times, so identical diagnostics are kept once.
  std::set<std::tuple<std::string, uint32_t, std::string, std::string>> seen;
  std::string human, json_items;
  size_t errors = 0, warnings = 0, dropped = 0;
  std::string emitted;
  for (const std::string& root : files) {
    SourceManager sources;
    DiagnosticSink sink(o.limits.max_errors);
    engine::FrontEnd front =
        engine::run_front_end({root}, sources, sink, limits, parse::disk_reader(limits.max_file_bytes * 2),
                              /*keep_going=*/true);
    if (o.emit == "ast") {
      for (FileId f : front.program->roots)
        if (const ast::Module* m = front.program->module_for(f)) emitted += ast::dump(*m, sources);
    }
    if (front.internal_error) {
      for (const std::string& e : front.module.errors)
        std::fprintf(stderr, "edict: internal error: %s\n", e.c_str());
      return kExitInternal;
    }
    if (front.lowered && o.emit == "ir") emitted += ir::print(front.module);
    if (front.lowered && (o.emit == "llvm" || o.emit == "asm")) {
      std::string text, error;
      if (!engine::emit_code(front.module,
                             o.emit == "llvm" ? engine::CodeText::LlvmIr : engine::CodeText::Assembly, &text,
                             &error)) {
        std::fprintf(stderr, "edict: internal error: %s\n", error.c_str());
        return kExitInternal;
      }
      emitted += text;
    }
    std::vector<Diagnostic> fresh;
    for (Diagnostic& d : sink.sorted()) {
      std::string path = d.span.valid() ? sources.file(d.span.file).path : "";
      if (!seen.insert({path, d.span.begin, d.code, d.message}).second) continue;
      if (d.severity == Severity::Error) ++errors;
      if (d.severity == Severity::Warning) ++warnings;
      fresh.push_back(std::move(d));
    }
    if (sink.error_count() > sink.max_errors()) dropped += sink.error_count() - sink.max_errors();
    for (const Diagnostic& d : fresh) human += render_human(sources, d) + "\n";
    if (!fresh.empty()) {
      std::string arr = render_json(sources, fresh);  // "[...]\n"
      if (!json_items.empty()) json_items += ',';
      json_items += arr.substr(1, arr.size() - 3);
    }
  }

  if (!emitted.empty()) std::fputs(emitted.c_str(), stdout);
  if (o.error_format == "json") {
    std::printf("[%s]\n", json_items.c_str());
  } else {
    std::fputs(human.c_str(), stderr);
    if (dropped) std::fprintf(stderr, "note: %zu more errors not shown (raise --max-errors)\n", dropped);
    if (errors + warnings + dropped > 0)
      std::fprintf(stderr, "%zu error%s, %zu warning%s\n", errors + dropped, errors + dropped == 1 ? "" : "s",
                   warnings, warnings == 1 ? "" : "s");
    else
      std::fprintf(stderr, "checked %zu file%s: no problems\n", files.size(), files.size() == 1 ? "" : "s");
  }
  if (errors + dropped > 0) return kExitFindings;
  if (o.deny_warnings && warnings > 0) return kExitFindings;
  return kExitOk;
}

}  // namespace edict::cli
