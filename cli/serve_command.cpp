// `edict serve POLICY... --listen HOST:PORT`: the HTTP server (server/),
// started with the policy compiled as `eval` compiles it. SIGHUP reloads
// the policy files; SIGTERM and SIGINT stop the server.
#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <pthread.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <thread>

#include "cli/commands.h"
#include "cli/tooling.h"
#include "server/server.h"
#include "support/atomic_file.h"

namespace edict::cli {
namespace {

std::atomic<int> reload_requested{0}, stop_requested{0};
extern "C" void on_reload_signal(int) {
  reload_requested = 1;
}
extern "C" void on_stop_signal(int) {
  stop_requested = 1;
}

}  // namespace

void add_serve_options(CLI::App& cmd, ServeOptions& o) {
  cmd.add_option("policies", o.policies, "Policy files or folders (*.edict, *.edict.md)")->required();
  cmd.add_option("--listen", o.listen, "Address and port to listen on (port 0: any free port)")
      ->capture_default_str();
  cmd.add_option("--engine", o.engine, "Evaluation engine: `jit` or `interp`")
      ->capture_default_str()
      ->check(CLI::IsMember({"jit", "interp"}));
  cmd.add_option("--threads", o.threads, "Connections served at once; more get 503")
      ->capture_default_str()
      ->check(CLI::Range(1u, 1024u));
  cmd.add_option("--max-body-bytes", o.max_body_bytes, "Largest request body; larger ones get 413")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1024}, size_t{1} << 32));
  cmd.add_option("--max-line-bytes", o.max_line_bytes, "Longest JSON Lines line decoded")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1024}, size_t{1} << 30));
  cmd.add_option("--read-timeout-ms", o.read_timeout_ms,
                 "A client silent this long while sending a request (or keeping a connection idle) is "
                 "disconnected")
      ->capture_default_str()
      ->check(CLI::Range(10, 600'000));
  cmd.add_option("--max-in-flight", o.max_in_flight, "Decision requests decided at once; more get 503")
      ->capture_default_str()
      ->check(CLI::Range(1u, 100'000u));
  cmd.add_flag("--no-decision-time", o.no_decision_time,
               "Records without their decision time (byte-identical records for the same events)");
  cmd.add_option("--decision-log", o.decision_log,
                 "Append every decision record here before answering (docs/operations.md)");
  cmd.add_option("--decision-log-rotate-bytes", o.log_rotate_bytes,
                 "Rotate the log to FILE.1 beyond this size")
      ->capture_default_str();
  cmd.add_option("--decision-log-keep", o.log_keep, "Rotated logs kept (FILE.1 .. FILE.N)")
      ->capture_default_str();
  cmd.add_option("--decision-log-fsync", o.log_fsync,
                 "`always`: synced before each response; `interval`: every 100 ms; `never`: left to the OS")
      ->capture_default_str()
      ->check(CLI::IsMember({"always", "interval", "never"}));
  cmd.add_option("--decision-log-wait-ms", o.log_wait_ms,
                 "How long a request waits for the log before it gets 503 + Retry-After")
      ->capture_default_str()
      ->check(CLI::Range(1, 60'000));
  cmd.add_option("--port-file", o.port_file, "Write the port listened on to this file once listening");
  add_limit_options(cmd, o.limits);
  add_import_option(cmd, o.limits);
  // Read again by every reload, so a list updated in place is picked up.
  add_data_option(cmd, o.limits.data_files);
}

int run_serve(const ServeOptions& o) {
  server::ServerOptions options;
  const size_t colon = o.listen.rfind(':');
  try {
    if (colon == std::string::npos) throw std::invalid_argument("no port");
    options.host = o.listen.substr(0, colon);
    size_t used = 0;
    options.port = std::stoi(o.listen.substr(colon + 1), &used);
    if (used != o.listen.size() - colon - 1 || options.port < 0 || options.port > 65535)
      throw std::invalid_argument("bad port");
  } catch (const std::exception&) {
    std::fprintf(stderr, "edict: --listen `%s` is not HOST:PORT (like 127.0.0.1:8181)\n", o.listen.c_str());
    return kExitUsage;
  }
  options.threads = o.threads;
  options.max_body_bytes = o.max_body_bytes;
  options.max_line_bytes = o.max_line_bytes;
  options.read_timeout_ms = o.read_timeout_ms;
  options.max_in_flight = o.max_in_flight;
  options.decision_time = !o.no_decision_time;
  options.decision_log = o.decision_log;
  options.log_rotate_bytes = o.log_rotate_bytes;
  options.log_keep = o.log_keep;
  options.log_fsync = o.log_fsync;
  options.log_wait_ms = o.log_wait_ms;

  const engine::Backend backend = o.engine == "interp" ? engine::Backend::Interp : engine::Backend::Jit;
  server::PolicyLoader loader = [&o,
                                 backend](std::string& diagnostics) -> std::unique_ptr<server::LoadedPolicy> {
    auto loaded = std::make_unique<server::LoadedPolicy>();
    loaded->sources = std::make_unique<SourceManager>();
    loaded->policy = load_policy(o.policies, backend, o.limits, *loaded->sources, 2, 0, {}, &diagnostics);
    if (!loaded->policy) return nullptr;
    for (size_t i = 0; i < loaded->sources->size(); ++i)
      loaded->files.push_back(loaded->sources->file(static_cast<FileId>(i)).path);
    return loaded;
  };
  // SIGHUP, SIGTERM and SIGINT wait for the watcher below (sigtimedwait):
  // blocked before the server's threads start, so that they inherit the mask.
  sigset_t watched;
  sigemptyset(&watched);
  for (int sig : {SIGHUP, SIGTERM, SIGINT}) sigaddset(&watched, sig);
  pthread_sigmask(SIG_BLOCK, &watched, nullptr);
  server::Server server(options, loader);
  std::string error;
  if (!server.start(error)) {
    std::fprintf(stderr, "%s%s", error.c_str(), error.empty() || error.back() != '\n' ? "\n" : "");
    return kExitUsage;
  }
  if (!write_port_file(o.port_file, server.port())) return kExitUsage;
  // The handlers catch a signal delivered to a thread that does not block
  // it (one started before the mask); the watcher sees their flags.
  std::signal(SIGHUP, on_reload_signal);
  std::signal(SIGTERM, on_stop_signal);
  std::signal(SIGINT, on_stop_signal);
  std::signal(SIGPIPE, SIG_IGN);
  // Signals are turned into work here, off the handlers: a reload compiles
  // on this thread while the server keeps answering on the old version. The
  // watcher sleeps until a signal comes (at most a second, to see `done`),
  // rather than waking the server's CPU every few milliseconds to look.
  std::atomic<bool> done{false};
  std::thread watcher([&] {
    while (!done.load()) {
      const timespec second{1, 0};
      const int sig = sigtimedwait(&watched, nullptr, &second);
      if (sig == SIGTERM || sig == SIGINT) stop_requested = 1;
      if (sig == SIGHUP) reload_requested = 1;
      if (stop_requested.exchange(0)) {
        server.stop();
        break;
      }
      if (reload_requested.exchange(0)) {
        std::string diagnostics;
        if (server.reload(diagnostics))
          std::fprintf(stderr, "edict serve: reloaded the policy\n");
        else
          std::fprintf(stderr, "edict serve: reload failed; the previous version keeps serving:\n%s",
                       diagnostics.c_str());
      }
    }
  });
  std::fprintf(stderr, "edict serve: listening on %s:%d\n", options.host.c_str(), server.port());
  server.run();
  done = true;
  watcher.join();
  std::fprintf(stderr, "edict serve: stopped\n");
  return kExitOk;
}

}  // namespace edict::cli
