// The HTTP adapter: routes, limits, the decision log and reloads around
// ServedPolicy, which decides through engine::Stream.
#include "server/server.h"

#include <fmt/format.h>
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <mutex>

#include "server/decision_log.h"
#include "server/listen.h"
#include "server/metrics.h"
#include "server/served_policy.h"
#include "support/text.h"

namespace edict::server {

namespace {
using Clock = std::chrono::steady_clock;

// `{"error":..,"reason":..}` plus a newline: the body of every refused request.
std::string error_record(std::string_view reason, std::string_view message) {
  std::string s = "{\"decision\":\"error\",\"reason\":";
  append_json_string(s, reason);
  s += ",\"error\":";
  append_json_string(s, message);
  s += "}\n";
  return s;
}

// Media types: one JSON event, or JSON Lines.
enum class BodyKind { Event, Lines, Other };
BodyKind body_kind(const httplib::Request& req) {
  std::string type = req.get_header_value("Content-Type");
  type = type.substr(0, type.find(';'));
  while (!type.empty() && type.back() == ' ') type.pop_back();
  if (type == "application/json") return BodyKind::Event;
  if (type == "application/x-ndjson" || type == "application/jsonl" || type == "application/x-jsonlines" ||
      type == "application/jsonlines")
    return BodyKind::Lines;
  return BodyKind::Other;
}

// Input errors (the event could not be decided) rather than rule faults
// (the policy decided `error`, fail closed).
bool has_input_errors(const engine::Summary& summary) {
  uint64_t faults = 0;
  for (auto reason : {ir::FaultReason::IntOverflow, ir::FaultReason::DivisionByZero,
                      ir::FaultReason::NonFinite, ir::FaultReason::Absent}) {
    auto it = summary.error_reasons.find(std::string(ir::fault_reason_name(reason)));
    if (it != summary.error_reasons.end()) faults += it->second;
  }
  return summary.errors > faults;
}
bool valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    const size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k)
      if ((static_cast<unsigned char>(s[i + k]) >> 6) != 2) return false;
    i += n;
  }
  return true;
}

std::string base64(std::string_view s) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (size_t i = 0; i < s.size(); i += 3) {
    uint32_t v = static_cast<unsigned char>(s[i]) << 16;
    if (i + 1 < s.size()) v |= static_cast<unsigned char>(s[i + 1]) << 8;
    if (i + 2 < s.size()) v |= static_cast<unsigned char>(s[i + 2]);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < s.size() ? kAlphabet[(v >> 6) & 63] : '=';
    out += i + 2 < s.size() ? kAlphabet[v & 63] : '=';
  }
  return out;
}

// The decision log's lines: each record with the event it decided, exactly
// as received, so `eval --replay` can decide it again: `"event":"..."` (a
// JSON string), or `"event_base64":"..."` for text that is not UTF-8 (which
// a JSON string cannot hold). Records and lines correspond one to one.
std::string log_lines(std::string_view records, const std::vector<decode::Line>& lines) {
  std::string out;
  out.reserve(records.size() * 2);
  size_t pos = 0;
  for (const decode::Line& line : lines) {
    const size_t end = records.find('\n', pos);
    if (end == std::string_view::npos || end == pos) break;
    out.append(records.substr(pos, end - 1 - pos));  // without its closing brace
    if (valid_utf8(line.text)) {
      out += ",\"event\":";
      append_json_string(out, line.text);
    } else {
      out += ",\"event_base64\":\"";
      out += base64(line.text);
      out += '"';
    }
    out += "}\n";
    pos = end + 1;
  }
  return out;
}

// Set on the threads that answer connections over the limit: their
// requests get 503 and the connection closes.
thread_local bool over_connection_limit = false;
// The start of the request this thread is serving, for the latency histogram.
thread_local Clock::time_point request_start;

// httplib's pool, bounded: a connection arriving while every worker is busy
// (keep-alive connections hold theirs) goes to one small pool that answers
// its request with 503 + Retry-After, instead of waiting in an unbounded queue.
class BoundedQueue : public httplib::TaskQueue {
 public:
  explicit BoundedQueue(unsigned workers) : pool_(workers), rejecting_(2), limit_(workers) {}
  void enqueue(std::function<void()> fn) override {
    if (busy_.fetch_add(1) >= limit_) {
      --busy_;
      rejecting_.enqueue([fn = std::move(fn)] {
        over_connection_limit = true;
        fn();
        over_connection_limit = false;
      });
      return;
    }
    pool_.enqueue([this, fn = std::move(fn)] {
      fn();
      --busy_;
    });
  }
  void shutdown() override {
    pool_.shutdown();
    rejecting_.shutdown();
  }

 private:
  httplib::ThreadPool pool_, rejecting_;
  std::atomic<unsigned> busy_{0};
  unsigned limit_;
};
}  // namespace

struct Server::Impl {
  ServerOptions options;
  PolicyLoader loader;
  httplib::Server http;
  Metrics metrics;
  std::unique_ptr<DecisionLog> log;
  std::mutex current_mutex;
  std::shared_ptr<ServedPolicy> current;
  std::mutex reload_mutex;  // one reload at a time
  uint64_t versions = 0;
  std::atomic<unsigned> in_flight{0};
  int bound_port = 0;

  std::shared_ptr<ServedPolicy> serving() {
    std::lock_guard lock(current_mutex);
    return current;
  }
  bool load(std::string& diagnostics);
  void routes();
  void decide(const httplib::Request& req, httplib::Response& res);
  void explain(const httplib::Request& req, httplib::Response& res);
  // Appends to the decision log, or refuses the request (503) and says false.
  bool logged(std::string_view records, const std::vector<decode::Line>& lines, httplib::Response& res);
  // A large JSON Lines body: its records sent as they are decided.
  void stream_lines(std::shared_ptr<ServedPolicy> policy, std::string padded, std::vector<decode::Line> lines,
                    httplib::Response& res);
  static constexpr size_t kStreamChunk = 4096;
  void refuse(httplib::Response& res, int status, std::string_view reason, std::string_view message) {
    metrics.error(std::string(reason));
    res.status = status;
    res.set_content(error_record(reason, message), "application/json");
  }
};

bool Server::Impl::load(std::string& diagnostics) {
  std::lock_guard reload_lock(reload_mutex);
  const auto start = Clock::now();
  std::unique_ptr<LoadedPolicy> loaded = loader(diagnostics);
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  if (!loaded) {
    metrics.reload(false, seconds);
    return false;
  }
  auto next = std::make_shared<ServedPolicy>(std::move(loaded), ++versions, options);
  {
    std::lock_guard lock(current_mutex);
    current = std::move(next);  // requests holding the old version finish on it
  }
  metrics.reload(true, seconds);
  return true;
}

void Server::Impl::decide(const httplib::Request& req, httplib::Response& res) {
  const BodyKind kind = body_kind(req);
  if (kind == BodyKind::Other)
    return refuse(res, 415, "unsupported_media_type",
                  fmt::format("Content-Type `{}` is neither application/json (one event) nor "
                              "application/x-ndjson (JSON Lines)",
                              req.get_header_value("Content-Type")));
  // Bounded work in flight: beyond it, push back rather than queue.
  struct InFlight {
    std::atomic<unsigned>& n;
    ~InFlight() { --n; }
  } guard{in_flight};
  if (++in_flight > options.max_in_flight) {
    res.set_header("Retry-After", "1");
    return refuse(res, 503, "overloaded",
                  fmt::format("more than {} decision requests at once; retry later", options.max_in_flight));
  }
  std::shared_ptr<ServedPolicy> policy = serving();
  std::string padded;
  std::vector<decode::Line> lines =
      body_lines(padded, req.body, kind == BodyKind::Event, options.max_line_bytes);
  if (kind == BodyKind::Event && lines.size() == 1 &&
      lines[0].text.find_first_not_of(" \t\r\n") == std::string_view::npos)
    return refuse(res, 400, "empty_body", "the request has no event");
  if (kind == BodyKind::Lines && lines.size() > kStreamChunk)
    return stream_lines(std::move(policy), std::move(padded), std::move(lines), res);
  Decided decided;
  policy->decide(lines, decided);
  if (!logged(decided.records, lines, res)) return;
  metrics.decisions(policy->policy(), decided.summary);
  res.status = kind == BodyKind::Event && has_input_errors(decided.summary) ? 400 : 200;
  res.set_content(std::move(decided.records),
                  kind == BodyKind::Event ? "application/json" : "application/x-ndjson");
}

bool Server::Impl::logged(std::string_view records, const std::vector<decode::Line>& lines,
                          httplib::Response& res) {
  if (!log) return true;
  std::string error;
  switch (log->append(log_lines(records, lines), &error)) {
    case DecisionLog::Result::Ok: return true;
    case DecisionLog::Result::Busy:
      res.set_header("Retry-After", "1");
      refuse(res, 503, "decision_log_busy", "the decision log is busy; retry later");
      return false;
    case DecisionLog::Result::Failed:
      res.set_header("Retry-After", "5");
      refuse(res, 503, "decision_log_failed",
             fmt::format("the decision could not be logged, so it is not returned: {}", error));
      return false;
  }
  return false;
}

void Server::Impl::stream_lines(std::shared_ptr<ServedPolicy> policy, std::string padded,
                                std::vector<decode::Line> lines, httplib::Response& res) {
  // Decided and sent a chunk of lines at a time, each chunk logged before it
  // leaves; a log failure mid-way ends the stream with an error record (the
  // status is already sent), and a client gone mid-way stops the deciding.
  struct Pending {
    std::shared_ptr<ServedPolicy> policy;
    std::string padded;
    std::vector<decode::Line> lines;
    size_t next = 0;
  };
  auto pending = std::make_shared<Pending>(Pending{std::move(policy), std::move(padded), std::move(lines)});
  res.set_chunked_content_provider("application/x-ndjson", [this, pending](size_t, httplib::DataSink& sink) {
    Pending& p = *pending;
    if (p.next >= p.lines.size()) {
      sink.done();
      return true;
    }
    const size_t end = std::min(p.lines.size(), p.next + kStreamChunk);
    std::vector<decode::Line> chunk(p.lines.begin() + static_cast<std::ptrdiff_t>(p.next),
                                    p.lines.begin() + static_cast<std::ptrdiff_t>(end));
    p.next = end;
    Decided decided;
    p.policy->decide(chunk, decided);
    httplib::Response refused;
    if (!logged(decided.records, chunk, refused)) {
      sink.write(refused.body.data(), refused.body.size());
      sink.done();
      return true;
    }
    metrics.decisions(p.policy->policy(), decided.summary);
    return sink.write(decided.records.data(), decided.records.size());
  });
}

void Server::Impl::explain(const httplib::Request& req, httplib::Response& res) {
  if (body_kind(req) != BodyKind::Event)
    return refuse(res, 415, "unsupported_media_type", "POST /v1/explain takes one event as application/json");
  std::shared_ptr<ServedPolicy> policy = serving();
  std::string record = policy->explain(req.body);
  if (record.empty()) return refuse(res, 500, "internal", "this policy cannot be traced");
  res.set_content(record, "application/json");
}

void Server::Impl::routes() {
  http.Post("/v1/decisions", [this](const httplib::Request& q, httplib::Response& r) { decide(q, r); });
  http.Post("/v1/explain", [this](const httplib::Request& q, httplib::Response& r) { explain(q, r); });
  http.Get("/v1/policy", [this](const httplib::Request&, httplib::Response& r) {
    r.set_content(serving()->describe(), "application/json");
  });
  http.Post("/v1/reload", [this](const httplib::Request&, httplib::Response& r) {
    std::string diagnostics;
    if (load(diagnostics)) {
      r.set_content(fmt::format("{{\"reloaded\":true,\"version\":{},\"policy_hash\":\"{}\"}}\n",
                                serving()->version(), serving()->stamp().policy_hash()),
                    "application/json");
      return;
    }
    std::string body =
        "{\"reloaded\":false,\"version\":" + std::to_string(serving()->version()) + ",\"diagnostics\":";
    append_json_string(body, diagnostics);
    body += "}\n";
    r.status = 422;
    r.set_content(body, "application/json");
  });
  http.Get("/healthz",
           [](const httplib::Request&, httplib::Response& r) { r.set_content("ok\n", "text/plain"); });
  http.Get("/readyz", [this](const httplib::Request&, httplib::Response& r) {
    const bool ready = serving() != nullptr;
    r.status = ready ? 200 : 503;
    r.set_content(ready ? "ready\n" : "no policy loaded\n", "text/plain");
  });
  http.Get("/metrics", [this](const httplib::Request&, httplib::Response& r) {
    r.set_content(metrics.render(log ? log->bytes() : 0, log ? log->rotations() : 0, serving()->version()),
                  "text/plain; version=0.0.4");
  });
  // Errors httplib answers itself (413, 404, 400) get an error record.
  http.set_error_handler([this](const httplib::Request& q, httplib::Response& r) {
    if (!r.body.empty()) return;
    const char* reason = r.status == 413 ? "body_too_large" : r.status == 404 ? "not_found" : "bad_request";
    const std::string message =
        r.status == 413
            ? fmt::format("the body is over the limit of {} bytes (--max-body-bytes)", options.max_body_bytes)
        : r.status == 404 ? fmt::format("no endpoint {} {}", q.method, q.path)
                          : fmt::format("the request was refused ({})", r.status);
    metrics.error(reason);
    r.set_content(error_record(reason, message), "application/json");
  });
  http.set_pre_routing_handler([this](const httplib::Request&, httplib::Response& r) {
    request_start = Clock::now();
    if (!over_connection_limit) return httplib::Server::HandlerResponse::Unhandled;
    r.set_header("Retry-After", "1");
    r.set_header("Connection", "close");
    refuse(r, 503, "too_many_connections",
           fmt::format("all {} connections are taken; retry later", options.threads));
    return httplib::Server::HandlerResponse::Handled;
  });
  http.set_logger([this](const httplib::Request& q, const httplib::Response& r) {
    metrics.request(q.path, r.status, std::chrono::duration<double>(Clock::now() - request_start).count());
  });
}

Server::Server(ServerOptions options, PolicyLoader loader) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  impl_->loader = std::move(loader);
}

Server::~Server() = default;

bool Server::start(std::string& error) {
  Impl& s = *impl_;
  if (!s.load(error)) return false;
  if (!s.options.decision_log.empty()) {
    const FsyncPolicy fsync = s.options.log_fsync == "always"  ? FsyncPolicy::Always
                              : s.options.log_fsync == "never" ? FsyncPolicy::Never
                                                               : FsyncPolicy::Interval;
    s.log = DecisionLog::open(s.options.decision_log, fsync, s.options.log_rotate_bytes, s.options.log_keep,
                              std::chrono::milliseconds(s.options.log_wait_ms), &error);
    if (!s.log) return false;
  }
  s.http.set_tcp_nodelay(true);
  s.http.set_payload_max_length(s.options.max_body_bytes);
  s.http.set_read_timeout(std::chrono::milliseconds(s.options.read_timeout_ms));
  s.http.set_write_timeout(std::chrono::milliseconds(s.options.read_timeout_ms));
  const unsigned threads = s.options.threads;
  s.http.new_task_queue = [threads] { return new BoundedQueue(threads); };
  s.http.set_keep_alive_max_count(1'000'000);
  // An idle keep-alive connection holds a worker: it may idle as long as a
  // request may pause (whole seconds: httplib's unit), then it closes.
  s.http.set_keep_alive_timeout(std::max<time_t>(1, (s.options.read_timeout_ms + 999) / 1000));
  s.routes();
  s.bound_port = bind_listener(s.http, s.options.host, s.options.port, &error);
  return s.bound_port > 0;
}

int Server::port() const {
  return impl_->bound_port;
}

void Server::run() {
  impl_->http.listen_after_bind();
}

void Server::stop() {
  impl_->http.stop();
}

bool Server::reload(std::string& diagnostics) {
  return impl_->load(diagnostics);
}

}  // namespace edict::server
