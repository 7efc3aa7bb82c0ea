// `edict stream --audit`: "exactly one decision per event", checked from the
// streams themselves. Every event message of the events stream must have
// its decision records in the decisions stream exactly once (every part
// once, none twice), one record per line, and the records' event ids must be
// the lines' ids in order.
#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "stream/jetstream.h"
#include "stream/nats_session.h"
#include "support/atomic_file.h"

namespace edict::stream {
namespace {

// Each line's (or record's) `id` field; a trailing newline ends the last one.
std::vector<std::string> ids_of(std::string_view payload) {
  std::vector<std::string> ids;
  size_t begin = 0;
  while (begin < payload.size()) {
    size_t end = payload.find('\n', begin);
    if (end == std::string_view::npos) end = payload.size();
    ids.emplace_back(field_text(payload.substr(begin, end - begin), "id"));
    begin = end + 1;
  }
  return ids;
}

struct DecisionParts {
  unsigned total = 0;
  std::map<unsigned, std::vector<std::string>> parts;  // part number -> records' ids
  std::map<unsigned, std::string> texts;               // part number -> records (--export only)
};

struct Problems {
  uint64_t count = 0;
  std::vector<std::string> examples;
  void add(std::string what) {
    if (examples.size() < 10) examples.push_back(std::move(what));
    ++count;
  }
};

// Calls `each(seq, msg)` for every message of `stream`; false on a read error.
template <class Each>
bool read_stream(jsCtx* js, const std::string& stream, Each&& each, std::string* error) {
  jsStreamInfo* info = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  natsStatus s = js_GetStreamInfo(&info, js, stream.c_str(), nullptr, &code);
  if (s != NATS_OK) {
    *error = nats_error(fmt::format("cannot look up the stream `{}`", stream), s, code);
    return false;
  }
  const uint64_t first = info->State.FirstSeq, last = info->State.LastSeq, msgs = info->State.Msgs;
  jsStreamInfo_Destroy(info);
  for (uint64_t seq = first; msgs > 0 && seq <= last; ++seq) {
    natsMsg* msg = nullptr;
    code = static_cast<jsErrCode>(0);
    s = js_GetMsg(&msg, js, stream.c_str(), seq, nullptr, &code);
    if (s == NATS_NOT_FOUND) continue;  // deleted
    if (s != NATS_OK) {
      *error = nats_error(fmt::format("cannot read message {} of `{}`", seq, stream), s, code);
      return false;
    }
    each(seq, msg);
    natsMsg_Destroy(msg);
  }
  return true;
}

struct Tally {
  uint64_t decided = 0, undecided = 0, records = 0;
};

// Every event message against its decision records: each part once, one
// record per line, the same ids in order; and no records for absent events.
Tally compare(const std::map<uint64_t, std::vector<std::string>>& events,
              const std::map<uint64_t, DecisionParts>& decisions, Problems& problems) {
  Tally t;
  for (const auto& [seq, ids] : events) {
    auto it = decisions.find(seq);
    if (it == decisions.end()) {
      t.undecided += ids.size();
      problems.add(fmt::format("event message {} ({} events) has no decision records", seq, ids.size()));
      continue;
    }
    std::vector<std::string> got;
    for (unsigned k = 1; k <= it->second.total; ++k) {
      auto part = it->second.parts.find(k);
      if (part == it->second.parts.end()) {
        problems.add(fmt::format("event message {}: part {} of {} of its decisions is missing", seq, k,
                                 it->second.total));
        continue;
      }
      got.insert(got.end(), part->second.begin(), part->second.end());
    }
    t.records += got.size();
    // A record without an id (a line that did not decode) stands for its line.
    auto same = [&](size_t i) { return got[i].empty() || got[i] == ids[i]; };
    size_t i = 0;
    while (i < got.size() && i < ids.size() && same(i)) ++i;
    if (i < got.size() || i < ids.size()) {
      problems.add(fmt::format(
          "event message {}: {} events but {} decision records; they first differ at line {} "
          "(event `{}`, record `{}`)",
          seq, ids.size(), got.size(), i + 1, i < ids.size() ? ids[i] : "", i < got.size() ? got[i] : ""));
      continue;
    }
    t.decided += ids.size();
  }
  for (const auto& [seq, d] : decisions)
    if (!events.count(seq)) {
      problems.add(
          fmt::format("decision records for event message {}, which the events stream does not hold", seq));
      for (const auto& [k, ids] : d.parts) t.records += ids.size();
    }
  return t;
}

}  // namespace

int run_audit(const AuditOptions& o) {
  std::string error;
  Session session;
  if (!session.open(o.target, "edict stream --audit", 1, nullptr, nullptr, &error)) {
    std::fprintf(stderr, "edict: %s\n", error.c_str());
    return kUsage;
  }
  std::map<uint64_t, std::vector<std::string>> events;  // event sequence -> its lines' ids
  uint64_t event_count = 0;
  if (!read_stream(
          session.js(), o.target.events_stream,
          [&](uint64_t seq, natsMsg* msg) {
            // A line too long to carry is one event without an id.
            auto ids = header_of(msg, "Edict-Too-Long").empty()
                           ? ids_of(std::string_view(natsMsg_GetData(msg), natsMsg_GetDataLength(msg)))
                           : std::vector<std::string>{""};
            event_count += ids.size();
            events[seq] = std::move(ids);
          },
          &error)) {
    std::fprintf(stderr, "edict: %s\n", error.c_str());
    return kUsage;
  }
  Problems problems;
  std::map<std::string, std::map<uint64_t, DecisionParts>> by_policy;
  if (!read_stream(
          session.js(), o.target.decisions_stream,
          [&](uint64_t seq, natsMsg* msg) {
            const std::string policy = header_of(msg, "Edict-Policy-Hash");
            const uint64_t event_seq = std::strtoull(header_of(msg, "Edict-Event-Seq").c_str(), nullptr, 10);
            unsigned part = 0, total = 0;
            if (std::sscanf(header_of(msg, "Edict-Part").c_str(), "%u/%u", &part, &total) != 2 || part == 0 ||
                part > total || event_seq == 0) {
              problems.add(
                  fmt::format("decision message {} lacks its Edict-Event-Seq or Edict-Part header", seq));
              return;
            }
            if (!o.policy_hash.empty() && policy != o.policy_hash) return;
            DecisionParts& d = by_policy[policy][event_seq];
            d.total = total;
            if (d.parts.count(part)) {
              problems.add(
                  fmt::format("event message {}: part {} of its decisions is stored twice (decision "
                              "message {})",
                              event_seq, part, seq));
              return;
            }
            const std::string_view records(natsMsg_GetData(msg), natsMsg_GetDataLength(msg));
            d.parts[part] = ids_of(records);
            if (!o.export_path.empty()) d.texts[part] = records;
          },
          &error)) {
    std::fprintf(stderr, "edict: %s\n", error.c_str());
    return kUsage;
  }
  if (by_policy.size() > 1) {
    std::string hashes;
    for (const auto& [hash, _] : by_policy) hashes += "\n  " + hash;
    std::fprintf(
        stderr, "edict: the decisions stream holds records of %zu policies; name one with --policy-hash:%s\n",
        by_policy.size(), hashes.c_str());
    return kUsage;
  }
  const std::string policy = by_policy.empty() ? o.policy_hash : by_policy.begin()->first;
  std::map<uint64_t, DecisionParts> none;
  std::map<uint64_t, DecisionParts>& decisions = by_policy.empty() ? none : by_policy.begin()->second;
  const Tally tally = compare(events, decisions, problems);
  const uint64_t decided = tally.decided, undecided = tally.undecided, records = tally.records;
  if (!o.export_path.empty()) {
    std::unique_ptr<AtomicFile> out = AtomicFile::create(o.export_path, &error);
    bool ok = out != nullptr;
    for (const auto& [seq, d] : decisions)
      for (const auto& [k, text] : d.texts) ok = ok && out->write(text);
    if (!ok || !out->commit(&error)) {
      std::fprintf(stderr, "edict: cannot write `%s`: %s\n", o.export_path.c_str(),
                   error.empty() ? "a write failed" : error.c_str());
      return kUsage;
    }
  }
  if (!o.quiet || problems.count > 0) {
    std::fprintf(
        stdout,
        "edict stream --audit: %llu events in %zu messages of `%s`; %llu decision records of %s in `%s`; "
        "%llu events decided exactly once, %llu undecided; %llu problems\n",
        static_cast<unsigned long long>(event_count), events.size(), o.target.events_stream.c_str(),
        static_cast<unsigned long long>(records), policy.empty() ? "no policy" : policy.c_str(),
        o.target.decisions_stream.c_str(), static_cast<unsigned long long>(decided),
        static_cast<unsigned long long>(undecided), static_cast<unsigned long long>(problems.count));
    for (const std::string& p : problems.examples) std::fprintf(stdout, "  %s\n", p.c_str());
    if (problems.count > problems.examples.size())
      std::fprintf(stdout, "  ... and %llu more\n",
                   static_cast<unsigned long long>(problems.count - problems.examples.size()));
  }
  return problems.count == 0 && decided == event_count ? kOk : kAuditFailed;
}

}  // namespace edict::stream
