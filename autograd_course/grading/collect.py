"""File downloaded .ipynb submissions (Colab, an LMS) into submitted/ with nbgrader zip_collect.

usage: python -m autograd_course.grading.collect (--zip FILE.zip | --dir FOLDER) [--course DIR] [--replace]

File names must follow  <student_id>_<assignment>.ipynb , for example
``ada_lovelace_01_graphs.ipynb`` or ``s1234567_03_hooks.ipynb``: the student id is
everything before the last ``_NN_name.ipynb``.  A student id is 1 to 64 letters, digits
and ``_ . @ + -``, starting with a letter or digit, without ``..`` (:data:`STUDENT_ID`):
it names a folder of submitted/, so nothing else may.  Every file that is not filed is
listed with the reason: a name that does not follow the pattern, an id that is not safe,
a notebook over 32 MiB, the same student twice in one download, or a student whose
filed submission is different and came from another download (``--replace`` files the
new one over it; a new download of the same file replaces without it).  Nothing already
in submitted/ is removed.
"""

import argparse
import hashlib
import json
import re
import shutil
import sys
import zipfile
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

from .course import assignments, nbgrader
from .submission import MAX_NOTEBOOK_BYTES

# nbgrader's FileNameCollectorPlugin matches this against the file's absolute path,
# so the student id may not cross a "/"; nbgrader_config.py uses it as named_regexp.
NAMED_REGEXP = r"^(?:.*/)?(?P<student_id>[^/]+)_(?P<file_id>\d\d_[A-Za-z0-9_]+?\.ipynb)$"
FILE_NAME = re.compile(NAMED_REGEXP)
STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+-]{0,63}$")
# Where collect remembers which download each filed submission came from.
LEDGER = Path("downloaded") / "collected.json"


def safe_student_id(student_id):
    return bool(STUDENT_ID.match(student_id)) and ".." not in student_id


@contextmanager
def notebooks_in(source):
    """The .ipynb files in a zip or a folder, as a list of (file name, where it was found, size, read).

    Only .ipynb entries are read, each when asked and up to the size limit; a zip's folders are ignored
    (only the last part of an entry's name counts), so no entry name decides where anything is written."""
    source = Path(source)
    if source.is_dir():
        yield [(path.name, str(path.relative_to(source)), path.stat().st_size, path.read_bytes)
               for path in sorted(source.rglob("*.ipynb")) if path.is_file() and not path.is_symlink()]
        return

    def reader(archive, entry):
        def read():
            with archive.open(entry) as handle:      # the size in the header is the sender's claim
                data = handle.read(MAX_NOTEBOOK_BYTES + 1)
            if len(data) > MAX_NOTEBOOK_BYTES:
                raise ValueError(f"over the limit of {MAX_NOTEBOOK_BYTES >> 20} MiB")
            return data
        return read

    with zipfile.ZipFile(source) as archive:
        found = []
        for entry in archive.infolist():
            parts = PurePosixPath(entry.filename.replace("\\", "/")).parts
            if not entry.is_dir() and parts and parts[-1].endswith(".ipynb") and "__MACOSX" not in parts:
                found.append((parts[-1], entry.filename, entry.file_size, reader(archive, entry)))
        yield found


def _digest(data):
    return hashlib.sha256(data).hexdigest()


def _decide(course, ledger, origin, known, name, data, replace):
    """(student, assignment) to file ``name`` as, or the reason it is skipped."""
    match = FILE_NAME.match(name)
    assignment = match and match["file_id"].removesuffix(".ipynb")
    if assignment not in known:
        return f"not <student_id>_<assignment>.ipynb for a known assignment ({', '.join(sorted(known))})"
    student = match["student_id"]
    if not safe_student_id(student):
        return (f"the student id {student!r} is not safe as a folder name "
                "(1-64 letters, digits, _ . @ + -, starting with a letter or digit, no '..')")
    existing = course / "submitted" / student / assignment / f"{assignment}.ipynb"
    if existing.is_symlink() or (existing.exists() and existing.read_bytes() != data):
        came_from = ledger.get(f"{student}/{assignment}", {}).get("source")
        if came_from != origin and not replace:
            return (f"{student} already has a different {assignment} filed (from "
                    f"{came_from or 'an earlier collect or nbgrader exchange'}); give --replace "
                    "(make collect REPLACE=1) to file this one over it")
    elif existing.exists():
        return f"the same notebook is filed for {student} already"
    return student, assignment


def collect(course, source, replace=False):
    """File every acceptable notebook in ``source`` (zip or folder); return ({assignment: [students]}, {name: why})."""
    course = Path(course)
    known = set(assignments(course))
    ledger_path = course / LEDGER
    ledger = json.loads(ledger_path.read_text()) if ledger_path.exists() else {}
    origin = str(Path(source).resolve())
    chosen, skipped = {}, {}
    with notebooks_in(source) as found:
        places = {}
        for name, where, _, _ in found:
            places.setdefault(name, []).append(where)
        for name, where, size, read in found:
            if len(places[name]) > 1:
                skipped[name] = f"found {len(places[name])} times ({', '.join(places[name])}): which one to file is unclear"
                continue
            if size > MAX_NOTEBOOK_BYTES:
                skipped[name] = f"{size / 2**20:.0f} MiB, over the limit of {MAX_NOTEBOOK_BYTES >> 20} MiB"
                continue
            try:
                data = read()
            except (ValueError, zipfile.BadZipFile, OSError) as error:
                skipped[name] = f"could not be read ({error})"
                continue
            decision = _decide(course, ledger, origin, known, name, data, replace)
            if isinstance(decision, str):
                skipped[name] = decision
                continue
            student, assignment = decision
            archive = course / "downloaded" / assignment / "archive"
            if assignment not in chosen:
                shutil.rmtree(archive.parent, ignore_errors=True)
                archive.mkdir(parents=True)
                chosen[assignment] = []
            (archive / name).write_bytes(data)
            chosen[assignment].append(student)
            ledger[f"{student}/{assignment}"] = {"source": origin, "file": name, "sha256": _digest(data)}
    filed = {}
    for assignment, students in sorted(chosen.items()):
        result = nbgrader(["zip_collect", assignment, "--force"], course)
        if result.returncode != 0:
            raise SystemExit(f"nbgrader zip_collect {assignment} failed:\n{result.stderr[-1500:]}")
        filed[assignment] = sorted(students)
        print(f"{assignment}: filed {len(students)} submission(s) into submitted/: {', '.join(filed[assignment])}")
    if filed:
        ledger_path.parent.mkdir(parents=True, exist_ok=True)
        ledger_path.write_text(json.dumps(ledger, indent=1, sort_keys=True) + "\n")
    for name, why in sorted(skipped.items()):
        print(f"skipped {name}: {why}")
    return filed, skipped


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zip")
    parser.add_argument("--dir")
    parser.add_argument("--course", default=".")
    parser.add_argument("--replace", action="store_true",
                        help="file a notebook over a different one filed for that student from another download")
    args = parser.parse_args(argv)
    if bool(args.zip) == bool(args.dir):
        parser.error("give one of --zip FILE or --dir FOLDER (make collect ZIP=... or DIR=...)")
    source = Path(args.zip or args.dir)
    if not (source.is_dir() if args.dir else zipfile.is_zipfile(source)):
        parser.error(f"{source} is not {'a folder' if args.dir else 'a zip file'}")
    collect(args.course, source, replace=args.replace)


if __name__ == "__main__":
    sys.exit(main())
