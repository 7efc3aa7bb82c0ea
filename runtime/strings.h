// Strings at run time are 32-bit symbols. Symbols below constant_count() are
// the policy's own string constants, fixed at compile time, so equality with a
// constant, set membership and table lookup by a string key are integer
// operations. Other strings read from events get symbols from a batch's own
// arena (see batch.h), numbered from constant_count() up.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace edict::runtime {

// Hash for heterogeneous lookup: find a std::string key by string_view
// without allocating (the decoder's hot path).
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

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
      if (texts_[slot - 1] == text) return slot - 1;
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

}  // namespace edict::runtime
