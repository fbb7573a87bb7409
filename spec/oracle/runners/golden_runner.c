/* golden_runner.c - checks a C implementation against the golden files (C99, libc only).
 *
 *     cc -std=c99 -O2 -o check golden_runner.c my_ops.c -lm
 *     ./check DIR [--float32] [--op NAME] [--quiet]
 *
 * For every op listed in your golden_ops table (golden.h) it reads DIR/<op>.json, and for
 * every case: builds the inputs, calls your forward, compares with the case's "compare"
 * rule; calls your backward with grad_out and compares each gradient. On a failure it
 * compares your result with the case's mutants and names the mistake they match.
 * --float32 rounds the inputs and grad_out to float and uses the "float32" rule.
 * Exit status: 0 every case passed, 1 a case failed, 2 bad arguments or unreadable files.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "golden.h"

/* ------------------------------------------------------------------ a small JSON reader */

enum { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };

typedef struct jv {
    int type;
    double num;
    char *str;         /* J_STR: the decoded string (NUL-terminated) */
    int n;             /* J_ARR, J_OBJ: number of items */
    struct jv **items; /* J_ARR, J_OBJ: the values */
    char **keys;       /* J_OBJ: the keys */
} jv;

typedef struct {
    const char *s;
    const char *err;
} jparser;

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "golden_runner: out of memory\n");
        exit(2);
    }
    return p;
}

static void *xrealloc(void *p, size_t n) {
    p = realloc(p, n ? n : 1);
    if (!p) {
        fprintf(stderr, "golden_runner: out of memory\n");
        exit(2);
    }
    return p;
}

static void jskip(jparser *p) {
    while (*p->s == ' ' || *p->s == '\t' || *p->s == '\n' || *p->s == '\r') p->s++;
}

static jv *jnew(int type) {
    jv *v = xmalloc(sizeof *v);
    memset(v, 0, sizeof *v);
    v->type = type;
    return v;
}

static void jfree(jv *v) {
    int i;
    if (!v) return;
    for (i = 0; i < v->n; i++) {
        jfree(v->items[i]);
        if (v->keys) free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    free(v->str);
    free(v);
}

static void put_utf8(char **buf, size_t *len, size_t *cap, unsigned long c) {
    char tmp[4];
    int k = 0, i;
    if (c < 0x80) tmp[k++] = (char)c;
    else if (c < 0x800) {
        tmp[k++] = (char)(0xC0 | (c >> 6));
        tmp[k++] = (char)(0x80 | (c & 0x3F));
    } else if (c < 0x10000) {
        tmp[k++] = (char)(0xE0 | (c >> 12));
        tmp[k++] = (char)(0x80 | ((c >> 6) & 0x3F));
        tmp[k++] = (char)(0x80 | (c & 0x3F));
    } else {
        tmp[k++] = (char)(0xF0 | (c >> 18));
        tmp[k++] = (char)(0x80 | ((c >> 12) & 0x3F));
        tmp[k++] = (char)(0x80 | ((c >> 6) & 0x3F));
        tmp[k++] = (char)(0x80 | (c & 0x3F));
    }
    for (i = 0; i < k; i++) {
        if (*len + 2 > *cap) {
            *cap = *cap * 2 + 16;
            *buf = xrealloc(*buf, *cap);
        }
        (*buf)[(*len)++] = tmp[i];
    }
}

static int hex4(const char *s, unsigned long *out) {
    int i;
    *out = 0;
    for (i = 0; i < 4; i++) {
        char c = s[i];
        *out <<= 4;
        if (c >= '0' && c <= '9') *out |= (unsigned long)(c - '0');
        else if (c >= 'a' && c <= 'f') *out |= (unsigned long)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') *out |= (unsigned long)(c - 'A' + 10);
        else return 0;
    }
    return 1;
}

static char *jstring(jparser *p) {
    size_t len = 0, cap = 32;
    char *buf = xmalloc(cap);
    p->s++; /* the opening quote */
    while (*p->s != '"') {
        unsigned long c;
        if (*p->s == '\0' || (unsigned char)*p->s < 0x20) {
            p->err = "unterminated string";
            free(buf);
            return NULL;
        }
        if (*p->s != '\\') {
            put_utf8(&buf, &len, &cap, (unsigned char)*p->s++);
            continue;
        }
        p->s++;
        switch (*p->s) {
        case '"': c = '"'; break;
        case '\\': c = '\\'; break;
        case '/': c = '/'; break;
        case 'b': c = '\b'; break;
        case 'f': c = '\f'; break;
        case 'n': c = '\n'; break;
        case 'r': c = '\r'; break;
        case 't': c = '\t'; break;
        case 'u':
            if (!hex4(p->s + 1, &c)) {
                p->err = "bad \\u escape";
                free(buf);
                return NULL;
            }
            p->s += 4;
            if (c >= 0xD800 && c < 0xDC00 && p->s[1] == '\\' && p->s[2] == 'u') {
                unsigned long lo;
                if (hex4(p->s + 3, &lo) && lo >= 0xDC00 && lo < 0xE000) {
                    c = 0x10000 + ((c - 0xD800) << 10) + (lo - 0xDC00);
                    p->s += 6;
                }
            }
            break;
        default:
            p->err = "bad escape";
            free(buf);
            return NULL;
        }
        p->s++;
        if (c < 0x80) { /* a raw byte, possibly a multi-byte character of the input */
            if (len + 2 > cap) {
                cap = cap * 2 + 16;
                buf = xrealloc(buf, cap);
            }
            buf[len++] = (char)c;
        } else {
            put_utf8(&buf, &len, &cap, c);
        }
    }
    p->s++;
    buf[len] = '\0';
    return buf;
}

static jv *jvalue(jparser *p, int depth);

static jv *jcontainer(jparser *p, int depth, int is_obj) {
    jv *v = jnew(is_obj ? J_OBJ : J_ARR);
    int cap = 0;
    char close = is_obj ? '}' : ']';
    p->s++;
    jskip(p);
    if (*p->s == close) {
        p->s++;
        return v;
    }
    for (;;) {
        char *key = NULL;
        jv *item;
        jskip(p);
        if (is_obj) {
            if (*p->s != '"') {
                p->err = "expected a key";
                jfree(v);
                return NULL;
            }
            key = jstring(p);
            if (!key) {
                jfree(v);
                return NULL;
            }
            jskip(p);
            if (*p->s != ':') {
                p->err = "expected ':'";
                free(key);
                jfree(v);
                return NULL;
            }
            p->s++;
        }
        item = jvalue(p, depth + 1);
        if (!item) {
            free(key);
            jfree(v);
            return NULL;
        }
        if (v->n == cap) {
            cap = cap * 2 + 8;
            v->items = xrealloc(v->items, (size_t)cap * sizeof *v->items);
            if (is_obj) v->keys = xrealloc(v->keys, (size_t)cap * sizeof *v->keys);
        }
        v->items[v->n] = item;
        if (is_obj) v->keys[v->n] = key;
        v->n++;
        jskip(p);
        if (*p->s == ',') {
            p->s++;
            continue;
        }
        if (*p->s == close) {
            p->s++;
            return v;
        }
        p->err = is_obj ? "expected ',' or '}'" : "expected ',' or ']'";
        jfree(v);
        return NULL;
    }
}

static jv *jvalue(jparser *p, int depth) {
    jv *v;
    jskip(p);
    if (depth > 64) {
        p->err = "nested too deeply";
        return NULL;
    }
    switch (*p->s) {
    case '{': return jcontainer(p, depth, 1);
    case '[': return jcontainer(p, depth, 0);
    case '"':
        v = jnew(J_STR);
        v->str = jstring(p);
        if (!v->str) {
            free(v);
            return NULL;
        }
        return v;
    case 't':
        if (strncmp(p->s, "true", 4) == 0) {
            p->s += 4;
            v = jnew(J_BOOL);
            v->num = 1;
            return v;
        }
        break;
    case 'f':
        if (strncmp(p->s, "false", 5) == 0) {
            p->s += 5;
            return jnew(J_BOOL);
        }
        break;
    case 'n':
        if (strncmp(p->s, "null", 4) == 0) {
            p->s += 4;
            return jnew(J_NULL);
        }
        break;
    default:
        if (*p->s == '-' || (*p->s >= '0' && *p->s <= '9')) {
            char *end;
            double d = strtod(p->s, &end);
            if (end == p->s) break;
            p->s = end;
            v = jnew(J_NUM);
            v->num = d;
            return v;
        }
    }
    p->err = "unexpected character";
    return NULL;
}

static jv *jparse_file(const char *path, char *why, size_t why_len) {
    FILE *f = fopen(path, "rb");
    long size;
    char *text;
    jparser p;
    jv *v;
    if (!f) {
        snprintf(why, why_len, "cannot open %s", path);
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    size = ftell(f);
    fseek(f, 0, SEEK_SET);
    text = xmalloc((size_t)size + 1);
    if (size < 0 || fread(text, 1, (size_t)size, f) != (size_t)size) {
        fclose(f);
        free(text);
        snprintf(why, why_len, "cannot read %s", path);
        return NULL;
    }
    fclose(f);
    text[size] = '\0';
    p.s = text;
    p.err = NULL;
    v = jvalue(&p, 0);
    if (v) {
        jskip(&p);
        if (*p.s != '\0') {
            p.err = "trailing characters";
            jfree(v);
            v = NULL;
        }
    }
    if (!v) snprintf(why, why_len, "%s: invalid JSON at byte %ld: %s", path,
                     (long)(p.s - text), p.err ? p.err : "?");
    free(text);
    return v;
}

static jv *jget(const jv *obj, const char *key) {
    int i;
    if (!obj || obj->type != J_OBJ) return NULL;
    for (i = 0; i < obj->n; i++)
        if (strcmp(obj->keys[i], key) == 0) return obj->items[i];
    return NULL;
}

static const char *jstr(const jv *obj, const char *key) {
    jv *v = jget(obj, key);
    return v && v->type == J_STR ? v->str : NULL;
}

/* -------------------------------------------------------------------- golden tensors */

static long tsize(const golden_tensor *t) {
    long n = 1;
    int i;
    for (i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

static void tfree(golden_tensor *t) {
    free(t->data);
    free(t->index);
    t->data = NULL;
    t->index = NULL;
}

/* one element: a JSON number, "NaN" / "Infinity" / "-Infinity", or a rational "p" / "p/q" */
static int element(const jv *v, double *out) {
    char *end;
    if (v->type == J_NUM) {
        *out = v->num;
        return 1;
    }
    if (v->type != J_STR) return 0;
    if (strcmp(v->str, "NaN") == 0) *out = NAN;
    else if (strcmp(v->str, "Infinity") == 0) *out = INFINITY;
    else if (strcmp(v->str, "-Infinity") == 0) *out = -INFINITY;
    else {
        double num = strtod(v->str, &end), den = 1.0;
        if (end == v->str) return 0;
        if (*end == '/') {
            const char *d = end + 1;
            den = strtod(d, &end);
            if (end == d || den == 0) return 0;
        }
        if (*end != '\0') return 0;
        *out = num / den;
    }
    return 1;
}

/* a tensor object of the file; float32 != 0 rounds every element to float */
static int decode(const jv *t, golden_tensor *out, int float32) {
    jv *shape = jget(t, "shape"), *data = jget(t, "data");
    const char *dtype = jstr(t, "dtype");
    int i;
    long n;
    memset(out, 0, sizeof *out);
    if (!shape || shape->type != J_ARR || !data || data->type != J_ARR || !dtype ||
        shape->n > GOLDEN_MAX_DIMS)
        return 0;
    out->ndim = shape->n;
    for (i = 0; i < shape->n; i++) out->shape[i] = (long)shape->items[i]->num;
    n = tsize(out);
    if (n != data->n) return 0;
    out->data = xmalloc((size_t)n * sizeof(double));
    if (strcmp(dtype, "int64") == 0) out->index = xmalloc((size_t)n * sizeof(long));
    for (i = 0; i < n; i++) {
        if (!element(data->items[i], &out->data[i])) return 0;
        if (out->index) out->index[i] = (long)out->data[i];
        else if (float32) out->data[i] = (double)(float)out->data[i];
    }
    return 1;
}

typedef struct {
    double rtol, atol;
} rule;

typedef struct {
    long at;        /* first failing element, -1 if the shapes differ */
    double got, want;
} mismatch;

static int same_shape(const golden_tensor *a, const golden_tensor *b) {
    int i;
    if (a->ndim != b->ndim || a->ndim < 0 || a->ndim > GOLDEN_MAX_DIMS) return 0;
    for (i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return 0;
    return 1;
}

/* the compare rule: same shape; a non-finite expected value must be met exactly (NaN by
 * NaN); otherwise |v - e| <= atol * max(1, M) + rtol * |e|, M the largest finite |e| */
static int passes(const golden_tensor *a, const golden_tensor *e, rule r, mismatch *why) {
    long n, i;
    double m = 1.0;
    if (why) why->at = -1;
    if (!a->data || !same_shape(a, e)) return 0;
    n = tsize(e);
    for (i = 0; i < n; i++)
        if (isfinite(e->data[i]) && fabs(e->data[i]) > m) m = fabs(e->data[i]);
    for (i = 0; i < n; i++) {
        double v = a->data[i], w = e->data[i];
        int ok;
        if (isnan(w)) ok = isnan(v);
        else if (isinf(w)) ok = v == w;
        else ok = isfinite(v) && fabs(v - w) <= r.atol * m + r.rtol * fabs(w);
        if (!ok) {
            if (why) {
                why->at = i;
                why->got = v;
                why->want = w;
            }
            return 0;
        }
    }
    return 1;
}

/* the leading block of a (indices 0 .. e's size - 1 on every axis) against e */
static int block_passes(const golden_tensor *a, const golden_tensor *e, rule r) {
    golden_tensor b;
    long n = tsize(e), i;
    int k, ok;
    if (a->ndim != e->ndim || !a->data) return 0;
    for (k = 0; k < a->ndim; k++)
        if (a->shape[k] < e->shape[k]) return 0;
    b = *e;
    b.index = NULL;
    b.data = xmalloc((size_t)n * sizeof(double));
    for (i = 0; i < n; i++) {
        long rest = i, off = 0, stride = 1;
        for (k = e->ndim - 1; k >= 0; k--) {
            long idx = rest % e->shape[k];
            rest /= e->shape[k];
            off += idx * stride;
            stride *= a->shape[k];
        }
        b.data[i] = a->data[off];
    }
    ok = passes(&b, e, r, NULL);
    free(b.data);
    return ok;
}

static void describe(char *buf, size_t len, const golden_tensor *a, const golden_tensor *e,
                     const mismatch *m) {
    int i, k = 0;
    if (!a->data) {
        snprintf(buf, len, "no data returned");
    } else if (a->ndim < 0 || a->ndim > GOLDEN_MAX_DIMS) {
        snprintf(buf, len, "ndim %d (expected %d)", a->ndim, e->ndim);
    } else if (m->at < 0) {
        k += snprintf(buf + k, len - (size_t)k, "shape [");
        for (i = 0; i < a->ndim && (size_t)k < len; i++)
            k += snprintf(buf + k, len - (size_t)k, i ? ", %ld" : "%ld", a->shape[i]);
        k += snprintf(buf + k, len - (size_t)k, "], expected [");
        for (i = 0; i < e->ndim && (size_t)k < len; i++)
            k += snprintf(buf + k, len - (size_t)k, i ? ", %ld" : "%ld", e->shape[i]);
        if ((size_t)k < len) snprintf(buf + k, len - (size_t)k, "]");
    } else {
        snprintf(buf, len, "element %ld (flat) is %.17g, expected %.17g", m->at, m->got,
                 m->want);
    }
}

/* ------------------------------------------------------------------------- the checks */

static int read_pair(const jv *params, const char *key, int out[2], int fallback) {
    jv *v = jget(params, key);
    out[0] = out[1] = fallback;
    if (!v) return 0;
    if (v->type == J_NUM) out[0] = out[1] = (int)v->num;
    else if (v->type == J_ARR && v->n == 2) {
        out[0] = (int)v->items[0]->num;
        out[1] = (int)v->items[1]->num;
    }
    return 1;
}

static double num_or(const jv *pj, const char *key, double fallback) {
    jv *v = jget(pj, key);
    if (v && v->type == J_BOOL) return v->num;
    return v && v->type == J_NUM ? v->num : fallback;
}

/* the parameters of a case; *weights receives the class weights (to be freed) */
static void read_params(const jv *pj, golden_params *p, double **weights) {
    const char *red = jstr(pj, "reduction");
    jv *w = jget(pj, "weight");
    int i;
    memset(p, 0, sizeof *p);
    read_pair(pj, "kernel_size", p->kernel_size, 1);
    read_pair(pj, "stride", p->stride, 1);
    read_pair(pj, "padding", p->padding, 0);
    read_pair(pj, "dilation", p->dilation, 1);
    read_pair(pj, "output_padding", p->output_padding, 0);
    p->groups = (int)num_or(pj, "groups", 1);
    p->axis = (int)num_or(pj, "axis", -1);
    p->reduction = !red || strcmp(red, "mean") == 0 ? GOLDEN_MEAN
                   : strcmp(red, "sum") == 0        ? GOLDEN_SUM
                                                    : GOLDEN_NONE;
    p->ceil_mode = (int)num_or(pj, "ceil_mode", 0);
    p->count_include_pad = (int)num_or(pj, "count_include_pad", 1);
    p->divisor_override = (int)num_or(pj, "divisor_override", 0);
    p->ignore_index = (long)num_or(pj, "ignore_index", -100);
    p->label_smoothing = num_or(pj, "label_smoothing", 0.0);
    *weights = NULL;
    if (w && w->type == J_ARR) {
        *weights = xmalloc((size_t)w->n * sizeof(double));
        for (i = 0; i < w->n; i++)
            if (!element(w->items[i], &(*weights)[i])) (*weights)[i] = NAN;
        p->weight = *weights;
        p->n_weight = w->n;
    }
}

typedef struct {
    int quiet, float32;
    long cases, passed, failed, skipped;
    const jv *mistakes; /* the file's mistake texts */
    int n_named;        /* the mistakes named so far, with the number of failing cases */
    char named[64][64];
    long named_count[64];
} runner;

/* count a named mistake; 1 the first time it is named */
static int tally(runner *R, const char *key) {
    int i;
    for (i = 0; i < R->n_named; i++)
        if (strcmp(R->named[i], key) == 0) {
            R->named_count[i]++;
            return 0;
        }
    if (R->n_named < 64) {
        snprintf(R->named[R->n_named], 64, "%s", key);
        R->named_count[R->n_named++] = 1;
    }
    return 1;
}

static void name_mistakes(runner *R, const char *what, char names[][64], int n) {
    int i;
    if (n == 0) {
        (void)what;
        printf("    no known mistake matches (compare the values above)\n");
        return;
    }
    for (i = 0; i < n; i++) {
        const char *text = jstr(R->mistakes, names[i]);
        if (tally(R, names[i])) printf("    %s the '%s' mutant: %s\n", what, names[i],
                                       text ? text : "");
        else printf("    %s the '%s' mutant (explained above)\n", what, names[i]);
    }
}

static int add_name(char names[][64], int n, const char *key) {
    int i;
    for (i = 0; i < n; i++)
        if (strcmp(names[i], key) == 0) return n;
    if (n >= 16) return n;
    snprintf(names[n], 64, "%s", key);
    return n + 1;
}

/* the mutants a wrong output (stage forward) or wrong gradients match */
static int match_mutants(const jv *c, const golden_tensor *out, const golden_tensor *grads,
                         int n_grads, rule r, int forward, char names[][64]) {
    jv *mutants = jget(c, "mutants");
    int i, j, n = 0;
    golden_tensor expected;
    if (!mutants) return 0;
    decode(jget(c, "output"), &expected, 0);
    for (i = 0; i < mutants->n; i++) {
        const jv *m = mutants->items[i];
        const char *stage = jstr(m, "stage"), *match = jstr(m, "match");
        jv *mg = jget(m, "gradients");
        int hit = 0;
        if (forward && strcmp(stage, "forward") == 0) {
            if (strcmp(match, "leading-block") == 0) {
                jv *shape = jget(m, "output_shape");
                hit = shape && shape->n == out->ndim;
                for (j = 0; hit && j < out->ndim; j++)
                    hit = (long)shape->items[j]->num == out->shape[j];
                hit = hit && block_passes(out, &expected, r);
            } else {
                golden_tensor mo;
                if (decode(jget(m, "output"), &mo, 0)) hit = passes(out, &mo, r, NULL);
                tfree(&mo);
            }
        } else if (!forward && mg && mg->n == n_grads) {
            /* backward mutants, and forward mutants that carry their gradients */
            hit = 1;
            for (j = 0; hit && j < n_grads; j++) {
                golden_tensor mgj;
                hit = decode(mg->items[j], &mgj, 0) && passes(&grads[j], &mgj, r, NULL);
                tfree(&mgj);
            }
        }
        if (hit) n = add_name(names, n, jstr(m, "key"));
    }
    tfree(&expected);
    return n;
}

static void run_case(runner *R, const golden_op *op, const jv *c) {
    const char *name = jstr(c, "name");
    jv *inputs = jget(c, "inputs"), *gradients = jget(c, "gradients");
    jv *cmp = jget(jget(c, "compare"), R->float32 ? "float32" : "float64");
    golden_tensor in[8], out, expected, grad_out, grads[8];
    golden_params params;
    double *weights = NULL;
    rule r;
    mismatch mm;
    char why[256], names[16][64];
    int i, n_in, n_grads = 0, rc, failed = 0, skipped = 0, n;

    R->cases++;
    if (!name || !inputs || inputs->type != J_ARR || !gradients || !jget(cmp, "rtol") ||
        !jget(cmp, "atol") || !jget(c, "output") || !jget(c, "grad_out")) {
        printf("FAIL %s %s: malformed case (not a version 2 case)\n", op->op,
               name ? name : "?");
        R->failed++;
        return;
    }
    r.rtol = jget(cmp, "rtol")->num;
    r.atol = jget(cmp, "atol")->num;
    n_in = inputs->n < 8 ? inputs->n : 8;
    for (i = 0; i < n_in; i++) {
        jv *d = jget(inputs->items[i], "differentiable");
        decode(inputs->items[i], &in[i], R->float32);
        if (d && d->num) n_grads++;
    }
    read_params(jget(c, "params"), &params, &weights);
    memset(&out, 0, sizeof out);
    decode(jget(c, "output"), &expected, 0);

    rc = op->forward(in, n_in, &params, &out);
    if (rc == GOLDEN_UNSUPPORTED) {
        skipped = 1;
        if (!R->quiet) printf("skip %s %s: unsupported by the implementation\n", op->op, name);
        goto done;
    }
    if (rc != GOLDEN_OK) {
        printf("FAIL %s %s: forward returned error %d\n", op->op, name, rc);
        failed = 1;
        goto done;
    }
    if (!passes(&out, &expected, r, &mm)) {
        describe(why, sizeof why, &out, &expected, &mm);
        printf("FAIL %s %s: output: %s\n", op->op, name, why);
        n = match_mutants(c, &out, NULL, 0, r, 1, names);
        name_mistakes(R, "your output equals", names, n);
        failed = 1;
    }
    if (op->backward) {
        decode(jget(c, "grad_out"), &grad_out, R->float32);
        memset(grads, 0, sizeof grads);
        rc = op->backward(in, n_in, &grad_out, &params, grads);
        tfree(&grad_out);
        if (rc == GOLDEN_UNSUPPORTED) {
            if (!R->quiet) printf("skip %s %s backward: unsupported\n", op->op, name);
        } else if (rc != GOLDEN_OK) {
            printf("FAIL %s %s: backward returned error %d\n", op->op, name, rc);
            failed = 1;
        } else {
            int bad = 0;
            for (i = 0; i < n_grads && i < gradients->n; i++) {
                golden_tensor eg;
                decode(gradients->items[i], &eg, 0);
                if (!passes(&grads[i], &eg, r, &mm)) {
                    describe(why, sizeof why, &grads[i], &eg, &mm);
                    printf("FAIL %s %s: gradient %s: %s\n", op->op, name,
                           jstr(gradients->items[i], "name"), why);
                    bad = 1;
                }
                tfree(&eg);
            }
            if (bad) {
                n = match_mutants(c, NULL, grads, n_grads, r, 0, names);
                name_mistakes(R, "your gradients equal", names, n);
                failed = 1;
            }
        }
        for (i = 0; i < 8; i++) tfree(&grads[i]);
    }
done:
    if (failed) R->failed++;
    else if (skipped) R->skipped++;
    else {
        R->passed++;
        if (!R->quiet) printf("ok   %s %s\n", op->op, name);
    }
    tfree(&out);
    tfree(&expected);
    free(weights);
    for (i = 0; i < n_in; i++) tfree(&in[i]);
}

static int run_file(runner *R, const char *dir, const golden_op *op) {
    char path[4096], why[4200];
    jv *doc, *cases, *version;
    int i;
    snprintf(path, sizeof path, "%s/%s.json", dir, op->op);
    doc = jparse_file(path, why, sizeof why);
    if (!doc) {
        fprintf(stderr, "golden_runner: %s\n", why);
        return 0;
    }
    version = jget(doc, "version");
    if (!version || version->type != J_NUM || version->num != 2) {
        fprintf(stderr, "golden_runner: %s: format version %g; this runner reads version 2\n",
                path, version && version->type == J_NUM ? version->num : -1.0);
        jfree(doc);
        return 0;
    }
    cases = jget(doc, "cases");
    R->mistakes = jget(doc, "mistakes");
    for (i = 0; cases && i < cases->n; i++) run_case(R, op, cases->items[i]);
    jfree(doc);
    return 1;
}

int main(int argc, char **argv) {
    runner R;
    const char *dir = NULL, *only = NULL;
    int i, ran = 0;
    memset(&R, 0, sizeof R);
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--float32") == 0) R.float32 = 1;
        else if (strcmp(argv[i], "--quiet") == 0) R.quiet = 1;
        else if (strcmp(argv[i], "--op") == 0 && i + 1 < argc) only = argv[++i];
        else if (argv[i][0] != '-' && !dir) dir = argv[i];
        else {
            fprintf(stderr, "usage: %s DIR [--float32] [--op NAME] [--quiet]\n", argv[0]);
            return 2;
        }
    }
    if (!dir) {
        fprintf(stderr, "usage: %s DIR [--float32] [--op NAME] [--quiet]\n", argv[0]);
        return 2;
    }
    for (i = 0; golden_ops[i].op; i++) {
        if (only && strcmp(only, golden_ops[i].op) != 0) continue;
        if (!golden_ops[i].forward) continue;
        if (!run_file(&R, dir, &golden_ops[i])) return 2;
        ran++;
    }
    if (!ran) {
        fprintf(stderr, "golden_runner: no op to check (golden_ops lists none%s%s)\n",
                only ? " named " : "", only ? only : "");
        return 2;
    }
    for (i = 0; i < R.n_named; i++)
        printf("mistake named: '%s' (%ld times)\n", R.named[i], R.named_count[i]);
    printf("%ld cases: %ld passed, %ld failed, %ld skipped (%s rule)\n", R.cases, R.passed,
           R.failed, R.skipped, R.float32 ? "float32" : "float64");
    return R.failed ? 1 : 0;
}
