/* robopref.evaluator._evaluator: the reward and policy kernels (pure C, no CPython API).
 *
 * The kernels allocate nothing: per-call scratch lives on the stack (at most 3 * MAX_DIM
 * floats, 48 KiB), and the loaded head is read-only, so any number of threads may call one
 * head at once. They are compiled twice, generic and for AVX2+FMA, and the binding picks the
 * best one this CPU runs at load (no -march=native: the build must run on any x86-64). The
 * weight layout they read is described in _rpe.h.
 */
#include <math.h>
#include <string.h>

#include "_rpe.h"

#define INLINE static inline __attribute__((always_inline))
typedef float v8 __attribute__((vector_size(32)));

INLINE v8 load8(const float *p) { v8 v; memcpy(&v, p, sizeof v); return v; }
INLINE void store8(float *p, v8 v) { memcpy(p, &v, sizeof v); }

/* Reductions over a 16-float array: GCC turns the inner loops into vector code of the
 * target's width (SLP), with 16 partial sums hiding the add latency. */
INLINE float sum16(const float *acc) {
    float r = 0.0f;
    for (int k = 0; k < 16; k++) r += acc[k];
    return r;
}

INLINE float dot(const float *a, const float *b, int n) {
    float acc[16] = {0};
    int i = 0;
    for (; i + 16 <= n; i += 16)
        for (int k = 0; k < 16; k++) acc[k] += a[i + k] * b[i + k];
    float r = sum16(acc);
    for (; i < n; i++) r += a[i] * b[i];
    return r;
}

INLINE float vsum(const float *a, int n) {
    float acc[16] = {0};
    int i = 0;
    for (; i + 16 <= n; i += 16)
        for (int k = 0; k < 16; k++) acc[k] += a[i + k];
    float r = sum16(acc);
    for (; i < n; i++) r += a[i];
    return r;
}

/* y[0:8nv] = b + x W for one panel of 8*nv columns. nv and wide are constants after inlining,
 * so the accumulators stay in registers: explicit 8-float vectors where the target has them
 * (wide: AVX2), else a float array that GCC keeps in the target's own (SSE/NEON) registers;
 * GCC spills 8-float vectors to memory on a target without them. */
INLINE void panel(const float *x, const float *w, const float *b, float *y, int in, const int nv,
                  const int wide) {
    if (!wide) {
        float acc[PANEL];
        for (int j = 0; j < 8 * nv; j++) acc[j] = b[j];
        for (int i = 0; i < in; i++) {
            const float xi = x[i], *wi = w + (size_t)i * 8 * nv;
            for (int j = 0; j < 8 * nv; j++) acc[j] += xi * wi[j];
        }
        for (int j = 0; j < 8 * nv; j++) y[j] = acc[j];
        return;
    }
    /* A narrow panel has fewer than 4 accumulators: too few to hide the FMA latency, so
     * consecutive rows go to `sets` separate accumulators, added up at the end. */
    const int sets = nv >= 4 ? 1 : nv == 3 ? 2 : 4;
    v8 acc[4][8];
    for (int k = 0; k < nv; k++) {
        acc[0][k] = load8(b + 8 * k);
        for (int s = 1; s < sets; s++) acc[s][k] = (v8){0};
    }
    int i = 0;
    for (; i + sets <= in; i += sets)
        for (int s = 0; s < sets; s++) {
            const float xi = x[i + s], *wi = w + (size_t)(i + s) * 8 * nv;
            for (int k = 0; k < nv; k++) acc[s][k] += xi * load8(wi + 8 * k);
        }
    for (; i < in; i++)
        for (int k = 0; k < nv; k++) acc[0][k] += x[i] * load8(w + (size_t)i * 8 * nv + 8 * k);
    for (int k = 0; k < nv; k++) {
        for (int s = 1; s < sets; s++) acc[0][k] += acc[s][k];
        store8(y + 8 * k, acc[0][k]);
    }
}

/* y = x W + b; y must have room for the padded width (scratch is MAX_DIM, a multiple of 64). */
INLINE void dense(const Layer *ly, const float *x, float *y, const int wide) {
    const int in = ly->in, out = ly->out;
    if (out < 8) {
        for (int o = 0; o < out; o++) y[o] = ly->b[o] + dot(x, ly->w + (size_t)o * in, in);
        return;
    }
    int c = 0;
    for (; out - c >= PANEL; c += PANEL) panel(x, ly->w + (size_t)in * c, ly->b + c, y + c, in, 8, wide);
    const float *w = ly->w + (size_t)in * c;
    switch ((out - c + 7) / 8) {
    case 1: panel(x, w, ly->b + c, y + c, in, 1, wide); break;
    case 2: panel(x, w, ly->b + c, y + c, in, 2, wide); break;
    case 3: panel(x, w, ly->b + c, y + c, in, 3, wide); break;
    case 4: panel(x, w, ly->b + c, y + c, in, 4, wide); break;
    case 5: panel(x, w, ly->b + c, y + c, in, 5, wide); break;
    case 6: panel(x, w, ly->b + c, y + c, in, 6, wide); break;
    case 7: panel(x, w, ly->b + c, y + c, in, 7, wide); break;
    default: break;
    }
}

INLINE void activate(float *y, int n, int act) {
    if (act == ACT_RELU)
        for (int j = 0; j < n; j++) y[j] = y[j] > 0.0f ? y[j] : 0.0f;
    else if (act == ACT_LEAKY_RELU)
        for (int j = 0; j < n; j++) y[j] = y[j] > 0.0f ? y[j] : y[j] * LEAKY_SLOPE;
    else
        for (int j = 0; j < n; j++) y[j] = tanhf(y[j]);
}

/* Runs layers[0:n] on x; returns the buffer holding the output (h0 or h1). */
INLINE const float *mlp(const Layer *layer, int n, int act, const float *x, float *h0, float *h1,
                        const int wide) {
    const float *cur = x;
    for (int l = 0; l < n; l++) {
        float *nxt = cur == h0 ? h1 : h0;
        dense(&layer[l], cur, nxt, wide);
        if (l + 1 < n) activate(nxt, layer[l].out, act);
        cur = nxt;
    }
    return cur;
}

/* One preference row: mean and population std over members. *col: the bad input index. */
INLINE int pref_row(const Pref *p, const float *s, const float *a, float *mean, float *spread,
                    ptrdiff_t *col, const int wide) {
    float x[MAX_DIM] __attribute__((aligned(32)));
    float h0[MAX_DIM] __attribute__((aligned(32))), h1[MAX_DIM] __attribute__((aligned(32)));
    double r[MAX_MEMBERS], sum = 0.0, sq = 0.0;
    for (int i = 0; i < p->in; i++) {
        const float v = i < p->obs_dim ? s[i] : a[i - p->obs_dim];
        if (!isfinite(v)) { *col = i; return ROW_BAD_INPUT; }
        x[i] = (v - p->mean[i]) / p->std[i]; /* a division, as torch does: parity */
    }
    for (int e = 0; e < p->members; e++) {
        const float out = mlp(p->layer + e * p->layers, p->layers, p->activation, x, h0, h1, wide)[0];
        r[e] = p->out_tanh ? tanhf(out) : out;
        sum += r[e];
    }
    const double m = sum / p->members;
    for (int e = 0; e < p->members; e++) sq += (r[e] - m) * (r[e] - m);
    *mean = (float)m;
    *spread = (float)sqrt(sq / p->members);
    return isfinite(*mean) && isfinite(*spread) ? ROW_OK : ROW_BAD_OUTPUT;
}

/* The PRM's fused feature z of one observation: attention pooling over the present views,
 * then LayerNorm. Every PRM head reads it. */
INLINE int prm_fuse(const Prm *p, const float *f, const uint8_t *mask, float *z, ptrdiff_t *col) {
    float score[MAX_VIEWS], smax = -INFINITY, ssum = 0.0f;
    const int V = p->views, D = p->dim;
    int present = 0;
    for (int v = 0; v < V; v++) {
        if (mask && !mask[v]) continue;
        const float *fv = f + (size_t)v * D, *ev = p->embed + (size_t)v * D;
        for (int d = 0; d < D; d++) z[d] = fv[d] + ev[d];
        score[v] = dot(z, p->query, D) / p->sqrt_dim;
        if (!isfinite(score[v])) { /* NaN and inf always propagate here: look for them only now */
            for (int d = 0; d < D; d++)
                if (!isfinite(fv[d])) { *col = (ptrdiff_t)v * D + d; return ROW_BAD_INPUT; }
            return ROW_BAD_OUTPUT;
        }
        smax = score[v] > smax ? score[v] : smax;
        present = 1;
    }
    if (!present) return ROW_NO_VIEW;
    for (int v = 0; v < V; v++) {
        if (mask && !mask[v]) continue;
        score[v] = expf(score[v] - smax);
        ssum += score[v];
    }
    for (int d = 0; d < D; d++) z[d] = 0.0f;
    for (int v = 0; v < V; v++) {
        if (mask && !mask[v]) continue;
        const float a = score[v] / ssum, *fv = f + (size_t)v * D, *ev = p->embed + (size_t)v * D;
        for (int d = 0; d < D; d++) z[d] += a * (fv[d] + ev[d]);
    }
    const float mean = vsum(z, D) / D;
    for (int d = 0; d < D; d++) z[d] -= mean;
    const float rstd = 1.0f / sqrtf(dot(z, z, D) / D + p->eps); /* biased variance: LayerNorm */
    for (int d = 0; d < D; d++) z[d] = z[d] * rstd * p->norm_w[d] + p->norm_b[d];
    return ROW_OK;
}

/* One PRM potential: the fused feature, the progress MLP, the expected bin. */
INLINE int prm_row(const Prm *p, const float *f, const uint8_t *mask, float *phi, ptrdiff_t *col,
                   const int wide) {
    float z[MAX_DIM] __attribute__((aligned(32)));
    float h0[MAX_DIM] __attribute__((aligned(32))), h1[MAX_DIM] __attribute__((aligned(32)));
    const int rc = prm_fuse(p, f, mask, z, col);
    if (rc) return rc;
    const float *logit = mlp(p->layer, p->layers, p->activation, z, h0, h1, wide);
    const int K = p->layer[p->layers - 1].out;
    float lmax = logit[0];
    for (int k = 1; k < K; k++) lmax = logit[k] > lmax ? logit[k] : lmax;
    double es = 0.0, ec = 0.0;
    for (int k = 0; k < K; k++) { /* expf: 1 ulp, and about twice as fast as exp */
        const double e = expf(logit[k] - lmax);
        es += e;
        ec += e * p->centers[k];
    }
    *phi = (float)(ec / es);
    return isfinite(*phi) ? ROW_OK : ROW_BAD_OUTPUT;
}

/* One output of another PRM head on the same fused feature: P(success) = sigmoid(MLP_s(z)),
 * in double (no overflow for any finite logit), or the preference score MLP_p(z). The caller
 * checks that the head is present. */
INLINE int prm_head_row(const Prm *p, int which, const float *f, const uint8_t *mask, float *out,
                        ptrdiff_t *col, const int wide) {
    float z[MAX_DIM] __attribute__((aligned(32)));
    float h0[MAX_DIM] __attribute__((aligned(32))), h1[MAX_DIM] __attribute__((aligned(32)));
    const PrmHead *hd = &p->head[which];
    const int rc = prm_fuse(p, f, mask, z, col);
    if (rc) return rc;
    const float y = mlp(hd->layer, hd->layers, p->activation, z, h0, h1, wide)[0];
    if (!isfinite(y)) return ROW_BAD_OUTPUT;
    *out = which == HEAD_SUCCESS ? (float)(1.0 / (1.0 + exp(-(double)y))) : y;
    return ROW_OK;
}

/* One policy action: normalization in double (then rounded to float, as the learner feeds
 * its float32 actor), the MLP, and tanh + SB3's unscale_action, or a clip to the bounds. */
INLINE int policy_row(const Policy *p, const float *s, float *a, ptrdiff_t *col, const int wide) {
    float x[MAX_DIM] __attribute__((aligned(32)));
    float h0[MAX_DIM] __attribute__((aligned(32))), h1[MAX_DIM] __attribute__((aligned(32)));
    for (int i = 0; i < p->in; i++) {
        if (!isfinite(s[i])) { *col = i; return ROW_BAD_INPUT; }
        double z = ((double)s[i] - p->mean[i]) / p->std[i];
        if (p->clip > 0.0) z = z < -p->clip ? -p->clip : z > p->clip ? p->clip : z;
        x[i] = (float)z;
    }
    const float *y = mlp(p->layer, p->layers, p->activation, x, h0, h1, wide);
    for (int j = 0; j < p->out; j++)
        if (!isfinite(y[j])) return ROW_BAD_OUTPUT;
    for (int j = 0; j < p->out; j++) {
        if (p->out_tanh) {
            float t = tanhf(y[j]);
            t = t < -1.0f ? -1.0f : t > 1.0f ? 1.0f : t;
            a[j] = p->low[j] + 0.5f * (t + 1.0f) * (p->high[j] - p->low[j]);
        } else {
            a[j] = y[j] < p->low[j] ? p->low[j] : y[j] > p->high[j] ? p->high[j] : y[j];
        }
    }
    return ROW_OK;
}

static int pref_generic(const Pref *p, const float *s, const float *a, float *m, float *sd,
                        ptrdiff_t *c) { return pref_row(p, s, a, m, sd, c, 0); }
static int prm_generic(const Prm *p, const float *f, const uint8_t *mk, float *phi, ptrdiff_t *c) {
    return prm_row(p, f, mk, phi, c, 0);
}
static int policy_generic(const Policy *p, const float *s, float *a, ptrdiff_t *c) {
    return policy_row(p, s, a, c, 0);
}
static int prm_head_generic(const Prm *p, int w, const float *f, const uint8_t *mk, float *o,
                            ptrdiff_t *c) {
    return prm_head_row(p, w, f, mk, o, c, 0);
}
const Kernels KERNEL_GENERIC = {"generic", pref_generic, prm_generic, policy_generic,
                                prm_head_generic};

#ifdef HAVE_AVX2
__attribute__((target("avx2,fma"))) static int
pref_avx2(const Pref *p, const float *s, const float *a, float *m, float *sd, ptrdiff_t *c) {
    return pref_row(p, s, a, m, sd, c, 1);
}
__attribute__((target("avx2,fma"))) static int
prm_avx2(const Prm *p, const float *f, const uint8_t *mk, float *phi, ptrdiff_t *c) {
    return prm_row(p, f, mk, phi, c, 1);
}
__attribute__((target("avx2,fma"))) static int
policy_avx2(const Policy *p, const float *s, float *a, ptrdiff_t *c) {
    return policy_row(p, s, a, c, 1);
}
__attribute__((target("avx2,fma"))) static int
prm_head_avx2(const Prm *p, int w, const float *f, const uint8_t *mk, float *o, ptrdiff_t *c) {
    return prm_head_row(p, w, f, mk, o, c, 1);
}
const Kernels KERNEL_AVX2 = {"avx2", pref_avx2, prm_avx2, policy_avx2, prm_head_avx2};
/* The benchmark's memory floor: one pass over n floats with 4 vector sums (n % 32 == 0). */
__attribute__((target("avx2,fma"))) static float stream_avx2(const float *p, size_t n) {
    v8 s0 = {0}, s1 = {0}, s2 = {0}, s3 = {0};
    for (size_t i = 0; i < n; i += 32) {
        s0 += load8(p + i);
        s1 += load8(p + i + 8);
        s2 += load8(p + i + 16);
        s3 += load8(p + i + 24);
    }
    const v8 t = (s0 + s1) + (s2 + s3);
    return t[0] + t[1] + t[2] + t[3] + t[4] + t[5] + t[6] + t[7];
}
int avx2_ok(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
#endif

double rpe_stream(const float *p, size_t n, int passes) {
#ifdef HAVE_AVX2
    const int wide = avx2_ok();
#endif
    double total = 0.0;
    for (int r = 0; r < passes; r++) {
#ifdef HAVE_AVX2
        if (wide) {
            total += stream_avx2(p, n);
            continue;
        }
#endif
        total += vsum(p, (int)n);
    }
    return total;
}
