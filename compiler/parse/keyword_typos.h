// Misspelt keywords (`efective 2025-03-01`, `unles event.licence is present`)
// found on the lexed tokens before ANTLR parses them. Left alone, such a word
// is read as a name (an effect, an operand) and the parser's recovery turns
// one typo into a cascade of unrelated errors; recognised here, it gets one
// "did you mean" diagnostic and is parsed as the keyword it was meant to be.
// Internal to compiler/parse; may name ANTLR types.
#pragma once

#include <antlr4-runtime.h>

#include <vector>

namespace edict::parse::detail {

struct KeywordTypo {
  antlr4::Token* token;  // an IDENT
  size_t keyword;        // the EdictLexer token type it was meant to be
};

// Only names at places where a keyword is legal and a name is not (or cannot
// be followed by what follows it) are considered, so a real name close to a
// keyword (an outcome `cited`, a const `WHEN_X`) is never taken for one.
std::vector<KeywordTypo> find_keyword_typos(const std::vector<antlr4::Token*>& tokens);

}  // namespace edict::parse::detail
