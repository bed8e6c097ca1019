/* One-pass log-sum-exp retrieval for few queries (hopfield.ops.native).
 *
 * Modern Hopfield retrieval (Ramsauer et al. 2020): for scores
 * s_mu = beta * <q, xi_mu> + bias_mu, per query the running maximum m, the
 * running sum sigma = sum exp(s_mu - m) and the running weighted sum
 * w = sum exp(s_mu - m) v_mu (online softmax). Each block of ROWS keys is read
 * from memory once: its scores, the exponentials and the value accumulation all
 * use the same cache-resident rows. Worker threads take tasks of TASK_ROWS rows
 * from a shared counter (so a thread that shares its core with another process
 * simply takes fewer tasks) and keep private partials, merged at the end; the
 * helper threads persist between calls (see pool_t), or the workers run as a team of
 * PyTorch's OpenMP runtime (see hopfield_lse_few).
 *
 * Keys are float32 (dtype 0), bfloat16 (dtype 1, raw uint16) or int8 with one
 * float32 scale per row (dtype 2); accumulation is float32.
 *
 * Two implementations of a block: AVX-512 intrinsics (compiled where __AVX512F__ is
 * defined, unless HOPFIELD_PORTABLE is) and portable C that the compiler vectorises.
 * The AVX-512 one widens low-precision keys in registers, once per block (the
 * widened rows stay in an L1 buffer for the weighted sum): 32 bfloat16 keys loaded
 * as 16 32-bit lanes give the even-indexed keys as `lane << 16` and the odd-indexed
 * ones as `lane & 0xffff0000` (two integer operations per 32 keys), so the query and
 * the weighted sum are kept in that even/odd order within every 32 dimensions and put
 * back in order at the end; int8 keys are sign-extended and converted (the row scale
 * multiplies the score and the softmax weight instead of every key). One query over
 * low-precision keys has its own block (one_query_block: sixteen rows' dot products in
 * registers, the keys prefetched as one sequential stream). Measured alternatives: bf16 dot products with _mm512_dpbf16_ps and the query split into
 * three bf16 parts (for float32 accuracy) were slower (28 vs 21 ns per key row).
 */
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__AVX512F__) && !defined(HOPFIELD_PORTABLE)
#include <immintrin.h>
#define HOPFIELD_SIMD 1
#else
#define HOPFIELD_SIMD 0
#endif

#define ROWS 16 /* the SIMD path keeps a block's scores in one 16-lane vector */
#define TASK_ROWS 1024
#define MAX_THREADS 256

typedef struct {
    const float *queries; /* (B, D); in the SIMD path in key order (to_key_order) */
    const void *keys;     /* (K, D) */
    const float *scales;  /* (K,) for int8 keys, else NULL */
    const float *values;  /* (K, Dv) float32, or NULL: the keys are the values */
    const float *bias;    /* (K,) or NULL */
    int64_t num_queries, dim, num_memories, value_dim;
    int dtype;
    float beta, floor;
    int64_t next_task; /* shared counter, atomically incremented */
} problem_t;

typedef struct {
    problem_t *problem;
    float *max, *sum, *weighted; /* (B,), (B,), (B, Dv) */
    int status;
} worker_t;

/* exp(x) for floor <= x <= 0 (floor > -87): 2^n * p(r), |r| <= ln2/2, degree-6
 * Taylor polynomial (relative error < 2e-7); written so that the compiler
 * vectorises the loop that calls it. */
static inline float exp_nonpositive(float x) {
    const float log2e = 1.44269504088896341f;
    const float ln2_hi = 0.693145751953125f, ln2_lo = 1.42860682030941723e-6f;
    const float shifter = 12582912.0f; /* 1.5 * 2^23: adds then subtracts to round */
    float n = (x * log2e + shifter) - shifter;
    float r = (x - n * ln2_hi) - n * ln2_lo;
    float p = 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    union { int32_t i; float f; } scale;
    scale.i = ((int32_t)n + 127) << 23;
    return p * scale.f;
}

/* Row `row` of the keys as float32 in `buffer` (or a direct pointer for float32). */
static inline const float *key_row(const problem_t *pb, int64_t row, float *buffer) {
    const int64_t dim = pb->dim;
    if (pb->dtype == 0) return (const float *)pb->keys + row * dim;
    if (pb->dtype == 1) {
        const uint16_t *src = (const uint16_t *)pb->keys + row * dim;
        for (int64_t d = 0; d < dim; ++d) {
            union { uint32_t u; float f; } v;
            v.u = (uint32_t)src[d] << 16;
            buffer[d] = v.f;
        }
        return buffer;
    }
    const int8_t *src = (const int8_t *)pb->keys + row * dim;
    const float scale = pb->scales[row];
    for (int64_t d = 0; d < dim; ++d) buffer[d] = scale * (float)src[d];
    return buffer;
}

/* Raise the running maximum of query b to block_max if larger (rescaling its partials). */
static inline void raise_max(worker_t *w, int64_t b, int64_t Dv, float block_max) {
    if (block_max <= w->max[b]) return;
    float *acc = w->weighted + b * Dv;
    const float rescale = w->max[b] == -INFINITY ? 0.0f : expf(w->max[b] - block_max);
    w->sum[b] *= rescale;
    for (int64_t d = 0; d < Dv; ++d) acc[d] *= rescale;
    w->max[b] = block_max;
}

/* Online softmax over the scores s[0..ROWS) of query b in one block (rows past the
 * block's end hold -inf): raise the running maximum (rescaling the partials), replace
 * the scores by their weights exp(s - max) (0 for rows past the end) and add them to
 * the running sum. Returns 0 when every score is -inf (nothing to add). */
static inline int block_weights(const problem_t *pb, int64_t b, int64_t count, float *s,
                                worker_t *w) {
    float block_max = -INFINITY;
    for (int64_t r = 0; r < ROWS; ++r) block_max = s[r] > block_max ? s[r] : block_max;
    if (block_max == -INFINITY) return 0;
    raise_max(w, b, pb->value_dim, block_max);
    const float m = w->max[b], floor = pb->floor;
#pragma omp simd
    for (int64_t r = 0; r < ROWS; ++r) { /* all ROWS lanes: one vector, no remainder */
        float x = s[r] - m;
        x = x < floor ? floor : x;
        s[r] = exp_nonpositive(x);
    }
    for (int64_t r = count; r < ROWS; ++r) s[r] = 0.0f;
    float total = 0.0f;
#pragma omp simd reduction(+ : total)
    for (int64_t r = 0; r < ROWS; ++r) total += s[r];
    w->sum[b] += total;
    return 1;
}

#if !HOPFIELD_SIMD
/* Portable block: rows widened to float32 in rows_buf, loops the compiler vectorises. */
static void run_block(const problem_t *pb, int64_t start, int64_t count, float *rows_buf,
                      float *scores, worker_t *w) {
    const int64_t B = pb->num_queries, D = pb->dim, Dv = pb->value_dim;
    const float *rows[ROWS];
    for (int64_t r = 0; r < count; ++r) rows[r] = key_row(pb, start + r, rows_buf + r * D);
    for (int64_t r = count; r < ROWS; ++r) rows[r] = rows[0]; /* padding, scores unused */
    for (int64_t b = 0; b < B; ++b) {
        const float *q = pb->queries + b * D;
        float *s = scores + b * ROWS;
        for (int64_t r = 0; r < count; r += 4) { /* four rows at once: independent sums */
            const float *k0 = rows[r], *k1 = rows[r + 1], *k2 = rows[r + 2], *k3 = rows[r + 3];
            float d0 = 0.0f, d1 = 0.0f, d2 = 0.0f, d3 = 0.0f;
#pragma omp simd reduction(+ : d0, d1, d2, d3)
            for (int64_t d = 0; d < D; ++d) {
                d0 += q[d] * k0[d];
                d1 += q[d] * k1[d];
                d2 += q[d] * k2[d];
                d3 += q[d] * k3[d];
            }
            s[r] = d0;
            s[r + 1] = d1;
            s[r + 2] = d2;
            s[r + 3] = d3;
        }
        for (int64_t r = 0; r < count; ++r)
            s[r] = pb->beta * s[r] + (pb->bias ? pb->bias[start + r] : 0.0f);
        for (int64_t r = count; r < ROWS; ++r) s[r] = -INFINITY;
    }
    const float *v[ROWS];
    for (int64_t r = 0; r < ROWS; ++r)
        v[r] = pb->values ? pb->values + (start + (r < count ? r : 0)) * Dv : rows[r];
    for (int64_t b = 0; b < B; ++b) {
        float *s = scores + b * ROWS;
        if (!block_weights(pb, b, count, s, w)) continue;
        float *acc = w->weighted + b * Dv;
        for (int64_t r = 0; r < count; r += 4) { /* four rows per pass over acc */
            const float p0 = s[r], p1 = s[r + 1], p2 = s[r + 2], p3 = s[r + 3];
            const float *v0 = v[r], *v1 = v[r + 1], *v2 = v[r + 2], *v3 = v[r + 3];
#pragma omp simd
            for (int64_t d = 0; d < Dv; ++d)
                acc[d] += (p0 * v0[d] + p1 * v1[d]) + (p2 * v2[d] + p3 * v3[d]);
        }
    }
}
#endif

#if HOPFIELD_SIMD
#include "lse_few_avx512.h"
#endif

/* 1 when blocks run on AVX-512 intrinsics, 0 for the portable C loops. */
int hopfield_lse_few_simd(void) { return HOPFIELD_SIMD; }

/* Fold the partials (max, sum, weighted) of `from` into `into` (online-softmax merge). */
static void fold(int64_t B, int64_t Dv, const float *from_max, const float *from_sum,
                 const float *from_weighted, float *max, float *sum, float *weighted) {
    for (int64_t b = 0; b < B; ++b) {
        if (from_max[b] == -INFINITY) continue;
        float *acc = weighted + b * Dv;
        const float *part = from_weighted + b * Dv;
        if (from_max[b] > max[b]) {
            const float rescale = max[b] == -INFINITY ? 0.0f : expf(max[b] - from_max[b]);
            sum[b] = rescale * sum[b] + from_sum[b];
            for (int64_t d = 0; d < Dv; ++d) acc[d] = rescale * acc[d] + part[d];
            max[b] = from_max[b];
        } else {
            const float rescale = expf(from_max[b] - max[b]);
            sum[b] += rescale * from_sum[b];
            for (int64_t d = 0; d < Dv; ++d) acc[d] += rescale * part[d];
        }
    }
}

static void *worker_main(void *arg) {
    worker_t *w = (worker_t *)arg;
    problem_t *pb = w->problem;
    const int64_t B = pb->num_queries, Dv = pb->value_dim;
    /* 64-byte aligned: the SIMD blocks store and reload whole widened rows, and a vector
       split across two cache lines costs twice (measured in cache: bf16, one query, 28 -> 22 ns a row) */
    float *rows_buf = aligned_alloc(64, (sizeof(float) * ROWS * pb->dim + 63) / 64 * 64);
    float *scores = malloc(sizeof(float) * ROWS * B);
    float *task_state = malloc(sizeof(float) * B * (2 + Dv));
    if (!rows_buf || !scores || !task_state) {
        w->status = 1;
        free(rows_buf);
        free(scores);
        free(task_state);
        return NULL;
    }
    /* each task accumulates into its own partials, folded into the worker's after the
       task: sums of at most TASK_ROWS terms, then of one term per task (accurate to
       ~1e-7 relative where one running sum over 1e6 rows loses ~1e-4) */
    worker_t task = {pb, task_state, task_state + B, task_state + 2 * B, 0};
    for (;;) {
        int64_t index = __atomic_fetch_add(&pb->next_task, 1, __ATOMIC_RELAXED);
        int64_t begin = index * TASK_ROWS;
        if (begin >= pb->num_memories) break;
        int64_t end = begin + TASK_ROWS < pb->num_memories ? begin + TASK_ROWS : pb->num_memories;
        for (int64_t b = 0; b < B; ++b) task.max[b] = -INFINITY;
        memset(task.sum, 0, sizeof(float) * B * (1 + Dv));
        for (int64_t start = begin; start < end; start += ROWS) {
            int64_t count = end - start < ROWS ? end - start : ROWS;
#if HOPFIELD_SIMD
            run_block_fast(pb, start, count, rows_buf, scores, &task);
#else
            run_block(pb, start, count, rows_buf, scores, &task);
#endif
        }
        fold(B, Dv, task.max, task.sum, task.weighted, w->max, w->sum, w->weighted);
    }
    free(rows_buf);
    free(scores);
    free(task_state);
    return NULL;
}

/* Helper threads, started on first use and kept asleep between calls: a sleeping
 * thread woken on a shared machine runs again at once (the scheduler credits
 * sleepers), where a new thread created per call waited ~2.5 ms to start with other
 * processes running (measured, K=1e5, B=1: a quarter of the call). Helper i works on
 * round r's workers[i] when i <= wanted; calls are serialised by call_lock. */
typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t wake, done;
    int started, wanted, running;
    unsigned long round;
    worker_t *workers;
} pool_t;

static pool_t pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
                      PTHREAD_COND_INITIALIZER, 0, 0, 0, 0, NULL};
static pthread_mutex_t call_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned long first_round[MAX_THREADS];

static void *helper_main(void *arg) {
    const int index = (int)(intptr_t)arg;
    pthread_mutex_lock(&pool.lock);
    unsigned long seen = first_round[index];
    for (;;) {
        while (pool.round == seen) pthread_cond_wait(&pool.wake, &pool.lock);
        seen = pool.round;
        if (index > pool.wanted) continue;
        worker_t *job = &pool.workers[index];
        pthread_mutex_unlock(&pool.lock);
        worker_main(job);
        pthread_mutex_lock(&pool.lock);
        if (--pool.running == 0) pthread_cond_signal(&pool.done);
    }
    return NULL;
}

/* In a forked child the helpers do not exist: start afresh. */
static void pool_after_fork(void) {
    pthread_mutex_init(&pool.lock, NULL);
    pthread_cond_init(&pool.wake, NULL);
    pthread_cond_init(&pool.done, NULL);
    pthread_mutex_init(&call_lock, NULL);
    pool.started = pool.wanted = pool.running = 0;
}

/* Run workers[0] here and workers[1 .. helpers] on the pool; returns `helpers` (fewer
 * than asked if threads could not be started). Call with call_lock held. */
static int pool_run(worker_t *workers, int helpers) {
    static int registered = 0;
    pthread_mutex_lock(&pool.lock);
    if (!registered) registered = pthread_atfork(NULL, NULL, pool_after_fork) == 0;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    while (pool.started < helpers) {
        pthread_t thread;
        const int index = pool.started + 1;
        first_round[index] = pool.round;
        if (pthread_create(&thread, &attr, helper_main, (void *)(intptr_t)index) != 0) break;
        pool.started = index;
    }
    pthread_attr_destroy(&attr);
    helpers = helpers < pool.started ? helpers : pool.started;
    pool.workers = workers;
    pool.wanted = pool.running = helpers;
    pool.round++;
    pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.lock);
    worker_main(&workers[0]);
    pthread_mutex_lock(&pool.lock);
    while (pool.running > 0) pthread_cond_wait(&pool.done, &pool.lock);
    pthread_mutex_unlock(&pool.lock);
    return helpers;
}

/* The OpenMP runtime's entry point GOMP_parallel(fn, data, threads, flags) (libgomp, and
 * LLVM's and Intel's runtimes export it too): runs fn(data) on a team of at most `threads`
 * threads, the caller included, and returns when all are done. */
typedef void (*openmp_parallel_t)(void (*)(void *), void *, unsigned, unsigned);

typedef struct {
    worker_t *workers;
    int count, next; /* members take workers[next++] (a team may be smaller than asked) */
} team_t;

static void team_member(void *arg) {
    team_t *team = (team_t *)arg;
    const int index = __atomic_fetch_add(&team->next, 1, __ATOMIC_RELAXED);
    if (index < team->count) worker_main(&team->workers[index]);
}

/* Whether more threads are runnable than the machine has cores (the fourth field of
 * Linux's /proc/loadavg counts them, the calling one included; 1 if unreadable). */
static int machine_busy(void) {
    static long cores = 0;
    if (cores == 0) cores = sysconf(_SC_NPROCESSORS_ONLN);
    char text[128];
    const int file = open("/proc/loadavg", O_RDONLY);
    if (file < 0) return 1;
    const ssize_t length = read(file, text, sizeof text - 1);
    close(file);
    if (length <= 0) return 1;
    text[length] = 0;
    const char *field = text;
    for (int spaces = 0; spaces < 3 && field; ++spaces) {
        field = strchr(field, ' ');
        if (field) ++field;
    }
    return field ? strtol(field, NULL, 10) > cores : 1;
}

/* Returns 0 on success, 1 on allocation failure, 2 on bad arguments. With `openmp` (the
 * GOMP_parallel of the OpenMP runtime PyTorch runs on, or NULL) several workers run as a
 * team of that runtime instead of on this file's pool, always or (`openmp_when_busy` 0)
 * only while no more threads are runnable than cores. After a parallel PyTorch operation
 * its threads keep spinning for a while: a helper of our own then shares a core with
 * one of them, where the spinning thread itself takes a worker at once (measured, 2
 * threads on 2 cores, fp32 K=1e5 B=1 right after keys.sum(): own pool 5.1 ms, team 3.7
 * ms, floor 4.1 ms). With another process running the own pool was faster (6.3 vs 6.9
 * ms): its waits sleep, freeing a core that a worker can move to; the runtime's spin. */
int hopfield_lse_few(const float *queries, int64_t num_queries, int64_t dim, const void *keys,
                     int dtype, const float *scales, int64_t num_memories, const float *values,
                     int64_t value_dim, const float *bias, float beta, float floor,
                     int num_threads, void *openmp, int openmp_when_busy, float *out_max,
                     float *out_sum, float *out_weighted) {
    if (num_threads < 1 || num_threads > MAX_THREADS || dtype < 0 || dtype > 2) return 2;
    if (dtype == 2 && !scales) return 2;
    problem_t pb = {queries, keys, scales, values, bias, num_queries, dim, num_memories,
                    value_dim, dtype, beta, floor, 0};
    worker_t workers[MAX_THREADS];
    int started = 0, status = 0;
    float *storage = calloc((size_t)num_threads * num_queries * (2 + value_dim), sizeof(float));
    if (!storage) return 1;
    float *ordered = NULL; /* the queries in bfloat16 key order */
#if HOPFIELD_SIMD
    if (dtype == 1) {
        ordered = malloc(sizeof(float) * num_queries * dim);
        if (!ordered) {
            free(storage);
            return 1;
        }
        to_key_order(queries, num_queries, dim, ordered);
        pb.queries = ordered;
    }
#endif
    for (int t = 0; t < num_threads; ++t) {
        float *base = storage + (size_t)t * num_queries * (2 + value_dim);
        workers[t] = (worker_t){&pb, base, base + num_queries, base + 2 * num_queries, 0};
        for (int64_t b = 0; b < num_queries; ++b) workers[t].max[b] = -INFINITY;
    }
    /* worker 0 on the calling thread, workers 1.. on the team's other threads or the pool's
       helpers */
    if (num_threads > 1 && openmp && (openmp_when_busy || !machine_busy())) {
        team_t team = {workers, num_threads, 0};
        ((openmp_parallel_t)openmp)(team_member, &team, (unsigned)num_threads, 0);
        started = num_threads - 1; /* workers no member took keep empty partials */
    } else if (num_threads > 1) {
        pthread_mutex_lock(&call_lock);
        started = pool_run(workers, num_threads - 1);
        pthread_mutex_unlock(&call_lock);
    } else {
        worker_main(&workers[0]);
    }
    for (int t = 0; t <= started; ++t) status |= workers[t].status;
    if (status == 0) {
        for (int64_t b = 0; b < num_queries; ++b) out_max[b] = -INFINITY;
        memset(out_sum, 0, sizeof(float) * num_queries);
        memset(out_weighted, 0, sizeof(float) * num_queries * value_dim);
        for (int t = 0; t <= started; ++t)
            fold(num_queries, value_dim, workers[t].max, workers[t].sum, workers[t].weighted,
                 out_max, out_sum, out_weighted);
#if HOPFIELD_SIMD
        if (dtype == 1 && !values) from_key_order(out_weighted, num_queries, value_dim);
#endif
    }
    free(ordered);
    free(storage);
    return status;
}
