// The reference workload end to end, written by hand without Edict (issue
// 19): read the file in large chunks, parse each line with simdjson
// On-Demand reading only the fields the workload reads, decide the nine
// rules, and write the same decision records as `edict eval
// policies/reference.edict` (byte for byte on clean input; bench/run.sh
// compares them). One thread. Prints wall and CPU time and MB/s.
//
//   bench_baseline_e2e EVENTS [-o OUT]
#include <fcntl.h>
#include <fmt/compile.h>
#include <fmt/format.h>
#include <simdjson.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <string>
#include <string_view>
#include <vector>

#include "bench/reference_chips.h"

namespace {

using edict::bench::advanced;
using edict::bench::kReferenceChips;
using edict::bench::ReferenceChip;

namespace od = simdjson::ondemand;

constexpr int kCountries = 26 * 26;
int country(std::string_view c) {
  if (c.size() != 2 || c[0] < 'A' || c[0] > 'Z' || c[1] < 'A' || c[1] > 'Z') return -1;
  return (c[0] - 'A') * 26 + (c[1] - 'A');
}

// Seconds since 1970 of a civil date (Howard Hinnant's days_from_civil).
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}
int64_t date(int y, unsigned m, unsigned d) {
  return days_from_civil(y, m, d) * 86400;
}
// `YYYY-MM-DDTHH:MM:SSZ`, the shape every event of the corpus has.
bool parse_time(std::string_view s, int64_t* out) {
  if (s.size() != 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[19] != 'Z') return false;
  auto n = [&](size_t at, size_t len) {
    int v = 0;
    for (size_t i = at; i < at + len; ++i) v = v * 10 + (s[i] - '0');
    return v;
  };
  *out = date(n(0, 4), static_cast<unsigned>(n(5, 2)), static_cast<unsigned>(n(8, 2))) + n(11, 2) * 3600 +
         n(14, 2) * 60 + n(17, 2);
  return true;
}

struct Event {
  bool rental = false, provision = false;
  std::string_view id, chip, customer_id, cluster_id, purpose;
  int customer_hq = -1, parent_hq = -1, datacenter = -1;
  int64_t time = 0, chip_count = 0;
  double hours = 0, training_ops = 0, peak = 0, gbps = 0;
  bool listed = false, license = false;
};

// Every fired rule's fields after its cite, up to its message.
#define EDICT_REFERENCE_POLICY_FIELDS \
  R"x("policy":"Reference workload v1: cloud GPU rental screening","status":"hypothetical","version":"1.0","message":")x"

class Workload {
 public:
  Workload() {
    for (const char* c : {"AF", "BY", "CD", "CF", "CN", "CU", "ER", "HT", "IQ", "IR", "KP", "LB",
                          "LY", "MM", "NI", "RU", "SD", "SO", "SS", "SY", "VE", "ZW", "MO"})
      d5m_[country(c)] = true;
    for (const char* c : {"US", "AU", "BE", "CA", "DK", "FI", "FR", "DE", "IE", "IT", "JP", "NL", "NZ", "NO",
                          "KR", "ES", "SE", "TW", "GB"})
      allies_[country(c)] = true;
  }

  // Appends the event's decision record to `out`.
  void decide(const Event& e, uint64_t line, std::string& out) const {
    const ReferenceChip* chip = nullptr;
    for (const ReferenceChip& c : kReferenceChips)
      if (c.name == e.chip) chip = &c;
    const bool adv = chip && advanced(*chip);
    const bool no_license = !(e.rental && e.license);
    const bool chq_ally = allies_[e.customer_hq], chq_d5m = d5m_[e.customer_hq];
    const int64_t t = e.time;
    const int us = country("US"), cn = country("CN");
    bool fired[9];
    fired[0] = e.rental && t >= date(2023, 11, 17) && adv && (chq_d5m || d5m_[e.parent_hq]) && no_license;
    fired[1] = t >= date(2022, 10, 7) && adv && d5m_[e.datacenter] && no_license;
    fired[2] = e.rental && e.listed;
    fired[3] = e.rental && t >= date(2024, 1, 29) && e.purpose == "training" && e.customer_hq != us &&
               e.training_ops > 1e26;
    fired[4] = e.rental && adv && static_cast<double>(e.chip_count) * e.hours >= 100000 && !chq_ally;
    fired[5] = e.provision && t >= date(2023, 10, 30) && e.peak >= 1e20 && e.gbps >= 100;
    fired[6] = e.rental && t >= date(2025, 1, 13) && t < date(2025, 5, 13) && adv && !allies_[e.datacenter] &&
               !chq_ally;
    fired[7] = !chip;
    fired[8] = e.rental && adv && e.parent_hq == cn && e.customer_hq != cn;
    const char* decision = (fired[0] || fired[1] || fired[2])               ? "deny"
                           : (fired[4] || fired[6] || fired[7] || fired[8]) ? "review"
                           : (fired[3] || fired[5])                         ? "report"
                                                                            : "allow";
    out += "{\"line\":";
    fmt::format_to(std::back_inserter(out), FMT_COMPILE("{}"), line);
    out += ",\"id\":\"";
    escape(out, e.id);
    out += e.rental ? "\",\"kind\":\"rental\",\"decision\":\"" : "\",\"kind\":\"provision\",\"decision\":\"";
    out += decision;
    out += "\",\"rules\":[";
    bool first = true;
    for (int r = 0; r < 9; ++r) {
      if (!fired[r]) continue;
      if (!first) out += ',';
      first = false;
      out += kPrefix[r];
      message(r, e, out);
      out += "\"}";
    }
    out += "]}\n";
  }

 private:
  static constexpr const char* kPrefix[9] = {
      R"x({"name":"hq_d5","effect":"deny","cite":"15 CFR 744.23(a)(3)",)x" EDICT_REFERENCE_POLICY_FIELDS,
      R"x({"name":"dc_d5","effect":"deny","cite":"15 CFR 742.6(a)(6)",)x" EDICT_REFERENCE_POLICY_FIELDS,
      R"x({"name":"entity_list","effect":"deny","cite":"15 CFR 744.11",)x" EDICT_REFERENCE_POLICY_FIELDS,
      R"x({"name":"kyc_large_training","effect":"report","cite":"15 CFR 7.308 (proposed, 89 FR 5698)",)x" EDICT_REFERENCE_POLICY_FIELDS,
      R"x({"name":"bulk_gpu_hours","effect":"review","cite":"15 CFR 732, Supp. No. 3",)x" EDICT_REFERENCE_POLICY_FIELDS,
      R"x({"name":"cluster_threshold","effect":"report","cite":"EO 14110 §4.2(b)(ii)",)x" EDICT_REFERENCE_POLICY_FIELDS,
      R"x({"name":"diffusion_tier3","effect":"review","cite":"90 FR 4544 (Framework for AI Diffusion)",)x" EDICT_REFERENCE_POLICY_FIELDS,
      R"x({"name":"unknown_chip","effect":"review","cite":"15 CFR 774, Supp. No. 1, ECCN 3A090",)x" EDICT_REFERENCE_POLICY_FIELDS,
      R"x({"name":"offshore_cn_parent","effect":"review","cite":"15 CFR 744.23(a)(3)",)x" EDICT_REFERENCE_POLICY_FIELDS,
  };

  static void escape(std::string& out, std::string_view s) {
    for (char c : s) {
      const auto u = static_cast<unsigned char>(c);
      if (c == '"' || c == '\\') {
        out += '\\';
        out += c;
      } else if (u < 0x20) {
        fmt::format_to(std::back_inserter(out), "\\u{:04x}", u);
      } else {
        out += c;
      }
    }
  }
  static void put_country(std::string& out, int c) {
    if (c < 0) return;
    out += static_cast<char>('A' + c / 26);
    out += static_cast<char>('A' + c % 26);
  }
  static void put_number(std::string& out, double v) {
    fmt::format_to(std::back_inserter(out), FMT_COMPILE("{}"), v);
  }
  static void put_int(std::string& out, int64_t v) {
    fmt::format_to(std::back_inserter(out), FMT_COMPILE("{}"), v);
  }
  static void message(int rule, const Event& e, std::string& out) {
    switch (rule) {
      case 0:
        put_int(out, e.chip_count), out += " x ", escape(out, e.chip);
        out += " for a customer headquartered in ", put_country(out, e.customer_hq);
        out += " (ultimate parent in ", put_country(out, e.parent_hq), out += ')';
        break;
      case 1:
        put_int(out, e.chip_count), out += " x ", escape(out, e.chip);
        out += " in a datacenter in ", put_country(out, e.datacenter);
        break;
      case 2:
        out += "customer ", escape(out, e.customer_id), out += " matched a restricted-party screening list";
        break;
      case 3:
        out += "training run of ", put_number(out, e.training_ops);
        out += " operations for a customer headquartered in ", put_country(out, e.customer_hq);
        break;
      case 4:
        put_int(out, e.chip_count), out += " x ", escape(out, e.chip), out += " for ";
        put_number(out, e.hours), out += " hours to a customer headquartered in ";
        put_country(out, e.customer_hq);
        break;
      case 5:
        out += "cluster ", escape(out, e.cluster_id), out += " in ", put_country(out, e.datacenter);
        out += ": ", put_number(out, e.peak), out += " ops/s at ", put_number(out, e.gbps), out += " Gbit/s";
        break;
      case 6:
        escape(out, e.chip), out += " in ", put_country(out, e.datacenter);
        out += " for a customer headquartered in ", put_country(out, e.customer_hq);
        out += ", both outside Tier 1";
        break;
      case 7: out += "chip ", escape(out, e.chip), out += " is not in the classification table"; break;
      case 8:
        escape(out, e.chip), out += " for a customer in ", put_country(out, e.customer_hq);
        out += " whose ultimate parent is headquartered in CN";
        break;
    }
  }

  std::array<bool, kCountries + 1> d5m_{}, allies_{};
};

// The fields the workload reads, in one pass over the object; false for a
// line this baseline does not handle (the corpus has none).
bool read_event(od::parser& parser, const char* text, size_t len, size_t capacity, Event& e) {
  od::document doc;
  if (parser.iterate(text, len, capacity).get(doc)) return false;
  od::object obj;
  if (doc.get_object().get(obj)) return false;
  e = Event{};
  for (auto field : obj) {
    std::string_view key;
    if (field.unescaped_key().get(key)) return false;
    od::value v = field.value();
    std::string_view s;
    auto str = [&]() { return !v.get_string().get(s); };
    auto cty = [&](int& out) {
      if (!str()) return false;
      out = country(s);
      return out >= 0;
    };
    bool ok = true;
    switch (key.size()) {
      case 2:
        if (key == "id") ok = !v.get_string().get(e.id);
        break;
      case 4:
        if (key == "kind") {
          ok = str();
          e.rental = s == "rental";
          e.provision = s == "provision";
        } else if (key == "time") {
          ok = str() && parse_time(s, &e.time);
        } else if (key == "chip") {
          ok = !v.get_string().get(e.chip);
        }
        break;
      case 5:
        if (key == "hours") ok = !v.get_double().get(e.hours);
        break;
      case 7:
        if (key == "license") e.license = true;
        if (key == "purpose") ok = !v.get_string().get(e.purpose);
        break;
      case 9:
        if (key == "parent_hq") ok = cty(e.parent_hq);
        break;
      case 10:
        if (key == "chip_count") ok = !v.get_int64().get(e.chip_count);
        if (key == "datacenter") ok = cty(e.datacenter);
        if (key == "cluster_id") ok = !v.get_string().get(e.cluster_id);
        break;
      case 11:
        if (key == "customer_id") ok = !v.get_string().get(e.customer_id);
        if (key == "customer_hq") ok = cty(e.customer_hq);
        break;
      case 12:
        if (key == "training_ops") ok = !v.get_double().get(e.training_ops);
        break;
      case 13:
        if (key == "entity_listed") ok = !v.get_bool().get(e.listed);
        break;
      case 14:
        if (key == "peak_ops_per_s") ok = !v.get_double().get(e.peak);
        break;
      case 17:
        if (key == "interconnect_gbps") ok = !v.get_double().get(e.gbps);
        break;
    }
    if (!ok) return false;
  }
  return e.rental || e.provision;
}

double cpu_seconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: bench_baseline_e2e EVENTS [-o OUT]\n");
    return 2;
  }
  const char* out_path = "/dev/null";
  for (int i = 2; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], "-o") == 0) out_path = argv[i + 1];
  const auto wall_start = std::chrono::steady_clock::now();
  const double cpu_start = cpu_seconds();
  const int fd = ::open(argv[1], O_RDONLY);
  std::FILE* out = std::fopen(out_path, "wb");
  if (fd < 0 || !out) {
    std::fprintf(stderr, "bench_baseline_e2e: cannot open %s or %s\n", argv[1], out_path);
    return 2;
  }
  constexpr size_t kChunk = 1 << 20;
  std::vector<char> buffer(2 * kChunk + simdjson::SIMDJSON_PADDING);
  size_t begin = 0, end = 0;
  uint64_t line = 0, bytes = 0, skipped = 0;
  od::parser parser;
  Workload workload;
  Event event;
  std::string records;
  for (bool eof = false; !eof;) {
    std::memmove(buffer.data(), buffer.data() + begin, end - begin);
    end -= begin;
    begin = 0;
    const ssize_t n = ::read(fd, buffer.data() + end, kChunk);
    if (n < 0) return 2;
    eof = n == 0;
    end += static_cast<size_t>(n);
    bytes += static_cast<uint64_t>(n);
    std::memset(buffer.data() + end, 0, simdjson::SIMDJSON_PADDING);
    records.clear();
    while (begin < end) {
      const char* nl = static_cast<const char*>(std::memchr(buffer.data() + begin, '\n', end - begin));
      if (!nl && !eof) break;
      const size_t stop = nl ? static_cast<size_t>(nl - buffer.data()) : end;
      const char* text = buffer.data() + begin;
      ++line;
      if (read_event(parser, text, stop - begin, buffer.size() - begin, event))
        workload.decide(event, line, records);
      else
        ++skipped;
      begin = stop + 1;
    }
    if (begin > end) begin = end;
    std::fwrite(records.data(), 1, records.size(), out);
  }
  std::fclose(out);
  ::close(fd);
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  const double cpu = cpu_seconds() - cpu_start;
  std::printf(
      "hand-written end to end (simdjson On-Demand, only the fields read, same records): %llu lines, %.2f s "
      "wall, %.2f s CPU, %.0f MB/s%s\n",
      static_cast<unsigned long long>(line), wall, cpu, static_cast<double>(bytes) / 1e6 / wall,
      skipped ? fmt::format(" ({} lines it does not handle, no record)", skipped).c_str() : "");
  return skipped ? 1 : 0;
}
