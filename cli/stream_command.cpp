// `edict publish` and `edict stream`: options only; the work is stream/'s.
#include "cli/stream_command.h"

#include <CLI/CLI.hpp>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>

#include "cli/tooling.h"
#include "support/time_util.h"

namespace edict::cli {
namespace {

std::atomic<int> stop_requested{0};
extern "C" void on_stream_stop(int) {
  stop_requested = 1;
}

// The options naming the server and the streams, shared by both commands.
void add_target_options(CLI::App& cmd, stream::Target& t) {
  cmd.add_option("--server", t.url, "NATS server URL(s), comma-separated")->capture_default_str();
  cmd.add_option("--creds", t.creds_file,
                 "NATS credentials file (JWT and seed); credentials are never taken on the command line")
      ->check(CLI::ExistingFile);
  cmd.add_option("--events-stream", t.events_stream, "JetStream stream of the events")->capture_default_str();
  cmd.add_option("--events-subject", t.events_subject,
                 "Subject prefix of the events: partition p is PREFIX.p")
      ->capture_default_str();
  cmd.add_option("--decisions-stream", t.decisions_stream, "JetStream stream of the decision records")
      ->capture_default_str();
  cmd.add_option("--decisions-subject", t.decisions_subject,
                 "Subject prefix of the decision records: partition p's are PREFIX.p")
      ->capture_default_str();
  cmd.add_option("--partitions", t.partitions,
                 "Number of partitions events are routed to (the same for every loader and worker)")
      ->capture_default_str()
      ->check(CLI::Range(1u, 4096u));
  cmd.add_option("--storage", t.storage, "Storage of the streams and bucket this creates: `file` or `memory`")
      ->capture_default_str()
      ->check(CLI::IsMember({"file", "memory"}));
  cmd.add_option("--duplicate-window", t.duplicate_window_s,
                 "Seconds the server remembers message ids to drop repeats (streams this creates)")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{7} * 86400));
}

// "0,2,5-7" -> {0,2,5,6,7}; false when malformed.
bool parse_partition_list(const std::string& text, std::vector<unsigned>& out) {
  size_t at = 0;
  while (at < text.size()) {
    size_t comma = text.find(',', at);
    if (comma == std::string::npos) comma = text.size();
    const std::string item = text.substr(at, comma - at);
    unsigned first = 0, last = 0;
    char extra = 0;
    if (std::sscanf(item.c_str(), "%u-%u%c", &first, &last, &extra) == 2 && first <= last && last < 65536) {
      for (unsigned p = first; p <= last; ++p) out.push_back(p);
    } else if (std::sscanf(item.c_str(), "%u%c", &first, &extra) == 1) {
      out.push_back(first);
    } else {
      return false;
    }
    at = comma + 1;
  }
  return !out.empty();
}

// Credentials come from a file only: a URL with `user:password@` or a token
// would show in process listings and shell histories.
bool refuse_url_credentials(const stream::Target& t) {
  if (t.url.find('@') == std::string::npos) return true;
  std::fprintf(stderr,
               "edict: --server must not carry credentials (`...@host`): give them with --creds FILE\n");
  return false;
}

}  // namespace

void add_publish_options(CLI::App& cmd, PublishCommandOptions& o) {
  stream::PublishOptions& p = o.publish;
  cmd.add_option("events", p.events_path, "Events file (JSON Lines, gzip allowed; `-`: standard input)")
      ->required();
  add_target_options(cmd, p.target);
  cmd.add_option("--key", p.key,
                 "Field whose value chooses an event's partition: the key of the policy's windows "
                 "(`customer_id`, or the ultimate parent's field)")
      ->capture_default_str();
  cmd.add_option("--message-bytes", p.message_bytes, "Whole lines per message, up to about this many bytes")
      ->capture_default_str()
      ->check(CLI::Range(size_t{256}, size_t{8} << 20));
  cmd.add_option("--max-in-flight", p.max_in_flight, "Messages published and not yet acknowledged")
      ->capture_default_str()
      ->check(CLI::Range(1, 65536));
  cmd.add_option("--connections", p.connections,
                 "Connections to publish on (partition p on connection p mod N): the server stores each "
                 "connection's messages on its own core")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  cmd.add_option("--max-line-bytes", p.max_line_bytes, "Longest line published; longer ones are reported")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1024}, size_t{64} << 20));
  cmd.add_flag("-q,--quiet", p.quiet, "No summary on standard error");
}

int run_publish_command(const PublishCommandOptions& o) {
  if (!refuse_url_credentials(o.publish.target)) return kExitUsage;
  return stream::run_publish(o.publish);
}

void add_stream_options(CLI::App& cmd, StreamCommandOptions& o) {
  stream::WorkerOptions& w = o.worker;
  cmd.add_option("policies", o.policies, "Policy files or folders (*.edict, *.edict.md); none with --audit");
  add_target_options(cmd, w.target);
  cmd.add_option("--engine", o.engine, "Evaluation engine: `jit`, `tiered` or `interp`")
      ->capture_default_str()
      ->check(CLI::IsMember({"jit", "tiered", "interp"}));
  cmd.add_option("--own", o.partitions_owned,
                 "Partitions this worker decides, like `0-3` or `0,2,5` (default: all); each partition must "
                 "have exactly one worker");
  cmd.add_flag(
      "--claim", w.claim,
      "Claim partitions through leases in the key-value store instead of --own: the live workers "
      "share them out, take over a dead worker's after --lease-ttl-ms, and rebalance when one joins");
  cmd.add_option("--lease-bucket", w.lease_bucket, "With --claim: key-value bucket of the workers' leases")
      ->capture_default_str();
  cmd.add_option(
         "--lease-ttl-ms", w.lease_ttl_ms,
         "With --claim: a lease not renewed for this long expires (the bucket's TTL when this creates "
         "it; heartbeats every quarter of it)")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1000}, int64_t{3'600'000}));
  cmd.add_option("--durable", w.durable, "Consumer name prefix: partition p's durable consumer is NAME-pP")
      ->capture_default_str();
  cmd.add_option("--kv-bucket", w.kv_bucket, "Key-value bucket of the window checkpoints")
      ->capture_default_str();
  cmd.add_option("--fetch-batch", w.fetch_batch, "Event messages per fetch")
      ->capture_default_str()
      ->check(CLI::Range(1, 4096));
  cmd.add_option("--max-in-flight", w.max_in_flight,
                 "Decision messages published and not yet acknowledged, per partition (back-pressure)")
      ->capture_default_str()
      ->check(CLI::Range(1, 65536));
  cmd.add_option("--max-ack-pending", w.max_ack_pending,
                 "Event messages delivered and not yet acknowledged, per partition (the consumer's limit: "
                 "a worker that falls behind is sent no more)")
      ->capture_default_str()
      ->check(CLI::Range(2, 65536));
  cmd.add_option("--ack-wait-ms", w.ack_wait_ms, "Redeliver events not acknowledged within this long")
      ->capture_default_str()
      ->check(CLI::Range(1000, 3'600'000));
  cmd.add_option("--checkpoint-ms", w.checkpoint_ms,
                 "Most time between commits (decisions stored, windows checkpointed, events acknowledged)")
      ->capture_default_str()
      ->check(CLI::Range(10, 600'000));
  cmd.add_option("--idle-exit-ms", w.idle_exit_ms,
                 "Stop after this long without events (0: run until SIGTERM or SIGINT)")
      ->capture_default_str()
      ->check(CLI::Range(0, 86'400'000));
  cmd.add_option(
         "--max-lateness", o.max_lateness,
         "Windowed aggregates: how far an event may be earlier than the latest event time seen in its "
         "partition")
      ->capture_default_str();
  cmd.add_option(
         "--max-future", o.max_future,
         "Windowed aggregates: how far (a duration) an event's time may be ahead of this machine's clock "
         "(`none`: no limit)")
      ->capture_default_str();
  cmd.add_option("--pause-per-fetch-ms", w.pause_per_fetch_ms,
                 "Sleep this long after each fetch: a deliberately slow worker, for fault drills")
      ->capture_default_str()
      ->check(CLI::Range(0, 60'000));
  cmd.add_option("--max-window-events", o.max_window_events,
                 "Windowed aggregates: most events held, per partition")
      ->capture_default_str()
      ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 40));
  cmd.add_option("--max-line-bytes", w.stream.max_line_bytes, "Longest line decoded")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1024}, size_t{1} << 30));
  cmd.add_flag("--no-decision-time", o.no_decision_time,
               "Records without their decision time (byte-identical records for the same events)");
  cmd.add_option("--summary-format", w.summary_format, "The summary on standard error as `text` or `json`")
      ->capture_default_str()
      ->check(CLI::IsMember({"text", "json"}));
  cmd.add_flag("-q,--quiet", w.quiet, "No summary on standard error");
  cmd.add_flag("--audit", o.audit,
               "Check the streams instead: every event has exactly one decision record (exit 1 when not)");
  cmd.add_option("--policy-hash", o.policy_hash, "With --audit: the policy whose decisions are checked");
  cmd.add_option(
      "--export", o.export_path,
      "With --audit: also write the decision records to this file (JSON Lines, each partition's in "
      "event order)");
  add_limit_options(cmd, o.limits);
  add_import_option(cmd, o.limits);
  add_data_option(cmd, o.limits.data_files);
}

int run_stream_command(const StreamCommandOptions& o) {
  if (!refuse_url_credentials(o.worker.target)) return kExitUsage;
  if (o.audit) {
    if (!o.policies.empty()) {
      std::fprintf(stderr, "edict: --audit reads the streams only: name no policy (use --policy-hash)\n");
      return kExitUsage;
    }
    stream::AuditOptions audit;
    audit.target = o.worker.target;
    audit.policy_hash = o.policy_hash;
    audit.export_path = o.export_path;
    audit.quiet = o.worker.quiet;
    return stream::run_audit(audit);
  }
  if (o.policies.empty()) {
    std::fprintf(stderr, "edict: name the policy files or folders to decide with\n");
    return kExitUsage;
  }
  stream::WorkerOptions w = o.worker;
  if (!o.partitions_owned.empty() && !parse_partition_list(o.partitions_owned, w.owned)) {
    std::fprintf(stderr, "edict: --own `%s` is not a list of partitions like `0-3` or `0,2,5`\n",
                 o.partitions_owned.c_str());
    return kExitUsage;
  }
  if (w.claim && !w.owned.empty()) {
    std::fprintf(stderr, "edict: --claim and --own exclude each other: partitions are claimed or named\n");
    return kExitUsage;
  }
  w.decision_time = !o.no_decision_time;
  w.stream.threads = 1;
  w.stream.windows.max_events = o.max_window_events;
  if (auto lateness = parse_duration(o.max_lateness); lateness && *lateness >= 0) {
    w.stream.windows.max_lateness = *lateness;
  } else {
    std::fprintf(stderr, "edict: --max-lateness `%s` is not a duration like `1h` or `2d`\n",
                 o.max_lateness.c_str());
    return kExitUsage;
  }
  if (!apply_max_future(o.max_future, w.stream.windows)) return kExitUsage;
  if (std::string why = engine::check_stream_options(w.stream); !why.empty()) {
    std::fprintf(stderr, "edict: %s\n", why.c_str());
    return kExitUsage;
  }
  SourceManager sources;
  std::unique_ptr<engine::Policy> policy =
      load_policy(o.policies, backend_named(o.engine), o.limits, sources);
  if (!policy) return kExitUsage;
  struct sigaction sa {};
  sa.sa_handler = on_stream_stop;
  sa.sa_flags = SA_RESTART | SA_RESETHAND;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGTERM, SIGINT, SIGHUP}) sigaction(sig, &sa, nullptr);
  return stream::run_worker(*policy, w, stop_requested);
}

}  // namespace edict::cli
