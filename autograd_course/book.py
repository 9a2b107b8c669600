"""What the course site (`make site`, Sphinx + MyST-NB + sphinx-book-theme, configured in book/conf.py) needs
that the book tooling cannot know: which cells of a student notebook are the setup, the exercises and their
tests (nbgrader's cell metadata says so), and what each picture shows.

- ``read_for_readers``: MyST-NB's reader for the student notebooks. It tags the cells so that the page is
  for reading: the setup cell (install code) removed, each exercise's stub shown without its
  ``NotImplementedError``, its visible tests collapsed and without output; the Colab badge (a remote
  picture) replaced by a note pointing at the launch button; each plot's caption made its image's alt text;
  display math that continues a paragraph set apart, as MyST needs it.
- ``ReaderRenderer``: MyST-NB's renderer with a graph's description (the aria-label that ``draw_graph``
  writes into the SVG) as the ``<img>``'s alt text, an error shown as its one-line message, and warnings
  without this machine's install paths.
- A transform that marks each exercise's section as a "Your turn" box.
- ``copy_notebooks``: the published notebooks/ copied into the Sphinx source folder, unchanged files
  left alone (Sphinx re-reads a page, and jupyter-cache re-executes it, only when it changed); and
  ``create_execution_cache``, which makes jupyter-cache's database before the parallel readers start.
"""

import filecmp
import html
import re
import shutil
import sysconfig
from pathlib import Path

import nbformat
from docutils import nodes
from myst_nb.core.render import NbElementRenderer
from sphinx.transforms import SphinxTransform

COLAB_BADGE = re.compile(r"\[!\[[^\]]*\]\(https://colab\.research\.google\.com/assets/colab-badge\.svg\)\]\([^)]+\)")
LAUNCH_NOTE = ("```{note}\nThis page is for reading: the worked examples have run, and the exercises are left for "
               "you. To do them, open the notebook in Colab (the rocket button at the top of the page) or "
               "download it (the download button) and open it in JupyterLab.\n```")
FIGURE_CAPTION = re.compile(r"^\*(Figure[^*]+)\*", re.S)
NEEDS_EXERCISE = ("This cell uses your answer to an exercise above: run it in the notebook once you have done "
                  "that exercise.")
# Display math on its own lines that continues a paragraph ("…the labels:\n   $$G = …$$"): Jupyter typesets it,
# MyST reads a $$ block only as a paragraph of its own.
DISPLAY_MATH = re.compile(r"(?<=\n)([ \t]*)\$\$((?:(?!\$\$).)+)\$\$[ \t]*(?=\n|$)", re.S)
ARIA_LABEL = re.compile(r'<svg\b[^>]*\baria-label="([^"]*)"')


def _tag(cell, *tags):
    cell.metadata["tags"] = list(dict.fromkeys([*cell.metadata.get("tags", []), *tags]))


TEX_SYMBOLS = {r"\pm": "±", r"\mp": "∓", r"\approx": "≈", r"\times": "×", r"\cdot": "·", r"\le": "≤",
               r"\ge": "≥", r"\to": "→", r"\infty": "∞", r"\,": " "}
TEX_COMMAND = re.compile(r"\\[A-Za-z]+|\\,")


def _plain(markdown):
    """Markdown of a caption as plain text for an alt attribute ($\\mp 0.66$ as ∓ 0.66, \\tanh as tanh)."""
    text = TEX_COMMAND.sub(lambda m: TEX_SYMBOLS.get(m.group(0), m.group(0)[1:]), markdown)
    return re.sub(r"\s+", " ", re.sub(r"[`*_$]", "", text)).strip()


def for_readers(nb):
    """The student notebook ``nb`` tagged for the page (changed in place and returned)."""
    for index, cell in enumerate(nb.cells):
        grading = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "markdown":
            cell.source = COLAB_BADGE.sub(LAUNCH_NOTE, cell.source)
            cell.source = DISPLAY_MATH.sub(lambda m: f"\n{m.group(1)}$${m.group(2)}$$\n", cell.source)
            continue
        if grading.get("grade_id") == "setup":
            _tag(cell, "remove-cell")
        elif grading.get("solution"):
            _tag(cell, "remove-output", "course-exercise")
        elif grading.get("grade"):
            _tag(cell, "hide-input", "remove-output", "course-visible-tests")
            cell.metadata.setdefault("mystnb", {})["code_prompt_show"] = "Show the visible tests"
            cell.metadata["mystnb"]["code_prompt_hide"] = "Hide the visible tests"
        following = nb.cells[index + 1] if index + 1 < len(nb.cells) else None
        caption = FIGURE_CAPTION.match(following.source) if following and following.cell_type == "markdown" else None
        if caption:
            cell.metadata.setdefault("mystnb", {}).setdefault("image", {})["alt"] = _plain(caption.group(1))
    return nb


def read_for_readers(text):
    """MyST-NB's custom reader (``nb_custom_formats``) for the course's .ipynb files."""
    return for_readers(nbformat.reads(text, as_version=4))


class ReaderRenderer(NbElementRenderer):
    """MyST-NB's renderer for the site's readers (entry point ``myst_nb.renderers: course``)."""

    _install_paths = (sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"])

    def render_image(self, data):
        images = super().render_image(data)
        if data.mime_type == "image/svg+xml":
            label = ARIA_LABEL.search(data.content if isinstance(data.content, str) else "")
            if label:
                for image in images:
                    image["alt"] = html.unescape(label.group(1))
        return images

    def render_error(self, output, cell_metadata, cell_index, source_line):
        if output["ename"] == "NotImplementedError":
            # A worked cell that uses an exercise's answer: on a page for reading it waits for the reader.
            note = nodes.paragraph("", NEEDS_EXERCISE)
            return [nodes.container("", note, classes=["output", "needs-exercise"])]
        # A reader needs what went wrong, not the frames of the machine that built the page.
        short = nbformat.from_dict({**output, "traceback": [f"{output['ename']}: {output['evalue']}"]})
        return super().render_error(short, cell_metadata, cell_index, source_line)

    def _without_install_paths(self, output):
        text = output["text"]
        for path in self._install_paths:
            text = text.replace(path, "site-packages")
        return nbformat.from_dict({**output, "text": text})

    def render_stdout(self, output, cell_metadata, cell_index, source_line):
        return super().render_stdout(self._without_install_paths(output), cell_metadata, cell_index, source_line)

    def render_stderr(self, output, cell_metadata, cell_index, source_line):
        return super().render_stderr(self._without_install_paths(output), cell_metadata, cell_index, source_line)


class YourTurnBoxes(SphinxTransform):
    """Each section that holds an exercise's stub becomes a "Your turn" box (styled in book/_static)."""

    default_priority = 800

    def apply(self):
        for cell in list(self.document.findall(nodes.container)):
            if "tag_course-exercise" not in cell.get("classes", []):
                continue
            section = cell.parent
            while section is not None and not isinstance(section, nodes.section):
                section = section.parent
            if section is None or "your-turn" in section["classes"]:
                continue
            section["classes"].append("your-turn")
            label = nodes.paragraph("", "Your turn", classes=["your-turn-label"])
            section.insert(1, label)


def copy_notebooks(app, config):
    """notebooks/NN/NN.ipynb into <srcdir>/notebooks/, where Sphinx reads them."""
    source = (Path(app.confdir) / config.course_notebooks).resolve()
    target = Path(app.srcdir) / "notebooks"
    wanted = {path.relative_to(source) for path in source.glob("[0-9]*/[0-9]*.ipynb")}
    if not wanted:
        raise RuntimeError(f"no notebooks in {source}: run `make release` first")
    for stale in [p for p in target.glob("*/*.ipynb") if p.relative_to(target) not in wanted]:
        stale.unlink()
    for relative in sorted(wanted):
        destination = target / relative
        if not (destination.exists() and filecmp.cmp(source / relative, destination, shallow=False)):
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source / relative, destination)


def copy_sources(repository, target):
    """The book's sources (book/, the published notebooks/, and the README and assets/ that its front page
    includes) copied into ``target``, to build there: ``make site BOOK=<target>/book`` (the benchmark, the tests)."""
    repository, target = Path(repository), Path(target)
    shutil.copytree(repository / "book", target / "book", ignore=shutil.ignore_patterns("notebooks", "_build"))
    shutil.copytree(repository / "notebooks", target / "notebooks")
    shutil.copytree(repository / "assets", target / "assets")
    shutil.copy(repository / "README.md", target / "README.md")
    return target / "book"


def create_execution_cache(app, config):
    """jupyter-cache's database made before Sphinx's parallel readers start: each would create it on first use,
    and two doing so at once fail ("table settings already exists")."""
    if config.nb_execution_mode == "cache":
        from jupyter_cache import get_cache

        get_cache(config.nb_execution_cache_path).db  # noqa: B018 (the property creates the database)


def setup(app):
    app.add_config_value("course_notebooks", "../notebooks", "env")
    app.connect("config-inited", copy_notebooks)
    app.connect("config-inited", create_execution_cache)
    app.add_transform(YourTurnBoxes)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
