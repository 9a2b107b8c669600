"""The class report: where the class stands, what it got wrong, and which submissions look alike.

usage: python -m autograd_course.grading.report [--course .] [--out class-report] [--no-similarity]

Reads the gradebook (SQLite or PostgreSQL, as nbgrader_config.py says) and grading-status.json, so it covers
every graded submission whatever run graded it, and writes OUT/index.html: one page with its pictures inside
(it works offline and reads on a phone), the same pictures as PNG files beside it, and exercises.csv,
misconceptions.csv and similar-pairs.csv for a spreadsheet. ``make grade`` writes it at its end.

- For each assignment: the distribution of scores; each exercise's mean score, share with full marks and
  discrimination (the point-biserial correlation of full marks on it with the score on the rest of the
  assignment: near 0, strong and weak students do equally well on it), sorted, with the exercises almost
  nobody gets and those that do not separate called out.
- What the class got wrong: each exercise's failures grouped by the kind of mistake the judge's message names
  (autograd_course.mistakes), with the students and a link to one example's feedback page.
- Submissions that look alike (similarity.py): a pointer to read, not a verdict.
- Submissions not graded, and those the scan flagged suspicious, with their reasons.
"""

import argparse
import base64
import csv
import io
import math
import os
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from .results import class_results

OUT = "class-report"
HARD_FULL_SHARE = 0.2        # below this share with full marks: almost nobody gets it
EASY_FULL_SHARE = 0.95       # at least this share with full marks: everybody gets it
LOW_DISCRIMINATION = 0.2     # below this correlation with the rest: it does not separate
MIN_FOR_DISCRIMINATION = 10  # graded submissions needed before a correlation says anything
TITLE_CHARS = 48
TOP_MISCONCEPTIONS = 10


@dataclass
class ExerciseStats:
    assignment: str
    exercise: str
    title: str
    max_score: float
    graded: int
    mean_score: float
    full_share: float
    discrimination: float = None     # None where it cannot be computed (no variation, too few submissions)
    callouts: list = field(default_factory=list)

    @property
    def mean_share(self):
        return self.mean_score / self.max_score if self.max_score else 0.0


@dataclass
class Misconception:
    assignment: str
    exercise: str
    title: str
    kind: str
    students: list
    graded: int
    example_message: str
    example_link: str = ""           # one of its students' feedback page, at this exercise ('' where none)

    @property
    def count(self):
        return len(self.students)


@dataclass
class AssignmentReport:
    name: str
    scores: list                      # each graded submission's share of the maximum
    exercises: list                   # ExerciseStats, in the notebook's order
    misconceptions: list              # Misconception, most frequent first
    similar: list = field(default_factory=list)
    figures: dict = field(default_factory=dict)   # name -> PNG bytes


def correlation(xs, ys):
    """Pearson's r of two equally long sequences (the point-biserial r where xs is 0/1); None without variation."""
    n = len(xs)
    if n < 3:
        return None
    mean_x, mean_y = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mean_x) ** 2 for x in xs)
    syy = sum((y - mean_y) ** 2 for y in ys)
    if sxx <= 1e-12 or syy <= 1e-12:
        return None
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys)) / math.sqrt(sxx * syy)


def exercise_statistics(assignment, graded, exercises):
    """ExerciseStats of each exercise of one assignment, from its graded SubmissionResults."""
    order = [e.test for e in exercises]
    titles = {e.test: e.title for e in exercises}
    for result in graded:
        order.extend(e.exercise for e in result.exercises if e.exercise not in order)
        titles.update((e.exercise, e.title) for e in result.exercises if e.exercise not in titles)
    stats = []
    for test in order:
        rows = [(e, result.score - e.score) for result in graded for e in result.exercises if e.exercise == test]
        if not rows:
            continue
        most = max(e.max_score for e, _ in rows)
        full = [1.0 if e.score >= e.max_score else 0.0 for e, _ in rows]
        r = correlation(full, [rest for _, rest in rows]) if len(rows) >= MIN_FOR_DISCRIMINATION else None
        item = ExerciseStats(assignment, test, titles.get(test, test), most, len(rows),
                             sum(e.score for e, _ in rows) / len(rows), sum(full) / len(rows), r)
        if item.full_share < HARD_FULL_SHARE:
            item.callouts.append(f"almost nobody gets it: {item.full_share:.0%} with full marks")
        elif item.full_share >= EASY_FULL_SHARE:
            item.callouts.append(f"everybody gets it: {item.full_share:.0%} with full marks")
        if r is not None and r < LOW_DISCRIMINATION:
            item.callouts.append(f"does not separate stronger from weaker students (r = {r:.2f})")
        stats.append(item)
    return stats


def feedback_link(root, out, student, assignment, exercise):
    """The link from the report to a student's feedback page at one exercise ('' where there is no page)."""
    page = Path(root) / "feedback" / student / assignment / f"{assignment}.html"
    if not page.is_file():
        return ""
    return quote(os.path.relpath(page, out)) + "#" + quote(exercise)


def misconceptions(root, out, assignment, graded, stats):
    """One assignment's failures grouped by exercise and kind of mistake, most frequent first in each exercise."""
    groups = defaultdict(list)
    for result in graded:
        for e in result.lost:
            groups[e.exercise, e.kind or "unexplained"].append((result.student, e.message))
    found = []
    by_exercise = {s.exercise: s for s in stats}
    for (exercise, kind), failures in groups.items():
        students = sorted(student for student, _ in failures)
        example = Counter(message for _, message in failures if message).most_common(1)
        link = next((link for link in (feedback_link(root, out, s, assignment, exercise) for s in students[:20])
                     if link), "")
        item = by_exercise.get(exercise)
        found.append(Misconception(assignment, exercise, item.title if item else exercise, kind, students,
                                   item.graded if item else len(graded), example[0][0] if example else "", link))
    position = {s.exercise: number for number, s in enumerate(stats)}
    found.sort(key=lambda m: (position.get(m.exercise, len(position)), -m.count, m.kind))
    return found


def _short(title):
    title = title.removeprefix("Exercise ")
    return title if len(title) <= TITLE_CHARS else title[:TITLE_CHARS - 1] + "…"


def _png(figure):
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return buffer.getvalue()


def score_figure(report):
    """The distribution of one assignment's scores (share of the maximum), its median marked."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(6.4, 3.0))
    axes = figure.subplots()
    shares = [100 * s for s in report.scores]
    axes.hist(shares, bins=[5 * i for i in range(21)], color="#4c72b0", edgecolor="white")
    median = sorted(shares)[len(shares) // 2] if len(shares) % 2 else sum(sorted(shares)[len(shares) // 2 - 1:
                                                                                       len(shares) // 2 + 1]) / 2
    axes.axvline(median, color="#c44e52", linestyle="--", label=f"median {median:.0f}%")
    axes.set_xlim(0, 100)
    axes.set_xlabel("score (% of the maximum)")
    axes.set_ylabel("submissions")
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_title(f"{report.name}: {len(shares)} graded submission(s)")
    axes.legend(loc="upper left", frameon=False)
    return _png(figure)


def exercise_figure(report):
    """Each exercise's mean score and share with full marks, and its discrimination, sorted from the hardest."""
    from matplotlib.figure import Figure

    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    stats = sorted(report.exercises, key=lambda s: (s.mean_share, s.full_share))
    figure = Figure(figsize=(9.0, 1.2 + 0.42 * len(stats)), layout="constrained")
    left, right = figure.subplots(1, 2, sharey=True, gridspec_kw={"width_ratios": [3, 2]})
    rows = range(len(stats))
    hard = [s.full_share < HARD_FULL_SHARE for s in stats]
    left.barh(rows, [100 * s.mean_share for s in stats], color=["#c44e52" if h else "#4c72b0" for h in hard],
              label="mean score")
    left.plot([100 * s.full_share for s in stats], rows, "k|", markersize=14, markeredgewidth=2,
              label="with full marks")
    left.set_yticks(list(rows), [_short(s.title) for s in stats])
    left.invert_yaxis()       # the hardest at the top
    left.set_xlim(0, 100)
    left.set_xlabel("% (bar: mean score; tick: with full marks)")
    figure.legend(handles=[Patch(color="#4c72b0", label="mean score"),
                           Patch(color="#c44e52", label=f"mean score, under {HARD_FULL_SHARE:.0%} with full marks"),
                           Line2D([], [], color="k", marker="|", linestyle="", markersize=12, markeredgewidth=2,
                                  label="share with full marks")],
                  loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=3, fontsize="small", frameon=False)
    values = [s.discrimination if s.discrimination is not None else 0.0 for s in stats]
    right.barh(rows, values, color=["#dd8452" if s.discrimination is not None and s.discrimination
                                    < LOW_DISCRIMINATION else "#55a868" for s in stats])
    for row, s in zip(rows, stats):
        if s.discrimination is None:
            right.text(0.02, row, "n/a", va="center", fontsize="small", color="#555555")
    right.axvline(LOW_DISCRIMINATION, color="#555555", linestyle=":")
    right.set_xlim(min(-0.2, min(values) - 0.05), 1)
    right.set_xlabel("discrimination (r with the rest)")
    figure.suptitle(f"{report.name}: exercises, the hardest first")
    return _png(figure)


def assignment_reports(course, results, out, similarity=True, jobs=None):
    """An AssignmentReport for each assignment with at least one graded submission."""
    from . import similarity as alike

    by_assignment = defaultdict(list)
    for result in results:
        if result.status == "graded" and result.exercises:
            by_assignment[result.assignment].append(result)
    reports = []
    for assignment in sorted(by_assignment):
        graded = by_assignment[assignment]
        stats = exercise_statistics(assignment, graded, course.exercises(assignment))
        report = AssignmentReport(assignment, [r.score / r.max_score if r.max_score else 0.0 for r in graded],
                                  stats, misconceptions(course.root, out, assignment, graded, stats))
        if similarity:
            released = course.released(assignment)
            released_code = [cell.source for cell in released.cells if cell.cell_type == "code"] if released else []
            kept = {source.strip() for source in released_code}
            codes = [alike.own_code(course.folder("autograded", r.student, assignment) / f"{assignment}.ipynb",
                                    assignment, r.student, kept) for r in graded]
            report.similar = alike.similar_pairs([c for c in codes if c], alike.boilerplate_hashes(released_code),
                                                 jobs)
        report.figures = {f"{assignment}-scores.png": score_figure(report),
                          f"{assignment}-exercises.png": exercise_figure(report)}
        reports.append(report)
    return reports


def _write_csv(path, fields, rows):
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(fields)
        writer.writerows(rows)


def _number(value, digits=3):
    return "" if value is None else f"{round(value, digits):g}"


def write_report(course, out=None, similarity=True, jobs=None):
    """Write the class report of a course (grade.Course) into ``out`` (default: class-report/ in the course
    folder); return the path of its index.html."""
    import jinja2

    out = Path(out) if out else Path(course.root) / OUT
    out.mkdir(parents=True, exist_ok=True)
    results = class_results(course)
    reports = assignment_reports(course, results, out.resolve(), similarity, jobs)
    for report in reports:
        for name, data in report.figures.items():
            (out / name).write_bytes(data)
    _write_csv(out / "exercises.csv", ["assignment", "exercise", "title", "max_score", "graded", "mean_score",
                                       "mean_share", "full_marks_share", "discrimination", "callouts"],
               [[s.assignment, s.exercise, s.title, _number(s.max_score), s.graded, _number(s.mean_score),
                 _number(s.mean_share), _number(s.full_share), _number(s.discrimination), "; ".join(s.callouts)]
                for r in reports for s in r.exercises])
    _write_csv(out / "misconceptions.csv", ["assignment", "exercise", "title", "mistake", "count", "graded",
                                            "example_message", "students"],
               [[m.assignment, m.exercise, m.title, m.kind, m.count, m.graded, m.example_message,
                 " ".join(m.students)] for r in reports for m in r.misconceptions])
    _write_csv(out / "similar-pairs.csv", ["assignment", "student", "other_student", "score", "shared_fingerprints"],
               [[p.assignment, p.first, p.second, _number(p.score), p.shared] for r in reports for p in r.similar])
    not_graded = [r for r in results if r.status != "graded"]
    suspicious = [(r, [note for note in r.notes if note.startswith("suspicious")]) for r in results]
    suspicious = [(r, notes) for r, notes in suspicious if notes]
    teach_again = sorted((m for r in reports for m in r.misconceptions if m.kind != "no_response"),
                         key=lambda m: (-m.count / max(m.graded, 1), m.assignment, m.exercise))[:TOP_MISCONCEPTIONS]
    environment = jinja2.Environment(loader=jinja2.PackageLoader("autograd_course.grading", "templates"),
                                     autoescape=True)
    page = environment.get_template("class_report/index.html.j2").render(
        course=Path(course.root).name, reports=reports, results=results, not_graded=not_graded,
        suspicious=suspicious, teach_again=teach_again, similarity=similarity,
        students=len({r.student for r in results}), graded=sum(r.status == "graded" for r in results),
        image=lambda data: "data:image/png;base64," + base64.b64encode(data).decode("ascii"),
        thresholds={"hard": HARD_FULL_SHARE, "easy": EASY_FULL_SHARE, "low": LOW_DISCRIMINATION,
                    "min": MIN_FOR_DISCRIMINATION})
    index = out / "index.html"
    temporary = index.with_name("index.html.new")
    temporary.write_text(page, encoding="utf-8")
    os.replace(temporary, index)
    return index


def main(argv=None):
    from .grade import load_course

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--course", default=".")
    parser.add_argument("--out", default=None, help=f"the report's folder (default: {OUT}/ in the course folder)")
    parser.add_argument("--no-similarity", action="store_true", help="leave out the similarity of submissions")
    parser.add_argument("--jobs", type=int, default=None, help="processes for fingerprinting (default: CPU count)")
    args = parser.parse_args(argv)
    index = write_report(load_course(args.course), args.out, not args.no_similarity, args.jobs)
    print(f"Class report: {index}")


if __name__ == "__main__":
    sys.exit(main())
