// `edict eval --replay LOG POLICY...`: the auditor's check. Every record of
// a decision log (`edict serve --decision-log`; each line an audit record
// with the event it decided, docs/operations.md; log schemas 1 and 2) is
// decided again, in log
// order, through the same Stream and record writer as `eval`, and every
// decision that differs (outcome or fired rules) is reported as one JSON
// line on standard output; a summary goes to standard error.
#include <fmt/format.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "cli/commands.h"
#include "cli/tooling.h"
#include "engine/audit.h"
#include "engine/decode/decoder.h"
#include "engine/output.h"
#include "engine/stream.h"

namespace edict::cli {
namespace {

struct Logged {
  uint64_t log_line = 0;
  nlohmann::json record;
  std::string event;
};

std::string unbase64(const std::string& s) {
  std::string out;
  uint32_t v = 0;
  int bits = 0;
  for (char c : s) {
    const char* at = std::strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", c);
    if (c == '=' || !at || c == '\0') break;
    v = (v << 6) |
        static_cast<uint32_t>(at - "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/");
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((v >> bits) & 0xFF);
    }
  }
  return out;
}

// The highest decision log schema this reader knows (`log_schema`; a line
// without it is schema 1, where every event is a JSON string).
constexpr int kKnownLogSchema = 2;

// The end of the JSON value starting at `at` in `line` (valid JSON: the
// line parsed): strings are skipped whole, brackets counted.
size_t value_end(std::string_view line, size_t at) {
  int depth = 0;
  for (size_t i = at; i < line.size(); ++i) {
    const char c = line[i];
    if (c == '"') {
      for (++i; i < line.size() && line[i] != '"'; ++i)
        if (line[i] == '\\') ++i;
      if (depth == 0) return i + 1;
    } else if (c == '{' || c == '[') {
      ++depth;
    } else if (c == '}' || c == ']') {
      if (--depth == 0) return i + 1;
      if (depth < 0) return i;
    } else if (depth == 0 && (c == ',' || c == ' ' || c == '\t')) {
      return i;
    }
  }
  return line.size();
}

// The text of the top-level `"event"` value of a log line, as it lies in
// the line (a schema 2 line embeds the event's bytes as received): the
// record's fields are walked key by key, so an `event` key inside another
// value is not taken for it.
std::string_view raw_event(std::string_view line) {
  size_t i = line.find('{');
  while (i != std::string_view::npos && i < line.size()) {
    i = line.find('"', i + 1);  // the next key
    if (i == std::string_view::npos) break;
    const size_t key_end = value_end(line, i);
    const std::string_view key = line.substr(i, key_end - i);
    const size_t value = line.find_first_not_of(" \t:", key_end);
    if (value == std::string_view::npos) break;
    const size_t end = value_end(line, value);
    if (key == "\"event\"") return line.substr(value, end - value);
    i = line.find(',', end);
  }
  return {};
}

// What a comparison looks at: the decision and the fired rules' names.
nlohmann::json verdict(const nlohmann::json& r) {
  nlohmann::json rules = nlohmann::json::array();
  if (r.contains("rules"))
    for (const auto& rule : r["rules"]) rules.push_back(rule.value("name", ""));
  return {{"decision", r.value("decision", "")}, {"reason", r.value("reason", "")}, {"rules", rules}};
}

// The event a log line holds: `"event":{...}` (log schema 2: the bytes as
// received), `"event":"..."` (its text as a string) or `"event_base64"`;
// false when the line holds none of them or a schema this reader does not know.
bool logged_event(const std::string& text, const nlohmann::json& record, std::string& event,
                  std::string& why) {
  if (!record.is_object()) return why = "is not a decision log record", false;
  const nlohmann::json schema = record.value("log_schema", nlohmann::json(1));
  if (!schema.is_number_integer() || schema.get<int>() < 1 || schema.get<int>() > kKnownLogSchema)
    return why = fmt::format("has log_schema {}, which this Edict does not read (it reads 1 to {})",
                             schema.dump(), kKnownLogSchema),
           false;
  const auto found = record.find("event");
  if (found != record.end() && found->is_string()) return event = found->get<std::string>(), true;
  if (found != record.end() && found->is_object() && schema.get<int>() >= 2) {
    event = raw_event(text);
    return !event.empty() || (why = "has an event whose text cannot be found", false);
  }
  const auto encoded = record.find("event_base64");
  if (encoded != record.end() && encoded->is_string())
    return event = unbase64(encoded->get<std::string>()), true;
  return why = "is not a decision log record with its event", false;
}

}  // namespace

int run_replay(const EvalOptions& o) {
  SourceManager sources;
  auto policy = load_policy(o.inputs, o.engine == "interp" ? engine::Backend::Interp : engine::Backend::Jit,
                            o.limits, sources, o.opt_level);
  if (!policy) return kExitUsage;
  std::ifstream in(o.replay, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "edict: cannot read the decision log `%s`\n", o.replay.c_str());
    return kExitUsage;
  }
  std::vector<Logged> logged;
  uint64_t number = 0;
  for (std::string text; std::getline(in, text);) {
    ++number;
    nlohmann::json record = nlohmann::json::parse(text, nullptr, false);
    std::string event, why = "is not JSON";
    if (record.is_discarded() || !logged_event(text, record, event, why)) {
      std::fprintf(stderr, "edict: `%s` line %llu %s\n", o.replay.c_str(),
                   static_cast<unsigned long long>(number), why.c_str());
      return kExitUsage;
    }
    logged.push_back({number, std::move(record), std::move(event)});
  }

  // The events, one padded line each, decided again in log order.
  std::string padded;
  for (const Logged& l : logged) {
    padded += l.event;
    padded.append(decode::kLinePadding, '\0');
  }
  std::vector<decode::Line> lines;
  size_t at = 0;
  for (const Logged& l : logged) {
    lines.push_back(decode::Line{std::string_view(padded.data() + at, l.event.size()), padded.size() - at,
                                 lines.size() + 1, 0});
    at += l.event.size() + decode::kLinePadding;
  }
  engine::AuditOptions audit_options;
  audit_options.decision_time = false;
  engine::AuditStamp stamp(*policy, audit_options);
  engine::RecordWriter writer(*policy, engine::OutputFormat::Jsonl);
  writer.audit_with(&stamp);
  engine::StreamOptions stream_options;
  stream_options.max_line_bytes = std::max<size_t>(o.max_line_bytes, 1);
  engine::Stream stream(*policy, stream_options);
  std::string records;
  engine::RecordSink sink(writer, stream.lanes(), [&](std::string_view r) {
    records += r;
    return true;
  });
  stream.process(lines, sink);

  uint64_t differ = 0, other_policy = 0, unheld = 0;
  size_t pos = 0;
  for (const Logged& l : logged) {
    const size_t end = records.find('\n', pos);
    const nlohmann::json now = nlohmann::json::parse(records.substr(pos, end - pos));
    pos = end + 1;
    if (l.record.value("policy_hash", "") != stamp.policy_hash()) ++other_policy;
    const nlohmann::json was = verdict(l.record), is = verdict(now);
    if (was["reason"] == "line_too_long") {
      ++unheld;  // the server never held the line's text, so it cannot be decided again
      continue;
    }
    if (was == is) continue;
    ++differ;
    nlohmann::json out = {{"log_line", l.log_line},
                          {"decision_id", l.record.value("decision_id", "")},
                          {"id", l.record.value("id", "")},
                          {"logged", was},
                          {"now", is}};
    std::fputs((out.dump() + "\n").c_str(), stdout);
  }
  std::fprintf(stderr, "edict eval --replay: %s decisions replayed against %s, %s differ%s%s\n",
               engine::with_commas(logged.size() - unheld).c_str(), stamp.policy_hash().c_str(),
               engine::with_commas(differ).c_str(),
               unheld ? fmt::format(" ({} line_too_long records not replayable: their text was never held)",
                                    engine::with_commas(unheld))
                            .c_str()
                      : "",
               other_policy ? fmt::format(" ({} were logged under another policy hash)",
                                          engine::with_commas(other_policy))
                                  .c_str()
                            : "");
  return differ ? kExitFindings : kExitOk;
}

}  // namespace edict::cli
