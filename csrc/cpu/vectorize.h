// Shared by every torch-free CPU loop file (csrc/cpu/*.cpp). Include it
// first: the pragma applies to everything after it.
#pragma once

// gcc will not if-convert a select whose arm divides or takes a log while
// -ftrapping-math is on ("it might trap"), so the guarded math of
// csrc/kernels/*.h would stay scalar. lossext never reads the floating-point
// exception flags, so the results are the same and the loops vectorize.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif

// One binary runs on any x86-64 machine; the loader picks the AVX-512
// (x86-64-v4), AVX2 (v3) or baseline clone of each entry point at startup.
// Helpers the entry points call must be always-inline, or they would be
// compiled for the baseline only and the clones would call scalar code.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define LOSSEXT_CPU_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define LOSSEXT_CPU_CLONES
#endif
#define LOSSEXT_ALWAYS_INLINE inline __attribute__((always_inline))
