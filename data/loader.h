// Reads a data source's file into a DataSnapshot (abi/data.h): CSV (RFC 4180,
// with a header line; columns found by header name, others ignored) or JSON
// Lines (one object per line; fields found by key, others ignored). All or
// nothing: any bad input is one LoadError that
// says where (file, line, column) and what, and no snapshot.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "abi/data.h"

namespace edict::data {

// Diagnostic codes (stable; docs/language.md lists them):
//   E0070 the file cannot be read (missing, unreadable, not .csv or .jsonl)
//   E0071 the file is empty, starts with a byte order mark, or is not UTF-8
//   E0072 malformed CSV: unterminated quote, stray quote, wrong field count,
//         a column named twice in the header; a JSON Lines line that is not
//         one JSON object, or names a key twice
//   E0073 the header (CSV) or an object (JSON Lines) lacks the key column or
//         a required field's column
//   E0074 a cell that is not of its field's type (date, country, number, ...)
//         or a required cell left empty
//   E0075 duplicate key: two rows with one key in force at the same time
struct LoadError {
  const char* code = "E0070";
  std::string file;
  uint64_t line = 0, column = 0;  // 1-based; 0 when the error is about the whole file
  uint64_t offset = 0;            // byte offset of line:column
  std::string message;
  std::string text() const;  // `file:line:col: error[E0072]: message`
};

struct LoadResult {
  std::shared_ptr<const abi::DataSnapshot> snapshot;  // null on error
  std::optional<LoadError> error;
};

// Reads `path` (never any other file); chooses the format by its extension.
LoadResult load_file(const abi::DataSchema& schema, const std::string& path);

// A data file read once for every declaration that names it: its bytes
// read, checked as UTF-8 and hashed once, and a CSV file split into records
// once; each declaration then builds its own snapshot from them. The result
// of load() is the one load_file(schema, name) gives, errors included (a
// file error is each declaration's, under the name it read the file by).
class ReadFile {
 public:
  static std::shared_ptr<const ReadFile> read(const std::string& path);
  LoadResult load(const abi::DataSchema& schema, const std::string& name) const;
  ~ReadFile();

  struct Parsed;  // the CSV records (loader.cpp)

 private:
  ReadFile() = default;
  std::string bytes_, content_hash_;
  std::optional<LoadError> error_;  // the file cannot be read, or is not text
  bool jsonl_ = false;
  std::unique_ptr<Parsed> csv_;
};

// The same over bytes already read; `name` is the file name errors give.
LoadResult load_csv(const abi::DataSchema& schema, std::string_view bytes, const std::string& name);
LoadResult load_jsonl(const abi::DataSchema& schema, std::string_view bytes, const std::string& name);

// The separator of a list cell (`alt_names` of the US Consolidated Screening
// List): `;`, with spaces around items trimmed.
inline constexpr char kListSeparator = ';';

}  // namespace edict::data
