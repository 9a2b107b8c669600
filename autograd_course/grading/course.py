"""A course folder as nbgrader sees it, its exercises, and running nbgrader's CLI on it."""

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]


def assignments(course):
    """Assignment ids: the numbered folders of solutions/."""
    return sorted(p.name for p in (Path(course) / "solutions").iterdir() if p.is_dir() and p.name[:2].isdigit())


def tool_env():
    """This environment with the interpreter's bin first on PATH (nbgrader runs alembic by name)."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def with_tools_on_path():
    """Put the interpreter's bin on this process's PATH, where it is not: nbgrader's Gradebook runs ``alembic`` by
    name when it creates or upgrades a gradebook, also in this process, which may run from an environment that
    was never activated (``.venv/bin/python -m ...``)."""
    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = tool_env()["PATH"]


def nbgrader(args, course, timeout=None):
    """Run ``nbgrader ARGS`` in the course folder; return the CompletedProcess (never raises on failure)."""
    return subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, capture_output=True,
                          text=True, timeout=timeout, env=tool_env())


# A statement's heading: "### Exercise 2.1 — walk the graph (3 points)".
EXERCISE_HEADING = re.compile(r"^#{1,6}\s+(Exercise\s+\d[\d.]*\s+\S.*?)\s*(?:\(\s*[\d.]+\s+points?\s*\))?\s*$",
                              re.MULTILINE)


@dataclass(frozen=True)
class Exercise:
    test: str        # grade_id of its test cell
    solution: str    # grade_id of the answer cell it tests ('' when the notebook has none of that name)
    title: str       # the heading of its statement, without the points: "Exercise 2.1 — walk the graph"
    points: float


def exercises(nb):
    """A notebook's graded exercises in order: each test cell with the heading of the statement above it.

    Read from the course's own notebook (the released or the solution version), never from a submission,
    whose markdown a student may have edited."""
    found, heading, solutions = [], "", set()
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("solution"):
            solutions.add(meta.get("grade_id", ""))
        if cell.cell_type == "markdown":
            headings = EXERCISE_HEADING.findall(cell.source)
            heading = headings[-1].replace("`", "") if headings else heading
        elif meta.get("grade") and not meta.get("solution"):
            test = meta["grade_id"]
            answer = test.removeprefix("test_")
            found.append(Exercise(test, answer if answer in solutions else "", heading or test,
                                  float(meta.get("points", 0))))
    return found
