"""`make site`: the course as static HTML pages for readers who do not install anything.

Each student notebook is executed (the worked examples draw their graphs and plots; the exercises stay
exercises, so their stubs fail, and each error is cut down to its one-line message) and converted with
nbconvert's lab template; an index page carries the README's introduction and notebook table, and every page
links to the previous and next notebook and back to the index. Graphs (SVG) and plots (PNG) are embedded in
the pages, so the folder can be served as it is, or opened from disk.

usage: python -m autograd_course.site [--out site] [--jobs N]
"""

import argparse
import html
import os
import re
import shutil
import sys
import sysconfig
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat

REPOSITORY = Path(__file__).resolve().parent.parent
COURSE_TITLE_LINE = re.compile(r"^# (.+)$", re.M)
# The Colab badge is a remote picture: on the site it becomes a plain link, so every page shows all its
# images offline.
COLAB_BADGE = re.compile(r"\[!\[[^\]]*\]\(https://colab\.research\.google\.com/assets/colab-badge\.svg\)\]\(([^)]+)\)")
TABLE_ROW = re.compile(r"^\| (\d\d) \| ([^|]+?) \|", re.M)

STYLE = """
nav.course-nav { display: flex; justify-content: space-between; gap: 1em; flex-wrap: wrap; max-width: 1000px;
  margin: 0 auto; padding: 0.8em 1em; font: 15px/1.4 system-ui, sans-serif; border-bottom: 1px solid #ddd; }
nav.course-nav.bottom { border-bottom: none; border-top: 1px solid #ddd; margin-top: 2em; }
nav.course-nav a { color: #1a5fb4; text-decoration: none; }
nav.course-nav a:hover { text-decoration: underline; }
nav.course-nav .disabled { color: #999; }
math { font-family: "Latin Modern Math", "STIX Two Math", "Cambria Math", math; font-size: 1.1em; }
p.course-note { max-width: 1000px; margin: 0.8em auto; padding: 0.6em 1em; background: #f3f6fb;
  border-left: 4px solid #1a5fb4; font: 14px/1.4 system-ui, sans-serif; }
"""

# nbconvert's lab template without its scripts (require.js, mermaid, MathJax: the math is MathML, made when
# the site is built), with the navigation above and below the notebook.
TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{% block extra_css %}<style type="text/css">""" + STYLE + """</style>{% endblock extra_css %}
{%- block body_header -%}{{ super() }}{{ resources.course_nav_top }}{%- endblock body_header -%}
{% block body_footer %}{{ resources.course_nav_bottom }}{{ super() }}{% endblock body_footer %}
"""

NOTE = ("This is the read-only version of the notebook: the worked examples have run and show their output. "
        "The exercises are left for you, so their cells stop at <code>NotImplementedError</code>; "
        "to do them, open the notebook in Colab or in JupyterLab (see the course README).")

INDEX = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>{title}</title>
<style type="text/css">
body {{ font: 16px/1.5 system-ui, sans-serif; color: #222; margin: 0; }}
main {{ max-width: 1000px; margin: 0 auto; padding: 0 1em 2em; }}
img {{ max-width: 100%; }}
table {{ border-collapse: collapse; margin: 1em 0; }}
th, td {{ border: 1px solid #ccc; padding: 0.4em 0.7em; text-align: left; vertical-align: top; }}
code {{ background: #f3f3f3; padding: 0 0.2em; border-radius: 3px; }}
{style}
</style>
</head>
<body>
<main>
{body}
<p>{about}</p>
</main>
</body>
</html>
"""


def notebook_ids(notebooks):
    return sorted(p.name for p in Path(notebooks).iterdir() if p.is_dir() and p.name[:2].isdigit())


def notebook_title(nb):
    """The notebook's heading, e.g. '01 · Computational graphs'."""
    match = COURSE_TITLE_LINE.search(nb.cells[0].source)
    return match.group(1).strip() if match else "notebook"


def execute(nb, workdir, timeout=120):
    """Run every cell, as a reader who runs the notebook top to bottom would; an exercise's failure does
    not stop the cells after it."""
    from jupyter_client import KernelManager
    from nbclient import NotebookClient

    # Sockets in the work folder (ipc) rather than on TCP: private to this machine's user, and the
    # kernel has no unencrypted-TCP warning to print.
    manager = KernelManager(kernel_name="python3", transport="ipc", ip=str(Path(workdir) / "kernel"))
    try:
        NotebookClient(nb, km=manager, timeout=timeout, allow_errors=True, shutdown_kernel="immediate",
                       resources={"metadata": {"path": str(workdir)}}).execute()
    finally:
        if manager.has_kernel:
            manager.shutdown_kernel(now=True)
    return nb


def for_readers(nb):
    """The executed notebook as the site shows it: errors as their one-line message (a stub's
    'NotImplementedError: not done yet: ...', a visible test's diagnosis), the Colab badge as a link,
    and warnings without this machine's install paths."""
    packages = sysconfig.get_paths()["purelib"]
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = COLAB_BADGE.sub(r"[Open in Colab](\1)", cell.source)
        elif cell.cell_type == "code":
            for output in cell.outputs:
                if output.output_type == "error":
                    output.traceback = [f"\x1b[0;31m{output.ename}\x1b[0m: {output.evalue}"]
                elif output.output_type == "stream":
                    output.text = output.text.replace(packages, "site-packages")
    return nb


def navigation(pages, index, where):
    """Previous / index / next links for page ``index`` of ``pages`` [(file, title)]."""
    def link(position, arrow_before, arrow_after):
        if 0 <= position < len(pages):
            file, title = pages[position]
            rel = "prev" if position < index else "next"
            return f'<a href="{file}" rel="{rel}">{arrow_before}{html.escape(title)}{arrow_after}</a>'
        return '<span class="disabled"></span>'

    return (f'<nav class="course-nav {where}">{link(index - 1, "&larr; ", "")}'
            f'<a href="index.html">Course index</a>{link(index + 1, "", " &rarr;")}</nav>')


def mathml(tex, display):
    """TeX as MathML, which browsers typeset themselves: the pages need no script and no network."""
    from latex2mathml.converter import convert

    return convert(tex, display=display)


def course_exporter():
    """nbconvert's HTML exporter with the site's template, writing the markdown cells' math as MathML."""
    from jinja2 import DictLoader, pass_context
    from nbconvert import HTMLExporter
    from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath

    class MathMLRenderer(IPythonRenderer):
        def block_math(self, body):
            return mathml(body, "block")

        def inline_math(self, body):
            return mathml(body, "inline")

        def latex_environment(self, name, body):
            return mathml(f"\\begin{{{name}}}{body}\\end{{{name}}}", "block")

    class CourseExporter(HTMLExporter):
        @pass_context
        def markdown2html(self, context, source):
            cell = context.get("cell", {})
            renderer = MathMLRenderer(escape=False, attachments=cell.get("attachments", {}), embed_images=True,
                                      anchor_link_text=self.anchor_link_text, **self.lexer_options)
            return MarkdownWithMath(renderer=renderer).render(source)

    return CourseExporter(template_name="lab", extra_loaders=[DictLoader({"course-site.html.j2": TEMPLATE})],
                          template_file="course-site.html.j2")


def render_notebook(nb, pages, index):
    exporter = course_exporter()
    resources = {"metadata": {"name": pages[index][1]},
                 "course_nav_top": navigation(pages, index, "top") + f'<p class="course-note">{NOTE}</p>',
                 "course_nav_bottom": navigation(pages, index, "bottom")}
    body, _ = exporter.from_notebook_node(nb, resources=resources)
    return body


def readme_intro(readme, pages_by_number):
    """The README up to its first section (title, introduction, picture, notebook table) in HTML, each
    notebook's title linked to its page."""
    from nbconvert.filters import markdown2html

    text = Path(readme).read_text()
    intro = text.split("\n## ", 1)[0]
    numbers = TABLE_ROW.findall(intro)
    if sorted(number for number, _ in numbers) != sorted(pages_by_number):
        raise SystemExit(f"the README's notebook table lists {[n for n, _ in numbers]}, "
                         f"the course has {sorted(pages_by_number)}")
    intro = TABLE_ROW.sub(lambda m: f"| {m.group(1)} | [{m.group(2)}]({pages_by_number[m.group(1)]}) |", intro)
    title = COURSE_TITLE_LINE.search(intro).group(1).strip()
    return title, markdown2html(intro)


def build(out, notebooks=REPOSITORY / "notebooks", readme=REPOSITORY / "README.md", jobs=None, log=print):
    """Write the site to ``out``; return {file: title} of the pages written."""
    out, notebooks = Path(out), Path(notebooks)
    ids = notebook_ids(notebooks)
    sources = {nb_id: nbformat.read(str(notebooks / nb_id / f"{nb_id}.ipynb"), as_version=4) for nb_id in ids}
    pages = [(f"{nb_id}.html", notebook_title(sources[nb_id])) for nb_id in ids]

    with tempfile.TemporaryDirectory(prefix="course-site-") as scratch:
        def run(nb_id):
            started = time.perf_counter()
            workdir = Path(scratch) / nb_id   # files a notebook writes land here, not in the repository
            workdir.mkdir()
            execute(sources[nb_id], workdir)
            log(f"{nb_id}: executed in {time.perf_counter() - started:.1f} s")

        jobs = jobs or min(len(ids), os.cpu_count() or 1)
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            list(pool.map(run, ids))

    if out.exists():
        shutil.rmtree(out)
    (out / "assets").mkdir(parents=True)
    for index, nb_id in enumerate(ids):
        (out / pages[index][0]).write_text(render_notebook(for_readers(sources[nb_id]), pages, index))

    title, intro = readme_intro(readme, {file[:2]: file for file, _ in pages})
    for picture in re.findall(r'src="(assets/[^"]+)"', intro):
        shutil.copy(Path(readme).parent / picture, out / picture)
    about = ('Each page is a notebook of the course with its worked examples run; the exercises are left '
             f'for you. Start with <a href="{pages[0][0]}">{html.escape(pages[0][1])}</a>.')
    (out / "index.html").write_text(INDEX.format(title=html.escape(title), style=STYLE, body=intro, about=about))
    log(f"site: {out / 'index.html'} and {len(pages)} notebook pages")
    return dict([("index.html", title)] + pages)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="site", help="output folder, replaced (default: site)")
    parser.add_argument("--jobs", type=int, default=None, help="notebooks executed at once (default: one per core)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    build(args.out, jobs=args.jobs)
    print(f"built in {time.perf_counter() - started:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
