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

class SymbolTable {
 public:
  // Compile time: the symbol of a policy constant (the same text, the same symbol).
  uint32_t intern(std::string_view text);
  // Run time: the constant's symbol, or nullopt for any other text.
  std::optional<uint32_t> find(std::string_view text) const {
    auto it = index_.find(text);
    if (it == index_.end()) return std::nullopt;
    return it->second;
  }
  std::string_view text(uint32_t symbol) const { return texts_[symbol]; }
  uint32_t size() const { return static_cast<uint32_t>(texts_.size()); }

 private:
  // Deque-like stable storage: string_views in index_ point into texts_.
  std::vector<std::string> texts_;
  std::unordered_map<std::string_view, uint32_t> index_;
};

}  // namespace edict::runtime
