// Per-element logic of ball_query, shared by the CPU kernel (grid search) and the CUDA kernel
// (scan of the centre's scene in index order), and the argument checks of both entry points.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/util/Exception.h>

#include <cstdint>

#include "common/macros.h"

namespace sphmask {
namespace ball_query {

// The radius test compares float32 squared distances with a float32 r*r, as the official kernels
// do. On the device the products and sums are rounded separately (no fused multiply-add), so a
// point on the boundary gets the same verdict on CPU and GPU.
SPHMASK_HD float radius_sq(double radius) {
  const float r = static_cast<float>(radius);
#ifdef __CUDA_ARCH__
  return __fmul_rn(r, r);
#else
  return r * r;
#endif
}

SPHMASK_HD float sq_dist3(const float* a, const float* b) {
  const float dx = a[0] - b[0];
  const float dy = a[1] - b[1];
  const float dz = a[2] - b[2];
#ifdef __CUDA_ARCH__
  return __fadd_rn(__fadd_rn(__fmul_rn(dx, dx), __fmul_rn(dy, dy)), __fmul_rn(dz, dz));
#else
  return dx * dx + dy * dy + dz * dz;
#endif
}

// Segment holding element `i` of CSR offsets `[0, ..., total]` with `num_segments` segments:
// the last b with offsets[b] <= i (empty segments are skipped).
SPHMASK_HD int64_t find_segment(const int64_t* offsets, int64_t num_segments, int64_t i) {
  int64_t lo = 0, hi = num_segments;  // answer in [lo, hi)
  while (hi - lo > 1) {
    const int64_t mid = (lo + hi) / 2;
    if (offsets[mid] <= i) {
      lo = mid;
    } else {
      hi = mid;
    }
  }
  return lo;
}

// First `k` points of `xyz[start..end)` (index order) with squared distance < r2 to `center`,
// written to `row`; returns how many were found.
SPHMASK_HD int64_t scan_first_k(const float* xyz, int64_t start, int64_t end, const float* center,
                                float r2, int64_t k, int64_t* row) {
  int64_t count = 0;
  for (int64_t j = start; j < end && count < k; ++j) {
    if (sq_dist3(center, xyz + 3 * j) < r2) {
      row[count++] = j;
    }
  }
  return count;
}

// Completes a row of `k` slots whose first `count` hold hits: padded with the first hit, or all
// -1 when there is none.
SPHMASK_HD void pad_row(int64_t* row, int64_t count, int64_t k) {
  const int64_t fill = count > 0 ? row[0] : -1;
  for (int64_t j = count; j < k; ++j) {
    row[j] = fill;
  }
}

// Host-side argument checks shared by the CPU and CUDA entry points (the Python wrapper checks
// first with friendlier messages; these guard direct torch.ops.sphmask calls).
inline void check_args(const at::Tensor& xyz, const at::Tensor& offsets, const at::Tensor& centers,
                       const at::Tensor& center_offsets, int64_t k) {
  TORCH_CHECK(xyz.dim() == 2 && xyz.size(1) == 3 && xyz.scalar_type() == at::kFloat,
              "ball_query: xyz must be float32 [N, 3]");
  TORCH_CHECK(centers.dim() == 2 && centers.size(1) == 3 && centers.scalar_type() == at::kFloat,
              "ball_query: centers must be float32 [Q, 3]");
  TORCH_CHECK(offsets.dim() == 1 && center_offsets.dim() == 1 &&
                  offsets.size(0) == center_offsets.size(0) && offsets.size(0) >= 1,
              "ball_query: offsets and center_offsets must both be [B + 1]");
  TORCH_CHECK(k >= 1, "ball_query: k must be >= 1, got ", k);
}

}  // namespace ball_query
}  // namespace sphmask
