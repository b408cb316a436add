// The one place where sphmask's operator schemas are declared. Each op's kernels register
// themselves per device with TORCH_LIBRARY_IMPL(sphmask, CPU|CUDA, m) in csrc/<op>/; the fake
// (meta) kernels, autograd and autocast rules are registered in Python, in the module named by
// set_python_module below (torch checks that registrations come from there).
// Keep one block per op, separated by a blank line, so changes to different ops never touch.
#include <pybind11/pybind11.h>
#include <torch/library.h>

#ifdef WITH_CUDA
#include <cuda_runtime_api.h>
#endif

TORCH_LIBRARY(sphmask, m) {
  m.set_python_module("sphmask.ops._registrations");

  // voxelize
  m.def("voxelize(Tensor coords) -> (Tensor, Tensor)");

  // voxel_mean (num_voxels is a SymInt: under torch.compile it is voxelize's data-dependent size;
  // the int64_t kernels receive it as a plain integer)
  m.def("voxel_mean(Tensor values, Tensor point2voxel, SymInt num_voxels) -> Tensor");
  m.def("voxel_mean_backward(Tensor grad, Tensor point2voxel, SymInt num_voxels) -> Tensor");

  // furthest_point_sample
  m.def(
      "furthest_point_sample(Tensor xyz, Tensor offsets, Tensor num_samples, "
      "bool skip_near_origin) -> Tensor");

  // ball_query
  m.def(
      "ball_query(Tensor xyz, Tensor offsets, Tensor centers, Tensor center_offsets, "
      "float radius, int k) -> (Tensor, Tensor)");

  // sphere_coords
  m.def("sphere_coords(Tensor points, Tensor centers, int n_azimuth, int n_polar) -> (Tensor, Tensor)");

  // rays_from_masks
  m.def(
      "rays_from_masks(Tensor points, Tensor centers, Tensor masks, int n_azimuth, int n_polar, "
      "float empty_value) -> Tensor");

  // assemble_masks
  m.def(
      "assemble_masks(Tensor points, Tensor centers, Tensor rays, Tensor migration, "
      "float migration_scale, int n_azimuth, int n_polar) -> Tensor");

  // segment_graph
  m.def(
      "segment_graph(Tensor edges, Tensor weights, SymInt num_vertices, float k_thresh, "
      "int min_size) -> Tensor");
  m.def("segment_vertex_normals(Tensor vertices, Tensor faces) -> Tensor");
  m.def("segment_edge_weights(Tensor points, Tensor normals, Tensor edges, bool oriented) -> Tensor");
}

namespace {

bool has_cuda() {
#ifdef WITH_CUDA
  return true;
#else
  return false;
#endif
}

int cuda_version() {
#ifdef WITH_CUDA
  return CUDART_VERSION;
#else
  return -1;
#endif
}

std::string compiler_version() {
#if defined(__clang__)
  return std::string("clang ") + __clang_version__;
#elif defined(__GNUC__)
  return "gcc " + std::to_string(__GNUC__) + "." + std::to_string(__GNUC_MINOR__) + "." +
      std::to_string(__GNUC_PATCHLEVEL__);
#else
  return "unknown";
#endif
}

}  // namespace

PYBIND11_MODULE(_C, m) {
  m.doc() = "sphmask compiled operators; the ops themselves are reached through torch.ops.sphmask";
  m.def("has_cuda", &has_cuda, "True if the extension was built with CUDA kernels");
  m.def("cuda_version", &cuda_version, "CUDART_VERSION the extension was built with, or -1");
  m.def("compiler_version", &compiler_version, "C++ compiler that built the extension");
}
