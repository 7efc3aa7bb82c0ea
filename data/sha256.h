// SHA-256 of a byte string, as lowercase hex: the content hash that names a
// data file's version in decision records (FIPS 180-4).
#pragma once

#include <string>
#include <string_view>

namespace edict::data {

std::string sha256_hex(std::string_view bytes);

namespace detail {
// For tests: whether sha256_hex uses the CPU's SHA extensions, and the
// portable code it otherwise runs (both must give the same digests).
bool sha256_uses_cpu_extensions();
std::string sha256_hex_portable(std::string_view bytes);
}  // namespace detail

}  // namespace edict::data
