// Calendar arithmetic for Edict's time types. All instants are microseconds
// since 1970-01-01T00:00:00Z (UTC, proleptic Gregorian, no leap seconds).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace edict {

inline constexpr int64_t kMicrosPerSecond = 1'000'000;
inline constexpr int64_t kMicrosPerDay = 86'400 * kMicrosPerSecond;

// Days since 1970-01-01 for a civil date; no validation.
int64_t days_from_civil(int64_t y, unsigned m, unsigned d);

// The UTC midnight of 1 January of the year of `micros` (an instant of years
// 0001-9999, as decoded times are).
int64_t year_start(int64_t micros);

// `2023-11-17`: a valid calendar date (years 0001-9999) -> UTC midnight.
std::optional<int64_t> parse_date(std::string_view text);
// RFC 3339 `2024-03-14T09:12:00Z`, `...09:12:00.5+08:00`: validated field by
// field (month 1-12, day within month, 23:59:60 rejected), normalised to UTC.
std::optional<int64_t> parse_rfc3339(std::string_view text);
// `30d`, `12h`, `15m`, `10s`, `1d12h`: microseconds; nullopt on overflow.
std::optional<int64_t> parse_duration(std::string_view text);

// Canonical forms: `2024-03-14T09:12:00Z` (fraction only when non-zero),
// `2023-11-17`, and durations in the largest exact units (`1d12h`).
std::string format_time(int64_t micros);
std::string format_date(int64_t micros);
std::string format_duration(int64_t micros);

// Why `text` is not a valid date or time, for diagnostics ("month 13 is out of
// range"); empty when it is valid.
std::string explain_bad_time(std::string_view text);

}  // namespace edict
