// SHA-256 of a byte string, as lowercase hex: the content hash that names a
// data file's version in decision records (FIPS 180-4), computed by OpenSSL's
// libcrypto.
#pragma once

#include <string>
#include <string_view>

namespace edict::data {

std::string sha256_hex(std::string_view bytes);

}  // namespace edict::data
