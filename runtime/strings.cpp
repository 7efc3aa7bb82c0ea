// Interning of policy string constants.
#include "runtime/strings.h"

namespace edict::runtime {

uint32_t SymbolTable::intern(std::string_view text) {
  if (auto found = find(text)) return *found;
  uint32_t symbol = size();
  texts_.emplace_back(text);
  // Rebuild the index: texts_ may have moved its strings (short-string
  // optimisation keeps text inline), so views must be refreshed.
  index_.clear();
  for (uint32_t i = 0; i < texts_.size(); ++i) index_.emplace(texts_[i], i);
  return symbol;
}

}  // namespace edict::runtime
