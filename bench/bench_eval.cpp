// Benchmark of the reference workload (bench/reference_workload.md): compile
// time, decode speed, evaluation ns/event for the JIT, the interpreter and a
// hand-written C++ baseline over the SAME decoded columns, and end-to-end
// throughput (read, decode, evaluate, format JSONL). Prints figures; asserts
// nothing except that all three evaluators agree on every event.
//
//   bench_eval POLICY EVENTS [--rounds N]
#include <fmt/format.h>

#include <algorithm>
#include <bitset>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "compiler/support/countries.h"
#include "compiler/support/time_util.h"
#include "runtime/decoder.h"
#include "runtime/engine/engine.h"
#include "runtime/engine/output.h"
#include "runtime/line_reader.h"

using namespace edict;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// The workload written by hand against the decoded columns, the way an
// engineer would without Edict: lookups precomputed, one pass per batch.
class Baseline {
 public:
  explicit Baseline(const engine::Policy& p) : schema_(p.schema()) {
    const runtime::SymbolTable& sym = p.symbols();
    struct Chip {
      const char* name;
      double tpp, area;
    };
    const Chip chips[] = {{"H100-SXM5-80GB", 15832, 814},
                          {"H100-PCIe-80GB", 12096, 814},
                          {"H800-SXM5-80GB", 15832, 814},
                          {"A100-SXM4-80GB", 4992, 826},
                          {"A800-SXM4-80GB", 4992, 826},
                          {"H20", 2368, 814},
                          {"L40S", 5864, 609},
                          {"L4", 1940, 294},
                          {"RTX-4090", 5285, 609},
                          {"RTX-4090D", 4707, 609},
                          {"T4", 1040, 545},
                          {"MI300X", 20915, 1017},
                          {"MI250X", 6128, 1448},
                          {"B200", 36000, 1600}};
    in_table_.assign(sym.size(), 0);
    advanced_.assign(sym.size(), 0);
    for (const Chip& c : chips) {
      auto s = sym.find(c.name);
      if (!s) continue;
      in_table_[*s] = 1;
      advanced_[*s] = c.tpp >= 4800 || (c.tpp >= 1600 && c.tpp / c.area >= 5.92);
    }
    training_ = sym.find("training").value_or(UINT32_MAX);
    for (const char* c : {"AF", "BY", "CD", "CF", "CN", "CU", "ER", "HT", "IQ", "IR", "KP", "LB",
                          "LY", "MM", "NI", "RU", "SD", "SO", "SS", "SY", "VE", "ZW", "MO"})
      d5m_.set(*country_index(c));
    for (const char* c : {"US", "AU", "BE", "CA", "DK", "FI", "FR", "DE", "IE", "IT", "JP", "NL", "NZ", "NO",
                          "KR", "ES", "SE", "TW", "GB"})
      allies_.set(*country_index(c));
    us_ = *country_index("US");
    cn_ = *country_index("CN");
    rental_ = schema_.kind_index("rental");
  }

  int col(int kind, const char* field) const {
    const runtime::KindSpec& k = schema_.kinds[static_cast<size_t>(kind)];
    return k.fields[static_cast<size_t>(k.field_index.at(field))].column;
  }

  // Writes the decision (0 allow .. 3 deny, 0xFF skipped) and fired mask per row.
  void eval(const runtime::Batch& b, uint8_t* decision, uint16_t* fired) const {
    const int provision = 1 - rental_;
    auto i64 = [&](int c) { return b.column(static_cast<size_t>(c)).data<int64_t>(); };
    auto f64 = [&](int c) { return b.column(static_cast<size_t>(c)).data<double>(); };
    auto u32 = [&](int c) { return b.column(static_cast<size_t>(c)).data<uint32_t>(); };
    auto u16 = [&](int c) { return b.column(static_cast<size_t>(c)).data<uint16_t>(); };
    auto u8 = [&](int c) { return b.column(static_cast<size_t>(c)).data<uint8_t>(); };
    const int64_t* time = i64(col(rental_, "time"));
    const uint32_t* chip = u32(col(rental_, "chip"));
    const uint16_t* chq = u16(col(rental_, "customer_hq"));
    const uint16_t* phq = u16(col(rental_, "parent_hq"));
    const uint16_t* dc = u16(col(rental_, "datacenter"));
    const uint8_t* listed = u8(col(rental_, "entity_listed"));
    const uint32_t* purpose = u32(col(rental_, "purpose"));
    const double* ops = f64(col(rental_, "training_ops"));
    const int64_t* count = i64(col(rental_, "chip_count"));
    const double* hours = f64(col(rental_, "hours"));
    const uint8_t* license = b.column(static_cast<size_t>(col(rental_, "license"))).present.data();
    const double* peak = f64(col(provision, "peak_ops_per_s"));
    const double* gbps = f64(col(provision, "interconnect_gbps"));
    static const int64_t d20221007 = *parse_date("2022-10-07"), d20231030 = *parse_date("2023-10-30"),
                         d20231117 = *parse_date("2023-11-17"), d20240129 = *parse_date("2024-01-29"),
                         d20250113 = *parse_date("2025-01-13"), d20250513 = *parse_date("2025-05-13");
    static const uint8_t effect[9] = {3, 3, 3, 1, 2, 1, 2, 2, 2};
    for (uint32_t r = 0; r < b.size(); ++r) {
      uint8_t k = b.kind(r);
      if (k == runtime::kErrorRow) {
        decision[r] = 0xFF;
        fired[r] = 0;
        continue;
      }
      bool rental = k == rental_;
      uint32_t c = chip[r];
      bool known = c < in_table_.size() && in_table_[c];
      bool adv = known && advanced_[c];
      bool no_license = !(rental && license[r]);
      int64_t t = time[r];
      uint16_t m = 0;
      if (rental && t >= d20231117 && adv && (d5m_.test(chq[r]) || d5m_.test(phq[r])) && no_license) m |= 1;
      if (t >= d20221007 && adv && d5m_.test(dc[r]) && no_license) m |= 2;
      if (rental && listed[r]) m |= 4;
      if (rental && t >= d20240129 && purpose[r] == training_ && chq[r] != us_ && ops[r] > 1e26) m |= 8;
      if (rental && adv && static_cast<double>(count[r]) * hours[r] >= 100000 && !allies_.test(chq[r]))
        m |= 16;
      if (!rental && t >= d20231030 && peak[r] >= 1e20 && gbps[r] >= 100) m |= 32;
      if (rental && t >= d20250113 && t < d20250513 && adv && !allies_.test(dc[r]) && !allies_.test(chq[r]))
        m |= 64;
      if (!known) m |= 128;
      if (rental && adv && phq[r] == cn_ && chq[r] != cn_) m |= 256;
      uint8_t d = 0;
      for (int i = 0; i < 9; ++i)
        if (m >> i & 1) d = std::max(d, effect[i]);
      decision[r] = d;
      fired[r] = m;
    }
  }

 private:
  const runtime::Schema& schema_;
  std::vector<uint8_t> in_table_, advanced_;
  uint32_t training_ = 0;
  std::bitset<kCountryIndexLimit> d5m_, allies_;
  uint16_t us_ = 0, cn_ = 0;
  int rental_ = 0;
};

std::vector<std::unique_ptr<runtime::Batch>> decode_all(const engine::Policy& p, const std::string& events,
                                                        uint64_t* bytes, double* seconds) {
  std::vector<std::unique_ptr<runtime::Batch>> batches;
  std::string error;
  auto reader = runtime::LineReader::open(events, 1 << 20, &error);
  if (!reader) {
    std::fprintf(stderr, "cannot read %s: %s\n", events.c_str(), error.c_str());
    std::exit(2);
  }
  runtime::Decoder decoder(p.schema());
  std::vector<runtime::Line> lines;
  auto start = Clock::now();
  while (reader->next(lines)) {
    for (const runtime::Line& l : lines) {
      if (batches.empty() || batches.back()->full())
        batches.push_back(std::make_unique<runtime::Batch>(p.schema(), p.symbols(), 4096));
      runtime::Batch& b = *batches.back();
      if (l.too_long)
        b.fail(b.begin_row(l.number), runtime::ErrorReason::LineTooLong, "too long");
      else
        decoder.decode(l.text, l.capacity, l.number, b);
    }
  }
  *seconds = seconds_since(start);
  *bytes = reader->bytes_read();
  return batches;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: bench_eval POLICY EVENTS [--rounds N]\n");
    return 2;
  }
  std::string policy_path = argv[1], events = argv[2];
  int rounds = 3;
  for (int i = 3; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], "--rounds") == 0) rounds = std::max(1, std::atoi(argv[i + 1]));

  // Compile: parse, check, lower, JIT (median of 5).
  std::vector<double> compile_ms;
  std::unique_ptr<engine::Policy> jit, interp, jit_o0;
  SourceManager sources;
  for (int i = 0; i < 5; ++i) {
    SourceManager s;
    DiagnosticSink sink;
    auto t = Clock::now();
    auto p = engine::Policy::compile({policy_path}, s, sink, {engine::Backend::Jit, 2, {}});
    compile_ms.push_back(seconds_since(t) * 1000);
    if (!p) {
      std::fputs(render_human(s, sink.sorted()).c_str(), stderr);
      return 2;
    }
  }
  DiagnosticSink sink;
  jit = engine::Policy::compile({policy_path}, sources, sink, {engine::Backend::Jit, 2, {}});
  interp = engine::Policy::compile({policy_path}, sources, sink, {engine::Backend::Interp, 2, {}});
  jit_o0 = engine::Policy::compile({policy_path}, sources, sink, {engine::Backend::Jit, 0, {}});
  if (!jit || !interp || !jit_o0) return 2;

  uint64_t bytes = 0;
  double decode_s = 0;
  auto batches = decode_all(*jit, events, &bytes, &decode_s);
  uint64_t n = 0;
  for (auto& b : batches) n += b->size();
  std::printf("reference workload: %s events (%.1f MB) from %s\n", fmt::format("{}", n).c_str(), bytes / 1e6,
              events.c_str());
  std::printf("compile (parse+check+lower+JIT -O2), median of 5: %.1f ms\n", median(compile_ms));
  std::printf("read+decode: %.1f ns/event, %.0f MB/s\n", decode_s * 1e9 / n, bytes / 1e6 / decode_s);

  // Evaluation over the decoded columns.
  auto time_engine = [&](const engine::Policy& p, std::vector<engine::Results>& out) {
    std::vector<double> ns;
    out.resize(batches.size());
    for (size_t i = 0; i < batches.size(); ++i)
      out[i].reserve(batches[i]->capacity(), p.module().rules.size());
    for (int r = 0; r < rounds; ++r) {
      auto t = Clock::now();
      for (size_t i = 0; i < batches.size(); ++i) p.evaluate(*batches[i], out[i]);
      ns.push_back(seconds_since(t) * 1e9 / n);
    }
    return median(ns);
  };
  std::vector<engine::Results> jit_res, o0_res, interp_res;
  double jit_ns = time_engine(*jit, jit_res);
  double o0_ns = time_engine(*jit_o0, o0_res);
  double interp_ns = time_engine(*interp, interp_res);

  Baseline baseline(*jit);
  std::vector<std::vector<uint8_t>> base_dec(batches.size());
  std::vector<std::vector<uint16_t>> base_fired(batches.size());
  std::vector<double> base_ns;
  for (int r = 0; r < rounds; ++r) {
    auto t = Clock::now();
    for (size_t i = 0; i < batches.size(); ++i) {
      base_dec[i].resize(batches[i]->size());
      base_fired[i].resize(batches[i]->size());
      baseline.eval(*batches[i], base_dec[i].data(), base_fired[i].data());
    }
    base_ns.push_back(seconds_since(t) * 1e9 / n);
  }
  double baseline_ns = median(base_ns);

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

  std::printf("evaluation over decoded columns, median of %d rounds:\n", rounds);
  std::printf("  JIT -O2          %8.2f ns/event\n", jit_ns);
  std::printf("  JIT -O0          %8.2f ns/event\n", o0_ns);
  std::printf("  interpreter      %8.2f ns/event  (JIT speed-up %.1fx)\n", interp_ns, interp_ns / jit_ns);
  std::printf("  hand-written C++ %8.2f ns/event  (JIT / baseline %.2f)\n", baseline_ns,
              jit_ns / baseline_ns);
  std::printf("counts:");
  for (size_t d = 0; d < outcomes.size(); ++d)
    std::printf(" %s=%llu", outcomes[d].c_str(), (unsigned long long)decisions[d]);
  std::printf(" error=%llu\n", (unsigned long long)decisions[outcomes.size()]);
  std::printf("rules:");
  for (size_t k = 0; k < rules.size(); ++k)
    std::printf(" %s=%llu", jit->module().rules[k].name.c_str(), (unsigned long long)rules[k]);
  std::printf("\nagreement (JIT -O2, JIT -O0, interpreter, baseline): %s\n",
              disagreements ? fmt::format("{} DISAGREEMENTS", disagreements).c_str() : "all agree");

  // End to end: read, decode, evaluate, format JSONL (written to /dev/null).
  std::vector<double> e2e;
  for (int r = 0; r < rounds; ++r) {
    std::string error;
    auto reader = runtime::LineReader::open(events, 1 << 20, &error);
    runtime::Decoder decoder(jit->schema());
    runtime::Batch batch(jit->schema(), jit->symbols(), 4096);
    engine::Results res;
    res.reserve(4096, jit->module().rules.size());
    engine::RecordWriter writer(*jit, engine::OutputFormat::Jsonl);
    engine::Summary summary;
    std::string out;
    std::FILE* devnull = std::fopen("/dev/null", "wb");
    std::vector<runtime::Line> lines;
    auto t = Clock::now();
    while (reader->next(lines)) {
      size_t i = 0;
      while (i < lines.size()) {
        batch.clear();
        for (; i < lines.size() && !batch.full(); ++i)
          decoder.decode(lines[i].text, lines[i].capacity, lines[i].number, batch);
        jit->evaluate(batch, res);
        out.clear();
        writer.write(batch, res, out, summary);
        std::fwrite(out.data(), 1, out.size(), devnull);
      }
    }
    e2e.push_back(seconds_since(t));
    std::fclose(devnull);
  }
  double e2e_s = median(e2e);
  std::printf("end to end (read, decode, JIT, JSONL to /dev/null), one thread: %.0f MB/s, %.2f M events/s\n",
              bytes / 1e6 / e2e_s, n / 1e6 / e2e_s);
  return disagreements ? 1 : 0;
}
