#include "bench/bench_common.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>

#include "engine/decode/decoder.h"
#include "engine/decode/line_reader.h"

namespace edict::bench {

double thread_seconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

Batches decode_all(const engine::Policy& p, const std::string& events, uint64_t* bytes) {
  Batches batches;
  std::string error;
  auto reader = decode::LineReader::open(events, 1 << 20, &error);
  if (!reader) {
    std::fprintf(stderr, "cannot read %s: %s\n", events.c_str(), error.c_str());
    std::exit(2);
  }
  decode::Decoder decoder(p.schema());
  std::vector<decode::Line> lines;
  while (reader->next(lines)) {
    for (const decode::Line& l : lines) {
      if (batches.empty() || batches.back()->full())
        batches.push_back(std::make_unique<abi::Batch>(p.schema(), p.symbols(), 4096));
      abi::Batch& b = *batches.back();
      if (l.too_long)
        b.fail(b.begin_row(l.number), abi::ErrorReason::LineTooLong, "too long");
      else
        decoder.decode(l.text, l.capacity, l.number, b);
    }
  }
  if (bytes) *bytes = reader->bytes_read();
  return batches;
}

}  // namespace edict::bench
