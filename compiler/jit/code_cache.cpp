// Code cache entries: "EDICTJIT", a format version, then the key, the
// manifest and the object, each as a 64-bit length and its bytes, and a
// CRC-32 of everything before it. Numbers little-endian.
#include "compiler/jit/code_cache.h"

#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>

#include "support/atomic_file.h"
#include "support/byte_fields.h"

namespace edict::jit {
namespace {

constexpr std::string_view kMagic = "EDICTJIT";
constexpr uint32_t kFormat = 1;
// An entry larger than this is not ours (the shipped library's is ~1 MB).
constexpr uint64_t kMaxEntryBytes = uint64_t{1} << 30;

uint32_t crc_of(std::string_view bytes) {
  uLong crc = ::crc32(0L, Z_NULL, 0);
  while (!bytes.empty()) {
    const auto n = static_cast<uInt>(std::min<size_t>(bytes.size(), 1u << 30));
    crc = ::crc32(crc, reinterpret_cast<const Bytef*>(bytes.data()), n);
    bytes.remove_prefix(n);
  }
  return static_cast<uint32_t>(crc);
}

uint64_t fnv1a(std::string_view s, uint64_t h) {
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ULL;
  return h;
}

}  // namespace

std::optional<std::string> open_cache_folder(const std::string& folder, std::string* why) {
  if (folder.empty()) {
    *why = "no folder given";
    return std::nullopt;
  }
  // Parents as needed, then the folder itself private to this user.
  std::string path;
  for (size_t at = 0; at != std::string::npos;) {
    size_t next = folder.find('/', at + 1);
    path = folder.substr(0, next);
    if (!path.empty() && ::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) {
      *why = "cannot create `" + path + "`: " + std::strerror(errno);
      return std::nullopt;
    }
    at = next;
  }
  struct stat st {};
  if (::lstat(folder.c_str(), &st) != 0) {
    *why = "cannot read `" + folder + "`: " + std::strerror(errno);
    return std::nullopt;
  }
  if (!S_ISDIR(st.st_mode)) {
    *why = "`" + folder + "` is not a folder";
    return std::nullopt;
  }
  if (st.st_uid != ::geteuid()) {
    *why = "`" + folder + "` belongs to another user";
    return std::nullopt;
  }
  if (st.st_mode & (S_IWGRP | S_IWOTH)) {
    *why = "`" + folder + "` is writable by other users";
    return std::nullopt;
  }
  return folder;
}

std::string cache_file_name(std::string_view key) {
  static const char* hex = "0123456789abcdef";
  std::string name;
  for (uint64_t h : {fnv1a(key, 0xcbf29ce484222325ULL), fnv1a(key, 0x84222325cbf29ce4ULL)})
    for (int i = 60; i >= 0; i -= 4) name.push_back(hex[(h >> i) & 0xF]);
  return name + ".edictjit";
}

std::optional<CachedCode> read_cached_code(const std::string& path, std::string_view key) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  if (size < 0 || static_cast<uint64_t>(size) > kMaxEntryBytes) return std::nullopt;
  in.seekg(0);
  std::string bytes(static_cast<size_t>(size), '\0');
  if (!in.read(bytes.data(), size)) return std::nullopt;
  if (bytes.size() < kMagic.size() + 4 + 4) return std::nullopt;
  const std::string_view body(bytes.data(), bytes.size() - 4);
  uint32_t stored_crc = 0;
  for (int i = 3; i >= 0; --i)
    stored_crc = (stored_crc << 8) | static_cast<uint8_t>(bytes[body.size() + static_cast<size_t>(i)]);
  if (crc_of(body) != stored_crc) return std::nullopt;
  FieldReader r(body);
  std::string_view magic, format, stored_key, manifest, object;
  if (!r.take(kMagic.size(), &magic) || magic != kMagic || !r.take(4, &format)) return std::nullopt;
  if (static_cast<uint8_t>(format[0]) != kFormat || format[1] || format[2] || format[3]) return std::nullopt;
  if (!r.field(&stored_key) || stored_key != key || !r.field(&manifest) || !r.field(&object) || r.left() != 0)
    return std::nullopt;
  return CachedCode{std::string(manifest), std::string(object)};
}

bool write_cached_code(const std::string& path, std::string_view key, const CachedCode& code,
                       std::string* error) {
  std::string bytes(kMagic);
  for (int i = 0; i < 4; ++i) bytes.push_back(static_cast<char>((kFormat >> (8 * i)) & 0xFF));
  for (std::string_view field : {key, std::string_view(code.manifest), std::string_view(code.object)})
    append_field(bytes, field);
  const uint32_t crc = crc_of(bytes);
  for (int i = 0; i < 4; ++i) bytes.push_back(static_cast<char>((crc >> (8 * i)) & 0xFF));
  return write_file_atomically(path, bytes, error);
}

}  // namespace edict::jit
