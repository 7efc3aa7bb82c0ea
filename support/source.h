// Source text, modelled once: the SourceManager owns every loaded file's name,
// text and line table. Everything else refers to text through a Span (file id
// plus byte offsets); line and column are computed only when printing.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace edict {

using FileId = uint32_t;
inline constexpr FileId kNoFile = UINT32_MAX;

// A half-open byte range [begin, end) in one file.
struct Span {
  FileId file = kNoFile;
  uint32_t begin = 0;
  uint32_t end = 0;

  bool valid() const { return file != kNoFile; }
  // The smallest span covering both (same file assumed; `a` wins otherwise).
  static Span cover(Span a, Span b) {
    if (!a.valid()) return b;
    if (!b.valid() || a.file != b.file) return a;
    return Span{a.file, a.begin < b.begin ? a.begin : b.begin, a.end > b.end ? a.end : b.end};
  }
};

struct LineCol {
  uint32_t line = 0;    // 1-based
  uint32_t column = 0;  // 1-based, counted in Unicode code points
};

struct SourceFile {
  std::string path;  // as given or resolved; shown in diagnostics
  std::string text;  // the original bytes (for .edict.md: the markdown itself)
  // The text the lexer sees. Same length as `text`; for literate files every
  // byte outside ```edict fences is blanked (newlines kept), so offsets, lines
  // and columns are identical in both.
  std::string code;
  bool literate = false;
  std::vector<uint32_t> line_starts;  // byte offset of each line's first byte
};

class SourceManager {
 public:
  // Adds a file from memory. Literate (.edict.md) handling is decided by path.
  FileId add(std::string path, std::string text);
  const SourceFile& file(FileId id) const { return files_.at(id); }
  size_t size() const { return files_.size(); }

  LineCol line_col(FileId id, uint32_t offset) const;
  // The text of a 1-based line without its line terminator.
  std::string_view line_text(FileId id, uint32_t line) const;
  std::string_view text(Span span) const;

 private:
  std::vector<SourceFile> files_;
};

// True for `*.edict.md` paths.
bool is_literate_path(std::string_view path);
// Blanks everything outside ```edict fenced blocks (see SourceFile::code).
std::string extract_literate_code(std::string_view markdown);

}  // namespace edict
