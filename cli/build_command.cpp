// `edict build`: front end -> IR -> the JIT's code generator writing an
// object file (compiler/aot), plus the generated C header and entry points,
// compiled and linked with the system C compiler (`$CC`, default `cc`).
//
// Diagnostic code of this command:
//   E0604  a windowed aggregate: the library decides one event at a time,
//          without the window state of an ordered stream, so it is refused
//          (like the embedding API's E0603) rather than built to fault.
//   E0605  a `data` source in a relocatable object (`-o x.o`): the data
//          runtime it links is C++ and reads files with other libraries,
//          which only a shared library carries inside it; build a `.so`.
#include "cli/build_command.h"

#include <fmt/format.h>

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>
#include <CLI/CLI.hpp>
#include <algorithm>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>

#include "cli/tooling.h"
#include "compiler/aot/aot.h"
#include "engine/engine.h"
#include "support/atomic_file.h"
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

// The linked library's bytes, read back from the private folder so they
// reach the user's path through support/atomic_file.h like every output.
bool read_file(const fs::path& path, std::string* bytes) {
  std::ifstream in(path, std::ios::binary);
  bytes->assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return !in.bad();
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

constexpr const char* kDataRuntime = "libedict_aot_runtime.a";

// The data runtime archive (runtime/CMakeLists.txt): beside this edict
// binary (its build folder), else in <prefix>/lib/edict for an installed
// bin/edict. Empty, after saying where it looked, when it is in neither.
std::string find_data_runtime() {
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  std::vector<fs::path> places;
  if (!ec) {
    places.push_back(self.parent_path() / kDataRuntime);
    places.push_back(self.parent_path().parent_path() / "lib" / "edict" / kDataRuntime);
  }
  for (const fs::path& place : places)
    if (fs::is_regular_file(place, ec)) return place.string();
  std::string looked;
  for (const fs::path& place : places) looked += "\n  " + place.string();
  std::fprintf(stderr,
               "edict build: a policy with `data` links the data runtime `%s`, which is not installed with "
               "this edict; looked in:%s\nbuild it (`cmake --build build --target edict_aot_runtime`) or "
               "install edict (`cmake --install build`)\n",
               kDataRuntime, looked.c_str());
  return "";
}

// The link of a policy with data: the data runtime and the C++ runtime go
// into the library, linked statically and hidden (--exclude-libs), so it
// exports only its entry points and its C++ symbols never meet a host's.
// The libraries the data layers read files with (EDICT_AOT_DATA_LIBS, found
// when edict was configured, `|` between them) are linked as shared libraries.
std::vector<std::string> data_link_command(const std::string& output, const std::vector<std::string>& objects,
                                           const std::string& runtime) {
  const char* cxx_env = std::getenv("CXX");
  std::vector<std::string> argv = {cxx_env && *cxx_env ? cxx_env : "c++", "-shared", "-o", output};
  argv.insert(argv.end(), objects.begin(), objects.end());
  argv.push_back(runtime);
  for (std::string_view libs = EDICT_AOT_DATA_LIBS; !libs.empty();) {
    const size_t end = std::min(libs.find('|'), libs.size());
    if (end > 0) argv.emplace_back(libs.substr(0, end));
    libs.remove_prefix(std::min(end + 1, libs.size()));
  }
  // --no-undefined: a symbol no library gives fails the build, not the host's dlopen.
  // -S: the archive's debugging information stays out of the library.
  for (const char* flag : {"-static-libstdc++", "-static-libgcc", "-Wl,--exclude-libs,ALL", "-Wl,--as-needed",
                           "-Wl,--no-undefined", "-Wl,-S"})
    argv.emplace_back(flag);
  return argv;
}

// What a library cannot hold, reported at its declarations (E0604, E0605);
// true when there is none.
bool buildable(const ir::Module& module, bool object, const std::string& prefix,
               const SourceManager& sources) {
  DiagnosticSink sink;
  for (const ir::Aggregate& a : module.aggregates)
    sink.error("E0604", a.span, "the windowed aggregate `" + a.text + "` cannot be compiled ahead of time")
        .help =
        "a library decides one event at a time, without the windows of an ordered event stream; evaluate "
        "this policy with `edict eval`";
  if (!sink.has_errors() && object)
    for (const ir::Table& t : module.tables)
      if (t.external())
        sink.error("E0605", t.span, "data `" + t.name + "` cannot be compiled into an object file").help =
            "a policy with data builds as a shared library, which carries the data runtime: `-o lib" +
            prefix + ".so`";
  if (!sink.has_errors()) return true;
  std::fputs(render_human(sources, sink.sorted()).c_str(), stderr);
  return false;
}

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
  // The library reads its data at run time (<prefix>_load_data); the build
  // reads each file once, as `edict eval` would, so a bad list fails here.
  add_data_option(cmd, o.limits.data_files, "--data",
                  "Check data source NAME against FILE instead of the file its `data` declaration names "
                  "(repeatable); the library loads its files at run time");
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
  const bool data = aot::has_data(module);
  if (!buildable(module, object, options.prefix, sources)) return kExitUsage;
  std::string runtime;  // the data runtime archive, for a policy with data
  if (data && (runtime = find_data_runtime()).empty()) return kExitUsage;
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
  // Neither output may replace a policy file it was built from, nor the other.
  std::vector<std::string> inputs;
  for (FileId f = 0; f < sources.size(); ++f) inputs.push_back(sources.file(f).path);
  if (!output_spares_inputs(output.string(), "-o", inputs) ||
      !output_spares_inputs(header.string(), "--header", inputs))
    return kExitUsage;
  if (header.lexically_normal() == output.lexically_normal() || same_file(header.string(), output.string())) {
    std::fprintf(stderr, "edict build: the header and the library would be the same file `%s`\n",
                 output.c_str());
    return kExitUsage;
  }
  // Both outputs are opened (as temporary files beside them) before any
  // work, so a folder that cannot take them fails fast and says why.
  std::unique_ptr<AtomicFile> library_file = AtomicFile::create(output.string(), &error);
  std::unique_ptr<AtomicFile> header_file =
      library_file ? AtomicFile::create(header.string(), &error) : nullptr;
  if (!header_file) {
    std::fprintf(stderr, "edict build: %s\n", error.c_str());
    return kExitUsage;
  }
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
  // Linked in the private folder, then written with the header through
  // temporary files beside their targets: a failure leaves both as they were.
  const fs::path linked = tmp.path / (object ? "policy_all.o" : "policy.so");
  if (object) {
    // One relocatable object; the hidden helpers become local to it.
    if (!run({cc, "-r", "-nostdlib", "-o", linked.string(), entry_o.string(), policy_o.string()}))
      return kExitInternal;
    run({"objcopy", "--localize-hidden", linked.string()});
  } else if (data) {
    if (!run(data_link_command(linked.string(), {entry_o.string(), policy_o.string()}, runtime)))
      return kExitInternal;
  } else if (!run({cc, "-shared", "-o", linked.string(), entry_o.string(), policy_o.string()})) {
    return kExitInternal;
  }
  std::string library;
  if (!read_file(linked, &library)) {
    std::fprintf(stderr, "edict build: cannot read the linked library `%s`\n", linked.c_str());
    return kExitInternal;
  }
  // commit() reports a failed write() too, naming the file and the system error.
  library_file->write(library);
  bool written = library_file->commit(&error);
  if (written) {
    header_file->write(header_text);
    written = header_file->commit(&error);
  }
  if (!written) {
    std::fprintf(stderr, "edict build: %s\n", error.c_str());
    return kExitUsage;
  }
  if (!o.quiet)
    std::fprintf(stderr, "edict build: wrote %s and %s (%s, %zu rules, %s)\n", output.c_str(), header.c_str(),
                 options.prefix.c_str(), module.rules.size(), aot::target_cpu_name(options.cpu).c_str());
  return kExitOk;
}

}  // namespace edict::cli
