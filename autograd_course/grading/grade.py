"""Grade a whole class: every submission under submitted/, on local workers or a Dask cluster.

usage: python -m autograd_course.grading.grade [--course DIR] [--jobs N] [--scheduler tcp://HOST:8786]
                                              [--regrade] [--no-sandbox] [ASSIGNMENT ...]

One coordinator, many workers.  The coordinator is the only writer of the
gradebook (SQLite by default, or whatever ``c.CourseDirectory.db_url`` names,
e.g. PostgreSQL), of autograded/, feedback/, grades.csv, grades-by-exercise.csv
and grading-summary.txt (written from the gradebook: results.py).  For each submission it
1. reads the folder without following links or opening devices (submission.py),
   and has a child process with time and memory limits (contained.py) check the
   notebook (UTF-8 JSON of bounded depth, a valid notebook with nbgrader's
   metadata) and read the student's code for suspicious constructs (scan.py);
2. runs nbgrader's own sanitizing preprocessors against the gradebook: outputs
   cleared, test cells and locked cells restored from the gradebook, missing
   ones added back; then it puts the course's setup cell first;
3. hands the prepared notebook and the tests' sources to a worker (execute.py),
   which runs it in a fresh, sandboxed kernel while its judge (judge.py) decides
   each test cell, and returns the executed notebook with the judge's verdicts
   as the test cells' outputs;
4. runs nbgrader's autograding preprocessors on the result (scores into the
   gradebook, late penalties) and writes the autograded notebook;
5. has the child process write that student's feedback with nbgrader's
   GenerateFeedback, while the workers go on with the rest of the class.
Workers are long-lived processes, one per core (a ``distributed.LocalCluster``,
started in the background while the first submissions are prepared),
or the workers of an existing Dask cluster (``--scheduler``): no nbgrader
start-up per notebook, and a worker that dies is replaced; its submission is
retried on another worker and reported if it keeps killing them.
At the end, the command writes the class report (report.py) from the gradebook.

A submission that cannot be graded is reported by name and reason and never
appears in grades.csv as a silent 0; one broken submission never stops the
class.  Unchanged submissions graded before are not graded again (``--regrade``
forces it); manual grades live in the gradebook and are kept.  Without a working
sandbox the command refuses, unless ``--no-sandbox`` is given (then the summary
says so at the top).  Exit status: 0 when every submission was graded, 1 otherwise.
"""

import argparse
import os
import shutil
import sys
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

# nbformat and nbgrader take a second to load: they load where they are used, so that a local cluster is
# already starting meanwhile.
from . import sandbox
from .course import assignments, exercises, with_tools_on_path
from .execute import DEADLINE_SECONDS, Job, run_job
from .contained import Contained, StepFailed
from .results import file_for_manual_grading, read_status, store_in_gradebook, write_reports
from .submission import read_folder, write_files



class GradingRefused(SystemExit):
    """Grading cannot start (no sandbox, a course folder the sandbox would expose)."""


@dataclass
class Outcome:
    assignment: str
    student: str
    status: str = "graded"          # "graded" or "not graded"
    reason: str = ""
    notes: list = field(default_factory=list)
    score: float = None
    max_score: float = None
    seconds: float = 0.0
    regraded: bool = True
    worker_seconds: float = 0.0     # the worker's time on it (kernel and judge)
    judge_seconds: float = 0.0      # the judge's own CPU time on its tests


@dataclass(frozen=True)
class GradebookCell:
    name: str
    cell_type: str
    source: str
    locked: bool
    checksum: str
    points: float = None         # a test cell's points; None for other cells
    solution: bool = False


@dataclass
class Course:
    """A course folder with its nbgrader configuration loaded.

    What the gradebook says of an assignment's cells, and nbgrader's preprocessors, are read once per Course and
    kept: grading loads a Course once per run, and they are the same for every submission of that run."""
    root: Path
    config: object
    coursedir: object
    _kept: dict = field(default_factory=dict, repr=False)

    @property
    def db_url(self):
        return self.coursedir.db_url

    def gradebook(self):
        from nbgrader.api import Gradebook

        with_tools_on_path()
        return Gradebook(self.db_url, self.coursedir.course_id)

    def folder(self, kind, student, assignment):
        return self.root / kind / student / assignment

    def execute_config(self):
        from nbgrader.preprocessors import Execute

        return {name: getattr(Execute(config=self.config), name)
                for name in ("timeout", "interrupt_on_timeout", "iopub_timeout", "raise_on_iopub_timeout",
                             "startup_timeout", "extra_arguments", "execute_retries", "error_on_timeout")}

    def cells(self, assignment):
        """{grade_id: GradebookCell} of the assignment's notebook, as the gradebook holds them."""
        key = ("cells", assignment)
        if key not in self._kept:
            with self.gradebook() as gradebook:
                notebook = gradebook.find_notebook(assignment, assignment)
                points = {cell.name: cell.max_score for cell in notebook.grade_cells}
                solutions = {cell.name for cell in notebook.solution_cells}
                self._kept[key] = {cell.name: GradebookCell(cell.name, cell.cell_type, cell.source, cell.locked,
                                                            cell.checksum, points.get(cell.name),
                                                            cell.name in solutions)
                                   for cell in notebook.source_cells}
        return self._kept[key]

    def preprocessors(self, stage):
        """nbgrader's own preprocessors for a stage of autograde ('sanitize' or 'autograde'), without Execute."""
        key = ("preprocessors", stage)
        if key not in self._kept:
            from nbgrader.converters import Autograde
            from nbgrader.preprocessors import Execute

            converter = Autograde(coursedir=self.coursedir, config=self.config)
            classes = converter.sanitize_preprocessors if stage == "sanitize" else converter.autograde_preprocessors
            self._kept[key] = [cls(config=self.config) for cls in classes if not issubclass(cls, Execute)]
        return self._kept[key]

    def exercises(self, assignment):
        """The assignment's exercises with their titles (course.exercises), from the released notebook, else
        the solution; [] where the course folder has neither."""
        key = ("exercises", assignment)
        if key not in self._kept:
            import nbformat

            nb = self.released(assignment)
            source = self.root / "solutions" / assignment / f"{assignment}.ipynb"
            if nb is None and source.exists():
                nb = nbformat.read(str(source), as_version=4)
            self._kept[key] = exercises(nb) if nb is not None else []
        return self._kept[key]

    def released(self, assignment):
        """The student version as released (None where the course folder has none)."""
        key = ("released", assignment)
        if key not in self._kept:
            self._kept[key] = _released_notebook(self.root, assignment)
        return self._kept[key]

class _SchemaCheckedOnce:
    """The ``jsonschema`` module as nbgrader's cell-metadata validator calls it, each schema checked once.

    ``jsonschema.validate`` checks the schema itself before every instance; nbgrader calls it for every cell
    with metadata, twice a submission, and that check was most of the time it spent. jsonschema's documentation
    advises a validator kept per schema for many instances: here it is, raising the same best-matching error."""

    def __init__(self, jsonschema):
        self._jsonschema, self._validators = jsonschema, {}

    def __getattr__(self, name):
        return getattr(self._jsonschema, name)

    def validate(self, instance, schema, *args, **kwargs):
        if args or kwargs:
            return self._jsonschema.validate(instance, schema, *args, **kwargs)
        kept = self._validators.get(id(schema))
        if kept is None or kept[0] is not schema:
            cls = self._jsonschema.validators.validator_for(schema)
            cls.check_schema(schema)
            kept = self._validators[id(schema)] = (schema, cls(schema))
        error = self._jsonschema.exceptions.best_match(kept[1].iter_errors(instance))
        if error is not None:
            raise error


def _check_each_schema_once():
    from nbgrader.nbgraderformat import common

    if not isinstance(common.jsonschema, _SchemaCheckedOnce):
        common.jsonschema = _SchemaCheckedOnce(common.jsonschema)


def load_course(root):
    """The course folder's nbgrader_config.py, as nbgrader itself would read it."""
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    _check_each_schema_once()

    root = Path(root).resolve()
    config = Config()
    if (root / "nbgrader_config.py").exists():
        config = PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()
    return Course(root, config, CourseDirectory(config=config, root=str(root)))


def find_submissions(course, ids):
    """(student, assignment) for every submitted/<student>/<assignment>/ entry.

    Entries that are links or files rather than folders are listed too: reading them is refused, and the
    submission is reported as not graded with that reason, rather than skipped silently."""
    root = Path(course) / "submitted"
    if not root.is_dir():
        return []
    return sorted((student.name, assignment) for student in root.iterdir()
                  if student.is_dir() or student.is_symlink()
                  for assignment in ids if os.path.lexists(student / assignment))


def _released_notebook(course, assignment):
    """The student version as released (None where the course folder has none)."""
    import nbformat

    released = Path(course) / "notebooks" / assignment / f"{assignment}.ipynb"
    return nbformat.read(str(released), as_version=4) if released.exists() else None


def released_sources(course, assignment):
    """Code the course itself wrote in the student version: the scan skips cells left as released."""
    nb = _released_notebook(course, assignment)
    return {cell.source for cell in nb.cells if cell.cell_type == "code"} if nb else set()


def precheck(course, student, assignment, contained):
    """Read the submission as hostile input; return (reason it cannot be graded or '', notes, Snapshot).

    The folder is read without following links (submission.py); the notebook is parsed and scanned in
    ``contained``, the coordinator's child process with a time and memory limit (contained.py)."""
    snapshot = read_folder(Path(course) / "submitted" / student / assignment, f"{assignment}.ipynb")
    if snapshot.problem:
        return snapshot.problem, [f"suspicious: {snapshot.problem}"], snapshot
    notes = [f"suspicious: refused to read {entry}" for entry in snapshot.refused]
    if snapshot.notebook is None:
        refused = [entry for entry in snapshot.refused if entry.startswith(f"{assignment}.ipynb ")]
        if refused:
            return f"the notebook could not be read: {refused[0]}", notes, snapshot
        others = snapshot.other_notebooks
        found = f" (found {', '.join(others)}: the file must be named {assignment}.ipynb)" if others else ""
        return f"missing notebook {assignment}.ipynb{found}", notes, snapshot
    try:
        reason, found = contained.run("inspect", snapshot.notebook, course=str(course), assignment=assignment)
    except StepFailed as failure:
        return f"the notebook could not be read: {failure}", notes, snapshot
    return reason, notes + found, snapshot


def _autograded_path(course, student, assignment):
    return Path(course) / "autograded" / student / assignment / f"{assignment}.ipynb"


def _up_to_date(course, student, assignment, snapshot, status):
    """Graded since its files last changed (a submission not graded is tried again: what failed may be fixed)."""
    graded = _autograded_path(course, student, assignment)
    last = status.get(assignment, {}).get(student, {}).get("status", "graded")
    return last == "graded" and graded.exists() and graded.stat().st_mtime >= snapshot.newest


def _timeouts(nb):
    return [index for index, cell in enumerate(nb.cells) if cell.cell_type == "code"
            and any(out.get("ename") == "CellTimeoutError" for out in cell.get("outputs", []))]


def _resources(course, student, assignment):
    return {"unique_key": assignment, "output_files_dir": f"{assignment}_files",
            "nbgrader": {"student": student, "assignment": assignment, "notebook": assignment,
                         "db_url": course.db_url, "course_id": course.coursedir.course_id}}


def _setup_first(nb, course, assignment):
    """Make the course's setup cell run before any student code; return a note or ''.

    The setup cell seals the grading kernel, so code above it (or a setup cell
    deleted or stripped of its metadata) would run unobserved.
    """
    import nbformat

    candidates = {cell.name: cell.source for cell in course.cells(assignment).values()
                  if cell.locked and cell.cell_type == "code" and cell.points is None}
    # The gradebook keeps no cell order (PostgreSQL returns cells in any order): the setup cell is the locked
    # code cell that is not a test, the first of them in the released notebook where there are several.
    released = course.released(assignment)
    order = [cell.metadata.get("nbgrader", {}).get("grade_id") for cell in released.cells] if released else []
    names = sorted(candidates, key=lambda name: order.index(name) if name in order else len(order))
    if not names:
        return ""
    setup = {"name": names[0], "source": candidates[names[0]]}
    index = next((i for i, cell in enumerate(nb.cells)
                  if cell.metadata.get("nbgrader", {}).get("grade_id") == setup["name"]), None)
    if index is None:
        cell = nbformat.v4.new_code_cell(setup["source"], metadata={"editable": False, "deletable": False, "nbgrader": {
            "grade": False, "grade_id": setup["name"], "locked": True, "schema_version": 3, "solution": False}})
        first_code = next((i for i, c in enumerate(nb.cells) if c.cell_type == "code"), len(nb.cells))
        nb.cells.insert(first_code, cell)
        return "the course's setup cell was missing (deleted, or its metadata removed) and was put back"
    early = [cell for cell in nb.cells[:index] if cell.cell_type == "code" and cell.source.strip()]
    if not early:
        return ""
    nb.cells = [c for c in nb.cells[:index] if c not in early] + [nb.cells[index]] + early + nb.cells[index + 1:]
    return f"suspicious: {len(early)} code cell(s) placed above the course's setup cell (moved below it)"


def _restore_metadata(nb, course, assignment):
    """Give every cell nbgrader knows the metadata the gradebook has for it; return notes.

    nbgrader restores the source of test and locked cells, but trusts their metadata:
    a test cell marked "not graded", or a cell of the student's own marked as a test
    worth 100 points, would change what is graded.  So the metadata of known cells is
    put back from the gradebook, and metadata naming cells the assignment does not
    have is removed (the cell stays, as ordinary student code).
    """
    import nbformat

    known = course.cells(assignment)
    notes, seen = [], set()
    for index, cell in enumerate(nb.cells):
        meta = cell.metadata.get("nbgrader")
        if meta is None:
            continue
        grade_id = meta.get("grade_id")
        if grade_id in seen:
            notes.append(f"suspicious: cell {index} repeats the nbgrader metadata of another cell ({grade_id!r}); "
                         "it was graded as ordinary code")
            del cell.metadata["nbgrader"]
            continue
        seen.add(grade_id)
        if grade_id not in known:
            if any(meta.get(flag) for flag in ("grade", "solution", "locked", "task")):
                notes.append(f"suspicious: cell {index} carries nbgrader metadata of a cell the assignment does "
                             f"not have ({grade_id!r}); it was graded as ordinary code")
            del cell.metadata["nbgrader"]
            continue
        cell_type, graded = known[grade_id].cell_type, known[grade_id].points is not None
        expected = {"grade": graded, "grade_id": grade_id, "locked": known[grade_id].locked,
                    "solution": known[grade_id].solution, "schema_version": 3}
        if graded:
            expected["points"] = known[grade_id].points
        if known[grade_id].checksum:
            expected["checksum"] = known[grade_id].checksum
        changed = sorted(key for key in ("grade", "solution", "locked", "points") if meta.get(key) != expected.get(key))
        if changed or cell.cell_type != cell_type:
            notes.append(f"suspicious: cell {index} ({grade_id}) had its nbgrader metadata changed "
                         f"({', '.join(changed) or 'cell type'}); the gradebook's was put back")
        cell.metadata["nbgrader"] = expected
        if cell.cell_type != cell_type:
            nb.cells[index] = (nbformat.v4.new_code_cell if cell_type == "code" else nbformat.v4.new_markdown_cell)(
                cell.source, metadata=cell.metadata)
    return notes


def _timestamp(snapshot):
    """The submission's timestamp.txt as nbgrader reads it, from the snapshot (nbgrader's own reader opens the
    path, links and devices included); None when there is none."""
    from nbgrader.utils import parse_utc

    text = snapshot.files.get("timestamp.txt", b"")[:200].decode("utf-8", "replace").strip()
    if not text:
        return None
    try:
        return parse_utc(text)
    except ValueError:
        raise ValueError(f"timestamp.txt does not hold a time: {text[:60]!r}") from None


def prepare(course, student, assignment, snapshot, sandboxed, limits):
    """Gradebook bookkeeping and nbgrader's sanitizing of an inspected snapshot; return (Job, notes)."""
    import nbformat

    with course.gradebook() as gradebook, warnings.catch_warnings():
        # nbgrader builds a new submission's rows before adding them to its session: SQLAlchemy 2 warns that it
        # will not add them on its own, and nbgrader then adds and stores them. Not the instructor's concern.
        warnings.filterwarnings("ignore", message=r"Object of type <Submitted\w+> not in session")
        gradebook.update_or_create_student(student)
        gradebook.find_assignment(assignment)       # MissingEntry: not released on this gradebook
        timestamp = _timestamp(snapshot)
        if timestamp:
            gradebook.update_or_create_submission(assignment, student, timestamp=timestamp)
        else:
            gradebook.update_or_create_submission(assignment, student)
    nb = nbformat.reads(snapshot.notebook.decode("utf-8"), as_version=4)
    notes = _restore_metadata(nb, course, assignment)
    resources = _resources(course, student, assignment)
    for preprocessor in course.preprocessors("sanitize"):
        nb, resources = preprocessor(nb, resources)   # honours each one's `enabled`, as nbgrader's exporter does
    moved = _setup_first(nb, course, assignment)
    notes += [moved] if moved else []
    job = Job(student, assignment, nbformat.writes(nb), _test_sources(course, assignment), snapshot.files,
              course.execute_config(), sandboxed, limits)
    return job, notes


def _test_sources(course, assignment):
    """Each test cell's source as the gradebook holds it (hidden tests included): what the judge runs."""
    return {cell.name: cell.source for cell in course.cells(assignment).values()
            if cell.points is not None and cell.cell_type == "code"}


def record(course, result):
    """nbgrader's autograding preprocessors on an executed notebook, and the autograded folder."""
    import nbformat

    nb = nbformat.reads(result.notebook, as_version=4)
    resources = _resources(course, result.student, result.assignment)
    for preprocessor in course.preprocessors("autograde"):
        nb, resources = preprocessor(nb, resources)   # honours each one's `enabled`, as nbgrader's exporter does
    target = course.folder("autograded", result.student, result.assignment)
    if target.exists():
        shutil.rmtree(target)
    # The submitted files as read for grading (links and the like left out), not the folder as it is now.
    snapshot = read_folder(course.folder("submitted", result.student, result.assignment), f"{result.assignment}.ipynb")
    write_files(target, {name: data for name, data in snapshot.files.items() if not name.endswith(".ipynb")})
    nbformat.write(nb, str(target / f"{result.assignment}.ipynb"))
    return [f"cell {index} stopped at the per-cell time limit" for index in _timeouts(nb)]


def _reason(error):
    """A readable reason for a failure in the coordinator's own nbgrader steps."""
    from nbgrader.api import MissingEntry

    if isinstance(error, MissingEntry):
        return "the assignment is not in the gradebook: release it first (make release or nbgrader generate_assignment)"
    first_line = (str(error).splitlines() or [""])[0][:300]
    return f"nbgrader could not grade it: {type(error).__name__}: {first_line}"


def read_scores(course, outcomes):
    from nbgrader.api import MissingEntry

    with course.gradebook() as gradebook:
        for outcome in outcomes:
            if outcome.status != "graded":
                continue
            try:
                submission = gradebook.find_submission(outcome.assignment, outcome.student)
            except MissingEntry:
                outcome.status, outcome.reason = "not graded", "nbgrader stored no grades for it"
                continue
            outcome.score, outcome.max_score = submission.score, submission.max_score


def _feedback_path(course, student, assignment):
    return Path(course) / "feedback" / student / assignment / f"{assignment}.html"


def write_feedback(course, student, assignment, contained):
    """The feedback page of one graded submission, rendered in ``contained``; return problems.

    Where rendering fails (a markdown bomb passes the time limit), the page lists the scores and
    says that the notebook could not be shown, so the student still learns the grade."""
    try:
        return contained.run("feedback", course=str(course.root), student=student, assignment=assignment)
    except StepFailed as failure:
        write_plain_feedback(course, student, assignment, str(failure))
        return [f"feedback for {student}/{assignment}: the notebook could not be rendered ({failure}); "
                "its page lists the scores only"]


def write_plain_feedback(course, student, assignment, why):
    """A feedback page of the scores alone, from the gradebook: no student content is rendered."""
    import html

    with course.gradebook() as gradebook:
        submission = gradebook.find_submission_notebook(assignment, assignment, student)
        scores = {grade.name: (grade.score or 0, grade.max_score) for grade in submission.grades}
        total, most = submission.score or 0, submission.max_score
    titled = [(e.test, f"{e.title} ({e.test})") for e in course.exercises(assignment) if e.test in scores]
    titled += [(name, name) for name in sorted(set(scores) - {test for test, _ in titled})]
    body = "".join(f"<tr><td>{html.escape(title)}</td><td>{scores[test][0]:g}</td><td>{scores[test][1]:g}</td></tr>"
                   for test, title in titled)
    page = _feedback_path(course.root, student, assignment)
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text(f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(assignment)}: "
                    f"feedback</title></head><body><h1>{html.escape(assignment)}</h1><p>Score: {total:g} / {most:g}</p>"
                    f"<p>Your notebook could not be shown here ({html.escape(why)}); the scores of its tests are:</p>"
                    f"<table><tr><th>exercise</th><th>score</th><th>out of</th></tr>{body}</table></body></html>\n")


def generate_feedback(course, student, assignment):
    """nbgrader's GenerateFeedback for one graded submission, in this process; return problems."""
    from nbgrader.converters import GenerateFeedback

    coursedir = course.coursedir
    course.config.ReportCard.course_root = str(course.root)   # where the report card reads the exercises' titles
    before = coursedir.assignment_id, coursedir.student_id
    coursedir.assignment_id, coursedir.student_id = assignment, student
    try:
        GenerateFeedback(coursedir=coursedir, config=course.config, force=True).start()
    except (Exception, SystemExit) as error:
        return [f"feedback for {student}/{assignment} failed: {_reason(error)}"]
    finally:
        coursedir.assignment_id, coursedir.student_id = before
    return []


def local_cluster(workers, **options):
    """A ``distributed.LocalCluster`` of single-threaded worker processes, without a dashboard."""
    from distributed import LocalCluster

    # Without a dashboard the scheduler still serves HTTP (health checks): on a free port, since another Dask
    # cluster on this machine may hold the default 8787, and distributed would warn about it.
    return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                        scheduler_kwargs={"dashboard_address": "127.0.0.1:0"}, silence_logs=40, **options)


class Workers:
    """Where jobs run: a Dask cluster at ``scheduler``, or a local one with ``jobs`` worker processes.

    A local cluster takes seconds to start, so it starts in the background: the
    coordinator prepares the first submissions meanwhile and hands them over once
    it is up (``submit`` queues until then).
    """

    def __init__(self, jobs, scheduler=None):
        from concurrent.futures import ThreadPoolExecutor

        from distributed import Client

        self.cluster, self.client, self.sandbox_problem, self._queued, self._closing = None, None, None, [], None
        if scheduler:
            self.client = Client(scheduler, timeout="30s")
            self._starting = None
        else:
            self._starter = ThreadPoolExecutor(1, thread_name_prefix="start-cluster")
            self._starting = self._starter.submit(self._start_local, jobs)

    def _start_local(self, jobs):
        from distributed import Client

        cluster = local_cluster(jobs, preload=[run_job.__module__])
        return cluster, Client(cluster)

    def _ready(self, wait):
        """Whether the cluster is up (waiting for it when ``wait``)."""
        if self.client is None:
            if not wait and not self._starting.done():
                return False
            self.cluster, self.client = self._starting.result()
            self._starter.shutdown()
        return True

    def check_sandbox(self):
        """Why some worker cannot start a sandboxed kernel ('' when every one can); asked once.

        A local cluster's workers are this machine and this user, so the check runs here
        at once, without waiting for them to start."""
        if self.sandbox_problem is None:
            if self._starting is not None:
                problems = {sandbox.sandbox_problem()}
            else:
                problems = set(self.client.run(sandbox.sandbox_problem).values())
            self.sandbox_problem = "; ".join(sorted(problem for problem in problems if problem))
        return self.sandbox_problem

    def submit(self, job, wait=False):
        """Queue a job; return {future: job} for the queued jobs handed to the cluster now (all, when ``wait``)."""
        self._queued.append(job)
        return self.flush(wait)

    def flush(self, wait=True):
        if not self._queued or not self._ready(wait):
            return {}
        handed, self._queued = self._queued, []
        return {self.client.submit(run_job, job, pure=False,
                                   key=f"grade-{job.student}-{job.assignment}-{time.time_ns()}"): job
                for job in handed}

    def completed(self, futures, stall_seconds):
        """Yield futures as they finish; stop, leaving the rest unfinished, when none has finished for
        ``stall_seconds`` (longer than any notebook may run: the workers are gone or stuck)."""
        from distributed import wait

        pending, last_progress = set(futures), time.monotonic()
        while pending:
            try:
                done, pending = wait(list(pending), timeout=10, return_when="FIRST_COMPLETED")
            except TimeoutError:
                done = set()
            if done:
                last_progress = time.monotonic()
                yield from done
            elif time.monotonic() - last_progress > stall_seconds:
                return

    def release(self):
        """Start stopping the workers, in the background: the coordinator writes its last results meanwhile."""
        from threading import Thread

        if self._closing is None:
            self._closing = Thread(target=self._stop, name="stop-cluster")
            self._closing.start()

    def close(self):
        self.release()
        self._closing.join()

    def _stop(self):
        if self._starting is not None and self._starting.exception() is not None:
            return                        # it never started: grade_class reports why
        if self._starting is not None:
            self._ready(wait=True)
        self.client.close()
        if self.cluster is not None:      # its own cluster; someone else's keeps running
            self.cluster.close()


def _worker_failure(error):
    name = type(error).__name__
    if name == "KilledWorker":
        return ("every grading worker that ran it died (it was tried on several): the notebook crashes or "
                "exhausts the machine")
    return f"the grading worker failed: {name}: {(str(error).splitlines() or [''])[0][:300]}"


def grade_class(course=".", ids=None, jobs=None, regrade=False, feedback=True, quiet=False,
                scheduler=None, sandboxed=True, limits=None, workers=None):
    """Grade every submission; return the list of outcomes (also written to grades.csv).

    ``workers`` may be a running :class:`Workers` (tests share one); otherwise one is
    started for this call and closed at its end.
    """
    import os

    root = Path(course).resolve()
    if sandboxed:
        exposed = sandbox.exposes(root)
        if exposed:
            raise GradingRefused(f"The course folder {root} lies inside {exposed[0]}, which the sandbox "
                                 "shows to student code read-only: move the course elsewhere.")
    own_workers = workers is None
    if own_workers:   # first: a local cluster starts while nbgrader loads
        workers = Workers(jobs or os.cpu_count() or 2, scheduler)
    outcomes, futures, problems = [], {}, []
    contained = Contained()
    try:
        course = load_course(root)
        ids = ids or assignments(course.root)
        limits = asdict(limits or sandbox.Limits())
        pending = find_submissions(course.root, ids)
        status = read_status(course.root)
        if not pending and not quiet:
            print(f"No submissions under {course.root / 'submitted'} "
                  "(expected submitted/<student>/<assignment>/<assignment>.ipynb).")
        if sandboxed:
            problem = workers.check_sandbox()
            if problem:
                raise GradingRefused(f"No sandbox for grading kernels: {problem}")
        waiting = {}        # (student, assignment) -> (outcome, start): prepared, not yet with a worker

        def hand_over(handed):
            futures.update({future: waiting.pop((job.student, job.assignment)) for future, job in handed.items()})

        for student, assignment in pending:
            outcome = Outcome(assignment, student)
            outcomes.append(outcome)
            start = time.perf_counter()
            try:
                outcome.reason, outcome.notes, snapshot = precheck(course.root, student, assignment, contained)
            except Exception as error:   # never expected: the submission is reported, the class goes on
                outcome.reason = f"the submission could not be read: {type(error).__name__}: {error}"[:400]
            if outcome.reason:
                outcome.status = "not graded"
            elif not regrade and _up_to_date(course.root, student, assignment, snapshot, status):
                outcome.regraded = False
            else:
                try:
                    job, notes = prepare(course, student, assignment, snapshot, sandboxed, limits)
                except Exception as error:  # nbgrader's sanitizing rejects a corrupted notebook
                    outcome.status, outcome.reason = "not graded", _reason(error)
                else:
                    outcome.notes += notes
                    waiting[student, assignment] = (outcome, start)
                    hand_over(workers.submit(job))
        hand_over(workers.flush())
        stall = DEADLINE_SECONDS + 300
        for future in workers.completed(list(futures), stall):
            outcome, start = futures.pop(future)
            try:
                result = future.result()
            except Exception as error:  # the worker died (KilledWorker) or could not run the task
                outcome.status, outcome.reason = "not graded", _worker_failure(error)
                shutil.rmtree(_autograded_path(course.root, outcome.student, outcome.assignment).parent,
                              ignore_errors=True)
                continue
            finally:
                if own_workers and not futures:   # the last result is here: the workers are done
                    workers.release()
            outcome.notes += [note for note in result.notes if note not in outcome.notes]
            outcome.worker_seconds, outcome.judge_seconds = result.seconds, result.judge_seconds
            if result.error:
                outcome.status, outcome.reason = "not graded", result.error
                shutil.rmtree(_autograded_path(course.root, outcome.student, outcome.assignment).parent,
                              ignore_errors=True)
                continue
            try:
                outcome.notes += record(course, result)
                store_in_gradebook(course, outcome, result.verdicts)
            except Exception as error:
                outcome.status, outcome.reason = "not graded", _reason(error)
            else:
                # Written while the workers grade the rest, rather than all at the end.
                problems += write_feedback(course, outcome.student, outcome.assignment, contained) if feedback else []
            outcome.seconds = time.perf_counter() - start
        for outcome, _ in futures.values():   # never lost: reported, to be graded again
            outcome.status = "not graded"
            outcome.reason = f"no grading worker finished it within {stall:g} s (the workers stopped): grade again"
        read_scores(course, outcomes)
        file_for_manual_grading(course, outcomes)
        if feedback:   # submissions graded before and unchanged keep their feedback; write what is missing
            problems += [problem for o in outcomes if o.status == "graded" and not o.regraded
                         and not _feedback_path(course.root, o.student, o.assignment).exists()
                         for problem in write_feedback(course, o.student, o.assignment, contained)]
    finally:
        contained.close()
        if own_workers:
            workers.close()
    text = write_reports(course, outcomes, problems, sandboxed)
    if not quiet:
        print(text, end="")
        print(f"Wrote grades.csv, grades-by-exercise.csv, grading-summary.txt and feedback/ in {course.root}.")
    return outcomes


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("assignments", nargs="*")
    parser.add_argument("--course", default=".")
    parser.add_argument("--jobs", type=int, default=None, help="local worker processes (default: CPU count)")
    parser.add_argument("--scheduler", default=None,
                        help="address of a Dask scheduler (tcp://HOST:8786) whose workers grade instead")
    parser.add_argument("--regrade", action="store_true", help="grade again submissions that are unchanged")
    parser.add_argument("--no-sandbox", action="store_true",
                        help="run student code without isolation (only where no sandbox can be had)")
    args = parser.parse_args(argv)
    try:
        outcomes = grade_class(args.course, args.assignments or None, args.jobs, args.regrade,
                               scheduler=args.scheduler, sandboxed=not args.no_sandbox)
    except GradingRefused as refusal:
        print(f"make grade: {refusal}", file=sys.stderr)
        sys.exit(2)
    write_class_report(args.course)
    sys.exit(0 if all(o.status == "graded" for o in outcomes) else 1)


def write_class_report(course):
    """The class report after grading; the grades stay stored, and the run's outcome stands, if it fails."""
    from .report import write_report

    try:
        print(f"Class report: {write_report(load_course(course))}")
    except Exception as error:   # noqa: BLE001 - a report is a reading of grades, never a reason to lose them
        print(f"make grade: the class report could not be written ({type(error).__name__}: {error}); "
              "the grades are stored: make report tries again", file=sys.stderr)


if __name__ == "__main__":
    main()
