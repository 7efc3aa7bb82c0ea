// The JSON Lines decoder alone: every line of EVENTS held in memory (with the
// reader's padding) and decoded into batches of 4,096 rows, `rounds` times,
// by the plain fast path and by the full simdjson path. Prints thread CPU
// ns per event; small and deterministic enough to run under callgrind
// (`--paths fast` and `--rounds 1` to count the fast path's instructions).
//
//   bench_decode POLICY EVENTS [--rounds N] [--paths fast|full|both]
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "bench/bench_common.h"
#include "engine/decode/decoder.h"
#include "engine/decode/line_reader.h"

using namespace edict;

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: bench_decode POLICY EVENTS [--rounds N] [--paths fast|full|both]\n");
    return 2;
  }
  int rounds = 5;
  std::string paths = "both";
  for (int i = 3; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--rounds") == 0) rounds = std::max(1, std::atoi(argv[i + 1]));
    if (std::strcmp(argv[i], "--paths") == 0) paths = argv[i + 1];
  }
  SourceManager sources;
  DiagnosticSink sink;
  auto policy = engine::Policy::compile({argv[1]}, sources, sink, {engine::Backend::Interp, 0, {}});
  if (!policy) {
    std::fputs(render_human(sources, sink.sorted()).c_str(), stderr);
    return 2;
  }

  // The lines, each copied with 64 zero bytes of padding (what the reader
  // guarantees), so that decoding is measured alone.
  std::string error;
  auto reader = decode::LineReader::open(argv[2], 1 << 20, &error);
  if (!reader) {
    std::fprintf(stderr, "cannot read %s: %s\n", argv[2], error.c_str());
    return 2;
  }
  std::vector<std::string> texts;
  std::vector<decode::Line> lines;
  uint64_t bytes = 0;
  while (reader->next(lines))
    for (const decode::Line& l : lines) {
      if (l.too_long) continue;
      texts.push_back(std::string(l.text) + std::string(64, '\0'));
      bytes += l.text.size() + 1;
    }
  const size_t n = texts.size();
  if (n == 0) {
    std::fprintf(stderr, "no lines in %s\n", argv[2]);
    return 2;
  }

  abi::Batch batch(policy->schema(), policy->symbols(), 4096);
  auto run = [&](bool fast) {
    decode::Decoder decoder(policy->schema(), fast);
    uint64_t errors = 0;
    double start = bench::thread_seconds();
    for (int r = 0; r < rounds; ++r) {
      for (size_t i = 0; i < n;) {
        batch.clear();
        for (; i < n && !batch.full(); ++i)
          decoder.decode(std::string_view(texts[i].data(), texts[i].size() - 64), texts[i].size(), i + 1,
                         batch);
        errors += batch.errors().size();
      }
    }
    const double seconds = bench::thread_seconds() - start;
    const double events = static_cast<double>(n) * rounds;
    std::printf("%-24s %8.1f ns/event  %6.0f MB/s  (%.1f%% plain, %llu error rows per round)\n",
                fast ? "plain fast path:" : "full simdjson path:", seconds * 1e9 / events,
                static_cast<double>(bytes) * rounds / 1e6 / seconds, 100.0 * decoder.plain_lines() / events,
                static_cast<unsigned long long>(errors / rounds));
  };
  std::printf("%zu lines (%.1f MB), %d rounds, thread CPU time\n", n, bytes / 1e6, rounds);
  if (paths != "full") run(true);
  if (paths != "fast") run(false);
  return 0;
}
