/* losslab's fused softmax cross-entropy: per-row loss and gradient w.r.t. the logits, one read of the logits.
 *
 * ce_rows computes, for each row i of (N, C) logits z (float32, float64 or bfloat16 bits),
 *
 *   m = max_c z_c,  S = sum_c exp(z_c - m),  lse = m + log S,  s_c = exp(z_c - m) / S
 *   hard label y (class weights w, W = sum_c w_c, smoothing a):
 *     loss = (1 - a) w_y (lse - z_y) + (a / C) sum_c w_c (lse - z_c)
 *     grad = rowc * (s_c ((1 - a) w_y + a W / C) - (a / C) w_c - (1 - a) w_y [c = y])
 *   soft target t, t'_c = ((1 - a) t_c + a / C) w_c, T = sum_c t'_c:
 *     loss = sum_{c: t'_c > 0} t'_c (lse - z_c),  grad = rowc * (s_c T - t'_c)
 *
 * the formulas of losses/categorical.py (_ce_values, _ce_grad_values), and writes the gradient to `out`,
 * which may be the logits themselves (the backward of a training step then needs no second N x C buffer).
 *
 * Why three passes per row: the logits are read from memory once (pass 1, the maximum); pass 2 stores
 * e_c = exp(z_c - m) into a per-thread float32 (float64) scratch row while summing S, pass 3 scales
 * the scratch row into `out`. A 32000-class float32 row is 128 KiB, so passes 2 and 3 read the L2
 * cache, and the memory traffic is that of a copy. Pass 2 also prefetches the next row into L2, so
 * that memory keeps streaming while a thread computes (one thread then runs ~20% faster; with two the
 * cores overlap each other anyway). The scratch row (rather than `out` itself) keeps a row whose loss
 * turns out non-finite untouched, even in place, and lets pass 3 write `out` with streaming stores when
 * it is a separate large buffer already in memory (no read of the destination before the write; see
 * page_resident). The smoothing and soft-target sums use (m - z_c) >= 0, never W lse - sum w_c z_c,
 * which cancels.
 *
 * Numerics: float32 and bfloat16 compute in float32 (bfloat16 -> float32 is a shift of the bits; the
 * gradient goes back with round-to-nearest-even), with sums accumulated in float32 lanes over blocks of
 * at most 256 values and then in double; lse, the losses and the target class's gradient are double.
 * float64 computes in double. exp(x) below -87.3 (-708.3 in float64), under the smallest normal number,
 * is 0, so no subnormal values (which cost microcode assists) enter the sums. The exps are our own
 * polynomials: n = round(x / ln 2), r = x - n ln 2 in two parts, a polynomial in r, times 2^n; float32
 * a degree-6 fit (relative error about 1.2e-7), float64 the Taylor series to degree 13 (about 1 ulp),
 * in AVX-512F and AVX2+FMA variants chosen at run time (never
 * -march=native: one build runs on any x86-64); other machines (and compilers without GNU target
 * attributes) use libm's expf / exp in plain C.
 *
 * Status: 0 ok; 1 a label outside [0, C) that is not ignore_index (all labels are checked before anything
 * is written); 2 a row with no finite loss (NaN, +inf maximum, all -inf, a -inf logit the target needs):
 * its loss is NaN and its `out` row is left as it was, the other rows are computed; 3 a soft-target row
 * with an entry outside [0, 1] (or NaN) or a sum off 1 by more than tol (also left unwritten, loss NaN).
 * The index returned is the first such label or row; 3 is reported before 2.
 *
 * Threads: POSIX threads over contiguous row ranges (each row's arithmetic is the same whichever thread
 * runs it, so results do not depend on the thread count), the GIL released throughout. Only the buffer
 * protocol is used (no NumPy headers), like _native.c.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if !defined(_WIN32)
#include <pthread.h>
#define CE_THREADS 1
#endif

#if defined(__linux__)
#include <sys/mman.h>
#include <unistd.h>
#endif

#if (defined(__x86_64__) || defined(_M_X64)) && (defined(__GNUC__) || defined(__clang__))
#define CE_X86 1
#include <immintrin.h>
#endif

/* ------------------------------------------------------------------ scalar helpers */

static inline float bf16_to_f32(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* Round to nearest, ties to even; a NaN stays a (quiet) NaN rather than rounding into inf. */
static inline uint16_t f32_to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

/* exp(x) for x <= 0 as every float32 path sees it: 0 below -87.3 (no subnormals, see the header). */
static inline float exp_scalar(float x) { return x < -87.3f ? 0.0f : expf(x); }

/* ------------------------------------------------------------------ the per-ISA row operations (float32)
 *
 * max:       max of a float32 row; *nan set when an entry is NaN.
 * max_bf16:  the same of a bfloat16 row, which is also widened into dst (the later passes read float32).
 * exp_sum:   sum_c exp(x_c - m), storing the exponentials into dst unless dst is NULL (dst may be x).
 * wsum:      sum_c w_c (m - x_c) (w NULL: all ones), the smoothing term.
 * soft_sums: T = sum t'_c, L = sum_{t'_c > 0} t'_c (m - x_c), tsum = sum t_c, with t'_c = (a1 t_c + a2) w_c;
 *            returns 1 when some t_c is outside [0, 1] or NaN.
 * store:     out_c = k e_c - (p t_c + q) w_c (t NULL: t_c = 0; w NULL: w_c = 1), float32 or bfloat16 out;
 *            nt: streaming stores (the destination is not read into the cache first).
 * pf:        exp_sum also prefetches these rows (the next row's) into L2 while it computes; NULL: none.
 */
/* Up to two rows for exp_sum to prefetch into L2 (the next row of logits, and of soft targets). */
typedef struct {
    const char *p[2];
    Py_ssize_t n[2], len; /* bytes of each; len the larger */
} ce_pf;

typedef struct {
    const char *name;
    float (*max)(const float *x, Py_ssize_t n, int *nan);
    float (*max_bf16)(const uint16_t *x, Py_ssize_t n, float *dst, int *nan);
    double (*exp_sum)(const float *x, Py_ssize_t n, float m, float *dst, const ce_pf *pf);
    double (*wsum)(const float *x, const float *w, Py_ssize_t n, float m);
    int (*soft_sums)(const float *x, const float *t, const float *w, Py_ssize_t n, float m, float a1, float a2,
                     double *T, double *L, double *tsum);
    void (*store)(void *out, int bf, const float *e, const float *t, const float *w, Py_ssize_t n, float k,
                  float p, float q, int nt);
    /* float64 rows: the maximum, and sum_c exp(x_c - m) with the exponentials into dst (NULL: none) */
    double (*max_d)(const double *x, Py_ssize_t n, int *nan);
    double (*exp_sum_d)(const double *x, Py_ssize_t n, double m, double *dst, const ce_pf *pf);
} ce_isa;

/* --- portable C */

static float max_c(const float *x, Py_ssize_t n, int *nan) {
    float m = -INFINITY;
    int bad = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        float v = x[i];
        bad |= v != v;
        m = v > m ? v : m;
    }
    *nan = bad;
    return m;
}

static float max_bf16_c(const uint16_t *x, Py_ssize_t n, float *dst, int *nan) {
    for (Py_ssize_t i = 0; i < n; i++) dst[i] = bf16_to_f32(x[i]);
    return max_c(dst, n, nan);
}

static double exp_sum_c(const float *x, Py_ssize_t n, float m, float *dst, const ce_pf *pf) {
    (void)pf;
    double s = 0.0;
    for (Py_ssize_t i = 0; i < n; i++) {
        float e = exp_scalar(x[i] - m);
        if (dst) dst[i] = e;
        s += e;
    }
    return s;
}

static double wsum_c(const float *x, const float *w, Py_ssize_t n, float m) {
    double s = 0.0;
    for (Py_ssize_t i = 0; i < n; i++) s += (double)((w ? w[i] : 1.0f) * (m - x[i]));
    return s;
}

static int soft_sums_c(const float *x, const float *t, const float *w, Py_ssize_t n, float m, float a1, float a2,
                       double *T, double *L, double *tsum) {
    double sT = 0.0, sL = 0.0, st = 0.0;
    int bad = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        float tv = t[i];
        bad |= !(tv >= 0.0f && tv <= 1.0f);
        float tp = (a1 * tv + a2) * (w ? w[i] : 1.0f);
        sT += tp;
        st += tv;
        if (tp > 0.0f) sL += (double)(tp * (m - x[i]));
    }
    *T = sT, *L = sL, *tsum = st;
    return bad;
}

static void store_c(void *out, int bf, const float *e, const float *t, const float *w, Py_ssize_t n, float k,
                    float p, float q, int nt) {
    (void)nt;
    for (Py_ssize_t i = 0; i < n; i++) {
        float g = k * e[i] - (p * (t ? t[i] : 0.0f) + q) * (w ? w[i] : 1.0f);
        if (bf) ((uint16_t *)out)[i] = f32_to_bf16(g);
        else ((float *)out)[i] = g;
    }
}

/* four independent chains: the maximum is not latency-bound (and reads no faster than memory anyway) */
static double max_d_c(const double *x, Py_ssize_t n, int *nan) {
    double m[4] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY};
    int bad = 0;
    Py_ssize_t i = 0;
    for (; i + 4 <= n; i += 4)
        for (int j = 0; j < 4; j++) {
            double v = x[i + j];
            bad |= v != v;
            m[j] = v > m[j] ? v : m[j];
        }
    for (; i < n; i++) {
        double v = x[i];
        bad |= v != v;
        m[0] = v > m[0] ? v : m[0];
    }
    *nan = bad;
    double a = m[0] > m[1] ? m[0] : m[1], b = m[2] > m[3] ? m[2] : m[3];
    return a > b ? a : b;
}

/* exp(x) for x <= 0 as the float64 paths see it: 0 below -708.3 (under DBL_MIN, no subnormals) */
static inline double exp_scalar_d(double x) { return x < -708.3 ? 0.0 : exp(x); }

static double exp_sum_d_c(const double *x, Py_ssize_t n, double m, double *dst, const ce_pf *pf) {
    (void)pf;
    double s[4] = {0.0, 0.0, 0.0, 0.0};
    Py_ssize_t i = 0;
    for (; i + 4 <= n; i += 4)
        for (int j = 0; j < 4; j++) {
            double e = exp_scalar_d(x[i + j] - m);
            if (dst) dst[i + j] = e;
            s[j] += e;
        }
    for (; i < n; i++) {
        double e = exp_scalar_d(x[i] - m);
        if (dst) dst[i] = e;
        s[0] += e;
    }
    return (s[0] + s[1]) + (s[2] + s[3]);
}

static const ce_isa isa_c = {"scalar", max_c, max_bf16_c, exp_sum_c, wsum_c, soft_sums_c, store_c, max_d_c,
                             exp_sum_d_c};

#ifdef CE_X86
/* --- AVX-512F */
#define T512 __attribute__((target("avx512f,fma")))
#define INL static inline __attribute__((always_inline))

/* Prefetch bytes [po, po + step) of each row in pf (step a multiple of 64). */
static inline __attribute__((always_inline)) void prefetch_step(const ce_pf *pf, Py_ssize_t po, Py_ssize_t step) {
    for (int s = 0; s < 2; s++)
        if (po < pf->n[s])
            for (Py_ssize_t b = 0; b < step; b += 64) _mm_prefetch(pf->p[s] + po + b, _MM_HINT_T1);
}

/* float32 exp: ln 2 = C1 + C2 (Cephes' split, C1 exact in 9 bits, so n C1 is exact for |n| < 2^15); e^r on
 * [-ln2/2, ln2/2] by a degree-6 polynomial with the constant and linear terms 1 (so e^0 = 1 exactly),
 * fitted for relative error (1.7e-8 with the coefficients rounded to float32; 1 to 2 ulp with the
 * rounding of Horner's steps). Lanes below -87.3 are masked to 0 at the end: no clamp is needed before,
 * the garbage a -inf produces on the way (NaN) never leaves the function. */
#define EXP_LO -87.3f
#define LOG2E 1.44269504088896341f
#define LN2_HI 0.693359375f
#define LN2_LO -2.12194440e-4f
#define Q2 4.999999404e-01f
#define Q3 1.666643173e-01f
#define Q4 4.166800156e-02f
#define Q5 8.374155499e-03f
#define Q6 1.384365256e-03f

T512 INL __m512 exp512(__m512 x) {
    __mmask16 keep = _mm512_cmp_ps_mask(x, _mm512_set1_ps(EXP_LO), _CMP_GE_OQ); /* false for -inf */
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(LOG2E)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(LN2_HI), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(LN2_LO), r);
    __m512 p = _mm512_fmadd_ps(_mm512_set1_ps(Q6), r, _mm512_set1_ps(Q5));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(Q4));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(Q3));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(Q2));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    return _mm512_maskz_scalef_ps(keep, p, n); /* p 2^n, n >= -126 where kept: no subnormal */
}

T512 INL __mmask16 tail512(Py_ssize_t r) { return (__mmask16)((1u << r) - 1u); }

/* Adds the float32 lanes of a into the double accumulators (d0, d1): the end of one block of sums. */
T512 INL void flush512(__m512 a, __m512d *d0, __m512d *d1) {
    *d0 = _mm512_add_pd(*d0, _mm512_cvtps_pd(_mm512_castps512_ps256(a)));
    *d1 = _mm512_add_pd(*d1, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(a), 1))));
}

T512 static float max512(const float *x, Py_ssize_t n, int *nan) {
    __m512 m0 = _mm512_set1_ps(-INFINITY), m1 = m0, m2 = m0, m3 = m0;
    __mmask16 un = 0;
    Py_ssize_t i = 0;
    for (; i + 64 <= n; i += 64) {
        __m512 v0 = _mm512_loadu_ps(x + i), v1 = _mm512_loadu_ps(x + i + 16);
        __m512 v2 = _mm512_loadu_ps(x + i + 32), v3 = _mm512_loadu_ps(x + i + 48);
        un |= _mm512_cmp_ps_mask(v0, v1, _CMP_UNORD_Q) | _mm512_cmp_ps_mask(v2, v3, _CMP_UNORD_Q);
        m0 = _mm512_max_ps(m0, v0), m1 = _mm512_max_ps(m1, v1);
        m2 = _mm512_max_ps(m2, v2), m3 = _mm512_max_ps(m3, v3);
    }
    for (; i < n; i += 16) {
        __mmask16 k = n - i >= 16 ? (__mmask16)0xffff : tail512(n - i);
        __m512 v = _mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), k, x + i);
        un |= _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
        m0 = _mm512_max_ps(m0, v);
    }
    *nan = un != 0;
    return _mm512_reduce_max_ps(_mm512_max_ps(_mm512_max_ps(m0, m1), _mm512_max_ps(m2, m3)));
}

T512 static float max_bf16_512(const uint16_t *x, Py_ssize_t n, float *dst, int *nan) {
    __m512 m0 = _mm512_set1_ps(-INFINITY), m1 = m0;
    __mmask16 un = 0;
    Py_ssize_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512i h0 = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(x + i)));
        __m512i h1 = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(x + i + 16)));
        __m512 v0 = _mm512_castsi512_ps(_mm512_slli_epi32(h0, 16)), v1 = _mm512_castsi512_ps(_mm512_slli_epi32(h1, 16));
        _mm512_storeu_ps(dst + i, v0), _mm512_storeu_ps(dst + i + 16, v1);
        un |= _mm512_cmp_ps_mask(v0, v1, _CMP_UNORD_Q);
        m0 = _mm512_max_ps(m0, v0), m1 = _mm512_max_ps(m1, v1);
    }
    if (i < n) { /* the tail through a small buffer: a masked 16-bit load would need AVX512BW */
        float tmp[32];
        Py_ssize_t r = n - i;
        for (Py_ssize_t j = 0; j < 32; j++) tmp[j] = j < r ? bf16_to_f32(x[i + j]) : -INFINITY;
        for (Py_ssize_t j = 0; j < r; j++) dst[i + j] = tmp[j];
        __m512 v0 = _mm512_loadu_ps(tmp), v1 = _mm512_loadu_ps(tmp + 16);
        un |= _mm512_cmp_ps_mask(v0, v1, _CMP_UNORD_Q);
        m0 = _mm512_max_ps(m0, v0), m1 = _mm512_max_ps(m1, v1);
    }
    *nan = un != 0;
    return _mm512_reduce_max_ps(_mm512_max_ps(m0, m1));
}

T512 INL double exp_sum512_body(const float *x, Py_ssize_t n, float m, float *dst, const ce_pf *pf,
                                const int store) {
    const __m512 vm = _mm512_set1_ps(m), zero = _mm512_setzero_ps();
    __m512d d0 = _mm512_setzero_pd(), d1 = d0;
    __m512 a0 = zero, a1 = zero, a2 = zero, a3 = zero;
    Py_ssize_t i = 0;
    int blk = 0;
    Py_ssize_t po = 0;
    for (; i + 64 <= n; i += 64) {
        if (pf && po < pf->len) { /* the next row into L2 while this one computes: its pass 1 then needs no DRAM wait */
            prefetch_step(pf, po, 256);
            po += 256;
        }
        __m512 e0 = exp512(_mm512_sub_ps(_mm512_loadu_ps(x + i), vm));
        __m512 e1 = exp512(_mm512_sub_ps(_mm512_loadu_ps(x + i + 16), vm));
        __m512 e2 = exp512(_mm512_sub_ps(_mm512_loadu_ps(x + i + 32), vm));
        __m512 e3 = exp512(_mm512_sub_ps(_mm512_loadu_ps(x + i + 48), vm));
        if (store) {
            _mm512_storeu_ps(dst + i, e0), _mm512_storeu_ps(dst + i + 16, e1);
            _mm512_storeu_ps(dst + i + 32, e2), _mm512_storeu_ps(dst + i + 48, e3);
        }
        a0 = _mm512_add_ps(a0, e0), a1 = _mm512_add_ps(a1, e1);
        a2 = _mm512_add_ps(a2, e2), a3 = _mm512_add_ps(a3, e3);
        if (++blk == 4) { /* 256 values: each float32 lane has summed 4 */
            flush512(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)), &d0, &d1);
            a0 = a1 = a2 = a3 = zero;
            blk = 0;
        }
    }
    for (; i < n; i += 16) {
        __mmask16 k = n - i >= 16 ? (__mmask16)0xffff : tail512(n - i);
        __m512 e = exp512(_mm512_sub_ps(_mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), k, x + i), vm));
        if (store) _mm512_mask_storeu_ps(dst + i, k, e);
        a0 = _mm512_add_ps(a0, e);
    }
    flush512(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)), &d0, &d1);
    return _mm512_reduce_add_pd(_mm512_add_pd(d0, d1));
}

/* One function for both, so that the loss-only call sums in exactly the order of the gradient call. */
T512 static double exp_sum512(const float *x, Py_ssize_t n, float m, float *dst, const ce_pf *pf) {
    return dst ? exp_sum512_body(x, n, m, dst, pf, 1) : exp_sum512_body(x, n, m, NULL, pf, 0);
}

T512 static double wsum512(const float *x, const float *w, Py_ssize_t n, float m) {
    const __m512 vm = _mm512_set1_ps(m);
    __m512d d0 = _mm512_setzero_pd(), d1 = d0;
    __m512 a = _mm512_setzero_ps();
    int blk = 0;
    for (Py_ssize_t i = 0; i < n; i += 16) {
        __mmask16 k = n - i >= 16 ? (__mmask16)0xffff : tail512(n - i);
        __m512 d = _mm512_sub_ps(vm, _mm512_mask_loadu_ps(vm, k, x + i)); /* tail lanes: m - m = 0 */
        if (w) d = _mm512_mul_ps(d, _mm512_maskz_loadu_ps(k, w + i));
        a = _mm512_add_ps(a, d);
        if (++blk == 16) { flush512(a, &d0, &d1); a = _mm512_setzero_ps(); blk = 0; }
    }
    flush512(a, &d0, &d1);
    return _mm512_reduce_add_pd(_mm512_add_pd(d0, d1));
}

T512 static int soft_sums512(const float *x, const float *t, const float *w, Py_ssize_t n, float m, float a1,
                             float a2, double *T, double *L, double *tsum) {
    const __m512 vm = _mm512_set1_ps(m), va1 = _mm512_set1_ps(a1), va2 = _mm512_set1_ps(a2);
    const __m512 zero = _mm512_setzero_ps(), one = _mm512_set1_ps(1.0f);
    __m512d T0 = _mm512_setzero_pd(), T1 = T0, L0 = T0, L1 = T0, s0 = T0, s1 = T0;
    __m512 aT = zero, aL = zero, as = zero;
    __mmask16 bad = 0;
    int blk = 0;
    for (Py_ssize_t i = 0; i < n; i += 16) {
        __mmask16 k = n - i >= 16 ? (__mmask16)0xffff : tail512(n - i);
        __m512 tv = _mm512_maskz_loadu_ps(k, t + i);
        /* NGE/NLE are true for NaN too */
        bad |= _mm512_cmp_ps_mask(tv, zero, _CMP_NGE_UQ) | _mm512_cmp_ps_mask(tv, one, _CMP_NLE_UQ);
        __m512 tp = _mm512_maskz_mov_ps(k, _mm512_fmadd_ps(va1, tv, va2));
        if (w) tp = _mm512_mul_ps(tp, _mm512_maskz_loadu_ps(k, w + i));
        __m512 d = _mm512_sub_ps(vm, _mm512_mask_loadu_ps(vm, k, x + i));
        aT = _mm512_add_ps(aT, tp);
        as = _mm512_add_ps(as, tv);
        /* only classes the target uses: t'_c = 0 with z_c = -inf adds 0, not 0 * inf */
        aL = _mm512_add_ps(aL, _mm512_maskz_mul_ps(_mm512_cmp_ps_mask(tp, zero, _CMP_GT_OQ), tp, d));
        if (++blk == 16) {
            flush512(aT, &T0, &T1), flush512(aL, &L0, &L1), flush512(as, &s0, &s1);
            aT = aL = as = zero;
            blk = 0;
        }
    }
    flush512(aT, &T0, &T1), flush512(aL, &L0, &L1), flush512(as, &s0, &s1);
    *T = _mm512_reduce_add_pd(_mm512_add_pd(T0, T1));
    *L = _mm512_reduce_add_pd(_mm512_add_pd(L0, L1));
    *tsum = _mm512_reduce_add_pd(_mm512_add_pd(s0, s1));
    return bad != 0;
}

T512 INL __m512 grad512(const float *e, const float *t, const float *w, Py_ssize_t i, __mmask16 k, __m512 vk,
                        __m512 vp, __m512 vq, const int ht, const int hw) {
    __m512 c = ht ? _mm512_fmadd_ps(vp, _mm512_maskz_loadu_ps(k, t + i), vq) : vq;
    if (hw) c = _mm512_mul_ps(c, _mm512_maskz_loadu_ps(k, w + i));
    return _mm512_fmsub_ps(vk, _mm512_maskz_loadu_ps(k, e + i), c);
}

/* float32 -> bfloat16 bits (round to nearest even, NaN kept NaN), in the low 16 bits of each 32-bit lane. */
T512 INL __m512i to_bf16_512(__m512 g) {
    __m512i u = _mm512_castps_si512(g);
    __m512i r = _mm512_add_epi32(u, _mm512_add_epi32(_mm512_set1_epi32(0x7fff),
                                                     _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1))));
    r = _mm512_mask_mov_epi32(r, _mm512_cmp_ps_mask(g, g, _CMP_UNORD_Q), _mm512_or_si512(u, _mm512_set1_epi32(0x400000)));
    return _mm512_srli_epi32(r, 16);
}

T512 INL void store512_body(void *out, const float *e, const float *t, const float *w, Py_ssize_t n, float k,
                            float p, float q, const int ht, const int hw, const int bf, const int nt) {
    const __m512 vk = _mm512_set1_ps(k), vp = _mm512_set1_ps(p), vq = _mm512_set1_ps(q);
    Py_ssize_t i = 0;
    if (nt) { /* streaming stores need an aligned destination: the head up to the next 64 (32) bytes masked */
        uintptr_t a = (uintptr_t)out;
        Py_ssize_t head = bf ? (Py_ssize_t)(((32 - (a & 31)) & 31) / 2) : (Py_ssize_t)(((64 - (a & 63)) & 63) / 4);
        if (head > n) head = n;
        if (head) {
            __mmask16 km = tail512(head);
            __m512 g = grad512(e, t, w, 0, km, vk, vp, vq, ht, hw);
            if (bf) _mm512_mask_cvtepi32_storeu_epi16(out, km, to_bf16_512(g));
            else _mm512_mask_storeu_ps(out, km, g);
        }
        i = head;
        for (; i + 16 <= n; i += 16) {
            __m512 g = grad512(e, t, w, i, 0xffff, vk, vp, vq, ht, hw);
            if (bf) _mm256_stream_si256((__m256i *)((uint16_t *)out + i), _mm512_cvtepi32_epi16(to_bf16_512(g)));
            else _mm512_stream_ps((float *)out + i, g);
        }
    } else {
        for (; i + 16 <= n; i += 16) {
            __m512 g = grad512(e, t, w, i, 0xffff, vk, vp, vq, ht, hw);
            if (bf) _mm256_storeu_si256((__m256i *)((uint16_t *)out + i), _mm512_cvtepi32_epi16(to_bf16_512(g)));
            else _mm512_storeu_ps((float *)out + i, g);
        }
    }
    if (i < n) {
        __mmask16 km = tail512(n - i);
        __m512 g = grad512(e, t, w, i, km, vk, vp, vq, ht, hw);
        if (bf) _mm512_mask_cvtepi32_storeu_epi16((uint16_t *)out + i, km, to_bf16_512(g));
        else _mm512_mask_storeu_ps((float *)out + i, km, g);
    }
}

#define STORE_VARIANTS(body)                                                                                     \
    if (bf) {                                                                                                    \
        if (nt) {                                                                                                \
            if (t) w ? body(out, e, t, w, n, k, p, q, 1, 1, 1, 1) : body(out, e, t, w, n, k, p, q, 1, 0, 1, 1);  \
            else w ? body(out, e, t, w, n, k, p, q, 0, 1, 1, 1) : body(out, e, t, w, n, k, p, q, 0, 0, 1, 1);   \
        } else {                                                                                                 \
            if (t) w ? body(out, e, t, w, n, k, p, q, 1, 1, 1, 0) : body(out, e, t, w, n, k, p, q, 1, 0, 1, 0);  \
            else w ? body(out, e, t, w, n, k, p, q, 0, 1, 1, 0) : body(out, e, t, w, n, k, p, q, 0, 0, 1, 0);   \
        }                                                                                                        \
    } else {                                                                                                     \
        if (nt) {                                                                                                \
            if (t) w ? body(out, e, t, w, n, k, p, q, 1, 1, 0, 1) : body(out, e, t, w, n, k, p, q, 1, 0, 0, 1);  \
            else w ? body(out, e, t, w, n, k, p, q, 0, 1, 0, 1) : body(out, e, t, w, n, k, p, q, 0, 0, 0, 1);   \
        } else {                                                                                                 \
            if (t) w ? body(out, e, t, w, n, k, p, q, 1, 1, 0, 0) : body(out, e, t, w, n, k, p, q, 1, 0, 0, 0);  \
            else w ? body(out, e, t, w, n, k, p, q, 0, 1, 0, 0) : body(out, e, t, w, n, k, p, q, 0, 0, 0, 0);   \
        }                                                                                                        \
    }

T512 static void store512(void *out, int bf, const float *e, const float *t, const float *w, Py_ssize_t n, float k,
                          float p, float q, int nt) {
    STORE_VARIANTS(store512_body)
}

/* float64 exp: the same reduction with Cephes' split of ln 2 (C1 exact in 12 bits), then the Taylor
 * polynomial of e^r to degree 13 (|r| <= ln2 / 2: truncation 5e-18), Horner with FMA: about 1 ulp. */
#define EXP_LO_D -708.3
#define LOG2E_D 1.4426950408889634074
#define LN2_HI_D 6.93145751953125e-1
#define LN2_LO_D 1.42860682030941723212e-6
static const double TAYLOR[14] = {1.0 / 6227020800.0, 1.0 / 479001600.0, 1.0 / 39916800.0, 1.0 / 3628800.0,
                                  1.0 / 362880.0, 1.0 / 40320.0, 1.0 / 5040.0, 1.0 / 720.0, 1.0 / 120.0,
                                  1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0, 1.0};

T512 INL __m512d exp512d(__m512d x) {
    const __m512d lo = _mm512_set1_pd(EXP_LO_D);
    __mmask8 keep = _mm512_cmp_pd_mask(x, lo, _CMP_GE_OQ);
    x = _mm512_max_pd(x, lo);
    __m512d n = _mm512_roundscale_pd(_mm512_mul_pd(x, _mm512_set1_pd(LOG2E_D)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512d r = _mm512_fnmadd_pd(n, _mm512_set1_pd(LN2_HI_D), x);
    r = _mm512_fnmadd_pd(n, _mm512_set1_pd(LN2_LO_D), r);
    __m512d p = _mm512_set1_pd(TAYLOR[0]);
    for (int j = 1; j < 14; j++) p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(TAYLOR[j]));
    return _mm512_maskz_scalef_pd(keep, p, n);
}

T512 static double max512d(const double *x, Py_ssize_t n, int *nan) {
    __m512d m0 = _mm512_set1_pd(-INFINITY), m1 = m0, m2 = m0, m3 = m0;
    __mmask8 un = 0;
    Py_ssize_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512d v0 = _mm512_loadu_pd(x + i), v1 = _mm512_loadu_pd(x + i + 8);
        __m512d v2 = _mm512_loadu_pd(x + i + 16), v3 = _mm512_loadu_pd(x + i + 24);
        un |= _mm512_cmp_pd_mask(v0, v1, _CMP_UNORD_Q) | _mm512_cmp_pd_mask(v2, v3, _CMP_UNORD_Q);
        m0 = _mm512_max_pd(m0, v0), m1 = _mm512_max_pd(m1, v1);
        m2 = _mm512_max_pd(m2, v2), m3 = _mm512_max_pd(m3, v3);
    }
    for (; i < n; i += 8) {
        __mmask8 k = n - i >= 8 ? (__mmask8)0xff : (__mmask8)((1u << (n - i)) - 1u);
        __m512d v = _mm512_mask_loadu_pd(_mm512_set1_pd(-INFINITY), k, x + i);
        un |= _mm512_cmp_pd_mask(v, v, _CMP_UNORD_Q);
        m0 = _mm512_max_pd(m0, v);
    }
    *nan = un != 0;
    return _mm512_reduce_max_pd(_mm512_max_pd(_mm512_max_pd(m0, m1), _mm512_max_pd(m2, m3)));
}

T512 INL double exp_sum512d_body(const double *x, Py_ssize_t n, double m, double *dst, const ce_pf *pf,
                                 const int store) {
    const __m512d vm = _mm512_set1_pd(m);
    __m512d a0 = _mm512_setzero_pd(), a1 = a0, a2 = a0, a3 = a0;
    Py_ssize_t i = 0, po = 0;
    for (; i + 32 <= n; i += 32) {
        if (pf && po < pf->len) { /* 256 bytes per 32 values: the next row by the end of this one */
            prefetch_step(pf, po, 256);
            po += 256;
        }
        __m512d e0 = exp512d(_mm512_sub_pd(_mm512_loadu_pd(x + i), vm));
        __m512d e1 = exp512d(_mm512_sub_pd(_mm512_loadu_pd(x + i + 8), vm));
        __m512d e2 = exp512d(_mm512_sub_pd(_mm512_loadu_pd(x + i + 16), vm));
        __m512d e3 = exp512d(_mm512_sub_pd(_mm512_loadu_pd(x + i + 24), vm));
        if (store) {
            _mm512_storeu_pd(dst + i, e0), _mm512_storeu_pd(dst + i + 8, e1);
            _mm512_storeu_pd(dst + i + 16, e2), _mm512_storeu_pd(dst + i + 24, e3);
        }
        a0 = _mm512_add_pd(a0, e0), a1 = _mm512_add_pd(a1, e1);
        a2 = _mm512_add_pd(a2, e2), a3 = _mm512_add_pd(a3, e3);
    }
    for (; i < n; i += 8) {
        __mmask8 k = n - i >= 8 ? (__mmask8)0xff : (__mmask8)((1u << (n - i)) - 1u);
        __m512d e = exp512d(_mm512_sub_pd(_mm512_mask_loadu_pd(_mm512_set1_pd(-INFINITY), k, x + i), vm));
        if (store) _mm512_mask_storeu_pd(dst + i, k, e);
        a0 = _mm512_add_pd(a0, e);
    }
    return _mm512_reduce_add_pd(_mm512_add_pd(_mm512_add_pd(a0, a1), _mm512_add_pd(a2, a3)));
}

T512 static double exp_sum512d(const double *x, Py_ssize_t n, double m, double *dst, const ce_pf *pf) {
    return dst ? exp_sum512d_body(x, n, m, dst, pf, 1) : exp_sum512d_body(x, n, m, NULL, pf, 0);
}

static const ce_isa isa_512 = {"avx512", max512, max_bf16_512, exp_sum512, wsum512, soft_sums512, store512,
                               max512d, exp_sum512d};

/* --- AVX2 + FMA: the same operations 8 lanes wide; tails through masked loads/stores (maskload zeroes) */
#define T256 __attribute__((target("avx2,fma")))

T256 INL __m256 exp256(__m256 x) {
    __m256 keep = _mm256_cmp_ps(x, _mm256_set1_ps(EXP_LO), _CMP_GE_OQ);
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(LOG2E)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(LN2_HI), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(LN2_LO), r);
    __m256 p = _mm256_fmadd_ps(_mm256_set1_ps(Q6), r, _mm256_set1_ps(Q5));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(Q4));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(Q3));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(Q2));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    /* 2^n from the exponent bits: n >= -126 in the kept lanes, a biased exponent >= 1 (the others,
     * garbage up to NaN for -inf, are masked to 0 by the AND) */
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_and_ps(_mm256_mul_ps(p, _mm256_castsi256_ps(e)), keep);
}

T256 INL __m256i tail256(Py_ssize_t r) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)r), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* maskload, the masked-off lanes set to fill */
T256 INL __m256 load_fill256(const float *p, __m256i k, __m256 fill) {
    return _mm256_blendv_ps(fill, _mm256_maskload_ps(p, k), _mm256_castsi256_ps(k));
}

T256 INL void flush256(__m256 a, __m256d *d0, __m256d *d1) {
    *d0 = _mm256_add_pd(*d0, _mm256_cvtps_pd(_mm256_castps256_ps128(a)));
    *d1 = _mm256_add_pd(*d1, _mm256_cvtps_pd(_mm256_extractf128_ps(a, 1)));
}

T256 INL double hsum256d(__m256d a) {
    __m128d s = _mm_add_pd(_mm256_castpd256_pd128(a), _mm256_extractf128_pd(a, 1));
    return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}

T256 INL float hmax256(__m256 a) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}

T256 static float max256(const float *x, Py_ssize_t n, int *nan) {
    const __m256 ninf = _mm256_set1_ps(-INFINITY);
    __m256 m0 = ninf, m1 = ninf, m2 = ninf, m3 = ninf, un = _mm256_setzero_ps();
    Py_ssize_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m256 v0 = _mm256_loadu_ps(x + i), v1 = _mm256_loadu_ps(x + i + 8);
        __m256 v2 = _mm256_loadu_ps(x + i + 16), v3 = _mm256_loadu_ps(x + i + 24);
        un = _mm256_or_ps(un, _mm256_or_ps(_mm256_cmp_ps(v0, v1, _CMP_UNORD_Q), _mm256_cmp_ps(v2, v3, _CMP_UNORD_Q)));
        m0 = _mm256_max_ps(m0, v0), m1 = _mm256_max_ps(m1, v1);
        m2 = _mm256_max_ps(m2, v2), m3 = _mm256_max_ps(m3, v3);
    }
    for (; i < n; i += 8) {
        __m256 v = n - i >= 8 ? _mm256_loadu_ps(x + i) : load_fill256(x + i, tail256(n - i), ninf);
        un = _mm256_or_ps(un, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
        m0 = _mm256_max_ps(m0, v);
    }
    *nan = _mm256_movemask_ps(un) != 0;
    return hmax256(_mm256_max_ps(_mm256_max_ps(m0, m1), _mm256_max_ps(m2, m3)));
}

T256 static float max_bf16_256(const uint16_t *x, Py_ssize_t n, float *dst, int *nan) {
    const __m256 ninf = _mm256_set1_ps(-INFINITY);
    __m256 m0 = ninf, m1 = ninf, un = _mm256_setzero_ps();
    Py_ssize_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256i h0 = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(x + i)));
        __m256i h1 = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(x + i + 8)));
        __m256 v0 = _mm256_castsi256_ps(_mm256_slli_epi32(h0, 16)), v1 = _mm256_castsi256_ps(_mm256_slli_epi32(h1, 16));
        _mm256_storeu_ps(dst + i, v0), _mm256_storeu_ps(dst + i + 8, v1);
        un = _mm256_or_ps(un, _mm256_cmp_ps(v0, v1, _CMP_UNORD_Q));
        m0 = _mm256_max_ps(m0, v0), m1 = _mm256_max_ps(m1, v1);
    }
    if (i < n) {
        float tmp[16];
        Py_ssize_t r = n - i;
        for (Py_ssize_t j = 0; j < 16; j++) tmp[j] = j < r ? bf16_to_f32(x[i + j]) : -INFINITY;
        for (Py_ssize_t j = 0; j < r; j++) dst[i + j] = tmp[j];
        __m256 v0 = _mm256_loadu_ps(tmp), v1 = _mm256_loadu_ps(tmp + 8);
        un = _mm256_or_ps(un, _mm256_cmp_ps(v0, v1, _CMP_UNORD_Q));
        m0 = _mm256_max_ps(m0, v0), m1 = _mm256_max_ps(m1, v1);
    }
    *nan = _mm256_movemask_ps(un) != 0;
    return hmax256(_mm256_max_ps(m0, m1));
}

T256 INL double exp_sum256_body(const float *x, Py_ssize_t n, float m, float *dst, const ce_pf *pf,
                                const int store) {
    const __m256 vm = _mm256_set1_ps(m), zero = _mm256_setzero_ps();
    __m256d d0 = _mm256_setzero_pd(), d1 = d0;
    __m256 a0 = zero, a1 = zero, a2 = zero, a3 = zero;
    Py_ssize_t i = 0;
    int blk = 0;
    Py_ssize_t po = 0;
    for (; i + 32 <= n; i += 32) {
        if (pf && po < pf->len) {
            prefetch_step(pf, po, 128);
            po += 128;
        }
        __m256 e0 = exp256(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm));
        __m256 e1 = exp256(_mm256_sub_ps(_mm256_loadu_ps(x + i + 8), vm));
        __m256 e2 = exp256(_mm256_sub_ps(_mm256_loadu_ps(x + i + 16), vm));
        __m256 e3 = exp256(_mm256_sub_ps(_mm256_loadu_ps(x + i + 24), vm));
        if (store) {
            _mm256_storeu_ps(dst + i, e0), _mm256_storeu_ps(dst + i + 8, e1);
            _mm256_storeu_ps(dst + i + 16, e2), _mm256_storeu_ps(dst + i + 24, e3);
        }
        a0 = _mm256_add_ps(a0, e0), a1 = _mm256_add_ps(a1, e1);
        a2 = _mm256_add_ps(a2, e2), a3 = _mm256_add_ps(a3, e3);
        if (++blk == 8) {
            flush256(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)), &d0, &d1);
            a0 = a1 = a2 = a3 = zero;
            blk = 0;
        }
    }
    for (; i < n; i += 8) {
        __m256i k = tail256(n - i);
        __m256 v = n - i >= 8 ? _mm256_loadu_ps(x + i) : load_fill256(x + i, k, _mm256_set1_ps(-INFINITY));
        __m256 e = exp256(_mm256_sub_ps(v, vm));
        if (store) {
            if (n - i >= 8) _mm256_storeu_ps(dst + i, e);
            else _mm256_maskstore_ps(dst + i, k, e);
        }
        a0 = _mm256_add_ps(a0, e);
    }
    flush256(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)), &d0, &d1);
    return hsum256d(_mm256_add_pd(d0, d1));
}

T256 static double exp_sum256(const float *x, Py_ssize_t n, float m, float *dst, const ce_pf *pf) {
    return dst ? exp_sum256_body(x, n, m, dst, pf, 1) : exp_sum256_body(x, n, m, NULL, pf, 0);
}

T256 static double wsum256(const float *x, const float *w, Py_ssize_t n, float m) {
    const __m256 vm = _mm256_set1_ps(m);
    __m256d d0 = _mm256_setzero_pd(), d1 = d0;
    __m256 a = _mm256_setzero_ps();
    int blk = 0;
    for (Py_ssize_t i = 0; i < n; i += 8) {
        __m256i k = tail256(n - i);
        __m256 d = _mm256_sub_ps(vm, load_fill256(x + i, k, vm));
        if (w) d = _mm256_mul_ps(d, _mm256_maskload_ps(w + i, k));
        a = _mm256_add_ps(a, d);
        if (++blk == 32) { flush256(a, &d0, &d1); a = _mm256_setzero_ps(); blk = 0; }
    }
    flush256(a, &d0, &d1);
    return hsum256d(_mm256_add_pd(d0, d1));
}

T256 static int soft_sums256(const float *x, const float *t, const float *w, Py_ssize_t n, float m, float a1,
                             float a2, double *T, double *L, double *tsum) {
    const __m256 vm = _mm256_set1_ps(m), va1 = _mm256_set1_ps(a1), va2 = _mm256_set1_ps(a2);
    const __m256 zero = _mm256_setzero_ps(), one = _mm256_set1_ps(1.0f);
    __m256d T0 = _mm256_setzero_pd(), T1 = T0, L0 = T0, L1 = T0, s0 = T0, s1 = T0;
    __m256 aT = zero, aL = zero, as = zero, bad = zero;
    int blk = 0;
    for (Py_ssize_t i = 0; i < n; i += 8) {
        __m256i k = tail256(n - i);
        __m256 kf = _mm256_castsi256_ps(k);
        __m256 tv = _mm256_maskload_ps(t + i, k);
        bad = _mm256_or_ps(bad, _mm256_or_ps(_mm256_cmp_ps(tv, zero, _CMP_NGE_UQ), _mm256_cmp_ps(tv, one, _CMP_NLE_UQ)));
        __m256 tp = _mm256_and_ps(kf, _mm256_fmadd_ps(va1, tv, va2));
        if (w) tp = _mm256_mul_ps(tp, _mm256_maskload_ps(w + i, k));
        __m256 d = _mm256_sub_ps(vm, load_fill256(x + i, k, vm));
        aT = _mm256_add_ps(aT, tp);
        as = _mm256_add_ps(as, tv);
        aL = _mm256_add_ps(aL, _mm256_and_ps(_mm256_cmp_ps(tp, zero, _CMP_GT_OQ), _mm256_mul_ps(tp, d)));
        if (++blk == 32) {
            flush256(aT, &T0, &T1), flush256(aL, &L0, &L1), flush256(as, &s0, &s1);
            aT = aL = as = zero;
            blk = 0;
        }
    }
    flush256(aT, &T0, &T1), flush256(aL, &L0, &L1), flush256(as, &s0, &s1);
    *T = hsum256d(_mm256_add_pd(T0, T1));
    *L = hsum256d(_mm256_add_pd(L0, L1));
    *tsum = hsum256d(_mm256_add_pd(s0, s1));
    return _mm256_movemask_ps(bad) != 0;
}

T256 INL __m256 grad256(const float *e, const float *t, const float *w, Py_ssize_t i, __m256i k, __m256 vk,
                        __m256 vp, __m256 vq, const int ht, const int hw) {
    __m256 c = ht ? _mm256_fmadd_ps(vp, _mm256_maskload_ps(t + i, k), vq) : vq;
    if (hw) c = _mm256_mul_ps(c, _mm256_maskload_ps(w + i, k));
    return _mm256_fmsub_ps(vk, _mm256_maskload_ps(e + i, k), c);
}

T256 INL __m256i to_bf16_256(__m256 g) {
    __m256i u = _mm256_castps_si256(g);
    __m256i r = _mm256_add_epi32(u, _mm256_add_epi32(_mm256_set1_epi32(0x7fff),
                                                     _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1))));
    r = _mm256_blendv_epi8(r, _mm256_or_si256(u, _mm256_set1_epi32(0x400000)),
                           _mm256_castps_si256(_mm256_cmp_ps(g, g, _CMP_UNORD_Q)));
    return _mm256_srli_epi32(r, 16);
}

T256 INL void store256_body(void *out, const float *e, const float *t, const float *w, Py_ssize_t n, float k,
                            float p, float q, const int ht, const int hw, const int bf, const int nt) {
    const __m256 vk = _mm256_set1_ps(k), vp = _mm256_set1_ps(p), vq = _mm256_set1_ps(q);
    const __m256i all = _mm256_set1_epi32(-1);
    Py_ssize_t i = 0;
    (void)nt; /* AVX2 machines get plain stores: the streaming variant is tuned for AVX-512 only */
    if (bf) {
        for (; i + 16 <= n; i += 16) { /* 16 floats -> 16 bfloat16 (packus interleaves the 128-bit halves) */
            __m256i r0 = to_bf16_256(grad256(e, t, w, i, all, vk, vp, vq, ht, hw));
            __m256i r1 = to_bf16_256(grad256(e, t, w, i + 8, all, vk, vp, vq, ht, hw));
            __m256i h = _mm256_permute4x64_epi64(_mm256_packus_epi32(r0, r1), 0xd8);
            _mm256_storeu_si256((__m256i *)((uint16_t *)out + i), h);
        }
        for (; i < n; i++) {
            float g = k * e[i] - (p * (ht ? t[i] : 0.0f) + q) * (hw ? w[i] : 1.0f);
            ((uint16_t *)out)[i] = f32_to_bf16(g);
        }
    } else {
        for (; i + 8 <= n; i += 8) _mm256_storeu_ps((float *)out + i, grad256(e, t, w, i, all, vk, vp, vq, ht, hw));
        if (i < n) {
            __m256i km = tail256(n - i);
            _mm256_maskstore_ps((float *)out + i, km, grad256(e, t, w, i, km, vk, vp, vq, ht, hw));
        }
    }
}

T256 static void store256(void *out, int bf, const float *e, const float *t, const float *w, Py_ssize_t n, float k,
                          float p, float q, int nt) {
    STORE_VARIANTS(store256_body)
}

T256 INL __m256d exp256d(__m256d x) {
    const __m256d lo = _mm256_set1_pd(EXP_LO_D);
    __m256d keep = _mm256_cmp_pd(x, lo, _CMP_GE_OQ);
    x = _mm256_max_pd(x, lo);
    __m256d n = _mm256_round_pd(_mm256_mul_pd(x, _mm256_set1_pd(LOG2E_D)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256d r = _mm256_fnmadd_pd(n, _mm256_set1_pd(LN2_HI_D), x);
    r = _mm256_fnmadd_pd(n, _mm256_set1_pd(LN2_LO_D), r);
    __m256d p = _mm256_set1_pd(TAYLOR[0]);
    for (int j = 1; j < 14; j++) p = _mm256_fmadd_pd(p, r, _mm256_set1_pd(TAYLOR[j]));
    /* 2^n from the exponent bits; n >= -1022 after the clamp */
    __m128i ni = _mm_add_epi32(_mm256_cvtpd_epi32(n), _mm_set1_epi32(1023));
    __m256d s2 = _mm256_castsi256_pd(_mm256_slli_epi64(_mm256_cvtepi32_epi64(ni), 52));
    return _mm256_and_pd(_mm256_mul_pd(p, s2), keep);
}

T256 INL __m256i tail256d(Py_ssize_t r) {
    return _mm256_cmpgt_epi64(_mm256_set1_epi64x((long long)r), _mm256_setr_epi64x(0, 1, 2, 3));
}

T256 static double max256d(const double *x, Py_ssize_t n, int *nan) {
    const __m256d ninf = _mm256_set1_pd(-INFINITY);
    __m256d m0 = ninf, m1 = ninf, m2 = ninf, m3 = ninf, un = _mm256_setzero_pd();
    Py_ssize_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256d v0 = _mm256_loadu_pd(x + i), v1 = _mm256_loadu_pd(x + i + 4);
        __m256d v2 = _mm256_loadu_pd(x + i + 8), v3 = _mm256_loadu_pd(x + i + 12);
        un = _mm256_or_pd(un, _mm256_or_pd(_mm256_cmp_pd(v0, v1, _CMP_UNORD_Q), _mm256_cmp_pd(v2, v3, _CMP_UNORD_Q)));
        m0 = _mm256_max_pd(m0, v0), m1 = _mm256_max_pd(m1, v1);
        m2 = _mm256_max_pd(m2, v2), m3 = _mm256_max_pd(m3, v3);
    }
    for (; i < n; i += 4) {
        __m256i k = tail256d(n - i);
        __m256d v = _mm256_blendv_pd(ninf, _mm256_maskload_pd(x + i, k), _mm256_castsi256_pd(k));
        un = _mm256_or_pd(un, _mm256_cmp_pd(v, v, _CMP_UNORD_Q));
        m0 = _mm256_max_pd(m0, v);
    }
    *nan = _mm256_movemask_pd(un) != 0;
    __m256d a = _mm256_max_pd(_mm256_max_pd(m0, m1), _mm256_max_pd(m2, m3));
    __m128d b = _mm_max_pd(_mm256_castpd256_pd128(a), _mm256_extractf128_pd(a, 1));
    return _mm_cvtsd_f64(_mm_max_sd(b, _mm_unpackhi_pd(b, b)));
}

T256 INL double exp_sum256d_body(const double *x, Py_ssize_t n, double m, double *dst, const ce_pf *pf,
                                 const int store) {
    const __m256d vm = _mm256_set1_pd(m);
    __m256d a0 = _mm256_setzero_pd(), a1 = a0, a2 = a0, a3 = a0;
    Py_ssize_t i = 0, po = 0;
    for (; i + 16 <= n; i += 16) {
        if (pf && po < pf->len) {
            prefetch_step(pf, po, 128);
            po += 128;
        }
        __m256d e0 = exp256d(_mm256_sub_pd(_mm256_loadu_pd(x + i), vm));
        __m256d e1 = exp256d(_mm256_sub_pd(_mm256_loadu_pd(x + i + 4), vm));
        __m256d e2 = exp256d(_mm256_sub_pd(_mm256_loadu_pd(x + i + 8), vm));
        __m256d e3 = exp256d(_mm256_sub_pd(_mm256_loadu_pd(x + i + 12), vm));
        if (store) {
            _mm256_storeu_pd(dst + i, e0), _mm256_storeu_pd(dst + i + 4, e1);
            _mm256_storeu_pd(dst + i + 8, e2), _mm256_storeu_pd(dst + i + 12, e3);
        }
        a0 = _mm256_add_pd(a0, e0), a1 = _mm256_add_pd(a1, e1);
        a2 = _mm256_add_pd(a2, e2), a3 = _mm256_add_pd(a3, e3);
    }
    for (; i < n; i += 4) {
        __m256i k = tail256d(n - i);
        __m256d v = _mm256_blendv_pd(_mm256_set1_pd(-INFINITY), _mm256_maskload_pd(x + i, k), _mm256_castsi256_pd(k));
        __m256d e = exp256d(_mm256_sub_pd(v, vm));
        if (store) _mm256_maskstore_pd(dst + i, k, e);
        a0 = _mm256_add_pd(a0, e);
    }
    return hsum256d(_mm256_add_pd(_mm256_add_pd(a0, a1), _mm256_add_pd(a2, a3)));
}

T256 static double exp_sum256d(const double *x, Py_ssize_t n, double m, double *dst, const ce_pf *pf) {
    return dst ? exp_sum256d_body(x, n, m, dst, pf, 1) : exp_sum256d_body(x, n, m, NULL, pf, 0);
}

static const ce_isa isa_256 = {"avx2", max256, max_bf16_256, exp_sum256, wsum256, soft_sums256, store256,
                               max256d, exp_sum256d};
#endif /* CE_X86 */

static const ce_isa *isa_now = &isa_c;
static int ce_prefetch = 1;
static long long ce_stream_min = (long long)64 << 20; /* bytes of out from which pass 3 streams */

static void choose_isa(void) {
#ifdef CE_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) isa_now = &isa_512;
    else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) isa_now = &isa_256;
#endif
}

/* ------------------------------------------------------------------ the job */

typedef struct {
    /* the call */
    int kind, soft, bf, nt, prefetch;
    Py_ssize_t N, C;
    const void *z;
    void *out;
    const void *tgt;      /* int64 (N,) labels or (N, C) probabilities of the compute type */
    const double *rowc;   /* (N,) or NULL: rowc_s for every row */
    double rowc_s;
    const double *cw;     /* (C,) or NULL */
    const float *cwf;     /* cw in float32 (float paths) */
    double W, alpha, tol;
    int use_ignore;
    long long ignore;
    double *loss;
    const ce_isa *isa;
    /* one thread's share and findings */
    Py_ssize_t r0, r1, bad2, bad3;
    void *scratch;
} ce_job;

static inline void zero_row(ce_job *J, Py_ssize_t i) {
    size_t item = J->kind == 1 ? 8 : J->kind == 2 ? 2 : 4;
    memset((char *)J->out + (size_t)i * (size_t)J->C * item, 0, (size_t)J->C * item);
}

static inline void mark_bad(ce_job *J, Py_ssize_t i, int status) {
    J->loss[i] = NAN;
    if (status == 3) { if (J->bad3 < 0) J->bad3 = i; }
    else if (J->bad2 < 0) J->bad2 = i;
}

/* Whether a soft-target row is valid, for a row whose logits already failed: an invalid target is
 * reported first (status 3 before 2), as the generic path checks the target before computing. */
static int soft_row_ok(const float *t, Py_ssize_t C, double tol) {
    double s = 0.0;
    for (Py_ssize_t c = 0; c < C; c++) {
        if (!(t[c] >= 0.0f && t[c] <= 1.0f)) return 0;
        s += t[c];
    }
    return fabs(s - 1.0) <= tol;
}

static int soft_row_ok_d(const double *t, Py_ssize_t C, double tol) {
    double s = 0.0;
    for (Py_ssize_t c = 0; c < C; c++) {
        if (!(t[c] >= 0.0 && t[c] <= 1.0)) return 0;
        s += t[c];
    }
    return fabs(s - 1.0) <= tol;
}

/* Rows go in blocks (block_rows: as many as fit CE_BLOCK_VALUES scratch values, 1 to CE_BLOCK): every
 * row's passes 1 and 2 first, then the logs and losses, then the gradient rows. A row's tail (a reduction,
 * log, a division) is a chain of a few hundred cycles of latency; in a block the rows' chains overlap,
 * which makes small C (tens of classes) several times faster. Large C: one row per block, as before. */
#define CE_BLOCK 32
#define CE_BLOCK_VALUES 4096

static Py_ssize_t block_rows(Py_ssize_t C) {
    Py_ssize_t r = CE_BLOCK_VALUES / C;
    return r < 1 ? 1 : r > CE_BLOCK ? CE_BLOCK : r;
}

/* One row of a block between the passes: live (to finish) or done (ignored or reported). */
typedef struct {
    double S, Q, T, L, zy, m;
    long long y;
    int live;
} ce_row;

/* float32 and bfloat16 logits */
static void rows_f32(ce_job *J) {
    const ce_isa *I = J->isa;
    const Py_ssize_t C = J->C, R = block_rows(C);
    const double a = J->alpha, aC = J->alpha / (double)C;
    const float a1 = (float)(1.0 - a), a2 = (float)aC;
    const long long *Y = J->soft ? NULL : (const long long *)J->tgt;
    const size_t zrow = (size_t)C * (J->bf ? 2 : 4);
    ce_row rs[CE_BLOCK];
    for (Py_ssize_t i0 = J->r0; i0 < J->r1; i0 += R) {
        const Py_ssize_t nb = J->r1 - i0 < R ? J->r1 - i0 : R;
        for (Py_ssize_t b = 0; b < nb; b++) {
            const Py_ssize_t i = i0 + b;
            ce_row *r = &rs[b];
            float *scr = (float *)J->scratch + b * C;
            r->live = 0;
            long long y = 0;
            if (Y) {
                y = Y[i];
                if (J->use_ignore && y == J->ignore) {
                    J->loss[i] = 0.0;
                    if (J->out) zero_row(J, i);
                    continue;
                }
            }
            /* pass 1: the maximum (a bfloat16 row is widened into the scratch row on the way) */
            const float *x;
            int nan = 0;
            float m;
            if (J->bf) {
                m = I->max_bf16((const uint16_t *)((const char *)J->z + (size_t)i * zrow), C, scr, &nan);
                x = scr;
            } else {
                x = (const float *)J->z + i * C;
                m = I->max(x, C, &nan);
            }
            const float *trow = J->soft ? (const float *)J->tgt + i * C : NULL;
            if (nan || !(m < INFINITY) || m == -INFINITY) {
                mark_bad(J, i, trow && !soft_row_ok(trow, C, J->tol) ? 3 : 2);
                continue;
            }
            /* the sums that need the logits, before pass 2 may overwrite a widened row */
            r->Q = r->T = r->L = 0.0;
            if (trow) {
                double tsum = 0.0;
                if (I->soft_sums(x, trow, J->cwf, C, m, a1, a2, &r->T, &r->L, &tsum) || !(fabs(tsum - 1.0) <= J->tol)) {
                    mark_bad(J, i, 3);
                    continue;
                }
            } else if (a > 0.0) {
                r->Q = I->wsum(x, J->cwf, C, m);
            }
            r->zy = Y ? (double)x[y] : 0.0;
            /* pass 2: exponentials into the scratch row (in place for a widened row), and their sum; the next
             * row of this share (logits, soft targets) is prefetched meanwhile */
            ce_pf pf = {{NULL, NULL}, {0, 0}, 0};
            if (J->prefetch && i + 1 < J->r1) {
                pf.p[0] = (const char *)J->z + (size_t)(i + 1) * zrow;
                pf.n[0] = pf.len = (Py_ssize_t)zrow;
                if (trow) pf.p[1] = (const char *)(trow + C), pf.n[1] = pf.len = C * 4;
            }
            r->S = I->exp_sum(x, C, m, J->out ? scr : NULL, pf.len ? &pf : NULL);
            r->m = m, r->y = y, r->live = 1;
        }
        for (Py_ssize_t b = 0; b < nb; b++) { /* the losses: independent logs, overlapping */
            ce_row *r = &rs[b];
            if (!r->live) continue;
            double logS = log(r->S), lossv;
            if (Y) {
                double wy = J->cw ? J->cw[r->y] : 1.0;
                lossv = (1.0 - a) * wy * ((r->m - r->zy) + logS);
                if (a > 0.0) lossv += aC * (J->W * logS + r->Q);
            } else {
                lossv = r->T * logS + r->L;
            }
            if (!isfinite(lossv)) {
                mark_bad(J, i0 + b, 2);
                r->live = 0;
                continue;
            }
            J->loss[i0 + b] = lossv;
        }
        if (!J->out) continue;
        for (Py_ssize_t b = 0; b < nb; b++) { /* pass 3: the gradient rows from the scratch rows */
            const ce_row *r = &rs[b];
            if (!r->live) continue;
            const Py_ssize_t i = i0 + b;
            const float *scr = (const float *)J->scratch + b * C;
            double rc = J->rowc ? J->rowc[i] : J->rowc_s, S = r->S;
            void *orow = (char *)J->out + (size_t)i * zrow;
            if (Y) {
                long long y = r->y;
                double wy = J->cw ? J->cw[y] : 1.0, A = (1.0 - a) * wy + a * J->W / (double)C;
                I->store(orow, J->bf, scr, NULL, a > 0.0 ? J->cwf : NULL, C, (float)(rc * A / S), 0.0f,
                         (float)(rc * aC), J->nt);
                /* the target class in double: s_y A - (1 - a) w_y cancels when s_y is near 1 */
                double gy = rc * (A * exp(r->zy - r->m) / S - aC * wy - (1.0 - a) * wy);
                if (J->bf) ((uint16_t *)orow)[y] = f32_to_bf16((float)gy);
                else ((float *)orow)[y] = (float)gy;
            } else {
                const float *trow = (const float *)J->tgt + i * C;
                I->store(orow, J->bf, scr, trow, J->cwf, C, (float)(rc * r->T / S),
                         (float)(rc * (1.0 - a)), (float)(rc * aC), J->nt);
            }
        }
    }
}

/* sum_c w_c (m - x_c) in double, four chains (latency, and a smaller rounding error than one) */
static double wsum_d(const double *x, const double *w, Py_ssize_t n, double m) {
    double s[4] = {0.0, 0.0, 0.0, 0.0};
    Py_ssize_t i = 0;
    for (; i + 4 <= n; i += 4)
        for (int j = 0; j < 4; j++) s[j] += (w ? w[i + j] : 1.0) * (m - x[i + j]);
    for (; i < n; i++) s[0] += (w ? w[i] : 1.0) * (m - x[i]);
    return (s[0] + s[1]) + (s[2] + s[3]);
}

/* soft_sums of the float32 paths, in double */
static int soft_sums_d(const double *x, const double *t, const double *w, Py_ssize_t n, double m, double a1,
                       double a2, double *T, double *L, double *tsum) {
    double sT[4] = {0.0, 0.0, 0.0, 0.0}, sL[4] = {0.0, 0.0, 0.0, 0.0}, st[4] = {0.0, 0.0, 0.0, 0.0};
    int bad = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        int j = (int)(i & 3);
        double tv = t[i];
        bad |= !(tv >= 0.0 && tv <= 1.0);
        double tp = (a1 * tv + a2) * (w ? w[i] : 1.0);
        sT[j] += tp;
        st[j] += tv;
        if (tp > 0.0) sL[j] += tp * (m - x[i]); /* t'_c = 0 with z_c = -inf adds 0, not 0 * inf */
    }
    *T = (sT[0] + sT[1]) + (sT[2] + sT[3]);
    *L = (sL[0] + sL[1]) + (sL[2] + sL[3]);
    *tsum = (st[0] + st[1]) + (st[2] + st[3]);
    return bad;
}

/* float64 logits: the same passes in double */
static void rows_f64(ce_job *J) {
    const ce_isa *I = J->isa;
    const Py_ssize_t C = J->C, R = block_rows(C);
    const double a = J->alpha, aC = J->alpha / (double)C, a1 = 1.0 - J->alpha;
    const long long *Y = J->soft ? NULL : (const long long *)J->tgt;
    const double *cw = J->cw;
    ce_row rs[CE_BLOCK];
    for (Py_ssize_t i0 = J->r0; i0 < J->r1; i0 += R) {
        const Py_ssize_t nb = J->r1 - i0 < R ? J->r1 - i0 : R;
        for (Py_ssize_t b = 0; b < nb; b++) {
            const Py_ssize_t i = i0 + b;
            ce_row *r = &rs[b];
            double *scr = (double *)J->scratch + b * C;
            r->live = 0;
            long long y = 0;
            if (Y) {
                y = Y[i];
                if (J->use_ignore && y == J->ignore) {
                    J->loss[i] = 0.0;
                    if (J->out) zero_row(J, i);
                    continue;
                }
            }
            const double *x = (const double *)J->z + i * C;
            int nan = 0;
            double m = I->max_d(x, C, &nan);
            const double *trow = J->soft ? (const double *)J->tgt + i * C : NULL;
            if (nan || !(m < INFINITY) || m == -INFINITY) {
                mark_bad(J, i, trow && !soft_row_ok_d(trow, C, J->tol) ? 3 : 2);
                continue;
            }
            r->Q = r->T = r->L = 0.0;
            if (trow) {
                double tsum = 0.0;
                if (soft_sums_d(x, trow, cw, C, m, a1, aC, &r->T, &r->L, &tsum) || !(fabs(tsum - 1.0) <= J->tol)) {
                    mark_bad(J, i, 3);
                    continue;
                }
            } else if (a > 0.0) {
                r->Q = wsum_d(x, cw, C, m);
            }
            ce_pf pf = {{NULL, NULL}, {0, 0}, 0};
            if (J->prefetch && i + 1 < J->r1) {
                pf.p[0] = (const char *)(x + C), pf.n[0] = pf.len = C * 8;
                if (trow) pf.p[1] = (const char *)(trow + C), pf.n[1] = C * 8;
            }
            r->S = I->exp_sum_d(x, C, m, J->out ? scr : NULL, pf.len ? &pf : NULL);
            r->zy = Y ? x[y] : 0.0;
            r->m = m, r->y = y, r->live = 1;
        }
        for (Py_ssize_t b = 0; b < nb; b++) {
            ce_row *r = &rs[b];
            if (!r->live) continue;
            double logS = log(r->S), lossv;
            if (Y) {
                double wy = cw ? cw[r->y] : 1.0;
                lossv = (1.0 - a) * wy * ((r->m - r->zy) + logS);
                if (a > 0.0) lossv += aC * (J->W * logS + r->Q);
            } else {
                lossv = r->T * logS + r->L;
            }
            if (!isfinite(lossv)) {
                mark_bad(J, i0 + b, 2);
                r->live = 0;
                continue;
            }
            J->loss[i0 + b] = lossv;
        }
        if (!J->out) continue;
        for (Py_ssize_t b = 0; b < nb; b++) {
            const ce_row *r = &rs[b];
            if (!r->live) continue;
            const Py_ssize_t i = i0 + b;
            const double *scr = (const double *)J->scratch + b * C;
            double rc = J->rowc ? J->rowc[i] : J->rowc_s, S = r->S;
            double *g = (double *)J->out + i * C;
            Py_ssize_t c;
            if (Y) {
                long long y = r->y;
                double wy = cw ? cw[y] : 1.0, A = (1.0 - a) * wy + a * J->W / (double)C, k = rc * A / S, q = rc * aC;
                if (a > 0.0 && cw) for (c = 0; c < C; c++) g[c] = k * scr[c] - q * cw[c];
                else for (c = 0; c < C; c++) g[c] = k * scr[c] - q;
                g[y] = rc * (A * scr[y] / S - aC * wy - a1 * wy);
            } else {
                const double *trow = (const double *)J->tgt + i * C;
                double k = rc * r->T / S;
                for (c = 0; c < C; c++) g[c] = k * scr[c] - rc * (a1 * trow[c] + aC) * (cw ? cw[c] : 1.0);
            }
        }
    }
}

static void *ce_worker(void *arg) {
    ce_job *J = (ce_job *)arg;
    if (J->kind == 1) rows_f64(J);
    else rows_f32(J);
    if (J->nt) {
#ifdef CE_X86
        _mm_sfence(); /* streaming stores are weakly ordered: make them visible before the join */
#endif
    }
    return NULL;
}

/* ------------------------------------------------------------------ the Python entry point */

/* The buffer's element is the struct character ch (native or little-endian, as NumPy exports it). */
static int fmt_is(const Py_buffer *b, const char *chars, Py_ssize_t itemsize) {
    if (b->itemsize != itemsize || !b->format) return 0;
    const char *f = b->format;
    if (*f == '<' || *f == '=' || *f == '@') f++;
    return f[0] != '\0' && f[1] == '\0' && strchr(chars, f[0]) != NULL;
}

#define CE_MAX_THREADS 256

/* Whether the page holding p is in memory. Streaming stores pay off only into a reused buffer: the pages
 * of a fresh one are zeroed by the kernel, through the cache, on first touch, and plain stores then
 * overwrite those cached lines, where streaming stores would write the line twice (measured: fresh
 * out 15-20% slower streamed, a reused one 5-20% faster). Unknown (not Linux): in memory. */
static int page_resident(const void *p) {
#if defined(__linux__)
    long ps = sysconf(_SC_PAGESIZE);
    if (ps <= 0) return 1;
    unsigned char v = 1;
    if (mincore((void *)((uintptr_t)p & ~(uintptr_t)(ps - 1)), (size_t)ps, &v) != 0) return 1;
    return v & 1;
#else
    (void)p;
    return 1;
#endif
}

/* ce_rows(z, kind, target, rowc, class_weight, alpha, ignore_index, tol, out, loss_rows, nthreads)
 *   -> (status, index) */
static PyObject *ce_rows(PyObject *self, PyObject *args) {
    PyObject *oz, *ot, *orc, *ocw, *oig, *oout, *oloss;
    int kind, nthreads;
    double alpha, tol;
    if (!PyArg_ParseTuple(args, "OiOOOdOdOOi", &oz, &kind, &ot, &orc, &ocw, &alpha, &oig, &tol, &oout, &oloss,
                          &nthreads))
        return NULL;
    Py_buffer z = {0}, t = {0}, rc = {0}, cw = {0}, out = {0}, loss = {0};
    PyObject *result = NULL;
    ce_job *jobs = NULL;
    float *cwf = NULL;
    char *scratch_mem = NULL;
    const int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT;
    if (kind < 0 || kind > 2) {
        PyErr_SetString(PyExc_ValueError, "ce_rows: kind must be 0 (float32), 1 (float64) or 2 (bfloat16)");
        goto done;
    }
    const char *zc = kind == 0 ? "f" : kind == 1 ? "d" : "hH";
    const Py_ssize_t zsize = kind == 1 ? 8 : kind == 2 ? 2 : 4, tsize = kind == 1 ? 8 : 4;
    if (PyObject_GetBuffer(oz, &z, flags) < 0) goto done;
    if (z.ndim != 2 || !fmt_is(&z, zc, zsize)) {
        PyErr_SetString(PyExc_TypeError, "ce_rows: z must be a C-contiguous 2-d buffer of the kind's type");
        goto done;
    }
    const Py_ssize_t N = z.shape[0], C = z.shape[1];
    if (C < 1) {
        PyErr_SetString(PyExc_ValueError, "ce_rows: z must have at least one class");
        goto done;
    }
    if (PyObject_GetBuffer(ot, &t, flags) < 0) goto done;
    int soft;
    if (t.ndim == 1 && fmt_is(&t, "lq", 8) && t.shape[0] == N) soft = 0;
    else if (t.ndim == 2 && fmt_is(&t, kind == 1 ? "d" : "f", tsize) && t.shape[0] == N && t.shape[1] == C) soft = 1;
    else {
        PyErr_SetString(PyExc_TypeError, "ce_rows: target must be int64 (N,) labels or (N, C) probabilities "
                                         "(float64 for kind 1, float32 otherwise)");
        goto done;
    }
    double rowc_s = 0.0;
    if (PyFloat_Check(orc) || PyLong_Check(orc)) {
        rowc_s = PyFloat_AsDouble(orc);
        if (rowc_s == -1.0 && PyErr_Occurred()) goto done;
    } else {
        if (PyObject_GetBuffer(orc, &rc, flags) < 0) goto done;
        if (rc.ndim != 1 || !fmt_is(&rc, "d", 8) || rc.shape[0] != N) {
            PyErr_SetString(PyExc_TypeError, "ce_rows: rowc must be a float or a float64 (N,) buffer");
            goto done;
        }
    }
    if (ocw != Py_None) {
        if (PyObject_GetBuffer(ocw, &cw, flags) < 0) goto done;
        if (cw.ndim != 1 || !fmt_is(&cw, "d", 8) || cw.shape[0] != C) {
            PyErr_SetString(PyExc_TypeError, "ce_rows: class_weight must be None or a float64 (C,) buffer");
            goto done;
        }
    }
    int use_ignore = oig != Py_None;
    long long ignore = 0;
    if (use_ignore) {
        ignore = PyLong_AsLongLong(oig);
        if (ignore == -1 && PyErr_Occurred()) goto done;
    }
    if (!(alpha >= 0.0 && alpha <= 1.0)) {
        PyErr_SetString(PyExc_ValueError, "ce_rows: alpha must be in [0, 1]");
        goto done;
    }
    if (oout != Py_None) {
        if (PyObject_GetBuffer(oout, &out, flags | PyBUF_WRITABLE) < 0) goto done;
        if (out.ndim != 2 || !fmt_is(&out, zc, zsize) || out.shape[0] != N || out.shape[1] != C) {
            PyErr_SetString(PyExc_TypeError, "ce_rows: out must be None or a writable C-contiguous buffer like z");
            goto done;
        }
        /* out may be z itself (each row is read before it is written), but not a shifted view of it */
        char *o0 = (char *)out.buf, *z0 = (char *)z.buf;
        if (o0 != z0 && o0 < z0 + z.len && z0 < o0 + out.len) {
            PyErr_SetString(PyExc_ValueError, "ce_rows: out overlaps z without being z");
            goto done;
        }
    }
    if (PyObject_GetBuffer(oloss, &loss, flags | PyBUF_WRITABLE) < 0) goto done;
    if (loss.ndim != 1 || !fmt_is(&loss, "d", 8) || loss.shape[0] != N) {
        PyErr_SetString(PyExc_TypeError, "ce_rows: loss_rows must be a writable float64 (N,) buffer");
        goto done;
    }

    /* the shared inputs and the per-thread scratch rows, all before anything is computed */
    double W = (double)C;
    if (cw.obj) {
        const double *w = (const double *)cw.buf;
        W = 0.0;
        for (Py_ssize_t c = 0; c < C; c++) W += w[c];
        if (kind != 1) {
            cwf = (float *)PyMem_RawMalloc((size_t)C * sizeof(float));
            if (!cwf) { PyErr_NoMemory(); goto done; }
            for (Py_ssize_t c = 0; c < C; c++) cwf[c] = (float)w[c];
        }
    }
#ifdef CE_THREADS
    int nt = nthreads < 1 ? 1 : nthreads > CE_MAX_THREADS ? CE_MAX_THREADS : nthreads;
#else
    int nt = 1;
#endif
    if (nt > N) nt = N > 0 ? (int)N : 1;
    /* scratch rows (a block's) are needed for the gradient and for widening bfloat16; threads' 64 bytes apart */
    size_t srow = ((size_t)(C * block_rows(C)) * (kind == 1 ? 8 : 4) + 127) & ~(size_t)63;
    int need_scratch = out.obj || kind == 2;
    jobs = (ce_job *)PyMem_RawCalloc((size_t)nt, sizeof(ce_job));
    if (!jobs) { PyErr_NoMemory(); goto done; }
    if (need_scratch) {
        scratch_mem = (char *)PyMem_RawMalloc(srow * (size_t)nt + 64);
        if (!scratch_mem) { PyErr_NoMemory(); goto done; }
    }
    Py_ssize_t bad_label = -1;
    Py_ssize_t first2 = -1, first3 = -1;
    Py_BEGIN_ALLOW_THREADS
    if (!soft) { /* every label, before anything is written (out may be z) */
        const long long *Y = (const long long *)t.buf;
        for (Py_ssize_t i = 0; i < N; i++) {
            long long y = Y[i];
            if ((y < 0 || y >= C) && !(use_ignore && y == ignore)) { bad_label = i; break; }
        }
    }
    if (bad_label < 0 && N > 0) {
        char *sbase = scratch_mem ? (char *)(((uintptr_t)scratch_mem + 63) & ~(uintptr_t)63) : NULL;
        /* streaming stores only into a separate buffer too large to stay in the cache for the caller, aligned
         * to its items, and already in memory (a probe of its middle page, see page_resident) */
        int stream = out.obj && out.buf != z.buf && (long long)out.len >= ce_stream_min &&
                     (uintptr_t)out.buf % (uintptr_t)zsize == 0 && page_resident((char *)out.buf + out.len / 2);
        for (int j = 0; j < nt; j++) {
            ce_job *J = &jobs[j];
            J->kind = kind, J->soft = soft, J->bf = kind == 2, J->nt = stream, J->prefetch = ce_prefetch;
            J->N = N, J->C = C, J->z = z.buf, J->out = out.obj ? out.buf : NULL, J->tgt = t.buf;
            J->rowc = rc.obj ? (const double *)rc.buf : NULL, J->rowc_s = rowc_s;
            J->cw = cw.obj ? (const double *)cw.buf : NULL, J->cwf = cwf, J->W = W;
            J->alpha = alpha, J->tol = tol, J->use_ignore = use_ignore, J->ignore = ignore;
            J->loss = (double *)loss.buf, J->isa = isa_now;
            J->r0 = N * j / nt, J->r1 = N * (j + 1) / nt, J->bad2 = J->bad3 = -1;
            J->scratch = sbase ? sbase + srow * (size_t)j : NULL;
        }
#ifdef CE_THREADS
        pthread_t tid[CE_MAX_THREADS];
        int started[CE_MAX_THREADS] = {0};
        for (int j = 1; j < nt; j++) started[j] = pthread_create(&tid[j], NULL, ce_worker, &jobs[j]) == 0;
        ce_worker(&jobs[0]);
        for (int j = 1; j < nt; j++) {
            if (started[j]) pthread_join(tid[j], NULL);
            else ce_worker(&jobs[j]); /* no thread to be had: this one does the share */
        }
#else
        for (int j = 0; j < nt; j++) ce_worker(&jobs[j]);
#endif
        for (int j = 0; j < nt; j++) { /* shares are in row order: the first finding is the first row */
            if (first2 < 0) first2 = jobs[j].bad2;
            if (first3 < 0) first3 = jobs[j].bad3;
        }
    }
    Py_END_ALLOW_THREADS
    if (bad_label >= 0) result = Py_BuildValue("(in)", 1, bad_label);
    else if (first3 >= 0) result = Py_BuildValue("(in)", 3, first3);
    else if (first2 >= 0) result = Py_BuildValue("(in)", 2, first2);
    else result = Py_BuildValue("(in)", 0, (Py_ssize_t)-1);
done:
    PyMem_RawFree(jobs);
    PyMem_RawFree(cwf);
    PyMem_RawFree(scratch_mem);
    if (z.obj) PyBuffer_Release(&z);
    if (t.obj) PyBuffer_Release(&t);
    if (rc.obj) PyBuffer_Release(&rc);
    if (cw.obj) PyBuffer_Release(&cw);
    if (out.obj) PyBuffer_Release(&out);
    if (loss.obj) PyBuffer_Release(&loss);
    return result;
}

/* isa() -> the instruction set in use; isa(name) forces "avx512", "avx2" or "scalar" (for tests). */
static PyObject *ce_isa_fn(PyObject *self, PyObject *args) {
    const char *name = NULL;
    if (!PyArg_ParseTuple(args, "|z", &name)) return NULL;
    if (name) {
        const ce_isa *want = NULL;
        if (strcmp(name, "scalar") == 0) want = &isa_c;
#ifdef CE_X86
        __builtin_cpu_init();
        if (strcmp(name, "avx512") == 0 && __builtin_cpu_supports("avx512f")) want = &isa_512;
        if (strcmp(name, "avx2") == 0 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
            want = &isa_256;
#endif
        if (!want) {
            PyErr_Format(PyExc_ValueError, "isa: %s is not available here", name);
            return NULL;
        }
        isa_now = want;
    }
    return PyUnicode_FromString(isa_now->name);
}

/* _tune(prefetch, stream_min_bytes) -> (previous prefetch, previous stream_min_bytes): benchmarks' knobs;
 * a negative value leaves that setting as it is. */
static PyObject *ce_tune(PyObject *self, PyObject *args) {
    int pf;
    long long sm;
    if (!PyArg_ParseTuple(args, "iL", &pf, &sm)) return NULL;
    PyObject *r = Py_BuildValue("(iL)", ce_prefetch, ce_stream_min);
    if (pf >= 0) ce_prefetch = pf;
    if (sm >= 0) ce_stream_min = sm;
    return r;
}

static PyMethodDef methods[] = {
    {"ce_rows", ce_rows, METH_VARARGS,
     "ce_rows(z, kind, target, rowc, class_weight, alpha, ignore_index, tol, out, loss_rows, nthreads) "
     "-> (status, index): per-row softmax cross-entropy into loss_rows and, unless out is None, its "
     "gradient (scaled by rowc) into out, which may be z"},
    {"isa", ce_isa_fn, METH_VARARGS, "isa([name]) -> the instruction set in use (avx512, avx2, scalar); forces it"},
    {"_tune", ce_tune, METH_VARARGS, "_tune(prefetch, stream_min_bytes) -> previous settings (benchmarks)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_ce", NULL, -1, methods};

PyMODINIT_FUNC PyInit__ce(void) {
    choose_isa();
    return PyModule_Create(&module);
}
