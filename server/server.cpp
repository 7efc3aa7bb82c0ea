// The HTTP adapter: routes, limits, the decision log and reloads around
// ServedPolicy, which decides through engine::Stream.
#include "server/server.h"

#include <fmt/format.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <set>
#include <system_error>
#include <thread>

#include "engine/body_lines.h"
#include "engine/decode/decoder.h"
#include "server/decision_log.h"
#include "server/http_socket.h"
#include "server/metrics.h"
#include "server/served_policy.h"
#include "support/text.h"

namespace edict::server {

namespace {
using Clock = std::chrono::steady_clock;
namespace beast = boost::beast;
namespace http = beast::http;
using Request = http::request<http::string_body>;

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
BodyKind body_kind(const Request& req) {
  std::string type(req[http::field::content_type]);
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

// The decision log's version (docs/operations.md, "Decision log"): 2 embeds
// an event that is a JSON object on one line as JSON, byte for byte; 1 (no
// `log_schema` field) held every event as an escaped string.
constexpr int kDecisionLogSchema = 2;

// Whether a record (one line of `records`) is an `error` record. Its first
// `"decision":"` is the record's own field: the strings before it (the id,
// titles) hold their quotes escaped.
bool is_error_record(std::string_view record) {
  static constexpr std::string_view kKey = "\"decision\":\"";
  const size_t at = record.find(kKey);
  return at != std::string_view::npos && record.substr(at + kKey.size(), 6) == "error\"";
}

// Whether an event can go into its log line as it is: it was decided (so
// the decoder checked it is valid JSON and UTF-8), it is an object, and it
// holds no line break (valid JSON has them only as whitespace, but a log
// line must stay one line; a JSON Lines line holds no LF, a one-event body
// may).
bool embeds_as_json(std::string_view text, std::string_view record, bool whole, bool any_errors) {
  const size_t first = text.find_first_not_of(" \t");
  if (first == std::string_view::npos || text[first] != '{') return false;
  if (std::memchr(text.data(), '\r', text.size())) return false;
  if (whole && std::memchr(text.data(), '\n', text.size())) return false;
  return !any_errors || !is_error_record(record);
}

// The decision log's lines: each record as the client got it, then
// `"log_schema":2` and the event it decided, so `eval --replay` can decide
// it again: `"event":{...}`, the text as received, when it embeds as JSON;
// else `"event":"..."` (the text as a JSON string), or `"event_base64"` for
// text that is not UTF-8 (which a JSON string cannot hold). Records and
// lines correspond one to one. Appended to `out` in one pass, its room made
// once for the lines that embed their events (all but the rare others).
void log_lines(std::string_view records, const std::vector<decode::Line>& lines, bool whole, bool any_errors,
               LogLines& out) {
  static_assert(kDecisionLogSchema == 2, "the log lines' schema field below");
  static constexpr std::string_view kSchemaAndEvent = ",\"log_schema\":2,\"event\":";
  static constexpr std::string_view kSchema = ",\"log_schema\":2";
  // Room for the lines not yet appended, had they all embedded their events.
  size_t room = records.size();
  for (const decode::Line& line : lines) room += line.text.size() + kSchemaAndEvent.size() + 2;
  out.reserve_more(room);
  std::string other;  // an event that is not embedded as it is: escaped, or in base64
  size_t pos = 0;
  for (const decode::Line& line : lines) {
    const char* found =
        static_cast<const char*>(std::memchr(records.data() + pos, '\n', records.size() - pos));
    if (!found) break;
    const size_t end = static_cast<size_t>(found - records.data());
    if (end == pos) break;
    const std::string_view record = records.substr(pos, end - 1 - pos);  // without its closing brace
    room -= (end + 1 - pos) + line.text.size() + kSchemaAndEvent.size() + 2;
    pos = end + 1;
    if (embeds_as_json(line.text, record, whole, any_errors)) {
      out.put(record);
      out.put(kSchemaAndEvent);
      out.put(line.text);
      out.put("}\n");
      continue;
    }
    other.clear();
    if (valid_utf8(line.text)) {
      other += ",\"event\":";
      append_json_string(other, line.text);
    } else {
      other += ",\"event_base64\":\"";
      other += base64(line.text);
      other += '"';
    }
    out.reserve_more(record.size() + kSchema.size() + other.size() + 2 + room);
    out.put(record);
    out.put(kSchema);
    out.put(other);
    out.put("}\n");
  }
}

// What a handler answers (written by write_reply).
struct Reply {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  const char* retry_after = nullptr;  // the Retry-After header, seconds
  bool close = false;                 // the connection closes after it
};
Reply json_reply(std::string body) {
  Reply r;
  r.body = std::move(body);
  return r;
}
Reply text_reply(int status, std::string body, const char* type = "text/plain") {
  Reply r;
  r.status = status;
  r.content_type = type;
  r.body = std::move(body);
  return r;
}

// Writes `reply` (header and body in one send); false when the connection
// is done (it failed, or either side closes it).
bool write_reply(SocketStream& stream, unsigned version, bool keep_alive, Reply& reply) {
  http::response<http::string_body> res{static_cast<http::status>(reply.status), version};
  res.set(http::field::content_type, reply.content_type);
  if (reply.retry_after) res.set(http::field::retry_after, reply.retry_after);
  res.keep_alive(keep_alive && !reply.close);
  res.body() = std::move(reply.body);
  res.prepare_payload();
  beast::error_code ec;
  http::write(stream, res, ec);
  return !ec && res.keep_alive();
}

// Before a connection closes after an error reply: the unread rest of its
// request is read off (briefly, boundedly), so the close does not reset the
// connection before the client has read the reply.
void drain_before_close(int fd) {
  shutdown(fd, SHUT_WR);
  timeval tv{0, 100'000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char sink[65536];
  for (int i = 0; i < 1024 && recv(fd, sink, sizeof sink, 0) > 0; ++i) {
  }
}
}  // namespace

struct Server::Impl {
  ServerOptions options;
  PolicyLoader loader;
  Metrics metrics;
  std::unique_ptr<DecisionLog> log;
  std::mutex current_mutex;
  std::shared_ptr<ServedPolicy> current;
  std::mutex reload_mutex;  // one reload at a time
  uint64_t versions = 0;
  // The last load's windows (ServedPolicy::hand_windows_to), under reload_mutex.
  std::string windows = "none", windows_why;
  std::atomic<unsigned> in_flight{0};
  int bound_port = 0;
  int listen_fd = -1;
  std::atomic<bool> stopping{false};
  // The connections being served, each on its own thread: `serving` up to
  // options.threads, and beyond that up to kRejecting answering 503.
  static constexpr unsigned kRejecting = 4;
  std::mutex connections_mutex;
  std::condition_variable connections_done;
  std::set<int> open_fds;
  unsigned serving_count = 0, rejecting_count = 0;

  std::shared_ptr<ServedPolicy> serving() {
    std::lock_guard lock(current_mutex);
    return current;
  }
  bool load(std::string& diagnostics);
  // Decides `lines` on the serving version (the next one, when a reload
  // took the windows from the version the request started on).
  void decide_lines(std::shared_ptr<ServedPolicy>& policy, const std::vector<decode::Line>& lines,
                    Decided& decided) {
    while (!policy->decide(lines, decided)) policy = serving();
  }
  void accept_loop();
  void start_connection(int fd);
  void serve_connection(int fd, bool over_limit);
  Reply read_error(const beast::error_code& ec);
  Reply route(Request& req, std::string_view path, SocketStream& stream, bool& streamed);
  Reply decide(Request& req, SocketStream& stream, bool& streamed);
  Reply explain(const Request& req);
  Reply reload_reply();
  // Appends to the decision log, or says false with the refusal (503) in `refused`.
  // `whole`: the one line is a whole body (one event); `any_errors`: some
  // record is an `error` record (the summary says).
  bool logged(std::string_view records, const std::vector<decode::Line>& lines, bool whole, bool any_errors,
              Reply& refused);
  // Whether the log took a request's lines, else the refusal (503) in `refused`.
  bool log_accepted(DecisionLog::Result result, const std::string& error, Reply& refused);
  // The largest log buffer a connection's thread keeps between requests
  // (a 512-line chunk's log lines are about 0.5 MB, a group's about 2 MB).
  static constexpr size_t kKeptLogBuffer = 8 << 20;
  // A large JSON Lines body: its records sent as chunks as they are decided.
  Reply stream_lines(std::shared_ptr<ServedPolicy> policy, const std::vector<decode::Line>& lines,
                     const Request& req, SocketStream& stream);
  // Lines per chunk: a chunk's records (about 0.3 MB) and log lines stay in
  // the CPU's cache from being decided to being logged and sent. 4,096-line
  // chunks (2.3 MB of records) went back to memory between the steps: a
  // batch took 15-25% more CPU, with the log or without.
  static constexpr size_t kStreamChunk = 512;
  // Chunks per decision log write when the log is on (about 2 MB of log
  // lines): each direct write costs the kernel a fixed part besides its
  // bytes, and the writer thread two switches (docs/operations.md).
  static constexpr size_t kLogChunks = 4;
  Reply refuse(int status, std::string_view reason, std::string_view message) {
    metrics.error(std::string(reason));
    return text_reply(status, error_record(reason, message), "application/json");
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
    // New requests wait here while the windows move (at most one request's
    // decisions, which the hand-over waits for).
    std::lock_guard lock(current_mutex);
    std::string why;
    windows = current ? current->hand_windows_to(*next, &why) : "none";
    windows_why = why;
    current = std::move(next);  // requests holding the old version finish on it
  }
  metrics.reload(true, seconds);
  return true;
}

void Server::Impl::accept_loop() {
  while (!stopping) {
    const int fd = accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd >= 0) {
      start_connection(fd);
      continue;
    }
    if (stopping) break;
    // Out of descriptors or a connection reset before it was accepted: the
    // listener stays, and the next connection is tried a moment later.
    if (errno != EINTR && errno != ECONNABORTED) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

void Server::Impl::start_connection(int fd) {
  std::lock_guard lock(connections_mutex);
  const bool over_limit = serving_count >= options.threads;
  if (over_limit && rejecting_count >= kRejecting) {
    close(fd);  // even the 503 answerers are all busy
    return;
  }
  ++(over_limit ? rejecting_count : serving_count);
  open_fds.insert(fd);
  try {
    std::thread([this, fd, over_limit] {
      try {
        serve_connection(fd, over_limit);
      } catch (const std::exception&) {
        // Out of memory for one request: that connection closes, the server goes on.
      }
      std::lock_guard done(connections_mutex);
      open_fds.erase(fd);
      close(fd);
      --(over_limit ? rejecting_count : serving_count);
      connections_done.notify_all();
    }).detach();
  } catch (const std::system_error&) {  // no thread to be had: the connection is closed unanswered
    open_fds.erase(fd);
    close(fd);
    --(over_limit ? rejecting_count : serving_count);
  }
}

// One connection's requests, in turn, until either side closes it.
void Server::Impl::serve_connection(int fd, bool over_limit) {
  SocketStream stream(fd, options.read_timeout_ms);
  beast::flat_buffer buffer;
  buffer.reserve(
      64 << 10);  // Beast reads as much as there is room: a request in one read, not 512-byte steps
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(options.max_body_bytes);
    beast::error_code ec;
    // The body is read into a string with room for decode's padding, so
    // its lines are decided where they lie (engine::split_body_lines).
    http::read_header(stream, buffer, parser, ec);
    if (!ec && parser.content_length())
      parser.get().body().reserve(*parser.content_length() + decode::kLinePadding);
    // A client that asks before sending its body (curl does, for large
    // ones) would otherwise wait a second for the answer.
    if (!ec && !parser.is_done() && beast::iequals(parser.get()[http::field::expect], "100-continue"))
      http::write(stream, http::response<http::empty_body>{http::status::continue_, parser.get().version()},
                  ec);
    if (!ec && !parser.is_done()) http::read(stream, buffer, parser, ec);
    if (ec == http::error::end_of_stream || (ec && !parser.got_some() && buffer.size() == 0)) return;
    if (ec) {
      Reply reply = read_error(ec);
      reply.close = true;
      write_reply(stream, 11, false, reply);
      return drain_before_close(fd);
    }
    const auto start = Clock::now();
    Request& req = parser.get();
    const std::string_view target(req.target().data(), req.target().size());
    const std::string path(target.substr(0, target.find('?')));
    bool streamed = false;
    Reply reply;
    if (over_limit) {
      reply = refuse(503, "too_many_connections",
                     fmt::format("all {} connections are taken; retry later", options.threads));
      reply.retry_after = "1";
      reply.close = true;
    } else {
      reply = route(req, path, stream, streamed);
    }
    const int status = reply.status;
    const bool open = streamed ? !reply.close : write_reply(stream, req.version(), req.keep_alive(), reply);
    metrics.request(path, status, std::chrono::duration<double>(Clock::now() - start).count());
    if (!open) return;
  }
}

// A request that could not be read: too large, too slow, or not HTTP.
Reply Server::Impl::read_error(const beast::error_code& ec) {
  if (ec == http::error::body_limit)
    return refuse(
        413, "body_too_large",
        fmt::format("the body is over the limit of {} bytes (--max-body-bytes)", options.max_body_bytes));
  if (ec == boost::asio::error::timed_out)
    return refuse(
        408, "request_timeout",
        fmt::format("the request did not arrive within {} ms (--read-timeout-ms)", options.read_timeout_ms));
  if (ec == http::error::header_limit)
    return refuse(431, "headers_too_large", "the request's headers are over 8 KiB");
  return refuse(400, "bad_request", fmt::format("the request is not valid HTTP/1.1: {}", ec.message()));
}

Reply Server::Impl::route(Request& req, std::string_view path, SocketStream& stream, bool& streamed) {
  const http::verb method = req.method();
  if (method == http::verb::post && path == "/v1/decisions") return decide(req, stream, streamed);
  if (method == http::verb::post && path == "/v1/explain") return explain(req);
  if (method == http::verb::post && path == "/v1/reload") return reload_reply();
  if (method == http::verb::get && path == "/v1/policy") return json_reply(serving()->describe());
  if (method == http::verb::get && path == "/healthz") return text_reply(200, "ok\n");
  if (method == http::verb::get && path == "/readyz") {
    const bool ready = serving() != nullptr;
    return text_reply(ready ? 200 : 503, ready ? "ready\n" : "no policy loaded\n");
  }
  if (method == http::verb::get && path == "/metrics")
    return text_reply(
        200,
        metrics.render(log ? Metrics::LogFigures{log->bytes(), log->rotations(), log->direct_bytes()}
                           : Metrics::LogFigures{},
                       serving()->version()),
        "text/plain; version=0.0.4");
  return refuse(404, "not_found",
                fmt::format("no endpoint {} {}",
                            std::string_view(req.method_string().data(), req.method_string().size()), path));
}

Reply Server::Impl::decide(Request& req, SocketStream& stream, bool& streamed) {
  const BodyKind kind = body_kind(req);
  if (kind == BodyKind::Other)
    return refuse(415, "unsupported_media_type",
                  fmt::format("Content-Type `{}` is neither application/json (one event) nor "
                              "application/x-ndjson (JSON Lines)",
                              std::string_view(req[http::field::content_type].data(),
                                               req[http::field::content_type].size())));
  // Bounded work in flight: beyond it, push back rather than queue.
  struct InFlight {
    std::atomic<unsigned>& n;
    ~InFlight() { --n; }
  } guard{in_flight};
  if (++in_flight > options.max_in_flight) {
    Reply r =
        refuse(503, "overloaded",
               fmt::format("more than {} decision requests at once; retry later", options.max_in_flight));
    r.retry_after = "1";
    return r;
  }
  std::shared_ptr<ServedPolicy> policy = serving();
  std::vector<decode::Line> lines =
      engine::split_body_lines(req.body(), kind == BodyKind::Event, options.max_line_bytes);
  if (kind == BodyKind::Event && lines.size() == 1 &&
      lines[0].text.find_first_not_of(" \t\r\n") == std::string_view::npos)
    return refuse(400, "empty_body", "the request has no event");
  if (kind == BodyKind::Lines && lines.size() > kStreamChunk) {
    streamed = true;
    return stream_lines(policy, lines, req, stream);
  }
  Decided decided;
  decide_lines(policy, lines, decided);
  Reply reply;
  if (!logged(decided.records, lines, kind == BodyKind::Event, decided.summary.errors > 0, reply))
    return reply;
  metrics.decisions(policy->policy(), decided.summary);
  reply.status = kind == BodyKind::Event && has_input_errors(decided.summary) ? 400 : 200;
  reply.content_type = kind == BodyKind::Event ? "application/json" : "application/x-ndjson";
  reply.body = std::move(decided.records);
  return reply;
}

bool Server::Impl::logged(std::string_view records, const std::vector<decode::Line>& lines, bool whole,
                          bool any_errors, Reply& refused) {
  if (!log) return true;
  // Each connection's thread keeps its log buffer: its room is reused
  // rather than allocated (and its pages faulted in) anew per request.
  thread_local LogLines buffer;
  buffer.clear(0);  // written through the page cache (DecisionLog::append)
  log_lines(records, lines, whole, any_errors, buffer);
  std::string error;
  const DecisionLog::Result result = log->append(buffer.text(), &error);
  if (buffer.capacity() > kKeptLogBuffer) buffer.release();
  return log_accepted(result, error, refused);
}

bool Server::Impl::log_accepted(DecisionLog::Result result, const std::string& error, Reply& refused) {
  switch (result) {
    case DecisionLog::Result::Ok: return true;
    case DecisionLog::Result::Busy:
      refused = refuse(503, "decision_log_busy", "the decision log is busy; retry later");
      refused.retry_after = "1";
      return false;
    case DecisionLog::Result::Failed:
      refused = refuse(503, "decision_log_failed",
                       fmt::format("the decision could not be logged, so it is not returned: {}", error));
      refused.retry_after = "5";
      return false;
  }
  return false;
}

Reply Server::Impl::stream_lines(std::shared_ptr<ServedPolicy> policy, const std::vector<decode::Line>& lines,
                                 const Request& req, SocketStream& stream) {
  // Decided and sent a chunk of lines at a time, each chunk logged before it
  // leaves; a log failure mid-way ends the stream with an error record (the
  // status is already sent), and a client gone mid-way stops the deciding.
  // With the log on, a group of kLogChunks chunks is one write, done by the
  // log's writer thread while this one decides the next group; a group's
  // records leave once its write is done.
  http::response<http::empty_body> res{http::status::ok, req.version()};
  res.set(http::field::content_type, "application/x-ndjson");
  res.keep_alive(req.keep_alive());
  res.chunked(true);
  http::response_serializer<http::empty_body> head{res};
  beast::error_code ec;
  http::write_header(stream, head, ec);
  Reply reply;  // only its status and close are used: the body is sent here
  struct Group {
    Decided decided;                         // its chunks' records, one after the other
    std::vector<engine::Summary> summaries;  // each chunk's
  } groups[2];
  thread_local LogLines log_buffers[2];
  // Every write handed to the log is waited for before this returns (its
  // lines are this thread's buffers), however it returns.
  struct Outstanding {
    DecisionLog* log;
    DecisionLog::Ticket writes[2];
    void wait_all() {
      std::string ignored;
      for (DecisionLog::Ticket& w : writes)
        if (w) {
          log->wait(w, &ignored);
          w.reset();
        }
    }
    ~Outstanding() { wait_all(); }
  } outstanding{log.get(), {}};
  // Waits for group `slot`'s log write and sends its records; false when
  // the stream ends there.
  auto finish = [&](int slot) {
    if (log) {
      std::string error;
      Reply refused;
      const DecisionLog::Result result = log->wait(outstanding.writes[slot], &error);
      outstanding.writes[slot].reset();
      if (!log_accepted(result, error, refused)) {
        boost::asio::write(stream, http::make_chunk(boost::asio::buffer(refused.body)), ec);
        return false;
      }
    }
    for (const engine::Summary& summary : groups[slot].summaries)
      metrics.decisions(policy->policy(), summary);
    boost::asio::write(stream, http::make_chunk(boost::asio::buffer(groups[slot].decided.records)), ec);
    return !ec;
  };
  const size_t group_lines = kStreamChunk * (log ? kLogChunks : 1);
  int slot = 0;
  bool pending = false, stopped = false;  // pending: group 1 - slot awaits finish()
  for (size_t next = 0; !ec && next < lines.size();) {
    Group& group = groups[slot];
    group.decided.records.clear();  // its room is kept for the group after next
    group.summaries.clear();
    LogLines& buffer = log_buffers[slot];
    if (log) buffer.clear(log->next_block_offset());  // where a direct write can take it
    for (const size_t end = std::min(lines.size(), next + group_lines); next < end;) {
      const size_t chunk_end = std::min(end, next + kStreamChunk);
      const std::vector<decode::Line> chunk(lines.begin() + static_cast<std::ptrdiff_t>(next),
                                            lines.begin() + static_cast<std::ptrdiff_t>(chunk_end));
      next = chunk_end;
      const size_t records_from = group.decided.records.size();
      decide_lines(policy, chunk, group.decided);
      group.summaries.push_back(group.decided.summary);
      if (log)
        log_lines(std::string_view(group.decided.records).substr(records_from), chunk, false,
                  group.decided.summary.errors > 0, buffer);
    }
    if (!log) {  // nothing to wait for: sent while its records are in the cache
      if (!finish(slot)) break;
      continue;
    }
    outstanding.writes[slot] = log->submit(buffer);
    if (pending && !finish(1 - slot)) {
      stopped = true;
      break;
    }
    pending = true;
    slot = 1 - slot;
  }
  if (!stopped && pending && !ec) finish(1 - slot);
  outstanding.wait_all();
  for (LogLines& buffer : log_buffers)
    if (buffer.capacity() > kKeptLogBuffer) buffer.release();
  if (!ec) boost::asio::write(stream, http::make_chunk_last(), ec);
  reply.close = ec || !req.keep_alive();
  return reply;
}

Reply Server::Impl::explain(const Request& req) {
  if (body_kind(req) != BodyKind::Event)
    return refuse(415, "unsupported_media_type", "POST /v1/explain takes one event as application/json");
  std::shared_ptr<ServedPolicy> policy = serving();
  std::string record = policy->explain(req.body());
  if (record.empty()) return refuse(500, "internal", "this policy cannot be traced");
  return json_reply(std::move(record));
}

Reply Server::Impl::reload_reply() {
  std::string diagnostics;
  if (load(diagnostics)) {
    std::string body =
        fmt::format("{{\"reloaded\":true,\"version\":{},\"policy_hash\":\"{}\",\"windows\":\"{}\"",
                    serving()->version(), serving()->stamp().policy_hash(), windows);
    if (!windows_why.empty()) {
      body += ",\"windows_reset_because\":";
      append_json_string(body, windows_why);
    }
    body += "}\n";
    return json_reply(std::move(body));
  }
  std::string body =
      "{\"reloaded\":false,\"version\":" + std::to_string(serving()->version()) + ",\"diagnostics\":";
  append_json_string(body, diagnostics);
  body += "}\n";
  return text_reply(422, std::move(body), "application/json");
}

Server::Server(ServerOptions options, PolicyLoader loader) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  impl_->loader = std::move(loader);
}

Server::~Server() {
  if (impl_->listen_fd >= 0) close(impl_->listen_fd);
}

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
  s.listen_fd = listen_tcp(s.options.host, s.options.port, &s.bound_port, &error);
  return s.listen_fd >= 0;
}

int Server::port() const {
  return impl_->bound_port;
}

void Server::run() {
  Impl& s = *impl_;
  s.accept_loop();
  // Stopping: the connections' reads end, and each finishes what it was
  // answering before its thread ends.
  std::unique_lock lock(s.connections_mutex);
  for (int fd : s.open_fds) shutdown(fd, SHUT_RD);
  s.connections_done.wait(lock, [&] { return s.serving_count + s.rejecting_count == 0; });
}

void Server::stop() {
  impl_->stopping = true;
  if (impl_->listen_fd >= 0) shutdown(impl_->listen_fd, SHUT_RDWR);  // wakes the accept
}

bool Server::reload(std::string& diagnostics) {
  return impl_->load(diagnostics);
}

}  // namespace edict::server
