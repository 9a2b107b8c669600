"""Run one notebook's test cells the way grading does, and print the judge's verdict for each.

For an instructor writing or changing a test: ``python -m autograd_course.grading.try_tests
solutions/04_custom_functions/04_custom_functions.ipynb`` runs the notebook in a sandboxed kernel with
each test cell decided by the judge (no gradebook, no Dask), then prints every test's verdict, its
message when it failed, and how many probes it sent to the student's kernel.  ``--replace FILE`` swaps
solution cells first: FILE is a Python file of ``{grade_id: source}`` dicts (tests/submissions/ holds
them), ``--cases NAME`` picks the dict (ALTERNATIVES, or the code of MISTAKES / RULE_BREAKS entries).
"""

import argparse
import importlib.util
import sys
from pathlib import Path

import nbformat

from .execute import Job, dask_setup, dask_teardown, run_job
from .sandbox import Limits


def _is_test(cell):
    meta = cell.metadata.get("nbgrader", {})
    return cell.cell_type == "code" and meta.get("grade") and not meta.get("solution")


def _replacements(path, name):
    spec = importlib.util.spec_from_file_location("cases", path)
    cases = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cases)
    chosen = getattr(cases, name)
    return {grade_id: case[1] if isinstance(case, tuple) else case for grade_id, case in chosen.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebook", type=Path)
    parser.add_argument("--replace", type=Path, help="a Python file of {grade_id: source} dicts")
    parser.add_argument("--cases", default="ALTERNATIVES", help="which dict of --replace (default ALTERNATIVES)")
    parser.add_argument("--only", nargs="*", default=None, help="replace only these grade_ids")
    parser.add_argument("--no-sandbox", action="store_true", help="run the kernel without bubblewrap")
    args = parser.parse_args(argv)

    nb = nbformat.read(str(args.notebook), as_version=4)
    if args.replace:
        swaps = _replacements(args.replace, args.cases)
        for cell in nb.cells:
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
            if grade_id in swaps and (args.only is None or grade_id in args.only):
                cell.source = swaps[grade_id].strip("\n") + "\n"
    tests = {cell.metadata.nbgrader.grade_id: cell.source for cell in nb.cells if _is_test(cell)}
    dask_setup(None)
    try:
        result = run_job(Job("try", args.notebook.stem, nbformat.writes(nb), tests,
                             sandbox=not args.no_sandbox, limits=vars(Limits())))
    finally:
        dask_teardown(None)
    if result.error:
        print(f"not run: {result.error}")
        return 2
    failed = 0
    for grade_id in tests:
        verdict = result.verdicts.get(grade_id)
        if verdict is None:
            print(f"{grade_id}: no verdict (the notebook stopped before it)")
            failed += 1
            continue
        status = "passed" if verdict["passed"] else "FAILED"
        print(f"{grade_id}: {status} ({verdict.get('round_trips', 0)} probes, {verdict.get('seconds', 0):.2f} s)")
        if not verdict["passed"]:
            failed += 1
            print(f"    [{verdict.get('kind')}] {verdict.get('ename')}: {verdict.get('evalue')}".replace("\n", "\n    "))
    print(f"{len(tests) - failed}/{len(tests)} tests passed; {result.seconds:.1f} s, of which the judge's own CPU "
          f"{result.judge_seconds:.1f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
