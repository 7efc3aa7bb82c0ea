// Benchmark of the reference workload (bench/reference_workload.md): compile
// time, decode speed, evaluation ns/event for the JIT, the interpreter and a
// hand-written C++ baseline over the SAME decoded columns, and end-to-end
// throughput (read, decode, evaluate, format JSONL). Prints figures; asserts
// nothing except that all three evaluators agree on every event.
//
//   bench_eval POLICY EVENTS [--rounds N]
#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

#include "bench/baseline.h"
#include "bench/bench_common.h"
#include "engine/decode/decoder.h"
#include "engine/decode/line_reader.h"
#include "engine/engine.h"
#include "engine/output.h"

using namespace edict;
using bench::decode_all;
using bench::median;
using bench::thread_seconds;

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: bench_eval POLICY EVENTS [--rounds N]\n");
    return 2;
  }
  std::string policy_path = argv[1], events = argv[2];
  int rounds = 3;
  for (int i = 3; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], "--rounds") == 0) rounds = std::max(1, std::atoi(argv[i + 1]));

  // Compile: parse, check, lower, JIT (thread CPU time, median of 15; the
  // split between front end and JIT is wall-clock, as the engine reports it).
  std::vector<double> compile_ms, front_ms, jit_ms;
  std::unique_ptr<engine::Policy> jit, interp, jit_o0;
  SourceManager sources;
  for (int i = 0; i < 15; ++i) {
    SourceManager s;
    DiagnosticSink sink;
    double t = thread_seconds();
    auto p = engine::Policy::compile({policy_path}, s, sink, {engine::Backend::Jit, 2, {}});
    compile_ms.push_back((thread_seconds() - t) * 1000);
    if (!p) {
      std::fputs(render_human(s, sink.sorted()).c_str(), stderr);
      return 2;
    }
    front_ms.push_back(p->compile_ms);
    jit_ms.push_back(p->jit_ms);
  }
  DiagnosticSink sink;
  jit = engine::Policy::compile({policy_path}, sources, sink, {engine::Backend::Jit, 2, {}});
  interp = engine::Policy::compile({policy_path}, sources, sink, {engine::Backend::Interp, 2, {}});
  jit_o0 = engine::Policy::compile({policy_path}, sources, sink, {engine::Backend::Jit, 0, {}});
  if (!jit || !interp || !jit_o0) return 2;

  uint64_t bytes = 0;
  double decode_start = thread_seconds();
  auto batches = decode_all(*jit, events, &bytes);
  double decode_s = thread_seconds() - decode_start;
  uint64_t n = 0;
  for (auto& b : batches) n += b->size();
  std::printf("reference workload: %s events (%.1f MB) from %s\n", fmt::format("{}", n).c_str(), bytes / 1e6,
              events.c_str());
  std::printf(
      "compile (parse+check+lower+JIT -O2), median of 15: %.1f ms (front end and lowering %.1f ms, JIT %.1f "
      "ms)\n",
      median(compile_ms), median(front_ms), median(jit_ms));
  std::printf("read+decode into fresh batches (their allocation included): %.1f ns/event, %.0f MB/s\n",
              decode_s * 1e9 / n, bytes / 1e6 / decode_s);

  // Evaluation over the decoded columns. Hot: each batch evaluated `rounds`
  // times in a row after one untimed warm-up, as the pipeline evaluates a
  // batch right after decoding it, with its columns in cache. Cold: one pass
  // over all batches, columns streamed from memory.
  struct Timing {
    double hot_ns = 0, cold_ns = 0;
  };
  auto time_batches = [&](auto&& evaluate_batch) {
    Timing t;
    double hot = 0;
    for (size_t i = 0; i < batches.size(); ++i) {
      evaluate_batch(i);
      double start = thread_seconds();
      for (int r = 0; r < rounds; ++r) evaluate_batch(i);
      hot += thread_seconds() - start;
    }
    t.hot_ns = hot * 1e9 / (static_cast<double>(n) * rounds);
    std::vector<double> cold;
    for (int r = 0; r < rounds; ++r) {
      double start = thread_seconds();
      for (size_t i = 0; i < batches.size(); ++i) evaluate_batch(i);
      cold.push_back((thread_seconds() - start) * 1e9 / static_cast<double>(n));
    }
    t.cold_ns = median(cold);
    return t;
  };
  auto time_engine = [&](const engine::Policy& p, std::vector<engine::Results>& out) {
    out.resize(batches.size());
    for (size_t i = 0; i < batches.size(); ++i)
      out[i].reserve(batches[i]->capacity(), p.module().rules.size());
    return time_batches([&](size_t i) { p.evaluate(*batches[i], out[i]); });
  };
  std::vector<engine::Results> jit_res, o0_res, interp_res;
  Timing jit_t = time_engine(*jit, jit_res);
  Timing o0_t = time_engine(*jit_o0, o0_res);
  Timing interp_t = time_engine(*interp, interp_res);

  bench::Baseline baseline(jit->schema(), jit->symbols());
  std::vector<std::vector<uint8_t>> base_dec(batches.size());
  std::vector<std::vector<uint16_t>> base_fired(batches.size());
  for (size_t i = 0; i < batches.size(); ++i) {
    base_dec[i].resize(batches[i]->size());
    base_fired[i].resize(batches[i]->size());
  }
  Timing base_t =
      time_batches([&](size_t i) { baseline.eval(*batches[i], base_dec[i].data(), base_fired[i].data()); });

  // Agreement: every engine, every event, every rule.
  uint64_t disagreements = 0;
  std::vector<uint64_t> decisions(jit->module().outcomes.size() + 2, 0), rules(jit->module().rules.size(), 0);
  const auto& outcomes = jit->module().outcomes;
  auto outcome_rank = [&](const char* name) {
    return static_cast<uint8_t>(std::find(outcomes.begin(), outcomes.end(), name) - outcomes.begin());
  };
  const uint8_t base_to_outcome[4] = {outcome_rank("allow"), outcome_rank("report"), outcome_rank("review"),
                                      outcome_rank("deny")};
  for (size_t i = 0; i < batches.size(); ++i) {
    for (uint32_t r = 0; r < batches[i]->size(); ++r) {
      uint8_t d = jit_res[i].decision[r];
      if (d != interp_res[i].decision[r] || d != o0_res[i].decision[r]) ++disagreements;
      uint8_t bd = base_dec[i][r] == 0xFF ? EDICT_DECISION_SKIPPED : base_to_outcome[base_dec[i][r]];
      if (bd != d) ++disagreements;
      decisions[d < outcomes.size() ? d : outcomes.size()]++;
      for (size_t k = 0; k < rules.size(); ++k) {
        bool f = jit_res[i].rule_fired(r, k);
        if (f != interp_res[i].rule_fired(r, k) || f != o0_res[i].rule_fired(r, k)) ++disagreements;
        if (f) ++rules[k];
        // The baseline numbers rules in workload order, which the policy follows.
        if (k < 9 && f != ((base_fired[i][r] >> k) & 1)) ++disagreements;
      }
    }
  }

  std::printf(
      "evaluation over decoded columns, thread CPU time, %d rounds (hot: batch in cache; cold: streamed):\n",
      rounds);
  std::printf("  JIT -O2          %8.2f ns/event hot  %8.2f cold\n", jit_t.hot_ns, jit_t.cold_ns);
  std::printf("  JIT -O0          %8.2f ns/event hot  %8.2f cold\n", o0_t.hot_ns, o0_t.cold_ns);
  std::printf("  interpreter      %8.2f ns/event hot  %8.2f cold  (JIT speed-up %.1fx hot)\n",
              interp_t.hot_ns, interp_t.cold_ns, interp_t.hot_ns / jit_t.hot_ns);
  std::printf("  hand-written C++ %8.2f ns/event hot  %8.2f cold  (JIT / baseline %.2f hot, %.2f cold)\n",
              base_t.hot_ns, base_t.cold_ns, jit_t.hot_ns / base_t.hot_ns, jit_t.cold_ns / base_t.cold_ns);
  std::printf("counts:");
  for (size_t d = 0; d < outcomes.size(); ++d)
    std::printf(" %s=%llu", outcomes[d].c_str(), (unsigned long long)decisions[d]);
  std::printf(" error=%llu\n", (unsigned long long)decisions[outcomes.size()]);
  std::printf("rules:");
  for (size_t k = 0; k < rules.size(); ++k)
    std::printf(" %s=%llu", jit->module().rules[k].name.c_str(), (unsigned long long)rules[k]);
  std::printf("\nagreement (JIT -O2, JIT -O0, interpreter, baseline): %s\n",
              disagreements ? fmt::format("{} DISAGREEMENTS", disagreements).c_str() : "all agree");

  // End to end: read, decode, evaluate, format JSONL (written to /dev/null),
  // one batch at a time as `edict eval` does, with each stage's thread CPU
  // time (the medians of `rounds` runs, each stage's median taken separately).
  struct Stages {
    double read = 0, decode = 0, evaluate = 0, write = 0, total = 0;
  };
  std::vector<Stages> runs;
  uint64_t plain_lines = 0;
  for (int r = 0; r < rounds; ++r) {
    std::string error;
    auto reader = decode::LineReader::open(events, 1 << 20, &error);
    decode::Decoder decoder(jit->schema());
    abi::Batch batch(jit->schema(), jit->symbols(), 4096);
    engine::Results res;
    res.reserve(4096, jit->module().rules.size());
    engine::RecordWriter writer(*jit, engine::OutputFormat::Jsonl);
    engine::Summary summary;
    std::string out;
    std::FILE* devnull = std::fopen("/dev/null", "wb");
    std::vector<decode::Line> lines;
    Stages st;
    double t = thread_seconds(), start = t;
    auto lap = [&](double& stage) {
      double now = thread_seconds();
      stage += now - t;
      t = now;
    };
    while (reader->next(lines)) {
      lap(st.read);
      size_t i = 0;
      while (i < lines.size()) {
        batch.clear();
        for (; i < lines.size() && !batch.full(); ++i)
          decoder.decode(lines[i].text, lines[i].capacity, lines[i].number, batch);
        lap(st.decode);
        jit->evaluate(batch, res);
        lap(st.evaluate);
        out.clear();
        writer.write(batch, res, out, summary);
        std::fwrite(out.data(), 1, out.size(), devnull);
        lap(st.write);
      }
    }
    lap(st.read);
    st.total = t - start;
    runs.push_back(st);
    plain_lines = decoder.plain_lines();
    std::fclose(devnull);
  }
  auto stage = [&](double Stages::*field) {
    std::vector<double> v;
    for (const Stages& st : runs) v.push_back(st.*field);
    return median(v);
  };
  const double e2e_s = stage(&Stages::total);
  std::printf(
      "end to end (read, decode, JIT, JSONL to /dev/null), one thread, CPU time: %.0f MB/s, %.2f M "
      "events/s\n",
      bytes / 1e6 / e2e_s, n / 1e6 / e2e_s);
  std::printf(
      "  per event: read %.0f ns, decode %.0f ns (%.0f MB/s; %.1f%% of lines on the plain fast path), "
      "evaluate %.0f ns, format+write %.0f ns\n",
      stage(&Stages::read) * 1e9 / n, stage(&Stages::decode) * 1e9 / n, bytes / 1e6 / stage(&Stages::decode),
      100.0 * plain_lines / n, stage(&Stages::evaluate) * 1e9 / n, stage(&Stages::write) * 1e9 / n);
  // Reading alone, on this thread (its CPU time covers the kernel's part):
  // the file mapped, as `eval` reads a regular file, against read()'s copy
  // (pipes, standard input). Rounds alternate so that both see the same load.
  {
    std::vector<double> mapped_s, copied_s;
    for (int r = 0; r < rounds; ++r)
      for (const bool map : {true, false}) {
        std::string error;
        auto reader = decode::LineReader::open(events, 1 << 20, &error, map);
        std::vector<decode::Line> lines;
        const double t = thread_seconds();
        while (reader->next(lines)) {
        }
        (map ? mapped_s : copied_s).push_back(thread_seconds() - t);
      }
    std::printf(
        "  reading alone (split into lines), CPU time: file mapped %.0f ns/event, read() %.0f ns/event\n",
        median(mapped_s) * 1e9 / n, median(copied_s) * 1e9 / n);
  }
  // The decoder's two paths over the same lines, interleaved batch by batch
  // so that both see the same machine load: the ratio is the figure to trust.
  {
    std::string error;
    auto reader = decode::LineReader::open(events, 1 << 20, &error);
    decode::Decoder fast(jit->schema()), full(jit->schema(), false);
    abi::Batch batch(jit->schema(), jit->symbols(), 4096);
    std::vector<decode::Line> lines;
    double fast_s = 0, full_s = 0;
    while (reader->next(lines)) {
      for (size_t i = 0; i < lines.size();) {
        const size_t end = std::min(lines.size(), i + 4096);
        for (int r = 0; r < rounds; ++r) {
          for (decode::Decoder* d : {&fast, &full}) {
            batch.clear();
            double t = thread_seconds();
            for (size_t k = i; k < end; ++k)
              d->decode(lines[k].text, lines[k].capacity, lines[k].number, batch);
            (d == &fast ? fast_s : full_s) += thread_seconds() - t;
          }
        }
        i = end;
      }
    }
    std::printf(
        "decode only, interleaved: plain fast path %.0f ns/event, full simdjson path %.0f ns/event (%.2fx)\n",
        fast_s * 1e9 / (static_cast<double>(n) * rounds), full_s * 1e9 / (static_cast<double>(n) * rounds),
        full_s / fast_s);
  }
  return disagreements ? 1 : 0;
}
