"""A worker's part of grading: run one prepared submission in a fresh kernel, report what ran.

The coordinator (grade.py) turns a submission into a :class:`Job`: the notebook
with nbgrader's test cells already restored from the gradebook, the student's
other files, and the execution settings.  :func:`run_job` needs no gradebook and
no course folder, so it runs the same in a local process or on a Dask worker.

Positive evidence: before execution every test cell gets a last statement that
reports a fresh random nonce back through the kernel's display channel (see
``autograd_course._guard.evidence``).  A test cell counts only when its own
nonce came back with no finding of tampering; a cell that ends without error and
without it did not run to its end (something blanked or rewrote it, or swallowed
its error), and it scores 0.  The statement and its output are removed again, so
nbgrader's scores, checksums and feedback see the cell as the instructor wrote it.
"""

import json
import os
import secrets
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import EVIDENCE_MIME

EVIDENCE_STATEMENT = '__import__("autograd_course._guard", fromlist=["evidence"]).evidence({nonce!r})'
# Outputs kept per cell and per notebook; past them a print loop fills the worker's memory.
MAX_CELL_OUTPUT_BYTES = 1 << 20
MAX_NOTEBOOK_OUTPUT_BYTES = 16 << 20
# The whole notebook; a kernel that ignores interrupts is killed here.
DEADLINE_SECONDS = 1800.0
DEAD_KERNEL = ("the kernel died while running the notebook (the code crashed or ended the Python process, "
               "or it ran past a limit of the grading sandbox: memory, processes or CPU time)")


@dataclass
class Job:
    student: str
    assignment: str
    notebook: str                        # JSON, test cells already restored by nbgrader
    files: dict = field(default_factory=dict)   # other submitted files: relative path -> bytes
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
    seconds: float = 0.0


def _bounded_execute_class():
    from nbgrader.preprocessors import Execute

    class BoundedExecute(Execute):
        """nbgrader's Execute, keeping at most so many bytes of output per cell and per notebook."""

        def reset_execution_trackers(self):
            super().reset_execution_trackers()
            self.output_bytes = {}
            self.dropped_output = set()

        def output(self, outs, msg, display_id, cell_index):
            size = len(json.dumps(msg.get("content", {}), default=str))
            cell_total = self.output_bytes.get(cell_index, 0) + size
            if cell_total > MAX_CELL_OUTPUT_BYTES or sum(self.output_bytes.values()) + size > MAX_NOTEBOOK_OUTPUT_BYTES:
                self.dropped_output.add(cell_index)
                return None
            self.output_bytes[cell_index] = cell_total
            return super().output(outs, msg, display_id, cell_index)

    return BoundedExecute


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


def _is_test_cell(cell):
    meta = cell.metadata.get("nbgrader", {})
    return cell.cell_type == "code" and meta.get("grade") and not meta.get("solution")


def instrument(nb):
    """Give every test cell its evidence statement; return {cell index: (nonce, original source)}."""
    marks = {}
    for index, cell in enumerate(nb.cells):
        if _is_test_cell(cell):
            nonce = secrets.token_hex(16)
            marks[index] = (nonce, cell.source)
            cell.source = cell.source.rstrip() + "\n" + EVIDENCE_STATEMENT.format(nonce=nonce)
    return marks


def _error(ename, evalue):
    from nbformat.notebooknode import NotebookNode

    return NotebookNode(output_type="error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


def settle(nb, marks):
    """Put the test cells back as written and decide from the evidence which of them ran; return notes."""
    notes = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        evidence = [out for out in cell.get("outputs", []) if EVIDENCE_MIME in out.get("data", {})]
        cell.outputs = [out for out in cell.get("outputs", []) if EVIDENCE_MIME not in out.get("data", {})]
        if index not in marks:
            if evidence:
                notes.append(f"suspicious: cell {index} displays output that imitates the grader's evidence")
            continue
        nonce, cell.source = marks[index]
        genuine = [out.data[EVIDENCE_MIME] for out in evidence
                   if isinstance(out.data[EVIDENCE_MIME], dict) and out.data[EVIDENCE_MIME].get("nonce") == nonce]
        if len(evidence) > len(genuine):
            notes.append(f"suspicious: cell {index} displays output that imitates the grader's evidence")
        results = [out for out in cell.outputs if out.output_type == "execute_result"]
        if results:
            # The evidence statement ends every test cell, so a test never has a value to show:
            # this one was made by other code, perhaps to claim partial credit.
            cell.outputs = [out for out in cell.outputs if out.output_type != "execute_result"]
            notes.append(f"suspicious: cell {index} (a test) showed a value that the test does not produce")
        failed = any(out.output_type == "error" or (out.output_type == "stream" and out.get("name") == "stderr")
                     for out in cell.outputs)
        if not genuine:
            if not failed:
                notes.append(f"suspicious: test cell {index} did not run to its end, yet reported no error "
                             "(code changed how cells run); it scores 0")
                cell.outputs.append(_error("TestDidNotFinish", "this test did not run to its end, so it cannot count"))
            continue
        report = genuine[0]
        for what in report.get("tampering", []):
            note = f"suspicious: {what} (seen at test cell {index})"
            if not any(note.split(" (seen at")[0] == n.split(" (seen at")[0] for n in notes):
                notes.append(note)
        if report.get("tampering") and not failed:
            cell.outputs.append(_error("GradingEnvironmentChanged",
                                       "the notebook changed how the grading kernel runs tests: "
                                       + "; ".join(report["tampering"])))
        for what in report.get("refused", []):
            note = f"suspicious: refused while grading: {what}"
            if note not in notes:
                notes.append(note)
        for name in report.get("restored", []):
            note = f"suspicious: replaced {name} (put back before the tests ran)"
            if note not in notes:
                notes.append(note)
    return notes


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


def _write_files(folder, files, notebook_name, notebook):
    folder.mkdir(parents=True)
    for relative, data in files.items():
        target = (folder / relative).resolve()
        if target.is_relative_to(folder.resolve()):
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
    (folder / notebook_name).write_text(notebook)
    for path in [folder, *folder.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)


def dask_setup(worker):
    """Load what run_job needs as a worker starts (``preload=`` of a Dask worker names this module), rather than
    when its first submission arrives."""
    import nbclient  # noqa: F401
    import nbformat  # noqa: F401

    _bounded_execute_class()


def run_job(job):
    """Execute one submission; never raises for anything the submission does."""
    import nbformat
    from jupyter_client.manager import AsyncKernelManager
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from traitlets.config import Config

    from . import sandbox

    start = time.perf_counter()
    result = Result(job.student, job.assignment)
    nb = nbformat.reads(job.notebook, as_version=4)
    marks = instrument(nb)
    executor = _bounded_execute_class()(config=Config({"Execute": dict(job.execute_config)}))
    with tempfile.TemporaryDirectory(prefix="grading-") as tmp:
        tmp = Path(tmp)
        tmp.chmod(0o755)
        _write_files(tmp / "submission", job.files, f"{job.assignment}.ipynb", job.notebook)
        kernel_name = nb.metadata.get("kernelspec", {}).get("name", "python3")
        if job.sandbox:
            km = sandbox.kernel_manager(tmp, sandbox.Limits(**job.limits), kernel_name)
            workdir = tmp / "submission"
        else:
            km = AsyncKernelManager(kernel_name=kernel_name)
            workdir = tmp / "work"
            shutil.copytree(tmp / "submission", workdir)
        km.client_factory = _prompt_client_class()
        killed = threading.Event()
        watchdog = threading.Timer(job.deadline_seconds, _kill, args=(km, killed))
        watchdog.daemon = True
        previous = os.environ.get("NBGRADER_EXECUTION")
        os.environ["NBGRADER_EXECUTION"] = "autograde"   # what nbgrader sets; an unsandboxed kernel inherits it
        watchdog.start()
        try:
            executor.preprocess(nb, {"metadata": {"path": str(workdir)}}, km=km)
        except Exception as error:  # nbclient raises several kinds for a kernel it lost
            if killed.is_set():
                result.error = f"the notebook ran past the grading limit of {job.deadline_seconds:g} s for a whole notebook"
            elif isinstance(error, DeadKernelError):
                result.error = DEAD_KERNEL
            elif isinstance(error, CellTimeoutError):
                result.error = ("the kernel stopped answering (a cell broke the kernel's own machinery, for example "
                                "by replacing a builtin function it relies on)")
            else:
                first_line = (str(error).splitlines() or [""])[0][:300]
                result.error = f"the notebook could not be run: {type(error).__name__}: {first_line}"
        finally:
            watchdog.cancel()
            _shut_down(km)
            if previous is None:
                os.environ.pop("NBGRADER_EXECUTION", None)
            else:
                os.environ["NBGRADER_EXECUTION"] = previous
    if not result.error:
        result.notes = settle(nb, marks)
        for index in sorted(executor.dropped_output):
            result.notes.append(f"cell {index} printed more than the grader keeps; the rest was dropped")
        result.notebook = nbformat.writes(nb)
    result.seconds = time.perf_counter() - start
    return result
