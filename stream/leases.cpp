#include "stream/leases.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <random>

#include "stream/nats_session.h"

namespace edict::stream {

Leases::Leases(kvStore* kv, const std::string& durable, unsigned partitions)
    : kv_(kv), durable_(durable), partitions_(partitions) {
  char host[256] = "host";
  gethostname(host, sizeof host - 1);
  std::string name = host;
  // Key tokens: letters, digits, `-` and `_` only.
  for (char& c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') c = '_';
  std::random_device random;
  id_ = fmt::format("{}-{}-{:08x}", name, getpid(), random());
  worker_key_ = fmt::format("worker.{}.{}", durable_, id_);
}

Leases::~Leases() {
  kvStore_Destroy(kv_);
}

std::string Leases::lease_key(unsigned p) const {
  return fmt::format("lease.{}.p{}", durable_, p);
}

bool Leases::announce() {
  uint64_t revision = 0;
  return kvStore_PutString(&revision, kv_, worker_key_.c_str(), "alive") == NATS_OK;
}

std::vector<std::string> Leases::live_workers() {
  std::vector<std::string> live;
  kvKeysList keys{};
  if (kvStore_Keys(&keys, kv_, nullptr) != NATS_OK) return live;
  const std::string prefix = fmt::format("worker.{}.", durable_);
  for (int i = 0; i < keys.Count; ++i) {
    const std::string key = keys.Keys[i];
    if (key.rfind(prefix, 0) == 0) live.push_back(key.substr(prefix.size()));
  }
  kvKeysList_Destroy(&keys);
  std::sort(live.begin(), live.end());
  return live;
}

unsigned Leases::share(const std::vector<std::string>& live) const {
  if (live.empty()) return partitions_;
  const auto count = static_cast<unsigned>(live.size());
  const auto rank = static_cast<unsigned>(std::find(live.begin(), live.end(), id_) - live.begin());
  return partitions_ / count + (rank < partitions_ % count ? 1 : 0);
}

bool Leases::try_claim(unsigned p) {
  uint64_t revision = 0;
  if (kvStore_Create(&revision, kv_, lease_key(p).c_str(), id_.data(), static_cast<int>(id_.size())) !=
      NATS_OK)
    return false;
  held_[p] = revision;
  return true;
}

bool Leases::renew(unsigned p) {
  auto it = held_.find(p);
  if (it == held_.end()) return false;
  uint64_t revision = 0;
  if (kvStore_Update(&revision, kv_, lease_key(p).c_str(), id_.data(), static_cast<int>(id_.size()),
                     it->second) == NATS_OK) {
    it->second = revision;
    return true;
  }
  // Rewritten by someone else, or expired: lost. Anything else (the server
  // away) keeps it until the TTL says otherwise.
  kvEntry* entry = nullptr;
  const natsStatus s = kvStore_Get(&entry, kv_, lease_key(p).c_str());
  bool mine = false;
  if (s == NATS_OK) {
    mine = kvEntry_Revision(entry) == it->second;
    kvEntry_Destroy(entry);
  } else if (s != NATS_NOT_FOUND) {
    mine = true;
  }
  if (!mine) held_.erase(it);
  return mine;
}

void Leases::release(unsigned p) {
  auto it = held_.find(p);
  if (it == held_.end()) return;
  // Only the revision this worker wrote is removed: a purge of a lease
  // another worker took meanwhile would be a double assignment.
  kvEntry* entry = nullptr;
  if (kvStore_Get(&entry, kv_, lease_key(p).c_str()) == NATS_OK) {
    if (kvEntry_Revision(entry) == it->second) kvStore_Delete(kv_, lease_key(p).c_str());
    kvEntry_Destroy(entry);
  }
  held_.erase(it);
}

bool Leases::all_held_by_live(const std::vector<std::string>& live) {
  for (unsigned p = 0; p < partitions_; ++p) {
    if (held_.count(p)) continue;
    kvEntry* entry = nullptr;
    if (kvStore_Get(&entry, kv_, lease_key(p).c_str()) != NATS_OK) return false;
    const std::string holder(kvEntry_ValueString(entry) ? kvEntry_ValueString(entry) : "");
    kvEntry_Destroy(entry);
    if (!std::binary_search(live.begin(), live.end(), holder)) return false;
  }
  return true;
}

void Leases::withdraw() {
  for (auto it = held_.begin(); it != held_.end();) release((it++)->first);
  kvStore_Delete(kv_, worker_key_.c_str());
}

kvStore* open_lease_bucket(jsCtx* js, const std::string& bucket, int64_t ttl_ms, bool memory,
                           std::string* error) {
  kvStore* kv = nullptr;
  if (js_KeyValue(&kv, js, bucket.c_str()) == NATS_OK) return kv;
  kvConfig cfg;
  kvConfig_Init(&cfg);
  cfg.Bucket = bucket.c_str();
  cfg.History = 1;
  cfg.TTL = ttl_ms * 1'000'000;  // nanoseconds (the stream's MaxAge)
  cfg.StorageType = memory ? js_MemoryStorage : js_FileStorage;
  natsStatus s = js_CreateKeyValue(&kv, js, &cfg);
  if (s != NATS_OK && js_KeyValue(&kv, js, bucket.c_str()) != NATS_OK) {
    *error = nats_error(fmt::format("cannot create the key-value bucket `{}`", bucket), s);
    return nullptr;
  }
  return kv;
}

}  // namespace edict::stream
