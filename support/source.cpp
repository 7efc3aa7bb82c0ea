// SourceManager: file texts, line tables and the literate-file blanking that
// lets `.edict.md` files be lexed with their own offsets, lines and columns.
#include "support/source.h"

#include <algorithm>

namespace edict {
namespace {

bool is_continuation_byte(unsigned char c) {
  return (c & 0xC0) == 0x80;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

// A fence line: up to three spaces, then three or more backticks or tildes.
// Returns the fence length (0 if not a fence) and the info string.
size_t fence_length(std::string_view line, char* fence_char, std::string_view* info) {
  size_t indent = 0;
  while (indent < line.size() && indent < 4 && line[indent] == ' ') ++indent;
  if (indent > 3 || indent >= line.size()) return 0;
  char c = line[indent];
  if (c != '`' && c != '~') return 0;
  size_t n = 0;
  while (indent + n < line.size() && line[indent + n] == c) ++n;
  if (n < 3) return 0;
  *fence_char = c;
  *info = trim(line.substr(indent + n));
  return n;
}

}  // namespace

bool is_literate_path(std::string_view path) {
  constexpr std::string_view suffix = ".edict.md";
  return path.size() >= suffix.size() && path.substr(path.size() - suffix.size()) == suffix;
}

std::string extract_literate_code(std::string_view markdown) {
  std::string code(markdown);
  bool inside = false;  // inside an ```edict block
  bool other = false;   // inside some other fenced block
  char open_char = 0;
  size_t open_len = 0;
  size_t pos = 0;
  while (pos < markdown.size()) {
    size_t eol = markdown.find('\n', pos);
    size_t end = eol == std::string_view::npos ? markdown.size() : eol;
    std::string_view line = markdown.substr(pos, end - pos);
    char c = 0;
    std::string_view info;
    size_t n = fence_length(line, &c, &info);
    bool keep = false;
    if (inside || other) {
      if (n >= open_len && c == open_char && info.empty()) {
        inside = other = false;  // closing fence: blanked
      } else {
        keep = inside;
      }
    } else if (n > 0) {
      open_char = c;
      open_len = n;
      // Only the info string `edict` is compiled (`edict-error` etc. are not).
      std::string_view lang = info.substr(0, info.find_first_of(" \t{"));
      if (lang == "edict")
        inside = true;
      else
        other = true;
    }
    if (!keep) std::fill(code.begin() + pos, code.begin() + end, ' ');
    pos = end + 1;
  }
  return code;
}

FileId SourceManager::add(std::string path, std::string text) {
  SourceFile f;
  f.literate = is_literate_path(path);
  f.path = std::move(path);
  f.text = std::move(text);
  f.code = f.literate ? extract_literate_code(f.text) : f.text;
  f.line_starts.push_back(0);
  for (uint32_t i = 0; i < f.text.size(); ++i)
    if (f.text[i] == '\n') f.line_starts.push_back(i + 1);
  files_.push_back(std::move(f));
  return static_cast<FileId>(files_.size() - 1);
}

LineCol SourceManager::line_col(FileId id, uint32_t offset) const {
  const SourceFile& f = files_.at(id);
  offset = std::min<uint32_t>(offset, static_cast<uint32_t>(f.text.size()));
  auto it = std::upper_bound(f.line_starts.begin(), f.line_starts.end(), offset);
  uint32_t line = static_cast<uint32_t>(it - f.line_starts.begin());  // 1-based
  uint32_t start = f.line_starts[line - 1];
  uint32_t column = 1;
  for (uint32_t i = start; i < offset; ++i)
    if (!is_continuation_byte(static_cast<unsigned char>(f.text[i]))) ++column;
  return {line, column};
}

std::string_view SourceManager::line_text(FileId id, uint32_t line) const {
  const SourceFile& f = files_.at(id);
  if (line == 0 || line > f.line_starts.size()) return {};
  uint32_t start = f.line_starts[line - 1];
  uint32_t end = line < f.line_starts.size() ? f.line_starts[line] : static_cast<uint32_t>(f.text.size());
  std::string_view s(f.text.data() + start, end - start);
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

std::string_view SourceManager::text(Span span) const {
  if (!span.valid()) return {};
  const SourceFile& f = files_.at(span.file);
  uint32_t b = std::min<uint32_t>(span.begin, static_cast<uint32_t>(f.text.size()));
  uint32_t e = std::min<uint32_t>(std::max(span.end, b), static_cast<uint32_t>(f.text.size()));
  return std::string_view(f.text).substr(b, e - b);
}

}  // namespace edict
