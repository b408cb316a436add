// Exact farthest point sampling on the CPU with a bucketed KD-tree (QuickFPS-style).
//
// A scene's candidates are split into a balanced KD-tree whose leaves ("buckets") hold a few dozen
// points in contiguous structure-of-arrays storage. Every node caches its bounding box and the best
// candidate below it (largest running minimum distance, ties to the lower index). After a pick p,
// a subtree is visited only if the lower bound of its box distance to p is below its cached maximum:
// otherwise no running minimum inside it can decrease (fps.h explains why that bound is exact in
// float32), so its cache stays valid. The root's cache is then the next pick. Far from p the whole
// tree is skipped near the root, so each pick costs roughly the points around it instead of N.
//
// The result does not depend on the tree's shape: the caches hold exact maxima under a total order,
// so the picks equal those of the brute-force loop for any split. Scenes run in parallel; each scene
// is sequential, so results never depend on the number of threads.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <limits>
#include <vector>

#include "fps/fps.h"

namespace sphmask {
namespace fps {
namespace {

// Bucket capacity: small enough that an update touches few far points, large enough that the
// per-node bookkeeping stays cheap next to the distance loop (measured on indoor scenes).
constexpr int64_t kLeafSize = 32;
// Below this many points a subtree is built by one thread: a parallel region costs more.
constexpr int64_t kParallelBuildSize = 1 << 15;

struct Point {
  float p[3];
  int32_t idx;  // index within the scene
};

class BucketTree {
 public:
  // `points` are the scene's candidates (any order); consumed.
  explicit BucketTree(std::vector<Point>& points) {
    const int64_t n = static_cast<int64_t>(points.size());
    depth_ = 0;
    while ((n >> depth_) > kLeafSize) ++depth_;
    const int64_t num_nodes = (int64_t{2} << depth_) - 1;
    lo_.resize(3 * num_nodes);
    hi_.resize(3 * num_nodes);
    best_d_.assign(num_nodes, std::numeric_limits<float>::infinity());
    best_i_.resize(num_nodes);
    leaf_begin_.resize((int64_t{1} << depth_) + 1);
    leaf_begin_.back() = n;

    build(points, 0, 0, n, 0);

    x_.resize(n);
    y_.resize(n);
    z_.resize(n);
    idx_.resize(n);
    d_.assign(n, std::numeric_limits<float>::infinity());
    for (int64_t i = 0; i < n; ++i) {
      x_[i] = points[i].p[0];
      y_[i] = points[i].p[1];
      z_[i] = points[i].p[2];
      idx_[i] = points[i].idx;
    }
  }

  // Lowers every running minimum to include the distance to (px, py, pz).
  void add_pick(float px, float py, float pz) {
    if (box_sq_dist(px, py, pz, &lo_[0], &hi_[0]) < best_d_[0]) update(0, 0, px, py, pz);
  }

  // Scene index of the candidate with the largest running minimum (lowest index on ties).
  int32_t best() const { return best_i_[0]; }

 private:
  void build(std::vector<Point>& pts, int64_t node, int64_t begin, int64_t end, int level) {
    float* lo = &lo_[3 * node];
    float* hi = &hi_[3 * node];
    for (int a = 0; a < 3; ++a) {
      lo[a] = std::numeric_limits<float>::infinity();
      hi[a] = -std::numeric_limits<float>::infinity();
    }
    for (int64_t i = begin; i < end; ++i) {
      for (int a = 0; a < 3; ++a) {
        lo[a] = std::min(lo[a], pts[i].p[a]);
        hi[a] = std::max(hi[a], pts[i].p[a]);
      }
    }
    if (level == depth_) {
      // Index order inside a bucket makes its first maximum the lowest-index one.
      std::sort(pts.begin() + begin, pts.begin() + end,
                [](const Point& a, const Point& b) { return a.idx < b.idx; });
      leaf_begin_[node - ((int64_t{1} << depth_) - 1)] = begin;
      best_i_[node] = pts[begin].idx;  // buckets are never empty: depth keeps them >= kLeafSize/2
      return;
    }
    int axis = 0;
    for (int a = 1; a < 3; ++a) {
      if (hi[a] - lo[a] > hi[axis] - lo[axis]) axis = a;
    }
    const int64_t mid = begin + (end - begin) / 2;
    std::nth_element(pts.begin() + begin, pts.begin() + mid, pts.begin() + end,
                     [axis](const Point& a, const Point& b) { return a.p[axis] < b.p[axis]; });
    const int64_t left = 2 * node + 1, right = 2 * node + 2;
    // The two halves are disjoint ranges and subtrees, so building them in parallel writes the
    // same tree whatever the thread count (inside the per-scene parallel_for this runs inline).
    const int64_t grain = end - begin >= kParallelBuildSize ? 1 : 2;
    at::parallel_for(0, 2, grain, [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c) {
        if (c == 0) build(pts, left, begin, mid, level + 1);
        else build(pts, right, mid, end, level + 1);
      }
    });
    best_i_[node] = std::min(best_i_[left], best_i_[right]);
  }

  void update(int64_t node, int level, float px, float py, float pz) {
    if (level == depth_) {
      update_leaf(node, px, py, pz);
      return;
    }
    const int64_t left = 2 * node + 1, right = 2 * node + 2;
    if (box_sq_dist(px, py, pz, &lo_[3 * left], &hi_[3 * left]) < best_d_[left]) {
      update(left, level + 1, px, py, pz);
    }
    if (box_sq_dist(px, py, pz, &lo_[3 * right], &hi_[3 * right]) < best_d_[right]) {
      update(right, level + 1, px, py, pz);
    }
    const bool take_right = better(best_d_[right], best_i_[right], best_d_[left], best_i_[left]);
    best_d_[node] = take_right ? best_d_[right] : best_d_[left];
    best_i_[node] = take_right ? best_i_[right] : best_i_[left];
  }

  void update_leaf(int64_t node, float px, float py, float pz) {
    const int64_t leaf = node - ((int64_t{1} << depth_) - 1);
    const int64_t begin = leaf_begin_[leaf], end = leaf_begin_[leaf + 1];
    float* __restrict__ d = d_.data();
    const float* __restrict__ x = x_.data();
    const float* __restrict__ y = y_.data();
    const float* __restrict__ z = z_.data();
    float m = -std::numeric_limits<float>::infinity();
    for (int64_t i = begin; i < end; ++i) {
      const float v = min_dist(d[i], sq_dist(x[i], y[i], z[i], px, py, pz));
      d[i] = v;
      m = v > m ? v : m;
    }
    int64_t arg = begin;
    while (d[arg] != m) ++arg;
    best_d_[node] = m;
    best_i_[node] = idx_[arg];
  }

  int depth_;
  std::vector<float> lo_, hi_;        // node boxes, 3 floats per node
  std::vector<float> best_d_;         // node: largest running minimum below it
  std::vector<int32_t> best_i_;       // node: its scene index (lowest on ties)
  std::vector<int64_t> leaf_begin_;   // bucket b holds positions [leaf_begin_[b], leaf_begin_[b+1])
  std::vector<float> x_, y_, z_, d_;  // candidates in bucket order; d_ = running minimum
  std::vector<int32_t> idx_;          // scene index of each position
};

// Samples `m` points of the scene xyz[start, start + n) into out[0, m) as global indices.
void sample_scene(const float* xyz, int64_t start, int64_t n, int64_t m, bool skip_near_origin,
                  int64_t* out) {
  if (m == 0) return;
  out[0] = start;
  if (m == 1) return;
  const float* s = xyz + 3 * start;
  std::vector<Point> points;
  points.reserve(n);
  for (int64_t i = 0; i < n; ++i) {
    if (skip_near_origin && near_origin(s[3 * i], s[3 * i + 1], s[3 * i + 2])) continue;
    points.push_back({{s[3 * i], s[3 * i + 1], s[3 * i + 2]}, static_cast<int32_t>(i)});
  }
  if (points.empty()) {
    // Every candidate is skipped: the PointNet++ kernel's argmax keeps its initial index 0.
    std::fill(out + 1, out + m, start);
    return;
  }
  BucketTree tree(points);
  int64_t last = 0;
  for (int64_t j = 1; j < m; ++j) {
    tree.add_pick(s[3 * last], s[3 * last + 1], s[3 * last + 2]);
    last = tree.best();
    out[j] = start + last;
  }
}

at::Tensor furthest_point_sample_cpu(const at::Tensor& xyz, const at::Tensor& offsets,
                                     const at::Tensor& num_samples, bool skip_near_origin) {
  TORCH_CHECK(xyz.scalar_type() == at::kFloat && xyz.dim() == 2 && xyz.size(1) == 3,
              "furthest_point_sample: xyz must be float32 [N, 3], got ", xyz.scalar_type(), " ",
              xyz.sizes());
  TORCH_CHECK(offsets.scalar_type() == at::kLong && offsets.dim() == 1 && offsets.numel() >= 1,
              "furthest_point_sample: offsets must be int64 [B+1], got ", offsets.scalar_type(), " ",
              offsets.sizes());
  const int64_t num_scenes = offsets.numel() - 1;
  TORCH_CHECK(num_samples.scalar_type() == at::kLong && num_samples.dim() == 1 &&
                  num_samples.numel() == num_scenes,
              "furthest_point_sample: num_samples must be int64 [B] with B = ", num_scenes,
              ", got ", num_samples.scalar_type(), " ", num_samples.sizes());
  const at::Tensor pts = xyz.contiguous();
  const at::Tensor off = offsets.contiguous();
  const at::Tensor cnt = num_samples.contiguous();
  const int64_t* o = off.data_ptr<int64_t>();
  const int64_t* c = cnt.data_ptr<int64_t>();
  TORCH_CHECK(o[0] == 0 && o[num_scenes] == pts.size(0),
              "furthest_point_sample: offsets must run from 0 to N = ", pts.size(0));
  std::vector<int64_t> out_begin(num_scenes + 1, 0);
  for (int64_t b = 0; b < num_scenes; ++b) {
    const int64_t n = o[b + 1] - o[b];
    TORCH_CHECK(n >= 0, "furthest_point_sample: offsets must be non-decreasing");
    TORCH_CHECK(n <= std::numeric_limits<int32_t>::max(),
                "furthest_point_sample: scene ", b, " has ", n, " points, more than 2^31 - 1");
    TORCH_CHECK(c[b] >= 0 && c[b] <= n, "furthest_point_sample: scene ", b, " has ", n,
                " points but ", c[b], " samples were requested");
    out_begin[b + 1] = out_begin[b] + c[b];
  }
  at::Tensor out = at::empty({out_begin[num_scenes]}, pts.options().dtype(at::kLong));
  const float* p = pts.data_ptr<float>();
  int64_t* r = out.data_ptr<int64_t>();
  at::parallel_for(0, num_scenes, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      sample_scene(p, o[b], o[b + 1] - o[b], c[b], skip_near_origin, r + out_begin[b]);
    }
  });
  return out;
}

}  // namespace
}  // namespace fps
}  // namespace sphmask

TORCH_LIBRARY_IMPL(sphmask, CPU, m) {
  m.impl("furthest_point_sample", &sphmask::fps::furthest_point_sample_cpu);
}
