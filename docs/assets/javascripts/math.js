// Render the TeX that pymdownx.arithmatex (generic mode) leaves in the page, with the KaTeX
// bundled under docs/assets/katex (no CDN). Inline math arrives as <span class="arithmatex">
// \( ... \)</span>, display math as <div class="arithmatex">\[ ... \]</div>. A formula KaTeX
// cannot parse is shown as a .katex-error element (the browser test looks for those).
function renderArithmatex(root) {
  root.querySelectorAll(".arithmatex").forEach(function (el) {
    if (el.dataset.rendered) return;
    var tex = el.textContent.trim();
    var display = el.tagName === "DIV";
    if (tex.startsWith("\\(") || tex.startsWith("\\[")) tex = tex.slice(2, -2);
    else if (tex.startsWith("$$")) { tex = tex.slice(2, -2); display = true; }
    else if (tex.startsWith("$")) tex = tex.slice(1, -1);
    katex.render(tex, el, { displayMode: display, throwOnError: false });
    el.dataset.rendered = "1";
  });
}

if (typeof document$ !== "undefined") {
  document$.subscribe(function (page) { renderArithmatex(page.body || document.body); });
} else {
  document.addEventListener("DOMContentLoaded", function () { renderArithmatex(document.body); });
}
