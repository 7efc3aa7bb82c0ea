// The JIT's persistent code cache: compiled objects kept in a folder between
// runs, so a second run of the same policy links machine code instead of
// compiling it. An entry is found by a hash of its key and trusted only when
// the key stored in it is byte-for-byte the caller's and its checksum holds;
// anything else is a miss (and the entry is replaced). No LLVM types here.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace edict::jit {

struct CachedCode {
  std::string manifest;  // what the compiler recorded beside the object (its symbols)
  std::string object;    // the relocatable object file
};

// The folder to use, created (mode 0700) when missing; nullopt with `why`
// when it cannot be used safely: not a folder, not owned by this user, or
// writable by others (anyone who can write there can plant machine code).
std::optional<std::string> open_cache_folder(const std::string& folder, std::string* why);

// The entry's file name in the folder for `key` (128 bits of hash, hex).
std::string cache_file_name(std::string_view key);

// The entry at `path` when it exists, is intact and was written for exactly
// `key`; nullopt otherwise (missing, truncated, corrupt, another key).
std::optional<CachedCode> read_cached_code(const std::string& path, std::string_view key);

// Writes an entry through a temporary file and a rename (a reader never sees
// half an entry). False with `error` when the folder cannot take it.
bool write_cached_code(const std::string& path, std::string_view key, const CachedCode& code,
                       std::string* error);

}  // namespace edict::jit
