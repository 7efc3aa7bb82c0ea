#include "server/served_policy.h"

#include <fmt/format.h>

#include <cstring>

#include "engine/decode/decoder.h"
#include "engine/output.h"
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

void ServedPolicy::decide(const std::vector<decode::Line>& lines, Decided& out) {
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
  stream_.process(lines, sink);
  out.summary = sink.summary();
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

std::vector<decode::Line> body_lines(std::string& body, bool whole, size_t max_line_bytes) {
  const size_t size = body.size();
  body.append(decode::kLinePadding, '\0');  // in place when the reader reserved room for it
  const char* base = body.data();
  std::vector<decode::Line> lines;
  auto add = [&](size_t begin, size_t end) {
    size_t len = end - begin;
    if (!whole && len > 0 && base[end - 1] == '\r') --len;
    const uint64_t number = lines.size() + 1;
    if (len > max_line_bytes)
      lines.push_back(decode::Line{{}, 0, number, len});
    else
      lines.push_back(decode::Line{std::string_view(base + begin, len), body.size() - begin, number, 0});
  };
  if (whole) {
    add(0, size);
    return lines;
  }
  size_t pos = 0;
  while (pos < size) {
    const void* nl = std::memchr(base + pos, '\n', size - pos);
    const size_t stop = nl ? static_cast<size_t>(static_cast<const char*>(nl) - base) : size;
    add(pos, stop);
    pos = stop + 1;
  }
  return lines;
}

}  // namespace edict::server
