// File windows that survive the file shrinking under them. The SIGBUS
// handler looks the faulting address up in a fixed table of live windows
// (no allocation or lock: it runs inside a signal), maps a zero page over
// it so that the faulting read completes, and sets the window's flag; a
// fault outside every window goes to whatever handled SIGBUS before.
#include "support/mapped_file.h"

#include <fmt/format.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>

namespace edict::support {

namespace {

// One live window: [begin, end) and its flag. `begin` is set last and
// cleared first, so that the handler never sees half a slot.
struct Slot {
  std::atomic<bool> taken{false};
  std::atomic<uintptr_t> begin{0}, end{0};
  std::atomic<std::atomic<bool>*> changed{nullptr};
};
constexpr int kSlots = 64;  // a reader holds two or three windows at once
Slot g_slots[kSlots];
std::atomic<uintptr_t> g_page{4096};
struct sigaction g_previous {};
std::once_flag g_installed;

void on_sigbus(int sig, siginfo_t* info, void* context) {
  const uintptr_t address = reinterpret_cast<uintptr_t>(info->si_addr);
  const uintptr_t page = g_page.load();
  for (Slot& slot : g_slots) {
    const uintptr_t begin = slot.begin.load();
    if (begin == 0 || address < begin || address >= slot.end.load()) continue;
    // Set before the zeros appear: whoever reads them sees the flag after.
    if (std::atomic<bool>* changed = slot.changed.load()) changed->store(true);
    void* lost = reinterpret_cast<void*>(address & ~(page - 1));
    if (::mmap(lost, page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != MAP_FAILED) return;
    break;
  }
  // Not a window's fault (or it could not be mended): what happened before.
  if ((g_previous.sa_flags & SA_SIGINFO) && g_previous.sa_sigaction) {
    g_previous.sa_sigaction(sig, info, context);
  } else if (g_previous.sa_handler != SIG_DFL && g_previous.sa_handler != SIG_IGN) {
    g_previous.sa_handler(sig);
  } else {
    // The faulting instruction runs again and takes the default action.
    ::signal(SIGBUS, SIG_DFL);
  }
}

void install_handler() {
  g_page.store(static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE)));
  struct sigaction sa {};
  sa.sa_sigaction = on_sigbus;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGBUS, &sa, &g_previous);
}

int take_slot(uintptr_t begin, uintptr_t end, std::atomic<bool>* changed) {
  for (int i = 0; i < kSlots; ++i) {
    bool expected = false;
    if (!g_slots[i].taken.compare_exchange_strong(expected, true)) continue;
    g_slots[i].changed.store(changed);
    g_slots[i].end.store(end);
    g_slots[i].begin.store(begin);
    return i;
  }
  return -1;
}

}  // namespace

size_t FileWindow::page_size() {
  static const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  return page;
}

size_t FileWindow::guard_bytes() {
  return page_size();
}

std::unique_ptr<FileWindow> FileWindow::map(int fd, uint64_t offset, size_t length,
                                            std::atomic<bool>* changed, std::string* error) {
  std::call_once(g_installed, install_handler);
  const size_t page = page_size();
  const size_t rounded = (length + page - 1) / page * page;
  const size_t total = rounded + guard_bytes();
  // Zeros first, for the guard; the file then goes over the front of them.
  void* area = ::mmap(nullptr, total, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (area == MAP_FAILED) {
    *error = fmt::format("cannot map {} bytes: {}", total, std::strerror(errno));
    return nullptr;
  }
  // MAP_POPULATE sets up the window's page table at once, rather than a
  // fault per few pages as the reader first touches them.
  void* file =
      ::mmap(area, rounded, PROT_READ, MAP_SHARED | MAP_FIXED | MAP_POPULATE, fd, static_cast<off_t>(offset));
  if (file == MAP_FAILED) {
    *error = fmt::format("cannot map the file: {}", std::strerror(errno));
    ::munmap(area, total);
    return nullptr;
  }
  ::madvise(file, rounded, MADV_SEQUENTIAL);
  std::unique_ptr<FileWindow> w(new FileWindow());
  w->base_ = static_cast<char*>(area);
  w->mapped_ = total;
  w->offset_ = offset;
  w->length_ = length;
  const uintptr_t begin = reinterpret_cast<uintptr_t>(area);
  w->slot_ = take_slot(begin, begin + rounded, changed);
  if (w->slot_ < 0) {
    *error = "too many file windows mapped at once";
    return nullptr;  // the destructor unmaps
  }
  return w;
}

FileWindow::~FileWindow() {
  if (slot_ >= 0) {
    Slot& slot = g_slots[slot_];
    slot.begin.store(0);
    slot.end.store(0);
    slot.changed.store(nullptr);
    slot.taken.store(false);
  }
  if (base_) ::munmap(base_, mapped_);
}

}  // namespace edict::support
