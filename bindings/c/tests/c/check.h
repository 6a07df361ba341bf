/* Minimal assertions for the C tests: a failed check prints where and why (with
 * sagevec_last_error() for a status) and the test exits 1 at the end. */
#ifndef SAGEVEC_TEST_CHECK_H
#define SAGEVEC_TEST_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sagevec.h"

static int check_failures = 0;
static int check_count = 0;

#define CHECK(cond)                                                            \
  do {                                                                         \
    ++check_count;                                                             \
    if (!(cond)) {                                                             \
      ++check_failures;                                                        \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
    }                                                                          \
  } while (0)

#define CHECK_MSG(cond, ...)                                                   \
  do {                                                                         \
    ++check_count;                                                             \
    if (!(cond)) {                                                             \
      ++check_failures;                                                        \
      fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond); \
      fprintf(stderr, __VA_ARGS__);                                            \
      fputc('\n', stderr);                                                     \
    }                                                                          \
  } while (0)

/* The call returns `want`; on a mismatch, prints both names and the message. */
#define CHECK_STATUS(call, want)                                               \
  do {                                                                         \
    sagevec_status got_ = (call);                                              \
    ++check_count;                                                             \
    if (got_ != (want)) {                                                      \
      const char *g_ = sagevec_status_name(got_);                              \
      ++check_failures;                                                        \
      fprintf(stderr, "%s:%d: %s returned %s, expected %s (last error: %s)\n", \
              __FILE__, __LINE__, #call, g_ ? g_ : "?",                        \
              sagevec_status_name(want), sagevec_last_error());                \
    }                                                                          \
  } while (0)

#define CHECK_OK(call) CHECK_STATUS(call, SAGEVEC_OK)

/* Fails with `want` and leaves a last-error message mentioning `needle`. */
#define CHECK_FAILS(call, want, needle)                                        \
  do {                                                                         \
    CHECK_STATUS(call, want);                                                  \
    CHECK_MSG(strstr(sagevec_last_error(), (needle)) != NULL,                  \
              "last error \"%s\" does not mention \"%s\"",                     \
              sagevec_last_error(), (needle));                                 \
  } while (0)

/* Prints the tally; returns the process exit code. */
static inline int check_report(const char *name) {
  printf("%s: %d passed, %d failed\n", name, check_count - check_failures,
         check_failures);
  return check_failures == 0 ? 0 : 1;
}

/* xorshift64: reproducible inputs without libc's rand(). */
static unsigned long long check_rng_state = 0x9E3779B97F4A7C15ull;
static inline unsigned long long check_rng(void) {
  check_rng_state ^= check_rng_state << 13;
  check_rng_state ^= check_rng_state >> 7;
  check_rng_state ^= check_rng_state << 17;
  return check_rng_state;
}
/* Uniform in [-1, 1). */
static inline float check_unit(void) {
  return (float)((double)(check_rng() >> 11) / (double)(1ull << 53) * 2.0 - 1.0);
}

#endif
