// The reference workload's chip table (bench/reference_workload.md), shared
// by the two hand-written baselines: over decoded columns (baseline.cpp) and
// end to end over the JSON text (baseline_e2e.cpp).
#pragma once

#include <string_view>

namespace edict::bench {

struct ReferenceChip {
  std::string_view name;
  double tpp, area;
};

inline constexpr ReferenceChip kReferenceChips[] = {{"H100-SXM5-80GB", 15832, 814},
                                                    {"H100-PCIe-80GB", 12096, 814},
                                                    {"H800-SXM5-80GB", 15832, 814},
                                                    {"A100-SXM4-80GB", 4992, 826},
                                                    {"A800-SXM4-80GB", 4992, 826},
                                                    {"H20", 2368, 814},
                                                    {"L40S", 5864, 609},
                                                    {"L4", 1940, 294},
                                                    {"RTX-4090", 5285, 609},
                                                    {"RTX-4090D", 4707, 609},
                                                    {"T4", 1040, 545},
                                                    {"MI300X", 20915, 1017},
                                                    {"MI250X", 6128, 1448},
                                                    {"B200", 36000, 1600}};

// 3A090's advanced-chip test as the workload writes it.
constexpr bool advanced(const ReferenceChip& c) {
  return c.tpp >= 4800 || (c.tpp >= 1600 && c.tpp / c.area >= 5.92);
}

}  // namespace edict::bench
