// Shared by the fused linear Metal kernel (passed to MLX as its header): the
// activations of the epilogue. Codes match `Activation` in
// mlx-ext-kernels/src/linear.rs and cuda-src/fused_linear_common.cuh.
#include <metal_simdgroup_matrix>

// Metal has no erf: Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7).
inline float mlx_rs_erf(float v) {
  const float s = v < 0.0f ? -1.0f : 1.0f;
  const float a = metal::abs(v);
  const float t = 1.0f / (1.0f + 0.3275911f * a);
  const float p = t * (0.254829592f + t * (-0.284496736f +
                  t * (1.421413741f + t * (-1.453152027f + t * 1.061405429f))));
  return s * (1.0f - p * metal::exp(-a * a));
}

template <int ACT>
inline float mlx_rs_activate(float v) {
  if (ACT == 1) {
    return metal::max(v, 0.0f);
  } else if (ACT == 2) {
    const float inner = 0.7978845608028654f * (v + 0.044715f * v * v * v);
    return 0.5f * v * (1.0f + metal::precise::tanh(inner));
  } else if (ACT == 3) {
    return 0.5f * v * (1.0f + mlx_rs_erf(v * 0.7071067811865476f));
  } else if (ACT == 4) {
    return v / (1.0f + metal::exp(-v));
  }
  return v;
}
