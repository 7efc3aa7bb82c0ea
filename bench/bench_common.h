// Pieces the evaluation benchmarks share: timing, medians, and decoding a
// whole event file into batches the way `edict eval` reads it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "abi/batch.h"
#include "engine/engine.h"

namespace edict::bench {

// CPU time of the calling thread: what one thread spent, whatever else the
// machine is doing (wall-clock figures on a shared 2-core machine are not).
double thread_seconds();

double median(std::vector<double> v);

using Batches = std::vector<std::unique_ptr<abi::Batch>>;

// Every line of `events` decoded against `policy`'s schema into batches of
// 4,096 rows (too-long lines become error rows). Exits with status 2 when the
// file cannot be read. *bytes, when given, receives the bytes read.
Batches decode_all(const engine::Policy& policy, const std::string& events, uint64_t* bytes = nullptr);

}  // namespace edict::bench
