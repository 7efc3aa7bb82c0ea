// `edict stream`: one thread per owned partition, each with its own NATS
// connection, durable pull consumer, engine::Stream (the partition's windows)
// and checkpoint. A partition's loop:
//
//   fetch a batch of event messages -> for each, its lines through the
//   Stream into records (RecordWriter, as `eval --audit`) -> publish them
//   asynchronously to `<decisions>.<p>` with Nats-Msg-Id
//   `<policy hash>:<events stream>:<event sequence>[:part]` -> every so often
//   commit: wait for the publishes' acknowledgements, save the windows with
//   the last sequence decided to the key-value store, then acknowledge the
//   events (AckAll: the last one acknowledges all before it).
//
// Anything unexpected (a publish not stored, a delivery missing from the
// consumer's sequence after a server restart, a lost connection) rolls the
// partition back to its last checkpoint: the windows are restored and the
// consumer is recreated to deliver from the sequence after it, so events
// are decided again in order from the same state and give the same records;
// records the decisions stream held before this worker started are not
// published again (the last one on the partition's subject says how far its
// predecessor got) and the server drops any other repeat by its message id.
// Deliveries come from the partition's own inbox (stream/pull_consumer.h,
// not libnats' Fetch); a reconnection to the server rolls back too (pull
// requests and deliveries in flight were lost with the old connection).
#include <fmt/format.h>
#include <nats/nats.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "engine/audit.h"
#include "engine/output.h"
#include "stream/checkpoint_store.h"
#include "stream/jetstream.h"
#include "stream/leases.h"
#include "stream/nats_session.h"
#include "stream/pull_consumer.h"

namespace edict::stream {
namespace {

using Clock = std::chrono::steady_clock;

// What every partition shares: the policy, its record writer and stamp.
struct Shared {
  const engine::Policy* policy;
  const WorkerOptions* options;
  const engine::AuditStamp* stamp;
  const engine::RecordWriter* writer;
  const std::atomic<int>* stop;
  bool claiming;  // partitions leased (--claim): the coordinator decides when to stop
};

struct PartitionFigures {
  uint64_t messages = 0, events = 0, decision_messages = 0, republished_skipped = 0, rollbacks = 0;
  uint64_t duplicates = 0;                         // decision messages the server already held
  int64_t first_event_ns = 0, last_commit_ns = 0;  // wall clock: the busy span, for benchmarks
  std::vector<int64_t> latency_ns;                 // event published -> its decisions stored
  engine::Summary summary;
};

class Partition {
 public:
  Partition(const Shared& shared, unsigned p) : shared_(shared), p_(p) {}
  ~Partition() {
    drop_held();
    events_.close();
    if (kv_) kvStore_Destroy(kv_);
    session_.close();  // before the members its acknowledgement handler writes
  }

  // The partition's loop; false with *error when it stopped on an error.
  bool run(std::string* error);
  // Stop after the next commit (the partition goes to another worker).
  void request_release() { release_ = true; }
  bool releasing() const { return release_; }
  int64_t last_event_ns() const { return last_event_ns_; }
  PartitionFigures figures() {
    std::lock_guard lock(ack_mutex_);
    PartitionFigures f = figures_;
    f.latency_ns = latencies_;
    f.duplicates = duplicates_;
    f.summary = summary_before_;
    if (sink_) f.summary.add(sink_->summary());
    return f;
  }

 private:
  static void on_ack(jsCtx*, natsMsg* msg, jsPubAck* ack, jsPubAckErr* err, void* closure);
  bool open(std::string* error);
  // Back to the last checkpoint (see the top of this file). Failed: retry later.
  CheckpointStore::Result rollback(std::string* error);
  bool recreate_consumer(uint64_t start_seq, std::string* error);
  bool read_stored_seq(std::string* error);
  bool decide(natsMsg* msg, uint64_t seq, std::string* error);
  bool publish_records(natsMsg* event, uint64_t seq, std::string* error);
  CheckpointStore::Result commit(std::string* error);
  void drop_held() {
    for (natsMsg* m : held_) natsMsg_Destroy(m);
    held_.clear();
  }

  const Shared& shared_;
  const unsigned p_;
  Session session_;
  PullConsumer events_;  // the partition's consumer's deliveries
  kvStore* kv_ = nullptr;
  std::unique_ptr<CheckpointStore> checkpoints_;
  std::unique_ptr<engine::Stream> stream_;
  std::unique_ptr<engine::RecordSink> sink_;
  engine::Summary summary_before_;  // of Streams replaced by rollbacks
  std::string records_, buffer_, subject_, consumer_;
  std::vector<decode::Line> lines_;
  std::vector<natsMsg*> batch_;  // delivered, being decided
  std::vector<natsMsg*> held_;   // decided, not yet acknowledged
  uint64_t done_seq_ = 0;        // the last event sequence decided
  uint64_t stored_seq_ = 0;      // the decisions stream held this sequence's records at the first rollback
  bool stored_seq_known_ = false;
  uint64_t expected_delivery_ = 1;
  uint64_t reconnects_seen_ = 0;  // the session's reconnections when the consumer was last recreated
  Clock::time_point last_commit_ = Clock::now();
  std::atomic<bool> publish_failed_{false};
  std::atomic<bool> release_{false};
  std::atomic<int64_t> last_event_ns_{0};
  std::mutex ack_mutex_;
  std::vector<int64_t> latencies_;
  uint64_t duplicates_ = 0;
  PartitionFigures figures_;
};

void Partition::on_ack(jsCtx*, natsMsg* msg, jsPubAck* ack, jsPubAckErr* err, void* closure) {
  auto* self = static_cast<Partition*>(closure);
  if (err) {
    self->publish_failed_ = true;
  } else {
    const std::string published = header_of(msg, "Edict-Published");
    std::lock_guard lock(self->ack_mutex_);
    if (!published.empty())
      self->latencies_.push_back(wall_ns() - std::strtoll(published.c_str(), nullptr, 10));
    if (ack && ack->Duplicate) ++self->duplicates_;
  }
  natsMsg_Destroy(msg);
}

bool Partition::open(std::string* error) {
  const WorkerOptions& o = *shared_.options;
  subject_ = fmt::format("{}.{}", o.target.events_subject, p_);
  consumer_ = fmt::format("{}-p{}", o.durable, p_);
  if (!session_.open(o.target, fmt::format("edict stream {}", consumer_), o.max_in_flight, &Partition::on_ack,
                     this, error))
    return false;
  natsStatus s = js_KeyValue(&kv_, session_.js(), o.kv_bucket.c_str());
  if (s != NATS_OK) {
    *error = nats_error(fmt::format("cannot open the key-value bucket `{}`", o.kv_bucket), s);
    return false;
  }
  // Chunks well under the server's largest message.
  checkpoints_ = std::make_unique<CheckpointStore>(
      kv_, consumer_, static_cast<size_t>(std::max<int64_t>(4096, session_.max_payload() - 4096)));
  return true;
}

bool Partition::recreate_consumer(uint64_t start_seq, std::string* error) {
  const WorkerOptions& o = *shared_.options;
  events_.close();
  jsErrCode code = static_cast<jsErrCode>(0);
  js_DeleteConsumer(session_.js(), o.target.events_stream.c_str(), consumer_.c_str(), nullptr, &code);
  jsConsumerConfig cc;
  jsConsumerConfig_Init(&cc);
  cc.Durable = consumer_.c_str();
  cc.FilterSubject = subject_.c_str();
  cc.AckPolicy = js_AckAll;
  cc.AckWait = int64_t{o.ack_wait_ms} * 1'000'000;
  cc.MaxAckPending = o.max_ack_pending;
  cc.MaxDeliver = -1;
  cc.DeliverPolicy = js_DeliverByStartSequence;
  cc.OptStartSeq = start_seq;
  jsConsumerInfo* info = nullptr;
  code = static_cast<jsErrCode>(0);
  natsStatus s = js_AddConsumer(&info, session_.js(), o.target.events_stream.c_str(), &cc, nullptr, &code);
  if (info) jsConsumerInfo_Destroy(info);
  if (s != NATS_OK) {
    *error = nats_error(fmt::format("cannot create the consumer `{}`", consumer_), s, code);
    return false;
  }
  if (!events_.open(session_.connection(), o.target.events_stream, consumer_, o.fetch_batch, error))
    return false;
  expected_delivery_ = 1;
  return true;
}

bool Partition::read_stored_seq(std::string* error) {
  const WorkerOptions& o = *shared_.options;
  // How far the decisions stream got before this worker: its last record
  // for this partition. Read once: a predecessor's records are stored
  // without gaps (one connection, in order), but this worker's own may have
  // one (publishes lost with a server restart while later ones, buffered
  // across the reconnection, were stored); after its own rollbacks it sends
  // them again and the server drops what it holds by message id.
  if (stored_seq_known_) return true;
  stored_seq_ = 0;
  natsMsg* last = nullptr;
  const std::string decisions = fmt::format("{}.{}", o.target.decisions_subject, p_);
  jsErrCode code = static_cast<jsErrCode>(0);
  natsStatus s = js_GetLastMsg(&last, session_.js(), o.target.decisions_stream.c_str(), decisions.c_str(),
                               nullptr, &code);
  if (s == NATS_OK) {
    const std::string seq = header_of(last, "Edict-Event-Seq");
    const std::string part = header_of(last, "Edict-Part");  // "k/n": only a complete last one counts
    const size_t slash = part.find('/');
    const bool whole = slash != std::string::npos && part.substr(0, slash) == part.substr(slash + 1);
    const uint64_t last_seq = std::strtoull(seq.c_str(), nullptr, 10);
    stored_seq_ = last_seq == 0 ? 0 : last_seq - (whole ? 0 : 1);
    natsMsg_Destroy(last);
  } else if (s != NATS_NOT_FOUND) {
    *error = nats_error(fmt::format("cannot read the last decision of `{}`", decisions), s, code);
    return false;
  }
  stored_seq_known_ = true;
  return true;
}

CheckpointStore::Result Partition::rollback(std::string* error) {
  const WorkerOptions& o = *shared_.options;
  reconnects_seen_ = session_.reconnects();
  drop_held();
  // Earlier publishes settle (stored, or failed after their wait); any
  // still unanswered are forgotten: their events are decided again below.
  if (!session_.complete_publishes(Session::kPublishWaitMs + 1000, error)) session_.abandon_publishes();
  publish_failed_ = false;
  if (sink_) summary_before_.add(sink_->summary());
  engine::StreamOptions so = o.stream;
  so.threads = 1;
  stream_ = std::make_unique<engine::Stream>(*shared_.policy, so);
  sink_ = std::make_unique<engine::RecordSink>(*shared_.writer, 1, [this](std::string_view r) {
    records_.append(r);
    return true;
  });
  std::string bytes;
  CheckpointStore::Result r = checkpoints_->load(bytes, error);
  uint64_t checkpoint_seq = 0;
  if (r == CheckpointStore::Result::Ok) {
    window::InputPosition position;
    if (!stream_->windows().restore(bytes, consumer_, &position, error))
      return CheckpointStore::Result::Fatal;
    const std::string source = fmt::format("jetstream:{}:{}", o.target.events_stream, p_);
    if (position.at_end || position.output != source) {
      *error = fmt::format("the checkpoint `{}` was not saved by a worker of `{}` (it records `{}`)",
                           consumer_, source, position.output);
      return CheckpointStore::Result::Fatal;
    }
    checkpoint_seq = position.lines;
  } else if (r != CheckpointStore::Result::Missing) {
    return r;
  }
  if (r = checkpoints_->claim(error); r != CheckpointStore::Result::Ok) return r;
  if (!read_stored_seq(error)) return CheckpointStore::Result::Failed;
  done_seq_ = checkpoint_seq;
  if (!recreate_consumer(checkpoint_seq + 1, error)) return CheckpointStore::Result::Failed;
  last_commit_ = Clock::now();
  return CheckpointStore::Result::Ok;
}

bool Partition::decide(natsMsg* msg, uint64_t seq, std::string* error) {
  const char* data = natsMsg_GetData(msg);
  const size_t size = static_cast<size_t>(natsMsg_GetDataLength(msg));
  // The decoder reads up to 64 bytes past a line (simdjson's padding).
  buffer_.assign(data ? data : "", size);
  buffer_.append(64, '\0');
  lines_.clear();
  const size_t max_line = shared_.options->stream.max_line_bytes;
  if (const std::string too_long = header_of(msg, "Edict-Too-Long"); !too_long.empty()) {
    // A line the loader could not carry: decided as `line_too_long`.
    decode::Line line;
    line.number = 1;
    line.too_long = std::max<uint64_t>(1, std::strtoull(too_long.c_str(), nullptr, 10));
    line.text = std::string_view(buffer_.data(), 0);
    line.capacity = buffer_.size();
    lines_.push_back(line);
  }
  size_t begin = lines_.empty() ? 0 : size;
  while (begin < size) {
    size_t end = buffer_.find('\n', begin);
    if (end == std::string::npos || end > size) end = size;
    size_t text_end = end > begin && buffer_[end - 1] == '\r' ? end - 1 : end;
    decode::Line line;
    line.number = lines_.size() + 1;
    if (text_end - begin > max_line) {
      line.too_long = text_end - begin;
      line.text = std::string_view(buffer_.data() + begin, 0);
    } else {
      line.text = std::string_view(buffer_.data() + begin, text_end - begin);
    }
    line.capacity = buffer_.size() - begin;
    lines_.push_back(line);
    begin = end + 1;
  }
  records_.clear();
  if (!stream_->process(lines_, *sink_)) {
    *error = fmt::format("deciding event message {} of `{}` failed", seq, subject_);
    return false;
  }
  ++figures_.messages;
  figures_.events += lines_.size();
  if (figures_.first_event_ns == 0) figures_.first_event_ns = wall_ns();
  return publish_records(msg, seq, error);
}

bool Partition::publish_records(natsMsg* event, uint64_t seq, std::string* error) {
  const WorkerOptions& o = *shared_.options;
  if (seq <= stored_seq_) {  // stored before a rollback: decided again only for the windows
    ++figures_.republished_skipped;
    return true;
  }
  // Parts of whole records, each well under the largest message.
  const size_t limit = static_cast<size_t>(std::max<int64_t>(4096, session_.max_payload() - 8192));
  std::vector<std::pair<size_t, size_t>> parts;
  for (size_t at = 0; at < records_.size() || parts.empty();) {
    size_t end = std::min(records_.size(), at + limit);
    if (end < records_.size()) {
      const size_t newline = records_.rfind('\n', end - 1);
      end = newline != std::string::npos && newline >= at ? newline + 1 : end;
    }
    parts.emplace_back(at, end - at);
    at = end;
    if (at >= records_.size()) break;
  }
  const std::string decisions = fmt::format("{}.{}", o.target.decisions_subject, p_);
  const std::string published = header_of(event, "Edict-Published");
  const std::string events_in = std::to_string(lines_.size());
  for (size_t k = 0; k < parts.size(); ++k) {
    natsMsg* msg = nullptr;
    natsStatus s = natsMsg_Create(&msg, decisions.c_str(), nullptr, records_.data() + parts[k].first,
                                  static_cast<int>(parts[k].second));
    const std::string id =
        parts.size() == 1
            ? fmt::format("{}:{}:{}", shared_.stamp->policy_hash(), o.target.events_stream, seq)
            : fmt::format("{}:{}:{}:{}", shared_.stamp->policy_hash(), o.target.events_stream, seq, k + 1);
    if (s == NATS_OK) s = natsMsgHeader_Set(msg, "Nats-Msg-Id", id.c_str());
    if (s == NATS_OK) s = natsMsgHeader_Set(msg, "Edict-Event-Seq", std::to_string(seq).c_str());
    if (s == NATS_OK)
      s = natsMsgHeader_Set(msg, "Edict-Part", fmt::format("{}/{}", k + 1, parts.size()).c_str());
    if (s == NATS_OK) s = natsMsgHeader_Set(msg, "Edict-Events", events_in.c_str());
    if (s == NATS_OK) s = natsMsgHeader_Set(msg, "Edict-Policy-Hash", shared_.stamp->policy_hash().c_str());
    if (s == NATS_OK && !published.empty()) s = natsMsgHeader_Set(msg, "Edict-Published", published.c_str());
    if (s == NATS_OK) s = session_.publish_async(&msg);
    if (msg) natsMsg_Destroy(msg);
    if (s != NATS_OK) {
      *error = nats_error(fmt::format("cannot publish the decisions of event message {}", seq), s);
      return false;
    }
    ++figures_.decision_messages;
  }
  return true;
}

CheckpointStore::Result Partition::commit(std::string* error) {
  if (held_.empty()) return CheckpointStore::Result::Ok;
  if (!session_.complete_publishes(Session::kPublishWaitMs + 1000, error))
    return CheckpointStore::Result::Failed;
  if (publish_failed_) {
    *error = "a decision message was not stored";
    return CheckpointStore::Result::Failed;
  }
  window::InputPosition position;
  position.at_end = false;
  // The checkpoint's input position holds the events stream sequence it
  // covers (as `lines`, and as `bytes`, which must be at least that), and
  // names the stream and partition: restored only into the same one.
  position.lines = position.bytes = done_seq_;
  position.output = fmt::format("jetstream:{}:{}", shared_.options->target.events_stream, p_);
  const CheckpointStore::Result r = checkpoints_->save(stream_->windows().serialize(position), error);
  if (r != CheckpointStore::Result::Ok) return r;
  // AckAll: the last message acknowledges every one before it.
  natsStatus s = events_.ack_through(held_.back(), 10'000);
  drop_held();
  last_commit_ = Clock::now();
  figures_.last_commit_ns = wall_ns();
  if (s != NATS_OK) {
    // The decisions and checkpoint are stored; an acknowledgement lost
    // only means redelivery, which the sequence check skips.
    *error = nats_error("acknowledging events", s);
  }
  return CheckpointStore::Result::Ok;
}

bool Partition::run(std::string* error) {
  const WorkerOptions& o = *shared_.options;
  if (!open(error)) return false;
  auto last_event = Clock::now();
  bool need_rollback = true;
  auto recover = [&](CheckpointStore::Result r, const std::string& why) {
    if (r == CheckpointStore::Result::Fatal) return false;  // another owner, or a checkpoint we cannot use
    if (!o.quiet)
      std::fprintf(stderr, "edict stream: partition %u: %s; back to its last checkpoint\n", p_, why.c_str());
    need_rollback = true;
    return true;
  };
  while (true) {
    if (need_rollback) {
      if (shared_.stop->load() || release_) return true;
      const CheckpointStore::Result r = rollback(error);
      if (r == CheckpointStore::Result::Fatal) return false;
      if (r != CheckpointStore::Result::Ok) {  // the server is away: try again shortly
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        continue;
      }
      ++figures_.rollbacks;
      need_rollback = false;
    }
    if (shared_.stop->load() || release_) {
      // A commit that fails leaves its events unacknowledged: the next
      // owner decides them again from the last checkpoint.
      return commit(error) != CheckpointStore::Result::Fatal;
    }
    if (session_.reconnects() != reconnects_seen_) {  // deliveries may be lost with the old server
      recover(CheckpointStore::Result::Failed, "reconnected to NATS");
      continue;
    }
    // Up to a batch: the first message waited for (100 ms), the rest as arrived.
    natsStatus s = NATS_OK;
    batch_.clear();
    for (natsMsg* msg = nullptr; s == NATS_OK && static_cast<int>(batch_.size()) < o.fetch_batch;) {
      s = events_.next(&msg, batch_.empty() ? 100 : 0);
      if (s == NATS_OK) batch_.push_back(msg);
    }
    if (s == NATS_TIMEOUT && !batch_.empty()) s = NATS_OK;
    if (s == NATS_TIMEOUT) {
      if (const CheckpointStore::Result r = commit(error); r != CheckpointStore::Result::Ok) {
        if (!recover(r, *error)) return false;
        continue;
      }
      if (!shared_.claiming && o.idle_exit_ms > 0 &&
          Clock::now() - last_event > std::chrono::milliseconds(o.idle_exit_ms))
        return true;
      continue;
    }
    if (s != NATS_OK) {
      for (natsMsg* msg : batch_) natsMsg_Destroy(msg);
      if (!recover(CheckpointStore::Result::Failed, nats_error("fetching events", s))) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      continue;
    }
    last_event = Clock::now();
    last_event_ns_ = wall_ns();
    if (o.pause_per_fetch_ms > 0)
      std::this_thread::sleep_for(std::chrono::milliseconds(o.pause_per_fetch_ms));
    bool broken = false;
    for (natsMsg*& msg : batch_) {
      if (broken) continue;
      jsMsgMetaData* meta = nullptr;
      if (natsMsg_GetMetaData(&meta, msg) != NATS_OK) continue;  // not a JetStream message
      const uint64_t delivery = meta->Sequence.Consumer, seq = meta->Sequence.Stream;
      jsMsgMetaData_Destroy(meta);
      if (delivery != expected_delivery_) {  // a delivery went missing (a server restart): start over
        broken = recover(CheckpointStore::Result::Failed,
                         fmt::format("delivery {} arrived, {} was expected", delivery, expected_delivery_));
        if (!broken) return false;
        continue;
      }
      ++expected_delivery_;
      if (seq <= done_seq_) continue;  // a redelivery of an event already decided
      if (!decide(msg, seq, error)) {
        broken = recover(CheckpointStore::Result::Failed, *error);
        continue;
      }
      done_seq_ = seq;
      held_.push_back(msg);  // kept until acknowledged
      msg = nullptr;
    }
    for (natsMsg* msg : batch_) natsMsg_Destroy(msg);
    if (broken) continue;
    if (publish_failed_ || static_cast<int>(held_.size()) * 2 >= o.max_ack_pending ||
        Clock::now() - last_commit_ > std::chrono::milliseconds(o.checkpoint_ms)) {
      if (const CheckpointStore::Result r = commit(error);
          r != CheckpointStore::Result::Ok && !recover(r, *error))
        return false;
    }
  }
}

double percentile(std::vector<int64_t>& values, double q) {
  if (values.empty()) return 0;
  const size_t k = std::min(values.size() - 1, static_cast<size_t>(q * static_cast<double>(values.size())));
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(k), values.end());
  return static_cast<double>(values[k]) / 1e6;
}

kvStore* open_bucket(Session& session, const std::string& bucket, const Target& target, std::string* error) {
  kvStore* kv = nullptr;
  if (js_KeyValue(&kv, session.js(), bucket.c_str()) == NATS_OK) return kv;
  kvConfig cfg;
  kvConfig_Init(&cfg);
  cfg.Bucket = bucket.c_str();
  cfg.History = 1;
  cfg.StorageType = target.storage == "memory" ? js_MemoryStorage : js_FileStorage;
  natsStatus s = js_CreateKeyValue(&kv, session.js(), &cfg);
  if (s != NATS_OK && js_KeyValue(&kv, session.js(), bucket.c_str()) != NATS_OK) {
    *error = nats_error(fmt::format("cannot create the key-value bucket `{}`", bucket), s);
    return nullptr;
  }
  return kv;
}

void print_summary(const WorkerOptions& o, std::vector<PartitionFigures>& all, double seconds) {
  PartitionFigures total;
  for (PartitionFigures& f : all) {
    total.messages += f.messages;
    total.events += f.events;
    total.decision_messages += f.decision_messages;
    total.republished_skipped += f.republished_skipped;
    total.rollbacks += f.rollbacks > 0 ? f.rollbacks - 1 : 0;  // the first "rollback" is the start
    total.duplicates += f.duplicates;
    total.latency_ns.insert(total.latency_ns.end(), f.latency_ns.begin(), f.latency_ns.end());
    total.summary.add(f.summary);
    if (f.first_event_ns && (!total.first_event_ns || f.first_event_ns < total.first_event_ns))
      total.first_event_ns = f.first_event_ns;
    total.last_commit_ns = std::max(total.last_commit_ns, f.last_commit_ns);
  }
  const double p50 = percentile(total.latency_ns, 0.5), p99 = percentile(total.latency_ns, 0.99);
  // The rate while busy: from the first event decided to the last commit.
  const double busy = total.last_commit_ns > total.first_event_ns
                          ? (total.last_commit_ns - total.first_event_ns) / 1e9
                          : seconds;
  const double rate = busy > 0 ? static_cast<double>(total.events) / busy : 0;
  if (o.summary_format == "json") {
    std::fprintf(stderr,
                 "{\"events\":%llu,\"messages\":%llu,\"decision_messages\":%llu,\"duplicates\":%llu,"
                 "\"not_republished\":%llu,\"rollbacks\":%llu,\"errors\":%llu,\"seconds\":%.3f,"
                 "\"events_per_second\":%.0f,\"latency_ms_p50\":%.3f,\"latency_ms_p99\":%.3f,"
                 "\"first_event_ns\":%lld,\"last_commit_ns\":%lld}\n",
                 static_cast<unsigned long long>(total.events),
                 static_cast<unsigned long long>(total.messages),
                 static_cast<unsigned long long>(total.decision_messages),
                 static_cast<unsigned long long>(total.duplicates),
                 static_cast<unsigned long long>(total.republished_skipped),
                 static_cast<unsigned long long>(total.rollbacks),
                 static_cast<unsigned long long>(total.summary.errors), seconds, rate, p50, p99,
                 static_cast<long long>(total.first_event_ns), static_cast<long long>(total.last_commit_ns));
    return;
  }
  std::string text = fmt::format(
      "edict stream: {} events in {} messages over {} partitions in {:.2f} s ({:.2f} s busy, {} events/s); "
      "{} decision messages ({} already stored, {} not sent again after a rollback); {} rollbacks; "
      "publish-to-decision latency p50 {:.1f} ms, p99 {:.1f} ms\n",
      engine::with_commas(total.events), engine::with_commas(total.messages), all.size(), seconds, busy,
      engine::with_commas(static_cast<uint64_t>(rate)), engine::with_commas(total.decision_messages),
      engine::with_commas(total.duplicates), engine::with_commas(total.republished_skipped), total.rollbacks,
      p50, p99);
  std::fputs(text.c_str(), stderr);
}

// The partitions named by --own (or all), one thread each, until stopped.
int run_owned(const Shared& shared, std::vector<unsigned> owned, std::vector<PartitionFigures>& figures) {
  const WorkerOptions& o = *shared.options;
  if (owned.empty())
    for (unsigned p = 0; p < o.target.partitions; ++p) owned.push_back(p);
  std::vector<std::unique_ptr<Partition>> partitions;
  for (unsigned p : owned) partitions.push_back(std::make_unique<Partition>(shared, p));
  std::vector<std::string> errors(partitions.size());
  std::vector<char> ok(partitions.size(), 0);
  {
    std::vector<std::thread> threads;
    for (size_t i = 0; i < partitions.size(); ++i)
      threads.emplace_back([&, i] { ok[i] = partitions[i]->run(&errors[i]); });
    for (std::thread& t : threads) t.join();
  }
  int code = kOk;
  for (size_t i = 0; i < partitions.size(); ++i)
    if (!ok[i]) {
      std::fprintf(stderr, "edict: partition %u stopped: %s\n", owned[i], errors[i].c_str());
      code = kFailed;
    }
  for (auto& p : partitions) figures.push_back(p->figures());
  return code;
}

// A partition running on its own thread under --claim.
struct Claimed {
  std::unique_ptr<Partition> partition;
  std::thread thread;
  std::atomic<bool> done{false};
  bool ok = false;
  std::string error;
};

class Coordinator {
 public:
  Coordinator(const Shared& shared, kvStore* kv, int64_t ttl_ms)
      : shared_(shared),
        o_(*shared.options),
        leases_(kv, o_.durable, o_.target.partitions),
        heartbeat_(std::chrono::milliseconds(std::max<int64_t>(50, ttl_ms / 4))) {}

  int run(std::vector<PartitionFigures>& figures);

 private:
  void reap(std::vector<PartitionFigures>& figures);
  void rebalance();
  bool idle_done(const std::vector<std::string>& live);
  void start(unsigned p);
  void log(const std::string& what) const {
    if (!o_.quiet) std::fprintf(stderr, "edict stream %s: %s\n", leases_.id().c_str(), what.c_str());
  }

  const Shared& shared_;
  const WorkerOptions& o_;
  Leases leases_;
  const std::chrono::milliseconds heartbeat_;
  std::map<unsigned, std::unique_ptr<Claimed>> running_;
  Clock::time_point changed_ = Clock::now();  // the last claim or release: idle time counts from here
  bool stopping_ = false;                     // every partition is being given up
  int code_ = kOk;
};

void Coordinator::start(unsigned p) {
  auto claimed = std::make_unique<Claimed>();
  claimed->partition = std::make_unique<Partition>(shared_, p);
  Claimed* c = claimed.get();
  c->thread = std::thread([c] {
    c->ok = c->partition->run(&c->error);
    c->done = true;
  });
  running_[p] = std::move(claimed);
  changed_ = Clock::now();
  log(fmt::format("claimed partition {}", p));
}

void Coordinator::reap(std::vector<PartitionFigures>& figures) {
  for (auto it = running_.begin(); it != running_.end();) {
    Claimed& c = *it->second;
    if (!c.done) {
      ++it;
      continue;
    }
    c.thread.join();
    figures.push_back(c.partition->figures());
    const unsigned p = it->first;
    if (c.ok) {
      leases_.release(p);
      if (c.partition->releasing() && !stopping_) log(fmt::format("released partition {}", p));
    } else if (leases_.renew(p)) {  // stopped on an error while still its owner: the worker fails
      std::fprintf(stderr, "edict: partition %u stopped: %s\n", p, c.error.c_str());
      code_ = kFailed;
    } else {
      log(fmt::format("partition {} went to another worker ({})", p, c.error));
    }
    changed_ = Clock::now();
    it = running_.erase(it);
  }
}

void Coordinator::rebalance() {
  for (auto& [p, c] : running_)
    if (!c->partition->releasing() && !leases_.renew(p)) {
      log(fmt::format("lost the lease of partition {}", p));
      c->partition->request_release();
    }
  const std::vector<std::string> live = leases_.live_workers();
  const unsigned share = leases_.share(live);
  unsigned holding = 0;
  for (auto& [p, c] : running_) holding += c->partition->releasing() ? 0 : 1;
  // Above the share: give the highest partitions up (each after its commit).
  for (auto it = running_.rbegin(); it != running_.rend() && holding > share; ++it)
    if (!it->second->partition->releasing()) {
      it->second->partition->request_release();
      --holding;
      changed_ = Clock::now();
    }
  // Below it: claim free partitions, starting where this worker's id points
  // so that workers starting together try different ones first.
  const unsigned n = o_.target.partitions;
  const unsigned first = partition_of(leases_.id(), n);
  for (unsigned k = 0; k < n && holding < share; ++k) {
    const unsigned p = (first + k) % n;
    if (running_.count(p) || !leases_.try_claim(p)) continue;
    start(p);
    ++holding;
  }
}

// --idle-exit-ms: no events and no claim or release for that long, and no
// partition waiting for a dead worker's lease to expire.
bool Coordinator::idle_done(const std::vector<std::string>& live) {
  if (o_.idle_exit_ms <= 0) return false;
  const auto idle = std::chrono::milliseconds(o_.idle_exit_ms);
  if (Clock::now() - changed_ < idle) return false;
  const int64_t now = wall_ns();
  for (auto& [p, c] : running_)
    if (c->partition->releasing() ||
        now - c->partition->last_event_ns() < int64_t{o_.idle_exit_ms} * 1'000'000)
      return false;
  return leases_.all_held_by_live(live);
}

int Coordinator::run(std::vector<PartitionFigures>& figures) {
  auto next_beat = Clock::now();
  while (true) {
    reap(figures);
    if (shared_.stop->load() || code_ != kOk) stopping_ = true;
    if (stopping_) {
      for (auto& [p, c] : running_) c->partition->request_release();
      if (running_.empty()) break;
    } else if (Clock::now() >= next_beat) {
      next_beat = Clock::now() + heartbeat_;
      if (leases_.announce()) {
        rebalance();
        if (idle_done(leases_.live_workers())) stopping_ = true;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  leases_.withdraw();
  return code_;
}

}  // namespace

int run_worker(const engine::Policy& policy, const WorkerOptions& o, const std::atomic<int>& stop) {
  std::string error;
  Session setup;
  if (!setup.open(o.target, "edict stream setup", 1, nullptr, nullptr, &error) ||
      !setup.ensure_streams(o.target, &error)) {
    std::fprintf(stderr, "edict: %s\n", error.c_str());
    return kUsage;
  }
  kvStore* kv = open_bucket(setup, o.kv_bucket, o.target, &error);
  if (!kv) {
    std::fprintf(stderr, "edict: %s\n", error.c_str());
    return kUsage;
  }
  kvStore_Destroy(kv);
  for (unsigned p : o.owned)
    if (p >= o.target.partitions) {
      std::fprintf(stderr, "edict: partition %u does not exist (--partitions %u: 0 to %u)\n", p,
                   o.target.partitions, o.target.partitions - 1);
      return kUsage;
    }
  kvStore* leases = nullptr;
  int64_t ttl_ms = o.lease_ttl_ms;
  if (o.claim) {
    leases =
        open_lease_bucket(setup.js(), o.lease_bucket, o.lease_ttl_ms, o.target.storage == "memory", &error);
    if (!leases) {
      std::fprintf(stderr, "edict: %s\n", error.c_str());
      return kUsage;
    }
    // An existing bucket keeps its TTL: heartbeats follow it.
    kvStatus* status = nullptr;
    if (kvStore_Status(&status, leases) == NATS_OK) {
      if (kvStatus_TTL(status) > 0) ttl_ms = kvStatus_TTL(status) / 1'000'000;
      kvStatus_Destroy(status);
    }
  }

  engine::AuditOptions audit_options;
  audit_options.decision_time = o.decision_time;
  engine::AuditStamp stamp(policy, audit_options);
  engine::RecordWriter writer(policy, engine::OutputFormat::Jsonl);
  writer.audit_with(&stamp);
  Shared shared{&policy, &o, &stamp, &writer, &stop, o.claim};

  const auto start = Clock::now();
  std::vector<PartitionFigures> figures;
  int code = kOk;
  if (o.claim) {
    Coordinator coordinator(shared, leases, ttl_ms);  // owns `leases`
    code = coordinator.run(figures);
  } else {
    code = run_owned(shared, o.owned, figures);
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  if (!o.quiet) print_summary(o, figures, seconds);
  return code;
}

}  // namespace edict::stream
