"""The course's budgets, measured: `make bench`.

usage: python -m autograd_course.grading.bench [--repeats 3] [--grading-repeats 3] [--site-repeats 3]
                                              [--report-repeats 3] [--only SECTION ...] [--out bench-results]

1. each solution notebook executed start to finish (kernel start included):
   median over N runs of the wall time and of the kernel's peak resident memory;
2. the floor: a notebook that only imports torch (kernel start + import);
3. grading the demo class (ada and ben for every assignment, eve for the first, plus cy's and dee's
   broken files), each run on fresh copies, all ways one after the other:
   - plain execution side by side with grading: the notebooks that make grade grades, each in a fresh kernel
     with nbclient, as many at a time as make grade has workers (that many long-lived processes, wall time
     from their start to the last notebook's end);
   - `make grade` (the CLI, wall time from start to exit: workers, sandboxed kernels,
     nbgrader's preprocessors, feedback) with N workers;
   - the same without the sandbox (--no-sandbox), for what the sandbox costs;
   - plain serial `nbgrader autograde` per assignment, for the speed-up.
   ``grading.overhead_vs_execution`` = make grade's wall time / plain execution's wall time, both on the
   same notebooks with the same number of processes: what grading adds to running the notebooks on
   this machine (1.0 would be their own cost). Both sides use every core, so the figure does not count
   against grading what the machine loses by running notebooks side by side (on two cores, two plain
   runs side by side take longer each than one alone).
   ``grading.judge_share_of_worker_time``: of the workers' time in make grade, the part the judge
   spent deciding tests (grading-summary.txt's "Workers' time" line).
4. the course site, `make site` on a copy of the book's sources, wall time from start to exit: the full build
   (an empty execution cache: every notebook runs), a rebuild into an empty output folder with the cache warm
   (no notebook runs), and a rebuild after one notebook's code changed (that notebook alone runs again;
   ``site.rebuild_one_changed_executed`` counts the notebooks the cache ran for it).
5. the class report (`make report`) of a synthetic class (synthetic.py: 1,000 students x every notebook, answers,
   alternatives and mistakes of tests/submissions drawn at random, seeded), similarity included, with --jobs
   processes: wall time from start to exit and the peak resident memory of its largest process.
Figures are medians; the machine is shared, so compare ratios within one run. --only runs some sections.
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from .course import REPOSITORY, assignments, nbgrader
from .demo import build
from .contained import Contained
from .grade import find_submissions, precheck


_NOTEBOOK_RUNNER = (
    "import json, resource, sys, time, nbformat\n"
    "from nbclient import NotebookClient\n"
    "allow_errors = sys.argv[1] == 'yes'\n"
    "for line in sys.stdin:\n"
    "    path = line.rstrip('\\n')\n"
    "    nb = nbformat.read(path, as_version=4)\n"
    "    start = time.perf_counter()\n"
    "    NotebookClient(nb, timeout=600, allow_errors=allow_errors, shutdown_kernel='immediate',\n"
    "                   resources={'metadata': {'path': path.rsplit('/', 1)[0]}}).execute()\n"
    "    seconds = time.perf_counter() - start\n"
    "    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024\n"
    "    print(json.dumps([seconds, peak]), flush=True)\n"
)


def _notebook_runner(allow_errors):
    """A process that runs each notebook path written to it in a fresh kernel and answers [seconds, peak MiB]
    (the peak of its kernels so far: one process per notebook where each peak counts). The kernel is stopped
    at once when the notebook has run, as make grade stops its kernels: its graceful shutdown (about 1 s) is
    no part of running a notebook."""
    log = tempfile.TemporaryFile()
    runner = subprocess.Popen([sys.executable, "-c", _NOTEBOOK_RUNNER, "yes" if allow_errors else "no"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True)
    runner.log = log
    return runner


def _answer(runner, path):
    line = runner.stdout.readline()
    if not line:
        runner.wait()
        runner.log.seek(0)
        raise RuntimeError(f"{path} did not run to its end:\n{runner.log.read()[-2000:].decode(errors='replace')}")
    return json.loads(line)


def _execute_in_child(path, allow_errors=False):
    """Run one notebook in a fresh process; return (seconds, peak kernel memory in MiB).

    ``allow_errors`` runs on past a failing cell, as grading does (a student's unfinished exercise)."""
    with _notebook_runner(allow_errors) as runner:
        runner.stdin.write(f"{Path(path).resolve()}\n")
        runner.stdin.close()
        return _answer(runner, path)


def _execute_side_by_side(paths, jobs):
    """Wall seconds to run ``paths`` (fresh kernel each, past failing cells) in ``jobs`` processes at a time."""
    from concurrent.futures import ThreadPoolExecutor
    from queue import Empty, SimpleQueue

    pending = SimpleQueue()
    for path in paths:
        pending.put(str(Path(path).resolve()))

    def drain(runner):
        with runner:
            while True:
                try:
                    path = pending.get_nowait()
                except Empty:
                    return
                runner.stdin.write(path + "\n")
                runner.stdin.flush()
                _answer(runner, path)

    start = time.perf_counter()
    with ThreadPoolExecutor(jobs) as pool:
        for finished in [pool.submit(drain, _notebook_runner(True)) for _ in range(jobs)]:
            finished.result()
    return time.perf_counter() - start


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


def _graded_notebooks(course):
    """The submitted notebooks that make grade grades (the broken ones are turned away first)."""
    with Contained() as contained:
        return [course / "submitted" / student / assignment / f"{assignment}.ipynb"
                for student, assignment in find_submissions(course, assignments(course))
                if not precheck(course, student, assignment, contained)[0]]


JUDGE_LINE = re.compile(r"Workers' time: ([\d.]+) s for \d+ notebook\(s\), of which the judge ([\d.]+) s deciding")


def _make_grade_seconds(course, jobs, sandboxed):
    """(wall seconds of make grade, the judge's share of the workers' time, from grading-summary.txt)."""
    command = [sys.executable, "-m", "autograd_course.grading.grade", "--course", str(course), "--jobs", str(jobs),
               "--regrade"] + ([] if sandboxed else ["--no-sandbox"])
    start = time.perf_counter()
    subprocess.run(command, capture_output=True, text=True)   # exit 1: the demo has two broken files
    seconds = time.perf_counter() - start
    found = JUDGE_LINE.search((Path(course) / "grading-summary.txt").read_text())
    if not found:
        raise SystemExit(f"make grade wrote no workers' time to {course}/grading-summary.txt: did it run?")
    return seconds, float(found[2]) / float(found[1])


def _grading_run(tmp, jobs):
    """Grade fresh copies of the demo class every way; return seconds per gradable notebook for each."""
    tmp = Path(tmp)
    course = build(tmp / "plain")
    notebooks = _graded_notebooks(course)
    plain = _execute_side_by_side(notebooks, jobs)
    sandboxed, judge_share = _make_grade_seconds(build(tmp / "sandboxed"), jobs, True)
    unsandboxed, _ = _make_grade_seconds(build(tmp / "unsandboxed"), jobs, False)
    serial_course = build(tmp / "serial")
    start = time.perf_counter()
    for assignment in assignments(serial_course):
        nbgrader(["autograde", assignment, "--force"], serial_course)
    serial = time.perf_counter() - start
    count = len(notebooks)
    return {"notebooks": count, "plain": plain / count, "make_grade": sandboxed / count,
            "no_sandbox": unsandboxed / count, "serial_nbgrader": serial / count, "judge_share": judge_share}


def measure_grading(jobs, repeats):
    runs = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            runs.append(_grading_run(tmp, jobs))
            print(f"  run {len(runs)}: " + ", ".join(f"{k} {v:.2f}" for k, v in runs[-1].items() if k != "notebooks"),
                  flush=True)
    median = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
    return {
        "notebooks": runs[0]["notebooks"], "jobs": jobs,
        "plain_execution_seconds_per_notebook": median["plain"],
        "make_grade_seconds_per_notebook": median["make_grade"],
        "make_grade_no_sandbox_seconds_per_notebook": median["no_sandbox"],
        "serial_nbgrader_seconds_per_notebook": median["serial_nbgrader"],
        # Ratios are taken within each run (same machine state), then their median.
        "overhead_vs_execution": statistics.median(run["make_grade"] / run["plain"] for run in runs),
        "sandbox_cost": statistics.median(run["make_grade"] / run["no_sandbox"] for run in runs),
        "speedup_over_serial_nbgrader": statistics.median(run["serial_nbgrader"] / run["make_grade"] for run in runs),
        "judge_share_of_worker_time": median["judge_share"],
    }


def _make_site(book, out, cache):
    start = time.perf_counter()
    subprocess.run(["make", "--no-print-directory", "-C", str(REPOSITORY), "site", f"BOOK={book}", f"SITE={out}"],
                   env={**os.environ, "SITE_CACHE": str(cache)}, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def _site_run(tmp):
    """(full build, warm rebuild, rebuild after one notebook changed) seconds, and the notebooks that last ran."""
    from autograd_course.book import copy_sources

    tmp = Path(tmp)
    book, cache = copy_sources(REPOSITORY, tmp / "sources"), tmp / "cache"
    full = _make_site(book, tmp / "full", cache)
    warm = _make_site(book, tmp / "warm", cache)
    changed = sorted((tmp / "sources" / "notebooks").glob("*/*.ipynb"))[2]
    nb = nbformat.read(changed, as_version=4)
    cell = next(cell for cell in nb.cells if cell.cell_type == "code" and not cell.metadata.get("nbgrader"))
    cell.source += "\n# changed"
    nbformat.write(nb, changed)
    before = len(list((cache / "executed").iterdir()))
    one_changed = _make_site(book, tmp / "warm", cache)
    return full, warm, one_changed, len(list((cache / "executed").iterdir())) - before


def measure_site(repeats):
    runs = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            runs.append(_site_run(tmp))
            print(f"  run {len(runs)}: full {runs[-1][0]:.1f} s, warm {runs[-1][1]:.1f} s, "
                  f"one notebook changed {runs[-1][2]:.1f} s ({runs[-1][3]} executed)", flush=True)
    full, warm, one_changed, executed = (statistics.median(column) for column in zip(*runs))
    return {"full_build_seconds": full, "warm_rebuild_seconds": warm, "rebuild_one_changed_seconds": one_changed,
            "rebuild_one_changed_executed": executed}


_REPORT_RUNNER = (
    "import json, resource, runpy, sys, time\n"
    "start = time.perf_counter()\n"
    "sys.argv = ['report', '--course', sys.argv[1], '--jobs', sys.argv[2]]\n"
    "try:\n"
    "    runpy.run_module('autograd_course.grading.report', run_name='__main__')\n"
    "except SystemExit as end:\n"
    "    if end.code:\n"
    "        raise\n"
    "seconds = time.perf_counter() - start\n"
    "peak = max(resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))\n"
    "print(json.dumps([seconds, peak / 1024]))\n"
)
REPORT_STUDENTS = 1000


def measure_report(jobs, repeats, students=REPORT_STUDENTS):
    """The class report of a synthetic class: median seconds (interpreter start included) and peak MiB."""
    from .synthetic import build_class

    with tempfile.TemporaryDirectory() as tmp:
        course = Path(tmp) / "course"
        start = time.perf_counter()
        build_class(course, students=students)
        built = time.perf_counter() - start
        print(f"  synthetic class of {students} students x {len(assignments(REPOSITORY))} notebooks built in "
              f"{built:.1f} s", flush=True)
        runs = []
        for _ in range(repeats):
            start = time.perf_counter()
            result = subprocess.run([sys.executable, "-c", _REPORT_RUNNER, str(course), str(jobs)], check=True,
                                    capture_output=True, text=True)
            seconds = time.perf_counter() - start
            runs.append((seconds, json.loads(result.stdout.splitlines()[-1])[1]))
            print(f"  run {len(runs)}: {runs[-1][0]:.1f} s, peak {runs[-1][1]:.0f} MiB", flush=True)
    return {"students": students, "notebooks": len(assignments(REPOSITORY)),
            "seconds": statistics.median(r[0] for r in runs), "peak_mib": statistics.median(r[1] for r in runs)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs of each notebook")
    parser.add_argument("--grading-repeats", type=int, default=3, help="runs of the class grading (each ~5 min)")
    parser.add_argument("--site-repeats", type=int, default=3, help="builds of the course site (each ~1-2 min)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--report-repeats", type=int, default=3, help="class reports of the synthetic class (~15 s)")
    parser.add_argument("--out", default="bench-results")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, default=SECTIONS, help="the sections to run")
    args = parser.parse_args(argv)
    results = {"cpus": os.cpu_count(), "repeats": args.repeats, "grading_repeats": args.grading_repeats,
               "site_repeats": args.site_repeats, "report_repeats": args.report_repeats}
    if "notebooks" in args.only:
        results.update(bench_notebooks(args))
    if "grading" in args.only:
        results["grading"] = bench_grading(args)
    if "site" in args.only:
        results["site"] = bench_site(args)
    if "report" in args.only:
        print(f"The class report (make report), median of {args.report_repeats} runs ({args.jobs} processes):",
              flush=True)
        report = results["report"] = measure_report(args.jobs, args.report_repeats)
        print(f"  {report['students']} students x {report['notebooks']} notebooks: {report['seconds']:.1f} s "
              f"(goal: under 60 s on 2 cores), peak {report['peak_mib']:.0f} MiB")
    Path(args.out).mkdir(exist_ok=True)
    (Path(args.out) / "bench.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"Wrote {Path(args.out) / 'bench.json'}")


SECTIONS = ["notebooks", "grading", "site", "report"]


def bench_notebooks(args):
    print(f"Solution notebooks, median of {args.repeats} runs (wall time incl. kernel start; peak kernel RSS):", flush=True)
    notebooks = measure_notebooks(args.repeats)
    floor = measure_floor(args.repeats)
    total = sum(row["seconds"] for row in notebooks.values())
    print(f"  {'whole course':30} {total:6.2f} s")
    print(f"Floor (kernel start + import torch): {floor:.2f} s", flush=True)
    return {"notebooks": notebooks, "course_seconds": total, "floor_seconds": floor}


def bench_grading(args):
    print(f"Grading the demo class, median of {args.grading_repeats} runs ({args.jobs} workers):", flush=True)
    grading = measure_grading(args.jobs, args.grading_repeats)
    print(f"  plain nbclient execution:           {grading['plain_execution_seconds_per_notebook']:.2f} s per notebook "
          f"({args.jobs} at a time)")
    print(f"  make grade:                         {grading['make_grade_seconds_per_notebook']:.2f} s per notebook")
    print(f"  make grade --no-sandbox:            {grading['make_grade_no_sandbox_seconds_per_notebook']:.2f} s per notebook")
    print(f"  plain serial nbgrader autograde:    {grading['serial_nbgrader_seconds_per_notebook']:.2f} s per notebook")
    print(f"  overhead vs execution:              {grading['overhead_vs_execution']:.2f}x "
          f"(make grade / plain execution, {args.jobs} processes each; budget 1.15)")
    print(f"  sandbox cost:                       {grading['sandbox_cost']:.2f}x (budget 1.10)")
    print(f"  speed-up over serial nbgrader:      {grading['speedup_over_serial_nbgrader']:.2f}x")
    print(f"  the judge's share of workers' time: {100 * grading['judge_share_of_worker_time']:.1f}%")
    return grading


def bench_site(args):
    print(f"The course site (make site), median of {args.site_repeats} runs:", flush=True)
    site = measure_site(args.site_repeats)
    print(f"  full build (empty cache):           {site['full_build_seconds']:.1f} s")
    print(f"  rebuild, warm cache:                {site['warm_rebuild_seconds']:.1f} s (goal: under 20 s)")
    print(f"  rebuild, one notebook changed:      {site['rebuild_one_changed_seconds']:.1f} s "
          f"({site['rebuild_one_changed_executed']:g} notebook executed)")
    return site


if __name__ == "__main__":
    main()
