"""Sphinx configuration of the course website (built by docs/site/build.py, `make site`).

The source folder is staged by build.py (GENLAB_SITE_STAGE); nothing here reaches the
network: notebooks arrive executed (nb_execution_mode "off"), MathJax is a local file, and
the theme's assets are bundled with it.
"""

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import pages  # noqa: E402

STAGE = Path(os.environ.get("GENLAB_SITE_STAGE", HERE.parents[1] / ".cache" / "site" / "src"))
REPO = pages.repository()

project = "genlab"
author = "the genlab authors"
copyright = "the genlab authors, MIT license"
extensions = ["myst_nb"]
exclude_patterns = ["_extra", "_static_extra", "**.ipynb_checkpoints"]

# Notebooks come executed by build.py (cached there); MyST-NB only renders them.
nb_execution_mode = "off"
nb_merge_streams = True
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3
suppress_warnings = ["myst.header", "mystnb.unknown_mime_type", "misc.highlighting_failure"]

# MathJax from sphinx-mathjax-offline, copied into _static by build.py: no CDN.
mathjax_path = f"mathjax/{pages.MATHJAX_FILE}"

html_theme = "sphinx_book_theme"
html_title = "genlab: training and optimizing generative models"
html_static_path = [str(HERE / "static"), str(STAGE / "_static_extra")]
html_extra_path = [str(STAGE / "_extra")]
html_css_files = ["genlab-site.css"]
html_favicon = str(HERE / "static" / "favicon.svg")
# an explicit colour mode: the theme logs a console error when it has to guess one
html_context = {"default_mode": "light"}
html_js_files = ["widget_preview.js"]
html_copy_source = False
html_show_sourcelink = False
# Search results without page excerpts: the excerpts are fetched, which browsers refuse for
# file:// pages; without them search works from disk too (the index is a local script).
html_show_search_summary = False
html_last_updated_fmt = None
html_theme_options = {
    "repository_url": REPO.url,
    "repository_branch": "main",
    "path_to_docs": "",
    "use_repository_button": True,
    "use_download_button": False,
    "launch_buttons": {
        "binderhub_url": "https://mybinder.org",
        "colab_url": "https://colab.research.google.com",
        "notebook_interface": "jupyterlab",
    },
    "show_toc_level": 2,
    "home_page_in_toc": True,
}
