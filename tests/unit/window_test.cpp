// Windowed aggregates end to end: JSON lines decoded into batches, the
// windows advanced in input order, rules evaluated by the interpreter and by
// the JIT. Covers agreement of the engines, batch-size independence,
// checkpoint/resume, late events, the state limit and many keys.
#include <fmt/format.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>

#include "engine/decode/decoder.h"
#include "engine/engine.h"
#include "engine/window/window.h"
#include "support/time_util.h"

using namespace edict;

namespace {

const char* kPolicy = R"(
event rent { time: time, customer: string, chip: string, hours: number, count: int, note: string? }

rule heavy on rent
  cite "t"
  review "{sum(event.hours * event.count) over 30d by event.customer} GPU-hours"
  when (sum(event.hours * event.count) over 30d by event.customer where event.chip != "T4") > 5000

rule frequent on rent
  cite "t"
  report
  when (count() over 1d by event.customer) >= 4

rule spread on rent
  cite "t"
  deny
  when ((max(event.count) over 7d where event.note is present) otherwise 0) > 60
    or (count(distinct event.chip) over 2d by event.customer) >= 3
)";

std::unique_ptr<engine::Policy> compile(engine::Backend backend, const char* text = kPolicy) {
  static SourceManager sources;  // outlives the policies of every test
  DiagnosticSink sink;
  engine::CompileOptions options;
  options.backend = backend;
  auto reader = [text](const std::string&, std::string*) -> std::optional<std::string> { return text; };
  auto p = engine::Policy::compile({"window.edict"}, sources, sink, options, reader);
  REQUIRE(p);
  return p;
}

// A stream of `n` rentals over `keys` customers, times rising by up to 2h a
// step with jitter back of up to 50 min (inside the default 1h lateness);
// with `late`, every 97th event is 10h behind (always more than 1h behind the latest).
std::vector<std::string> stream(size_t n, int keys, bool late, uint64_t seed = 7) {
  std::mt19937_64 rng(seed);
  const char* chips[] = {"H100", "A100", "T4", "L40S"};
  std::vector<std::string> lines;
  int64_t clock = *parse_rfc3339("2024-01-01T00:00:00Z");
  for (size_t i = 0; i < n; ++i) {
    clock += static_cast<int64_t>(rng() % 7200) * kMicrosPerSecond;
    int64_t t = clock - static_cast<int64_t>(rng() % 3000) * kMicrosPerSecond;
    if (late && i % 97 == 96) t = clock - 10 * 3600 * kMicrosPerSecond;
    std::string note = rng() % 5 == 0 ? R"(,"note":"n")" : "";
    lines.push_back(
        fmt::format(R"({{"kind":"rent","time":"{}","customer":"c{}","chip":"{}","hours":{},"count":{}{}}})",
                    format_time(t), rng() % static_cast<uint64_t>(keys), chips[rng() % 4],
                    static_cast<double>(rng() % 400) / 4, rng() % 100, note));
  }
  return lines;
}

// `options` with the policy's compiled aggregate inputs (the JIT's), as
// `edict eval` runs them.
window::Options with_inputs(const engine::Policy& p, window::Options options) {
  options.inputs = p.window_inputs();
  return options;
}

// Per line: the decision, the fired rules, or the error reason (and, with
// `messages`, its message).
struct Runner {
  const engine::Policy& policy;
  window::WindowState windows;
  decode::Decoder decoder;
  abi::Batch batch;
  engine::Results results;
  uint64_t line = 0;
  bool messages = false;

  Runner(const engine::Policy& p, uint32_t batch_size, const window::Options& options = {})
      : policy(p),
        windows(p.module(), p.interpreter(), p.schema(), with_inputs(p, options)),
        decoder(p.schema()),
        batch(p.schema(), p.symbols(), batch_size) {
    results.reserve(batch_size, p.module().rules.size());
  }

  void run(const std::vector<std::string>& lines, size_t begin, size_t end, std::vector<std::string>& out) {
    for (size_t i = begin; i < end;) {
      batch.clear();
      for (; i < end && !batch.full(); ++i) {
        std::string padded = lines[i] + std::string(64, '\0');
        decoder.decode(std::string_view(padded.data(), lines[i].size()), padded.size(), ++line, batch);
      }
      windows.advance(batch);
      policy.evaluate(batch, results);
      for (uint32_t r = 0; r < batch.size(); ++r) {
        if (const abi::RowError* e = batch.error_of(r)) {
          out.push_back(std::string("error:") + abi::error_reason_name(e->reason) +
                        (messages ? " " + e->message : ""));
          continue;
        }
        std::string s = policy.outcome_name(results.decision[r]);
        for (size_t k = 0; k < policy.module().rules.size(); ++k)
          if (results.rule_fired(r, k)) s += " " + policy.module().rules[k].name;
        out.push_back(s);
      }
    }
  }
};

std::vector<std::string> run_all(const engine::Policy& p, const std::vector<std::string>& lines,
                                 uint32_t batch_size, const window::Options& options = {}) {
  Runner r(p, batch_size, options);
  std::vector<std::string> out;
  r.run(lines, 0, lines.size(), out);
  return out;
}

size_t count(const std::vector<std::string>& v, const std::string& prefix) {
  size_t n = 0;
  for (const std::string& s : v) n += s.rfind(prefix, 0) == 0;
  return n;
}

}  // namespace

TEST_CASE("windows: interpreter and JIT decide alike, whatever the batch size", "[window]") {
  auto interp = compile(engine::Backend::Interp);
  auto jit = compile(engine::Backend::Jit);
  std::vector<std::string> lines = stream(3000, 40, true);
  std::vector<std::string> a = run_all(*interp, lines, 256);
  std::vector<std::string> b = run_all(*jit, lines, 256);
  std::vector<std::string> c = run_all(*jit, lines, 1);
  REQUIRE(a.size() == lines.size());
  CHECK(a == b);
  CHECK(a == c);
  // The stream exercises every rule and the late-event check.
  CHECK(count(a, "error:late_event") == lines.size() / 97);
  for (const char* rule : {"heavy", "frequent", "spread"}) {
    size_t fired = 0;
    for (const std::string& s : a) fired += s.find(rule) != std::string::npos;
    INFO(rule);
    CHECK(fired > 0);
    CHECK(fired < lines.size());
  }
}

TEST_CASE("windows: a checkpoint in the middle of a stream resumes with identical decisions", "[window]") {
  auto p = compile(engine::Backend::Jit);
  std::vector<std::string> lines = stream(2000, 25, true, 11);
  std::vector<std::string> whole = run_all(*p, lines, 128);
  const std::string path =
      (std::filesystem::temp_directory_path() / fmt::format("edict-window-{}.ckpt", ::getpid())).string();
  for (size_t cut : {size_t{1}, size_t{777}, size_t{1500}}) {
    std::vector<std::string> resumed;
    {
      Runner first(*p, 128);
      first.run(lines, 0, cut, resumed);
      std::string error;
      REQUIRE(first.windows.save(path, {}, &error));
    }
    Runner second(*p, 128);
    std::string error;
    window::InputPosition position;
    const bool loaded = second.windows.load(path, &position, &error);
    INFO(error);
    REQUIRE(loaded);
    CHECK(position.at_end);
    second.run(lines, cut, lines.size(), resumed);
    INFO("cut at " << cut);
    CHECK(resumed == whole);
  }
  std::filesystem::remove(path);
}

// Per line as Runner writes it, advancing the windows over `group` batches
// at a time (as `eval -j N` does a chunk) on `options.threads` threads.
std::vector<std::string> run_grouped(const engine::Policy& p, const std::vector<std::string>& lines,
                                     uint32_t batch_size, size_t group, window::WindowState& windows) {
  decode::Decoder decoder(p.schema());
  std::vector<std::unique_ptr<abi::Batch>> batches;
  engine::Results results;
  results.reserve(batch_size, p.module().rules.size());
  std::vector<std::string> out;
  uint64_t line = 0;
  for (size_t i = 0; i < lines.size();) {
    std::vector<abi::Batch*> chunk;
    for (size_t b = 0; b < group && i < lines.size(); ++b) {
      if (b == batches.size())
        batches.push_back(std::make_unique<abi::Batch>(p.schema(), p.symbols(), batch_size));
      abi::Batch& batch = *batches[b];
      batch.clear();
      for (; i < lines.size() && !batch.full(); ++i) {
        std::string padded = lines[i] + std::string(64, '\0');
        decoder.decode(std::string_view(padded.data(), lines[i].size()), padded.size(), ++line, batch);
      }
      chunk.push_back(&batch);
    }
    windows.advance(chunk);
    for (abi::Batch* batch : chunk) {
      p.evaluate(*batch, results);
      for (uint32_t r = 0; r < batch->size(); ++r) {
        if (const abi::RowError* e = batch->error_of(r)) {
          out.push_back(std::string("error:") + abi::error_reason_name(e->reason) + " " + e->message);
          continue;
        }
        std::string s = p.outcome_name(results.decision[r]);
        for (size_t k = 0; k < p.module().rules.size(); ++k)
          if (results.rule_fired(r, k)) s += " " + p.module().rules[k].name;
        out.push_back(s);
      }
    }
  }
  return out;
}

TEST_CASE("windows: any number of threads decides as one does, through a checkpoint", "[window]") {
  auto p = compile(engine::Backend::Jit);
  std::vector<std::string> lines = stream(6000, 900, true, 13);
  window::Options options = with_inputs(*p, {});
  options.max_events = 700;  // reached: some events are over the limit
  const std::string path =
      (std::filesystem::temp_directory_path() / fmt::format("edict-window-threads-{}.ckpt", ::getpid()))
          .string();
  std::vector<std::string> one;
  std::string saved_by_one;
  for (unsigned threads : {1u, 2u, 3u, 4u}) {
    options.threads = threads;
    window::WindowState first(p->module(), p->interpreter(), p->schema(), options);
    std::vector<std::string> out = run_grouped(
        *p, std::vector<std::string>(lines.begin(), lines.begin() + 3333), 128, threads + 1, first);
    std::string error;
    REQUIRE(first.save(path, {}, &error));
    std::ifstream in(path);
    std::string saved((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    // Resume with another number of threads.
    options.threads = 5 - threads;
    window::WindowState second(p->module(), p->interpreter(), p->schema(), options);
    window::InputPosition position;
    REQUIRE(second.load(path, &position, &error));
    std::vector<std::string> rest =
        run_grouped(*p, std::vector<std::string>(lines.begin() + 3333, lines.end()), 100, 3, second);
    out.insert(out.end(), rest.begin(), rest.end());
    INFO("threads " << threads);
    if (threads == 1) {
      one = out;
      saved_by_one = saved;
      CHECK(count(one, "error:window_state_limit") > 0);
      CHECK(count(one, "error:late_event") > 0);
    }
    CHECK(out == one);
    CHECK(saved == saved_by_one);
  }
  // Unchunked, one batch per advance(), as `eval -j 1` does.
  options.threads = 1;
  std::vector<std::string> plain;
  Runner r(*p, 128, options);
  r.messages = true;
  r.run(lines, 0, lines.size(), plain);
  CHECK(plain == one);
  std::filesystem::remove(path);
}

TEST_CASE("windows: a checkpoint of another policy or a damaged one is refused", "[window]") {
  auto p = compile(engine::Backend::Interp);
  Runner r(*p, 16);
  std::vector<std::string> out;
  std::vector<std::string> lines = stream(300, 7, false, 5);
  r.run(lines, 0, lines.size(), out);
  window::InputPosition position;
  position.at_end = false;
  position.lines = 300;
  position.bytes = 30'000;
  position.crc = 0x1234'5678;
  position.output = "out.jsonl";
  position.output_temp = ".out.jsonl.edict-abcdef";
  position.output_bytes = 4321;
  const std::string file = r.windows.serialize(position);
  // Restored, it saves the same bytes, with its position.
  Runner again(*p, 16);
  window::InputPosition restored;
  std::string error;
  REQUIRE(again.windows.restore(file, "x.ckpt", &restored, &error));
  CHECK(again.windows.serialize(restored) == file);
  CHECK((restored.lines == 300 && restored.crc == 0x1234'5678 &&
         restored.output_temp == position.output_temp && restored.output_bytes == 4321 && !restored.at_end));

  // Another policy's aggregates.
  auto other = compile(engine::Backend::Interp, R"(
event rent { time: time, customer: string }
rule r on rent
  cite "t"
  deny
  when (count() over 2d by event.customer) > 3
)");
  window::WindowState theirs(other->module(), other->interpreter(), other->schema());
  CHECK_FALSE(theirs.restore(file, "x.ckpt", &restored, &error));
  CHECK(error.find("different policy") != std::string::npos);

  // Damage anywhere is caught before anything is restored: the state keeps
  // deciding as it did.
  auto refused = [&](std::string bytes, const char* phrase) {
    Runner fresh(*p, 16);
    std::string why;
    window::InputPosition pos;
    const bool ok = fresh.windows.restore(bytes, "x.ckpt", &pos, &why);
    INFO(phrase << ": " << why);
    CHECK_FALSE(ok);
    CHECK(why.find("x.ckpt") != std::string::npos);
    CHECK(why.find(phrase) != std::string::npos);
  };
  refused(file.substr(0, file.size() - 4), "announces");
  refused(file.substr(0, 10), "header");
  for (size_t at : {size_t{30}, file.size() / 2, file.size() - 1}) {
    std::string flipped = file;
    flipped[at] = static_cast<char>(flipped[at] ^ 0x01);
    refused(flipped, "checksum");
  }
  std::string version = file;
  version[8] = 7;
  refused(version, "format 7");
  refused("edict-window-checkpoint 1\nfingerprint 00\n", "format 1");
}

TEST_CASE("windows: over the state limit an event is an error, and counts again once old ones expire",
          "[window]") {
  auto p = compile(engine::Backend::Interp);
  window::Options options;
  options.max_events = 5;
  options.max_lateness = 0;
  std::vector<std::string> lines;
  // An H100 event without a note enters four windows (the two sums, the count and the
  // distinct count; the max holds only noted events): the first fits the limit of 5, the
  // next two would need 8.
  for (int i = 0; i < 3; ++i)
    lines.push_back(
        fmt::format(R"({{"kind":"rent","time":"2024-01-01T0{}:00:00Z","customer":"c0","chip":"H100",)"
                    R"("hours":1,"count":1}})",
                    i));
  // 40 days later everything held has expired (the longest window is 30d).
  lines.push_back(
      R"({"kind":"rent","time":"2024-02-10T00:00:00Z","customer":"c0","chip":"H100","hours":1,"count":1})");
  std::vector<std::string> out = run_all(*p, lines, 2, options);
  REQUIRE(out.size() == 4);
  CHECK(out[0] == "allow");
  CHECK(out[1] == "error:window_state_limit");
  CHECK(out[2] == "error:window_state_limit");
  CHECK(out[3] == "allow");
}

TEST_CASE("windows: an event beyond the latest acceptable time is an error and moves no clock", "[window]") {
  auto p = compile(engine::Backend::Interp);
  window::Options options;
  options.latest_acceptable = *parse_rfc3339("2030-01-01T00:00:00Z");
  options.max_future = 86'400'000'000;
  auto rent = [](const char* time) {
    return fmt::format(R"({{"kind":"rent","time":"{}","customer":"c0","chip":"H100","hours":1,"count":1}})",
                       time);
  };
  // Without the limit, the 2099 event would make the two after it late.
  std::vector<std::string> lines = {rent("2024-01-01T00:00:00Z"), rent("2099-01-01T00:00:00Z"),
                                    rent("2024-01-01T00:30:00Z"), rent("2024-01-01T01:00:00Z")};
  std::vector<std::string> out = run_all(*p, lines, 3, options);
  REQUIRE(out.size() == 4);
  CHECK(out[1] == "error:future_event");
  CHECK(out[2] == "allow");
  CHECK(out[3] == "allow");
  CHECK(run_all(*p, lines, 3)[2] == "error:late_event");
  // A checkpoint whose latest time is beyond the limit is refused.
  Runner r(*p, 4);
  std::vector<std::string> ignored;
  r.run(lines, 0, 2, ignored);
  const std::string file = r.windows.serialize({});
  Runner strict(*p, 4, options);
  window::InputPosition position;
  std::string error;
  CHECK_FALSE(strict.windows.restore(file, "c.ckpt", &position, &error));
  CHECK(error.find("--max-future") != std::string::npos);
}

TEST_CASE("windows: a row failed by the windows before one failed by decoding keeps its reason", "[window]") {
  // The decoder fails line 3 before the window stage fails line 2 (late):
  // both errors must be found by row.
  auto p = compile(engine::Backend::Jit);
  std::vector<std::string> lines = {
      R"({"kind":"rent","time":"2024-01-01T10:00:00Z","customer":"c0","chip":"H100","hours":1,"count":1})",
      R"({"kind":"rent","time":"2024-01-01T01:00:00Z","customer":"c0","chip":"H100","hours":1,"count":1})",
      R"({"kind":"rent", bad)",
  };
  std::vector<std::string> out = run_all(*p, lines, 8);
  REQUIRE(out.size() == 3);
  CHECK(out[0].rfind("error", 0) != 0);
  CHECK(out[1] == "error:late_event");
  CHECK(out[2] == "error:invalid_json");
}

TEST_CASE("windows: many keys are held apart and expire", "[window]") {
  auto p = compile(engine::Backend::Jit);
  std::vector<std::string> lines = stream(20000, 5000, false, 3);
  Runner r(*p, 1024);
  std::vector<std::string> out;
  r.run(lines, 0, lines.size(), out);
  CHECK(count(out, "error:") == 0);
  window::Stats s = r.windows.stats();
  // Times rise by 1h on average, so 30 days hold about 720 events and the five windows
  // (30d, 30d, 1d, 2d, 7d) under 1,600 live entries; held ones stay under twice that plus
  // the first sweep's 1,024, far below the 80,000 a state without expiry would hold.
  CHECK(s.events > 0);
  CHECK(s.events < 2 * 1600 + 1024);
  CHECK(s.keys <= s.events);
  CHECK(s.bytes >= s.events * window::kEntryBytes);
  // Allocated memory follows the held events and live keys (a slot of about 200 bytes
  // with its index and spare capacity for each), not the 80,000 events seen (1.28 MB of
  // entries alone).
  INFO("bytes " << s.bytes);
  CHECK(s.bytes < (2 * 1600 + 1024) * 200);
}

TEST_CASE("windows: a batch that skipped the window stage fails closed on both engines", "[window]") {
  for (engine::Backend backend : {engine::Backend::Interp, engine::Backend::Jit}) {
    auto p = compile(backend);
    std::vector<std::string> lines = stream(50, 5, false);
    decode::Decoder decoder(p->schema());
    abi::Batch batch(p->schema(), p->symbols(), 64);
    for (size_t i = 0; i < lines.size(); ++i) {
      std::string padded = lines[i] + std::string(64, '\0');
      decoder.decode(std::string_view(padded.data(), lines[i].size()), padded.size(), i + 1, batch);
    }
    engine::Results results;
    results.reserve(64, p->module().rules.size());
    p->evaluate(batch, results);  // no WindowState::advance
    for (uint32_t r = 0; r < batch.size(); ++r) {
      INFO("row " << r);
      CHECK(batch.error_of(r) == nullptr);
      CHECK(results.decision[r] == EDICT_DECISION_ERROR);
    }
  }
}

TEST_CASE("windows: recorded members are the events each value was computed over", "[window]") {
  auto p = compile(engine::Backend::Jit);
  const ir::Module& m = p->module();
  // `count() over 1d by event.customer`: its value is the number of members.
  int counting = -1;
  for (size_t a = 0; a < m.aggregates.size(); ++a)
    if (m.aggregates[a].fn == ir::AggFn::Count && m.aggregates[a].key != ir::Ty::Void)
      counting = static_cast<int>(a);
  REQUIRE(counting >= 0);
  const ir::AggregateInput& in = m.aggregates[static_cast<size_t>(counting)].inputs.at(0);
  const int column =
      p->schema().kinds.at(static_cast<size_t>(in.event)).fields.at(static_cast<size_t>(in.field)).column;

  std::vector<std::string> lines = stream(1200, 6, true, 5);
  window::Options recording;
  recording.record_members = true;
  // Recording changes no decision.
  CHECK(run_all(*p, lines, 100, recording) == run_all(*p, lines, 100));

  const std::string path =
      (std::filesystem::temp_directory_path() / fmt::format("edict-members-{}.ckpt", ::getpid())).string();
  {
    std::vector<std::string> ignored;
    Runner first(*p, 100, recording);
    first.run(lines, 0, 600, ignored);
    std::string error;
    REQUIRE(first.windows.save(path, {}, &error));
  }
  Runner r(*p, 100, recording);
  std::string error;
  window::InputPosition position;
  REQUIRE(r.windows.load(path, &position, &error));
  std::filesystem::remove(path);
  size_t checked = 0, restored = 0;
  for (size_t i = 600; i < lines.size();) {
    r.batch.clear();
    for (; i < lines.size() && !r.batch.full(); ++i) {
      std::string padded = lines[i] + std::string(64, '\0');
      r.decoder.decode(std::string_view(padded.data(), lines[i].size()), padded.size(), i + 1, r.batch);
    }
    r.windows.advance(r.batch);
    for (uint32_t row = 0; row < r.batch.size(); ++row) {
      const window::Members* ms = r.windows.members(r.batch, row, counting);
      if (r.batch.error_of(row)) {
        CHECK(ms == nullptr);  // a rejected event has no value
        continue;
      }
      REQUIRE(ms);
      const uint64_t value = r.batch.column(static_cast<size_t>(column)).data<uint64_t>()[row];
      CHECK(ms->count == value);
      CHECK(ms->first.size() + ms->last.size() == std::min<uint64_t>(value, 2 * window::kMembersShown));
      // Members are in time order, within the day up to the event, and
      // come from earlier lines (or the checkpoint).
      const int64_t t = *parse_rfc3339(std::string(
          lines[r.batch.line(row) - 1].substr(lines[r.batch.line(row) - 1].find("\"time\":\"") + 8, 20)));
      std::vector<window::Member> all = ms->first;
      all.insert(all.end(), ms->last.begin(), ms->last.end());
      for (size_t k = 0; k < all.size(); ++k) {
        CHECK(all[k].time <= t);
        CHECK(all[k].time > t - 86'400 * kMicrosPerSecond);
        if (k) CHECK(all[k - 1].time <= all[k].time);
        if (all[k].line == 0) {
          ++restored;  // from the checkpoint: no line or id
          CHECK(all[k].id.empty());
        } else {
          CHECK(all[k].line <= r.batch.line(row));
        }
      }
      ++checked;
    }
  }
  CHECK(checked > 400);
  CHECK(restored > 0);
}

// Per-key state as the window stage lays it out: long keys (sharing their
// first 24 bytes) and short ones, rings that grow past the pooled sizes, wrap
// and take out-of-order events, keys emptied by a gap and added again.
const char* kRecountPolicy = R"(
event rent { time: time, customer: string, chip: string, hours: number, count: int, note: string? }

rule recount on rent
  cite "t"
  report
  when (sum(event.count) over 2d by event.customer) > 0 and (count() over 1d by event.customer) > 0
)";

TEST_CASE("windows: values equal a direct recount of the events in each window", "[window]") {
  auto p = compile(engine::Backend::Jit, kRecountPolicy);
  const ir::Module& m = p->module();
  REQUIRE(m.aggregates.size() == 2);
  std::mt19937_64 rng(11);
  struct Event {
    int64_t time;
    std::string customer;
    int64_t count;
  };
  std::vector<Event> events;
  std::vector<std::string> lines;
  int64_t clock = *parse_rfc3339("2024-03-01T00:00:00Z");
  for (size_t i = 0; i < 3000; ++i) {
    clock += static_cast<int64_t>(rng() % 1200) * kMicrosPerSecond;
    if (i == 1500) clock += 5 * 86'400 * kMicrosPerSecond;  // every window empties
    // Up to 50 minutes back: inside the default 1h lateness, so every event counts.
    const int64_t t = clock - static_cast<int64_t>(rng() % 3000) * kMicrosPerSecond;
    const uint64_t k = rng() % 6;
    std::string customer = k < 3 ? fmt::format("customer-with-a-long-id-{:04}", k) : fmt::format("c{}", k);
    const int64_t n = static_cast<int64_t>(rng() % 100);
    events.push_back({t, customer, n});
    lines.push_back(
        fmt::format(R"({{"kind":"rent","time":"{}","customer":"{}","chip":"H100","hours":1,"count":{}}})",
                    format_time(t), customer, n));
  }
  // The value each event must get: its key's events that arrived up to it
  // with times in (t - window, t].
  auto recount = [&](size_t i, const ir::Aggregate& agg) {
    int64_t v = 0;
    for (size_t j = 0; j <= i; ++j)
      if (events[j].customer == events[i].customer && events[j].time <= events[i].time &&
          events[j].time > events[i].time - agg.window)
        v += agg.fn == ir::AggFn::Sum ? events[j].count : 1;
    return v;
  };
  for (unsigned threads : {1u, 2u}) {
    window::Options options;
    options.threads = threads;
    window::WindowState windows(m, p->interpreter(), p->schema(), with_inputs(*p, options));
    decode::Decoder decoder(p->schema());
    abi::Batch batch(p->schema(), p->symbols(), 97);
    size_t checked = 0;
    for (size_t i = 0; i < lines.size();) {
      const size_t first = i;
      batch.clear();
      for (; i < lines.size() && !batch.full(); ++i) {
        std::string padded = lines[i] + std::string(64, '\0');
        decoder.decode(std::string_view(padded.data(), lines[i].size()), padded.size(), i + 1, batch);
      }
      windows.advance(batch);
      for (uint32_t row = 0; row < batch.size(); ++row) {
        REQUIRE(batch.error_of(row) == nullptr);
        for (const ir::Aggregate& agg : m.aggregates) {
          const ir::AggregateInput& in = agg.inputs.at(0);
          const int column = p->schema()
                                 .kinds.at(static_cast<size_t>(in.event))
                                 .fields.at(static_cast<size_t>(in.field))
                                 .column;
          const int64_t value =
              static_cast<int64_t>(batch.column(static_cast<size_t>(column)).data<uint64_t>()[row]);
          INFO("threads " << threads << ", line " << first + row + 1 << ", " << agg.text);
          CHECK(value == recount(first + row, agg));
          ++checked;
        }
      }
    }
    CHECK(checked == 2 * lines.size());
    CHECK(windows.stats().keys <= 2 * 6);  // per aggregate
  }
}

// Inputs that fault: the key overflows for counts from 93 on, the filter
// divides by zero at 10 hours, the operand overflows for counts up to 7.
const char* kFaultingPolicy = R"(
event rent { time: time, customer: string, chip: string, hours: number, count: int, note: string? }

rule keyed on rent
  cite "t"
  report
  when (count() over 1d by event.count * 100000000000000000) >= 2

rule filtered on rent
  cite "t"
  review
  when (sum(event.hours) over 1d by event.customer where event.hours / (event.hours - 10) > 1) > 300

rule summed on rent
  cite "t"
  deny
  when (sum((event.count - 100) * 99999999999999999) over 1d by event.chip where event.note is present) < 0
)";

TEST_CASE("windows: compiled aggregate inputs give the interpreter's values and faults", "[window]") {
  auto interp = compile(engine::Backend::Interp, kFaultingPolicy);
  auto jit = compile(engine::Backend::Jit, kFaultingPolicy);
  CHECK(interp->window_inputs().function == nullptr);
  REQUIRE(jit->window_inputs().function != nullptr);
  // keyed: key; filtered and summed: key, filter and operand.
  CHECK(jit->window_inputs().functions.size() == 7);
  std::vector<std::string> lines = stream(3000, 30, true, 5);
  auto run = [&](const engine::Policy& p, uint32_t batch_size) {
    Runner r(p, batch_size);
    r.messages = true;
    std::vector<std::string> out;
    r.run(lines, 0, lines.size(), out);
    return out;
  };
  std::vector<std::string> a = run(*interp, 256);
  std::vector<std::string> b = run(*jit, 256);
  std::vector<std::string> c = run(*jit, 7);
  REQUIRE(a.size() == lines.size());
  CHECK(a == b);
  CHECK(a == c);
  // Every kind of input fault happened, with its source position.
  CHECK(count(a, "error:integer_overflow") > 0);
  CHECK(count(a, "error:division_by_zero") > 0);
  size_t with_position = 0;
  for (const std::string& s : a)
    with_position += s.find("while computing the windowed aggregate") != std::string::npos &&
                     s.find("window.edict:") != std::string::npos;
  CHECK(with_position > 0);
  CHECK(count(a, "error:") < lines.size());
}

TEST_CASE("windows: compiled inputs too large to if-convert agree with the interpreter", "[window]") {
  // A filter of a few hundred instructions keeps its branches in the
  // compiled code; it divides by zero where the hours equal a term's constant.
  std::string filter;
  for (int i = 0; i < 40; ++i)
    filter += fmt::format("{}(event.hours / (event.hours - {}.0) > 0.5 and event.count < {})",
                          i ? " or " : "", i, i);
  static const std::string text = fmt::format(R"(
event rent {{ time: time, customer: string, chip: string, hours: number, count: int, note: string? }}

rule big on rent
  cite "t"
  review
  when (sum(event.count) over 30d by event.customer where {}) > 200
)",
                                              filter);
  auto interp = compile(engine::Backend::Interp, text.c_str());
  auto jit = compile(engine::Backend::Jit, text.c_str());
  REQUIRE(jit->window_inputs().function != nullptr);
  std::vector<std::string> lines = stream(2000, 20, false, 9);
  auto run = [&](const engine::Policy& p) {
    Runner r(p, 128);
    r.messages = true;
    std::vector<std::string> out;
    r.run(lines, 0, lines.size(), out);
    return out;
  };
  std::vector<std::string> a = run(*interp);
  CHECK(a == run(*jit));
  CHECK(count(a, "error:division_by_zero") > 0);
  CHECK(count(a, "review") > 0);
}

TEST_CASE("windows: a calendar-year window starts again at the UTC new year, in both engines", "[window]") {
  const char* policy = R"(
event rent { time: time, customer: string, chip: string, hours: number, count: int, note: string? }

rule yearly_cap on rent
  cite "t"
  review
  when (sum(event.count) over calendar year by event.customer) > 100

rule rolling on rent
  cite "t"
  report
  when (sum(event.count) over 365d by event.customer) > 100
)";
  auto line = [](const char* time, const char* customer, int count) {
    return fmt::format(R"({{"kind":"rent","time":"{}","customer":"{}","chip":"H100","hours":1,"count":{}}})",
                       time, customer, count);
  };
  std::vector<std::string> lines = {
      line("2024-02-29T12:00:00Z", "a", 60),   // 60 this year
      line("2024-12-31T23:59:59Z", "a", 41),   // 101 in 2024: over the cap
      line("2024-12-31T23:59:59Z", "b", 101),  // another key, alone over it
      line("2025-01-01T00:00:00Z", "a", 1),    // a new year: 1; the last 365 days: 102
      line("2025-06-01T00:00:00Z", "a", 100),  // 101 in 2025
      line("2026-01-01T00:00:00Z", "a", 100),  // 100 in 2026: at the cap, not over it
  };
  const std::vector<std::string> expected = {
      "allow",          "review yearly_cap rolling", "review yearly_cap rolling",
      "report rolling", "review yearly_cap rolling", "report rolling",
  };
  for (engine::Backend backend : {engine::Backend::Interp, engine::Backend::Jit}) {
    auto p = compile(backend, policy);
    INFO((backend == engine::Backend::Jit ? "jit" : "interp"));
    CHECK(run_all(*p, lines, 256) == expected);
    CHECK(run_all(*p, lines, 1) == expected);
  }
}

TEST_CASE("windows: only `calendar year` names a window", "[window]") {
  static SourceManager sources;
  DiagnosticSink sink;
  engine::CompileOptions options;
  const char* text = R"(
event rent { time: time, customer: string }
rule r on rent
  cite "t"
  review
  when (count() over calendar month by event.customer) > 1
)";
  auto reader = [text](const std::string&, std::string*) -> std::optional<std::string> { return text; };
  auto p = engine::Policy::compile({"bad_window.edict"}, sources, sink, options, reader);
  CHECK_FALSE(p);
  bool found = false;
  for (const Diagnostic& d : sink.all())
    found = found || (d.code == "E0291" && d.message.find("calendar month") != std::string::npos);
  CHECK(found);
}
