// CUDA kernels of sphere_coords, rays_from_masks and assemble_masks: one thread per
// (query, point) pair, sharing the per-element arithmetic with the CPU loops (sphere/sphere.h).
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <algorithm>
#include <tuple>

#include "sphere/sphere.h"

namespace sphmask {
namespace {

constexpr int kThreads = 256;
// Sectors one block of rays_from_masks keeps in shared memory; finer grids use several blocks.
constexpr int kSectorTile = 4096;
// Points one block of rays_from_masks scans at least; chunks let a few queries fill the device.
constexpr int64_t kMinPointsPerBlock = 8192;
constexpr int64_t kMaxGridZ = 65535;
// Marks a sector without masked points. Radii are >= +0, and the bit patterns of non-negative
// floats order like the floats when read as int32, all above -1; so an integer atomicMax gives
// the float maximum, and max over no point stays at -1.
constexpr int kNoPoint = -1;

int64_t blocks_for(int64_t n) {
  return std::min<int64_t>((n + kThreads - 1) / kThreads, int64_t{1} << 20);
}

// The wrappers check devices first; this keeps direct torch.ops calls from reading host memory.
void check_on_device(const at::Tensor& t, const char* name, const at::Tensor& points) {
  TORCH_CHECK(t.device() == points.device(), name, " must be on ", points.device(),
              " like points, got ", t.device());
}

__global__ void sphere_coords_kernel(const float* __restrict__ points,
                                     const float* __restrict__ centers, int64_t num_points,
                                     int64_t total, sphere::Grid grid, float* __restrict__ radius,
                                     int64_t* __restrict__ sector) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t q = i / num_points;
    const int64_t s = i - q * num_points;
    int k;
    sphere::sphere_coord(points + 3 * s, centers + 3 * q, grid, radius + i, &k);
    sector[i] = k;
  }
}

// Block (q, tile, chunk) folds the masked points of one chunk of query q into the sectors of one
// tile, first in shared memory, then into the global per-query maxima (as int32 bit patterns).
__global__ void rays_max_kernel(const float* __restrict__ points, const float* __restrict__ centers,
                                const bool* __restrict__ masks, int64_t num_points,
                                int64_t points_per_block, int num_sectors, sphere::Grid grid,
                                int* __restrict__ best) {
  __shared__ int tile_best[kSectorTile];
  const int64_t q = blockIdx.x;
  const int tile_begin = blockIdx.y * kSectorTile;
  const int tile_size = min(kSectorTile, num_sectors - tile_begin);
  for (int k = threadIdx.x; k < tile_size; k += blockDim.x) {
    tile_best[k] = kNoPoint;
  }
  __syncthreads();
  const int64_t chunk_begin = blockIdx.z * points_per_block;
  const int64_t chunk_end = min(num_points, chunk_begin + points_per_block);
  const bool* mrow = masks + q * num_points;
  for (int64_t s = chunk_begin + threadIdx.x; s < chunk_end; s += blockDim.x) {
    if (!mrow[s]) {
      continue;
    }
    float r;
    int k;
    sphere::sphere_coord(points + 3 * s, centers + 3 * q, grid, &r, &k);
    k -= tile_begin;
    if (k >= 0 && k < tile_size) {
      atomicMax(&tile_best[k], __float_as_int(r));
    }
  }
  __syncthreads();
  int* row = best + q * num_sectors + tile_begin;
  for (int k = threadIdx.x; k < tile_size; k += blockDim.x) {
    if (tile_best[k] != kNoPoint) {
      atomicMax(&row[k], tile_best[k]);
    }
  }
}

__global__ void rays_finish_kernel(const int* __restrict__ best, int64_t total, float empty,
                                   float* __restrict__ rays) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    rays[i] = best[i] == kNoPoint ? empty : fmaxf(empty, __int_as_float(best[i]));
  }
}

__global__ void fill_int_kernel(int* __restrict__ data, int64_t total, int value) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    data[i] = value;
  }
}

__global__ void assemble_kernel(const float* __restrict__ points,
                                const float* __restrict__ centers, const float* __restrict__ rays,
                                const float* __restrict__ migration, int64_t num_points,
                                int64_t total, int num_sectors, sphere::Grid grid,
                                float scale_minus_one, bool* __restrict__ masks) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t q = i / num_points;
    const int64_t s = i - q * num_points;
    float r;
    int k;
    sphere::sphere_coord(points + 3 * s, centers + 3 * q, grid, &r, &k);
    masks[i] = sphere::inside(rays[q * num_sectors + k], r, migration[i], scale_minus_one);
  }
}

std::tuple<at::Tensor, at::Tensor> sphere_coords_cuda(const at::Tensor& points,
                                                      const at::Tensor& centers, int64_t n_azimuth,
                                                      int64_t n_polar) {
  const sphere::Grid grid = sphere::check_inputs(points, centers, n_azimuth, n_polar);
  check_on_device(centers, "centers", points);
  const c10::cuda::CUDAGuard guard(points.device());
  const at::Tensor p = points.contiguous();
  const at::Tensor c = centers.contiguous();
  const int64_t num_points = p.size(0);
  const int64_t total = c.size(0) * num_points;
  at::Tensor radius = at::empty({c.size(0), num_points}, p.options());
  at::Tensor sector = at::empty({c.size(0), num_points}, p.options().dtype(at::kLong));
  if (total == 0) {
    return {radius, sector};
  }
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  sphere_coords_kernel<<<blocks_for(total), kThreads, 0, stream>>>(
      p.data_ptr<float>(), c.data_ptr<float>(), num_points, total, grid, radius.data_ptr<float>(),
      sector.data_ptr<int64_t>());
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return {radius, sector};
}

at::Tensor rays_from_masks_cuda(const at::Tensor& points, const at::Tensor& centers,
                                const at::Tensor& masks, int64_t n_azimuth, int64_t n_polar,
                                double empty_value) {
  const sphere::Grid grid = sphere::check_inputs(points, centers, n_azimuth, n_polar);
  const c10::cuda::CUDAGuard guard(points.device());
  const at::Tensor p = points.contiguous();
  const at::Tensor c = centers.contiguous();
  const int64_t num_points = p.size(0);
  const int64_t num_queries = c.size(0);
  sphere::check_masks(masks, num_queries, num_points);
  check_on_device(centers, "centers", points);
  check_on_device(masks, "masks", points);
  const at::Tensor m = masks.contiguous();
  const int num_sectors = grid.n_azimuth * grid.n_polar;
  const int64_t total = num_queries * num_sectors;
  at::Tensor rays = at::empty({num_queries, num_sectors}, p.options());
  if (total == 0) {
    return rays;
  }
  at::Tensor best = at::empty({num_queries, num_sectors}, p.options().dtype(at::kInt));
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  fill_int_kernel<<<blocks_for(total), kThreads, 0, stream>>>(best.data_ptr<int>(), total,
                                                                kNoPoint);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  if (num_points > 0) {
    const int64_t per_block =
        std::max(kMinPointsPerBlock, (num_points + kMaxGridZ - 1) / kMaxGridZ);
    const dim3 blocks(static_cast<unsigned>(num_queries),
                      static_cast<unsigned>((num_sectors + kSectorTile - 1) / kSectorTile),
                      static_cast<unsigned>((num_points + per_block - 1) / per_block));
    rays_max_kernel<<<blocks, kThreads, 0, stream>>>(
        p.data_ptr<float>(), c.data_ptr<float>(), m.data_ptr<bool>(), num_points, per_block,
        num_sectors, grid, best.data_ptr<int>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
  rays_finish_kernel<<<blocks_for(total), kThreads, 0, stream>>>(
      best.data_ptr<int>(), total, static_cast<float>(empty_value), rays.data_ptr<float>());
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return rays;
}

at::Tensor assemble_masks_cuda(const at::Tensor& points, const at::Tensor& centers,
                               const at::Tensor& rays, const at::Tensor& migration,
                               double migration_scale, int64_t n_azimuth, int64_t n_polar) {
  const sphere::Grid grid = sphere::check_inputs(points, centers, n_azimuth, n_polar);
  const int64_t num_points = points.size(0);
  const int64_t num_queries = centers.size(0);
  const int num_sectors = grid.n_azimuth * grid.n_polar;
  sphere::check_float_rows(rays, "rays", num_queries, num_sectors);
  sphere::check_float_rows(migration, "migration", num_queries, num_points);
  check_on_device(centers, "centers", points);
  check_on_device(rays, "rays", points);
  check_on_device(migration, "migration", points);
  const c10::cuda::CUDAGuard guard(points.device());
  const at::Tensor p = points.contiguous();
  const at::Tensor c = centers.contiguous();
  const at::Tensor ray = rays.contiguous();
  const at::Tensor mig = migration.contiguous();
  const int64_t total = num_queries * num_points;
  at::Tensor masks = at::empty({num_queries, num_points}, p.options().dtype(at::kBool));
  if (total == 0) {
    return masks;
  }
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  assemble_kernel<<<blocks_for(total), kThreads, 0, stream>>>(
      p.data_ptr<float>(), c.data_ptr<float>(), ray.data_ptr<float>(), mig.data_ptr<float>(),
      num_points, total, num_sectors, grid, static_cast<float>(migration_scale - 1.0),
      masks.data_ptr<bool>());
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return masks;
}

}  // namespace

TORCH_LIBRARY_IMPL(sphmask, CUDA, m) {
  m.impl("sphere_coords", &sphere_coords_cuda);
  m.impl("rays_from_masks", &rays_from_masks_cuda);
  m.impl("assemble_masks", &assemble_masks_cuda);
}

}  // namespace sphmask
