// The Python module lossext._C. Importing it loads the library, whose static
// initializers register the ops; the module itself only reports how it was
// built. No torch header here: this file compiles in seconds.
#include <pybind11/pybind11.h>

#ifndef LOSSEXT_VERSION
#define LOSSEXT_VERSION "unknown"
#endif
#ifndef LOSSEXT_CUDA_ARCHS
#define LOSSEXT_CUDA_ARCHS ""
#endif

namespace py = pybind11;

PYBIND11_MODULE(_C, m) {
  m.doc() = "lossext compiled kernels";
  py::dict info;
  info["version"] = LOSSEXT_VERSION;
#ifdef LOSSEXT_WITH_CUDA
  info["cuda"] = true;
  info["cuda_archs"] = LOSSEXT_CUDA_ARCHS;
#else
  info["cuda"] = false;
  info["cuda_archs"] = "";
#endif
#ifdef _OPENMP
  info["openmp"] = true;
#else
  info["openmp"] = false;
#endif
  info["cpu"] = true;
  m.attr("build_info") = info;
}
