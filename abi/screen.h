// Name screening: a name against a list's names and aliases, as trade
// compliance screens a customer against the Entity List. Both engines reach
// it through edict_data_find on a data source declared with `screen` (the
// index lives in the loaded DataSnapshot, built once per version).
//
// Normalisation: lowercase; Latin diacritics folded (é -> e, ß -> ss);
// apostrophes and dots dropped (`S.A.` -> `sa`), other punctuation a space;
// legal-form words removed (Co., Ltd., Limited, Inc., GmbH, Corporation, ...
// see kLegalForms, plus the words the policy adds); tokens sorted, so word
// order does not matter.
//
// Similarity: Jaro-Winkler per token, raised for a misspelling (same first
// letter; one edit: at least 0.96, two edits in words of six letters or
// more: at least 0.92; see word_likeness), each token matched to its best
// counterpart on the other side, both ways, weighted by length times the
// token's rarity in the list (inverse document frequency), so that a shared
// generic word ("Electronics", "Technology") cannot make two names alike:
// 1.0 for the same tokens in any order, ~0.95 for one typo in a long name.
//
// Candidates: an index of the list's distinct words. Each query word finds
// the list words like it (itself, and the words within two edits, found
// through their variants with up to two letters deleted, whose Jaro-Winkler
// similarity passes 0.75); the names holding them collect credit weighted by the
// word's rarity, and only the best few names are scored in full. Words in
// more than 1 name in 100 ("Technologies") find candidates only when the
// query has no other word. No scan of the list.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "abi/strings.h"

namespace edict::abi {

// The legal-form words removed by default (normalised spellings).
extern const char* const kLegalForms[];

class NameNormalizer {
 public:
  explicit NameNormalizer(const std::vector<std::string>& extra_legal_forms = {});
  // The sorted tokens, joined by single spaces ("" when nothing is left).
  std::string normalize(std::string_view name) const;
  void normalize_into(std::string_view name, std::string& out) const;  // no allocation once `out` has room
  std::vector<std::string> tokens(std::string_view name) const;

 private:
  // The tokens of `name` into `out`, views into `folded` (both reused).
  void sorted_tokens(std::string_view name, std::string& folded, std::vector<std::string_view>& out) const;
  std::unordered_set<std::string, StringHash, std::equal_to<>> legal_forms_;
};

double jaro_winkler(std::string_view a, std::string_view b);
// The optimal-string-alignment distance (a swap of neighbours is one edit)
// between words of at most 64 bytes, or `bound + 1` when it exceeds `bound`
// (and for longer words).
size_t osa_distance(std::string_view a, std::string_view b, size_t bound);
// The token similarity above over normalised names (sorted tokens), every
// token weighing its length (no list to say which words are rare).
double name_similarity(std::string_view a, std::string_view b);

struct ScreenMatch {
  uint32_t entry = UINT32_MAX;  // NameIndex entry (UINT32_MAX: no match)
  uint32_t row = 0;             // the entry's row
  double score = 0;
  bool found() const { return entry != UINT32_MAX; }
};

class NameIndex {
 public:
  explicit NameIndex(std::vector<std::string> extra_legal_forms = {});
  void add(uint32_t row, std::string_view name);  // then build()
  void build();
  // The best entry scoring at least `threshold` whose row `accept` admits
  // (rows in force at the event's time); ties: the earlier entry.
  template <typename Accept>
  ScreenMatch best(std::string_view name, double threshold, Accept&& accept) const;
  size_t size() const { return rows_.size(); }
  const std::string& normalized(uint32_t entry) const { return names_[entry]; }
  const std::string& original(uint32_t entry) const { return originals_[entry]; }
  uint32_t row(uint32_t entry) const { return rows_[entry]; }
  size_t memory_bytes() const;
  const NameNormalizer& normalizer() const { return normalizer_; }
  // name_similarity with each token weighted by its rarity in this list.
  double similarity(std::string_view query, std::string_view name) const;
  // The candidate entries of a name scoring at least `threshold`, with
  // their scores, best first (ties: the earlier entry), whatever the rows'
  // dates: below the threshold a name has no match, and nothing is kept. Names repeat in an event
  // stream (the same customers), so the last kCachedNames names screened
  // are kept, shared by all threads, in kCacheShards parts each under its
  // own lock (threads screening different names seldom wait for each
  // other); best() reads a kept answer in place, without a copy.
  using Scored = std::vector<std::pair<uint32_t, double>>;
  Scored scored(std::string_view name, double threshold) const;
  static constexpr size_t kCachedNames = 1 << 16, kCacheShards = 16;
  void clear_cache() const;  // for benchmarks: screen as if for the first time
  // What this thread's screenings not answered from the cache did, summed:
  // names screened, entries the word index credited, entries scored in
  // full, and word pairs compared (word_likeness). Benchmarks print it.
  struct Work {
    uint64_t names = 0, credited = 0, scored = 0, compared = 0;
  };
  static Work& work();

 private:
  // One word of the query: its weight and the list words compared with it
  // (vocabulary id, Jaro-Winkler), filled as the search and the scoring go.
  static constexpr uint32_t kUnlisted = UINT32_MAX;  // a word not in the vocabulary
  struct QueryWord {
    std::string_view text;
    uint32_t id = kUnlisted;  // in the vocabulary
    float weight = 0;
    std::vector<std::pair<uint32_t, float>> similar;
    size_t found = 0;          // similar[0, found): the search's; the rest: scores kept
    uint64_t letters = 0;      // letter_bit of each of its bytes
    uint8_t letter_count[64];  // how many of its bytes have each bit
  };
  // Whether the word is surely less alike than kUnrelatedWords (so that
  // word_likeness need not run): by the letters the two words share.
  bool surely_unlike(const QueryWord& query, uint32_t word) const;
  // The query's words, each with itself when listed and its look-alikes.
  // Per-thread storage, valid until the thread's next name.
  std::span<QueryWord> words_of(std::string_view normalized) const;
  void similar_words(QueryWord& word) const;
  static void describe_letters(QueryWord& word);  // letters, letter_count
  const std::vector<std::pair<uint32_t, float>>& listed_look_alikes(uint32_t word) const;
  Scored score_candidates(std::string_view name, double threshold) const;
  const std::vector<uint32_t>& candidates(std::span<const QueryWord> query) const;
  double score(std::span<QueryWord> query, uint32_t entry, double threshold) const;
  double weight(std::string_view token) const;

  NameNormalizer normalizer_;
  std::vector<uint32_t> rows_;
  std::vector<std::string> names_, originals_;

  // The vocabulary: every distinct word of the list's names.
  std::vector<std::string> words_;
  std::unordered_map<std::string, uint32_t, StringHash, std::equal_to<>> word_id_;
  std::vector<float> word_weight_;
  std::vector<uint64_t> word_letters_;  // per word: letter_bit of each of its bytes                       //
                                        // length times rarity (inverse document frequency)
  std::vector<uint32_t> word_names_begin_, word_names_;  // word -> entries holding it
  std::vector<uint32_t> name_words_begin_, name_words_;  // entry -> its words, sorted
  // Symmetric deletions: a hash of a word with up to two letters deleted ->
  // the word (open addressing, 0 = empty).
  std::vector<uint64_t> deletion_keys_;
  std::vector<uint32_t> deletion_words_;
  // Per listed word: its look-alikes (similar_words), found at the first
  // screening that meets the word and kept for every later one. Not found
  // at build(): a load would search all ~10^4 words of a list (as much
  // work as indexing it), most of which few screenings meet.
  struct LookAlikes {
    std::once_flag found;
    std::vector<std::pair<uint32_t, float>> words;
  };
  std::unique_ptr<LookAlikes[]> look_alikes_;
  float unseen_idf_ = 1;
  size_t common_limit_ = 0;  // words in more names than this are generic

  struct Answer {
    double threshold;  // the entries scoring at least this
    Scored scored;
  };
  struct CacheShard {
    std::mutex mutex;
    std::unordered_map<std::string, Answer, StringHash, std::equal_to<>> names;
  };
  mutable std::array<CacheShard, kCacheShards> cache_;
  CacheShard& cache_shard(std::string_view name) const {
    return cache_[StringHash{}(name) >> 59 & (kCacheShards - 1)];  // high bits: the table uses the low ones
  }
};

template <typename Accept>
ScreenMatch NameIndex::best(std::string_view name, double threshold, Accept&& accept) const {
  auto pick = [&](const Scored& candidates) {
    for (auto [entry, score] : candidates) {
      if (score < threshold) break;
      if (accept(rows_[entry])) return ScreenMatch{entry, rows_[entry], score};
    }
    return ScreenMatch{};
  };
  {
    CacheShard& shard = cache_shard(name);
    std::lock_guard<std::mutex> lock(shard.mutex);
    if (auto it = shard.names.find(name); it != shard.names.end() && it->second.threshold <= threshold)
      return pick(it->second.scored);
  }
  return pick(scored(name, threshold));
}

}  // namespace edict::abi
