// A JSON Lines text held in memory (a request's body, an API caller's
// string) split into decode::Lines in place, for Stream::process: how
// `edict serve` and the API's audit records number and bound lines, the
// same as LineReader does for a file.
#pragma once

#include <string>
#include <vector>

#include "engine/decode/decoder.h"
#include "engine/decode/line_reader.h"

namespace edict::engine {

// Splits `body` into lines numbered from 1 (`whole`: the body is one JSON
// text, a line break inside it included). A line longer than
// `max_line_bytes` is kept as a too-long line (no text). `body` gets
// decode's padding appended (in place when it has the room), so the lines
// point into it: it must outlive them and not change.
std::vector<decode::Line> split_body_lines(std::string& body, bool whole, size_t max_line_bytes);

}  // namespace edict::engine
