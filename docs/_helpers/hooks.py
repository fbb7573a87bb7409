"""MkDocs hooks: make the docs helper module importable from markdown-exec blocks.

Every number, table, formula and figure on the site is computed by ``markdown-exec``
blocks while the site is built; those blocks ``import tgdocs`` (this directory). A block
that raises makes markdown-exec log a warning, and ``mkdocs build --strict`` turns any
warning into a failed build, so a number on a page that disagrees with the spec or the
engine stops the build.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def on_config(config: Any, **kwargs: Any) -> Any:
    os.environ.setdefault("MPLBACKEND", "Agg")  # figures are rendered headless
    root = str(HERE.parent.parent)  # the project root, so `spec` imports from the checkout
    for path in (str(HERE), root):
        if path not in sys.path:
            sys.path.insert(0, path)
    return config


def on_files(files: Any, config: Any) -> Any:
    """Add each course page's notebook (generated now) to the site as notebooks/PAGE.ipynb."""
    import notebooks
    from mkdocs.structure.files import File

    for page in notebooks.COURSE_PAGES:
        files.append(File.generated(config, f"notebooks/{page}.ipynb",
                                    content=notebooks.notebook_of(page)))
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """Link a course page's notebook under its title."""
    import notebooks

    stem = page.file.src_uri.removesuffix(".md")
    if stem not in notebooks.COURSE_PAGES:
        return markdown
    title, _, rest = markdown.partition("\n")
    link = (f"[Download this page as a Jupyter notebook](notebooks/{stem}.ipynb)"
            f'{{ .notebook-link download="{stem}.ipynb" }}: run it from a clone of the repository.')
    return f"{title}\n\n{link}\n{rest}"


#: large scripts, each added only to the pages whose HTML contains its marker
PAGE_SCRIPTS = {'class="mermaid"': "assets/mermaid/mermaid.min.js"}


def on_post_page(output: str, page: Any, config: Any) -> str:
    """Add Mermaid (3.5 MB) only where a diagram is drawn, before the theme's scripts run."""
    anchor = re.search(r'<script src="([^"]*)assets/katex/katex\.min\.js"', output)
    for marker, script in PAGE_SCRIPTS.items():
        if marker in output and anchor and script not in output:
            tag = f'<script src="{anchor.group(1)}{script}"></script>\n'
            output = output[:anchor.start()] + tag + output[anchor.start():]
    return output
