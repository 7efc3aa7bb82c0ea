// The one walk over the ANTLR parse tree that builds Edict's AST (builder.cpp).
// Internal to the parser stage: the AST it returns never points into the
// parse tree, which dies with the parser right after the walk.
#pragma once

#include "EdictParser.h"
#include "compiler/parse/internal.h"

namespace edict::parse::detail {

// antlr4::Token::EOF, which <cstdio>'s EOF macro hides from any file that
// includes it after the ANTLR headers.
inline constexpr size_t kEofToken = static_cast<size_t>(-1);

// Appends the declarations of `file` to `out`.
void build_module(Session& session, const OffsetMap& offsets, edict_antlr::EdictParser::FileContext* file,
                  ast::Module& out);

// The expression of an embedded parse whose text starts at byte `base` of the
// file; `depth` is the nesting already used around it.
ast::ExprPtr build_embedded(Session& session, const OffsetMap& offsets, uint32_t base,
                            edict_antlr::EdictParser::EmbeddedExprContext* ctx, unsigned depth);

}  // namespace edict::parse::detail
