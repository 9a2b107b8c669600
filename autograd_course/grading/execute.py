"""A worker's part of grading: run one prepared submission in a fresh kernel, its test cells decided by the judge.

The coordinator (grade.py) turns a submission into a :class:`Job`: the notebook with nbgrader's test
cells already restored from the gradebook, the tests' sources as the gradebook has them, the student's
other files, and the execution settings.  :func:`run_job` needs no gradebook and no course folder, so
it runs the same in a local process or on a Dask worker.

Every cell but the test cells runs in the student's kernel, as nbclient would run it.  A test cell
never runs there: where it stands, the worker sets the kernel serving probes
(``autograd_course._probe_server.serve``) and hands the test's source to the judge (judge.py), a
process of this worker's own in which no student code runs.  The judge runs the test against the
kernel through those probes and returns its verdict; the cell's outputs become the judge's output
and, when it failed, an error carrying the judge's message, which nbgrader scores as usual.  Nothing
the kernel prints can stand in for a verdict.
"""

import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from .submission import write_files

# Outputs kept per cell and per notebook; past them a print loop fills the worker's memory.
MAX_CELL_OUTPUT_BYTES = 1 << 20
MAX_NOTEBOOK_OUTPUT_BYTES = 16 << 20
# The whole notebook; a kernel that ignores interrupts is killed here.
DEADLINE_SECONDS = 1800.0
DEAD_KERNEL = ("the kernel died while running the notebook (the code crashed or ended the Python process, "
               "or it ran past a limit of the grading sandbox: memory, processes or CPU time)")
# Where a test cell stands, the kernel runs this (course code, no test source) until the judge is done.
SERVE = '__import__("autograd_course._probe_server", fromlist=["serve"]).serve()'
PROBE_FD_VARIABLE = "AUTOGRAD_COURSE_PROBE_FD"
# After the judge's verdict (or an interrupt), how long the kernel may take to leave the probe server.
GRACE_SECONDS = 10.0


@dataclass
class Job:
    student: str
    assignment: str
    notebook: str                        # JSON, test cells already restored by nbgrader
    tests: dict = field(default_factory=dict)    # test grade_id -> its source as the gradebook has it
    files: dict = field(default_factory=dict)    # other submitted files: relative path -> bytes
    execute_config: dict = field(default_factory=dict)   # the course's c.Execute settings
    sandbox: bool = True
    limits: dict = field(default_factory=dict)
    deadline_seconds: float = DEADLINE_SECONDS


@dataclass
class Result:
    student: str
    assignment: str
    notebook: str = None                 # the executed notebook (JSON), or None when it could not run
    error: str = ""                      # why it could not be graded
    notes: list = field(default_factory=list)
    verdicts: dict = field(default_factory=dict)   # test grade_id -> the judge's verdict
    seconds: float = 0.0
    judge_seconds: float = 0.0           # the judge's own CPU time on its tests


class JudgeFailed(Exception):
    """The judge process died or stopped answering (a fault of the grader, not of the submission)."""


class JudgeClient:
    """This worker's judge process, started once and reused for every submission (restarted if it dies)."""

    def __init__(self):
        self.process, self.sock, self.channel, self.lock = None, None, None, threading.Lock()

    def start(self):
        from .judge import Channel

        ours, theirs = socket.socketpair()
        self.process = subprocess.Popen([sys.executable, "-m", "autograd_course.grading.judge", str(theirs.fileno())],
                                        pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        theirs.close()
        self.sock, self.channel, self.ready = ours, Channel(ours), False

    def ensure(self):
        """A running judge that has loaded torch and the checks."""
        if self.process is None or self.process.poll() is not None:
            self.start()
        if not self.ready:
            message, _ = self.channel.receive()
            if "ready" not in message:
                raise JudgeFailed(f"the judge did not start ({self._exit_status()})")
            self.ready = True

    def _exit_status(self):
        try:
            self.process.kill()
            return f"exit status {self.process.wait(timeout=5)}"
        except Exception:
            return "no exit status"

    def begin(self, probe_fd, student, assignment):
        self.channel.send({"begin": {"student": student, "assignment": assignment}}, fds=[probe_fd])

    def finish(self):
        self.channel.send({"finish": {}})

    def send_test(self, index, name, source):
        self.channel.send({"test": {"cell": index, "name": name, "source": source}})

    def abort(self, reason):
        self.channel.send({"abort": reason})

    def verdict(self):
        """The judge's answer to the test sent last (blocking: run it in a thread)."""
        message, _ = self.channel.receive()
        if "verdict" not in message:
            raise JudgeFailed(f"the judge stopped answering ({self._exit_status()})")
        return message["verdict"]

    def close(self):
        if self.process is not None and self.process.poll() is None:
            try:
                self.channel.send({"quit": True})
                self.process.wait(timeout=5)
            except Exception:
                self.process.kill()


_JUDGE = JudgeClient()


def _is_test_cell(cell):
    meta = cell.metadata.get("nbgrader", {})
    return cell.cell_type == "code" and bool(meta.get("grade")) and not meta.get("solution")


def _judged_execute_class():
    from nbclient.exceptions import DeadKernelError
    from nbformat.notebooknode import NotebookNode
    from nbgrader.preprocessors import Execute

    class JudgedExecute(Execute):
        """nbgrader's Execute: test cells decided by the judge, and at most so many bytes of output kept."""

        def reset_execution_trackers(self):
            super().reset_execution_trackers()
            self.output_bytes = {}
            self.dropped_output = set()
            self.ended_processes = {}
            self.timed_out_tests = set()

        def output(self, outs, msg, display_id, cell_index):
            size = len(json.dumps(msg.get("content", {}), default=str))
            cell_total = self.output_bytes.get(cell_index, 0) + size
            if cell_total > MAX_CELL_OUTPUT_BYTES or sum(self.output_bytes.values()) + size > MAX_NOTEBOOK_OUTPUT_BYTES:
                self.dropped_output.add(cell_index)
                return None
            self.output_bytes[cell_index] = cell_total
            return super().output(outs, msg, display_id, cell_index)

        def preprocess_cell(self, cell, resources, index):
            try:
                if not _is_test_cell(cell) or self.judge is None:
                    return super().preprocess_cell(cell, resources, index)
                from jupyter_core.utils import run_sync

                cell = run_sync(self.judge_cell)(cell, index)
                return cell, self.resources
            finally:
                # What a cell started and left running (a fork bomb) ends with the cell.
                ended = getattr(self.km, "end_stray_processes", lambda: 0)()
                if ended:
                    self.ended_processes[index] = ended

        async def judge_cell(self, cell, index):
            grade_id = cell.metadata["nbgrader"]["grade_id"]
            source = self.tests.get(grade_id, cell.source)
            timeout = self._get_timeout(cell) or 600
            start = time.perf_counter()
            self.judge.send_test(index, grade_id, source)
            verdict_task = asyncio.ensure_future(asyncio.to_thread(self.judge.verdict))
            msg_id = self.kc.execute(SERVE, silent=True, store_history=False, allow_stdin=False, stop_on_error=False)
            reply_task = asyncio.ensure_future(self._serve_reply(msg_id))
            try:
                if await self._settle(verdict_task, reply_task, timeout):
                    self.timed_out_tests.add(index)
            finally:
                for task in (verdict_task, reply_task):
                    if not task.done():
                        task.cancel()
            verdict = verdict_task.result()
            self.verdicts[grade_id] = {key: verdict.get(key) for key in ("passed", "ename", "evalue", "kind", "round_trips")}
            self.verdicts[grade_id]["seconds"] = time.perf_counter() - start
            self.judge_seconds += verdict.get("cpu_seconds") or 0.0
            cell.outputs = []
            if verdict.get("stdout"):
                cell.outputs.append(NotebookNode(output_type="stream", name="stdout", text=verdict["stdout"]))
            for picture in verdict.get("pictures") or ():
                cell.outputs.append(NotebookNode(output_type="display_data", metadata={}, data=picture))
            if not verdict.get("passed"):
                ename, evalue = verdict.get("ename") or "AssertionError", verdict.get("evalue") or ""
                cell.outputs.append(NotebookNode(output_type="error", ename=ename, evalue=evalue,
                                                 traceback=[f"{ename}: {evalue}"]))
            cell.execution_count = None
            return cell

        async def _serve_reply(self, msg_id):
            """Wait for the kernel to leave the probe server (its execute reply), dropping what it printed meanwhile."""
            while True:
                try:
                    msg = await self.kc.shell_channel.get_msg(timeout=1)
                except Exception:   # queue.Empty: no reply yet
                    await self._async_check_alive()
                    continue
                if msg["parent_header"].get("msg_id") == msg_id:
                    return msg

        async def _settle(self, verdict_task, reply_task, timeout):
            """Both the verdict and the kernel's return from the probe server, within the cell's time limit;
            return whether the test ran past that limit."""
            done, _ = await asyncio.wait({verdict_task, reply_task}, timeout=timeout,
                                         return_when=asyncio.FIRST_COMPLETED)
            timed_out = not done
            if not done:                 # the student's code is still running: interrupt it (a KeyboardInterrupt)
                await self._interrupt()
                done, _ = await asyncio.wait({verdict_task}, timeout=GRACE_SECONDS)
                if not done:
                    self.judge.abort(f"the test ran past the time limit of {timeout:g} s")
            elif reply_task in done and not verdict_task.done():
                error = reply_task.exception()
                if isinstance(error, DeadKernelError):
                    self.judge.abort("the kernel died while the test ran")
                    await verdict_task
                    raise error
                self.judge.abort("the kernel stopped answering the test: the notebook changed how its cells run, "
                                 "or the course's probe server")
            await verdict_task
            if not reply_task.done():
                done, _ = await asyncio.wait({reply_task}, timeout=GRACE_SECONDS)
                if not done:
                    await self._interrupt()
                    await asyncio.wait({reply_task}, timeout=GRACE_SECONDS)
            if reply_task.done() and isinstance(reply_task.exception(), DeadKernelError):
                raise reply_task.exception()
            return timed_out

        async def _interrupt(self):
            try:
                await self.km.interrupt_kernel()
            except Exception:     # a kernel gone already: the next wait says so
                pass

    return JudgedExecute


def _kill(km, killed):
    process = getattr(getattr(km, "provisioner", None), "process", None)
    if process is not None and process.poll() is None:
        killed.set()
        process.kill()


def _shut_down(km):
    """End the kernel: nbclient leaves a kernel it did not start running.

    Its process group is killed and reaped first, so that jupyter_client's shutdown finds it
    gone rather than polling for its end every 0.1 s (that wait would idle a core once per submission)."""
    from jupyter_client.utils import run_sync

    process = getattr(getattr(km, "provisioner", None), "process", None)
    try:
        if process is not None and process.poll() is None:
            run_sync(km.provisioner.kill)()
            process.wait(timeout=5)
        run_sync(km.shutdown_kernel)(now=True)
    except Exception:  # already dead, or its process gone: make sure, then move on
        _kill(km, threading.Event())


def dask_setup(worker):
    """Load what run_job needs as a worker starts (``preload=`` of a Dask worker names this module), rather than
    when its first submission arrives: the grading code, and this worker's judge (torch loads meanwhile)."""
    import nbclient  # noqa: F401
    import nbformat  # noqa: F401

    _judged_execute_class()
    _JUDGE.start()


def dask_teardown(worker):
    _JUDGE.close()


def run_job(job):
    """Execute one submission; never raises for anything the submission does."""
    import nbformat
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from traitlets.config import Config

    from . import sandbox

    start = time.perf_counter()
    result = Result(job.student, job.assignment)
    nb = nbformat.reads(job.notebook, as_version=4)
    executor = _judged_execute_class()(config=Config({"Execute": dict(job.execute_config)}))
    try:
        _JUDGE.ensure()
    except JudgeFailed as error:
        result.error = f"the grader's judge could not start: {error}"
        return result
    executor.judge, executor.tests, executor.verdicts, executor.judge_seconds = _JUDGE, dict(job.tests), {}, 0.0
    ours, kernel_end = socket.socketpair()
    with tempfile.TemporaryDirectory(prefix="grading-") as tmp:
        tmp = Path(tmp)
        tmp.chmod(0o755)
        write_files(tmp / "submission", {**job.files, f"{job.assignment}.ipynb": job.notebook.encode()})
        kernel_name = nb.metadata.get("kernelspec", {}).get("name", "python3")
        if job.sandbox:
            km = sandbox.kernel_manager(tmp, sandbox.Limits(**job.limits), kernel_name, probe_fd=kernel_end.fileno())
            workdir = tmp / "submission"
        else:
            km = sandbox.unsandboxed_kernel_manager(kernel_name, probe_fd=kernel_end.fileno())
            workdir = tmp / "work"
            import shutil

            shutil.copytree(tmp / "submission", workdir)
        km.client_factory = _prompt_client_class()
        killed = threading.Event()
        watchdog = threading.Timer(job.deadline_seconds, _kill, args=(km, killed))
        watchdog.daemon = True
        previous = os.environ.get("NBGRADER_EXECUTION")
        os.environ["NBGRADER_EXECUTION"] = "autograde"   # what nbgrader sets; an unsandboxed kernel inherits it
        watchdog.start()
        try:
            _JUDGE.begin(ours.fileno(), job.student, job.assignment)
            executor.preprocess(nb, {"metadata": {"path": str(workdir)}}, km=km)
        except JudgeFailed as error:
            result.error = f"the grader's judge failed (grade again): {error}"
        except Exception as error:  # nbclient raises several kinds for a kernel it lost
            if killed.is_set():
                result.error = f"the notebook ran past the grading limit of {job.deadline_seconds:g} s for a whole notebook"
            elif isinstance(error, DeadKernelError):
                result.error = DEAD_KERNEL
            elif isinstance(error, CellTimeoutError) and "IOPub" in str(error):
                result.error = (f"a cell's output had not all arrived {executor.iopub_timeout:g} s after the cell "
                                "ended (a cell changed how the kernel sends its output, for example sys.stdout, or the "
                                "grading machine was overloaded: the next run tries again)")
            elif isinstance(error, CellTimeoutError):
                result.error = ("the kernel stopped answering (a cell broke the kernel's own machinery, for example "
                                "by replacing a builtin function it relies on)")
            else:
                first_line = (str(error).splitlines() or [""])[0][:300]
                result.error = f"the notebook could not be run: {type(error).__name__}: {first_line}"
            if result.error and set(job.tests) <= set(executor.verdicts):
                # Every test was decided before the kernel was lost: the verdicts stand, the rest is a note.
                result.notes.append(f"after the last test, {result.error[0].lower()}{result.error[1:]}; "
                                    "the tests' verdicts stand")
                result.error = ""
        finally:
            watchdog.cancel()
            try:
                _JUDGE.finish()
            except OSError:
                pass
            ours.close()
            kernel_end.close()
            _shut_down(km)
            if previous is None:
                os.environ.pop("NBGRADER_EXECUTION", None)
            else:
                os.environ["NBGRADER_EXECUTION"] = previous
    result.verdicts, result.judge_seconds = executor.verdicts, executor.judge_seconds
    if not result.error:
        for index in sorted(executor.dropped_output):
            result.notes.append(f"cell {index} printed more than the grader keeps; the rest was dropped")
        for index in sorted(executor.timed_out_tests):
            result.notes.append(f"cell {index} stopped at the per-cell time limit")
        if executor.ended_processes:
            cells = sorted(executor.ended_processes)
            result.notes.append(f"suspicious: {'cell' if len(cells) == 1 else 'cells'} {', '.join(map(str, cells))} "
                                f"left {sum(executor.ended_processes.values())} process(es) running; they were ended")
        result.notebook = nbformat.writes(nb)
    result.seconds = time.perf_counter() - start
    return result


def _prompt_client_class():
    from queue import Empty

    from jupyter_client.asynchronous import AsyncKernelClient

    class PromptKernelClient(AsyncKernelClient):
        """jupyter_client's kernel client, ready once the kernel has answered on the shell channel and spoken on IOPub.

        jupyter_client's own wait_for_ready then waits for 0.2 s of silence on IOPub, to drop stale
        messages: a core left idle for a fifth of a second per submission. nbclient ignores IOPub
        messages that answer none of its requests, so it needs no such drain."""

        async def wait_for_ready(self, timeout=None):
            deadline = time.monotonic() + (float("inf") if timeout is None else timeout)
            while True:
                self.kernel_info()
                try:
                    reply = await self.shell_channel.get_msg(timeout=1)
                except Empty:
                    reply = None
                if reply is not None and reply["msg_type"] == "kernel_info_reply":
                    try:   # IOPub is connected once the kernel's status for that request arrives on it
                        await self.iopub_channel.get_msg(timeout=0.2)
                    except Empty:
                        pass
                    else:
                        self._handle_kernel_info_reply(reply)
                        return
                if not await self.is_alive():
                    raise RuntimeError("Kernel died before replying to kernel_info")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"Kernel didn't respond in {timeout:g} seconds")

    return PromptKernelClient
