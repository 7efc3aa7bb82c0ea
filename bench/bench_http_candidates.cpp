// The two HTTP libraries considered for `edict serve` (docs/operations.md),
// measured as the server uses them and nothing else: each answers POST
// /v1/decisions with a fixed 400-byte record, on a server thread pinned to
// CPU 0, with TCP_NODELAY, keep-alive, and the same client and fixed-rate
// load as bench_serve, beside a raw TCP ping-pong in the same run.
//
//   bench_http_candidates [--rate 10000] [--seconds 3] [--connections 4]
#include <httplib.h>

#include <boost/asio.hpp>
#include <boost/beast.hpp>

#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "bench/loopback_client.h"

namespace {
using namespace edict::bench::loopback;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = boost::asio::ip::tcp;

const std::string kRecord(400, 'x');

// Beast, synchronous, one thread per connection (as httplib's pool does).
void beast_session(tcp::socket socket) {
  socket.set_option(tcp::no_delay(true));
  beast::flat_buffer buffer;
  beast::error_code ec;
  for (;;) {
    http::request<http::string_body> req;
    http::read(socket, buffer, req, ec);
    if (ec) break;
    http::response<http::string_body> res{http::status::ok, req.version()};
    res.set(http::field::content_type, "application/json");
    res.keep_alive(req.keep_alive());
    res.body() = kRecord;
    res.prepare_payload();
    http::write(socket, res, ec);
    if (ec || !res.keep_alive()) break;
  }
  socket.shutdown(tcp::socket::shutdown_send, ec);
}

struct Row {
  const char* name;
  Percentiles seq;
  RateResult rate;
};

void print(const Row& r, double rate, int connections) {
  std::printf("%-34s %9.1f %9.1f %9.1f | %9.1f %9.1f %9.1f  (%.0f/s, %lu errors; %g/s over %d conns)\n",
              r.name, r.seq.p50, r.seq.p99, r.seq.p999, r.rate.latency.p50, r.rate.latency.p99,
              r.rate.latency.p999, r.rate.achieved, static_cast<unsigned long>(r.rate.errors), rate,
              connections);
}

}  // namespace

int main(int argc, char** argv) {
  double rate = 10000, seconds = 3;
  int connections = 4;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--rate") rate = std::stod(v);
    if (k == "--seconds") seconds = std::stod(v);
    if (k == "--connections") connections = std::stoi(v);
  }
  signal(SIGPIPE, SIG_IGN);
  pin_off_cpu0();
  const std::vector<std::string> requests{post(std::string(300, ' ') + "{}", "application/json")};
  std::printf("%-34s %9s %9s %9s | %9s %9s %9s\n", "", "seq p50", "seq p99", "seq p99.9", "rate p50",
              "rate p99", "rate p99.9");
  const Percentiles tcp_rt = raw_tcp(20000);
  std::printf("%-34s %9.1f %9.1f %9.1f |\n", "raw TCP 300-byte ping-pong", tcp_rt.p50, tcp_rt.p99,
              tcp_rt.p999);

  {  // cpp-httplib 0.11
    httplib::Server server;
    server.set_tcp_nodelay(true);
    server.set_keep_alive_max_count(1'000'000);
    server.new_task_queue = [] { return new httplib::ThreadPool(16); };
    server.Post("/v1/decisions", [](const httplib::Request&, httplib::Response& r) {
      r.set_content(kRecord, "application/json");
    });
    const int port = server.bind_to_any_port("127.0.0.1");
    std::thread t([&] {
      pin_to(0);
      server.listen_after_bind();
    });
    while (!server.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    Row r{"cpp-httplib 0.11", sequential(port, requests, 20000),
          fixed_rate(port, requests, rate, seconds, connections)};
    print(r, rate, connections);
    server.stop();
    t.join();
  }
  {  // Boost.Beast
    boost::asio::io_context ioc;
    tcp::acceptor acceptor(ioc, tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
    const int port = acceptor.local_endpoint().port();
    std::atomic<bool> stop{false};
    std::thread t([&] {
      pin_to(0);
      while (!stop) {
        tcp::socket socket(ioc);
        beast::error_code ec;
        acceptor.accept(socket, ec);
        if (ec || stop) break;
        std::thread([s = std::move(socket)]() mutable {
          pin_to(0);
          beast_session(std::move(s));
        }).detach();
      }
    });
    Row r{"Boost.Beast (sync, thread/conn)", sequential(port, requests, 20000),
          fixed_rate(port, requests, rate, seconds, connections)};
    print(r, rate, connections);
    stop = true;
    close(connect_to(port));  // wakes the accept
    t.join();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // sessions see their clients close
  }
  return 0;
}
