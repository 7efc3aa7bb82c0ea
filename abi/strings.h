// Strings at run time are 32-bit symbols. Symbols below constant_count() are
// the policy's own string constants, fixed at compile time, so equality with a
// constant, set membership and table lookup by a string key are integer
// operations. Other strings read from events get symbols from a batch's own
// arena (see batch.h), numbered from constant_count() up.
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace edict::abi {

// Hash for heterogeneous lookup: find a std::string key by string_view
// without allocating (the decoder's hot path). Event strings are mostly
// short: up to 16 bytes cost two loads and one 64x64->128-bit multiply
// (wyhash's folding), far less than std::hash's byte-oriented loop.
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const noexcept {
    constexpr uint64_t k0 = 0xa0761d6478bd642f, k1 = 0xe7037ed1a0b428db;
    const char* p = s.data();
    size_t n = s.size();
    uint64_t seed = k0 ^ n, a = 0, b = 0;
    if (n <= 16) {
      if (n >= 8) {
        a = load(p, 8);
        b = load(p + n - 8, 8);
      } else if (n >= 4) {
        a = load(p, 4);
        b = load(p + n - 4, 4);
      } else if (n > 0) {
        a = (uint64_t{static_cast<unsigned char>(p[0])} << 16) |
            (uint64_t{static_cast<unsigned char>(p[n >> 1])} << 8) | static_cast<unsigned char>(p[n - 1]);
      }
    } else {
      for (; n > 16; p += 16, n -= 16) seed = fold(load(p, 8) ^ k1, load(p + 8, 8) ^ seed);
      a = load(p + n - 16, 8);
      b = load(p + n - 8, 8);
    }
    return static_cast<size_t>(fold(k1 ^ s.size(), fold(a ^ k1, b ^ seed)));
  }

 private:
  static uint64_t load(const char* p, size_t n) {
    uint64_t v = 0;
    std::memcpy(&v, p, n);
    return v;
  }
  static uint64_t fold(uint64_t a, uint64_t b) {
    __extension__ using u128 = unsigned __int128;
    const u128 r = static_cast<u128>(a) * b;
    return static_cast<uint64_t>(r) ^ static_cast<uint64_t>(r >> 64);
  }
};

// a == b, inline for the short texts events hold (memcmp is a call).
inline bool same_text(std::string_view a, std::string_view b) {
  const size_t n = a.size();
  if (n != b.size()) return false;
  const char *p = a.data(), *q = b.data();
  if (n > 16) return std::memcmp(p, q, n) == 0;
  auto differ = [&](size_t width) {
    uint64_t x0 = 0, y0 = 0, x1 = 0, y1 = 0;  // the first and last `width` bytes, which may overlap
    std::memcpy(&x0, p, width);
    std::memcpy(&y0, q, width);
    std::memcpy(&x1, p + n - width, width);
    std::memcpy(&y1, q + n - width, width);
    return ((x0 ^ y0) | (x1 ^ y1)) != 0;
  };
  if (n >= 8) return !differ(8);
  if (n >= 4) return !differ(4);
  for (size_t i = 0; i < n; ++i)
    if (p[i] != q[i]) return false;
  return true;
}

class SymbolTable {
 public:
  // Compile time: the symbol of a policy constant (the same text, the same symbol).
  uint32_t intern(std::string_view text);
  // Run time: the constant's symbol, or nullopt for any other text. The
  // second form takes StringHash{}(text), so a caller that goes on to
  // intern the text elsewhere hashes it once.
  std::optional<uint32_t> find(std::string_view text) const { return find(text, StringHash{}(text)); }
  std::optional<uint32_t> find(std::string_view text, size_t hash) const {
    if (slots_.empty()) return std::nullopt;
    const size_t mask = slots_.size() - 1;
    for (size_t h = hash & mask; uint32_t slot = slots_[h]; h = (h + 1) & mask)
      if (same_text(texts_[slot - 1], text)) return slot - 1;
    return std::nullopt;
  }
  std::string_view text(uint32_t symbol) const { return texts_[symbol]; }
  uint32_t size() const { return static_cast<uint32_t>(texts_.size()); }

 private:
  void place(uint32_t symbol);
  std::vector<std::string> texts_;
  // Open addressing, at most half full: symbol + 1 per slot, 0 empty.
  std::vector<uint32_t> slots_;
};

}  // namespace edict::abi
