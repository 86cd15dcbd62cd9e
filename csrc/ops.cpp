// The lossext op library, declared once. Each family's schemas are fragments
// in its own torch op file (csrc/ops/<x>.cpp, TORCH_LIBRARY_FRAGMENT), next
// to the one implementation it registers for both devices; fake kernels and
// autograd are registered from Python. Backward ops are ops too, so
// torch.compile traces through them and opcheck can test them.
#include <torch/library.h>

TORCH_LIBRARY(lossext, m) { (void)m; }
