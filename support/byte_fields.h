// Length-prefixed fields in little-endian bytes, the layout of the on-disk
// caches' entries (jit/code_cache: the entry; engine/front_end_cache: its
// key and manifest). The reader refuses any length past the end.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace edict {

inline void append_u64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

// The field's length as a u64, then its bytes.
inline void append_field(std::string& out, std::string_view field) {
  append_u64(out, field.size());
  out.append(field);
}

// Reads fields in order; every call that returns false leaves `out` unset.
class FieldReader {
 public:
  explicit FieldReader(std::string_view bytes) : rest_(bytes) {}
  bool take(size_t n, std::string_view* out) {
    if (n > rest_.size()) return false;
    *out = rest_.substr(0, n);
    rest_.remove_prefix(n);
    return true;
  }
  bool u64(uint64_t* v) {
    std::string_view b;
    if (!take(8, &b)) return false;
    *v = 0;
    for (int i = 7; i >= 0; --i) *v = (*v << 8) | static_cast<uint8_t>(b[static_cast<size_t>(i)]);
    return true;
  }
  bool field(std::string_view* out) {
    uint64_t n = 0;
    return u64(&n) && n <= rest_.size() && take(static_cast<size_t>(n), out);
  }
  size_t left() const { return rest_.size(); }

 private:
  std::string_view rest_;
};

}  // namespace edict
