#include "bench/baseline.h"

#include <algorithm>

#include "bench/reference_chips.h"
#include "support/countries.h"
#include "support/time_util.h"

namespace edict::bench {

Baseline::Baseline(const abi::Schema& schema, const abi::SymbolTable& symbols) : schema_(schema) {
  // Symbols past the policy's own are strings only events mention: never in the table.
  in_table_.assign(symbols.size() + 1, 0);
  advanced_.assign(symbols.size() + 1, 0);
  for (const ReferenceChip& c : kReferenceChips) {
    auto s = symbols.find(c.name);
    if (!s) continue;
    in_table_[*s] = 1;
    advanced_[*s] = advanced(c);
  }
  training_ = symbols.find("training").value_or(UINT32_MAX);
  d5m_.assign(kCountryIndexLimit, 0);
  allies_.assign(kCountryIndexLimit, 0);
  for (const char* c : {"AF", "BY", "CD", "CF", "CN", "CU", "ER", "HT", "IQ", "IR", "KP", "LB",
                        "LY", "MM", "NI", "RU", "SD", "SO", "SS", "SY", "VE", "ZW", "MO"})
    d5m_[*country_index(c)] = 1;
  for (const char* c : {"US", "AU", "BE", "CA", "DK", "FI", "FR", "DE", "IE", "IT", "JP", "NL", "NZ", "NO",
                        "KR", "ES", "SE", "TW", "GB"})
    allies_[*country_index(c)] = 1;
  us_ = *country_index("US");
  cn_ = *country_index("CN");
  rental_ = schema_.kind_index("rental");
  provision_ = schema_.kind_index("provision");
}

int Baseline::col(int kind, const char* field) const {
  const abi::KindSpec& k = schema_.kinds[static_cast<size_t>(kind)];
  return k.fields[static_cast<size_t>(k.field_index.at(field))].column;
}

void Baseline::eval(const abi::Batch& b, uint8_t* __restrict decision, uint16_t* __restrict fired) const {
  auto i64 = [&](int c) { return b.column(static_cast<size_t>(c)).data<int64_t>(); };
  auto f64 = [&](int c) { return b.column(static_cast<size_t>(c)).data<double>(); };
  auto u32 = [&](int c) { return b.column(static_cast<size_t>(c)).data<uint32_t>(); };
  auto u16 = [&](int c) { return b.column(static_cast<size_t>(c)).data<uint16_t>(); };
  auto u8 = [&](int c) { return b.column(static_cast<size_t>(c)).data<uint8_t>(); };
  const uint8_t* __restrict kinds = b.kinds();
  const int64_t* __restrict time = i64(col(rental_, "time"));
  const uint32_t* __restrict chip = u32(col(rental_, "chip"));
  const uint16_t* __restrict chq = u16(col(rental_, "customer_hq"));
  const uint16_t* __restrict phq = u16(col(rental_, "parent_hq"));
  const uint16_t* __restrict dc = u16(col(rental_, "datacenter"));
  const uint8_t* __restrict listed = u8(col(rental_, "entity_listed"));
  const uint32_t* __restrict purpose = u32(col(rental_, "purpose"));
  const double* __restrict ops = f64(col(rental_, "training_ops"));
  const int64_t* __restrict count = i64(col(rental_, "chip_count"));
  const double* __restrict hours = f64(col(rental_, "hours"));
  const uint8_t* __restrict license = b.column(static_cast<size_t>(col(rental_, "license"))).present.data();
  const double* __restrict peak = f64(col(provision_, "peak_ops_per_s"));
  const double* __restrict gbps = f64(col(provision_, "interconnect_gbps"));
  static const int64_t d20221007 = *parse_date("2022-10-07"), d20231030 = *parse_date("2023-10-30"),
                       d20231117 = *parse_date("2023-11-17"), d20240129 = *parse_date("2024-01-29"),
                       d20250113 = *parse_date("2025-01-13"), d20250513 = *parse_date("2025-05-13");
  const uint8_t* __restrict in_table = in_table_.data();
  const uint8_t* __restrict advanced = advanced_.data();
  const uint8_t* __restrict d5m = d5m_.data();
  const uint8_t* __restrict allies = allies_.data();
  const uint32_t last_symbol = static_cast<uint32_t>(in_table_.size() - 1);
  const uint8_t rental_kind = static_cast<uint8_t>(rental_),
                provision_kind = static_cast<uint8_t>(provision_);
  const uint32_t n = b.size();
  for (uint32_t r = 0; r < n; ++r) {
    const uint8_t k = kinds[r];
    const unsigned rental = k == rental_kind, provision = k == provision_kind;
    const uint32_t c = std::min(chip[r], last_symbol);
    const unsigned known = in_table[c], adv = advanced[c];
    const unsigned no_license = !(rental & license[r]);
    const int64_t t = time[r];
    const unsigned chq_d5m = d5m[chq[r]], chq_ally = allies[chq[r]];
    const unsigned m =
        (rental & (t >= d20231117) & adv & (chq_d5m | d5m[phq[r]]) & no_license) << 0 |
        ((rental | provision) & (t >= d20221007) & adv & d5m[dc[r]] & no_license) << 1 |
        (rental & listed[r]) << 2 |
        (rental & (t >= d20240129) & (purpose[r] == training_) & (chq[r] != us_) & (ops[r] > 1e26)) << 3 |
        (rental & adv & (static_cast<double>(count[r]) * hours[r] >= 100000) & !chq_ally) << 4 |
        (provision & (t >= d20231030) & (peak[r] >= 1e20) & (gbps[r] >= 100)) << 5 |
        (rental & (t >= d20250113) & (t < d20250513) & adv & !allies[dc[r]] & !chq_ally) << 6 |
        ((rental | provision) & !known) << 7 | (rental & adv & (phq[r] == cn_) & (chq[r] != cn_)) << 8;
    // deny: rules 0-2; review: 4, 6, 7, 8; report: 3, 5.
    const uint8_t d = (m & 0x7) ? 3 : (m & 0x1D0) ? 2 : (m & 0x28) ? 1 : 0;
    decision[r] = (rental | provision) ? d : 0xFF;
    fired[r] = static_cast<uint16_t>(m);
  }
}

}  // namespace edict::bench
