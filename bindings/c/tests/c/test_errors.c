/* Every error path of the C ABI: NULL pointers, misaligned pointers, unknown
 * codes and names, lengths that disagree, bad metadata JSON, a closed index, an
 * id that is not there, a read-only or locked directory. Each failing call must
 * return its status, leave a message in sagevec_last_error(), and write nothing. */
#include <stdint.h>
#include <stdlib.h>

#include "check.h"

/* A call's metric and element codes, and what it must answer. */
struct code_case {
  sagevec_metric metric;
  sagevec_elem elem;
  sagevec_status status;
  const char *needle;
};

static const sagevec_kernels *K;

static void names_and_codes(void) {
  sagevec_metric m = 99;
  CHECK_OK(sagevec_metric_parse("L2", &m));
  CHECK(m == SAGEVEC_METRIC_L2);
  CHECK_OK(sagevec_metric_parse("inner_product", &m));
  CHECK(m == SAGEVEC_METRIC_IP);
  m = 77;
  CHECK_FAILS(sagevec_metric_parse("manhattan", &m), SAGEVEC_ERR_INVALID_ARGUMENT, "manhattan");
  CHECK(m == 77);
  CHECK_FAILS(sagevec_metric_parse(NULL, &m), SAGEVEC_ERR_NULL_POINTER, "name");
  CHECK_FAILS(sagevec_metric_parse("l2", NULL), SAGEVEC_ERR_NULL_POINTER, "out");
  CHECK_FAILS(sagevec_metric_parse("\xff\xfe", &m), SAGEVEC_ERR_INVALID_ARGUMENT, "UTF-8");
  CHECK_OK(sagevec_metric_parse("Hamming", &m));
  CHECK(m == SAGEVEC_METRIC_HAMMING);
  CHECK_OK(sagevec_metric_parse("jaccard", &m));
  CHECK(m == SAGEVEC_METRIC_JACCARD);
  CHECK(sagevec_metric_name(5) == NULL);
  CHECK(strcmp(sagevec_metric_name(SAGEVEC_METRIC_COSINE), "cosine") == 0);
  CHECK(strcmp(sagevec_metric_name(SAGEVEC_METRIC_HAMMING), "hamming") == 0);
  CHECK(strcmp(sagevec_metric_name(SAGEVEC_METRIC_JACCARD), "jaccard") == 0);

  sagevec_isa isa = 99;
  CHECK_OK(sagevec_isa_parse("AVX2", &isa));
  CHECK(isa == SAGEVEC_ISA_AVX2);
  CHECK_FAILS(sagevec_isa_parse("sse9", &isa), SAGEVEC_ERR_INVALID_ARGUMENT, "sse9");
  CHECK(sagevec_isa_name(3) == NULL);
  bool yes = false;
  CHECK_FAILS(sagevec_isa_supported(7, &yes), SAGEVEC_ERR_INVALID_ARGUMENT, "ISA code 7");
  CHECK_FAILS(sagevec_isa_supported(SAGEVEC_ISA_SCALAR, NULL), SAGEVEC_ERR_NULL_POINTER, "out");
  CHECK_FAILS(sagevec_isa_active(NULL), SAGEVEC_ERR_NULL_POINTER, "out");
  CHECK_FAILS(sagevec_isa_report(NULL), SAGEVEC_ERR_NULL_POINTER, "out_json");
  const sagevec_kernels *k = NULL;
  CHECK_FAILS(sagevec_kernels_for_isa(9, &k), SAGEVEC_ERR_INVALID_ARGUMENT, "ISA code 9");
  CHECK(k == NULL);
  CHECK_FAILS(sagevec_kernels_for_isa(SAGEVEC_ISA_SCALAR, NULL), SAGEVEC_ERR_NULL_POINTER, "out");
  CHECK_FAILS(sagevec_kernels_active(NULL), SAGEVEC_ERR_NULL_POINTER, "out");
  bool has512 = true;
  CHECK_OK(sagevec_isa_supported(SAGEVEC_ISA_AVX512, &has512));
  if (!has512)
    CHECK_FAILS(sagevec_kernels_for_isa(SAGEVEC_ISA_AVX512, &k), SAGEVEC_ERR_UNSUPPORTED, "avx512");

  size_t size = 0;
  sagevec_elem q = 99;
  CHECK(sagevec_elem_name(6) == NULL);
  CHECK_FAILS(sagevec_elem_size(6, &size), SAGEVEC_ERR_INVALID_ARGUMENT, "element code 6");
  CHECK_FAILS(sagevec_elem_query(6, &q), SAGEVEC_ERR_INVALID_ARGUMENT, "element code 6");
  CHECK_FAILS(sagevec_elem_size(SAGEVEC_ELEM_F32, NULL), SAGEVEC_ERR_NULL_POINTER, "out");
  CHECK_FAILS(sagevec_elem_query(SAGEVEC_ELEM_BITS, NULL), SAGEVEC_ERR_NULL_POINTER, "out");
  /* Every element code: its name, size and query type (codes are ABI). */
  static const struct {
    sagevec_elem code;
    const char *name;
    size_t size;
    sagevec_elem query;
  } elems[] = {
      {SAGEVEC_ELEM_F32, "f32", 4, SAGEVEC_ELEM_F32},  {SAGEVEC_ELEM_F16, "f16", 2, SAGEVEC_ELEM_F32},
      {SAGEVEC_ELEM_BF16, "bf16", 2, SAGEVEC_ELEM_F32}, {SAGEVEC_ELEM_I8, "i8", 1, SAGEVEC_ELEM_I8},
      {SAGEVEC_ELEM_U8, "u8", 1, SAGEVEC_ELEM_U8},      {SAGEVEC_ELEM_BITS, "bits", 8, SAGEVEC_ELEM_BITS},
  };
  for (size_t i = 0; i < sizeof elems / sizeof elems[0]; ++i) {
    CHECK(elems[i].code == i);
    CHECK(strcmp(sagevec_elem_name(elems[i].code), elems[i].name) == 0);
    CHECK_OK(sagevec_elem_size(elems[i].code, &size));
    CHECK(size == elems[i].size);
    CHECK_OK(sagevec_elem_query(elems[i].code, &q));
    CHECK(q == elems[i].query);
  }

  CHECK(strcmp(sagevec_status_name(SAGEVEC_ERR_CLOSED), "SAGEVEC_ERR_CLOSED") == 0);
  CHECK(sagevec_status_name(-1) == NULL);
  CHECK(sagevec_status_name(SAGEVEC_ERR_INTERNAL + 1) == NULL);
  sagevec_string_free(NULL);
  sagevec_index_free(NULL);
}

static void kernel_errors(void) {
  /* 8-byte aligned: the bits cases below must fail on their codes, not alignment. */
  _Alignas(8) float a[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  _Alignas(8) float b[8] = {0};
  float out = -5, outs[4] = {-5, -5, -5, -5};
  uint64_t ids[4];
  CHECK_FAILS(sagevec_distance(NULL, 0, 0, a, b, 4, &out), SAGEVEC_ERR_NULL_POINTER, "kernels");
  /* A pointer that is not a kernels handle is refused, not dereferenced. */
  CHECK_FAILS(sagevec_distance((const sagevec_kernels *)a, 0, 0, a, b, 4, &out),
              SAGEVEC_ERR_INVALID_ARGUMENT, "handle");
  /* Unknown codes, and metrics the element type lacks. */
  static const struct code_case codes[] = {
      {5, SAGEVEC_ELEM_F32, SAGEVEC_ERR_INVALID_ARGUMENT, "metric code 5"},
      {SAGEVEC_METRIC_L2, 6, SAGEVEC_ERR_INVALID_ARGUMENT, "element code 6"},
      {SAGEVEC_METRIC_HAMMING, SAGEVEC_ELEM_F32, SAGEVEC_ERR_UNSUPPORTED, "f32 rows have no hamming"},
      {SAGEVEC_METRIC_JACCARD, SAGEVEC_ELEM_BF16, SAGEVEC_ERR_UNSUPPORTED, "bf16 rows have no jaccard"},
      {SAGEVEC_METRIC_COSINE, SAGEVEC_ELEM_I8, SAGEVEC_ERR_UNSUPPORTED, "i8 rows have no cosine"},
      {SAGEVEC_METRIC_L2, SAGEVEC_ELEM_BITS, SAGEVEC_ERR_UNSUPPORTED, "bits rows have no l2"},
  };
  for (size_t i = 0; i < sizeof codes / sizeof codes[0]; ++i)
    CHECK_FAILS(sagevec_distance(K, codes[i].metric, codes[i].elem, a, b, 2, &out), codes[i].status,
                codes[i].needle);
  CHECK_FAILS(sagevec_distance(K, 0, 0, NULL, b, 4, &out), SAGEVEC_ERR_NULL_POINTER, "a is NULL");
  CHECK_FAILS(sagevec_distance(K, 0, 0, a, NULL, 4, &out), SAGEVEC_ERR_NULL_POINTER, "b is NULL");
  CHECK_FAILS(sagevec_distance(K, 0, 0, a, b, 4, NULL), SAGEVEC_ERR_NULL_POINTER, "out");
  CHECK_FAILS(sagevec_distance(K, 0, 0, (const char *)a + 1, b, 4, &out), SAGEVEC_ERR_INVALID_ARGUMENT,
              "aligned");
  CHECK(out == -5);

  sagevec_matrix rows = {b, 2, 4, 4};
  CHECK_FAILS(sagevec_distances(K, 0, 0, a, 3, rows, outs, 2), SAGEVEC_ERR_LENGTH_MISMATCH, "dimension");
  CHECK_FAILS(sagevec_distances(K, 0, 0, a, 4, rows, outs, 3), SAGEVEC_ERR_LENGTH_MISMATCH, "out");
  CHECK_FAILS(sagevec_distances(K, 0, 0, a, 4, rows, NULL, 2), SAGEVEC_ERR_NULL_POINTER, "out");
  sagevec_matrix overlapping = {b, 2, 4, 3};
  CHECK_FAILS(sagevec_distances(K, 0, 0, a, 4, overlapping, outs, 2), SAGEVEC_ERR_INVALID_ARGUMENT,
              "stride");
  sagevec_matrix null_rows = {NULL, 2, 4, 4};
  CHECK_FAILS(sagevec_distances(K, 0, 0, a, 4, null_rows, outs, 2), SAGEVEC_ERR_NULL_POINTER, "rows");
  sagevec_matrix huge = {b, SIZE_MAX / 2, 4, SIZE_MAX / 4};
  CHECK_FAILS(sagevec_distances(K, 0, 0, a, 4, huge, outs, 2), SAGEVEC_ERR_INVALID_ARGUMENT,
              "overflow");
  CHECK(outs[0] == -5 && outs[1] == -5);
  /* Zero rows: nothing to read, NULL data is fine. */
  sagevec_matrix empty = {NULL, 0, 4, 4};
  CHECK_OK(sagevec_distances(K, 0, 0, a, 4, empty, NULL, 0));

  uint32_t gids[3] = {0, 2, 1};
  CHECK_FAILS(sagevec_distances_gather(K, 0, 0, a, 4, rows, gids, 3, outs, 3),
              SAGEVEC_ERR_INVALID_ARGUMENT, "row id 2");
  CHECK_FAILS(sagevec_distances_gather(K, 0, 0, a, 4, rows, gids, 2, outs, 3),
              SAGEVEC_ERR_LENGTH_MISMATCH, "out");
  CHECK_FAILS(sagevec_distances_gather(K, 0, 0, a, 4, rows, NULL, 2, outs, 2),
              SAGEVEC_ERR_NULL_POINTER, "ids");
  CHECK(outs[0] == -5);

  CHECK_FAILS(sagevec_squared_norms(K, 0, rows, outs, 1), SAGEVEC_ERR_LENGTH_MISMATCH, "out");

  sagevec_matrix queries = {a, 2, 4, 4};
  sagevec_matrix q3 = {a, 2, 3, 4};
  CHECK_FAILS(sagevec_knn(K, 0, 0, queries, rows, NULL, 0, ids, outs, 0), SAGEVEC_ERR_INVALID_ARGUMENT,
              "k must be at least 1");
  CHECK_FAILS(sagevec_knn(K, 0, 0, queries, rows, NULL, 2, ids, outs, 3), SAGEVEC_ERR_LENGTH_MISMATCH,
              "out_ids");
  CHECK_FAILS(sagevec_knn(K, 0, 0, q3, rows, NULL, 1, ids, outs, 2), SAGEVEC_ERR_LENGTH_MISMATCH,
              "dimension");
  CHECK_FAILS(sagevec_knn(K, 0, 0, queries, rows, NULL, 1, NULL, outs, 2), SAGEVEC_ERR_NULL_POINTER,
              "out_ids");
  CHECK_FAILS(sagevec_knn(K, 0, 0, queries, rows, (const float *)((const char *)outs + 2), 1, ids, outs, 2),
              SAGEVEC_ERR_INVALID_ARGUMENT, "base_norms");

  sagevec_distance_fn fn = NULL;
  CHECK_FAILS(sagevec_distance_fn_resolve(K, 9, 0, &fn), SAGEVEC_ERR_INVALID_ARGUMENT, "metric");
  CHECK_FAILS(sagevec_distance_fn_resolve(K, 0, 9, &fn), SAGEVEC_ERR_INVALID_ARGUMENT, "element");
  CHECK_FAILS(sagevec_distance_fn_resolve(K, 0, 0, NULL), SAGEVEC_ERR_NULL_POINTER, "out");
  CHECK_FAILS(sagevec_distance_fn_resolve(K, SAGEVEC_METRIC_IP, SAGEVEC_ELEM_BITS, &fn),
              SAGEVEC_ERR_UNSUPPORTED, "bits rows have no ip");
  CHECK_FAILS(sagevec_distance_fn_resolve(K, SAGEVEC_METRIC_HAMMING, SAGEVEC_ELEM_U8, &fn),
              SAGEVEC_ERR_UNSUPPORTED, "u8 rows have no hamming");
  CHECK(fn == NULL);
}

/* The same checks hold for the integer and bit element types: NULL, alignment,
 * lengths, ids, and shapes the kernels crate lacks for them. */
static void typed_kernel_errors(void) {
  int8_t qi8[8] = {1, -2, 3, -4, 5, -6, 7, -8}, xi8[16] = {0};
  uint64_t words[4] = {1, 2, 3, 4}, bits[8] = {0};
  float out = -5, outs[4] = {-5, -5, -5, -5};
  uint64_t ids[4] = {9, 9, 9, 9};
  /* NULL for each pointer, for every element type (with its first metric). */
  for (sagevec_elem e = 0; sagevec_elem_name(e) != NULL; ++e) {
    sagevec_metric m = e == SAGEVEC_ELEM_BITS ? SAGEVEC_METRIC_HAMMING : SAGEVEC_METRIC_L2;
    const struct {
      const void *a, *b;
      float *out;
      const char *needle;
    } nulls[] = {{NULL, bits, &out, "a is NULL"}, {words, NULL, &out, "b is NULL"}, {words, bits, NULL, "out"}};
    for (size_t i = 0; i < sizeof nulls / sizeof nulls[0]; ++i)
      CHECK_FAILS(sagevec_distance(K, m, e, nulls[i].a, nulls[i].b, 2, nulls[i].out), SAGEVEC_ERR_NULL_POINTER,
                  nulls[i].needle);
  }
  CHECK(out == -5);
  /* A word of bits is 8-byte aligned; i8 has no alignment to miss. */
  CHECK_FAILS(sagevec_distance(K, SAGEVEC_METRIC_HAMMING, SAGEVEC_ELEM_BITS, (const char *)words + 4,
                               bits, 2, &out),
              SAGEVEC_ERR_INVALID_ARGUMENT, "aligned to 8");
  CHECK_FAILS(sagevec_distance(K, SAGEVEC_METRIC_L2, SAGEVEC_ELEM_BF16, (const char *)outs + 2, xi8, 2,
                               &out),
              SAGEVEC_ERR_INVALID_ARGUMENT, "aligned to 4"); /* the f32 query */
  CHECK_OK(sagevec_distance(K, SAGEVEC_METRIC_L2, SAGEVEC_ELEM_I8, qi8, xi8 + 1, 7, &out));
  CHECK(out == 1 + 4 + 9 + 16 + 25 + 36 + 49);

  sagevec_matrix i8_rows = {xi8, 2, 8, 8}, bit_rows = {bits, 2, 4, 4};
  CHECK_FAILS(sagevec_distances(K, SAGEVEC_METRIC_IP, SAGEVEC_ELEM_I8, qi8, 7, i8_rows, outs, 2),
              SAGEVEC_ERR_LENGTH_MISMATCH, "dimension");
  CHECK_FAILS(sagevec_distances(K, SAGEVEC_METRIC_JACCARD, SAGEVEC_ELEM_BITS, words, 4, bit_rows, outs, 1),
              SAGEVEC_ERR_LENGTH_MISMATCH, "out");
  sagevec_matrix short_stride = {bits, 2, 4, 2};
  CHECK_FAILS(sagevec_distances(K, SAGEVEC_METRIC_JACCARD, SAGEVEC_ELEM_BITS, words, 4, short_stride, outs, 2),
              SAGEVEC_ERR_INVALID_ARGUMENT, "stride");
  sagevec_matrix null_bits = {NULL, 2, 4, 4};
  CHECK_FAILS(sagevec_distances(K, SAGEVEC_METRIC_HAMMING, SAGEVEC_ELEM_BITS, words, 4, null_bits, outs, 2),
              SAGEVEC_ERR_NULL_POINTER, "rows");
  uint32_t gids[2] = {1, 2};
  CHECK_FAILS(sagevec_distances_gather(K, SAGEVEC_METRIC_L2, SAGEVEC_ELEM_U8, qi8, 8, i8_rows, gids, 2, outs, 2),
              SAGEVEC_ERR_INVALID_ARGUMENT, "row id 2");
  CHECK_FAILS(sagevec_distances_gather(K, SAGEVEC_METRIC_HAMMING, SAGEVEC_ELEM_BITS, words, 4, bit_rows, gids, 1,
                                       outs, 2),
              SAGEVEC_ERR_LENGTH_MISMATCH, "out");
  CHECK(outs[0] == -5 && outs[1] == -5);

  /* Many-to-many: bits and f16 have none; i8/u8 have no cosine. */
  CHECK_FAILS(sagevec_knn(K, SAGEVEC_METRIC_HAMMING, SAGEVEC_ELEM_BITS, bit_rows, bit_rows, NULL, 1, ids, outs,
                          2),
              SAGEVEC_ERR_UNSUPPORTED, "bits rows have no many-to-many knn for hamming or jaccard");
  CHECK_FAILS(sagevec_knn(K, SAGEVEC_METRIC_L2, SAGEVEC_ELEM_BITS, bit_rows, bit_rows, NULL, 1, ids, outs, 2),
              SAGEVEC_ERR_UNSUPPORTED, "bits rows have no l2");
  CHECK_FAILS(sagevec_squared_norms(K, SAGEVEC_ELEM_BITS, bit_rows, outs, 2), SAGEVEC_ERR_UNSUPPORTED,
              "bits rows have no many-to-many");
  CHECK_FAILS(sagevec_knn(K, SAGEVEC_METRIC_COSINE, SAGEVEC_ELEM_U8, i8_rows, i8_rows, NULL, 1, ids, outs, 2),
              SAGEVEC_ERR_UNSUPPORTED, "u8 rows have no cosine");
  CHECK_FAILS(sagevec_knn(K, SAGEVEC_METRIC_L2, SAGEVEC_ELEM_I8, i8_rows, i8_rows, NULL, 1, ids, outs, 1),
              SAGEVEC_ERR_LENGTH_MISMATCH, "out_ids");
  CHECK_FAILS(sagevec_knn(K, SAGEVEC_METRIC_L2, SAGEVEC_ELEM_I8, i8_rows, i8_rows, NULL, 1, ids, NULL, 2),
              SAGEVEC_ERR_NULL_POINTER, "out_distances");
  CHECK(ids[0] == 9 && outs[0] == -5);
}

/* Scaled codes: the prepared query's inputs, the element types and metrics that
 * have scaled kernels (i8, u8; l2, ip), lengths, NULL handles. */
static void scaled_errors(void) {
  float q[4] = {1, 2, 3, 4}, sc[4] = {1, 1, 1, 1}, of[4] = {0, 0, 0, 0}, out = -5, outs[2] = {-5, -5};
  int8_t codes[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  sagevec_scaled_query *p = NULL;
  CHECK_FAILS(sagevec_scaled_query_new(q, NULL, of, 4, &p), SAGEVEC_ERR_NULL_POINTER, "scale is NULL");
  CHECK_FAILS(sagevec_scaled_query_new(q, sc, NULL, 4, &p), SAGEVEC_ERR_NULL_POINTER, "offset is NULL");
  CHECK_FAILS(sagevec_scaled_query_new(NULL, sc, of, 4, &p), SAGEVEC_ERR_NULL_POINTER, "query is NULL");
  CHECK_FAILS(sagevec_scaled_query_new(q, sc, of, 4, NULL), SAGEVEC_ERR_NULL_POINTER, "out");
  CHECK_FAILS(sagevec_scaled_query_new((const float *)((const char *)q + 1), sc, of, 2, &p),
              SAGEVEC_ERR_INVALID_ARGUMENT, "aligned");
  CHECK(p == NULL);
  CHECK_OK(sagevec_scaled_query_new(q, sc, of, 4, &p));
  CHECK_FAILS(sagevec_scaled_query_set(NULL, q, sc, of, 4), SAGEVEC_ERR_NULL_POINTER, "q is NULL");
  CHECK_FAILS(sagevec_scaled_query_set(p, q, NULL, of, 4), SAGEVEC_ERR_NULL_POINTER, "scale");
  size_t dim = 0;
  CHECK_OK(sagevec_scaled_query_dim(p, &dim));
  CHECK(dim == 4); /* the failed set changed nothing */
  CHECK_FAILS(sagevec_scaled_query_dim(NULL, &dim), SAGEVEC_ERR_NULL_POINTER, "q is NULL");
  CHECK_FAILS(sagevec_scaled_query_dim(p, NULL), SAGEVEC_ERR_NULL_POINTER, "out");

  CHECK_OK(sagevec_scaled_distance(K, SAGEVEC_METRIC_L2, SAGEVEC_ELEM_I8, p, codes, 4, &out));
  CHECK(out == 0.0f); /* codes 1..4 with scale 1, offset 0 are the query */
  out = -5;
  /* Element types without scaled kernels, metrics they lack, unknown codes. */
  static const struct code_case scaled_codes[] = {
      {SAGEVEC_METRIC_L2, SAGEVEC_ELEM_F32, SAGEVEC_ERR_UNSUPPORTED, "f32 rows have no scaled kernels"},
      {SAGEVEC_METRIC_L2, SAGEVEC_ELEM_BITS, SAGEVEC_ERR_UNSUPPORTED, "bits rows have no scaled kernels"},
      {SAGEVEC_METRIC_L2, 6, SAGEVEC_ERR_INVALID_ARGUMENT, "element code 6"},
      {SAGEVEC_METRIC_COSINE, SAGEVEC_ELEM_U8, SAGEVEC_ERR_UNSUPPORTED, "u8 rows have no cosine"},
      {SAGEVEC_METRIC_HAMMING, SAGEVEC_ELEM_I8, SAGEVEC_ERR_UNSUPPORTED, "i8 rows have no hamming"},
      {5, SAGEVEC_ELEM_I8, SAGEVEC_ERR_INVALID_ARGUMENT, "metric code 5"},
  };
  for (size_t i = 0; i < sizeof scaled_codes / sizeof scaled_codes[0]; ++i)
    CHECK_FAILS(sagevec_scaled_distance(K, scaled_codes[i].metric, scaled_codes[i].elem, p, q, 4, &out),
                scaled_codes[i].status, scaled_codes[i].needle);
  CHECK_FAILS(sagevec_scaled_distance(K, SAGEVEC_METRIC_L2, SAGEVEC_ELEM_I8, p, codes, 3, &out),
              SAGEVEC_ERR_LENGTH_MISMATCH, "dimension");
  const struct {
    const sagevec_kernels *k;
    const sagevec_scaled_query *q;
    const void *row;
    float *out;
    const char *needle;
  } nulls[] = {{NULL, p, codes, &out, "kernels"},
               {K, NULL, codes, &out, "q is NULL"},
               {K, p, NULL, &out, "row is NULL"},
               {K, p, codes, NULL, "out"}};
  for (size_t i = 0; i < sizeof nulls / sizeof nulls[0]; ++i)
    CHECK_FAILS(sagevec_scaled_distance(nulls[i].k, SAGEVEC_METRIC_L2, SAGEVEC_ELEM_I8, nulls[i].q, nulls[i].row, 4,
                                        nulls[i].out),
                SAGEVEC_ERR_NULL_POINTER, nulls[i].needle);
  CHECK(out == -5);

  sagevec_matrix rows = {codes, 2, 4, 4}, wide = {codes, 1, 8, 8};
  CHECK_FAILS(sagevec_scaled_distances(K, SAGEVEC_METRIC_IP, SAGEVEC_ELEM_U8, p, rows, outs, 1),
              SAGEVEC_ERR_LENGTH_MISMATCH, "out");
  CHECK_FAILS(sagevec_scaled_distances(K, SAGEVEC_METRIC_IP, SAGEVEC_ELEM_U8, p, wide, outs, 1),
              SAGEVEC_ERR_LENGTH_MISMATCH, "dimension");
  CHECK_FAILS(sagevec_scaled_distances(K, SAGEVEC_METRIC_IP, SAGEVEC_ELEM_F16, p, rows, outs, 2),
              SAGEVEC_ERR_UNSUPPORTED, "f16 rows have no scaled kernels");
  CHECK_FAILS(sagevec_scaled_distances(K, SAGEVEC_METRIC_IP, SAGEVEC_ELEM_U8, p, rows, NULL, 2),
              SAGEVEC_ERR_NULL_POINTER, "out");
  CHECK(outs[0] == -5 && outs[1] == -5);
  CHECK_OK(sagevec_scaled_distances(K, SAGEVEC_METRIC_IP, SAGEVEC_ELEM_U8, p, rows, outs, 2));
  CHECK(outs[0] == -30.0f && outs[1] == -70.0f); /* -(1,2,3,4).(1,2,3,4), -(1,2,3,4).(5,6,7,8) */
  sagevec_scaled_query_free(p);
  sagevec_scaled_query_free(NULL);
}

static void index_errors(const char *tmp) {
  sagevec_index *ix = NULL;
  sagevec_index_options o;
  CHECK_FAILS(sagevec_index_options_default(NULL), SAGEVEC_ERR_NULL_POINTER, "out");
  CHECK_OK(sagevec_index_options_default(&o));
  CHECK(o.m == 16 && o.ef_construction == 200 && o.ef_search == 64);

  CHECK_FAILS(sagevec_index_create(0, SAGEVEC_METRIC_L2, NULL, &ix), SAGEVEC_ERR_INVALID_ARGUMENT, "dim");
  CHECK_FAILS(sagevec_index_create(4, 5, NULL, &ix), SAGEVEC_ERR_INVALID_ARGUMENT, "metric code 5");
  CHECK_FAILS(sagevec_index_create(4, SAGEVEC_METRIC_HAMMING, NULL, &ix), SAGEVEC_ERR_INVALID_ARGUMENT,
              "hamming is not a metric of f32");
  CHECK_FAILS(sagevec_index_create(4, 0, NULL, NULL), SAGEVEC_ERR_NULL_POINTER, "out");
  o.m = 1;
  CHECK_FAILS(sagevec_index_create(4, 0, &o, &ix), SAGEVEC_ERR_INVALID_ARGUMENT, "m");
  CHECK_OK(sagevec_index_options_default(&o));
  o.traversal = 7;
  CHECK_FAILS(sagevec_index_create(4, 0, &o, &ix), SAGEVEC_ERR_INVALID_ARGUMENT, "traversal");
  CHECK_OK(sagevec_index_options_default(&o));
  o.durability = SAGEVEC_DURABILITY_PERIODIC;
  CHECK_FAILS(sagevec_index_create(4, 0, &o, &ix), SAGEVEC_ERR_INVALID_ARGUMENT, "sync_interval_ms");
  o.durability = 9;
  CHECK_FAILS(sagevec_index_create(4, 0, &o, &ix), SAGEVEC_ERR_INVALID_ARGUMENT, "durability");
  CHECK(ix == NULL);

  CHECK_OK(sagevec_index_create(4, SAGEVEC_METRIC_COSINE, NULL, &ix));
  float v[8] = {1, 0, 0, 0, 0, 1, 0, 0};
  uint64_t ids[2] = {5, 5}, got[2] = {0, 0}, version = 12345;
  CHECK_FAILS(sagevec_index_add(NULL, NULL, v, 2, 4, NULL, NULL, NULL), SAGEVEC_ERR_NULL_POINTER, "index");
  CHECK_FAILS(sagevec_index_add(ix, NULL, v, 2, 3, NULL, NULL, NULL), SAGEVEC_ERR_LENGTH_MISMATCH, "dim");
  CHECK_FAILS(sagevec_index_add(ix, NULL, NULL, 2, 4, NULL, NULL, NULL), SAGEVEC_ERR_NULL_POINTER, "vectors");
  CHECK_FAILS(sagevec_index_add(ix, ids, v, 2, 4, NULL, got, &version), SAGEVEC_ERR_INVALID_ARGUMENT,
              "twice");
  ids[0] = UINT64_MAX;
  CHECK_FAILS(sagevec_index_add(ix, ids, v, 1, 4, NULL, got, &version), SAGEVEC_ERR_INVALID_ARGUMENT, "2^63");
  float zero[4] = {0, 0, 0, 0}, nan[4] = {1, 0, 0, 0};
  nan[2] = 0.0f / 0.0f;
  CHECK_FAILS(sagevec_index_add(ix, NULL, zero, 1, 4, NULL, NULL, NULL), SAGEVEC_ERR_INVALID_ARGUMENT, "zero");
  CHECK_FAILS(sagevec_index_add(ix, NULL, nan, 1, 4, NULL, NULL, NULL), SAGEVEC_ERR_INVALID_ARGUMENT, "NaN");
  const char *bad_json[][2] = {
      {"{\"a\": [1]}", "\"a\""},
      {"{\"a\": 1, \"a\": 2}", "twice"},
      {"{\"a\": 99999999999999999999}", "64-bit"},
      {"[1]", "object"},
      {"{\"a\": null}", "\"a\""},
      {"{\"a\": 1", "metadata[1]"},
  };
  for (size_t i = 0; i < sizeof bad_json / sizeof bad_json[0]; ++i) {
    const char *meta[2] = {"{\"ok\": true}", bad_json[i][0]};
    CHECK_FAILS(sagevec_index_add(ix, NULL, v, 2, 4, meta, got, &version), SAGEVEC_ERR_BAD_JSON, bad_json[i][1]);
  }
  CHECK(got[0] == 0 && got[1] == 0 && version == 12345); /* nothing written */
  size_t len = 99;
  CHECK_OK(sagevec_index_len(ix, &len));
  CHECK(len == 0); /* nothing added by any failed call */

  CHECK_OK(sagevec_index_add(ix, NULL, v, 2, 4, NULL, got, &version));
  uint64_t out_ids[3];
  float out_d[3];
  CHECK_FAILS(sagevec_index_search(ix, v, 4, 0, NULL, out_ids, out_d, NULL), SAGEVEC_ERR_INVALID_ARGUMENT, "k");
  CHECK_FAILS(sagevec_index_search(ix, v, 3, 2, NULL, out_ids, out_d, NULL), SAGEVEC_ERR_LENGTH_MISMATCH,
              "dimension");
  CHECK_FAILS(sagevec_index_search(ix, v, 4, 2, NULL, NULL, out_d, NULL), SAGEVEC_ERR_NULL_POINTER, "out_ids");
  CHECK_FAILS(sagevec_index_search(ix, NULL, 4, 2, NULL, out_ids, out_d, NULL), SAGEVEC_ERR_NULL_POINTER,
              "query");
  sagevec_search_params p;
  CHECK_OK(sagevec_search_params_default(&p));
  p.filter_by_ids = true;
  p.n_ids = 3;
  CHECK_FAILS(sagevec_index_search(ix, v, 4, 2, &p, out_ids, out_d, NULL), SAGEVEC_ERR_NULL_POINTER, "ids");
  CHECK_FAILS(sagevec_index_batch_search(ix, v, 2, 4, 2, NULL, out_ids, out_d, 3, NULL),
              SAGEVEC_ERR_LENGTH_MISMATCH, "out_len");
  CHECK_FAILS(sagevec_index_batch_search(ix, v, 2, 4, 0, NULL, out_ids, out_d, 0, NULL),
              SAGEVEC_ERR_INVALID_ARGUMENT, "k");
  CHECK_FAILS(sagevec_index_batch_search(ix, v, 1, 2, 2, NULL, out_ids, out_d, 2, NULL),
              SAGEVEC_ERR_LENGTH_MISMATCH, "dim");

  char *json = (char *)"untouched";
  CHECK_FAILS(sagevec_index_metadata(ix, 77, &json), SAGEVEC_ERR_NOT_FOUND, "77");
  CHECK(strcmp(json, "untouched") == 0);
  CHECK_FAILS(sagevec_index_metadata(ix, 0, NULL), SAGEVEC_ERR_NULL_POINTER, "out_json");
  CHECK_FAILS(sagevec_index_stats(ix, NULL), SAGEVEC_ERR_NULL_POINTER, "out_json");
  CHECK_FAILS(sagevec_index_len(ix, NULL), SAGEVEC_ERR_NULL_POINTER, "out");
  CHECK_FAILS(sagevec_index_remove(ix, NULL, 2, NULL, NULL), SAGEVEC_ERR_NULL_POINTER, "ids");

  /* Closed: every call says so; closing again is fine; free still works. */
  CHECK_OK(sagevec_index_close(ix));
  CHECK_OK(sagevec_index_close(ix));
  CHECK_FAILS(sagevec_index_len(ix, &len), SAGEVEC_ERR_CLOSED, "closed");
  CHECK_FAILS(sagevec_index_search(ix, v, 4, 1, NULL, out_ids, out_d, NULL), SAGEVEC_ERR_CLOSED, "closed");
  CHECK_FAILS(sagevec_index_add(ix, NULL, v, 1, 4, NULL, NULL, NULL), SAGEVEC_ERR_CLOSED, "closed");
  CHECK_FAILS(sagevec_index_checkpoint(ix), SAGEVEC_ERR_CLOSED, "closed");
  CHECK_FAILS(sagevec_index_close(NULL), SAGEVEC_ERR_NULL_POINTER, "index");
  sagevec_index_free(ix);

  /* Durable: a second writer is locked out, a mismatched shape is refused, a
   * read-only open refuses writes, a missing directory for read-only fails. */
  char dir[4096];
  snprintf(dir, sizeof dir, "%s/errors-durable", tmp);
  CHECK_FAILS(sagevec_index_open(NULL, 4, 0, NULL, &ix), SAGEVEC_ERR_NULL_POINTER, "dir");
  CHECK_FAILS(sagevec_index_open("", 4, 0, NULL, &ix), SAGEVEC_ERR_INVALID_ARGUMENT, "dir");
  sagevec_index *w = NULL, *w2 = NULL, *ro = NULL;
  CHECK_OK(sagevec_index_open(dir, 4, SAGEVEC_METRIC_L2, NULL, &w));
  CHECK_OK(sagevec_index_add(w, NULL, v, 2, 4, NULL, NULL, NULL));
  CHECK_FAILS(sagevec_index_open(dir, 4, SAGEVEC_METRIC_L2, NULL, &w2), SAGEVEC_ERR_LOCKED, "locked");
  CHECK_OK(sagevec_index_close(w));
  sagevec_index_free(w);
  CHECK_FAILS(sagevec_index_open(dir, 5, SAGEVEC_METRIC_L2, NULL, &w2), SAGEVEC_ERR_CONFIG_MISMATCH, "dim");
  CHECK_FAILS(sagevec_index_open(dir, 4, SAGEVEC_METRIC_IP, NULL, &w2), SAGEVEC_ERR_CONFIG_MISMATCH, "metric");
  CHECK(w2 == NULL);
  CHECK_OK(sagevec_index_options_default(&o));
  o.read_only = true;
  CHECK_OK(sagevec_index_open(dir, 4, SAGEVEC_METRIC_L2, &o, &ro));
  CHECK_OK(sagevec_index_len(ro, &len));
  CHECK(len == 2);
  CHECK_FAILS(sagevec_index_add(ro, NULL, v, 1, 4, NULL, NULL, NULL), SAGEVEC_ERR_READ_ONLY, "read-only");
  CHECK_FAILS(sagevec_index_remove(ro, got, 1, NULL, NULL), SAGEVEC_ERR_READ_ONLY, "read-only");
  sagevec_index_free(ro);
  char missing[4096];
  snprintf(missing, sizeof missing, "%s/no-such-dir/below", tmp);
  CHECK_STATUS(sagevec_index_open(missing, 4, SAGEVEC_METRIC_L2, &o, &ro), SAGEVEC_ERR_IO);
}

int main(void) {
  const char *tmp = getenv("SAGEVEC_CAPI_TMP");
  if (tmp == NULL) tmp = "/tmp";
  CHECK(strcmp(sagevec_last_error(), "") == 0); /* nothing failed yet */
  CHECK_OK(sagevec_kernels_active(&K));
  names_and_codes();
  kernel_errors();
  typed_kernel_errors();
  scaled_errors();
  index_errors(tmp);
  return check_report("test_errors");
}
