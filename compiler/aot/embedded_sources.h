// The C files of the runtime that `edict build` compiles into every
// ahead-of-time library (abi/abi.h, abi/helpers_core.h and .c,
// support/country_code.h), embedded as they were when edict was built
// (embed_sources.cmake), so both sides compile the same text.
#pragma once

#include <span>
#include <string_view>

namespace edict::aot {

struct EmbeddedSource {
  std::string_view path;  // from the project root, as the files #include each other: "abi/abi.h"
  std::string_view text;
};

std::span<const EmbeddedSource> embedded_sources();

}  // namespace edict::aot
