// CPU kernels of voxelize (first-appearance voxel numbering with an open-addressing hash table)
// and voxel_mean / voxel_mean_backward (per-voxel sums in point order over a CSR point list).
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <array>
#include <vector>

#include "voxelize/voxelize.h"

namespace sphmask {
namespace voxel {
namespace {

// Numbers the keys of points 0..n-1 by first appearance: point2voxel[i] is the number of point i's
// key, first_point[v] the first point with key v. Linear probing in a table of at least twice as
// many slots as points, so probe runs stay short; one pass in point order, hence deterministic.
template <typename Key, typename KeyOf, typename HashOf>
void number_by_first_appearance(int64_t n, KeyOf key_of, HashOf hash_of, int64_t* point2voxel,
                                std::vector<int64_t>& first_point) {
  struct Slot {
    Key key;
    int64_t id;
  };
  uint64_t capacity = 16;
  while (capacity < 2 * static_cast<uint64_t>(n)) {
    capacity <<= 1;
  }
  const uint64_t mask = capacity - 1;
  std::vector<Slot> slots(capacity, Slot{Key{}, -1});
  // Slots are hit at random: fetching the slot of a point some steps ahead hides the cache miss.
  constexpr int64_t kAhead = 16;
  for (int64_t i = 0; i < n; ++i) {
    if (i + kAhead < n) {
      __builtin_prefetch(&slots[hash_of(key_of(i + kAhead)) & mask]);
    }
    const Key key = key_of(i);
    uint64_t h = hash_of(key) & mask;
    while (true) {
      Slot& s = slots[h];
      if (s.id < 0) {
        s.key = key;
        s.id = static_cast<int64_t>(first_point.size());
        first_point.push_back(i);
        point2voxel[i] = s.id;
        break;
      }
      if (s.key == key) {
        point2voxel[i] = s.id;
        break;
      }
      h = (h + 1) & mask;
    }
  }
}

template <typename index_t>
std::vector<int64_t> voxelize_rows(const index_t* coords, int64_t n, int64_t* point2voxel) {
  std::vector<int64_t> first_point;
  if (n == 0) {
    return first_point;
  }
  // Bit width of each column's range decides whether a row fits one 64-bit key.
  int64_t mins[4], maxs[4];
  for (int c = 0; c < 4; ++c) {
    mins[c] = maxs[c] = coords[c];
  }
  for (int64_t i = 1; i < n; ++i) {
    for (int c = 0; c < 4; ++c) {
      const int64_t v = coords[4 * i + c];
      mins[c] = v < mins[c] ? v : mins[c];
      maxs[c] = v > maxs[c] ? v : maxs[c];
    }
  }
  int bits[4];
  int total_bits = 0;
  for (int c = 0; c < 4; ++c) {
    const uint64_t range = static_cast<uint64_t>(maxs[c]) - static_cast<uint64_t>(mins[c]);
    bits[c] = range == 0 ? 0 : 64 - __builtin_clzll(range);
    total_bits += bits[c];
  }
  if (total_bits <= 64) {
    int shift[4];
    int used = 0;
    for (int c = 3; c >= 0; --c) {
      shift[c] = bits[c] == 0 ? 0 : used;  // a zero-width column contributes 0; avoids shift by 64
      used += bits[c];
    }
    number_by_first_appearance<uint64_t>(
        n, [&](int64_t i) { return pack_key(coords + 4 * i, mins, shift); },
        [](uint64_t k) { return mix64(k); }, point2voxel, first_point);
  } else {
    // Coordinates spread over more than 64 bits in total (e.g. int64 batch ids far apart): key
    // on the whole row.
    using Row = std::array<int64_t, 4>;
    number_by_first_appearance<Row>(
        n,
        [&](int64_t i) {
          const index_t* r = coords + 4 * i;
          return Row{r[0], r[1], r[2], r[3]};
        },
        [](const Row& r) {
          return mix64(static_cast<uint64_t>(r[0]) ^
                       mix64(static_cast<uint64_t>(r[1]) ^
                             mix64(static_cast<uint64_t>(r[2]) ^ mix64(static_cast<uint64_t>(r[3])))));
        },
        point2voxel, first_point);
  }
  return first_point;
}

std::tuple<at::Tensor, at::Tensor> voxelize_cpu(const at::Tensor& coords_in) {
  check_voxelize_args(coords_in);
  const at::Tensor coords = coords_in.contiguous();
  const int64_t n = coords.size(0);
  at::Tensor point2voxel = at::empty({n}, coords.options().dtype(at::kLong));
  at::Tensor voxel_coords;
  AT_DISPATCH_INDEX_TYPES(coords.scalar_type(), "voxelize_cpu", [&] {
    const index_t* c = coords.data_ptr<index_t>();
    const std::vector<int64_t> first = voxelize_rows(c, n, point2voxel.data_ptr<int64_t>());
    const int64_t m = static_cast<int64_t>(first.size());
    voxel_coords = at::empty({m, 4}, coords.options().dtype(at::kInt));
    int32_t* out = voxel_coords.data_ptr<int32_t>();
    for (int64_t v = 0; v < m; ++v) {
      for (int k = 0; k < 4; ++k) {
        out[4 * v + k] = static_cast<int32_t>(c[4 * first[v] + k]);
      }
    }
  });
  return {voxel_coords, point2voxel};
}

// Rows of `channels` values per parallel task: about at::internal::GRAIN_SIZE values, as torch's
// own element-wise loops, so small inputs run serially instead of paying a thread hand-off.
int64_t grain_rows(int64_t channels) {
  return std::max<int64_t>(1, at::internal::GRAIN_SIZE / std::max<int64_t>(1, channels));
}

// Counts points per voxel (checking every voxel index) into counts[0..m).
std::vector<int64_t> count_points(const int64_t* point2voxel, int64_t n, int64_t m) {
  std::vector<int64_t> counts(m, 0);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t v = point2voxel[i];
    TORCH_CHECK_VALUE(v >= 0 && v < m, "voxel_mean: point2voxel[", i, "] = ", v, " is outside [0, ",
                m, ")");
    ++counts[v];
  }
  return counts;
}

at::Tensor voxel_mean_cpu(const at::Tensor& values_in, const at::Tensor& point2voxel_in,
                          int64_t num_voxels) {
  check_voxel_mean_args(values_in, point2voxel_in, num_voxels);
  const at::Tensor values = values_in.contiguous();
  const at::Tensor point2voxel = point2voxel_in.contiguous();
  const int64_t n = values.size(0), channels = values.size(1), m = num_voxels;
  const int64_t* p2v = point2voxel.data_ptr<int64_t>();

  // CSR of each voxel's points in increasing point order (a stable counting sort).
  const std::vector<int64_t> counts = count_points(p2v, n, m);
  std::vector<int64_t> start(m + 1, 0);
  for (int64_t v = 0; v < m; ++v) {
    start[v + 1] = start[v] + counts[v];
  }
  std::vector<int64_t> order(n);
  {
    std::vector<int64_t> fill(start.begin(), start.end() - 1);
    for (int64_t i = 0; i < n; ++i) {
      order[fill[p2v[i]]++] = i;
    }
  }

  at::Tensor out = at::empty({m, channels}, values.options());
  AT_DISPATCH_FLOATING_TYPES(values.scalar_type(), "voxel_mean_cpu", [&] {
    const scalar_t* in = values.data_ptr<scalar_t>();
    scalar_t* o = out.data_ptr<scalar_t>();
    at::parallel_for(0, m, grain_rows(channels), [&](int64_t begin, int64_t end) {
      for (int64_t v = begin; v < end; ++v) {
        for (int64_t c = 0; c < channels; ++c) {
          o[v * channels + c] = voxel_mean_value(in, order.data(), start[v], start[v + 1], c, channels);
        }
      }
    });
  });
  return out;
}

at::Tensor voxel_mean_backward_cpu(const at::Tensor& grad_in, const at::Tensor& point2voxel_in,
                                   int64_t num_voxels) {
  check_voxel_mean_backward_args(grad_in, point2voxel_in, num_voxels);
  const at::Tensor grad = grad_in.contiguous();
  const at::Tensor point2voxel = point2voxel_in.contiguous();
  const int64_t n = point2voxel.size(0), channels = grad.size(1);
  const int64_t* p2v = point2voxel.data_ptr<int64_t>();
  const std::vector<int64_t> counts = count_points(p2v, n, num_voxels);

  at::Tensor out = at::empty({n, channels}, grad.options());
  AT_DISPATCH_FLOATING_TYPES(grad.scalar_type(), "voxel_mean_backward_cpu", [&] {
    const scalar_t* g = grad.data_ptr<scalar_t>();
    scalar_t* o = out.data_ptr<scalar_t>();
    at::parallel_for(0, n, grain_rows(channels), [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        for (int64_t c = 0; c < channels; ++c) {
          o[i * channels + c] = voxel_mean_grad_value(g, p2v, counts.data(), i, c, channels);
        }
      }
    });
  });
  return out;
}

}  // namespace
}  // namespace voxel
}  // namespace sphmask

TORCH_LIBRARY_IMPL(sphmask, CPU, m) {
  m.impl("voxelize", &sphmask::voxel::voxelize_cpu);
  m.impl("voxel_mean", &sphmask::voxel::voxel_mean_cpu);
  m.impl("voxel_mean_backward", &sphmask::voxel::voxel_mean_backward_cpu);
}
