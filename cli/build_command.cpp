// `edict build`: front end -> IR -> the JIT's code generator writing an
// object file (compiler/aot), plus the generated C header and entry points,
// compiled and linked with the system C compiler (`$CC`, default `cc`).
//
// Diagnostic code of this command:
//   E0604  a windowed aggregate: the library decides one event at a time,
//          without the window state of an ordered stream, so it is refused
//          (like the embedding API's E0603) rather than built to fault.
#include "cli/build_command.h"

#include <fmt/format.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>
#include <CLI/CLI.hpp>

#include <fcntl.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "cli/tooling.h"
#include "compiler/aot/aot.h"
#include "engine/engine.h"
#include "support/diagnostics.h"

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

// Where a file the user named is written before it is renamed over the
// target: beside it, so the rename stays on one file system and a failure
// leaves the old file as it was. (support/atomic_file.h, once on main,
// does this for every command.)
fs::path temp_beside(const fs::path& target) {
  return target.parent_path() / (target.filename().string() + ".edict-tmp");
}

std::string os_error(int err) {
  std::string reason = std::strerror(err);
  if (!reason.empty()) reason[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(reason[0])));
  return reason;
}

// Writes `bytes` to `path` through a temporary file beside it; on failure
// leaves `path` untouched and sets *error (the system's reason).
bool write_file_atomically(const fs::path& path, const std::string& bytes, std::string* error) {
  const fs::path temp = temp_beside(path);
  ::unlink(temp.c_str());
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (fd < 0) {
    *error = os_error(errno);
    return false;
  }
  size_t done = 0;
  int err = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      err = n < 0 ? errno : EIO;
      break;
    }
    done += static_cast<size_t>(n);
  }
  if (err == 0 && ::fsync(fd) != 0) err = errno;
  if (::close(fd) != 0 && err == 0) err = errno;
  if (err == 0 && std::rename(temp.c_str(), path.c_str()) != 0) err = errno;
  if (err != 0) {
    ::unlink(temp.c_str());
    *error = os_error(err);
    return false;
  }
  return true;
}

// Whether a temporary file can be made beside `target` (its folder exists
// and is writable); says why not. Checked before any work is done.
bool can_write_beside(const fs::path& target) {
  const fs::path temp = temp_beside(target);
  ::unlink(temp.c_str());
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (fd < 0) {
    const int err = errno;
    std::fprintf(stderr, "edict build: cannot write `%s`: %s\n", target.c_str(), os_error(err).c_str());
    return false;
  }
  ::close(fd);
  ::unlink(temp.c_str());
  return true;
}

// Renames the finished temporary file over `target`.
bool commit(const fs::path& target) {
  if (std::rename(temp_beside(target).c_str(), target.c_str()) == 0) return true;
  const int err = errno;
  std::fprintf(stderr, "edict build: cannot write `%s`: %s\n", target.c_str(), os_error(err).c_str());
  ::unlink(temp_beside(target).c_str());
  return false;
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
  add_import_option(cmd, o.limits);
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
  if (!module.aggregates.empty()) {
    DiagnosticSink sink;
    for (const ir::Aggregate& a : module.aggregates)
      sink.error("E0604", a.span, "the windowed aggregate `" + a.text + "` cannot be compiled ahead of time")
          .help =
          "a library decides one event at a time, without the windows of an ordered event stream; evaluate "
          "this policy with `edict eval`";
    std::fputs(render_human(sources, sink.sorted()).c_str(), stderr);
    return kExitUsage;
  }
  if (std::string clash = aot::name_clash(module); !clash.empty()) {
    std::fprintf(stderr, "edict build: %s; rename one of them\n", clash.c_str());
    return kExitUsage;
  }
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
  if (!can_write_beside(output) || !can_write_beside(header)) return kExitUsage;
  TempDir tmp;
  if (tmp.path.empty()) {
    std::fprintf(stderr, "edict build: cannot create a temporary folder\n");
    return kExitInternal;
  }
  const fs::path policy_o = tmp.path / "policy.o", entry_c = tmp.path / "entry.c",
                 entry_o = tmp.path / "entry.o", entry_h = tmp.path / "policy.h";
  // Named after the policy file the user gave (not its imports).
  const std::vector<FileId>& roots = policy->checked().program->roots;
  std::string policy_name =
      roots.size() == 1 ? fs::path(sources.file(roots[0]).path).filename().string() : "several files";
  // The library's source includes a copy of the header in the private
  // folder by a fixed name: the user's path never appears in C.
  const std::string header_text = aot::generate_header(module, options, policy_name);
  if (!write_file(policy_o, code) || !write_file(entry_h, header_text) ||
      !write_file(entry_c, aot::generate_source(module, layout, options, "policy.h"))) {
    std::fprintf(stderr, "edict build: cannot write to `%s`\n", tmp.path.c_str());
    return kExitInternal;
  }
  const char* cc_env = std::getenv("CC");
  const std::string cc = cc_env && *cc_env ? cc_env : "cc";
  if (!run({cc, "-std=c11", "-O2", "-fPIC", "-c", entry_c.string(), "-o", entry_o.string()}))
    return kExitInternal;
  // The library is linked beside its target and renamed over it, then the
  // header is written the same way: a failure leaves both files as they were.
  const fs::path linked = temp_beside(output);
  ::unlink(linked.c_str());
  bool linked_ok;
  if (object) {
    // One relocatable object; the hidden helpers become local to it.
    linked_ok = run({cc, "-r", "-nostdlib", "-o", linked.string(), entry_o.string(), policy_o.string()});
    if (linked_ok) run({"objcopy", "--localize-hidden", linked.string()});
  } else {
    linked_ok = run({cc, "-shared", "-o", linked.string(), entry_o.string(), policy_o.string()});
  }
  if (!linked_ok) {
    ::unlink(linked.c_str());
    return kExitInternal;
  }
  if (!commit(output)) return kExitUsage;
  if (std::string why; !write_file_atomically(header, header_text, &why)) {
    std::fprintf(stderr, "edict build: cannot write `%s`: %s\n", header.c_str(), why.c_str());
    return kExitUsage;
  }
  if (!o.quiet)
    std::fprintf(stderr, "edict build: wrote %s and %s (%s, %zu rules, %s)\n", output.c_str(), header.c_str(),
                 options.prefix.c_str(), module.rules.size(), aot::target_cpu_name(options.cpu).c_str());
  return kExitOk;
}

}  // namespace edict::cli
