"""A course folder as nbgrader sees it, and running nbgrader's CLI on it."""

import os
import subprocess
import sys
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


def nbgrader(args, course, timeout=None):
    """Run ``nbgrader ARGS`` in the course folder; return the CompletedProcess (never raises on failure)."""
    return subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, capture_output=True,
                          text=True, timeout=timeout, env=tool_env())
