// Interning of policy string constants.
#include "abi/strings.h"

#include <algorithm>
#include <bit>

namespace edict::abi {

void SymbolTable::place(uint32_t symbol) {
  const size_t mask = slots_.size() - 1;
  size_t h = StringHash{}(texts_[symbol]) & mask;
  while (slots_[h]) h = (h + 1) & mask;
  slots_[h] = symbol + 1;
}

uint32_t SymbolTable::intern(std::string_view text) {
  if (auto found = find(text)) return *found;
  uint32_t symbol = size();
  texts_.emplace_back(text);
  if (2 * texts_.size() > slots_.size()) {
    slots_.assign(std::bit_ceil(std::max<size_t>(16, 4 * texts_.size())), 0);
    for (uint32_t i = 0; i + 1 < texts_.size(); ++i) place(i);
  }
  place(symbol);
  return symbol;
}

}  // namespace edict::abi
