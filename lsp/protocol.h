// The Language Server Protocol's wire format: JSON-RPC 2.0 messages framed by
// `Content-Length` headers, read and written whole. Bounded: a header line,
// the header count and a body have size limits, and a bad frame is reported
// (so the server can answer with a JSON-RPC error) without losing the stream.
#pragma once

#include <cstddef>
#include <istream>
#include <ostream>
#include <string>

namespace edict::lsp {

enum class ReadStatus {
  Message,    // `body` holds one message's bytes (not yet parsed as JSON)
  End,        // end of input (also a body cut short by it)
  BadHeader,  // no usable Content-Length: the header block was skipped
  TooLarge,   // Content-Length above the limit: `skip` bytes of body follow, unread
};

struct FrameLimits {
  size_t max_body_bytes = 64 << 20;  // a whole document of the largest policy with room to spare
  size_t max_header_line = 8192;
  size_t max_header_lines = 32;
};

// Reads the next frame. On BadHeader and TooLarge `error` says what was wrong;
// after BadHeader the reader is at the next frame, after TooLarge the caller
// answers and then discards the body with skip_bytes(in, skip).
ReadStatus read_frame(std::istream& in, std::string& body, std::string& error, size_t& skip,
                      const FrameLimits& limits = {});
// Discards `n` bytes in chunks; false at end of input.
bool skip_bytes(std::istream& in, size_t n);

// Writes one frame and flushes.
void write_frame(std::ostream& out, const std::string& body);

}  // namespace edict::lsp
