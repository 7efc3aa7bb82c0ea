// Subcommands of the `edict` tool. Each takes its parsed options and returns
// the process exit code; none calls exit() so they can be tested in-process.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace edict::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFindings = 1;    // check: errors; fmt --check: files would change
inline constexpr int kExitUsage = 2;       // also: the policy does not compile
inline constexpr int kExitEvalErrors = 3;  // eval: some lines were decided `error`
inline constexpr int kExitInternal = 4;
// eval --checkpoint: stopped by SIGTERM, SIGINT or SIGHUP after saving a
// checkpoint; the same command resumes (sysexits.h's EX_TEMPFAIL: try again).
inline constexpr int kExitInterrupted = 75;

std::string version_string();

// Expands directories (recursively, sorted) to their *.edict and *.edict.md
// files; plain files are kept as given. Missing paths are reported to stderr
// and make *ok false.
std::vector<std::string> expand_policy_paths(const std::vector<std::string>& paths, bool* ok);
// False, with a message, when `output` (given by `option`) names one of
// `inputs`: writing it would destroy what is being read.
bool output_spares_inputs(const std::string& output, const char* option,
                          const std::vector<std::string>& inputs);

struct FrontEndLimits {
  size_t max_errors = 100;
  unsigned max_nesting = 200;
  size_t max_file_bytes = 4 * 1024 * 1024;
  size_t max_policy_bytes = 8 * 1024 * 1024;  // all files together (parse::Limits::max_total_bytes)
  size_t max_rules = 10'000;
  // --import-path: folders imports may read besides those of the policy
  // files and folders named on the command line.
  std::vector<std::string> import_paths;
  // --data NAME=FILE: the file a `data` source reads instead of its declared one.
  std::map<std::string, std::string> data_files;
};
void add_limit_options(CLI::App& cmd, FrontEndLimits& limits);
// --data NAME=FILE (repeatable), for the commands that evaluate; `option`
// names the flag (`--old-data` and `--new-data` for diff).
void add_data_option(CLI::App& cmd, std::map<std::string, std::string>& files,
                     const std::string& option = "--data", const std::string& help = "");
// --import-path DIR (repeatable), for the commands that follow imports.
void add_import_option(CLI::App& cmd, FrontEndLimits& limits);
// `--port-file FILE` of serve and playground: the bound port and a newline,
// written atomically once the listener is up. False, with the error
// printed, when it cannot be written. An empty path writes nothing.
bool write_port_file(const std::string& path, int port);
// --max-line-bytes, for the commands that decode a JSON Lines file (eval, diff).
void add_max_line_bytes_option(CLI::App& cmd, size_t& max_line_bytes);

struct CheckOptions {
  std::vector<std::string> paths;
  std::string error_format = "human";  // human | json
  std::string emit;                    // "", ast, ir
  bool deny_warnings = false;
  FrontEndLimits limits;
};
void add_check_options(CLI::App& cmd, CheckOptions& options);
int run_check(const CheckOptions& options);

struct FmtOptions {
  std::vector<std::string> paths;
  bool check = false;  // report, do not write; exit 1 when a file would change
  bool to_stdout = false;
  FrontEndLimits limits;
};
void add_fmt_options(CLI::App& cmd, FmtOptions& options);
int run_fmt(const FmtOptions& options);

struct EvalOptions {
  std::vector<std::string> inputs;  // policies..., then the events file
  std::string engine = "tiered";
  uint64_t tier_switch_after = 0;  // --tier-switch-after
  std::string code_cache;          // --code-cache (empty: the default folder)
  bool no_code_cache = false;      // --no-code-cache
  int opt_level = 2;
  std::string output;
  std::string format = "jsonl";
  int threads = 1;
  bool quiet = false;
  bool explain = false;                 // fired rules carry their condition trees
  bool stats = false;                   // the engine's figures after the summary
  bool audit = false;                   // records open with the audit fields (engine/audit.h)
  bool no_decision_time = false;        // audit records without their "time" (byte-identical reruns)
  std::string summary_format = "text";  // or "json" (one object on standard error)
  std::string replay;                   // a decision log to decide again (inputs: the policies)
  size_t max_line_bytes = 1 << 20;
  uint32_t batch_size = 4096;
  FrontEndLimits limits;
  // Windowed aggregates (engine/window).
  std::string max_lateness = "1h";
  uint64_t max_window_events = 10'000'000;
  std::string max_future =
      "1d";                // events later than the clock plus this are `future_event`; `none`: no limit
  std::string checkpoint;  // restore at start when the file exists; save at exit, on SIGUSR1 and on
                           // SIGTERM, SIGINT, SIGHUP (then stop)
};
void add_eval_options(CLI::App& cmd, EvalOptions& options);
int run_eval(const EvalOptions& options);
int run_replay(const EvalOptions& options);  // eval --replay

struct TestOptions {
  std::vector<std::string> paths;
  std::string engine = "both";
  std::string filter;
  std::string format = "human";  // human | json
  std::string junit;             // JUnit XML file, when given
  bool coverage = false;
  std::string coverage_format = "human";  // human | json
  std::string coverage_output;            // file; empty: standard output
  // --min: `PCT` (total) or `KIND=PCT` with KIND rules, conditions,
  // table_rows, set_members or total; repeatable.
  std::vector<std::string> min_coverage;
  // --coverage-scope: files or policy titles the report and --min cover.
  std::vector<std::string> coverage_scope;
  FrontEndLimits limits;
};
void add_test_options(CLI::App& cmd, TestOptions& options);
int run_test(const TestOptions& options);

struct ExplainOptions {
  std::vector<std::string> inputs;  // policies..., then the event file
  std::string format = "human";     // human | json
  std::string engine = "interp";
  FrontEndLimits limits;
};
void add_explain_options(CLI::App& cmd, ExplainOptions& options);
int run_explain(const ExplainOptions& options);

struct ServeOptions {
  std::vector<std::string> policies;
  std::string listen = "127.0.0.1:8181";
  std::string engine = "jit";
  FrontEndLimits limits;
  unsigned threads = 8;
  size_t max_body_bytes = 64 << 20;
  size_t max_line_bytes = 1 << 20;
  int read_timeout_ms = 5000;
  unsigned max_in_flight = 64;
  bool no_decision_time = false;
  std::string decision_log;
  uint64_t log_rotate_bytes = 256ull << 20;
  unsigned log_keep = 5;
  std::string log_fsync = "interval";
  int log_wait_ms = 200;
  std::string port_file;  // write the bound port here once listening (tests: --listen 127.0.0.1:0)
};
void add_serve_options(CLI::App& cmd, ServeOptions& options);
int run_serve(const ServeOptions& options);

struct DiffOptions {
  std::string old_policy, new_policy;  // a file or a folder each
  std::string events = "-";
  std::string output;  // JSONL per changed event
  int examples = 5;
  int threads = 1;
  std::string engine = "tiered";
  size_t max_line_bytes = 1 << 20;
  bool quiet = false;
  FrontEndLimits limits;
  std::map<std::string, std::string> old_data, new_data;  // --old-data, --new-data
};
void add_diff_options(CLI::App& cmd, DiffOptions& options);
int run_diff(const DiffOptions& options);

struct LspOptions {
  std::vector<std::string> import_paths;  // --import-path
};
void add_lsp_options(CLI::App& cmd, LspOptions& options);
int run_lsp(const LspOptions& options);

struct PlaygroundOptions {
  std::string library = "policies";  // the shipped policies imports may read
  std::string host = "127.0.0.1";
  int port = 8787;
  std::string port_file;   // written with the bound port (port 0: any free one)
  double time_limit = 10;  // seconds of evaluation per request
};
void add_playground_options(CLI::App& cmd, PlaygroundOptions& options);
int run_playground(const PlaygroundOptions& options);

}  // namespace edict::cli
