#!/usr/bin/env node
// golden_runner.js - checks a JavaScript implementation against the golden files (Node, no
// packages).
//
//     node golden_runner.js DIR my_ops.js [--float32] [--op NAME] [--quiet]
//
// my_ops.js is a CommonJS module (module.exports = {...}) or, with a .mjs name, an ES
// module, exporting one entry per op you implement:
//
//     module.exports = {
//       softmax: {
//         forward(inputs, params) { ... return {shape: [...], data: [...]}; },
//         backward(inputs, gradOut, params) { ... return [{shape, data}, ...]; },
//       },
//     };
//
// inputs: the case's arrays in call order, each {name, shape, data} with data a
// Float64Array in row-major order (cross_entropy's integer target: a plain array of
// integers). params: the case's parameters as in the file (an integer, or [h, w]
// when the two axes differ; "axis" may be negative; "reduction" a string). gradOut: the
// upstream gradient {shape, data} (the vector of the vector-Jacobian product). backward
// returns one gradient per differentiable input, in order. Return null from forward (or
// backward) for a case your code does not do: it is skipped and counted.
//
// Exit status: 0 every case passed, 1 a case failed, 2 bad arguments or unreadable files.
"use strict";

const fs = require("fs");
const path = require("path");
const url = require("url");

const SPECIAL = { NaN: NaN, Infinity: Infinity, "-Infinity": -Infinity };

// one element: a JSON number, "NaN" / "Infinity" / "-Infinity", or a rational "p" / "p/q"
function element(v) {
  if (typeof v === "number") return v;
  if (v in SPECIAL) return SPECIAL[v];
  const m = /^(-?(?:0|[1-9][0-9]*))(?:\/([1-9][0-9]*))?$/.exec(v);
  if (!m) throw new Error(`bad element ${JSON.stringify(v)}`);
  return m[2] === undefined ? Number(m[1]) : Number(m[1]) / Number(m[2]);
}

function decode(t, float32) {
  const n = t.shape.reduce((a, b) => a * b, 1);
  if (t.data.length !== n) throw new Error("data length does not match the shape");
  if (t.dtype === "int64") return { name: t.name, shape: t.shape.slice(), data: t.data.slice() };
  const data = new Float64Array(n);
  for (let i = 0; i < n; i++) data[i] = float32 ? Math.fround(element(t.data[i])) : element(t.data[i]);
  return { name: t.name, shape: t.shape.slice(), data };
}

function sameShape(a, b) {
  return Array.isArray(a) && a.length === b.length && a.every((v, i) => v === b[i]);
}

// the compare rule: same shape; a non-finite expected value is met exactly (NaN by NaN);
// otherwise |v - e| <= atol * max(1, M) + rtol * |e|, M the largest finite |e|
function passes(actual, expected, rule) {
  if (!actual || !sameShape(actual.shape, expected.shape)) {
    return { ok: false, why: `shape [${actual && actual.shape}], expected [${expected.shape}]` };
  }
  const e = expected.data, a = actual.data;
  if (!a || a.length !== e.length) return { ok: false, why: "data length differs from the shape" };
  let m = 1;
  for (const v of e) if (Number.isFinite(v) && Math.abs(v) > m) m = Math.abs(v);
  for (let i = 0; i < e.length; i++) {
    const v = Number(a[i]), w = e[i];
    let ok;
    if (Number.isNaN(w)) ok = Number.isNaN(v);
    else if (!Number.isFinite(w)) ok = v === w;
    else ok = Number.isFinite(v) && Math.abs(v - w) <= rule.atol * m + rule.rtol * Math.abs(w);
    if (!ok) return { ok: false, why: `element ${i} (flat) is ${v}, expected ${w}` };
  }
  return { ok: true };
}

// the leading block of `actual` (indices 0 .. expected size - 1 on every axis)
function leadingBlock(actual, shape) {
  if (actual.shape.length !== shape.length || actual.shape.some((s, k) => s < shape[k])) return null;
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let rest = i, off = 0, stride = 1;
    for (let k = shape.length - 1; k >= 0; k--) {
      off += (rest % shape[k]) * stride;
      rest = Math.floor(rest / shape[k]);
      stride *= actual.shape[k];
    }
    data[i] = actual.data[off];
  }
  return { shape: shape.slice(), data };
}

// the keys of the mutants a wrong output (forward) or wrong gradients (backward) match
function matchMutants(c, rule, output, grads) {
  const found = [];
  const expected = decode(c.output);
  for (const m of c.mutants) {
    let hit = false;
    if (output && m.stage === "forward") {
      if (m.match === "leading-block") {
        const block = sameShape(output.shape, m.output_shape) && leadingBlock(output, expected.shape);
        hit = Boolean(block) && passes(block, expected, rule).ok;
      } else {
        hit = passes(output, decode(m.output), rule).ok;
      }
    } else if (grads && m.gradients && m.gradients.length === grads.length) {
      // backward mutants, and forward mutants that carry their gradients
      hit = m.gradients.every((g, i) => passes(grads[i], decode(g), rule).ok);
    }
    if (hit && !found.includes(m.key)) found.push(m.key);
  }
  return found;
}

function asTensor(t) {
  if (t === null || t === undefined) return t;
  return { shape: Array.from(t.shape || []), data: t.data };
}

async function main(argv) {
  const opts = { float32: false, quiet: false, op: null };
  const pos = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--float32") opts.float32 = true;
    else if (argv[i] === "--quiet") opts.quiet = true;
    else if (argv[i] === "--op" && i + 1 < argv.length) opts.op = argv[++i];
    else if (!argv[i].startsWith("-")) pos.push(argv[i]);
    else pos.push(null);
  }
  if (pos.length !== 2 || pos.includes(null)) {
    console.error("usage: node golden_runner.js DIR my_ops.js [--float32] [--op NAME] [--quiet]");
    return 2;
  }
  const [dir, implPath] = pos;
  let impl;
  try {
    const full = path.resolve(implPath);
    impl = full.endsWith(".mjs") ? await import(url.pathToFileURL(full).href) : require(full);
  } catch (err) {
    console.error(`golden_runner: cannot load ${implPath}: ${err.message}`);
    return 2;
  }
  const ops = Object.keys(impl).filter((k) => impl[k] && typeof impl[k].forward === "function"
                                              && (!opts.op || k === opts.op));
  if (ops.length === 0) {
    console.error(`golden_runner: ${implPath} exports no op with a forward function`);
    return 2;
  }
  const count = { cases: 0, passed: 0, failed: 0, skipped: 0 };
  const named = new Map();
  for (const op of ops) {
    const file = path.join(dir, `${op}.json`);
    let doc;
    try {
      doc = JSON.parse(fs.readFileSync(file, "utf8"));
    } catch (err) {
      console.error(`golden_runner: cannot read ${file}: ${err.message}`);
      return 2;
    }
    if (doc.version !== 2) {
      console.error(`golden_runner: ${file}: format version ${doc.version}; this runner reads version 2`);
      return 2;
    }
    const { forward, backward } = impl[op];
    const say = (keys, what) => {
      if (keys.length === 0) console.log("    no known mistake matches (compare the values above)");
      for (const k of keys) {
        const first = !named.has(k);
        named.set(k, (named.get(k) || 0) + 1);
        console.log(`    ${what} the '${k}' mutant` + (first ? `: ${doc.mistakes[k] || ""}` : " (explained above)"));
      }
    };
    for (const c of doc.cases) {
      count.cases++;
      const rule = c.compare[opts.float32 ? "float32" : "float64"];
      const inputs = c.inputs.map((t) => decode(t, opts.float32));
      const params = JSON.parse(JSON.stringify(c.params));
      let failed = false, skipped = false;
      const fail = (msg) => { console.log(`FAIL ${op} ${c.name}: ${msg}`); failed = true; };
      let out;
      try {
        out = asTensor(await forward(inputs, params));
      } catch (err) {
        fail(`forward threw ${err && err.message}`);
      }
      if (!failed && out === null) skipped = true;
      else if (!failed) {
        const r = passes(out, decode(c.output), rule);
        if (!r.ok) {
          fail(`output: ${r.why}`);
          say(matchMutants(c, rule, out, null), "your output equals");
        }
      }
      if (!skipped && typeof backward === "function") {
        let grads;
        try {
          grads = await backward(inputs, decode(c.grad_out, opts.float32), params);
        } catch (err) {
          fail(`backward threw ${err && err.message}`);
        }
        if (grads !== undefined && grads !== null) {
          grads = (Array.isArray(grads) ? grads : [grads]).map(asTensor);
          let bad = false;
          c.gradients.forEach((g, i) => {
            const r = passes(grads[i], decode(g), rule);
            if (!r.ok) { fail(`gradient ${g.name}: ${r.why}`); bad = true; }
          });
          if (bad) say(matchMutants(c, rule, null, grads), "your gradients equal");
        }
      }
      if (failed) count.failed++;
      else if (skipped) {
        count.skipped++;
        if (!opts.quiet) console.log(`skip ${op} ${c.name}: unsupported by the implementation`);
      } else {
        count.passed++;
        if (!opts.quiet) console.log(`ok   ${op} ${c.name}`);
      }
    }
  }
  for (const [k, n] of named) console.log(`mistake named: '${k}' (${n} times)`);
  console.log(`${count.cases} cases: ${count.passed} passed, ${count.failed} failed, ` +
              `${count.skipped} skipped (${opts.float32 ? "float32" : "float64"} rule)`);
  return count.failed ? 1 : 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => { process.exitCode = code; },
    (err) => { console.error(`golden_runner: ${err && err.stack}`); process.exitCode = 2; });
}

module.exports = { passes, decode, element, matchMutants };
