// CPU kernels of sphere_coords, rays_from_masks and assemble_masks. Each query row is independent
// and computed by one thread, so results do not depend on the number of threads.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <tuple>

#include "sphere/sphere.h"

namespace sphmask {
namespace {

// Queries per parallel task: enough points per task that thread start-up does not dominate.
int64_t query_grain(int64_t num_points) {
  return std::max<int64_t>(1, 16384 / std::max<int64_t>(1, num_points));
}

std::tuple<at::Tensor, at::Tensor> sphere_coords_cpu(const at::Tensor& points,
                                                     const at::Tensor& centers, int64_t n_azimuth,
                                                     int64_t n_polar) {
  const sphere::Grid grid = sphere::check_inputs(points, centers, n_azimuth, n_polar);
  const at::Tensor p = points.contiguous();
  const at::Tensor c = centers.contiguous();
  const int64_t num_points = p.size(0);
  const int64_t num_queries = c.size(0);
  at::Tensor radius = at::empty({num_queries, num_points}, p.options());
  at::Tensor sector = at::empty({num_queries, num_points}, p.options().dtype(at::kLong));
  const float* pp = p.data_ptr<float>();
  const float* cp = c.data_ptr<float>();
  float* rp = radius.data_ptr<float>();
  int64_t* sp = sector.data_ptr<int64_t>();
  at::parallel_for(0, num_queries, query_grain(num_points), [&](int64_t begin, int64_t end) {
    for (int64_t q = begin; q < end; ++q) {
      for (int64_t s = 0; s < num_points; ++s) {
        int k;
        sphere::sphere_coord(pp + 3 * s, cp + 3 * q, grid, rp + q * num_points + s, &k);
        sp[q * num_points + s] = k;
      }
    }
  });
  return {radius, sector};
}

at::Tensor rays_from_masks_cpu(const at::Tensor& points, const at::Tensor& centers,
                               const at::Tensor& masks, int64_t n_azimuth, int64_t n_polar,
                               double empty_value) {
  const sphere::Grid grid = sphere::check_inputs(points, centers, n_azimuth, n_polar);
  const at::Tensor p = points.contiguous();
  const at::Tensor c = centers.contiguous();
  const int64_t num_points = p.size(0);
  const int64_t num_queries = c.size(0);
  sphere::check_masks(masks, num_queries, num_points);
  const at::Tensor m = masks.contiguous();
  const int64_t num_sectors = static_cast<int64_t>(grid.n_azimuth) * grid.n_polar;
  const float empty = static_cast<float>(empty_value);
  at::Tensor rays = at::full({num_queries, num_sectors}, empty, p.options());
  const float* pp = p.data_ptr<float>();
  const float* cp = c.data_ptr<float>();
  const bool* mp = m.data_ptr<bool>();
  float* out = rays.data_ptr<float>();
  at::parallel_for(0, num_queries, query_grain(num_points), [&](int64_t begin, int64_t end) {
    for (int64_t q = begin; q < end; ++q) {
      float* row = out + q * num_sectors;
      const bool* mrow = mp + q * num_points;
      for (int64_t s = 0; s < num_points; ++s) {
        if (!mrow[s]) {
          continue;
        }
        float r;
        int k;
        sphere::sphere_coord(pp + 3 * s, cp + 3 * q, grid, &r, &k);
        row[k] = std::max(row[k], r);
      }
    }
  });
  return rays;
}

at::Tensor assemble_masks_cpu(const at::Tensor& points, const at::Tensor& centers,
                              const at::Tensor& rays, const at::Tensor& migration,
                              double migration_scale, int64_t n_azimuth, int64_t n_polar) {
  const sphere::Grid grid = sphere::check_inputs(points, centers, n_azimuth, n_polar);
  const at::Tensor p = points.contiguous();
  const at::Tensor c = centers.contiguous();
  const int64_t num_points = p.size(0);
  const int64_t num_queries = c.size(0);
  const int64_t num_sectors = static_cast<int64_t>(grid.n_azimuth) * grid.n_polar;
  sphere::check_float_rows(rays, "rays", num_queries, num_sectors);
  sphere::check_float_rows(migration, "migration", num_queries, num_points);
  const at::Tensor ray = rays.contiguous();
  const at::Tensor mig = migration.contiguous();
  at::Tensor masks = at::empty({num_queries, num_points}, p.options().dtype(at::kBool));
  const float scale_minus_one = static_cast<float>(migration_scale - 1.0);
  const float* pp = p.data_ptr<float>();
  const float* cp = c.data_ptr<float>();
  const float* rayp = ray.data_ptr<float>();
  const float* migp = mig.data_ptr<float>();
  bool* out = masks.data_ptr<bool>();
  at::parallel_for(0, num_queries, query_grain(num_points), [&](int64_t begin, int64_t end) {
    for (int64_t q = begin; q < end; ++q) {
      const float* ray_row = rayp + q * num_sectors;
      for (int64_t s = 0; s < num_points; ++s) {
        float r;
        int k;
        sphere::sphere_coord(pp + 3 * s, cp + 3 * q, grid, &r, &k);
        const int64_t i = q * num_points + s;
        out[i] = sphere::inside(ray_row[k], r, migp[i], scale_minus_one);
      }
    }
  });
  return masks;
}

}  // namespace

TORCH_LIBRARY_IMPL(sphmask, CPU, m) {
  m.impl("sphere_coords", &sphere_coords_cpu);
  m.impl("rays_from_masks", &rays_from_masks_cpu);
  m.impl("assemble_masks", &assemble_masks_cpu);
}

}  // namespace sphmask
