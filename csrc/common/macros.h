// Shared by every op: lets one inline function serve both the CPU loop and a CUDA thread.
#pragma once

#if defined(__CUDACC__) || defined(__HIPCC__)
#define SPHMASK_HD __host__ __device__ __forceinline__
#else
#define SPHMASK_HD inline
#endif
