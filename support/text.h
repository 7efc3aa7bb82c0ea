// Spellings of text and numbers shared by every layer that prints them: an
// Edict string or number literal (diagnostics, `--emit=ast|ir`, the
// formatter, folded constants) and user text clipped for an error message.
// A JSON string is another syntax, escaped by engine/record_buffer.h.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace edict {

// `s` as an Edict string literal that reads back as `s`: quotes and
// backslashes escaped, `\n` `\t` `\r` by name, every other byte below 0x20
// as `\u{x}`. Bytes from 0x7F up (DEL, UTF-8, invalid UTF-8) are copied as
// they are: the lexer takes any byte but a quote, a backslash or a line end.
std::string edict_string_literal(std::string_view s);
void append_edict_string_literal(std::string& out, std::string_view s);

// `v` as an Edict number literal: the shortest digits that read back as `v`,
// with `.0` added when they would lex as an int (`814.0`); `nan`, `inf`,
// `-inf` for the values no literal spells.
std::string edict_number_literal(double v);

// At most `max_bytes` of `s`, cut at a UTF-8 character boundary and marked
// with `...`, so an error message quoting user input stays one short line.
std::string clip_for_message(std::string_view s, size_t max_bytes = 40);

}  // namespace edict
