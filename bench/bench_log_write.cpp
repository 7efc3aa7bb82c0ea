// The decision log's write paths alone, on one CPU (CPU 0, as bench_serve
// pins the server): what appending a logged batch's bytes costs the kernel,
// apart from deciding them (docs/operations.md, "Third pass"):
//
//   bench_log_write [--dir /tmp] [--mb 110] [--rounds 5] [--piece-kb 512]
//
// Each round appends --mb MB in --piece-kb pieces (512 KB: a 512-line
// chunk's log lines; `edict serve` writes a streamed body's log 2,048 lines,
// about 2,200 KB, at a time) while a syncer thread fdatasyncs every 100 ms and drops the synced
// pages, as `edict serve --decision-log` does:
//   shipped     support/atomic_file.h's AppendOnlyFile (blocks allocated ahead);
//   shipped, direct  the same with its direct path (whole blocks O_DIRECT,
//               the partial ones at each end through the cache), as
//               `edict serve` writes a streamed chunk's log lines;
//   plain       write(2) to an O_APPEND file, no blocks allocated ahead;
//   direct      O_DIRECT writes of 4 MB and 0.5 MB aligned pieces (no page
//               cache, so no syncer; one fdatasync at the end): the floor.
// It prints each thread's CPU time (CLOCK_THREAD_CPUTIME_ID: what the
// server's CPU would pay) and the wall time, per round (the buffered rows'
// wall time includes the syncer's last wait and sync). The pieces are the
// same bytes each time, in the CPU's cache: a server's log lines are not
// always, so its writes cost more. Nothing is asserted.
#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "support/atomic_file.h"

namespace {
using Clock = std::chrono::steady_clock;

double thread_ms() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) * 1e3 + static_cast<double>(t.tv_nsec) / 1e6;
}

void pin_to_cpu0() {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(0, &set);
  sched_setaffinity(0, sizeof set, &set);
}

// A log line's worth of bytes: about 1,070-byte lines.
std::string log_piece(size_t bytes) {
  std::string s(bytes, 'x');
  for (size_t i = 1069; i < s.size(); i += 1070) s[i] = '\n';
  return s;
}

struct Figures {
  double write_ms = 0, sync_ms = 0, wall_ms = 0;
};

// Appends `total` bytes in `piece`s through `append` while a thread runs
// `sync_and_drop` every 100 ms.
template <class Append, class SyncAndDrop>
Figures with_syncer(uint64_t total, const std::string& piece, Append append, SyncAndDrop sync_and_drop) {
  std::atomic<bool> stop{false};
  double sync_ms = 0;
  std::thread syncer([&] {
    pin_to_cpu0();
    const double start = thread_ms();
    while (!stop) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      sync_and_drop();
    }
    sync_and_drop();
    sync_ms = thread_ms() - start;
  });
  Figures f;
  const auto wall = Clock::now();
  for (uint64_t done = 0; done < total; done += piece.size()) {
    const double before = thread_ms();
    if (!append(piece)) {
      std::perror("bench_log_write: append");
      std::exit(1);
    }
    f.write_ms += thread_ms() - before;
  }
  stop = true;
  syncer.join();
  f.sync_ms = sync_ms;
  f.wall_ms = std::chrono::duration<double, std::milli>(Clock::now() - wall).count();
  return f;
}

std::unique_ptr<edict::AppendOnlyFile> open_log(const std::string& path) {
  std::string error;
  auto log = edict::AppendOnlyFile::open(path, &error);
  if (!log) {
    std::fprintf(stderr, "bench_log_write: %s\n", error.c_str());
    std::exit(1);
  }
  return log;
}

// The shipped log's interval sync, as the server runs it: a syncer taken
// under the appenders' lock, then the sync and the page drop outside it.
void sync_shipped(edict::AppendOnlyFile& log, std::mutex& m, uint64_t& dropped) {
  std::unique_ptr<edict::AppendOnlyFile::Syncer> syncer;
  {
    std::lock_guard lock(m);
    syncer = log.syncer();
  }
  if (syncer->sync()) syncer->drop_cached(dropped);
  dropped = syncer->bytes();
}

Figures shipped(const std::string& path, uint64_t total, const std::string& piece) {
  std::string error;
  auto log = open_log(path);
  uint64_t dropped = 0;
  std::mutex m;
  return with_syncer(
      total, piece,
      [&](const std::string& p) {
        std::lock_guard lock(m);
        return log->append(p, &error);
      },
      [&] { sync_shipped(*log, m, dropped); });
}

// The shipped file with its direct path: each piece laid in memory where
// its whole blocks are aligned (as the server lays its log lines).
Figures shipped_direct(const std::string& path, uint64_t total, const std::string& piece) {
  std::string error;
  auto log = open_log(path);
  constexpr size_t kAlign = edict::AppendOnlyFile::kDirectAlign;
  char* buffer = static_cast<char*>(std::aligned_alloc(kAlign, piece.size() + kAlign));
  std::memcpy(buffer, piece.data(), piece.size());
  std::memcpy(buffer + piece.size(), piece.data(), kAlign);
  uint64_t dropped = 0, direct = 0;
  std::mutex m;
  const Figures f = with_syncer(
      total, piece,
      [&](const std::string& p) {
        std::lock_guard lock(m);
        const bool ok = log->append(std::string_view(buffer + log->block_offset(), p.size()), &error, true);
        direct += log->last_direct_bytes();
        return ok;
      },
      [&] { sync_shipped(*log, m, dropped); });
  if (direct * 10 < total * 9)
    std::fprintf(stderr, "bench_log_write: only %llu bytes went directly\n",
                 static_cast<unsigned long long>(direct));
  std::free(buffer);
  return f;
}

Figures plain(const std::string& path, uint64_t total, const std::string& piece) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_TRUNC | O_CLOEXEC, 0644);
  std::atomic<uint64_t> size{0};
  uint64_t dropped = 0;
  const Figures f = with_syncer(
      total, piece,
      [&](const std::string& p) {
        const bool ok = ::write(fd, p.data(), p.size()) == static_cast<ssize_t>(p.size());
        size += p.size();
        return ok;
      },
      [&] {
        const uint64_t now = size, from = dropped - dropped % 4096;
        if (::fdatasync(fd) == 0 && now > from)
          ::posix_fadvise(fd, static_cast<off_t>(from), static_cast<off_t>(now - from), POSIX_FADV_DONTNEED);
        dropped = now;
      });
  ::close(fd);
  return f;
}

Figures direct(const std::string& path, uint64_t total, size_t piece) {
  Figures f;
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_DIRECT | O_CLOEXEC, 0644);
  void* buffer = nullptr;
  if (fd < 0 || posix_memalign(&buffer, 4096, piece) != 0) {
    std::perror("bench_log_write: O_DIRECT");
    if (fd >= 0) ::close(fd);
    return f;
  }
  std::memset(buffer, 'x', piece);
  const auto wall = Clock::now();
  const double before = thread_ms();
  for (uint64_t done = 0; done < total; done += piece)
    if (::write(fd, buffer, piece) != static_cast<ssize_t>(piece)) {
      std::perror("bench_log_write: O_DIRECT write");
      break;
    }
  ::fdatasync(fd);
  f.write_ms = thread_ms() - before;
  f.wall_ms = std::chrono::duration<double, std::milli>(Clock::now() - wall).count();
  std::free(buffer);
  ::close(fd);
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir = "/tmp";
  double mb = 110;
  int rounds = 5;
  size_t piece_kb = 512;  // the shipped rows' append size (the server's log writes are about 2 MB)
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--dir")
      dir = v;
    else if (k == "--mb")
      mb = std::atof(v.c_str());
    else if (k == "--rounds")
      rounds = std::atoi(v.c_str());
    else if (k == "--piece-kb")
      piece_kb = static_cast<size_t>(std::atol(v.c_str()));
  }
  pin_to_cpu0();
  const uint64_t total = static_cast<uint64_t>(mb * (1 << 20));
  const std::string piece = log_piece(piece_kb << 10),
                    path = dir + "/bench-log-write-" + std::to_string(getpid());
  std::printf("%.0f MB per round in %zu KB appends, on CPU 0, in %s\n", mb, piece_kb, dir.c_str());
  std::printf("%-34s %10s %10s %10s\n", "", "write ms", "syncer ms", "wall ms");
  for (int r = 0; r < rounds; ++r) {
    auto row = [&](const char* name, const Figures& f) {
      std::printf("%-34s %10.1f %10.1f %10.1f\n", name, f.write_ms, f.sync_ms, f.wall_ms);
      ::unlink(path.c_str());
    };
    row("shipped (blocks allocated ahead)", shipped(path, total, piece));
    row("shipped, direct (O_DIRECT blocks)", shipped_direct(path, total, piece));
    row("plain write(2)", plain(path, total, piece));
    row("O_DIRECT, 4 MB pieces", direct(path, total, 4 << 20));
    row("O_DIRECT, 0.5 MB pieces", direct(path, total, 512 << 10));
  }
  return 0;
}
