// CUDA kernel of furthest_point_sample: the standard scheme of the official kernels (one block per
// scene, running minima in global memory, a block-wide argmax per pick), with the CPU kernel's
// float32 arithmetic from fps.h and an argmax that breaks ties to the lower index explicitly, so
// both devices return the same indices.
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <algorithm>
#include <limits>

#include "fps/fps.h"

namespace sphmask {
namespace fps {
namespace {

constexpr int kMaxThreads = 512;
constexpr int kWarp = 32;
// Running minimum of a candidate that may never be picked (PointNet++ skip rule); below every
// real squared distance, and also the initial best of each thread.
constexpr float kNever = -1.f;

// Reduces (v, i) over the warp under `better`; lane 0 ends with the winner.
__device__ void warp_argmax(float& v, int64_t& i) {
  for (int step = kWarp / 2; step > 0; step /= 2) {
    const float ov = __shfl_down_sync(0xffffffffu, v, step);
    const int64_t oi = __shfl_down_sync(0xffffffffu, i, step);
    if (better(ov, oi, v, i)) {
      v = ov;
      i = oi;
    }
  }
}

// Reduces (v, i) over the block under `better`; every thread returns the winner.
__device__ void block_argmax(float& v, int64_t& i) {
  __shared__ float warp_v[kMaxThreads / kWarp];
  __shared__ int64_t warp_i[kMaxThreads / kWarp];
  const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp;
  const int num_warps = blockDim.x / kWarp;
  warp_argmax(v, i);
  if (lane == 0) {
    warp_v[warp] = v;
    warp_i[warp] = i;
  }
  __syncthreads();
  if (warp == 0) {
    v = lane < num_warps ? warp_v[lane] : kNever;
    i = lane < num_warps ? warp_i[lane] : std::numeric_limits<int64_t>::max();
    warp_argmax(v, i);
    if (lane == 0) {
      warp_v[0] = v;
      warp_i[0] = i;
    }
  }
  __syncthreads();
  v = warp_v[0];
  i = warp_i[0];
  __syncthreads();  // warp_v/warp_i are rewritten by the next call
}

// Block b samples scene b. Thread t owns candidates t, t + blockDim.x, ... of the scene, so only
// it reads and writes their running minima and no synchronisation is needed for `dist`.
__global__ void fps_kernel(const float* __restrict__ xyz, const int64_t* __restrict__ offsets,
                           const int64_t* __restrict__ out_offsets, bool skip_near_origin,
                           float* __restrict__ dist, int64_t* __restrict__ out) {
  const int64_t b = blockIdx.x;
  const int64_t start = offsets[b], end = offsets[b + 1];
  const int64_t out_start = out_offsets[b], m = out_offsets[b + 1] - out_start;
  if (m == 0) return;
  for (int64_t k = start + threadIdx.x; k < end; k += blockDim.x) {
    const bool never = skip_near_origin && near_origin(xyz[3 * k], xyz[3 * k + 1], xyz[3 * k + 2]);
    dist[k] = never ? kNever : INFINITY;
  }
  if (threadIdx.x == 0) out[out_start] = start;
  int64_t last = start;
  for (int64_t j = 1; j < m; ++j) {
    const float px = xyz[3 * last], py = xyz[3 * last + 1], pz = xyz[3 * last + 2];
    // With no candidate left to pick, the scene's first point wins (PointNet++ keeps index 0).
    float best_v = kNever;
    int64_t best_i = start;
    for (int64_t k = start + threadIdx.x; k < end; k += blockDim.x) {
      const float current = dist[k];
      if (current == kNever) continue;
      const float v = min_dist(current, sq_dist(xyz[3 * k], xyz[3 * k + 1], xyz[3 * k + 2], px, py, pz));
      dist[k] = v;
      if (better(v, k, best_v, best_i)) {
        best_v = v;
        best_i = k;
      }
    }
    block_argmax(best_v, best_i);
    last = best_i;
    if (threadIdx.x == 0) out[out_start + j] = last;
  }
}

at::Tensor furthest_point_sample_cuda(const at::Tensor& xyz_in, const at::Tensor& offsets_in,
                                      const at::Tensor& num_samples_in, bool skip_near_origin) {
  const int64_t num_scenes = check_args(xyz_in, offsets_in, num_samples_in);
  c10::cuda::CUDAGuard guard(xyz_in.device());
  const at::Tensor xyz = xyz_in.contiguous();
  // Output sizes are needed on the host anyway; the checks below use the same copies.
  const at::Tensor offsets_host = offsets_in.cpu().contiguous();
  const at::Tensor counts_host = num_samples_in.cpu().contiguous();
  const int64_t* o = offsets_host.data_ptr<int64_t>();
  const int64_t* c = counts_host.data_ptr<int64_t>();
  check_scene_sizes(o, c, num_scenes, xyz.size(0));
  at::Tensor out_offsets_host = at::empty({num_scenes + 1}, offsets_host.options());
  int64_t* oo = out_offsets_host.data_ptr<int64_t>();
  oo[0] = 0;
  int64_t max_points = 0;
  for (int64_t b = 0; b < num_scenes; ++b) {
    oo[b + 1] = oo[b] + c[b];
    max_points = std::max(max_points, o[b + 1] - o[b]);
  }
  at::Tensor out = at::empty({oo[num_scenes]}, xyz.options().dtype(at::kLong));
  if (oo[num_scenes] == 0) return out;
  const at::Tensor offsets = offsets_host.to(xyz.device());
  const at::Tensor out_offsets = out_offsets_host.to(xyz.device());
  at::Tensor dist = at::empty({xyz.size(0)}, xyz.options());
  const int threads = static_cast<int>(
      std::min<int64_t>(kMaxThreads, std::max<int64_t>(kWarp, (max_points + kWarp - 1) / kWarp * kWarp)));
  fps_kernel<<<static_cast<unsigned>(num_scenes), threads, 0, c10::cuda::getCurrentCUDAStream()>>>(
      xyz.data_ptr<float>(), offsets.data_ptr<int64_t>(), out_offsets.data_ptr<int64_t>(),
      skip_near_origin, dist.data_ptr<float>(), out.data_ptr<int64_t>());
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return out;
}

}  // namespace
}  // namespace fps
}  // namespace sphmask

TORCH_LIBRARY_IMPL(sphmask, CUDA, m) {
  m.impl("furthest_point_sample", &sphmask::fps::furthest_point_sample_cuda);
}
