"""The course site: `make site` builds it with Sphinx, MyST-NB and sphinx-book-theme into site/.

The pages are the student notebooks (copied from notebooks/ into book/notebooks/ at each build), executed
once through MyST-NB's jupyter-cache (.jupyter_cache/; a rebuild executes only the notebooks that changed)
and shown for reading by autograd_course.book. Everything a page needs ships with it, math included
(MathJax from sphinx-mathjax-offline), so the folder works offline, opened from disk or served as it is.
"""

import importlib
import os
from pathlib import Path

from autograd_course.notebook import COURSE_REPOSITORY

REPOSITORY = Path(__file__).resolve().parent.parent

project = "How PyTorch autograd really works"
author = "the course's authors"
copyright = "the course's authors, MIT License"
html_title = project

extensions = ["myst_nb", "autograd_course.book"]
root_doc = "index"
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
course_notebooks = "../notebooks"

# The notebooks' markdown: $...$ and $$...$$ math, and \begin{align} environments.
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3
# \texttt{out.requires\_grad} and \text{...} typeset as text with their escapes (MathJax's textmacros).
mathjax3_config = {"loader": {"load": ["[tex]/textmacros"]}, "tex": {"packages": {"[+]": ["textmacros"]}}}

# Executed once and cached: only a notebook whose code changed runs again. The exercises' stubs fail on
# purpose; their outputs are not shown (autograd_course.book).
nb_execution_mode = "cache"
nb_execution_cache_path = os.environ.get("SITE_CACHE", str(REPOSITORY / ".jupyter_cache"))
nb_execution_allow_errors = True
nb_execution_raise_on_error = False
nb_execution_in_temp = True
nb_execution_timeout = 300
nb_custom_formats = {".ipynb": ["autograd_course.book.read_for_readers", {}, False]}
nb_render_plugin = "course"
nb_merge_streams = True

html_theme = "sphinx_book_theme"
# MathJax from sphinx-mathjax-offline's copy, shipped as a static folder (the package's own extension does the
# same at the end of a build, but does not declare itself safe for Sphinx's parallel read).
MATHJAX = Path(importlib.import_module("sphinx-mathjax-offline").__file__).parent / "static"
mathjax_path = "mathjax/tex-chtml.js"
html_static_path = ["_static", str(MATHJAX)]
html_css_files = ["course.css"]
html_favicon = "_static/favicon.svg"
html_copy_source = True          # the download button offers the student notebook itself
html_last_updated_fmt = None
html_theme_options = {
    "repository_url": COURSE_REPOSITORY,
    "repository_branch": "main",
    "path_to_docs": "",          # book/notebooks/NN/NN.ipynb is notebooks/NN/NN.ipynb in the repository
    "use_repository_button": True,
    "use_download_button": True,
    "use_fullscreen_button": False,
    "launch_buttons": {"colab_url": "https://colab.research.google.com"},
    "home_page_in_toc": True,
    "show_toc_level": 2,
    "navigation_with_keys": True,
    # The search field stays in the sidebar; pydata-sphinx-theme 0.20 would repeat it in a bar of its own.
    "navbar_persistent": [],
}
# Light or dark as the reader's system prefers, until the reader picks one with the theme button.
html_context = {"default_mode": "auto"}

