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
// request it held up. Under each fixed-rate row: how late the requests were
// sent (the client's own share of the latency, or a connection still
// waiting) and the share the server answered within 100 us, 250 us, ...
// (its /metrics histogram); beside the back-to-back ping-pong, one paced
// like the fixed-rate load, whose CPUs go idle between requests as the
// server's do. Every figure is printed; nothing is asserted.
#include "bench/loopback_client.h"

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
using namespace edict::bench::loopback;

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

// The machine's load (shared machines: the figures are read against it).
std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string line;
  std::getline(in, line);
  return line + "\n";
}

// The server's own request durations (GET /metrics: its histogram, from a
// request read to its answer written), as cumulative counts per bucket.
std::vector<std::pair<std::string, double>> server_durations(int port) {
  std::vector<std::pair<std::string, double>> buckets;
  const int fd = connect_to(port);
  if (fd < 0 || !send_all(fd, "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")) return buckets;
  std::string text;
  char chunk[1 << 16];
  for (ssize_t n; text.find("edict_request_duration_seconds_count") == std::string::npos &&
                  (n = recv(fd, chunk, sizeof chunk, 0)) > 0;)
    text.append(chunk, static_cast<size_t>(n));
  close(fd);
  static const std::string kKey = "edict_request_duration_seconds_bucket{le=\"";
  for (size_t at = text.find(kKey); at != std::string::npos; at = text.find(kKey, at + 1)) {
    const size_t le = at + kKey.size(), quote = text.find('"', le);
    buckets.emplace_back(text.substr(le, quote - le), std::atof(text.c_str() + text.find("} ", quote) + 2));
  }
  return buckets;
}

// The share of the requests between two readings that the server answered
// within each bucket: "<=100us 97.1%, <=250us 99.5%, ...".
std::string duration_shares(const std::vector<std::pair<std::string, double>>& before,
                            const std::vector<std::pair<std::string, double>>& after) {
  if (before.size() != after.size() || after.empty()) return "(no /metrics)";
  const double total = after.back().second - before.back().second;
  std::string out;
  for (size_t b = 0; b + 1 < after.size() && b < 5; ++b) {
    const double le_us = std::atof(after[b].first.c_str()) * 1e6;
    char part[64];
    std::snprintf(part, sizeof part, "%s<=%.0fus %.2f%%", out.empty() ? "" : ", ", le_us,
                  total > 0 ? 100 * (after[b].second - before[b].second) / total : 0);
    out += part;
  }
  return out;
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

  std::printf("load average before: %s", load_average().c_str());
  const Percentiles tcp = raw_tcp(20000);
  std::printf("loopback, server pinned to CPU 0; %zu distinct events, %.1f MB batch body\n", requests.size(),
              body.size() / 1e6);
  std::printf("%-60s %9s %9s %9s %9s %8s\n", "", "p50 us", "p99 us", "p99.9 us", "max us", "p50/raw");
  auto row = [&](const std::string& name, const Percentiles& p, const std::string& extra = "") {
    std::printf("%-60s %9.1f %9.1f %9.1f %9.1f %7.2fx%s\n", name.c_str(), p.p50, p.p99, p.p999, p.max,
                p.p50 / tcp.p50, extra.c_str());
  };
  row("raw TCP 300-byte ping-pong", tcp);
  const RateResult tcp_paced = raw_tcp_fixed_rate(rate, seconds, connections);
  row("raw TCP ping-pong at " + std::to_string(static_cast<int>(rate)) + "/s, " +
          std::to_string(connections) + " conns (idle CPUs between)",
      tcp_paced.latency);
  char tmpl[] = "/tmp/bench-serve-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  double batch[2] = {0, 0}, rate_p50[2] = {0, 0}, rate_p99[2] = {0, 0};
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
    const std::string tag = with_log ? ", decision log (fsync 100 ms)" : "";
    row("sequential keep-alive request" + tag, sequential(port, requests, 20000));
    const auto durations_before = server_durations(port);
    const RateResult fr = fixed_rate(port, requests, rate, seconds, connections);
    const auto durations_after = server_durations(port);
    row(std::to_string(static_cast<int>(rate)) + "/s fixed rate, " + std::to_string(connections) + " conns" +
            tag,
        fr.latency,
        "  (" + std::to_string(static_cast<long>(fr.achieved)) + "/s, " + std::to_string(fr.errors) +
            " errors)");
    row("  of which: sent late (the client, or its connection busy)", fr.send_delay);
    std::printf("  the server's own time per request (read to written): %s\n",
                duration_shares(durations_before, durations_after).c_str());
    rate_p50[with_log] = fr.latency.p50;
    rate_p99[with_log] = fr.latency.p99;
    batch[with_log] = batch_mb_per_s(port, body, 3);
    kill(pid, SIGTERM);
    waitpid(pid, nullptr, 0);
    if (with_log) unlink(log.c_str());
  }
  unlink((dir + "/port").c_str());
  rmdir(dir.c_str());
  std::printf("%-60s %9.1f MB/s\n", "batch JSON Lines", batch[0]);
  std::printf("%-60s %9.1f MB/s\n", "batch JSON Lines, decision log (fsync 100 ms)", batch[1]);
  std::printf(
      "targets: fixed-rate p50 <= 2x raw TCP: %.2fx; p99 <= 500 us: %.0f us; batch >= 200 MB/s: %.0f\n",
      rate_p50[0] / tcp.p50, rate_p99[0], batch[0]);
  std::printf("decision log on (target within 20%%): fixed-rate p50 %+.0f%%, p99 %+.0f%%, batch %+.0f%%\n",
              100 * (rate_p50[1] / rate_p50[0] - 1), 100 * (rate_p99[1] / rate_p99[0] - 1),
              100 * (batch[1] / batch[0] - 1));
  std::printf("load average after: %s", load_average().c_str());
  return 0;
}
