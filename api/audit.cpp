// Audit records from the API: the Stream, AuditStamp and RecordWriter that
// `edict eval --audit` and `edict serve` use, so a host's records are theirs.
#include "engine/audit.h"
#include "api/impl.h"
#include "edict/edict.hpp"
#include "engine/body_lines.h"
#include "engine/output.h"
#include "engine/stream.h"

namespace edict {

namespace detail {
struct AuditRecorderImpl {
  Policy policy;  // keeps the compiled policy alive for the members below
  const engine::Policy& compiled;
  engine::AuditOptions options;
  engine::AuditStamp stamp;  // remade when the policy's data was replaced
  engine::RecordWriter writer;
  engine::Stream stream;
  std::string text;  // the lines of the current call, padded for decoding

  AuditRecorderImpl(Policy p, const engine::AuditOptions& options, const engine::Policy& compiled)
      : policy(std::move(p)),
        compiled(compiled),
        options(options),
        stamp(compiled, options),
        writer(compiled, engine::OutputFormat::Jsonl),
        stream(compiled, engine::StreamOptions{}) {
    writer.audit_with(&stamp);
  }
};
}  // namespace detail

namespace {
engine::AuditOptions engine_options(const AuditOptions& options) {
  engine::AuditOptions a;
  a.decision_time = options.decision_time;
  return a;
}
const std::string kNoHash;
}  // namespace

AuditRecorder::AuditRecorder(Policy policy, AuditOptions options) {
  if (!policy.valid()) return;
  const engine::Policy& compiled = *detail::Access::impl(policy)->engine;
  impl_ = std::make_unique<detail::AuditRecorderImpl>(std::move(policy), engine_options(options), compiled);
}

AuditRecorder::~AuditRecorder() = default;
AuditRecorder::AuditRecorder(AuditRecorder&&) noexcept = default;
AuditRecorder& AuditRecorder::operator=(AuditRecorder&&) noexcept = default;

Status AuditRecorder::record(std::string_view jsonl, std::string& records) {
  if (!impl_) return Status{Code::InvalidArgument, "an AuditRecorder needs a compiled policy"};
  detail::AuditRecorderImpl& r = *impl_;
  // The records name the data versions that decided them: pinned for the
  // call, and a new stamp when Policy::replace_data changed them.
  const engine::PinnedVersions pinned(r.compiled);
  if (!r.stamp.names(pinned.pins())) r.stamp = engine::AuditStamp(r.compiled, r.options);
  r.text.assign(jsonl);
  const std::vector<decode::Line> lines =
      engine::split_body_lines(r.text, /*whole=*/false, engine::StreamOptions{}.max_line_bytes);
  engine::RecordSink sink(r.writer, r.stream.lanes(), [&](std::string_view out) {
    records += out;
    return true;
  });
  r.stream.process(lines, sink);
  return {};
}

const std::string& AuditRecorder::policy_hash() const {
  return impl_ ? impl_->stamp.policy_hash() : kNoHash;
}

}  // namespace edict
