/* robopref.evaluator._evaluator: the RPE blob parser and the overflow rule (_blob.c).
 *
 * The parser builds the loaded heads (Heads) from a blob's bytes with the checks of
 * robopref/evaluator/blob.py and heads.py: a blob it does not understand sets ValueError and
 * returns -1, never crashes. It uses Python only for its errors and the decoded names.
 */
#ifndef ROBOPREF_BLOB_H
#define ROBOPREF_BLOB_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "_rpe.h"

/* SEC_PRM_SUCCESS and SEC_PRM_PREFERENCE came after version 1 shipped: a blob without them
 * is read as before, and an older reader refuses them as unknown sections. Each comes after
 * the PRM section (it reads the PRM's fused feature). */
enum {
    SEC_PREFERENCE = 1,
    SEC_PRM = 2,
    SEC_SHAPING = 3,
    SEC_POLICY = 4,
    SEC_PRM_SUCCESS = 5,
    SEC_PRM_PREFERENCE = 6,
    N_SECTIONS = 6
};

/* The heads of one blob, pointing into its arena. */
typedef struct {
    int seen; /* bit k set: a section of kind k is present */
    Pref pref;
    Prm prm;
    Policy policy;
    double gamma, scale;
} Heads;

/* The blob is parsed twice with the same code: a sizing pass (arena NULL) that validates
 * everything and counts the arena bytes, then a filling pass into the allocated arena. */
typedef struct {
    const uint8_t *p, *end; /* the section payload still to read */
    const char *what;       /* the section's name, for errors */
    char *arena;            /* NULL in the sizing pass; 64-byte aligned */
    uint32_t prm_dim;       /* the PRM section's feature size D, once it is read (both passes) */
    size_t used;            /* arena bytes carved so far */
    PyObject *views;        /* PRM view names (a tuple), built in the sizing pass */
    PyObject *texts;        /* the policy's (task, robot, layout), built in the sizing pass */
} Parse;

/* Sets ValueError with a PyUnicode_FromFormat message; returns -1. */
int rpe_fail(const char *fmt, ...);
/* Fills the CRC-32 table; once, at module init, before any parse. */
void rpe_crc_init(void);
/* One pass over the blob `data[0:n]` into `heads` (see Parse). */
int rpe_parse_blob(Parse *ps, Heads *heads, const uint8_t *data, size_t n);
/* heads.py's overflow rule on the loaded (filled) heads. */
int rpe_check_overflow(const Heads *heads);

#endif
