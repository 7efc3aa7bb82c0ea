// `edict playground`: the browser playground over HTTP. Serves the page's
// assets (server/playground/, compiled into the binary: nothing is fetched
// from anywhere else) and forwards `POST /api/<endpoint>` bodies to a
// handler (tools::Playground, wired by the CLI), one request at a time.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>

namespace edict::server {

struct PlaygroundOptions {
  std::string host = "127.0.0.1";
  int port = 8787;                  // 0: any free port
  unsigned threads = 4;             // connections served at once
  size_t max_body_bytes = 2 << 20;  // larger bodies: 413
  int read_timeout_ms = 5000;       // a client silent this long mid-request: the connection closes
};

// (endpoint, JSON body) -> (HTTP status, JSON reply).
using PlaygroundHandler = std::function<std::pair<int, std::string>(const std::string&, const std::string&)>;

class PlaygroundServer {
 public:
  // `library_json` answers `GET /api/library`.
  PlaygroundServer(PlaygroundOptions options, PlaygroundHandler handler, std::string library_json);
  ~PlaygroundServer();
  bool start(std::string& error);  // binds; false with `error`
  int port() const;
  void run();  // serves until stop()
  void stop();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// The embedded assets, by URL path (`/`, `/playground.js`, ...).
struct PlaygroundAsset {
  const char* path;
  const char* content_type;
  const char* body;
};
const PlaygroundAsset* playground_assets();  // ends with {nullptr, ...}

}  // namespace edict::server
