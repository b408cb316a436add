// Exact farthest point sampling on the CPU with a bucketed spatial tree (QuickFPS-style).
//
// A scene's candidates are sorted along a Morton curve and split into an octree-like binary tree
// whose leaves ("buckets") hold up to 64 points, stored four to a group for vectorised updates.
// Every node caches its bounding box and the best candidate below it (largest running minimum
// distance, ties to the lower index). After a pick p, a subtree is visited only if the lower bound
// of its box distance to p is below its cached maximum: otherwise no running minimum inside it can
// decrease (fps.h explains why that bound is exact in float32), so its cache stays valid. The
// root's cache is then the next pick. Far from p the walk stops near the root, so each pick costs
// roughly the points around it instead of N.
//
// The result does not depend on the tree's shape: the caches hold exact maxima under a total order,
// so the picks equal those of the brute-force loop for any split. Scenes run in parallel; each scene
// is sequential, so results never depend on the number of threads.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <vector>

#include "fps/fps.h"

namespace sphmask {
namespace fps {
namespace {

// Bucket capacity. With vectorised buckets, visiting a node costs about as much as updating a few
// dozen candidates, so fairly large buckets are fastest (measured on indoor scenes).
constexpr int32_t kLeafSize = 64;

// Buckets are updated kLanes candidates at a time with GCC/Clang vector extensions (SSE on x86-64,
// NEON on ARM); each lane performs exactly the scalar float32 operations of fps.h.
constexpr int kLanes = 4;
typedef float FloatV __attribute__((vector_size(4 * kLanes)));
typedef int32_t IntV __attribute__((vector_size(4 * kLanes)));

// kLanes bucket slots, stored together so that an update streams through one array.
struct Lanes {
  FloatV x, y, z;
  FloatV d;    // running minimum; -inf in padding slots, which no update raises or argmax picks
  IntV idx;    // scene index; INT32_MAX in padding slots
};

// Spreads the low 10 bits of v to every third bit (bit k goes to bit 3k).
inline uint32_t spread_bits(uint32_t v) {
  v &= 0x3ffu;
  v = (v | (v << 16)) & 0x030000ffu;
  v = (v | (v << 8)) & 0x0300f00fu;
  v = (v | (v << 4)) & 0x030c30c3u;
  v = (v | (v << 2)) & 0x09249249u;
  return v;
}

// Morton (Z-order) codes on a grid of 1024 cells per axis over a bounding box.
class MortonGrid {
 public:
  // The box of the points xyz[index(k)] for k in [0, n).
  template <class Index>
  MortonGrid(const float* xyz, size_t n, Index index) {
    float hi[3];
    for (int a = 0; a < 3; ++a) {
      lo_[a] = std::numeric_limits<float>::infinity();
      hi[a] = -std::numeric_limits<float>::infinity();
    }
    for (size_t k = 0; k < n; ++k) {
      const float* p = xyz + 3 * static_cast<int64_t>(index(k));
      for (int a = 0; a < 3; ++a) {
        lo_[a] = std::min(lo_[a], p[a]);
        hi[a] = std::max(hi[a], p[a]);
      }
    }
    // Cubic cells: with one scale per axis, a thin extent (a far point above a room) would give
    // slabs that span the whole room. The extent is taken in double because it can overflow
    // float32 for finite coordinates; (p - lo) * scale may then be inf but never NaN, and is
    // clamped in code().
    double extent = 0;
    for (int a = 0; a < 3; ++a) extent = std::max(extent, static_cast<double>(hi[a]) - lo_[a]);
    scale_ = extent > 0 ? static_cast<float>(1023.0 / extent) : 0.f;
  }

  // True if the box has no extent: every point is the same.
  bool is_single_point() const { return scale_ == 0.f; }

  uint32_t code(const float* p) const {
    uint32_t c = 0;
    for (int a = 0; a < 3; ++a) {
      const float q = std::min(1023.f, (p[a] - lo_[a]) * scale_);
      c |= spread_bits(static_cast<uint32_t>(q)) << a;
    }
    return c;
  }

 private:
  float lo_[3], scale_;
};

class BucketTree {
 public:
  // Candidates are the scene points xyz[cand[j]] (cand ascending). They are sorted along a Morton
  // (Z-order) curve on a 1024^3 grid over their bounding box with one radix sort; every node then
  // covers a run of that order, split where the run crosses an octree cell boundary, so node boxes
  // are compact without a median search per level. A run that fills a single cell is re-sorted on
  // a grid over its own box, so the tree adapts to any spread of the points.
  BucketTree(const float* xyz, const std::vector<int32_t>& cand) {
    const int32_t n = static_cast<int32_t>(cand.size());
    const std::unique_ptr<uint64_t[]> keys = morton_sort(xyz, cand);
    nodes_.emplace_back();
    int32_t groups = 0;
    split(xyz, keys.get(), 0, 0, n, groups);
    lanes_.reset(new Lanes[groups]);
    // Nodes are numbered parents first, so a reverse sweep sees children before their parent.
    for (int32_t id = static_cast<int32_t>(nodes_.size()) - 1; id >= 0; --id) {
      Node& node = nodes_[id];
      node.best_d = std::numeric_limits<float>::infinity();
      if (node.child < 0) {
        fill_bucket(node, xyz, keys.get());
        continue;
      }
      const Node& l = nodes_[node.child];
      const Node& r = nodes_[node.child + 1];
      for (int a = 0; a < 3; ++a) {
        node.lo[a] = std::min(l.lo[a], r.lo[a]);
        node.hi[a] = std::max(l.hi[a], r.hi[a]);
      }
      node.best_i = std::min(l.best_i, r.best_i);
    }
  }

  // Lowers every running minimum to include the distance to (px, py, pz).
  void add_pick(float px, float py, float pz) {
    if (box_sq_dist(px, py, pz, nodes_[0].lo, nodes_[0].hi) < nodes_[0].best_d) {
      update(0, px, py, pz);
    }
  }

  // Scene index of the candidate with the largest running minimum (lowest index on ties).
  int32_t best() const { return nodes_[0].best_i; }

 private:
  struct Node {
    float lo[3], hi[3];  // bounding box of the node's candidates
    float best_d;        // largest running minimum below the node
    int32_t best_i;      // its scene index, the lowest on ties
    int32_t child;       // inner node: children child and child + 1; bucket: -1
    int32_t begin, end;  // the node's run of the Morton order
    int32_t group;       // bucket: its first entry of lanes_
  };

  // (Morton code << 32 | scene index) of every candidate, sorted by code; equal codes keep index
  // order because the radix sort is stable.
  static std::unique_ptr<uint64_t[]> morton_sort(const float* xyz, const std::vector<int32_t>& cand) {
    const size_t n = cand.size();
    const MortonGrid grid(xyz, n, [&cand](size_t k) { return cand[k]; });
    // Uninitialised (new T[n], not std::vector): every slot is written before it is read.
    std::unique_ptr<uint64_t[]> keys(new uint64_t[n]);
    for (size_t j = 0; j < n; ++j) {
      const uint32_t code = grid.code(xyz + 3 * static_cast<int64_t>(cand[j]));
      keys[j] = (static_cast<uint64_t>(code) << 32) | static_cast<uint32_t>(cand[j]);
    }
    sort_by_code(keys.get(), n);
    return keys;
  }

  // Stable LSD radix sort of (code << 32 | index) keys on the 30 code bits, 10 per pass.
  static void sort_by_code(uint64_t* keys, size_t n) {
    constexpr int kPasses = 3, kBits = 10, kBuckets = 1 << kBits;
    std::vector<size_t> count(kPasses * kBuckets, 0);
    for (size_t j = 0; j < n; ++j) {
      for (int pass = 0; pass < kPasses; ++pass) {
        ++count[pass * kBuckets + ((keys[j] >> (32 + pass * kBits)) & (kBuckets - 1))];
      }
    }
    std::unique_ptr<uint64_t[]> tmp(new uint64_t[n]);
    uint64_t* src = keys;
    uint64_t* dst = tmp.get();
    for (int pass = 0; pass < kPasses; ++pass) {
      size_t* c = &count[pass * kBuckets];
      size_t sum = 0;
      for (int b = 0; b < kBuckets; ++b) {
        const size_t here = c[b];
        c[b] = sum;
        sum += here;
      }
      const int shift = 32 + pass * kBits;
      for (size_t j = 0; j < n; ++j) dst[c[(src[j] >> shift) & (kBuckets - 1)]++] = src[j];
      std::swap(src, dst);
    }
    if (src != keys) std::copy(src, src + n, keys);
  }

  // Makes node `id` cover keys[begin, end): a bucket if small, else split in two. Buckets take
  // consecutive groups of lanes_, counted in `groups`.
  void split(const float* xyz, uint64_t* keys, int32_t id, int32_t begin, int32_t end,
             int32_t& groups) {
    nodes_[id].begin = begin;
    nodes_[id].end = end;
    if (end - begin <= kLeafSize) {
      nodes_[id].child = -1;
      nodes_[id].group = groups;
      groups += (end - begin + kLanes - 1) / kLanes;
      return;
    }
    uint32_t diff = static_cast<uint32_t>((keys[begin] ^ keys[end - 1]) >> 32);
    if (diff == 0) {
      // The whole run lies in one grid cell, e.g. a dense room next to a far outlier: sort it
      // again on a grid over its own box, unless all its points are the same.
      const MortonGrid grid(xyz, end - begin,
                            [keys, begin](size_t k) { return static_cast<uint32_t>(keys[begin + k]); });
      if (!grid.is_single_point()) {
        for (int32_t i = begin; i < end; ++i) {
          const uint32_t idx = static_cast<uint32_t>(keys[i]);
          keys[i] = (static_cast<uint64_t>(grid.code(xyz + 3 * static_cast<int64_t>(idx))) << 32) | idx;
        }
        sort_by_code(keys + begin, end - begin);
        diff = static_cast<uint32_t>((keys[begin] ^ keys[end - 1]) >> 32);
      }
    }
    // Split at the highest bit in which the run's codes differ (an octree cell boundary); a run of
    // identical points is halved.
    int32_t mid = begin + (end - begin) / 2;
    if (diff != 0) {
      int bit = 31;
      while (!((diff >> bit) & 1u)) --bit;
      const uint64_t mask = uint64_t{1} << (32 + bit);
      mid = static_cast<int32_t>(std::partition_point(keys + begin, keys + end,
                                                      [mask](uint64_t k) { return !(k & mask); }) -
                                 keys);
    }
    const int32_t child = static_cast<int32_t>(nodes_.size());
    nodes_[id].child = child;
    nodes_.emplace_back();
    nodes_.emplace_back();
    split(xyz, keys, child, begin, mid, groups);
    split(xyz, keys, child + 1, mid, end, groups);
  }

  // Copies a bucket's candidates into its lanes and sets its box and initial argmax.
  void fill_bucket(Node& node, const float* xyz, const uint64_t* keys) {
    for (int a = 0; a < 3; ++a) {
      node.lo[a] = std::numeric_limits<float>::infinity();
      node.hi[a] = -std::numeric_limits<float>::infinity();
    }
    node.best_i = std::numeric_limits<int32_t>::max();
    const int32_t count = node.end - node.begin;
    const int32_t num_groups = (count + kLanes - 1) / kLanes;
    for (int32_t k = 0; k < num_groups * kLanes; ++k) {
      Lanes& g = lanes_[node.group + k / kLanes];
      const int l = k % kLanes;
      // Padding slots repeat the bucket's last point, keeping the arithmetic finite.
      const int32_t id = static_cast<int32_t>(keys[node.begin + std::min(k, count - 1)]);
      const float* p = xyz + 3 * id;
      g.x[l] = p[0];
      g.y[l] = p[1];
      g.z[l] = p[2];
      g.d[l] = k < count ? std::numeric_limits<float>::infinity()
                         : -std::numeric_limits<float>::infinity();
      g.idx[l] = k < count ? id : std::numeric_limits<int32_t>::max();
      for (int a = 0; a < 3; ++a) {
        node.lo[a] = std::min(node.lo[a], p[a]);
        node.hi[a] = std::max(node.hi[a], p[a]);
      }
      node.best_i = std::min(node.best_i, id);
    }
  }

  void update(int32_t id, float px, float py, float pz) {
    Node& node = nodes_[id];
    if (node.child < 0) {
      update_bucket(node, px, py, pz);
      return;
    }
    const int32_t c = node.child;
    for (int32_t k = c; k < c + 2; ++k) {
      if (box_sq_dist(px, py, pz, nodes_[k].lo, nodes_[k].hi) < nodes_[k].best_d) {
        update(k, px, py, pz);
      }
    }
    const Node& l = nodes_[c];
    const Node& r = nodes_[c + 1];
    const bool take_right = better(r.best_d, r.best_i, l.best_d, l.best_i);
    node.best_d = take_right ? r.best_d : l.best_d;
    node.best_i = take_right ? r.best_i : l.best_i;
  }

  // min_dist(d, sq_dist(candidate, p)) and the bucket's argmax, kLanes candidates at a time.
  void update_bucket(Node& node, float px, float py, float pz) {
    Lanes* begin = &lanes_[node.group];
    Lanes* end = begin + (node.end - node.begin + kLanes - 1) / kLanes;
    FloatV vmax = FloatV{} - std::numeric_limits<float>::infinity();
    for (Lanes* g = begin; g != end; ++g) {
      const FloatV dx = g->x - px, dy = g->y - py, dz = g->z - pz;
      const FloatV dist = dx * dx + dy * dy + dz * dz;
      g->d = dist < g->d ? dist : g->d;
      vmax = g->d > vmax ? g->d : vmax;
    }
    float m = vmax[0];
    for (int l = 1; l < kLanes; ++l) m = vmax[l] > m ? vmax[l] : m;
    IntV varg = IntV{} + std::numeric_limits<int32_t>::max();
    for (Lanes* g = begin; g != end; ++g) {
      const IntV tied = g->d == m ? g->idx : IntV{} + std::numeric_limits<int32_t>::max();
      varg = tied < varg ? tied : varg;
    }
    int32_t arg = varg[0];
    for (int l = 1; l < kLanes; ++l) arg = std::min(arg, static_cast<int32_t>(varg[l]));
    node.best_d = m;
    node.best_i = arg;
  }

  std::vector<Node> nodes_;         // nodes_[0] is the root
  std::unique_ptr<Lanes[]> lanes_;  // bucket slots, each bucket's consecutive
};

// Samples `m` points of the scene xyz[start, start + n) into out[0, m) as global indices.
void sample_scene(const float* xyz, int64_t start, int64_t n, int64_t m, bool skip_near_origin,
                  int64_t* out) {
  const float* s = xyz + 3 * start;
  // One pass checks every coordinate and lists the candidates. The finiteness check lives here
  // rather than in the Python wrapper because a torch reduction there wakes the thread pool, which
  // costs more than this whole op when the machine is busy.
  std::vector<int32_t> cand;
  if (m >= 2) cand.reserve(n);
  bool finite = true;
  for (int64_t i = 0; i < n; ++i) {
    const float x = s[3 * i], y = s[3 * i + 1], z = s[3 * i + 2];
    finite &= std::isfinite(x) & std::isfinite(y) & std::isfinite(z);
    if (m >= 2 && (!skip_near_origin || !near_origin(x, y, z))) {
      cand.push_back(static_cast<int32_t>(i));
    }
  }
  TORCH_CHECK_VALUE(finite, "xyz contains NaN or inf values; expected finite numbers");
  if (m == 0) return;
  out[0] = start;
  if (m == 1) return;
  if (cand.empty()) {
    // Every candidate is skipped: the PointNet++ kernel's argmax keeps its initial index 0.
    std::fill(out + 1, out + m, start);
    return;
  }
  BucketTree tree(s, cand);
  int64_t last = 0;
  for (int64_t j = 1; j < m; ++j) {
    tree.add_pick(s[3 * last], s[3 * last + 1], s[3 * last + 2]);
    last = tree.best();
    out[j] = start + last;
  }
}

at::Tensor furthest_point_sample_cpu(const at::Tensor& xyz, const at::Tensor& offsets,
                                     const at::Tensor& num_samples, bool skip_near_origin) {
  const int64_t num_scenes = check_args(xyz, offsets, num_samples);
  const at::Tensor pts = xyz.contiguous();
  const at::Tensor off = offsets.contiguous();
  const at::Tensor cnt = num_samples.contiguous();
  const int64_t* o = off.data_ptr<int64_t>();
  const int64_t* c = cnt.data_ptr<int64_t>();
  check_scene_sizes(o, c, num_scenes, pts.size(0));
  std::vector<int64_t> out_begin(num_scenes + 1, 0);
  for (int64_t b = 0; b < num_scenes; ++b) {
    const int64_t n = o[b + 1] - o[b];
    TORCH_CHECK(n <= std::numeric_limits<int32_t>::max(),
                "furthest_point_sample: scene ", b, " has ", n, " points, more than 2^31 - 1");
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
