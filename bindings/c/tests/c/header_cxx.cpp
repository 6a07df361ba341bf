// The header from C++: declarations get C linkage (extern "C"), the types and
// constants are usable as they are, and a call links against the library.
#include <cstdio>
#include <cstring>

#include "sagevec.h"

static_assert(sizeof(sagevec_status) == 4, "sagevec_status is int32_t");
// The codes are ABI: appended, never renumbered.
static_assert(SAGEVEC_METRIC_L2 == 0 && SAGEVEC_METRIC_IP == 1 && SAGEVEC_METRIC_COSINE == 2 &&
                  SAGEVEC_METRIC_HAMMING == 3 && SAGEVEC_METRIC_JACCARD == 4,
              "metric codes");
static_assert(SAGEVEC_ELEM_F32 == 0 && SAGEVEC_ELEM_F16 == 1 && SAGEVEC_ELEM_BF16 == 2 &&
                  SAGEVEC_ELEM_I8 == 3 && SAGEVEC_ELEM_U8 == 4 && SAGEVEC_ELEM_BITS == 5,
              "element codes");

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
  sagevec_distance_fn hamming = nullptr;
  if (sagevec_distance_fn_resolve(k, SAGEVEC_METRIC_HAMMING, SAGEVEC_ELEM_BITS, &hamming) != SAGEVEC_OK) return 1;
  const uint64_t x[2] = {0xFFull, 0}, y[2] = {0x0Full, 1};
  if (hamming(x, y, 2) != 5.0f) return 1;
  std::printf("header_cxx: sagevec %s from C++, l2 = %g\n", v, double(f(a, b, 3)));
  return 0;
}
