// `edict serve` latency and throughput on loopback (issue 17), beside a raw
// TCP ping-pong measured in the same run:
//
//   bench_serve --edict build/cli/edict --policy policies/reference.edict --events EVENTS.jsonl
//               [--rate 10000] [--seconds 5] [--connections 4]
//
// The server runs as a child process pinned to CPU 0 (the client threads to
// the other CPUs). The fixed-rate load is open-loop per connection and
// accounts for coordinated omission as wrk2 does: request i of a connection
// is due at t0 + i / rate, and its latency runs from when it was due, not
// from when a delayed send went out, so a stall counts against every
// request it held up. Every figure is printed; nothing is asserted.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {
using Clock = std::chrono::steady_clock;

void pin_to(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  sched_setaffinity(0, sizeof set, &set);
}
void pin_off_cpu0() {
  cpu_set_t set;
  CPU_ZERO(&set);
  const long n = sysconf(_SC_NPROCESSORS_ONLN);
  for (long c = 1; c < n; ++c) CPU_SET(c, &set);
  if (n > 1) sched_setaffinity(0, sizeof set, &set);
}

int connect_to(int port) {
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

bool send_all(int fd, const std::string& s) {
  size_t done = 0;
  while (done < s.size()) {
    ssize_t n = send(fd, s.data() + done, s.size() - done, MSG_NOSIGNAL);
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

// Reads one HTTP response (Content-Length or chunked); false on a closed socket.
bool read_response(int fd, std::string& buf, int* status = nullptr) {
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
Percentiles percentiles(std::vector<double> us) {
  if (us.empty()) return {0, 0, 0, 0};
  std::sort(us.begin(), us.end());
  auto at = [&](double q) { return us[std::min(us.size() - 1, static_cast<size_t>(q * us.size()))]; };
  return {at(0.5), at(0.99), at(0.999), us.back()};
}

// A 300-byte ping-pong with a thread echoing on CPU 0.
Percentiles raw_tcp(int rounds) {
  int listener = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(listener, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(listener, reinterpret_cast<sockaddr*>(&a), &len);
  listen(listener, 1);
  std::thread echo([&] {
    pin_to(0);
    int c = accept(listener, nullptr, nullptr);
    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    char b[300];
    for (;;) {
      size_t got = 0;
      while (got < sizeof b) {
        ssize_t n = recv(c, b + got, sizeof b - got, 0);
        if (n <= 0) {
          close(c);
          return;
        }
        got += static_cast<size_t>(n);
      }
      if (send(c, b, sizeof b, MSG_NOSIGNAL) != static_cast<ssize_t>(sizeof b)) break;
    }
    close(c);
  });
  int fd = connect_to(ntohs(a.sin_port));
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

std::string post(const std::string& body, const char* type) {
  return "POST /v1/decisions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: " + std::string(type) +
         "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

// One connection, one request at a time.
Percentiles sequential(int port, const std::vector<std::string>& requests, int rounds) {
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
  double achieved = 0;
  uint64_t errors = 0;
};

// `connections` connections, each sending on its own schedule at rate / connections.
RateResult fixed_rate(int port, const std::vector<std::string>& requests, double rate, double seconds,
                      int connections) {
  std::vector<std::vector<double>> lat(connections);
  std::atomic<uint64_t> errors{0}, done{0};
  const auto start = Clock::now() + std::chrono::milliseconds(50);
  std::vector<std::thread> threads;
  for (int c = 0; c < connections; ++c)
    threads.emplace_back([&, c] {
      pin_off_cpu0();
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
        int status = 0;
        if (!send_all(fd, requests[(i * connections + c) % requests.size()]) ||
            !read_response(fd, buf, &status)) {
          ++errors;
          break;
        }
        if (status != 200) ++errors;
        ++done;
        if (i >= total / 10)
          lat[c].push_back(std::chrono::duration<double, std::micro>(Clock::now() - due).count());
      }
      close(fd);
    });
  for (auto& t : threads) t.join();
  std::vector<double> all;
  for (auto& v : lat) all.insert(all.end(), v.begin(), v.end());
  RateResult r;
  r.latency = percentiles(all);
  r.achieved = static_cast<double>(done.load()) / seconds;
  r.errors = errors;
  return r;
}

double batch_mb_per_s(int port, const std::string& body, int rounds) {
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

pid_t start_server(const std::string& edict, const std::string& policy, const std::string& port_file,
                   const std::string& log) {
  unlink(port_file.c_str());
  pid_t pid = fork();
  if (pid == 0) {
    pin_to(0);
    std::vector<std::string> args{edict,         "serve",   policy,      "--listen", "127.0.0.1:0",
                                  "--port-file", port_file, "--threads", "16",       "--max-body-bytes",
                                  "1073741824"};
    if (!log.empty()) args.insert(args.end(), {"--decision-log", log, "--decision-log-rotate-bytes", "0"});
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 2);
    execv(argv[0], argv.data());
    _exit(127);
  }
  for (int i = 0; i < 600 && access(port_file.c_str(), R_OK) != 0; ++i) usleep(10000);
  return pid;
}

}  // namespace

int main(int argc, char** argv) {
  std::string edict, policy, events;
  double rate = 10000, seconds = 5;
  int connections = 4;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--edict")
      edict = v;
    else if (k == "--policy")
      policy = v;
    else if (k == "--events")
      events = v;
    else if (k == "--rate")
      rate = std::stod(v);
    else if (k == "--seconds")
      seconds = std::stod(v);
    else if (k == "--connections")
      connections = std::stoi(v);
  }
  if (edict.empty() || policy.empty() || events.empty()) {
    std::fprintf(stderr,
                 "usage: bench_serve --edict PATH --policy FILE --events FILE [--rate R] [--seconds S] "
                 "[--connections C]\n");
    return 2;
  }
  std::ifstream in(events, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string body = ss.str();
  std::vector<std::string> requests;
  std::istringstream lines(body);
  for (std::string l; std::getline(lines, l) && requests.size() < 100000;)
    if (!l.empty()) requests.push_back(post(l, "application/json"));
  pin_off_cpu0();
  signal(SIGPIPE, SIG_IGN);

  const Percentiles tcp = raw_tcp(20000);
  std::printf("loopback, server pinned to CPU 0; %zu distinct events, %.1f MB batch body\n", requests.size(),
              body.size() / 1e6);
  std::printf("%-44s %9s %9s %9s %9s\n", "", "p50 us", "p99 us", "p99.9 us", "max us");
  std::printf("%-44s %9.1f %9.1f %9.1f %9.1f\n", "raw TCP 300-byte ping-pong", tcp.p50, tcp.p99, tcp.p999,
              tcp.max);
  char tmpl[] = "/tmp/bench-serve-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  for (bool with_log : {false, true}) {
    const std::string log = with_log ? dir + "/decisions.jsonl" : "";
    pid_t pid = start_server(edict, policy, dir + "/port", log);
    std::ifstream pf(dir + "/port");
    int port = 0;
    pf >> port;
    if (port <= 0) {
      std::fprintf(stderr, "bench_serve: the server did not start\n");
      return 1;
    }
    const char* tag = with_log ? " (decision log, fsync 100 ms)" : "";
    const Percentiles seq = sequential(port, requests, 20000);
    std::printf("%-44s %9.1f %9.1f %9.1f %9.1f\n",
                ("sequential keep-alive request" + std::string(tag)).c_str(), seq.p50, seq.p99, seq.p999,
                seq.max);
    const RateResult fr = fixed_rate(port, requests, rate, seconds, connections);
    std::printf("%-44s %9.1f %9.1f %9.1f %9.1f   (%.0f/s achieved, %lu errors)\n",
                (std::to_string(static_cast<int>(rate)) + "/s fixed rate, " + std::to_string(connections) +
                 " conns" + tag)
                    .c_str(),
                fr.latency.p50, fr.latency.p99, fr.latency.p999, fr.latency.max, fr.achieved,
                static_cast<unsigned long>(fr.errors));
    std::printf("%-44s %9.1f MB/s\n", ("batch JSON Lines" + std::string(tag)).c_str(),
                batch_mb_per_s(port, body, 3));
    kill(pid, SIGTERM);
    waitpid(pid, nullptr, 0);
    if (with_log) unlink(log.c_str());
  }
  unlink((dir + "/port").c_str());
  rmdir(dir.c_str());
  std::printf("p50 against raw TCP: see the rows above (target: within 2x); p99 target 500 us\n");
  return 0;
}
