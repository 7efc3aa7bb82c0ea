// Front-end cache entries (front_end_cache.h) in the code cache's container
// (jit::write_cached_code: magic, key compared byte for byte, CRC-32), named
// `ir-<hash of the key>`. The manifest lists the source files, each as a
// 64-bit length and the path as the front end named it, the same for its
// real path (symbolic links resolved: an import is allowed by where it
// really is) and the XXH3-128 of its bytes; the object is ir::serialize's
// bytes. The key holds the working folder, which relative paths start from.
#include "engine/front_end_cache.h"

#include <limits.h>
#include <link.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "compiler/jit/code_cache.h"
#include "support/byte_fields.h"

namespace edict::engine {
namespace {

// This build of Edict: the GNU build id of the binary holding this code, so
// a rebuilt Edict (lowering changed, version not) never reads an old entry.
// Empty when there is none; the cache is then not used.
std::string build_id() {
  static const std::string id = [] {
    struct Search {
      uintptr_t anchor;
      std::string id;
    } search{reinterpret_cast<uintptr_t>(&build_id), {}};
    dl_iterate_phdr(
        [](dl_phdr_info* info, size_t, void* data) -> int {
          auto* s = static_cast<Search*>(data);
          bool ours = false;
          for (int i = 0; i < info->dlpi_phnum && !ours; ++i) {
            const ElfW(Phdr)& ph = info->dlpi_phdr[i];
            const uintptr_t start = info->dlpi_addr + ph.p_vaddr;
            ours = ph.p_type == PT_LOAD && s->anchor >= start && s->anchor < start + ph.p_memsz;
          }
          if (!ours) return 0;
          for (int i = 0; i < info->dlpi_phnum; ++i) {
            const ElfW(Phdr)& ph = info->dlpi_phdr[i];
            if (ph.p_type != PT_NOTE) continue;
            const auto* at = reinterpret_cast<const char*>(info->dlpi_addr + ph.p_vaddr);
            const char* end = at + ph.p_memsz;
            while (at + sizeof(ElfW(Nhdr)) <= end) {
              ElfW(Nhdr) note;
              std::memcpy(&note, at, sizeof note);
              const char* name = at + sizeof note;
              const char* desc = name + ((note.n_namesz + 3) & ~3u);
              if (desc + note.n_descsz > end) break;
              if (note.n_type == NT_GNU_BUILD_ID && note.n_namesz == 4 && std::memcmp(name, "GNU", 4) == 0) {
                static const char* hex = "0123456789abcdef";
                for (uint32_t b = 0; b < note.n_descsz; ++b) {
                  s->id.push_back(hex[static_cast<uint8_t>(desc[b]) >> 4]);
                  s->id.push_back(hex[static_cast<uint8_t>(desc[b]) & 15]);
                }
                return 1;
              }
              at = desc + ((note.n_descsz + 3) & ~3u);
            }
          }
          return 1;
        },
        &search);
    return search.id;
  }();
  return id;
}

std::string key_of(const FrontEndCacheRequest& r) {
  std::string key = "edict front end 1\n";
  append_field(key, EDICT_VERSION);
  append_field(key, build_id());
  const parse::Limits& l = *r.limits;
  for (uint64_t v : {uint64_t{l.max_file_bytes}, uint64_t{l.max_nesting}, uint64_t{l.max_files},
                     uint64_t{l.max_total_bytes}, uint64_t{l.max_rules}})
    append_u64(key, v);
  append_u64(key, l.import_paths.size());
  for (const std::string& p : l.import_paths) append_field(key, p);
  char cwd[PATH_MAX];
  append_field(key, ::getcwd(cwd, sizeof cwd) ? cwd : "");
  append_u64(key, r.paths->size());
  for (const std::string& p : *r.paths) append_field(key, p);
  return key;
}

std::string entry_path(const FrontEndCacheRequest& r, const std::string& key) {
  // The code cache's name with another extension: the two kinds of entry
  // never take each other's name.
  std::string name = jit::cache_file_name(key);
  return r.folder + "/" + name.substr(0, name.rfind('.')) + ".edictir";
}

std::string hash_of(std::string_view bytes) {
  XXH128_canonical_t c;
  XXH128_canonicalFromHash(&c, XXH3_128bits(bytes.data(), bytes.size()));
  return std::string(reinterpret_cast<const char*>(c.digest), sizeof c.digest);
}

std::string real_path_of(const std::string& path) {
  char real[PATH_MAX];
  return ::realpath(path.c_str(), real) ? std::string(real) : std::string();
}

struct ListedFile {
  std::string path, real, hash;
};

std::optional<std::vector<ListedFile>> read_manifest(std::string_view m) {
  std::vector<ListedFile> files;
  FieldReader r(m);
  while (r.left() != 0) {
    std::string_view path, real, hash;
    if (!r.field(&path) || !r.field(&real) || !r.take(16, &hash)) return std::nullopt;
    files.push_back(ListedFile{std::string(path), std::string(real), std::string(hash)});
  }
  if (files.empty()) return std::nullopt;
  return files;
}

// The files a fresh compilation could read: the root files and files under
// their folders or the import folders (the loader's rule, by real path). An
// entry listing anything else is not read from, whatever its checksum.
bool may_read(const FrontEndCacheRequest& r, const ListedFile& f) {
  for (const std::string& root : *r.paths)
    if (f.path == root) return true;
  // Where the path leads now, not where the entry says it led.
  const std::string file = real_path_of(f.path);
  std::vector<std::string> folders = r.limits->import_paths;
  for (const std::string& root : *r.paths) {
    const size_t slash = root.rfind('/');
    folders.push_back(slash == std::string::npos ? "." : root.substr(0, std::max<size_t>(slash, 1)));
  }
  for (const std::string& folder : folders) {
    const std::string real = real_path_of(folder);
    if (!real.empty() && file.size() > real.size() && file.compare(0, real.size(), real) == 0 &&
        (real == "/" || file[real.size()] == '/'))
      return true;
  }
  return false;
}

}  // namespace

std::optional<ir::Module> read_front_end(const FrontEndCacheRequest& request, const parse::FileReader& reader,
                                         SourceManager& sources, std::string* note) {
  note->clear();
  if (build_id().empty() || sources.size() != 0) return std::nullopt;
  const std::string key = key_of(request);
  const std::string path = entry_path(request, key);
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;  // none yet
  std::optional<jit::CachedCode> entry = jit::read_cached_code(path, key);
  if (!entry) {
    *note = "the front-end cache entry `" + path + "` is truncated, corrupt or another's: compiled afresh";
    return std::nullopt;
  }
  std::optional<std::vector<ListedFile>> listed = read_manifest(entry->manifest);
  if (!listed) {
    *note = "the front-end cache entry `" + path + "` lists no files it can use: compiled afresh";
    return std::nullopt;
  }
  // Every file as the front end would read it now; nothing is added to
  // `sources` unless all of them are unchanged.
  std::vector<std::string> texts;
  for (const ListedFile& f : *listed) {
    if (!may_read(request, f)) {
      *note = "the front-end cache entry `" + path + "` lists `" + f.path +
              "`, which this policy may not read: compiled afresh";
      return std::nullopt;
    }
    std::string error;
    std::optional<std::string> text = reader(f.path, &error);
    // A policy file changed or moved: compile afresh (and replace the entry).
    if (!text || hash_of(*text) != f.hash || real_path_of(f.path) != f.real) return std::nullopt;
    texts.push_back(std::move(*text));
  }
  SourceManager candidate;
  for (size_t i = 0; i < listed->size(); ++i) candidate.add((*listed)[i].path, std::move(texts[i]));
  std::string why;
  std::optional<ir::Module> module = ir::deserialize(entry->object, candidate, &why);
  if (!module) {
    *note = "the front-end cache entry `" + path + "` was refused (" + why + "): compiled afresh";
    return std::nullopt;
  }
  sources = std::move(candidate);
  module->sources = &sources;
  return module;
}

bool write_front_end(const FrontEndCacheRequest& request, const SourceManager& sources,
                     const ir::Module& module, std::string* note) {
  if (build_id().empty() || sources.size() == 0) return false;
  jit::CachedCode entry;
  for (size_t i = 0; i < sources.size(); ++i) {
    const SourceFile& f = sources.file(static_cast<FileId>(i));
    append_field(entry.manifest, f.path);
    append_field(entry.manifest, real_path_of(f.path));
    entry.manifest += hash_of(f.text);
  }
  entry.object = ir::serialize(module);
  const std::string key = key_of(request);
  return jit::write_cached_code(entry_path(request, key), key, entry, note);
}

}  // namespace edict::engine
