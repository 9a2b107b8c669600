"""File downloaded .ipynb submissions (Colab, an LMS) into submitted/ with nbgrader zip_collect.

usage: python -m autograd_course.grading.collect (--zip FILE.zip | --dir FOLDER) [--course DIR]

File names must follow  <student_id>_<assignment>.ipynb , for example
``ada_lovelace_01_graphs.ipynb`` or ``s1234567_03_hooks.ipynb``: the student id is
everything before the last ``_NN_name.ipynb``.  Files that do not follow it are
listed and left out; nothing already in submitted/ is removed.
"""

import argparse
import re
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

from .course import assignments, nbgrader

# nbgrader's FileNameCollectorPlugin matches this against the file's absolute path,
# so the student id may not cross a "/"; nbgrader_config.py uses it as named_regexp.
NAMED_REGEXP = r"^(?:.*/)?(?P<student_id>[^/]+)_(?P<file_id>\d\d_[A-Za-z0-9_]+?\.ipynb)$"
FILE_NAME = re.compile(NAMED_REGEXP)


def notebooks_in(source, staging):
    """The .ipynb files in a zip (extracted into `staging`) or in a folder."""
    source = Path(source)
    if source.is_dir():
        return sorted(source.rglob("*.ipynb"))
    with zipfile.ZipFile(source) as archive:
        archive.extractall(staging)
    return sorted(p for p in Path(staging).rglob("*.ipynb") if "__MACOSX" not in p.parts)


def collect(course, source):
    """File every well-named notebook in `source` (zip or folder); returns (filed, skipped names)."""
    course = Path(course)
    known = set(assignments(course))
    by_assignment, skipped = {}, []
    with tempfile.TemporaryDirectory() as staging:
        for path in notebooks_in(source, staging):
            match = FILE_NAME.match(path.name)
            assignment = match and match["file_id"].removesuffix(".ipynb")
            if assignment not in known:
                skipped.append(path.name)
                continue
            by_assignment.setdefault(assignment, []).append(path)
        for assignment, paths in sorted(by_assignment.items()):
            archive = course / "downloaded" / assignment / "archive"
            shutil.rmtree(archive.parent, ignore_errors=True)
            archive.mkdir(parents=True)
            for path in paths:
                shutil.copy(path, archive / path.name)
            result = nbgrader(["zip_collect", assignment, "--force"], course)
            if result.returncode != 0:
                raise SystemExit(f"nbgrader zip_collect {assignment} failed:\n{result.stderr[-1500:]}")
            students = sorted(FILE_NAME.match(p.name)["student_id"] for p in paths)
            print(f"{assignment}: filed {len(paths)} submission(s) into submitted/: {', '.join(students)}")
    for name in skipped:
        print(f"skipped {name}: not <student_id>_<assignment>.ipynb for a known assignment ({', '.join(sorted(known))})")
    return by_assignment, skipped


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zip")
    parser.add_argument("--dir")
    parser.add_argument("--course", default=".")
    args = parser.parse_args(argv)
    if bool(args.zip) == bool(args.dir):
        parser.error("give one of --zip FILE or --dir FOLDER (make collect ZIP=... or DIR=...)")
    source = Path(args.zip or args.dir)
    if not (source.is_dir() if args.dir else zipfile.is_zipfile(source)):
        parser.error(f"{source} is not {'a folder' if args.dir else 'a zip file'}")
    collect(args.course, source)


if __name__ == "__main__":
    sys.exit(main())
