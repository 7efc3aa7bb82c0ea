// Edict literal spellings and message clipping; see text.h.
#include "support/text.h"

#include <fmt/format.h>

#include <cmath>

namespace edict {

void append_edict_string_literal(std::string& out, std::string_view s) {
  out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (c < 0x20)
          out += fmt::format("\\u{{{:x}}}", c);
        else
          out += static_cast<char>(c);
    }
  }
  out += '"';
}

std::string edict_string_literal(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  append_edict_string_literal(out, s);
  return out;
}

std::string edict_number_literal(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v < 0 ? "-inf" : "inf";
  std::string s = fmt::format("{}", v);
  if (s.find_first_of(".eE") == std::string::npos) s += ".0";  // keep 814.0 apart from the int 814
  return s;
}

std::string clip_for_message(std::string_view s, size_t max_bytes) {
  if (s.size() <= max_bytes) return std::string(s);
  size_t cut = max_bytes;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;  // keep UTF-8 whole
  return std::string(s.substr(0, cut)) + "...";
}

}  // namespace edict
