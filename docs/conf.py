"""Sphinx configuration: MyST Markdown pages, the furo theme, the API from docstrings.

Build with ``nox -s docs`` (warnings are errors). Pages are found by the globbed
toctrees of ``index.md``: a new ``.md`` file in ``tutorial/``, ``how-to/``,
``reference/`` or ``explanation/`` is in the site without editing this file.
"""

from __future__ import annotations

import sls_access

project = "sls-access"
author = "sls-access developers"
copyright = "sls-access developers"
release = sls_access.__version__
version = release

extensions = ["myst_parser", "sphinx.ext.autodoc"]
source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "examples", "**/README.md"]

myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

autodoc_member_order = "bysource"
autodoc_typehints = "signature"


html_theme = "furo"
html_title = f"sls-access {release}"
