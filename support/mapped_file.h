// Windows of a regular file mapped read-only into memory, for reading large
// inputs without copying them (the event reader). A file that shrinks while
// mapped would raise SIGBUS on the pages it lost; here those pages read as
// zeros instead, and the window's `changed` flag is set so that the reader
// can stop with an error rather than crash or trust the zeros.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace edict::support {

class FileWindow {
 public:
  // Bytes readable past size() (zeros): a page, so that text ending at the
  // window's end may be read with a little padding past it.
  static size_t guard_bytes();
  static size_t page_size();

  // Maps bytes [offset, offset + length) of `fd` (offset a multiple of
  // page_size(), length > 0) followed by zeroed guard bytes. A read of a
  // page the file no longer has sets *changed (which must outlive the
  // window) and reads zeros. nullptr with *error on failure.
  static std::unique_ptr<FileWindow> map(int fd, uint64_t offset, size_t length, std::atomic<bool>* changed,
                                         std::string* error);
  ~FileWindow();
  FileWindow(const FileWindow&) = delete;
  FileWindow& operator=(const FileWindow&) = delete;

  const char* data() const { return base_; }
  uint64_t offset() const { return offset_; }
  size_t size() const { return length_; }  // file bytes; guard_bytes() more are readable

 private:
  FileWindow() = default;
  char* base_ = nullptr;
  size_t mapped_ = 0;  // length_ rounded up to pages, plus the guard
  uint64_t offset_ = 0;
  size_t length_ = 0;
  int slot_ = -1;  // in the SIGBUS handler's table
};

}  // namespace edict::support
