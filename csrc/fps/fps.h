// Farthest point sampling: the per-element arithmetic shared by the CPU and CUDA kernels.
//
// Exactness rests on every kernel evaluating the same float32 expressions, each operation rounded
// on its own (no fused multiply-add), so that sampled indices are bit-for-bit reproducible and equal
// to a plain NumPy/PyTorch loop:
//   squared distance  ((dx*dx + dy*dy) + dz*dz) with d* = candidate - picked,
//   running minimum   min(current, squared distance),
//   argmax            largest running minimum, ties to the lower index.
#pragma once

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

}  // namespace fps
}  // namespace sphmask
