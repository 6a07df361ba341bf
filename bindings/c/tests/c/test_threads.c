/* One index handle shared by 4 searching threads and 1 writing thread (pthreads),
 * checking the invariants of the Rust stress test (index/tests/stress.rs):
 *
 * 1. no torn batch: a filtered exact search over one batch's ids finds all of
 *    them or none;
 * 2. versions never go backwards for one reader;
 * 3. an acknowledged, stable, live id is found by an exact self-query;
 * 4. no id whose remove returned before a search started is returned by it
 *    (single and batch search);
 * and for the writer, read-your-writes: every id of a batch is there when its add
 * returns. At the end, with no thread running, len() and contains() match the
 * model, and the handle is closed while nothing runs.
 *
 * The writer adds batches of fresh ids, upserts whole batches with a new
 * generation, and removes whole batches; a batch's vectors are a function of
 * (id, generation). SAGEVEC_CAPI_QUICK=1 (valgrind) runs fewer operations. */
#define _POSIX_C_SOURCE 200809L /* nanosleep */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "check.h"

#define DIM 8
#define READERS 4
#define MAX_BATCHES 4096
#define MAX_IDS (MAX_BATCHES * 24)
#define LIVE_ROWS 1500
/* Every PACE writer operations, the writer waits (at most ~10 s) until some reader
 * has made a stable self-query check since its last wait: valgrind runs one thread
 * at a time, and without this the writer can finish its 60 quick operations before
 * any reader gets a turn, leaving invariant 3 unchecked. */
#define PACE 10

typedef struct {
  uint64_t first;
  size_t n;
  atomic_bool busy, added, removed;
  atomic_uint_fast64_t generation;
} batch;

static sagevec_index *IX;
static batch BATCHES[MAX_BATCHES];
static atomic_size_t N_BATCHES;
static atomic_bool WRITER_DONE;
/* removed_seq[id]: the REMOVES count just after that id's remove returned (0: never). */
static atomic_uint_fast64_t REMOVED_SEQ[MAX_IDS];
static atomic_uint_fast64_t REMOVES;
static atomic_int VIOLATIONS;
static atomic_long CHECKS;

static void violation(const char *what, unsigned long long a, unsigned long long b) {
  if (atomic_fetch_add(&VIOLATIONS, 1) < 20) fprintf(stderr, "VIOLATION: %s (%llu, %llu)\n", what, a, b);
}

static void vector(uint64_t id, uint64_t gen, float *out) {
  uint64_t s = id * 0x9E3779B97F4A7C15ull + gen * 0xD1B54A32D192ED03ull + 1;
  for (int j = 0; j < DIM; ++j) {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    out[j] = (float)(s >> 40) / (float)(1 << 24) * 8.0f - 4.0f;
  }
}

static uint64_t rng_next(uint64_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

static int add_batch(batch *b, uint64_t gen) {
  static float data[24 * DIM];
  uint64_t ids[24];
  for (size_t i = 0; i < b->n; ++i) {
    ids[i] = b->first + i;
    vector(ids[i], gen, data + i * DIM);
  }
  return sagevec_index_add(IX, ids, data, b->n, DIM, NULL, NULL, NULL);
}

/* Waits until CHECKS has moved past `seen` (or ~10 s pass); returns its value. */
static long wait_for_a_check(long seen) {
  struct timespec ms = {0, 1000000};
  for (int i = 0; i < 10000 && atomic_load(&CHECKS) <= seen; ++i) nanosleep(&ms, NULL);
  return atomic_load(&CHECKS);
}

static void *writer(void *arg) {
  size_t ops = *(size_t *)arg;
  uint64_t rng = 0x12345678, next_id = 0;
  size_t live_rows = 0;
  long checks_seen = 0;
  for (size_t op = 0; op < ops; ++op) {
    if (op > 0 && op % PACE == 0) checks_seen = wait_for_a_check(checks_seen);
    size_t nb = atomic_load(&N_BATCHES);
    size_t roll = rng_next(&rng) % 10;
    /* Live batches to pick from for an upsert or a remove. */
    size_t live[MAX_BATCHES], n_live = 0;
    for (size_t i = 0; i < nb; ++i)
      if (!atomic_load(&BATCHES[i].removed)) live[n_live++] = i;
    if (((roll < 6 && live_rows < LIVE_ROWS) || n_live < 3) && nb < MAX_BATCHES) {
      batch *b = &BATCHES[nb];
      b->first = next_id;
      b->n = 1 + rng_next(&rng) % 24;
      next_id += b->n;
      atomic_store(&b->busy, true);
      atomic_store(&b->generation, 0);
      atomic_store(&N_BATCHES, nb + 1);
      sagevec_status st = add_batch(b, 0);
      if (st != SAGEVEC_OK) violation("add failed", (unsigned long long)st, 0);
      atomic_store(&b->added, true);
      atomic_store(&b->busy, false);
      live_rows += b->n;
      for (size_t i = 0; i < b->n; ++i) {
        bool has = false;
        sagevec_index_contains(IX, b->first + i, &has);
        if (!has) violation("id missing right after its add returned", b->first + i, 0);
      }
    } else if (roll < 8 && n_live > 0) {
      batch *b = &BATCHES[live[rng_next(&rng) % n_live]];
      uint64_t g = atomic_load(&b->generation) + 1;
      atomic_store(&b->busy, true);
      if (add_batch(b, g) != SAGEVEC_OK) violation("upsert failed", b->first, g);
      atomic_store(&b->generation, g);
      atomic_store(&b->busy, false);
    } else if (n_live > 0) {
      batch *b = &BATCHES[live[rng_next(&rng) % n_live]];
      uint64_t ids[24];
      for (size_t i = 0; i < b->n; ++i) ids[i] = b->first + i;
      atomic_store(&b->busy, true);
      size_t removed = 0;
      if (sagevec_index_remove(IX, ids, b->n, &removed, NULL) != SAGEVEC_OK) violation("remove failed", b->first, 0);
      if (removed != b->n) violation("remove counted", removed, b->n);
      uint64_t seq = atomic_fetch_add(&REMOVES, 1) + 1;
      for (size_t i = 0; i < b->n; ++i) atomic_store(&REMOVED_SEQ[ids[i]], seq);
      atomic_store(&b->removed, true);
      atomic_store(&b->busy, false);
      live_rows -= b->n;
    }
  }
  atomic_store(&WRITER_DONE, true);
  return NULL;
}

/* A returned id whose remove returned before the search started (seq <= s0). */
static void check_not_removed(const uint64_t *ids, size_t n, uint64_t s0) {
  for (size_t i = 0; i < n; ++i) {
    if (ids[i] == UINT64_MAX || ids[i] >= MAX_IDS) continue;
    uint64_t seq = atomic_load(&REMOVED_SEQ[ids[i]]);
    if (seq != 0 && seq <= s0) violation("removed id returned", ids[i], seq);
  }
}

static void *reader(void *arg) {
  uint64_t rng = 0xABCDEF01 + (uint64_t)(uintptr_t)arg, last_version = 0;
  sagevec_search_params exact, graph;
  sagevec_search_params_default(&exact);
  sagevec_search_params_default(&graph);
  exact.exact = true;
  while (!atomic_load(&WRITER_DONE)) {
    size_t nb = atomic_load(&N_BATCHES);
    if (nb == 0) continue;
    batch *b = &BATCHES[rng_next(&rng) % nb];
    bool busy0 = atomic_load(&b->busy), added0 = atomic_load(&b->added);
    bool removed0 = atomic_load(&b->removed);
    uint64_t gen0 = atomic_load(&b->generation);
    uint64_t s0 = atomic_load(&REMOVES);

    /* 1. No torn batch. */
    uint64_t allow[24], ids[24], version = 0;
    float d[24], q[DIM];
    for (size_t i = 0; i < b->n; ++i) allow[i] = b->first + i;
    sagevec_search_params filtered = exact;
    filtered.filter_by_ids = true;
    filtered.ids = allow;
    filtered.n_ids = b->n;
    vector(b->first, gen0, q);
    if (sagevec_index_search(IX, q, DIM, b->n, &filtered, ids, d, &version) != SAGEVEC_OK)
      violation("filtered search failed", b->first, 0);
    size_t found = 0;
    for (size_t i = 0; i < b->n; ++i) found += ids[i] != UINT64_MAX;
    if (found != 0 && found != b->n) violation("torn batch", found, b->n);
    /* 2. Versions never go backwards. */
    if (version < last_version) violation("version went back", last_version, version);
    last_version = version;
    check_not_removed(ids, b->n, s0);

    /* 3. Exact self-query of a stable, acknowledged, live id. */
    uint64_t id = b->first + rng_next(&rng) % b->n;
    vector(id, gen0, q);
    uint64_t top[10], v2 = 0, v3 = 0;
    float td[10];
    sagevec_index_search(IX, q, DIM, 1, &exact, top, td, &v2);
    sagevec_index_search(IX, q, DIM, 10, &graph, top + 1, td + 1, &v3);
    if (v2 < last_version || v3 < v2) violation("search versions went back", v2, v3);
    last_version = v3;
    bool stable = !busy0 && !atomic_load(&b->busy) && atomic_load(&b->generation) == gen0 &&
                  atomic_load(&b->removed) == removed0;
    if (stable && added0 && !removed0) {
      atomic_fetch_add(&CHECKS, 1);
      if (top[0] != id) violation("acknowledged id not found", id, top[0]);
    }
    if (stable && removed0 && top[0] == id) violation("removed id found", id, gen0);
    check_not_removed(top, 10, s0);

    /* 4. Batch search: no removed id either. */
    float qs[4 * DIM];
    uint64_t bids[4 * 10];
    float bd[4 * 10];
    for (int i = 0; i < 4; ++i) vector(id + (uint64_t)i, gen0, qs + i * DIM);
    if (sagevec_index_batch_search(IX, qs, 4, DIM, 10, &graph, bids, bd, 40, NULL) != SAGEVEC_OK)
      violation("batch search failed", id, 0);
    check_not_removed(bids, 40, s0);
  }
  return NULL;
}

/* Searches until the index is closed under it: every call must return OK or
 * SAGEVEC_ERR_CLOSED, and once CLOSED, always CLOSED. */
static void *search_until_closed(void *arg) {
  long *closed_seen = arg;
  float q[DIM];
  uint64_t ids[5];
  float d[5];
  vector(1, 0, q);
  for (;;) {
    sagevec_status st = sagevec_index_search(IX, q, DIM, 5, NULL, ids, d, NULL);
    if (st == SAGEVEC_ERR_CLOSED) {
      ++*closed_seen;
      if (*closed_seen >= 3) return NULL;
    } else if (st != SAGEVEC_OK || *closed_seen > 0) {
      violation("search during close", (unsigned long long)st, (unsigned long long)*closed_seen);
      return NULL;
    }
  }
}

int main(void) {
  size_t ops = getenv("SAGEVEC_CAPI_QUICK") ? 60 : 1500;
  sagevec_index_options o;
  CHECK_OK(sagevec_index_options_default(&o));
  o.ef_construction = 64;
  CHECK_OK(sagevec_index_create(DIM, SAGEVEC_METRIC_L2, &o, &IX));
  pthread_t w, r[READERS];
  CHECK(pthread_create(&w, NULL, writer, &ops) == 0);
  for (uintptr_t i = 0; i < READERS; ++i) CHECK(pthread_create(&r[i], NULL, reader, (void *)i) == 0);
  pthread_join(w, NULL);
  for (int i = 0; i < READERS; ++i) pthread_join(r[i], NULL);

  /* Quiescent: the index holds exactly the model's live ids. */
  size_t nb = atomic_load(&N_BATCHES), live = 0, len = 0;
  for (size_t i = 0; i < nb; ++i) {
    batch *b = &BATCHES[i];
    bool gone = atomic_load(&b->removed);
    live += gone ? 0 : b->n;
    for (size_t j = 0; j < b->n; ++j) {
      bool has = !gone;
      CHECK_OK(sagevec_index_contains(IX, b->first + j, &has));
      CHECK_MSG(has == !gone, "id %llu: contains %d, removed %d", (unsigned long long)(b->first + j), has, gone);
    }
  }
  CHECK_OK(sagevec_index_len(IX, &len));
  CHECK_MSG(len == live, "len %zu, model %zu", len, live);
  CHECK_MSG(atomic_load(&VIOLATIONS) == 0, "%d violations", atomic_load(&VIOLATIONS));
  CHECK_MSG(atomic_load(&CHECKS) > 0, "no stable self-query was checked");
  printf("%zu batches, %zu live rows, %ld stable self-queries checked\n", nb, live, atomic_load(&CHECKS));

  /* Close while two threads search: they see OK, then CLOSED, never a crash. */
  pthread_t s[2];
  long closed_seen[2] = {0, 0};
  for (int i = 0; i < 2; ++i) CHECK(pthread_create(&s[i], NULL, search_until_closed, &closed_seen[i]) == 0);
  CHECK_OK(sagevec_index_close(IX));
  for (int i = 0; i < 2; ++i) pthread_join(s[i], NULL);
  CHECK(closed_seen[0] >= 3 && closed_seen[1] >= 3);
  CHECK_MSG(atomic_load(&VIOLATIONS) == 0, "%d violations", atomic_load(&VIOLATIONS));
  sagevec_index_free(IX);
  return check_report("test_threads");
}
