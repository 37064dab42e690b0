/* The documented thread-safety contract: one context shared by threads, per-thread errors. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <string.h>

#include "harness.h"

enum { THREADS = 4 };
static fc_context *shared;

typedef struct result {
  fc_status st;
  fc_check chk;
  uint64_t seed;
} result;

static void *run_one(void *arg) {
  result *r = arg;
  fc_case c = fc_case_make(FC_DTYPE_BF16, 1, 100 + (int64_t)(r->seed % 50), 120, 4, 2, 64, r->seed);
  c.causal = (int)(r->seed & 1);
  c.with_lse = 1;
  r->st = fc_case_run(shared, &c, &r->chk);
  return NULL;
}

/* Runs fn on THREADS threads, each with its own seed, and checks every result. */
static void run_threads(void *(*fn)(void *), uint64_t seed_stride) {
  pthread_t t[THREADS];
  result r[THREADS];
  uint64_t base = fc_test_seed();
  for (int i = 0; i < THREADS; i++) {
    memset(&r[i], 0, sizeof r[i]);
    r[i].seed = base + (uint64_t)i * seed_stride;
    cr_assert_eq(pthread_create(&t[i], NULL, fn, &r[i]), 0);
  }
  for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
  for (int i = 0; i < THREADS; i++) {
    cr_assert_eq(r[i].st, FC_SUCCESS, "thread %d: %s", i, fc_status_string(r[i].st));
    cr_assert(r[i].chk.pass, "thread %d: %s", i, r[i].chk.msg);
  }
}

Test(threads, one_context_many_threads) {
  cr_assert_eq(fc_context_create(FC_DEVICE_CPU, &shared), FC_SUCCESS);
  cr_assert_eq(fc_context_set_num_threads(shared, 2), FC_SUCCESS);
  run_threads(run_one, 7919u);
  fc_context_destroy(shared);
}

/* A failure on one thread is reported to that thread only. */
static void *fail_then_read(void *arg) {
  char *msg = arg;
  fc_tensor bad = fc_tensor_bshd(NULL, FC_DTYPE_BF16, 1, 1, 1, 64);
  fc_attention_forward(shared, &bad, &bad, &bad, &bad, NULL, NULL, NULL);
  strcpy(msg, fc_last_error(shared));
  return NULL;
}

Test(threads, last_error_is_per_thread) {
  cr_assert_eq(fc_context_create(FC_DEVICE_CPU, &shared), FC_SUCCESS);
  char msg[512] = "";
  pthread_t t;
  cr_assert_eq(pthread_create(&t, NULL, fail_then_read, msg), 0);
  pthread_join(t, NULL);
  cr_assert(strstr(msg, "q->data is NULL"), "other thread saw \"%s\"", msg);
  cr_assert_str_eq(fc_last_error(shared), "", "this thread saw another thread's error");
  fc_context_destroy(shared);
}

static void *create_destroy(void *arg) {
  (void)arg;
  for (int i = 0; i < 200; i++) {
    fc_context *c = NULL;
    if (fc_context_create(FC_DEVICE_CPU, &c) != FC_SUCCESS) return (void *)1;
    fc_context_destroy(c);
  }
  return NULL;
}

Test(threads, contexts_created_concurrently) {
  pthread_t t[THREADS];
  for (int i = 0; i < THREADS; i++) pthread_create(&t[i], NULL, create_destroy, NULL);
  for (int i = 0; i < THREADS; i++) {
    void *ret;
    pthread_join(t[i], &ret);
    cr_assert_null(ret);
  }
}

/* One GPU context shared by threads, each running problems with more tiles than an H100 has
 * SMs (sm90 runs them on its persistent grid, whose tile counters come from a pool that
 * threads share): every output must still pass. Skips without a GPU. */
static void *run_gpu(void *arg) {
  result *r = arg;
  for (int i = 0; i < 3 && r->st == FC_SUCCESS; i++) {
    fc_case c = fc_case_make(FC_DTYPE_BF16, 2, 700 + (int64_t)((r->seed + i) % 300), 900, 16, 4, 128, r->seed + i);
    c.causal = (int)((r->seed + i) & 1);
    c.sample_rows = 256;
    r->st = fc_case_run(shared, &c, &r->chk);
    if (r->st == FC_SUCCESS && !r->chk.pass) break;
  }
  return NULL;
}

Test(threads, gpu_context_many_threads) {
  if (fc_test_gpu_count() == 0) cr_skip_test("no CUDA GPU on this machine: GPU case skipped");
  cr_assert_eq(fc_context_create(0, &shared), FC_SUCCESS, "%s", fc_last_error(NULL));
  run_threads(run_gpu, 104729u);
  fc_context_destroy(shared);
}
