/* Every kernel of the C ABI against a plain C loop in double precision, for every
 * element type, metric and ISA up to the active one (SAGEVEC_ISA caps it, as
 * valgrind needs), over many lengths, unaligned starts and strided rows whose
 * padding is NaN (a kernel that reads past a row gives NaN and fails).
 *
 * Tolerances are derived, not guessed (u = 2^-24, g(n) = n u / (1 - n u)):
 * dot g(n) sum|a_i b_i|; l2 g(n+2) sum (a_i - b_i)^2; cosine 2 g(n+2) + 4u
 * absolute (|cos| <= 1); many-to-many L2 uses |q|^2 + |x|^2 - 2 q.x, so its
 * bound is relative to |q|^2 + |x|^2. */
#include <math.h>
#include <stdint.h>

#include "check.h"

#define MAX_DIM 320
#define U (1.0 / 16777216.0)

static double gamma_n(size_t n) { return (double)n * U / (1.0 - (double)n * U); }

static size_t elem_size(sagevec_elem e) {
  size_t s = 0;
  CHECK_OK(sagevec_elem_size(e, &s));
  return s;
}

/* IEEE binary16 bits to double (exact). */
static double half_to_double(uint16_t h) {
  int sign = h >> 15, exp = (h >> 10) & 31, mant = h & 1023;
  double v = exp == 0 ? ldexp((double)mant, -24) : ldexp((double)(mant | 1024), exp - 25);
  return sign ? -v : v;
}

/* Element i of a buffer of `e`, as double. */
static double get(sagevec_elem e, const void *buf, size_t i) {
  if (e == SAGEVEC_ELEM_F16) return half_to_double(((const uint16_t *)buf)[i]);
  return (double)((const float *)buf)[i];
}

/* A random finite element: f32 in [-2, 2); f16 with exponents 2^-5 .. 2^3. */
static void put_random(sagevec_elem e, void *buf, size_t i) {
  if (e == SAGEVEC_ELEM_F16) {
    uint64_t r = check_rng();
    uint16_t sign = (uint16_t)((r & 1) << 15);
    uint16_t exp = (uint16_t)(10 + (r >> 1) % 9);
    uint16_t mant = (uint16_t)((r >> 8) & 1023);
    ((uint16_t *)buf)[i] = (uint16_t)(sign | (exp << 10) | mant);
  } else {
    ((float *)buf)[i] = 2.0f * check_unit();
  }
}

/* A NaN element (what the padding around rows holds). */
static void put_nan(sagevec_elem e, void *buf, size_t i) {
  if (e == SAGEVEC_ELEM_F16)
    ((uint16_t *)buf)[i] = 0x7E00;
  else
    ((float *)buf)[i] = NAN;
}

/* The reference distance between query elements `qe` at q and row elements `re`
 * at x, and its error bound. */
static double reference(sagevec_metric m, sagevec_elem qe, const void *q,
                        sagevec_elem re, const void *x, size_t n, double *tol) {
  double dot = 0, abs_dot = 0, nq = 0, nx = 0, l2 = 0;
  for (size_t i = 0; i < n; ++i) {
    double a = get(qe, q, i), b = get(re, x, i);
    dot += a * b;
    abs_dot += fabs(a * b);
    nq += a * a;
    nx += b * b;
    l2 += (a - b) * (a - b);
  }
  switch (m) {
    case SAGEVEC_METRIC_L2:
      *tol = gamma_n(n + 2) * l2;
      return l2;
    case SAGEVEC_METRIC_IP:
      *tol = gamma_n(n) * abs_dot;
      return -dot;
    default: {
      *tol = 2 * gamma_n(n + 2) + 4 * U;
      if (nq == 0 || nx == 0) return 1.0;
      double c = 1.0 - dot / (sqrt(nq) * sqrt(nx));
      return c < 0 ? 0 : (c > 2 ? 2 : c);
    }
  }
}

static int close_to(double got, double want, double tol) {
  return fabs(got - want) <= tol + 1e-30;
}

static const size_t LENGTHS[] = {0,  1,  2,  3,  4,  5,  6,  7,  8,   9,   12,  15,  16, 17,
                                 23, 31, 32, 33, 47, 63, 64, 65, 100, 127, 128, 129, 300};
#define N_LENGTHS (sizeof LENGTHS / sizeof LENGTHS[0])

static void one_to_one(const sagevec_kernels *k, const char *isa, sagevec_elem re) {
  sagevec_elem qe = 0;
  CHECK_OK(sagevec_elem_query(re, &qe));
  size_t qs = elem_size(qe), rs = elem_size(re);
  unsigned char *qbuf = malloc((MAX_DIM + 4) * qs), *xbuf = malloc((MAX_DIM + 4) * rs);
  for (sagevec_metric m = 0; m < 3; ++m) {
    sagevec_distance_fn fn = NULL;
    CHECK_OK(sagevec_distance_fn_resolve(k, m, re, &fn));
    CHECK(fn != NULL);
    for (size_t li = 0; li < N_LENGTHS; ++li) {
      size_t n = LENGTHS[li];
      for (size_t off = 0; off < 4; ++off) {
        void *q = qbuf + off * qs, *x = xbuf + off * rs;
        for (size_t i = 0; i < n + 4; ++i) {
          put_nan(qe, qbuf, i);
          put_nan(re, xbuf, i);
        }
        for (size_t i = 0; i < n; ++i) {
          put_random(qe, q, i);
          put_random(re, x, i);
        }
        double tol = 0, want = reference(m, qe, q, re, x, n, &tol);
        float got = -1;
        CHECK_OK(sagevec_distance(k, m, re, q, x, n, &got));
        CHECK_MSG(close_to(got, want, tol), "%s %s %s n=%zu off=%zu: %.9g vs %.9g (tol %.3g)",
                  isa, sagevec_metric_name(m), sagevec_elem_name(re), n, off, got, want, tol);
        float via_fn = fn(q, x, n);
        CHECK_MSG(memcmp(&via_fn, &got, sizeof got) == 0 || (isnan(via_fn) && isnan(got)),
                  "%s %s %s n=%zu: resolved %.9g != sagevec_distance %.9g", isa,
                  sagevec_metric_name(m), sagevec_elem_name(re), n, via_fn, got);
      }
    }
    /* A zero query under cosine is 1.0 (and NULL is fine with dim 0). */
    if (m == SAGEVEC_METRIC_COSINE) {
      memset(qbuf, 0, 8 * qs);
      for (size_t i = 0; i < 8; ++i) put_random(re, xbuf, i);
      float got = 0;
      CHECK_OK(sagevec_distance(k, m, re, qbuf, xbuf, 8, &got));
      CHECK(got == 1.0f);
      CHECK(fn(qbuf, xbuf, 8) == 1.0f);
    }
    float empty = -1;
    CHECK_OK(sagevec_distance(k, m, re, NULL, NULL, 0, &empty));
    CHECK(fn(NULL, NULL, 0) == empty);
  }
  free(qbuf);
  free(xbuf);
}

/* Rows with a stride > dim: padding is NaN. */
static void *strided_rows(sagevec_elem e, size_t n_rows, size_t dim, size_t stride) {
  size_t s = elem_size(e), total = n_rows ? (n_rows - 1) * stride + dim : 0;
  unsigned char *buf = malloc((total + 1) * s);
  for (size_t i = 0; i < total; ++i) put_nan(e, buf, i);
  for (size_t r = 0; r < n_rows; ++r)
    for (size_t j = 0; j < dim; ++j) put_random(e, buf, r * stride + j);
  return buf;
}

static void one_to_many(const sagevec_kernels *k, const char *isa, sagevec_elem re) {
  static const size_t dims[] = {1, 3, 8, 17, 64, 100};
  static const size_t counts[] = {0, 1, 2, 5, 13};
  sagevec_elem qe = 0;
  CHECK_OK(sagevec_elem_query(re, &qe));
  size_t rs = elem_size(re);
  for (sagevec_metric m = 0; m < 3; ++m)
    for (size_t di = 0; di < sizeof dims / sizeof dims[0]; ++di)
      for (size_t ci = 0; ci < sizeof counts / sizeof counts[0]; ++ci)
        for (size_t pad = 0; pad < 3; pad += 2) {
          size_t dim = dims[di], n = counts[ci], stride = dim + pad;
          void *rows = strided_rows(re, n, dim, stride);
          void *q = strided_rows(qe, 1, dim, dim);
          sagevec_matrix mat = {rows, n, dim, stride};
          float out[16];
          for (size_t i = 0; i < 16; ++i) out[i] = -7;
          CHECK_OK(sagevec_distances(k, m, re, q, dim, mat, out, n));
          for (size_t i = 0; i < n; ++i) {
            double tol = 0;
            double want = reference(m, qe, q, re, (const unsigned char *)rows + i * stride * rs, dim, &tol);
            CHECK_MSG(close_to(out[i], want, tol), "%s distances %s %s dim=%zu row %zu: %.9g vs %.9g",
                      isa, sagevec_metric_name(m), sagevec_elem_name(re), dim, i, out[i], want);
          }
          CHECK(out[n] == -7); /* nothing written past out_len */

          /* Gather: every row once, some twice, in a scrambled order. */
          uint32_t ids[16];
          size_t n_ids = n ? n + 2 : 0;
          for (size_t j = 0; j < n_ids; ++j) ids[j] = (uint32_t)((j * 7 + 3) % (n ? n : 1));
          float gathered[16];
          CHECK_OK(sagevec_distances_gather(k, m, re, q, dim, mat, ids, n_ids, gathered, n_ids));
          for (size_t j = 0; j < n_ids; ++j) {
            double tol = 0;
            double want = reference(m, qe, q, re, (const unsigned char *)rows + ids[j] * stride * rs, dim, &tol);
            CHECK_MSG(close_to(gathered[j], want, tol), "%s gather %s %s dim=%zu id %u: %.9g vs %.9g",
                      isa, sagevec_metric_name(m), sagevec_elem_name(re), dim, ids[j], gathered[j], want);
          }
          free(rows);
          free(q);
        }
}

/* Squared norms and knn: the element's many-to-many kernels. Element types
 * whose queries are of another type may lack them (SAGEVEC_ERR_UNSUPPORTED);
 * symmetric ones must have them. */
static void many_to_many(const sagevec_kernels *k, const char *isa, sagevec_elem e) {
  static const size_t dims[] = {1, 7, 16, 33};
  static const size_t n_qs[] = {1, 3, 25};
  static const size_t n_xs[] = {1, 5, 40, 130};
  sagevec_elem qe = 0;
  CHECK_OK(sagevec_elem_query(e, &qe));
  size_t es = elem_size(e);

  void *probe = strided_rows(e, 2, 4, 4);
  float norms_probe[2];
  sagevec_matrix pm = {probe, 2, 4, 4};
  sagevec_status st = sagevec_squared_norms(k, e, pm, norms_probe, 2);
  free(probe);
  if (st == SAGEVEC_ERR_UNSUPPORTED && qe != e) {
    printf("SKIP: %s %s has no many-to-many kernels (%s)\n", isa, sagevec_elem_name(e),
           sagevec_last_error());
    uint64_t ids[1];
    float d[1];
    float x[4] = {0};
    sagevec_matrix one = {x, 1, 4, 4};
    CHECK_STATUS(sagevec_knn(k, SAGEVEC_METRIC_L2, e, one, one, NULL, 1, ids, d, 1),
                 SAGEVEC_ERR_UNSUPPORTED);
    return;
  }
  CHECK_OK(st);

  for (size_t di = 0; di < sizeof dims / sizeof dims[0]; ++di)
    for (size_t qi = 0; qi < sizeof n_qs / sizeof n_qs[0]; ++qi)
      for (size_t xi = 0; xi < sizeof n_xs / sizeof n_xs[0]; ++xi) {
        size_t dim = dims[di], nq = n_qs[qi], nx = n_xs[xi], stride = dim + 1;
        void *queries = strided_rows(e, nq, dim, dim);
        void *base = strided_rows(e, nx, dim, stride);
        sagevec_matrix qm = {queries, nq, dim, dim}, xm = {base, nx, dim, stride};
        float *norms = malloc(nx * sizeof(float));
        CHECK_OK(sagevec_squared_norms(k, e, xm, norms, nx));
        for (size_t i = 0; i < nx; ++i) {
          double tol = 0;
          const void *row = (const unsigned char *)base + i * stride * es;
          double want = -reference(SAGEVEC_METRIC_IP, e, row, e, row, dim, &tol);
          CHECK_MSG(close_to(norms[i], want, tol), "%s norms dim=%zu row %zu", isa, dim, i);
        }
        size_t kk_values[] = {1, 3, nx + 2};
        for (sagevec_metric m = 0; m < 3; ++m)
          for (size_t ki = 0; ki < 3; ++ki) {
            size_t kk = kk_values[ki];
            uint64_t *ids = malloc(nq * kk * sizeof(uint64_t));
            float *dists = malloc(nq * kk * sizeof(float));
            double *ref = malloc(nx * sizeof(double)), *sorted = malloc(nx * sizeof(double));
            const float *use_norms = (ki == 1) ? norms : NULL;
            CHECK_OK(sagevec_knn(k, m, e, qm, xm, use_norms, kk, ids, dists, nq * kk));
            for (size_t q = 0; q < nq; ++q) {
              const void *qrow = (const unsigned char *)queries + q * dim * es;
              double scale = 0, tol = 0;
              for (size_t i = 0; i < nx; ++i) {
                const void *xrow = (const unsigned char *)base + i * stride * es;
                ref[i] = reference(m, e, qrow, e, xrow, dim, &tol);
                double t2 = 0;
                double nqq = -reference(SAGEVEC_METRIC_IP, e, qrow, e, qrow, dim, &t2);
                double nxx = -reference(SAGEVEC_METRIC_IP, e, xrow, e, xrow, dim, &t2);
                double s = m == SAGEVEC_METRIC_L2 ? nqq + nxx : (m == SAGEVEC_METRIC_IP ? sqrt(nqq * nxx) : 1.0);
                if (s > scale) scale = s;
                sorted[i] = ref[i];
              }
              /* insertion sort of the reference distances */
              for (size_t i = 1; i < nx; ++i)
                for (size_t j = i; j > 0 && sorted[j - 1] > sorted[j]; --j) {
                  double t = sorted[j];
                  sorted[j] = sorted[j - 1];
                  sorted[j - 1] = t;
                }
              double bound = 4 * gamma_n(dim + 4) * scale + 8 * U;
              for (size_t j = 0; j < kk; ++j) {
                uint64_t id = ids[q * kk + j];
                float d = dists[q * kk + j];
                if (j >= nx) {
                  CHECK_MSG(id == UINT64_MAX && isinf(d) && d > 0, "padding at %zu", j);
                  continue;
                }
                CHECK_MSG(id < nx, "%s knn id %llu out of range", isa, (unsigned long long)id);
                if (id >= nx) continue;
                for (size_t j2 = 0; j2 < j; ++j2) CHECK(ids[q * kk + j2] != id);
                CHECK_MSG(close_to(d, ref[id], bound), "%s knn %s dim=%zu: %.9g vs %.9g", isa,
                          sagevec_metric_name(m), dim, d, ref[id]);
                CHECK_MSG(ref[id] <= sorted[j] + 2 * bound, "%s knn %s: rank %zu is %.9g, true %.9g",
                          isa, sagevec_metric_name(m), j, ref[id], sorted[j]);
                if (j > 0) CHECK(dists[q * kk + j - 1] <= d);
              }
            }
            free(ids);
            free(dists);
            free(ref);
            free(sorted);
          }
        free(norms);
        free(queries);
        free(base);
      }
}

int main(void) {
  sagevec_isa active = 0;
  CHECK_OK(sagevec_isa_active(&active));
  const sagevec_kernels *def = NULL;
  CHECK_OK(sagevec_kernels_active(&def));
  sagevec_isa def_isa = 99;
  CHECK_OK(sagevec_kernels_isa(def, &def_isa));
  CHECK(def_isa == active);

  char *report = NULL;
  CHECK_OK(sagevec_isa_report(&report));
  CHECK(report != NULL && strstr(report, "\"active\":\"") != NULL);
  CHECK(report != NULL && strstr(report, sagevec_isa_name(active)) != NULL);
  printf("isa report: %s\n", report ? report : "(none)");
  sagevec_string_free(report);

  for (sagevec_isa isa = 0; isa <= active; ++isa) {
    bool supported = false;
    CHECK_OK(sagevec_isa_supported(isa, &supported));
    CHECK(supported); /* every ISA up to the active one */
    const sagevec_kernels *k = NULL;
    CHECK_OK(sagevec_kernels_for_isa(isa, &k));
    sagevec_isa got = 99;
    CHECK_OK(sagevec_kernels_isa(k, &got));
    CHECK(got == isa);
    const char *name = sagevec_isa_name(isa);
    printf("ISA %s\n", name);
    for (sagevec_elem e = 0; sagevec_elem_name(e) != NULL; ++e) {
      one_to_one(k, name, e);
      one_to_many(k, name, e);
      many_to_many(k, name, e);
    }
  }
  return check_report("test_kernels");
}
