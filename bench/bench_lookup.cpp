// What an exact data lookup adds to the JIT batch path: the reference
// workload with and without bench/lookup_rule.edict (one `customer_id in
// holders` per rental, in force by date, against 3,000 of the generator's
// 20,000 customer ids), each batch evaluated by both policies in alternation
// so that both see the same machine load. Also checks that the JIT and the
// interpreter agree on every row of the policy with the lookup.
//
//   bench_lookup POLICY EVENTS [--rounds N] [--holders FILE]
//
// POLICY is policies/reference.edict; the holders list is written to FILE
// (default: EVENTS.holders.csv) and read as `holders`.
#include <fmt/format.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "bench/bench_common.h"
#include "engine/engine.h"
#include "support/atomic_file.h"

using namespace edict;

namespace {

// 3,000 distinct ids of c-000000..c-019999 (a fixed permutation's first
// 3,000), in force from a first day of 2022-2025; every third one removed a
// year later, so in-force checks both pass and fail.
std::string holders_csv() {
  std::string csv = "id,name,added,removed\n";
  for (uint32_t k = 0; k < 3000; ++k) {
    const uint32_t id = (k * 7919u + 13u) % 20000u;  // 7919 is prime to 20,000: all distinct
    const int year = 2022 + static_cast<int>(k % 4), month = 1 + static_cast<int>(k % 12);
    std::string removed = k % 3 == 0 ? fmt::format("{}-{:02}-01", year + 1, month) : "";
    csv += fmt::format("c-{:06},Holder {},{}-{:02}-01,{}\n", id, id, year, month, removed);
  }
  return csv;
}

std::unique_ptr<engine::Policy> compile(const std::vector<std::string>& paths, engine::Backend backend,
                                        const std::map<std::string, std::string>& data) {
  SourceManager sources;
  DiagnosticSink sink;
  engine::CompileOptions options{backend, 2, {}};
  options.data_files = data;
  auto p = engine::Policy::compile(paths, sources, sink, options);
  if (!p) {
    std::fputs(render_human(sources, sink.sorted()).c_str(), stderr);
    std::exit(2);
  }
  return p;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: bench_lookup POLICY EVENTS [--rounds N] [--holders FILE]\n");
    return 2;
  }
  const std::string policy = argv[1], events = argv[2];
  std::string holders = events + ".holders.csv";
  int rounds = 5;
  for (int i = 3; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--rounds") == 0) rounds = std::max(1, std::atoi(argv[i + 1]));
    if (std::strcmp(argv[i], "--holders") == 0) holders = argv[i + 1];
  }
  std::string error;
  if (!write_file_atomically(holders, holders_csv(), &error)) {
    std::fprintf(stderr, "cannot write %s: %s\n", holders.c_str(), error.c_str());
    return 2;
  }
  const std::string rule = EDICT_SOURCE_DIR "/bench/lookup_rule.edict";
  const std::map<std::string, std::string> data = {{"holders", holders}};
  auto plain = compile({policy}, engine::Backend::Jit, {});
  auto with = compile({policy, rule}, engine::Backend::Jit, data);
  auto with_interp = compile({policy, rule}, engine::Backend::Interp, data);
  bench::Batches plain_batches = bench::decode_all(*plain, events);
  bench::Batches with_batches = bench::decode_all(*with, events);
  uint64_t n = 0;
  for (const auto& b : with_batches) n += b->size();

  // Hot: each batch evaluated `rounds` times by each policy in turn, after
  // one untimed evaluation each, as the pipeline evaluates a batch right
  // after decoding it.
  engine::Results plain_res, with_res, interp_res;
  plain_res.reserve(4096, plain->module().rules.size());
  with_res.reserve(4096, with->module().rules.size());
  interp_res.reserve(4096, with->module().rules.size());
  double plain_s = 0, with_s = 0;
  uint64_t disagreements = 0, lookups = 0, found = 0;
  const size_t holder_rule = with->module().rules.size() - 1;
  const int rental = with->schema().kind_index("rental");
  for (size_t i = 0; i < with_batches.size(); ++i) {
    plain->evaluate(*plain_batches[i], plain_res);
    with->evaluate(*with_batches[i], with_res);
    for (int r = 0; r < rounds; ++r) {
      double t = bench::thread_seconds();
      plain->evaluate(*plain_batches[i], plain_res);
      double u = bench::thread_seconds();
      with->evaluate(*with_batches[i], with_res);
      double v = bench::thread_seconds();
      plain_s += u - t;
      with_s += v - u;
    }
    with_interp->evaluate(*with_batches[i], interp_res);
    const abi::Batch& b = *with_batches[i];
    for (uint32_t r = 0; r < b.size(); ++r) {
      lookups += b.kind(r) == rental;
      found += with_res.rule_fired(r, holder_rule);
      if (with_res.decision[r] != interp_res.decision[r] || with_res.decision[r] != plain_res.decision[r])
        ++disagreements;
      for (size_t k = 0; k < with->module().rules.size(); ++k)
        if (with_res.rule_fired(r, k) != interp_res.rule_fired(r, k)) ++disagreements;
    }
  }
  const double per = 1e9 / (static_cast<double>(n) * rounds);
  std::printf("exact lookup on the JIT batch path: %s events, %s lookups (one per rental), %s in force\n",
              fmt::format("{}", n).c_str(), fmt::format("{}", lookups).c_str(),
              fmt::format("{}", found).c_str());
  const double added = (with_s - plain_s) * per;
  std::printf(
      "  reference workload %6.2f ns/event hot, with the lookup %6.2f: %.2f ns/event added (%.2f per "
      "lookup; floor <= 10 ns/event: %s)\n",
      plain_s * per, with_s * per, added,
      lookups ? (with_s - plain_s) * 1e9 / (static_cast<double>(lookups) * rounds) : 0.0,
      added <= 10 ? "met" : "NOT met");
  std::printf("  agreement (JIT with the lookup, interpreter, decisions without it): %s\n",
              disagreements ? fmt::format("{} DISAGREEMENTS", disagreements).c_str() : "all agree");
  return disagreements ? 1 : 0;
}
