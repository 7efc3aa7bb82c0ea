#include "engine/stream.h"

#include "engine/output.h"
#include "support/cache_aligned.h"

#include <fmt/format.h>

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>

#include <zlib.h>

namespace edict::engine {

// One thread's reusable state. `held` keeps a decoded slice for the stateful
// -j N path, whose windows advance between decoding and evaluation.
// Aligned to a cache line: lanes on different threads write their own.
struct alignas(kCacheLine) Stream::Lane {
  abi::Batch batch;
  decode::Decoder decoder;
  Results results;
  std::vector<const void*> data;  // the column view's arrays
  std::vector<const uint8_t*> present;
  EdictColumns columns{};
  std::vector<std::unique_ptr<abi::Batch>> held;
  std::vector<size_t> held_first;  // each held batch's first line
  size_t held_used = 0;
  std::string padded;  // decode_text's copy of a JSON text with its padding

  Lane(const Policy& p, uint32_t capacity, size_t max_line_bytes)
      : batch(p.schema(), p.symbols(), capacity), decoder(p.schema(), true, max_line_bytes) {
    results.reserve(capacity, p.module().rules.size());
  }
  // The column view is made once, in the lane's buffers, and serves both
  // the engine and the sink.
  EvaluatedBatch evaluate(const Policy& policy, const abi::Batch& b, const decode::Line* lines = nullptr) {
    columns = Policy::columns_of(b, data, present);
    EdictResults view = results.view();
    policy.evaluate(columns, view);
    return EvaluatedBatch{b, columns, results, lines};
  }
};

// Runs one job per lane: lane 0 on the calling thread, the others on
// threads that wait between jobs.
class Stream::Workers {
 public:
  explicit Workers(unsigned lanes) {
    for (unsigned lane = 1; lane < lanes; ++lane) threads_.emplace_back([this, lane] { serve(lane); });
  }
  ~Workers() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    posted_.notify_all();
    for (std::thread& t : threads_) t.join();
  }
  // Calls job(lane) for every lane at once; returns when all are done.
  // `after_own` runs on the calling thread once lane 0's job is done, while
  // the other lanes may still be working.
  void run(const std::function<void(unsigned)>& job, const std::function<void()>& after_own = {}) {
    {
      std::lock_guard lock(mutex_);
      job_ = &job;
      running_ = static_cast<unsigned>(threads_.size());
      ++generation_;
    }
    posted_.notify_all();
    job(0);
    if (after_own) after_own();
    std::unique_lock lock(mutex_);
    finished_.wait(lock, [&] { return running_ == 0; });
    job_ = nullptr;
  }

 private:
  void serve(unsigned lane) {
    uint64_t done = 0;
    std::unique_lock lock(mutex_);
    for (;;) {
      posted_.wait(lock, [&] { return stopping_ || generation_ != done; });
      if (stopping_) return;
      done = generation_;
      const std::function<void(unsigned)>& job = *job_;
      lock.unlock();
      job(lane);
      lock.lock();
      if (--running_ == 0) finished_.notify_all();
    }
  }

  std::mutex mutex_;
  std::condition_variable posted_, finished_;
  const std::function<void(unsigned)>* job_ = nullptr;
  uint64_t generation_ = 0;
  unsigned running_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

namespace {

bool is_blank(std::string_view s) {
  for (char c : s)
    if (c != ' ' && c != '\t' && c != '\r') return false;
  return true;
}

// Decodes lines from `i` into `batch` until it is full or `end`; returns the
// next line. Every line becomes exactly one row: a decoded event or an error.
size_t decode_into(decode::Decoder& decoder, abi::Batch& batch, const std::vector<decode::Line>& lines,
                   size_t i, size_t end, size_t max_line) {
  batch.clear();
  for (; i < end && !batch.full(); ++i) {
    const decode::Line& line = lines[i];
    if (line.too_long) {
      uint32_t row = batch.begin_row(line.number);
      batch.fail(
          row, abi::ErrorReason::LineTooLong,
          fmt::format("line is {} bytes, over the limit of {} (--max-line-bytes)", line.too_long, max_line));
    } else if (is_blank(line.text)) {
      uint32_t row = batch.begin_row(line.number);
      batch.fail(row, abi::ErrorReason::BlankLine, "blank line");
    } else {
      decoder.decode(line.text, line.capacity, line.number, batch);
    }
  }
  return i;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

// JSON Lines when every non-blank line is an object of its own; otherwise the
// whole input is one (pretty-printed) JSON event.
std::vector<EventText> split_events(const std::vector<std::pair<uint64_t, std::string>>& lines) {
  std::vector<EventText> out;
  bool one_per_line = true;
  for (const auto& [number, text] : lines) {
    std::string_view t = trim(text);
    if (t.empty()) continue;
    if (t.front() != '{' || t.back() != '}') one_per_line = false;
  }
  if (one_per_line) {
    for (const auto& [number, text] : lines)
      if (!trim(text).empty()) out.push_back({text, number});
    return out;
  }
  EventText whole;
  for (const auto& [number, text] : lines) {
    if (whole.line == 0 && !trim(text).empty()) whole.line = number;
    whole.text += text;
    whole.text += '\n';
  }
  if (whole.line) out.push_back(std::move(whole));
  return out;
}

}  // namespace

std::string check_stream_options(const StreamOptions& o) {
  const uint64_t in_flight = uint64_t{o.threads} * o.batch_size;
  if (o.threads == 0 || o.batch_size == 0) return "threads and batch size must be at least 1";
  if (in_flight <= kMaxEventsInFlight) return "";
  return fmt::format(
      "{} threads with batches of {} events hold {} events in memory at once (about {} MB); at most {} may "
      "be "
      "held (threads x batch size): lower one of them",
      o.threads, with_commas(o.batch_size), with_commas(in_flight), in_flight * 200 / 1'000'000,
      with_commas(kMaxEventsInFlight));
}

Stream::Stream(const Policy& policy, const StreamOptions& options) : policy_(&policy), options_(options) {
  options_.threads = std::max(1u, options_.threads);
  options_.windows.inputs = policy.window_inputs();
  options_.windows.threads = options_.threads;
  windows_ = std::make_unique<window::WindowState>(policy.module(), policy.interpreter(), policy.schema(),
                                                   options_.windows);
  for (unsigned t = 0; t < options_.threads; ++t)
    lanes_.push_back(std::make_unique<Lane>(policy, options_.batch_size, options_.max_line_bytes));
  if (options_.threads > 1) workers_ = std::make_unique<Workers>(options_.threads);
}

Stream::~Stream() = default;

unsigned Stream::lanes() const {
  return static_cast<unsigned>(lanes_.size());
}

bool Stream::process(const std::vector<decode::Line>& lines, StreamSink& sink) {
  const unsigned threads = lanes();
  // One version of each data source for the whole chunk, on every lane:
  // its decisions and records (messages read rows too) agree on it.
  const PinnedVersions pinned(*policy_);
  const size_t max_line = options_.max_line_bytes;
  // Runs work(lane, begin, end) over each lane's slice of `lines`, in
  // parallel; this thread takes lane 0's, rather than waiting idle.
  // Lane 0's records come first: this thread writes them out as soon as its
  // own slice is done, while the other lanes finish theirs (the writing was
  // otherwise a serial step after every chunk).
  bool lane0_flushed = false, lane0_ok = true;
  auto flush_lane0 = [&] {
    lane0_ok = sink.flush(0);
    lane0_flushed = true;
  };
  auto in_parallel = [&](auto&& work, const std::function<void()>& after_own = {}) {
    const size_t per = (lines.size() + threads - 1) / threads;
    workers_->run(
        [&](unsigned t) {
          const abi::PinnedData lane_pins(&pinned.pins());
          const size_t b = std::min(lines.size(), t * per);
          work(t, b, std::min(lines.size(), b + per));
        },
        after_own);
  };
  // Decode, advance the windows (when `advance`), evaluate and consume.
  auto decode_evaluate = [&](unsigned t, size_t begin, size_t end, bool advance) {
    Lane& lane = *lanes_[t];
    for (size_t i = begin; i < end;) {
      const size_t first = i;
      i = decode_into(lane.decoder, lane.batch, lines, i, end, max_line);
      if (advance) windows_->advance(lane.batch);
      sink.consume(t, lane.evaluate(*policy_, lane.batch, &lines[first]));
    }
  };
  if (threads == 1) {
    decode_evaluate(0, 0, lines.size(), true);
  } else if (!windows_->active()) {
    in_parallel([&](unsigned t, size_t b, size_t e) { decode_evaluate(t, b, e, false); }, flush_lane0);
  } else {
    // Decode every slice into held batches, advance the windows over all of
    // them in input order, then evaluate the slices.
    in_parallel([&](unsigned t, size_t begin, size_t end) {
      Lane& lane = *lanes_[t];
      lane.held_used = 0;
      for (size_t i = begin; i < end; ++lane.held_used) {
        if (lane.held_used == lane.held.size()) {
          lane.held.push_back(
              std::make_unique<abi::Batch>(policy_->schema(), policy_->symbols(), lane.batch.capacity()));
          lane.held_first.push_back(0);
        }
        lane.held_first[lane.held_used] = i;
        i = decode_into(lane.decoder, *lane.held[lane.held_used], lines, i, end, max_line);
      }
    });
    std::vector<abi::Batch*> decoded;
    for (const auto& lane : lanes_)
      for (size_t b = 0; b < lane->held_used; ++b) decoded.push_back(lane->held[b].get());
    windows_->advance(decoded);
    in_parallel(
        [&](unsigned t, size_t, size_t) {
          Lane& lane = *lanes_[t];
          for (size_t b = 0; b < lane.held_used; ++b)
            sink.consume(t, lane.evaluate(*policy_, *lane.held[b], &lines[lane.held_first[b]]));
        },
        flush_lane0);
  }
  if (!lane0_ok) return false;
  for (unsigned t = lane0_flushed ? 1 : 0; t < threads; ++t)
    if (!sink.flush(t)) return false;
  return true;
}

bool Stream::run(decode::LineReader& reader, StreamSink& sink, const std::function<bool(uint64_t)>& between) {
  std::vector<decode::Line> lines;
  uint64_t total = 0;
  while (reader.next(lines)) {
    total += lines.size();
    if (!process(lines, sink)) return false;
    if (between && !between(total)) return false;
  }
  return reader.error().empty();
}

abi::Batch& Stream::new_batch() {
  lanes_[0]->batch.clear();
  return lanes_[0]->batch;
}

abi::Batch& Stream::decode_text(std::string_view json, uint64_t line) {
  Lane& lane = *lanes_[0];
  lane.batch.clear();
  append_text(json, line, lane.batch);
  return lane.batch;
}

void Stream::append_text(std::string_view json, uint64_t line, abi::Batch& batch) {
  Lane& lane = *lanes_[0];
  const size_t need = json.size() + decode::kLinePadding;  // the decoder reads up to its padding past the end
  if (lane.padded.size() < need) lane.padded.resize(need);
  std::memcpy(lane.padded.data(), json.data(), json.size());
  std::memset(lane.padded.data() + json.size(), 0, decode::kLinePadding);
  lane.decoder.decode(std::string_view(lane.padded.data(), json.size()), lane.padded.size(), line, batch);
}

abi::Batch& Stream::decode_lines(const std::vector<decode::Line>& lines, size_t begin, size_t end) {
  Lane& lane = *lanes_[0];
  decode_into(lane.decoder, lane.batch, lines, begin, end, options_.max_line_bytes);
  return lane.batch;
}

// The one-batch steps pin the data for the batch themselves (process()
// pins for its whole chunk); versions a caller pinned carry over.
EvaluatedBatch Stream::evaluate(abi::Batch& batch) {
  const PinnedVersions pinned(*policy_);
  windows_->advance(batch);
  return lanes_[0]->evaluate(*policy_, batch);
}

EvaluatedBatch Stream::evaluate_decoded(const abi::Batch& batch) {
  const PinnedVersions pinned(*policy_);
  return lanes_[0]->evaluate(*policy_, batch);
}

void LinePrefix::add(const decode::Line& line) {
  ++lines;
  bytes += (line.too_long ? line.too_long : line.text.size()) + 1;
  uLong c = crc;
  if (!line.too_long && !line.text.empty())
    c = ::crc32(c, reinterpret_cast<const Bytef*>(line.text.data()), static_cast<uInt>(line.text.size()));
  crc = static_cast<uint32_t>(::crc32(c, reinterpret_cast<const Bytef*>("\n"), 1));
}

bool read_event_document(const std::string& path, size_t max_bytes, std::vector<EventText>& out,
                         std::string* error) {
  auto reader = decode::LineReader::open(path, max_bytes, error);
  if (!reader) {
    *error = fmt::format("cannot read events `{}`: {}", path, *error);
    return false;
  }
  std::vector<std::pair<uint64_t, std::string>> lines;
  std::vector<decode::Line> chunk;
  size_t total = 0;
  while (reader->next(chunk)) {
    for (const decode::Line& l : chunk) {
      if (l.too_long || (total += l.text.size()) > max_bytes) {
        *error = fmt::format("`{}` is larger than {} bytes; explain takes a few events", path, max_bytes);
        return false;
      }
      lines.emplace_back(l.number, std::string(l.text));
    }
  }
  if (!reader->error().empty()) {
    *error = fmt::format("reading `{}` failed: {}", path, reader->error());
    return false;
  }
  out = split_events(lines);
  if (out.empty()) {
    *error = fmt::format("`{}` holds no event", path);
    return false;
  }
  return true;
}

std::vector<EventText> split_event_text(std::string_view text) {
  std::vector<std::pair<uint64_t, std::string>> lines;
  for (size_t pos = 0, number = 1; pos < text.size(); ++number) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    lines.emplace_back(number, std::string(line));
    pos = end + 1;
  }
  return split_events(lines);
}

}  // namespace edict::engine
