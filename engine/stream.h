// The one event path: lines -> decoder -> windows -> engine -> sink. Every
// consumer of events goes through a Stream: `edict eval` (a file, -j N,
// checkpoints), `edict explain` and the API (JSON texts in memory), `edict
// diff` (two streams in step), the `test` runner (rows it fills itself).
//
// A Stream holds one policy's windows (the state of stateful rules: one per
// event stream) and one lane per thread, each with its own batch, decoder
// and results. process() splits a chunk of lines into one slice per lane:
// without windowed aggregates each lane decodes, evaluates and hands its
// batches to the sink on its own thread; with them the lanes decode in
// parallel, the windows advance over every batch in input order (keys
// partitioned over the threads, see window.h), then the lanes evaluate in
// parallel. Either way the sink then flushes lane by lane, so output stays
// in input order. Decisions do not depend on the number of threads.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "abi/abi.h"
#include "abi/batch.h"
#include "engine/decode/decoder.h"
#include "engine/decode/line_reader.h"
#include "engine/engine.h"
#include "engine/window/window.h"

namespace edict::engine {

struct StreamOptions {
  unsigned threads = 1;             // lanes (`-j`)
  uint32_t batch_size = 4096;       // events per evaluation batch
  size_t max_line_bytes = 1 << 20;  // the LineReader's limit, and the decoder's for JSON texts (the API)
  // The windows of stateful rules: lateness, state limit, explanations'
  // members. `inputs` and `threads` are the Stream's to set.
  window::Options windows;
};

// The most events a stream holds at once (threads x batch_size): each lane
// holds one batch, about 200 bytes of decoded columns and results per event
// besides its records, so this bound keeps a stream under about 300 MB.
inline constexpr uint64_t kMaxEventsInFlight = uint64_t{1} << 20;
// Empty when the options can be honoured; else what is wrong, for users.
std::string check_stream_options(const StreamOptions& options);

// One evaluated batch, as a sink sees it.
struct EvaluatedBatch {
  const abi::Batch& batch;
  const EdictColumns& columns;  // the batch's column view (Policy::columns_of)
  const Results& results;
  // The rows' input lines (row r is lines[r]) when the stream read them
  // from lines (process()); null for batches filled another way.
  const decode::Line* lines = nullptr;
};

// Receives evaluated batches. consume() runs on the lanes' threads (lane i
// gets its slice's batches in input order; lanes run at once), flush() on the
// thread that called Stream::process, lane by lane in input order.
class StreamSink {
 public:
  virtual ~StreamSink() = default;
  virtual void consume(unsigned lane, const EvaluatedBatch& evaluated) = 0;
  // Emits what lane `lane` produced since its last flush; false stops the stream.
  virtual bool flush(unsigned lane) { return (void)lane, true; }
};

class Stream {
 public:
  Stream(const Policy& policy, const StreamOptions& options = {});
  ~Stream();
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  const Policy& policy() const { return *policy_; }
  unsigned lanes() const;
  window::WindowState& windows() { return *windows_; }

  // The event path over one chunk of lines (a LineReader's, or lines in
  // memory with simdjson's padding readable past each: decode::Line). False
  // when the sink stopped it.
  bool process(const std::vector<decode::Line>& lines, StreamSink& sink);

  // Reads `reader` to its end through process(). Between chunks it calls
  // `between(lines so far)`, which may save a checkpoint or show progress;
  // false from it (or from the sink) stops the run. Returns false when
  // stopped; the reader's error() tells a read failure.
  bool run(decode::LineReader& reader, StreamSink& sink,
           const std::function<bool(uint64_t lines)>& between = {});

  // The same steps for a consumer that drives one batch at a time (`test`
  // steps it fills itself, `explain`, `diff`, the API), on lane 0. Each
  // evaluate() reads one version of each data source; a consumer that
  // finishes records while the policy's data may be replaced holds a
  // PinnedVersions across evaluate() and finishing them (the API does):
  // A cleared batch for the caller to fill.
  abi::Batch& new_batch();
  // Decodes one JSON text (any length, no padding needed) as input line
  // `line` into a cleared batch and returns it.
  abi::Batch& decode_text(std::string_view json, uint64_t line);
  // The same as a new last row of the caller's `batch` (of this policy's
  // schema; the API's one-event rows and its batches of texts).
  void append_text(std::string_view json, uint64_t line, abi::Batch& batch);
  // Decodes lines [begin, end) of `lines` (at most batch_size of them), one
  // row each, into a cleared batch and returns it.
  abi::Batch& decode_lines(const std::vector<decode::Line>& lines, size_t begin, size_t end);
  // Advances the windows over `batch` (in input order, once per batch) and
  // evaluates it; the results and column view stay valid until the next call.
  EvaluatedBatch evaluate(abi::Batch& batch);
  // Evaluates `batch` without advancing any window (another stream's
  // decoding of the same lines; a policy without windowed aggregates).
  EvaluatedBatch evaluate_decoded(const abi::Batch& batch);

 private:
  struct Lane;
  // The lanes' threads past the caller's (lane 0), kept for the stream's
  // life: a chunk is a few milliseconds of work, a thread start a sizeable
  // part of one.
  class Workers;
  const Policy* policy_;
  StreamOptions options_;
  std::unique_ptr<window::WindowState> windows_;
  std::vector<std::unique_ptr<Lane>> lanes_;
  std::unique_ptr<Workers> workers_;
};

// The lines a run has read, as a checkpoint records its input position:
// how many, their bytes (each line's text plus one byte for its end; a line
// over --max-line-bytes counts its full length) and the CRC-32 (zlib's) of
// those bytes (each line's text then `\n`; a line over the limit adds only
// the `\n`, its text was never held).
struct LinePrefix {
  uint64_t lines = 0;
  uint64_t bytes = 0;
  uint32_t crc = 0;
  void add(const decode::Line& line);
};

// One event of a small document (`edict explain`'s input): its text and first line.
struct EventText {
  std::string text;
  uint64_t line = 0;
};
// Reads such a document, at most `max_bytes` of it: JSON Lines when every
// non-blank line is an object of its own, otherwise the whole input is one
// (pretty-printed) JSON event. False, with *error saying why, when it cannot
// be read, is too large or holds no event.
bool read_event_document(const std::string& path, size_t max_bytes, std::vector<EventText>& out,
                         std::string* error);
// The same split over text already in memory (the playground's pasted events);
// `\r\n` line ends are accepted.
std::vector<EventText> split_event_text(std::string_view text);

}  // namespace edict::engine
