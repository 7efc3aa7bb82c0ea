// `edict build`: front end -> IR -> the JIT's code generator writing an
// object file (compiler/aot), plus the generated C header and entry points,
// compiled and linked with the system C compiler (`$CC`, default `cc`).
#include "cli/build_command.h"

#include <fmt/format.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>
#include <CLI/CLI.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "cli/tooling.h"
#include "compiler/aot/aot.h"
#include "engine/engine.h"

extern char** environ;

namespace edict::cli {
namespace fs = std::filesystem;
namespace {

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// libscreen.so -> screen; screen.o -> screen; anything else made a C identifier.
std::string default_name(const std::string& output) {
  std::string stem = fs::path(output).filename().string();
  if (ends_with(stem, ".so")) stem.resize(stem.size() - 3);
  if (ends_with(stem, ".o")) stem.resize(stem.size() - 2);
  if (stem.rfind("lib", 0) == 0 && stem.size() > 3) stem = stem.substr(3);
  std::string out;
  for (char c : stem) out += (std::isalnum(static_cast<unsigned char>(c)) || c == '_') ? c : '_';
  if (out.empty() || std::isdigit(static_cast<unsigned char>(out[0]))) out = "policy_" + out;
  return out;
}

bool write_file(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return static_cast<bool>(out.flush());
}

// Runs a program (found on PATH) and waits; true when it exits with 0.
bool run(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid;
  if (posix_spawnp(&pid, args[0], nullptr, nullptr, args.data(), environ) != 0) {
    std::fprintf(stderr, "edict build: cannot run `%s`\n", argv[0].c_str());
    return false;
  }
  int status = 0;
  if (waitpid(pid, &status, 0) < 0) return false;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::string line;
    for (const std::string& a : argv) line += (line.empty() ? "" : " ") + a;
    std::fprintf(stderr, "edict build: `%s` failed\n", line.c_str());
    return false;
  }
  return true;
}

// A private temporary folder, removed when the build ends.
struct TempDir {
  fs::path path;
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "edict-build-XXXXXX").string();
    if (char* made = mkdtemp(pattern.data())) path = made;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path.empty()) fs::remove_all(path, ec);
  }
};

}  // namespace

void add_build_options(CLI::App& cmd, BuildOptions& o) {
  cmd.add_option("policies", o.paths, "Policy files or folders (*.edict, *.edict.md)")->required();
  cmd.add_option("-o,--output", o.output,
                 "The library to write: `*.so` (shared library) or `*.o` (object file)")
      ->required();
  cmd.add_option("--header", o.header, "The C header to write (default: `<name>.h` next to the output)");
  cmd.add_option("--name", o.name,
                 "C prefix of every generated name (default: from the output, libx.so -> x)");
  cmd.add_option("--target-cpu", o.target_cpu,
                 "`portable`: the architecture's baseline CPU; `host`: this machine's CPU and features")
      ->capture_default_str()
      ->check(CLI::IsMember({"portable", "host"}));
  cmd.add_flag("-q,--quiet", o.quiet, "Print nothing on success");
  add_limit_options(cmd, o.limits);
}

int run_build(const BuildOptions& o) {
  const bool object = ends_with(o.output, ".o");
  if (!object && !ends_with(o.output, ".so")) {
    std::fprintf(stderr,
                 "edict build: the output must end in `.so` (shared library) or `.o` (object file)\n");
    return kExitUsage;
  }
  aot::AotOptions options;
  options.prefix = o.name.empty() ? default_name(o.output) : o.name;
  options.cpu = o.target_cpu == "host" ? aot::TargetCpu::Host : aot::TargetCpu::Portable;
  if (!aot::valid_prefix(options.prefix)) {
    std::fprintf(stderr, "edict build: `%s` is not usable as a C prefix (give --name)\n",
                 options.prefix.c_str());
    return kExitUsage;
  }
  // The front end and lowering as for evaluation; the interpreter backend
  // because nothing is run here.
  SourceManager sources;
  auto policy = load_policy(o.paths, engine::Backend::Interp, o.limits, sources);
  if (!policy) return kExitUsage;
  const ir::Module& module = policy->module();
  aot::Layout layout;
  layout.column = abi::column_map(policy->schema());
  for (const abi::KindSpec& k : policy->schema().kinds) {
    layout.read.emplace_back();
    for (const abi::FieldSpec& f : k.fields) layout.read.back().push_back(f.read);
  }
  for (const abi::ColumnSpec& c : policy->schema().columns) layout.optional_column.push_back(c.optional);

  std::string error;
  std::string code = aot::compile_object(module, codegen::ColumnMap{layout.column, {}}, options, &error);
  if (code.empty()) {
    std::fprintf(stderr, "edict build: internal error: %s\n", error.c_str());
    return kExitInternal;
  }
  const fs::path output = fs::absolute(o.output);
  const fs::path header =
      o.header.empty() ? output.parent_path() / (options.prefix + ".h") : fs::absolute(fs::path(o.header));
  TempDir tmp;
  if (tmp.path.empty()) {
    std::fprintf(stderr, "edict build: cannot create a temporary folder\n");
    return kExitInternal;
  }
  const fs::path policy_o = tmp.path / "policy.o", entry_c = tmp.path / "entry.c",
                 entry_o = tmp.path / "entry.o";
  // Named after the policy file the user gave (not its imports).
  const std::vector<FileId>& roots = policy->checked().program->roots;
  std::string policy_name =
      roots.size() == 1 ? fs::path(sources.file(roots[0]).path).filename().string() : "several files";
  if (!write_file(header, aot::generate_header(module, options, policy_name))) {
    std::fprintf(stderr, "edict build: cannot write `%s`\n", header.c_str());
    return kExitUsage;
  }
  if (!write_file(policy_o, code) ||
      !write_file(entry_c, aot::generate_source(module, layout, options, header.string()))) {
    std::fprintf(stderr, "edict build: cannot write to `%s`\n", tmp.path.c_str());
    return kExitInternal;
  }
  const char* cc_env = std::getenv("CC");
  const std::string cc = cc_env && *cc_env ? cc_env : "cc";
  if (!run({cc, "-std=c11", "-O2", "-fPIC", "-c", entry_c.string(), "-o", entry_o.string()}))
    return kExitInternal;
  if (object) {
    // One relocatable object; the hidden helpers become local to it.
    if (!run({cc, "-r", "-nostdlib", "-o", output.string(), entry_o.string(), policy_o.string()}))
      return kExitInternal;
    run({"objcopy", "--localize-hidden", output.string()});
  } else if (!run({cc, "-shared", "-o", output.string(), entry_o.string(), policy_o.string()})) {
    return kExitInternal;
  }
  if (!o.quiet)
    std::fprintf(stderr, "edict build: wrote %s and %s (%s, %zu rules, %s)\n", output.c_str(), header.c_str(),
                 options.prefix.c_str(), module.rules.size(), aot::target_cpu_name(options.cpu).c_str());
  return kExitOk;
}

}  // namespace edict::cli
