// Record formatting: hand-written JSON (no DOM) so output stays a small part
// of a run's time.
#include "runtime/engine/output.h"

#include <fmt/format.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <bit>
#include <charconv>
#include "runtime/engine/trace.h"

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

namespace {

bool needs_escape(unsigned char c) {
  return c < 0x20 || c == '"' || c == '\\';
}

// The index of the first byte of s at or after `i` that JSON must escape, or
// s.size(). Sixteen bytes at a time where SSE2 is there (all of x86-64).
size_t next_escape(std::string_view s, size_t i) {
  const char* d = s.data();
#if defined(__SSE2__)
  const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\'), space = _mm_set1_epi8(0x20),
                minus_one = _mm_set1_epi8(-1);
  for (; i + 16 <= s.size(); i += 16) {
    __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(d + i));
    // Signed bytes: a control character is >= 0 and < 0x20 (UTF-8 bytes are negative).
    __m128i control = _mm_and_si128(_mm_cmplt_epi8(v, space), _mm_cmpgt_epi8(v, minus_one));
    __m128i hit = _mm_or_si128(control, _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)));
    if (unsigned mask = static_cast<unsigned>(_mm_movemask_epi8(hit))) return i + std::countr_zero(mask);
  }
#endif
  while (i < s.size() && !needs_escape(static_cast<unsigned char>(d[i]))) ++i;
  return i;
}

}  // namespace

void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  size_t run = 0;  // copy plain stretches in one go
  for (size_t i = next_escape(s, 0); i < s.size(); i = next_escape(s, i)) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    out.append(s.data() + run, i - run);
    run = ++i;
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default: out += fmt::format("\\u{:04x}", c);
    }
  }
  out.append(s.data() + run, s.size() - run);
  out += '"';
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

std::string fault_message(const Policy& policy, uint32_t rule, uint32_t site, ir::FaultReason reason) {
  const ir::Module& m = policy.module();
  std::string where;
  if (site < m.fault_sites.size() && m.fault_sites[site].span.valid() && m.sources) {
    Span sp = m.fault_sites[site].span;
    LineCol lc = m.sources->line_col(sp.file, sp.begin);
    where = fmt::format(" ({}:{}:{})", m.sources->file(sp.file).path, lc.line, lc.column);
  }
  return fmt::format("{} in rule `{}`{}", ir::fault_reason_text(reason), m.rules[rule].name, where);
}

RecordWriter::RecordWriter(const Policy& policy, OutputFormat format) : policy_(&policy), format_(format) {
  const ir::Module& m = policy.module();
  for (const ir::Rule& r : m.rules) {
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
      if (!pol.status.empty()) {
        p += ",\"status\":";
        append_json_string(p, pol.status);
      }
    }
    rule_prefix_.push_back(std::move(p));
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

void RecordWriter::write(const runtime::Batch& batch, const Results& results, std::string& out,
                         Summary& summary) const {
  const ir::Module& m = policy_->module();
  const size_t rules = m.rules.size();
  if (summary.per_decision.size() < m.outcomes.size()) summary.per_decision.resize(m.outcomes.size());
  if (summary.per_rule.size() < rules) summary.per_rule.resize(rules);
  std::vector<const void*> data;
  std::vector<const uint8_t*> present;
  EdictColumns columns = Policy::columns_of(batch, data, present);
  std::vector<uint32_t> fired;
  std::vector<std::string> messages;

  for (uint32_t row = 0; row < batch.size(); ++row) {
    ++summary.lines;
    const uint64_t line = batch.line(row);
    uint8_t decision = results.decision[row];
    if (decision == EDICT_DECISION_SKIPPED) {
      const runtime::RowError* e = batch.error_of(row);
      std::string_view reason = e ? runtime::error_reason_name(e->reason) : "invalid_input";
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
        out += "{\"line\":";
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
      continue;
    }

    fired.clear();
    messages.clear();
    uint32_t fault_rule = results.fault_rule[row], fault_site = results.fault_site[row];
    ir::FaultReason fault_reason = ir::FaultReason::None;
    bool faulted = decision == EDICT_DECISION_ERROR;
    for (size_t r = 0; r < rules; ++r) {
      if (!results.rule_fired(row, r)) continue;
      fired.push_back(static_cast<uint32_t>(r));
      interp::MessageResult msg = policy_->interpreter().message(static_cast<int>(r), columns, row);
      if (!msg.ok() && !faulted) {
        faulted = true;
        fault_rule = static_cast<uint32_t>(r);
        fault_site = msg.fault_site;
        fault_reason = msg.reason;
      }
      messages.push_back(std::move(msg.text));
    }
    for (uint32_t r : fired) ++summary.per_rule[r];
    std::string_view kind = m.events[batch.kind(row)].name;
    std::string_view id = batch.id(row);
    std::string error;
    std::string_view reason;
    if (faulted) {
      // Engines report the site; the reason comes from re-running that one
      // rule in the reference interpreter (faults are rare).
      ir::FaultReason why = fault_reason;
      if (why == ir::FaultReason::None)
        why = policy_->interpreter().eval_rule(static_cast<int>(fault_rule), columns, row).reason;
      error = fault_message(*policy_, fault_rule, fault_site, why);
      reason = ir::fault_reason_name(why);
      ++summary.errors;
      ++summary.error_reasons[std::string(reason)];
    } else {
      ++summary.per_decision[decision];
    }
    std::string_view decision_name = faulted ? std::string_view("error") : policy_->outcome_name(decision);

    if (format_ == OutputFormat::Csv) {
      append_number(out, line);
      out += ',';
      append_csv(out, id);
      out += fmt::format(",{},{},", kind, decision_name);
      for (size_t i = 0; i < fired.size(); ++i) {
        if (i) out += ';';
        out += m.rules[fired[i]].name;
      }
      out += ',';
      out += reason;
      out += ',';
      append_csv(out, error);
      out += '\n';
      continue;
    }
    out += "{\"line\":";
    append_number(out, line);
    out += ",\"id\":";
    append_json_string(out, id);
    out += ",\"kind\":\"";
    out += kind;
    out += "\",\"decision\":\"";
    out += decision_name;
    out += '"';
    if (faulted) {
      out += ",\"reason\":\"";
      out += reason;
      out += "\",\"rule\":";
      append_json_string(out, m.rules[fault_rule].name);
      out += ",\"error\":";
      append_json_string(out, error);
    }
    out += ",\"rules\":[";
    for (size_t i = 0; i < fired.size(); ++i) {
      if (i) out += ',';
      out += rule_prefix_[fired[i]];
      out += ",\"message\":";
      append_json_string(out, messages[i]);
      if (tracer_) append_conditions(out, *tracer_, static_cast<int>(fired[i]), columns, row);
      out += '}';
    }
    out += "]}\n";
  }
}

}  // namespace edict::engine
