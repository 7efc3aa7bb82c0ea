// `edict eval --replay LOG POLICY...`: the auditor's check. Every record of
// a decision log (`edict serve --decision-log`; each line an audit record
// with the event it decided, docs/operations.md) is decided again, in log
// order, through the same Stream and record writer as `eval`, and every
// decision that differs (outcome or fired rules) is reported as one JSON
// line on standard output; a summary goes to standard error.
#include <fmt/format.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
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

// What a comparison looks at: the decision and the fired rules' names.
nlohmann::json verdict(const nlohmann::json& r) {
  nlohmann::json rules = nlohmann::json::array();
  if (r.contains("rules"))
    for (const auto& rule : r["rules"]) rules.push_back(rule.value("name", ""));
  return {{"decision", r.value("decision", "")}, {"reason", r.value("reason", "")}, {"rules", rules}};
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
    const bool plain = record.is_object() && record.contains("event") && record["event"].is_string();
    const bool encoded =
        record.is_object() && record.contains("event_base64") && record["event_base64"].is_string();
    if (record.is_discarded() || !(plain || encoded)) {
      std::fprintf(stderr, "edict: `%s` line %llu is not a decision log record with its event\n",
                   o.replay.c_str(), static_cast<unsigned long long>(number));
      return kExitUsage;
    }
    std::string event =
        plain ? record["event"].get<std::string>() : unbase64(record["event_base64"].get<std::string>());
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
