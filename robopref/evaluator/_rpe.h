/* robopref.evaluator._evaluator: the format's limits, the loaded heads and the kernels'
 * interface. Pure C (no CPython API): included by _kernels.c, _blob.c and the binding.
 *
 * Weight layout in the arena (_blob.c writes it, _kernels.c reads it): a layer with 8 or
 * more outputs is stored as panels of PANEL columns (in x 64 floats, the last panel rounded
 * up to a multiple of 8 and zero-padded), so a matrix-vector product streams each panel once
 * with 8 vector accumulators; a narrower layer (the ensemble's scalar output) is stored
 * transposed and done as dot products.
 */
#ifndef ROBOPREF_RPE_H
#define ROBOPREF_RPE_H

#include <stddef.h>
#include <stdint.h>

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
#define PRM_HEAD_VERSION 1  /* of a PRM success/preference section's payload, stored in it */
#define MAX_BLOB_BYTES ((uint64_t)1 << 30)
#define HEADER_BYTES 32
#define SECTION_BYTES 16
#define CRC_BYTES 4
#define PANEL 64
#define LEAKY_SLOPE 0.01f /* torch's LeakyReLU default, part of the preference head */

enum { ACT_LEAKY_RELU, ACT_RELU, ACT_TANH };
/* What a kernel returns for one row; *col then names the bad input index. */
enum { ROW_OK, ROW_BAD_INPUT, ROW_BAD_OUTPUT, ROW_NO_VIEW };

typedef struct {
    int in, out;
    const float *w, *b; /* see the top comment for the layout; b zero-padded like w */
} Layer;

typedef struct {
    int members, layers, in, obs_dim, activation, out_tanh;
    const float *mean, *std;
    const Layer *layer; /* member-major: layer[e * layers + l] */
} Pref;

/* The PRM's other heads on its fused feature z (issue 14): P(success) = sigmoid(MLP_s(z)) and
 * the per-frame preference score MLP_p(z); the hidden activation is the PRM's. */
enum { HEAD_SUCCESS, HEAD_PREFERENCE, N_PRM_HEADS };
typedef struct {
    int layers; /* 0: the blob has no such head */
    const Layer *layer;
} PrmHead;

typedef struct {
    int views, dim, layers, activation;
    float eps, sqrt_dim;
    const float *embed, *query, *norm_w, *norm_b, *centers;
    const Layer *layer;
    PrmHead head[N_PRM_HEADS];
} Prm;

typedef struct {
    int layers, in, out, activation, out_tanh, algo;
    double clip;               /* 0: none */
    const double *mean, *std;  /* double: the rlpd learner normalizes in float64 */
    const float *low, *high;
    const Layer *layer;
} Policy;

/* One row of each head: 0 (ROW_OK) or a ROW_* code. Read-only on the head; no allocation. */
typedef int (*pref_fn)(const Pref *, const float *, const float *, float *, float *, ptrdiff_t *);
typedef int (*prm_fn)(const Prm *, const float *, const uint8_t *, float *, ptrdiff_t *);
typedef int (*policy_fn)(const Policy *, const float *, float *, ptrdiff_t *);
/* One output of the PRM head `which` (HEAD_*): a probability for HEAD_SUCCESS, else a score. */
typedef int (*prm_head_fn)(const Prm *, int, const float *, const uint8_t *, float *, ptrdiff_t *);
typedef struct {
    const char *name;
    pref_fn pref;
    prm_fn prm;
    policy_fn policy;
    prm_head_fn prm_head;
} Kernels;

extern const Kernels KERNEL_GENERIC;
#if defined(__x86_64__) || defined(__i386__)
#define HAVE_AVX2 1
extern const Kernels KERNEL_AVX2; /* compiled for AVX2+FMA: call only where avx2_ok() */
int avx2_ok(void);
#endif

/* The benchmark's memory floor: reads n floats (n % 32 == 0) `passes` times, the way the
 * kernels read weights, with the widest code this CPU runs; returns a checksum. */
double rpe_stream(const float *p, size_t n, int passes);

#endif
