// The reference workload written by hand over Edict's decoded columns, the
// way a performance-minded engineer would without Edict: lookups precomputed
// into tables, every rule a branch-free expression so the row loop
// vectorises. Built for the host CPU (-march=native), as the JIT's code is.
#pragma once

#include <cstdint>
#include <vector>

#include "abi/batch.h"
#include "abi/schema.h"
#include "abi/strings.h"

namespace edict::bench {

class Baseline {
 public:
  Baseline(const abi::Schema& schema, const abi::SymbolTable& symbols);
  // Per row: decision 0 allow, 1 report, 2 review, 3 deny, 0xFF skipped
  // (error row); fired: bit i for rule i of the workload (i in 0..8).
  void eval(const abi::Batch& batch, uint8_t* decision, uint16_t* fired) const;

 private:
  int col(int kind, const char* field) const;
  const abi::Schema& schema_;
  // Indexed by symbol id, clamped to the last slot (never in the table).
  std::vector<uint8_t> in_table_, advanced_;
  // Indexed by country code.
  std::vector<uint8_t> d5m_, allies_;
  uint32_t training_ = 0;
  uint16_t us_ = 0, cn_ = 0;
  int rental_ = 0, provision_ = 1;
};

}  // namespace edict::bench
