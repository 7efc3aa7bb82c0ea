// The formatter's printer, internal to compiler/fmt. format.cpp drives it;
// its parts: syntax.cpp (precedence, infix spines, number spelling),
// print_flat.cpp (source text, expressions on one line), print_layout.cpp
// (expressions and types over several lines), print_decls.cpp (declarations
// and regions), print_comments.cpp (comment placement and the output text).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "compiler/ast/ast.h"
#include "compiler/fmt/format.h"
#include "support/source.h"

namespace edict::fmt::detail {

using ast::Expr;
using ast::ExprKind;
using ast::Op;

constexpr uint32_t kNoPos = UINT32_MAX;

// The source bytes [begin, end) that one output line prints; empty when the
// line prints only punctuation with no known position.
struct Range {
  uint32_t begin = kNoPos;
  uint32_t end = 0;

  bool empty() const { return begin == kNoPos; }
  void add(uint32_t b, uint32_t e) {
    if (b > e) return;
    begin = std::min(begin, b);
    end = std::max(end, e);
  }
  void add(Span s) {
    if (s.valid()) add(s.begin, s.end);
  }
  void add(const Range& r) {
    if (!r.empty()) add(r.begin, r.end);
  }
  static Range of(Span s) {
    Range r;
    r.add(s);
    return r;
  }
  static Range at(uint32_t pos) {
    Range r;
    r.add(pos, pos + 1);
    return r;
  }
};

// Whether a blank line may precede a line: never, where the author wrote one,
// or always (between declarations).
enum class Blank : uint8_t { Never, Keep, Force };

// One output line, or, inside a layout, one piece of it: the first piece of a
// layout continues the line the caller is building.
struct Line {
  int indent = 0;
  std::string text;
  Range range;
  Blank blank = Blank::Never;
  int comment_indent = -1;                // indentation of leading comments; -1: `indent`
  std::vector<size_t> leading, trailing;  // indices into the comment list
};
using Frags = std::vector<Line>;

// Binding strength, tightest highest, after grammar/Edict.g4's `expr` rule.
constexpr int kPrecIf = 2, kPrecOr = 3, kPrecAnd = 4, kPrecNot = 5, kPrecCmp = 6, kPrecIn = 7, kPrecIs = 8,
              kPrecAdd = 9, kPrecMul = 10, kPrecOtherwise = 11, kPrecNeg = 12, kPrecAtom = 13;

// One operand of an infix spine: `a + b - c` is {a, +, b, -, c}.
struct Operand {
  const Expr* expr;
  bool wrap;       // needs parentheses the author did not write
  std::string op;  // operator before this operand; empty for the first
};

// Display width in code points (continuation bytes do not count).
int width(std::string_view s);

bool is_space(char c);

std::string_view trim(std::string_view s);

int prec(const Expr& e);

// Left-associative infix forms, printed by walking their left spine.
bool is_infix(const Expr& e);

bool is_chain(const Expr& e);

std::string infix_spelling(const Expr& e);

// True when the printed form of `e` ends in an expression slot that the
// parser fills greedily (an aggregate's `where` filter, an `if`'s `else`):
// such an expression must be parenthesised when tokens follow it.
bool ends_open(const Expr& e);

// Parentheses the tree needs where the author wrote none. For a tree the
// parser built this never fires; it guards trees built by hand.
bool needs_parens(const Expr& child, int min_prec, bool followed);

// The base of `.f` or `[k]`: an aggregate's window or key operand would take
// the postfix for itself.
bool needs_parens_as_base(const Expr& base);

// Flattens the left spine of same-precedence infix nodes (iteratively, so a
// long chain costs no stack).
std::vector<Operand> spine(const Expr& e);

bool all_of_chars(std::string_view s, std::string_view allowed);

// `007` -> `7`, `0_100` -> `100`; `_` grouping after the first digit kept.
std::string strip_leading_zeros(std::string_view digits);

// A number whose token cannot be reused, in the layout's own spelling: the
// shortest %g digits, an exponent without `+` (edict_number_literal writes
// `1e+26`, which the layout normalises to `1e26`).
std::string shortest_double(double v);

class Printer {
 public:
  // (print_decls.cpp)
  Printer(const SourceManager& sources, const ast::Module& module, const Options& options);

  // Declarations and comments are in source order, so those of one region
  // are found by binary search (a literate file may hold many small blocks).
  std::pair<size_t, size_t> decls_in(uint32_t begin, uint32_t end) const;
  std::pair<size_t, size_t> comments_in(uint32_t begin, uint32_t end) const;

  // Formats the declarations and comments whose start lies in [begin, end),
  // each line prefixed by `margin` (a literate fence's indentation).
  std::string format_region(uint32_t begin, uint32_t end, std::string_view margin);

 private:
  // ---- source text (print_flat.cpp) ---------------------------------------------

  std::string_view slice(uint32_t b, uint32_t e) const;

  // A blank line (only whitespace between two newlines) in [a, b).
  bool has_blank_line(uint32_t a, uint32_t b) const;

  bool comment_between(uint32_t a, uint32_t b) const;
  bool comment_within(Span s) const { return s.valid() && comment_between(s.begin, s.end); }

  // The string token starting at the first `"` in the span (comments
  // skipped), as written; `decoded` re-quoted when there is none.
  std::string string_at(Span span, std::string_view decoded) const;

  // A literal's token as written (the span may include the parentheses).
  std::string_view token(const Expr& e) const;

  std::string int_text(const Expr& e) const;

  std::string number_text(const Expr& e) const;

  std::string message_text(const Expr& m) const;

  // The range of a closing bracket at the end of `span` (skipping the
  // author's parentheses around it and a type's `?`), empty when absent.
  Range closer_range(Span span, char closer) const;

  Range opener_range(Span span, char opener) const;

  // ---- expressions on one line (print_flat.cpp) ---------------------------------

  std::string flat(const Expr& e) const;

  std::string flat_child(const Expr* c, int min_prec, bool followed) const;

  std::string flat_base(const Expr* base) const;

  static const Expr* kid(const Expr& e, size_t i);
  static const Expr* kid(const Expr& e, int i) { return i >= 0 ? kid(e, static_cast<size_t>(i)) : nullptr; }

  std::string flat_bare(const Expr& e) const;

  static std::string field_name(const Expr& record, size_t i);

  std::string aggregate_text(const Expr& e) const;

  // The window and key are simple operands in the grammar (a primary and
  // postfix `.`/`[]`), so a comparison after them applies to the aggregate. An
  // aggregate there is parenthesised too: it could take the `by`/`where` that
  // follows.
  std::string aggregate_operand(const Expr& operand) const;

  // ---- expressions over several lines (print_layout.cpp) ------------------------

  // True when the broken layout of `e` keeps a comment in place that the
  // one-line form would move: a comment between the operands of an `and`/`or`
  // chain, or inside a set or record literal. Only constructs whose broken
  // layout lays their children out again propagate it, which keeps the
  // decision the same on the formatter's own output (idempotence).
  bool forced(const Expr& e);

  // Appends `tail` to `head`: tail's first piece joins head's last line.
  static void join(Frags& head, Frags tail, std::string_view glue = "");

  static Frags one(int indent, std::string text, Range range = {});

  // Where a layout starts: on a line indented `li`, at column `col`; lines
  // that continue an `and`/`or` chain are indented `ci`. Brackets opened on
  // that line close at `li`, their contents at `li + 2`.
  struct Place {
    int li;
    int ci;
    int col;
  };

  static Line closer(int indent, const char* text, Range range);

  // Lays `e` out at `at`: on one line when it fits and no comment forces it
  // apart. `wrap`: parentheses the tree needs but the author did not write.
  Frags layout(const Expr& e, bool wrap, Place at);

  Frags layout_child(const Expr* c, int min_prec, bool followed, Place at);

  // The place right after the last line of `f`, which began at `at`.
  static Place after(const Frags& f, Place at, int extra);

  // The first operand stays on the current line; each other one starts a
  // line at `ci` with its operator, and its own continuations go two deeper.
  Frags layout_chain(const Expr& e, Place at);

  Frags layout_bare(const Expr& e, Place at);

  // A long aggregate: `FN(x) over W` where it starts, then `by K` and
  // `where F` each on a line of their own two columns deeper than the
  // aggregate (the filter's own continuations two deeper again).
  Frags layout_aggregate(const Expr& e, Place at);

  // `{`, the elements filled up to the width (a comment between two elements,
  // or inside one, starts a new line so it stays where it is), `}` at `li`.
  Frags layout_set(const Expr& e, int li);

  // `{`, one `name: value,` per line, `}` at `li`.
  Frags layout_record(const Expr& e, int li, Blank blank);

  // ---- types (print_layout.cpp) -------------------------------------------------

  std::string type_flat(const ast::TypeExpr& t) const;

  Frags layout_type(const ast::TypeExpr& t, int ci, int col);

  // ---- declarations (print_decls.cpp) -------------------------------------------

  void push(Frags frags);

  // `prefix` followed by a layout of `e`, on a line indented `indent`.
  void push_with(int indent, std::string prefix, Range prefix_range, Frags frags);

  void push_line(int indent, std::string text, Range range, Blank blank = Blank::Never,
                 int comment_indent = -1);

  Range head_range(const ast::Decl& d, Span last) const;

  // `header = value`: on one line when it fits; a set, record or call opens
  // on the header line; anything else moves to the next line, indented two,
  // its continuation lines four (as under a rule's `when`).
  void push_binding(const std::string& header, Range header_range, const Expr* value);

  bool hugs(const Expr& e);

  void print_decl(const ast::Decl& d);

  void print_policy(const ast::PolicyDecl& p);

  void print_event(const ast::EventDecl& e);

  void print_table(const ast::TableDecl& t);
  void print_data(const ast::TableDecl& t);

  void print_rule(const ast::RuleDecl& r);

  void print_example(const ast::ExampleDecl& e);

  void print_test(const ast::TestDecl& t);

  // ---- comments and output (print_comments.cpp) ---------------------------------

  std::string comment_text(size_t i) const;

  // Places each comment: inside a line's range -> before that line; after a
  // line with no newline in between -> trailing it; else before the next line
  // in source order (or at the end).
  std::vector<size_t> attach(const std::vector<size_t>& comments);

  // One line of output before it is written: code or a comment on its own.
  struct OutLine {
    bool blank_before = false;
    bool code = false;  // a printed line (not a comment on its own line)
    int indent = 0;
    std::string text;
    std::vector<size_t> trailing;
  };

  std::string emit(const std::vector<size_t>& comments, std::string_view margin);

  // Trailing comments of consecutive code lines at one indentation (no blank
  // line or comment line between them) start in one column, one space after
  // the longest of those lines that has one, as gofmt does.
  std::string render(const std::vector<OutLine>& out, std::string_view margin) const;

  const SourceManager& sources_;
  const ast::Module& module_;
  const std::string& src_;
  int max_width_;
  std::string newline_;
  std::vector<uint32_t> comment_begins_;
  std::unordered_map<const Expr*, bool> forced_;
  std::vector<Line> lines_;
};

}  // namespace edict::fmt::detail
