// Internals of the parser stage shared by parser.cpp (ANTLR driver, limits,
// error reporting), builder.cpp (parse tree -> AST) and loader.cpp. Nothing
// outside compiler/parse includes this header; it may name ANTLR types.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "compiler/ast/ast.h"
#include "compiler/parse/parse.h"
#include "support/diagnostics.h"
#include "support/source.h"

namespace edict::parse::detail {

// Diagnostic codes of the parser stage. The table with each code's meaning is
// at the top of parser.cpp; loader codes are at the top of loader.cpp.
inline constexpr const char* kSyntaxError = "E0001";
inline constexpr const char* kInvalidUtf8 = "E0002";
inline constexpr const char* kFileTooLarge = "E0003";
inline constexpr const char* kNestingTooDeep = "E0004";
inline constexpr const char* kUnterminatedString = "E0005";
inline constexpr const char* kUnterminatedComment = "E0006";
inline constexpr const char* kUnexpectedCharacter = "E0007";
inline constexpr const char* kBadEscape = "E0008";
inline constexpr const char* kBadInterpolation = "E0009";
inline constexpr const char* kIntOutOfRange = "E0010";
inline constexpr const char* kBadDateTime = "E0011";
inline constexpr const char* kBadDuration = "E0012";
inline constexpr const char* kNumberOutOfRange = "E0013";
inline constexpr const char* kDuplicateClause = "E0014";
inline constexpr const char* kRuleWithoutEffect = "E0015";
inline constexpr const char* kTooManyErrors = "E0016";
inline constexpr const char* kInternalError = "E0017";
inline constexpr const char* kAggregateArity = "E0018";
inline constexpr const char* kMisspeltKeyword = "E0020";
inline constexpr const char* kMalformedWindow = "E0291";

// ANTLR's char stream holds code points, so its token indices count code
// points; spans count bytes. The table is built only for non-ASCII text.
class OffsetMap {
 public:
  explicit OffsetMap(std::string_view utf8);
  // Byte offset of code point `index`; indices past the end clamp to the end.
  uint32_t byte(size_t index) const;

 private:
  std::vector<uint32_t> table_;  // empty when every byte is one code point
  uint32_t size_ = 0;
};

// One file being parsed: where diagnostics, ids and limits come from.
struct Session {
  Session(const SourceManager& sources_, FileId file_, ast::Program& program_, DiagnosticSink& sink_,
          const Limits& limits_)
      : sources(sources_), file(file_), program(program_), sink(sink_), limits(limits_) {}

  const SourceManager& sources;
  FileId file;
  ast::Program& program;
  DiagnosticSink& sink;
  const Limits& limits;
  bool depth_reported = false;  // E0004 is reported once per file
  bool cancelled = false;       // the error cap was hit; stop all work
  // Byte offsets of STRING tokens that were really unterminated strings (the
  // lexer error was reported; the parser saw them as strings).
  std::unordered_set<uint32_t> unterminated_strings;
  // STRING tokens made of wrong quotes (`'RU'`, `“...”`), already reported:
  // their offset -> the byte width of each quote.
  std::unordered_map<uint32_t, uint32_t> foreign_quotes;
  // Byte offsets of the syntax errors (E0001) reported so far, so that the
  // builder does not pile a second diagnostic onto a damaged declaration.
  std::vector<uint32_t> syntax_errors;

  bool syntax_error_between(uint32_t begin, uint32_t end) const {
    for (uint32_t at : syntax_errors)
      if (at >= begin && at < end) return true;
    return false;
  }

  ast::NodeId next_id() { return program.next_id++; }
  Span span(uint32_t begin, uint32_t end) const { return Span{file, begin, end}; }
  // Records an error. Once the sink's cap is reached the session is marked
  // cancelled (with an E0016 note) and every stage of the parse stops.
  Diagnostic& error(const char* code, Span span, std::string message);
  // E0004, at most once per file.
  void report_nesting(Span span);
};

// Lexes and parses `text` (a piece of the file starting at byte `base`) as one
// expression: the `{ ... }` parts of rule messages. `depth` is the nesting
// depth already used by the enclosing expression. Never throws.
ast::ExprPtr parse_embedded_expr(Session& session, std::string_view text, uint32_t base, unsigned depth);

// Decodes the body of a string literal (without its quotes): `\" \\ \n \t \r
// \{ \} \u{XXXX}`. A bad escape is reported (E0008) at its byte offset
// `base + i` and decodes to nothing.
std::string decode_string(Session& session, std::string_view body, uint32_t base);

// Display helpers shared by error messages.
std::string quote_source(std::string_view text, size_t max_chars = 24);

}  // namespace edict::parse::detail
