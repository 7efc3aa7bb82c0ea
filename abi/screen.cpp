#include "abi/screen.h"

#include <algorithm>
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

uint32_t trigram(const char* p) {
  return uint32_t{static_cast<unsigned char>(p[0])} << 16 | uint32_t{static_cast<unsigned char>(p[1])} << 8 |
         static_cast<unsigned char>(p[2]);
}

// Distinct trigrams of ` name `.
std::vector<uint32_t> trigrams(const std::string& name) {
  std::string padded = " " + name + " ";
  std::vector<uint32_t> out;
  for (size_t i = 0; i + 3 <= padded.size(); ++i) out.push_back(trigram(padded.data() + i));
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::vector<std::string_view> split(std::string_view s) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < s.size()) {
    size_t j = s.find(' ', i);
    if (j == std::string_view::npos) j = s.size();
    if (j > i) out.push_back(s.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

}  // namespace

NameNormalizer::NameNormalizer(const std::vector<std::string>& extra_legal_forms) {
  for (const char* const* w = kLegalForms; *w; ++w) legal_forms_.insert(*w);
  for (const std::string& w : extra_legal_forms) {
    std::string folded;
    fold(w, folded);
    for (std::string_view t : split(folded)) legal_forms_.insert(std::string(t));
  }
}

std::vector<std::string> NameNormalizer::tokens(std::string_view name) const {
  std::string folded;
  fold(name, folded);
  std::vector<std::string> out;
  for (std::string_view t : split(folded))
    if (!legal_forms_.count(std::string(t))) out.emplace_back(t);
  // A name made only of legal-form words keeps them ("The Company").
  if (out.empty())
    for (std::string_view t : split(folded)) out.emplace_back(t);
  std::sort(out.begin(), out.end());
  return out;
}

std::string NameNormalizer::normalize(std::string_view name) const {
  std::string out;
  for (const std::string& t : tokens(name)) out += (out.empty() ? "" : " ") + t;
  return out;
}

double jaro_winkler(std::string_view a, std::string_view b) {
  if (a == b) return 1.0;
  const size_t la = a.size(), lb = b.size();
  if (la == 0 || lb == 0) return 0.0;
  if (la > 64 || lb > 64) return a == b ? 1.0 : 0.0;  // tokens are short; bound the work
  const size_t window = std::max(la, lb) / 2 > 0 ? std::max(la, lb) / 2 - 1 : 0;
  uint64_t used_b = 0;
  bool matched_a[64] = {};
  size_t matches = 0;
  for (size_t i = 0; i < la; ++i) {
    size_t lo = i > window ? i - window : 0, hi = std::min(lb, i + window + 1);
    for (size_t j = lo; j < hi; ++j)
      if (!(used_b >> j & 1) && a[i] == b[j]) {
        used_b |= uint64_t{1} << j;
        matched_a[i] = true;
        ++matches;
        break;
      }
  }
  if (matches == 0) return 0.0;
  size_t transpositions = 0, j = 0;
  for (size_t i = 0; i < la; ++i) {
    if (!matched_a[i]) continue;
    while (!(used_b >> j & 1)) ++j;
    if (a[i] != b[j]) ++transpositions;
    ++j;
  }
  double m = static_cast<double>(matches);
  double jaro = (m / la + m / lb + (m - transpositions / 2.0) / m) / 3.0;
  size_t prefix = 0;
  while (prefix < 4 && prefix < la && prefix < lb && a[prefix] == b[prefix]) ++prefix;
  return jaro + prefix * 0.1 * (1.0 - jaro);
}

namespace {

template <typename Weight>
double weighted_similarity(std::string_view a, std::string_view b, Weight&& token_weight) {
  auto ta = split(a), tb = split(b);
  if (ta.empty() || tb.empty()) return 0.0;
  // Each pair once: the best counterpart of every token on both sides.
  constexpr size_t kMaxTokens = 16;
  double best_a[kMaxTokens] = {}, best_b[kMaxTokens] = {};
  const size_t na = std::min(ta.size(), kMaxTokens), nb = std::min(tb.size(), kMaxTokens);
  for (size_t i = 0; i < na; ++i)
    for (size_t j = 0; j < nb; ++j) {
      double s = jaro_winkler(ta[i], tb[j]);
      best_a[i] = std::max(best_a[i], s);
      best_b[j] = std::max(best_b[j], s);
    }
  double weight = 0, sum = 0;
  for (size_t i = 0; i < na; ++i) {
    double w = token_weight(ta[i]);
    sum += best_a[i] * w;
    weight += w;
  }
  for (size_t j = 0; j < nb; ++j) {
    double w = token_weight(tb[j]);
    sum += best_b[j] * w;
    weight += w;
  }
  // Two words run together or split ("Hua Wei", "Huawei") still compare as
  // whole names.
  std::string ja, jb;
  for (auto t : ta) ja += t;
  for (auto t : tb) jb += t;
  double tokens = sum / weight;
  if (ta.size() == tb.size() || ja.size() > 64 || jb.size() > 64) return tokens;
  double whole = jaro_winkler(ja, jb) - 0.02;
  return std::max(tokens, ta.size() == 1 || tb.size() == 1 ? whole : std::min(whole, tokens + 0.05));
}

}  // namespace

double name_similarity(std::string_view a, std::string_view b) {
  return weighted_similarity(a, b, [](std::string_view t) { return static_cast<double>(t.size()); });
}

double NameIndex::weight(std::string_view token) const {
  auto it = token_idf_.find(token);
  return token.size() * static_cast<double>(it == token_idf_.end() ? unseen_idf_ : it->second);
}

double NameIndex::similarity(std::string_view query, std::string_view name) const {
  return weighted_similarity(query, name, [&](std::string_view t) { return weight(t); });
}

NameIndex::Tokens NameIndex::tokens_of(std::string_view normalized) const {
  Tokens t;
  t.text = split(normalized);
  for (std::string_view s : t.text) t.weight.push_back(static_cast<float>(weight(s)));
  return t;
}

// weighted_similarity over tokens split and weighed in advance (the hot path).
double NameIndex::score(const Tokens& q, uint32_t entry) const {
  const Tokens& n = entry_tokens_[entry];
  constexpr size_t kMaxTokens = 16;
  const size_t na = std::min(q.text.size(), kMaxTokens), nb = std::min(n.text.size(), kMaxTokens);
  if (na == 0 || nb == 0) return 0.0;
  double best_a[kMaxTokens] = {}, best_b[kMaxTokens] = {};
  for (size_t i = 0; i < na; ++i)
    for (size_t j = 0; j < nb; ++j) {
      double s = jaro_winkler(q.text[i], n.text[j]);
      best_a[i] = std::max(best_a[i], s);
      best_b[j] = std::max(best_b[j], s);
    }
  double weight = 0, sum = 0;
  for (size_t i = 0; i < na; ++i) sum += best_a[i] * q.weight[i], weight += q.weight[i];
  for (size_t j = 0; j < nb; ++j) sum += best_b[j] * n.weight[j], weight += n.weight[j];
  double tokens = sum / weight;
  if (na == nb) return tokens;
  // Words run together or split ("Hua Wei", "Huawei"): the whole names too.
  std::string ja, jb;
  for (std::string_view t : q.text) ja += t;
  for (std::string_view t : n.text) jb += t;
  if (ja.size() > 64 || jb.size() > 64) return tokens;
  double whole = jaro_winkler(ja, jb) - 0.02;
  return std::max(tokens, na == 1 || nb == 1 ? whole : std::min(whole, tokens + 0.05));
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
  postings_.clear();
  token_idf_.clear();
  std::unordered_map<std::string, uint32_t> df;
  for (uint32_t e = 0; e < names_.size(); ++e) {
    for (uint32_t g : trigrams(names_[e])) postings_[g].push_back(e);
    std::vector<std::string_view> tokens = split(names_[e]);
    std::sort(tokens.begin(), tokens.end());
    tokens.erase(std::unique(tokens.begin(), tokens.end()), tokens.end());
    for (std::string_view t : tokens) ++df[std::string(t)];
  }
  // Inverse document frequency: a word in every name weighs 1, a word in
  // none (a typo, a name not listed) the most.
  const double n = static_cast<double>(names_.size()) + 1;
  for (const auto& [t, count] : df) token_idf_[t] = static_cast<float>(std::log(n / (count + 1)) + 1);
  unseen_idf_ = static_cast<float>(std::log(n) + 1);
  entry_tokens_.clear();
  for (const std::string& name : names_) entry_tokens_.push_back(tokens_of(name));
  // A trigram in more than 1 name in 20 says little about a match.
  common_limit_ = std::max<size_t>(64, names_.size() / 20);
}

std::vector<uint32_t> NameIndex::candidates(const std::string& query) const {
  // Per-thread scratch: a count per entry, reset through the touched list.
  thread_local std::vector<uint16_t> counts;
  thread_local std::vector<uint32_t> touched;
  if (counts.size() < names_.size()) counts.assign(names_.size(), 0);
  touched.clear();
  // Rarest trigrams first, within a budget of postings: the rare ones
  // (inside a distinctive word) find the candidates, the common ones only
  // cost time.
  std::vector<const std::vector<uint32_t>*> lists;
  for (uint32_t g : trigrams(query)) {
    auto it = postings_.find(g);
    if (it != postings_.end() && it->second.size() <= common_limit_) lists.push_back(&it->second);
  }
  std::sort(lists.begin(), lists.end(), [](auto* x, auto* y) { return x->size() < y->size(); });
  constexpr size_t kBudget = 1500;
  size_t used = 0, spent = 0;
  for (const std::vector<uint32_t>* list : lists) {
    if (used > 0 && spent + list->size() > kBudget) break;
    ++used;
    spent += list->size();
    for (uint32_t e : *list)
      if (counts[e]++ == 0) touched.push_back(e);
  }
  // Two typos break at most six trigrams; keep names sharing enough of the
  // rest, best first, and score only the first few.
  const size_t need = std::max<size_t>(1, used * 2 / 5);
  std::vector<std::pair<uint16_t, uint32_t>> ranked;
  for (uint32_t e : touched) {
    if (counts[e] >= need) ranked.push_back({counts[e], e});
    counts[e] = 0;
  }
  constexpr size_t kRescored = 6;
  if (ranked.size() > kRescored) {
    std::partial_sort(ranked.begin(), ranked.begin() + kRescored, ranked.end(), [](auto x, auto y) {
      return x.first > y.first || (x.first == y.first && x.second < y.second);
    });
    ranked.resize(kRescored);
  }
  std::vector<uint32_t> out;
  for (auto [count, e] : ranked) out.push_back(e);
  return out;
}

size_t NameIndex::memory_bytes() const {
  size_t n = rows_.capacity() * 4;
  for (const auto& s : names_) n += sizeof s + s.capacity();
  for (const auto& s : originals_) n += sizeof s + s.capacity();
  for (const auto& [g, list] : postings_) n += 48 + list.capacity() * 4;
  for (const auto& [t, w] : token_idf_) n += 48 + t.capacity();
  return n;
}

}  // namespace edict::abi
