// A small JavaScript implementation of softmax, log_softmax and avg_pool2d (forward and
// backward) for the tests of golden_runner.js. Right as is; GOLDEN_BUG in the environment
// plants one classic mistake the runner must name:
//   GOLDEN_BUG=avg-count-valid     average pooling divides by the non-padding elements only
//                                  (unless divisor_override is given)
//   GOLDEN_BUG=softmax-diagonal    softmax backward uses only the Jacobian's diagonal
"use strict";

const BUG = process.env.GOLDEN_BUG || "";

// [outer, n, inner] of a tensor split at `axis` (negative counts from the end)
function split(shape, axis) {
  const a = axis < 0 ? axis + shape.length : axis;
  const prod = (xs) => xs.reduce((p, v) => p * v, 1);
  return [prod(shape.slice(0, a)), shape[a], prod(shape.slice(a + 1))];
}

function softmaxData(x, axis) {
  const [outer, n, inner] = split(x.shape, axis);
  const y = new Float64Array(x.data.length);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const at = (k) => (o * n + k) * inner + i;
      let m = -Infinity, s = 0;
      for (let k = 0; k < n; k++) m = Math.max(m, x.data[at(k)]);
      for (let k = 0; k < n; k++) s += Math.exp(x.data[at(k)] - m);
      for (let k = 0; k < n; k++) y[at(k)] = Math.exp(x.data[at(k)] - m) / s;
    }
  }
  return y;
}

function logSoftmaxData(x, axis) {
  const [outer, n, inner] = split(x.shape, axis);
  const y = new Float64Array(x.data.length);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const at = (k) => (o * n + k) * inner + i;
      let m = -Infinity, s = 0;
      for (let k = 0; k < n; k++) m = Math.max(m, x.data[at(k)]);
      for (let k = 0; k < n; k++) s += Math.exp(x.data[at(k)] - m);
      for (let k = 0; k < n; k++) y[at(k)] = x.data[at(k)] - m - Math.log(s);
    }
  }
  return y;
}

// sum over the axis of a[at(k)] * b[at(k)], broadcast back
function dotAlong(shape, axis, a, b) {
  const [outer, n, inner] = split(shape, axis);
  const out = new Float64Array(a.length);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += a[(o * n + k) * inner + i] * (b ? b[(o * n + k) * inner + i] : 1);
      for (let k = 0; k < n; k++) out[(o * n + k) * inner + i] = s;
    }
  }
  return out;
}

const pair = (v) => (Array.isArray(v) ? v : [v, v]);

// floor((n + 2p - k) / s) + 1; with ceil_mode the ceiling, one less when the last window
// would start in the right padding
function poolSize(n, k, s, p, ceil) {
  let out = (ceil ? Math.ceil((n + 2 * p - k) / s) : Math.floor((n + 2 * p - k) / s)) + 1;
  if (ceil && (out - 1) * s >= n + p) out--;
  return out;
}

function poolGeometry(x, params) {
  const [kh, kw] = pair(params.kernel_size), [sh, sw] = pair(params.stride);
  const [ph, pw] = pair(params.padding || 0);
  const [N, C, H, W] = x.shape;
  const ceil = Boolean(params.ceil_mode);
  const oh = poolSize(H, kh, sh, ph, ceil), ow = poolSize(W, kw, sw, pw, ceil);
  const includePad = params.count_include_pad === undefined ? true : params.count_include_pad;
  return { N, C, H, W, kh, kw, sh, sw, ph, pw, oh, ow, includePad,
           divisor: params.divisor_override || 0 };
}

// calls f(outIndex, inIndex) for every element of every window; returns the divisors
function eachWindow(g, f) {
  const divisors = new Float64Array(g.N * g.C * g.oh * g.ow);
  for (let nc = 0; nc < g.N * g.C; nc++) {
    for (let i = 0; i < g.oh; i++) {
      for (let j = 0; j < g.ow; j++) {
        const o = (nc * g.oh + i) * g.ow + j;
        let valid = 0, padded = 0;
        for (let p = 0; p < g.kh; p++) {
          for (let q = 0; q < g.kw; q++) {
            const r = i * g.sh + p - g.ph, t = j * g.sw + q - g.pw;
            // a cell past the padded input (ceil_mode) is never counted
            if (r < g.H + g.ph && t < g.W + g.pw) padded++;
            if (r < 0 || r >= g.H || t < 0 || t >= g.W) continue;
            valid++;
            f(o, (nc * g.H + r) * g.W + t);
          }
        }
        const count = BUG === "avg-count-valid" || !g.includePad ? valid : padded;
        divisors[o] = g.divisor || count;
      }
    }
  }
  return divisors;
}

module.exports = {
  softmax: {
    forward: ([x], { axis }) => ({ shape: x.shape, data: softmaxData(x, axis) }),
    backward([x], g, { axis }) {
      const s = softmaxData(x, axis);
      const dot = dotAlong(x.shape, axis, g.data, s);
      const dx = s.map((v, i) => (BUG === "softmax-diagonal" ? v * (1 - v) * g.data[i]
                                                              : v * (g.data[i] - dot[i])));
      return [{ shape: x.shape, data: dx }];
    },
  },
  log_softmax: {
    forward: ([x], { axis }) => ({ shape: x.shape, data: logSoftmaxData(x, axis) }),
    backward([x], g, { axis }) {
      const s = softmaxData(x, axis);
      const total = dotAlong(x.shape, axis, g.data, null);
      return [{ shape: x.shape, data: g.data.map((v, i) => v - s[i] * total[i]) }];
    },
  },
  avg_pool2d: {
    forward([x], params) {
      const g = poolGeometry(x, params);
      const sums = new Float64Array(g.N * g.C * g.oh * g.ow);
      const div = eachWindow(g, (o, k) => { sums[o] += x.data[k]; });
      return { shape: [g.N, g.C, g.oh, g.ow], data: sums.map((v, o) => v / div[o]) };
    },
    backward([x], gout, params) {
      const g = poolGeometry(x, params);
      const dx = new Float64Array(x.data.length);
      const div = eachWindow(g, () => {});
      eachWindow(g, (o, k) => { dx[k] += gout.data[o] / div[o]; });
      return [{ shape: x.shape, data: dx }];
    },
  },
};
