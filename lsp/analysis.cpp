// Compiling one open document for the language server (see analysis.h).
#include "lsp/analysis.h"

#include <algorithm>
#include <filesystem>

namespace edict::lsp {
namespace fs = std::filesystem;

namespace {

uint32_t line_end(const SourceFile& f, uint32_t line) {
  uint32_t end = line + 1 < f.line_starts.size() ? f.line_starts[line + 1] - 1 : f.text.size();
  if (end > f.line_starts[line] && f.text[end - 1] == '\r') --end;
  return end;
}

// UTF-8 sequence length from its lead byte (1 for a stray continuation byte).
uint32_t sequence_length(unsigned char lead) {
  if (lead >= 0xF0) return 4;
  if (lead >= 0xE0) return 3;
  if (lead >= 0xC0) return 2;
  return 1;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

uint32_t offset_of(const SourceFile& f, Position p) {
  if (p.line >= f.line_starts.size()) return static_cast<uint32_t>(f.text.size());
  uint32_t at = f.line_starts[p.line], end = line_end(f, p.line);
  uint32_t units = 0;
  while (at < end && units < p.character) {
    uint32_t n = std::min(sequence_length(static_cast<unsigned char>(f.text[at])), end - at);
    units += n == 4 ? 2 : 1;  // a code point above U+FFFF is a surrogate pair
    at += n;
  }
  return at;
}

Position position_of(const SourceFile& f, uint32_t offset) {
  offset = std::min<uint32_t>(offset, f.text.size());
  auto it = std::upper_bound(f.line_starts.begin(), f.line_starts.end(), offset);
  uint32_t line = static_cast<uint32_t>(it - f.line_starts.begin()) - 1;
  uint32_t units = 0;
  for (uint32_t at = f.line_starts[line]; at < offset;) {
    uint32_t n = sequence_length(static_cast<unsigned char>(f.text[at]));
    units += n == 4 ? 2 : 1;
    at += n;
  }
  return {line, units};
}

bool in_code(const SourceFile& f, uint32_t offset) {
  if (!f.literate) return true;
  offset = std::min<uint32_t>(offset, f.text.size());
  auto it = std::upper_bound(f.line_starts.begin(), f.line_starts.end(), offset);
  // Kept lines are identical in `code` and `text`; the first blanked line
  // above (or at) the cursor's says which block it is in.
  for (size_t line = static_cast<size_t>(it - f.line_starts.begin()); line-- > 0;) {
    uint32_t begin = f.line_starts[line], end = line_end(f, line);
    std::string_view text(f.text.data() + begin, end - begin), code(f.code.data() + begin, end - begin);
    if (text == code) continue;
    size_t first = text.find_first_not_of(" \t");
    if (first == std::string_view::npos) continue;
    text.remove_prefix(first);
    size_t fence = text.find_first_not_of(text[0] == '`' ? '`' : '~');
    return fence >= 3 && fence != std::string_view::npos && text.substr(fence).starts_with("edict") &&
           (fence + 5 == text.size() ||
            std::string_view(" \t{").find(text[fence + 5]) != std::string_view::npos);
  }
  return false;
}

std::string path_from_uri(const std::string& uri) {
  constexpr std::string_view scheme = "file://";
  if (!std::string_view(uri).starts_with(scheme)) return {};
  std::string path;
  for (size_t i = scheme.size(); i < uri.size(); ++i) {
    int hi, lo;
    if (uri[i] == '%' && i + 2 < uri.size() && (hi = hex_value(uri[i + 1])) >= 0 &&
        (lo = hex_value(uri[i + 2])) >= 0) {
      path.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      path.push_back(uri[i]);
    }
  }
  // `file://host/path`: only the local host is ours.
  if (!path.starts_with("/")) {
    size_t slash = path.find('/');
    if (slash == std::string::npos || path.compare(0, slash, "localhost") != 0) return {};
    path.erase(0, slash);
  }
  if (path.find('\0') != std::string::npos) return {};
  return path;
}

std::string uri_from_path(const std::string& path) {
  static const char* hex = "0123456789ABCDEF";
  std::string uri = "file://";
  for (unsigned char c : path) {
    if (std::isalnum(c) || std::string_view("/-._~").find(static_cast<char>(c)) != std::string_view::npos) {
      uri.push_back(static_cast<char>(c));
    } else {
      uri.push_back('%');
      uri.push_back(hex[c >> 4]);
      uri.push_back(hex[c & 15]);
    }
  }
  return uri;
}

std::string normal_path(const std::string& path) {
  std::error_code ec;
  fs::path absolute = fs::absolute(fs::path(path), ec);
  if (ec) absolute = fs::path(path);
  return absolute.lexically_normal().string();
}

const ast::Module* Analysis::module() const {
  return front.program ? front.program->module_for(file) : nullptr;
}

bool Analysis::reads(const std::string& normal) const {
  for (size_t i = 0; i < sources.size(); ++i)
    if (normal_path(sources.file(static_cast<FileId>(i)).path) == normal) return true;
  return false;
}

std::unique_ptr<Analysis> analyse(const std::string& path, const OpenTexts& open,
                                  const parse::Limits& limits) {
  auto a = std::make_unique<Analysis>();
  const parse::FileReader disk = parse::disk_reader(limits.max_file_bytes * 2);
  parse::FileReader reader = [&](const std::string& p, std::string* error) -> std::optional<std::string> {
    if (auto it = open.find(normal_path(p)); it != open.end()) return it->second;
    return disk(p, error);
  };
  a->front = engine::run_front_end({path}, a->sources, a->sink, limits, reader, /*keep_going=*/true);
  for (size_t i = 0; i < a->sources.size(); ++i)
    if (a->sources.file(static_cast<FileId>(i)).path == path) {
      a->file = static_cast<FileId>(i);
      break;
    }
  return a;
}

}  // namespace edict::lsp
