// The `edict` command line: subcommand parsing and dispatch. Each subcommand
// lives in its own file (cli/*_command.cpp); this file only wires them up.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <cstdlib>
#include <exception>

#include "cli/build_command.h"
#include "cli/commands.h"
#include "cli/stream_command.h"
#include "cli/verify_command.h"
#include "engine/engine.h"

namespace {

int run_edict(int argc, char** argv) {
  CLI::App app{"Edict: a policy-as-code compiler and evaluator for export-control rules"};
  app.set_version_flag("--version", edict::cli::version_string());
  app.require_subcommand(1);
  app.fallthrough(false);

  edict::cli::CheckOptions check;
  CLI::App* check_cmd = app.add_subcommand("check", "Parse and check policy files; report every problem");
  edict::cli::add_check_options(*check_cmd, check);

  edict::cli::FmtOptions fmt_opts;
  CLI::App* fmt_cmd = app.add_subcommand("fmt", "Rewrite policy files in the canonical layout");
  edict::cli::add_fmt_options(*fmt_cmd, fmt_opts);

  edict::cli::EvalOptions eval;
  CLI::App* eval_cmd = app.add_subcommand("eval", "Evaluate events (JSON Lines) against policies");
  edict::cli::add_eval_options(*eval_cmd, eval);

  edict::cli::TestOptions test;
  CLI::App* test_cmd = app.add_subcommand("test", "Run the `test` blocks of policy files on both engines");
  edict::cli::add_test_options(*test_cmd, test);

  edict::cli::ExplainOptions explain;
  CLI::App* explain_cmd = app.add_subcommand(
      "explain", "Explain the decision on an event: every rule and the values its conditions saw");
  edict::cli::add_explain_options(*explain_cmd, explain);

  edict::cli::DiffOptions diff;
  CLI::App* diff_cmd = app.add_subcommand(
      "diff", "Compare two versions of a policy over the same events: which decisions change");
  edict::cli::add_diff_options(*diff_cmd, diff);
  edict::cli::SymbolicDiffOptions symbolic_diff;
  edict::cli::add_symbolic_diff_options(*diff_cmd, symbolic_diff);
  edict::cli::VerifyOptions verify;
  CLI::App* verify_cmd = app.add_subcommand(
      "verify",
      "Prove with Z3 which rules can never fire, never decide, fault, or leave gaps between versions");
  edict::cli::add_verify_options(*verify_cmd, verify);
  edict::cli::ServeOptions serve;
  CLI::App* serve_cmd = app.add_subcommand(
      "serve", "Answer decision requests over HTTP, with health checks, metrics, reloads and a decision log");
  edict::cli::add_serve_options(*serve_cmd, serve);
  edict::cli::BuildOptions build;
  CLI::App* build_cmd =
      app.add_subcommand("build", "Compile a policy ahead of time into a C library and header");
  edict::cli::add_build_options(*build_cmd, build);

  edict::cli::LspOptions lsp;
  CLI::App* lsp_cmd =
      app.add_subcommand("lsp", "Serve the Language Server Protocol on stdin and stdout (for editors)");
  edict::cli::add_lsp_options(*lsp_cmd, lsp);
  edict::cli::PlaygroundOptions playground;
  CLI::App* playground_cmd = app.add_subcommand(
      "playground",
      "Serve the browser playground on this machine: edit, check, test, explain and diff policies");
  edict::cli::add_playground_options(*playground_cmd, playground);
  edict::cli::PublishCommandOptions publish;
  CLI::App* publish_cmd = app.add_subcommand(
      "publish", "Load events (JSON Lines) into a NATS JetStream stream, partitioned by key");
  edict::cli::add_publish_options(*publish_cmd, publish);
  edict::cli::StreamCommandOptions stream_opts;
  CLI::App* stream_cmd = app.add_subcommand(
      "stream", "Decide the events of a NATS JetStream stream: exactly one decision record per event");
  edict::cli::add_stream_options(*stream_cmd, stream_opts);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : edict::cli::kExitUsage;
  }

  try {
    if (*check_cmd) return edict::cli::run_check(check);
    if (*fmt_cmd) return edict::cli::run_fmt(fmt_opts);
    if (*eval_cmd) return edict::cli::run_eval(eval);
    if (*test_cmd) return edict::cli::run_test(test);
    if (*explain_cmd) return edict::cli::run_explain(explain);
    if (*diff_cmd && symbolic_diff.symbolic)
      return edict::cli::run_symbolic_diff(diff.old_policy, diff.new_policy, diff.limits, symbolic_diff);
    if (*diff_cmd) return edict::cli::run_diff(diff);
    if (*verify_cmd) return edict::cli::run_verify(verify);
    if (*build_cmd) return edict::cli::run_build(build);
    if (*serve_cmd) return edict::cli::run_serve(serve);
    if (*lsp_cmd) return edict::cli::run_lsp(lsp);
    if (*playground_cmd) return edict::cli::run_playground(playground);
    if (*publish_cmd) return edict::cli::run_publish_command(publish);
    if (*stream_cmd) return edict::cli::run_stream_command(stream_opts);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "edict: internal error: %s\n", e.what());
    return edict::cli::kExitInternal;
  }
  return edict::cli::kExitUsage;
}

}  // namespace

int main(int argc, char** argv) {
  int code = run_edict(argc, argv);
  // A tiered run may end before its background compilation does: the
  // process need not wait for code it will never run, and LLVM's static
  // state must not be torn down under the compiling thread. Everything is
  // written and committed by now.
  if (edict::engine::background_compilations() > 0) {
    std::fflush(nullptr);
    std::_Exit(code);
  }
  return code;
}
