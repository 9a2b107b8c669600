"""The course's budgets, measured: `make bench`.

usage: python -m autograd_course.grading.bench [--repeats 3] [--out bench-results]

1. each solution notebook executed start to finish (kernel start included):
   median over N runs of the wall time and of the kernel's peak resident memory;
2. the floor: a notebook that only imports torch (kernel start + import);
3. grading throughput on the demo class (ada and ben for every assignment):
   plain serial `nbgrader autograde` per assignment vs `make grade`'s parallel
   per-student grading, in seconds per submitted notebook, and their ratio
   (each run grades a fresh copy of the class both ways, one after the other).
Figures are medians; the machine is shared, so compare ratios within one run.
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from .course import REPOSITORY, assignments, nbgrader
from .demo import build
from .grade import grade_class


def _execute_in_child(path):
    """Run one notebook in a fresh process; return (seconds, peak kernel memory in MiB)."""
    code = (
        "import json, resource, sys, time, nbformat\n"
        "from nbclient import NotebookClient\n"
        "nb = nbformat.read(sys.argv[1], as_version=4)\n"
        "start = time.perf_counter()\n"
        "NotebookClient(nb, timeout=600, resources={'metadata': {'path': sys.argv[2]}}).execute()\n"
        "seconds = time.perf_counter() - start\n"
        "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024\n"
        "print(json.dumps([seconds, peak]))\n"
    )
    result = subprocess.run([sys.executable, "-c", code, str(path), str(Path(path).parent)],
                            capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def measure_notebooks(repeats):
    rows = {}
    for assignment in assignments(REPOSITORY):
        runs = [_execute_in_child(REPOSITORY / "solutions" / assignment / f"{assignment}.ipynb") for _ in range(repeats)]
        rows[assignment] = {"seconds": statistics.median(r[0] for r in runs),
                            "peak_mib": statistics.median(r[1] for r in runs)}
        print(f"  {assignment:30} {rows[assignment]['seconds']:6.2f} s   {rows[assignment]['peak_mib']:7.0f} MiB", flush=True)
    return rows


def measure_floor(repeats):
    with tempfile.TemporaryDirectory() as tmp:
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell("import torch")]
        path = Path(tmp) / "floor.ipynb"
        nbformat.write(nb, str(path))
        return statistics.median(_execute_in_child(path)[0] for _ in range(repeats))


def _grading_seconds(tmp, jobs):
    """Grade one fresh demo class both ways; return (notebooks, serial seconds, parallel seconds)."""
    serial_course = build(Path(tmp) / "serial")
    notebooks = sum(1 for path in (serial_course / "submitted").glob("*/*/*.ipynb")
                    if path.name == f"{path.parent.name}.ipynb")
    start = time.perf_counter()
    for assignment in assignments(serial_course):
        nbgrader(["autograde", assignment, "--force"], serial_course)
    serial = time.perf_counter() - start

    parallel_course = build(Path(tmp) / "parallel")
    start = time.perf_counter()
    grade_class(parallel_course, jobs=jobs, regrade=True, feedback=False, quiet=True)
    parallel = time.perf_counter() - start
    return notebooks, serial, parallel


def measure_grading(jobs, repeats):
    runs = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            runs.append(_grading_seconds(tmp, jobs))
    notebooks = runs[0][0]
    serial = statistics.median(run[1] for run in runs)
    parallel = statistics.median(run[2] for run in runs)
    return {"notebooks": notebooks, "serial_seconds_per_notebook": serial / notebooks,
            "parallel_seconds_per_notebook": parallel / notebooks, "jobs": jobs,
            "speedup": statistics.median(run[1] / run[2] for run in runs)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--out", default="bench-results")
    args = parser.parse_args(argv)

    print(f"Solution notebooks, median of {args.repeats} runs (wall time incl. kernel start; peak kernel RSS):", flush=True)
    notebooks = measure_notebooks(args.repeats)
    floor = measure_floor(args.repeats)
    total = sum(row["seconds"] for row in notebooks.values())
    print(f"  {'whole course':30} {total:6.2f} s")
    print(f"Floor (kernel start + import torch): {floor:.2f} s", flush=True)
    print(f"Grading the demo class, median of {args.repeats} runs ({args.jobs} students at a time):", flush=True)
    grading = measure_grading(args.jobs, args.repeats)
    print(f"  plain serial nbgrader autograde: {grading['serial_seconds_per_notebook']:.2f} s per notebook")
    print(f"  make grade (parallel):           {grading['parallel_seconds_per_notebook']:.2f} s per notebook")
    print(f"  speed-up serial/parallel:        {grading['speedup']:.2f}x; floor ratio: "
          f"{grading['parallel_seconds_per_notebook'] / floor:.2f}x the floor per notebook")
    results = {"notebooks": notebooks, "course_seconds": total, "floor_seconds": floor, "grading": grading,
               "cpus": os.cpu_count(), "repeats": args.repeats}
    Path(args.out).mkdir(exist_ok=True)
    (Path(args.out) / "bench.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"Wrote {Path(args.out) / 'bench.json'}")


if __name__ == "__main__":
    main()
