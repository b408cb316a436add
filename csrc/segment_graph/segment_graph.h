// Folder segment_graph holds segment_graph, segment_vertex_normals and segment_edge_weights: the
// graph segmentation and the two steps that build its weighted graph from a mesh or point cloud.
// Felzenszwalb-Huttenlocher graph segmentation as ScanNet's Segmentator runs it on meshes.
//
// The float arithmetic below follows ScanNet's order of operations on purpose: the edge weights
// decide the sort order and the threshold comparisons, so computing them the same way keeps the
// superpoints identical to the reference tool instead of merely similar.
#pragma once

#include <cfloat>
#include <cmath>

#include "common/macros.h"

namespace sphmask {
namespace segment {

// Unit normal of triangle (p1, p2, p3) as cross(p2 - p1, p3 - p1) / |.|. Returns false (and leaves
// n untouched) for a zero-area triangle, whose normal is undefined; ScanNet divides by zero there
// and spreads NaN into the vertex normals, we leave such faces out of the vertex average instead.
SPHMASK_HD bool face_normal(const float* p1, const float* p2, const float* p3, float* n) {
  const float ux = p2[0] - p1[0], uy = p2[1] - p1[1], uz = p2[2] - p1[2];
  const float vx = p3[0] - p1[0], vy = p3[1] - p1[1], vz = p3[2] - p1[2];
  const float cx = uy * vz - uz * vy;
  const float cy = uz * vx - ux * vz;
  const float cz = ux * vy - uy * vx;
  const float len = sqrtf(cx * cx + cy * cy + cz * cz);
  if (!(len > 0.0f && len <= FLT_MAX)) {
    return false;
  }
  n[0] = cx / len;
  n[1] = cy / len;
  n[2] = cz / len;
  return true;
}

// Running mean of the face normals seen so far at a vertex, updated as ScanNet does it:
// acc <- w * face + (1 - w) * acc with w = 1 / (count + 1). The result is NOT renormalised (its
// length shrinks at creases), and ScanNet's weights use it as it is.
SPHMASK_HD void blend_normal(float* acc, const float* face, int count) {
  const float w = 1.0f / (static_cast<float>(count) + 1.0f);
  const float u = 1.0f - w;
  acc[0] = w * face[0] + u * acc[0];
  acc[1] = w * face[1] + u * acc[1];
  acc[2] = w * face[2] + u * acc[2];
}

// Weight of the directed edge a -> b: 1 - <n_a, n_b>, squared when the edge is convex, i.e. when
// b's normal points along the edge direction (a convex fold should split less readily than a
// concave one of the same angle). With unoriented normals (sign arbitrary, e.g. PCA estimates)
// convexity is undefined, so the weight is 1 - |<n_a, n_b>| and never squared.
SPHMASK_HD float edge_weight(const float* pa, const float* pb, const float* na, const float* nb,
                             bool oriented) {
  const float dot = na[0] * nb[0] + na[1] * nb[1] + na[2] * nb[2];
  if (!oriented) {
    return 1.0f - fabsf(dot);
  }
  float dx = pb[0] - pa[0];
  float dy = pb[1] - pa[1];
  float dz = pb[2] - pa[2];
  const float dd = sqrtf(dx * dx + dy * dy + dz * dz);
  float ww = 1.0f - dot;
  // A zero-length edge has no direction: ScanNet's 0/0 makes the convexity test false, so the
  // weight stays unsquared; we take that branch explicitly.
  if (dd > 0.0f) {
    dx /= dd;
    dy /= dd;
    dz /= dd;
    const float dot2 = nb[0] * dx + nb[1] * dy + nb[2] * dz;
    if (dot2 > 0.0f) {
      ww = ww * ww;
    }
  }
  return ww;
}

}  // namespace segment
}  // namespace sphmask
