/* golden.h - the interface between golden_runner.c and your implementation (C99).
 *
 * Shipped with the golden files of the tinygrad_cnn oracle (see README.md). You write the
 * operations you want to check as functions of the two types below and list them in a
 * table named golden_ops; golden_runner.c reads every case of <op>.json, calls them, and
 * compares. Build and run:
 *
 *     cc -std=c99 -O2 -o check golden_runner.c my_ops.c -lm
 *     ./check DIR                 (float64 rule; add --float32 for a float32 library)
 *
 * Every tensor is flat, row-major: element [i, j, k] of shape [A, B, C] is
 * data[(i * B + j) * C + k]. A scalar has ndim 0 and one element.
 */
#ifndef GOLDEN_H
#define GOLDEN_H

#define GOLDEN_MAX_DIMS 8

/* return values of your functions */
#define GOLDEN_OK 0
#define GOLDEN_UNSUPPORTED 1 /* "my code does not do this case" (skipped, counted) */
/* any other value: an error (the case fails) */

typedef struct {
    int ndim;
    long shape[GOLDEN_MAX_DIMS];
    double *data; /* size = product of shape (1 for a scalar) */
    long *index;  /* integer tensors only (cross_entropy's target): the values as long;
                     data holds them as double too. NULL for float tensors. */
} golden_tensor;

enum { GOLDEN_MEAN = 0, GOLDEN_SUM = 1, GOLDEN_NONE = 2 };

typedef struct {
    /* [0] = height, [1] = width; an integer in the file sets both. 1-D ops use [0]. */
    int kernel_size[2], stride[2], padding[2], dilation[2];
    int groups;    /* conv; 1 when absent */
    int axis;      /* softmax / log_softmax, as in the file: negative counts from the end */
    int reduction; /* cross_entropy: GOLDEN_MEAN, GOLDEN_SUM or GOLDEN_NONE */
    int output_padding[2];   /* conv_transpose2d; 0 when absent */
    int ceil_mode;           /* pooling: 1 = ceil in the output size; 0 when absent */
    int count_include_pad;   /* avg_pool2d: 1 when absent (padding counted) */
    int divisor_override;    /* avg_pool2d: 0 when absent (none) */
    const double *weight;    /* cross_entropy: class weights, NULL when absent */
    int n_weight;            /* their number */
    long ignore_index;       /* cross_entropy: -100 when absent */
    double label_smoothing;  /* cross_entropy: 0 when absent */
    /* A parameter this struct does not have (a later version of the files may add one)
       is not passed: return GOLDEN_UNSUPPORTED when a case needs what you do not do. */
} golden_params;

/* forward: inputs are the case's arrays in call order (conv: x, w and b when the case has
 * a bias, so n_inputs is 2 or 3; cross_entropy: logits, target). Set out->ndim,
 * out->shape and out->data (allocated with malloc; the runner frees it). */
typedef int (*golden_forward_fn)(const golden_tensor *inputs, int n_inputs,
                                 const golden_params *params, golden_tensor *out);

/* backward: grad_out is the upstream gradient (the vector of the vector-Jacobian
 * product), shaped like the expected output. Fill grads[0 .. k-1], one per
 * differentiable input in order (every input except cross_entropy's target), like out
 * above (malloc'd data, freed by the runner). */
typedef int (*golden_backward_fn)(const golden_tensor *inputs, int n_inputs,
                                  const golden_tensor *grad_out,
                                  const golden_params *params, golden_tensor *grads);

typedef struct {
    const char *op;              /* "conv2d", "max_pool2d", ... as in <op>.json */
    golden_forward_fn forward;   /* required */
    golden_backward_fn backward; /* NULL: forward only */
} golden_op;

/* Define this table in your code, ended by an entry whose op is NULL:
 *     const golden_op golden_ops[] = {{"conv2d", my_conv2d, my_conv2d_backward},
 *                                     {NULL, NULL, NULL}};                     */
extern const golden_op golden_ops[];

#endif
