/* robopref.evaluator._evaluator: the thin CPython binding of the kernels and the parser.
 *
 * An `Evaluator` is built from the bytes of an RPE blob (reward heads, shaping constants
 * and/or a deterministic policy), parsed and checked by _blob.c; the rows are computed by
 * _kernels.c (generic or AVX2+FMA, picked at load); this file only moves Python objects in
 * and out. Only the Python result of a one-step call is allocated per call, and the loaded
 * head is read-only, so any number of threads may call one Evaluator at once; batch calls
 * release the GIL. Inputs come through the buffer protocol and must be C-contiguous float32
 * (bool for masks and flags); anything else, and any NaN or inf in an input, raises
 * ValueError with every buffer released.
 *
 * Also here: stream(), the evaluator benchmark's memory floor (robopref.benchmarks.evaluator).
 */
#include <string.h>

#include "_blob.h"

static const char *ACT_NAMES[] = {"leaky_relu", "relu", "tanh"};
static const char *ALGO_NAMES[] = {"sac", "ppo", "rlpd"}; /* heads.POLICY_ALGOS */
static const char *ACTION_NAMES[] = {"tanh", "clip"};     /* heads.ACTIONS */

typedef struct {
    PyObject_HEAD
    void *raw; /* the arena as allocated (unaligned) */
    const Kernels *kernels;
    Heads h;
    PyObject *info;
} Evaluator;

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
        return rpe_fail("%s: expected a C-contiguous %s array of shape %s, got %s", name,
                    code_name(code), want, Py_TYPE(obj)->tp_name);
    }
    if (PyObject_GetBuffer(obj, v, PyBUF_STRIDES | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0))) {
        PyErr_Clear();
        return rpe_fail("%s: expected a %s%s array, got an unusable buffer (read-only?)", name,
                    writable ? "writable " : "", code_name(code));
    }
    const char *f = v->format ? v->format : "B";
    if (*f == '@' || *f == '=' || (*f == '<' && PY_LITTLE_ENDIAN)) f++;
    if (f[0] != code || f[1] != '\0') {
        rpe_fail("%s: expected %s, got buffer format '%s'", name, code_name(code), v->format ? v->format : "B");
        goto bad;
    }
    int ok = v->ndim == ndim;
    for (int k = 0; ok && k < ndim; k++) ok = dims[k] < 0 || v->shape[k] == dims[k];
    if (!ok) {
        shape_str(want, sizeof want, ndim, dims);
        shape_str(got, sizeof got, v->ndim, v->shape);
        rpe_fail("%s: expected shape %s, got %s", name, want, got);
        goto bad;
    }
    if (!PyBuffer_IsContiguous(v, 'C')) {
        rpe_fail("%s: must be C-contiguous (numpy.ascontiguousarray makes a copy that is)", name);
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
    static const char *WHAT[] = {"",
                                 "preference head",
                                 "PRM head",
                                 "shaping constants",
                                 "policy",
                                 "PRM success head (export a PRM whose success head was trained)",
                                 "PRM preference head (export a PRM whose preference head was "
                                 "trained)"};
    (void)ev;
    return PyErr_Format(PyExc_ValueError, "%s: the blob has no %s", method, WHAT[kind]);
}

static int has(const Evaluator *ev, int kind) { return ev->h.seen >> kind & 1; }

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
    if (a == Py_None) return rpe_fail("%s: this head reads (state, action); the action is missing", name);
    return batch ? hold(h, a, name, 'f', 2, n, p->in - p->obs_dim, 0, 0, out)
                 : hold(h, a, name, 'f', 1, p->in - p->obs_dim, 0, 0, 0, out);
}

static PyObject *Evaluator_reward(Evaluator *ev, PyObject *const *args, Py_ssize_t nargs) {
    if (!has(ev, SEC_PREFERENCE)) return missing(ev, SEC_PREFERENCE, "reward");
    if (nargs < 1 || nargs > 2) return PyErr_Format(PyExc_TypeError, "reward(state, action=None)");
    const Pref *p = &ev->h.pref;
    Held h = {.n = 0};
    const float *s, *a;
    PyObject *res = NULL;
    float m, sd;
    ptrdiff_t col = 0;
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
    const Pref *p = &ev->h.pref;
    Held h = {.n = 0};
    const float *s, *a;
    float *m, *sd;
    Py_ssize_t bad = -1;
    ptrdiff_t col = 0;
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

/* The batch forms of potential (which < 0) and of the PRM heads: one binding, so the
 * argument checks and the row errors are the same for every head. */
static PyObject *prm_head_batch(Evaluator *ev, PyObject *const *args, Py_ssize_t nargs, int which,
                                const char *method) {
    const int kind = which < 0 ? SEC_PRM
                     : which == HEAD_SUCCESS ? SEC_PRM_SUCCESS : SEC_PRM_PREFERENCE;
    if (!has(ev, kind)) return missing(ev, kind, method);
    if (nargs != 3) return PyErr_Format(PyExc_TypeError, "%s(features, mask, out)", method);
    const Prm *p = &ev->h.prm;
    Held h = {.n = 0};
    const float *f;
    const uint8_t *mask;
    float *out;
    Py_ssize_t bad = -1;
    ptrdiff_t col = 0;
    int rc = 0;
    if (hold(&h, args[0], "features", 'f', 3, -1, p->views, p->dim, 0, &f)) goto done;
    const Py_ssize_t n = h.v[0].shape[0], stride = (Py_ssize_t)p->views * p->dim;
    if (hold_mask(&h, p, args[1], "mask", 1, n, &mask) ||
        hold(&h, args[2], "out", 'f', 1, n, 0, 0, 1, &out))
        goto done;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        const uint8_t *m = mask ? mask + i * p->views : NULL;
        rc = which < 0 ? ev->kernels->prm(p, f + i * stride, m, out + i, &col)
                       : ev->kernels->prm_head(p, which, f + i * stride, m, out + i, &col);
        if (rc) { bad = i; break; }
    }
    Py_END_ALLOW_THREADS
    if (rc) row_error(rc, rc == ROW_NO_VIEW ? "mask" : "features", bad, col, -1, NULL, p->dim);
done:
    release(&h);
    if (PyErr_Occurred()) return NULL;
    Py_RETURN_NONE;
}

static PyObject *Evaluator_potential_batch(Evaluator *ev, PyObject *const *args, Py_ssize_t nargs) {
    return prm_head_batch(ev, args, nargs, -1, "potential_batch");
}

/* potential (which < 0), success_probability and preference_score, one row each: the PRM
 * (or its head `which`) on the fused feature of the features and mask; one binding, as for
 * the batch forms. */
static PyObject *prm_head_one(Evaluator *ev, PyObject *const *args, Py_ssize_t nargs, int which,
                              const char *method) {
    const int kind = which < 0 ? SEC_PRM
                     : which == HEAD_SUCCESS ? SEC_PRM_SUCCESS : SEC_PRM_PREFERENCE;
    if (!has(ev, kind)) return missing(ev, kind, method);
    if (nargs < 1 || nargs > 2) return PyErr_Format(PyExc_TypeError, "%s(features, mask=None)", method);
    const Prm *p = &ev->h.prm;
    Held h = {.n = 0};
    const float *f;
    const uint8_t *mask;
    PyObject *res = NULL;
    float out;
    ptrdiff_t col = 0;
    if (hold(&h, args[0], "features", 'f', 2, p->views, p->dim, 0, 0, &f) ||
        hold_mask(&h, p, nargs > 1 ? args[1] : Py_None, "mask", 0, 0, &mask))
        goto done;
    const int rc = which < 0 ? ev->kernels->prm(p, f, mask, &out, &col)
                             : ev->kernels->prm_head(p, which, f, mask, &out, &col);
    if (rc) row_error(rc, rc == ROW_NO_VIEW ? "mask" : "features", -1, col, -1, NULL, p->dim);
    else res = PyFloat_FromDouble(out);
done:
    release(&h);
    return res;
}

static PyObject *Evaluator_potential(Evaluator *ev, PyObject *const *args, Py_ssize_t nargs) {
    return prm_head_one(ev, args, nargs, -1, "potential");
}

static PyObject *Evaluator_success(Evaluator *ev, PyObject *const *args, Py_ssize_t nargs) {
    return prm_head_one(ev, args, nargs, HEAD_SUCCESS, "success_probability");
}
static PyObject *Evaluator_success_batch(Evaluator *ev, PyObject *const *args, Py_ssize_t nargs) {
    return prm_head_batch(ev, args, nargs, HEAD_SUCCESS, "success_probability_batch");
}
static PyObject *Evaluator_pscore(Evaluator *ev, PyObject *const *args, Py_ssize_t nargs) {
    return prm_head_one(ev, args, nargs, HEAD_PREFERENCE, "preference_score");
}
static PyObject *Evaluator_pscore_batch(Evaluator *ev, PyObject *const *args, Py_ssize_t nargs) {
    return prm_head_batch(ev, args, nargs, HEAD_PREFERENCE, "preference_score_batch");
}

/* A terminated flag: a bool, or a number that is exactly 0 or 1 (as shaping_terms accepts). */
static int flag(PyObject *o) {
    if (PyBool_Check(o)) return o == Py_True;
    const double v = PyFloat_AsDouble(o);
    if (v == -1.0 && PyErr_Occurred()) PyErr_Clear();
    else if (v == 0.0 || v == 1.0) return v == 1.0;
    rpe_fail("terminated: expected a bool or 0/1, got %R", o);
    return -1;
}

/* scale * (gamma * Phi(s') - Phi(s)), with Phi(s') = 0 at a terminal s' (DESIGN.md contract 4). */
static int shape_row(const Evaluator *ev, const float *f, const float *g, int term, const uint8_t *m,
                     const uint8_t *gm, double *out, ptrdiff_t *col, int *which) {
    float phi, next = 0.0f;
    int rc = ev->kernels->prm(&ev->h.prm, f, m, &phi, col);
    *which = 0;
    if (!rc && !term) { /* a terminal s' is not evaluated: its potential is 0 by definition */
        rc = ev->kernels->prm(&ev->h.prm, g, gm, &next, col);
        *which = 1;
    }
    *out = ev->h.scale * (ev->h.gamma * (term ? 0.0 : (double)next) - (double)phi);
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
    const Prm *p = &ev->h.prm;
    Held h = {.n = 0};
    const float *f, *g;
    const uint8_t *m, *gm;
    PyObject *res = NULL;
    double out;
    ptrdiff_t col = 0;
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
    const Prm *p = &ev->h.prm;
    Held h = {.n = 0};
    const float *f, *g;
    const uint8_t *t, *m, *gm;
    double *out;
    Py_ssize_t bad = -1;
    ptrdiff_t col = 0;
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
    const Policy *p = &ev->h.policy;
    Held h = {.n = 0};
    const float *s;
    float *out;
    ptrdiff_t col = 0;
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
    const Policy *p = &ev->h.policy;
    Held h = {.n = 0};
    const float *s;
    float *out;
    Py_ssize_t bad = -1;
    ptrdiff_t col = 0;
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
    double total;
    Py_BEGIN_ALLOW_THREADS
    total = rpe_stream(b.buf, n, passes);
    Py_END_ALLOW_THREADS
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
        const Pref *p = &ev->h.pref;
        Py_DECREF(pref);
        pref = Py_BuildValue("{s:s,s:s,s:s,s:i,s:N,s:i,s:i}", "input",
                             p->in == p->obs_dim ? "state" : "state_action", "activation",
                             ACT_NAMES[p->activation], "output_activation",
                             p->out_tanh ? "tanh" : "none", "members", p->members, "sizes",
                             sizes_tuple(p->layer, p->layers), "obs_dim", p->obs_dim, "act_dim",
                             p->in - p->obs_dim);
    }
    if (pref && has(ev, SEC_PRM)) {
        const Prm *p = &ev->h.prm;
        Py_DECREF(prm);
        PyObject *extra = has(ev, SEC_PRM_SUCCESS) && has(ev, SEC_PRM_PREFERENCE)
                              ? Py_BuildValue("(ss)", "success", "preference")
                          : has(ev, SEC_PRM_SUCCESS)    ? Py_BuildValue("(s)", "success")
                          : has(ev, SEC_PRM_PREFERENCE) ? Py_BuildValue("(s)", "preference")
                                                        : PyTuple_New(0);
        prm = Py_BuildValue("{s:O,s:i,s:N,s:s,s:N}", "views", views, "dim", p->dim, "sizes",
                            sizes_tuple(p->layer, p->layers), "activation", ACT_NAMES[p->activation],
                            "heads", extra);
    }
    if (pref && prm && has(ev, SEC_POLICY)) {
        const Policy *p = &ev->h.policy;
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
                         opt_float(has(ev, SEC_SHAPING), ev->h.gamma), "scale",
                         opt_float(has(ev, SEC_SHAPING), ev->h.scale), "policy", pol);
}

static const Kernels *pick_kernels(const char *name) {
#ifdef HAVE_AVX2
    const int avx2 = avx2_ok();
    if (!strcmp(name, "auto")) return avx2 ? &KERNEL_AVX2 : &KERNEL_GENERIC;
    if (!strcmp(name, "avx2")) {
        if (avx2) return &KERNEL_AVX2;
        rpe_fail("kernel 'avx2': this CPU lacks AVX2 or FMA");
        return NULL;
    }
#else
    if (!strcmp(name, "auto")) return &KERNEL_GENERIC;
#endif
    if (!strcmp(name, "generic")) return &KERNEL_GENERIC;
    rpe_fail("unknown kernel '%s'; valid: auto, generic, avx2 (where the CPU has it)", name);
    return NULL;
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
    if (rpe_parse_blob(&ps, &ev->h, data.buf, (size_t)data.len)) goto fail;
    if (!(ev->raw = PyMem_RawMalloc(ps.used + 64))) {
        PyErr_NoMemory();
        goto fail;
    }
    Parse fill = {.arena = (char *)(((uintptr_t)ev->raw + 63) & ~(uintptr_t)63), .views = ps.views,
                  .texts = ps.texts};
    if (rpe_parse_blob(&fill, &ev->h, data.buf, (size_t)data.len) || rpe_check_overflow(&ev->h) ||
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
    {"success_probability", FASTCALL(Evaluator_success),
     "success_probability(features, mask=None) -> float: the PRM success head's P(success)"},
    {"success_probability_batch", FASTCALL(Evaluator_success_batch),
     "success_probability_batch(features, mask, out): fills the float32 (N,) output"},
    {"preference_score", FASTCALL(Evaluator_pscore),
     "preference_score(features, mask=None) -> float: the PRM preference head's frame score"},
    {"preference_score_batch", FASTCALL(Evaluator_pscore_batch),
     "preference_score_batch(features, mask, out): fills the float32 (N,) output"},
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
    rpe_crc_init();
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
        PyModule_AddIntConstant(m, "POLICY_VERSION", POLICY_VERSION) < 0 ||
        PyModule_AddIntConstant(m, "PRM_HEAD_VERSION", PRM_HEAD_VERSION) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
