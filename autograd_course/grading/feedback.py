"""Feedback: a report card first, never a hidden test (test cells keep only the checks' messages), cheap to render."""

import functools
import html
import os
import re
from pathlib import Path

import jinja2
from nbconvert.exporters import HTMLExporter, TemplateExporter
from nbconvert.exporters.html import Highlight2HTML, WidgetsDataTypeFilter
from nbgrader.preprocessors import NbGraderPreprocessor
from nbgrader.utils import is_grade
from traitlets import HasTraits, Unicode, default

from .course import exercises
from .results import message_and_kind, verdict_message

TRACEBACK = "Traceback (most recent call last)"


class ShortTestErrors(NbGraderPreprocessor):
    """Cut the outputs of test cells down to what cannot quote test code.

    A traceback quotes the failing line, which may be a hidden test, so an error
    keeps only its last line (the checks' messages are written for students).
    Tracebacks also reach stderr when a submission breaks IPython's formatter,
    so stderr is dropped, and so is any stdout that carries a traceback.
    """

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code" and is_grade(cell):
            kept = []
            for output in cell.get("outputs", []):
                if output.output_type == "error":
                    output.traceback = [f"{output.ename}: {output.evalue}"]
                elif output.output_type == "stream" and (output.name == "stderr" or TRACEBACK in output.text):
                    continue
                kept.append(output)
            cell.outputs = kept
        return cell, resources


# The course's feedback template (report card first), then nbgrader's own, which it extends.
TEMPLATE_DIRS = [str(Path(__file__).parent / "templates"),
                 str(Path(__import__("nbgrader").__file__).parent / "server_extensions" / "formgrader" / "templates")]
COLAB_BADGE = re.compile(r"\[!\[Open In Colab\]\([^)]*\)\]\([^)]*\)\s*")


def _exercise_titles(root, assignment):
    """{test grade_id: exercise title} from the course's released notebook, else its solution."""
    for folder in ("notebooks", "solutions"):
        path = Path(root) / folder / assignment / f"{assignment}.ipynb"
        if path.is_file():
            return _titles_of(str(path), path.stat().st_mtime_ns)
    return {}


@functools.lru_cache(maxsize=64)
def _titles_of(path, mtime_ns):   # read once per version of the file
    import nbformat

    return {e.test: e.title for e in exercises(nbformat.read(path, as_version=4))}


class ReportCard(NbGraderPreprocessor):
    """The report card the feedback page opens with (``resources["report_card"]``): each exercise by its title,
    its points, and for one not at full points what its test said, linked to that test cell.

    Titles come from the course's own notebook, not from the submission, whose markdown the student may have
    edited. The setup cell and the Open in Colab badge, of no use on a page of results, are left out. Runs after
    GetGrades (the scores) and ShortTestErrors (the messages as the student may see them)."""

    course_root = Unicode("", help="the course folder (default: the current folder, as nbgrader's commands run)"
                          ).tag(config=True)

    def preprocess(self, nb, resources):
        titles = _exercise_titles(self.course_root or os.getcwd(), resources.get("nbgrader", {}).get("assignment", ""))
        card = []
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            if cell.cell_type == "markdown":
                cell.source = COLAB_BADGE.sub("", cell.source)
            if meta.get("comment"):   # student values may appear in a check's message: shown as text
                meta["comment"] = html.escape(message_and_kind(meta["comment"])[0], quote=False)
            if not (cell.cell_type == "code" and meta.get("grade") and not meta.get("solution")):
                continue
            score, points = float(meta.get("score") or 0), float(meta.get("points") or 0)
            errors = [out for out in cell.get("outputs", []) if out.get("output_type") == "error"]
            grade_id = meta.get("grade_id", "")
            card.append({"anchor": grade_id, "title": titles.get(grade_id, grade_id), "score": score, "points": points,
                         "lost": score < points,
                         "message": verdict_message(errors[0]) if errors and score < points else ""})
        nb.cells = [cell for cell in nb.cells if cell.metadata.get("nbgrader", {}).get("grade_id") != "setup"]
        resources["report_card"] = card
        return nb, resources


class _MemoryBytecodeCache(jinja2.BytecodeCache):
    """Compiled Jinja templates kept in this process, checked against their source's checksum by Jinja."""

    def __init__(self):
        self._code = {}

    def load_bytecode(self, bucket):
        if bucket.key in self._code:
            bucket.bytecode_from_string(self._code[bucket.key])

    def dump_bytecode(self, bucket):
        self._code[bucket.key] = bucket.bytecode_to_string()


_TEMPLATE_CODE = _MemoryBytecodeCache()
# Highlighted code kept per process, up to this many characters of source and HTML together.
HIGHLIGHT_CACHE_CHARS = 64 << 20
MISSING_ALT = "No description has been provided for this image"   # nbconvert's own words
FOCUSABLE = ("jp-Cell-inputWrapper", "jp-OutputArea-output")       # what nbconvert makes focusable, in lab pages
_TAG_START = re.compile(r"<(img|div)\b", re.IGNORECASE)
# The rest of a start tag: one character or one quoted value per step, so that a tag left open costs one scan.
_TAG_REST = re.compile(r"""((?:[^>"']|"[^"]*"|'[^']*')*)>""")
_ATTRIBUTE = re.compile(r"""([^\s/>"'=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+)))?""")
_LAB_BODY = re.compile(r"""\bclass=["'](?:[^"'>]*\s)?jp-Notebook[\s"']""")
_FILES_URL = re.compile(r"""(src|href)=(['"]?)/?files/""")
# nbconvert's markdown link pattern, with caption and location that stop at a bracket: its ``.*?`` scans the rest
# of the line from every "[", in time quadratic in a line of brackets.
_FILES_LINK = re.compile(r"(!?)\[([^\[\]\n]*)\]\(/?files/([^()\[\]\n]*)\)")


def strip_files_prefix(html):
    """nbconvert's ``strip_files_prefix`` filter (links to ``files/…`` made relative), in time linear in the text."""
    return _FILES_LINK.sub(r"\1[\2](\3)", _FILES_URL.sub(r"\1=\2", html))


def _changed_tag(name, attributes, lab):
    found = {}
    for attribute in _ATTRIBUTE.finditer(attributes):
        found.setdefault(attribute.group(1).lower(), next((v for v in attribute.groups()[1:] if v is not None), ""))
    if name.lower() == "img" and "alt" not in found:
        added = f' alt="{MISSING_ALT}"'
    elif (name.lower() == "div" and lab and "tabindex" not in found
          and any(css in found.get("class", "").split() for css in FOCUSABLE)):
        added = ' tabindex="0"'
    else:
        return f"<{name}{attributes}>"
    body = attributes.rstrip()
    closing = "/" if body.endswith("/") else ""
    return f"<{name}{body.removesuffix(closing).rstrip()}{added}{closing}>"


def accessible(html):
    """nbconvert's accessibility changes to an HTML page: an alt text for every image that has none and, in a
    lab-template page, focusable cell inputs and outputs. New attributes go last, as BeautifulSoup puts them.

    One pass from start to end, in time linear in the page: a student's HTML output is part of the page. A tag
    left open (no closing ``>``) ends the pass and the rest of the page is kept as it is, where nbconvert's
    parser would scan all that follows again from every later tag, in time quadratic in the page.
    """
    body = html.find("<body")
    lab = body >= 0 and _LAB_BODY.search(html[body:html.find(">", body) + 1]) is not None
    pieces, position = [], 0
    while (tag := _TAG_START.search(html, position)) is not None:
        rest = _TAG_REST.match(html, tag.end())
        if rest is None:
            break
        pieces += [html[position:tag.start()], _changed_tag(tag.group(1), rest.group(1), lab)]
        position = rest.end()
    pieces.append(html[position:])
    return "".join(pieces)


class _RememberedHighlight:
    """nbconvert's highlighting filter, with what it returned kept in this process.

    Most code cells of a notebook are the course's own, the same in every student's page, and highlighting
    them was half the time of a page. The answer depends on the source, the language and a cell's
    ``magics_language`` alone (nbconvert's ``_pygments_highlight``)."""

    _answers, _chars = {}, 0

    def __init__(self, highlight):
        self.highlight = highlight

    def __call__(self, source, language=None, metadata=None):
        key = (getattr(self.highlight, "pygments_lexer", None), language,
               (metadata or {}).get("magics_language"), source)
        answer = self._answers.get(key)
        if answer is None:
            answer = self.highlight(source, language=language, metadata=metadata)
            if _RememberedHighlight._chars + len(source) + len(answer) <= HIGHLIGHT_CACHE_CHARS:
                self._answers[key] = answer
                _RememberedHighlight._chars += len(source) + len(answer)
        return answer


class TemplateFoldersSearched(HasTraits):
    """An exporter that also searches its template folders themselves, so that the course's feedback template
    extends nbgrader's by its path ('feedback/index.html.j2'), where its own index.html.j2 shadows the short name."""

    @default("template_paths")
    def _template_paths(self, prune=True, root_dirs=None):
        return super()._template_paths(prune, root_dirs) + list(self.extra_template_basedirs)


class FeedbackHTMLExporter(TemplateFoldersSearched, HTMLExporter):
    """nbconvert's HTMLExporter made cheap enough to run once per graded submission, on any student's content.

    Two costs are paid per page by the stock exporter: its Jinja templates compile
    again in every new exporter (nbgrader makes one per submission), and its
    accessibility pass parses and re-serialises the whole page with BeautifulSoup,
    thousands of highlighted-code spans included. Here the templates compile once per
    process, and the same accessibility changes are made to the image and div tags alone.
    Highlighted code is kept per process (:class:`_RememberedHighlight`), and the
    ``strip_files_prefix`` filter is replaced by one in linear time.
    """

    def _create_environment(self):
        environment = super()._create_environment()
        environment.bytecode_cache = _TEMPLATE_CODE
        return environment

    def from_notebook_node(self, nb, resources=None, **kw):
        # HTMLExporter.from_notebook_node's own steps, up to its BeautifulSoup pass.
        language = nb.metadata.get("language_info", {})
        lexer = language.get("pygments_lexer", language.get("name", None))
        highlight_code = self.filters.get("highlight_code",
                                          _RememberedHighlight(Highlight2HTML(pygments_lexer=lexer, parent=self)))
        resources = self._init_resources(resources)
        filter_data_type = WidgetsDataTypeFilter(notebook_metadata=self._nb_metadata, parent=self,
                                                 resources=resources)
        self.register_filter("highlight_code", highlight_code)
        self.register_filter("filter_data_type", filter_data_type)
        self.register_filter("strip_files_prefix", strip_files_prefix)
        html, resources = TemplateExporter.from_notebook_node(self, nb, resources, **kw)
        return accessible(html), resources
