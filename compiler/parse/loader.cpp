// Loads a program: the root files and, transitively, every file they import
// (paths relative to the importing file), each file once, with import cycles,
// missing files, imports outside the allowed folders and the file-count
// limit diagnosed. Also the disk reader.
//
// Imports may read files under the folders of the root files and the
// folders of Limits::import_paths only, compared after symbolic links and
// `..` are resolved (weakly_canonical): a policy cannot make Edict read
// `/etc/shadow` or `/proc/self/environ`, nor show lines of them in
// diagnostics. A refused import is never opened.
//
// Diagnostic codes of the loader:
//   E0050  cannot read a file (missing, unreadable, a directory, a FIFO or
//          device, too large to read)
//   E0051  import cycle (the message names the chain, `a.edict -> b.edict -> a.edict`)
//   E0052  too many files (Limits::max_files)
//   E0053  empty import path
//   E0054  import outside the folders imports may read
//   E0055  the files together too large (Limits::max_total_bytes)
//   E0056  too many rules (Limits::max_rules)
// E0057-E0069 are reserved for the loader.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "compiler/parse/parse.h"

namespace edict::parse {

namespace {

namespace fs = std::filesystem;

constexpr const char* kCannotRead = "E0050";
constexpr const char* kImportCycle = "E0051";
constexpr const char* kTooManyFiles = "E0052";
constexpr const char* kEmptyImport = "E0053";
constexpr const char* kImportOutside = "E0054";
constexpr const char* kTooMuchText = "E0055";
constexpr const char* kTooManyRules = "E0056";

std::string os_reason(int err) {
  std::string reason = std::strerror(err);
  if (!reason.empty()) reason[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(reason[0])));
  return reason;
}

// `p` made absolute and `..` removed, as written (symbolic links kept).
fs::path lexical_path(const fs::path& p) {
  std::error_code ec;
  fs::path absolute = fs::absolute(p, ec);
  return (ec ? p : absolute).lexically_normal();
}

// `p` made absolute with symbolic links and `..` resolved as far as it exists.
fs::path real_path(const fs::path& p) {
  std::error_code ec;
  fs::path real = fs::weakly_canonical(lexical_path(p), ec);
  return ec ? lexical_path(p) : real;
}

// True when `path` is `folder` or below it (whole components).
bool is_under(const fs::path& path, const fs::path& folder) {
  std::string f = folder.string();
  while (f.size() > 1 && f.back() == '/') f.pop_back();
  const std::string p = path.string();
  if (f == "/") return true;
  return p == f || (p.size() > f.size() && p.compare(0, f.size(), f) == 0 && p[f.size()] == '/');
}

// A folder imports may read: as the user wrote it, for messages, and resolved.
struct AllowedFolder {
  std::string shown;
  fs::path real, lexical;
};

class Loader {
 public:
  Loader(SourceManager& sources, DiagnosticSink& sink, const Limits& limits, const FileReader& reader,
         ast::Program& program)
      : sources_(sources), sink_(sink), limits_(limits), reader_(reader), program_(program) {}

  // Lets imports read files under `folder` (a root file's or an import path).
  void allow(const std::string& folder);

  // Loads `display_path` (unless already loaded) and its imports; returns its
  // file id, or kNoFile. `from` is the import's path string, for diagnostics.
  FileId load(const std::string& display_path, Span from);

 private:
  struct Entry {
    FileId file = kNoFile;
    bool loading = false;  // on the current import chain
  };

  std::string cycle_chain(const std::string& key) const;
  bool inside_allowed(const std::string& path) const;
  std::string import_suggestion(const std::string& display_path, Span from) const;
  // Whether the import of `name`, found at `path`, may be read; reports it if not.
  bool import_allowed(const std::string& name, const std::string& path, Span at);

  SourceManager& sources_;
  DiagnosticSink& sink_;
  const Limits& limits_;
  const FileReader& reader_;
  ast::Program& program_;
  std::map<std::string, Entry> files_;  // by normalised absolute path
  std::vector<std::string> chain_;      // keys of the files being loaded, outermost first
  size_t loaded_ = 0;
  bool too_many_reported_ = false;
  size_t total_bytes_ = 0;
  size_t rules_ = 0;
  bool too_many_rules_reported_ = false;
  std::vector<AllowedFolder> allowed_;
};

void Loader::allow(const std::string& folder) {
  const std::string shown = folder.empty() ? "." : folder;
  fs::path real = real_path(shown);
  for (const AllowedFolder& a : allowed_)
    if (a.real == real) return;
  allowed_.push_back({shown, std::move(real), lexical_path(shown)});
}

bool Loader::import_allowed(const std::string& name, const std::string& path, Span at) {
  const fs::path real = real_path(path), lexical = lexical_path(path);
  bool lexically_inside = false;  // so a symbolic link leads out
  for (const AllowedFolder& a : allowed_) {
    if (is_under(real, a.real)) return true;
    lexically_inside = lexically_inside || is_under(lexical, a.lexical);
  }
  std::string folders;
  for (size_t i = 0; i < allowed_.size(); ++i)
    folders += (i == 0 ? "" : i + 1 == allowed_.size() ? " and " : ", ") + ("`" + allowed_[i].shown + "`");
  Diagnostic& d =
      sink_.error(kImportOutside, at, "import of `" + name + "` is outside the folders imports may read");
  d.help =
      (lexically_inside ? "`" + path + "` leads through a symbolic link to a file outside them"
                        : "it names `" + path + "`") +
      "; imports may read files under " + folders +
      " (the folders of the policy files and folders given), or under a folder given with `--import-path "
      "DIR`";
  return false;
}

bool Loader::inside_allowed(const std::string& path) const {
  const fs::path real = real_path(path);
  return std::any_of(allowed_.begin(), allowed_.end(),
                     [&](const AllowedFolder& a) { return is_under(real, a.real); });
}

// The file an import that could not be read probably meant: the same name
// with or without the literate `.md`, or the closest name in its folder
// (a folder imports may read, and only listed, never read).
std::string Loader::import_suggestion(const std::string& display_path, Span from) const {
  std::string written(sources_.text(from));
  if (written.size() < 2 || written.front() != '"' || written.back() != '"') return {};
  written = written.substr(1, written.size() - 2);
  auto ends_with = [](const std::string& s, std::string_view tail) {
    return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
  };
  std::vector<std::pair<std::string, std::string>> swaps;  // (display path, as written)
  if (ends_with(display_path, ".edict.md"))
    swaps.emplace_back(display_path.substr(0, display_path.size() - 3),
                       written.substr(0, written.size() - 3));
  else if (ends_with(display_path, ".edict"))
    swaps.emplace_back(display_path + ".md", written + ".md");
  else
    swaps.emplace_back(display_path + ".edict", written + ".edict"),
        swaps.emplace_back(display_path + ".edict.md", written + ".edict.md");
  for (const auto& [path, shown] : swaps) {
    std::error_code ec;
    if (inside_allowed(path) && fs::is_regular_file(path, ec))
      return "did you mean `" + shown + "`? (literate files end in `.edict.md`, plain ones in `.edict`)";
  }
  const fs::path dir = fs::path(display_path).parent_path();
  std::error_code ec;
  if (!inside_allowed(dir.empty() ? "." : dir.string()) || !fs::is_directory(dir.empty() ? "." : dir, ec))
    return {};
  std::vector<std::string> names;
  for (fs::directory_iterator it(dir.empty() ? "." : dir, ec), end; !ec && it != end && names.size() < 1000;
       it.increment(ec)) {
    std::string n = it->path().filename().string();
    if (ends_with(n, ".edict") || ends_with(n, ".edict.md")) names.push_back(std::move(n));
  }
  std::string file = fs::path(display_path).filename().string();
  std::string near = closest_match(file, names);
  if (near.empty()) return {};
  return "did you mean `" + (fs::path(written).parent_path() / near).string() + "`?";
}

std::string Loader::cycle_chain(const std::string& key) const {
  std::string out;
  bool in_cycle = false;
  for (const std::string& k : chain_) {
    if (k == key) in_cycle = true;
    if (!in_cycle) continue;
    out += "`" + sources_.file(files_.at(k).file).path + "` -> ";
  }
  return out + "`" + sources_.file(files_.at(key).file).path + "`";
}

FileId Loader::load(const std::string& display_path, Span from) {
  std::error_code ec;
  fs::path absolute = fs::absolute(fs::path(display_path), ec);
  if (ec) absolute = fs::path(display_path);
  const std::string key = absolute.lexically_normal().string();

  if (auto it = files_.find(key); it != files_.end()) {
    if (it->second.loading) {
      sink_.error(kImportCycle, from, "import cycle: " + cycle_chain(key)).help =
          "move the shared declarations into a file that both can import";
      return kNoFile;
    }
    return it->second.file;
  }
  if (loaded_ >= limits_.max_files) {
    if (!too_many_reported_) {
      too_many_reported_ = true;
      sink_.error(
          kTooManyFiles, from,
          "too many files: more than " + std::to_string(limits_.max_files) + " loaded through imports");
    }
    return kNoFile;
  }
  std::string error;
  std::optional<std::string> text = reader_(display_path, &error);
  if (!text) {
    Diagnostic& d =
        sink_.error(kCannotRead, from,
                    "cannot read `" + display_path + "`: " + (error.empty() ? "unknown error" : error));
    if (from.valid()) d.help = import_suggestion(display_path, from);
    files_[key] = Entry{kNoFile, false};  // report a missing file once
    return kNoFile;
  }
  if (total_bytes_ + text->size() > limits_.max_total_bytes) {
    sink_
        .error(kTooMuchText, from,
               "the policy's files come to more than " + std::to_string(limits_.max_total_bytes) +
                   " bytes with `" + display_path + "` (" + std::to_string(text->size()) + " bytes)")
        .help =
        "split the policy, or raise the limit with --max-policy-bytes (the front end needs about "
        "130 bytes of memory per byte of policy)";
    files_[key] = Entry{kNoFile, false};
    return kNoFile;
  }
  total_bytes_ += text->size();
  ++loaded_;
  FileId id = sources_.add(display_path, std::move(*text));
  files_[key] = Entry{id, true};
  chain_.push_back(key);

  std::unique_ptr<ast::Module> module = parse_module(sources_, id, program_, sink_, limits_);
  ast::Module* m = module.get();
  program_.modules.push_back(std::move(module));
  for (const auto& d : m->decls) {
    if (d->kind != ast::DeclKind::Rule || ++rules_ <= limits_.max_rules || too_many_rules_reported_) continue;
    too_many_rules_reported_ = true;
    sink_
        .error(kTooManyRules, d->name_span,
               "too many rules: this is rule " + std::to_string(rules_) + ", more than the limit of " +
                   std::to_string(limits_.max_rules))
        .help =
        "split the policy, or raise the limit with --max-rules (the JIT compiles about 3 ms per rule)";
  }

  // Imports resolve against the importing file's directory, as written by the
  // user, so diagnostics show paths the user recognises.
  const fs::path dir = fs::path(display_path).parent_path();
  for (const auto& d : m->decls) {
    if (d->kind != ast::DeclKind::Import) continue;
    FileId target = kNoFile;
    if (d->name.empty()) {
      sink_.error(kEmptyImport, d->name_span, "empty import path");
    } else if (!sink_.limit_reached()) {
      const std::string path = (dir / d->name).lexically_normal().string();
      if (import_allowed(d->name, path, d->name_span)) target = load(path, d->name_span);
    }
    m->imports.push_back(target);
  }

  chain_.pop_back();
  files_[key].loading = false;
  return id;
}

}  // namespace

FileReader disk_reader(size_t max_bytes) {
  return [max_bytes](const std::string& path, std::string* error) -> std::optional<std::string> {
    auto fail = [&](std::string why) -> std::optional<std::string> {
      if (error) *error = std::move(why);
      return std::nullopt;
    };
    // Without blocking: opening a FIFO for reading would wait for a writer.
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) return fail(os_reason(errno));
    struct Closer {
      int fd;
      ~Closer() { ::close(fd); }
    } closer{fd};
    struct stat st {};
    if (::fstat(fd, &st) != 0) return fail(os_reason(errno));
    if (S_ISDIR(st.st_mode)) return fail("it is a directory");
    if (!S_ISREG(st.st_mode))
      return fail(std::string("not a regular file (") +
                  (S_ISFIFO(st.st_mode)   ? "a FIFO"
                   : S_ISCHR(st.st_mode)  ? "a character device"
                   : S_ISBLK(st.st_mode)  ? "a block device"
                   : S_ISSOCK(st.st_mode) ? "a socket"
                                          : "a special file") +
                  ")");
    if (static_cast<unsigned long long>(st.st_size) > max_bytes)
      return fail("file too large (" + std::to_string(st.st_size) + " bytes, the limit is " +
                  std::to_string(max_bytes) + ")");
    // Read at most one byte past the limit: the file may grow while read.
    std::string text;
    char buffer[65536];
    for (;;) {
      ssize_t n = ::read(fd, buffer, sizeof buffer);
      if (n < 0) {
        if (errno == EINTR) continue;
        return fail(os_reason(errno));
      }
      if (n == 0) break;
      text.append(buffer, static_cast<size_t>(n));
      if (text.size() > max_bytes)
        return fail("file too large (more than " + std::to_string(max_bytes) + " bytes)");
    }
    return text;
  };
}

FileReader disk_reader() {
  return disk_reader(Limits{}.max_file_bytes * 2);
}

ast::Program load_program(const std::vector<std::string>& root_paths, SourceManager& sources,
                          DiagnosticSink& sink, const Limits& limits, const FileReader& reader) {
  ast::Program program;
  Loader loader(sources, sink, limits, reader, program);
  for (const std::string& path : root_paths)
    loader.allow(fs::path(path).lexically_normal().parent_path().string());
  for (const std::string& folder : limits.import_paths) loader.allow(folder);
  for (const std::string& path : root_paths) {
    FileId id = loader.load(path, Span{});
    if (id == kNoFile) continue;
    if (std::find(program.roots.begin(), program.roots.end(), id) == program.roots.end())
      program.roots.push_back(id);
  }
  return program;
}

}  // namespace edict::parse
