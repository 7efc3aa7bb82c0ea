// The loopback HTTP client of the serve benchmarks (bench_serve,
// bench_http_candidates): raw sockets, a raw TCP ping-pong baseline,
// sequential and fixed-rate (coordinated-omission corrected) latency.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace edict::bench::loopback {
using Clock = std::chrono::steady_clock;

inline void pin_to(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  sched_setaffinity(0, sizeof set, &set);
}
inline void pin_off_cpu0() {
  cpu_set_t set;
  CPU_ZERO(&set);
  const long n = sysconf(_SC_NPROCESSORS_ONLN);
  for (long c = 1; c < n; ++c) CPU_SET(c, &set);
  if (n > 1) sched_setaffinity(0, sizeof set, &set);
}

inline int connect_to(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

inline bool send_all(int fd, const std::string& s) {
  size_t done = 0;
  while (done < s.size()) {
    ssize_t n = send(fd, s.data() + done, s.size() - done, MSG_NOSIGNAL);
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

// Reads one HTTP response (Content-Length or chunked); false on a closed socket.
inline bool read_response(int fd, std::string& buf, int* status = nullptr) {
  for (;;) {
    size_t head_end = buf.find("\r\n\r\n");
    if (head_end != std::string::npos) {
      const std::string head = buf.substr(0, head_end);
      if (status) *status = std::atoi(head.c_str() + 9);
      size_t cl = head.find("Content-Length: ");
      if (cl != std::string::npos) {
        const size_t len = std::strtoul(head.c_str() + cl + 16, nullptr, 10);
        if (buf.size() >= head_end + 4 + len) {
          buf.erase(0, head_end + 4 + len);
          return true;
        }
      } else if (buf.size() >= 5 && buf.compare(buf.size() - 5, 5, "0\r\n\r\n") == 0) {
        buf.clear();  // chunked: the last chunk ends the response
        return true;
      }
    }
    char tmp[1 << 16];
    ssize_t n = recv(fd, tmp, sizeof tmp, 0);
    if (n <= 0) return false;
    buf.append(tmp, static_cast<size_t>(n));
  }
}

struct Percentiles {
  double p50, p99, p999, max;
};
inline Percentiles percentiles(std::vector<double> us) {
  if (us.empty()) return {0, 0, 0, 0};
  std::sort(us.begin(), us.end());
  auto at = [&](double q) { return us[std::min(us.size() - 1, static_cast<size_t>(q * us.size()))]; };
  return {at(0.5), at(0.99), at(0.999), us.back()};
}

// A listening socket on 127.0.0.1 at a free port (written to *port).
inline int loopback_listener(int backlog, uint16_t* port) {
  const int listener = socket(AF_INET, SOCK_STREAM, 0);
  const int one = 1;
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(listener, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(listener, reinterpret_cast<sockaddr*>(&a), &len);
  listen(listener, backlog);
  *port = ntohs(a.sin_port);
  return listener;
}

// Accepts one connection on CPU 0 and echoes its 300-byte messages until it closes.
inline void echo_300_byte_messages(int listener) {
  pin_to(0);
  const int fd = accept(listener, nullptr, nullptr);
  const int on = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
  char b[300];
  for (size_t got = 0;;) {
    const ssize_t n = recv(fd, b + got, sizeof b - got, 0);
    if (n <= 0) break;
    got += static_cast<size_t>(n);
    if (got < sizeof b) continue;
    got = 0;
    if (send(fd, b, sizeof b, MSG_NOSIGNAL) != static_cast<ssize_t>(sizeof b)) break;
  }
  close(fd);
}

// A 300-byte ping-pong with a thread echoing on CPU 0.
inline Percentiles raw_tcp(int rounds) {
  uint16_t port = 0;
  const int listener = loopback_listener(1, &port);
  std::thread echo([listener] { echo_300_byte_messages(listener); });
  int fd = connect_to(port);
  std::vector<double> us;
  char b[300] = {};
  for (int i = 0; i < rounds; ++i) {
    auto t = Clock::now();
    send(fd, b, sizeof b, MSG_NOSIGNAL);
    size_t got = 0;
    while (got < sizeof b)
      got += static_cast<size_t>(std::max<ssize_t>(0, recv(fd, b + got, sizeof b - got, 0)));
    if (i >= rounds / 10) us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t).count());
  }
  close(fd);
  echo.join();
  close(listener);
  return percentiles(us);
}

inline std::string post(const std::string& body, const char* type) {
  return "POST /v1/decisions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: " + std::string(type) +
         "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

// One connection, one request at a time.
inline Percentiles sequential(int port, const std::vector<std::string>& requests, int rounds) {
  int fd = connect_to(port);
  std::string buf;
  std::vector<double> us;
  for (int i = 0; i < rounds; ++i) {
    auto t = Clock::now();
    if (!send_all(fd, requests[i % requests.size()]) || !read_response(fd, buf)) break;
    if (i >= rounds / 10) us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t).count());
  }
  close(fd);
  return percentiles(us);
}

struct RateResult {
  Percentiles latency;
  // How late each request was sent after its due time: the client's own
  // lateness (its wake-up, its threads' turns on their CPU), or the previous
  // answer on its connection still awaited. Part of `latency` that is not
  // the server's when the server keeps up.
  Percentiles send_delay;
  double achieved = 0;
  uint64_t errors = 0;
};

// `connections` connections, each sending on its own schedule at rate /
// connections; `round_trip(fd, i, buf)` sends request i and reads its
// answer (false: failed; `ok` false: answered with an error).
template <class RoundTrip>
inline RateResult paced(int port, double rate, double seconds, int connections, RoundTrip round_trip) {
  std::vector<std::vector<double>> lat(connections), late(connections);
  std::atomic<uint64_t> errors{0}, done{0};
  const auto start = Clock::now() + std::chrono::milliseconds(50);
  std::vector<std::thread> threads;
  for (int c = 0; c < connections; ++c)
    threads.emplace_back([&, c] {
      pin_off_cpu0();
      // Sleeps end when asked, not up to 50 us later (the default timer
      // slack), which counted against the server from the due time.
      prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
      int fd = connect_to(port);
      std::string buf;
      const double interval = connections / rate;  // seconds between this connection's requests
      const uint64_t total = static_cast<uint64_t>(seconds * rate / connections);
      for (uint64_t i = 0; i < total; ++i) {
        const auto due = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(
                                     interval * static_cast<double>(i) + interval * c / connections));
        while (Clock::now() < due) {
          // busy-wait the last 50 us; sleep before that
          if (due - Clock::now() > std::chrono::microseconds(50))
            std::this_thread::sleep_for(due - Clock::now() - std::chrono::microseconds(50));
        }
        bool ok = true;
        const auto sent = Clock::now();
        if (fd < 0 || !round_trip(fd, i * connections + c, buf, ok)) {
          ++errors;
          break;
        }
        if (!ok) ++errors;
        ++done;
        if (i >= total / 10) {
          lat[c].push_back(std::chrono::duration<double, std::micro>(Clock::now() - due).count());
          late[c].push_back(std::chrono::duration<double, std::micro>(sent - due).count());
        }
      }
      if (fd >= 0) close(fd);
    });
  for (auto& t : threads) t.join();
  std::vector<double> all, all_late;
  for (auto& v : lat) all.insert(all.end(), v.begin(), v.end());
  for (auto& v : late) all_late.insert(all_late.end(), v.begin(), v.end());
  RateResult r;
  r.latency = percentiles(all);
  r.send_delay = percentiles(all_late);
  r.achieved = static_cast<double>(done.load()) / seconds;
  r.errors = errors;
  return r;
}

// HTTP requests at a fixed rate (open loop per connection, latency from
// each request's due time: coordinated omission counted).
inline RateResult fixed_rate(int port, const std::vector<std::string>& requests, double rate, double seconds,
                             int connections) {
  return paced(port, rate, seconds, connections, [&](int fd, uint64_t i, std::string& buf, bool& ok) {
    int status = 0;
    if (!send_all(fd, requests[i % requests.size()]) || !read_response(fd, buf, &status)) return false;
    ok = status == 200;
    return true;
  });
}

// The raw 300-byte ping-pong paced like fixed_rate, to echo threads on CPU
// 0: the round trip when the CPUs go idle between requests, as they do at
// a fixed rate (a virtual CPU woken from idle costs tens of microseconds
// that a back-to-back ping-pong never pays).
inline RateResult raw_tcp_fixed_rate(double rate, double seconds, int connections) {
  uint16_t port = 0;
  const int listener = loopback_listener(connections, &port);
  std::vector<std::thread> echoes;
  for (int c = 0; c < connections; ++c) echoes.emplace_back([listener] { echo_300_byte_messages(listener); });
  const RateResult r = paced(port, rate, seconds, connections, [](int fd, uint64_t, std::string&, bool&) {
    char b[300] = {};
    if (send(fd, b, sizeof b, MSG_NOSIGNAL) != static_cast<ssize_t>(sizeof b)) return false;
    for (size_t got = 0; got < sizeof b;) {
      const ssize_t n = recv(fd, b + got, sizeof b - got, 0);
      if (n <= 0) return false;
      got += static_cast<size_t>(n);
    }
    return true;
  });
  for (auto& t : echoes) t.join();
  close(listener);
  return r;
}

inline double batch_mb_per_s(int port, const std::string& body, int rounds) {
  int fd = connect_to(port);
  std::string req = post(body, "application/x-ndjson"), buf;
  double best = 0;
  for (int i = 0; i < rounds; ++i) {
    auto t = Clock::now();
    if (!send_all(fd, req) || !read_response(fd, buf)) break;
    best = std::max(best, body.size() / 1e6 / std::chrono::duration<double>(Clock::now() - t).count());
  }
  close(fd);
  return best;
}

}  // namespace edict::bench::loopback
