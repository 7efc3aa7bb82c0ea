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
