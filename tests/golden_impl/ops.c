/* A small C implementation of conv2d, max_pool2d and cross_entropy (forward and backward)
 * for the tests of golden_runner.c. Compiled as is it is right; each of these switches
 * plants one classic mistake that the runner must name:
 *   -DBUG_FLIPPED_KERNEL         true convolution (kernel rotated by 180 degrees), with a
 *                                consistent backward
 *   -DBUG_PADDING_OFF_BY_ONE     pads p + 1 on each side (forward and backward)
 *   -DBUG_WEIGHT_GRAD_TRANSPOSED dL/dw with the kernel's rows and columns swapped
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "golden.h"

#ifdef BUG_PADDING_OFF_BY_ONE
#define PAD_EXTRA 1
#else
#define PAD_EXTRA 0
#endif

static double *zeros(long n) { return calloc((size_t)(n ? n : 1), sizeof(double)); }

static void set_shape(golden_tensor *t, int ndim, const long *shape) {
    int i;
    long n = 1;
    t->ndim = ndim;
    for (i = 0; i < ndim; i++) {
        t->shape[i] = shape[i];
        n *= shape[i];
    }
    t->data = zeros(n);
    t->index = NULL;
}

typedef struct {
    long N, C, H, W, O, CG, KH, KW, OH, OW, G;
    int sh, sw, ph, pw, dh, dw;
} conv_geometry;

static int conv_geometry_of(const golden_tensor *in, const golden_params *P, conv_geometry *g) {
    const golden_tensor *x = &in[0], *w = &in[1];
    if (x->ndim != 4 || w->ndim != 4 || P->groups < 1) return 2;
    g->N = x->shape[0], g->C = x->shape[1], g->H = x->shape[2], g->W = x->shape[3];
    g->O = w->shape[0], g->CG = w->shape[1], g->KH = w->shape[2], g->KW = w->shape[3];
    g->G = P->groups;
    g->sh = P->stride[0], g->sw = P->stride[1];
    g->ph = P->padding[0] + PAD_EXTRA, g->pw = P->padding[1] + PAD_EXTRA;
    g->dh = P->dilation[0], g->dw = P->dilation[1];
    if (g->CG * g->G != g->C || g->O % g->G) return 2;
    g->OH = (g->H + 2 * g->ph - g->dh * (g->KH - 1) - 1) / g->sh + 1;
    g->OW = (g->W + 2 * g->pw - g->dw * (g->KW - 1) - 1) / g->sw + 1;
    return g->OH > 0 && g->OW > 0 ? 0 : 2;
}

/* index of the kernel element (p, q) actually used */
static long kidx(const conv_geometry *g, long o, long c, long p, long q) {
#ifdef BUG_FLIPPED_KERNEL
    p = g->KH - 1 - p;
    q = g->KW - 1 - q;
#endif
    return ((o * g->CG + c) * g->KH + p) * g->KW + q;
}

static int conv2d_forward(const golden_tensor *in, int n_in, const golden_params *P,
                          golden_tensor *out) {
    conv_geometry g;
    long n, o, i, j, c, p, q, shape[4];
    const double *x = in[0].data, *w = in[1].data, *b = n_in > 2 ? in[2].data : NULL;
    if (conv_geometry_of(in, P, &g)) return 2;
    shape[0] = g.N, shape[1] = g.O, shape[2] = g.OH, shape[3] = g.OW;
    set_shape(out, 4, shape);
    for (n = 0; n < g.N; n++)
        for (o = 0; o < g.O; o++) {
            long grp = o / (g.O / g.G);
            for (i = 0; i < g.OH; i++)
                for (j = 0; j < g.OW; j++) {
                    double s = b ? b[o] : 0.0;
                    for (c = 0; c < g.CG; c++)
                        for (p = 0; p < g.KH; p++)
                            for (q = 0; q < g.KW; q++) {
                                long r = i * g.sh + p * g.dh - g.ph;
                                long t = j * g.sw + q * g.dw - g.pw;
                                if (r < 0 || r >= g.H || t < 0 || t >= g.W) continue;
                                s += x[((n * g.C + grp * g.CG + c) * g.H + r) * g.W + t] *
                                     w[kidx(&g, o, c, p, q)];
                            }
                    out->data[((n * g.O + o) * g.OH + i) * g.OW + j] = s;
                }
        }
    return 0;
}

static int conv2d_backward(const golden_tensor *in, int n_in, const golden_tensor *gout,
                           const golden_params *P, golden_tensor *grads) {
    conv_geometry g;
    long n, o, i, j, c, p, q, wshape[4];
    const double *x = in[0].data, *w = in[1].data, *go = gout->data;
    if (conv_geometry_of(in, P, &g)) return 2;
    if (gout->ndim != 4 || gout->shape[0] != g.N || gout->shape[1] != g.O ||
        gout->shape[2] != g.OH || gout->shape[3] != g.OW)
        return 3; /* grad_out does not have the shape of my output */
    set_shape(&grads[0], 4, in[0].shape);
    memcpy(wshape, in[1].shape, sizeof wshape);
#ifdef BUG_WEIGHT_GRAD_TRANSPOSED
    wshape[2] = g.KW, wshape[3] = g.KH;
#endif
    set_shape(&grads[1], 4, wshape);
    if (n_in > 2) set_shape(&grads[2], 1, in[2].shape);
    for (n = 0; n < g.N; n++)
        for (o = 0; o < g.O; o++) {
            long grp = o / (g.O / g.G);
            for (i = 0; i < g.OH; i++)
                for (j = 0; j < g.OW; j++) {
                    double d = go[((n * g.O + o) * g.OH + i) * g.OW + j];
                    if (n_in > 2) grads[2].data[o] += d;
                    for (c = 0; c < g.CG; c++)
                        for (p = 0; p < g.KH; p++)
                            for (q = 0; q < g.KW; q++) {
                                long r = i * g.sh + p * g.dh - g.ph;
                                long t = j * g.sw + q * g.dw - g.pw;
                                long xi = ((n * g.C + grp * g.CG + c) * g.H + r) * g.W + t;
                                long wi = kidx(&g, o, c, p, q);
                                if (r < 0 || r >= g.H || t < 0 || t >= g.W) continue;
                                grads[0].data[xi] += d * w[wi];
#ifdef BUG_WEIGHT_GRAD_TRANSPOSED
                                wi = ((o * g.CG + c) * g.KW + q) * g.KH + p;
#endif
                                grads[1].data[wi] += d * x[xi];
                            }
                }
        }
    return 0;
}

/* floor((n + 2p - d(k-1) - 1) / s) + 1; with ceil_mode the ceiling, one less when the last
 * window would start in the right padding */
static long pool_size(long n, int k, int s, int p, int d, int ceil_mode) {
    long span = n + 2 * p - (long)d * (k - 1) - 1, out;
    if (span < 0) return 0;
    out = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
    if (ceil_mode && (out - 1) * s >= n + p) out--;
    return out;
}

static int pool_geometry(const golden_tensor *x, const golden_params *P, long *oh, long *ow) {
    if (x->ndim != 4) return 2;
    *oh = pool_size(x->shape[2], P->kernel_size[0], P->stride[0], P->padding[0],
                    P->dilation[0], P->ceil_mode);
    *ow = pool_size(x->shape[3], P->kernel_size[1], P->stride[1], P->padding[1],
                    P->dilation[1], P->ceil_mode);
    return *oh > 0 && *ow > 0 ? 0 : 2;
}

/* the flat index of the first maximum of window (i, j) of plane nc, or -1 */
static long window_argmax(const golden_tensor *x, const golden_params *P, long nc, long i,
                          long j) {
    long H = x->shape[2], W = x->shape[3], best = -1, p, q;
    for (p = 0; p < P->kernel_size[0]; p++)
        for (q = 0; q < P->kernel_size[1]; q++) {
            long r = i * P->stride[0] + p * P->dilation[0] - P->padding[0];
            long t = j * P->stride[1] + q * P->dilation[1] - P->padding[1];
            long k = (nc * H + r) * W + t;
            if (r < 0 || r >= H || t < 0 || t >= W) continue;
            if (best < 0 || x->data[k] > x->data[best]) best = k;
        }
    return best;
}

static int max_pool2d_forward(const golden_tensor *in, int n_in, const golden_params *P,
                              golden_tensor *out) {
    long oh, ow, nc, i, j, shape[4];
    (void)n_in;
    if (pool_geometry(&in[0], P, &oh, &ow)) return 2;
    shape[0] = in[0].shape[0], shape[1] = in[0].shape[1], shape[2] = oh, shape[3] = ow;
    set_shape(out, 4, shape);
    for (nc = 0; nc < shape[0] * shape[1]; nc++)
        for (i = 0; i < oh; i++)
            for (j = 0; j < ow; j++) {
                long k = window_argmax(&in[0], P, nc, i, j);
                out->data[(nc * oh + i) * ow + j] = k < 0 ? -INFINITY : in[0].data[k];
            }
    return 0;
}

static int max_pool2d_backward(const golden_tensor *in, int n_in, const golden_tensor *gout,
                               const golden_params *P, golden_tensor *grads) {
    long oh, ow, nc, i, j;
    (void)n_in;
    if (pool_geometry(&in[0], P, &oh, &ow)) return 2;
    if (gout->ndim != 4 || gout->shape[2] != oh || gout->shape[3] != ow) return 3;
    set_shape(&grads[0], 4, in[0].shape);
    for (nc = 0; nc < in[0].shape[0] * in[0].shape[1]; nc++)
        for (i = 0; i < oh; i++)
            for (j = 0; j < ow; j++) {
                long k = window_argmax(&in[0], P, nc, i, j);
                if (k >= 0) grads[0].data[k] += gout->data[(nc * oh + i) * ow + j];
            }
    return 0;
}

/* log_softmax of row n of the logits into lsm (C values) */
static void log_softmax_row(const golden_tensor *logits, long n, double *lsm) {
    long C = logits->shape[1], c;
    const double *row = logits->data + n * C;
    double m = row[0], s = 0.0;
    for (c = 1; c < C; c++)
        if (row[c] > m) m = row[c];
    for (c = 0; c < C; c++) s += exp(row[c] - m);
    for (c = 0; c < C; c++) lsm[c] = row[c] - m - log(s);
}

/* class weights and label smoothing are not done here (the runner skips those cases);
 * ignore_index is: an ignored sample has loss 0 and is not counted in the mean */
static long counted(const golden_tensor *target, const golden_params *P) {
    long n, count = 0;
    for (n = 0; n < target->shape[0]; n++) count += target->index[n] != P->ignore_index;
    return count;
}

static int cross_entropy_forward(const golden_tensor *in, int n_in, const golden_params *P,
                                 golden_tensor *out) {
    long N = in[0].shape[0], C = in[0].shape[1], n, count = counted(&in[1], P);
    double *lsm, total = 0.0;
    (void)n_in;
    if (P->weight || P->label_smoothing != 0.0) return GOLDEN_UNSUPPORTED;
    lsm = zeros(C);
    set_shape(out, P->reduction == GOLDEN_NONE ? 1 : 0, &N);
    for (n = 0; n < N; n++) {
        double loss;
        if (in[1].index[n] == P->ignore_index) continue;
        log_softmax_row(&in[0], n, lsm);
        loss = -lsm[in[1].index[n]];
        if (P->reduction == GOLDEN_NONE) out->data[n] = loss;
        total += loss;
    }
    if (P->reduction != GOLDEN_NONE)
        out->data[0] = P->reduction == GOLDEN_MEAN ? total / (double)count : total;
    free(lsm);
    return 0;
}

static int cross_entropy_backward(const golden_tensor *in, int n_in, const golden_tensor *gout,
                                  const golden_params *P, golden_tensor *grads) {
    long N = in[0].shape[0], C = in[0].shape[1], n, c, count = counted(&in[1], P);
    double *lsm;
    (void)n_in;
    if (P->weight || P->label_smoothing != 0.0) return GOLDEN_UNSUPPORTED;
    lsm = zeros(C);
    set_shape(&grads[0], 2, in[0].shape);
    for (n = 0; n < N; n++) {
        double g = P->reduction == GOLDEN_NONE ? gout->data[n]
                   : P->reduction == GOLDEN_MEAN ? gout->data[0] / (double)count
                                                 : gout->data[0];
        if (in[1].index[n] == P->ignore_index) continue;
        log_softmax_row(&in[0], n, lsm);
        for (c = 0; c < C; c++)
            grads[0].data[n * C + c] = (exp(lsm[c]) - (c == in[1].index[n])) * g;
    }
    free(lsm);
    return 0;
}

const golden_op golden_ops[] = {
    {"conv2d", conv2d_forward, conv2d_backward},
    {"max_pool2d", max_pool2d_forward, max_pool2d_backward},
    {"cross_entropy", cross_entropy_forward, cross_entropy_backward},
    {NULL, NULL, NULL},
};
