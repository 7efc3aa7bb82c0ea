#include "engine/body_lines.h"

#include <cstring>

namespace edict::engine {

std::vector<decode::Line> split_body_lines(std::string& body, bool whole, size_t max_line_bytes) {
  const size_t size = body.size();
  body.append(decode::kLinePadding, '\0');  // in place when the reader reserved room for it
  const char* base = body.data();
  std::vector<decode::Line> lines;
  auto add = [&](size_t begin, size_t end) {
    size_t len = end - begin;
    if (!whole && len > 0 && base[end - 1] == '\r') --len;
    const uint64_t number = lines.size() + 1;
    if (len > max_line_bytes)
      lines.push_back(decode::Line{{}, 0, number, len});
    else
      lines.push_back(decode::Line{std::string_view(base + begin, len), body.size() - begin, number, 0});
  };
  if (whole) {
    add(0, size);
    return lines;
  }
  size_t pos = 0;
  while (pos < size) {
    const void* nl = std::memchr(base + pos, '\n', size - pos);
    const size_t stop = nl ? static_cast<size_t>(static_cast<const char*>(nl) - base) : size;
    add(pos, stop);
    pos = stop + 1;
  }
  return lines;
}

}  // namespace edict::engine
