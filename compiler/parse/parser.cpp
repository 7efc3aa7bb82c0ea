// The parser stage's driver: input limits (size, UTF-8, nesting), the
// ANTLR lexer and parser with Edict's own error reporting, and the firewall
// that turns anything ANTLR throws into a diagnostic. The tree walk that builds
// the AST is in builder.cpp; import loading in loader.cpp.
//
// Diagnostic codes of this stage (stable; docs and tests rely on them):
//   E0001  syntax error ("expected `=`, found `when`")
//   E0002  invalid UTF-8 (overlong, surrogate, above U+10FFFF, truncated, stray byte)
//   E0003  file too large (Limits::max_file_bytes)
//   E0004  nesting too deep or expression too long (Limits::max_nesting)
//   E0005  unterminated string
//   E0006  unterminated block comment
//   E0007  unexpected character
//   E0008  invalid escape sequence in a string
//   E0009  invalid interpolation in a rule message (`{`, `}`, empty `{}`)
//   E0010  integer literal out of range
//   E0011  invalid date or time literal
//   E0012  invalid duration literal
//   E0013  number literal out of range
//   E0014  duplicate clause (two `when`, two effects, two `version`...)
//   E0015  rule has no effect
//   E0016  note: too many errors, parsing stopped
//   E0017  internal parser failure (an exception caught by the firewall)
//   E0018  an aggregate takes at most one argument
//   E0019  a `data` clause that is not `key`, `columns` or `in force`
//   E0020  a misspelt keyword (`efective 2025-03-01`): "did you mean `effective`?"
// E0020-E0049 are reserved for this stage; E0050-E0069 belong to loader.cpp.

#include <antlr4-runtime.h>

#include <algorithm>
#include <cstdio>
#include <deque>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "EdictLexer.h"
#include "EdictParser.h"
#include "compiler/parse/builder.h"
#include "compiler/parse/internal.h"
#include "compiler/parse/keyword_typos.h"
#include "compiler/parse/parse.h"

namespace edict::parse {
namespace detail {

using edict_antlr::EdictLexer;
using edict_antlr::EdictParser;

// ---- shared helpers ---------------------------------------------------------

OffsetMap::OffsetMap(std::string_view utf8) : size_(static_cast<uint32_t>(utf8.size())) {
  bool ascii =
      std::all_of(utf8.begin(), utf8.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
  if (ascii) return;
  table_.reserve(utf8.size() + 1);
  for (uint32_t i = 0; i < utf8.size(); ++i)
    if ((static_cast<unsigned char>(utf8[i]) & 0xC0) != 0x80) table_.push_back(i);
  table_.push_back(size_);
}

uint32_t OffsetMap::byte(size_t index) const {
  if (table_.empty()) return index < size_ ? static_cast<uint32_t>(index) : size_;
  return index < table_.size() ? table_[index] : size_;
}

Diagnostic& Session::error(const char* code, Span span, std::string message) {
  bool was_capped = sink.limit_reached();
  Diagnostic& d = sink.error(code, span, std::move(message));
  if (!was_capped && sink.limit_reached() && !cancelled) {
    cancelled = true;
    Diagnostic note;
    note.severity = Severity::Note;
    note.code = kTooManyErrors;
    note.span = span;
    note.message = "too many errors (" + std::to_string(sink.max_errors()) + "); stopped parsing here";
    sink.add(std::move(note));
  }
  if (was_capped) cancelled = true;
  return d;
}

void Session::report_nesting(Span span) {
  if (depth_reported) return;
  depth_reported = true;
  error(kNestingTooDeep, span,
        "nesting too deep: more than " + std::to_string(limits.max_nesting) + " levels")
      .help = "split the expression into named `const`s or `def`s";
}

std::string quote_source(std::string_view text, size_t max_chars) {
  std::string out;
  size_t chars = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if ((c & 0xC0) != 0x80 && ++chars > max_chars) {
      out += "...";
      break;
    }
    if (c == '\n')
      out += "\\n";
    else if (c == '\r')
      out += "\\r";
    else if (c == '\t')
      out += "\\t";
    else if (c < 0x20 || c == 0x7F) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02X", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return "`" + out + "`";
}

namespace {

// ---- UTF-8 validation ---------------------------------------------------------

struct Utf8Error {
  size_t offset;
  const char* reason;
};

// The strict UTF-8 of RFC 3629: no overlongs, no surrogates, nothing above
// U+10FFFF. ANTLR would otherwise decode (or throw on) such bytes its own way.
std::optional<Utf8Error> find_invalid_utf8(std::string_view s) {
  size_t i = 0;
  const size_t n = s.size();
  auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  while (i < n) {
    unsigned char c = byte(i);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF)
      len = 2, cp = c & 0x1F;
    else if (c >= 0xE0 && c <= 0xEF)
      len = 3, cp = c & 0x0F;
    else if (c >= 0xF0 && c <= 0xF4)
      len = 4, cp = c & 0x07;
    else if (c == 0xC0 || c == 0xC1)
      return Utf8Error{i, "overlong encoding"};
    else if (c >= 0x80 && c <= 0xBF)
      return Utf8Error{i, "unexpected continuation byte"};
    else
      return Utf8Error{i, "byte that never appears in UTF-8"};
    for (size_t k = 1; k < len; ++k) {
      if (i + k >= n || (byte(i + k) & 0xC0) != 0x80) return Utf8Error{i, "truncated sequence"};
      cp = (cp << 6) | (byte(i + k) & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000)) return Utf8Error{i, "overlong encoding"};
    if (cp >= 0xD800 && cp <= 0xDFFF) return Utf8Error{i, "surrogate code point"};
    if (cp > 0x10FFFF) return Utf8Error{i, "code point above U+10FFFF"};
    i += len;
  }
  return std::nullopt;
}

// ---- nesting pre-scan -----------------------------------------------------------
//
// ANTLR's parser is recursive descent: every bracket, prefix operator and `if`
// costs stack frames. This scan, a tiny lexer over the bytes, estimates the
// nesting before ANTLR runs, so 10,000 parentheses or a million `not`s are
// rejected without allocating a token. It is an estimate, not the grammar:
// GuardedParser below enforces an exact bound on ANTLR's recursion as well,
// which also covers inputs that fool the scan through error recovery.

enum class Scope : uint8_t { Bracket, Angle, IfCond, IfThen, IfElse, Over, Not, Neg };

class Prescan {
 public:
  Prescan(Session& s, std::string_view text, uint32_t base, unsigned budget)
      : s_(s), text_(text), base_(base), budget_(budget), max_chain_(8u * s.limits.max_nesting) {}

  // False after reporting E0004.
  bool run();

 private:
  enum class Tok : uint8_t {
    Operand,
    Open,
    Close,
    Less,
    Greater,
    Minus,
    Not,
    If,
    Then,
    Else,
    Over,
    AndOr,
    Infix,
    Dot,
    Separator,
    ItemKeyword,
    Neutral,
    End
  };

  Tok next();
  bool push(Scope k);
  void pop_to_bracket() {
    while (!stack_.empty() && stack_.back() != Scope::Bracket) stack_.pop_back();
  }
  // Index of the topmost scope of kind `k` above the innermost bracket.
  std::optional<size_t> find_above_bracket(Scope k) const {
    for (size_t i = stack_.size(); i-- > 0;) {
      if (stack_[i] == k) return i;
      if (stack_[i] == Scope::Bracket) break;
    }
    return std::nullopt;
  }
  bool count_operator();
  Span token_span() const { return s_.span(base_ + uint32_t(tok_begin_), base_ + uint32_t(pos_)); }
  bool at_type_start() const;

  Session& s_;
  std::string_view text_;
  uint32_t base_;
  unsigned budget_;
  uint32_t max_chain_;
  size_t pos_ = 0, tok_begin_ = 0;
  bool set_keyword_ = false;  // the last Operand was the keyword `set`
  std::vector<Scope> stack_;
  std::vector<uint32_t> chains_{0};  // operators in a row, per bracket level
};

bool is_ident_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool is_ident_char(char c) {
  return is_ident_start(c) || (c >= '0' && c <= '9');
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

Prescan::Tok Prescan::next() {
  const size_t n = text_.size();
  set_keyword_ = false;
  for (;;) {
    while (pos_ < n && (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n' ||
                        text_[pos_] == '\r' || text_[pos_] == '\f'))
      ++pos_;
    if (pos_ + 1 < n && text_[pos_] == '/' && text_[pos_ + 1] == '/') {
      while (pos_ < n && text_[pos_] != '\n') ++pos_;
      continue;
    }
    if (pos_ + 1 < n && text_[pos_] == '/' && text_[pos_ + 1] == '*') {
      size_t close = text_.find("*/", pos_ + 2);
      pos_ = close == std::string_view::npos ? n : close + 2;
      continue;
    }
    break;
  }
  tok_begin_ = pos_;
  if (pos_ >= n) return Tok::End;
  char c = text_[pos_];
  if (c == '"') {
    ++pos_;
    while (pos_ < n && text_[pos_] != '"' && text_[pos_] != '\n' && text_[pos_] != '\r') {
      if (text_[pos_] == '\\' && pos_ + 1 < n && text_[pos_ + 1] != '\n') ++pos_;
      ++pos_;
    }
    if (pos_ < n && text_[pos_] == '"') ++pos_;
    return Tok::Operand;
  }
  if (is_digit(c)) {
    // Dates, times, numbers and durations are single operands: their `-`, `:`
    // and `+` are not operators or separators.
    auto digits_at = [&](size_t k, size_t count) {
      for (size_t i = 0; i < count; ++i)
        if (k + i >= n || !is_digit(text_[k + i])) return false;
      return true;
    };
    auto char_at = [&](size_t k, char d) { return k < n && text_[k] == d; };
    size_t p = pos_;
    if (digits_at(p, 4) && char_at(p + 4, '-') && digits_at(p + 5, 2) && char_at(p + 7, '-') &&
        digits_at(p + 8, 2)) {
      pos_ = p + 10;
      if (char_at(pos_, 'T') && digits_at(pos_ + 1, 2) && char_at(pos_ + 3, ':') && digits_at(pos_ + 4, 2) &&
          char_at(pos_ + 6, ':') && digits_at(pos_ + 7, 2)) {
        pos_ += 9;
        if (char_at(pos_, '.'))
          for (++pos_; pos_ < n && is_digit(text_[pos_]);) ++pos_;
        if (char_at(pos_, 'Z'))
          ++pos_;
        else if ((char_at(pos_, '+') || char_at(pos_, '-')) && digits_at(pos_ + 1, 2) &&
                 char_at(pos_ + 3, ':'))
          pos_ += 6;
      }
      return Tok::Operand;
    }
    while (pos_ < n && (is_digit(text_[pos_]) || text_[pos_] == '_')) ++pos_;
    if (char_at(pos_, '.') && digits_at(pos_ + 1, 1))
      for (++pos_; pos_ < n && (is_digit(text_[pos_]) || text_[pos_] == '_');) ++pos_;
    if ((char_at(pos_, 'e') || char_at(pos_, 'E')) &&
        (digits_at(pos_ + 1, 1) ||
         ((char_at(pos_ + 1, '+') || char_at(pos_ + 1, '-')) && digits_at(pos_ + 2, 1))))
      pos_ += 2;
    while (pos_ < n && is_ident_char(text_[pos_])) ++pos_;  // exponent digits, duration units
    return Tok::Operand;
  }
  if (is_ident_start(c)) {
    while (pos_ < n && is_ident_char(text_[pos_])) ++pos_;
    std::string_view w = text_.substr(tok_begin_, pos_ - tok_begin_);
    if (w == "not") return Tok::Not;
    if (w == "if") return Tok::If;
    if (w == "then") return Tok::Then;
    if (w == "else") return Tok::Else;
    if (w == "over") return Tok::Over;
    if (w == "and" || w == "or") return Tok::AndOr;
    if (w == "otherwise" || w == "in" || w == "is") return Tok::Infix;
    if (w == "policy" || w == "import" || w == "outcomes" || w == "default" || w == "const" || w == "table" ||
        w == "def" || w == "rule" || w == "example" || w == "test")
      return Tok::ItemKeyword;
    if (w == "version" || w == "source" || w == "status" || w == "on" || w == "any" || w == "effective" ||
        w == "until" || w == "cite" || w == "when" || w == "unless" || w == "with" || w == "given" ||
        w == "expect" || w == "by" || w == "only" || w == "where" || w == "distinct")
      return Tok::Separator;
    if (w == "set") {
      // `set<T>` names a type; otherwise `set` starts a declaration.
      size_t k = pos_;
      while (k < n && (text_[k] == ' ' || text_[k] == '\t')) ++k;
      if (k < n && text_[k] == '<') {
        set_keyword_ = true;
        return Tok::Operand;
      }
      return Tok::ItemKeyword;
    }
    return Tok::Operand;  // names and the keywords event, true, false, present, absent
  }
  ++pos_;
  auto next_is = [&](char d) {
    if (pos_ < n && text_[pos_] == d) {
      ++pos_;
      return true;
    }
    return false;
  };
  switch (c) {
    case '(':
    case '[':
    case '{': return Tok::Open;
    case ')':
    case ']':
    case '}': return Tok::Close;
    case ',':
    case ':': return Tok::Separator;
    case '.': return Tok::Dot;
    case '?': return Tok::Neutral;
    case '+':
    case '*':
    case '/': return Tok::Infix;
    case '-': return next_is('>') ? Tok::Separator : Tok::Minus;
    case '=': return next_is('=') ? Tok::Infix : Tok::Separator;
    case '!': return next_is('=') ? Tok::Infix : Tok::Neutral;
    case '<': return next_is('=') ? Tok::Infix : Tok::Less;
    case '>': return next_is('=') ? Tok::Infix : Tok::Greater;
    default: return Tok::Neutral;  // ANTLR reports it as an unexpected character
  }
}

bool Prescan::push(Scope k) {
  if (stack_.size() >= budget_) {
    s_.report_nesting(token_span());
    return false;
  }
  stack_.push_back(k);
  return true;
}

bool Prescan::count_operator() {
  if (++chains_.back() > max_chain_) {
    if (!s_.depth_reported) {
      s_.depth_reported = true;
      s_.error(kNestingTooDeep, token_span(),
               "expression too long: more than " + std::to_string(max_chain_) + " operators in a row")
          .help = "split the expression into named `const`s or `def`s";
    }
    return false;
  }
  return true;
}

// In `name<`, the `<` opens a type argument only if a type follows.
bool Prescan::at_type_start() const {
  size_t k = pos_;
  while (k < text_.size() && (text_[k] == ' ' || text_[k] == '\t' || text_[k] == '\n' || text_[k] == '\r'))
    ++k;
  return k < text_.size() && (is_ident_start(text_[k]) || text_[k] == '{');
}

bool Prescan::run() {
  bool prev_operand = false;   // the previous token ends an operand
  bool prev_typename = false;  // ... and is a name or `set` that may take `<T>`
  for (;;) {
    Tok t = next();
    bool operand = false, typename_ = false;
    switch (t) {
      case Tok::End: return true;
      case Tok::Operand:
        operand = true;
        typename_ = set_keyword_ || is_ident_start(text_[tok_begin_]);
        break;
      case Tok::Open:
        if (!push(Scope::Bracket)) return false;
        chains_.push_back(0);
        break;
      case Tok::Close:
        // Closes the innermost bracket and everything opened inside it.
        pop_to_bracket();
        if (!stack_.empty()) {
          stack_.pop_back();
          chains_.pop_back();
        }
        operand = true;
        break;
      case Tok::Less:
        if (prev_typename && at_type_start()) {
          if (!push(Scope::Angle)) return false;
        } else {
          while (!stack_.empty() && stack_.back() == Scope::Neg) stack_.pop_back();
          if (!count_operator()) return false;
        }
        break;
      case Tok::Greater:
        if (auto i = find_above_bracket(Scope::Angle)) {
          stack_.resize(*i);
          operand = true;
          typename_ = false;
        } else {
          while (!stack_.empty() && stack_.back() == Scope::Neg) stack_.pop_back();
          if (!count_operator()) return false;
        }
        break;
      case Tok::Minus:
        if (prev_operand) {
          while (!stack_.empty() && stack_.back() == Scope::Neg) stack_.pop_back();
          if (!count_operator()) return false;
        } else if (!push(Scope::Neg)) {
          return false;
        }
        break;
      case Tok::Not:
        if (prev_operand) {  // `x not in s`
          while (!stack_.empty() && stack_.back() == Scope::Neg) stack_.pop_back();
          if (!count_operator()) return false;
        } else if (!push(Scope::Not)) {
          return false;
        }
        break;
      case Tok::If:
        if (!push(Scope::IfCond)) return false;
        break;
      case Tok::Then:
        if (auto i = find_above_bracket(Scope::IfCond)) {
          stack_.resize(*i + 1);
          stack_.back() = Scope::IfThen;
        }
        break;
      case Tok::Else:
        if (auto i = find_above_bracket(Scope::IfThen)) {
          stack_.resize(*i + 1);
          stack_.back() = Scope::IfElse;
        }
        break;
      case Tok::Over:
        if (!push(Scope::Over)) return false;
        break;
      case Tok::AndOr:
        while (!stack_.empty() && (stack_.back() == Scope::Neg || stack_.back() == Scope::Not))
          stack_.pop_back();
        if (!count_operator()) return false;
        break;
      case Tok::Infix:
        while (!stack_.empty() && stack_.back() == Scope::Neg) stack_.pop_back();
        if (!count_operator()) return false;
        break;
      case Tok::Dot:
        if (!count_operator()) return false;
        break;
      case Tok::Separator:
        pop_to_bracket();
        chains_.back() = 0;
        break;
      case Tok::ItemKeyword:
        stack_.clear();
        chains_.assign(1, 0);
        break;
      case Tok::Neutral: operand = prev_operand; break;
    }
    prev_operand = operand;
    prev_typename = typename_;
  }
}

// ---- ANTLR plumbing -------------------------------------------------------------

// Maps tokens to spans in the file and formats them for messages.
class TokenText {
 public:
  TokenText(Session& s, const OffsetMap& offsets, uint32_t base, std::string_view text, bool embedded)
      : s_(s), offsets_(offsets), base_(base), text_(text), embedded_(embedded) {}

  Span span(const antlr4::Token* t) const {
    if (t->getStartIndex() == INVALID_INDEX) return s_.span(base_, base_);
    uint32_t b = offsets_.byte(t->getStartIndex());
    uint32_t e = t->getType() == kEofToken ? b : offsets_.byte(t->getStopIndex() + 1);
    return s_.span(base_ + b, base_ + std::max(b, e));
  }
  std::string_view text(const antlr4::Token* t) const {
    Span sp = span(t);
    return text_.substr(sp.begin - base_, sp.end - sp.begin);
  }
  std::string found(const antlr4::Token* t) const {
    if (t->getType() == kEofToken) return end_phrase();
    return quote_source(text(t));
  }
  std::string end_phrase() const { return embedded_ ? "the closing `}`" : "end of file"; }
  Session& session() const { return s_; }
  // `policy`, `==`: the grammar's literal for a token type; empty if none.
  std::string literal(size_t type) const {
    std::string lit = vocabulary_ ? vocabulary_->getLiteralName(type) : "";
    return lit.size() >= 2 ? lit.substr(1, lit.size() - 2) : "";
  }
  void set_vocabulary(const antlr4::dfa::Vocabulary& v) { vocabulary_ = &v; }

 private:
  Session& s_;
  const OffsetMap& offsets_;
  uint32_t base_;
  std::string_view text_;
  bool embedded_;
  const antlr4::dfa::Vocabulary* vocabulary_ = nullptr;
};

// Human names for token types in "expected ..." messages.
std::string token_phrase(size_t type, const TokenText& tt) {
  switch (type) {
    case kEofToken: return tt.end_phrase();
    case EdictLexer::IDENT: return "a name";
    case EdictLexer::STRING: return "a string";
    case EdictLexer::INT: return "an integer";
    case EdictLexer::NUMBER: return "a number";
    case EdictLexer::DATE: return "a date";
    case EdictLexer::DATETIME: return "a time";
    case EdictLexer::DURATION: return "a duration";
    default: break;
  }
  std::string lit = tt.literal(type);
  return lit.empty() ? "a token" : "`" + lit + "`";
}

std::string describe_expected(const antlr4::misc::IntervalSet& set, const TokenText& tt) {
  std::vector<ssize_t> tokens = set.toList();
  auto has = [&](ssize_t t) { return std::find(tokens.begin(), tokens.end(), t) != tokens.end(); };
  auto has_all = [&](std::initializer_list<ssize_t> ts) { return std::all_of(ts.begin(), ts.end(), has); };
  auto drop = [&](std::initializer_list<ssize_t> ts) {
    tokens.erase(std::remove_if(tokens.begin(), tokens.end(),
                                [&](ssize_t t) { return std::find(ts.begin(), ts.end(), t) != ts.end(); }),
                 tokens.end());
  };
  std::vector<std::string> pieces;
  using L = EdictLexer;
  const ssize_t eof = -1;  // IntervalSet stores EOF as -1
  if (has_all({L::IDENT, L::POLICY, L::RULE, L::AND, L::DISTINCT, L::OTHERWISE})) {
    pieces.push_back("a field name");
    drop({L::IDENT,     L::POLICY,  L::VERSION, L::SOURCE,   L::STATUS, L::IMPORT,  L::OUTCOMES,  L::DEFAULT,
          L::EVENT,     L::CONST,   L::SET,     L::TABLE,    L::DEF,    L::RULE,    L::ON,        L::ANY,
          L::EFFECTIVE, L::UNTIL,   L::CITE,    L::WHEN,     L::UNLESS, L::EXAMPLE, L::TEST,      L::GIVEN,
          L::WITH,      L::EXPECT,  L::BY,      L::ONLY,     L::AND,    L::OR,      L::NOT,       L::IN,
          L::IS,        L::PRESENT, L::ABSENT,  L::IF,       L::THEN,   L::ELSE,    L::OTHERWISE, L::TRUE,
          L::FALSE,     L::OVER,    L::WHERE,   L::DISTINCT, L::DATA,   L::FROM});
  }
  if (has_all({L::INT, L::STRING, L::IDENT, L::LPAREN, L::MINUS, L::NOT, L::IF})) {
    pieces.push_back("an expression");
    drop({L::INT, L::NUMBER, L::STRING, L::TRUE, L::FALSE, L::DATE, L::DATETIME, L::DURATION, L::EVENT,
          L::IDENT, L::LPAREN, L::LBRACE, L::MINUS, L::NOT, L::IF});
  }
  if (has_all({L::AND, L::OR, L::PLUS, L::EQ, L::DOT})) {
    pieces.push_back("an operator");
    drop({L::DOT, L::LBRACK, L::OTHERWISE, L::STAR, L::SLASH, L::PLUS, L::MINUS, L::IS, L::NOT, L::IN, L::EQ,
          L::NE, L::LT, L::LE, L::GT, L::GE, L::AND, L::OR});
  }
  if (has_all({L::EFFECTIVE, L::UNTIL, L::CITE, L::WHEN, L::UNLESS})) {
    pieces.push_back("a rule clause");
    drop({L::EFFECTIVE, L::UNTIL, L::CITE, L::WHEN, L::UNLESS, L::IDENT});
  }
  if (has_all({L::POLICY, L::IMPORT, L::RULE, L::CONST, L::TEST})) {
    pieces.push_back("a declaration");
    drop({L::POLICY, L::IMPORT, L::OUTCOMES, L::DEFAULT, L::EVENT, L::CONST, L::SET, L::TABLE, L::DATA,
          L::DEF, L::RULE, L::EXAMPLE, L::TEST, eof});
  }
  for (ssize_t t : tokens) pieces.push_back(token_phrase(t == eof ? kEofToken : size_t(t), tt));
  if (pieces.empty()) return "";
  if (pieces.size() > 6) {
    pieces.resize(5);
    pieces.push_back("...");
  }
  std::string out = pieces[0];
  for (size_t i = 1; i < pieces.size(); ++i) out += (i + 1 == pieces.size() ? " or " : ", ") + pieces[i];
  return out;
}

// Replaces ANTLR's console messages by Edict diagnostics and stops the parse
// (ParseCancellationException) once the error cap is reached.
//
// Recovery resynchronises at declaration and clause boundaries (a keyword that
// starts a declaration, a rule clause or a test step, first on its line):
// after an error the parser skips to the next boundary, and errors before it
// are not reported, since they are almost always echoes of the first one.
class ErrorStrategy : public antlr4::DefaultErrorStrategy {
 public:
  explicit ErrorStrategy(const TokenText& tt) : tt_(tt) {}

 protected:
  void consumeUntil(antlr4::Parser* p, const antlr4::misc::IntervalSet& set) override {
    for (size_t type = p->getInputStream()->LA(1); type != antlr4::Token::EOF;
         type = p->getInputStream()->LA(1)) {
      if (set.contains(type) && is_boundary(p->getTokenStream(), p->getCurrentToken())) break;
      p->consume();
    }
  }
  void reportNoViableAlternative(antlr4::Parser* p, const antlr4::NoViableAltException& e) override {
    report(p, e.getOffendingToken(), e.getExpectedTokens());
  }
  void reportInputMismatch(antlr4::Parser* p, const antlr4::InputMismatchException& e) override {
    report(p, e.getOffendingToken(), e.getExpectedTokens());
  }
  void reportFailedPredicate(antlr4::Parser* p, const antlr4::FailedPredicateException& e) override {
    report(p, e.getOffendingToken(), e.getExpectedTokens());
  }
  void reportUnwantedToken(antlr4::Parser* p) override {
    if (inErrorRecoveryMode(p)) return;
    beginErrorCondition(p);
    report(p, p->getCurrentToken(), getExpectedTokens(p));
  }
  void reportMissingToken(antlr4::Parser* p) override {
    if (inErrorRecoveryMode(p)) return;
    beginErrorCondition(p);
    report(p, p->getCurrentToken(), getExpectedTokens(p));
  }

 private:
  // A token where a declaration, a rule clause or a test step starts.
  static bool is_boundary(antlr4::TokenStream* tokens, antlr4::Token* t) {
    size_t type = t->getType();
    using L = EdictLexer;
    bool keyword = type == L::POLICY || type == L::IMPORT || type == L::OUTCOMES || type == L::DEFAULT ||
                   type == L::CONST || type == L::TABLE || type == L::DATA || type == L::DEF ||
                   type == L::RULE || type == L::EXAMPLE || type == L::TEST || type == L::EFFECTIVE ||
                   type == L::UNTIL || type == L::CITE || type == L::WHEN || type == L::UNLESS ||
                   type == L::GIVEN || type == L::EXPECT;
    if ((type == L::EVENT || type == L::SET) && t->getTokenIndex() + 1 < tokens->size())
      keyword = next_visible(tokens, t)->getType() == L::IDENT;  // `event rental {`, not `event.x`
    if (!keyword) return false;
    antlr4::Token* prev = previous_visible(tokens, t);
    return !prev || prev->getLine() != t->getLine();
  }
  static antlr4::Token* previous_visible(antlr4::TokenStream* tokens, antlr4::Token* t) {
    for (size_t i = t->getTokenIndex(); i-- > 0;)
      if (tokens->get(i)->getChannel() == antlr4::Token::DEFAULT_CHANNEL) return tokens->get(i);
    return nullptr;
  }
  static antlr4::Token* next_visible(antlr4::TokenStream* tokens, antlr4::Token* t) {
    for (size_t i = t->getTokenIndex() + 1; i < tokens->size(); ++i)
      if (tokens->get(i)->getChannel() == antlr4::Token::DEFAULT_CHANNEL) return tokens->get(i);
    return t;
  }
  // The index of the first boundary after `t` (the end of the tokens if none).
  static size_t next_boundary(antlr4::TokenStream* tokens, antlr4::Token* t) {
    size_t i = t->getTokenIndex() + 1;
    for (; i < tokens->size(); ++i) {
      antlr4::Token* u = tokens->get(i);
      if (u->getChannel() == antlr4::Token::DEFAULT_CHANNEL &&
          (u->getType() == kEofToken || is_boundary(tokens, u)))
        break;
    }
    return i;
  }

  void report(antlr4::Parser* p, antlr4::Token* found, const antlr4::misc::IntervalSet& expected) {
    Session& s = tt_.session();
    if (!found) found = p->getCurrentToken();
    size_t index = found->getTokenIndex();
    if (index != INVALID_INDEX && quiet_until_ != INVALID_INDEX && index < quiet_until_) {
      s.syntax_errors.push_back(tt_.span(found).begin);  // the declaration is damaged all the same
      return;
    }
    if (index != INVALID_INDEX) quiet_until_ = next_boundary(p->getTokenStream(), found);
    std::string what = describe_expected(expected, tt_);
    std::string message =
        what.empty() ? "unexpected " + tt_.found(found) : "expected " + what + ", found " + tt_.found(found);
    Span at = tt_.span(found);
    Span found_at = at;
    // A missing `)` or `then` is missing at the end of the line before the
    // token that revealed it: point there (and label the token), unless a
    // new declaration may start at that token, which is then the suspect.
    bool moved = false;
    if (antlr4::Token* prev = previous_token(p, found)) {
      Span after = tt_.span(prev);
      bool eof = found->getType() == kEofToken;
      bool later_line =
          s.sources.line_col(s.file, at.begin).line > s.sources.line_col(s.file, after.end).line;
      if (eof || (later_line && !expected.contains(size_t(EdictLexer::RULE)))) {
        at = s.span(after.end, after.end);
        moved = !eof;
      }
    }
    s.syntax_errors.push_back(at.begin);
    Diagnostic& d = s.error(kSyntaxError, at, std::move(message));
    if (moved) d.labels.push_back(Label{found_at, "unexpected " + tt_.found(found)});
    if (found->getType() == EdictLexer::IDENT && expected.contains(size_t(EdictLexer::STRING)) &&
        expected.size() <= 2)
      d.help = "strings are written in double quotes: \"...\"";
    else if (found->getType() == EdictLexer::ASSIGN && !expected.contains(size_t(EdictLexer::ASSIGN)))
      d.help = "compare with `==`";
    if (s.cancelled) throw antlr4::ParseCancellationException();
  }

  // The last token before `t` that the parser saw (comments excluded).
  static antlr4::Token* previous_token(antlr4::Parser* p, antlr4::Token* t) {
    size_t index = t->getTokenIndex();
    if (index == INVALID_INDEX) return nullptr;
    antlr4::TokenStream* tokens = p->getTokenStream();
    while (index-- > 0) {
      antlr4::Token* prev = tokens->get(index);
      if (prev->getChannel() == antlr4::Token::DEFAULT_CHANNEL) return prev;
    }
    return nullptr;
  }

  const TokenText& tt_;
  size_t quiet_until_ = INVALID_INDEX;  // errors at tokens before this index are echoes
};

// A fallback for errors ANTLR reports without going through the strategy.
class ErrorListener : public antlr4::BaseErrorListener {
 public:
  explicit ErrorListener(const TokenText& tt) : tt_(tt) {}
  void syntaxError(antlr4::Recognizer*, antlr4::Token* offending, size_t, size_t, const std::string& msg,
                   std::exception_ptr) override {
    Session& s = tt_.session();
    Span at = offending ? tt_.span(offending) : s.span(0, 0);
    s.syntax_errors.push_back(at.begin);
    s.error(kSyntaxError, at, msg);
    if (s.cancelled) throw antlr4::ParseCancellationException();
  }

 private:
  const TokenText& tt_;
};

// The generated lexer, stepping over runs of blanks before ANTLR sees them.
// Its DFA costs a few hundred instructions a character (an edge lookup under
// a lock), and the prose of a literate file is blanked to spaces, so about
// 40% of the shipped library's characters are blanks. No rule but WS
// (`[ \t\r\n\f]+ -> skip`) starts with one, so a run at a token's start is
// always a single skipped WS match; the run's last character is left to
// ANTLR, which then ends the WS token, and sees the end of input, as before.
// Lines and columns advance through the simulator's own consume().
class BlankSkippingLexer : public EdictLexer {
 public:
  using EdictLexer::EdictLexer;

  std::unique_ptr<antlr4::Token> nextToken() override {
    antlr4::CharStream* in = getInputStream();
    auto* simulator = getInterpreter<antlr4::atn::LexerATNSimulator>();
    while (is_blank(in->LA(1)) && is_blank(in->LA(2))) simulator->consume(in);
    return EdictLexer::nextToken();
  }

 private:
  static bool is_blank(size_t c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f'; }
};

// Sits between the lexer and the token stream: turns the grammar's error
// tokens into precise diagnostics and keeps them away from the parser, so
// one stray character does not also produce a syntax error.
class TokenFilter : public antlr4::TokenSource {
 public:
  TokenFilter(EdictLexer& lexer, const TokenText& tt) : lexer_(lexer), tt_(tt) {}

  std::unique_ptr<antlr4::Token> nextToken() override {
    for (;;) {
      std::unique_ptr<antlr4::Token> t = next_raw();
      Session& s = tt_.session();
      switch (t->getType()) {
        case EdictLexer::UNTERMINATED_STRING: {
          Span sp = tt_.span(t.get());
          s.error(kUnterminatedString, sp, "unterminated string").help =
              "close the string with `\"` on the same line";
          s.unterminated_strings.insert(sp.begin);
          static_cast<antlr4::CommonToken*>(t.get())->setType(EdictLexer::STRING);
          break;
        }
        case EdictLexer::UNTERMINATED_COMMENT: {
          Span sp = tt_.span(t.get());
          s.error(kUnterminatedComment, Span{sp.file, sp.begin, sp.begin + 2},
                  "unterminated comment: `/*` has no closing `*/`");
          static_cast<antlr4::CommonToken*>(t.get())->setChannel(2);
          break;
        }
        case EdictLexer::DATETIME_NO_ZONE:
          // Reported where the literal is built, with the other bad times.
          static_cast<antlr4::CommonToken*>(t.get())->setType(EdictLexer::DATETIME);
          break;
        case EdictLexer::ERROR_CHAR: t = report_error_run(std::move(t)); break;
        default: break;
      }
      if (s.cancelled) throw antlr4::ParseCancellationException();
      if (t) return t;
    }
  }

  size_t getLine() const override { return lexer_.getLine(); }
  size_t getCharPositionInLine() override { return lexer_.getCharPositionInLine(); }
  antlr4::CharStream* getInputStream() override { return lexer_.getInputStream(); }
  std::string getSourceName() override { return lexer_.getSourceName(); }
  antlr4::TokenFactory<antlr4::CommonToken>* getTokenFactory() override { return lexer_.getTokenFactory(); }

 private:
  // Adjacent stray characters (binary garbage, a pasted symbol) make one
  // diagnostic; the token after the run is kept for the next call. The
  // operators of C-like languages (`&&`, `||`, `!`) are reported and then
  // read as the Edict word, so the rest of the expression still parses;
  // anything else is dropped (null is returned).
  std::unique_ptr<antlr4::Token> report_error_run(std::unique_ptr<antlr4::Token> first) {
    Span sp = tt_.span(first.get());
    for (;;) {
      std::unique_ptr<antlr4::Token> t = next_raw();
      Span next = tt_.span(t.get());
      if (t->getType() == EdictLexer::ERROR_CHAR && next.begin == sp.end) {
        sp.end = next.end;
        continue;
      }
      pending_.push_front(std::move(t));
      break;
    }
    std::string_view bad = tt_.session().sources.file(sp.file).code;
    bad = bad.substr(sp.begin, sp.end - sp.begin);
    Session& s = tt_.session();
    Diagnostic* d;
    size_t first_len = bad.empty() ? 0 : utf8_length(static_cast<unsigned char>(bad[0]));
    if (first_len == bad.size()) {
      d = &s.error(kUnexpectedCharacter, sp, "unexpected character " + describe_char(bad));
    } else {
      d = &s.error(kUnexpectedCharacter, sp, "unexpected characters " + quote_source(bad, 16));
    }
    if (bad.substr(0, first_len) == "\u201C" || bad.substr(0, first_len) == "\u201D")
      d->help = "strings use straight double quotes: \"...\"";
    else if (bad.substr(0, first_len) == "#")
      d->help = "comments start with `//`";
    else if (bad.substr(0, first_len) == "'")
      d->help = "strings use double quotes: \"...\"";

    if (bad == "#") {
      skip_rest_of_line(first->getLine());  // read as the comment it was meant to be
      return nullptr;
    }
    if (bad == "'" || bad == "\u201C" || bad == "\u201D" || bad == "\u2018" || bad == "\u2019")
      return quoted_as_string(std::move(first), bad.size());

    size_t word = bad == "&&"   ? EdictLexer::AND
                  : bad == "||" ? EdictLexer::OR
                  : bad == "!"  ? EdictLexer::NOT
                                : 0;
    if (word == 0) return nullptr;
    d->help = "Edict spells it `" + tt_.literal(word) + "`";
    auto* token = static_cast<antlr4::CommonToken*>(first.get());
    token->setType(word);
    token->setStopIndex(token->getStartIndex() + bad.size() - 1);  // ASCII: one code point per byte
    return first;
  }

  std::unique_ptr<antlr4::Token> next_raw() {
    if (pending_.empty()) return lexer_.nextToken();
    std::unique_ptr<antlr4::Token> t = std::move(pending_.front());
    pending_.pop_front();
    return t;
  }

  void skip_rest_of_line(size_t line) {
    for (;;) {
      std::unique_ptr<antlr4::Token> t = next_raw();
      if (t->getType() == kEofToken || t->getLine() != line) {
        pending_.push_front(std::move(t));
        return;
      }
    }
  }

  // `'RU'`, `“15 CFR 744.11”`: the wrong quotes, already reported, and what
  // they enclose on the same line become one string, so the rest parses.
  // Without a closing quote on the line, the tokens are left as they were.
  std::unique_ptr<antlr4::Token> quoted_as_string(std::unique_ptr<antlr4::Token> open, size_t quote_bytes) {
    std::deque<std::unique_ptr<antlr4::Token>> inside;
    for (;;) {
      std::unique_ptr<antlr4::Token> t = next_raw();
      bool same_line = t->getType() != kEofToken && t->getLine() == open->getLine();
      if (!same_line) {
        inside.push_back(std::move(t));
        while (!inside.empty()) {
          pending_.push_front(std::move(inside.back()));
          inside.pop_back();
        }
        return nullptr;
      }
      std::string_view text = tt_.text(t.get());
      if (t->getType() == EdictLexer::ERROR_CHAR && text.size() == quote_bytes &&
          (text == "'" || text == "\u201C" || text == "\u201D" || text == "\u2018" || text == "\u2019")) {
        auto* string = static_cast<antlr4::CommonToken*>(open.get());
        string->setType(EdictLexer::STRING);
        string->setStopIndex(t->getStopIndex());
        tt_.session().foreign_quotes[tt_.span(open.get()).begin] = static_cast<uint32_t>(quote_bytes);
        return open;
      }
      inside.push_back(std::move(t));
    }
  }

  static size_t utf8_length(unsigned char c) { return c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4; }

  static std::string describe_char(std::string_view c) {
    unsigned char b = static_cast<unsigned char>(c[0]);
    if (c.size() == 1 && b >= 0x21 && b < 0x7F && b != '`') return "`" + std::string(c) + "`";
    uint32_t cp = c.size() == 1 ? b : c.size() == 2 ? b & 0x1F : c.size() == 3 ? b & 0x0F : b & 0x07;
    for (size_t i = 1; i < c.size(); ++i) cp = (cp << 6) | (static_cast<unsigned char>(c[i]) & 0x3F);
    char buf[16];
    std::snprintf(buf, sizeof buf, "U+%04X", cp);
    if (c.size() > 1) return "`" + std::string(c) + "` (" + buf + ")";
    return buf;
  }

  EdictLexer& lexer_;
  const TokenText& tt_;
  std::deque<std::unique_ptr<antlr4::Token>> pending_;  // read from the lexer, not yet passed on
};

// Enforces an exact bound on ANTLR's recursion, whatever the pre-scan
// estimated: every cycle of the grammar passes through `expr` (counted by the
// precedence stack), `typeExpr` or `aggOperand` (counted on entry).
class GuardedParser : public EdictParser {
 public:
  GuardedParser(antlr4::TokenStream* input, size_t max_depth) : EdictParser(input), max_depth_(max_depth) {}

  void enterRecursionRule(antlr4::ParserRuleContext* localctx, size_t state, size_t rule_index,
                          int precedence) override {
    EdictParser::enterRecursionRule(localctx, state, rule_index, precedence);
    if (_precedenceStack.size() > max_depth_) trip();
  }
  void enterRule(antlr4::ParserRuleContext* localctx, size_t state, size_t rule_index) override {
    EdictParser::enterRule(localctx, state, rule_index);
    if (rule_index == RuleTypeExpr || rule_index == RuleAggOperand) {
      size_t depth = 0;
      for (antlr4::RuleContext* c = localctx; c && depth <= max_depth_;
           c = dynamic_cast<antlr4::RuleContext*>(c->parent))
        if (c->getRuleIndex() == rule_index) ++depth;
      if (depth > max_depth_) trip();
    }
  }
  bool tripped() const { return tripped_; }

 private:
  [[noreturn]] void trip() {
    tripped_ = true;
    throw antlr4::ParseCancellationException();
  }
  size_t max_depth_;
  bool tripped_ = false;
};

enum class Mode { File, Embedded };

// A misspelt keyword gets one "did you mean" error and is parsed as the
// keyword, so the rest of its declaration reads as intended.
void report_keyword_typos(antlr4::CommonTokenStream& tokens, const TokenText& tt) {
  for (const KeywordTypo& typo : find_keyword_typos(tokens.getTokens())) {
    if (typo.token->getType() == EdictLexer::ASSIGN) {
      Span at = tt.span(typo.token);
      tt.session().error(kSyntaxError, at, "expected a comparison, found `=`").help = "compare with `==`";
      static_cast<antlr4::CommonToken*>(typo.token)->setType(typo.keyword);
      continue;
    }
    std::string keyword = tt.literal(typo.keyword);
    Diagnostic& d = tt.session().error(
        kMisspeltKeyword, tt.span(typo.token),
        "unknown word " + quote_source(tt.text(typo.token)) + " where `" + keyword + "` is expected");
    d.help = "did you mean `" + keyword + "`?";
    static_cast<antlr4::CommonToken*>(typo.token)->setType(typo.keyword);
  }
}

// Lexes and parses `text`, then builds the AST. Everything ANTLR might throw
// stops here. Returns the expression in Embedded mode.
ast::ExprPtr run_antlr(Session& s, std::string_view text, uint32_t base, unsigned depth, Mode mode,
                       ast::Module* module) {
  OffsetMap offsets(text);
  TokenText tt(s, offsets, base, text, mode == Mode::Embedded);
  ast::ExprPtr result;
  Span last_span = s.span(base, base);
  try {
    // ANTLR drops a leading byte-order mark, which would shift every index;
    // a space keeps the code points aligned with the offset map.
    std::string input(text);
    if (input.compare(0, 3, "\xEF\xBB\xBF") == 0) input.replace(0, 3, " ");
    antlr4::ANTLRInputStream chars(input);
    BlankSkippingLexer lexer(&chars);
    tt.set_vocabulary(lexer.getVocabulary());
    ErrorListener listener(tt);
    lexer.removeErrorListeners();
    lexer.addErrorListener(&listener);
    TokenFilter filter(lexer, tt);
    antlr4::CommonTokenStream tokens(&filter);
    // Lex everything first: errors found while lexing then never surface from
    // inside the parser's cleanup code.
    tokens.fill();
    if (mode == Mode::File) report_keyword_typos(tokens, tt);

    // Every nesting level costs ANTLR at most two `expr` frames (an operand
    // and a prefix or bracket); the slack covers the declaration rules.
    unsigned budget = s.limits.max_nesting > depth ? s.limits.max_nesting - depth : 0;
    GuardedParser parser(&tokens, 3 * size_t(budget) + 16);
    parser.removeErrorListeners();  // ANTLR's console listener; ours joins for the second stage
    EdictParser::FileContext* file = nullptr;
    EdictParser::EmbeddedExprContext* embedded = nullptr;
    auto parse_once = [&] {
      if (mode == Mode::File)
        file = parser.file();
      else
        embedded = parser.embeddedExpr();
    };
    try {
      // Two stages, as ANTLR recommends: SLL prediction is fast but gives up
      // (silently: the bail strategy's reports reach no listener) on the
      // first error; only then is the input parsed again in full LL mode with
      // error reporting and recovery. In LL mode every binary operator goes
      // to full-context prediction, which makes it 2-3 times slower.
      auto* simulator = parser.getInterpreter<antlr4::atn::ParserATNSimulator>();
      simulator->setPredictionMode(antlr4::atn::PredictionMode::SLL);
      parser.setErrorHandler(std::make_shared<antlr4::BailErrorStrategy>());
      bool parsed = false;
      try {
        parse_once();
        parsed = true;
      } catch (antlr4::ParseCancellationException&) {
        if (parser.tripped()) throw;
      }
      if (!parsed) {
        tokens.seek(0);
        parser.reset();
        parser.getTreeTracker().reset();
        simulator->setPredictionMode(antlr4::atn::PredictionMode::LL);
        parser.setErrorHandler(std::make_shared<ErrorStrategy>(tt));
        parser.addErrorListener(&listener);
        parse_once();
      }
      if (!s.cancelled) {
        if (mode == Mode::File)
          build_module(s, offsets, file, *module);
        else
          result = build_embedded(s, offsets, base, embedded, depth);
      }
    } catch (antlr4::ParseCancellationException&) {
      if (parser.tripped()) {
        antlr4::Token* at = tokens.LT(1);
        s.report_nesting(at ? tt.span(at) : last_span);
      }
    }
    if (module) {
      for (antlr4::Token* t : tokens.getTokens()) {
        if (t->getChannel() != 2) continue;
        module->comments.push_back(ast::Comment{tt.span(t), t->getType() != EdictLexer::LINE_COMMENT});
      }
    }
  } catch (antlr4::ParseCancellationException&) {
    // The error cap was reached while lexing; the E0016 note is already there.
  } catch (const std::bad_alloc&) {
    s.error(kInternalError, last_span, "out of memory while parsing");
  } catch (const std::exception& e) {
    s.error(kInternalError, last_span, std::string("internal parser error: ") + e.what()).help =
        "please report this as a bug in edict";
  } catch (...) {
    s.error(kInternalError, last_span, "internal parser error").help = "please report this as a bug in edict";
  }
  return result;
}

}  // namespace

ast::ExprPtr parse_embedded_expr(Session& session, std::string_view text, uint32_t base, unsigned depth) {
  unsigned budget = session.limits.max_nesting > depth ? session.limits.max_nesting - depth : 0;
  ast::ExprPtr e;
  if (!session.cancelled && Prescan(session, text, base, budget).run())
    e = run_antlr(session, text, base, depth, Mode::Embedded, nullptr);
  if (!e) {
    e = std::make_unique<ast::Expr>();
    e->kind = ast::ExprKind::Error;
    e->id = session.next_id();
    e->span = session.span(base, base + static_cast<uint32_t>(text.size()));
  }
  return e;
}

}  // namespace detail

std::unique_ptr<ast::Module> parse_module(const SourceManager& sources, FileId file, ast::Program& program,
                                          DiagnosticSink& sink, const Limits& limits) {
  auto module = std::make_unique<ast::Module>();
  module->file = file;
  const SourceFile& source = sources.file(file);
  std::string_view code = source.code;
  detail::Session session(sources, file, program, sink, limits);

  if (code.size() > limits.max_file_bytes) {
    sink.error(detail::kFileTooLarge, Span{file, 0, 0},
               "file too large: " + std::to_string(code.size()) + " bytes, the limit is " +
                   std::to_string(limits.max_file_bytes))
        .help = "split the policy into several files joined by `import`";
    return module;
  }
  if (auto bad = detail::find_invalid_utf8(code)) {
    uint32_t at = static_cast<uint32_t>(bad->offset);
    sink.error(detail::kInvalidUtf8, Span{file, at, at + 1}, std::string("invalid UTF-8: ") + bad->reason)
        .help = "source files must be UTF-8 text";
    return module;
  }
  if (!detail::Prescan(session, code, 0, limits.max_nesting).run()) return module;
  detail::run_antlr(session, code, 0, 0, detail::Mode::File, module.get());
  return module;
}

}  // namespace edict::parse
