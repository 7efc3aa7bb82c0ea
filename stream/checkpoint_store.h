// One partition's window checkpoint in the JetStream key-value store: the
// windows' checkpoint bytes (window::WindowState::serialize, CRC-checked),
// whose input position records the events stream sequence they cover.
// Larger than a message can be, so stored in chunks under alternating
// generations (`KEY.g0.N`, `KEY.g1.N`), then a manifest `KEY` naming the
// generation, written with compare-and-set on its revision: an interrupted
// save leaves the previous checkpoint whole, and a second worker writing the
// same partition's checkpoint makes the first one's next save fail (it then
// stops: the partition has another owner). Internal to stream/.
#pragma once

#include <nats/nats.h>

#include <cstdint>
#include <string>

namespace edict::stream {

class CheckpointStore {
 public:
  CheckpointStore(kvStore* kv, std::string key, size_t chunk_bytes)
      : kv_(kv), key_(std::move(key)), chunk_(chunk_bytes) {}

  enum class Result { Ok, Missing, Failed, Fatal };
  // Reads the latest checkpoint's bytes into `bytes` (Missing: none saved yet).
  Result load(std::string& bytes, std::string* error);
  // Writes `bytes` as the next checkpoint. Taken: another writer saved since
  // this store's last load or save.
  Result save(const std::string& bytes, std::string* error);
  // Takes the partition over: rewrites the manifest as it is, so a previous
  // owner's next save fails. Call after load(); Failed when the manifest
  // changed since (load and claim again).
  Result claim(std::string* error);

 private:
  natsStatus write_manifest(const std::string& manifest, uint64_t* revision);

  kvStore* kv_;
  std::string key_;
  size_t chunk_;
  uint64_t revision_ = 0;  // of the manifest as last read or written; 0: none
  bool owned_ = false;     // claimed or saved by this store since it was made
  std::string manifest_;
  unsigned generation_ = 0;
};

}  // namespace edict::stream
