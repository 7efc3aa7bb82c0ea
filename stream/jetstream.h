// Screening an event stream across machines on NATS JetStream (docs/operations.md,
// "Scale-out on NATS JetStream"). Three entry points, each run by one `edict`
// subcommand that only parses its arguments:
//
//  - run_publish (`edict publish`): loads a JSON Lines file into the events
//    stream, routing each line by a key field (customer or ultimate parent)
//    to one of N partition subjects, in messages of about 64 KiB of whole
//    lines, with batched asynchronous publishing.
//  - run_worker (`edict stream`): for each partition it owns, a durable pull
//    consumer; each message's lines go through the one event path
//    (engine::Stream, records by engine::RecordWriter as `eval --audit`
//    writes them); the records are published to the decisions stream with a
//    message id derived from (event message, policy hash); the windows are
//    checkpointed to the key-value store with the stream sequence they
//    cover, and the events are acknowledged only after both are stored.
//  - run_audit (`edict stream --audit`): reads both streams and checks that
//    every event has exactly one decision record.
//
// NATS headers stay in this folder (tests/layering/check_layers.py).
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "engine/stream.h"

namespace edict::stream {

// Exit codes, the same values as the command line's (cli/commands.h).
inline constexpr int kOk = 0;
inline constexpr int kAuditFailed = 1;  // --audit: some event lacks exactly one decision
inline constexpr int kUsage = 2;        // bad options, unreachable server, refused configuration
inline constexpr int kFailed = 4;       // a worker stopped on an error it cannot recover from

// Where the streams are and how they are named.
struct Target {
  std::string url = "nats://127.0.0.1:4222";
  std::string creds_file;  // NATS credentials (JWT and seed); by file only
  std::string events_stream = "EDICT_EVENTS";
  std::string events_subject = "edict.events";  // partition p is `<subject>.<p>`
  std::string decisions_stream = "EDICT_DECISIONS";
  std::string decisions_subject = "edict.decisions";  // partition p's decisions: `<subject>.<p>`
  unsigned partitions = 8;
  std::string storage = "file";      // for streams this creates: `file` or `memory`
  int64_t duplicate_window_s = 600;  // JetStream's duplicate window on both streams
};

struct PublishOptions {
  Target target;
  std::string events_path;           // `-`: standard input
  std::string key = "customer_id";   // the field partitions are chosen by
  size_t message_bytes = 64 * 1024;  // whole lines per message, up to about this
  int max_in_flight = 256;           // messages published and not yet acknowledged, per connection
  int connections = 1;               // partition p is sent on connection p mod this
  // Longer lines (or longer than the server's largest message) are sent as
  // their length alone and decided as `line_too_long` errors.
  size_t max_line_bytes = 1 << 20;
  bool quiet = false;
};
int run_publish(const PublishOptions& options);

struct WorkerOptions {
  Target target;
  std::string durable = "edict";  // partition p's consumer: `<durable>-p<p>`
  std::string kv_bucket = "EDICT_CHECKPOINTS";
  std::vector<unsigned> owned;  // partitions this worker decides (empty: all, or claimed)
  // Partitions claimed through leases in `lease_bucket` instead (see
  // stream/leases.h): shared out among the live workers, taken over when one
  // dies, rebalanced when one joins.
  bool claim = false;
  std::string lease_bucket = "EDICT_LEASES";
  int64_t lease_ttl_ms = 5000;  // a dead worker's partitions wait this long for another

  int fetch_batch = 16;      // messages per fetch
  int max_in_flight = 256;   // decision messages published and not yet acknowledged
  int max_ack_pending = 64;  // event messages delivered and not yet acknowledged, per partition
  int ack_wait_ms = 30'000;
  int checkpoint_ms = 1000;    // at most this long between checkpoints while busy
  int idle_exit_ms = 0;        // stop after this long without events (0: run until signalled)
  int pause_per_fetch_ms = 0;  // a deliberately slow worker (fault drills and tests)
  bool decision_time = true;
  std::string summary_format = "text";  // or `json`
  bool quiet = false;
  engine::StreamOptions stream;  // windows' options; `threads` is 1 per partition
};
// Runs until `stop` is non-zero (a signal) or the idle timeout; returns an exit code.
int run_worker(const engine::Policy& policy, const WorkerOptions& options, const std::atomic<int>& stop);

struct AuditOptions {
  Target target;
  std::string policy_hash;  // only decisions of this policy (empty: the only one present)
  std::string export_path;  // also write the records here, in event order per partition
  bool quiet = false;
};
int run_audit(const AuditOptions& options);

// The partition of a key: FNV-1a 64 of its text modulo `partitions` (stable
// across machines and versions: loaders and docs rely on it).
unsigned partition_of(std::string_view key, unsigned partitions);
// The raw value of top-level-looking field `name` in a JSON line (a string's
// text without quotes, or a scalar's text); empty when absent. Routing only:
// the decoder judges the line.
std::string_view field_text(std::string_view line, std::string_view name);

}  // namespace edict::stream
