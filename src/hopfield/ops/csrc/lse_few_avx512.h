/* AVX-512 blocks of the one-pass log-sum-exp kernel (included by lse_few.c where
 * __AVX512F__ is defined and HOPFIELD_PORTABLE is not; see there). */
#if HOPFIELD_SIMD
#define INLINE static inline __attribute__((always_inline))
#define AHEAD_BLOCKS 2 /* blocks between the one read and the one prefetched into L2 */

/* Keys 32c .. 32c+31 of `row` as two float32 vectors in key order: float32 and int8
 * in natural order (int8 unscaled), bfloat16 evens then odds. */
INLINE void load32(const void *row, int64_t c, int dtype, __m512 *lo, __m512 *hi) {
    if (dtype == 0) {
        const float *p = (const float *)row + 32 * c;
        *lo = _mm512_loadu_ps(p);
        *hi = _mm512_loadu_ps(p + 16);
    } else if (dtype == 1) {
        const __m512i x = _mm512_loadu_si512((const uint16_t *)row + 32 * c);
        *lo = _mm512_castsi512_ps(_mm512_slli_epi32(x, 16));
        *hi = _mm512_castsi512_ps(_mm512_and_si512(x, _mm512_set1_epi32((int)0xffff0000u)));
    } else {
        const int8_t *p = (const int8_t *)row + 32 * c;
        *lo = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)p)));
        *hi = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(p + 16))));
    }
}

/* Key d (natural order, d past the last full 32) of `row` as float32, int8 unscaled. */
INLINE float key_at(const void *row, int64_t d, int dtype) {
    if (dtype == 0) return ((const float *)row)[d];
    if (dtype == 2) return (float)((const int8_t *)row)[d];
    union { uint32_t u; float f; } v;
    v.u = (uint32_t)((const uint16_t *)row)[d] << 16;
    return v.f;
}

/* The four sums of the elements of a, b, c and d. */
INLINE __m128 sum4(__m512 a, __m512 b, __m512 c, __m512 d) {
    /* 128-bit lanes: ab = (a0+a2, a1+a3, b0+b2, b1+b3), likewise cd */
    const __m512 ab = _mm512_add_ps(_mm512_shuffle_f32x4(a, b, 0x44), _mm512_shuffle_f32x4(a, b, 0xee));
    const __m512 cd = _mm512_add_ps(_mm512_shuffle_f32x4(c, d, 0x44), _mm512_shuffle_f32x4(c, d, 0xee));
    /* lane i: four partial sums of the i-th vector; then sum within the lanes */
    __m512 t = _mm512_add_ps(_mm512_shuffle_f32x4(ab, cd, 0x88), _mm512_shuffle_f32x4(ab, cd, 0xdd));
    t = _mm512_add_ps(t, _mm512_permute_ps(t, 0xb1));
    t = _mm512_add_ps(t, _mm512_permute_ps(t, 0x4e));
    const __m512i first = _mm512_setr_epi32(0, 4, 8, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
    return _mm512_castps512_ps128(_mm512_permutexvar_ps(first, t));
}

/* Scores <q_j, row_i> of NQ <= 4 queries (stride D, key order) against four rows (int8
 * unscaled) into out[j * ROWS + i]: each key is loaded and widened once for all NQ
 * queries. While at it, the same dimensions of the rows `ahead` bytes further on are
 * prefetched into L2 and those `near` bytes on into L1 (0: none), so that
 * memory keeps streaming during the arithmetic (measured, 1 thread, K=1e6: bf16
 * 1.97x fp32 with both, 1.73-1.85x with the L2 one alone). */
INLINE void dots(const void *const *rows, const float *q, int64_t D, int dtype, int NQ,
                 float *out, int64_t ahead, int64_t near, float *widened) {
    const int64_t bytes = dtype == 0 ? 128 : dtype == 1 ? 64 : 32; /* per 32 keys */
    const int split = NQ == 1 ? 2 : 1; /* one query: two sums per row (latency) */
    __m512 a[4][4][2];
    for (int j = 0; j < NQ; ++j)
        for (int i = 0; i < 4; ++i) a[j][i][0] = a[j][i][1] = _mm512_setzero_ps();
    const int64_t chunks = D / 32;
    for (int64_t c = 0; c < chunks; ++c) {
        for (int i = 0; ahead && i < 4; ++i) {
            const char *p = (const char *)rows[i] + ahead + bytes * c;
            _mm_prefetch(p, _MM_HINT_T2);
            if (bytes > 64) _mm_prefetch(p + 64, _MM_HINT_T2);
        }
        for (int i = 0; near && i < 4; ++i) {
            const char *n = (const char *)rows[i] + near + bytes * c; /* to L1 */
            _mm_prefetch(n, _MM_HINT_T0);
            if (bytes > 64) _mm_prefetch(n + 64, _MM_HINT_T0);
        }
        __m512 lo[4], hi[4];
        for (int i = 0; i < 4; ++i) load32(rows[i], c, dtype, &lo[i], &hi[i]);
        for (int i = 0; widened && i < 4; ++i) { /* kept for the weighted sum */
            _mm512_storeu_ps(widened + i * D + 32 * c, lo[i]);
            _mm512_storeu_ps(widened + i * D + 32 * c + 16, hi[i]);
        }
        for (int j = 0; j < NQ; ++j) {
            const __m512 q0 = _mm512_loadu_ps(q + j * D + 32 * c);
            const __m512 q1 = _mm512_loadu_ps(q + j * D + 32 * c + 16);
            for (int i = 0; i < 4; ++i) {
                a[j][i][0] = _mm512_fmadd_ps(q0, lo[i], a[j][i][0]);
                a[j][i][split - 1] = _mm512_fmadd_ps(q1, hi[i], a[j][i][split - 1]);
            }
        }
    }
    for (int j = 0; j < NQ; ++j) {
        float *o = out + j * ROWS;
        _mm_storeu_ps(o, sum4(_mm512_add_ps(a[j][0][0], a[j][0][1]),
                              _mm512_add_ps(a[j][1][0], a[j][1][1]),
                              _mm512_add_ps(a[j][2][0], a[j][2][1]),
                              _mm512_add_ps(a[j][3][0], a[j][3][1])));
        for (int i = 0; i < 4; ++i)
            for (int64_t d = 32 * chunks; d < D; ++d) o[i] += q[j * D + d] * key_at(rows[i], d, dtype);
    }
    for (int i = 0; widened && i < 4; ++i)
        for (int64_t d = 32 * chunks; d < D; ++d) widened[i * D + d] = key_at(rows[i], d, dtype);
}

/* acc_j += sum_r p[j * ROWS + r] row_r for NQ <= 4 queries (acc_j at acc + j * D, key
 * order) over the ROWS rows (padded rows weigh 0); each key widened once for all. */
INLINE void accumulate(const void *const *rows, const float *p, int64_t D, int dtype, int NQ,
                       float *acc, const char *ahead, int lines) {
    const int parities = NQ == 1 ? 2 : 1; /* one query: even and odd rows apart (latency) */
    const int64_t chunks = D / 32;
    for (int64_t c = 0; c < chunks; ++c) {
        __m512 e[4][2], o[4][2];
        for (int j = 0; j < NQ; ++j) {
            e[j][0] = _mm512_loadu_ps(acc + j * D + 32 * c);
            o[j][0] = _mm512_loadu_ps(acc + j * D + 32 * c + 16);
            e[j][1] = o[j][1] = _mm512_setzero_ps();
        }
#pragma GCC unroll 16
        for (int r = 0; r < ROWS; ++r) {
            if (r < lines) _mm_prefetch(ahead, _MM_HINT_T1), ahead += 64;
            __m512 lo, hi;
            load32(rows[r], c, dtype, &lo, &hi);
            const int k = (r & 1) & (parities - 1);
            for (int j = 0; j < NQ; ++j) {
                const __m512 weight = _mm512_set1_ps(p[j * ROWS + r]);
                e[j][k] = _mm512_fmadd_ps(weight, lo, e[j][k]);
                o[j][k] = _mm512_fmadd_ps(weight, hi, o[j][k]);
            }
        }
        for (int j = 0; j < NQ; ++j) {
            _mm512_storeu_ps(acc + j * D + 32 * c, _mm512_add_ps(e[j][0], e[j][1]));
            _mm512_storeu_ps(acc + j * D + 32 * c + 16, _mm512_add_ps(o[j][0], o[j][1]));
        }
    }
    for (int j = 0; j < NQ; ++j)
        for (int64_t d = 32 * chunks; d < D; ++d) {
            float total = 0.0f;
            for (int r = 0; r < ROWS; ++r) total += p[j * ROWS + r] * key_at(rows[r], d, dtype);
            acc[j * D + d] += total;
        }
}

/* dots / accumulate with NQ a constant (one unrolled specialisation per count). */
INLINE void dots_n(const void *const *rows, const float *q, int64_t D, int dtype, int64_t nq,
                   float *out, int64_t ahead, int64_t near, float *widened) {
    if (nq >= 4) dots(rows, q, D, dtype, 4, out, ahead, near, widened);
    else if (nq == 3) dots(rows, q, D, dtype, 3, out, ahead, near, widened);
    else if (nq == 2) dots(rows, q, D, dtype, 2, out, ahead, near, widened);
    else dots(rows, q, D, dtype, 1, out, ahead, near, widened);
}

INLINE void accumulate_n(const void *const *rows, const float *p, int64_t D, int dtype,
                         int64_t nq, float *acc, const char *ahead, int lines) {
    if (nq >= 4) accumulate(rows, p, D, dtype, 4, acc, ahead, lines);
    else if (nq == 3) accumulate(rows, p, D, dtype, 3, acc, ahead, lines);
    else if (nq == 2) accumulate(rows, p, D, dtype, 2, acc, ahead, lines);
    else accumulate(rows, p, D, dtype, 1, acc, ahead, lines);
}

/* exp(t) for floor <= t <= 0, sixteen at a time (as exp_nonpositive; scalef: p * 2^n). */
INLINE __m512 exp_nonpositive16(__m512 t) {
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(t, _mm512_set1_ps(1.44269504088896341f)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693145751953125f), t);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.42860682030941723e-6f), r);
    __m512 p = _mm512_set1_ps(1.0f / 720.0f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, n);
}

/* The weights of one block from its dot products `dots` (lane r: row start + r, int8
 * unscaled): s = beta (scale dot) + bias, the running maximum of query b raised (its
 * partials rescaled), the weights exp(s - max) (0 past `count`) into *weights and their
 * sum added to the running sum; 0 when every score is -inf (nothing to add). */
INLINE int weights16(const problem_t *pb, int64_t b, int64_t start, int64_t count, __m512 dots,
                     worker_t *w, int dtype, __m512 *weights) {
    const __mmask16 valid = (__mmask16)((1u << count) - 1u);
    __m512 x = _mm512_mul_ps(dots, _mm512_set1_ps(pb->beta));
    if (dtype == 2) x = _mm512_mul_ps(x, _mm512_maskz_loadu_ps(valid, pb->scales + start));
    if (pb->bias) x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(valid, pb->bias + start));
    x = _mm512_mask_blend_ps(valid, _mm512_set1_ps(-INFINITY), x);
    const float block_max = _mm512_reduce_max_ps(x);
    if (block_max == -INFINITY) return 0;
    raise_max(w, b, pb->value_dim, block_max);
    const __m512 t = _mm512_max_ps(_mm512_sub_ps(x, _mm512_set1_ps(w->max[b])),
                                   _mm512_set1_ps(pb->floor));
    *weights = _mm512_maskz_mov_ps(valid, exp_nonpositive16(t));
    w->sum[b] += _mm512_reduce_add_ps(*weights);
    return 1;
}

/* weights16 on the dot products stored at s, the weights stored back there. */
INLINE int block_weights16(const problem_t *pb, int64_t b, int64_t start, int64_t count,
                           float *s, worker_t *w, int dtype) {
    __m512 weights;
    if (!weights16(pb, b, start, count, _mm512_loadu_ps(s), w, dtype, &weights)) return 0;
    _mm512_storeu_ps(s, weights);
    return 1;
}

/* AVX-512 block (dtype a constant after inlining: one specialisation per key type);
 * queries in groups of four share every widened key. */
INLINE void run_block_simd(const problem_t *pb, int64_t start, int64_t count, float *rows_buf,
                           float *scores, worker_t *w, int dtype) {
    const int64_t B = pb->num_queries, D = pb->dim, Dv = pb->value_dim;
    const int64_t row_bytes = D * (dtype == 0 ? 4 : dtype == 1 ? 2 : 1);
    const void *rows[ROWS], *v[ROWS];
    for (int64_t r = 0; r < ROWS; ++r) { /* padded rows repeat the first (weight 0) */
        const int64_t row = start + (r < count ? r : 0);
        rows[r] = (const char *)pb->keys + row * row_bytes;
        v[r] = pb->values ? (const void *)(pb->values + row * Dv) : rows[r];
    }
    /* low-precision keys that are also the values: widened once, in the first pass, into
       rows_buf (L1-resident), which the weighted sum then reads as float32 */
    const int widen = dtype != 0 && !pb->values;
    /* the block AHEAD_BLOCKS further on is prefetched into L2 (rows 0-7 in the scores
       pass, 8-15 in the weighted sum: memory streams through both), the next four rows
       into L1 */
    const int64_t far = AHEAD_BLOCKS * ROWS * row_bytes;
    const int64_t chunks = D / 32;
    const int lines = chunks ? (int)((ROWS / 2 * row_bytes / 64 + chunks - 1) / chunks) : 0;
    for (int64_t b = 0; b < B; b += 4) /* prefetch and widen once */
        for (int64_t r = 0; r < count; r += 4)
            dots_n(rows + r, pb->queries + b * D, D, dtype, B - b, scores + b * ROWS + r,
                   b || r >= ROWS / 2 ? 0 : far, b ? 0 : 4 * row_bytes,
                   widen && !b ? rows_buf + r * D : NULL);
    if (widen)
        for (int64_t r = 0; r < ROWS; ++r) v[r] = rows_buf + (r < count ? r : 0) * D;
    for (int64_t b = 0; b < B; ++b) {
        float *s = scores + b * ROWS;
        if (!block_weights16(pb, b, start, count, s, w, dtype)) {
            memset(s, 0, sizeof(float) * ROWS); /* nothing to add */
            continue;
        }
        if (dtype == 2 && !pb->values)
            for (int64_t r = 0; r < count; ++r) s[r] *= pb->scales[start + r];
    }
    const char *ahead = (const char *)rows[0] + far + ROWS / 2 * row_bytes;
    for (int64_t b = 0; b < B; b += 4)
        accumulate_n(v, scores + b * ROWS, Dv, 0, B - b, w->weighted + b * Dv, ahead,
                     b || lines > ROWS ? 0 : lines);
}

/* One query, low-precision keys (bfloat16, int8), a full block of ROWS rows and D a
 * multiple of 32. At one query the step is bound by how steadily memory streams, not by
 * arithmetic (in L1 the block costs ~15 ns a bf16 row, memory ~37 ns): the block
 * AHEAD_BLOCKS further on is prefetched into L2 line by line in address order, half of
 * it while the dot products are taken and half while the weighted sum is, so that
 * requests keep flowing through the whole block (prefetching all of it in the first
 * pass left memory idle during the second: bf16 K=1e6 44-45 ms, 41 ms spread; the
 * memory floor, one plain read of the keys, was 40 ms in the same minutes). The dot
 * products stay in sixteen registers, one per row, summed across lanes together
 * (sum16); widened keys are kept in rows_buf for the weighted sum (widening them again
 * there instead was slower: 62 vs 46 ms). */

/* Lane r: the sum of the sixteen elements of a[r]. */
INLINE __m512 sum16(const __m512 *a) {
    __m512 b[8], c[4], d[2];
    for (int i = 0; i < 8; ++i) /* 128-bit lanes: a[2i] (2 partials), a[2i+1] (2) */
        b[i] = _mm512_add_ps(_mm512_shuffle_f32x4(a[2 * i], a[2 * i + 1], 0x44),
                             _mm512_shuffle_f32x4(a[2 * i], a[2 * i + 1], 0xee));
    for (int i = 0; i < 4; ++i) /* 128-bit lane L: row 4i + L (4 partials) */
        c[i] = _mm512_add_ps(_mm512_shuffle_f32x4(b[2 * i], b[2 * i + 1], 0x88),
                             _mm512_shuffle_f32x4(b[2 * i], b[2 * i + 1], 0xdd));
    for (int i = 0; i < 2; ++i) /* lane 4L + j: rows 4(2i) + L (j < 2), 4(2i+1) + L */
        d[i] = _mm512_add_ps(_mm512_shuffle_ps(c[2 * i], c[2 * i + 1], 0x88),
                             _mm512_shuffle_ps(c[2 * i], c[2 * i + 1], 0xdd));
    /* lane 4L + j: row 4j + L */
    const __m512 e = _mm512_add_ps(_mm512_shuffle_ps(d[0], d[1], 0x88),
                                   _mm512_shuffle_ps(d[0], d[1], 0xdd));
    const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    return _mm512_permutexvar_ps(order, e);
}

/* The dot products of the query q (key order) with the ROWS rows from `base`; with
 * `half` set, only the first half of the block ahead is prefetched here. */
INLINE __m512 one_query_dots(const char *base, const float *q, int64_t D, int dtype,
                             float *widened, const char *ahead, int half) {
    const int64_t bytes = dtype == 1 ? 64 : 32; /* per 32 keys */
    const int64_t row_bytes = D / 32 * bytes;
    const int every = (64 / (int)bytes) << half; /* steps per prefetched line */
    __m512 a[ROWS];
    for (int r = 0; r < ROWS; ++r) a[r] = _mm512_setzero_ps();
    for (int64_t c = 0; c < D / 32; ++c) {
        const __m512 q0 = _mm512_loadu_ps(q + 32 * c), q1 = _mm512_loadu_ps(q + 32 * c + 16);
        const char *key = base + bytes * c;
        float *out = widened + 32 * c;
#pragma GCC unroll 16
        for (int r = 0; r < ROWS; ++r, key += row_bytes, out += D) {
            if (r % every == 0) _mm_prefetch(ahead, _MM_HINT_T1), ahead += 64;
            __m512 lo, hi;
            load32(key, 0, dtype, &lo, &hi);
            if (widened) {
                _mm512_store_ps(out, lo);
                _mm512_store_ps(out + 16, hi);
            }
            a[r] = _mm512_fmadd_ps(q1, hi, _mm512_fmadd_ps(q0, lo, a[r]));
        }
    }
    return sum16(a);
}

/* acc += sum_r weight[r] v[r] over the ROWS float32 rows v[r] of length Dv, prefetching
 * `lines` lines from `ahead` per 32 columns. */
INLINE void one_query_accumulate(const float *const *v, const float *weight, int64_t Dv,
                                 float *acc, const char *ahead, int lines) {
    int64_t d = 0;
    for (; d + 32 <= Dv; d += 32) { /* even and odd rows apart (FMA latency) */
        __m512 e0 = _mm512_loadu_ps(acc + d), f0 = _mm512_loadu_ps(acc + d + 16);
        __m512 e1 = _mm512_setzero_ps(), f1 = _mm512_setzero_ps();
#pragma GCC unroll 16
        for (int r = 0; r < ROWS; r += 2) {
            if (r < 2 * lines) _mm_prefetch(ahead, _MM_HINT_T1), ahead += 64;
            const __m512 w0 = _mm512_set1_ps(weight[r]), w1 = _mm512_set1_ps(weight[r + 1]);
            e0 = _mm512_fmadd_ps(w0, _mm512_loadu_ps(v[r] + d), e0);
            f0 = _mm512_fmadd_ps(w0, _mm512_loadu_ps(v[r] + d + 16), f0);
            e1 = _mm512_fmadd_ps(w1, _mm512_loadu_ps(v[r + 1] + d), e1);
            f1 = _mm512_fmadd_ps(w1, _mm512_loadu_ps(v[r + 1] + d + 16), f1);
        }
        _mm512_storeu_ps(acc + d, _mm512_add_ps(e0, e1));
        _mm512_storeu_ps(acc + d + 16, _mm512_add_ps(f0, f1));
    }
    for (; d < Dv; d += 16) {
        const __mmask16 m = (__mmask16)(Dv - d >= 16 ? 0xffffu : (1u << (Dv - d)) - 1u);
        __m512 e = _mm512_maskz_loadu_ps(m, acc + d);
        for (int r = 0; r < ROWS; ++r)
            e = _mm512_fmadd_ps(_mm512_set1_ps(weight[r]), _mm512_maskz_loadu_ps(m, v[r] + d), e);
        _mm512_mask_storeu_ps(acc + d, m, e);
    }
}

/* The block of rows start .. start + ROWS for one query (see above; rows_buf 64-byte
 * aligned); dtype 1 or 2 a constant after inlining. */
INLINE void one_query_block(const problem_t *pb, int64_t start, float *rows_buf, worker_t *w,
                            int dtype) {
    const int64_t D = pb->dim, row_bytes = D * (dtype == 1 ? 2 : 1);
    const char *base = (const char *)pb->keys + start * row_bytes;
    const char *ahead = base + AHEAD_BLOCKS * ROWS * row_bytes;
    float *widened = pb->values ? NULL : rows_buf;
    /* keys that are the values: half of the block ahead prefetched in each pass, 4 (int8)
       or 8 (bf16) lines per 32 columns of the weighted sum */
    const int half = widened != NULL;
    const __m512 dots = one_query_dots(base, pb->queries, D, dtype, widened, ahead, half);
    __m512 p;
    if (!weights16(pb, 0, start, ROWS, dots, w, dtype, &p)) return;
    if (dtype == 2 && widened) p = _mm512_mul_ps(p, _mm512_loadu_ps(pb->scales + start));
    float weight[ROWS];
    const float *v[ROWS];
    _mm512_storeu_ps(weight, p);
    for (int r = 0; r < ROWS; ++r)
        v[r] = widened ? widened + r * D : pb->values + (start + r) * pb->value_dim;
    one_query_accumulate(v, weight, pb->value_dim, w->weighted,
                         ahead + ROWS * row_bytes / 2, half ? 4 * (dtype == 1 ? 2 : 1) : 0);
}

static void run_block_fast(const problem_t *pb, int64_t start, int64_t count, float *rows_buf,
                           float *scores, worker_t *w) {
    if (pb->num_queries == 1 && count == ROWS && pb->dim % 32 == 0 && pb->dtype != 0) {
        if (pb->dtype == 1) one_query_block(pb, start, rows_buf, w, 1);
        else one_query_block(pb, start, rows_buf, w, 2);
        return;
    }
    if (pb->dtype == 0) run_block_simd(pb, start, count, rows_buf, scores, w, 0);
    else if (pb->dtype == 1) run_block_simd(pb, start, count, rows_buf, scores, w, 1);
    else run_block_simd(pb, start, count, rows_buf, scores, w, 2);
}

/* The bfloat16 key order within each 32 dimensions: evens, then odds. */
static void to_key_order(const float *from, int64_t n, int64_t dim, float *to) {
    for (int64_t i = 0; i < n; ++i, from += dim, to += dim) {
        memcpy(to, from, sizeof(float) * dim);
        for (int64_t c = 0; c < dim / 32; ++c)
            for (int j = 0; j < 16; ++j) {
                to[32 * c + j] = from[32 * c + 2 * j];
                to[32 * c + 16 + j] = from[32 * c + 2 * j + 1];
            }
    }
}

static void from_key_order(float *data, int64_t n, int64_t dim) {
    float chunk[32];
    for (int64_t i = 0; i < n; ++i, data += dim)
        for (int64_t c = 0; c < dim / 32; ++c) {
            for (int j = 0; j < 16; ++j) {
                chunk[2 * j] = data[32 * c + j];
                chunk[2 * j + 1] = data[32 * c + 16 + j];
            }
            memcpy(data + 32 * c, chunk, sizeof chunk);
        }
}
#endif
