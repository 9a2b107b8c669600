"""Read a submission folder as hostile input: regular files only, never through a link, within size limits.

A submission folder (``submitted/<student>/<assignment>/``) is written by whoever submitted it.  The
grader reads it with its own rights, so it must never follow a symbolic link (to the solutions, the
gradebook, /etc/passwd), open a FIFO or a device (/dev/zero never ends), or read without a limit.
:func:`read_folder` walks the folder through directory file descriptors opened with ``O_NOFOLLOW``
(a link swapped in while it walks is refused too), keeps regular files within the limits, and lists
everything it refused; the rest of grading uses that snapshot and nothing else of the folder.
"""

import errno
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

MAX_NOTEBOOK_BYTES = 32 << 20
MAX_FILE_BYTES = 16 << 20
MAX_TOTAL_BYTES = 128 << 20
MAX_ENTRIES = 1000
MAX_DEPTH = 16

_DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


@dataclass
class Snapshot:
    """What was read of a submission folder."""
    notebook: bytes = None                       # the <assignment>.ipynb, None when missing or refused
    files: dict = field(default_factory=dict)    # the other files: relative path -> bytes
    refused: list = field(default_factory=list)  # "path (why)" for each entry not read
    newest: float = 0.0                          # the latest modification time of what was read
    problem: str = ""                            # why nothing could be read ('' when the folder was read)

    @property
    def other_notebooks(self):
        """The .ipynb files beside the notebook under other names."""
        return sorted(name for name in self.files if name.endswith(".ipynb") and "/" not in name)


def _kind(mode):
    for test, name in ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a device"),
                       (stat.S_ISBLK, "a device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def _read_file(directory_fd, name, limit):
    """(bytes, '') or (None, why not) for the entry ``name`` of an open directory."""
    try:
        fd = os.open(name, _FILE, dir_fd=directory_fd)
    except OSError as error:       # ELOOP: it became a symbolic link after it was listed
        return None, "a symbolic link" if error.errno == errno.ELOOP else error.strerror
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return None, _kind(info.st_mode)
        if info.st_size > limit:
            return None, f"{info.st_size / 2**20:.1f} MiB, over the limit of {limit >> 20} MiB"
        chunks, size = [], 0
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            size += len(chunk)
            if size > limit:      # it grew while being read
                return None, f"over the limit of {limit >> 20} MiB"
            chunks.append(chunk)
        return b"".join(chunks), ""
    finally:
        os.close(fd)


def read_folder(folder, notebook_name):
    """A :class:`Snapshot` of ``folder``: ``notebook_name`` and the other regular files, nothing else."""
    snapshot, folder = Snapshot(), Path(folder)
    try:
        root = os.open(folder, _DIRECTORY)
    except OSError as error:
        snapshot.problem = ("the submission folder is a symbolic link" if folder.is_symlink()
                            else f"the submission folder cannot be read ({error.strerror})")
        return snapshot
    total, entries = 0, 0
    pending = [(root, "")]
    try:
        while pending:
            directory_fd, prefix = pending.pop()
            try:
                names = sorted(os.listdir(directory_fd))
                for name in names:
                    relative = f"{prefix}{name}"
                    entries += 1
                    if entries > MAX_ENTRIES:
                        snapshot.refused.append(f"{relative} and the rest (more than {MAX_ENTRIES} entries)")
                        return snapshot
                    info = os.stat(name, dir_fd=directory_fd, follow_symlinks=False)
                    if stat.S_ISDIR(info.st_mode):
                        if relative.count("/") + 1 >= MAX_DEPTH:
                            snapshot.refused.append(f"{relative}/ (folders nested deeper than {MAX_DEPTH})")
                            continue
                        try:
                            pending.append((os.open(name, _DIRECTORY, dir_fd=directory_fd), f"{relative}/"))
                        except OSError as error:
                            snapshot.refused.append(f"{relative}/ ({error.strerror})")
                        continue
                    if not stat.S_ISREG(info.st_mode):
                        snapshot.refused.append(f"{relative} ({_kind(info.st_mode)})")
                        continue
                    is_notebook = relative == notebook_name
                    limit = MAX_NOTEBOOK_BYTES if is_notebook else MAX_FILE_BYTES
                    if info.st_size <= limit and total + info.st_size > MAX_TOTAL_BYTES:
                        snapshot.refused.append(f"{relative} (the folder would pass {MAX_TOTAL_BYTES >> 20} MiB)")
                        continue
                    data, why = _read_file(directory_fd, name, min(limit, MAX_TOTAL_BYTES - total))
                    if data is None:
                        snapshot.refused.append(f"{relative} ({why})")
                        continue
                    total += len(data)
                    snapshot.newest = max(snapshot.newest, info.st_mtime)
                    if is_notebook:
                        snapshot.notebook = data
                    else:
                        snapshot.files[relative] = data
            finally:
                os.close(directory_fd)
    finally:
        for directory_fd, _ in pending:
            os.close(directory_fd)
    return snapshot


def write_files(folder, files):
    """Write ``{relative path: bytes}`` under ``folder`` (created), never outside it; files 0644, folders 0755."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    base = folder.resolve()
    for relative, data in files.items():
        target = (folder / relative).resolve()
        if target.is_relative_to(base) and target != base:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
    for path in [folder, *folder.rglob("*")]:
        if not path.is_symlink():
            path.chmod(0o755 if path.is_dir() else 0o644)
