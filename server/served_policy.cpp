#include "server/served_policy.h"

#include <fmt/format.h>

#include <cstring>

#include "engine/decode/decoder.h"
#include "engine/output.h"
#include "engine/window/window.h"
#include "support/text.h"

namespace edict::server {

namespace {
engine::StreamOptions stream_options(const ServerOptions& o, uint32_t batch_size, bool members) {
  engine::StreamOptions s;
  s.batch_size = batch_size;
  s.max_line_bytes = o.max_line_bytes;
  s.windows.record_members = members;
  return s;
}
engine::AuditOptions audit_options(const ServerOptions& o) {
  engine::AuditOptions a;
  a.decision_time = o.decision_time;
  return a;
}
}  // namespace

ServedPolicy::ServedPolicy(std::unique_ptr<LoadedPolicy> loaded, uint64_t version,
                           const ServerOptions& options)
    : loaded_(std::move(loaded)),
      version_(version),
      loaded_at_(engine::AuditStamp::now_text()),
      stamp_(*loaded_->policy, audit_options(options)),
      writer_(*loaded_->policy, engine::OutputFormat::Jsonl),
      stream_(*loaded_->policy, stream_options(options, 1024, false)) {
  writer_.audit_with(&stamp_);
  std::string error;
  tracer_ = engine::Tracer::create(*loaded_->policy, &error);
  if (tracer_) {
    explain_stream_ = std::make_unique<engine::Stream>(*loaded_->policy, stream_options(options, 1, true));
    tracer_->read_windows(&explain_stream_->windows());
  }
}

bool ServedPolicy::decide(const std::vector<decode::Line>& lines, Decided& out) {
  // Room for the records up front (an audit record is about 2.5 times its
  // event), rather than growing by copies.
  size_t event_bytes = 0;
  for (const decode::Line& line : lines) event_bytes += line.text.size();
  out.records.reserve(out.records.size() + event_bytes * 3 + lines.size() * 256);
  engine::RecordSink sink(writer_, stream_.lanes(), [&](std::string_view records) {
    out.records += records;
    return true;
  });
  std::lock_guard lock(mutex_);
  if (retired_) return false;
  stream_.process(lines, sink);
  out.summary = sink.summary();
  return true;
}

std::string ServedPolicy::hand_windows_to(ServedPolicy& next, std::string* why) {
  std::lock_guard lock(mutex_);  // waits for the request deciding on this version
  if (!stream_.windows().active() && !next.stream_.windows().active()) return "none";
  if (!stream_.windows().active() || !next.stream_.windows().active()) {
    *why = "one version has windowed aggregates and the other has none";
    return "reset";
  }
  const std::string state = stream_.windows().serialize(window::InputPosition{});
  window::InputPosition position;
  std::lock_guard next_lock(next.mutex_);
  if (!next.stream_.windows().restore(state, "windows", &position, why)) {
    // The checkpoint loader's words name a file; only the reason applies here.
    const size_t reason = why->find("cannot be used: ");
    if (reason != std::string::npos) why->erase(0, reason + 16);
    return "reset";
  }
  retired_ = true;
  return "kept";
}

std::string ServedPolicy::explain(std::string_view event) {
  if (!tracer_) return {};
  // What `edict explain --format json` prints: every rule with the values
  // its conditions saw.
  std::lock_guard lock(mutex_);
  const engine::EvaluatedBatch evaluated = explain_stream_->evaluate(explain_stream_->decode_text(event, 1));
  const engine::EventExplanation e = engine::explain_row(*tracer_, evaluated.batch, evaluated.results, 0);
  std::string out;
  engine::append_explanation_json(out, *tracer_, e);
  out += '\n';
  return out;
}

std::string ServedPolicy::describe() const {
  const ir::Module& m = loaded_->policy->module();
  std::string s =
      fmt::format("{{\"version\":{},\"loaded_at\":\"{}\",\"compile_ms\":{:.3f},\"policy_hash\":", version_,
                  loaded_at_, loaded_->policy->compile_ms);
  append_json_string(s, stamp_.policy_hash());
  s += ",\"files\":[";
  for (size_t i = 0; i < loaded_->files.size(); ++i) {
    if (i) s += ',';
    append_json_string(s, loaded_->files[i]);
  }
  s += "],\"policies\":";
  s += stamp_.policies();
  s += ",\"data\":";
  s += stamp_.data_versions();
  s += ",\"outcomes\":[";
  for (size_t i = 0; i < m.outcomes.size(); ++i) {
    if (i) s += ',';
    append_json_string(s, m.outcomes[i]);
  }
  s += "],\"rules\":[";
  for (size_t r = 0; r < m.rules.size(); ++r) {
    if (r) s += ',';
    s += engine::rule_json_fields(m, r, /*empty_status=*/true);
    s += '}';
  }
  s += "]}\n";
  return s;
}

}  // namespace edict::server
