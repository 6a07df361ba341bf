/* Every kernel of the C ABI against a plain C loop in double precision, for every
 * element type, metric and ISA up to the active one (SAGEVEC_ISA caps it, as
 * valgrind needs), over many lengths, unaligned starts and strided rows whose
 * padding is poison (NaN for floats, the extreme value for integers, all ones for
 * bits: a kernel that reads past a row gives a wrong result and fails).
 *
 * Tolerances are derived, not guessed (u = 2^-24, g(n) = n u / (1 - n u)):
 * dot g(n) sum|a_i b_i|; l2 g(n+2) sum (a_i - b_i)^2; cosine 2 g(n+2) + 4u
 * absolute (|cos| <= 1); many-to-many L2 uses |q|^2 + |x|^2 - 2 q.x, so its
 * bound is relative to |q|^2 + |x|^2. Integer and bit kernels are exact: the
 * exact integer (or Jaccard's f64 quotient) rounded once to float, compared
 * bit for bit. SAGEVEC_CAPI_QUICK=1 (valgrind) runs fewer lengths and shapes. */
#include <math.h>
#include <stdint.h>

#include "check.h"

#define MAX_DIM 320
#define U (1.0 / 16777216.0)
#define N_METRICS 5

static int quick = 0;

static double gamma_n(size_t n) { return (double)n * U / (1.0 - (double)n * U); }

static size_t elem_size(sagevec_elem e) {
  size_t s = 0;
  CHECK_OK(sagevec_elem_size(e, &s));
  return s;
}

/* What the kernels crate documents per element type, written out here so the
 * test checks the ABI against it: the metrics, and whether the type has the
 * many-to-many kernels (squared norms, knn). */
static int is_float(sagevec_elem e) {
  return e == SAGEVEC_ELEM_F32 || e == SAGEVEC_ELEM_F16 || e == SAGEVEC_ELEM_BF16;
}
static int is_int(sagevec_elem e) { return e == SAGEVEC_ELEM_I8 || e == SAGEVEC_ELEM_U8; }
static int has_metric(sagevec_elem e, sagevec_metric m) {
  if (is_float(e)) return m <= SAGEVEC_METRIC_COSINE;
  if (is_int(e)) return m == SAGEVEC_METRIC_L2 || m == SAGEVEC_METRIC_IP;
  return m == SAGEVEC_METRIC_HAMMING || m == SAGEVEC_METRIC_JACCARD;
}
static int has_many_to_many(sagevec_elem e) {
  return e == SAGEVEC_ELEM_F32 || e == SAGEVEC_ELEM_BF16 || is_int(e);
}

/* IEEE binary16 bits to double (exact). */
static double half_to_double(uint16_t h) {
  int sign = h >> 15, exp = (h >> 10) & 31, mant = h & 1023;
  double v = exp == 0 ? ldexp((double)mant, -24) : ldexp((double)(mant | 1024), exp - 25);
  return sign ? -v : v;
}

/* bfloat16 bits to double (exact: the top half of an f32). */
static double bf16_to_double(uint16_t h) {
  uint32_t bits = (uint32_t)h << 16;
  float f;
  memcpy(&f, &bits, sizeof f);
  return (double)f;
}

/* Element i of a buffer of `e`, as double (not for bits). */
static double get(sagevec_elem e, const void *buf, size_t i) {
  switch (e) {
    case SAGEVEC_ELEM_F16: return half_to_double(((const uint16_t *)buf)[i]);
    case SAGEVEC_ELEM_BF16: return bf16_to_double(((const uint16_t *)buf)[i]);
    case SAGEVEC_ELEM_I8: return (double)((const int8_t *)buf)[i];
    case SAGEVEC_ELEM_U8: return (double)((const uint8_t *)buf)[i];
    default: return (double)((const float *)buf)[i];
  }
}

/* A random finite element: f32 in [-2, 2); f16 with exponents 2^-5 .. 2^3; bf16
 * an f32 in [-2, 2) cut to its top half; integers over their whole range; bits
 * a random word. */
static void put_random(sagevec_elem e, void *buf, size_t i) {
  uint64_t r = check_rng();
  switch (e) {
    case SAGEVEC_ELEM_F16: {
      uint16_t sign = (uint16_t)((r & 1) << 15);
      uint16_t exp = (uint16_t)(10 + (r >> 1) % 9);
      uint16_t mant = (uint16_t)((r >> 8) & 1023);
      ((uint16_t *)buf)[i] = (uint16_t)(sign | (exp << 10) | mant);
      break;
    }
    case SAGEVEC_ELEM_BF16: {
      float f = 2.0f * check_unit();
      uint32_t bits;
      memcpy(&bits, &f, sizeof bits);
      ((uint16_t *)buf)[i] = (uint16_t)(bits >> 16);
      break;
    }
    case SAGEVEC_ELEM_I8: ((int8_t *)buf)[i] = (int8_t)(int)((r >> 24) % 256 - 128); break;
    case SAGEVEC_ELEM_U8: ((uint8_t *)buf)[i] = (uint8_t)(r >> 24); break;
    case SAGEVEC_ELEM_BITS: ((uint64_t *)buf)[i] = r; break;
    default: ((float *)buf)[i] = 2.0f * check_unit();
  }
}

/* A poison element (what the padding around rows holds). */
static void put_poison(sagevec_elem e, void *buf, size_t i) {
  switch (e) {
    case SAGEVEC_ELEM_F16: ((uint16_t *)buf)[i] = 0x7E00; break;
    case SAGEVEC_ELEM_BF16: ((uint16_t *)buf)[i] = 0x7FC0; break;
    case SAGEVEC_ELEM_I8: ((int8_t *)buf)[i] = -128; break;
    case SAGEVEC_ELEM_U8: ((uint8_t *)buf)[i] = 255; break;
    case SAGEVEC_ELEM_BITS: ((uint64_t *)buf)[i] = UINT64_MAX; break;
    default: ((float *)buf)[i] = NAN;
  }
}

static int popcount64(uint64_t w) {
  int c = 0;
  for (; w; w &= w - 1) ++c;
  return c;
}

/* Hamming or Jaccard of n words, exactly as documented (tolerance 0). */
static double bits_reference(sagevec_metric m, const uint64_t *a, const uint64_t *b, size_t n) {
  uint64_t diff = 0, inter = 0, uni = 0;
  for (size_t i = 0; i < n; ++i) {
    diff += (uint64_t)popcount64(a[i] ^ b[i]);
    inter += (uint64_t)popcount64(a[i] & b[i]);
    uni += (uint64_t)popcount64(a[i] | b[i]);
  }
  if (m == SAGEVEC_METRIC_HAMMING) return (double)(float)diff;
  if (uni == 0) return 0.0;
  return (double)(float)(1.0 - (double)inter / (double)uni);
}

/* The reference distance between query elements `qe` at q and row elements `re`
 * at x, and its error bound. */
static double reference(sagevec_metric m, sagevec_elem qe, const void *q,
                        sagevec_elem re, const void *x, size_t n, double *tol) {
  if (re == SAGEVEC_ELEM_BITS) {
    *tol = 0;
    return bits_reference(m, q, x, n);
  }
  double dot = 0, abs_dot = 0, nq = 0, nx = 0, l2 = 0;
  for (size_t i = 0; i < n; ++i) {
    double a = get(qe, q, i), b = get(re, x, i);
    dot += a * b;
    abs_dot += fabs(a * b);
    nq += a * a;
    nx += b * b;
    l2 += (a - b) * (a - b);
  }
  if (is_int(re)) {
    /* Exact in double (|terms| <= 2^16, n <= 320), then rounded once. */
    *tol = 0;
    return m == SAGEVEC_METRIC_L2 ? (double)(float)l2 : (double)(float)-dot;
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

/* |q|^2 for the many-to-many bounds (bits have none). */
static double squared_norm(sagevec_elem e, const void *v, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; ++i) s += get(e, v, i) * get(e, v, i);
  return s;
}

static int close_to(double got, double want, double tol) {
  if (tol == 0) return got == want;
  return fabs(got - want) <= tol + 1e-30;
}

static const size_t LENGTHS[] = {0,  1,  2,  3,  4,  5,  6,  7,  8,   9,   12,  15,  16, 17,
                                 23, 31, 32, 33, 47, 63, 64, 65, 100, 127, 128, 129, 300};
#define N_LENGTHS (sizeof LENGTHS / sizeof LENGTHS[0])

/* A metric the element type lacks: every kernel and the resolver refuse it with
 * SAGEVEC_ERR_UNSUPPORTED, naming the type, and write nothing. */
static void refuses_metric(const sagevec_kernels *k, sagevec_elem re, sagevec_metric m,
                           const void *q, const void *x, size_t n) {
  const char *name = sagevec_elem_name(re);
  float got = -3;
  CHECK_FAILS(sagevec_distance(k, m, re, q, x, n, &got), SAGEVEC_ERR_UNSUPPORTED, name);
  CHECK(got == -3);
  sagevec_distance_fn fn = NULL;
  CHECK_FAILS(sagevec_distance_fn_resolve(k, m, re, &fn), SAGEVEC_ERR_UNSUPPORTED,
              sagevec_metric_name(m));
  CHECK(fn == NULL);
  sagevec_matrix one = {x, 1, n, n};
  CHECK_FAILS(sagevec_distances(k, m, re, q, n, one, &got, 1), SAGEVEC_ERR_UNSUPPORTED, name);
  uint32_t id = 0;
  CHECK_FAILS(sagevec_distances_gather(k, m, re, q, n, one, &id, 1, &got, 1),
              SAGEVEC_ERR_UNSUPPORTED, name);
  CHECK(got == -3);
}

static void one_to_one(const sagevec_kernels *k, const char *isa, sagevec_elem re) {
  sagevec_elem qe = 0;
  CHECK_OK(sagevec_elem_query(re, &qe));
  size_t qs = elem_size(qe), rs = elem_size(re);
  unsigned char *qbuf = malloc((MAX_DIM + 4) * qs), *xbuf = malloc((MAX_DIM + 4) * rs);
  for (sagevec_metric m = 0; m < N_METRICS; ++m) {
    if (!has_metric(re, m)) {
      for (size_t i = 0; i < 8; ++i) {
        put_random(qe, qbuf, i);
        put_random(re, xbuf, i);
      }
      refuses_metric(k, re, m, qbuf, xbuf, 8);
      continue;
    }
    sagevec_distance_fn fn = NULL;
    CHECK_OK(sagevec_distance_fn_resolve(k, m, re, &fn));
    CHECK(fn != NULL);
    if (fn == NULL) continue;
    for (size_t li = 0; li < N_LENGTHS; li += quick ? 2 : 1) {
      size_t n = LENGTHS[li];
      for (size_t off = 0; off < 4; off += quick ? 3 : 1) {
        void *q = qbuf + off * qs, *x = xbuf + off * rs;
        for (size_t i = 0; i < n + 4; ++i) {
          put_poison(qe, qbuf, i);
          put_poison(re, xbuf, i);
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
    /* A zero query under cosine is 1.0; two empty bit sets are 0.0 apart under
     * Jaccard, and a set and its complement 1.0 (Hamming: every bit). */
    if (m == SAGEVEC_METRIC_COSINE) {
      memset(qbuf, 0, 8 * qs);
      for (size_t i = 0; i < 8; ++i) put_random(re, xbuf, i);
      float got = 0;
      CHECK_OK(sagevec_distance(k, m, re, qbuf, xbuf, 8, &got));
      CHECK(got == 1.0f);
      CHECK(fn(qbuf, xbuf, 8) == 1.0f);
    }
    /* Integers at their extremes (the sign tricks of VNNI paths meet -128 here):
     * still the exact integer, rounded once. */
    if (is_int(re)) {
      static const size_t ns[] = {31, 64, MAX_DIM};
      for (size_t ni = 0; ni < sizeof ns / sizeof ns[0]; ++ni)
        for (int combo = 0; combo < 3; ++combo) {
          size_t n = ns[ni];
          for (size_t i = 0; i < n; ++i) {
            int lo = re == SAGEVEC_ELEM_I8 ? -128 : 0, hi = re == SAGEVEC_ELEM_I8 ? 127 : 255;
            int qv = combo == 2 ? hi : lo, xv = combo == 0 ? hi : (combo == 1 ? lo : hi);
            if (re == SAGEVEC_ELEM_I8) {
              ((int8_t *)qbuf)[i] = (int8_t)qv;
              ((int8_t *)xbuf)[i] = (int8_t)xv;
            } else {
              ((uint8_t *)qbuf)[i] = (uint8_t)qv;
              ((uint8_t *)xbuf)[i] = (uint8_t)xv;
            }
          }
          double tol = 0, want = reference(m, qe, qbuf, re, xbuf, n, &tol);
          float got = -1;
          CHECK_OK(sagevec_distance(k, m, re, qbuf, xbuf, n, &got));
          CHECK_MSG(got == want && fn(qbuf, xbuf, n) == got, "%s %s %s extremes %d n=%zu: %.9g vs %.9g", isa,
                    sagevec_metric_name(m), sagevec_elem_name(re), combo, n, got, want);
        }
    }
    if (re == SAGEVEC_ELEM_BITS) {
      uint64_t *a = (uint64_t *)qbuf, *b = (uint64_t *)xbuf;
      for (size_t i = 0; i < 9; ++i) a[i] = b[i] = 0;
      float got = -1;
      CHECK_OK(sagevec_distance(k, m, re, a, b, 9, &got));
      CHECK(got == 0.0f);
      for (size_t i = 0; i < 9; ++i) b[i] = ~(a[i] = check_rng());
      CHECK_OK(sagevec_distance(k, m, re, a, b, 9, &got));
      CHECK(got == (m == SAGEVEC_METRIC_HAMMING ? 9.0f * 64.0f : 1.0f));
      CHECK(fn(a, b, 9) == got);
    }
    float empty = -1;
    CHECK_OK(sagevec_distance(k, m, re, NULL, NULL, 0, &empty));
    CHECK(fn(NULL, NULL, 0) == empty);
  }
  free(qbuf);
  free(xbuf);
}

/* Rows with a stride > dim: padding is poison. */
static void *strided_rows(sagevec_elem e, size_t n_rows, size_t dim, size_t stride) {
  size_t s = elem_size(e), total = n_rows ? (n_rows - 1) * stride + dim : 0;
  unsigned char *buf = malloc((total + 1) * s);
  for (size_t i = 0; i < total; ++i) put_poison(e, buf, i);
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
  for (sagevec_metric m = 0; m < N_METRICS; ++m) {
    if (!has_metric(re, m)) continue; /* refused: see one_to_one */
    for (size_t di = 0; di < sizeof dims / sizeof dims[0]; di += quick ? 2 : 1)
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
          for (size_t i = 0; i < 16; ++i) gathered[i] = -7;
          CHECK_OK(sagevec_distances_gather(k, m, re, q, dim, mat, ids, n_ids, gathered, n_ids));
          for (size_t j = 0; j < n_ids; ++j) {
            double tol = 0;
            double want = reference(m, qe, q, re, (const unsigned char *)rows + ids[j] * stride * rs, dim, &tol);
            CHECK_MSG(close_to(gathered[j], want, tol), "%s gather %s %s dim=%zu id %u: %.9g vs %.9g",
                      isa, sagevec_metric_name(m), sagevec_elem_name(re), dim, ids[j], gathered[j], want);
          }
          CHECK(gathered[n_ids] == -7);
          free(rows);
          free(q);
        }
  }
}

/* Squared norms and knn: the element's many-to-many kernels, where the kernels
 * crate has them (f32, bf16, i8, u8); elsewhere (f16, bits) both are
 * SAGEVEC_ERR_UNSUPPORTED for every metric of the type, with a message that says
 * so. */
static void many_to_many(const sagevec_kernels *k, const char *isa, sagevec_elem e) {
  static const size_t dims[] = {1, 7, 16, 33};
  static const size_t n_qs[] = {1, 3, 25};
  static const size_t n_xs[] = {1, 5, 40, 130};
  size_t es = elem_size(e);

  if (!has_many_to_many(e)) {
    void *x = strided_rows(e, 1, 4, 4);
    sagevec_matrix one = {x, 1, 4, 4};
    float norms[1] = {-3}, d[1] = {-3};
    uint64_t ids[1] = {7};
    CHECK_FAILS(sagevec_squared_norms(k, e, one, norms, 1), SAGEVEC_ERR_UNSUPPORTED, "many-to-many");
    for (sagevec_metric m = 0; m < N_METRICS; ++m)
      if (has_metric(e, m))
        CHECK_FAILS(sagevec_knn(k, m, e, one, one, NULL, 1, ids, d, 1), SAGEVEC_ERR_UNSUPPORTED,
                    "many-to-many");
    CHECK(norms[0] == -3 && d[0] == -3 && ids[0] == 7);
    free(x);
    return;
  }

  for (size_t di = 0; di < sizeof dims / sizeof dims[0]; ++di)
    for (size_t qi = 0; qi < sizeof n_qs / sizeof n_qs[0]; qi += quick ? 2 : 1)
      for (size_t xi = 0; xi < sizeof n_xs / sizeof n_xs[0]; xi += quick ? 2 : 1) {
        size_t dim = dims[di], nq = n_qs[qi], nx = n_xs[xi], stride = dim + 1;
        void *queries = strided_rows(e, nq, dim, dim);
        void *base = strided_rows(e, nx, dim, stride);
        sagevec_matrix qm = {queries, nq, dim, dim}, xm = {base, nx, dim, stride};
        float *norms = malloc(nx * sizeof(float));
        CHECK_OK(sagevec_squared_norms(k, e, xm, norms, nx));
        for (size_t i = 0; i < nx; ++i) {
          const void *row = (const unsigned char *)base + i * stride * es;
          double want = squared_norm(e, row, dim);
          double tol = is_int(e) ? 0 : gamma_n(dim) * want;
          if (is_int(e)) want = (double)(float)want;
          CHECK_MSG(close_to(norms[i], want, tol), "%s norms %s dim=%zu row %zu", isa,
                    sagevec_elem_name(e), dim, i);
        }
        size_t kk_values[] = {1, 3, nx + 2};
        for (sagevec_metric m = 0; m < N_METRICS; ++m) {
          if (!has_metric(e, m)) { /* cosine on integers, hamming and jaccard */
            uint64_t ids[32];
            float d[32];
            for (size_t i = 0; i < nq; ++i) {
              ids[i] = 7;
              d[i] = -3;
            }
            CHECK_FAILS(sagevec_knn(k, m, e, qm, xm, NULL, 1, ids, d, nq), SAGEVEC_ERR_UNSUPPORTED,
                        sagevec_elem_name(e));
            CHECK(ids[0] == 7 && d[nq - 1] == -3);
            continue;
          }
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
              double nqq = squared_norm(e, qrow, dim);
              for (size_t i = 0; i < nx; ++i) {
                const void *xrow = (const unsigned char *)base + i * stride * es;
                ref[i] = reference(m, e, qrow, e, xrow, dim, &tol);
                double nxx = squared_norm(e, xrow, dim);
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
                CHECK_MSG(close_to(d, ref[id], bound), "%s knn %s %s dim=%zu: %.9g vs %.9g", isa,
                          sagevec_metric_name(m), sagevec_elem_name(e), dim, d, ref[id]);
                CHECK_MSG(ref[id] <= sorted[j] + 2 * bound, "%s knn %s %s: rank %zu is %.9g, true %.9g",
                          isa, sagevec_metric_name(m), sagevec_elem_name(e), j, ref[id], sorted[j]);
                if (j > 0) CHECK(dists[q * kk + j - 1] <= d);
              }
            }
            free(ids);
            free(dists);
            free(ref);
            free(sorted);
          }
        }
        free(norms);
        free(queries);
        free(base);
      }
}

/* Scaled i8/u8 codes x standing for v_i = s_i x_i + o_i, against a prepared f32
 * query, for L2 and inner product, within the bounds of the kernels crate's
 * scaled module (u = 2^-24, d_i = q_i - v_i):
 *   L2: e_i = u|d_i| + (u + u^2)|q_i - o_i|; err <= sum(2|d_i|e_i + e_i^2) + g(n) sum(|d_i| + e_i)^2
 *   IP: err <= (u + g(n)(1 + u)) sum|q_i s_i x_i| + 2u|sum q_i o_i| + u|result| */
static double scaled_reference(sagevec_metric m, sagevec_elem e, const float *q, const float *s,
                               const float *o, const void *x, size_t n, double *tol) {
  double l2 = 0, l2_err = 0, l2_sq = 0, dot = 0, abs_qsx = 0, qo = 0;
  for (size_t i = 0; i < n; ++i) {
    double xi = get(e, x, i), v = (double)s[i] * xi + (double)o[i], d = (double)q[i] - v;
    double ei = U * fabs(d) + (U + U * U) * fabs((double)q[i] - (double)o[i]);
    l2 += d * d;
    l2_err += 2 * fabs(d) * ei + ei * ei;
    l2_sq += (fabs(d) + ei) * (fabs(d) + ei);
    dot += (double)q[i] * v;
    abs_qsx += fabs((double)q[i] * (double)s[i] * xi);
    qo += (double)q[i] * (double)o[i];
  }
  if (m == SAGEVEC_METRIC_L2) {
    *tol = l2_err + gamma_n(n) * l2_sq;
    return l2;
  }
  double before_result = (U + gamma_n(n) * (1 + U)) * abs_qsx + 2 * U * fabs(qo);
  *tol = before_result + U * (fabs(dot) + before_result); /* |result| <= |dot| + the rest */
  return -dot;
}

static void scaled(const sagevec_kernels *k, const char *isa, sagevec_elem e) {
  static const size_t dims[] = {1, 3, 8, 16, 17, 33, 64, 100, 300};
  static const size_t counts[] = {0, 1, 5, 13};
  for (size_t di = 0; di < sizeof dims / sizeof dims[0]; di += quick ? 2 : 1) {
    size_t dim = dims[di], es = elem_size(e);
    float *q = malloc(dim * sizeof(float)), *sc = malloc(dim * sizeof(float));
    float *of = malloc(dim * sizeof(float)), *q2 = malloc(dim * sizeof(float));
    for (size_t i = 0; i < dim; ++i) {
      q[i] = 4.0f * check_unit();
      q2[i] = 4.0f * check_unit();
      sc[i] = (float)ldexp(1.0 + check_unit() * 0.5, -6); /* codes span about +-2 */
      of[i] = 0.5f * check_unit();
    }
    sagevec_scaled_query *prep = NULL, *reused = NULL;
    CHECK_OK(sagevec_scaled_query_new(q, sc, of, dim, &prep));
    CHECK_OK(sagevec_scaled_query_new(q2, sc, of, dim, &reused));
    CHECK_OK(sagevec_scaled_query_set(reused, q, sc, of, dim)); /* now the same query as prep */
    size_t got_dim = 0;
    CHECK_OK(sagevec_scaled_query_dim(reused, &got_dim));
    CHECK(got_dim == dim);
    for (size_t ci = 0; ci < sizeof counts / sizeof counts[0]; ++ci)
      for (sagevec_metric m = 0; m <= SAGEVEC_METRIC_IP; ++m) {
        size_t n = counts[ci], stride = dim + 3;
        void *rows = strided_rows(e, n, dim, stride);
        sagevec_matrix mat = {rows, n, dim, stride};
        float out[16], again[16];
        for (size_t i = 0; i < 16; ++i) out[i] = again[i] = -7;
        CHECK_OK(sagevec_scaled_distances(k, m, e, prep, mat, out, n));
        CHECK_OK(sagevec_scaled_distances(k, m, e, reused, mat, again, n));
        CHECK(memcmp(out, again, sizeof out) == 0); /* set() prepared the same query */
        for (size_t i = 0; i < n; ++i) {
          const void *row = (const unsigned char *)rows + i * stride * es;
          double tol = 0, want = scaled_reference(m, e, q, sc, of, row, dim, &tol);
          CHECK_MSG(close_to(out[i], want, tol), "%s scaled %s %s dim=%zu row %zu: %.9g vs %.9g (tol %.3g)",
                    isa, sagevec_metric_name(m), sagevec_elem_name(e), dim, i, out[i], want, tol);
          float one = -1;
          CHECK_OK(sagevec_scaled_distance(k, m, e, prep, row, dim, &one));
          CHECK_MSG(close_to(one, want, tol), "%s scaled one-to-one %s %s dim=%zu: %.9g vs %.9g",
                    isa, sagevec_metric_name(m), sagevec_elem_name(e), dim, one, want);
        }
        CHECK(out[n] == -7);
        free(rows);
      }
    sagevec_scaled_query_free(prep);
    sagevec_scaled_query_free(reused);
    free(q);
    free(q2);
    free(sc);
    free(of);
  }
}

int main(void) {
  quick = getenv("SAGEVEC_CAPI_QUICK") != NULL;
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
    sagevec_elem n_elems = 0;
    for (sagevec_elem e = 0; sagevec_elem_name(e) != NULL; ++e) {
      ++n_elems;
      one_to_one(k, name, e);
      one_to_many(k, name, e);
      many_to_many(k, name, e);
      if (is_int(e)) scaled(k, name, e);
    }
    CHECK(n_elems == 6); /* f32, f16, bf16, i8, u8, bits */
  }
  return check_report("test_kernels");
}
