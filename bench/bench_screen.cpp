// Reference data figures: load + index time and memory of the shipped
// Entity List (policies/lists/entity_list.csv, ~3,000 entries, ~9,000
// names), exact key lookups (ns), name screening (us per name on one core),
// and recall / false positives on labelled variants of listed names: exact,
// alias, reordered words, punctuation and legal-form changes, one and two
// typos (must hit the right entry), and near misses (must not hit).
//
//   bench_screen [LIST.csv] [--threshold 0.9] [--misses] [--labels LABELS.jsonl] [--dump FILE]
//                [--rounds 5]
//
// --misses prints each miss. --dump writes every entry each name screened
// matches at the threshold (entries below it are not listed), with its exact
// score, one name a line: two builds' dumps are equal when their screening
// answers alike (a speed change must not change them). --labels screens the generator's labelled names
// (gen_events.py --screening-labels LABELS.jsonl), each as of its event's
// time; without it the benchmark makes its own variants of 1,000 entries.
#include <fmt/format.h>
#include <simdjson.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <random>
#include <string>
#include <vector>

#include "abi/screen.h"
#include "data/loader.h"
#include "support/atomic_file.h"
#include "support/time_util.h"

namespace {

using Clock = std::chrono::steady_clock;
double thread_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + ts.tv_nsec * 1e-9;
}
double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

edict::abi::DataSchema entity_list_schema(double threshold) {
  using edict::abi::CellType;
  edict::abi::DataSchema s;
  s.name = "entity_list";
  s.key_header = "_id";
  s.columns = {{"name", "name", CellType::Str, false},
               {"country", "country", CellType::Country, false},
               {"notice", "federal_register_notice", CellType::Str, true},
               {"added", "start_date", CellType::Date, false},
               {"removed", "end_date", CellType::Date, true},
               {"aliases", "alt_names", CellType::StrList, true}};
  s.in_force_from = 3;
  s.in_force_until = 4;
  s.screen_columns = {0, 5};
  s.screen_threshold = threshold;
  return s;
}

struct Variant {
  std::string text;
  uint32_t row;       // the entry it must hit (UINT32_MAX: must not hit)
  std::string label;  // exact, alias, reordered, punctuation, typo1, typo2, near_miss
  int64_t time = 0;   // screened as of this time
};

std::string typo(std::string s, std::mt19937& rng, int edits) {
  for (int k = 0; k < edits; ++k) {
    // Edit inside the first word (the distinctive one), never its first letter.
    size_t end = s.find(' ');
    if (end == std::string::npos) end = s.size();
    if (end < 4) return s;
    size_t at = 1 + rng() % (end - 2);
    switch (rng() % 4) {
      case 0: s.erase(at, 1); break;                                        // deletion
      case 1: s.insert(at, 1, static_cast<char>('a' + rng() % 26)); break;  // insertion
      case 2: s[at] = static_cast<char>('a' + rng() % 26); break;           // substitution
      default: std::swap(s[at], s[at + 1]); break;                          // transposition
    }
  }
  return s;
}

std::vector<Variant> variants(const edict::abi::DataSnapshot& list, size_t per_kind, int64_t now) {
  std::vector<Variant> out;
  auto push = [&](std::string text, uint32_t row, const char* label) {
    out.push_back({std::move(text), row, label, now});
  };
  std::mt19937 rng(7);
  const edict::abi::NameIndex& names = *list.names();
  std::vector<std::string> stems = {"Qorvath", "Blentrix", "Zumavo", "Pellucor", "Straventi", "Omrique"};
  for (size_t i = 0; i < per_kind; ++i) {
    uint32_t row = static_cast<uint32_t>(rng() % list.size());
    if (!list.in_force(row, now)) continue;  // other entries answer only for their dates
    std::string name(list.string(static_cast<uint32_t>(list.cell(row, 0))));
    push(name, row, "exact");
    const auto& aliases = list.list(static_cast<uint32_t>(list.cell(row, 5)));
    if (!aliases.empty()) push(aliases[rng() % aliases.size()], row, "alias");
    // Reordered: the last word first.
    size_t sp = name.rfind(' ');
    if (sp != std::string::npos) push(name.substr(sp + 1) + " " + name.substr(0, sp), row, "reordered");
    std::string upper = name;
    for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    push(upper + ", LTD.", row, "punctuation");
    push(typo(name, rng, 1), row, "typo1");
    push(typo(name, rng, 2), row, "typo2");
    // Near miss: another distinctive word with the same generic ones.
    size_t first = name.find(' ');
    push(stems[rng() % stems.size()] + (first == std::string::npos ? "" : name.substr(first)), UINT32_MAX,
         "near_miss");
  }
  (void)names;
  return out;
}

// The generator's labelled names (gen_events.py --screening-labels): each
// must hit its entry, as of its event's time, or nothing (a near miss).
std::vector<Variant> labelled(const edict::abi::DataSnapshot& by_key, const std::string& path,
                              std::string& error) {
  std::vector<Variant> out;
  simdjson::padded_string text;
  if (simdjson::padded_string::load(path).get(text)) {
    error = "cannot read " + path;
    return out;
  }
  simdjson::dom::parser parser;
  simdjson::dom::document_stream lines;
  if (parser.parse_many(text).get(lines)) {
    error = path + ": not JSON Lines";
    return out;
  }
  for (simdjson::dom::element label : lines) {
    std::string_view name, kind, time_text, entry;
    if (label["name"].get(name) || label["label"].get(kind) || label["time"].get(time_text)) {
      error = path + ": a label lacks name, label or time";
      return {};
    }
    auto time = edict::parse_rfc3339(time_text);
    uint32_t row = UINT32_MAX;
    if (!label["entry"].get(entry)) {
      const auto* found = time ? by_key.find(0, entry, *time) : nullptr;
      if (!found) {
        error = fmt::format("{}: entry `{}` is not in force at {} in this list", path, entry, time_text);
        return {};
      }
      row = found->index;
    }
    out.push_back({std::string(name), row, std::string(kind), time.value_or(0)});
  }
  return out;
}

// One miss: the name screened, the entry it should have hit (with its
// similarity) and the entry it did hit.
void print_miss(const edict::abi::DataSnapshot& list, const Variant& v, const edict::abi::ScreenMatch& got) {
  const edict::abi::NameIndex& names = *list.names();
  const std::string query = names.normalizer().normalize(v.text);
  std::printf("miss %-11s \"%s\"", v.label.c_str(), v.text.c_str());
  if (v.row != UINT32_MAX) {
    double best = 0;
    std::string best_name;
    for (uint32_t e = 0; e < names.size(); ++e)
      if (names.row(e) == v.row && names.similarity(query, names.normalized(e)) > best)
        best = names.similarity(query, names.normalized(e)), best_name = names.normalized(e);
    std::printf(" wanted \"%s\" %.3f", best_name.c_str(), best);
  }
  if (got.found()) std::printf(" got \"%s\" %.3f", names.normalized(got.entry).c_str(), got.score);
  std::printf("\n");
}

// Every match of every name (entry and score, the score's bits in hex).
bool dump(const edict::abi::DataSnapshot& list, const std::vector<Variant>& vs, const std::string& path,
          double threshold) {
  std::string error;
  auto out = edict::AtomicFile::create(path, &error);
  for (size_t i = 0; out && i < vs.size(); ++i) {
    std::string line = vs[i].text + "\t";
    for (auto [entry, score] : list.names()->scored(vs[i].text, threshold))
      line += fmt::format(" {}:{:a}", entry, score);
    out->write(line + "\n");
  }
  if (out && out->commit(&error)) return true;
  std::fprintf(stderr, "bench_screen: %s\n", error.c_str());
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  std::string path = EDICT_SOURCE_DIR "/policies/lists/entity_list.csv";
  double threshold = 0.9;
  bool print_misses = false;
  std::string labels_path;  // gen_events.py --screening-labels; else variants made here
  std::string dump_path;
  int rounds = 5;  // of screening; 1 under callgrind
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--threshold") && i + 1 < argc)
      threshold = std::atof(argv[++i]);
    else if (!std::strcmp(argv[i], "--misses"))
      print_misses = true;
    else if (!std::strcmp(argv[i], "--labels") && i + 1 < argc)
      labels_path = argv[++i];
    else if (!std::strcmp(argv[i], "--rounds") && i + 1 < argc)
      rounds = std::max(1, std::atoi(argv[++i]));
    else if (!std::strcmp(argv[i], "--dump") && i + 1 < argc)
      dump_path = argv[++i];
    else
      path = argv[i];
  }
  auto t = Clock::now();
  auto loaded = edict::data::load_file(entity_list_schema(threshold), path);
  double load_ms = ms_since(t);
  if (loaded.error) {
    std::fprintf(stderr, "%s\n", loaded.error->text().c_str());
    return 2;
  }
  const edict::abi::DataSnapshot& list = *loaded.snapshot;
  std::printf("list: %s\n  %u entries, %zu names, load + index %.1f ms, memory %.1f MB (index %.1f MB)\n",
              path.c_str(), list.size(), list.names()->size(), load_ms, list.memory_bytes() / 1e6,
              list.names()->memory_bytes() / 1e6);

  // Exact key lookups (the `x in list` of a list without `screen`).
  const int64_t now = 1'780'000'000'000'000;  // 2026-05-28
  std::vector<std::string> keys;
  for (uint32_t r = 0; r < list.size(); ++r) keys.emplace_back(list.key_text(r));
  edict::abi::DataSchema exact = entity_list_schema(threshold);
  exact.screen_columns.clear();
  auto by_key = edict::data::load_file(exact, path);
  // Thread CPU time, best of 10 rounds of 50 passes (a shared machine).
  size_t hits = 0;
  const int passes = 50;
  double lookup_ns = 1e300;
  for (int round = 0; round < 10; ++round) {
    hits = 0;
    double start = thread_seconds();
    for (int k = 0; k < passes; ++k)
      for (const std::string& key : keys) hits += by_key.snapshot->find(0, key, now) != nullptr;
    lookup_ns = std::min(lookup_ns, (thread_seconds() - start) * 1e9 / (passes * keys.size()));
  }
  std::printf(
      "exact key lookup: %.1f ns per lookup (%zu found of %zu per pass; thread CPU time, best of 10 "
      "rounds)\n",
      lookup_ns, hits / passes, keys.size());

  std::vector<Variant> vs;
  if (labels_path.empty()) {
    vs = variants(list, 1000, now);
    std::printf("variants: 1,000 entries in force at 2026-05-28, made by this benchmark\n");
  } else {
    std::string error;
    vs = labelled(*by_key.snapshot, labels_path, error);
    if (!error.empty()) {
      std::fprintf(stderr, "bench_screen: %s\n", error.c_str());
      return 2;
    }
    std::printf("variants: %zu labelled names from %s (gen_events.py --screening-labels)\n", vs.size(),
                labels_path.c_str());
  }
  struct Tally {
    const char* label;
    size_t total = 0, right = 0, wrong = 0;
  };
  std::vector<Tally> tally = {{"exact"}, {"alias"}, {"reordered"}, {"punctuation"},
                              {"typo1"}, {"typo2"}, {"near_miss"}};
  // Thread CPU time, best of 5 rounds: the figure a loaded machine disturbs
  // least. Each round screens every name for the first time (the index's
  // cache emptied), then again (each name seen before, as a stream's
  // repeat customers are).
  std::vector<edict::abi::ScreenMatch> results;
  double screen_us = 1e300, repeat_us = 1e300;
  edict::abi::NameIndex::Work work;  // of the first round
  for (int round = 0; round < rounds; ++round) {
    list.names()->clear_cache();
    results.clear();
    results.reserve(vs.size());
    edict::abi::NameIndex::work() = {};
    double start = thread_seconds();
    for (const Variant& v : vs) results.push_back(list.screen(v.text, v.time));
    screen_us = std::min(screen_us, (thread_seconds() - start) * 1e6 / vs.size());
    if (round == 0) work = edict::abi::NameIndex::work();
    start = thread_seconds();
    for (const Variant& v : vs) list.screen(v.text, v.time);
    repeat_us = std::min(repeat_us, (thread_seconds() - start) * 1e6 / vs.size());
  }
  if (!dump_path.empty() && !dump(list, vs, dump_path, threshold)) return 2;
  for (size_t i = 0; i < vs.size(); ++i) {
    for (Tally& x : tally) {
      if (vs[i].label != x.label) continue;
      ++x.total;
      if (vs[i].row == UINT32_MAX)
        x.wrong += results[i].found();
      else if (results[i].found() && results[i].row == vs[i].row)
        ++x.right;
      else if (results[i].found())
        ++x.wrong;
    }
    const bool missed = vs[i].row == UINT32_MAX ? results[i].found() : results[i].row != vs[i].row;
    if (print_misses && missed) print_miss(list, vs[i], results[i]);
  }
  std::printf(
      "screening: %.2f us per name seen for the first time, %.2f us per name seen before (thread CPU time, "
      "best of %d rounds; %zu names, threshold %.2f)\n",
      screen_us, repeat_us, rounds, vs.size(), threshold);
  // Per distinct name (a name met twice in a round is screened once).
  const double distinct = static_cast<double>(std::max<uint64_t>(1, work.names));
  std::printf(
      "  %llu distinct names, each screened for the first time: %.2f us each (target: at most 2); per name "
      "%.1f entries credited by the word index, %.1f kept as candidates and scored, %.1f word pairs "
      "compared\n",
      static_cast<unsigned long long>(work.names), screen_us * vs.size() / distinct, work.credited / distinct,
      work.scored / distinct, work.compared / distinct);
  std::printf("  %-12s %6s %8s %8s\n", "variant", "names", "recall", "wrong");
  for (const Tally& x : tally) {
    if (!std::strcmp(x.label, "near_miss"))
      std::printf("  %-12s %6zu %8s %8zu  (false positives: %.1f%%)\n", x.label, x.total, "-", x.wrong,
                  100.0 * x.wrong / std::max<size_t>(1, x.total));
    else
      std::printf("  %-12s %6zu %7.1f%% %8zu\n", x.label, x.total,
                  100.0 * x.right / std::max<size_t>(1, x.total), x.wrong);
  }
  return 0;
}
