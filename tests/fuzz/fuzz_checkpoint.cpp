// libFuzzer target for the checkpoint loader (window::WindowState::restore):
// arbitrary bytes as a checkpoint of checkpoint_policy.edict, under ASan. The
// loader may never crash, and it refuses or accepts consistently: a refusal
// says why, and an accepted file is canonical, so saving the state it gave
// (with its input position) writes the same bytes again, which a fresh state
// accepts too. Each input is loaded twice: as it is (the header's checks),
// and with its header rewritten to match its payload (bytes 24 on) so that
// mutations reach the payload's parser behind the checksum. Also built
// without libFuzzer as a replay tool (replay_main.cpp) over the seeds, so
// they are regression tests.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <string_view>

#include <zlib.h>

#include "engine/engine.h"
#include "engine/window/window.h"

namespace {

const edict::engine::Policy& policy() {
  static edict::SourceManager sources;
  static std::unique_ptr<edict::engine::Policy> p = [] {
    std::ifstream in(EDICT_CHECKPOINT_POLICY);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    edict::DiagnosticSink sink;
    edict::engine::CompileOptions options;
    options.backend = edict::engine::Backend::Interp;
    auto reader = [text](const std::string&, std::string*) -> std::optional<std::string> { return text; };
    auto compiled =
        edict::engine::Policy::compile({"checkpoint_policy.edict"}, sources, sink, options, reader);
    if (!compiled) __builtin_trap();  // the policy beside this file must compile
    return compiled;
  }();
  return *p;
}

// Restores `file`: never crashes; a refusal names the file; an accepted
// file is what the restored state saves, and a fresh state accepts that.
void check(const edict::engine::Policy& p, std::string_view file, unsigned threads) {
  edict::window::Options options;
  options.threads = threads;  // the partitions a restored key lands in
  edict::window::WindowState state(p.module(), p.interpreter(), p.schema(), options);
  edict::window::InputPosition position;
  std::string error;
  if (!state.restore(file, "fuzz.ckpt", &position, &error)) {
    if (error.find("fuzz.ckpt") == std::string::npos) __builtin_trap();
    return;
  }
  const std::string again = state.serialize(position);
  if (again != file) __builtin_trap();
  edict::window::WindowState fresh(p.module(), p.interpreter(), p.schema());
  edict::window::InputPosition second;
  if (!fresh.restore(again, "fuzz.ckpt", &second, &error) || fresh.serialize(second) != again)
    __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const edict::engine::Policy& p = policy();
  std::string_view file(reinterpret_cast<const char*>(data), size);
  check(p, file, 1 + size % 3);
  if (size < 24) return 0;
  // The same payload behind a header that matches it.
  std::string sealed(file);
  const uint32_t crc = static_cast<uint32_t>(::crc32(
      ::crc32(0L, Z_NULL, 0), reinterpret_cast<const Bytef*>(data + 24), static_cast<uInt>(size - 24)));
  const uint64_t length = size - 24;
  const uint32_t format = 2;
  std::memcpy(sealed.data(), "EDICTCKP", 8);
  std::memcpy(sealed.data() + 8, &format, 4);
  std::memcpy(sealed.data() + 12, &crc, 4);
  std::memcpy(sealed.data() + 16, &length, 8);
  check(p, sealed, 1 + size % 2);
  return 0;
}
