/* Fused row-wise IBNorm for CPU float32: forward and hand-derived backward, one pass over memory each.
 *
 * The math is the one stated in ibnorm/kernels/spec.py (and implemented in torch ops by
 * torch_rowwise.py, in Triton by triton_rowwise.py), on an (M, N) row-major float32 matrix:
 *
 *   compress_first:     a = x - mean(x);  z = f(a);  c = z - mean(z);  r = rsqrt(mean(c^2) + eps);  yhat = c r
 *   standardize_first:  a = x - mean(x);  r = rsqrt(mean(a^2) + eps);  s = a r;  yhat = f(s)
 *   y = yhat * weight + bias          (RMS-style, center = 0: no means)
 *
 * The row mean is kept as two floats, mean = hi + lo (hi the float nearest the double row sum / n, lo
 * the float nearest the rest), and a = (x - hi) - lo: centering exact to a's rounding, constant rows at
 * any offset give a = 0. stats (4 x M; row indices IBN_STAT_*): mean hi, mean lo, mean(z) (0
 * for standardize_first / RMS), r. Backward, g = dy * weight:
 *   compress_first:     du = r (g - mean(g) - yhat mean(g yhat)) f'(a);  dx = du - mean(du)
 *   standardize_first:  gg = g f'(s);  dx = r (gg - mean(gg) - s mean(gg s))
 *   dweight = sum_rows dy yhat;  dbias = sum_rows dy          (accumulated in double per thread)
 *
 * Each row is read from memory once per direction: after the first pass it sits in L1/L2, and the
 * compressed values live in a per-thread scratch row. Rows are split into per-thread chunks: built with
 * -fopenmp, the chunks run on the OpenMP threads of the libgomp that torch has already loaded (one
 * `#pragma omp parallel for`, no second thread pool next to torch's); without it, on POSIX threads of
 * the library's own. The elementwise loops are written for the compiler's vectorizer (`#pragma omp
 * simd`, enabled by -fopenmp-simd: reductions may be reassociated); the elementary functions are written
 * branch-free so they vectorize: log and the polynomials of pow are the Cephes single-precision
 * algorithms (S. L. Moshier, Cephes Math Library 2.2: logf, expf; Cody & Waite range reduction), with
 * pow's exponent split so that its integer part stays exact; tanh is Eigen's rational approximation.
 * Non-finite cases are explicit (NaN propagates, +-inf saturates).
 *
 * Compression ids are not written here: the build passes them from ibnorm/kernels/spec.py
 * (KERNEL_COMPRESSIONS) as -DIBN_COMP_<NAME>=<id>, with the stats layout as -DIBN_STAT_<NAME>=<row>. An
 * id without a case below gives NaN. Formulas (of ibnorm/compression.py):
 *   IDENTITY  f = a                                           f' = 1
 *   TANH      f = tanh(lam a) / lam                           f' = 1 - tanh(lam a)^2
 *   LOG       f = sign(a) log1p(lam |a|) / lam                f' = 1 / (1 + lam |a|)
 *   ROOT      f = sign(a) ((|a| + d)^p - d^p), p = 1/lam      f' = p (|a| + d)^(p - 1)
 *   SOFTSIGN  f = sign(a) / (lam + 1/|a|)                     f' = (1 - lam |f|)^2
 * and internally ROOT_SQRT = root at lam = 2, through sqrtf instead of exp(p log v) (exact and faster).
 */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if !defined(IBN_COMP_IDENTITY) || !defined(IBN_COMP_TANH) || !defined(IBN_COMP_LOG) || !defined(IBN_COMP_ROOT) || \
    !defined(IBN_COMP_SOFTSIGN) || !defined(IBN_COMP_ROOT_SQRT) || !defined(IBN_STAT_MEAN_HI) ||               \
    !defined(IBN_STAT_MEAN_LO) || !defined(IBN_STAT_MEAN_Z) || !defined(IBN_STAT_RSTD)
#error "build with the -D flags of ibnorm.kernels.spec.c_defines() (compression ids and stats layout)"
#endif

#define IBN_API __attribute__((visibility("default")))
#define INLINE static inline __attribute__((always_inline))

typedef struct {
    float lam, inv_lam, p, p_hi, delta, delta_p;
} comp_params;

/* ------------------------------------------------------------------------------ elementary functions */

INLINE float bits_to_float(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

INLINE uint32_t float_to_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* Cephes logf's argument reduction: x = 2^e (1 + t) with 1 + t in [sqrt(1/2), sqrt(2)); returns t. */
INLINE float log_reduce(float x, int32_t *e_out) {
    uint32_t u = float_to_bits(x);
    int32_t e = (int32_t)((u >> 23) & 0xffu) - 126;
    float m = bits_to_float((u & 0x007fffffu) | 0x3f000000u); /* in [0.5, 1) */
    int small = m < 0.707106781186547524f;
    *e_out = small ? e - 1 : e;
    return small ? m + m - 1.0f : m - 1.0f;
}

/* log(1 + t) - t for t in [sqrt(1/2) - 1, sqrt(2) - 1]: Cephes logf's polynomial t^3 P(t) - t^2/2, P of
 * degree 8, evaluated in Estrin's scheme (depth 4 instead of Horner's 8: the loops are latency-bound). */
INLINE float log1p_poly(float t) {
    float t2 = t * t, t4 = t2 * t2;
    float p01 = 3.3333331174e-1f + t * -2.4999993993e-1f;
    float p23 = 2.0000714765e-1f + t * -1.6668057665e-1f;
    float p45 = 1.4249322787e-1f + t * -1.2420140846e-1f;
    float p67 = 1.1676998740e-1f + t * -1.1514610310e-1f;
    float p03 = p01 + t2 * p23;
    float p47 = p45 + t2 * p67;
    float poly = p03 + t4 * (p47 + t4 * 7.0376836292e-2f);
    return poly * t * t2 - 0.5f * t2;
}

/* log(x) for x > 0: Cephes logf, log(x) = e ln 2 + t + poly(t), with ln 2 in two parts. Denormal x is
 * not handled (not reached: the callers pass x >= 1); +inf gives +inf and NaN gives NaN. */
INLINE float log_f(float x) {
    int32_t e;
    float t = log_reduce(x, &e);
    float fe = (float)e;
    float r = (log1p_poly(t) + -2.12194440e-4f * fe) + t + 0.693359375f * fe;
    return x < INFINITY ? r : x; /* +inf -> inf, NaN -> NaN */
}

/* e^r for |r| <= ln(2)/2: Cephes expf's polynomial 1 + r + r^2 Q(r), Q of degree 5 (Estrin's scheme). */
INLINE float exp_poly(float r) {
    float r2 = r * r;
    float q01 = 5.0000001201e-1f + r * 1.6666665459e-1f;
    float q23 = 4.1665795894e-2f + r * 8.3334519073e-3f;
    float q45 = 1.3981999507e-3f + r * 1.9875691500e-4f;
    float q = q01 + r2 * (q23 + r2 * q45);
    return q * r2 + r + 1.0f;
}

/* v^p for v > 0 (v >= 1e-3 here) and 0 < p <= 1, to ~2 ulps: v^p = 2^{p log2 v} with log2 v = e + log2(1 + t)
 * (Cephes logf's reduction). The exponent's large part p e is kept exact in fp32 by splitting p = p_hi +
 * p_lo, p_hi with 12 significant bits (so p_hi e, |e| < 2^8, is exact), so that only the small remainder
 * carries rounding; then v^p = 2^k e^r with k integer and |r| <= ln(2)/2. (A plain exp(p log v) in fp32
 * loses ~|p log v| ulps: 4e-7 relative at v = 1e-3, 5e-6 at 1e30.) +inf gives +inf and NaN gives NaN. */
INLINE float pow_f(float v, float p, float p_hi) {
    int32_t e;
    float t = log_reduce(v, &e);
    float log2_m = (t + log1p_poly(t)) * 1.44269504088896341f; /* log2(1 + t), |.| <= 1/2 */
    float fe = (float)e;
    float q = p_hi * fe; /* exact */
    float k0 = floorf(q + 0.5f);
    float s = (q - k0) + ((p - p_hi) * fe + p * log2_m); /* q - k0 exact; |s| <= 1 */
    float n = floorf(s + 0.5f);
    float r = (s - n) * 0.693147180559945309f;
    int32_t k = (int32_t)(k0 + n); /* in [-10, 128] for v in [1e-3, FLT_MAX], p <= 1 */
    int32_t k1 = k >> 1;           /* 2^k in two factors: 2^128 has no fp32 exponent code */
    float y = exp_poly(r) * bits_to_float((uint32_t)(k1 + 127) << 23) * bits_to_float((uint32_t)(k - k1 + 127) << 23);
    return v < INFINITY ? y : v;
}

/* p rounded toward zero to 12 significant bits (for pow_f). */
static float split_hi(float p) { return bits_to_float(float_to_bits(p) & 0xfffff000u); }

/* log(1 + v) for v >= 0, given w = fl(1 + v) and 1 / w: log(w) plus the first-order correction
 * (v - (w - 1)) / w for the rounding of w (log(1 + v) = log(w) + log(1 + (1 + v - w) / w); the neglected
 * term is below 2^-48 relative). Exact for w = 1 (gives v); the caller's 1 / w is f' of the log
 * compression, so one division serves both. +inf gives +inf and NaN gives NaN. */
INLINE float log1p_f(float v, float w, float inv_w) {
    float r = log_f(w) + (v - (w - 1.0f)) * inv_w;
    return v < INFINITY ? r : v;
}

/* tanh(x): the 13/6-degree rational approximation x P(x^2) / Q(x^2) of Eigen's generic_fast_tanh_float
 * (Eigen 3.4, Core/MathFunctionsImpl.h; "accurate up to a couple of ulps" on [-8, 8]); x is clamped to
 * +-7.99881172, beyond which +-1 is returned (within 4 ulps of tanh there), and tanh(x) = x for
 * |x| < 4e-4. One division, no exponential. NaN propagates (the clamps are comparisons NaN fails). */
INLINE float tanh_f(float x) {
    const float c = 7.99881172180175781f;
    float xc = x > c ? c : x;
    xc = xc < -c ? -c : xc;
    float x2 = xc * xc;
    float p = -2.76076847742355e-16f;
    p = p * x2 + 2.00018790482477e-13f;
    p = p * x2 - 8.60467152213735e-11f;
    p = p * x2 + 5.12229709037114e-08f;
    p = p * x2 + 1.48572235717979e-05f;
    p = p * x2 + 6.37261928875436e-04f;
    p = p * x2 + 4.89352455891786e-03f;
    float q = 1.19825839466702e-06f;
    q = q * x2 + 1.18534705686654e-04f;
    q = q * x2 + 2.26843463243900e-03f;
    q = q * x2 + 4.89352518554385e-03f;
    float t = xc * p / q;
    t = fabsf(x) > c ? copysignf(1.0f, x) : t; /* exact saturation (tanh is 1 - 2e-7 at the clamp); NaN: t */
    return fabsf(x) < 4e-4f ? x : t;
}

/* ------------------------------------------------------------------------------ compressions */

/* f(a), and f'(a) into *d when want_d; comp is a compile-time constant after inlining. */
INLINE float compress(int comp, const comp_params *c, float a, int want_d, float *d) {
    switch (comp) {
    case IBN_COMP_IDENTITY:
        if (want_d) *d = 1.0f;
        return a;
    case IBN_COMP_TANH: {
        float t = tanh_f(c->lam * a);
        if (want_d) *d = 1.0f - t * t;
        return t * c->inv_lam;
    }
    case IBN_COMP_LOG: {
        float v = c->lam * fabsf(a);
        float w = 1.0f + v, inv_w = 1.0f / w;
        if (want_d) *d = inv_w;
        return copysignf(log1p_f(v, w, inv_w), a) * c->inv_lam;
    }
    case IBN_COMP_ROOT: {
        float v = fabsf(a) + c->delta;
        float pw = pow_f(v, c->p, c->p_hi);
        if (want_d) *d = v == INFINITY ? 0.0f : c->p * pw / v; /* (|a| + d)^(p - 1) -> 0 at inf */
        return copysignf(pw - c->delta_p, a);
    }
    case IBN_COMP_ROOT_SQRT: { /* root at lam = 2 (p = 1/2): the same formula through the exact square root */
        float v = fabsf(a) + c->delta;
        float sq = sqrtf(v);
        if (want_d) *d = 0.5f / sq;
        return copysignf(sq - c->delta_p, a);
    }
    case IBN_COMP_SOFTSIGN: { /* overflow-free form: 1/0 = inf at a = 0, f = +-1/lam at +-inf */
        float f = copysignf(1.0f / (c->lam + 1.0f / fabsf(a)), a);
        if (want_d) {
            float q = 1.0f - c->lam * fabsf(f);
            *d = q * q;
        }
        return f;
    }
    default: /* an id of spec.KERNEL_COMPRESSIONS without a case here: poison, never another formula */
        if (want_d) *d = NAN;
        return NAN;
    }
}

/* ------------------------------------------------------------------------------ row kernels */

typedef struct {
    /* inputs */
    const float *x, *dy, *w, *b;
    float *y, *dx, *stats;
    int64_t m, n;
    float eps;
    comp_params cp;
    int comp, center, compress_first, need_dw, need_db;
    /* per-thread */
    int64_t row0, row1;
    double *dw_acc, *db_acc;
    float *buf0;  /* SCRATCH_ROWS scratch rows, ld floats apart */
    int64_t ld;
} job;

/* Row reductions accumulate in double: the centering constant mean(x) feeds f(x - mean), whose slope
 * can be large (root: f'(0) ~ 10, f'' ~ 4e3 at lam = 1.7), so fp32 sums over long rows would show up in
 * the outputs. */
INLINE double row_sum(const float *v, int64_t n) {
    double s = 0.0;
#pragma omp simd reduction(+ : s)
    for (int64_t j = 0; j < n; ++j) s += (double)v[j];
    return s;
}

/* The square in double: |c| up to FLT_MAX does not overflow (c * c in float would above 1.8e19). */
INLINE double row_centered_sq(const float *v, float hi, float lo, int64_t n) {
    double s = 0.0;
#pragma omp simd reduction(+ : s)
    for (int64_t j = 0; j < n; ++j) {
        double c = (double)((v[j] - hi) - lo);
        s += c * c;
    }
    return s;
}

/* The row mean as hi + lo (see the header); (0, 0) for RMS-style rows. */
INLINE void row_mean(const float *v, int64_t n, int center, float *hi, float *lo) {
    if (!center) {
        *hi = *lo = 0.0f;
        return;
    }
    double m = row_sum(v, n) / (double)n;
    *hi = (float)m;
    *lo = (float)(m - (double)*hi);
}

INLINE void forward_rows(int comp, const job *J) {
    const int64_t n = J->n, m = J->m;
    const float *w = J->w, *b = J->b;
    const comp_params *cp = &J->cp;
    float *z = J->buf0;
    for (int64_t i = J->row0; i < J->row1; ++i) {
        const float *xr = J->x + i * n;
        float *yr = J->y + i * n;
        float m1, m1lo;
        row_mean(xr, n, J->center, &m1, &m1lo);
        float m2 = 0.0f, r;
        if (J->compress_first) {
#pragma omp simd
            for (int64_t j = 0; j < n; ++j) z[j] = compress(comp, cp, (xr[j] - m1) - m1lo, 0, 0);
            double s = row_sum(z, n);
            m2 = J->center ? (float)(s / (double)n) : 0.0f;
            r = (float)(1.0 / sqrt(row_centered_sq(z, m2, 0.0f, n) / (double)n + (double)J->eps));
#pragma omp simd
            for (int64_t j = 0; j < n; ++j) {
                float v = (z[j] - m2) * r;
                if (w) v *= w[j];
                if (b) v += b[j];
                yr[j] = v;
            }
        } else {
            r = (float)(1.0 / sqrt(row_centered_sq(xr, m1, m1lo, n) / (double)n + (double)J->eps));
#pragma omp simd
            for (int64_t j = 0; j < n; ++j) {
                float v = compress(comp, cp, ((xr[j] - m1) - m1lo) * r, 0, 0);
                if (w) v *= w[j];
                if (b) v += b[j];
                yr[j] = v;
            }
        }
        J->stats[IBN_STAT_MEAN_HI * m + i] = m1;
        J->stats[IBN_STAT_MEAN_LO * m + i] = m1lo;
        J->stats[IBN_STAT_MEAN_Z * m + i] = m2;
        J->stats[IBN_STAT_RSTD * m + i] = r;
    }
}

/* dweight/dbias: fp32 partial sums over blocks of this many rows, then added into the thread's double
 * accumulators. */
#define ACC_ROWS 32

static void flush_partials(float *blk, double *acc, int64_t n) {
    if (acc) {
#pragma omp simd
        for (int64_t j = 0; j < n; ++j) acc[j] += (double)blk[j];
    }
    memset(blk, 0, (size_t)n * sizeof(float));
}

/* dwb += dy yhat, dbb += dy. A loop of its own: fused into the dx loop it made the whole backward 1.5x
 * slower (measured on the AVX-512 benchmark machine, all compressions). */
INLINE void accumulate_partials(float *dwb, float *dbb, const float *dyr, const float *yhat, int64_t n) {
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) {
        dwb[j] += dyr[j] * yhat[j];
        dbb[j] += dyr[j];
    }
}

INLINE void backward_rows(int comp, const job *J) {
    const int64_t n = J->n, m = J->m;
    const double inv_n = 1.0 / (double)n;
    const float *w = J->w;
    const comp_params *cp = &J->cp;
    const int64_t ld = J->ld;
    float *h = J->buf0;           /* yhat (compress_first) or s (standardize_first) */
    float *fp = J->buf0 + ld;     /* f'(a) (compress_first) or g f'(s) (standardize_first) */
    float *yh = J->buf0 + 2 * ld; /* yhat = f(s) (standardize_first) */
    float *dwb = J->buf0 + 3 * ld, *dbb = J->buf0 + 4 * ld; /* block partial sums (always accumulated) */
    const int center = J->center;
    memset(dwb, 0, (size_t)n * sizeof(float));
    memset(dbb, 0, (size_t)n * sizeof(float));
    for (int64_t i = J->row0; i < J->row1; ++i) {
        const float *xr = J->x + i * n, *dyr = J->dy + i * n;
        float *dxr = J->dx + i * n;
        const float m1 = J->stats[IBN_STAT_MEAN_HI * m + i], m1lo = J->stats[IBN_STAT_MEAN_LO * m + i];
        const float m2 = J->stats[IBN_STAT_MEAN_Z * m + i], r = J->stats[IBN_STAT_RSTD * m + i];
        double sg = 0.0, sgh = 0.0;
        if (J->compress_first) {
            /* pass 1: h = yhat = (f(a) - m2) r and f'(a) (fp32 only: full vector width for f); then the
             * sums of g and g yhat */
#pragma omp simd
            for (int64_t j = 0; j < n; ++j) {
                float d;
                h[j] = (compress(comp, cp, (xr[j] - m1) - m1lo, 1, &d) - m2) * r;
                fp[j] = d;
            }
#pragma omp simd reduction(+ : sg, sgh)
            for (int64_t j = 0; j < n; ++j) {
                float g = w ? dyr[j] * w[j] : dyr[j];
                sg += (double)g;
                sgh += (double)(g * h[j]);
            }
            /* pass 2: du = r (g - mean(g) - yhat mean(g yhat)) f'(a), and its sum; pass 3: dx = du - mean(du)
             * (subtracting the mean of the rounded du keeps sum(dx) = 0 where du is nearly constant) */
            const float mg = center ? (float)(sg * inv_n) : 0.0f, mgh = (float)(sgh * inv_n);
#pragma omp simd
            for (int64_t j = 0; j < n; ++j) {
                float g = w ? dyr[j] * w[j] : dyr[j];
                dxr[j] = r * (g - mg - h[j] * mgh) * fp[j];
            }
            accumulate_partials(dwb, dbb, dyr, h, n);
            if (center) {
                const float mu = (float)(row_sum(dxr, n) * inv_n);
#pragma omp simd
                for (int64_t j = 0; j < n; ++j) dxr[j] -= mu;
            }
        } else {
            /* pass 1: s = a r, yhat = f(s), gg = g f'(s) (fp32 only); the sums of gg and gg s; pass 2:
             * dx = r (gg - mean(gg) - s mean(gg s)) */
#pragma omp simd
            for (int64_t j = 0; j < n; ++j) {
                float d;
                float sj = ((xr[j] - m1) - m1lo) * r;
                yh[j] = compress(comp, cp, sj, 1, &d);
                h[j] = sj;
                fp[j] = (w ? dyr[j] * w[j] : dyr[j]) * d;
            }
#pragma omp simd reduction(+ : sg, sgh)
            for (int64_t j = 0; j < n; ++j) {
                sg += (double)fp[j];
                sgh += (double)(fp[j] * h[j]);
            }
            const float mg = center ? (float)(sg * inv_n) : 0.0f, mgh = (float)(sgh * inv_n);
#pragma omp simd
            for (int64_t j = 0; j < n; ++j) {
                dxr[j] = r * (fp[j] - mg - h[j] * mgh);
            }
            accumulate_partials(dwb, dbb, dyr, yh, n);
        }
        if (i % ACC_ROWS == ACC_ROWS - 1 || i == J->row1 - 1) {
            flush_partials(dwb, J->dw_acc, n);
            flush_partials(dbb, J->db_acc, n);
        }
    }
}

/* One instantiation per compression: the switch inside compress() folds away. */
#define DISPATCH(fn, comp, J)                                       \
    switch (comp) {                                                 \
    case IBN_COMP_IDENTITY: fn(IBN_COMP_IDENTITY, J); break;        \
    case IBN_COMP_TANH: fn(IBN_COMP_TANH, J); break;                \
    case IBN_COMP_LOG: fn(IBN_COMP_LOG, J); break;                  \
    case IBN_COMP_ROOT: fn(IBN_COMP_ROOT, J); break;                \
    case IBN_COMP_SOFTSIGN: fn(IBN_COMP_SOFTSIGN, J); break;        \
    case IBN_COMP_ROOT_SQRT: fn(IBN_COMP_ROOT_SQRT, J); break;      \
    default: fn(-1, J); break; /* unknown id: NaN (see compress) */ \
    }

static void *forward_worker(void *arg) {
    job *J = (job *)arg;
    DISPATCH(forward_rows, J->comp, J);
    return 0;
}

static void *backward_worker(void *arg) {
    job *J = (job *)arg;
    DISPATCH(backward_rows, J->comp, J);
    return 0;
}

#define SCRATCH_ROWS 5

/* Row stride of the scratch rows: n rounded up to 16 floats (64-byte aligned rows). (Padding the stride
 * against 4 KiB aliasing was measured: 0 to 300 extra floats made no difference at n = 1024.) */
static int64_t scratch_ld(int64_t n) { return (n + 15) / 16 * 16; }

/* Split rows over nthreads (the calling thread takes the first chunk); per-thread scratch rows and
 * dweight/dbias accumulators; the accumulators are summed in thread order (deterministic). */
static int run_parallel(job *base, int nthreads, int backward, float *dw, float *db) {
    const int64_t n = base->n, m = base->m;
    if (nthreads < 1) nthreads = 1;
    if ((int64_t)nthreads > m) nthreads = (int)(m > 0 ? m : 1);
    job *jobs = calloc((size_t)nthreads, sizeof(job));
    int nacc = (backward && base->need_dw ? 1 : 0) + (backward && base->need_db ? 1 : 0);
    /* scratch: SCRATCH_ROWS rows of ld floats per thread; accumulators: nacc * n doubles per thread */
    const int64_t ld = scratch_ld(n);
    float *scratch = aligned_alloc(64, ((size_t)nthreads * SCRATCH_ROWS * (size_t)ld * sizeof(float) + 63) / 64 * 64);
    double *acc = nacc ? calloc((size_t)nthreads * (size_t)nacc * (size_t)n, sizeof(double)) : 0;
    int status = 0;
    if (!jobs || !scratch || (nacc && !acc)) {
        status = 1;
        goto done;
    }
    /* whole blocks of ACC_ROWS rows per thread: the dweight/dbias partial sums of a block do not depend
     * on the number of threads */
    const int64_t chunk = ((m + nthreads - 1) / nthreads + ACC_ROWS - 1) / ACC_ROWS * ACC_ROWS;
    for (int t = 0; t < nthreads; ++t) {
        job *J = &jobs[t];
        *J = *base;
        J->row0 = (int64_t)t * chunk < m ? (int64_t)t * chunk : m;
        J->row1 = J->row0 + chunk < m ? J->row0 + chunk : m;
        J->buf0 = scratch + (size_t)t * SCRATCH_ROWS * (size_t)ld;
        J->ld = ld;
        double *a = acc ? acc + (size_t)t * (size_t)nacc * (size_t)n : 0;
        J->dw_acc = backward && base->need_dw ? a : 0;
        J->db_acc = backward && base->need_db ? (base->need_dw ? a + n : a) : 0;
    }
    void *(*worker)(void *) = backward ? backward_worker : forward_worker;
#ifdef _OPENMP
    /* Built with -fopenmp, the library binds to the libgomp that torch has already loaded (same soname),
     * so the chunks run on torch's own OpenMP threads: no second pool competing for the cores. */
#pragma omp parallel for num_threads(nthreads) schedule(static, 1)
    for (int t = 0; t < nthreads; ++t) worker(&jobs[t]);
#else
    pthread_t *tids = calloc((size_t)nthreads, sizeof(pthread_t));
    int started = 1;
    for (int t = 1; tids && t < nthreads; ++t) {
        if (pthread_create(&tids[t], 0, worker, &jobs[t]) != 0) break;
        started = t + 1;
    }
    for (int t = started; t < nthreads; ++t) worker(&jobs[t]); /* threads that could not start */
    worker(&jobs[0]);
    for (int t = 1; t < started; ++t) pthread_join(tids[t], 0);
    free(tids);
#endif
    if (backward) {
        for (int64_t j = 0; j < n; ++j) {
            double sw = 0.0, sb = 0.0;
            for (int t = 0; t < nthreads; ++t) {
                if (jobs[t].dw_acc) sw += jobs[t].dw_acc[j];
                if (jobs[t].db_acc) sb += jobs[t].db_acc[j];
            }
            if (base->need_dw) dw[j] = (float)sw;
            if (base->need_db) db[j] = (float)sb;
        }
    }
done:
    free(acc);
    free(scratch);
    free(jobs);
    return status;
}

/* Internal id: root with p = 1/2 (lam = 2) takes the square-root path. */
static int kernel_comp(int comp, float p) { return comp == IBN_COMP_ROOT && p == 0.5f ? IBN_COMP_ROOT_SQRT : comp; }

/* delta^p is evaluated by the same function as (|a| + delta)^p, so that f(0) = 0 exactly. */
static comp_params make_params(float lam, float p, float delta) {
    float p_hi = split_hi(p);
    comp_params c = {lam, 1.0f / lam, p, p_hi, delta, kernel_comp(IBN_COMP_ROOT, p) == IBN_COMP_ROOT_SQRT ? sqrtf(delta) : pow_f(delta, p, p_hi)};
    return c;
}

/* Public entry points (ctypes). Pointers are to contiguous float32 buffers; w / b / dw / db may be
 * NULL. Returns 0, or 1 when scratch memory could not be allocated. */
IBN_API int ibn_rowwise_forward(const float *x, const float *w, const float *b, float *y, float *stats, int64_t m,
                                int64_t n, float eps, int comp, float lam, float root_p, float root_delta,
                                int center, int compress_first, int nthreads) {
    job J;
    memset(&J, 0, sizeof J);
    J.x = x; J.w = w; J.b = b; J.y = y; J.stats = stats; J.m = m; J.n = n; J.eps = eps;
    J.cp = make_params(lam, root_p, root_delta);
    J.comp = kernel_comp(comp, root_p); J.center = center; J.compress_first = compress_first;
    return run_parallel(&J, nthreads, 0, 0, 0);
}

IBN_API int ibn_rowwise_backward(const float *dy, const float *x, const float *w, const float *stats, float *dx,
                                 float *dw, float *db, int64_t m, int64_t n, int comp, float lam, float root_p,
                                 float root_delta, int center, int compress_first, int nthreads) {
    job J;
    memset(&J, 0, sizeof J);
    J.dy = dy; J.x = x; J.w = w; J.stats = (float *)stats; J.dx = dx; J.m = m; J.n = n;
    J.cp = make_params(lam, root_p, root_delta);
    J.comp = kernel_comp(comp, root_p); J.center = center; J.compress_first = compress_first;
    J.need_dw = dw != 0; J.need_db = db != 0;
    return run_parallel(&J, nthreads, 1, dw, db);
}

/* The elementwise compression alone (value, and derivative when d != NULL), single-threaded: for
 * testing the vectorized elementary functions against libm / torch. */
IBN_API void ibn_compress(const float *a, float *f, float *d, int64_t len, int comp, float lam, float root_p,
                          float root_delta) {
    comp_params c = make_params(lam, root_p, root_delta);
    comp = kernel_comp(comp, root_p);
    for (int64_t j = 0; j < len; ++j) {
        float dj = 0.0f;
        f[j] = compress(comp, &c, a[j], d != 0, &dj);
        if (d) d[j] = dj;
    }
}
