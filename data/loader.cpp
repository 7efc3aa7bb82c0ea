#include "data/loader.h"

#include <fmt/format.h>
#include <simdjson.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "data/sha256.h"
#include "support/countries.h"
#include "support/time_util.h"

namespace edict::data {

std::string LoadError::text() const {
  if (line == 0) return fmt::format("{}: error[{}]: {}", file, code, message);
  return fmt::format("{}:{}:{}: error[{}]: {}", file, line, column, code, message);
}

namespace {

// A cell of a record: its text (a view into the file's bytes, or into the
// text a CSV field holds once its "" quotes are undone, or into a JSON Lines
// record's values) and where it starts. Lines and columns are found from the
// offset only when an error needs them.
struct Cell {
  std::string_view text;
  uint64_t offset = 0;
  const std::vector<std::string>* items = nullptr;  // a JSON array for a list field, taken as it is
};

struct Position {
  uint64_t line = 1, column = 1;  // 1-based; columns count characters, not bytes
};

// The line and column of byte `offset` of `bytes` (valid UTF-8 before it).
Position position_of(std::string_view bytes, size_t offset) {
  offset = std::min(offset, bytes.size());
  Position at;
  size_t line_start = 0;
  for (size_t i = 0; i < offset;) {
    const void* nl = std::memchr(bytes.data() + i, '\n', offset - i);
    if (!nl) break;
    i = static_cast<size_t>(static_cast<const char*>(nl) - bytes.data()) + 1;
    ++at.line;
    line_start = i;
  }
  for (size_t i = line_start; i < offset; ++i)
    if ((static_cast<unsigned char>(bytes[i]) & 0xc0) != 0x80) ++at.column;
  return at;
}

LoadError error_at(const char* code, const std::string& file, std::string_view bytes, size_t offset,
                   std::string message) {
  const Position p = position_of(bytes, offset);
  return LoadError{code, file, p.line, p.column, offset, std::move(message)};
}

LoadError at_cell(const char* code, const std::string& file, std::string_view bytes, const Cell& c,
                  std::string message) {
  return error_at(code, file, bytes, c.offset, std::move(message));
}

// The first byte that is not valid UTF-8 (overlong forms and surrogates
// included), or npos. ASCII, most of a data file, goes eight bytes at a time.
size_t invalid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    if (i + 8 <= s.size()) {
      uint64_t word;
      std::memcpy(&word, s.data() + i, 8);
      if ((word & 0x8080808080808080ull) == 0) {
        i += 8;
        continue;
      }
    }
    auto c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return i;
    uint32_t cp = n == 1 ? c : n == 2 ? c & 0x1f : n == 3 ? c & 0x0f : c & 0x07;
    for (size_t k = 1; k < n; ++k) {
      auto d = static_cast<unsigned char>(s[i + k]);
      if ((d >> 6) != 2) return i;
      cp = cp << 6 | (d & 0x3f);
    }
    static const uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += n;
  }
  return std::string_view::npos;
}

// RFC 4180 records. CRLF or LF ends a record; a quoted field may hold
// separators, line breaks and "" quotes. A field's text is a view into the
// bytes, except a field with "" quotes, whose text is kept in `unescaped`.
// Errors name no file (the caller's file name goes in afterwards).
class CsvReader {
 public:
  CsvReader(std::string_view bytes, std::deque<std::string>& unescaped) : s_(bytes), unescaped_(unescaped) {}

  // Appends the next record's cells to `record`; false at the end of input;
  // `error` set when the record is malformed.
  bool next(std::vector<Cell>& record, std::optional<LoadError>& error) {
    if (pos_ >= s_.size()) return false;
    for (;;) {
      Cell cell{{}, pos_, nullptr};
      if (s_[pos_] == '"') {
        if (!quoted(cell, error)) return true;
      } else {
        const size_t start = pos_;
        while (pos_ < s_.size() && !stops(s_[pos_])) ++pos_;
        if (pos_ < s_.size() && s_[pos_] == '"') {
          error = fail(pos_,
                       "a quote inside an unquoted field; put the whole field in quotes and double the "
                       "quote (\"\")");
          return true;
        }
        cell.text = s_.substr(start, pos_ - start);
      }
      record.push_back(cell);
      if (pos_ >= s_.size()) return true;
      if (s_[pos_] == ',') {
        ++pos_;
        if (pos_ >= s_.size()) {  // a last empty field at the end of input
          record.push_back(Cell{{}, pos_, nullptr});
          return true;
        }
        continue;
      }
      if (s_[pos_] == '\r') {
        if (pos_ + 1 >= s_.size() || s_[pos_ + 1] != '\n') {
          error = fail(pos_, "a carriage return not followed by a line feed");
          return true;
        }
        ++pos_;
      }
      ++pos_;  // the '\n'
      return true;
    }
  }

 private:
  static bool stops(char c) { return c == ',' || c == '\n' || c == '\r' || c == '"'; }

  bool quoted(Cell& cell, std::optional<LoadError>& error) {
    const size_t open = pos_;
    size_t start = ++pos_;
    std::string* own = nullptr;  // the text without "" quotes, when it had some
    for (;;) {
      const void* quote = std::memchr(s_.data() + pos_, '"', s_.size() - pos_);
      if (!quote) {
        error = fail(open, "unterminated quoted field: the quote opened here is never closed");
        return false;
      }
      const auto at = static_cast<size_t>(static_cast<const char*>(quote) - s_.data());
      if (at + 1 < s_.size() && s_[at + 1] == '"') {
        if (!own) own = &unescaped_.emplace_back();
        own->append(s_.data() + start, at + 1 - start);  // the text and one quote
        pos_ = start = at + 2;
        continue;
      }
      if (own) {
        own->append(s_.data() + start, at - start);
        cell.text = *own;
      } else {
        cell.text = s_.substr(start, at - start);
      }
      pos_ = at + 1;
      if (pos_ < s_.size() && s_[pos_] != ',' && s_[pos_] != '\n' && s_[pos_] != '\r') {
        error = fail(pos_, "text after the closing quote of a field; expected `,` or the end of the line");
        return false;
      }
      return true;
    }
  }
  LoadError fail(size_t at, std::string message) const {
    return error_at("E0072", std::string(), s_, at, std::move(message));
  }

  std::string_view s_;
  std::deque<std::string>& unescaped_;
  size_t pos_ = 0;
};

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// A cell's text as the IR's bits; an error message when it does not parse.
std::optional<std::string> parse_cell(abi::CellType type, std::string_view text, abi::DataSnapshot& snapshot,
                                      uint64_t& bits) {
  using abi::CellType;
  switch (type) {
    case CellType::Str: bits = snapshot.add_string(text); return std::nullopt;
    case CellType::StrList: {
      std::vector<std::string> items;
      size_t start = 0;
      while (start <= text.size()) {
        size_t end = text.find(kListSeparator, start);
        if (end == std::string_view::npos) end = text.size();
        std::string_view item = trim(text.substr(start, end - start));
        if (!item.empty()) items.emplace_back(item);
        start = end + 1;
      }
      bits = snapshot.add_list(std::move(items));
      return std::nullopt;
    }
    case CellType::Bool:
      if (text == "true" || text == "false") {
        bits = text == "true";
        return std::nullopt;
      }
      return fmt::format("`{}` is not a bool; write true or false", text);
    case CellType::Int: {
      errno = 0;
      std::string copy(text);
      char* end = nullptr;
      long long v = std::strtoll(copy.c_str(), &end, 10);
      if (copy.empty() || *end || errno) return fmt::format("`{}` is not an integer", text);
      bits = static_cast<uint64_t>(v);
      return std::nullopt;
    }
    case CellType::Number: {
      std::string copy(text);
      char* end = nullptr;
      double v = std::strtod(copy.c_str(), &end);
      if (copy.empty() || *end || !std::isfinite(v)) return fmt::format("`{}` is not a number", text);
      bits = abi::data_number_key(v);
      return std::nullopt;
    }
    case CellType::Country: {
      if (auto index = country_index(text)) {
        bits = *index;
        return std::nullopt;
      }
      std::string msg = fmt::format("`{}` is not an ISO 3166-1 alpha-2 country code", text);
      if (auto guess = suggest_country(text)) msg += fmt::format(" (did you mean {}?)", country_code(*guess));
      return msg;
    }
    case CellType::Date:
      if (auto t = parse_date(text)) {
        bits = static_cast<uint64_t>(*t);
        return std::nullopt;
      }
      return fmt::format("`{}` is not a date; write YYYY-MM-DD, e.g. 2023-10-17", text);
    case CellType::Time:
      if (auto t = parse_rfc3339(text)) {
        bits = static_cast<uint64_t>(*t);
        return std::nullopt;
      }
      if (auto t = parse_date(text)) {
        bits = static_cast<uint64_t>(*t);
        return std::nullopt;
      }
      return fmt::format("`{}` is not a time; write RFC 3339 (2024-03-14T09:12:00Z) or a date", text);
  }
  return "unknown column type";
}

// Column positions of the key and of every field, from the header line.
std::optional<LoadError> map_header(const abi::DataSchema& schema, const std::vector<Cell>& header,
                                    const std::string& name, std::string_view bytes, int& key_at,
                                    std::vector<int>& field_at) {
  auto find = [&](const std::string& h) {
    for (size_t i = 0; i < header.size(); ++i)
      if (header[i].text == h) return static_cast<int>(i);
    return -1;
  };
  for (size_t i = 0; i < header.size(); ++i)
    for (size_t j = 0; j < i; ++j)
      if (!header[i].text.empty() && header[i].text == header[j].text)
        return at_cell("E0072", name, bytes, header[i],
                       fmt::format("column `{}` appears twice in the header (first at column {})",
                                   header[i].text, position_of(bytes, header[j].offset).column));
  auto listing = [&] {
    std::string all;
    for (const Cell& c : header) {
      if (!all.empty()) all += ", ";
      all += c.text;
    }
    return all;
  };
  key_at = find(schema.key_header);
  if (key_at < 0)
    return LoadError{"E0073",
                     name,
                     1,
                     1,
                     0,
                     fmt::format("the header has no key column `{}` (data `{}`); it has: {}",
                                 schema.key_header, schema.name, listing())};
  field_at.clear();
  for (const abi::DataColumn& c : schema.columns) {
    int at = find(c.header);
    if (at < 0 && !c.optional)
      return LoadError{
          "E0073",
          name,
          1,
          1,
          0,
          fmt::format("the header has no column `{}` for required field `{}` of data `{}`; it has: {}",
                      c.header, c.name, schema.name, listing())};
    field_at.push_back(at);
  }
  return std::nullopt;
}

// What add_record reuses from one row to the next.
struct RowScratch {
  std::vector<uint64_t> cells;
  std::vector<uint8_t> present;
  std::vector<uint64_t> key_offsets;  // per row added: where its key is (the line a duplicate names)
};

// One record into the snapshot, or the error that rejects it.
std::optional<LoadError> add_record(const abi::DataSchema& schema, const Cell* record, int key_at,
                                    const std::vector<int>& field_at, const std::string& name,
                                    std::string_view bytes, abi::DataSnapshot& snapshot,
                                    RowScratch& scratch) {
  const Cell& key = record[static_cast<size_t>(key_at)];
  if (key.text.empty())
    return at_cell("E0074", name, bytes, key, fmt::format("empty key `{}`", schema.key_header));
  uint64_t key_bits = 0;
  std::string_view key_text;
  if (schema.key == abi::CellType::Str) {
    key_text = key.text;
  } else if (auto bad = parse_cell(schema.key, key.text, snapshot, key_bits)) {
    return at_cell("E0074", name, bytes, key, fmt::format("key `{}`: {}", schema.key_header, *bad));
  }
  std::vector<uint64_t>& cells = scratch.cells;
  std::vector<uint8_t>& present = scratch.present;
  cells.assign(schema.columns.size(), 0);
  present.assign(schema.columns.size(), 0);
  for (size_t i = 0; i < schema.columns.size(); ++i) {
    const abi::DataColumn& c = schema.columns[i];
    if (field_at[i] < 0) continue;
    const Cell& cell = record[static_cast<size_t>(field_at[i])];
    if (cell.items && c.type == abi::CellType::StrList) {
      cells[i] = snapshot.add_list(*cell.items);
      present[i] = 1;
      continue;
    }
    if (cell.text.empty() && c.type != abi::CellType::StrList) {
      if (!c.optional)
        return at_cell("E0074", name, bytes, cell,
                       fmt::format("empty `{}`: field `{}` is required (declare it `{}?` to allow a blank)",
                                   c.header, c.name, abi::cell_type_name(c.type)));
      continue;
    }
    if (auto bad = parse_cell(c.type, cell.text, snapshot, cells[i]))
      return at_cell("E0074", name, bytes, cell, fmt::format("column `{}`: {}", c.header, *bad));
    present[i] = 1;
  }
  uint32_t clash = 0;
  if (!snapshot.add_row(key_bits, key_text, cells, present, &clash))
    return at_cell(
        "E0075", name, bytes, key,
        fmt::format("duplicate key `{}`: line {} has the same key in force over an overlapping period",
                    key.text, position_of(bytes, scratch.key_offsets[clash]).line));
  scratch.key_offsets.push_back(key.offset);
  return std::nullopt;
}

// E0071: what makes a file unreadable as text, whatever its format.
std::optional<LoadError> text_error(std::string_view bytes, const std::string& name, const char* empty_help) {
  if (bytes.empty())
    return LoadError{"E0071", name, 1, 1, 0, fmt::format("the file is empty; {}", empty_help)};
  if (bytes.substr(0, 3) == "\xEF\xBB\xBF")
    return LoadError{
        "E0071", name, 1,
        1,       0,    "the file starts with a byte order mark (U+FEFF); save it as UTF-8 without BOM"};
  if (size_t bad = invalid_utf8(bytes); bad != std::string_view::npos) {
    uint64_t line = 1, col = 1;
    for (size_t i = 0; i < bad; ++i) {
      if (bytes[i] == '\n') {
        ++line;
        col = 1;
      } else if ((static_cast<unsigned char>(bytes[i]) & 0xc0) != 0x80) {
        ++col;
      }
    }
    return LoadError{
        "E0071", name, line,
        col,     bad,  fmt::format("invalid UTF-8 (byte 0x{:02X})", static_cast<unsigned char>(bytes[bad]))};
  }
  return std::nullopt;
}

// Characters (not bytes) before `offset` in `line`, plus one.
uint64_t column_at(std::string_view line, size_t offset) {
  uint64_t col = 1;
  for (size_t i = 0; i < offset && i < line.size(); ++i)
    if ((static_cast<unsigned char>(line[i]) & 0xc0) != 0x80) ++col;
  return col;
}

// A JSON Lines record's cell, holding its own text (simdjson's strings
// last only until the next line is parsed).
struct JsonCell {
  std::string text;
  uint64_t offset = 0;
  std::optional<std::vector<std::string>> items;
};

// A JSON Lines value as the cell a CSV file would hold, or why it cannot be
// one: strings for text, countries, dates and times; numbers for int and
// number; true/false for bool; an array of strings (or one `;` separated
// string) for a list; null for a blank.
std::optional<std::string> json_cell(abi::CellType type, simdjson::dom::element v, JsonCell& cell) {
  using abi::CellType;
  using simdjson::dom::element_type;
  const element_type t = v.type();
  if (t == element_type::NULL_VALUE) return std::nullopt;
  switch (type) {
    case CellType::StrList:
      if (t == element_type::ARRAY) {
        cell.items.emplace();
        const simdjson::dom::array array = v.get_array().value_unsafe();
        for (simdjson::dom::element item : array) {
          if (item.type() != element_type::STRING) return "a list holds strings only";
          std::string_view text = trim(item.get_string().value_unsafe());
          if (!text.empty()) cell.items->emplace_back(text);
        }
        return std::nullopt;
      }
      [[fallthrough]];
    case CellType::Str:
    case CellType::Country:
    case CellType::Date:
    case CellType::Time:
      if (t != element_type::STRING)
        return fmt::format("expected a string (a {} is written in quotes)", abi::cell_type_name(type));
      cell.text = std::string(v.get_string().value_unsafe());
      return std::nullopt;
    case CellType::Int:
      if (t == element_type::INT64)
        cell.text = std::to_string(v.get_int64().value_unsafe());
      else if (t == element_type::UINT64)
        return "an integer out of range";
      else
        return "expected an integer, written without quotes";
      return std::nullopt;
    case CellType::Number:
      if (t == element_type::INT64)
        cell.text = std::to_string(v.get_int64().value_unsafe());
      else if (t == element_type::UINT64)
        cell.text = std::to_string(v.get_uint64().value_unsafe());
      else if (t == element_type::DOUBLE)
        cell.text = fmt::format("{}", v.get_double().value_unsafe());
      else
        return "expected a number, written without quotes";
      return std::nullopt;
    case CellType::Bool:
      if (t != element_type::BOOL) return "expected true or false, written without quotes";
      cell.text = v.get_bool().value_unsafe() ? "true" : "false";
      return std::nullopt;
  }
  return "unknown column type";
}

// One line of a JSON Lines data file as a record: the key cell first, then
// one cell per field (`field_at` says which the line has).
std::optional<LoadError> json_record(const abi::DataSchema& schema, simdjson::dom::parser& parser,
                                     std::string_view line, uint64_t line_no, size_t line_offset,
                                     const std::string& name, std::vector<JsonCell>& record,
                                     std::vector<int>& field_at) {
  auto at = [&](const char* code, size_t offset, std::string message) {
    return LoadError{code, name, line_no, column_at(line, offset), line_offset + offset, std::move(message)};
  };
  auto key_offset = [&](std::string_view key) {
    size_t found = line.find(fmt::format("\"{}\"", key));
    return found == std::string_view::npos ? 0 : found;
  };
  simdjson::dom::element root;
  if (auto error = parser.parse(line.data(), line.size()).get(root))
    return at("E0072", 0, fmt::format("not JSON: {}", simdjson::error_message(error)));
  simdjson::dom::object object;
  if (root.get_object().get(object))
    return at("E0072", 0, "each line of a JSON Lines data file is one JSON object");
  // One pass over the object: each key once, and the value of the key
  // column and of each field's column.
  simdjson::dom::element key_value;
  bool has_key = false;
  std::vector<std::optional<simdjson::dom::element>> values(schema.columns.size());
  std::vector<std::string_view> seen;
  for (simdjson::dom::key_value_pair field : object) {
    if (std::find(seen.begin(), seen.end(), field.key) != seen.end())
      return at("E0072", key_offset(field.key),
                fmt::format("key `{}` appears twice in the object", field.key));
    seen.push_back(field.key);
    if (field.key == schema.key_header) key_value = field.value, has_key = true;
    for (size_t i = 0; i < schema.columns.size(); ++i)
      if (field.key == schema.columns[i].header) values[i] = field.value;
  }
  record.assign(schema.columns.size() + 1, JsonCell{});
  field_at.assign(schema.columns.size(), -1);
  auto read = [&](const std::string& header, abi::CellType type, simdjson::dom::element value,
                  size_t index) -> std::optional<LoadError> {
    JsonCell& cell = record[index];
    size_t offset = key_offset(header);
    cell.offset = line_offset + offset;
    if (auto bad = json_cell(type, value, cell))
      return at("E0074", offset, fmt::format("`{}`: {}", header, *bad));
    return std::nullopt;
  };
  if (!has_key)
    return at("E0073", 0,
              fmt::format("the object has no key `{}` (data `{}`)", schema.key_header, schema.name));
  if (auto bad = read(schema.key_header, schema.key, key_value, 0)) return bad;
  for (size_t i = 0; i < schema.columns.size(); ++i) {
    const abi::DataColumn& c = schema.columns[i];
    if (!values[i]) {
      if (!c.optional)
        return at("E0073", 0,
                  fmt::format("the object has no `{}` for required field `{}` of data `{}`", c.header, c.name,
                              schema.name));
      continue;
    }
    if (auto bad = read(c.header, c.type, *values[i], i + 1)) return bad;
    field_at[i] = static_cast<int>(i + 1);
  }
  return std::nullopt;
}

}  // namespace

struct ReadFile::Parsed {
  std::vector<Cell> header;
  std::vector<Cell> cells;  // the good records' cells, header.size() per record, one record after another
  size_t records = 0;
  std::optional<LoadError> error;  // what ended the reading early (after `records` good records)
  bool header_failed = false;      // the header itself is malformed
  std::deque<std::string> unescaped;
};

namespace {

// A CSV file's records, each checked for its number of fields; the first
// malformed one ends the reading, as it would end a load.
std::unique_ptr<ReadFile::Parsed> split_csv(std::string_view bytes) {
  auto parsed = std::make_unique<ReadFile::Parsed>();
  CsvReader reader(bytes, parsed->unescaped);
  std::optional<LoadError> error;
  reader.next(parsed->header, error);
  if (error) {
    parsed->error = std::move(error);
    parsed->header_failed = true;
    return parsed;
  }
  const size_t width = parsed->header.size();
  parsed->cells.reserve(width * static_cast<size_t>(std::count(bytes.begin(), bytes.end(), '\n')));
  std::vector<Cell> record;
  for (;;) {
    record.clear();
    if (!reader.next(record, error)) break;
    if (error) {
      parsed->error = std::move(error);
      break;
    }
    if (record.size() == 1 && record[0].text.empty()) continue;  // a blank line
    if (record.size() != width) {
      const Cell& at = record.size() > width ? record[width] : record.back();
      parsed->error = at_cell("E0072", std::string(), bytes, at,
                              fmt::format("{} fields where the header has {}", record.size(), width));
      break;
    }
    parsed->cells.insert(parsed->cells.end(), record.begin(), record.end());
    ++parsed->records;
  }
  return parsed;
}

LoadError named(LoadError e, const std::string& name) {
  e.file = name;
  return e;
}

LoadResult failed(LoadError e) {
  return LoadResult{nullptr, std::move(e)};
}

// One declaration's snapshot from a CSV file's records.
LoadResult build_csv(const abi::DataSchema& schema, std::string_view bytes, const std::string& name,
                     const std::string& content_hash, const ReadFile::Parsed& parsed) {
  if (parsed.header_failed) return failed(named(*parsed.error, name));
  int key_at = -1;
  std::vector<int> field_at;
  if (auto bad = map_header(schema, parsed.header, name, bytes, key_at, field_at)) return failed(*bad);
  auto snapshot = std::make_shared<abi::DataSnapshot>(schema, name, content_hash);
  RowScratch scratch;
  scratch.key_offsets.reserve(parsed.records);
  const size_t width = parsed.header.size();
  for (size_t r = 0; r < parsed.records; ++r)
    if (auto bad =
            add_record(schema, &parsed.cells[r * width], key_at, field_at, name, bytes, *snapshot, scratch))
      return failed(*bad);
  if (parsed.error) return failed(named(*parsed.error, name));
  snapshot->build_index();
  return LoadResult{std::move(snapshot), std::nullopt};
}

// One declaration's snapshot from a JSON Lines file's bytes.
LoadResult build_jsonl(const abi::DataSchema& schema, std::string_view bytes, const std::string& name,
                       const std::string& content_hash) {
  auto snapshot = std::make_shared<abi::DataSnapshot>(schema, name, content_hash);
  simdjson::dom::parser parser;
  std::vector<JsonCell> owned;
  std::vector<Cell> record;
  std::vector<int> field_at;
  RowScratch scratch;
  uint64_t line_no = 0;
  for (size_t start = 0; start < bytes.size();) {
    size_t end = bytes.find('\n', start);
    if (end == std::string_view::npos) end = bytes.size();
    std::string_view line = bytes.substr(start, end - start);
    const size_t line_offset = start;
    start = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find_first_not_of(" \t") == std::string_view::npos) continue;  // a blank line
    if (auto bad = json_record(schema, parser, line, line_no, line_offset, name, owned, field_at))
      return failed(*bad);
    record.clear();
    for (const JsonCell& c : owned) record.push_back(Cell{c.text, c.offset, c.items ? &*c.items : nullptr});
    if (auto bad = add_record(schema, record.data(), 0, field_at, name, bytes, *snapshot, scratch))
      return failed(*bad);
  }
  if (scratch.key_offsets.empty())
    return failed(LoadError{"E0071", name, 1, 1, 0, "the file holds no objects, only blank lines"});
  snapshot->build_index();
  return LoadResult{std::move(snapshot), std::nullopt};
}

constexpr const char* kCsvEmptyHelp = "a data file starts with a header line";
constexpr const char* kJsonlEmptyHelp = "a JSON Lines data file holds one object per line";

std::string content_hash_of(std::string_view bytes) {
  return "sha256:" + sha256_hex(bytes);
}

}  // namespace

LoadResult load_csv(const abi::DataSchema& schema, std::string_view bytes, const std::string& name) {
  if (auto bad = text_error(bytes, name, kCsvEmptyHelp)) return failed(*bad);
  return build_csv(schema, bytes, name, content_hash_of(bytes), *split_csv(bytes));
}

LoadResult load_jsonl(const abi::DataSchema& schema, std::string_view bytes, const std::string& name) {
  if (auto bad = text_error(bytes, name, kJsonlEmptyHelp)) return failed(*bad);
  return build_jsonl(schema, bytes, name, content_hash_of(bytes));
}

ReadFile::~ReadFile() = default;

std::shared_ptr<const ReadFile> ReadFile::read(const std::string& path) {
  std::shared_ptr<ReadFile> file(new ReadFile());
  auto fail = [&](std::string message) {
    file->error_ = LoadError{"E0070", path, 0, 0, 0, std::move(message)};
    return file;
  };
  std::error_code ec;
  // A FIFO or a device could block or never end: only regular files.
  if (std::filesystem::exists(path, ec) && !std::filesystem::is_regular_file(path, ec))
    return fail("cannot read: not a regular file");
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(fmt::format("cannot read: {}", std::strerror(errno)));
  // One read of the size the file has (and whatever it grew by since).
  const auto size = std::filesystem::file_size(path, ec);
  if (!ec && size > 0) {
    file->bytes_.resize(size);
    in.read(file->bytes_.data(), static_cast<std::streamsize>(size));
    file->bytes_.resize(static_cast<size_t>(in.gcount()));
  }
  if (!in.eof() && !in.bad()) {
    std::ostringstream rest;
    rest << in.rdbuf();
    file->bytes_ += rest.str();
  }
  if (in.bad()) return fail("read error");
  std::string_view ext =
      std::string_view(path).substr(path.rfind('.') == std::string::npos ? path.size() : path.rfind('.'));
  file->jsonl_ = ext == ".jsonl" || ext == ".ndjson";
  if (!file->jsonl_ && ext != ".csv")
    return fail(fmt::format("unknown data file type `{}`; Edict reads .csv and .jsonl (JSON Lines)", ext));
  if (auto bad = text_error(file->bytes_, path, file->jsonl_ ? kJsonlEmptyHelp : kCsvEmptyHelp)) {
    file->error_ = std::move(bad);
    return file;
  }
  file->content_hash_ = content_hash_of(file->bytes_);
  if (!file->jsonl_) file->csv_ = split_csv(file->bytes_);
  return file;
}

LoadResult ReadFile::load(const abi::DataSchema& schema, const std::string& name) const {
  if (error_) return failed(named(*error_, name));
  if (jsonl_) return build_jsonl(schema, bytes_, name, content_hash_);
  return build_csv(schema, bytes_, name, content_hash_, *csv_);
}

LoadResult load_file(const abi::DataSchema& schema, const std::string& path) {
  return ReadFile::read(path)->load(schema, path);
}

}  // namespace edict::data
