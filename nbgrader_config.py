"""nbgrader configuration for the autograd course (instructor side)."""

import os

c = get_config()  # noqa: F821  (provided by nbgrader)

c.CourseDirectory.course_id = "autograd-course"
# solutions/<id>/<id>.ipynb -> notebooks/<id>/<id>.ipynb
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "notebooks"
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback"]
# nbgrader's exchange (release, fetch, submit, collect, feedback) in the course folder, which `make setup` and
# `make release` create: one machine needs no system folder. Students on a shared JupyterHub need one folder
# that every user can reach: set the root there (NBGRADER_EXCHANGE=/srv/nbgrader/exchange, say).
c.Exchange.root = os.environ.get("NBGRADER_EXCHANGE") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "exchange")

# Per-cell limit while grading; the slowest course cell takes a few seconds.
c.Execute.timeout = 60
# nbgrader stops a notebook when a cell's last output has not arrived 4 s after the cell's reply (nbclient's
# default): a grading machine under load can be that slow, and the student would lose the whole notebook.
c.Execute.iopub_timeout = 30

# A student who deletes a test cell gets it back, and scored, at grading time.
c.OverwriteCells.add_missing_cells = True

# The stub says what to do, also when a later cell that uses the exercise runs into it.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError(\"not done yet: replace this line with your code\")"}

# Feedback never shows hidden tests: their source is cleared and the error
# outputs of test cells are cut down to the message (a traceback quotes code).
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "nbgrader.preprocessors.ClearHiddenTests",
    "autograd_course.grading.feedback.ShortTestErrors",
    "autograd_course.grading.feedback.ReportCard",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]
# nbconvert's HTML exporter, with its templates compiled once and its accessibility pass (alt texts) done on
# the image tags alone: the same pages at a third of the cost, since `make grade` writes one per submission.
c.GenerateFeedback.exporter_class = "autograd_course.grading.feedback.FeedbackHTMLExporter"
# nbgrader's feedback page, opening with the report card: each exercise by its title, its points and what its test found.
from autograd_course.grading.feedback import TEMPLATE_DIRS  # noqa: E402

c.FeedbackHTMLExporter.template_name = "course_feedback"
c.FeedbackHTMLExporter.extra_template_basedirs = TEMPLATE_DIRS

# `make collect`: downloaded files are named <student_id>_<assignment>.ipynb.
c.ZipCollectApp.collector_plugin = "nbgrader.plugins.zipcollect.FileNameCollectorPlugin"
from autograd_course.grading.collect import NAMED_REGEXP  # noqa: E402  (one definition of the pattern)

c.FileNameCollectorPlugin.named_regexp = NAMED_REGEXP
