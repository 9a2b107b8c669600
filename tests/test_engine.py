"""The grading engine gives the same grades wherever it runs: local workers, a Dask cluster, a PostgreSQL gradebook.

The demo class (a correct, a partly answered and a suspicious student, plus a file that is not JSON and
a misnamed one) is graded on local workers, for two of its assignments: test_grading.py grades
every assignment's solution, stubs and single-exercise changes, which decide the demo's scores of
the others. The first (the broken files among them) is graded again on a Dask cluster with a
PostgreSQL gradebook, and its grades.csv and grades-by-exercise.csv rows compared; a worker killed in
the middle of a class loses no submission.
"""

import csv
import html
import os
import shutil
import signal
import threading
import time

import pytest

from autograd_course.grading import demo
from autograd_course.grading.grade import Workers, grade_class, local_cluster
from postgres import create_database, postgres_server

# One xdist worker runs this module, so that its module-scoped class is graded once, not once per worker.
pytestmark = pytest.mark.xdist_group("engine")


# The assignment graded again elsewhere: the first (where the broken files and the suspicious one are).
AGAIN = ["01_graphs"]
# The demo's assignments graded here: that one, and one more (results per assignment, a class that loses a worker).
GRADED = AGAIN + ["04_custom_functions"]


def _rows(course, ids=None):
    with open(course / "grades.csv") as handle:
        return [row for row in csv.DictReader(handle) if ids is None or row["assignment"] in ids]


@pytest.fixture(scope="module")
def cluster():
    """A distributed.LocalCluster with two worker processes, as a remote scheduler would offer."""
    with local_cluster(2) as local:
        yield local


def _exercise_rows(course):
    with open(course / "grades-by-exercise.csv") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def local_course(tmp_path_factory):
    course = demo.build(tmp_path_factory.mktemp("local") / "course", ids=GRADED)
    grade_class(course, jobs=2, feedback=False, quiet=True)
    return course


@pytest.fixture(scope="module")
def locally_graded(local_course):
    return _rows(local_course)


def test_demo_class_is_graded_as_designed(locally_graded):
    rows = {(row["student"], row["assignment"]): row for row in locally_graded}
    ids = sorted({assignment for _, assignment in rows})
    for assignment in ids:
        ada, ben = rows[("ada", assignment)], rows[("ben", assignment)]
        assert ada["status"] == "graded" and ada["score"] == ada["max_score"], ada
        assert ben["status"] == "graded" and 0 < float(ben["score"]) < float(ben["max_score"]), ben
        assert not ada["notes"] and not ben["notes"], (ada, ben)
    assert rows[("cy", ids[0])]["status"] == "not graded" and "not valid JSON" in rows[("cy", ids[0])]["reason"]
    assert rows[("dee", ids[0])]["status"] == "not graded" and "missing notebook" in rows[("dee", ids[0])]["reason"]
    # eve answers as ben does, with torch.allclose made to agree: she gains nothing, and is flagged.
    eve = rows[("eve", ids[0])]
    assert eve["status"] == "graded" and eve["score"] == rows[("ben", ids[0])]["score"], eve
    assert "suspicious: cell 2 assigns torch.allclose" in eve["notes"], eve


def test_results_per_exercise_come_from_the_gradebook_and_keep_every_assignment(local_course, locally_graded):
    """grades.csv and grades-by-exercise.csv hold every graded submission, whatever a run graded: grading one
    assignment again leaves the others' rows; each exercise has its title, and a lost one what its test said."""
    from nbgrader.api import Gradebook

    from autograd_course.grading.course import exercises
    from harness import read_notebook

    by_exercise = _exercise_rows(local_course)
    again = grade_class(local_course, [GRADED[0]], feedback=False, quiet=True)
    assert not any(o.regraded for o in again if o.status == "graded")
    assert _rows(local_course) == locally_graded, "grading one assignment keeps every other assignment's rows"
    assert _exercise_rows(local_course) == by_exercise
    for assignment in GRADED:
        expected = exercises(read_notebook(local_course / "notebooks" / assignment / f"{assignment}.ipynb"))
        for student in ("ada", "ben"):
            rows = [row for row in by_exercise if (row["assignment"], row["student"]) == (assignment, student)]
            assert [(row["exercise"], row["title"], float(row["max_score"])) for row in rows] == \
                [(e.test, e.title, e.points) for e in expected], (assignment, student)
            assert all(row["title"].startswith("Exercise ") for row in rows)
            total = next(row for row in locally_graded if (row["assignment"], row["student"]) == (assignment, student))
            assert sum(float(row["score"]) for row in rows) == float(total["score"])
            lost = [row for row in rows if float(row["score"]) < float(row["max_score"])]
            assert bool(lost) == (student == "ben") and all(row["message"] for row in lost), lost
    summary = (local_course / "grading-summary.txt").read_text()
    assert all(f"lost {float(row['max_score']) - float(row['score']):g} of {float(row['max_score']):g}, {row['title']}"
               in summary for row in by_exercise if row["student"] == "ben" and row["score"] != row["max_score"])
    assert all(assignment in summary for assignment in GRADED)
    # The messages are in the gradebook itself, as nbgrader's automatic comments; eve is flagged there.
    with Gradebook(f"sqlite:///{local_course / 'gradebook.db'}") as gradebook:
        eve = gradebook.find_submission_notebook(GRADED[0], GRADED[0], "eve")
        assert eve.flagged and not gradebook.find_submission_notebook(GRADED[0], GRADED[0], "ben").flagged
        assert gradebook.find_student("ada").first_name == "Ada"
    # make export: Canvas's and Moodle's import files, a not-graded submission left empty, never a zero.
    from autograd_course.grading.export import export
    from autograd_course.grading.grade import load_course

    canvas, moodle = export(load_course(local_course), local_course / "exports")
    canvas_rows = list(csv.reader(open(canvas)))
    assert canvas_rows[0][:5] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
    assert canvas_rows[1][0] == "Points Possible"
    first = canvas_rows[0].index(GRADED[0])
    cells = {row[2]: row[first] for row in canvas_rows[2:]}
    assert cells["cy"] == "" and cells["ada"] == next(r["score"] for r in locally_graded
                                                      if (r["student"], r["assignment"]) == ("ada", GRADED[0]))
    moodle_rows = {row["ID number"]: row for row in csv.DictReader(open(moodle))}
    assert moodle_rows["ada"]["First name"] == "Ada" and moodle_rows["dee"][GRADED[0]] == ""


def test_the_class_report_of_a_class_graded_for_real_names_its_mistakes(local_course, locally_graded):
    """The judge's messages name kinds the report groups by: every lost exercise has a kind (no unexplained
    failure), ben's mistakes are there by name, eve (who answers as ben does) is the most similar to him, and
    the suspicious and not-graded submissions are listed with their reasons."""
    from autograd_course.grading.grade import load_course
    from autograd_course.grading.report import write_report
    from autograd_course.mistakes import KIND

    page = write_report(load_course(local_course)).read_text()
    out = local_course / "class-report"
    with open(out / "misconceptions.csv") as handle:
        groups = list(csv.DictReader(handle))
    assert groups and all(KIND.fullmatch(row["mistake"]) and row["mistake"] != "unexplained" for row in groups)
    lost = {(row["assignment"], row["exercise"]) for row in _exercise_rows(local_course)
            if row["student"] == "ben" and float(row["score"]) < float(row["max_score"])}
    named = {(row["assignment"], row["exercise"]) for row in groups if "ben" in row["students"].split()}
    assert lost and named == lost
    assert any(row["mistake"] != "no_response" for row in groups if "ben" in row["students"].split())
    with open(out / "similar-pairs.csv") as handle:
        pairs = [row for row in csv.DictReader(handle) if row["assignment"] == GRADED[0]]
    assert pairs and {pairs[0]["student"], pairs[0]["other_student"]} == {"ben", "eve"}, pairs
    section = page[page.index('id="not-graded"'):]
    for row in locally_graded:
        if row["status"] == "not graded":
            assert row["student"] in section and html.escape(row["reason"], quote=False) in section, row
    assert "eve" in section and "suspicious: cell 2 assigns torch.allclose" in section


def test_a_dask_cluster_with_a_postgresql_gradebook_grades_exactly_as_local_workers_with_sqlite(
        local_course, locally_graded, cluster, tmp_path):
    with postgres_server() as server:
        url = create_database(server, "autograd_course")
        course = demo.build(tmp_path / "course", db_url=url, ids=AGAIN)
        assert not (course / "gradebook.db").exists()
        outcomes = grade_class(course, scheduler=cluster.scheduler_address, quiet=True)
        assert _rows(course) == [row for row in locally_graded if row["assignment"] in AGAIN]
        assert _exercise_rows(course) == [row for row in _exercise_rows(local_course) if row["assignment"] in AGAIN]
        # Feedback and a second run read the same server; nothing is graded twice.
        assert (course / "feedback" / "ada").is_dir()
        again = grade_class(course, scheduler=cluster.scheduler_address, feedback=False, quiet=True)
        assert [(o.student, o.score) for o in again] == [(o.student, o.score) for o in outcomes]
        assert not any(o.regraded for o in again if o.status == "graded")


def test_a_worker_killed_mid_class_loses_no_submission(locally_graded, tmp_path):
    cluster = local_cluster(2)
    course = demo.build(tmp_path / "course", ids=GRADED)
    for student in ("ben", "cy", "dee", "eve"):       # ada's notebooks are class enough here
        shutil.rmtree(course / "submitted" / student)
    workers = Workers(jobs=None, scheduler=cluster.scheduler_address)
    killed = []

    def kill_a_busy_worker():
        # Wait until a worker runs a submission, then kill that worker's process outright.
        deadline = time.time() + 120
        while time.time() < deadline:
            busy = [state.address for state in cluster.scheduler.workers.values() if state.processing]
            if busy:
                time.sleep(1.0)
                nanny = next(n for n in cluster.workers.values() if n.worker_address == busy[0])
                os.kill(nanny.process.pid, signal.SIGKILL)
                killed.append(busy[0])
                return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_a_busy_worker)
    killer.start()
    try:
        outcomes = grade_class(course, feedback=False, quiet=True, workers=workers)
    finally:
        killer.join()
        workers.close()
        cluster.close()
    assert killed, "no worker was busy to be killed"
    assert _rows(course) == [row for row in locally_graded if row["student"] == "ada"
                             and row["assignment"] in GRADED], \
        [(o.assignment, o.status, o.reason) for o in outcomes]


def test_a_grading_kernel_is_ready_once_it_answers_even_while_iopub_keeps_talking():
    """jupyter_client's own wait_for_ready also waits for 0.2 s of silence on IOPub, which a kernel that keeps
    publishing never gives; the grading client is ready once the kernel has answered kernel_info on the shell
    channel and spoken on IOPub (so IOPub is connected and no output of the first cell can be missed)."""
    import asyncio

    from autograd_course.grading.execute import _prompt_client_class

    class Channel:
        def __init__(self, message):
            self.message, self.reads = message, 0

        async def get_msg(self, timeout=None):
            self.reads += 1
            await asyncio.sleep(0)
            return self.message

    client = _prompt_client_class()()
    client.kernel_info = lambda: "request"
    client._shell_channel = Channel({"msg_type": "kernel_info_reply", "content": {"protocol_version": "5.3"}})
    client._iopub_channel = Channel({"msg_type": "status", "content": {"execution_state": "idle"}})
    asyncio.run(asyncio.wait_for(client.wait_for_ready(timeout=60), timeout=30))
    assert client._shell_channel.reads == 1 and client._iopub_channel.reads == 1
