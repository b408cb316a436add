// CUDA kernels of voxelize, voxel_mean and voxel_mean_backward. Deterministic and identical to
// the CPU kernels: voxelize sorts rows with stable sorts, so the first row of every run of equal
// rows is the voxel's first point; voxel_mean sums each voxel's points in point order.
#include <ATen/Dispatch.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/arange.h>
#include <ATen/ops/bincount.h>
#include <ATen/ops/cumsum.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/index_copy.h>
#include <ATen/ops/index_select.h>
#include <ATen/ops/nonzero.h>
#include <ATen/ops/sort.h>
#include <ATen/ops/sub.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <algorithm>
#include <tuple>

#include "voxelize/voxelize.h"

namespace sphmask {
namespace voxel {
namespace {

constexpr int kThreads = 256;

int64_t blocks_for(int64_t n) {
  return std::max<int64_t>(std::min<int64_t>((n + kThreads - 1) / kThreads, int64_t{1} << 20), 1);
}

#define SPHMASK_GRID_STRIDE(i, n)                                                          \
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < (n); \
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)

// head[j] = 1 where sorted row j starts a new voxel.
template <typename index_t>
__global__ void mark_heads_kernel(const index_t* __restrict__ coords, const int64_t* __restrict__ perm,
                                  int64_t n, int64_t* __restrict__ head) {
  SPHMASK_GRID_STRIDE(j, n) {
    head[j] = (j == 0 || !same_voxel(coords + 4 * perm[j], coords + 4 * perm[j - 1])) ? 1 : 0;
  }
}

// point2voxel of the point in sorted position j: the final number of its run.
__global__ void scatter_voxel_ids_kernel(const int64_t* __restrict__ perm, const int64_t* __restrict__ run,
                                         const int64_t* __restrict__ run_rank, int64_t n,
                                         int64_t* __restrict__ point2voxel) {
  SPHMASK_GRID_STRIDE(j, n) {
    point2voxel[perm[j]] = run_rank[run[j]];
  }
}

std::tuple<at::Tensor, at::Tensor> voxelize_cuda(const at::Tensor& coords_in) {
  check_voxelize_args(coords_in);
  c10::cuda::CUDAGuard guard(coords_in.device());
  const at::Tensor coords = coords_in.contiguous();
  const int64_t n = coords.size(0);
  const auto long_opts = coords.options().dtype(at::kLong);
  if (n == 0) {
    return {at::empty({0, 4}, coords.options().dtype(at::kInt)), at::empty({0}, long_opts)};
  }
  // Lexicographic order of the rows by stable sorts from the last column to the first; equal
  // rows keep increasing point order, so each run of equal rows starts with its first point.
  at::Tensor perm = at::arange(n, long_opts);
  for (int64_t c = 3; c >= 0; --c) {
    const at::Tensor column = coords.select(1, c).index_select(0, perm);
    perm = perm.index_select(0, std::get<1>(at::sort(column, /*stable=*/true, 0, false)));
  }
  at::Tensor head = at::empty({n}, long_opts);
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_INDEX_TYPES(coords.scalar_type(), "voxelize_cuda", [&] {
    mark_heads_kernel<index_t><<<blocks_for(n), kThreads, 0, stream>>>(
        coords.data_ptr<index_t>(), perm.data_ptr<int64_t>(), n, head.data_ptr<int64_t>());
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  const at::Tensor run = at::sub(at::cumsum(head, 0), 1);  // run (voxel in sorted order) of each sorted row
  const at::Tensor first = perm.index_select(0, at::nonzero(head).view(-1));  // first point per run
  // Voxels are numbered by their first point: run_rank[r] = rank of run r's first point.
  const auto sorted = at::sort(first);
  const at::Tensor first_sorted = std::get<0>(sorted);
  const int64_t m = first.size(0);
  at::Tensor run_rank = at::empty({m}, long_opts).index_copy_(0, std::get<1>(sorted), at::arange(m, long_opts));
  at::Tensor point2voxel = at::empty({n}, long_opts);
  scatter_voxel_ids_kernel<<<blocks_for(n), kThreads, 0, stream>>>(
      perm.data_ptr<int64_t>(), run.data_ptr<int64_t>(), run_rank.data_ptr<int64_t>(), n,
      point2voxel.data_ptr<int64_t>());
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  const at::Tensor voxel_coords = coords.index_select(0, first_sorted).to(at::kInt);
  return {voxel_coords, point2voxel};
}

template <typename scalar_t>
__global__ void voxel_mean_kernel(const scalar_t* __restrict__ values, const int64_t* __restrict__ order,
                                  const int64_t* __restrict__ start, const int64_t* __restrict__ counts,
                                  int64_t total, int64_t channels, scalar_t* __restrict__ out) {
  SPHMASK_GRID_STRIDE(t, total) {
    const int64_t v = t / channels;
    const int64_t c = t - v * channels;
    out[t] = voxel_mean_value(values, order, start[v], start[v] + counts[v], c, channels);
  }
}

template <typename scalar_t>
__global__ void voxel_mean_backward_kernel(const scalar_t* __restrict__ grad,
                                           const int64_t* __restrict__ point2voxel,
                                           const int64_t* __restrict__ counts, int64_t total,
                                           int64_t channels, scalar_t* __restrict__ out) {
  SPHMASK_GRID_STRIDE(t, total) {
    const int64_t i = t / channels;
    out[t] = voxel_mean_grad_value(grad, point2voxel, counts, i, t - i * channels, channels);
  }
}

// Points per voxel; point2voxel must hold values in [0, num_voxels) (the Python wrapper checks).
at::Tensor count_points(const at::Tensor& point2voxel, int64_t num_voxels) {
  return at::bincount(point2voxel, {}, num_voxels).narrow(0, 0, num_voxels).contiguous();
}

at::Tensor voxel_mean_cuda(const at::Tensor& values_in, const at::Tensor& point2voxel_in,
                           int64_t num_voxels) {
  check_voxel_mean_args(values_in, point2voxel_in, num_voxels);
  c10::cuda::CUDAGuard guard(values_in.device());
  const at::Tensor values = values_in.contiguous();
  const at::Tensor point2voxel = point2voxel_in.contiguous();
  const int64_t channels = values.size(1), total = num_voxels * channels;
  at::Tensor out = at::empty({num_voxels, channels}, values.options());
  if (total == 0) {
    return out;
  }
  // CSR of each voxel's points in increasing point order (stable sort by voxel).
  const at::Tensor order = std::get<1>(at::sort(point2voxel, /*stable=*/true, 0, false));
  const at::Tensor counts = count_points(point2voxel, num_voxels);
  const at::Tensor start = at::sub(at::cumsum(counts, 0), counts);
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES(values.scalar_type(), "voxel_mean_cuda", [&] {
    voxel_mean_kernel<scalar_t><<<blocks_for(total), kThreads, 0, stream>>>(
        values.data_ptr<scalar_t>(), order.data_ptr<int64_t>(), start.data_ptr<int64_t>(),
        counts.data_ptr<int64_t>(), total, channels, out.data_ptr<scalar_t>());
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return out;
}

at::Tensor voxel_mean_backward_cuda(const at::Tensor& grad_in, const at::Tensor& point2voxel_in,
                                    int64_t num_voxels) {
  check_voxel_mean_backward_args(grad_in, point2voxel_in, num_voxels);
  c10::cuda::CUDAGuard guard(grad_in.device());
  const at::Tensor grad = grad_in.contiguous();
  const at::Tensor point2voxel = point2voxel_in.contiguous();
  const int64_t channels = grad.size(1), total = point2voxel.size(0) * channels;
  at::Tensor out = at::empty({point2voxel.size(0), channels}, grad.options());
  if (total == 0) {
    return out;
  }
  const at::Tensor counts = count_points(point2voxel, num_voxels);
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES(grad.scalar_type(), "voxel_mean_backward_cuda", [&] {
    voxel_mean_backward_kernel<scalar_t><<<blocks_for(total), kThreads, 0, stream>>>(
        grad.data_ptr<scalar_t>(), point2voxel.data_ptr<int64_t>(), counts.data_ptr<int64_t>(), total,
        channels, out.data_ptr<scalar_t>());
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return out;
}

}  // namespace
}  // namespace voxel
}  // namespace sphmask

TORCH_LIBRARY_IMPL(sphmask, CUDA, m) {
  m.impl("voxelize", &sphmask::voxel::voxelize_cuda);
  m.impl("voxel_mean", &sphmask::voxel::voxel_mean_cuda);
  m.impl("voxel_mean_backward", &sphmask::voxel::voxel_mean_backward_cuda);
}
