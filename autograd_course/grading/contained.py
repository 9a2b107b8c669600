"""Where the coordinator parses and renders student files: a child process with a time and a memory limit.

A notebook is written by its student: JSON nested 100,000 deep, a cell of one 100,000-term expression,
markdown that takes a renderer minutes, output that fills memory.  The coordinator grades the whole
class, so it never parses or renders a submission itself: :class:`Contained` hands each such step to a
long-lived child process (``python -m autograd_course.grading.contained``) with an address-space limit,
and waits for it a bounded time.  A step that raises, runs out of memory, crashes the child or passes
its time limit costs that submission only: the answer says why, and the next step gets a fresh child.

Steps (:data:`STEPS`):
- ``inspect``: the notebook's bytes are UTF-8 JSON nested at most :data:`MAX_NESTING` deep, a valid
  notebook with nbgrader's metadata; then the scan (scan.py) of the student's code.
- ``feedback``: nbgrader's GenerateFeedback for one graded submission.
"""

import functools
import json
import os
import select
import subprocess
import sys
import time

MAX_NESTING = 64
MEMORY_BYTES = 4 << 30
SECONDS = {"inspect": 60, "feedback": 30}   # a page takes about a second; the coordinator waits meanwhile


class StepFailed(Exception):
    """A contained step did not give an answer: the reason, for the instructor."""


class Contained:
    """The coordinator's end: ``run(step, data, **arguments)`` returns the step's answer or raises StepFailed."""

    def __init__(self):
        self.process = None

    def _start(self):
        self.process = subprocess.Popen([sys.executable, "-m", __name__], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, bufsize=0)

    def run(self, step, data=b"", **arguments):
        if self.process is None or self.process.poll() is not None:
            self._start()
        header = json.dumps({"step": step, "size": len(data), "arguments": arguments}).encode() + b"\n"
        try:
            self.process.stdin.write(header + data)
            answer = self._answer(SECONDS[step])
        except StepFailed:
            self.close()
            raise
        except OSError:              # the child is gone
            self.close()
            raise StepFailed("the process reading it stopped (it ran out of memory or crashed)")
        if "error" in answer:
            raise StepFailed(answer["error"])
        return answer["answer"]

    def _answer(self, seconds):
        deadline, line = time.monotonic() + seconds, bytearray()
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.process.stdout], [], [], left)[0]:
                raise StepFailed(f"reading it took longer than {seconds} s")
            chunk = os.read(self.process.stdout.fileno(), 1 << 16)
            if not chunk:
                raise StepFailed("the process reading it stopped (it ran out of memory or crashed)")
            line += chunk
        return json.loads(line)

    def close(self):
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# ---------------------------------------------------------------------------------------------
# The child's side.

def nesting_depth(text):
    """How deep the JSON text nests arrays and objects, read without parsing it (strings skipped)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def inspect(data, course, assignment):
    """(reason it cannot be graded or '', notes): the checks of a submitted notebook's bytes."""
    import re

    import nbformat

    from .scan import scan_notebook

    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        return f"not a notebook: the file is not UTF-8 text ({error})", []
    # The structural characters alone decide the depth; a cheap pre-pass spares the slow scan of long strings.
    brackets = re.sub(r'"(?:[^"\\]|\\.)*"', '""', text)
    depth = nesting_depth(brackets)
    if depth > MAX_NESTING:
        return f"not a notebook: its JSON nests {depth} levels deep (a notebook needs a few; the limit is {MAX_NESTING})", []
    try:
        json.loads(text)
    except ValueError as error:
        return f"not a notebook: the file is not valid JSON ({error})", []
    try:
        nb = nbformat.reads(text, as_version=4)
        nbformat.validate(nb)
    except Exception as error:  # nbformat raises several types for a malformed notebook
        return f"not a notebook: {(str(error).splitlines() or [''])[0][:200]}", []
    if not any("nbgrader" in cell.get("metadata", {}) for cell in nb.cells):
        # nbgrader cannot match such a notebook to its cells (it fails inside add_missing_cells).
        return ("nbgrader metadata was removed from every cell (an editor or a tool stripped it): "
                "copy the answers into the released notebook and submit that"), []
    try:
        flags = scan_notebook(nb, known_sources=_released_sources(course, assignment))
    except RecursionError:
        return "its code is nested too deeply to be read (a Python expression thousands of levels deep)", []
    return "", [f"suspicious: cell {index} {what}" for index, what in flags]


def feedback(data, course, student, assignment):
    """nbgrader's GenerateFeedback for one submission; the problems it had."""
    from .grade import generate_feedback

    return generate_feedback(_course(course), student, assignment)


# A child serves one grading run: the course's configuration and released notebooks stay as they were at its start.
@functools.lru_cache(maxsize=None)
def _course(root):
    from .grade import load_course

    return load_course(root)


@functools.lru_cache(maxsize=64)
def _released_sources(course, assignment):
    from .grade import released_sources

    return frozenset(released_sources(course, assignment))


STEPS = {"inspect": inspect, "feedback": feedback}


def serve():
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES, MEMORY_BYTES))
    replies = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)                 # what the steps print never mixes with the answers
    requests = sys.stdin.buffer
    while True:
        header = requests.readline()
        if not header:
            return
        request = json.loads(header)
        data = requests.read(request["size"])
        try:
            reply = {"answer": STEPS[request["step"]](data, **request["arguments"])}
        except MemoryError:
            reply = {"error": f"reading it needed more than {MEMORY_BYTES >> 30} GiB of memory"}
        except RecursionError:
            reply = {"error": "it is nested too deeply to be read"}
        except Exception as error:
            reply = {"error": f"{type(error).__name__}: {(str(error).splitlines() or [''])[0][:300]}"}
        del data
        replies.write(json.dumps(reply).encode() + b"\n")


if __name__ == "__main__":
    serve()
