"""The feedback exporter: nbconvert's pages, made without parsing each page whole.

FeedbackHTMLExporter must write what nbconvert's HTMLExporter writes, up to how
BeautifulSoup serialises a page; the graded class's real pages are compared in
test_class_faults.py.
"""

import base64

import nbformat
import pytest
from bs4 import BeautifulSoup
from nbconvert.exporters import HTMLExporter
from traitlets.config import Config

from autograd_course.grading.feedback import MISSING_ALT, FeedbackHTMLExporter, accessible

# A 1x1 PNG: a plot's output, as a notebook stores it.
PIXEL = base64.b64encode(bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d4944415478da63f8ffff3f0005fe02fe"
    "a7d6a4e70000000049454e44ae426082")).decode()


def _notebook():
    """Code, a plot, HTML outputs with and without alt texts (one with '>' inside a quoted value), markdown."""
    v4 = nbformat.v4
    nb = v4.new_notebook(metadata={"language_info": {"name": "python", "pygments_lexer": "ipython3"}})
    nb.cells = [
        v4.new_markdown_cell("# Gradients\nA picture: ![loss curve](curve.png) and $\\nabla f$."),
        v4.new_code_cell("import torch\nx = torch.ones(3, requires_grad=True)\n(x ** 2).sum().backward()\nx.grad",
                         outputs=[v4.new_output("execute_result", {"text/plain": "tensor([2., 2., 2.])"},
                                                execution_count=1)]),
        v4.new_code_cell("plot()", outputs=[v4.new_output("display_data", {"image/png": PIXEL, "text/plain": "<Figure>"})]),
        v4.new_code_cell("show()", outputs=[v4.new_output("display_data", {"text/html": (
            '<div class="jp-OutputArea-output"><img src="a.png" alt="kept">'
            "<IMG SRC='b>c.png'/><img data-x=\"alt=no\" src=\"d.png\"></div>"), "text/plain": "html"})]),
        v4.new_code_cell("print('done')", outputs=[v4.new_output("stream", name="stdout", text="done\n")]),
    ]
    return nb


@pytest.mark.parametrize("template", ["classic", "lab"])
def test_pages_are_nbconverts_own(template):
    config = Config()
    config.HTMLExporter.template_name = template
    nb = _notebook()
    theirs, _ = HTMLExporter(config=config).from_notebook_node(nb)
    ours, _ = FeedbackHTMLExporter(config=config).from_notebook_node(nb)
    assert str(BeautifulSoup(ours, "html.parser")) == theirs
    assert ours.count(f'alt="{MISSING_ALT}"') == 3      # the plot, and the two HTML images without an alt text
    if template == "lab":
        assert 'tabindex="0"' in ours


def test_templates_compile_once_per_process():
    config = Config()
    config.HTMLExporter.template_name = "classic"
    FeedbackHTMLExporter(config=config).from_notebook_node(_notebook())
    again = FeedbackHTMLExporter(config=config)
    compiled = []
    original = again.environment.compile
    again.environment.compile = lambda *args, **kwargs: compiled.append(args) or original(*args, **kwargs)
    again.from_notebook_node(_notebook())
    assert not compiled


@pytest.mark.parametrize("html, expected", [
    ('<img src="a.png">', f'<img src="a.png" alt="{MISSING_ALT}">'),
    ('<img src="a.png" />', f'<img src="a.png" alt="{MISSING_ALT}"/>'),
    ("<IMG SRC='x>y.png'>", f"<IMG SRC='x>y.png' alt=\"{MISSING_ALT}\">"),
    ('<img alt="" src="a.png">', '<img alt="" src="a.png">'),
    ('<img ALT=plot src="a.png">', '<img ALT=plot src="a.png">'),
    ('<img title="alt=1" src="a.png">', f'<img title="alt=1" src="a.png" alt="{MISSING_ALT}">'),
    ('<imgx src="a.png">', '<imgx src="a.png">'),
    ('<div class="jp-Cell-inputWrapper">', '<div class="jp-Cell-inputWrapper">'),   # not a lab page
    ('<body class="jp-Notebook"><div class="jp-Cell-inputWrapper"><div class="jp-OutputArea-output x" tabindex="-1">',
     '<body class="jp-Notebook"><div class="jp-Cell-inputWrapper" tabindex="0"><div class="jp-OutputArea-output x" '
     'tabindex="-1">'),
    # A tag left open ends the pass; what follows is kept as it is.
    ('<img src="a.png"><img "open <img src="b.png">', f'<img src="a.png" alt="{MISSING_ALT}"><img "open <img src="b.png">'),
])
def test_accessibility_changes_touch_only_the_tags_nbconvert_changes(html, expected):
    assert accessible(html) == expected


def test_a_page_full_of_open_tags_is_read_once():
    """A student's HTML output is part of the page. Rescanning the rest of the page from every tag left open
    would take hours on a megabyte of them (nbconvert's own parser does); one pass takes a fraction of a second.
    The alarm only guards against a hang."""
    import signal

    def hang(signum, frame):
        raise TimeoutError("the accessibility pass rescans the page")

    page = '<img src="a.png">' + "<img a" * 200_000      # never closed: every later tag would scan to the end
    previous = signal.signal(signal.SIGALRM, hang)
    signal.alarm(60)
    try:
        changed = accessible(page)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert changed == page.replace('<img src="a.png">', f'<img src="a.png" alt="{MISSING_ALT}">', 1)
