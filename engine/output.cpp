// Record formatting: hand-written JSON (no DOM) so output stays a small part
// of a run's time.
#include "engine/output.h"

#include <fmt/format.h>

#include <bit>
#include <charconv>

#include "engine/audit.h"
#include "engine/trace.h"

namespace edict::engine {

void Summary::add(const Summary& o) {
  lines += o.lines;
  errors += o.errors;
  if (per_decision.size() < o.per_decision.size()) per_decision.resize(o.per_decision.size());
  for (size_t i = 0; i < o.per_decision.size(); ++i) per_decision[i] += o.per_decision[i];
  if (per_rule.size() < o.per_rule.size()) per_rule.resize(o.per_rule.size());
  for (size_t i = 0; i < o.per_rule.size(); ++i) per_rule[i] += o.per_rule[i];
  for (const auto& [k, v] : o.error_reasons) error_reasons[k] += v;
}

std::string with_commas(uint64_t n) {
  // Built forwards rather than with insert(), which GCC 12 at -O3 misreports (-Wrestrict).
  std::string digits = std::to_string(n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

std::string render_summary(const Policy& policy, const Summary& summary, const RunFigures& run) {
  const ir::Module& m = policy.module();
  const double seconds = std::max(run.seconds, 1e-9);
  // Compilation counts apart and in the total: the speed alone would hide it.
  std::string s = fmt::format(
      "edict eval: {} lines, {} engine, {:.2f} s (compile {:.2f} s, decide {:.2f} s: {} lines/s, {:.1f} "
      "MB/s)\n",
      with_commas(summary.lines), run.engine, run.load_seconds + run.seconds, run.load_seconds, run.seconds,
      with_commas(static_cast<uint64_t>(summary.lines / seconds)), run.bytes_read / 1e6 / seconds);
  for (size_t d = m.outcomes.size(); d-- > 0;)
    s += fmt::format("  {:<28} {:>12}\n", m.outcomes[d],
                     with_commas(summary.per_decision.size() > d ? summary.per_decision[d] : 0));
  s += fmt::format("  {:<28} {:>12}\n", "error", with_commas(summary.errors));
  for (const auto& [reason, n] : summary.error_reasons)
    s += fmt::format("    {:<26} {:>12}\n", reason, with_commas(n));
  s += "  rules fired:\n";
  for (size_t r = 0; r < m.rules.size(); ++r)
    s += fmt::format("    {:<26} {:>12}\n", m.rules[r].name,
                     with_commas(summary.per_rule.size() > r ? summary.per_rule[r] : 0));
  if (run.windows && run.windows->active()) {
    window::Stats ws = run.windows->stats();
    s += fmt::format("  windows: {} events held under {} keys, about {:.1f} MB\n", with_commas(ws.events),
                     with_commas(ws.keys), ws.bytes / 1e6);
  }
  return s;
}

std::string render_summary_json(const Policy& policy, const Summary& summary, const RunFigures& run) {
  const ir::Module& m = policy.module();
  const double seconds = std::max(run.seconds, 1e-9);
  auto count = [](const std::vector<uint64_t>& v, size_t i) { return i < v.size() ? v[i] : 0; };
  std::string s = fmt::format(
      "{{\"summary\":1,\"lines\":{},\"engine\":\"{}\",\"seconds\":{:.6f},\"load_seconds\":{:.6f},"
      "\"total_seconds\":{:.6f},\"bytes_read\":{},\"lines_per_second\":{:.0f},\"mb_per_second\":{:.3f},"
      "\"decisions\":{{",
      summary.lines, run.engine, run.seconds, run.load_seconds, run.load_seconds + run.seconds,
      run.bytes_read, summary.lines / seconds, run.bytes_read / 1e6 / seconds);
  for (size_t d = 0; d < m.outcomes.size(); ++d) {
    if (d) s += ',';
    append_json_string(s, m.outcomes[d]);
    s += fmt::format(":{}", count(summary.per_decision, d));
  }
  s += fmt::format("}},\"errors\":{},\"error_reasons\":{{", summary.errors);
  bool first = true;
  for (const auto& [reason, n] : summary.error_reasons) {
    if (!first) s += ',';
    first = false;
    append_json_string(s, reason);
    s += fmt::format(":{}", n);
  }
  s += "},\"rules_fired\":{";
  for (size_t r = 0; r < m.rules.size(); ++r) {
    if (r) s += ',';
    append_json_string(s, m.rules[r].name);
    s += fmt::format(":{}", count(summary.per_rule, r));
  }
  s += '}';
  if (run.windows && run.windows->active()) {
    window::Stats ws = run.windows->stats();
    s += fmt::format(",\"windows\":{{\"events\":{},\"keys\":{},\"bytes\":{}}}", ws.events, ws.keys, ws.bytes);
  }
  s += fmt::format(",\"compile_ms\":{:.3f},\"jit_ms\":{:.3f},\"interpreter_runs\":{}}}\n", run.compile_ms,
                   run.jit_ms, run.interpreter_runs);
  return s;
}

std::string rule_json_fields(const ir::Module& m, size_t rule, bool empty_status) {
  const ir::Rule& r = m.rules[rule];
  std::string p = "{\"name\":";
  append_json_string(p, r.name);
  p += ",\"effect\":";
  append_json_string(p, m.outcomes[static_cast<size_t>(r.effect)]);
  p += ",\"cite\":";
  append_json_string(p, r.cite);
  if (r.policy >= 0) {
    const ir::Policy& pol = m.policies[static_cast<size_t>(r.policy)];
    p += ",\"policy\":";
    append_json_string(p, pol.title);
    if (empty_status || !pol.status.empty()) {
      p += ",\"status\":";
      append_json_string(p, pol.status);
    }
    if (!pol.version.empty()) {
      p += ",\"version\":";
      append_json_string(p, pol.version);
    }
  }
  return p;
}

RecordWriter::RecordWriter(const Policy& policy, OutputFormat format)
    : policy_(&policy), format_(format), finisher_(policy) {
  const ir::Module& m = policy.module();
  for (size_t rule = 0; rule < m.rules.size(); ++rule) {
    const ir::Rule& r = m.rules[rule];
    std::string p = rule_json_fields(m, rule, /*empty_status=*/false);
    rule_open_.push_back(format_ == OutputFormat::Jsonl ? p + ",\"message\":\"" : r.name);
    rule_prefix_.push_back(std::move(p));
  }
  kinds_ = m.events.size();
  outcomes_ = m.outcomes.size();
  for (const ir::EventSchema& kind : m.events) {
    for (const std::string& outcome : m.outcomes) {
      const bool jsonl = format_ == OutputFormat::Jsonl;
      std::string open =
          jsonl ? fmt::format(",\"kind\":\"{}\",\"decision\":\"{}\",\"rules\":[", kind.name, outcome)
                : fmt::format(",{},{},", kind.name, outcome);
      kind_decision_.push_back(open);
      kind_decision_.push_back(open + (jsonl ? "]}\n" : ",,\n"));
    }
  }
}

std::string RecordWriter::header() const {
  return format_ == OutputFormat::Csv ? "line,id,kind,decision,rules,reason,error\n" : "";
}

namespace {

void append_number(std::string& out, uint64_t n) {
  char buf[24];
  auto end = std::to_chars(buf, buf + sizeof buf, n).ptr;
  out.append(buf, static_cast<size_t>(end - buf));
}

void append_csv(std::string& out, std::string_view s) {
  if (s.find_first_of(",\"\n\r") == std::string_view::npos) {
    out += s;
    return;
  }
  out += '"';
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
}
// The decimal text of line numbers, counted up in place from one row to the
// next: a batch's rows are consecutive lines, and adding one to text costs
// less than converting each number afresh.
class LineNumberText {
 public:
  std::string_view of(uint64_t n) {
    if (n == value_ + 1 && n != 0) {
      size_t i = sizeof digits_ - 1;
      while (i >= begin_ && digits_[i] == '9') digits_[i--] = '0';  // 20 digits at most: i stays >= 3
      if (i < begin_) {
        digits_[i] = '1';
        begin_ = i;
      } else {
        ++digits_[i];
      }
    } else {
      char buf[24];
      size_t len = static_cast<size_t>(std::to_chars(buf, buf + sizeof buf, n).ptr - buf);
      begin_ = sizeof digits_ - len;
      std::memcpy(digits_ + begin_, buf, len);
    }
    value_ = n;
    return std::string_view(digits_ + begin_, sizeof digits_ - begin_);
  }

 private:
  char digits_[24] = {};  // the text ends the array
  size_t begin_ = sizeof digits_;
  uint64_t value_ = UINT64_MAX;  // none yet (n + 1 == 0 never counts up)
};

// append_csv through a RecordBuffer with room for 2 * s.size() + 2 bytes.
void put_csv(RecordBuffer& out, std::string_view s) {
  if (s.find_first_of(",\"\n\r") == std::string_view::npos) {
    out.put(s);
    return;
  }
  out.put('"');
  for (char c : s) {
    if (c == '"') out.put('"');
    out.put(c);
  }
  out.put('"');
}

// `"conditions":{"when":TREE,"unless":TREE}` of a fired rule.
void append_conditions(std::string& out, const Tracer& tracer, int rule, const EdictColumns& columns,
                       uint32_t row) {
  RuleTrace t = tracer.trace_rule(rule, columns, row);
  out += ",\"conditions\":{";
  if (t.when) {
    out += "\"when\":";
    append_trace_json(out, *t.when);
  }
  if (t.unless) {
    out += t.when ? ",\"unless\":" : "\"unless\":";
    append_trace_json(out, *t.unless);
  }
  out += '}';
}
}  // namespace

void RecordWriter::write(const abi::Batch& batch, const Results& results, std::string& out, Summary& summary,
                         const decode::Line* lines) const {
  const ir::Module& m = policy_->module();
  if (summary.per_decision.size() < m.outcomes.size()) summary.per_decision.resize(m.outcomes.size());
  if (summary.per_rule.size() < m.rules.size()) summary.per_rule.resize(m.rules.size());
  std::vector<const void*> data;
  std::vector<const uint8_t*> present;
  EdictColumns columns = Policy::columns_of(batch, data, present);
  RecordBuffer buffer(out);
  std::string record;         // the general path's, reused
  FinishedDecision decision;  // likewise
  LineNumberText line;
  // Audit records: one decision time per batch, and each record's opening
  // (the stamp's fields) ahead of `"line":`.
  const std::string time = audit_ && audit_->decision_time() ? AuditStamp::now_text() : std::string();
  std::string opening = "{\"line\":";
  for (uint32_t row = 0; row < batch.size(); ++row) {
    ++summary.lines;
    if (audit_) {
      opening.clear();
      audit_->open_record(opening, lines ? lines[row].text : batch.id(row), time);
      opening += "\"line\":";
    }
    if (write_fast(buffer, batch, results, columns, row, line.of(batch.line(row)), opening, summary))
      continue;
    record.clear();
    finisher_.finish(batch, columns, results, row, decision);
    write_general(record, batch, columns, row, opening, decision, summary);
    buffer.reserve(record.size());
    buffer.put(record);
  }
}

bool RecordWriter::write_fast(RecordBuffer& out, const abi::Batch& batch, const Results& results,
                              const EdictColumns& columns, uint32_t row, std::string_view line,
                              std::string_view opening, Summary& summary) const {
  const uint8_t decision = results.decision[row];
  const uint8_t kind = batch.kind(row);
  if (decision >= outcomes_ || kind >= kinds_) return false;  // an error, or not decoded
  const uint32_t words = results.fired_words;
  const uint64_t* fired = &results.fired[size_t{row} * words];
  const MessageTemplates& messages = finisher_.templates();
  bool any = false;
  for (uint32_t w = 0; w < words; ++w) {
    for (uint64_t bits = fired[w]; bits; bits &= bits - 1) {
      any = true;
      const int32_t message = messages.slot(w * size_t{64} + std::countr_zero(bits), kind);
      if (message == MessageTemplates::kInterpreted ||
          (message >= 0 && messages.at(message).faults(columns, row)))
        return false;
    }
  }
  if (any && tracer_) return false;

  const std::string_view id = batch.id(row);
  const std::string& kind_decision = kind_decision_[2 * (kind * outcomes_ + decision) + (any ? 0 : 1)];
  const bool jsonl = format_ == OutputFormat::Jsonl;
  out.reserve(16 + opening.size() + RecordBuffer::kNumberBound + 2 * RecordBuffer::json_escaped_bound(id) +
              kind_decision.size());
  if (jsonl) out.put(opening);
  out.put(line);
  if (jsonl) {
    out.put(",\"id\":\"");
    out.put_json_escaped(id);
    out.put('"');
  } else {
    out.put(',');
    put_csv(out, id);
  }
  out.put(kind_decision);
  if (!any) {
    ++summary.per_decision[decision];
    return true;
  }
  bool first = true;
  for (uint32_t w = 0; w < words; ++w) {
    for (uint64_t bits = fired[w]; bits; bits &= bits - 1) {
      const size_t rule = w * size_t{64} + std::countr_zero(bits);
      ++summary.per_rule[rule];
      const std::string& open = rule_open_[rule];
      out.reserve(open.size() + 1);
      if (!first) out.put(jsonl ? ',' : ';');
      first = false;
      out.put(open);
      if (!jsonl) continue;
      const int32_t message = messages.slot(rule, kind);
      if (message >= 0) messages.at(message).put_json(out, columns, row);
      out.reserve(2);
      out.put("\"}");
    }
  }
  out.reserve(4);
  out.put(jsonl ? std::string_view("]}\n") : std::string_view(",,\n"));
  ++summary.per_decision[decision];
  return true;
}

void RecordWriter::write_general(std::string& out, const abi::Batch& batch, const EdictColumns& columns,
                                 uint32_t row, std::string_view opening, const FinishedDecision& d,
                                 Summary& summary) const {
  const ir::Module& m = policy_->module();
  const uint64_t line = batch.line(row);
  if (d.skipped) {
    const abi::RowError* e = d.row_error;
    std::string_view reason = e ? abi::error_reason_name(e->reason) : "invalid_input";
    std::string_view message = e ? std::string_view(e->message) : "invalid input";
    ++summary.errors;
    ++summary.error_reasons[std::string(reason)];
    // The id, when the line got as far as giving one (a late event, a bad
    // value after the id), says which event the error is about.
    std::string_view id = batch.id(row);
    // So is the kind, once the line named a known one.
    const uint8_t event_kind = batch.event_kind(row);
    std::string_view kind = event_kind < m.events.size() ? std::string_view(m.events[event_kind].name) : "";
    if (format_ == OutputFormat::Jsonl) {
      out += opening;
      append_number(out, line);
      if (!id.empty()) {
        out += ",\"id\":";
        append_json_string(out, id);
      }
      if (!kind.empty()) {
        out += ",\"kind\":";
        append_json_string(out, kind);
      }
      out += ",\"decision\":\"error\",\"reason\":\"";
      out += reason;
      out += "\",\"error\":";
      append_json_string(out, message);
      out += "}\n";
    } else {
      append_number(out, line);
      out += ',';
      append_csv(out, id);
      out += ',';
      append_csv(out, kind);
      out += ",error,,";
      out += reason;
      out += ',';
      append_csv(out, message);
      out += '\n';
    }
    return;
  }

  for (uint32_t r : d.fired) ++summary.per_rule[r];
  std::string_view kind = m.events[batch.kind(row)].name;
  std::string_view id = batch.id(row);
  std::string error;
  std::string_view reason;
  if (d.faulted) {
    error = fault_message(m, d.fault_rule, d.fault_site, d.fault_reason);
    reason = ir::fault_reason_name(d.fault_reason);
    ++summary.errors;
    ++summary.error_reasons[std::string(reason)];
  } else {
    ++summary.per_decision[d.outcome];
  }
  std::string_view decision_name = d.faulted ? std::string_view("error") : policy_->outcome_name(d.outcome);

  if (format_ == OutputFormat::Csv) {
    append_number(out, line);
    out += ',';
    append_csv(out, id);
    out += fmt::format(",{},{},", kind, decision_name);
    for (size_t i = 0; i < d.fired.size(); ++i) {
      if (i) out += ';';
      out += m.rules[d.fired[i]].name;
    }
    out += ',';
    out += reason;
    out += ',';
    append_csv(out, error);
    out += '\n';
    return;
  }
  out += opening;
  append_number(out, line);
  out += ",\"id\":";
  append_json_string(out, id);
  out += ",\"kind\":\"";
  out += kind;
  out += "\",\"decision\":\"";
  out += decision_name;
  out += '"';
  if (d.faulted) {
    out += ",\"reason\":\"";
    out += reason;
    out += "\",\"rule\":";
    append_json_string(out, m.rules[d.fault_rule].name);
    out += ",\"error\":";
    append_json_string(out, error);
  }
  out += ",\"rules\":[";
  for (size_t i = 0; i < d.fired.size(); ++i) {
    if (i) out += ',';
    out += rule_prefix_[d.fired[i]];
    out += ",\"message\":";
    append_json_string(out, d.messages[i]);
    if (tracer_) append_conditions(out, *tracer_, static_cast<int>(d.fired[i]), columns, row);
    out += '}';
  }
  out += "]}\n";
}

RecordSink::RecordSink(const RecordWriter& writer, unsigned lanes, std::function<bool(std::string_view)> emit)
    : writer_(&writer), lanes_(lanes), emit_(std::move(emit)) {}

void RecordSink::consume(unsigned lane, const EvaluatedBatch& e) {
  writer_->write(e.batch, e.results, lanes_[lane].out, lanes_[lane].summary, e.lines);
}

bool RecordSink::flush(unsigned lane) {
  std::string& out = lanes_[lane].out;
  const bool ok = out.empty() || emit_(out);
  out.clear();
  return ok;
}

Summary RecordSink::summary() const {
  Summary all;
  for (const LaneOutput& lane : lanes_) all.add(lane.summary);
  return all;
}

}  // namespace edict::engine
