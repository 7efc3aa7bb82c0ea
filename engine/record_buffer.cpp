#include "engine/record_buffer.h"

#include <algorithm>

namespace edict::engine {

void RecordBuffer::grow(size_t n) {
  // Steps of 64 KiB bound the zero-filling resize() does to the bytes
  // written; the string's own growth keeps reallocations rare.
  const size_t used = static_cast<size_t>(at_ - out_.data());
  out_.resize(used + std::max(n, size_t{64} << 10));
  at_ = out_.data() + used;
  end_ = out_.data() + out_.size();
}

}  // namespace edict::engine
