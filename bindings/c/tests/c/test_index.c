/* The index round trip through the C ABI: create, add with metadata, search and
 * batch search (with padding and an id allow-list), metadata typed as in Python,
 * remove, stats, then a durable directory: add, checkpoint, close, reopen, and
 * the same answers again. */
#include <math.h>
#include <stdint.h>

#include "check.h"

#define DIM 8
#define N 300

/* Row i: pseudo-random in [-4, 4)^DIM, a function of i (rows are distinct). */
static void row(size_t i, float *out) {
  uint64_t s = (uint64_t)i * 0x9E3779B97F4A7C15ull + 1;
  for (size_t j = 0; j < DIM; ++j) {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    out[j] = (float)(s >> 40) / (float)(1 << 24) * 8.0f - 4.0f;
  }
}

static double l2(const float *a, const float *b) {
  double s = 0;
  for (size_t j = 0; j < DIM; ++j) s += ((double)a[j] - b[j]) * ((double)a[j] - b[j]);
  return s;
}

static void basic(void) {
  sagevec_index *ix = NULL;
  sagevec_index_options o;
  CHECK_OK(sagevec_index_options_default(&o));
  o.ef_construction = 64;
  CHECK_OK(sagevec_index_create(DIM, SAGEVEC_METRIC_L2, &o, &ix));
  size_t dim = 0;
  sagevec_metric metric = 9;
  CHECK_OK(sagevec_index_shape(ix, &dim, &metric));
  CHECK(dim == DIM && metric == SAGEVEC_METRIC_L2);

  /* Searching an empty index: all padding, version 0. */
  float q[DIM];
  row(0, q);
  uint64_t ids[5];
  float d[5];
  uint64_t version = 99;
  CHECK_OK(sagevec_index_search(ix, q, DIM, 5, NULL, ids, d, &version));
  CHECK(version == 0);
  for (int j = 0; j < 5; ++j) CHECK(ids[j] == UINT64_MAX && isinf(d[j]) && d[j] > 0);

  static float data[N * DIM];
  for (size_t i = 0; i < N; ++i) row(i, data + i * DIM);
  /* Auto ids for the first half, with metadata on a few rows. */
  const char *meta[N / 2];
  for (size_t i = 0; i < N / 2; ++i) meta[i] = NULL;
  meta[3] = "{\"year\": 2020, \"score\": 1.0, \"lang\": \"en\", \"new\": true}";
  meta[4] = "{\"year\": 2020.0}";
  meta[5] = "null";
  uint64_t got[N / 2];
  uint64_t v1 = 0;
  CHECK_OK(sagevec_index_add(ix, NULL, data, N / 2, DIM, meta, got, &v1));
  for (size_t i = 0; i < N / 2; ++i) CHECK(got[i] == i);
  CHECK(v1 >= 1);
  /* Chosen ids for the second half. */
  uint64_t chosen[N / 2];
  for (size_t i = 0; i < N / 2; ++i) chosen[i] = 1000 + i;
  uint64_t v2 = 0;
  CHECK_OK(sagevec_index_add(ix, chosen, data + (N / 2) * DIM, N / 2, DIM, NULL, NULL, &v2));
  CHECK(v2 > v1);
  size_t len = 0;
  CHECK_OK(sagevec_index_len(ix, &len));
  CHECK(len == N);
  uint64_t now = 0;
  CHECK_OK(sagevec_index_version(ix, &now));
  CHECK(now >= v2);
  bool has = false;
  CHECK_OK(sagevec_index_contains(ix, 1000 + 7, &has));
  CHECK(has);
  CHECK_OK(sagevec_index_contains(ix, N / 2, &has));
  CHECK(!has);

  /* Metadata: 1 and 1.0 stay apart; no record is "null". */
  char *json = NULL;
  CHECK_OK(sagevec_index_metadata(ix, 3, &json));
  CHECK_MSG(json && strcmp(json, "{\"lang\":\"en\",\"new\":true,\"score\":1.0,\"year\":2020}") == 0, "%s", json);
  sagevec_string_free(json);
  CHECK_OK(sagevec_index_metadata(ix, 4, &json));
  CHECK_MSG(json && strcmp(json, "{\"year\":2020.0}") == 0, "%s", json);
  sagevec_string_free(json);
  CHECK_OK(sagevec_index_metadata(ix, 5, &json));
  CHECK(json && strcmp(json, "null") == 0);
  sagevec_string_free(json);
  CHECK_OK(sagevec_index_metadata(ix, 1001, &json));
  CHECK(json && strcmp(json, "null") == 0);
  sagevec_string_free(json);

  /* Every row finds itself first, exact and by graph. */
  sagevec_search_params p;
  CHECK_OK(sagevec_search_params_default(&p));
  for (size_t i = 0; i < N; i += 13) {
    uint64_t want = i < N / 2 ? i : 1000 + (i - N / 2);
    p.exact = (i % 2) == 0;
    CHECK_OK(sagevec_index_search(ix, data + i * DIM, DIM, 3, &p, ids, d, &version));
    CHECK_MSG(ids[0] == want && d[0] == 0.0f, "row %zu: got %llu at %g", i, (unsigned long long)ids[0], d[0]);
    CHECK(d[0] <= d[1] && d[1] <= d[2]);
    CHECK(version >= v2);
  }
  /* Distances are the squared L2 of the rows. */
  row(2, q);
  q[0] += 0.5f;
  p.exact = true;
  CHECK_OK(sagevec_index_search(ix, q, DIM, 5, &p, ids, d, NULL));
  for (int j = 0; j < 5; ++j) {
    size_t r = ids[j] < 1000 ? ids[j] : N / 2 + (ids[j] - 1000);
    CHECK(fabs(d[j] - l2(q, data + r * DIM)) <= 1e-3 * (1 + l2(q, data + r * DIM)));
  }

  /* The allow-list: only these ids, padded past them; an empty list admits none. */
  uint64_t allow[2] = {1010, 17};
  p.exact = false;
  p.filter_by_ids = true;
  p.ids = allow;
  p.n_ids = 2;
  CHECK_OK(sagevec_index_search(ix, q, DIM, 4, &p, ids, d, NULL));
  CHECK((ids[0] == 1010 && ids[1] == 17) || (ids[0] == 17 && ids[1] == 1010));
  CHECK(ids[2] == UINT64_MAX && ids[3] == UINT64_MAX && isinf(d[2]));
  p.n_ids = 0;
  CHECK_OK(sagevec_index_search(ix, q, DIM, 2, &p, ids, d, NULL));
  CHECK(ids[0] == UINT64_MAX && ids[1] == UINT64_MAX);

  /* Batch search: one snapshot, row-major, the same answers as one by one. */
  enum { NQ = 6, K = 4 };
  uint64_t bids[NQ * K];
  float bd[NQ * K];
  uint64_t bv = 0;
  p.filter_by_ids = false;
  p.exact = true;
  CHECK_OK(sagevec_index_batch_search(ix, data, NQ, DIM, K, &p, bids, bd, NQ * K, &bv));
  CHECK(bv >= v2);
  for (size_t qi = 0; qi < NQ; ++qi) {
    CHECK_OK(sagevec_index_search(ix, data + qi * DIM, DIM, K, &p, ids, d, NULL));
    CHECK(bids[qi * K] == qi);
    for (int j = 0; j < K; ++j) CHECK(bids[qi * K + j] == ids[j] && bd[qi * K + j] == d[j]);
  }
  /* k past the index's size pads every row. */
  uint64_t wide[2 * (N + 3)];
  float wd[2 * (N + 3)];
  CHECK_OK(sagevec_index_batch_search(ix, data, 2, DIM, N + 3, &p, wide, wd, 2 * (N + 3), NULL));
  CHECK(wide[N - 1] != UINT64_MAX && wide[N] == UINT64_MAX && wide[2 * (N + 3) - 1] == UINT64_MAX);
  CHECK_OK(sagevec_index_batch_search(ix, NULL, 0, DIM, 3, NULL, NULL, NULL, 0, &bv));

  /* Remove: counted, gone from searches, unknown ids skipped. */
  uint64_t gone[3] = {0, 1000, 424242};
  size_t removed = 0;
  uint64_t rv = 0;
  CHECK_OK(sagevec_index_remove(ix, gone, 3, &removed, &rv));
  CHECK(removed == 2 && rv > v2);
  CHECK_OK(sagevec_index_len(ix, &len));
  CHECK(len == N - 2);
  CHECK_OK(sagevec_index_search(ix, data, DIM, 3, &p, ids, d, &version));
  CHECK(version >= rv && ids[0] != 0 && ids[1] != 0 && ids[2] != 0);
  CHECK_STATUS(sagevec_index_metadata(ix, 0, &json), SAGEVEC_ERR_NOT_FOUND);

  /* Upsert: the id stays, its vector and metadata are the new ones. */
  uint64_t up = 3;
  const char *new_meta[1] = {"{\"year\": 2021}"};
  CHECK_OK(sagevec_index_add(ix, &up, data + 200 * DIM, 1, DIM, new_meta, NULL, NULL));
  CHECK_OK(sagevec_index_metadata(ix, 3, &json));
  CHECK(json && strcmp(json, "{\"year\":2021}") == 0);
  sagevec_string_free(json);
  CHECK_OK(sagevec_index_len(ix, &len));
  CHECK(len == N - 2);

  char *stats = NULL;
  CHECK_OK(sagevec_index_stats(ix, &stats));
  CHECK(stats && strstr(stats, "\"len\":298") != NULL);
  CHECK(stats && strstr(stats, "\"metric\":\"l2\"") != NULL);
  CHECK(stats && strstr(stats, "\"memory_bytes\":{") != NULL);
  CHECK(stats && strstr(stats, "\"vectors_removed\":2") != NULL);
  printf("stats: %s\n", stats ? stats : "(none)");
  sagevec_string_free(stats);
  CHECK_OK(sagevec_index_checkpoint(ix)); /* in memory: nothing to do */
  CHECK_OK(sagevec_index_close(ix));
  sagevec_index_free(ix);
}

static void durable(const char *tmp) {
  char dir[4096];
  snprintf(dir, sizeof dir, "%s/index-durable", tmp);
  static float data[N * DIM];
  for (size_t i = 0; i < N; ++i) row(i, data + i * DIM);
  sagevec_index *ix = NULL;
  sagevec_index_options o;
  CHECK_OK(sagevec_index_options_default(&o));
  o.ef_construction = 64;
  o.durability = SAGEVEC_DURABILITY_OFF;
  CHECK_OK(sagevec_index_open(dir, DIM, SAGEVEC_METRIC_L2, &o, &ix));
  const char *meta[2] = {"{\"k\": 1}", "{\"k\": 1.5}"};
  CHECK_OK(sagevec_index_add(ix, NULL, data, 2, DIM, meta, NULL, NULL));
  CHECK_OK(sagevec_index_add(ix, NULL, data + 2 * DIM, N - 2, DIM, NULL, NULL, NULL));
  CHECK_OK(sagevec_index_checkpoint(ix));
  uint64_t drop[1] = {7};
  CHECK_OK(sagevec_index_remove(ix, drop, 1, NULL, NULL)); /* logged after the checkpoint */
  uint64_t before[N * 3];
  float before_d[N * 3];
  sagevec_search_params p;
  CHECK_OK(sagevec_search_params_default(&p));
  CHECK_OK(sagevec_index_batch_search(ix, data, N, DIM, 3, &p, before, before_d, N * 3, NULL));
  char *stats = NULL;
  CHECK_OK(sagevec_index_stats(ix, &stats));
  CHECK(stats && strstr(stats, "\"checkpoints\":") != NULL);
  sagevec_string_free(stats);
  CHECK_OK(sagevec_index_close(ix));
  sagevec_index_free(ix);

  /* Reopen: the same rows, metadata types and answers. */
  CHECK_OK(sagevec_index_open(dir, DIM, SAGEVEC_METRIC_L2, &o, &ix));
  size_t len = 0;
  CHECK_OK(sagevec_index_len(ix, &len));
  CHECK(len == N - 1);
  bool has = true;
  CHECK_OK(sagevec_index_contains(ix, 7, &has));
  CHECK(!has);
  char *json = NULL;
  CHECK_OK(sagevec_index_metadata(ix, 0, &json));
  CHECK(json && strcmp(json, "{\"k\":1}") == 0);
  sagevec_string_free(json);
  CHECK_OK(sagevec_index_metadata(ix, 1, &json));
  CHECK(json && strcmp(json, "{\"k\":1.5}") == 0);
  sagevec_string_free(json);
  uint64_t after[N * 3];
  float after_d[N * 3];
  p.exact = true;
  CHECK_OK(sagevec_index_batch_search(ix, data, N, DIM, 3, &p, after, after_d, N * 3, NULL));
  size_t same_first = 0;
  for (size_t i = 0; i < N; ++i) {
    if (i == 7) continue;
    CHECK_MSG(after[i * 3] == i, "row %zu after reopen: %llu", i, (unsigned long long)after[i * 3]);
    same_first += before[i * 3] == after[i * 3];
  }
  CHECK(same_first == N - 1); /* the graph before close found every row too */
  uint64_t more[1];
  CHECK_OK(sagevec_index_add(ix, NULL, data, 1, DIM, NULL, more, NULL));
  CHECK(more[0] == N); /* auto ids go on after the largest ever used */
  CHECK_OK(sagevec_index_close(ix));
  sagevec_index_free(ix);
}

int main(void) {
  const char *tmp = getenv("SAGEVEC_CAPI_TMP");
  if (tmp == NULL) tmp = "/tmp";
  basic();
  durable(tmp);
  return check_report("test_index");
}
