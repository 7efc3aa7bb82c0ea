// Diagnostic collection and the one renderer for human and JSON output.
#include "support/diagnostics.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

#include "support/text.h"

namespace edict {
namespace {

const char* severity_name(Severity s) {
  switch (s) {
    case Severity::Error: return "error";
    case Severity::Warning: return "warning";
    case Severity::Note: return "note";
  }
  return "error";
}

bool is_continuation_byte(unsigned char c) {
  return (c & 0xC0) == 0x80;
}

// The source line of `span`'s start and a caret line under the span (clamped
// to that line). Tabs are copied into the padding so the caret lines up.
void append_snippet(std::string& out, const SourceManager& sm, Span span) {
  LineCol lc = sm.line_col(span.file, span.begin);
  std::string_view line = sm.line_text(span.file, lc.line);
  std::string number = std::to_string(lc.line);
  std::string gutter(number.size(), ' ');
  // Printable copy of the line: control bytes would garble a terminal.
  std::string shown;
  for (char c : line) shown += (static_cast<unsigned char>(c) < 0x20 && c != '\t') ? ' ' : c;
  out += fmt::format(" {} |\n {} | {}\n {} | ", gutter, number, shown, gutter);
  const SourceFile& f = sm.file(span.file);
  uint32_t line_start = f.line_starts[lc.line - 1];
  uint32_t line_end = line_start + static_cast<uint32_t>(line.size());
  for (uint32_t i = line_start; i < span.begin && i < line_end; ++i) {
    unsigned char c = static_cast<unsigned char>(f.text[i]);
    if (is_continuation_byte(c)) continue;
    out += c == '\t' ? '\t' : ' ';
  }
  uint32_t end = std::min(std::max(span.end, span.begin), line_end);
  size_t carets = 0;
  for (uint32_t i = span.begin; i < end; ++i)
    if (!is_continuation_byte(static_cast<unsigned char>(f.text[i]))) ++carets;
  out += std::string(std::max<size_t>(carets, 1), '^');
  out += '\n';
}

std::string location(const SourceManager& sm, Span span) {
  if (!span.valid()) return "";
  LineCol lc = sm.line_col(span.file, span.begin);
  return fmt::format("{}:{}:{}", sm.file(span.file).path, lc.line, lc.column);
}

void append_json_position(std::string& out, const SourceManager& sm, Span span) {
  if (!span.valid()) {
    out += "\"file\":null,\"line\":null,\"column\":null,\"end_line\":null,\"end_column\":null";
    return;
  }
  LineCol b = sm.line_col(span.file, span.begin);
  LineCol e = sm.line_col(span.file, std::max(span.end, span.begin));
  out += "\"file\":";
  append_json_string(out, sm.file(span.file).path);
  out += fmt::format(",\"line\":{},\"column\":{},\"end_line\":{},\"end_column\":{}", b.line, b.column, e.line,
                     e.column);
}

}  // namespace

Diagnostic& DiagnosticSink::error(std::string code, Span span, std::string message) {
  add(Diagnostic{Severity::Error, std::move(code), span, std::move(message), {}, {}});
  return errors_ > max_errors_ ? dropped_ : diags_.back();
}

Diagnostic& DiagnosticSink::warning(std::string code, Span span, std::string message) {
  add(Diagnostic{Severity::Warning, std::move(code), span, std::move(message), {}, {}});
  return diags_.back();
}

void DiagnosticSink::add(Diagnostic d) {
  if (d.severity == Severity::Error) {
    ++errors_;
    if (errors_ > max_errors_) return;  // counted, not kept
  } else if (d.severity == Severity::Warning) {
    ++warnings_;
  }
  diags_.push_back(std::move(d));
}

std::vector<Diagnostic> DiagnosticSink::sorted() const {
  std::vector<Diagnostic> out = diags_;
  std::stable_sort(out.begin(), out.end(), [](const Diagnostic& a, const Diagnostic& b) {
    if (a.span.file != b.span.file) return a.span.file < b.span.file;
    if (a.span.begin != b.span.begin) return a.span.begin < b.span.begin;
    return a.code < b.code;
  });
  return out;
}

std::string render_human(const SourceManager& sm, const Diagnostic& d) {
  std::string out;
  std::string loc = location(sm, d.span);
  out += fmt::format("{}{}{}[{}]: {}\n", loc, loc.empty() ? "" : ": ", severity_name(d.severity), d.code,
                     d.message);
  if (d.span.valid()) append_snippet(out, sm, d.span);
  if (!d.help.empty()) out += fmt::format("  = help: {}\n", d.help);
  for (const Label& l : d.labels) {
    std::string lloc = location(sm, l.span);
    out += fmt::format("  = note: {}{}{}\n", lloc, lloc.empty() ? "" : ": ", l.message);
    if (l.span.valid()) append_snippet(out, sm, l.span);
  }
  return out;
}

std::string render_human(const SourceManager& sm, const std::vector<Diagnostic>& ds, size_t dropped_errors) {
  std::string out;
  size_t errors = dropped_errors, warnings = 0;
  for (const Diagnostic& d : ds) {
    out += render_human(sm, d);
    out += '\n';
    if (d.severity == Severity::Error) ++errors;
    if (d.severity == Severity::Warning) ++warnings;
  }
  if (dropped_errors > 0)
    out += fmt::format("note: {} more error{} not shown (raise --max-errors to see them)\n", dropped_errors,
                       dropped_errors == 1 ? "" : "s");
  if (errors + warnings > 0)
    out += fmt::format("{} error{}, {} warning{}\n", errors, errors == 1 ? "" : "s", warnings,
                       warnings == 1 ? "" : "s");
  return out;
}

std::string render_json(const SourceManager& sm, const std::vector<Diagnostic>& ds) {
  std::string out = "[";
  for (size_t i = 0; i < ds.size(); ++i) {
    const Diagnostic& d = ds[i];
    if (i) out += ',';
    out += "{\"severity\":";
    append_json_string(out, severity_name(d.severity));
    out += ",\"code\":";
    append_json_string(out, d.code);
    out += ',';
    append_json_position(out, sm, d.span);
    out += ",\"message\":";
    append_json_string(out, d.message);
    out += ",\"help\":";
    if (d.help.empty())
      out += "null";
    else
      append_json_string(out, d.help);
    out += ",\"labels\":[";
    for (size_t j = 0; j < d.labels.size(); ++j) {
      if (j) out += ',';
      out += '{';
      append_json_position(out, sm, d.labels[j].span);
      out += ",\"message\":";
      append_json_string(out, d.labels[j].message);
      out += '}';
    }
    out += "]}";
  }
  out += "]\n";
  return out;
}

size_t edit_distance(std::string_view a, std::string_view b) {
  // Optimal string alignment distance: insertions, deletions, substitutions
  // and adjacent transpositions (`dney` -> `deny` is one edit).
  const size_t n = a.size(), m = b.size();
  std::vector<std::vector<size_t>> d(n + 1, std::vector<size_t>(m + 1));
  for (size_t i = 0; i <= n; ++i) d[i][0] = i;
  for (size_t j = 0; j <= m; ++j) d[0][j] = j;
  for (size_t i = 1; i <= n; ++i) {
    for (size_t j = 1; j <= m; ++j) {
      size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[n][m];
}

std::string closest_match(std::string_view word, const std::vector<std::string>& candidates) {
  if (word.empty() || word.size() > 64) return {};
  auto lower = [](std::string_view s) {
    std::string r(s);
    for (char& c : r) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return r;
  };
  const std::string lw = lower(word);
  std::string best;
  size_t best_distance = SIZE_MAX;
  for (const std::string& c : candidates) {
    if (c == word || c.size() > 64) continue;
    // A case-only difference counts as the closest possible typo.
    size_t dist = lower(c) == lw ? 0 : edit_distance(lw, lower(c));
    if (dist < best_distance || (dist == best_distance && c < best)) {
      best_distance = dist;
      best = c;
    }
  }
  const size_t allowed = std::max<size_t>(1, word.size() / 3);
  return best_distance <= allowed ? best : std::string{};
}

namespace {

std::vector<std::string> name_parts(const std::string& lower_name) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (size_t i = 0; i <= lower_name.size(); ++i)
    if (i == lower_name.size() || lower_name[i] == '_') {
      if (i > start) parts.push_back(lower_name.substr(start, i - start));
      start = i + 1;
    }
  return parts;
}

}  // namespace

std::vector<std::string> nearest_first(std::string_view word, std::vector<std::string> candidates) {
  auto lower = [](std::string_view v) {
    std::string r(v);
    for (char& c : r) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return r;
  };
  // Nearest: sharing more of the word's parts (`license_denial` is nearer
  // `license_presumption_of_denial` than `license_required`), then fewer edits.
  const std::string lw = lower(word.substr(0, 64));
  const std::vector<std::string> parts = name_parts(lw);
  struct Ranked {
    size_t shared, distance;
    std::string name;
  };
  std::vector<Ranked> ranked;
  ranked.reserve(candidates.size());
  for (std::string& c : candidates) {
    if (c.size() > 64) {
      ranked.push_back({0, SIZE_MAX, std::move(c)});
      continue;
    }
    const std::string lc = lower(c);
    size_t shared = 0;
    for (const std::string& p : name_parts(lc))
      shared += std::any_of(parts.begin(), parts.end(),
                            [&](const std::string& q) { return edit_distance(p, q) <= q.size() / 3; });
    ranked.push_back({shared, edit_distance(lw, lc), std::move(c)});
  }
  std::stable_sort(ranked.begin(), ranked.end(), [](const Ranked& a, const Ranked& b) {
    return a.shared != b.shared ? a.shared > b.shared : a.distance < b.distance;
  });
  std::vector<std::string> out;
  out.reserve(ranked.size());
  for (Ranked& r : ranked) out.push_back(std::move(r.name));
  return out;
}

}  // namespace edict
