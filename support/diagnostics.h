// User diagnostics as data: collected by a DiagnosticSink, sorted by position,
// capped, and rendered by one function (human text with a caret, or JSON).
// Codes are stable (E0201, W0101) so tests and docs do not depend on wording.
// Wording habits: lowercase, no final period, user text in `backticks`.
#pragma once

#include <string>
#include <vector>

#include "support/source.h"

namespace edict {

enum class Severity { Error, Warning, Note };

struct Label {
  Span span;
  std::string message;
};

struct Diagnostic {
  Severity severity = Severity::Error;
  std::string code;           // e.g. "E0201"
  Span span;                  // primary location (may be invalid for file-less errors)
  std::string message;        // one line
  std::string help;           // optional extra sentence(s), e.g. "did you mean `x`?"
  std::vector<Label> labels;  // secondary locations
};

class DiagnosticSink {
 public:
  explicit DiagnosticSink(size_t max_errors = 100) : max_errors_(max_errors) {}

  // Returns a reference so callers can add help/labels fluently.
  Diagnostic& error(std::string code, Span span, std::string message);
  Diagnostic& warning(std::string code, Span span, std::string message);
  void add(Diagnostic d);

  size_t error_count() const { return errors_; }
  size_t warning_count() const { return warnings_; }
  bool has_errors() const { return errors_ > 0; }
  // True once max_errors errors were recorded; later ones are counted but
  // dropped, and stages may stop early.
  bool limit_reached() const { return errors_ >= max_errors_; }
  size_t max_errors() const { return max_errors_; }

  // Sorted by (file, offset, code); stable for equal keys.
  std::vector<Diagnostic> sorted() const;
  const std::vector<Diagnostic>& all() const { return diags_; }

 private:
  std::vector<Diagnostic> diags_;
  size_t max_errors_;
  size_t errors_ = 0;
  size_t warnings_ = 0;
  Diagnostic dropped_;  // target for references to diagnostics past the cap
};

// `file:line:col: error[E0201]: message`, the source line, a caret line, then
// `help:` and labels. No colour codes.
std::string render_human(const SourceManager& sm, const Diagnostic& d);
// All diagnostics plus the closing summary line ("2 errors, 1 warning").
std::string render_human(const SourceManager& sm, const std::vector<Diagnostic>& ds,
                         size_t dropped_errors = 0);
// One JSON array of objects {severity, code, file, line, column, end_line,
// end_column, message, help, labels}.
std::string render_json(const SourceManager& sm, const std::vector<Diagnostic>& ds);

// "did you mean `x`?" support: the candidate closest to `word` by edit
// distance, if close enough to be a plausible typo; empty otherwise.
std::string closest_match(std::string_view word, const std::vector<std::string>& candidates);
size_t edit_distance(std::string_view a, std::string_view b);
// `candidates` ordered by edit distance to `word`, nearest first (ties keep
// their order), for help lines that list what could have been meant.
std::vector<std::string> nearest_first(std::string_view word, std::vector<std::string> candidates);

}  // namespace edict
