// CUDA kernel of ball_query: one thread per centre scans its scene's points in index order and
// stops after k hits (the official kernels' scheme), with the CPU kernel's distance test.
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <algorithm>
#include <tuple>

#include "ball_query/ball_query.h"

namespace sphmask {
namespace ball_query {
namespace {

constexpr int kThreads = 256;

__global__ void ball_query_kernel(const float* __restrict__ xyz, const int64_t* __restrict__ offsets,
                                  const float* __restrict__ centers,
                                  const int64_t* __restrict__ center_offsets, int64_t num_scenes,
                                  int64_t num_centers, float r2, int64_t k, int64_t* __restrict__ idx,
                                  int32_t* __restrict__ counts) {
  for (int64_t q = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; q < num_centers;
       q += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t b = find_segment(center_offsets, num_scenes, q);
    int64_t* row = idx + q * k;
    const int64_t found = scan_first_k(xyz, offsets[b], offsets[b + 1], centers + 3 * q, r2, k, row);
    pad_row(row, found, k);
    counts[q] = static_cast<int32_t>(found);
  }
}

std::tuple<at::Tensor, at::Tensor> ball_query_cuda(const at::Tensor& xyz_in, const at::Tensor& offsets_in,
                                                   const at::Tensor& centers_in,
                                                   const at::Tensor& center_offsets_in, double radius,
                                                   int64_t k) {
  check_args(xyz_in, offsets_in, centers_in, center_offsets_in, k);
  c10::cuda::CUDAGuard guard(xyz_in.device());
  const at::Tensor xyz = xyz_in.contiguous();
  const at::Tensor centers = centers_in.contiguous();
  const at::Tensor offsets = offsets_in.to(at::kLong).contiguous();
  const at::Tensor center_offsets = center_offsets_in.to(at::kLong).contiguous();
  const int64_t num_centers = centers.size(0);
  at::Tensor idx = at::empty({num_centers, k}, xyz.options().dtype(at::kLong));
  at::Tensor counts = at::empty({num_centers}, xyz.options().dtype(at::kInt));
  if (num_centers == 0) {
    return {idx, counts};
  }
  const int64_t blocks = std::min<int64_t>((num_centers + kThreads - 1) / kThreads, int64_t{1} << 20);
  ball_query_kernel<<<blocks, kThreads, 0, c10::cuda::getCurrentCUDAStream()>>>(
      xyz.data_ptr<float>(), offsets.data_ptr<int64_t>(), centers.data_ptr<float>(),
      center_offsets.data_ptr<int64_t>(), offsets.size(0) - 1, num_centers, radius_sq(radius), k,
      idx.data_ptr<int64_t>(), counts.data_ptr<int32_t>());
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return {idx, counts};
}

}  // namespace
}  // namespace ball_query
}  // namespace sphmask

TORCH_LIBRARY_IMPL(sphmask, CUDA, m) {
  m.impl("ball_query", &sphmask::ball_query::ball_query_cuda);
}
