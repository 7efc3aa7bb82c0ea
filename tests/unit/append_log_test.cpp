// support/atomic_file.h's AppendOnlyFile: the decision log's file (appends
// of whole records, rotation keeping N files). The full-disk case is
// tests/server's (it needs a mounted tmpfs).
#include <catch2/catch.hpp>

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fcntl.h>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "support/atomic_file.h"

namespace {
std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
// How many of the file's pages are in the page cache (mincore).
size_t cached_pages(const std::string& path, size_t bytes) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  void* map = mmap(nullptr, bytes, PROT_READ, MAP_SHARED, fd, 0);
  ::close(fd);
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE)), pages = (bytes + page - 1) / page;
  std::vector<unsigned char> resident(pages);
  size_t n = 0;
  if (map != MAP_FAILED && mincore(map, bytes, resident.data()) == 0)
    for (unsigned char r : resident) n += r & 1;
  if (map != MAP_FAILED) munmap(map, bytes);
  return n;
}
}  // namespace

TEST_CASE("a synced append-only file's pages leave the page cache when its syncer drops them", "[support]") {
  namespace fs = std::filesystem;
  const std::string path = (fs::temp_directory_path() / ("edict-drop-" + std::to_string(getpid()))).string();
  fs::remove(path);
  std::string error;
  auto log = edict::AppendOnlyFile::open(path, &error);
  REQUIRE(log);
  const std::string records(1 << 20, 'x');
  REQUIRE(log->append(records, &error));
  CHECK(cached_pages(path, records.size()) > 200);  // just written: in the cache
  auto syncer = log->syncer();
  REQUIRE(syncer->sync());
  syncer->drop_cached();
  CHECK(cached_pages(path, records.size()) < 16);  // synced and dropped: gone (the log reads as before)
  CHECK(read_all(path) == records);
  // A later drop from where the last ended: the new pages go, the first
  // (read back just now) are not touched.
  REQUIRE(log->append(records, &error));
  auto next = log->syncer();
  REQUIRE(next->sync());
  next->drop_cached(syncer->bytes());
  CHECK(cached_pages(path, 2 * records.size()) > 200);
  CHECK(cached_pages(path, 2 * records.size()) < 16 + 256);
  fs::remove(path);
}

TEST_CASE("an append-only file appends to what is there and rotates keeping N files", "[support]") {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("edict-append-" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string path = (dir / "log.jsonl").string();
  { std::ofstream(path) << "{\"old\":1}\n"; }
  std::string error;
  auto log = edict::AppendOnlyFile::open(path, &error);
  REQUIRE(log);
  CHECK(log->size() == 10);  // an existing log is continued, not replaced
  REQUIRE(log->append("{\"a\":1}\n", &error));
  CHECK(log->size() == 18);
  CHECK(read_all(path) == "{\"old\":1}\n{\"a\":1}\n");
  for (int i = 0; i < 4; ++i) {
    REQUIRE(log->rotate(2, &error));
    REQUIRE(log->append("{\"r\":" + std::to_string(i) + "}\n", &error));
  }
  CHECK(log->size() == 8);
  CHECK(read_all(path) == "{\"r\":3}\n");
  CHECK(read_all(path + ".1") == "{\"r\":2}\n");
  CHECK(read_all(path + ".2") == "{\"r\":1}\n");
  CHECK_FALSE(fs::exists(path + ".3"));  // keep 2: older ones are gone
  REQUIRE(log->sync(&error));

  auto folder = edict::AppendOnlyFile::open(dir.string(), &error);
  CHECK_FALSE(folder);
  CHECK(error.find(dir.string()) != std::string::npos);
  fs::remove_all(dir);
}

namespace {
uint64_t allocated_bytes(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_blocks) * 512 : 0;
}
}  // namespace

TEST_CASE("an append-only file's blocks allocated ahead keep its size and are given back", "[support]") {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("edict-reserve-" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string path = (dir / "log.jsonl").string();
  // A run that crashed left blocks allocated past the end: the next open gives them back.
  {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT, 0644);
    REQUIRE(::write(fd, "{\"old\":1}\n", 10) == 10);
    const int allocated = ::fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, 4 << 20);
    ::close(fd);
    REQUIRE(allocated == 0);  // the temporary folder's file system allocates ahead (ext4, XFS, tmpfs do)
    REQUIRE(allocated_bytes(path) >= (4u << 20));
  }
  std::string error;
  auto log = edict::AppendOnlyFile::open(path, &error);
  REQUIRE(log);
  CHECK(allocated_bytes(path) < (1u << 20));
  const std::string record(1000, 'x');
  REQUIRE(log->append(record + "\n", &error));
  CHECK(fs::file_size(path) == 1011);                                   // the size is what was written ...
  CHECK(allocated_bytes(path) >= edict::AppendOnlyFile::kReserveStep);  // ... the blocks run ahead
  CHECK(read_all(path) == "{\"old\":1}\n" + record + "\n");
  REQUIRE(log->rotate(1, &error));
  CHECK(allocated_bytes(path + ".1") < (1u << 20));  // the rotated file gave its blocks back
  REQUIRE(log->append(record + "\n", &error));
  CHECK(allocated_bytes(path) >= edict::AppendOnlyFile::kReserveStep);
  log.reset();
  CHECK(allocated_bytes(path) < (1u << 20));  // and so does the closed one
  CHECK(read_all(path) == record + "\n");
  fs::remove_all(dir);
}

TEST_CASE("an append-only file writes a large append's whole blocks directly, and nothing else",
          "[support]") {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("edict-direct-" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string path = (dir / "log.jsonl").string();
  std::string error;
  auto log = edict::AppendOnlyFile::open(path, &error);
  REQUIRE(log);
  REQUIRE(log->takes_direct());  // the temporary folder's file system takes O_DIRECT (ext4, XFS, tmpfs do)
  REQUIRE(log->append("{\"a\":1}\n", &error, true));  // small: through the cache
  CHECK(log->last_direct_bytes() == 0);
  CHECK(log->block_offset() == 8);

  // 300 KB of lines laid where the file's next byte falls in a block.
  constexpr size_t kAlign = edict::AppendOnlyFile::kDirectAlign;
  std::string lines;
  for (int i = 0; lines.size() < 300'000; ++i) lines += "{\"line\":" + std::to_string(i) + "}\n";
  char* memory = static_cast<char*>(std::aligned_alloc(kAlign, lines.size() + 2 * kAlign));
  std::memcpy(memory + log->block_offset(), lines.data(), lines.size());
  REQUIRE(log->append(std::string_view(memory + 8, lines.size()), &error, true));
  // The whole blocks from the second on went directly; the partial ones at
  // the ends (the first block's 4,088 bytes, the last's rest) did not.
  const uint64_t end = 8 + lines.size();
  CHECK(log->last_direct_bytes() == (end / kAlign - 1) * kAlign);
  CHECK(fs::file_size(path) == end);    // no padding: the size is the last line's end
  CHECK(cached_pages(path, end) <= 3);  // the direct blocks did not go through the page cache
  CHECK(read_all(path) == "{\"a\":1}\n" + lines);

  // The same bytes one byte off their place in memory: all through the cache.
  std::memmove(memory + log->block_offset() + 1, lines.data(), lines.size());
  REQUIRE(log->append(std::string_view(memory + log->block_offset() + 1, lines.size()), &error, true));
  CHECK(log->last_direct_bytes() == 0);
  // Without `direct`: through the cache too.
  std::memcpy(memory + log->block_offset(), lines.data(), lines.size());
  REQUIRE(log->append(std::string_view(memory + log->block_offset(), lines.size()), &error));
  CHECK(log->last_direct_bytes() == 0);
  CHECK(read_all(path) == "{\"a\":1}\n" + lines + lines + lines);
  CHECK(log->size() == fs::file_size(path));
  std::free(memory);
  log.reset();
  fs::remove_all(dir);
}

TEST_CASE("an append-only file cuts off a last line a killed run left without its line break", "[support]") {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("edict-torn-" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string path = (dir / "log.jsonl").string();
  // A torn line longer than one read of the tail (64 KiB) after whole ones.
  const std::string whole = "{\"a\":1}\n{\"b\":2}\n", torn = "{\"c\":\"" + std::string(100'000, 'x');
  { std::ofstream(path, std::ios::binary) << whole << torn; }
  std::string error;
  auto log = edict::AppendOnlyFile::open(path, &error);
  REQUIRE(log);
  CHECK(log->size() == whole.size());
  REQUIRE(log->append("{\"d\":4}\n", &error));
  CHECK(read_all(path) == whole + "{\"d\":4}\n");
  log.reset();
  // Whole lines are kept as they are, and so is a file with no line break at all.
  log = edict::AppendOnlyFile::open(path, &error);
  CHECK(log->size() == whole.size() + 8);
  log.reset();
  { std::ofstream(path, std::ios::binary) << "not a log"; }
  log = edict::AppendOnlyFile::open(path, &error);
  CHECK(log->size() == 9);
  CHECK(read_all(path) == "not a log");
  log.reset();
  fs::remove_all(dir);
}
