// `edict playground`: the browser playground (server/playground.h) over the
// playground's requests (tools/playground.h), on 127.0.0.1 by default.
// SIGTERM and SIGINT stop it.
#include <CLI/CLI.hpp>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "cli/commands.h"
#include "server/playground.h"
#include "support/atomic_file.h"
#include "tools/playground.h"

namespace edict::cli {
namespace {
std::atomic<int> playground_stop{0};
extern "C" void on_playground_stop(int) {
  playground_stop = 1;
}
}  // namespace

void add_playground_options(CLI::App& cmd, PlaygroundOptions& o) {
  cmd.add_option("--library", o.library, "Folder of shipped policies the page's imports may read")
      ->capture_default_str();
  cmd.add_option("--host", o.host, "Address to listen on (keep 127.0.0.1: the page has no authentication)")
      ->capture_default_str();
  cmd.add_option("--port", o.port, "Port to listen on; 0 picks a free one")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  cmd.add_option("--port-file", o.port_file, "Write the port listened on to this file");
  cmd.add_option("--time-limit", o.time_limit, "Seconds of evaluation one request may take")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 3600.0));
}

int run_playground(const PlaygroundOptions& o) {
  std::error_code ec;
  if (!std::filesystem::is_directory(o.library, ec)) {
    std::fprintf(stderr, "edict: the library `%s` is not a folder (--library)\n", o.library.c_str());
    return kExitUsage;
  }
  tools::PlaygroundLimits limits;
  limits.max_seconds = o.time_limit;
  tools::Playground playground(o.library, limits);
  server::PlaygroundOptions options;
  options.host = o.host;
  options.port = o.port;
  server::PlaygroundServer http(
      options,
      [&playground](const std::string& endpoint, const std::string& body) {
        tools::PlaygroundReply r = playground.handle(endpoint, body);
        return std::pair<int, std::string>(r.status, std::move(r.json));
      },
      playground.library_json());
  std::string error;
  if (!http.start(error)) {
    std::fprintf(stderr, "edict: %s\n", error.c_str());
    return kExitUsage;
  }
  if (!write_port_file(o.port_file, http.port())) return kExitUsage;
  std::signal(SIGTERM, on_playground_stop);
  std::signal(SIGINT, on_playground_stop);
  std::signal(SIGPIPE, SIG_IGN);
  std::atomic<bool> done{false};
  std::thread watcher([&] {
    while (!done.load()) {
      if (playground_stop.exchange(0)) {
        http.stop();
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  std::fprintf(stderr, "edict playground: http://%s:%d/ (library %s)\n", o.host.c_str(), http.port(),
               o.library.c_str());
  http.run();
  done = true;
  watcher.join();
  std::fprintf(stderr, "edict playground: stopped\n");
  return kExitOk;
}

}  // namespace edict::cli
