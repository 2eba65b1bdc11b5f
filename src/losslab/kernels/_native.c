/* losslab's compiled fast paths, each one pass over (n, C) float64 probabilities.
 *
 * top_label_bins: for the top-label ECE, per row the
 * first maximum (confidence and predicted class), the validation the NumPy path
 * does (entries >= 0, row sums within tolerance of 1, labels in range, no NaN),
 * the uniform bin of the confidence, and per-bin sums. The input is read once,
 * row by row, with the GIL released.
 *
 * The bin rule is the NumPy path's exactly: k = clamp(floor(conf * B)), moved one
 * bin down where conf < edges[k] and one up where conf >= edges[k + 1] (the last
 * bin closed). Sums run in row order, as np.bincount's, so the result is the same
 * to the bit.
 *
 * Only the buffer protocol is used (no NumPy headers): any C-contiguous buffer of
 * the right item type works, and the extension builds with setuptools alone.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <string.h>

static int is_int64(const Py_buffer *b) {
    return b->itemsize == 8 && b->format && (strcmp(b->format, "l") == 0 || strcmp(b->format, "q") == 0 ||
                                             strcmp(b->format, "<l") == 0 || strcmp(b->format, "<q") == 0 ||
                                             strcmp(b->format, "=l") == 0 || strcmp(b->format, "=q") == 0);
}

static int is_float64(const Py_buffer *b) {
    return b->itemsize == 8 && b->format && (strcmp(b->format, "d") == 0 || strcmp(b->format, "<d") == 0 ||
                                             strcmp(b->format, "=d") == 0);
}

/* The (probs, target) buffers of the score kernels: float64 (n, C) and int64 (n,), C-contiguous.
 * 0 on success; -1 with a Python exception set (the caller releases whatever was acquired). */
static int get_scored(PyObject *op, PyObject *ot, Py_buffer *p, Py_buffer *t, const char *name) {
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT;
    if (PyObject_GetBuffer(op, p, flags) < 0 || PyObject_GetBuffer(ot, t, flags) < 0) return -1;
    if (p->ndim != 2 || !is_float64(p) || t->ndim != 1 || !is_int64(t)) {
        PyErr_Format(PyExc_TypeError, "%s: expected float64 (n, C) and int64 (n,) buffers", name);
        return -1;
    }
    if (t->shape[0] != p->shape[0] || p->shape[1] < 1) {
        PyErr_Format(PyExc_ValueError, "%s: inconsistent shapes", name);
        return -1;
    }
    return 0;
}

/* top_label_bins(probs, target, edges, counts, sum_conf, n_correct, tol) -> 0 (filled) or 1 (invalid input) */
static PyObject *top_label_bins(PyObject *self, PyObject *args) {
    PyObject *op, *ot, *oe, *oc, *os, *ok;
    double tol;
    if (!PyArg_ParseTuple(args, "OOOOOOd", &op, &ot, &oe, &oc, &os, &ok, &tol)) return NULL;
    Py_buffer p = {0}, t = {0}, e = {0}, c = {0}, s = {0}, k = {0};
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT;
    long status = -1;
    if (PyObject_GetBuffer(op, &p, flags) < 0) goto done;
    if (PyObject_GetBuffer(ot, &t, flags) < 0) goto done;
    if (PyObject_GetBuffer(oe, &e, flags) < 0) goto done;
    if (PyObject_GetBuffer(oc, &c, flags | PyBUF_WRITABLE) < 0) goto done;
    if (PyObject_GetBuffer(os, &s, flags | PyBUF_WRITABLE) < 0) goto done;
    if (PyObject_GetBuffer(ok, &k, flags | PyBUF_WRITABLE) < 0) goto done;
    if (p.ndim != 2 || !is_float64(&p) || t.ndim != 1 || !is_int64(&t) || e.ndim != 1 || !is_float64(&e) ||
        c.ndim != 1 || !is_int64(&c) || s.ndim != 1 || !is_float64(&s) || k.ndim != 1 || !is_int64(&k)) {
        PyErr_SetString(PyExc_TypeError, "top_label_bins: expected float64 (n, C), int64 (n,), float64 (B + 1,) "
                                         "and writable int64, float64, int64 (B,) buffers");
        goto done;
    }
    Py_ssize_t n = p.shape[0], C = p.shape[1], B = e.shape[0] - 1;
    if (t.shape[0] != n || B < 1 || c.shape[0] != B || s.shape[0] != B || k.shape[0] != B || C < 2) {
        PyErr_SetString(PyExc_ValueError, "top_label_bins: inconsistent shapes");
        goto done;
    }
    const double *P = (const double *)p.buf, *E = (const double *)e.buf;
    const long long *Y = (const long long *)t.buf;
    long long *counts = (long long *)c.buf, *correct = (long long *)k.buf;
    double *sum_conf = (double *)s.buf;
    int bad = 0;
    Py_BEGIN_ALLOW_THREADS
    memset(counts, 0, B * sizeof(long long));
    memset(correct, 0, B * sizeof(long long));
    memset(sum_conf, 0, B * sizeof(double));
    for (Py_ssize_t i = 0; i < n && !bad; i++) {
        const double *row = P + i * C;
        double m = row[0], sum = row[0];
        Py_ssize_t arg = 0;
        int ok_row = row[0] >= 0.0;
        for (Py_ssize_t j = 1; j < C; j++) {
            double v = row[j];
            ok_row &= v >= 0.0; /* false for NaN too */
            sum += v;
            if (v > m) { m = v; arg = j; }
        }
        long long y = Y[i];
        if (!ok_row || !(fabs(sum - 1.0) <= tol) || y < 0 || y >= C) { bad = 1; break; }
        double kb = m * (double)B;
        Py_ssize_t b = kb >= (double)(B - 1) ? B - 1 : (Py_ssize_t)kb;
        if (m < E[b]) b -= 1;
        else if (b < B - 1 && m >= E[b + 1]) b += 1;
        counts[b] += 1;
        sum_conf[b] += m;
        correct[b] += (arg == y);
    }
    Py_END_ALLOW_THREADS
    status = bad;
done:
    if (p.obj) PyBuffer_Release(&p);
    if (t.obj) PyBuffer_Release(&t);
    if (e.obj) PyBuffer_Release(&e);
    if (c.obj) PyBuffer_Release(&c);
    if (s.obj) PyBuffer_Release(&s);
    if (k.obj) PyBuffer_Release(&k);
    if (status < 0) return NULL;
    return PyLong_FromLong(status);
}

/* sum_log_true(probs, target, eps, tol) -> (sum of -log(max(p[i, y_i], eps)), 0), or (0.0, 1) for invalid input.
 *
 * log_loss's fast path: the same checks as top_label_bins, then only p[i, y_i] is used. Logs are taken
 * of products of 16 floored probabilities (each >= eps = 2.2e-16, so a product stays above 1e-250: no
 * underflow), 1/16 of the logs, as the NumPy path does; the summation order differs from NumPy's, so the
 * two agree to rounding (a few ulps), not to the bit. */
static PyObject *sum_log_true(PyObject *self, PyObject *args) {
    PyObject *op, *ot;
    double eps, tol;
    if (!PyArg_ParseTuple(args, "OOdd", &op, &ot, &eps, &tol)) return NULL;
    Py_buffer p = {0}, t = {0};
    PyObject *result = NULL;
    if (get_scored(op, ot, &p, &t, "sum_log_true") < 0) goto done;
    Py_ssize_t n = p.shape[0], C = p.shape[1];
    const double *P = (const double *)p.buf;
    const long long *Y = (const long long *)t.buf;
    int bad = 0;
    double total = 0.0, prod = 1.0;
    Py_BEGIN_ALLOW_THREADS
    int in_prod = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        const double *row = P + i * C;
        double sum = 0.0;
        int ok_row = 1;
        for (Py_ssize_t j = 0; j < C; j++) {
            double v = row[j];
            ok_row &= v >= 0.0; /* false for NaN too */
            sum += v;
        }
        long long y = Y[i];
        if (!ok_row || !(fabs(sum - 1.0) <= tol) || y < 0 || y >= C) { bad = 1; break; }
        double pt = row[y] > eps ? row[y] : eps;
        prod *= pt;
        if (++in_prod == 16) { total -= log(prod); prod = 1.0; in_prod = 0; }
    }
    if (in_prod) total -= log(prod);
    Py_END_ALLOW_THREADS
    result = bad ? Py_BuildValue("(di)", 0.0, 1) : Py_BuildValue("(di)", total + 0.0, 0);
done:
    if (p.obj) PyBuffer_Release(&p);
    if (t.obj) PyBuffer_Release(&t);
    return result;
}

/* sum_brier(probs, target, tol) -> (sum over rows of sum_c (p_c - [y = c])^2, 0), or (0.0, 1) for invalid input.
 *
 * brier_score's fast path, with the same checks; per row sum_c p_c^2 - 2 p_y + 1, accumulated in row order. */
static PyObject *sum_brier(PyObject *self, PyObject *args) {
    PyObject *op, *ot;
    double tol;
    if (!PyArg_ParseTuple(args, "OOd", &op, &ot, &tol)) return NULL;
    Py_buffer p = {0}, t = {0};
    PyObject *result = NULL;
    if (get_scored(op, ot, &p, &t, "sum_brier") < 0) goto done;
    Py_ssize_t n = p.shape[0], C = p.shape[1];
    const double *P = (const double *)p.buf;
    const long long *Y = (const long long *)t.buf;
    int bad = 0;
    double total = 0.0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        const double *row = P + i * C;
        double sum = 0.0, sq = 0.0;
        int ok_row = 1;
        for (Py_ssize_t j = 0; j < C; j++) {
            double v = row[j];
            ok_row &= v >= 0.0; /* false for NaN too */
            sum += v;
            sq += v * v;
        }
        long long y = Y[i];
        if (!ok_row || !(fabs(sum - 1.0) <= tol) || y < 0 || y >= C) { bad = 1; break; }
        double r = 1.0 - row[y]; /* (p_y - 1)^2 + sum_{c != y} p_c^2, without cancellation at p_y = 1 */
        total += sq - row[y] * row[y] + r * r;
    }
    Py_END_ALLOW_THREADS
    result = bad ? Py_BuildValue("(di)", 0.0, 1) : Py_BuildValue("(di)", total, 0);
done:
    if (p.obj) PyBuffer_Release(&p);
    if (t.obj) PyBuffer_Release(&t);
    return result;
}

static PyMethodDef methods[] = {
    {"top_label_bins", top_label_bins, METH_VARARGS,
     "top_label_bins(probs, target, edges, counts, sum_conf, n_correct, tol) -> 0, or 1 for invalid input"},
    {"sum_log_true", sum_log_true, METH_VARARGS,
     "sum_log_true(probs, target, eps, tol) -> (sum of -log(max(p[i, y_i], eps)), 0), or (0.0, 1) for invalid input"},
    {"sum_brier", sum_brier, METH_VARARGS,
     "sum_brier(probs, target, tol) -> (sum of per-row Brier scores, 0), or (0.0, 1) for invalid input"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_native", NULL, -1, methods};

PyMODINIT_FUNC PyInit__native(void) { return PyModule_Create(&module); }
