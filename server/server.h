// `edict serve`: decisions over HTTP for systems that ask before they act
// (docs/operations.md). Every decision goes through engine::Stream and the
// record writer of `edict eval` (engine::RecordSink), with audit records
// (engine/audit.h); the HTTP library (Boost.Beast) stays inside this folder.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/engine.h"

namespace edict::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8181;                   // 0: any free port (port() tells which)
  unsigned threads = 8;              // connections served at once (a thread each)
  size_t max_body_bytes = 64 << 20;  // larger bodies: 413
  size_t max_line_bytes = 1 << 20;   // longer JSON Lines lines: line_too_long records
  int read_timeout_ms = 5000;        // a client silent this long mid-request: the connection closes
  unsigned max_in_flight = 64;       // decision requests at once; more: 503 + Retry-After
  bool decision_time = true;         // audit records carry "time"
  // The decision log: every decision appended before its response (empty: none).
  std::string decision_log;
  uint64_t log_rotate_bytes = 256ull << 20;  // rotate to FILE.1 (keeping `log_keep`) beyond this
  unsigned log_keep = 5;
  std::string log_fsync = "interval";  // `always` (before each response), `interval` (every 100 ms), `never`
  int log_wait_ms = 200;               // a request waits this long for the log, else 503
};

// One compiled policy version, made by a PolicyLoader (the CLI's compile
// step): the policy and the sources it was compiled from.
struct LoadedPolicy {
  std::unique_ptr<SourceManager> sources;
  std::unique_ptr<engine::Policy> policy;
  std::vector<std::string> files;  // the policy files, for GET /v1/policy
};
// Compiles the policy (again); null with `diagnostics` saying why.
using PolicyLoader = std::function<std::unique_ptr<LoadedPolicy>(std::string& diagnostics)>;

class Server {
 public:
  Server(ServerOptions options, PolicyLoader loader);
  ~Server();
  // Loads the policy, opens the decision log and binds; false with `error`.
  bool start(std::string& error);
  int port() const;
  // Serves until stop() (from any thread or a signal-watching thread).
  void run();
  void stop();
  // Compiles the policy anew and swaps it in when it compiles; false with
  // the diagnostics when it does not (the old version keeps serving).
  bool reload(std::string& diagnostics);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace edict::server
