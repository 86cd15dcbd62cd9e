// fast_exp / exp_nonpositive on the host path at nan and at the ends of the
// range. Built with -fsanitize=undefined,float-cast-overflow: the nan case used
// to convert nan to int and left-shift a negative value, both undefined
// behaviour in C++17 (the result happened to be nan with gcc).
#include <cmath>
#include <cstdio>
#include <limits>

#include "kernels/common.h"

int main() {
  int bad = 0;
  auto expect = [&](const char* what, float got, float want) {
    const bool ok = std::isnan(want) ? std::isnan(got) : got == want;
    if (!ok) std::printf("%s = %g, want %g\n", what, got, want), ++bad;
  };
  volatile float nan = std::numeric_limits<float>::quiet_NaN();
  volatile float inf = std::numeric_limits<float>::infinity();
  expect("fast_exp(nan)", lossext::fast_exp(float(nan)), nan);
  expect("fast_exp(-nan)", lossext::fast_exp(float(-nan)), nan);
  expect("exp_nonpositive(nan)", lossext::exp_nonpositive(float(nan)), nan);
  expect("fast_exp(inf)", lossext::fast_exp(float(inf)), inf);
  expect("fast_exp(-inf)", lossext::fast_exp(float(-inf)), 0.0f);
  expect("fast_exp(0)", lossext::fast_exp(0.0f), 1.0f);
  expect("fast_exp(-100)", lossext::fast_exp(-100.0f), 0.0f);
  expect("fast_exp(100)", lossext::fast_exp(100.0f), inf);
  std::printf("%d passed, %d failed\n", bad ? 0 : 1, bad ? 1 : 0);
  return bad ? 1 : 0;
}
