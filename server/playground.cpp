// The playground's HTTP side (see playground.h).
#include "server/playground.h"

#include <fmt/format.h>
#include <httplib.h>

#include <mutex>

#include "server/listen.h"

namespace edict::server {

struct PlaygroundServer::Impl {
  PlaygroundOptions options;
  PlaygroundHandler handler;
  std::string library_json;
  httplib::Server http;
  std::mutex busy;  // one compilation at a time: memory stays that of one request
  int bound_port = -1;
};

PlaygroundServer::PlaygroundServer(PlaygroundOptions options, PlaygroundHandler handler,
                                   std::string library_json)
    : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  impl_->handler = std::move(handler);
  impl_->library_json = std::move(library_json);
}

PlaygroundServer::~PlaygroundServer() = default;

bool PlaygroundServer::start(std::string& error) {
  Impl& s = *impl_;
  s.http.set_tcp_nodelay(true);
  s.http.set_payload_max_length(s.options.max_body_bytes);
  s.http.set_read_timeout(std::chrono::milliseconds(s.options.read_timeout_ms));
  s.http.set_write_timeout(std::chrono::milliseconds(s.options.read_timeout_ms));
  s.http.set_keep_alive_timeout(std::max<time_t>(1, (s.options.read_timeout_ms + 999) / 1000));
  const unsigned threads = s.options.threads;
  s.http.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  // Same-origin page only: no CORS headers, and a policy forbidding anything
  // but the page's own assets.
  auto secure = [](httplib::Response& r) {
    r.set_header("Content-Security-Policy", "default-src 'self'; style-src 'self'; script-src 'self'");
    r.set_header("X-Content-Type-Options", "nosniff");
    r.set_header("Cache-Control", "no-store");
  };
  for (const PlaygroundAsset* a = playground_assets(); a->path; ++a) {
    s.http.Get(a->path, [a, secure](const httplib::Request&, httplib::Response& r) {
      secure(r);
      r.set_content(a->body, a->content_type);
    });
  }
  s.http.Get("/api/library", [&s, secure](const httplib::Request&, httplib::Response& r) {
    secure(r);
    r.set_content(s.library_json, "application/json");
  });
  s.http.Post(R"(/api/(check|test|explain|diff))",
              [&s, secure](const httplib::Request& q, httplib::Response& r) {
                secure(r);
                std::lock_guard<std::mutex> lock(s.busy);
                auto [status, body] = s.handler(q.matches[1].str(), q.body);
                r.status = status;
                r.set_content(body, "application/json");
              });
  s.http.set_error_handler([secure](const httplib::Request&, httplib::Response& r) {
    secure(r);
    if (r.body.empty()) r.set_content(fmt::format("{{\"error\":\"HTTP {}\"}}", r.status), "application/json");
  });
  s.bound_port = bind_listener(s.http, s.options.host, s.options.port, &error);
  return s.bound_port > 0;
}

int PlaygroundServer::port() const {
  return impl_->bound_port;
}
void PlaygroundServer::run() {
  impl_->http.listen_after_bind();
}
void PlaygroundServer::stop() {
  impl_->http.stop();
}

}  // namespace edict::server
