// Page-fault cost of fresh outputs on the CPU.
//
// A gradient the size of the logits is a new allocation every step, and the
// kernel's first write to each 4 KiB page faults: for 0.5 GB that is 128k
// faults, more time than the arithmetic. Asking for transparent huge pages on
// the buffer (where the kernel allows it on request, the common "madvise"
// setting) cuts them 512-fold. Advice only: nothing changes if it is refused.
#pragma once

#include <cstddef>
#include <cstdint>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace lossext {
namespace cpu {

inline void advise_huge_pages(void* ptr, size_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  constexpr uintptr_t kHuge = uintptr_t(2) << 20;
  if (bytes < 4 * kHuge) return;
  const uintptr_t begin = (reinterpret_cast<uintptr_t>(ptr) + kHuge - 1) & ~(kHuge - 1);
  const uintptr_t end = (reinterpret_cast<uintptr_t>(ptr) + bytes) & ~(kHuge - 1);
  if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
#else
  (void)ptr;
  (void)bytes;
#endif
}

}  // namespace cpu
}  // namespace lossext
