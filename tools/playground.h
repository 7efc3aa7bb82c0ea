// The browser playground's requests, independent of HTTP (server/ carries
// them): check a policy the user typed, run its tests, explain events,
// diff two versions over a sample log. Each takes and returns JSON text and
// reuses what `check`, `test`, `explain` and `diff` run (the front end,
// run_tests, the Tracer, DecisionDiff over engine::Stream).
//
// What a request may read: the user's text (a virtual file in the library
// folder, so `import "common/chips.edict.md"` works) and, through imports,
// the library folder's files, nothing else (the loader confines imports to
// the root file's folder; a user file declaring `data` is refused, since a
// data source names a file to read).
#pragma once

#include <cstddef>
#include <string>

namespace edict::tools {

struct PlaygroundLimits {
  size_t max_policy_bytes = 256 * 1024;  // one version of the user's policy
  size_t max_events_bytes = 1 << 20;     // pasted events or sample log
  size_t max_events = 10'000;
  // Wall time for one request's evaluation (events explained or diffed,
  // test steps run), checked after each event or step; past it the request
  // stops with a 400 saying how far it got. `check` evaluates nothing: its
  // time is bounded by max_policy_bytes.
  double max_seconds = 10;
};

struct PlaygroundReply {
  int status = 200;  // HTTP status: 200, or 400 for a request that is not understood
  std::string json;
};

class Playground {
 public:
  // `library` is the folder of shipped policies imports may read (made absolute).
  explicit Playground(std::string library, PlaygroundLimits limits = {});

  // `endpoint`: `check`, `test`, `explain` or `diff`; `body` a JSON object
  // ({policy}, {policy}, {policy, events}, {old, new, events}). A policy
  // text with a fenced ```edict block is literate markdown, compiled as
  // `playground.edict.md` (an optional boolean `literate` says which); the
  // reply's `file` names the file its diagnostics give for the user's text.
  PlaygroundReply handle(const std::string& endpoint, const std::string& body) const;

  // The library's policy files (paths relative to it), for the page's list.
  std::string library_json() const;

 private:
  std::string library_;
  PlaygroundLimits limits_;
};

}  // namespace edict::tools
