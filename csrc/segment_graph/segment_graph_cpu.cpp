// CPU kernels of the superpoint segmentation (ScanNet Segmentator semantics, see segment_graph.h).
//
// segment_graph is inherently sequential (each merge changes the thresholds the next edge is
// tested against), so it has a CPU kernel only; the Python wrappers run it on CPU for tensors on
// other devices. The vertex-normal blend is sequential over faces for the same reason: its float
// rounding depends on the order in which faces reach a vertex.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <vector>

#include "segment_graph/segment_graph.h"

namespace sphmask {
namespace segment {
namespace {

// Disjoint-set forest with union by rank. join(x, y) of two roots hangs y under x only when x has
// the strictly higher rank, otherwise x under y: this asymmetry decides which vertex id names a
// segment, and it is the rule of ScanNet's `universe`, whose ids end up in the .segs.json files.
class Universe {
 public:
  explicit Universe(int64_t n) : parent_(n), rank_(n, 0), size_(n, 1) {
    for (int64_t i = 0; i < n; ++i) {
      parent_[i] = i;
    }
  }

  int64_t find(int64_t x) {
    int64_t root = x;
    while (parent_[root] != root) {
      root = parent_[root];
    }
    while (parent_[x] != root) {  // full path compression; roots are unaffected by it
      const int64_t next = parent_[x];
      parent_[x] = root;
      x = next;
    }
    return root;
  }

  void join(int64_t x, int64_t y) {
    if (rank_[x] > rank_[y]) {
      parent_[y] = x;
      size_[x] += size_[y];
    } else {
      parent_[x] = y;
      size_[y] += size_[x];
      if (rank_[x] == rank_[y]) {
        ++rank_[y];
      }
    }
  }

  int64_t size(int64_t x) const { return size_[x]; }

 private:
  std::vector<int64_t> parent_;
  std::vector<int32_t> rank_;
  std::vector<int64_t> size_;
};

// Unsigned key with the order of the float (for non-NaN values): flip the sign bit of positives,
// all bits of negatives. -0.0 is mapped to +0.0 first so that the two compare equal, as floats do.
inline uint32_t float_order_key(float w) {
  if (w == 0.0f) {
    w = 0.0f;
  }
  uint32_t bits;
  std::memcpy(&bits, &w, sizeof(bits));
  return (bits & 0x80000000u) ? ~bits : (bits | 0x80000000u);
}

// Edge indices ordered by (weight, index): an LSD radix sort of (key << 32 | index) on the key
// bits. Each pass is stable and the indices start in increasing order, so equal weights keep
// their input order. Linear time; the comparison sort it replaces was half of segment_graph.
std::vector<uint64_t> sort_by_weight(const float* w, int64_t n) {
  constexpr int kBits = 11;
  constexpr uint32_t kBuckets = 1u << kBits;
  std::vector<uint64_t> a(n), tmp(n);
  for (int64_t i = 0; i < n; ++i) {
    a[i] = (static_cast<uint64_t>(float_order_key(w[i])) << 32) | static_cast<uint64_t>(i);
  }
  for (int shift = 32; shift < 64; shift += kBits) {
    std::array<int64_t, kBuckets> count{};
    for (int64_t i = 0; i < n; ++i) {
      ++count[(a[i] >> shift) & (kBuckets - 1)];
    }
    if (n == 0 || count[(a[0] >> shift) & (kBuckets - 1)] == n) {
      continue;  // every key has the same digit here
    }
    int64_t start = 0;
    for (auto& c : count) {
      const int64_t next = start + c;
      c = start;
      start = next;
    }
    for (int64_t i = 0; i < n; ++i) {
      tmp[count[(a[i] >> shift) & (kBuckets - 1)]++] = a[i];
    }
    a.swap(tmp);
  }
  return a;
}

void check_index_range(const at::Tensor& idx, int64_t n, const char* what, const char* range_of) {
  if (idx.numel() == 0) {
    return;
  }
  const int64_t lo = idx.min().item<int64_t>();
  const int64_t hi = idx.max().item<int64_t>();
  TORCH_CHECK(lo >= 0 && hi < n, "segment: ", what, " must index ", range_of, " in [0, ", n,
              "), got values in [", lo, ", ", hi, "]");
}

at::Tensor segment_graph_cpu(const at::Tensor& edges_in, const at::Tensor& weights_in,
                             int64_t num_vertices, double k_thresh, int64_t min_size) {
  TORCH_CHECK(edges_in.scalar_type() == at::kLong && edges_in.dim() == 2 && edges_in.size(1) == 2,
              "segment_graph: edges must be int64 [E, 2], got ", edges_in.scalar_type(), " ",
              edges_in.sizes());
  TORCH_CHECK(weights_in.scalar_type() == at::kFloat && weights_in.dim() == 1 &&
                  weights_in.size(0) == edges_in.size(0),
              "segment_graph: weights must be float32 [E] with E = ", edges_in.size(0), ", got ",
              weights_in.scalar_type(), " ", weights_in.sizes());
  TORCH_CHECK(num_vertices >= 0, "segment_graph: num_vertices must be >= 0, got ", num_vertices);
  const at::Tensor edges = edges_in.contiguous();
  const at::Tensor weights = weights_in.contiguous();
  check_index_range(edges, num_vertices, "edges", "vertices");
  TORCH_CHECK(!weights.isnan().any().item<bool>(), "segment_graph: weights contain NaN");

  const int64_t num_edges = edges.size(0);
  const int64_t* e = edges.data_ptr<int64_t>();
  const float* w = weights.data_ptr<float>();

  TORCH_CHECK(num_edges < (int64_t{1} << 32), "segment_graph: at most 2^32 - 1 edges, got ",
              num_edges);
  // Non-decreasing weight, ties in input order. ScanNet uses std::sort, whose order among equal
  // weights is an implementation detail; ours is reproducible on any platform.
  const std::vector<uint64_t> order = sort_by_weight(w, num_edges);
  constexpr uint64_t kIndexMask = 0xffffffffull;

  Universe u(num_vertices);
  // Float like the reference, so `w <= threshold` is decided on the same numbers.
  const float c = static_cast<float>(k_thresh);
  std::vector<float> threshold(num_vertices, c);
  for (const uint64_t entry : order) {
    const int64_t i = static_cast<int64_t>(entry & kIndexMask);
    const float we = w[i];
    int64_t a = u.find(e[2 * i]);
    const int64_t b = u.find(e[2 * i + 1]);
    if (a != b && we <= threshold[a] && we <= threshold[b]) {
      u.join(a, b);
      a = u.find(a);
      threshold[a] = we + c / static_cast<float>(u.size(a));
    }
  }

  // Small segments join a neighbour, visiting edges in the same sorted order.
  for (const uint64_t entry : order) {
    const int64_t i = static_cast<int64_t>(entry & kIndexMask);
    const int64_t a = u.find(e[2 * i]);
    const int64_t b = u.find(e[2 * i + 1]);
    if (a != b && (u.size(a) < min_size || u.size(b) < min_size)) {
      u.join(a, b);
    }
  }

  at::Tensor out = at::empty({num_vertices}, edges.options());
  int64_t* o = out.data_ptr<int64_t>();
  for (int64_t v = 0; v < num_vertices; ++v) {
    o[v] = u.find(v);
  }
  return out;
}

at::Tensor segment_vertex_normals_cpu(const at::Tensor& vertices_in, const at::Tensor& faces_in) {
  TORCH_CHECK(vertices_in.scalar_type() == at::kFloat && vertices_in.dim() == 2 &&
                  vertices_in.size(1) == 3,
              "segment_vertex_normals: vertices must be float32 [V, 3], got ",
              vertices_in.scalar_type(), " ", vertices_in.sizes());
  TORCH_CHECK(faces_in.scalar_type() == at::kLong && faces_in.dim() == 2 && faces_in.size(1) == 3,
              "segment_vertex_normals: faces must be int64 [F, 3], got ", faces_in.scalar_type(),
              " ", faces_in.sizes());
  const at::Tensor vertices = vertices_in.contiguous();
  const at::Tensor faces = faces_in.contiguous();
  const int64_t num_vertices = vertices.size(0);
  check_index_range(faces, num_vertices, "faces", "vertices");

  at::Tensor normals = at::zeros({num_vertices, 3}, vertices.options());
  const float* p = vertices.data_ptr<float>();
  const int64_t* f = faces.data_ptr<int64_t>();
  float* n = normals.data_ptr<float>();
  std::vector<int32_t> count(num_vertices, 0);
  const int64_t num_faces = faces.size(0);
  for (int64_t i = 0; i < num_faces; ++i) {
    const int64_t* tri = f + 3 * i;
    float fn[3];
    if (!face_normal(p + 3 * tri[0], p + 3 * tri[1], p + 3 * tri[2], fn)) {
      continue;
    }
    for (int k = 0; k < 3; ++k) {
      blend_normal(n + 3 * tri[k], fn, count[tri[k]]);
      ++count[tri[k]];
    }
  }
  return normals;
}

at::Tensor segment_edge_weights_cpu(const at::Tensor& points_in, const at::Tensor& normals_in,
                                    const at::Tensor& edges_in, bool oriented) {
  TORCH_CHECK(points_in.scalar_type() == at::kFloat && points_in.dim() == 2 &&
                  points_in.size(1) == 3,
              "segment_edge_weights: points must be float32 [V, 3], got ", points_in.scalar_type(),
              " ", points_in.sizes());
  TORCH_CHECK(normals_in.scalar_type() == at::kFloat && normals_in.sizes() == points_in.sizes(),
              "segment_edge_weights: normals must be float32 ", points_in.sizes(), ", got ",
              normals_in.scalar_type(), " ", normals_in.sizes());
  TORCH_CHECK(edges_in.scalar_type() == at::kLong && edges_in.dim() == 2 && edges_in.size(1) == 2,
              "segment_edge_weights: edges must be int64 [E, 2], got ", edges_in.scalar_type(), " ",
              edges_in.sizes());
  const at::Tensor points = points_in.contiguous();
  const at::Tensor normals = normals_in.contiguous();
  const at::Tensor edges = edges_in.contiguous();
  check_index_range(edges, points.size(0), "edges", "points");

  const int64_t num_edges = edges.size(0);
  at::Tensor weights = at::empty({num_edges}, points.options());
  const float* p = points.data_ptr<float>();
  const float* n = normals.data_ptr<float>();
  const int64_t* e = edges.data_ptr<int64_t>();
  float* w = weights.data_ptr<float>();
  at::parallel_for(0, num_edges, 4096, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const int64_t a = e[2 * i], b = e[2 * i + 1];
      w[i] = edge_weight(p + 3 * a, p + 3 * b, n + 3 * a, n + 3 * b, oriented);
    }
  });
  return weights;
}

}  // namespace

TORCH_LIBRARY_IMPL(sphmask, CPU, m) {
  m.impl("segment_graph", &segment_graph_cpu);
  m.impl("segment_vertex_normals", &segment_vertex_normals_cpu);
  m.impl("segment_edge_weights", &segment_edge_weights_cpu);
}

}  // namespace segment
}  // namespace sphmask
