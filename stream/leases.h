// Partitions assigned automatically (`edict stream --claim`): each worker
// announces itself in a key-value bucket whose entries expire after a TTL
// (`worker.<durable>.<id>`) and holds a lease per partition it decides
// (`lease.<durable>.p<p>`, valued with its id), both rewritten every
// heartbeat. A dead worker's entries expire and its partitions are claimed
// by the others; a new worker makes every worker's share smaller, and those
// above it release partitions (after their last commit) for it to claim.
// The checkpoint manifest's compare-and-set still guards each partition's
// state: a worker that lost a lease without noticing cannot save over the
// new owner's windows. Internal to stream/.
#pragma once

#include <nats/nats.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace edict::stream {

class Leases {
 public:
  Leases(kvStore* kv, const std::string& durable, unsigned partitions);
  ~Leases();
  Leases(const Leases&) = delete;
  Leases& operator=(const Leases&) = delete;

  const std::string& id() const { return id_; }
  // Rewrites this worker's presence; false when the server cannot be reached.
  bool announce();
  // The workers alive (announced within the TTL), sorted; includes this one after announce().
  std::vector<std::string> live_workers();
  // How many partitions this worker should hold: an equal share, the first
  // `partitions mod live` workers (by id) taking one more.
  unsigned share(const std::vector<std::string>& live) const;
  // Takes partition p's lease when nobody holds it.
  bool try_claim(unsigned p);
  // Rewrites partition p's lease; false when it is no longer this worker's.
  bool renew(unsigned p);
  // Gives partition p's lease up (after its last commit).
  void release(unsigned p);
  // Whether every partition's lease is held by a live worker (none waits for a dead one's to expire).
  bool all_held_by_live(const std::vector<std::string>& live);
  // Removes this worker's presence (a clean stop).
  void withdraw();

 private:
  std::string lease_key(unsigned p) const;
  kvStore* kv_;
  std::string durable_, id_, worker_key_;
  unsigned partitions_;
  std::map<unsigned, uint64_t> held_;  // partition -> its lease's revision
};

// The bucket of presences and leases: entries expire `ttl_ms` after their last write.
kvStore* open_lease_bucket(jsCtx* js, const std::string& bucket, int64_t ttl_ms, bool memory,
                           std::string* error);

}  // namespace edict::stream
