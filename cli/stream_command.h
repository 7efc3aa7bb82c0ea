// `edict publish EVENTS` and `edict stream POLICY...` (and `edict stream
// --audit`): argument parsing for the JetStream scale-out in stream/.
#pragma once

#include <string>
#include <vector>

#include "cli/commands.h"
#include "stream/jetstream.h"

namespace edict::cli {

struct PublishCommandOptions {
  stream::PublishOptions publish;
};
void add_publish_options(CLI::App& cmd, PublishCommandOptions& options);
int run_publish_command(const PublishCommandOptions& options);

struct StreamCommandOptions {
  std::vector<std::string> policies;
  std::string engine = "jit";
  std::string partitions_owned;  // `0,2,5-7`; empty: all
  std::string max_lateness = "1h";
  std::string max_future = "1d";
  uint64_t max_window_events = 10'000'000;
  bool no_decision_time = false;
  bool audit = false;
  std::string policy_hash;  // --audit: whose decisions
  std::string export_path;  // --audit --export FILE
  stream::WorkerOptions worker;
  FrontEndLimits limits;
};
void add_stream_options(CLI::App& cmd, StreamCommandOptions& options);
int run_stream_command(const StreamCommandOptions& options);

}  // namespace edict::cli
