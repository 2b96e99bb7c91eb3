// Waiting for GPU results by polling (see mlx_rs_shim.h).
//
// MLX 0.32.2 waits for a CUDA evaluation in `cudaEventSynchronize` on an
// event created with `cudaEventBlockingSync`: the thread sleeps until the
// driver wakes it, which adds the wake-up latency to every evaluation. Polling
// the arrays' events (what `array::is_available` does, through
// `cudaEventQuery`) returns as soon as the GPU is done.

#include <chrono>
#include <exception>

#include "mlx/array.h"
#include "mlx/c/error.h"
#include "mlx/c/private/vector.h"
#include "mlx/event.h"

#include "mlx_rs_shim.h"

namespace {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// Whether `a` waits for GPU work (scheduled by an asynchronous evaluation
// whose event is not signaled yet).
bool pending_on_gpu(const mlx::core::array& a) {
  using mlx::core::array;
  return a.status() == array::Status::evaluated && a.event().valid() &&
      a.event().stream().device == mlx::core::Device::gpu;
}

} // namespace

extern "C" int mlx_rs_poll_gpu_ready(
    bool* ready,
    const mlx_vector_array arrays,
    int spin_us) {
  try {
    using clock = std::chrono::steady_clock;
    const auto deadline = clock::now() + std::chrono::microseconds(spin_us);
    *ready = false;
    for (auto& a : mlx_vector_array_get_(arrays)) {
      if (!pending_on_gpu(a)) {
        continue;
      }
      while (!a.is_available()) {
        if (clock::now() >= deadline) {
          return 0;
        }
        cpu_relax();
      }
    }
    *ready = true;
  } catch (std::exception& e) {
    mlx_error(e.what());
    return 1;
  }
  return 0;
}
