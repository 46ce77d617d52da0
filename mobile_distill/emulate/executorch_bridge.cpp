// A C entry point into the ExecuTorch runtime's own C++ library (libexecutorch.so and its XNNPACK
// backend, as the executorch wheel ships them), for the aarch64 lane's worker to call through ctypes.
//
// Why by hand: executorch's Python bindings link libtorch, and the aarch64 torch wheel is a CUDA
// build that cannot be imported under emulation (it looks for libcublasLt). The runtime library
// itself needs no torch, exactly as in an Android app, which calls it through JNI. This file is
// compiled against the wheel's headers and libraries by `mobile_distill.emulate.toolchain`
// (aarch64-linux-gnu-g++ for the lane; the host g++ for the x86 twin that tests it).
//
// API (all functions return 0 on success, else write a one-line message into `error`):
//   md_et_load(path, &handle, error, error_size)
//   md_et_run(handle, n_inputs, data[], dtypes[] (0 int32, 1 int64), rows, columns,
//             out, out_capacity, &out_count, error, error_size)   -- float32 logits, row-major
//   md_et_free(handle)

#include <executorch/extension/module/module.h>
#include <executorch/extension/tensor/tensor.h>
#include <executorch/extension/threadpool/threadpool_guard.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

using executorch::aten::ScalarType;
using executorch::extension::from_blob;
using executorch::extension::Module;
using executorch::extension::TensorPtr;
using executorch::extension::threadpool::NoThreadPoolGuard;
using executorch::runtime::Error;
using executorch::runtime::EValue;

namespace {

void say(char* error, int size, const std::string& message) {
  if (error != nullptr && size > 0) {
    std::snprintf(error, static_cast<size_t>(size), "%s", message.c_str());
  }
}

std::string code(Error error) {
  return "executorch error " + std::to_string(static_cast<int>(error));
}

}  // namespace

extern "C" {

// One thread, as the lane measures numerics, not speed: XNNPACK is handed no thread pool while
// the guard lives (it takes the pool when the delegate initialises, at load, and at each run).
int md_et_load(const char* path, void** handle, char* error, int error_size) {
  NoThreadPoolGuard one_thread;
  auto module = std::make_unique<Module>(path, Module::LoadMode::File);
  Error status = module->load_forward();
  if (status != Error::Ok) {
    say(error, error_size, std::string(path) + ": load_forward failed: " + code(status));
    return 1;
  }
  *handle = module.release();
  return 0;
}

int md_et_run(void* handle, int n_inputs, void** data, const int* dtypes, int rows, int columns, float* out,
              int out_capacity, int* out_count, char* error, int error_size) {
  NoThreadPoolGuard one_thread;
  auto* module = static_cast<Module*>(handle);
  std::vector<TensorPtr> tensors;
  std::vector<EValue> inputs;
  for (int i = 0; i < n_inputs; ++i) {
    ScalarType type = dtypes[i] == 1 ? ScalarType::Long : ScalarType::Int;
    tensors.push_back(from_blob(data[i], {rows, columns}, type));
    inputs.emplace_back(tensors.back());
  }
  auto result = module->forward(inputs);
  if (!result.ok()) {
    say(error, error_size, "forward failed: " + code(result.error()));
    return 1;
  }
  const auto& outputs = result.get();
  if (outputs.empty() || !outputs[0].isTensor()) {
    say(error, error_size, "forward returned no tensor");
    return 1;
  }
  const auto& logits = outputs[0].toTensor();
  if (logits.scalar_type() != ScalarType::Float) {
    say(error, error_size, "forward's first output is not float32");
    return 1;
  }
  const auto count = static_cast<int>(logits.numel());
  if (count > out_capacity) {
    say(error, error_size, "output of " + std::to_string(count) + " values is larger than the buffer");
    return 1;
  }
  std::memcpy(out, logits.const_data_ptr<float>(), sizeof(float) * static_cast<size_t>(count));
  *out_count = count;
  return 0;
}

void md_et_free(void* handle) {
  delete static_cast<Module*>(handle);
}

}  // extern "C"
