// `edict fmt`: prints a parsed file back in Edict's one canonical layout,
// keeping every comment. The formatter never rewrites a file that does not
// parse, and never returns text that parses to a different program.
#pragma once

#include <optional>
#include <string>

#include "compiler/ast/ast.h"
#include "support/diagnostics.h"
#include "support/source.h"

// Named `fmt` to match the other stages (parse, check); code inside namespace
// `edict` that includes this header must spell the {fmt} library `::fmt`.
namespace edict::fmt {

struct Options {
  unsigned max_width = 100;  // columns, counted in code points, indentation included
};

// Formats one file's source text (its whole text; for a literate `.edict.md`
// file the markdown with only the contents of its ```edict blocks rewritten,
// everything else kept byte for byte).
//
// Returns nullopt, with the reasons in `sink`, when the file has syntax errors
// (the parser's diagnostics), or when the formatter cannot keep the program
// intact. Its own codes: E0901, the output would parse to a different tree
// (parentheses included) or lose a comment, a formatter bug, so nothing is
// written; E0902, a rule clause written twice; E0903, an error node in a tree
// the parser reported clean (the last two are guards: the parser reports
// those first). On success only the parser's warnings, if any, are added.
//
// The layout:
// - two-space indentation, 100 columns, `\n` line ends (`\r\n` when the file
//   uses them), exactly one final newline, no trailing blanks;
// - declarations in the author's order, separated by one blank line; two
//   one-line declarations the author wrote on adjacent lines stay adjacent;
//   inside event, table, record, test bodies a blank line the author wrote
//   between items is kept (several collapse to one); nowhere else;
// - rule clauses one per line, indented two, in the order effective, until,
//   cite, effect+message, when, unless; policy clauses version, source, status;
// - event fields, the fields of an example (without `base with`), table rows
//   one per line with trailing commas; other record literals (table row
//   values, `with` overrides) on one line when they fit, else one field per
//   line; table rows that fit are aligned on their values (keys padded) in
//   runs not separated by a blank line; set literals on one line when they fit,
//   else filled up to the width, trailing comma;
// - `and`/`or` chains that do not fit are broken one operand per line with the
//   operator leading, two deeper than the clause; a parenthesised chain that
//   does not fit opens `(` and closes `)` on their own lines;
// - parentheses: every pair the author wrote is kept, none is added unless the
//   tree needs it; literals as written (dates, times, durations, strings,
//   message strings), numbers with redundant leading zeros, exponent `+` and
//   exponent case normalised, `_` grouping kept;
// - comments: each appears exactly once; a comment on the line before an item
//   stays before it (at the item's indentation), one after an item on the same
//   line stays trailing (one space before it, aligned with the trailing
//   comments of neighbouring lines at the same indentation); a comment inside
//   an expression printed on one line moves to its own line before that line;
//   a comment between the operands of an `and`/`or` chain or inside a set or
//   record literal keeps that construct broken so the comment stays in place.
// Formatting is idempotent: format(format(x)) == format(x).
std::optional<std::string> format_source(const SourceManager& sources, FileId file, DiagnosticSink& sink,
                                         const Options& options = {});

// The layout step alone, for a module parsed without errors (callers that
// already hold the AST); `sources` must hold the module's file. No
// verification; prefer format_source.
std::string format_module(const SourceManager& sources, const ast::Module& module,
                          const Options& options = {});

}  // namespace edict::fmt
