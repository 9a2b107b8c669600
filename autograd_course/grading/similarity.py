"""Submissions that look alike: fingerprints of each submission's own code, compared through an index.

A submission's own code is its code cells that differ from every cell of the released notebook; the released
notebook's code (the starter code, the course's cells) is boilerplate, removed from the fingerprints. Code is
tokenised, names and strings replaced by placeholders (renamed variables do not hide a copy), by copydetect's
filter_code; cut into k-grams, hashed with a hash that is the same on every run, and winnowed by copydetect's
winnow (Schleimer, Wilkerson and Aiken's winnowing, as in Moss).

Pairs are found through an inverted index (fingerprint -> submissions), never by comparing every pair: a
fingerprint that many submissions share is an idiom of the course, not a sign of copying, and is left out;
the remaining *rare* fingerprints that two submissions share are counted, and a pair's score is the share of
the smaller submission's rare fingerprints that the other holds too. A score is a pointer to read, not a verdict.
"""

import io
import json
import math
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np

# copydetect's noise threshold (k-gram length in filtered characters) and a winnowing window that still
# finds every shared run of at least K + WINDOW - 1 = 30 characters.
K, WINDOW = 25, 6
# A fingerprint shared by more submissions than this is common to the course, not a sign of copying.
COMMON_SHARE, COMMON_AT_LEAST = 0.02, 3
MIN_SHARED = 5             # rare fingerprints two submissions must share to be listed
MOST_PAIRS = 25
MOST_NOTEBOOK_BYTES = 20 << 20
# Fingerprinting costs about 1.5 ms a cell; above this many distinct cells it runs in worker processes.
PARALLEL_FROM = 2000


@dataclass
class OwnCode:
    assignment: str
    student: str
    cells: dict = field(default_factory=dict)    # cell name (its grade_id, or "cell N") -> source


@dataclass
class SimilarPair:
    assignment: str
    first: str
    second: str
    score: float                # shared rare fingerprints / the smaller submission's rare fingerprints
    shared: int
    cells: list = field(default_factory=list)   # (first's cell, second's cell, first's HTML, second's HTML)


def own_code(path, assignment, student, released_code):
    """The code cells of a (graded) notebook that are not the released notebook's; None if it cannot be read."""
    try:
        if os.path.getsize(path) > MOST_NOTEBOOK_BYTES:
            return None
        nb = json.loads(open(path, encoding="utf-8").read())
        cells = nb["cells"]
    except (OSError, ValueError, RecursionError, KeyError, TypeError):
        return None
    code = OwnCode(assignment, student)
    for number, cell in enumerate(cells if isinstance(cells, list) else []):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else source
        if not isinstance(source, str) or not source.strip() or source.strip() in released_code:
            continue
        meta = cell.get("metadata", {})
        grade_id = meta.get("nbgrader", {}).get("grade_id") if isinstance(meta, dict) and isinstance(
            meta.get("nbgrader"), dict) else None
        code.cells[str(grade_id) if grade_id else f"cell {number + 1}"] = source
    return code


def kgram_hashes(filtered):
    """The hash of every K-character run of filtered code, the same in every process and on every run
    (copydetect's own hashed_kgrams uses Python's hash(), whose seed changes from run to run)."""
    codes = np.frombuffer(filtered.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    if len(codes) < K:
        return np.array([], dtype=np.int64)
    powers = np.uint64(1_000_003) ** np.arange(K - 1, -1, -1, dtype=np.uint64)   # wraps modulo 2**64
    return (np.lib.stride_tricks.sliding_window_view(codes, K) @ powers).view(np.int64)


def _filtered(source):
    from copydetect.utils import filter_code

    return filter_code(source, "cell.py", "python")[0]


def boilerplate_hashes(released_sources):
    """Every k-gram hash of the released notebook's code: what no submission can be credited or blamed for."""
    hashes = [kgram_hashes(_filtered(source)) for source in released_sources]
    return np.unique(np.concatenate(hashes)) if hashes else np.array([], dtype=np.int64)


def _fingerprints(job):
    """The winnowed fingerprints of each source (copydetect's winnowing), boilerplate removed, as sorted arrays."""
    from copydetect.utils import winnow

    sources, boilerplate = job
    found = []
    for source in sources:
        hashes = kgram_hashes(_filtered(source))
        chosen = winnow(hashes, WINDOW, remove_duplicates=False)[0] if len(hashes) else hashes
        found.append(np.setdiff1d(np.asarray(chosen, dtype=np.int64), boilerplate))
    return found


def fingerprint_all(sources, boilerplate, jobs=None):
    """{source: fingerprints} for distinct sources; in worker processes when there are many."""
    sources = list(sources)
    jobs = jobs or os.cpu_count() or 1
    if len(sources) < PARALLEL_FROM or jobs < 2:
        return dict(zip(sources, _fingerprints((sources, boilerplate))))
    size = math.ceil(len(sources) / (4 * jobs))
    chunks = [sources[i:i + size] for i in range(0, len(sources), size)]
    with ProcessPoolExecutor(jobs) as pool:
        parts = pool.map(_fingerprints, [(chunk, boilerplate) for chunk in chunks])
        return {source: hashes for chunk, part in zip(chunks, parts) for source, hashes in zip(chunk, part)}


def similar_pairs(submissions, boilerplate, jobs=None, most=MOST_PAIRS):
    """The pairs of one assignment's submissions (OwnCode) that share at least MIN_SHARED rare fingerprints,
    highest score first, at most ``most``, each with its matching cells side by side."""
    submissions = [s for s in submissions if s.cells]
    if len(submissions) < 2:
        return []
    prints = fingerprint_all({source for s in submissions for source in s.cells.values()}, boilerplate, jobs)
    owner, hashes = [], []
    for number, submission in enumerate(submissions):
        held = np.unique(np.concatenate([prints[source] for source in submission.cells.values()]))
        owner.append(np.full(len(held), number, dtype=np.int64))
        hashes.append(held)
    owner, hashes = np.concatenate(owner), np.concatenate(hashes)
    order = np.argsort(hashes, kind="stable")
    owner, hashes = owner[order], hashes[order]
    values, starts, counts = np.unique(hashes, return_index=True, return_counts=True)
    common_from = max(COMMON_AT_LEAST, math.ceil(COMMON_SHARE * len(submissions)))
    rare = counts <= common_from
    rare_held = np.bincount(owner[np.repeat(rare, counts)], minlength=len(submissions))
    # Pairs that share a rare fingerprint, counted group size by group size (a group is the submissions holding
    # one fingerprint, at most common_from of them), as first * n + second.
    keys = []
    for size in range(2, common_from + 1):
        groups = starts[rare & (counts == size)]
        if not len(groups):
            continue
        members = owner[groups[:, None] + np.arange(size)]
        for i, j in combinations(range(size), 2):
            keys.append(members[:, i] * len(submissions) + members[:, j])
    if not keys:
        return []
    pairs, shared = np.unique(np.concatenate(keys), return_counts=True)
    listed = shared >= MIN_SHARED
    pairs, shared = pairs[listed], shared[listed]
    first, second = pairs // len(submissions), pairs % len(submissions)
    scores = shared / np.maximum(np.minimum(rare_held[first], rare_held[second]), 1)
    best = np.lexsort((-shared, -scores))[:most]
    rare_values = set(values[rare].tolist())
    found = []
    for index in best:
        a, b = submissions[first[index]], submissions[second[index]]
        pair = SimilarPair(a.assignment, a.student, b.student, float(scores[index]), int(shared[index]))
        pair.cells = side_by_side(a, b, prints, rare_values)
        found.append(pair)
    return found


def side_by_side(a, b, prints, rare_values):
    """(a's cell, b's cell, a's code, b's code) for each pair of their cells that share a rare fingerprint, the
    matching code marked (HTML-escaped, matches in <mark>), by copydetect (its marks can include starter code
    that the score leaves out)."""
    from copydetect import CodeFingerprint, compare_files
    from copydetect.utils import highlight_overlap

    shown = []
    for name_a, source_a in a.cells.items():
        for name_b, source_b in b.cells.items():
            common = set(prints[source_a].tolist()) & set(prints[source_b].tolist()) & rare_values
            if not common:
                continue
            first, second = (CodeFingerprint(f"{name}.py", K, WINDOW, fp=io.StringIO(source),
                                             language="python")
                             for name, source in ((name_a, source_a), (name_b, source_b)))
            _, _, (slices_a, slices_b) = compare_files(first, second)
            marked = [highlight_overlap(source, slices, "<mark>", "</mark>", escape_html=True)[0]
                      if len(slices) and slices.shape[-1] else _escape(source)
                      for source, slices in ((source_a, slices_a), (source_b, slices_b))]
            shown.append((name_a, name_b, len(common), *marked))
    # The same exercise's cells first, then the most shared; each cell shown once.
    shown.sort(key=lambda cell: (cell[0] != cell[1], -cell[2]))
    used_a, used_b, kept = set(), set(), []
    for name_a, name_b, _, html_a, html_b in shown:
        if name_a not in used_a and name_b not in used_b:
            used_a.add(name_a), used_b.add(name_b)
            kept.append((name_a, name_b, html_a, html_b))
    return kept


def _escape(text):
    from markupsafe import escape

    return str(escape(text))
