/* robopref.evaluator._evaluator: the RPE blob parser (format: robopref/evaluator/blob.py,
 * whose checks it repeats) and heads.py's overflow rule, both run once at load.
 *
 * Loading copies the weights into one aligned arena, repacked for the kernels (the layout in
 * _rpe.h), so the kernels read each layer as one forward stream.
 */
#include <math.h>
#include <stdarg.h>
#include <string.h>

#include "_blob.h"

#define fail rpe_fail /* the parser's short name for it */

static const uint8_t MAGIC[8] = {0x89, 'R', 'P', 'E', '\r', '\n', 0x1a, '\n'};

static uint32_t CRC_TABLE[256]; /* zlib's CRC-32; filled once at module init, read-only after */

void rpe_crc_init(void) {
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

/* ------------------------------------------------------------------------------- parser */

int rpe_fail(const char *fmt, ...) {
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
    ps->prm_dim = D;
    if (layer)
        *p = (Prm){V, D, L, act, (float)eps, (float)sqrt((double)D), embed, query, nw, nb, centers,
                   layer, {{0, NULL}, {0, NULL}}};
    return 0;
}

/* A PRM success or preference head: u32 version, layers L; u32 sizes[L+1] (D .. 1); per layer
 * W, b. Its hidden activation is the PRM's, so the PRM section must come first. */
static int parse_prm_head(Parse *ps, int seen, PrmHead *hd) {
    uint32_t h[2], sizes[MAX_LAYERS + 1];
    if (!(seen >> SEC_PRM & 1))
        return fail("%s section: needs the PRM section before it (the head reads the PRM's "
                    "fused features)", ps->what);
    if (get_u32s(ps, h, 2)) return -1;
    const uint32_t version = h[0], L = h[1];
    if (version != PRM_HEAD_VERSION)
        return fail("%s section: version %u; this reader understands %d only", ps->what, version,
                    PRM_HEAD_VERSION);
    if (L < 1 || L > MAX_LAYERS) return fail("%s section: %u layers", ps->what, L);
    if (get_sizes(ps, sizes, L + 1)) return -1;
    if (sizes[0] != ps->prm_dim)
        return fail("%s section: the first layer takes %u inputs, the PRM's features have %u",
                    ps->what, sizes[0], ps->prm_dim);
    if (sizes[L] != 1) return fail("%s section: the last layer has %u outputs, not 1", ps->what, sizes[L]);
    Layer *layer = carve(ps, sizeof(Layer) * L);
    for (uint32_t l = 0; l < L; l++) {
        carve_layer(ps, layer ? &layer[l] : NULL, sizes[l], sizes[l + 1]);
        if (get_weights(ps, layer ? &layer[l] : NULL, sizes[l], sizes[l + 1]) ||
            get_bias(ps, layer ? &layer[l] : NULL, sizes[l + 1]))
            return -1;
    }
    if (layer) *hd = (PrmHead){(int)L, layer};
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

int rpe_parse_blob(Parse *ps, Heads *heads, const uint8_t *data, size_t n) {
    static const char *NAMES[] = {"", "preference", "PRM", "shaping", "policy", "PRM success",
                                  "PRM preference"};
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
    heads->seen = 0;
    for (uint32_t s = 0; s < sections; s++) {
        if ((size_t)(end - pos) < SECTION_BYTES)
            return fail("the header says %u sections; section %u's header runs past the end",
                        sections, s + 1);
        const uint32_t kind = rd32(pos), res = rd32(pos + 4);
        const uint64_t size = rd64(pos + 8);
        pos += SECTION_BYTES;
        if (kind < 1 || kind > N_SECTIONS || (heads->seen >> kind & 1) || res)
            return fail("unknown, repeated or malformed section (kind %u)", kind);
        heads->seen |= 1 << kind;
        ps->what = NAMES[kind];
        if (size > (uint64_t)(end - pos)) return fail("%s section runs past the end", ps->what);
        ps->p = pos;
        ps->end = pos + size;
        const int rc =
            kind == SEC_PREFERENCE       ? parse_pref(ps, &heads->pref)
            : kind == SEC_PRM            ? parse_prm(ps, &heads->prm)
            : kind == SEC_POLICY         ? parse_policy(ps, &heads->policy)
            : kind == SEC_PRM_SUCCESS    ? parse_prm_head(ps, heads->seen, &heads->prm.head[HEAD_SUCCESS])
            : kind == SEC_PRM_PREFERENCE ? parse_prm_head(ps, heads->seen, &heads->prm.head[HEAD_PREFERENCE])
                                         : parse_shaping(ps, &heads->gamma, &heads->scale);
        if (rc) return -1;
        if (ps->p != ps->end)
            return fail("%s section: %zd bytes left over", ps->what, (Py_ssize_t)(ps->end - ps->p));
        pos = ps->end;
    }
    if (pos != end) return fail("%zd stray bytes after the last section", (Py_ssize_t)(end - pos));
    return 0;
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

int rpe_check_overflow(const Heads *heads) {
    double *u = PyMem_Malloc(2 * MAX_DIM * sizeof(double)), *v = u + MAX_DIM;
    int rc = -1;
    if (!u) { PyErr_NoMemory(); return -1; }
    if (heads->seen >> SEC_PREFERENCE & 1) {
        const Pref *p = &heads->pref;
        char what[64];
        for (int e = 0; e < p->members; e++) {
            for (int i = 0; i < p->in; i++) u[i] = 1.0;
            PyOS_snprintf(what, sizeof what, "preference section: member %d", e);
            if (mlp_bound(what, p->layer + e * p->layers, p->layers, p->activation, u, v)) goto done;
        }
    }
    if (heads->seen >> SEC_PRM & 1) {
        const Prm *p = &heads->prm;
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
        static const char *HEAD_WHAT[] = {"PRM success section", "PRM preference section"};
        for (int k = -1; k < N_PRM_HEADS; k++) { /* the progress MLP, then the other heads */
            const Layer *layer = k < 0 ? p->layer : p->head[k].layer;
            const int n = k < 0 ? p->layers : p->head[k].layers;
            if (!n) continue;
            for (int d = 0; d < D; d++) /* LayerNorm's output, whatever the features */
                u[d] = sqrt((double)D) * fabs((double)p->norm_w[d]) + fabs((double)p->norm_b[d]);
            if (mlp_bound(k < 0 ? "PRM section" : HEAD_WHAT[k], layer, n, p->activation, u, v))
                goto done;
        }
    }
    if (heads->seen >> SEC_POLICY & 1) {
        const Policy *p = &heads->policy;
        for (int i = 0; i < p->in; i++) u[i] = p->clip > 1.0 ? p->clip : 1.0;
        if (mlp_bound("policy section", p->layer, p->layers, p->activation, u, v)) goto done;
    }
    rc = 0;
done:
    PyMem_Free(u);
    return rc;
}
