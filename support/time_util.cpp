// RFC 3339 / date / duration parsing and canonical formatting. Validation is
// field by field so a diagnostic can say exactly what is wrong.
#include "support/time_util.h"

#include <fmt/format.h>

#include <limits>

namespace edict {
namespace {

bool digits(std::string_view s, size_t pos, size_t n, int* out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = 0; i < n; ++i) {
    char c = s[pos + i];
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *out = v;
  return true;
}

bool is_leap(int64_t y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

unsigned days_in_month(int64_t y, unsigned m) {
  static const unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : kDays[m - 1];
}

// Parses and validates `YYYY-MM-DD` at the start of `s`; returns the reason
// on failure (empty on success).
std::string parse_date_part(std::string_view s, int* y, int* m, int* d) {
  if (!digits(s, 0, 4, y) || s.size() < 10 || s[4] != '-' || !digits(s, 5, 2, m) || s[7] != '-' ||
      !digits(s, 8, 2, d))
    return "expected a date like `2023-11-17`";
  if (*y < 1) return "year 0000 is out of range";
  if (*m < 1 || *m > 12) return fmt::format("month {} is out of range (1-12)", *m);
  unsigned dim = days_in_month(*y, static_cast<unsigned>(*m));
  if (*d < 1 || static_cast<unsigned>(*d) > dim)
    return fmt::format("day {} is out of range for {:04}-{:02} (1-{})", *d, *y, *m, dim);
  return {};
}

std::string parse_time_impl(std::string_view s, int64_t* out) {
  int y, mo, d, h, mi, se;
  std::string why = parse_date_part(s, &y, &mo, &d);
  if (!why.empty()) return why;
  if (s.size() < 19 || (s[10] != 'T' && s[10] != 't') || !digits(s, 11, 2, &h) || s[13] != ':' ||
      !digits(s, 14, 2, &mi) || s[16] != ':' || !digits(s, 17, 2, &se))
    return "expected an RFC 3339 time like `2024-03-14T09:12:00Z`";
  if (h > 23) return fmt::format("hour {} is out of range (0-23)", h);
  if (mi > 59) return fmt::format("minute {} is out of range (0-59)", mi);
  if (se > 59) return fmt::format("second {} is out of range (0-59; leap seconds are not supported)", se);
  size_t pos = 19;
  int64_t micros = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    size_t start = pos;
    int64_t scale = 100000;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      micros += (s[pos] - '0') * scale;  // digits past microseconds are truncated
      scale /= 10;
      ++pos;
    }
    if (pos == start) return "expected digits after the decimal point of the seconds";
    if (pos - start > 9) return "more than nine digits of fractional seconds";
  }
  int64_t offset_minutes = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int oh, om;
    if (!digits(s, pos + 1, 2, &oh) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
        !digits(s, pos + 4, 2, &om))
      return "expected a UTC offset like `+08:00`";
    if (oh > 23 || om > 59) return "the UTC offset is out of range";
    offset_minutes = (oh * 60 + om) * (s[pos] == '-' ? -1 : 1);
    pos += 6;
  } else {
    return "a time needs a UTC offset: end it with `Z` or `+hh:mm`";
  }
  if (pos != s.size()) return fmt::format("unexpected `{}` after the time", s.substr(pos));
  int64_t days = days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d));
  int64_t seconds = days * 86400 + h * 3600 + mi * 60 + se - offset_minutes * 60;
  *out = seconds * kMicrosPerSecond + micros;
  return {};
}

void civil_from_days(int64_t z, int64_t* y, unsigned* m, unsigned* d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t yy = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = yy + (*m <= 2);
}

int64_t floor_div(int64_t a, int64_t b) {
  return a / b - ((a % b != 0) && ((a < 0) != (b < 0)));
}

}  // namespace

int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

int64_t year_start(int64_t micros) {
  int64_t y = 0;
  unsigned m = 0, d = 0;
  civil_from_days(floor_div(micros, kMicrosPerDay), &y, &m, &d);
  return days_from_civil(y, 1, 1) * kMicrosPerDay;
}

std::optional<int64_t> parse_date(std::string_view text) {
  int y, m, d;
  if (text.size() != 10 || !parse_date_part(text, &y, &m, &d).empty()) return std::nullopt;
  return days_from_civil(y, static_cast<unsigned>(m), static_cast<unsigned>(d)) * kMicrosPerDay;
}

std::optional<int64_t> parse_rfc3339(std::string_view text) {
  int64_t v;
  if (!parse_time_impl(text, &v).empty()) return std::nullopt;
  return v;
}

std::optional<int64_t> parse_duration(std::string_view text) {
  if (text.empty()) return std::nullopt;
  int64_t total = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    int64_t n = 0;
    size_t start = pos;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      if (n > (std::numeric_limits<int64_t>::max() - 9) / 10) return std::nullopt;
      n = n * 10 + (text[pos] - '0');
      ++pos;
    }
    if (pos == start || pos >= text.size()) return std::nullopt;
    int64_t unit;
    switch (text[pos]) {
      case 'd': unit = kMicrosPerDay; break;
      case 'h': unit = 3600 * kMicrosPerSecond; break;
      case 'm': unit = 60 * kMicrosPerSecond; break;
      case 's': unit = kMicrosPerSecond; break;
      default: return std::nullopt;
    }
    ++pos;
    int64_t part;
    if (__builtin_mul_overflow(n, unit, &part) || __builtin_add_overflow(total, part, &total))
      return std::nullopt;
  }
  return total;
}

std::string format_date(int64_t micros) {
  int64_t y;
  unsigned m, d;
  civil_from_days(floor_div(micros, kMicrosPerDay), &y, &m, &d);
  return fmt::format("{:04}-{:02}-{:02}", y, m, d);
}

std::string format_time(int64_t micros) {
  int64_t days = floor_div(micros, kMicrosPerDay);
  int64_t rest = micros - days * kMicrosPerDay;
  int64_t secs = rest / kMicrosPerSecond, frac = rest % kMicrosPerSecond;
  std::string out =
      fmt::format("{}T{:02}:{:02}:{:02}", format_date(micros), secs / 3600, secs / 60 % 60, secs % 60);
  if (frac != 0) {
    std::string f = fmt::format("{:06}", frac);
    while (!f.empty() && f.back() == '0') f.pop_back();
    out += "." + f;
  }
  return out + "Z";
}

std::string format_duration(int64_t micros) {
  if (micros == 0) return "0s";
  std::string out;
  uint64_t v;
  if (micros < 0) {
    out = "-";
    v = static_cast<uint64_t>(-(micros + 1)) + 1;
  } else {
    v = static_cast<uint64_t>(micros);
  }
  const uint64_t units[] = {uint64_t(kMicrosPerDay), 3600ull * kMicrosPerSecond, 60ull * kMicrosPerSecond,
                            uint64_t(kMicrosPerSecond)};
  const char names[] = {'d', 'h', 'm', 's'};
  for (int i = 0; i < 4; ++i) {
    if (v >= units[i]) {
      out += fmt::format("{}{}", v / units[i], names[i]);
      v %= units[i];
    }
  }
  if (v != 0) out += fmt::format("{}us", v);  // sub-second remainder (not writable as a literal)
  return out;
}

std::string explain_bad_time(std::string_view text) {
  int y, m, d;
  if (text.size() == 10) return parse_date_part(text, &y, &m, &d);
  int64_t v;
  return parse_time_impl(text, &v);
}

}  // namespace edict
