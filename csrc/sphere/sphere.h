// Folder sphere holds sphere_coords, rays_from_masks and assemble_masks: all three are built on the
// one sector computation below (the spherical representation of an instance around its centre).
// Spherical coordinates of points around query centres, as the official Spherical Mask code
// computes them (spec §4.2-4.3, model_utils.py:cartesian_to_spherical, find_sector_). Shared by
// the CPU loops and the CUDA threads, so both devices follow one float32 operation order:
//   v = p - c;  xy = vx*vx + vy*vy;  r = sqrt(xy + vz*vz)
//   polar   = deg(atan2(sqrt(xy), vz))           in [0, 180]
//   azimuth = deg(atan2(vy, vx)) + 180           in [0, 360]
//   h = largest k with k*step_polar <= polar (0 if none), w likewise; sector = h*n_azimuth + w
// where deg(a) = a * float(180/pi) (torch.rad2deg multiplies by that float32 constant) and the
// steps are int(180/n_polar), int(360/n_azimuth) degrees. Every rounding happens where the official
// tensor code rounds, so the sector of a vector sitting exactly on a bin edge agrees with it too.
// Only vectors near a bin edge need that sequence; the others are binned from a cheap angle
// estimate (sector_from), which gives the same sector and saves most atan2f calls.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/util/Exception.h>

#include <cmath>
#include <cstdint>
#include <string>

#include "common/macros.h"

namespace sphmask {
namespace sphere {

// Correctly rounded float32 arithmetic that the compiler may not fuse into an FMA: the official
// result rounds after every multiply and add (each is a separate tensor op). nvcc contracts by
// default, hence the intrinsics. Host compilers only contract when FMA is in the target ISA
// (not the x86-64 baseline); builds for such targets need -ffp-contract=off.
SPHMASK_HD float mul_rn(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}

SPHMASK_HD float add_rn(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fadd_rn(a, b);
#else
  return a + b;
#endif
}

SPHMASK_HD float sub_rn(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fsub_rn(a, b);
#else
  return a - b;
#endif
}

// float32(180 / pi), the factor torch.rad2deg applies to float32 tensors.
constexpr float kRadToDeg = 57.29577951308232f;

// The angular grid: n_azimuth x n_polar sectors whose reference angles are multiples of the steps.
struct Grid {
  int n_azimuth;
  int n_polar;
  int step_azimuth;  // 360 / n_azimuth degrees
  int step_polar;    // 180 / n_polar degrees
  float inv_step_azimuth;
  float inv_step_polar;
};

// Throws unless the official reference angles give exactly n_azimuth x n_polar bins, which holds
// iff n_azimuth divides 360 and n_polar divides 180 (otherwise arange(0, 360, int(360/W)) has more
// than W entries and the official sector indices overflow the W*H ray columns).
inline Grid make_grid(int64_t n_azimuth, int64_t n_polar) {
  TORCH_CHECK(n_azimuth >= 1 && n_azimuth <= 360 && 360 % n_azimuth == 0,
              "n_azimuth must be a divisor of 360, got ", n_azimuth);
  TORCH_CHECK(n_polar >= 1 && n_polar <= 180 && 180 % n_polar == 0,
              "n_polar must be a divisor of 180, got ", n_polar);
  const int step_azimuth = static_cast<int>(360 / n_azimuth);
  const int step_polar = static_cast<int>(180 / n_polar);
  return Grid{static_cast<int>(n_azimuth), static_cast<int>(n_polar), step_azimuth, step_polar,
              1.0f / static_cast<float>(step_azimuth), 1.0f / static_cast<float>(step_polar)};
}

// Index of the largest reference angle k*step (k < n) that is <= deg, or 0 if there is none (an
// azimuth of -180 rounds to a hair below 0 after the +180). The official code finds it as the
// arg-min of (deg - ref) / step over references with deg - ref >= 0; the sign of a float32
// difference is exact, so comparing deg with each float reference is the same test. The quotient
// only gives a first guess that is at most one bin off.
SPHMASK_HD int bin_index(float deg, int n, int step) {
  int k = static_cast<int>(deg / static_cast<float>(step));
  k = k < 0 ? 0 : (k > n - 1 ? n - 1 : k);
  if (k + 1 < n && deg >= static_cast<float>((k + 1) * step)) {
    ++k;
  } else if (k > 0 && deg < static_cast<float>(k * step)) {
    --k;
  }
  return k;
}

// Squared length of the xy part of v, rounded as the official x**2 + y**2.
SPHMASK_HD float xy_sq(float vx, float vy) {
  return add_rn(mul_rn(vx, vx), mul_rn(vy, vy));
}

SPHMASK_HD float radius_from(float xy, float vz) {
  return sqrtf(add_rn(xy, mul_rn(vz, vz)));
}

// Screening: a cheap atan2 decides the bins of the (vast majority of) vectors whose angles are
// far from every bin edge; only the others pay for atan2f and the exact rounding sequence.
// atan(a) on [0, 1] by an odd polynomial (our own minimax fit), error below 1.2e-5 rad.
SPHMASK_HD float rough_atan_unit(float a) {
  const float z = a * a;
  return a * (0.9998663f + z * (-0.3303048f + z * (0.1801593f + z * (-0.08515635f +
                                                                      z * 0.02084511f))));
}

// atan2(y, x) in degrees within 1e-3 degrees; NaN when x = y = 0 (those take the exact path).
SPHMASK_HD float rough_atan2_deg(float y, float x) {
  // Selects rather than branches: the direction of a point is random, a branch would mispredict.
  const float ax = fabsf(x);
  const float ay = fabsf(y);
  const float lo = ax < ay ? ax : ay;
  const float hi = ax < ay ? ay : ax;
  float t = rough_atan_unit(lo / hi);
  t = ay > ax ? 1.5707963f - t : t;
  t = x < 0.0f ? 3.1415927f - t : t;
  return copysignf(t, y) * kRadToDeg;
}

// Half-width of the band around each multiple of the step (in degrees) inside which the rough
// angle does not decide the bin. The rough angle is within 1e-3 degrees of the true one and
// atan2f implementations within about 1e-4 degrees, so outside the band every implementation
// rounds to the same side of the edge. Multiples that are not edges (0, 180, 360) are included
// to keep the test cheap; they only send a few more vectors down the exact path.
constexpr float kEdgeBandDeg = 0.01f;

// The bin of a rough angle, or -1 if it is within the band of a multiple of the step (or NaN).
// Written without floorf/fminf so that host builds for baseline x86-64 need no libm calls.
SPHMASK_HD int rough_bin(float deg, int n, int step, float inv_step) {
  if (!(deg >= -1.0f && deg <= 361.0f)) {
    return -1;
  }
  const int k = static_cast<int>(deg * inv_step);
  const float above = deg - static_cast<float>(k * step);
  const float below = static_cast<float>((k + 1) * step) - deg;
  if (!(above >= kEdgeBandDeg && below >= kEdgeBandDeg)) {
    return -1;
  }
  return k > n - 1 ? n - 1 : k;
}

// The official float32 sequence: deg = atan2f * float(180/pi), + 180 for the azimuth.
SPHMASK_HD int exact_sector(float rho, float vx, float vy, float vz, const Grid& g) {
  const float polar = mul_rn(atan2f(rho, vz), kRadToDeg);
  const float azimuth = add_rn(mul_rn(atan2f(vy, vx), kRadToDeg), 180.0f);
  return bin_index(polar, g.n_polar, g.step_polar) * g.n_azimuth +
      bin_index(azimuth, g.n_azimuth, g.step_azimuth);
}

SPHMASK_HD int sector_from(float xy, float vx, float vy, float vz, const Grid& g) {
  const float rho = sqrtf(xy);
  const int h = rough_bin(rough_atan2_deg(rho, vz), g.n_polar, g.step_polar, g.inv_step_polar);
  const int w = rough_bin(rough_atan2_deg(vy, vx) + 180.0f, g.n_azimuth, g.step_azimuth,
                          g.inv_step_azimuth);
  if (h >= 0 && w >= 0) {
    return h * g.n_azimuth + w;
  }
  return exact_sector(rho, vx, vy, vz, g);
}

// Radius and sector of point p (3 floats) seen from centre c (3 floats).
SPHMASK_HD void sphere_coord(const float* p, const float* c, const Grid& g, float* radius,
                             int* sector) {
  const float vx = sub_rn(p[0], c[0]);
  const float vy = sub_rn(p[1], c[1]);
  const float vz = sub_rn(p[2], c[2]);
  const float xy = xy_sq(vx, vy);
  *radius = radius_from(xy, vz);
  *sector = sector_from(xy, vx, vy, vz, g);
}

// Mask assembly (spec §5.2, spherical_mask.py:mask_assembly): the official code migrates the
// radius twice, m = (r - x) - x, and keeps the point iff ray - m >= 0. We evaluate
// m = (r - x) - (scale - 1) * x, which for the default scale 2 rounds exactly like the official
// code (1 * x is exact); ray - m >= 0 is the same test as ray >= m for finite floats.
SPHMASK_HD bool inside(float ray, float radius, float migration, float scale_minus_one) {
  const float m = sub_rn(sub_rn(radius, migration), mul_rn(scale_minus_one, migration));
  return ray >= m;
}

// Host-side argument checks shared by the CPU and CUDA entry points (the Python wrappers check
// first with friendlier messages; these guard direct torch.ops.sphmask calls).
inline void check_float_rows(const at::Tensor& t, const char* name, int64_t rows, int64_t cols) {
  TORCH_CHECK(t.scalar_type() == at::kFloat, name, " must be float32, got ", t.scalar_type());
  TORCH_CHECK(t.dim() == 2 && t.size(1) == cols && (rows < 0 || t.size(0) == rows), name,
              " must have shape [", rows < 0 ? "*" : std::to_string(rows), ", ", cols, "], got ",
              t.sizes());
}

// The start of every entry point: checks points [S, 3] and centers [Q, 3], returns the grid.
inline Grid check_inputs(const at::Tensor& points, const at::Tensor& centers, int64_t n_azimuth,
                         int64_t n_polar) {
  const Grid grid = make_grid(n_azimuth, n_polar);
  check_float_rows(points, "points", -1, 3);
  check_float_rows(centers, "centers", -1, 3);
  return grid;
}

inline void check_masks(const at::Tensor& masks, int64_t num_queries, int64_t num_points) {
  TORCH_CHECK(masks.scalar_type() == at::kBool, "masks must be bool, got ", masks.scalar_type());
  TORCH_CHECK(masks.dim() == 2 && masks.size(0) == num_queries && masks.size(1) == num_points,
              "masks must have shape [", num_queries, ", ", num_points, "], got ", masks.sizes());
}

}  // namespace sphere
}  // namespace sphmask
