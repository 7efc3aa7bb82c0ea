#include "stream/checkpoint_store.h"

#include <fmt/format.h>

#include <cstdio>

#include "stream/nats_session.h"

namespace edict::stream {
namespace {

// "edict-stream-checkpoint 1 <generation> <chunks> <bytes>", or "... 1 none"
// before the first save (a claim).
constexpr const char* kManifest = "edict-stream-checkpoint 1";

}  // namespace

CheckpointStore::Result CheckpointStore::load(std::string& bytes, std::string* error) {
  bytes.clear();
  kvEntry* entry = nullptr;
  natsStatus s = kvStore_Get(&entry, kv_, key_.c_str());
  if (s != NATS_OK && s != NATS_NOT_FOUND) {
    *error = nats_error(fmt::format("cannot read the checkpoint `{}`", key_), s);
    return Result::Failed;
  }
  const uint64_t revision = s == NATS_OK ? kvEntry_Revision(entry) : 0;
  // Read again after this store claimed or wrote it: someone else's
  // revision means another worker took the partition over. Before that (a
  // claim that lost to the previous owner's save), a newer revision is
  // simply the checkpoint to start from.
  if (owned_ && revision != revision_) {
    if (entry) kvEntry_Destroy(entry);
    *error = fmt::format(
        "the checkpoint `{}` was written by another worker (revision {}, this worker's last was {}): the "
        "partition has a new owner",
        key_, revision, revision_);
    return Result::Fatal;
  }
  if (s == NATS_NOT_FOUND) {
    revision_ = 0;
    manifest_.clear();
    return Result::Missing;
  }
  revision_ = revision;
  manifest_.assign(static_cast<const char*>(kvEntry_Value(entry)),
                   static_cast<size_t>(kvEntry_ValueLen(entry)));
  kvEntry_Destroy(entry);
  unsigned generation = 0;
  unsigned long long chunks = 0, length = 0;
  if (manifest_ == std::string(kManifest) + " none") return Result::Missing;
  if (std::sscanf(manifest_.c_str(), "edict-stream-checkpoint 1 %u %llu %llu", &generation, &chunks,
                  &length) != 3 ||
      generation > 1) {
    *error = fmt::format("the checkpoint manifest `{}` is not one Edict wrote: `{}`", key_, manifest_);
    return Result::Failed;
  }
  generation_ = generation;
  for (unsigned long long i = 0; i < chunks; ++i) {
    const std::string chunk_key = fmt::format("{}.g{}.{}", key_, generation, i);
    s = kvStore_Get(&entry, kv_, chunk_key.c_str());
    if (s != NATS_OK) {
      *error = nats_error(fmt::format("cannot read the checkpoint chunk `{}`", chunk_key), s);
      return Result::Failed;
    }
    bytes.append(static_cast<const char*>(kvEntry_Value(entry)),
                 static_cast<size_t>(kvEntry_ValueLen(entry)));
    kvEntry_Destroy(entry);
  }
  if (bytes.size() != length) {
    *error =
        fmt::format("the checkpoint `{}` holds {} bytes, its manifest says {}", key_, bytes.size(), length);
    return Result::Failed;
  }
  return Result::Ok;
}

// The manifest written only over the revision last seen (or created when
// none was): a write that races another worker's fails.
natsStatus CheckpointStore::write_manifest(const std::string& manifest, uint64_t* revision) {
  const int size = static_cast<int>(manifest.size());
  return revision_ == 0 ? kvStore_Create(revision, kv_, key_.c_str(), manifest.data(), size)
                        : kvStore_Update(revision, kv_, key_.c_str(), manifest.data(), size, revision_);
}

CheckpointStore::Result CheckpointStore::claim(std::string* error) {
  const std::string manifest = manifest_.empty() ? std::string(kManifest) + " none" : manifest_;
  uint64_t revision = 0;
  natsStatus s = write_manifest(manifest, &revision);
  if (s != NATS_OK) {
    // The previous owner saved between our load and this write (it was
    // still running), or the server is away: load and claim again.
    *error = nats_error(
        fmt::format("cannot take over the checkpoint `{}` (another worker wrote it meanwhile?)", key_), s);
    return Result::Failed;
  }
  revision_ = revision;
  manifest_ = manifest;
  owned_ = true;
  return Result::Ok;
}

CheckpointStore::Result CheckpointStore::save(const std::string& bytes, std::string* error) {
  // The generation the manifest does not name: overwriting it cannot spoil
  // the checkpoint in force.
  const unsigned next = manifest_.empty() || manifest_.ends_with(" none") ? 0 : 1 - generation_;
  size_t chunks = 0;
  for (size_t at = 0; at < bytes.size() || (at == 0 && chunks == 0); at += chunk_, ++chunks) {
    const std::string chunk_key = fmt::format("{}.g{}.{}", key_, next, chunks);
    const size_t n = std::min(chunk_, bytes.size() - at);
    uint64_t revision = 0;
    natsStatus s = kvStore_Put(&revision, kv_, chunk_key.c_str(), bytes.data() + at, static_cast<int>(n));
    if (s != NATS_OK) {
      *error = nats_error(fmt::format("cannot write the checkpoint chunk `{}`", chunk_key), s);
      return Result::Failed;
    }
    if (n == 0) {
      ++chunks;
      break;
    }
  }
  const std::string manifest = fmt::format("{} {} {} {}", kManifest, next, chunks, bytes.size());
  uint64_t revision = 0;
  natsStatus s = write_manifest(manifest, &revision);
  if (s != NATS_OK) {
    // Tell a lost race (someone else's revision) from a failed write.
    kvEntry* entry = nullptr;
    if (kvStore_Get(&entry, kv_, key_.c_str()) == NATS_OK) {
      const uint64_t current = kvEntry_Revision(entry);
      kvEntry_Destroy(entry);
      if (current != revision_) {
        *error = fmt::format(
            "the checkpoint `{}` was written by another worker (revision {}, this worker's last was {}): the "
            "partition has a new owner",
            key_, current, revision_);
        return Result::Fatal;
      }
    }
    *error = nats_error(fmt::format("cannot write the checkpoint manifest `{}`", key_), s);
    return Result::Failed;
  }
  revision_ = revision;
  manifest_ = manifest;
  generation_ = next;
  owned_ = true;
  return Result::Ok;
}

}  // namespace edict::stream
