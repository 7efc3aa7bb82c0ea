#include "abi/screen.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>

namespace edict::abi {

const char* const kLegalForms[] = {
    "co",   "company", "corp", "corporation", "inc",   "incorporated", "ltd", "limited", "llc", "plc",
    "gmbh", "ag",      "sa",   "sarl",        "srl",   "spa",          "bv",  "nv",      "oy",  "ab",
    "kk",   "pte",     "pvt",  "private",     "lp",    "llp",          "ooo", "oao",     "zao", "pao",
    "jsc",  "ojsc",    "cjsc", "pjsc",        "coltd", "pty",          "sdn", "bhd",     "fze", "fzco",
    "fzc",  "llc",     "sas",  "kg",          "co.",   nullptr};

namespace {

// U+00C0..U+00FF and U+0100..U+017F folded to ASCII letters ('*': two letters, below).
constexpr char kLatin1[] = "aaaaaa*ceeeeiiiidnooooo ouuuuy**aaaaaa*ceeeeiiiidnooooo ouuuuy*y";
constexpr char kLatinA[] =
    "aaaaaaccccccccddddeeeeeeeeeegggggggghhhhiiiiiiiiiijjjjkkkllllllllllnnnnnnnnnoooooooorrrrrrsssssssstttttt"
    "uuuuuuuuuuuuwwyyyzzzzzzs";

const char* two_letters(uint32_t cp) {
  switch (cp) {
    case 0xC6:
    case 0xE6: return "ae";
    case 0xDE:
    case 0xFE: return "th";
    case 0xDF: return "ss";
    default: return nullptr;
  }
}

// Appends the folded form of the text: lowercase ASCII letters and digits,
// other bytes of non-Latin scripts as they are, separators as spaces.
void fold(std::string_view s, std::string& out) {
  for (size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      if (c >= 'A' && c <= 'Z')
        out += static_cast<char>(c - 'A' + 'a');
      else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
        out += static_cast<char>(c);
      else if (c == '\'' || c == '.')
        continue;  // O'Neil, S.A.: one word
      else if (c == '&')
        out += " and ";
      else
        out += ' ';
      continue;
    }
    size_t n = (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
    if (i + n > s.size()) n = 1;
    if (n == 2) {
      uint32_t cp = (uint32_t{c} & 0x1f) << 6 | (static_cast<unsigned char>(s[i + 1]) & 0x3f);
      if (const char* two = two_letters(cp)) {
        out += two;
        i += 2;
        continue;
      }
      if (cp >= 0xC0 && cp <= 0xFF) {
        out += kLatin1[cp - 0xC0];
        i += 2;
        continue;
      }
      if (cp >= 0x100 && cp <= 0x17F) {
        out += kLatinA[cp - 0x100];
        i += 2;
        continue;
      }
    }
    out.append(s.data() + i, n);
    i += n;
  }
}

// Calls f(hash) for `word` with every choice of at most `most` letters
// deleted (a symmetric-deletion index: two words within two edits, counting
// a swap of neighbours as one, share such a variant). Hashes are never 0.
//
// A variant's hash is a polynomial one, composed from the word's prefix
// hashes (H(x y) = H(x) B^|y| + H(y)) in constant time, then mixed: the
// ~n^2/2 variants of a word cost O(n^2), not O(n^3) as hashing each anew.
template <typename F>
void for_each_deletion(std::string_view word, int most, F&& f) {
  constexpr uint64_t kBase = 0x100000001b3ull;
  const size_t n = word.size();
  thread_local std::vector<uint64_t> prefix, power;  // prefix[k]: H(word[0, k)); power[k]: B^k
  prefix.resize(n + 1);
  power.resize(n + 1);
  prefix[0] = 0;
  power[0] = 1;
  for (size_t k = 0; k < n; ++k) {
    prefix[k + 1] = prefix[k] * kBase + static_cast<unsigned char>(word[k]) + 1;
    power[k + 1] = power[k] * kBase;
  }
  auto part = [&](size_t from, size_t to) { return prefix[to] - prefix[from] * power[to - from]; };
  auto finish = [](uint64_t h, size_t length) {  // murmur3's finaliser: every bit reaches the low ones
    h ^= length * 0x9e3779b97f4a7c15ull;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h | 1;
  };
  f(finish(prefix[n], n));
  if (most < 1) return;
  for (size_t i = 0; i < n; ++i) {
    if (i > 0 && word[i] == word[i - 1]) continue;  // the same variant as deleting i - 1
    f(finish(prefix[i] * power[n - i - 1] + part(i + 1, n), n - 1));
    if (most < 2) continue;
    for (size_t j = i + 1; j < n; ++j) {
      const uint64_t before_j = prefix[i] * power[j - i - 1] + part(i + 1, j);
      f(finish(before_j * power[n - j - 1] + part(j + 1, n), n - 2));
    }
  }
}

// Two deletions from a word of four letters or fewer leave too little.
int deletions_for(std::string_view word) {
  return word.size() <= 4 ? 1 : 2;
}

// Compressed rows: the values of key k are values[begin[k] .. begin[k + 1]).
template <typename Key>
void compress(size_t keys, const std::vector<std::pair<Key, uint32_t>>& pairs, std::vector<uint32_t>& begin,
              std::vector<uint32_t>& values) {
  begin.assign(keys + 1, 0);
  for (const auto& [k, v] : pairs) ++begin[size_t{k} + 1];
  for (size_t k = 0; k < keys; ++k) begin[k + 1] += begin[k];
  values.assign(pairs.size(), 0);
  std::vector<uint32_t> next(begin.begin(), begin.end() - 1);
  for (const auto& [k, v] : pairs) values[next[k]++] = v;
}

// The words of `s` (separated by spaces) into `out`, which keeps its
// capacity from one name to the next.
void split_into(std::string_view s, std::vector<std::string_view>& out) {
  out.clear();
  size_t i = 0;
  while (i < s.size()) {
    size_t j = s.find(' ', i);
    if (j == std::string_view::npos) j = s.size();
    if (j > i) out.push_back(s.substr(i, j - i));
    i = j + 1;
  }
}

std::vector<std::string_view> split(std::string_view s) {
  std::vector<std::string_view> out;
  split_into(s, out);
  return out;
}

}  // namespace

NameNormalizer::NameNormalizer(const std::vector<std::string>& extra_legal_forms) {
  for (const char* const* w = kLegalForms; *w; ++w) legal_forms_.emplace(*w);
  for (const std::string& w : extra_legal_forms) {
    std::string folded;
    fold(w, folded);
    for (std::string_view t : split(folded)) legal_forms_.insert(std::string(t));
  }
}

void NameNormalizer::sorted_tokens(std::string_view name, std::string& folded,
                                   std::vector<std::string_view>& out) const {
  folded.clear();
  fold(name, folded);
  split_into(folded, out);
  const auto legal_form = [&](std::string_view t) { return legal_forms_.find(t) != legal_forms_.end(); };
  // A name made only of legal-form words keeps them ("The Company").
  if (!std::all_of(out.begin(), out.end(), legal_form))
    out.erase(std::remove_if(out.begin(), out.end(), legal_form), out.end());
  std::sort(out.begin(), out.end());
}

std::vector<std::string> NameNormalizer::tokens(std::string_view name) const {
  std::string folded;
  std::vector<std::string_view> views;
  sorted_tokens(name, folded, views);
  return {views.begin(), views.end()};
}

void NameNormalizer::normalize_into(std::string_view name, std::string& out) const {
  thread_local std::string folded;
  thread_local std::vector<std::string_view> views;
  sorted_tokens(name, folded, views);
  out.clear();
  for (std::string_view t : views) {
    if (!out.empty()) out += ' ';
    out += t;
  }
}

std::string NameNormalizer::normalize(std::string_view name) const {
  std::string out;
  normalize_into(name, out);
  return out;
}

namespace {

// Where each byte occurs in a word of at most 64 bytes: bit j of at(c) is
// set when word[j] == c. Both distances below read the word through it, so
// each step handles every position of the word at once (bit-parallel), not
// one position after another. The table is per thread, filled and cleared
// in time proportional to the word.
class Positions {
 public:
  explicit Positions(std::string_view word) : word_(word), bits_(table()) {
    for (size_t j = 0; j < word.size(); ++j) bits_[static_cast<unsigned char>(word[j])] |= uint64_t{1} << j;
  }
  ~Positions() {
    for (char c : word_) bits_[static_cast<unsigned char>(c)] = 0;
  }
  Positions(const Positions&) = delete;
  Positions& operator=(const Positions&) = delete;
  uint64_t at(char c) const { return bits_[static_cast<unsigned char>(c)]; }
  std::string_view word() const { return word_; }

 private:
  static uint64_t* table() {
    thread_local uint64_t bits[256] = {};
    return bits;
  }
  std::string_view word_;
  uint64_t* bits_;  // the thread's table, looked up once
};

// A byte's bit in a word's letter set (bytes 64 apart share one: the set
// only bounds how many letters two words can have in common).
uint64_t letter_bit(char c) {
  return uint64_t{1} << (static_cast<unsigned char>(c) & 63);
}

uint64_t letters_of(std::string_view word) {
  uint64_t bits = 0;
  for (char c : word) bits |= letter_bit(c);
  return bits;
}

// Bits lo .. hi - 1 set (hi <= 64).
uint64_t bit_range(size_t lo, size_t hi) {
  const uint64_t below_hi = hi >= 64 ? ~uint64_t{0} : (uint64_t{1} << hi) - 1;
  return below_hi & ~((uint64_t{1} << lo) - 1);
}

// Jaro-Winkler of `a` against the word `b` of `pb` (both at most 64 bytes):
// each letter of `a` takes the first unused equal letter of `b` within the
// window, as the textbook loop does, found as the lowest bit of a mask.
double jaro_winkler_bits(std::string_view a, const Positions& pb) {
  const std::string_view b = pb.word();
  if (a == b) return 1.0;
  const size_t la = a.size(), lb = b.size();
  if (la == 0 || lb == 0) return 0.0;
  const size_t window = std::max(la, lb) / 2 > 0 ? std::max(la, lb) / 2 - 1 : 0;
  uint64_t used_b = 0, matched_a = 0;
  size_t matches = 0;
  // The window of letter i: positions i - window .. i + window of b, slid
  // one position a letter (window <= 31: words of at most 64 bytes).
  const uint64_t in_b = bit_range(0, lb);
  uint64_t in_window = bit_range(0, window + 1);
  for (size_t i = 0; i < la; ++i) {
    if (const uint64_t free = pb.at(a[i]) & ~used_b & in_window & in_b) {
      used_b |= free & (~free + 1);  // the lowest
      matched_a |= uint64_t{1} << i;
      ++matches;
    }
    in_window = i >= window ? in_window << 1 : (in_window << 1) | 1;
  }
  if (matches == 0) return 0.0;
  size_t transpositions = 0;
  for (uint64_t ia = matched_a, jb = used_b; ia; ia &= ia - 1, jb &= jb - 1)
    if (a[static_cast<size_t>(std::countr_zero(ia))] != b[static_cast<size_t>(std::countr_zero(jb))])
      ++transpositions;
  double m = static_cast<double>(matches);
  double jaro = (m / la + m / lb + (m - transpositions / 2.0) / m) / 3.0;
  size_t prefix = 0;
  while (prefix < 4 && prefix < la && prefix < lb && a[prefix] == b[prefix]) ++prefix;
  return jaro + prefix * 0.1 * (1.0 - jaro);
}

// Optimal-string-alignment distance (a swap of neighbours is one edit)
// between `a` and the word of `pb` (both at most 64 bytes), or `bound + 1`
// once it exceeds `bound`: Hyyrö's bit-parallel form of the table, one
// column per letter of `a`, the distance tracked in its last row.
size_t edit_distance(std::string_view a, const Positions& pb, size_t bound) {
  const std::string_view b = pb.word();
  const size_t la = a.size(), lb = b.size();
  if ((la > lb ? la - lb : lb - la) > bound || la > 64 || lb > 64) return bound + 1;
  if (lb == 0) return std::min(la, bound + 1);
  const uint64_t last = uint64_t{1} << (lb - 1);
  uint64_t vp = ~uint64_t{0}, vn = 0, d0 = 0, previous = 0;
  size_t distance = lb;
  for (char c : a) {
    const uint64_t x = pb.at(c);
    const uint64_t swapped = ((~d0 & x) << 1) & previous;
    d0 = (((x & vp) + vp) ^ vp) | x | vn | swapped;
    uint64_t hp = vn | ~(d0 | vp), hn = d0 & vp;
    if (hp & last) ++distance;
    if (hn & last) --distance;
    hp = (hp << 1) | 1;
    hn <<= 1;
    vp = hn | ~(d0 | hp);
    vn = hp & d0;
    previous = x;
  }
  return std::min(distance, bound + 1);
}

}  // namespace

double jaro_winkler(std::string_view a, std::string_view b) {
  if (a == b) return 1.0;
  if (a.size() > 64 || b.size() > 64) return 0.0;  // tokens are short; bound the work
  return jaro_winkler_bits(a, Positions(b));
}

size_t osa_distance(std::string_view a, std::string_view b, size_t bound) {
  if (a.size() > 64 || b.size() > 64) return bound + 1;
  return edit_distance(a, Positions(b), bound);
}

namespace {

// Jaro-Winkler, raised for a misspelling: one edit between words of four
// letters or more with the same first letter scores 0.96 to 0.99, two edits (the longer word of six
// letters or more) 0.92 to 0.96, higher for a higher Jaro-Winkler, so that
// a name whose distinctive word has two typos (Jaro-Winkler puts "jknrwm" at
// 0.78 of "jinram") still passes a threshold of 0.9, and of two listed words
// as many edits away the more alike wins. Shorter words keep Jaro-Winkler
// alone: two edits in four letters make another word.
double word_likeness(std::string_view a, std::string_view b) {
  if (a == b) return 1.0;
  if (a.size() > 64 || b.size() > 64) return 0.0;
  const Positions pb(b);
  const double jw = jaro_winkler_bits(a, pb);
  const size_t shorter = std::min(a.size(), b.size()), longer = std::max(a.size(), b.size());
  // Below 0.6 the words share too little for two edits to separate them.
  // A typo spares the first letter (Jaro-Winkler's prefix assumes as much):
  // "harbor" is another word than "mardor", not two typos of it.
  if (jw == 1.0 || jw < 0.6 || shorter < 4 || a[0] != b[0]) return jw;
  switch (edit_distance(a, pb, longer >= 6 ? 2 : 1)) {
    case 1: return std::max(jw, 0.96 + 0.03 * jw);
    case 2: return std::max(jw, 0.92 + 0.04 * jw);
    default: return jw;
  }
}

// Two words this unlike are different words, not a misspelling: Jaro-Winkler
// still gives unrelated words 0.4 to 0.7, which would let a name missing its
// distinctive word ("Beijing Intelligence" against "Beijing Viozan
// Intelligence") score as a near match.
constexpr double kUnrelatedWords = 0.75;
double word_similarity(double jaro_winkler) {
  return jaro_winkler < kUnrelatedWords ? 0.0 : jaro_winkler;
}

// Whether two names' words run together compare as whole names: for words
// split or joined ("Hua Wei", "Huawei") the letters are the same but for
// typos. A name that holds the other and more ("Shenzhen Intelligence" in
// "Shenzhen Varsenlor Intelligence") is not the same name, however alike
// Jaro-Winkler finds their common start.
bool comparable_whole(size_t joined_a, size_t joined_b) {
  const size_t shorter = std::min(joined_a, joined_b), longer = std::max(joined_a, joined_b);
  return longer <= 64 && longer - shorter <= 2;
}

constexpr size_t kMaxWords = 16;

// The words' share of two names: each word paired with at most one word of
// the other name, the most alike pairs first, so that a word already paired
// cannot vouch for a second one ("Lumen Robotics" against "Lumwen Photonics
// Robotics" leaves "Photonics" unpaired); each word weighs its weight, an
// unpaired word counts 0.
double paired_share(const double (&alike)[kMaxWords][kMaxWords], size_t na, size_t nb, const double* weight_a,
                    const double* weight_b) {
  double best_a[kMaxWords] = {}, best_b[kMaxWords] = {};
  bool paired_a[kMaxWords] = {}, paired_b[kMaxWords] = {};
  for (size_t pairs = 0; pairs < std::min(na, nb); ++pairs) {
    double top = 0;
    size_t ti = 0, tj = 0;
    for (size_t i = 0; i < na; ++i)
      for (size_t j = 0; j < nb; ++j)
        if (!paired_a[i] && !paired_b[j] && alike[i][j] > top) top = alike[i][j], ti = i, tj = j;
    if (top == 0) break;
    paired_a[ti] = paired_b[tj] = true;
    best_a[ti] = best_b[tj] = top;
  }
  double weight = 0, sum = 0;
  for (size_t i = 0; i < na; ++i) sum += best_a[i] * weight_a[i], weight += weight_a[i];
  for (size_t j = 0; j < nb; ++j) sum += best_b[j] * weight_b[j], weight += weight_b[j];
  return weight > 0 ? sum / weight : 0.0;
}

// The words joined into `out` (at most 64 bytes: comparable_whole).
std::string_view joined(const std::string_view* words, size_t n, char (&out)[64]) {
  size_t at = 0;
  for (size_t i = 0; i < n; ++i) {
    std::memcpy(out + at, words[i].data(), words[i].size());
    at += words[i].size();
  }
  return {out, at};
}

// Two words run together or split ("Hua Wei", "Huawei") still compare as
// whole names: the words of each side joined, compared once.
double with_whole_names(double words, const std::string_view* ta, size_t na, const std::string_view* tb,
                        size_t nb) {
  if (na == nb) return words;
  size_t la = 0, lb = 0;
  for (size_t i = 0; i < na; ++i) la += ta[i].size();
  for (size_t j = 0; j < nb; ++j) lb += tb[j].size();
  if (!comparable_whole(la, lb)) return words;
  char ja[64], jb[64];
  double whole = jaro_winkler(joined(ta, na, ja), joined(tb, nb, jb)) - 0.02;
  return std::max(words, na == 1 || nb == 1 ? whole : std::min(whole, words + 0.05));
}

template <typename Weight>
double weighted_similarity(std::string_view a, std::string_view b, Weight&& token_weight) {
  auto ta = split(a), tb = split(b);
  if (ta.empty() || tb.empty()) return 0.0;
  const size_t na = std::min(ta.size(), kMaxWords), nb = std::min(tb.size(), kMaxWords);
  double alike[kMaxWords][kMaxWords], weight_a[kMaxWords], weight_b[kMaxWords];
  for (size_t i = 0; i < na; ++i)
    for (size_t j = 0; j < nb; ++j) alike[i][j] = word_similarity(word_likeness(ta[i], tb[j]));
  for (size_t i = 0; i < na; ++i) weight_a[i] = token_weight(ta[i]);
  for (size_t j = 0; j < nb; ++j) weight_b[j] = token_weight(tb[j]);
  return with_whole_names(paired_share(alike, na, nb, weight_a, weight_b), ta.data(), na, tb.data(), nb);
}

}  // namespace

double name_similarity(std::string_view a, std::string_view b) {
  return weighted_similarity(a, b, [](std::string_view t) { return static_cast<double>(t.size()); });
}

double NameIndex::weight(std::string_view token) const {
  auto it = word_id_.find(token);
  return it == word_id_.end() ? token.size() * static_cast<double>(unseen_idf_) : word_weight_[it->second];
}

double NameIndex::similarity(std::string_view query, std::string_view name) const {
  return weighted_similarity(query, name, [&](std::string_view t) { return weight(t); });
}

NameIndex::NameIndex(std::vector<std::string> extra_legal_forms) : normalizer_(extra_legal_forms) {}

void NameIndex::add(uint32_t row, std::string_view name) {
  std::string n = normalizer_.normalize(name);
  if (n.empty()) return;
  rows_.push_back(row);
  names_.push_back(std::move(n));
  originals_.emplace_back(name);
}

void NameIndex::build() {
  words_.clear();
  word_id_.clear();
  std::vector<std::pair<uint32_t, uint32_t>> name_words, word_names;  // (entry, word), (word, entry)
  // Kept from one name to the next; a word already listed is found by its
  // view, so only a new word is copied (most of a list's words repeat).
  std::vector<uint32_t> ids;
  std::vector<std::string_view> tokens;
  for (uint32_t e = 0; e < names_.size(); ++e) {
    ids.clear();
    split_into(names_[e], tokens);
    for (std::string_view t : tokens) {
      auto it = word_id_.find(t);
      if (it == word_id_.end()) {
        it = word_id_.emplace(std::string(t), static_cast<uint32_t>(words_.size())).first;
        words_.emplace_back(t);
      }
      ids.push_back(it->second);
      name_words.push_back({e, it->second});
    }
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    for (uint32_t w : ids) word_names.push_back({w, e});
  }
  compress(names_.size(), name_words, name_words_begin_, name_words_);
  compress(words_.size(), word_names, word_names_begin_, word_names_);
  // Inverse document frequency: a word in every name weighs 1, a word in
  // none (a typo, a name not listed) the most.
  const double n = static_cast<double>(names_.size()) + 1;
  word_weight_.clear();
  for (uint32_t w = 0; w < words_.size(); ++w) {
    double holders = word_names_begin_[w + 1] - word_names_begin_[w];
    word_weight_.push_back(static_cast<float>(words_[w].size() * (std::log(n / (holders + 1)) + 1)));
  }
  unseen_idf_ = static_cast<float>(std::log(n) + 1);
  word_letters_.clear();
  for (const std::string& w : words_) word_letters_.push_back(letters_of(w));
  // Each (variant, word) once. Two words never give the same pair, so only
  // a word's own variants are sorted to drop its repeats: sorting all the
  // list's ~10^5 pairs was a sixth of loading the Entity List. A lookup
  // sorts the words it finds, so the table's order of insertion is moot.
  std::vector<std::pair<uint64_t, uint32_t>> variants;
  std::vector<uint64_t> of_word;
  for (uint32_t w = 0; w < words_.size(); ++w) {
    of_word.clear();
    for_each_deletion(words_[w], deletions_for(words_[w]), [&](uint64_t h) { of_word.push_back(h); });
    std::sort(of_word.begin(), of_word.end());
    of_word.erase(std::unique(of_word.begin(), of_word.end()), of_word.end());
    for (uint64_t h : of_word) variants.push_back({h, w});
  }
  size_t slots = 64;
  while (slots < variants.size() * 2) slots *= 2;
  deletion_keys_.assign(slots, 0);
  deletion_words_.assign(slots, 0);
  for (auto [h, w] : variants) {
    size_t at = h & (slots - 1);
    while (deletion_keys_[at] != 0) at = (at + 1) & (slots - 1);
    deletion_keys_[at] = h;
    deletion_words_[at] = w;
  }
  // A word in more than 1 name in 100 ("Technologies", a city) says little
  // about a match.
  common_limit_ = std::max<size_t>(32, names_.size() / 100);
  look_alikes_ = std::make_unique<LookAlikes[]>(words_.size());
}

void NameIndex::describe_letters(QueryWord& word) {
  word.letters = letters_of(word.text);
  std::memset(word.letter_count, 0, sizeof word.letter_count);
  for (char c : word.text) ++word.letter_count[static_cast<unsigned char>(c) & 63];
}

// A listed word's look-alikes, searched once (by the first screening that
// meets the word, any thread) rather than for every name that holds it:
// most words of the names screened are listed ones (only a typo or an
// unlisted name brings a new word), and the search was half the work of a
// first screening. The list is what similar_words finds for the word, so
// the answers do not change.
const std::vector<std::pair<uint32_t, float>>& NameIndex::listed_look_alikes(uint32_t word) const {
  LookAlikes& entry = look_alikes_[word];
  std::call_once(entry.found, [&] {
    QueryWord w;
    w.text = words_[word];
    w.id = word;
    describe_letters(w);
    similar_words(w);
    entry.words.assign(w.similar.begin(), w.similar.end());
  });
  return entry.words;
}

// Jaro counts the letters of one word matched in the other: at most those
// whose letter occurs in the other word at all, which bounds Jaro and so
// Jaro-Winkler (with the words' common prefix). Unrelated words ("systems",
// "intelligence") fail the bound at once; only the words that might pass
// go through word_likeness. The margin keeps rounding from deciding.
bool NameIndex::surely_unlike(const QueryWord& query, uint32_t word) const {
  const std::string_view a = query.text, b = words_[word];
  const size_t la = a.size(), lb = b.size();
  if (la == 0 || lb == 0 || la > 64 || lb > 64) return false;
  size_t shared = 0;
  for (uint64_t common = query.letters & word_letters_[word]; common; common &= common - 1)
    shared += query.letter_count[std::countr_zero(common)];
  if (shared > 0) {  // tighter: the letters both have, counted with repeats
    uint8_t left[64];
    std::memcpy(left, query.letter_count, sizeof left);
    shared = 0;
    for (char c : b)
      if (uint8_t& n = left[static_cast<unsigned char>(c) & 63]; n > 0) --n, ++shared;
  }
  const double m = static_cast<double>(std::min({shared, la, lb}));
  const double jaro = (m / la + m / lb + 1.0) / 3.0;
  size_t prefix = 0;
  while (prefix < 4 && prefix < la && prefix < lb && a[prefix] == b[prefix]) ++prefix;
  const double most = jaro + prefix * 0.1 * (1.0 - jaro);
  constexpr double kMargin = 1e-9;
  if (most >= kUnrelatedWords - kMargin) return false;
  // word_likeness raises Jaro-Winkler only from 0.6, for words of four
  // letters or more with the same first letter.
  return most < 0.6 - kMargin || std::min(la, lb) < 4 || a[0] != b[0];
}

std::span<NameIndex::QueryWord> NameIndex::words_of(std::string_view normalized) const {
  // Per thread, kept from one name to the next with their lists' room.
  thread_local std::vector<std::string_view> tokens;
  thread_local std::vector<QueryWord> words;
  split_into(normalized, tokens);
  if (words.size() < tokens.size()) words.resize(tokens.size());
  for (size_t i = 0; i < tokens.size(); ++i) {
    QueryWord& w = words[i];
    w.text = tokens[i];
    const auto listed = word_id_.find(w.text);  // once: weight, itself, its look-alikes
    w.id = listed == word_id_.end() ? kUnlisted : listed->second;
    w.weight = static_cast<float>(w.id == kUnlisted ? w.text.size() * static_cast<double>(unseen_idf_)
                                                    : word_weight_[w.id]);
    describe_letters(w);
    w.similar.clear();
    if (w.id != kUnlisted) {
      w.similar.push_back({w.id, 1.0f});
      const std::vector<std::pair<uint32_t, float>>& alike = listed_look_alikes(w.id);
      w.similar.insert(w.similar.end(), alike.begin(), alike.end());
    } else {
      similar_words(w);
    }
    w.found = w.similar.size();
  }
  return {words.data(), tokens.size()};
}

NameIndex::Scored NameIndex::scored(std::string_view name, double threshold) const {
  CacheShard& shard = cache_shard(name);
  {
    std::lock_guard<std::mutex> lock(shard.mutex);
    if (auto it = shard.names.find(name); it != shard.names.end() && it->second.threshold <= threshold) {
      Scored kept;
      for (auto [entry, score] : it->second.scored)
        if (score >= threshold) kept.push_back({entry, score});
      return kept;
    }
  }
  Scored result = score_candidates(name, threshold);
  std::lock_guard<std::mutex> lock(shard.mutex);
  if (shard.names.size() >= kCachedNames / kCacheShards) shard.names.clear();
  shard.names.insert_or_assign(std::string(name), Answer{threshold, result});
  return result;
}

NameIndex::Work& NameIndex::work() {
  thread_local Work done;
  return done;
}

void NameIndex::clear_cache() const {
  for (CacheShard& shard : cache_) {
    std::lock_guard<std::mutex> lock(shard.mutex);
    shard.names.clear();
  }
}

NameIndex::Scored NameIndex::score_candidates(std::string_view name, double threshold) const {
  Scored out;
  thread_local std::string query;
  normalizer_.normalize_into(name, query);
  if (query.empty()) return out;
  const std::span<QueryWord> words = words_of(query);
  const std::vector<uint32_t>& found = candidates(words);
  Work& done = work();
  ++done.names;
  done.scored += found.size();
  out.reserve(found.size());
  for (uint32_t e : found)
    if (const double s = query == names_[e] ? 1.0 : score(words, e, threshold); s >= threshold)
      out.push_back({e, s});
  std::sort(out.begin(), out.end(), [](auto x, auto y) {
    return x.second > y.second || (x.second == y.second && x.first < y.first);
  });
  return out;
}

// Adds the eight words most like `word` of those within two edits, with a
// similarity of at least 0.75. A listed word is compared with the others
// too: one typo can turn a listed name's word into another listed word
// ("Ramtor" -> "Ramnor").
void NameIndex::similar_words(QueryWord& word) const {
  // A generic word ranks names, it does not find them: its look-alikes
  // would not either.
  if (word.id != kUnlisted && word_names_begin_[word.id + 1] - word_names_begin_[word.id] > common_limit_)
    return;
  if (word.text.size() < 3 || word.text.size() > 32) return;
  thread_local std::vector<uint32_t> near;
  thread_local std::vector<uint64_t> variants;
  near.clear();
  variants.clear();
  const size_t mask = deletion_keys_.size() - 1;
  // All the variants' slots are fetched at once, then probed: each is a
  // cache miss in a table of megabytes, and one after another they were
  // most of the time of a first screening.
  for_each_deletion(word.text, deletions_for(word.text), [&](uint64_t h) {
    variants.push_back(h);
    __builtin_prefetch(&deletion_keys_[h & mask]);
  });
  for (uint64_t h : variants)
    for (size_t at = h & mask; deletion_keys_[at] != 0; at = (at + 1) & mask)
      if (deletion_keys_[at] == h) near.push_back(deletion_words_[at]);
  std::sort(near.begin(), near.end());
  near.erase(std::unique(near.begin(), near.end()), near.end());
  // The few most alike: more would add names that cannot score above them.
  thread_local std::vector<std::pair<float, uint32_t>> alike;
  alike.clear();
  for (uint32_t w : near) {
    if (w == word.id) continue;
    // More than two letters longer or shorter: not a typo of it (the
    // deletion variants also find words up to four edits away).
    const size_t la = word.text.size(), lb = words_[w].size();
    if ((la > lb ? la - lb : lb - la) > 2 || surely_unlike(word, w)) continue;
    ++work().compared;
    if (double s = word_likeness(word.text, words_[w]); s >= 0.75)
      alike.push_back({static_cast<float>(s), w});
  }
  constexpr size_t kKept = 16;
  const size_t keep = std::min(alike.size(), kKept);
  std::partial_sort(alike.begin(), alike.begin() + keep, alike.end(), [](auto x, auto y) {
    return x.first > y.first || (x.first == y.first && x.second < y.second);
  });
  for (size_t i = 0; i < keep; ++i) word.similar.push_back({alike[i].second, alike[i].first});
}

const std::vector<uint32_t>& NameIndex::candidates(std::span<const QueryWord> query) const {
  // Per-thread scratch: a credit per entry, reset through the touched list.
  thread_local std::vector<float> credit;
  thread_local std::vector<uint32_t> touched;
  if (credit.size() < names_.size()) credit.assign(names_.size(), 0);
  touched.clear();
  auto give = [&](uint32_t w, double amount) {
    for (uint32_t i = word_names_begin_[w]; i < word_names_begin_[w + 1]; ++i) {
      const uint32_t e = word_names_[i];
      if (credit[e] == 0) touched.push_back(e);
      credit[e] += static_cast<float>(amount);
    }
  };
  // The rarest generic word, for a query made only of generic words.
  uint32_t rarest = UINT32_MAX;
  double rarest_amount = 0;
  for (const QueryWord& q : query)
    for (size_t k = 0; k < q.found; ++k) {
      const auto [w, s] = q.similar[k];
      const size_t holders = word_names_begin_[w + 1] - word_names_begin_[w];
      if (holders <= common_limit_) {
        give(w, q.weight * s);
      } else if (rarest == UINT32_MAX ||
                 holders < word_names_begin_[rarest + 1] - word_names_begin_[rarest]) {
        rarest = w;
        rarest_amount = q.weight * s;
      }
    }
  const bool only_generic = touched.empty();
  if (only_generic && rarest != UINT32_MAX) give(rarest, rarest_amount);
  // Generic words rank the names found (they add no names): of two names
  // sharing the query's distinctive word, the one sharing its other words too.
  thread_local std::vector<std::pair<uint32_t, float>> generic;
  generic.clear();
  for (const QueryWord& q : query)
    for (size_t k = 0; k < q.found; ++k)
      if (const auto [w, s] = q.similar[k];
          word_names_begin_[w + 1] - word_names_begin_[w] > common_limit_ && !(only_generic && w == rarest))
        generic.push_back({w, static_cast<float>(q.weight * s)});
  // A name's word passes the filter when it may be one of them; then the
  // list says which (in its order, so that the sums are as they were).
  uint64_t generic_filter = 0;
  for (auto [w, amount] : generic) generic_filter |= uint64_t{1} << (w & 63);
  if (!generic.empty())
    for (uint32_t e : touched)
      for (uint32_t i = name_words_begin_[e]; i < name_words_begin_[e + 1]; ++i)
        if (generic_filter >> (name_words_[i] & 63) & 1)
          for (auto [w, amount] : generic)
            if (w == name_words_[i]) credit[e] += amount;
  thread_local std::vector<std::pair<float, uint32_t>> ranked;
  ranked.clear();
  float top = 0;
  for (uint32_t e : touched) top = std::max(top, credit[e]);
  for (uint32_t e : touched) {
    if (credit[e] >= top * 0.5f) ranked.push_back({credit[e], e});
    credit[e] = 0;
  }
  constexpr size_t kRescored = 8;
  auto better = [](auto x, auto y) {
    return x.first > y.first || (x.first == y.first && x.second < y.second);
  };
  work().credited += touched.size();
  const size_t keep = std::min(ranked.size(), kRescored);
  std::partial_sort(ranked.begin(), ranked.begin() + keep, ranked.end(), better);
  thread_local std::vector<uint32_t> out;
  out.clear();
  for (size_t i = 0; i < keep; ++i) out.push_back(ranked[i].second);
  return out;
}

// weighted_similarity over the query's words and the entry's vocabulary ids,
// each pair's Jaro-Winkler computed once per query (the hot path), or less
// than `threshold` (0) as soon as the entry surely scores under it.
//
// The words' share is at most (sum of w_i * best_i over the query's words +
// the entry's weight) / (both weights), best_i the query word's most alike
// entry word (paired_share pairs it with at most that one). The query's
// words are compared heaviest first, the ones not yet compared counting 1,
// so an entry lacking the query's distinctive word stops after that row.
// Whole names compared (with_whole_names) may add 0.05 to the share, or
// anything when a side has one word (then nothing stops early).
double NameIndex::score(std::span<QueryWord> query, uint32_t entry, double threshold) const {
  const uint32_t* words = name_words_.data() + name_words_begin_[entry];
  const size_t na = std::min(query.size(), kMaxWords);
  const size_t nb = std::min<size_t>(name_words_begin_[entry + 1] - name_words_begin_[entry], kMaxWords);
  if (na == 0 || nb == 0) return 0.0;
  auto pair_similarity = [&](QueryWord& q, uint32_t w) {
    for (auto [known, s] : q.similar)
      if (known == w) return static_cast<double>(s);
    // Below kUnrelatedWords any value counts 0 (word_similarity).
    const bool compared = !surely_unlike(q, w);
    work().compared += compared;
    const double s = compared ? word_likeness(q.text, words_[w]) : 0.0;
    q.similar.push_back({w, static_cast<float>(s)});
    return s;
  };
  double alike[kMaxWords][kMaxWords], weight_a[kMaxWords], weight_b[kMaxWords];
  std::string_view ta[kMaxWords], tb[kMaxWords];
  double total = 0, left = 0;  // both names' weights; the query's not yet compared
  size_t letters_a = 0, letters_b = 0, order[kMaxWords];
  for (size_t i = 0; i < na; ++i) {
    weight_a[i] = query[i].weight, ta[i] = query[i].text, order[i] = i;
    left += weight_a[i], letters_a += ta[i].size();
  }
  for (size_t j = 0; j < nb; ++j)
    weight_b[j] = word_weight_[words[j]], tb[j] = words_[words[j]], letters_b += tb[j].size();
  double weight_b_sum = 0;
  for (size_t j = 0; j < nb; ++j) weight_b_sum += weight_b[j];
  total = left + weight_b_sum;
  double slack = 1e-9;
  if (na != nb && comparable_whole(letters_a, letters_b)) slack = na == 1 || nb == 1 ? 2.0 : 0.05 + 1e-9;
  std::sort(order, order + na, [&](size_t x, size_t y) {
    return weight_a[x] > weight_a[y] || (weight_a[x] == weight_a[y] && x < y);
  });
  double compared = 0;  // sum of w_i * best_i over the query words compared
  for (size_t k = 0; k < na; ++k) {
    const size_t i = order[k];
    double best = 0;
    for (size_t j = 0; j < nb; ++j)
      best = std::max(best, alike[i][j] = word_similarity(pair_similarity(query[i], words[j])));
    compared += weight_a[i] * best;
    left -= weight_a[i];
    if (total > 0 && (compared + left + weight_b_sum) / total + slack < threshold) return 0.0;
  }
  return with_whole_names(paired_share(alike, na, nb, weight_a, weight_b), ta, na, tb, nb);
}

size_t NameIndex::memory_bytes() const {
  size_t n = rows_.capacity() * 4;
  for (const auto& s : names_) n += sizeof s + s.capacity();
  for (const auto& s : originals_) n += sizeof s + s.capacity();
  for (const auto& s : words_) n += sizeof s + s.capacity();
  n += word_id_.size() * 48 + word_weight_.capacity() * 4;
  for (const auto* v : {&word_names_begin_, &word_names_, &name_words_begin_, &name_words_, &deletion_words_})
    n += v->capacity() * 4;
  n += deletion_keys_.capacity() * 8 + word_letters_.capacity() * 8;
  // At most: each look-alike list, once found, holds up to 16 words.
  n += words_.size() * (sizeof(LookAlikes) + 16 * sizeof(std::pair<uint32_t, float>));
  return n;
}

}  // namespace edict::abi
