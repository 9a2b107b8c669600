"""The judge: runs each test cell against the student's kernel and decides it.  No student code ever runs here.

Each grading worker starts one judge (``python -m autograd_course.grading.judge FD``) and reuses it for
every submission: torch and the course's checks load once per worker.  The worker and the judge talk
over the socket FD (newline-delimited JSON; the student's kernel's end of a probe socket travels with
``begin``):

- ``{"begin": {...}}`` + a file descriptor: a submission starts; the judge's namespace is fresh.
- ``{"test": {"cell": i, "name": grade_id, "source": code}}``: run that test cell's whole source (its
  visible and hidden tests, from the gradebook) with :mod:`autograd_course.probes` talking to the
  student's kernel, which the worker has set serving at that point of the notebook.  The answer is
  ``{"verdict": {"passed": bool, "stdout": text, "pictures": [mime bundles], "ename": ..., "evalue": ...,
  "round_trips": n, "seconds": wall time, "cpu_seconds": the judge's own CPU time}}``; the pictures are
  what the checks drew for their messages (the student's graph with the fault marked).
- ``{"abort": reason}`` while a test runs: the worker stopped it (time limit, the kernel died).
- ``{"finish": {}}``: the submission is done.

What the student's kernel sends is read as data only (see probes.RemoteSession); a verdict is the
outcome of the course's test code in this process: an assertion of the checks, an exception the
student's code raised (by its type's name and message), or a malformed answer.
"""

import builtins
import contextlib
import io
import json
import os
import random
import socket
import sys
import time
import traceback
import warnings

MAX_STDOUT = 64 << 10


class Channel:
    """Newline-delimited JSON over a Unix socket, with file descriptors alongside."""

    def __init__(self, sock):
        self.sock = sock
        self.buffer = bytearray()
        self.fds = []

    def send(self, message, fds=()):
        data = json.dumps(message, separators=(",", ":")).encode() + b"\n"
        if fds:
            socket.send_fds(self.sock, [data], list(fds))
        else:
            self.sock.sendall(data)

    def receive(self):
        """The next message and the descriptors that came with it (empty when the peer closed)."""
        while b"\n" not in self.buffer:
            data, fds, _, _ = socket.recv_fds(self.sock, 1 << 16, 4)
            self.fds.extend(fds)
            if not data:
                return {}, []
            self.buffer += data
        end = self.buffer.index(b"\n")
        line, self.buffer = bytes(self.buffer[:end]), self.buffer[end + 1:]
        fds, self.fds = self.fds, []
        return json.loads(line), fds


class Judge:
    def __init__(self, channel):
        import torch

        from .. import checks, probes

        self.channel, self.torch, self.probes, self.checks = channel, torch, probes, checks
        self.probe_socket = None
        self.namespace = None
        self.sources = {}
        self.tests_run = 0

    def loop(self):
        self.channel.send({"ready": os.getpid()})
        while True:
            message, fds = self.channel.receive()
            if not message or "quit" in message:
                return
            if "begin" in message:
                self.begin(fds)
            elif "test" in message:
                self.channel.send({"verdict": self.run_test(message["test"])})
            elif "finish" in message:
                self.finish()
            for fd in fds if "begin" not in message else []:
                os.close(fd)

    def begin(self, fds):
        """A fresh namespace and fresh random generators for a submission; the probe socket to its kernel."""
        self.finish()
        self.probe_socket = socket.socket(fileno=fds[0]) if fds else None
        for extra in fds[1:]:
            os.close(extra)
        self.namespace = {"__name__": "__course_test__", "__builtins__": builtins}
        self.sources = {}   # each test's source by its filename: where a failed check's message is written
        torch = self.torch
        torch.manual_seed(0)
        random.seed(0)
        import numpy

        numpy.random.seed(0)
        torch.set_grad_enabled(True)
        torch.set_default_dtype(torch.float32)

    def finish(self):
        if self.probe_socket is not None:
            self.probe_socket.close()
        self.probe_socket, self.namespace = None, None

    def _abort_reason(self):
        message, fds = self.channel.receive()
        for fd in fds:
            os.close(fd)
        return message.get("abort") or "the grader stopped this test"

    def run_test(self, test):
        probes = self.probes
        start, cpu_start = time.perf_counter(), time.process_time()
        self.tests_run += 1
        if self.probe_socket is None or self.namespace is None:
            return {"passed": False, "stdout": "", "ename": "GradingError",
                    "evalue": "the judge has no connection to the student's kernel", "round_trips": 0}
        session = probes.RemoteSession(self.probe_socket, self.channel.sock, self.tests_run,
                                       control_pending=lambda: b"\n" in self.channel.buffer)
        session.control_message = self._abort_reason
        stdout = io.StringIO()
        verdict = {"passed": True, "ename": None, "evalue": None}
        probes.install(session)
        connected = False
        try:
            with contextlib.redirect_stdout(stdout), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                session.hello()
                connected = True
                filename = f"<test {test.get('name', '')}>"
                self.sources[filename] = test["source"]
                exec(compile(test["source"], filename, "exec"), self.namespace)
        except probes._Abort as abort:
            verdict.update(passed=False, ename="TestStopped", evalue=str(abort), kind="test_stopped", aborted=True)
        except BaseException as error:   # the test's verdict: whatever stopped it fails it
            verdict.update(passed=False, **describe_failure(error), kind=kind_of_failure(error, self.sources))
        finally:
            probes.install(None)
            if connected and not verdict.get("aborted"):
                try:
                    session.end()
                except OSError:
                    pass
            self.torch.set_grad_enabled(True)
        verdict.update(stdout=stdout.getvalue()[:MAX_STDOUT], pictures=session.pictures,
                       round_trips=session.round_trips,
                       seconds=time.perf_counter() - start, cpu_seconds=time.process_time() - cpu_start)
        return verdict


def describe_failure(error):
    """ename and evalue for a failed test: the checks' message, or the student's exception named as theirs."""
    from ..probes import ProtocolError, StudentError

    if isinstance(error, ProtocolError):
        return {"ename": "GradingError", "evalue": f"{error.message} (while the test ran {error.operation or 'it'})"}
    if isinstance(error, StudentError):
        kind = error.kernel_type.rsplit(".", 1)[-1]
        if kind == "KeyboardInterrupt":
            return {"ename": "TimeoutError", "evalue": "your code ran past the time limit of this test and was "
                                                       f"stopped (in {error.operation})"}
        where = f" (raised in {error.operation})" if error.operation else ""
        return {"ename": kind, "evalue": f"{error.message}{where}"}
    if isinstance(error, AssertionError):
        return {"ename": "AssertionError", "evalue": str(error)}
    # The test's own code stopped on something the student's answer gave it (a list where a tensor was due, say).
    frames = traceback.extract_tb(error.__traceback__)
    line = next((f" (test line {frame.lineno})" for frame in reversed(frames) if frame.filename.startswith("<test")), "")
    return {"ename": type(error).__name__, "evalue": f"{error}{line}"}


def kind_of_failure(error, sources):
    """The stable kind of what failed a test (see autograd_course.mistakes): the check's own, the kind its
    message names as the test writes it, or what the student's code raised."""
    from ..mistakes import kind_at, kind_of, snake_case
    from ..probes import ProtocolError, StudentError

    if isinstance(error, ProtocolError):
        return "grading_error"
    if isinstance(error, StudentError):
        raised = error.kernel_type.rsplit(".", 1)[-1]
        return {"KeyboardInterrupt": "timed_out", "NotImplementedError": "not_implemented"}.get(
            raised, f"raised_{snake_case(raised)}")
    if not isinstance(error, AssertionError):
        return f"test_stopped_on_{snake_case(type(error).__name__)}"
    if getattr(error, "kind", None):
        return error.kind
    for frame in reversed(traceback.extract_tb(error.__traceback__)):
        if frame.filename in sources:
            return kind_at(sources[frame.filename], frame.lineno) or kind_of(error)
    return kind_of(error)


def main():
    sock = socket.socket(fileno=int(sys.argv[1]))
    channel = Channel(sock)
    # The protocol is on the socket; anything printed by accident goes nowhere near it.
    sys.stdout = open(os.devnull, "w")
    Judge(channel).loop()


if __name__ == "__main__":
    main()
