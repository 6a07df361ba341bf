// hnswlib's SpaceInterface on sagevec's kernels: the distance hnswlib calls is a
// resolved sagevec kernel pointer (fetched once with sagevec_distance_fn_resolve),
// so every distance is the SIMD loop sagevec picked for this CPU at run time,
// whatever -march hnswlib itself was compiled with.
//
//   #include "hnswlib/hnswlib.h"
//   #include "sagevec_space.h"
//   sagevec_hnswlib::Space space(dim, SAGEVEC_METRIC_L2);   // instead of hnswlib::L2Space
//   hnswlib::HierarchicalNSW<float> index(&space, n, 16, 200);
//
// Distances are sagevec's: squared L2 (as hnswlib's L2Space), and for the inner
// product 1 - a.b (as hnswlib's InnerProductSpace); cosine is 1 - cos.
#ifndef SAGEVEC_HNSWLIB_SPACE_H
#define SAGEVEC_HNSWLIB_SPACE_H

#include <stdexcept>
#include <string>

#include "sagevec.h"

namespace sagevec_hnswlib {

// What hnswlib hands back to the distance function on every call.
struct Param {
  sagevec_distance_fn fn;
  size_t dim;
  float shift;  // 1 for the inner product (hnswlib's 1 - a.b), else 0
};

inline float distance(const void *a, const void *b, const void *param) {
  const Param *p = static_cast<const Param *>(param);
  return p->shift + p->fn(a, b, p->dim);
}

class Space : public hnswlib::SpaceInterface<float> {
 public:
  Space(size_t dim, sagevec_metric metric, const sagevec_kernels *kernels = nullptr) {
    if (kernels == nullptr) check(sagevec_kernels_active(&kernels));
    check(sagevec_distance_fn_resolve(kernels, metric, SAGEVEC_ELEM_F32, &param_.fn));
    param_.dim = dim;
    param_.shift = metric == SAGEVEC_METRIC_IP ? 1.0f : 0.0f;
  }
  size_t get_data_size() override { return param_.dim * sizeof(float); }
  hnswlib::DISTFUNC<float> get_dist_func() override { return distance; }
  void *get_dist_func_param() override { return &param_; }

 private:
  static void check(sagevec_status s) {
    if (s != SAGEVEC_OK) throw std::runtime_error(std::string("sagevec: ") + sagevec_last_error());
  }
  Param param_{};
};

}  // namespace sagevec_hnswlib

#endif
