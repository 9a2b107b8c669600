"""The instructor's side: release, collect, grade, feedback, reports (needs nbgrader).

Nothing here imports torch but the judge (judge.py), which runs the tests: the grading coordinator and
its workers never run course code themselves.
"""
