// Folder voxelize holds voxelize, voxel_mean and voxel_mean_backward: the means reduce over the
// point2voxel map that voxelize produces, so the three share its row layout and checks.
// Per-element logic of voxelize and voxel_mean, shared by the CPU kernels and the CUDA kernels,
// and the argument checks of both sets of entry points.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/util/Exception.h>

#include <cstdint>

#include "common/macros.h"

namespace sphmask {
namespace voxel {

// splitmix64's finaliser: every input bit affects the low bits, which pick the hash-table slot.
// Packed voxel keys of neighbouring voxels differ in few bits, so they need this mixing.
SPHMASK_HD uint64_t mix64(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

// One voxel key for a row (batch, x, y, z): each column minus its minimum over the input, in
// `shift[c]`..`shift[c] + bits[c]` of the key. Valid when the four bit widths sum to at most 64;
// the subtraction is done in unsigned arithmetic so that a full-width int64 range still packs.
template <typename index_t>
SPHMASK_HD uint64_t pack_key(const index_t* row, const int64_t* mins, const int* shift) {
  uint64_t key = 0;
  for (int c = 0; c < 4; ++c) {
    key |= (static_cast<uint64_t>(static_cast<int64_t>(row[c])) - static_cast<uint64_t>(mins[c])) << shift[c];
  }
  return key;
}

// True if two rows (batch, x, y, z) are the same voxel.
template <typename index_t>
SPHMASK_HD bool same_voxel(const index_t* a, const index_t* b) {
  return a[0] == b[0] && a[1] == b[1] && a[2] == b[2] && a[3] == b[3];
}

// Mean of channel `c` over one voxel's points `order[start..end)`, summed in that order so the
// result does not depend on threads; 0 for a voxel without points.
template <typename scalar_t>
SPHMASK_HD scalar_t voxel_mean_value(const scalar_t* values, const int64_t* order, int64_t start,
                                     int64_t end, int64_t c, int64_t channels) {
  scalar_t acc = 0;
  for (int64_t j = start; j < end; ++j) {
    acc += values[order[j] * channels + c];
  }
  return end > start ? acc / static_cast<scalar_t>(end - start) : scalar_t(0);
}

// Gradient of voxel_mean for channel `c` of point `i`: the voxel's gradient divided by its size.
template <typename scalar_t>
SPHMASK_HD scalar_t voxel_mean_grad_value(const scalar_t* grad, const int64_t* point2voxel,
                                          const int64_t* counts, int64_t i, int64_t c,
                                          int64_t channels) {
  const int64_t v = point2voxel[i];
  return grad[v * channels + c] / static_cast<scalar_t>(counts[v]);
}

// Host-side argument checks shared by the CPU and CUDA entry points (the Python wrappers check
// first with friendlier messages; these guard direct torch.ops.sphmask calls).
inline void check_voxelize_args(const at::Tensor& coords) {
  TORCH_CHECK(coords.dim() == 2 && coords.size(1) == 4, "voxelize: coords must be [N, 4], got ",
              coords.sizes());
}

// `rows` is the forward's values [N, C] or the backward's grad [M, C].
inline void check_mean_args(const at::Tensor& rows, const at::Tensor& point2voxel, int64_t num_voxels,
                            const char* rows_name) {
  TORCH_CHECK(rows.dim() == 2, "voxel_mean: ", rows_name, " must be 2-D, got ", rows.sizes());
  TORCH_CHECK(point2voxel.dim() == 1 && point2voxel.scalar_type() == at::kLong,
              "voxel_mean: point2voxel must be int64 [N]");
  TORCH_CHECK(num_voxels >= 0, "voxel_mean: num_voxels must be >= 0, got ", num_voxels);
}

inline void check_voxel_mean_args(const at::Tensor& values, const at::Tensor& point2voxel,
                                  int64_t num_voxels) {
  check_mean_args(values, point2voxel, num_voxels, "values");
  TORCH_CHECK(values.size(0) == point2voxel.size(0),
              "voxel_mean: values and point2voxel must have the same number of rows");
}

inline void check_voxel_mean_backward_args(const at::Tensor& grad, const at::Tensor& point2voxel,
                                           int64_t num_voxels) {
  check_mean_args(grad, point2voxel, num_voxels, "grad");
  TORCH_CHECK(grad.size(0) == num_voxels, "voxel_mean_backward: grad must have num_voxels rows");
}

}  // namespace voxel
}  // namespace sphmask
