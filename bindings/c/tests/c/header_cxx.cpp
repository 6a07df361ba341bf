// The header from C++: declarations get C linkage (extern "C"), the types and
// constants are usable as they are, and a call links against the library.
#include <cstdio>
#include <cstring>

#include "sagevec.h"

static_assert(sizeof(sagevec_status) == 4, "sagevec_status is int32_t");
static_assert(SAGEVEC_METRIC_COSINE == 2, "metric codes");

int main() {
  const char *v = sagevec_version();
  if (v == nullptr || std::strlen(v) == 0) return 1;
  sagevec_metric m = 0;
  if (sagevec_metric_parse("cosine", &m) != SAGEVEC_OK || m != SAGEVEC_METRIC_COSINE) return 1;
  const sagevec_kernels *k = nullptr;
  if (sagevec_kernels_active(&k) != SAGEVEC_OK) return 1;
  sagevec_distance_fn f = nullptr;
  if (sagevec_distance_fn_resolve(k, SAGEVEC_METRIC_L2, SAGEVEC_ELEM_F32, &f) != SAGEVEC_OK) return 1;
  const float a[3] = {1, 2, 3}, b[3] = {1, 0, 3};
  if (f(a, b, 3) != 4.0f) return 1;
  std::printf("header_cxx: sagevec %s from C++, l2 = %g\n", v, double(f(a, b, 3)));
  return 0;
}
