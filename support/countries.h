// ISO 3166-1 alpha-2 country codes: the full table of officially assigned
// codes (source cited in countries.cpp). A code's dense index is
// (first - 'A') * 26 + (second - 'A'), so sets of countries are 676-bit sets.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace edict {

inline constexpr int kCountryIndexLimit = 26 * 26;

// Index of an officially assigned upper-case code; nullopt for anything else
// (lower case, user-assigned codes such as `XX`, reserved codes, names).
std::optional<uint16_t> country_index(std::string_view code);
bool is_country_code(std::string_view code);
std::string country_code(uint16_t index);             // "CN"
std::string_view country_name(uint16_t index);        // "China"; empty if unassigned
const std::vector<std::string>& all_country_codes();  // sorted

// For "did you mean": the officially assigned code that `text` most plausibly
// means when it is not one itself: the code in lower case (`cn`), an alpha-3
// code (`CHN`), a short or common English name (`China`, `Taiwan`) or a usual
// alias (`UK`, `USA`, `Macau`); nullopt when none fits.
std::optional<uint16_t> suggest_country(std::string_view text);

}  // namespace edict
