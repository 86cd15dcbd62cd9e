// simt.cpp: the block scheduler behind simt.h.
//
// A launch runs its blocks one after another on the calling OS thread. A block
// is blockDim.x*y*z fibers (own stacks, a guard page below each, switched by a
// few lines of x86-64 assembly). Each round, the scheduler resumes every
// runnable fiber once, in the schedule's order; a fiber runs until it finishes
// or reaches a barrier (__syncthreads, or a warp intrinsic, which is a barrier
// of the lanes named in its mask). When every fiber is blocked, the scheduler
// releases the barriers that are complete and checks them: all live threads of
// the block at the same __syncthreads, all lanes of a mask at the same warp
// intrinsic with the same mask; anything else is reported (and a block in
// which nothing can proceed is a deadlock, reported with where each thread is).
//
// This file is deliberately built without sanitizer instrumentation (see the
// Makefile): its bookkeeping is shared by all fibers of a block, which a
// race detector would otherwise flag. It still talks to the ASan/TSan runtimes
// through their fiber APIs when the program is linked against them.
// Standard headers first: simt.h defines CUDA qualifiers such as __noinline__
// that the library headers would otherwise see.
#include <cxxabi.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <regex>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "simt/simt.h"

// The sanitizer runtimes export these; weak so that a plain build links too.
extern "C" {
void __sanitizer_start_switch_fiber(void** fake_stack_save, const void* bottom, size_t size) __attribute__((weak));
void __sanitizer_finish_switch_fiber(void* fake_stack_save, const void** bottom_old, size_t* size_old)
    __attribute__((weak));
void __asan_unpoison_memory_region(void const volatile* addr, size_t size) __attribute__((weak));
void* __tsan_get_current_fiber(void) __attribute__((weak));
void* __tsan_create_fiber(unsigned flags) __attribute__((weak));
void __tsan_destroy_fiber(void* fiber) __attribute__((weak));
void __tsan_switch_to_fiber(void* fiber, unsigned flags) __attribute__((weak));
void __tsan_acquire(void* addr) __attribute__((weak));
void __tsan_release(void* addr) __attribute__((weak));
void __tsan_ignore_thread_begin(void) __attribute__((weak));
void __tsan_ignore_thread_end(void) __attribute__((weak));
void __tsan_set_fiber_name(void* fiber, const char* name) __attribute__((weak));
}

thread_local uint3 threadIdx;
thread_local uint3 blockIdx;
thread_local dim3 blockDim;
thread_local dim3 gridDim;

// ---- context switch ----------------------------------------------------------------------
// simt_switch(&save_sp, new_sp): push the callee-saved registers (and the SSE
// and x87 control words) on the current stack, save its pointer, load the
// other one and pop the same.
extern "C" void simt_switch(void** save_sp, void* new_sp);
asm(R"(
  .text
  .globl simt_switch
  .type simt_switch,@function
simt_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  subq $8, %rsp
  stmxcsr (%rsp)
  fnstcw 4(%rsp)
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  ldmxcsr (%rsp)
  fldcw 4(%rsp)
  addq $8, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size simt_switch,.-simt_switch
  .section .note.GNU-stack,"",@progbits
  .text
)");

namespace simt {
namespace {

struct Fiber {
  void* sp = nullptr;
  char* stack = nullptr;  // usable stack [stack, stack + stack_size), guard page below
  size_t stack_size = 0;
  uint3 tid{};
  unsigned linear = 0, warp = 0, lane = 0;
  enum St : uint8_t { Ready, Waiting, Done } st = Ready;
  enum Wait : uint8_t { None, Block, Warp } wait = None;
  const char* file = nullptr;
  int line = 0;
  Op op = Op::SyncWarp;
  unsigned mask = 0;
  uint64_t value = 0, result = 0;
  int arg = 0, width = 32;
  char* sync_obj = nullptr;  // the TSan sync object of the barrier it waits at
  void* fake_stack = nullptr;
  void* tsan = nullptr;
  char name[64] = "";
};

struct SharedAlloc {
  const char* tag;
  void* ptr;
  size_t size;
};

struct Launch {
  const void* kernel;
  const char* file;
  int line;
  dim3 grid, block;
  size_t shmem;
  void (*body)(void*);
  void* ctx;
  unsigned nthreads;
  std::vector<SharedAlloc> shared;
  size_t static_bytes = 0;
  void* dynamic = nullptr;
  std::vector<void*> retired;  // shared memory of finished blocks
  bool bounds_checked = false;
  int kernel_id = -1;
  bool capped = false;
  bool opted_in = false;  // cudaFuncAttributeMaxDynamicSharedMemorySize was raised for this kernel
};

struct KernelInfo {
  std::string name, base;
};
std::vector<KernelInfo>& kernel_registry() {
  static std::vector<KernelInfo>* r = new std::vector<KernelInfo>;
  return *r;
}

// "lossext_dev::cuda::(anonymous namespace)::k<float, (lossext_dev::Kind)2>(P)::simt_kernel_tag"
// -> "k<float, Kind(2)>"
KernelInfo pretty_kernel(const char* mangled) {
  int status = 0;
  char* d = abi::__cxa_demangle(mangled, nullptr, nullptr, &status);
  std::string full = status == 0 && d ? d : mangled;
  std::free(d);
  const std::string tag = "::simt_kernel_tag";
  if (full.size() > tag.size() && full.compare(full.size() - tag.size(), tag.size(), tag) == 0)
    full.resize(full.size() - tag.size());
  // Drop the parameter list: the last top-level "(...)".
  if (!full.empty() && full.back() == ')') {
    int depth = 0;
    for (size_t i = full.size(); i-- > 0;) {
      if (full[i] == ')') ++depth;
      if (full[i] == '(' && --depth == 0) {
        full.resize(i);
        break;
      }
    }
  }
  full = std::regex_replace(full, std::regex(R"(\(anonymous namespace\)::)"), "");
  full = std::regex_replace(full, std::regex(R"(\b(lossext_dev|lossext|cuda)::)"), "");
  full = std::regex_replace(full, std::regex(R"(\((\w+)\)(-?\d+))"), "$1($2)");  // (Kind)2 -> Kind(2)
  KernelInfo k;
  k.name = full;
  k.base = full.substr(0, full.find('<'));
  return k;
}

constexpr unsigned long long kDefaultMaxBlocks = 1u << 14;

struct State {
  Schedule schedule = Schedule::Forward;
  uint64_t seed = 1;
  std::mt19937_64 rng{1};
  int arch = 80;
  unsigned long long max_blocks = kDefaultMaxBlocks;
  bool clamp = false;
  std::string exact_next;  // exact_grid_next_launch()
  bool keep_going = false;
  long errors = 0, launches = 0;
  cudaError_t last_error = cudaSuccess;
  std::map<const void*, int> max_dynamic_shared;
  std::vector<Fiber> fibers;         // slots: a stack and a TSan context each
  std::vector<Fiber*> thread_fiber;  // CUDA thread (linear index in the block) -> its slot
  size_t stack_size = 256 * 1024;
  void* sched_sp = nullptr;
  Fiber* current = nullptr;
  Launch* launch = nullptr;
  const void* main_bottom = nullptr;
  size_t main_size = 0;
  void* main_fake = nullptr;
  void* tsan_main = nullptr;
  char launch_token = 0, finish_token = 0;
  // Per-block sync objects for TSan (fresh memory for each block, so that no
  // happens-before leaks from one block to the next through them).
  // Sync objects for TSan, fresh for each block (so that no happens-before
  // leaks from one block to the next through them): two per barrier kind,
  // used alternately by generation, so that a thread leaving a barrier
  // acquires only what was released *at* that barrier, not what threads that
  // already ran on released at the next one (a missing barrier between two
  // others then shows as a race). [0, 1]: __syncthreads; [2 + 2w, 3 + 2w]: warp w.
  std::vector<char>* block_sync = nullptr;
  unsigned block_gen = 0;
  std::vector<unsigned> warp_gen;
  LaunchObserver observer = nullptr;
};

State& S() {
  static State* s = [] {
    State* st = new State;
    if (const char* e = std::getenv("SIMT_STACK_KB")) st->stack_size = size_t(std::atol(e)) * 1024;
    if (const char* e = std::getenv("SIMT_KEEP_GOING")) st->keep_going = std::atoi(e) != 0;
    if (const char* e = std::getenv("SIMT_SCHEDULE")) {
      const std::string v = e;
      st->schedule = v == "reverse" ? Schedule::Reverse : v == "random" ? Schedule::Random : Schedule::Forward;
    }
    if (const char* e = std::getenv("SIMT_SEED")) st->seed = std::strtoull(e, nullptr, 10);
    st->rng.seed(st->seed);
    return st;
  }();
  return *s;
}

const bool kTsan = __tsan_switch_to_fiber != nullptr;
const bool kAsan = __sanitizer_start_switch_fiber != nullptr;

std::string where() {
  State& s = S();
  char buf[256] = "";
  if (s.launch && s.current)
    std::snprintf(buf, sizeof buf, " [kernel launched at %s:%d, block (%u,%u,%u), thread (%u,%u,%u)]", s.launch->file,
                  s.launch->line, blockIdx.x, blockIdx.y, blockIdx.z, s.current->tid.x, s.current->tid.y,
                  s.current->tid.z);
  else if (s.launch)
    std::snprintf(buf, sizeof buf, " [kernel launched at %s:%d, block (%u,%u,%u)]", s.launch->file, s.launch->line,
                  blockIdx.x, blockIdx.y, blockIdx.z);
  return buf;
}

void vreport(bool fatal_error, const char* fmt, va_list ap) {
  State& s = S();
  char msg[2048];
  std::vsnprintf(msg, sizeof msg, fmt, ap);
  std::fflush(stdout);
  const std::string w = where();
  std::fprintf(stderr, "SIMT ERROR: %s\n %s\n", msg, w.empty() ? "" : w.c_str());
  std::fflush(stderr);
  ++s.errors;
  if (fatal_error || !s.keep_going) std::abort();
}

// ---- fibers ------------------------------------------------------------------------------------
[[noreturn]] void fiber_entry();

void switch_to(Fiber& f) {
  State& s = S();
  s.current = &f;
  threadIdx = f.tid;
  if (kAsan) __sanitizer_start_switch_fiber(&s.main_fake, f.stack, f.stack_size);
  if (kTsan) __tsan_switch_to_fiber(f.tsan, 1 /* no_sync */);
  simt_switch(&s.sched_sp, f.sp);
  if (kAsan) __sanitizer_finish_switch_fiber(s.main_fake, nullptr, nullptr);
  s.current = nullptr;
}

void yield_to_scheduler(Fiber& f, bool finished) {
  State& s = S();
  if (kAsan) __sanitizer_start_switch_fiber(finished ? nullptr : &f.fake_stack, s.main_bottom, s.main_size);
  if (kTsan) __tsan_switch_to_fiber(s.tsan_main, 1);
  simt_switch(&f.sp, s.sched_sp);
  if (kAsan) __sanitizer_finish_switch_fiber(f.fake_stack, nullptr, nullptr);
}

void fiber_entry() {
  State& s = S();
  Fiber& f = *s.current;
  if (kAsan) __sanitizer_finish_switch_fiber(nullptr, &s.main_bottom, &s.main_size);
  if (kTsan) __tsan_acquire(&s.launch_token);
  s.launch->body(s.launch->ctx);
  f.st = Fiber::Done;
  if (kTsan) __tsan_release(&s.finish_token);
  yield_to_scheduler(f, true);
  std::abort();  // a finished fiber is never resumed
}

void prepare(Fiber& f) {
  State& s = S();
  const size_t page = size_t(sysconf(_SC_PAGESIZE));
  if (!f.stack) {
    const size_t size = (s.stack_size + page - 1) / page * page;
    char* base = static_cast<char*>(
        mmap(nullptr, size + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0));
    if (base == MAP_FAILED) fatal("cannot map a fiber stack");
    mprotect(base, page, PROT_NONE);  // guard page: a stack overflow faults
    f.stack = base + page;
    f.stack_size = size;
  }
  // A finished fiber's frames were never popped: clear their poison.
  if (__asan_unpoison_memory_region) __asan_unpoison_memory_region(f.stack, f.stack_size);
  // TSan: one fiber context per slot, kept across blocks (so a stack is only
  // ever reused by the context that used it before). The slots rotate from
  // block to block (run_block), so a context runs thread i of one block and
  // thread i - 1 of the next: those two are ordered by the context's program
  // order and TSan does not check them against each other.
  if (kTsan && !f.tsan) f.tsan = __tsan_create_fiber(0);
  // Initial frame, popped by simt_switch: control words, six registers, then
  // fiber_entry as the return address, above it a null "return address" for
  // fiber_entry itself (16-byte alignment as at a call).
  uintptr_t top = reinterpret_cast<uintptr_t>(f.stack + f.stack_size) & ~uintptr_t(15);
  uint64_t* p = reinterpret_cast<uint64_t*>(top);
  *--p = 0;
  *--p = reinterpret_cast<uint64_t>(&fiber_entry);
  for (int i = 0; i < 6; ++i) *--p = 0;
  uint32_t ctl[2];
  asm volatile("stmxcsr %0" : "=m"(ctl[0]));
  asm volatile("fnstcw %0" : "=m"(ctl[1]));
  *--p = 0;
  std::memcpy(p, ctl, 8);
  f.sp = p;
  f.st = Fiber::Ready;
  f.wait = Fiber::None;
  f.fake_stack = nullptr;
}

Fiber& self() {
  State& s = S();
  if (!s.current) fatal("a device intrinsic was called outside a kernel");
  return *s.current;
}

// ---- barriers -----------------------------------------------------------------------------------
const char* op_name(Op op) {
  switch (op) {
    case Op::ShflIdx: return "__shfl_sync";
    case Op::ShflXor: return "__shfl_xor_sync";
    case Op::ShflUp: return "__shfl_up_sync";
    case Op::ShflDown: return "__shfl_down_sync";
    case Op::Ballot: return "__ballot_sync";
    case Op::All: return "__all_sync";
    case Op::Any: return "__any_sync";
    case Op::SyncWarp: return "__syncwarp";
  }
  return "?";
}

std::string describe(const Fiber& f) {
  char buf[256];
  if (f.st == Fiber::Done) {
    std::snprintf(buf, sizeof buf, "exited");
  } else if (f.wait == Fiber::Block) {
    std::snprintf(buf, sizeof buf, "__syncthreads at %s:%d", f.file, f.line);
  } else {
    std::snprintf(buf, sizeof buf, "%s(mask 0x%08x) at %s:%d", op_name(f.op), f.mask, f.file, f.line);
  }
  return buf;
}

// "threads 0-31, 64: <state>" lines for the threads of a block, grouped by state.
std::string block_states(unsigned n) {
  State& s = S();
  std::map<std::string, std::vector<unsigned>> groups;
  for (unsigned i = 0; i < n; ++i) groups[describe((*s.thread_fiber[i]))].push_back(i);
  std::string out;
  for (auto& g : groups) {
    out += "\n    threads ";
    const auto& v = g.second;
    for (size_t a = 0; a < v.size();) {
      size_t b = a;
      while (b + 1 < v.size() && v[b + 1] == v[b] + 1) ++b;
      char r[48];
      if (b == a)
        std::snprintf(r, sizeof r, "%u", v[a]);
      else
        std::snprintf(r, sizeof r, "%u-%u", v[a], v[b]);
      out += r;
      if (b + 1 < v.size()) out += ",";
      a = b + 1;
    }
    out += ": " + g.first;
  }
  return out;
}

void release(Fiber& f) {
  f.st = Fiber::Ready;
  f.wait = Fiber::None;
}

// Completes every warp operation whose lanes have all arrived.
bool resolve_warps(unsigned n) {
  State& s = S();
  bool progressed = false;
  for (unsigned w0 = 0; w0 < n; w0 += 32) {
    const unsigned lanes = std::min(32u, n - w0);
    for (unsigned l = 0; l < lanes; ++l) {
      Fiber& lead = (*s.thread_fiber[w0 + l]);
      if (lead.st != Fiber::Waiting || lead.wait != Fiber::Warp) continue;
      const unsigned mask = lead.mask;
      bool complete = true, exited = false;
      for (unsigned k = 0; k < 32; ++k) {
        if (!(mask >> k & 1u)) continue;
        if (k >= lanes) {
          exited = true;
          continue;
        }
        const Fiber& o = (*s.thread_fiber[w0 + k]);
        if (o.st == Fiber::Done) {
          exited = true;
          continue;
        }
        if (o.st != Fiber::Waiting || o.wait != Fiber::Warp) {
          complete = false;
          break;
        }
        if (o.file != lead.file || o.line != lead.line || o.mask != mask || o.op != lead.op) {
          error("warp divergence: lane %u is at %s, lane %u at %s (the lanes of a mask must meet at one intrinsic)", l,
                describe(lead).c_str(), k, describe(o).c_str());
          complete = false;
          break;
        }
      }
      if (!complete) continue;
      if (exited)
        error(
            "%s(mask 0x%08x) at %s:%d: the mask names lanes that have exited or do not exist (warp %u has %u "
            "lanes)",
            op_name(lead.op), mask, lead.file, lead.line, w0 / 32, lanes);
      // Every lane of the mask has arrived: compute the results.
      unsigned ballot = 0, participants = 0;
      for (unsigned k = 0; k < lanes; ++k) {
        const Fiber& o = (*s.thread_fiber[w0 + k]);
        if ((mask >> k & 1u) && o.st == Fiber::Waiting && o.wait == Fiber::Warp) {
          participants |= 1u << k;
          if (o.value) ballot |= 1u << k;
        }
      }
      for (unsigned k = 0; k < lanes; ++k) {
        if (!(participants >> k & 1u)) continue;
        Fiber& o = (*s.thread_fiber[w0 + k]);
        const int width = o.width;
        if (o.op <= Op::ShflDown && (width <= 0 || width > 32 || (width & (width - 1)))) {
          error("%s at %s:%d: width %d is not a power of two up to 32", op_name(o.op), o.file, o.line, width);
        }
        const unsigned seg = k / unsigned(width) * unsigned(width);
        long src = k;
        switch (o.op) {
          case Op::ShflIdx: src = seg + (unsigned(o.arg) % unsigned(width)); break;
          case Op::ShflXor:
            src = long(k ^ unsigned(o.arg));
            if (src >= long(seg + width)) src = k;
            break;
          case Op::ShflUp:
            src = long(k) - o.arg;
            if (src < long(seg)) src = k;
            break;
          case Op::ShflDown:
            src = long(k) + o.arg;
            if (src >= long(seg + width)) src = k;
            break;
          default: break;
        }
        switch (o.op) {
          case Op::Ballot: o.result = ballot; break;
          case Op::All: o.result = (ballot & participants) == participants; break;
          case Op::Any: o.result = ballot != 0; break;
          case Op::SyncWarp: o.result = 0; break;
          default:
            if (src < 0 || src >= 32 || !(participants >> src & 1u)) {
              error("%s at %s:%d: lane %u reads lane %ld, which is not taking part (mask 0x%08x)", op_name(o.op),
                    o.file, o.line, k, src, mask);
              o.result = ~uint64_t(0);
            } else {
              o.result = (*s.thread_fiber[w0 + unsigned(src)]).value;
            }
        }
      }
      for (unsigned k = 0; k < lanes; ++k)
        if (participants >> k & 1u) release((*s.thread_fiber[w0 + k]));
      ++s.warp_gen[w0 / 32];
      progressed = true;
    }
  }
  return progressed;
}

bool resolve_block(unsigned n) {
  State& s = S();
  const Fiber* first = nullptr;
  unsigned exited = 0;
  for (unsigned i = 0; i < n; ++i) {
    const Fiber& f = (*s.thread_fiber[i]);
    if (f.st == Fiber::Done) {
      ++exited;
      continue;
    }
    if (f.st != Fiber::Waiting || f.wait != Fiber::Block) return false;
    if (!first) first = &f;
  }
  if (!first) return false;
  for (unsigned i = 0; i < n; ++i) {
    const Fiber& f = (*s.thread_fiber[i]);
    if (f.st == Fiber::Done) continue;
    if (f.file != first->file || f.line != first->line) {
      error("__syncthreads divergence: threads of one block wait at different barriers:%s", block_states(n).c_str());
      break;
    }
  }
  if (exited && std::getenv("SIMT_STRICT_EXIT"))
    error("__syncthreads at %s:%d with %u threads of the block already exited:%s", first->file, first->line, exited,
          block_states(n).c_str());
  for (unsigned i = 0; i < n; ++i)
    if ((*s.thread_fiber[i]).st != Fiber::Done) release((*s.thread_fiber[i]));
  ++s.block_gen;
  return true;
}

void order_for(std::vector<unsigned>& order, unsigned n) {
  State& s = S();
  order.resize(n);
  for (unsigned i = 0; i < n; ++i) order[i] = i;
  if (s.schedule == Schedule::Reverse) std::reverse(order.begin(), order.end());
  if (s.schedule == Schedule::Random) std::shuffle(order.begin(), order.end(), s.rng);
}

void run_block(Launch& L) {
  State& s = S();
  const unsigned n = L.nthreads;
  if (s.fibers.size() < n) s.fibers.resize(n);
  // CUDA thread i of this block runs on fiber slot (i + block) mod n. A slot
  // keeps its stack and its TSan context from block to block, and a context
  // orders what it runs by program order; rotating the slots means that thread
  // i of one block and thread i of the next (the usual per-block writer, e.g.
  // thread 0) are not the same context, so TSan sees a race between them.
  const unsigned long long block_linear = blockIdx.x + 1ull * gridDim.x * (blockIdx.y + 1ull * gridDim.y * blockIdx.z);
  s.thread_fiber.resize(n);
  for (unsigned i = 0; i < n; ++i) s.thread_fiber[i] = &s.fibers[(i + block_linear) % n];
  for (unsigned i = 0; i < n; ++i) {
    Fiber& f = (*s.thread_fiber[i]);
    prepare(f);
    f.linear = i;
    f.tid = {i % L.block.x, (i / L.block.x) % L.block.y, i / (L.block.x * L.block.y)};
    f.warp = i / 32;
    f.lane = i % 32;
    if (kTsan) {
      std::snprintf(f.name, sizeof f.name, "CUDA thread (%u,%u,%u) of block (%u,%u,%u)", f.tid.x, f.tid.y, f.tid.z,
                    blockIdx.x, blockIdx.y, blockIdx.z);
      __tsan_set_fiber_name(f.tsan, f.name);
    }
  }
  if (L.shmem) {
    if (posix_memalign(&L.dynamic, 16, L.shmem) != 0) fatal("out of memory");
    std::memset(L.dynamic, 0xff, L.shmem);
  }
  std::vector<char> sync(2 + 2 * ((n + 31) / 32));
  s.block_sync = &sync;
  s.block_gen = 0;
  s.warp_gen.assign((n + 31) / 32, 0);
  if (kTsan) __tsan_release(&s.launch_token);
  std::vector<unsigned> order;
  for (;;) {
    order_for(order, n);
    for (unsigned i : order)
      if ((*s.thread_fiber[i]).st == Fiber::Ready) switch_to((*s.thread_fiber[i]));
    bool live = false;
    for (unsigned i = 0; i < n && !live; ++i) live = (*s.thread_fiber[i]).st != Fiber::Done;
    if (!live) break;
    if (resolve_warps(n)) continue;
    if (resolve_block(n)) continue;
    fatal("deadlock: no barrier of the block can complete:%s", block_states(n).c_str());
  }
  s.block_sync = nullptr;
  // Freed when the launch ends (for TSan: once the host has synchronised with
  // every thread of the grid).
  for (auto& a : L.shared) L.retired.push_back(a.ptr);
  L.shared.clear();
  L.static_bytes = 0;
  L.retired.push_back(L.dynamic);
  L.dynamic = nullptr;
}

}  // namespace

// ---- interface -----------------------------------------------------------------------------------
void set_schedule(Schedule sc, uint64_t seed) {
  State& s = S();
  s.schedule = sc;
  s.seed = seed;
  s.rng.seed(seed);
}
Schedule schedule() { return S().schedule; }
const char* schedule_name() {
  switch (S().schedule) {
    case Schedule::Forward: return "forward";
    case Schedule::Reverse: return "reverse";
    case Schedule::Random: return "random";
  }
  return "?";
}
void set_arch(int sm) { S().arch = sm; }
void set_grid_limit(unsigned long long max_blocks, bool clamp) {
  S().max_blocks = max_blocks;
  S().clamp = clamp;
}
void exact_grid_next_launch(const char* kernel_base) { S().exact_next = kernel_base ? kernel_base : ""; }
void set_keep_going(bool on) { S().keep_going = on; }
void set_launch_observer(LaunchObserver observer) { S().observer = observer; }
void reset_device() {
  State& s = S();
  s.max_dynamic_shared.clear();  // a launcher must opt in itself, not profit from an earlier case's call
  s.last_error = cudaSuccess;
}

int register_kernel(const char* mangled_tag) {
  kernel_registry().push_back(pretty_kernel(mangled_tag));
  return int(kernel_registry().size()) - 1;
}
void kernel_entered(int id) {
  State& s = S();
  if (s.launch && s.launch->kernel_id < 0) s.launch->kernel_id = id;
}
int kernel_count() { return int(kernel_registry().size()); }
const char* kernel_name(int id) { return kernel_registry().at(size_t(id)).name.c_str(); }
const char* kernel_base(int id) { return kernel_registry().at(size_t(id)).base.c_str(); }
long errors() { return S().errors; }
long launches() { return S().launches; }

void fatal(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vreport(true, fmt, ap);
  va_end(ap);
  std::abort();
}
void error(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vreport(false, fmt, ap);
  va_end(ap);
}

cudaError_t take_last_error(bool clear) {
  State& s = S();
  const cudaError_t e = s.last_error;
  if (clear) s.last_error = cudaSuccess;
  return e;
}

cudaError_t func_set_attribute(const void* kernel, cudaFuncAttribute attr, int value) {
  State& s = S();
  if (attr == cudaFuncAttributeMaxDynamicSharedMemorySize) {
    const int limit = s.arch >= 90 ? 232448 : 166912;  // opt-in maximum per block, sm_90 / sm_80
    if (value < 0 || value > limit) return s.last_error = cudaErrorInvalidValue;
    s.max_dynamic_shared[kernel] = value;
  }
  return cudaSuccess;
}

void launch(const void* kernel, dim3 grid, dim3 block, size_t shmem, const char* file, int line, void (*body)(void*),
            void* ctx) {
  State& s = S();
  if (s.launch) fatal("kernel launch from inside a kernel (dynamic parallelism is not emulated)");
  ++s.launches;
  const std::string exact = std::move(s.exact_next);  // applies to this launch only
  s.exact_next.clear();
  const unsigned long long threads = 1ull * block.x * block.y * block.z;
  auto fail = [&](cudaError_t e, const char* why) {
    std::fprintf(stderr, "SIMT: launch at %s:%d fails with %s: %s (grid %u,%u,%u block %u,%u,%u shmem %zu)\n", file,
                 line, cudaGetErrorString(e), why, grid.x, grid.y, grid.z, block.x, block.y, block.z, shmem);
    s.last_error = e;
  };
  // The launch rules of sm_80 / sm_90.
  if (threads == 0 || threads > 1024 || block.x > 1024 || block.y > 1024 || block.z > 64)
    return fail(cudaErrorInvalidConfiguration, "block dimensions");
  if (grid.x == 0 || grid.y == 0 || grid.z == 0 || grid.x > 2147483647u || grid.y > 65535 || grid.z > 65535)
    return fail(cudaErrorInvalidConfiguration, "grid dimensions");
  auto it = s.max_dynamic_shared.find(kernel);
  const size_t dyn_limit = it != s.max_dynamic_shared.end() ? size_t(it->second) : 48 * 1024;
  if (shmem > dyn_limit) return fail(cudaErrorInvalidValue, "dynamic shared memory above the kernel's limit");

  static const bool trace = std::getenv("SIMT_TRACE") != nullptr;
  if (trace)
    std::fprintf(stderr, "SIMT: launch %s:%d grid (%u,%u,%u) block (%u,%u,%u) dynamic shared %zu\n", file, line, grid.x,
                 grid.y, grid.z, block.x, block.y, block.z, shmem);
  Launch L{};
  L.kernel = kernel;
  L.file = file;
  L.line = line;
  L.grid = grid;
  L.block = block;
  L.shmem = shmem;
  L.body = body;
  L.ctx = ctx;
  L.nthreads = unsigned(threads);
  L.opted_in = it != s.max_dynamic_shared.end() && it->second > 48 * 1024;
  const unsigned long long blocks = 1ull * grid.x * grid.y * grid.z;
  dim3 run_grid = grid;
  if (!exact.empty()) {
    // A kernel that maps blockIdx to its work exactly: its full grid, or none
    // (a cap below the default limit does not apply).
    const unsigned long long limit = std::max(s.max_blocks, kDefaultMaxBlocks);
    if (blocks > limit)
      fatal("launch at %s:%d asks for %llu blocks; the emulator runs at most %llu", file, line, blocks, limit);
  } else if (blocks > s.max_blocks ||
             (s.clamp && (grid.x > s.max_blocks || grid.y > s.max_blocks || grid.z > s.max_blocks))) {
    if (!s.clamp)
      fatal(
          "launch at %s:%d asks for %llu blocks; the emulator runs at most %llu (use smaller inputs, or "
          "set_grid_limit(n, true) for grid-stride kernels)",
          file, line, blocks, s.max_blocks);
    // Grid-stride kernels: run fewer blocks (at most max_blocks along each
    // axis) and tell them so; their loops must still cover all the work.
    auto cut = [&](unsigned v) { return unsigned(std::min<unsigned long long>(v, s.max_blocks)); };
    run_grid = dim3(cut(grid.x), cut(grid.y), cut(grid.z));
    L.capped = run_grid.x != grid.x || run_grid.y != grid.y || run_grid.z != grid.z;
  }
  s.launch = &L;
  gridDim = run_grid;
  blockDim = block;
  const unsigned long long nb = 1ull * run_grid.x * run_grid.y * run_grid.z;
  std::vector<unsigned long long> order(nb);
  for (unsigned long long i = 0; i < nb; ++i) order[i] = i;
  if (s.schedule == Schedule::Reverse) std::reverse(order.begin(), order.end());
  if (s.schedule == Schedule::Random) std::shuffle(order.begin(), order.end(), s.rng);
  if (kTsan && !s.tsan_main) s.tsan_main = __tsan_get_current_fiber();
  for (unsigned long long b : order) {
    blockIdx = {unsigned(b % run_grid.x), unsigned(b / run_grid.x % run_grid.y),
                unsigned(b / (1ull * run_grid.x * run_grid.y))};
    run_block(L);
  }
  if (kTsan) __tsan_acquire(&s.finish_token);
  for (void* p : L.retired) std::free(p);
  s.launch = nullptr;
  if (!exact.empty() && (L.kernel_id < 0 || exact != kernel_base(L.kernel_id)))
    error("launch at %s:%d was declared an exact grid of %s but ran %s", file, line, exact.c_str(),
          L.kernel_id < 0 ? "no kernel body" : kernel_name(L.kernel_id));
  if (s.observer) {
    const LaunchRecord r{L.kernel_id,
                         file,
                         line,
                         {grid.x, grid.y, grid.z},
                         {block.x, block.y, block.z},
                         static_cast<unsigned long>(shmem),
                         L.capped};
    s.observer(r);
  }
}

void syncthreads(const char* file, int line) {
  Fiber& f = self();
  f.st = Fiber::Waiting;
  f.wait = Fiber::Block;
  f.file = file;
  f.line = line;
  State& s = S();
  f.sync_obj = &(*s.block_sync)[s.block_gen & 1];
  if (kTsan) __tsan_release(f.sync_obj);
  yield_to_scheduler(f, false);
  if (kTsan) __tsan_acquire(f.sync_obj);
}

uint64_t warp_op(const char* file, int line, Op op, unsigned mask, uint64_t value, int arg, int width) {
  Fiber& f = self();
  if (!(mask >> f.lane & 1u))
    error("%s at %s:%d: the calling lane %u is not in its mask 0x%08x", op_name(op), file, line, f.lane, mask);
  f.st = Fiber::Waiting;
  f.wait = Fiber::Warp;
  f.file = file;
  f.line = line;
  f.op = op;
  f.mask = mask;
  f.value = value;
  f.arg = arg;
  f.width = width;
  State& s = S();
  f.sync_obj = &(*s.block_sync)[2 + 2 * f.warp + (s.warp_gen[f.warp] & 1)];
  if (kTsan) __tsan_release(f.sync_obj);
  yield_to_scheduler(f, false);
  if (kTsan) __tsan_acquire(f.sync_obj);
  return f.result;
}

unsigned active_mask() {
  Fiber& f = self();
  State& s = S();
  const unsigned w0 = f.warp * 32, n = s.launch->nthreads;
  unsigned m = 0;
  for (unsigned k = 0; k < 32 && w0 + k < n; ++k)
    if ((*s.thread_fiber[w0 + k]).st != Fiber::Done) m |= 1u << k;
  return m;
}

void* shared_static(const char* tag, size_t size, size_t align) {
  State& s = S();
  if (!s.launch) fatal("__shared__ variable %s used outside a kernel", tag);
  Launch& L = *s.launch;
  for (auto& a : L.shared)
    if (a.tag == tag || std::strcmp(a.tag, tag) == 0) return a.ptr;
  void* p = nullptr;
  // Allocated and filled on behalf of the whole block, not of the thread that
  // happens to get here first: hidden from TSan, or that thread's later
  // accesses would look ordered and everyone else's would race with it.
  if (kTsan) __tsan_ignore_thread_begin();
  if (posix_memalign(&p, align < sizeof(void*) ? sizeof(void*) : align, size ? size : 1) != 0) fatal("out of memory");
  std::memset(p, 0xff, size);  // uninitialised shared memory reads as NaN / -1
  if (kTsan) __tsan_ignore_thread_end();
  L.shared.push_back({tag, p, size});
  L.static_bytes += size;
  if (L.static_bytes > 48 * 1024) error("static shared memory of the block exceeds 48 KiB (%zu bytes)", L.static_bytes);
  if (L.static_bytes + L.shmem > 48 * 1024 && !L.opted_in)
    error("static + dynamic shared memory (%zu + %zu bytes) exceeds 48 KiB without the cudaFuncSetAttribute opt-in",
          L.static_bytes, L.shmem);
  const size_t total_limit = s.arch >= 90 ? 232448 : 166912;
  if (L.static_bytes + L.shmem > total_limit)
    error("static + dynamic shared memory (%zu + %zu bytes) exceeds sm_%d's %zu", L.static_bytes, L.shmem, s.arch,
          total_limit);
  return p;
}

void* shared_dynamic(size_t align) {
  State& s = S();
  if (!s.launch) fatal("extern __shared__ array used outside a kernel");
  if (!s.launch->dynamic) {
    error("extern __shared__ array used by a kernel launched with 0 bytes of dynamic shared memory");
    return nullptr;
  }
  if (reinterpret_cast<uintptr_t>(s.launch->dynamic) % (align ? align : 1) != 0) fatal("misaligned dynamic shared");
  return s.launch->dynamic;
}

void check_launch_bounds(unsigned max_threads, const char* kernel) {
  State& s = S();
  if (!s.launch || s.launch->bounds_checked) return;
  s.launch->bounds_checked = true;
  if (s.launch->nthreads > max_threads)
    error(
        "%s has __launch_bounds__(%u) but was launched with %u threads a block (cudaErrorLaunchOutOfResources on "
        "a GPU)",
        kernel, max_threads, s.launch->nthreads);
}

}  // namespace simt

// Called by AddressSanitizer / UBSan-with-ASan before their report: say which
// CUDA thread was running.
extern "C" void __asan_on_error() {
  simt::State& s = simt::S();
  if (s.launch)
    std::fprintf(stderr,
                 "SIMT: the error below happened in CUDA thread (%u,%u,%u) of block (%u,%u,%u), kernel launched "
                 "at %s:%d with grid (%u,%u,%u) block (%u,%u,%u), %s schedule\n",
                 threadIdx.x, threadIdx.y, threadIdx.z, blockIdx.x, blockIdx.y, blockIdx.z, s.launch->file,
                 s.launch->line, gridDim.x, gridDim.y, gridDim.z, blockDim.x, blockDim.y, blockDim.z,
                 simt::schedule_name());
  if (s.launch)
    for (const auto& a : s.launch->shared)
      std::fprintf(stderr, "SIMT:   __shared__ %s of this block is [%p, %p)\n", a.tag, a.ptr,
                   static_cast<void*>(static_cast<char*>(a.ptr) + a.size));
  if (s.launch && s.launch->dynamic)
    std::fprintf(stderr, "SIMT:   extern __shared__ of this block is [%p, %p)\n", s.launch->dynamic,
                 static_cast<void*>(static_cast<char*>(s.launch->dynamic) + s.launch->shmem));
}

const char* cudaGetErrorString(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidDeviceFunction: return "cudaErrorInvalidDeviceFunction";
    case cudaErrorIllegalAddress: return "cudaErrorIllegalAddress";
    case cudaErrorLaunchOutOfResources: return "cudaErrorLaunchOutOfResources";
    case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
  }
  return "cudaError(unknown)";
}
