"""Grading kernels in a bubblewrap sandbox: student code sees its own submission and nothing else.

Each kernel runs as ``bwrap`` around ``python -m ipykernel_launcher`` with
- read-only views of the system (/usr, /etc, ...), the Python installation, the
  virtual environment and the course package, and nothing else of the machine:
  no course folder, so no gradebook, solutions, submissions or grades; the rest of
  its file system is read-only;
- a private home and working directory on size-capped tmpfs, holding a copy of
  the submission's files, and a private /tmp;
- its sockets (the kernel's ZMQ sockets) on a tmpfs of its own of 1 MiB, which the
  grader reaches through ``/proc/<kernel pid>/root``: nothing the kernel writes
  there lands on the grader's disk;
- no network (a new network namespace), its own PID namespace (it sees only its
  own processes), a new session, a clean environment;
- limits on address space, processes, CPU time and file size (prlimit), and, when
  the grader runs as root, an unprivileged user id of its own, so that a fork
  bomb or a memory bomb costs that kernel alone; what a cell leaves running
  (a fork bomb's processes) is ended when the cell ends;
- one end of a socket pair the worker made, inherited as a file descriptor: the
  judge's probes travel over it (see execute.py), with no path to look up.
The grader interrupts the kernel by message, since signals do not cross into it.
"""

import itertools
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager
from traitlets import Dict, Integer, Unicode

INSTALL_HINT = ("install bubblewrap ('sudo apt-get install bubblewrap' on Debian/Ubuntu, "
                "'sudo dnf install bubblewrap' on Fedora), or pass --no-sandbox to grade without isolation")
HOME = "/home/student"
WORK = f"{HOME}/work"
SUBMISSION = "/run/submission"
SOCKETS = "/run/kernel"          # the kernel's ZMQ sockets, on a tmpfs of its own
PROBE_FD_VARIABLE = "AUTOGRAD_COURSE_PROBE_FD"
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/var/cache/fontconfig")
# First user id of the kernels when the grader runs as root; each worker process has a range of its own.
FIRST_KERNEL_UID = 200000
KERNEL_UIDS_PER_WORKER = 64


@dataclass(frozen=True)
class Limits:
    """What one grading kernel may use; exceeding a limit costs that submission alone."""
    address_space_mib: int = 6144   # torch reserves ~1 GiB of address space before any tensor exists
    processes: int = 256            # threads count too
    cpu_seconds: int = 900
    file_mib: int = 64              # largest file it may write
    tmpfs_mib: int = 256            # each of home (with the working directory) and /tmp
    sockets_kib: int = 1024         # the folder of the kernel's sockets


def course_package_dir():
    import autograd_course

    return Path(autograd_course.__file__).resolve().parent


def readonly_paths():
    """Host folders the kernel sees (read-only): system, Python, virtual environment, course package."""
    python_dirs = {Path(p).resolve() for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    # Only the installation's own import folders: sys.path may also hold the current folder,
    # which is often the course folder itself.
    python_dirs |= {Path(p).resolve() for p in sys.path if p and Path(p).is_dir()
                    and any(Path(p).resolve().is_relative_to(prefix) for prefix in set(python_dirs))}
    python_dirs.add(course_package_dir())
    paths = [Path(p) for p in SYSTEM_DIRS if Path(p).exists()]
    # The virtual environment may live inside the course folder: bind it, never its parent.
    for path in sorted(python_dirs):
        if not any(path.is_relative_to(bound) for bound in paths):
            paths.append(path)
    return paths


def exposes(course):
    """The read-only view would contain ``course`` (then the gradebook would be in reach)."""
    course = Path(course).resolve()
    return [p for p in readonly_paths() if course == p or course.is_relative_to(p)]


_kernels_started = itertools.count()


def _kernel_uid():
    """The user id of the next kernel when the grader runs as root, else None.

    Each kernel gets a different one from its worker's range: a user's process limit counts every process of that
    user, so processes a fork bomb left being ended must not count against the next student's kernel."""
    if os.geteuid() != 0:
        return None
    return FIRST_KERNEL_UID + os.getpid() * KERNEL_UIDS_PER_WORKER + next(_kernels_started) % KERNEL_UIDS_PER_WORKER


def _in_real_folder(program):
    """``program`` with its folder's links resolved: a virtual environment reached through a link is
    bound at its real place, and the interpreter must be named there (it finds pyvenv.cfg beside it)."""
    return os.path.join(os.path.realpath(os.path.dirname(program)), os.path.basename(program))


def wrap_command(command, connection_file, submission, limits, uid, probe_fd=None, info_fd=None):
    """``command`` (a kernel's argv) as it runs inside the sandbox.

    ``connection_file`` is bound read-only at its own path; ``info_fd`` receives bwrap's JSON with the
    sandboxed process's pid; ``probe_fd`` stays open in the kernel for the judge's probes."""
    command = [_in_real_folder(command[0])] + list(command[1:])
    package = course_package_dir()
    env = {
        "HOME": HOME, "PATH": f"{os.path.dirname(command[0])}:/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8", "PYTHONPATH": str(package.parent), "PYTHONDONTWRITEBYTECODE": "1",
        "MPLCONFIGDIR": f"{HOME}/.config/matplotlib", "XDG_CACHE_HOME": f"{HOME}/.cache", "OMP_NUM_THREADS": "1",
        "NBGRADER_EXECUTION": "autograde", "AUTOGRAD_COURSE_SANDBOX": "1",
    }
    if probe_fd is not None:
        env[PROBE_FD_VARIABLE] = str(probe_fd)
    mib = 1024 * 1024
    argv = ["prlimit", f"--as={limits.address_space_mib * mib}", f"--nproc={limits.processes}",
            f"--cpu={limits.cpu_seconds}", f"--fsize={limits.file_mib * mib}", "--core=0", "--",
            "bwrap", "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
            "--die-with-parent", "--new-session", "--clearenv"]
    if info_fd is not None:
        argv += ["--info-fd", str(info_fd)]
    if uid is None:
        argv += ["--unshare-user"]   # an unprivileged bwrap needs a user namespace
    else:
        # bwrap runs as root, so that it can read what it binds; the kernel then drops to
        # an unprivileged user of its own (process limits count per user, root is exempt).
        argv += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--cap-add", "CAP_SETPCAP"]
    argv += ["--proc", "/proc", "--dev", "/dev",
             "--perms", "1777", "--size", str(limits.tmpfs_mib * mib), "--tmpfs", "/tmp",
             "--perms", "1777", "--size", str(limits.tmpfs_mib * mib), "--tmpfs", HOME,
             "--perms", "0777", "--dir", WORK,
             "--perms", "1777", "--size", str(limits.sockets_kib * 1024), "--tmpfs", SOCKETS]
    binds = [("--ro-bind", path, path) for path in readonly_paths()]
    binds += [("--ro-bind", Path(connection_file), Path(connection_file)),
              ("--ro-bind", Path(submission), Path(SUBMISSION))]
    # bwrap makes the folders above a mount point private to root; the kernel must pass through them.
    parents = sorted({parent for _, _, target in binds for parent in target.parents if parent != Path("/")}
                     - {target for _, _, target in binds})
    for parent in parents:
        argv += ["--perms", "0755", "--dir", str(parent)]
    for option, source, target in binds:
        argv += [option, str(source), str(target)]
    # Everything else of the sandbox's own root (bwrap's tmpfs, unbounded) is read-only.
    argv += ["--remount-ro", "/", "--chdir", WORK]
    for name, value in env.items():
        argv += ["--setenv", name, value]
    argv.append("--")
    if uid is not None:
        argv += ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--inh-caps=-all",
                 "--bounding-set=-all", "--"]
    # Copy the submission into the writable working directory, send the process's own output
    # (not the cells', which travel over the sockets) nowhere, then become the kernel.
    start = ("import os, shutil, sys\n"
             "log = os.open(os.devnull, os.O_WRONLY)\n"
             "os.dup2(log, 1); os.dup2(log, 2)\n"
             "for folder, _, files in os.walk(%r):\n"
             "    here = os.path.relpath(folder, %r)\n"
             "    os.makedirs(here, exist_ok=True)\n"
             "    for name in files:\n"
             "        shutil.copyfile(os.path.join(folder, name), os.path.join(here, name))\n"
             "os.execv(sys.argv[1], sys.argv[1:])\n" % (SUBMISSION, SUBMISSION))
    return argv + [command[0], "-I", "-c", start] + command


class _ProbeFdMixin:
    """Hands the kernel one end of the worker's probe socket pair (see execute.py) as it launches."""

    def _with_probe_fd(self, kw, extra_fds=()):
        fds = tuple(fd for fd in (self.probe_fd, *extra_fds) if fd is not None and fd >= 0)
        kw["pass_fds"] = tuple(kw.get("pass_fds", ())) + fds
        if self.probe_fd is not None and self.probe_fd >= 0:
            kw["env"] = dict(kw.get("env") or os.environ, **{PROBE_FD_VARIABLE: str(self.probe_fd)})
        return kw


class SandboxedKernelManager(_ProbeFdMixin, AsyncKernelManager):
    """A kernel manager whose kernels start inside the sandbox (see the module docstring)."""

    sandbox_dir = Unicode(help="host folder of this kernel: host/ (its connection file) and submission/").tag(config=True)
    limits = Dict(help="Limits as a dict").tag(config=True)
    kernel_uid = Integer(None, allow_none=True).tag(config=True)
    probe_fd = Integer(None, allow_none=True).tag(config=True)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        host = Path(self.sandbox_dir) / "host"
        host.mkdir(parents=True, exist_ok=True)
        self.transport = "ipc"
        self.ip = f"{SOCKETS}/kernel"             # as the kernel sees it; the grader's path is set once it runs
        self.connection_file = str(host / "kernel.json")
        self._info = None

    @property
    def kernel_spec(self):
        spec = super().kernel_spec
        if spec is not None:
            spec.interrupt_mode = "message"   # a signal to bwrap would not reach the kernel
        return spec

    def format_kernel_cmd(self, extra_arguments=None):
        command = super().format_kernel_cmd(extra_arguments)
        self._info = os.pipe()
        if self.kernel_uid is not None:
            os.chown(self.connection_file, self.kernel_uid, self.kernel_uid)
        return wrap_command(command, self.connection_file, Path(self.sandbox_dir) / "submission",
                            Limits(**self.limits), self.kernel_uid, self.probe_fd, self._info[1])

    async def _async_launch_kernel(self, kernel_cmd, **kw):
        read_end, write_end = self._info
        try:
            await super()._async_launch_kernel(kernel_cmd, **self._with_probe_fd(kw, (write_end,)))
        finally:
            os.close(write_end)
        pid = _sandboxed_pid(read_end)
        self.sandbox_init_pid = pid
        # The grader reaches the kernel's sockets through the sandbox's own root.
        self.ip = f"/proc/{pid}/root{SOCKETS}/kernel"

    def end_stray_processes(self):
        """Kill what the notebook's code left running in the sandbox (a fork bomb's processes); return how many.

        ``sandbox_init_pid`` is the sandbox's init (bwrap's pid 1): every process of the sandbox descends from it,
        and the kernel is its first child; orphans are handed to the init too. All but the kernel go."""
        init = getattr(self, "sandbox_init_pid", None)
        first = min(_children(init), key=_start_time, default=None) if init else None
        killed = set()
        for _ in range(100):          # a bomb forks while it is being ended: go on until none is left
            # A zombie has ended already; it stays listed until its parent (perhaps the kernel) reaps it.
            strays = [p for p in _descendants(init) if p != first and _state(p) not in "ZX"] if first else []
            if not strays:
                break
            for stray in strays:
                try:
                    os.kill(stray, 9)
                    killed.add(stray)
                except OSError:    # gone already
                    pass
        return len(killed)

    def cleanup_ipc_files(self):
        pass       # the kernel's sockets live on its own tmpfs, gone with it


class UnsandboxedKernelManager(_ProbeFdMixin, AsyncKernelManager):
    """A plain kernel (make grade --no-sandbox), with the probe socket all the same."""

    probe_fd = Integer(None, allow_none=True).tag(config=True)

    async def _async_launch_kernel(self, kernel_cmd, **kw):
        await super()._async_launch_kernel(kernel_cmd, **self._with_probe_fd(kw))


def _start_time(pid):
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return int(stat.read().rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return float("inf")


def _state(pid):
    """The process's state letter (R, S, Z for a zombie ...), or "X" when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "X"


def _children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as children:
            return [int(child) for child in children.read().split()]
    except (OSError, ValueError):
        return []


def _descendants(pid):
    found, pending = [], _children(pid)
    while pending:
        child = pending.pop()
        found.append(child)
        pending.extend(_children(child))
    return found


def _sandboxed_pid(read_end, timeout=60):
    """The host pid of the sandboxed process, from bwrap's --info-fd JSON."""
    import json
    import select

    data = b""
    try:
        while b"}" not in data:
            ready, _, _ = select.select([read_end], [], [], timeout)
            chunk = os.read(read_end, 4096) if ready else b""
            if not chunk:
                raise RuntimeError("the sandbox did not start (bwrap gave no process id)")
            data += chunk
    finally:
        os.close(read_end)
    return int(json.loads(data[:data.index(b"}") + 1])["child-pid"])


def sandbox_problem():
    """Why no sandboxed kernel can start here ('' when one can)."""
    missing = [tool for tool in ("bwrap", "prlimit") + (("setpriv",) if os.geteuid() == 0 else ())
               if shutil.which(tool) is None]
    if missing:
        return f"{', '.join(missing)} not found: {INSTALL_HINT}"
    try:
        with tempfile.TemporaryDirectory() as empty:
            os.chmod(empty, 0o755)
            uid = _kernel_uid()
            if uid is not None:
                os.chown(empty, uid, uid)
            finds_course = "import importlib.util, sys; sys.exit(importlib.util.find_spec('autograd_course') is None)"
            connection = Path(empty) / "probe.json"
            connection.write_text("{}")
            probe = wrap_command([sys.executable, "-c", finds_course], connection, Path(empty), Limits(), uid)
            result = subprocess.run(probe, capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"a test sandbox did not start ({error}): {INSTALL_HINT}"
    if result.returncode != 0:
        return f"a test sandbox failed: {result.stderr.strip()[-500:]}\n({INSTALL_HINT})"
    return ""


def kernel_manager(sandbox_dir, limits=Limits(), kernel_name="python3", probe_fd=None):
    """A kernel manager for one submission whose files lie in ``sandbox_dir``/submission."""
    return SandboxedKernelManager(kernel_name=kernel_name, sandbox_dir=str(sandbox_dir),
                                  limits=asdict(limits), kernel_uid=_kernel_uid(), probe_fd=probe_fd)


def unsandboxed_kernel_manager(kernel_name="python3", probe_fd=None):
    return UnsandboxedKernelManager(kernel_name=kernel_name, probe_fd=probe_fd)
