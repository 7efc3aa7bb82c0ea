// Spellings of text and numbers shared by every layer that prints them: an
// Edict string or number literal (diagnostics, `--emit=ast|ir`, the
// formatter, folded constants), user text clipped for an error message, and
// a JSON string.
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

// The JSON string syntax (decision records, `--format json`, diagnostics):
// `"`, `\` and bytes below 0x20 escaped (`\n` `\r` `\t` by name, the rest
// as `\u00xx`); every byte from 0x20 up copied, DEL, UTF-8 and invalid UTF-8
// alike. Scans sixteen bytes at a time where SSE2 is available: decision
// records escape every id, name and message.
void append_json_string(std::string& out, std::string_view s);   // with the quotes
void append_json_escaped(std::string& out, std::string_view s);  // without them
// Writes the escaped s to `to`, which has room for 6 * s.size(); returns its length.
size_t json_escape_into(std::string_view s, char* to);
// The index of the first byte of s at or after `i` that a JSON string must
// escape, or s.size().
size_t next_json_escape(std::string_view s, size_t i);

}  // namespace edict
