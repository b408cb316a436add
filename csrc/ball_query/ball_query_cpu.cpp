// CPU kernel of ball_query: per scene a uniform grid of cells at least one radius wide, so every
// point within the radius of a centre lies in the 27 cells around the centre's cell; the hits
// found there are reduced to the k smallest indices, which equals a scan in index order.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "ball_query/ball_query.h"

namespace sphmask {
namespace ball_query {
namespace {

// Points of one scene bucketed by cell: cell (x, y, z) has linear id (z * dims[1] + y) * dims[0] + x
// and owns entries cell_start[id] .. cell_start[id + 1] of `index` (global point indices) and
// `xyz` (their coordinates, copied so a cell's candidates are contiguous in memory).
struct SceneGrid {
  double lo[3];
  double inv_cell;
  int64_t dims[3];
  std::vector<int64_t> cell_start;
  std::vector<int64_t> index;
  std::vector<float> xyz;
};

// Cells are sqrt(r2) plus a relative margin of 1e-4 wide: the float32 distance test may accept a
// point marginally farther than sqrt(r2), and cell coordinates carry double rounding; the margin
// keeps every accepted point within one cell of its centre's cell. When a small radius would
// make more than `8 * n + 64` cells, cells grow (fewer, larger cells only add candidates).
SceneGrid build_grid(const float* xyz, int64_t start, int64_t end, float r2) {
  SceneGrid g;
  const int64_t n = end - start;
  double hi[3];
  for (int a = 0; a < 3; ++a) {
    g.lo[a] = hi[a] = xyz[3 * start + a];
  }
  for (int64_t i = start; i < end; ++i) {
    for (int a = 0; a < 3; ++a) {
      g.lo[a] = std::min(g.lo[a], static_cast<double>(xyz[3 * i + a]));
      hi[a] = std::max(hi[a], static_cast<double>(xyz[3 * i + a]));
    }
  }
  const double budget = 8.0 * static_cast<double>(n) + 64.0;
  double cell = std::sqrt(static_cast<double>(r2)) * (1.0 + 1e-4);
  while (true) {
    double cells = 1.0;
    for (int a = 0; a < 3; ++a) {
      cells *= std::floor((hi[a] - g.lo[a]) / cell) + 1.0;
    }
    if (cells <= budget) {
      break;
    }
    cell *= std::max(std::cbrt(cells / budget), 1.01);
  }
  g.inv_cell = 1.0 / cell;
  for (int a = 0; a < 3; ++a) {
    g.dims[a] = static_cast<int64_t>(std::floor((hi[a] - g.lo[a]) * g.inv_cell)) + 1;
  }
  const int64_t num_cells = g.dims[0] * g.dims[1] * g.dims[2];

  std::vector<int64_t> cell_of(n);
  g.cell_start.assign(num_cells + 1, 0);
  for (int64_t i = 0; i < n; ++i) {
    int64_t c[3];
    for (int a = 0; a < 3; ++a) {
      const double t = std::floor((xyz[3 * (start + i) + a] - g.lo[a]) * g.inv_cell);
      c[a] = std::min(static_cast<int64_t>(t), g.dims[a] - 1);
    }
    cell_of[i] = (c[2] * g.dims[1] + c[1]) * g.dims[0] + c[0];
    ++g.cell_start[cell_of[i] + 1];
  }
  for (int64_t c = 0; c < num_cells; ++c) {
    g.cell_start[c + 1] += g.cell_start[c];
  }
  std::vector<int64_t> fill(g.cell_start.begin(), g.cell_start.end() - 1);
  g.index.resize(n);
  g.xyz.resize(3 * n);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t slot = fill[cell_of[i]]++;
    g.index[slot] = start + i;
    for (int a = 0; a < 3; ++a) {
      g.xyz[3 * slot + a] = xyz[3 * (start + i) + a];
    }
  }
  return g;
}

// Range of cells along axis `a` that can hold points within one cell of coordinate `q`;
// false if it misses the grid (a centre far outside the scene).
bool cell_range(const SceneGrid& g, int a, float q, int64_t* first, int64_t* last) {
  const double t = std::floor((q - g.lo[a]) * g.inv_cell);
  if (t + 1.0 < 0.0 || t - 1.0 > static_cast<double>(g.dims[a] - 1)) {
    return false;
  }
  *first = std::max<int64_t>(static_cast<int64_t>(t) - 1, 0);
  *last = std::min<int64_t>(static_cast<int64_t>(t) + 1, g.dims[a] - 1);
  return true;
}

// Hits of one centre: every grid point in the 27 surrounding cells with squared distance < r2.
void collect_hits(const SceneGrid& g, const float* center, float r2, std::vector<int64_t>& hits) {
  hits.clear();
  int64_t first[3], last[3];
  for (int a = 0; a < 3; ++a) {
    if (!cell_range(g, a, center[a], &first[a], &last[a])) {
      return;
    }
  }
  for (int64_t z = first[2]; z <= last[2]; ++z) {
    for (int64_t y = first[1]; y <= last[1]; ++y) {
      // Cells first[0]..last[0] of a row are consecutive, so their points are one run.
      const int64_t row = (z * g.dims[1] + y) * g.dims[0];
      const int64_t begin = g.cell_start[row + first[0]], end = g.cell_start[row + last[0] + 1];
      for (int64_t j = begin; j < end; ++j) {
        if (sq_dist3(center, g.xyz.data() + 3 * j) < r2) {
          hits.push_back(g.index[j]);
        }
      }
    }
  }
}

bool all_finite(const float* v, int64_t n) {
  bool ok = true;
  for (int64_t i = 0; i < n; ++i) {
    ok &= std::isfinite(v[i]);
  }
  return ok;
}

std::tuple<at::Tensor, at::Tensor> ball_query_cpu(const at::Tensor& xyz_in, const at::Tensor& offsets_in,
                                                  const at::Tensor& centers_in,
                                                  const at::Tensor& center_offsets_in, double radius,
                                                  int64_t k) {
  check_args(xyz_in, offsets_in, centers_in, center_offsets_in, k);
  const at::Tensor xyz = xyz_in.contiguous();
  const at::Tensor centers = centers_in.contiguous();
  const at::Tensor offsets = offsets_in.to(at::kLong).contiguous();
  const at::Tensor center_offsets = center_offsets_in.to(at::kLong).contiguous();
  const int64_t num_scenes = offsets.size(0) - 1, q_total = centers.size(0);
  const int64_t* po = offsets.data_ptr<int64_t>();
  const int64_t* qo = center_offsets.data_ptr<int64_t>();
  TORCH_CHECK(po[0] == 0 && po[num_scenes] == xyz.size(0) && qo[0] == 0 && qo[num_scenes] == q_total,
              "ball_query: offsets must run from 0 to N and center_offsets from 0 to Q");
  for (int64_t b = 0; b < num_scenes; ++b) {
    TORCH_CHECK(po[b] <= po[b + 1] && qo[b] <= qo[b + 1], "ball_query: offsets must be non-decreasing");
  }

  // A NaN would reach float-to-int casts of cell coordinates; the Python wrapper rejects it
  // first, this guards direct calls of the op.
  TORCH_CHECK_VALUE(all_finite(xyz.data_ptr<float>(), 3 * xyz.size(0)),
                    "ball_query: xyz contains NaN or inf values; expected finite numbers");
  TORCH_CHECK_VALUE(all_finite(centers.data_ptr<float>(), 3 * q_total),
                    "ball_query: centers contains NaN or inf values; expected finite numbers");

  at::Tensor idx = at::empty({q_total, k}, xyz.options().dtype(at::kLong));
  at::Tensor counts = at::empty({q_total}, xyz.options().dtype(at::kInt));
  const float* p = xyz.data_ptr<float>();
  const float* q = centers.data_ptr<float>();
  int64_t* out = idx.data_ptr<int64_t>();
  int32_t* cnt = counts.data_ptr<int32_t>();
  const float r2 = radius_sq(radius);

  for (int64_t b = 0; b < num_scenes; ++b) {
    if (qo[b] == qo[b + 1]) {
      continue;
    }
    if (po[b] == po[b + 1] || !(r2 > 0.0f)) {  // no candidate can pass d2 < r2
      for (int64_t c = qo[b]; c < qo[b + 1]; ++c) {
        pad_row(out + c * k, 0, k);
        cnt[c] = 0;
      }
      continue;
    }
    const SceneGrid grid = build_grid(p, po[b], po[b + 1], r2);
    at::parallel_for(qo[b], qo[b + 1], 64, [&](int64_t begin, int64_t end) {
      std::vector<int64_t> hits;
      for (int64_t c = begin; c < end; ++c) {
        collect_hits(grid, q + 3 * c, r2, hits);
        const int64_t found = std::min<int64_t>(static_cast<int64_t>(hits.size()), k);
        if (static_cast<int64_t>(hits.size()) > k) {
          std::nth_element(hits.begin(), hits.begin() + k, hits.end());
        }
        std::sort(hits.begin(), hits.begin() + found);
        int64_t* row = out + c * k;
        std::copy(hits.begin(), hits.begin() + found, row);
        pad_row(row, found, k);
        cnt[c] = static_cast<int32_t>(found);
      }
    });
  }
  return {idx, counts};
}

}  // namespace
}  // namespace ball_query
}  // namespace sphmask

TORCH_LIBRARY_IMPL(sphmask, CPU, m) {
  m.impl("ball_query", &sphmask::ball_query::ball_query_cpu);
}
