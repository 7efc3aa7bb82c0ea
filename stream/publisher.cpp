// `edict publish`: a JSON Lines file into the events stream, each line routed
// by its key to a partition subject, whole lines batched into messages of
// about --message-bytes, published asynchronously with at most
// --max-in-flight awaiting acknowledgement.
#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "engine/decode/line_reader.h"
#include "stream/jetstream.h"
#include "stream/nats_session.h"

namespace edict::stream {
namespace {

uint64_t fnv1a(std::string_view text, uint64_t h = 0xcbf29ce484222325ULL) {
  for (unsigned char c : text) h = (h ^ c) * 0x100000001b3ULL;
  return h;
}

struct PublishCounts {
  std::atomic<uint64_t> failed{0}, duplicates{0};
  std::atomic<bool> reported{false};
  std::string first_error;  // written once, by the handler that sets `reported`
};

void on_event_publish_ack(jsCtx*, natsMsg* msg, jsPubAck* ack, jsPubAckErr* err, void* closure) {
  auto* counts = static_cast<PublishCounts*>(closure);
  if (err) {
    counts->failed.fetch_add(1);
    if (!counts->reported.exchange(true))
      counts->first_error = nats_error("a publish failed", err->Err, err->ErrCode);
  } else if (ack && ack->Duplicate) {
    counts->duplicates.fetch_add(1);
  }
  natsMsg_Destroy(msg);
}

// Lines sent as their length only: how many, and the first few line numbers.
void report_too_long(uint64_t count, const std::vector<uint64_t>& first_lines, size_t max_line) {
  std::string list;
  for (uint64_t l : first_lines) list += (list.empty() ? "" : ", ") + std::to_string(l);
  std::fprintf(
      stderr,
      "edict publish: %llu lines longer than %zu bytes were sent as their length only, to be decided "
      "as `line_too_long` errors (lines %s%s)\n",
      static_cast<unsigned long long>(count), max_line, list.c_str(),
      count > first_lines.size() ? ", ..." : "");
}

}  // namespace

unsigned partition_of(std::string_view key, unsigned partitions) {
  return partitions == 0 ? 0 : static_cast<unsigned>(fnv1a(key) % partitions);
}

std::string_view field_text(std::string_view line, std::string_view name) {
  // `"name"` followed by optional blanks and a colon; the first such occurrence.
  size_t at = 0;
  while ((at = line.find(name, at)) != std::string_view::npos) {
    const size_t end = at + name.size();
    if (at == 0 || line[at - 1] != '"' || end >= line.size() || line[end] != '"') {
      at = end;
      continue;
    }
    size_t i = end + 1;
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    if (i >= line.size() || line[i] != ':') {
      at = end;
      continue;
    }
    ++i;
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    if (i < line.size() && line[i] == '"') {
      size_t j = i + 1;
      while (j < line.size() && line[j] != '"') j += line[j] == '\\' ? 2 : 1;
      return line.substr(i + 1, std::min(j, line.size()) - i - 1);
    }
    size_t j = i;
    while (j < line.size() && line[j] != ',' && line[j] != '}' && line[j] != ' ') ++j;
    return line.substr(i, j - i);
  }
  return {};
}

int run_publish(const PublishOptions& o) {
  std::string error;
  PublishCounts counts;
  // Partition p goes out on connection p mod --connections: the server
  // takes in each connection's messages in turn, so more connections let it
  // store on more cores. Each partition's messages stay in order.
  std::vector<std::unique_ptr<Session>> sessions;
  for (int c = 0; c < std::max(1, o.connections); ++c) {
    sessions.push_back(std::make_unique<Session>());
    if (!sessions.back()->open(o.target, "edict publish", o.max_in_flight, on_event_publish_ack, &counts,
                               &error) ||
        (c == 0 && !sessions.back()->ensure_streams(o.target, &error))) {
      std::fprintf(stderr, "edict: %s\n", error.c_str());
      return kUsage;
    }
  }
  Session& session = *sessions.front();
  // A line longer than a message can carry cannot be sent.
  const size_t max_line = std::min<size_t>(o.max_line_bytes, static_cast<size_t>(session.max_payload()) - 1);
  auto reader = decode::LineReader::open(o.events_path, max_line, &error);
  if (!reader) {
    std::fprintf(stderr, "edict: cannot read events `%s`: %s\n", o.events_path.c_str(), error.c_str());
    return kUsage;
  }
  const unsigned n = o.target.partitions;
  std::vector<std::string> pending(n);
  std::vector<uint64_t> chunk_of(n, 0);
  uint64_t lines = 0, messages = 0, bytes = 0, too_long = 0;
  std::vector<uint64_t> too_long_lines;
  bool failed = false;
  // One message: `payload` to partition p's subject; `too_long` (non-zero)
  // instead stands for a line of that length, too long to carry, which the
  // worker decides as the `line_too_long` error `eval` gives it.
  auto publish_message = [&](unsigned p, const std::string& payload, uint64_t too_long_length) {
    const std::string subject = fmt::format("{}.{}", o.target.events_subject, p);
    natsMsg* msg = nullptr;
    natsStatus s =
        natsMsg_Create(&msg, subject.c_str(), nullptr, payload.data(), static_cast<int>(payload.size()));
    // The same file loaded again within the duplicate window is dropped by
    // the server: the id is the partition, the chunk's number and its text's hash.
    const std::string id =
        fmt::format("ld-{}-{}-{:016x}", p, chunk_of[p]++, fnv1a(payload) ^ too_long_length);
    if (s == NATS_OK) s = natsMsgHeader_Set(msg, "Nats-Msg-Id", id.c_str());
    if (s == NATS_OK) s = natsMsgHeader_Set(msg, "Edict-Published", std::to_string(wall_ns()).c_str());
    if (s == NATS_OK && too_long_length > 0)
      s = natsMsgHeader_Set(msg, "Edict-Too-Long", std::to_string(too_long_length).c_str());
    if (s == NATS_OK) s = sessions[p % sessions.size()]->publish_async(&msg);
    if (msg) natsMsg_Destroy(msg);  // not taken by the library: the publish failed
    if (s != NATS_OK) {
      std::fprintf(stderr, "edict: %s\n", nats_error("cannot publish to `" + subject + "`", s).c_str());
      return false;
    }
    ++messages;
    bytes += payload.size();
    return true;
  };
  auto send = [&](unsigned p) {
    if (pending[p].empty()) return true;
    const bool ok = publish_message(p, pending[p], 0);
    pending[p].clear();
    return ok;
  };
  const auto start = std::chrono::steady_clock::now();
  std::vector<decode::Line> chunk;
  while (!failed && reader->next(chunk)) {
    for (const decode::Line& line : chunk) {
      ++lines;
      if (line.too_long) {  // its key unread: partition 0, in order after what is pending there
        ++too_long;
        if (too_long_lines.size() < 10) too_long_lines.push_back(line.number);
        if (!send(0) || !publish_message(0, std::string(), line.too_long)) {
          failed = true;
          break;
        }
        continue;
      }
      const unsigned p = partition_of(field_text(line.text, o.key), n);
      std::string& payload = pending[p];
      if (!payload.empty() && payload.size() + line.text.size() + 1 > o.message_bytes && !send(p)) {
        failed = true;
        break;
      }
      payload.append(line.text).push_back('\n');
    }
  }
  for (unsigned p = 0; p < n && !failed; ++p) failed = !send(p);
  if (!reader->error().empty()) {
    std::fprintf(stderr, "edict: reading `%s` failed: %s\n", o.events_path.c_str(), reader->error().c_str());
    failed = true;
  }
  for (auto& c : sessions)
    if (!c->complete_publishes(120'000, &error)) {
      std::fprintf(stderr, "edict: %s\n", error.c_str());
      failed = true;
    }
  if (counts.failed.load() > 0) {
    std::fprintf(stderr, "edict: %s messages were not stored; first: %s\n",
                 std::to_string(counts.failed.load()).c_str(), counts.first_error.c_str());
    failed = true;
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!o.quiet)
    std::fprintf(stderr,
                 "edict publish: %llu lines in %llu messages (%.1f MB) to %u partitions of `%s` in %.2f s "
                 "(%.0f lines/s)%s\n",
                 static_cast<unsigned long long>(lines), static_cast<unsigned long long>(messages),
                 static_cast<double>(bytes) / 1e6, n, o.target.events_stream.c_str(), seconds,
                 seconds > 0 ? static_cast<double>(lines) / seconds : 0.0,
                 counts.duplicates.load() > 0
                     ? fmt::format("; {} messages were already stored (dropped as duplicates)",
                                   counts.duplicates.load())
                           .c_str()
                     : "");
  if (too_long > 0) report_too_long(too_long, too_long_lines, max_line);
  return failed ? kFailed : kOk;
}

}  // namespace edict::stream
