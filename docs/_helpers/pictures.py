"""Pictures for the course pages, computed from the engine while the site is built.

Every picture here is data the engine produced, drawn as self-contained SVG or HTML (no
file to serve, no network, no script library):

- :func:`conv_animation`: a conv_arithmetic-style animation (SMIL, plays by itself) of a
  window sliding over a (padded, dilated) input, one frame per output cell. The cells under
  the window in each frame are the input cells on which that output cell depends, found
  by the engine (a forward pass on a one-hot input per input cell), not by a formula.
- :func:`transposed_animation`: the gradient of a strided convolution with respect to its
  input, drawn as the transposed convolution it is (the upstream gradient dilated by the
  stride, padded by k − 1, a flipped kernel sliding over it).
- :func:`window_stepper`: the seed 004 example with previous / next / play buttons, the
  current window, its sum written out, and the erratum cell marked; a small inline script.
- :func:`connectivity_svg`: fully connected, locally connected and convolutional layers
  drawn as edges between two rows of units.
"""

from __future__ import annotations

import html
import json
from typing import Any

import numpy as np
from tgdocs import check

import tinygrad_cnn.nn.functional as F
from tinygrad_cnn import Tensor

CELL = 22  # pixels per cell
GAP = 2
INPUT_FILL, PAD_FILL, OUTPUT_FILL = "#a9c8ef", "#ffffff", "#b9e3b0"
WINDOW_FILL, CURRENT_FILL = "#1f4e9c", "#2e7d32"


def _pair(v: int | tuple[int, int]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def dependencies(n: int, k: int, stride: int = 1, padding: int = 0,
                 dilation: int = 1) -> dict[tuple[int, int], list[tuple[int, int]]]:
    """For each output cell, the input cells it depends on, measured with the engine.

    One forward pass of ``conv2d`` (a kernel of ones) per input cell, on a one-hot input:
    output (i, j) depends on input (a, b) exactly when the one-hot at (a, b) reaches it.
    Coordinates are in the *padded* input (so padding cells can be drawn under the window).
    """
    probe = np.zeros((n * n, 1, n, n))
    for a in range(n):
        for b in range(n):
            probe[a * n + b, 0, a, b] = 1.0
    w = np.ones((1, 1, k, k))
    y = F.conv2d(Tensor(probe), Tensor(w), stride=stride, padding=padding,
                 dilation=dilation).numpy()[:, 0]  # (n·n inputs, OH, OW)
    oh, ow = y.shape[1:]
    deps: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for i in range(oh):
        for j in range(ow):
            cells = [(int(c) // n + padding, int(c) % n + padding)
                     for c in np.nonzero(y[:, i, j])[0]]
            deps[(i, j)] = cells
    return deps


def _window_taps(i: int, j: int, k: int, stride: int, dilation: int) -> list[tuple[int, int]]:
    return [(i * stride + p * dilation, j * stride + q * dilation)
            for p in range(k) for q in range(k)]


def _grid(x0: float, y0: float, rows: int, cols: int, fill: Any, stroke: str = "#4a4a4a",
          dashed: set[tuple[int, int]] | None = None, labels: Any = None) -> list[str]:
    out = []
    for r in range(rows):
        for c in range(cols):
            color = fill(r, c) if callable(fill) else fill
            dash = ' stroke-dasharray="3,2"' if dashed and (r, c) in dashed else ""
            out.append(f'<rect x="{x0 + c * CELL}" y="{y0 + r * CELL}" width="{CELL - GAP}" '
                       f'height="{CELL - GAP}" fill="{color}" stroke="{stroke}" '
                       f'stroke-width="0.6"{dash}/>')
            if labels is not None and labels[r][c] != "":
                out.append(f'<text x="{x0 + c * CELL + (CELL - GAP) / 2}" '
                           f'y="{y0 + r * CELL + CELL * 0.68}" font-size="11" '
                           f'text-anchor="middle" fill="#222">{labels[r][c]}</text>')
    return out


def _animated_rects(frames: list[list[tuple[int, int]]], x0: float, y0: float, fill: str,
                    opacity: float, seconds: float, cls: str) -> list[str]:
    """One rect per tap, jumping (calcMode discrete) to its cell in every frame."""
    out = []
    dur = seconds * len(frames)
    for t in range(len(frames[0])):
        xs = ";".join(str(x0 + f[t][1] * CELL) for f in frames)
        ys = ";".join(str(y0 + f[t][0] * CELL) for f in frames)
        out.append(
            f'<rect class="{cls}" x="{x0 + frames[0][t][1] * CELL}" '
            f'y="{y0 + frames[0][t][0] * CELL}" width="{CELL - GAP}" height="{CELL - GAP}" '
            f'fill="{fill}" fill-opacity="{opacity}">'
            f'<animate attributeName="x" values="{xs}" dur="{dur}s" calcMode="discrete" '
            f'repeatCount="indefinite"/>'
            f'<animate attributeName="y" values="{ys}" dur="{dur}s" calcMode="discrete" '
            f'repeatCount="indefinite"/></rect>')
    return out


def conv_animation(n: int, k: int, stride: int = 1, padding: int = 0, dilation: int = 1,
                   title: str = "", seconds: float = 0.7) -> str:
    """An SVG animation of a k×k window over an n×n input (conv_arithmetic's grammar).

    Blue: the input; white, dashed: padding; dark: the window's taps; green: the output,
    its current cell dark. Checked: the taps drawn in each frame that fall on real input
    cells are exactly the cells the engine says the output cell depends on.
    """
    deps = dependencies(n, k, stride, padding, dilation)
    size = n + 2 * padding
    oh = max(i for i, _ in deps) + 1
    ow = max(j for _, j in deps) + 1
    frames, currents = [], []
    for i in range(oh):
        for j in range(ow):
            taps = _window_taps(i, j, k, stride, dilation)
            real = sorted(t for t in taps if padding <= t[0] < padding + n
                          and padding <= t[1] < padding + n)
            check(real == sorted(deps[(i, j)]),
                  f"animation n={n} k={k} s={stride} p={padding} d={dilation}: window {taps} "
                  f"but the engine's output ({i}, {j}) depends on {deps[(i, j)]}")
            frames.append(taps)
            currents.append([(i, j)])
    pad_cells = {(r, c) for r in range(size) for c in range(size)
                 if not (padding <= r < padding + n and padding <= c < padding + n)}
    margin = 10
    out_x = margin + size * CELL + 3 * CELL
    out_y = margin + (size - oh) * CELL / 2
    width = out_x + ow * CELL + margin
    height = margin * 2 + size * CELL + 18
    parts = [f'<svg class="conv-anim" xmlns="http://www.w3.org/2000/svg" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="{html.escape(title)}" data-frames="{len(frames)}">']
    parts += _grid(margin, margin, size, size,
                   lambda r, c: PAD_FILL if (r, c) in pad_cells else INPUT_FILL,
                   dashed=pad_cells)
    parts += _grid(out_x, out_y, oh, ow, OUTPUT_FILL)
    parts += _animated_rects(frames, margin, margin, WINDOW_FILL, 0.55, seconds, "tap")
    parts += _animated_rects(currents, out_x, out_y, CURRENT_FILL, 0.85, seconds, "current")
    mid = margin + size * CELL / 2
    parts.append(f'<path d="M{margin + size * CELL + CELL * 0.8} {mid} h{CELL * 1.4}" '
                 f'stroke="#555" stroke-width="1.5" marker-end="url(#arrow)"/>')
    parts.append('<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" '
                 'markerWidth="6" markerHeight="6" orient="auto"><path d="M0 0L10 5L0 10z" '
                 'fill="#555"/></marker></defs>')
    parts.append(f'<text x="{margin}" y="{height - 6}" font-size="12" fill="#333">'
                 f'{html.escape(title)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def transposed_animation(n: int, k: int, stride: int, seconds: float = 0.7) -> str:
    """The input gradient of a stride-s convolution as a transposed convolution.

    The upstream gradient ḡ (o×o) is dilated by the stride (s − 1 zeros between entries) and
    padded by k − 1; a k×k window (the flipped kernel) slides over it at stride 1, one frame
    per input cell. Checked: the ḡ entries under each window are exactly the output cells
    that the engine says depend on that input cell.
    """
    deps = dependencies(n, k, stride)
    o = max(i for i, _ in deps) + 1
    size = (o - 1) * stride + 1 + 2 * (k - 1)
    # where ḡ[a, b] sits in the dilated, padded grid
    place = {(a, b): (k - 1 + a * stride, k - 1 + b * stride) for a in range(o) for b in range(o)}
    frames, currents = [], []
    for i in range(n):
        for j in range(n):
            taps = [(i + p, j + q) for p in range(k) for q in range(k)]
            under = sorted(a for a, cell in place.items() if cell in set(taps))
            feeds = sorted(c for c, cells in deps.items() if (i, j) in cells)
            check(under == feeds, f"transposed animation: input ({i}, {j}) gets ḡ at {under}, "
                                  f"but the engine says it feeds {feeds}")
            frames.append(taps)
            currents.append([(i, j)])
    margin = 10
    out_x = margin + size * CELL + 3 * CELL
    out_y = margin + (size - n) * CELL / 2
    width = out_x + n * CELL + margin
    height = margin * 2 + size * CELL
    real = set(place.values())
    title = (f"the input gradient of a {k}×{k} convolution at stride {stride} on a {n}×{n} "
             f"input: ḡ ({o}×{o}) dilated by {stride}, padded by {k - 1}, "
             "flipped kernel at stride 1")
    parts = [f'<svg class="conv-anim" xmlns="http://www.w3.org/2000/svg" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="{html.escape(title)}" data-frames="{len(frames)}">']
    parts += _grid(margin, margin, size, size,
                   lambda r, c: INPUT_FILL if (r, c) in real else PAD_FILL,
                   dashed={(r, c) for r in range(size) for c in range(size)} - real)
    parts += _grid(out_x, out_y, n, n, OUTPUT_FILL)
    parts += _animated_rects(frames, margin, margin, WINDOW_FILL, 0.55, seconds, "tap")
    parts += _animated_rects(currents, out_x, out_y, CURRENT_FILL, 0.85, seconds, "current")
    parts.append("</svg>")
    return "".join(parts)


def figure(svg: str, caption: str) -> str:
    return (f'\n<figure class="anim">{svg}<figcaption>{html.escape(caption)}</figcaption>'
            "</figure>\n")


# ------------------------------------------------------------------ the window stepper

STEPPER_SCRIPT = r"""
(function () {
  document.querySelectorAll(".stepper").forEach(function (root) {
    if (root.dataset.ready) return;
    root.dataset.ready = "1";
    var data = JSON.parse(root.querySelector("script[type='application/json']").textContent);
    var frame = 0, timer = null;
    var cells = function (name) { return root.querySelectorAll("table." + name + " td"); };
    function show() {
      var f = data.frames[frame];
      cells("st-input").forEach(function (td) {
        var r = +td.dataset.r, c = +td.dataset.c;
        var inside = r >= f.i && r < f.i + data.k && c >= f.j && c < f.j + data.k;
        td.classList.toggle("st-window", inside);
      });
      cells("st-output").forEach(function (td) {
        var r = +td.dataset.r, c = +td.dataset.c, index = r * data.ow + c;
        td.classList.toggle("st-current", r === f.i && c === f.j);
        td.textContent = index <= frame ? data.values[r][c] : "";
      });
      root.querySelector(".st-sum").textContent = f.sum;
      root.querySelector(".st-where").textContent =
        "window " + (frame + 1) + " of " + data.frames.length + ": row " + (f.i + 1) +
        ", column " + (f.j + 1);
      root.querySelector(".st-note").textContent = f.note || "";
      root.dataset.frame = frame;
    }
    function step(d) { frame = (frame + d + data.frames.length) % data.frames.length; show(); }
    root.querySelector(".st-prev").addEventListener("click", function () { step(-1); });
    root.querySelector(".st-next").addEventListener("click", function () { step(1); });
    var play = root.querySelector(".st-play");
    play.addEventListener("click", function () {
      if (timer) { clearInterval(timer); timer = null; play.textContent = "play"; return; }
      play.textContent = "pause";
      timer = setInterval(function () { step(1); }, 900);
    });
    show();
  });
})();
"""


def window_stepper(image: Any, kernel: Any, printed: Any, erratum: tuple[int, int]) -> str:
    """An interactive stepper over a valid cross-correlation (the seed 004 example).

    The values and the written-out sums come from the engine's ``conv2d`` and are checked
    against each other here; the erratum cell is marked in the output grid.
    """
    x = np.asarray(image, dtype=np.int64)
    w = np.asarray(kernel, dtype=np.int64)
    k = w.shape[0]
    y = F.conv2d(Tensor(x[None, None].astype(np.float64)),
                 Tensor(w[None, None].astype(np.float64))).numpy()[0, 0]
    oh, ow = y.shape
    frames = []
    for i in range(oh):
        for j in range(ow):
            window = x[i:i + k, j:j + k]
            terms = [f"{window[p, q]}×{w[p, q]}" for p in range(k) for q in range(k)]
            total = int((window * w).sum())
            check(total == y[i, j], f"stepper: the sum at ({i}, {j}) is not the engine's")
            note = ""
            if (i, j) == erratum:
                note = (f"The slides print {printed[i][j]} here; the sum is {total}.")
            frames.append({"i": i, "j": j, "sum": " + ".join(terms) + f" = {total}",
                           "note": note})
    data = {"k": k, "ow": ow, "values": y.astype(int).tolist(), "frames": frames}

    def table(a: Any, cls: str, marks: set[tuple[int, int]] = frozenset(),
              show: bool = True) -> str:
        rows = []
        for r, row in enumerate(a):
            tds = "".join(
                f'<td data-r="{r}" data-c="{c}"'
                + (' class="st-erratum"' if (r, c) in marks else "")
                + f">{v if show else ''}</td>" for c, v in enumerate(row))
            rows.append(f"<tr>{tds}</tr>")
        return f'<table class="{cls}">{"".join(rows)}</table>'

    return (
        '\n<div class="stepper" data-frame="0">'
        f'<script type="application/json">{json.dumps(data)}</script>'
        '<div class="st-grids">'
        f'<div><div class="st-cap">input image</div>{table(x, "st-input")}</div>'
        f'<div><div class="st-cap">feature detector</div>{table(w, "st-kernel")}</div>'
        f'<div><div class="st-cap">feature map</div>'
        f'{table(y.astype(int), "st-output", {erratum}, show=False)}</div></div>'
        '<div class="st-controls"><button class="st-prev" type="button">previous</button>'
        '<button class="st-next" type="button">next</button>'
        '<button class="st-play" type="button">play</button> '
        '<span class="st-where"></span></div>'
        '<div class="st-sum"></div><div class="st-note"></div>'
        f"<script>{STEPPER_SCRIPT}</script></div>\n")


# ------------------------------------------------------------------ connectivity


def connectivity_svg(kind: str, n: int = 9, k: int = 3) -> str:
    """Two rows of units, the edges of one layer kind between them; a colour per weight.

    ``kind``: "fully connected" (every output sees every input, each edge its own weight),
    "locally connected" (each output sees k neighbours, own weights: every edge its own
    grey), "convolutional" (the same k weights, the same k colours, at every position).
    """
    colours = ["#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e"]
    out_n = n if kind == "fully connected" else n - k + 1
    width, height, top, bottom = 30 + n * 34, 150, 26, 118
    xin = [24 + i * 34 for i in range(n)]
    xout = [24 + (i + (n - out_n) / 2) * 34 for i in range(out_n)]
    edges = []
    for o in range(out_n):
        sources = range(n) if kind == "fully connected" else range(o, o + k)
        for t, i in enumerate(sources):
            colour = colours[t] if kind == "convolutional" else "#8a8a8a"
            edges.append(f'<line x1="{xin[i]}" y1="{bottom}" x2="{xout[o]}" y2="{top}" '
                         f'stroke="{colour}" stroke-width="1.3" stroke-opacity="0.8"/>')
    weights = {"fully connected": n * out_n, "locally connected": out_n * k,
               "convolutional": k}[kind]
    units = "".join(f'<circle cx="{x}" cy="{bottom}" r="7" fill="{INPUT_FILL}" '
                    'stroke="#333"/>' for x in xin)
    units += "".join(f'<circle cx="{x}" cy="{top}" r="7" fill="{OUTPUT_FILL}" '
                     'stroke="#333"/>' for x in xout)
    label = f"{kind}: {len(edges)} connections, {weights} weights"
    return (f'<svg class="connectivity" xmlns="http://www.w3.org/2000/svg" width="{width}" '
            f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
            f'aria-label="{html.escape(label)}">{"".join(edges)}{units}'
            f'<text x="8" y="{height - 6}" font-size="12" fill="#333">'
            f"{html.escape(label)}</text></svg>")
