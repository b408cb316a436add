// Folder fps holds the op furthest_point_sample, under the abbreviation PointNet++ and the papers use.
// Farthest point sampling: the per-element arithmetic shared by the CPU and CUDA kernels, and the
// argument checks of both entry points.
//
// Exactness rests on every kernel evaluating the same float32 expressions, each operation rounded
// on its own (no fused multiply-add), so that sampled indices are bit-for-bit reproducible and equal
// to a plain NumPy/PyTorch loop:
//   squared distance  ((dx*dx + dy*dy) + dz*dz) with d* = candidate - picked,
//   running minimum   min(current, squared distance),
//   argmax            largest running minimum, ties to the lower index.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/util/Exception.h>

#include <cstdint>

#include "common/macros.h"

namespace sphmask {
namespace fps {

// Squared Euclidean distance in float32. On the device the _rn intrinsics keep nvcc from
// contracting the products and sums into FMAs, which would round differently from the CPU.
SPHMASK_HD float sq_dist(float ax, float ay, float az, float bx, float by, float bz) {
#ifdef __CUDA_ARCH__
  const float dx = __fsub_rn(ax, bx), dy = __fsub_rn(ay, by), dz = __fsub_rn(az, bz);
  return __fadd_rn(__fadd_rn(__fmul_rn(dx, dx), __fmul_rn(dy, dy)), __fmul_rn(dz, dz));
#else
  const float dx = ax - bx, dy = ay - by, dz = az - bz;
  return dx * dx + dy * dy + dz * dz;
#endif
}

// PointNet++ (pointnet2._ext) never picks a candidate whose float32 squared norm is <= 1e-3; the
// official kernel compares that float with the double literal 1e-3, and so do we.
SPHMASK_HD bool near_origin(float x, float y, float z) {
  return static_cast<double>(sq_dist(x, y, z, 0.f, 0.f, 0.f)) <= 1e-3;
}

// The running minimum after one more pick. The comparison form makes it match torch.minimum /
// np.minimum for the non-NaN values the op accepts.
SPHMASK_HD float min_dist(float current, float d) {
  return d < current ? d : current;
}

// Total order of candidates for the argmax: larger running minimum first, then lower index.
SPHMASK_HD bool better(float v, int64_t i, float best_v, int64_t best_i) {
  return v > best_v || (v == best_v && i < best_i);
}

// One axis of the distance from a point to an axis-aligned box, as a float32 difference that is
// never larger than the difference to any point inside the box (rounding is monotonic).
SPHMASK_HD float box_gap(float p, float lo, float hi) {
  return p < lo ? lo - p : (p > hi ? p - hi : 0.f);
}

// Lower bound of sq_dist(p, q) over every q in the box [lo, hi]. It is evaluated with the same
// roundings as sq_dist, and each of them is monotonic, so it never exceeds the float32 distance of
// any point in the box: a box whose bound is >= its largest running minimum cannot change.
SPHMASK_HD float box_sq_dist(float px, float py, float pz, const float* lo, const float* hi) {
  return sq_dist(box_gap(px, lo[0], hi[0]), box_gap(py, lo[1], hi[1]), box_gap(pz, lo[2], hi[2]),
                 0.f, 0.f, 0.f);
}

// Host-side argument checks shared by the CPU and CUDA entry points (the Python wrapper checks
// first with friendlier messages; these guard direct torch.ops.sphmask calls).

// xyz float32 [N, 3], offsets int64 [B + 1], num_samples int64 [B]; returns B.
inline int64_t check_args(const at::Tensor& xyz, const at::Tensor& offsets, const at::Tensor& num_samples) {
  TORCH_CHECK(xyz.scalar_type() == at::kFloat && xyz.dim() == 2 && xyz.size(1) == 3,
              "furthest_point_sample: xyz must be float32 [N, 3], got ", xyz.scalar_type(), " ",
              xyz.sizes());
  TORCH_CHECK(offsets.scalar_type() == at::kLong && offsets.dim() == 1 && offsets.numel() >= 1,
              "furthest_point_sample: offsets must be int64 [B+1], got ", offsets.scalar_type(), " ",
              offsets.sizes());
  const int64_t num_scenes = offsets.numel() - 1;
  TORCH_CHECK(num_samples.scalar_type() == at::kLong && num_samples.dim() == 1 &&
                  num_samples.numel() == num_scenes,
              "furthest_point_sample: num_samples must be int64 [B] with B = ", num_scenes,
              ", got ", num_samples.scalar_type(), " ", num_samples.sizes());
  return num_scenes;
}

// The values, from host copies: offsets run from 0 to num_points without decreasing, and each
// scene has at least as many points as samples requested from it.
inline void check_scene_sizes(const int64_t* offsets, const int64_t* num_samples, int64_t num_scenes,
                              int64_t num_points) {
  TORCH_CHECK(offsets[0] == 0 && offsets[num_scenes] == num_points,
              "furthest_point_sample: offsets must run from 0 to N = ", num_points);
  for (int64_t b = 0; b < num_scenes; ++b) {
    const int64_t n = offsets[b + 1] - offsets[b];
    TORCH_CHECK(n >= 0, "furthest_point_sample: offsets must be non-decreasing");
    TORCH_CHECK_VALUE(num_samples[b] >= 0 && num_samples[b] <= n, "furthest_point_sample: scene ", b,
                      " has ", n, " points but ", num_samples[b], " samples were requested");
  }
}

}  // namespace fps
}  // namespace sphmask
