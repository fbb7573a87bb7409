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
