// Helpers shared by the subcommands: version, path expansion, limit options.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string_view>

#include "cli/commands.h"
#include "support/atomic_file.h"

namespace edict::cli {
namespace fs = std::filesystem;

std::string version_string() {
  return std::string("edict ") + EDICT_VERSION;
}

namespace {
bool is_policy_file(const fs::path& p) {
  std::string name = p.filename().string();
  auto ends_with = [&](std::string_view s) {
    return name.size() >= s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0;
  };
  return ends_with(".edict") || ends_with(".edict.md");
}
}  // namespace

std::vector<std::string> expand_policy_paths(const std::vector<std::string>& paths, bool* ok) {
  std::vector<std::string> out;
  *ok = true;
  for (const std::string& p : paths) {
    std::error_code ec;
    if (fs::is_directory(p, ec)) {
      std::vector<std::string> found;
      fs::recursive_directory_iterator it(p, fs::directory_options::skip_permission_denied, ec), end;
      for (; !ec && it != end; it.increment(ec)) {
        if (it->is_regular_file(ec) && is_policy_file(it->path())) found.push_back(it->path().string());
      }
      if (ec) {
        std::fprintf(stderr, "edict: cannot read directory `%s`: %s\n", p.c_str(), ec.message().c_str());
        *ok = false;
      }
      if (!ec && found.empty()) {
        std::fprintf(stderr,
                     "edict: the folder `%s` holds no policy files (*.edict, *.edict.md); events must be a "
                     "file or `-`\n",
                     p.c_str());
        *ok = false;
      }
      std::sort(found.begin(), found.end());
      out.insert(out.end(), found.begin(), found.end());
    } else if (fs::exists(p, ec)) {
      out.push_back(p);
    } else {
      std::fprintf(stderr, "edict: no such file or directory: `%s`\n", p.c_str());
      *ok = false;
    }
  }
  return out;
}

bool output_spares_inputs(const std::string& output, const char* option,
                          const std::vector<std::string>& inputs) {
  if (output.empty() || output == "-") return true;
  for (const std::string& input : inputs) {
    if (input == "-" || !same_file(output, input)) continue;
    std::fprintf(stderr,
                 "edict: %s `%s` is the input `%s`; writing it would destroy it: choose another file\n",
                 option, output.c_str(), input.c_str());
    return false;
  }
  return true;
}

bool write_port_file(const std::string& path, int port) {
  if (path.empty()) return true;
  std::string error;
  auto file = AtomicFile::create(path, &error);
  if (!file || !file->write(std::to_string(port) + "\n") || !file->commit(&error)) {
    std::fprintf(stderr, "edict: %s\n", error.c_str());
    return false;
  }
  return true;
}

void add_max_line_bytes_option(CLI::App& cmd, size_t& max_line_bytes) {
  cmd.add_option("--max-line-bytes", max_line_bytes,
                 "Longest input line decoded; longer lines are `line_too_long` errors. Memory: the line "
                 "buffer grows to at most this plus 1 MiB, and each thread's parser to about 7 bytes per "
                 "byte of the longest line decoded")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1024}, size_t{1} << 30));
}

void add_limit_options(CLI::App& cmd, FrontEndLimits& limits) {
  cmd.add_option("--max-errors", limits.max_errors, "Stop after this many errors")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1}, size_t{100000}));
  cmd.add_option("--max-nesting", limits.max_nesting, "Deepest nesting of brackets and expressions accepted")
      ->capture_default_str()
      ->check(CLI::Range(1u, 10000u));
  cmd.add_option("--max-file-size", limits.max_file_bytes, "Largest policy file accepted, in bytes")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1}, size_t{1} << 30));
  cmd.add_option(
         "--max-policy-bytes", limits.max_policy_bytes,
         "Most policy text accepted over all files, in bytes (checking takes about 130 bytes of memory "
         "per byte)")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1}, size_t{1} << 30));
  cmd.add_option("--max-rules", limits.max_rules,
                 "Most rules accepted over all files (the JIT compiles about 3 ms per rule)")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1}, size_t{10'000'000}));
}

void add_data_option(CLI::App& cmd, std::map<std::string, std::string>& files, const std::string& option,
                     const std::string& help) {
  auto name_equals_file = CLI::Validator(
      [](std::string& v) -> std::string {
        size_t eq = v.find('=');
        if (eq == std::string::npos || eq == 0 || eq + 1 == v.size())
          return "expected NAME=FILE (a data source the policy declares, then its file), e.g. "
                 "entity_list=lists/entity_list.csv";
        return "";
      },
      "NAME=FILE");
  cmd.add_option_function<std::vector<std::string>>(
         option,
         [&files](const std::vector<std::string>& values) {
           for (const std::string& v : values) files[v.substr(0, v.find('='))] = v.substr(v.find('=') + 1);
         },
         help.empty() ? "Read data source NAME from FILE instead of the file its `data` declaration names "
                        "(repeatable)"
                      : help)
      ->allow_extra_args(false)
      ->check(name_equals_file);
}

void add_import_option(CLI::App& cmd, FrontEndLimits& limits) {
  cmd.add_option("--import-path", limits.import_paths,
                 "A folder imports may also read from (repeatable); by default imports may read only "
                 "below the folders of the policy files and folders given")
      ->allow_extra_args(false)  // one folder per option, so the policies that follow stay arguments
      ->check(CLI::ExistingDirectory);
}

}  // namespace edict::cli
