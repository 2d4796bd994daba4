/* robopref.evaluator._evaluator: the reward and policy kernels and their thin CPython binding.
 *
 * An `Evaluator` is built from the bytes of an RPE blob (reward heads, shaping constants
 * and/or a deterministic policy; format: robopref/evaluator/blob.py, whose checks this parser repeats, the overflow rule of heads.py included: a blob it does
 * not understand raises ValueError, never crashes). Loading copies the weights into one aligned arena, repacked for the kernels:
 * a layer with 8 or more outputs is stored as panels of PANEL columns (in x 64 floats, the
 * last panel rounded up to a multiple of 8 and zero-padded), so a matrix-vector product
 * streams each panel once with 8 vector accumulators; a narrower layer (the ensemble's
 * scalar output) is stored transposed and done as dot products.
 *
 * The kernels allocate nothing (only the Python result of a one-step call is an object):
 * per-call scratch lives on the stack (at most 3 * MAX_DIM floats, 48 KiB), and the
 * loaded head is read-only, so any number of threads may call one
 * Evaluator at once; batch calls release the GIL. Inputs come through the buffer protocol
 * and must be C-contiguous float32 (bool for masks and flags); anything else, and any
 * NaN or inf in an input, raises ValueError with every buffer released.
 *
 * The kernels are compiled twice, generic and for AVX2+FMA, and the best one this CPU runs
 * is picked at load (no -march=native: the build must run on any x86-64).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>

#if !defined(__GNUC__)
#error "robopref.evaluator._evaluator needs GCC or Clang (vector extensions)"
#endif

/* Format limits: keep equal to robopref/evaluator/heads.py and blob.py (a test checks). */
#define RPE_VERSION 1
#define MAX_DIM 4096
#define MAX_LAYERS 16
#define MAX_MEMBERS 64
#define MAX_VIEWS 64
#define MAX_NAME_BYTES 255
#define MAX_TEXT_BYTES 1024 /* a policy's task, robot and layout strings */
#define POLICY_VERSION 1    /* of the policy section's payload, stored in it */
#define MAX_BLOB_BYTES ((uint64_t)1 << 30)
#define HEADER_BYTES 32
#define SECTION_BYTES 16
#define CRC_BYTES 4
#define PANEL 64
#define LEAKY_SLOPE 0.01f /* torch's LeakyReLU default, part of the preference head */

static const uint8_t MAGIC[8] = {0x89, 'R', 'P', 'E', '\r', '\n', 0x1a, '\n'};
enum { SEC_PREFERENCE = 1, SEC_PRM = 2, SEC_SHAPING = 3, SEC_POLICY = 4, N_SECTIONS = 4 };
enum { ACT_LEAKY_RELU, ACT_RELU, ACT_TANH };
static const char *ACT_NAMES[] = {"leaky_relu", "relu", "tanh"};
static const char *ALGO_NAMES[] = {"sac", "ppo", "rlpd"}; /* heads.POLICY_ALGOS */
static const char *ACTION_NAMES[] = {"tanh", "clip"};     /* heads.ACTIONS */
enum { ROW_OK, ROW_BAD_INPUT, ROW_BAD_OUTPUT, ROW_NO_VIEW };

typedef float v8 __attribute__((vector_size(32)));
#define INLINE static inline __attribute__((always_inline))

typedef struct {
    int in, out;
    const float *w, *b; /* see the top comment for the layout; b zero-padded like w */
} Layer;

typedef struct {
    int members, layers, in, obs_dim, activation, out_tanh;
    const float *mean, *std;
    const Layer *layer; /* member-major: layer[e * layers + l] */
} Pref;

typedef struct {
    int views, dim, layers, activation;
    float eps, sqrt_dim;
    const float *embed, *query, *norm_w, *norm_b, *centers;
    const Layer *layer;
} Prm;

typedef struct {
    int layers, in, out, activation, out_tanh, algo;
    double clip;               /* 0: none */
    const double *mean, *std;  /* double: the rlpd learner normalizes in float64 */
    const float *low, *high;
    const Layer *layer;
} Policy;

/* ------------------------------------------------------------------------------ kernels */

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
                    Py_ssize_t *col, const int wide) {
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

/* One PRM potential: attention pooling over the present views, LayerNorm, MLP, expected bin. */
INLINE int prm_row(const Prm *p, const float *f, const uint8_t *mask, float *phi, Py_ssize_t *col,
                   const int wide) {
    float z[MAX_DIM] __attribute__((aligned(32)));
    float h0[MAX_DIM] __attribute__((aligned(32))), h1[MAX_DIM] __attribute__((aligned(32)));
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
                if (!isfinite(fv[d])) { *col = (Py_ssize_t)v * D + d; return ROW_BAD_INPUT; }
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

/* One policy action: normalization in double (then rounded to float, as the learner feeds
 * its float32 actor), the MLP, and tanh + SB3's unscale_action, or a clip to the bounds. */
INLINE int policy_row(const Policy *p, const float *s, float *a, Py_ssize_t *col, const int wide) {
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

typedef int (*pref_fn)(const Pref *, const float *, const float *, float *, float *, Py_ssize_t *);
typedef int (*prm_fn)(const Prm *, const float *, const uint8_t *, float *, Py_ssize_t *);
typedef int (*policy_fn)(const Policy *, const float *, float *, Py_ssize_t *);
typedef struct { const char *name; pref_fn pref; prm_fn prm; policy_fn policy; } Kernels;

static int pref_generic(const Pref *p, const float *s, const float *a, float *m, float *sd,
                        Py_ssize_t *c) { return pref_row(p, s, a, m, sd, c, 0); }
static int prm_generic(const Prm *p, const float *f, const uint8_t *mk, float *phi, Py_ssize_t *c) {
    return prm_row(p, f, mk, phi, c, 0);
}
static int policy_generic(const Policy *p, const float *s, float *a, Py_ssize_t *c) {
    return policy_row(p, s, a, c, 0);
}
static const Kernels KERNEL_GENERIC = {"generic", pref_generic, prm_generic, policy_generic};

#if defined(__x86_64__) || defined(__i386__)
#define HAVE_AVX2 1
__attribute__((target("avx2,fma"))) static int
pref_avx2(const Pref *p, const float *s, const float *a, float *m, float *sd, Py_ssize_t *c) {
    return pref_row(p, s, a, m, sd, c, 1);
}
__attribute__((target("avx2,fma"))) static int
prm_avx2(const Prm *p, const float *f, const uint8_t *mk, float *phi, Py_ssize_t *c) {
    return prm_row(p, f, mk, phi, c, 1);
}
__attribute__((target("avx2,fma"))) static int
policy_avx2(const Policy *p, const float *s, float *a, Py_ssize_t *c) {
    return policy_row(p, s, a, c, 1);
}
static const Kernels KERNEL_AVX2 = {"avx2", pref_avx2, prm_avx2, policy_avx2};
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
static int avx2_ok(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
#endif


/* ------------------------------------------------------------------------------- parser */

static uint32_t CRC_TABLE[256]; /* zlib's CRC-32; filled once at module init, read-only after */

static void crc_init(void) {
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        CRC_TABLE[n] = c;
    }
}

static uint32_t crc32_of(const uint8_t *p, size_t n) {
    uint32_t c = 0xFFFFFFFFu;
    while (n--) c = CRC_TABLE[(c ^ *p++) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

/* Little-endian reads byte by byte: correct on any host, and alignment-free. */
static uint32_t rd32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t rd64(const uint8_t *p) { return rd32(p) | (uint64_t)rd32(p + 4) << 32; }
static float rdf(const uint8_t *p) { uint32_t u = rd32(p); float f; memcpy(&f, &u, 4); return f; }
static double rdd(const uint8_t *p) { uint64_t u = rd64(p); double d; memcpy(&d, &u, 8); return d; }

/* The blob is parsed twice with the same code: a sizing pass (arena NULL) that validates
 * everything and counts the arena bytes, then a filling pass into the allocated arena. */
typedef struct {
    const uint8_t *p, *end; /* the section payload still to read */
    const char *what;       /* the section's name, for errors */
    char *arena;            /* NULL in the sizing pass */
    size_t used;            /* arena bytes carved so far */
    PyObject *views;        /* PRM view names (a tuple), built in the sizing pass */
    PyObject *texts;        /* the policy's (task, robot, layout), built in the sizing pass */
} Parse;

static int fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    PyObject *msg = PyUnicode_FromFormatV(fmt, ap);
    va_end(ap);
    if (msg) {
        PyErr_SetObject(PyExc_ValueError, msg);
        Py_DECREF(msg);
    }
    return -1;
}

static int need(Parse *ps, size_t n) {
    if ((size_t)(ps->end - ps->p) < n)
        return fail("%s section: payload too short for its shapes", ps->what);
    return 0;
}

static int get_u32s(Parse *ps, uint32_t *v, int n) {
    if (need(ps, 4 * (size_t)n)) return -1;
    for (int i = 0; i < n; i++, ps->p += 4) v[i] = rd32(ps->p);
    return 0;
}

static int get_f64(Parse *ps, double *v) {
    if (need(ps, 8)) return -1;
    *v = rdd(ps->p);
    ps->p += 8;
    return 0;
}

static void *carve(Parse *ps, size_t bytes) {
    const size_t at = (ps->used + 63) & ~(size_t)63; /* cache-line aligned arrays */
    ps->used = at + bytes;
    return ps->arena ? ps->arena + at : NULL;
}

static int padded(int out) { return out < 8 ? out : out / PANEL * PANEL + (out % PANEL + 7) / 8 * 8; }

/* `n` finite floats (and > 0 if `positive`) into dst, zero-padded to `pad_to`; dst may be NULL. */
static int get_f32(Parse *ps, size_t n, float *dst, size_t pad_to, const char *what, int positive) {
    if (need(ps, 4 * n)) return -1;
    for (size_t i = 0; i < n; i++) {
        const float v = rdf(ps->p + 4 * i);
        if (!isfinite(v) || (positive && !(v > 0.0f)))
            return fail("%s section: %s has a %s value at index %zu", ps->what, what,
                        positive ? "non-positive or non-finite" : "non-finite", i);
        if (dst) dst[i] = v;
    }
    for (size_t i = n; dst && i < pad_to; i++) dst[i] = 0.0f;
    ps->p += 4 * n;
    return 0;
}

static int get_sizes(Parse *ps, uint32_t *sizes, uint32_t n) {
    if (get_u32s(ps, sizes, (int)n)) return -1;
    for (uint32_t i = 0; i < n; i++)
        if (sizes[i] < 1 || sizes[i] > MAX_DIM)
            return fail("%s section: layer size %u outside [1, %d]", ps->what, sizes[i], MAX_DIM);
    return 0;
}

/* Arena room for a layer's weights and bias, in the order the kernels will read them. */
static void carve_layer(Parse *ps, Layer *ly, int in, int out) {
    float *w = carve(ps, 4 * (size_t)in * padded(out)), *b = carve(ps, 4 * (size_t)padded(out));
    if (ly) *ly = (Layer){in, out, w, b};
}

/* W (in x out, row-major) into the kernel layout of `dense`, at ly->w (ly NULL: sizing). */
static int get_weights(Parse *ps, const Layer *ly, int in, int out) {
    const uint8_t *src = ps->p;
    if (get_f32(ps, (size_t)in * out, NULL, 0, "a weight matrix", 0)) return -1;
    if (!ly) return 0;
    float *dst = (float *)ly->w;
    if (out < 8) {
        for (int o = 0; o < out; o++)
            for (int i = 0; i < in; i++) *dst++ = rdf(src + 4 * ((size_t)i * out + o));
        return 0;
    }
    for (int c = 0; c < out; c += PANEL) {
        const int width = out - c >= PANEL ? PANEL : (out - c + 7) / 8 * 8;
        for (int i = 0; i < in; i++)
            for (int j = 0; j < width; j++)
                *dst++ = c + j < out ? rdf(src + 4 * ((size_t)i * out + c + j)) : 0.0f;
    }
    return 0;
}

static int get_bias(Parse *ps, const Layer *ly, int out) {
    return get_f32(ps, out, ly ? (float *)ly->b : NULL, padded(out), "a bias", 0);
}

static int parse_pref(Parse *ps, Pref *p) {
    uint32_t h[6], sizes[MAX_LAYERS + 1];
    if (get_u32s(ps, h, 6)) return -1;
    const uint32_t kind = h[0], act = h[1], oact = h[2], E = h[3], L = h[4], obs = h[5];
    if (L < 1 || L > MAX_LAYERS || E < 1 || E > MAX_MEMBERS)
        return fail("preference section: %u members, %u layers", E, L);
    if (kind > 1 || act > 2 || oact > 1)
        return fail("preference section: unknown input, activation or output code (%u, %u, %u)",
                    kind, act, oact);
    if (get_sizes(ps, sizes, L + 1)) return -1;
    if (sizes[L] != 1) return fail("preference section: the last layer has %u outputs", sizes[L]);
    const uint32_t in = sizes[0];
    if (kind == 0 ? obs != in : (obs < 1 || obs >= in))
        return fail("preference section: obs_dim %u for %u inputs", obs, in);
    float *mean = carve(ps, 4 * (size_t)in), *std = carve(ps, 4 * (size_t)in);
    Layer *layer = carve(ps, sizeof(Layer) * E * L);
    if (get_f32(ps, in, mean, in, "input_mean", 0) || get_f32(ps, in, std, in, "input_std", 1))
        return -1;
    /* Member-major in the arena (the blob is layer-major): one call then reads the weights as
     * one forward stream, which the hardware prefetchers follow best. */
    for (uint32_t e = 0; e < E; e++)
        for (uint32_t l = 0; l < L; l++)
            carve_layer(ps, layer ? &layer[e * L + l] : NULL, sizes[l], sizes[l + 1]);
    for (uint32_t l = 0; l < L; l++) {
        for (uint32_t e = 0; e < E; e++)
            if (get_weights(ps, layer ? &layer[e * L + l] : NULL, sizes[l], sizes[l + 1])) return -1;
        for (uint32_t e = 0; e < E; e++)
            if (get_bias(ps, layer ? &layer[e * L + l] : NULL, sizes[l + 1])) return -1;
    }
    if (layer) *p = (Pref){E, L, in, obs, act, oact == 1, mean, std, layer};
    return 0;
}

/* View names: built (decoded, checked unique) in the sizing pass only. */
static int get_views(Parse *ps, uint32_t V) {
    PyObject *names = ps->arena ? NULL : PyTuple_New(V), *set = NULL;
    int rc = -1;
    if (!ps->arena && !names) return -1;
    for (uint32_t v = 0; v < V; v++) {
        uint32_t n;
        if (get_u32s(ps, &n, 1)) goto done;
        if (n < 1 || n > MAX_NAME_BYTES) { fail("PRM section: view name of %u bytes", n); goto done; }
        const size_t pad = (4 - n % 4) % 4;
        if (need(ps, n + pad)) goto done;
        for (size_t k = 0; k < pad; k++)
            if (ps->p[n + k]) { fail("PRM section: nonzero padding after a view name"); goto done; }
        if (names) {
            PyObject *s = PyUnicode_DecodeUTF8((const char *)ps->p, n, "strict");
            if (!s) { PyErr_Clear(); fail("PRM section: view name is not UTF-8"); goto done; }
            PyTuple_SET_ITEM(names, v, s);
        }
        ps->p += n + pad;
    }
    if (names) {
        if (!(set = PySet_New(names))) goto done;
        if (PySet_GET_SIZE(set) != (Py_ssize_t)V) { fail("PRM section: view names must be unique"); goto done; }
        ps->views = names;
        names = NULL;
    }
    rc = 0;
done:
    Py_XDECREF(names);
    Py_XDECREF(set);
    return rc;
}

static int parse_prm(Parse *ps, Prm *p) {
    uint32_t h[4], sizes[MAX_LAYERS + 1];
    double eps;
    if (get_u32s(ps, h, 4) || get_f64(ps, &eps)) return -1;
    const uint32_t V = h[0], D = h[1], act = h[2], L = h[3];
    if (V < 1 || V > MAX_VIEWS || L < 1 || L > MAX_LAYERS)
        return fail("PRM section: %u views, %u layers", V, L);
    if (act > 2) return fail("PRM section: unknown activation code %u", act);
    if (get_sizes(ps, sizes, L + 1)) return -1;
    if (D != sizes[0]) return fail("PRM section: feature dim %u, first layer takes %u", D, sizes[0]);
    if (!(isfinite(eps) && eps > 0.0)) return fail("PRM section: norm_eps must be finite and > 0");
    if (get_views(ps, V)) return -1;
    float *embed = carve(ps, 4 * (size_t)V * D), *query = carve(ps, 4 * (size_t)D);
    float *nw = carve(ps, 4 * (size_t)D), *nb = carve(ps, 4 * (size_t)D);
    Layer *layer = carve(ps, sizeof(Layer) * L);
    if (get_f32(ps, (size_t)V * D, embed, 0, "view_embed", 0) ||
        get_f32(ps, D, query, 0, "attn_query", 0) || get_f32(ps, D, nw, 0, "norm_weight", 0) ||
        get_f32(ps, D, nb, 0, "norm_bias", 0))
        return -1;
    for (uint32_t l = 0; l < L; l++) {
        carve_layer(ps, layer ? &layer[l] : NULL, sizes[l], sizes[l + 1]);
        if (get_weights(ps, layer ? &layer[l] : NULL, sizes[l], sizes[l + 1]) ||
            get_bias(ps, layer ? &layer[l] : NULL, sizes[l + 1]))
            return -1;
    }
    float *centers = carve(ps, 4 * (size_t)sizes[L]);
    if (get_f32(ps, sizes[L], centers, 0, "bin_centers", 0)) return -1;
    if (layer)
        *p = (Prm){V, D, L, act, (float)eps, (float)sqrt((double)D), embed, query, nw, nb, centers, layer};
    return 0;
}

/* `n` finite doubles (and > 0 if `positive`) into dst; dst may be NULL. */
static int get_f64s(Parse *ps, size_t n, double *dst, const char *what, int positive) {
    if (need(ps, 8 * n)) return -1;
    for (size_t i = 0; i < n; i++) {
        const double v = rdd(ps->p + 8 * i);
        if (!isfinite(v) || (positive && !(v > 0.0)))
            return fail("%s section: %s has a %s value at index %zu", ps->what, what,
                        positive ? "non-positive or non-finite" : "non-finite", i);
        if (dst) dst[i] = v;
    }
    ps->p += 8 * n;
    return 0;
}

/* The policy's task, robot ("" allowed) and layout: decoded in the sizing pass only. */
static int get_texts(Parse *ps) {
    static const char *WHAT[] = {"task", "robot", "layout"};
    PyObject *texts = ps->arena ? NULL : PyTuple_New(3);
    if (!ps->arena && !texts) return -1;
    for (int k = 0; k < 3; k++) {
        uint32_t n;
        if (get_u32s(ps, &n, 1)) goto bad;
        if ((n == 0 && k != 1) || n > MAX_TEXT_BYTES) {
            fail("policy section: %s of %u bytes", WHAT[k], n);
            goto bad;
        }
        const size_t pad = (4 - n % 4) % 4;
        if (need(ps, n + pad)) goto bad;
        for (size_t i = 0; i < pad; i++)
            if (ps->p[n + i]) { fail("policy section: nonzero padding after the %s", WHAT[k]); goto bad; }
        if (texts) {
            PyObject *t = PyUnicode_DecodeUTF8((const char *)ps->p, n, "strict");
            if (!t) { PyErr_Clear(); fail("policy section: %s is not UTF-8", WHAT[k]); goto bad; }
            PyTuple_SET_ITEM(texts, k, t);
        }
        ps->p += n + pad;
    }
    if (texts) ps->texts = texts;
    return 0;
bad:
    Py_XDECREF(texts);
    return -1;
}

static int parse_policy(Parse *ps, Policy *p) {
    uint32_t h[5], sizes[MAX_LAYERS + 1];
    double clip;
    if (get_u32s(ps, h, 5)) return -1;
    const uint32_t version = h[0], algo = h[1], act = h[2], out = h[3], L = h[4];
    if (version != POLICY_VERSION)
        return fail("policy section: version %u; this reader understands %d only", version,
                    POLICY_VERSION);
    if (L < 1 || L > MAX_LAYERS) return fail("policy section: %u layers", L);
    if (algo > 2 || act > 2 || out > 1)
        return fail("policy section: unknown algo, activation or output code (%u, %u, %u)",
                    algo, act, out);
    if (get_sizes(ps, sizes, L + 1) || get_texts(ps) || get_f64(ps, &clip)) return -1;
    if (!(isfinite(clip) && clip >= 0.0))
        return fail("policy section: obs_clip must be finite and >= 0 (0: none)");
    const uint32_t in = sizes[0], A = sizes[L];
    double *mean = carve(ps, 8 * (size_t)in), *std = carve(ps, 8 * (size_t)in);
    Layer *layer = carve(ps, sizeof(Layer) * L);
    if (get_f64s(ps, in, mean, "obs_mean", 0) || get_f64s(ps, in, std, "obs_std", 1)) return -1;
    for (uint32_t l = 0; l < L; l++) {
        carve_layer(ps, layer ? &layer[l] : NULL, sizes[l], sizes[l + 1]);
        if (get_weights(ps, layer ? &layer[l] : NULL, sizes[l], sizes[l + 1]) ||
            get_bias(ps, layer ? &layer[l] : NULL, sizes[l + 1]))
            return -1;
    }
    const uint8_t *bounds = ps->p; /* checked from the blob, so in the sizing pass too */
    float *low = carve(ps, 4 * (size_t)A), *high = carve(ps, 4 * (size_t)A);
    if (get_f32(ps, A, low, 0, "action_low", 0) || get_f32(ps, A, high, 0, "action_high", 0))
        return -1;
    for (uint32_t j = 0; j < A; j++)
        if (!(rdf(bounds + 4 * j) < rdf(bounds + 4 * ((size_t)A + j))))
            return fail("policy section: action_low[%u] is not below action_high[%u]", j, j);
    if (layer)
        *p = (Policy){(int)L, (int)in, (int)A, (int)act, out == 0, (int)algo, clip, mean, std,
                      low, high, layer};
    return 0;
}

static int parse_shaping(Parse *ps, double *gamma, double *scale) {
    if (get_f64(ps, gamma) || get_f64(ps, scale)) return -1;
    if (!(*gamma > 0.0 && *gamma <= 1.0)) return fail("shaping section: gamma outside (0, 1]");
    if (!isfinite(*scale)) return fail("shaping section: scale is not finite");
    return 0;
}

typedef struct {
    PyObject_HEAD
    void *raw; /* the arena as allocated (unaligned) */
    const Kernels *kernels;
    int seen; /* bit k set: a section of kind k is present */
    Pref pref;
    Prm prm;
    Policy policy;
    double gamma, scale;
    PyObject *info;
} Evaluator;

static int parse_blob(Parse *ps, Evaluator *ev, const uint8_t *data, size_t n) {
    static const char *NAMES[] = {"", "preference", "PRM", "shaping", "policy"};
    if (n < HEADER_BYTES + CRC_BYTES)
        return fail("truncated: %zu bytes, an RPE blob has at least %d", n, HEADER_BYTES + CRC_BYTES);
    if (n > MAX_BLOB_BYTES) return fail("%zu bytes, more than an RPE blob may have", n);
    if (memcmp(data, MAGIC, sizeof MAGIC)) return fail("not an RPE blob (bad magic)");
    const uint32_t version = rd32(data + 8), sections = rd32(data + 12);
    const uint64_t total = rd64(data + 16), reserved = rd64(data + 24);
    if (version != RPE_VERSION)
        return fail("RPE version %u; this reader understands %d only", version, RPE_VERSION);
    if (total != n)
        return fail("size mismatch: header says %llu bytes, got %zu (truncated?)",
                    (unsigned long long)total, n);
    if (rd32(data + n - CRC_BYTES) != crc32_of(data, n - CRC_BYTES))
        return fail("checksum mismatch (the blob is corrupt)");
    if (reserved || sections < 1 || sections > N_SECTIONS)
        return fail("bad header: %u sections, reserved %llu", sections, (unsigned long long)reserved);
    const uint8_t *pos = data + HEADER_BYTES, *end = data + n - CRC_BYTES;
    ev->seen = 0;
    for (uint32_t s = 0; s < sections; s++) {
        if ((size_t)(end - pos) < SECTION_BYTES)
            return fail("the header says %u sections; section %u's header runs past the end",
                        sections, s + 1);
        const uint32_t kind = rd32(pos), res = rd32(pos + 4);
        const uint64_t size = rd64(pos + 8);
        pos += SECTION_BYTES;
        if (kind < 1 || kind > N_SECTIONS || (ev->seen >> kind & 1) || res)
            return fail("unknown, repeated or malformed section (kind %u)", kind);
        ev->seen |= 1 << kind;
        ps->what = NAMES[kind];
        if (size > (uint64_t)(end - pos)) return fail("%s section runs past the end", ps->what);
        ps->p = pos;
        ps->end = pos + size;
        const int rc = kind == SEC_PREFERENCE ? parse_pref(ps, &ev->pref)
                       : kind == SEC_PRM      ? parse_prm(ps, &ev->prm)
                       : kind == SEC_POLICY   ? parse_policy(ps, &ev->policy)
                                              : parse_shaping(ps, &ev->gamma, &ev->scale);
        if (rc) return -1;
        if (ps->p != ps->end)
            return fail("%s section: %zd bytes left over", ps->what, (Py_ssize_t)(ps->end - ps->p));
        pos = ps->end;
    }
    if (pos != end) return fail("%zd stray bytes after the last section", (Py_ssize_t)(end - pos));
    return 0;
}

/* ------------------------------------------------------------------------------ binding */

static const char *code_name(char c) { return c == 'f' ? "float32" : c == 'd' ? "float64" : "bool"; }

static void shape_str(char *buf, size_t cap, int ndim, const Py_ssize_t *dims) {
    size_t at = (size_t)PyOS_snprintf(buf, cap, "(");
    for (int k = 0; k < ndim && at < cap; k++) {
        const char *sep = k + 1 < ndim ? ", " : ndim == 1 ? "," : "";
        if (dims[k] < 0) at += (size_t)PyOS_snprintf(buf + at, cap - at, "N%s", sep);
        else at += (size_t)PyOS_snprintf(buf + at, cap - at, "%zd%s", dims[k], sep);
    }
    if (at < cap) PyOS_snprintf(buf + at, cap - at, ")");
}

/* Buffers held by one call, released together on every path. */
typedef struct { Py_buffer v[6]; int n; } Held;

static void release(Held *h) {
    while (h->n) PyBuffer_Release(&h->v[--h->n]);
}

/* A C-contiguous `code` buffer of `ndim` dims; dims[k] < 0 accepts any size (the batch axis). */
static int hold(Held *h, PyObject *obj, const char *name, char code, int ndim, Py_ssize_t d0,
                Py_ssize_t d1, Py_ssize_t d2, int writable, void *ptr) {
    const Py_ssize_t dims[3] = {d0, d1, d2};
    char want[96], got[96]; /* formatted on error paths only: snprintf costs ~1 us */
    Py_buffer *v = &h->v[h->n];
    if (!PyObject_CheckBuffer(obj)) {
        shape_str(want, sizeof want, ndim, dims);
        return fail("%s: expected a C-contiguous %s array of shape %s, got %s", name,
                    code_name(code), want, Py_TYPE(obj)->tp_name);
    }
    if (PyObject_GetBuffer(obj, v, PyBUF_STRIDES | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0))) {
        PyErr_Clear();
        return fail("%s: expected a %s%s array, got an unusable buffer (read-only?)", name,
                    writable ? "writable " : "", code_name(code));
    }
    const char *f = v->format ? v->format : "B";
    if (*f == '@' || *f == '=' || (*f == '<' && PY_LITTLE_ENDIAN)) f++;
    if (f[0] != code || f[1] != '\0') {
        fail("%s: expected %s, got buffer format '%s'", name, code_name(code), v->format ? v->format : "B");
        goto bad;
    }
    int ok = v->ndim == ndim;
    for (int k = 0; ok && k < ndim; k++) ok = dims[k] < 0 || v->shape[k] == dims[k];
    if (!ok) {
        shape_str(want, sizeof want, ndim, dims);
        shape_str(got, sizeof got, v->ndim, v->shape);
        fail("%s: expected shape %s, got %s", name, want, got);
        goto bad;
    }
    if (!PyBuffer_IsContiguous(v, 'C')) {
        fail("%s: must be C-contiguous (numpy.ascontiguousarray makes a copy that is)", name);
        goto bad;
    }
    *(void **)ptr = v->buf;
    h->n++;
    return 0;
bad:
    PyBuffer_Release(v);
    return -1;
}

static PyObject *missing(const Evaluator *ev, int kind, const char *method) {
    static const char *WHAT[] = {"", "preference head", "PRM head", "shaping constants", "policy"};
    (void)ev;
    return PyErr_Format(PyExc_ValueError, "%s: the blob has no %s", method, WHAT[kind]);
}

static int has(const Evaluator *ev, int kind) { return ev->seen >> kind & 1; }

static PyObject *row_error(int rc, const char *input, Py_ssize_t row, Py_ssize_t col, int split,
                           const char *input2, int width) {
    char where[64] = "";
    if (row >= 0) PyOS_snprintf(where, sizeof where, " at row %zd", row);
    if (rc == ROW_NO_VIEW) return PyErr_Format(PyExc_ValueError, "%s: no view present%s", input, where);
    if (rc == ROW_BAD_OUTPUT)
        return PyErr_Format(PyExc_ValueError, "the head gave a non-finite output%s (an input far "
                                              "outside the range it was trained on?)", where);
    if (split >= 0 && col >= split) return PyErr_Format(PyExc_ValueError,
        "%s: NaN or inf%s, index %zd", input2, where, col - split);
    if (width > 0)
        return PyErr_Format(PyExc_ValueError, "%s: NaN or inf%s, view %zd, index %zd", input, where,
                            col / width, col % width);
    return PyErr_Format(PyExc_ValueError, "%s: NaN or inf%s, index %zd", input, where, col);
}

/* For a state_action head: the action buffer; a state head ignores it (as the torch model). */
static int hold_action(Held *h, const Pref *p, PyObject *a, const char *name, int batch,
                       Py_ssize_t n, const float **out) {
    *out = NULL;
    if (p->in == p->obs_dim) return 0;
    if (a == Py_None) return fail("%s: this head reads (state, action); the action is missing", name);
    return batch ? hold(h, a, name, 'f', 2, n, p->in - p->obs_dim, 0, 0, out)
                 : hold(h, a, name, 'f', 1, p->in - p->obs_dim, 0, 0, 0, out);
}

static PyObject *Evaluator_reward(Evaluator *ev, PyObject *const *args, Py_ssize_t nargs) {
    if (!has(ev, SEC_PREFERENCE)) return missing(ev, SEC_PREFERENCE, "reward");
    if (nargs < 1 || nargs > 2) return PyErr_Format(PyExc_TypeError, "reward(state, action=None)");
    const Pref *p = &ev->pref;
    Held h = {.n = 0};
    const float *s, *a;
    PyObject *res = NULL;
    float m, sd;
    Py_ssize_t col = 0;
    if (hold(&h, args[0], "state", 'f', 1, p->obs_dim, 0, 0, 0, &s) ||
        hold_action(&h, p, nargs > 1 ? args[1] : Py_None, "action", 0, 0, &a))
        goto done;
    const int rc = ev->kernels->pref(p, s, a, &m, &sd, &col);
    if (rc) row_error(rc, "state", -1, col, p->obs_dim, "action", 0);
    else res = Py_BuildValue("(dd)", (double)m, (double)sd);
done:
    release(&h);
    return res;
}

static PyObject *Evaluator_reward_batch(Evaluator *ev, PyObject *const *args, Py_ssize_t nargs) {
    if (!has(ev, SEC_PREFERENCE)) return missing(ev, SEC_PREFERENCE, "reward_batch");
    if (nargs != 4) return PyErr_Format(PyExc_TypeError, "reward_batch(states, actions, means, spreads)");
    const Pref *p = &ev->pref;
    Held h = {.n = 0};
    const float *s, *a;
    float *m, *sd;
    Py_ssize_t bad = -1, col = 0;
    int rc = 0;
    if (hold(&h, args[0], "states", 'f', 2, -1, p->obs_dim, 0, 0, &s)) goto done;
    const Py_ssize_t n = h.v[0].shape[0], act = p->in - p->obs_dim;
    if (hold_action(&h, p, args[1], "actions", 1, n, &a) ||
        hold(&h, args[2], "means", 'f', 1, n, 0, 0, 1, &m) ||
        hold(&h, args[3], "spreads", 'f', 1, n, 0, 0, 1, &sd))
        goto done;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        rc = ev->kernels->pref(p, s + i * p->obs_dim, a ? a + i * act : NULL, m + i, sd + i, &col);
        if (rc) { bad = i; break; }
    }
    Py_END_ALLOW_THREADS
    if (rc) row_error(rc, "states", bad, col, p->obs_dim, "actions", 0);
done:
    release(&h);
    if (PyErr_Occurred()) return NULL;
    Py_RETURN_NONE;
}

static int hold_mask(Held *h, const Prm *p, PyObject *m, const char *name, int batch, Py_ssize_t n,
                     const uint8_t **out) {
    *out = NULL;
    if (m == Py_None) return 0;
    return batch ? hold(h, m, name, '?', 2, n, p->views, 0, 0, out)
                 : hold(h, m, name, '?', 1, p->views, 0, 0, 0, out);
}

static PyObject *Evaluator_potential(Evaluator *ev, PyObject *const *args, Py_ssize_t nargs) {
    if (!has(ev, SEC_PRM)) return missing(ev, SEC_PRM, "potential");
    if (nargs < 1 || nargs > 2) return PyErr_Format(PyExc_TypeError, "potential(features, mask=None)");
    const Prm *p = &ev->prm;
    Held h = {.n = 0};
    const float *f;
    const uint8_t *mask;
    PyObject *res = NULL;
    float phi;
    Py_ssize_t col = 0;
    if (hold(&h, args[0], "features", 'f', 2, p->views, p->dim, 0, 0, &f) ||
        hold_mask(&h, p, nargs > 1 ? args[1] : Py_None, "mask", 0, 0, &mask))
        goto done;
    const int rc = ev->kernels->prm(p, f, mask, &phi, &col);
    if (rc) row_error(rc, rc == ROW_NO_VIEW ? "mask" : "features", -1, col, -1, NULL, p->dim);
    else res = PyFloat_FromDouble(phi);
done:
    release(&h);
    return res;
}

static PyObject *Evaluator_potential_batch(Evaluator *ev, PyObject *const *args, Py_ssize_t nargs) {
    if (!has(ev, SEC_PRM)) return missing(ev, SEC_PRM, "potential_batch");
    if (nargs != 3) return PyErr_Format(PyExc_TypeError, "potential_batch(features, mask, out)");
    const Prm *p = &ev->prm;
    Held h = {.n = 0};
    const float *f;
    const uint8_t *mask;
    float *out;
    Py_ssize_t bad = -1, col = 0;
    int rc = 0;
    if (hold(&h, args[0], "features", 'f', 3, -1, p->views, p->dim, 0, &f)) goto done;
    const Py_ssize_t n = h.v[0].shape[0], stride = (Py_ssize_t)p->views * p->dim;
    if (hold_mask(&h, p, args[1], "mask", 1, n, &mask) ||
        hold(&h, args[2], "out", 'f', 1, n, 0, 0, 1, &out))
        goto done;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        rc = ev->kernels->prm(p, f + i * stride, mask ? mask + i * p->views : NULL, out + i, &col);
        if (rc) { bad = i; break; }
    }
    Py_END_ALLOW_THREADS
    if (rc) row_error(rc, rc == ROW_NO_VIEW ? "mask" : "features", bad, col, -1, NULL, p->dim);
done:
    release(&h);
    if (PyErr_Occurred()) return NULL;
    Py_RETURN_NONE;
}

/* A terminated flag: a bool, or a number that is exactly 0 or 1 (as shaping_terms accepts). */
static int flag(PyObject *o) {
    if (PyBool_Check(o)) return o == Py_True;
    const double v = PyFloat_AsDouble(o);
    if (v == -1.0 && PyErr_Occurred()) PyErr_Clear();
    else if (v == 0.0 || v == 1.0) return v == 1.0;
    fail("terminated: expected a bool or 0/1, got %R", o);
    return -1;
}

/* scale * (gamma * Phi(s') - Phi(s)), with Phi(s') = 0 at a terminal s' (DESIGN.md contract 4). */
static int shape_row(const Evaluator *ev, const float *f, const float *g, int term, const uint8_t *m,
                     const uint8_t *gm, double *out, Py_ssize_t *col, int *which) {
    float phi, next = 0.0f;
    int rc = ev->kernels->prm(&ev->prm, f, m, &phi, col);
    *which = 0;
    if (!rc && !term) { /* a terminal s' is not evaluated: its potential is 0 by definition */
        rc = ev->kernels->prm(&ev->prm, g, gm, &next, col);
        *which = 1;
    }
    *out = ev->scale * (ev->gamma * (term ? 0.0 : (double)next) - (double)phi);
    return rc;
}

static const char *shape_input(int rc, int which) {
    return rc == ROW_NO_VIEW ? (which ? "next_mask" : "mask") : which ? "next_features" : "features";
}

static PyObject *Evaluator_shaped(Evaluator *ev, PyObject *const *args, Py_ssize_t nargs) {
    if (!has(ev, SEC_PRM)) return missing(ev, SEC_PRM, "shaped");
    if (!has(ev, SEC_SHAPING)) return missing(ev, SEC_SHAPING, "shaped");
    if (nargs < 3 || nargs > 5)
        return PyErr_Format(PyExc_TypeError, "shaped(features, next_features, terminated, mask=None, next_mask=None)");
    const Prm *p = &ev->prm;
    Held h = {.n = 0};
    const float *f, *g;
    const uint8_t *m, *gm;
    PyObject *res = NULL;
    double out;
    Py_ssize_t col = 0;
    int which, term;
    if (hold(&h, args[0], "features", 'f', 2, p->views, p->dim, 0, 0, &f) ||
        hold(&h, args[1], "next_features", 'f', 2, p->views, p->dim, 0, 0, &g) ||
        (term = flag(args[2])) < 0 ||
        hold_mask(&h, p, nargs > 3 ? args[3] : Py_None, "mask", 0, 0, &m) ||
        hold_mask(&h, p, nargs > 4 ? args[4] : Py_None, "next_mask", 0, 0, &gm))
        goto done;
    const int rc = shape_row(ev, f, g, term, m, gm, &out, &col, &which);
    if (rc) row_error(rc, shape_input(rc, which), -1, col, -1, NULL, p->dim);
    else res = PyFloat_FromDouble(out);
done:
    release(&h);
    return res;
}

static PyObject *Evaluator_shaped_batch(Evaluator *ev, PyObject *const *args, Py_ssize_t nargs) {
    if (!has(ev, SEC_PRM)) return missing(ev, SEC_PRM, "shaped_batch");
    if (!has(ev, SEC_SHAPING)) return missing(ev, SEC_SHAPING, "shaped_batch");
    if (nargs != 6)
        return PyErr_Format(PyExc_TypeError, "shaped_batch(features, next_features, terminated, mask, next_mask, out)");
    const Prm *p = &ev->prm;
    Held h = {.n = 0};
    const float *f, *g;
    const uint8_t *t, *m, *gm;
    double *out;
    Py_ssize_t bad = -1, col = 0;
    int rc = 0, which = 0;
    if (hold(&h, args[0], "features", 'f', 3, -1, p->views, p->dim, 0, &f)) goto done;
    const Py_ssize_t n = h.v[0].shape[0], stride = (Py_ssize_t)p->views * p->dim;
    if (hold(&h, args[1], "next_features", 'f', 3, n, p->views, p->dim, 0, &g) ||
        hold(&h, args[2], "terminated", '?', 1, n, 0, 0, 0, &t) ||
        hold_mask(&h, p, args[3], "mask", 1, n, &m) ||
        hold_mask(&h, p, args[4], "next_mask", 1, n, &gm) ||
        hold(&h, args[5], "out", 'd', 1, n, 0, 0, 1, &out))
        goto done;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        rc = shape_row(ev, f + i * stride, g + i * stride, t[i] != 0, m ? m + i * p->views : NULL,
                       gm ? gm + i * p->views : NULL, out + i, &col, &which);
        if (rc) { bad = i; break; }
    }
    Py_END_ALLOW_THREADS
    if (rc) row_error(rc, shape_input(rc, which), bad, col, -1, NULL, p->dim);
done:
    release(&h);
    if (PyErr_Occurred()) return NULL;
    Py_RETURN_NONE;
}

static PyObject *Evaluator_act(Evaluator *ev, PyObject *const *args, Py_ssize_t nargs) {
    if (!has(ev, SEC_POLICY)) return missing(ev, SEC_POLICY, "act");
    if (nargs != 2) return PyErr_Format(PyExc_TypeError, "act(state, out)");
    const Policy *p = &ev->policy;
    Held h = {.n = 0};
    const float *s;
    float *out;
    Py_ssize_t col = 0;
    if (hold(&h, args[0], "state", 'f', 1, p->in, 0, 0, 0, &s) ||
        hold(&h, args[1], "out", 'f', 1, p->out, 0, 0, 1, &out))
        goto done;
    const int rc = ev->kernels->policy(p, s, out, &col);
    if (rc) row_error(rc, "state", -1, col, -1, NULL, 0);
done:
    release(&h);
    if (PyErr_Occurred()) return NULL;
    Py_RETURN_NONE;
}

static PyObject *Evaluator_act_batch(Evaluator *ev, PyObject *const *args, Py_ssize_t nargs) {
    if (!has(ev, SEC_POLICY)) return missing(ev, SEC_POLICY, "act_batch");
    if (nargs != 2) return PyErr_Format(PyExc_TypeError, "act_batch(states, out)");
    const Policy *p = &ev->policy;
    Held h = {.n = 0};
    const float *s;
    float *out;
    Py_ssize_t bad = -1, col = 0;
    int rc = 0;
    if (hold(&h, args[0], "states", 'f', 2, -1, p->in, 0, 0, &s)) goto done;
    const Py_ssize_t n = h.v[0].shape[0];
    if (hold(&h, args[1], "out", 'f', 2, n, p->out, 0, 1, &out)) goto done;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        rc = ev->kernels->policy(p, s + i * p->in, out + i * p->out, &col);
        if (rc) { bad = i; break; }
    }
    Py_END_ALLOW_THREADS
    if (rc) row_error(rc, "states", bad, col, -1, NULL, 0);
done:
    release(&h);
    if (PyErr_Occurred()) return NULL;
    Py_RETURN_NONE;
}

/* stream(data, passes): reads the float32 buffer `passes` times (the benchmark's memory floor:
 * the time to read a head's weights once, the way the kernels read them); returns a checksum. */
static PyObject *stream(PyObject *mod, PyObject *args) {
    Py_buffer b;
    int passes;
    (void)mod;
    if (!PyArg_ParseTuple(args, "y*i:stream", &b, &passes)) return NULL;
    const size_t n = (size_t)b.len / 4 / 32 * 32;
    if (n > (size_t)INT32_MAX) {
        PyBuffer_Release(&b);
        return PyErr_Format(PyExc_ValueError, "stream: buffer too large");
    }
#ifdef HAVE_AVX2
    const int wide = avx2_ok();
#else
    const int wide = 0;
#endif
    double total = 0.0;
    Py_BEGIN_ALLOW_THREADS
    for (int r = 0; r < passes; r++) {
#ifdef HAVE_AVX2
        if (wide) {
            total += stream_avx2(b.buf, n);
            continue;
        }
#endif
        total += vsum(b.buf, (int)n);
    }
    Py_END_ALLOW_THREADS
    (void)wide;
    PyBuffer_Release(&b);
    return PyFloat_FromDouble(total);
}

static PyObject *sizes_tuple(const Layer *layer, int n) {
    PyObject *t = PyTuple_New(n + 1);
    for (int l = 0; t && l <= n; l++) {
        PyObject *v = PyLong_FromLong(l == 0 ? layer[0].in : layer[l - 1].out);
        if (!v) { Py_CLEAR(t); break; }
        PyTuple_SET_ITEM(t, l, v);
    }
    return t;
}

static PyObject *opt_float(int present, double v) {
    if (present) return PyFloat_FromDouble(v);
    Py_RETURN_NONE;
}

/* The head's description, equal to robopref.evaluator.reference's for the same blob. */
static PyObject *build_info(const Evaluator *ev, PyObject *views, PyObject *texts) {
    PyObject *pref = Py_None, *prm = Py_None, *pol = Py_None;
    Py_INCREF(pref);
    Py_INCREF(prm);
    Py_INCREF(pol);
    if (has(ev, SEC_PREFERENCE)) {
        const Pref *p = &ev->pref;
        Py_DECREF(pref);
        pref = Py_BuildValue("{s:s,s:s,s:s,s:i,s:N,s:i,s:i}", "input",
                             p->in == p->obs_dim ? "state" : "state_action", "activation",
                             ACT_NAMES[p->activation], "output_activation",
                             p->out_tanh ? "tanh" : "none", "members", p->members, "sizes",
                             sizes_tuple(p->layer, p->layers), "obs_dim", p->obs_dim, "act_dim",
                             p->in - p->obs_dim);
    }
    if (pref && has(ev, SEC_PRM)) {
        const Prm *p = &ev->prm;
        Py_DECREF(prm);
        prm = Py_BuildValue("{s:O,s:i,s:N,s:s}", "views", views, "dim", p->dim, "sizes",
                            sizes_tuple(p->layer, p->layers), "activation", ACT_NAMES[p->activation]);
    }
    if (pref && prm && has(ev, SEC_POLICY)) {
        const Policy *p = &ev->policy;
        Py_DECREF(pol);
        pol = Py_BuildValue("{s:s,s:O,s:O,s:O,s:i,s:i,s:N,s:s,s:s,s:d}", "algo",
                            ALGO_NAMES[p->algo], "task", PyTuple_GET_ITEM(texts, 0), "robot",
                            PyTuple_GET_ITEM(texts, 1), "layout", PyTuple_GET_ITEM(texts, 2),
                            "obs_dim", p->in, "act_dim", p->out, "sizes",
                            sizes_tuple(p->layer, p->layers), "activation",
                            ACT_NAMES[p->activation], "output", ACTION_NAMES[!p->out_tanh],
                            "obs_clip", p->clip);
    }
    if (!pref || !prm || !pol) {
        Py_XDECREF(pref);
        Py_XDECREF(prm);
        Py_XDECREF(pol);
        return NULL;
    }
    return Py_BuildValue("{s:N,s:N,s:N,s:N,s:N}", "preference", pref, "prm", prm, "gamma",
                         opt_float(has(ev, SEC_SHAPING), ev->gamma), "scale",
                         opt_float(has(ev, SEC_SHAPING), ev->scale), "policy", pol);
}

static const Kernels *pick_kernels(const char *name) {
#ifdef HAVE_AVX2
    const int avx2 = avx2_ok();
    if (!strcmp(name, "auto")) return avx2 ? &KERNEL_AVX2 : &KERNEL_GENERIC;
    if (!strcmp(name, "avx2")) {
        if (avx2) return &KERNEL_AVX2;
        fail("kernel 'avx2': this CPU lacks AVX2 or FMA");
        return NULL;
    }
#else
    if (!strcmp(name, "auto")) return &KERNEL_GENERIC;
#endif
    if (!strcmp(name, "generic")) return &KERNEL_GENERIC;
    fail("unknown kernel '%s'; valid: auto, generic, avx2 (where the CPU has it)", name);
    return NULL;
}

/* ------------------------------------------------------------------------------ overflow rule */

/* heads.py's overflow rule (its module doc): a head is refused when the worst case of one of
 * its float32 sums, by interval arithmetic on unit-scale inputs, exceeds MAX_BOUND; where the
 * sums stay below it, no order of their terms overflows, so every kernel and the NumPy twin
 * give the same answer. Checked once, at load, in double, on the arena's weights. */
#define MAX_BOUND 0x1p100
#define OVERFLOW_TEXT "can overflow float32 (worst case over 2^100 on unit-scale inputs: a " \
                      "diverged or corrupt head?)"

/* W[i][o] of a layer in the kernel layout (see the top comment). */
static float weight_at(const Layer *ly, int i, int o) {
    if (ly->out < 8) return ly->w[(size_t)o * ly->in + i];
    const int c = o / PANEL * PANEL, width = ly->out - c >= PANEL ? PANEL : (ly->out - c + 7) / 8 * 8;
    return ly->w[(size_t)ly->in * c + (size_t)i * width + (o - c)];
}

/* Runs the bound through layers[0:n] from input bounds u (scratch v); -1 with the error set. */
static int mlp_bound(const char *what, const Layer *layer, int n, int act, double *u, double *v) {
    for (int l = 0; l < n; l++) {
        const Layer *ly = &layer[l];
        for (int o = 0; o < ly->out; o++) {
            double s = fabs((double)ly->b[o]);
            for (int i = 0; i < ly->in; i++) s += fabs((double)weight_at(ly, i, o)) * u[i];
            if (!(s <= MAX_BOUND)) return fail("%s: layer %d " OVERFLOW_TEXT, what, l);
            v[o] = act == ACT_TANH && l + 1 < n && s > 1.0 ? 1.0 : s;
        }
        double *t = u;
        u = v;
        v = t;
    }
    return 0;
}

static int check_overflow(const Evaluator *ev) {
    double *u = PyMem_Malloc(2 * MAX_DIM * sizeof(double)), *v = u + MAX_DIM;
    int rc = -1;
    if (!u) { PyErr_NoMemory(); return -1; }
    if (ev->seen >> SEC_PREFERENCE & 1) {
        const Pref *p = &ev->pref;
        char what[64];
        for (int e = 0; e < p->members; e++) {
            for (int i = 0; i < p->in; i++) u[i] = 1.0;
            PyOS_snprintf(what, sizeof what, "preference section: member %d", e);
            if (mlp_bound(what, p->layer + e * p->layers, p->layers, p->activation, u, v)) goto done;
        }
    }
    if (ev->seen >> SEC_PRM & 1) {
        const Prm *p = &ev->prm;
        const int V = p->views, D = p->dim;
        double mean = 0.0, var = 0.0, top = 0.0;
        for (int vi = 0; vi < V; vi++) {
            double score = 0.0;
            for (int d = 0; d < D; d++)
                score += (1.0 + fabs((double)p->embed[(size_t)vi * D + d])) * fabs((double)p->query[d]);
            if (!(score <= MAX_BOUND)) { fail("PRM section: attention scores " OVERFLOW_TEXT); goto done; }
        }
        for (int d = 0; d < D; d++) { /* v[d]: the largest |f + e| of feature d over the views */
            v[d] = 0.0;
            for (int vi = 0; vi < V; vi++) {
                const double m = 1.0 + fabs((double)p->embed[(size_t)vi * D + d]);
                v[d] = m > v[d] ? m : v[d];
            }
            mean += v[d];
            top = v[d] > top ? v[d] : top;
        }
        if (!(mean <= MAX_BOUND)) { fail("PRM section: LayerNorm mean " OVERFLOW_TEXT); goto done; }
        for (int d = 0; d < D; d++) var += (v[d] + top) * (v[d] + top);
        if (!(var <= MAX_BOUND)) { fail("PRM section: LayerNorm variance " OVERFLOW_TEXT); goto done; }
        for (int d = 0; d < D; d++) /* LayerNorm's output, whatever the features */
            u[d] = sqrt((double)D) * fabs((double)p->norm_w[d]) + fabs((double)p->norm_b[d]);
        if (mlp_bound("PRM section", p->layer, p->layers, p->activation, u, v)) goto done;
    }
    if (ev->seen >> SEC_POLICY & 1) {
        const Policy *p = &ev->policy;
        for (int i = 0; i < p->in; i++) u[i] = p->clip > 1.0 ? p->clip : 1.0;
        if (mlp_bound("policy section", p->layer, p->layers, p->activation, u, v)) goto done;
    }
    rc = 0;
done:
    PyMem_Free(u);
    return rc;
}

static PyObject *Evaluator_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"data", "kernel", NULL};
    Py_buffer data;
    const char *kernel = "auto";
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "y*|s:Evaluator", kwlist, &data, &kernel)) return NULL;
    Parse ps = {0};
    Evaluator *ev = NULL;
    const Kernels *k = pick_kernels(kernel);
    if (!k || !(ev = (Evaluator *)type->tp_alloc(type, 0))) goto fail;
    ev->kernels = k;
    if (parse_blob(&ps, ev, data.buf, (size_t)data.len)) goto fail;
    if (!(ev->raw = PyMem_RawMalloc(ps.used + 64))) {
        PyErr_NoMemory();
        goto fail;
    }
    Parse fill = {.arena = (char *)(((uintptr_t)ev->raw + 63) & ~(uintptr_t)63), .views = ps.views,
                  .texts = ps.texts};
    if (parse_blob(&fill, ev, data.buf, (size_t)data.len) || check_overflow(ev) ||
        !(ev->info = build_info(ev, ps.views, ps.texts)))
        goto fail;
    Py_XDECREF(ps.views);
    Py_XDECREF(ps.texts);
    PyBuffer_Release(&data);
    return (PyObject *)ev;
fail:
    Py_XDECREF(ps.views);
    Py_XDECREF(ps.texts);
    Py_XDECREF(ev);
    PyBuffer_Release(&data);
    return NULL;
}

static void Evaluator_dealloc(Evaluator *ev) {
    PyMem_RawFree(ev->raw);
    Py_XDECREF(ev->info);
    Py_TYPE(ev)->tp_free((PyObject *)ev);
}

static PyObject *Evaluator_get_info(Evaluator *ev, void *closure) {
    (void)closure;
    return PyDict_Copy(ev->info);
}

static PyObject *Evaluator_get_kernel(Evaluator *ev, void *closure) {
    (void)closure;
    return PyUnicode_FromString(ev->kernels->name);
}

#define FASTCALL(f) (PyCFunction)(void (*)(void))(f), METH_FASTCALL
static PyMethodDef Evaluator_methods[] = {
    {"reward", FASTCALL(Evaluator_reward), "reward(state, action=None) -> (mean, spread)"},
    {"reward_batch", FASTCALL(Evaluator_reward_batch),
     "reward_batch(states, actions, means, spreads): fills the float32 (N,) outputs"},
    {"potential", FASTCALL(Evaluator_potential), "potential(features, mask=None) -> float"},
    {"potential_batch", FASTCALL(Evaluator_potential_batch),
     "potential_batch(features, mask, out): fills the float32 (N,) output"},
    {"shaped", FASTCALL(Evaluator_shaped),
     "shaped(features, next_features, terminated, mask=None, next_mask=None) -> float"},
    {"shaped_batch", FASTCALL(Evaluator_shaped_batch),
     "shaped_batch(features, next_features, terminated, mask, next_mask, out): float64 out"},
    {"act", FASTCALL(Evaluator_act), "act(state, out): the policy's action into float32 out"},
    {"act_batch", FASTCALL(Evaluator_act_batch),
     "act_batch(states, out): the actions of (N, obs_dim) states into float32 (N, act_dim)"},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Evaluator_getset[] = {
    {"info", (getter)Evaluator_get_info, NULL, "the heads' description (a new dict)", NULL},
    {"kernel", (getter)Evaluator_get_kernel, NULL, "the kernel in use: 'avx2' or 'generic'", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject EvaluatorType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "robopref.evaluator._evaluator.Evaluator",
    .tp_basicsize = sizeof(Evaluator),
    .tp_dealloc = (destructor)Evaluator_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Evaluator(data, kernel='auto'): the heads of an RPE blob (bytes), validated.",
    .tp_methods = Evaluator_methods,
    .tp_getset = Evaluator_getset,
    .tp_new = Evaluator_new,
};

static PyMethodDef module_methods[] = {
    {"stream", stream, METH_VARARGS, "stream(data, passes) -> checksum: a benchmark's memory floor"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_evaluator", "The robopref reward kernels (see robopref.evaluator).",
    -1, module_methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__evaluator(void) {
    crc_init();
    if (PyType_Ready(&EvaluatorType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
#ifdef HAVE_AVX2
    PyObject *kernels = avx2_ok() ? Py_BuildValue("(ss)", "generic", "avx2") : Py_BuildValue("(s)", "generic");
#else
    PyObject *kernels = Py_BuildValue("(s)", "generic");
#endif
    Py_INCREF(&EvaluatorType);
    if (PyModule_AddObject(m, "Evaluator", (PyObject *)&EvaluatorType) < 0 ||
        PyModule_AddObject(m, "KERNELS", kernels) < 0 ||
        PyModule_AddIntConstant(m, "VERSION", RPE_VERSION) < 0 ||
        PyModule_AddIntConstant(m, "MAX_DIM", MAX_DIM) < 0 ||
        PyModule_AddIntConstant(m, "MAX_LAYERS", MAX_LAYERS) < 0 ||
        PyModule_AddIntConstant(m, "MAX_MEMBERS", MAX_MEMBERS) < 0 ||
        PyModule_AddIntConstant(m, "MAX_VIEWS", MAX_VIEWS) < 0 ||
        PyModule_AddIntConstant(m, "MAX_TEXT_BYTES", MAX_TEXT_BYTES) < 0 ||
        PyModule_AddIntConstant(m, "POLICY_VERSION", POLICY_VERSION) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
