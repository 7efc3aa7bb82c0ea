// Benchmark of stateful rules (issue 7): the reference workload alone, and
// with one 30-day `sum ... by customer_id` rule added, over the same events.
// Prints evaluation ns/event for both (the stateful figure includes updating
// the windows), their ratio, and the memory the windows hold. The generated
// corpus is in random time order over 3.5 years, so it runs twice: in input
// order with a lateness covering the whole span (every event held), and
// sorted by time with the default 1h lateness (the streaming case). Asserts
// only that the interpreter and the JIT agree. Times are CPU time of the
// measuring thread, so ratios within one run hold on a loaded machine; the
// -j figure (the window stage on 1 and 2 threads) is wall clock. A
// hand-written keyed sum with no window (keyed_floor_ns) shows what one
// lookup by key costs on the same columns.
//
// --end-to-end runs only the end-to-end comparison (read, decode, windows,
// evaluate, format), its stateless and stateful rounds in turns.
//
//   bench_window STATELESS_POLICY STATEFUL_POLICY EVENTS [--rounds N] [--end-to-end]
#include <fmt/format.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "bench/bench_common.h"
#include "engine/decode/decoder.h"
#include "engine/decode/line_reader.h"
#include "engine/engine.h"
#include "engine/output.h"
#include "engine/window/window.h"

using namespace edict;
using bench::Batches;
using bench::decode_all;
using bench::median;
using bench::thread_seconds;

namespace {

// CPU time of this thread since `t` (a thread_seconds() reading): figures
// that hold on a loaded machine.
double seconds_since(double t) {
  return thread_seconds() - t;
}

// Imports may read below the folders of both policies given, as in `edict
// diff` (bench/stateful_rule.edict imports ../policies/reference.edict).
std::vector<std::string> policy_folders;

std::unique_ptr<engine::Policy> compile(const std::string& path, SourceManager& sources,
                                        engine::Backend backend) {
  DiagnosticSink sink;
  engine::CompileOptions options{backend, 2, {}};
  options.limits.import_paths = policy_folders;
  auto p = engine::Policy::compile({path}, sources, sink, options);
  if (!p) {
    std::fputs(render_human(sources, sink.sorted()).c_str(), stderr);
    std::exit(2);
  }
  return p;
}

// The events file with its lines sorted by their `time` (stable), for the streaming case.
std::string sorted_copy(const std::string& events) {
  std::ifstream in(events);
  std::vector<std::pair<std::string, std::string>> lines;
  for (std::string line; std::getline(in, line);) {
    size_t at = line.find("\"time\":\"");
    std::string key = at == std::string::npos ? "" : line.substr(at + 8, 20);
    lines.emplace_back(std::move(key), std::move(line));
  }
  std::stable_sort(lines.begin(), lines.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  // This process's own copy, so that concurrent runs on one input do not race.
  std::string path = fmt::format("{}.by-time.{}.jsonl", events, getpid());
  std::ofstream out(path);
  for (const auto& l : lines) out << l.second << '\n';
  return path;
}

struct StatefulRun {
  double ns = 0, advance_ns = 0;
  window::Stats stats;
  std::vector<std::vector<uint8_t>> decisions;
  uint64_t fired = 0, late = 0;
};

StatefulRun run_stateful(const engine::Policy& p, const std::string& events, const window::Options& options,
                         int rounds) {
  StatefulRun out;
  std::vector<double> total, advance;
  uint64_t n = 0;
  for (int r = 0; r < rounds; ++r) {
    Batches batches = decode_all(p, events);  // advance() writes the batches: decode afresh each round
    window::WindowState windows(p.module(), p.interpreter(), p.schema(), options);
    std::vector<engine::Results> results(batches.size());
    for (size_t i = 0; i < batches.size(); ++i)
      results[i].reserve(batches[i]->capacity(), p.module().rules.size());
    n = 0;
    for (auto& b : batches) n += b->size();
    double adv = 0;
    const double t = thread_seconds();
    for (size_t i = 0; i < batches.size(); ++i) {
      const double a = thread_seconds();
      windows.advance(*batches[i]);
      adv += seconds_since(a);
      p.evaluate(*batches[i], results[i]);
    }
    total.push_back(seconds_since(t) * 1e9 / n);
    advance.push_back(adv * 1e9 / n);
    if (r == rounds - 1) {
      out.stats = windows.stats();
      // The rule that reads the aggregate (its functions name it).
      const ir::AggregateInput& in = p.module().aggregates.at(0).inputs.at(0);
      const size_t rule = static_cast<size_t>(p.module().functions[static_cast<size_t>(in.operand)].rule);
      for (size_t i = 0; i < batches.size(); ++i) {
        out.decisions.emplace_back(results[i].decision.begin(), results[i].decision.end());
        out.decisions.back().resize(batches[i]->size());
        for (uint32_t row = 0; row < batches[i]->size(); ++row) {
          out.fired += results[i].rule_fired(row, rule);
          const abi::RowError* e = batches[i]->error_of(row);
          out.late += e && e->reason == abi::ErrorReason::LateEvent;
        }
      }
    }
  }
  out.ns = median(total);
  out.advance_ns = median(advance);
  return out;
}

double process_seconds() {  // CPU time of every thread of the process
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// The window stage alone as `edict eval -j N` runs it: `group` batches per
// advance() call, on `threads` threads (Options::threads, one partition of
// the keys each). Wall-clock nanoseconds per event (threads run at once, so
// CPU time of one thread would not show it), median of rounds; *values:
// each row's value of the first aggregate or its error reason, to compare
// between numbers of threads; *cpu_ns: CPU time of all the process's
// threads per event (the work the threads add).
double advance_wall_ns(const engine::Policy& p, const std::string& events, window::Options options,
                       unsigned threads, size_t group, int rounds, std::vector<uint64_t>* values,
                       double* cpu_ns) {
  std::vector<double> ns, cpu;
  options.threads = threads;
  for (int r = 0; r < rounds; ++r) {
    Batches batches = decode_all(p, events);
    window::WindowState windows(p.module(), p.interpreter(), p.schema(), options);
    uint64_t n = 0;
    for (auto& b : batches) n += b->size();
    std::vector<abi::Batch*> chunk;
    const auto t = std::chrono::steady_clock::now();
    const double c = process_seconds();
    for (size_t i = 0; i < batches.size(); i += group) {
      chunk.clear();
      for (size_t b = i; b < std::min(batches.size(), i + group); ++b) chunk.push_back(batches[b].get());
      windows.advance(chunk);
    }
    ns.push_back(std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t).count() /
                 static_cast<double>(n));
    cpu.push_back((process_seconds() - c) * 1e9 / static_cast<double>(n));
    if (r == 0) {
      // Every row's aggregate column (the first aggregate's, of any kind) and error reason.
      values->clear();
      const ir::Aggregate& agg = p.module().aggregates.at(0);
      for (auto& b : batches)
        for (uint32_t row = 0; row < b->size(); ++row) {
          const abi::RowError* e = b->error_of(row);
          uint64_t v = e ? 1000 + static_cast<uint64_t>(e->reason) : 0;
          for (const ir::AggregateInput& in : agg.inputs) {
            const int column = p.schema()
                                   .kinds.at(static_cast<size_t>(in.event))
                                   .fields.at(static_cast<size_t>(in.field))
                                   .column;
            if (!e && b->kind(row) == in.event)
              v = b->column(static_cast<size_t>(column)).data<uint64_t>()[row];
          }
          values->push_back(v);
        }
    }
  }
  *cpu_ns = median(cpu);
  return median(ns);
}

// The floor of any keyed state, hand-written over the same decoded columns:
// per rental event, hash its customer_id, find or add the key in a flat
// open-addressing table (key inline, linear probing, at most half full) and
// add chip_count * hours to a running sum. No window, expiry, lateness, order
// or fault handling, so it is not a correct windowed sum; it is what a
// lookup by key alone costs. CPU ns per event, median of rounds (0 when the
// policy has no such fields).
double keyed_floor_ns(const engine::Policy& p, const std::string& events, int rounds, uint64_t* keys_out) {
  const int kind = p.schema().kind_index("rental");
  if (kind < 0) return 0;
  const abi::KindSpec& spec = p.schema().kinds[static_cast<size_t>(kind)];
  auto column = [&](const char* name) {
    auto it = spec.field_index.find(std::string_view(name));
    return it == spec.field_index.end() ? -1 : spec.fields[static_cast<size_t>(it->second)].column;
  };
  const int customer = column("customer_id"), count = column("chip_count"), hours = column("hours");
  if (customer < 0 || count < 0 || hours < 0) return 0;
  struct Slot {
    uint64_t hash = 0;
    uint32_t size = 0;  // key bytes; 0: empty
    char key[20] = {};
    double sum = 0;
  };
  Batches batches = decode_all(p, events);
  uint64_t n = 0;
  for (auto& b : batches) n += b->size();
  std::vector<double> ns;
  for (int r = 0; r < rounds; ++r) {
    std::vector<Slot> table(1 << 16);
    const size_t mask = table.size() - 1;
    uint64_t keys = 0;
    const double t = thread_seconds();
    for (auto& b : batches) {
      const uint32_t* ids = b->column(static_cast<size_t>(customer)).data<uint32_t>();
      const int64_t* counts = b->column(static_cast<size_t>(count)).data<int64_t>();
      const double* hrs = b->column(static_cast<size_t>(hours)).data<double>();
      for (uint32_t row = 0; row < b->size(); ++row) {
        if (b->kind(row) != kind) continue;
        const std::string_view key = b->string(ids[row]);
        if (key.size() > sizeof(Slot::key)) continue;  // the corpus's ids are 8 bytes
        const uint64_t h = abi::StringHash{}(key);
        size_t i = h & mask;
        while (table[i].size != 0 &&
               (table[i].hash != h || std::string_view(table[i].key, table[i].size) != key))
          i = (i + 1) & mask;
        Slot& slot = table[i];
        if (slot.size == 0) {
          if ((keys + 1) * 2 > table.size()) break;  // full enough: the corpus has 20,000 customers
          slot.hash = h;
          slot.size = static_cast<uint32_t>(key.size());
          std::memcpy(slot.key, key.data(), key.size());
          ++keys;
        }
        slot.sum += static_cast<double>(counts[row]) * hrs[row];
      }
    }
    ns.push_back(seconds_since(t) * 1e9 / static_cast<double>(n));
    *keys_out = keys;
  }
  return median(ns);
}

// One round end to end as `edict eval -j 1` does it: read, decode, advance
// the windows, evaluate, format JSONL (to /dev/null). Nanoseconds per
// event; *advance_ns: the part spent updating the windows.
double end_to_end_ns(const engine::Policy& p, const std::string& events, double* advance_ns) {
  std::string error;
  auto reader = decode::LineReader::open(events, 1 << 20, &error);
  decode::Decoder decoder(p.schema());
  abi::Batch batch(p.schema(), p.symbols(), 4096);
  window::Options options;
  options.inputs = p.window_inputs();
  window::WindowState windows(p.module(), p.interpreter(), p.schema(), options);
  engine::Results res;
  res.reserve(4096, p.module().rules.size());
  engine::RecordWriter writer(p, engine::OutputFormat::Jsonl);
  engine::Summary summary;
  std::string out;
  std::FILE* devnull = std::fopen("/dev/null", "wb");
  std::vector<decode::Line> lines;
  uint64_t n = 0;
  double in_advance = 0;
  const double t = thread_seconds();
  while (reader->next(lines)) {
    for (size_t i = 0; i < lines.size();) {
      batch.clear();
      for (; i < lines.size() && !batch.full(); ++i)
        decoder.decode(lines[i].text, lines[i].capacity, lines[i].number, batch);
      const double a = thread_seconds();
      windows.advance(batch);
      in_advance += seconds_since(a);
      p.evaluate(batch, res);
      out.clear();
      writer.write(batch, res, out, summary);
      std::fwrite(out.data(), 1, out.size(), devnull);
      n += batch.size();
    }
  }
  std::fclose(devnull);
  *advance_ns = in_advance * 1e9 / static_cast<double>(n);
  return seconds_since(t) * 1e9 / static_cast<double>(n);
}

long max_rss_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss / 1024;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr,
                 "usage: bench_window STATELESS_POLICY STATEFUL_POLICY EVENTS [--rounds N] [--end-to-end]\n");
    return 2;
  }
  std::string stateless_path = argv[1], stateful_path = argv[2], events = argv[3];
  int rounds = 3;
  bool only_end_to_end = false;
  for (int i = 4; i < argc; ++i) {
    if (std::strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) rounds = std::max(1, std::atoi(argv[++i]));
    if (std::strcmp(argv[i], "--end-to-end") == 0) only_end_to_end = true;
  }

  SourceManager sources;
  for (const std::string& path : {stateless_path, stateful_path}) {
    std::string folder = std::filesystem::path(path).parent_path().string();
    policy_folders.push_back(folder.empty() ? "." : folder);
  }
  auto stateless = compile(stateless_path, sources, engine::Backend::Jit);
  auto stateful = compile(stateful_path, sources, engine::Backend::Jit);
  auto stateful_interp = compile(stateful_path, sources, engine::Backend::Interp);
  if (stateful->module().aggregates.size() != 1) {
    std::fprintf(stderr, "%s: expected exactly one windowed aggregate\n", stateful_path.c_str());
    return 2;
  }

  Batches plain = decode_all(*stateless, events);
  uint64_t n = 0;
  for (auto& b : plain) n += b->size();
  std::vector<engine::Results> res(plain.size());
  for (size_t i = 0; i < plain.size(); ++i)
    res[i].reserve(plain[i]->capacity(), stateless->module().rules.size());
  std::vector<double> ns;
  for (int r = 0; r < rounds; ++r) {
    const double t = thread_seconds();
    for (size_t i = 0; i < plain.size(); ++i) stateless->evaluate(*plain[i], res[i]);
    ns.push_back(seconds_since(t) * 1e9 / n);
  }
  plain.clear();
  const double stateless_ns = median(ns);
  const ir::Aggregate& agg = stateful->module().aggregates[0];
  std::printf("stateful rules: %llu events from %s; added `%s`\n", (unsigned long long)n, events.c_str(),
              agg.text.c_str());
  std::printf("evaluation over decoded columns (JIT -O2), CPU time of this thread, median of %d rounds:\n",
              rounds);
  std::printf("  reference workload (stateless)     %8.2f ns/event\n", stateless_ns);

  struct Mode {
    const char* name;
    std::string events;
    int64_t lateness;
  };
  const std::string by_time = sorted_copy(events);
  const Mode modes[] = {
      {"sorted by time, --max-lateness 1h", by_time, window::Options{}.max_lateness},
      {"input order, --max-lateness 1400d", events, int64_t{1400} * 86'400 * 1'000'000},
  };
  if (!only_end_to_end) {
    uint64_t keys = 0;
    const double floor_ns = keyed_floor_ns(*stateful, by_time, rounds, &keys);
    if (floor_ns > 0)
      std::printf(
          "  hand-written floor of keyed state (hash customer_id, find or add it, add to a sum; no "
          "window), sorted by time: %.2f ns/event (%.2fx stateless), %llu keys\n",
          floor_ns, floor_ns / stateless_ns, (unsigned long long)keys);
  }
  bool agree = true;
  for (const Mode& mode : modes) {
    if (only_end_to_end) break;
    window::Options options;
    options.max_lateness = mode.lateness;
    // The JIT's window stage as `edict eval` runs it (compiled aggregate
    // inputs), and with the inputs interpreted, for comparison.
    window::Options compiled = options;
    compiled.inputs = stateful->window_inputs();
    StatefulRun jit = run_stateful(*stateful, mode.events, compiled, rounds);
    StatefulRun jit_interpreted_inputs = run_stateful(*stateful, mode.events, options, rounds);
    StatefulRun interp = run_stateful(*stateful_interp, mode.events, options, 1);
    bool same = jit.decisions == interp.decisions && jit_interpreted_inputs.decisions == interp.decisions;
    agree = agree && same;
    std::printf("  + 30-day sum by customer (%s):\n", mode.name);
    std::printf(
        "      %8.2f ns/event (%.2fx stateless; window update %.2f ns/event), rule fired %llu, late %llu\n",
        jit.ns, jit.ns / stateless_ns, jit.advance_ns, (unsigned long long)jit.fired,
        (unsigned long long)jit.late);
    std::printf(
        "      with the aggregate's inputs interpreted: window update %.2f ns/event (%.2fx compiled)\n",
        jit_interpreted_inputs.advance_ns, jit_interpreted_inputs.advance_ns / jit.advance_ns);
    std::printf(
        "      windows at the end: %llu events held under %llu keys, %.1f MB allocated (%.0f B per held "
        "event)\n",
        (unsigned long long)jit.stats.events, (unsigned long long)jit.stats.keys, jit.stats.bytes / 1e6,
        jit.stats.events ? double(jit.stats.bytes) / double(jit.stats.events) : 0.0);
    std::printf("      interpreter and JIT: %s\n", same ? "same decisions" : "DISAGREE");
    // -j N: the keys split between threads, 4 batches per advance() call.
    std::vector<uint64_t> one, two;
    double cpu1 = 0, cpu2 = 0;
    const double wall1 = advance_wall_ns(*stateful, mode.events, compiled, 1, 4, rounds, &one, &cpu1);
    const double wall2 = advance_wall_ns(*stateful, mode.events, compiled, 2, 4, rounds, &two, &cpu2);
    agree = agree && one == two;
    std::printf(
        "      window update -j 1 / -j 2 (keys split between threads): wall clock %.2f / %.2f ns/event "
        "(%.2fx; only indicative on a loaded machine), CPU of all threads %.2f / %.2f; %s\n",
        wall1, wall2, wall1 / wall2, cpu1, cpu2, one == two ? "same values" : "VALUES DIFFER");
  }
  // The two policies in turns, so that a slow spell of the machine weighs on both.
  std::vector<double> plain_ns, windowed_ns, advance_ns;
  for (int r = 0; r < rounds; ++r) {
    double unused = 0, advance = 0;
    plain_ns.push_back(end_to_end_ns(*stateless, by_time, &unused));
    windowed_ns.push_back(end_to_end_ns(*stateful, by_time, &advance));
    advance_ns.push_back(advance);
  }
  const double e2e_stateless = median(plain_ns), e2e_stateful = median(windowed_ns);
  const double e2e_advance = median(advance_ns);
  std::printf(
      "end to end (read, decode, windows, evaluate, format JSONL), sorted by time, in turns, median of %d:\n",
      rounds);
  std::printf(
      "  reference workload %8.1f ns/event; + 30-day sum %8.1f ns/event (%.2fx; window update %.1f)\n",
      e2e_stateless, e2e_stateful, e2e_stateful / e2e_stateless, e2e_advance);
  std::remove(by_time.c_str());
  std::printf("peak resident memory of the benchmark process: %ld MB\n", max_rss_mb());
  return agree ? 0 : 1;
}
