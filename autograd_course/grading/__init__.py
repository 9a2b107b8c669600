"""The instructor's side: release, collect, grade, feedback, reports (needs nbgrader).

Nothing here imports torch: the grading coordinator and its workers never run course code themselves.
"""

# How a grading kernel reports that a test cell ran to its end (written by _guard.evidence, read by execute).
EVIDENCE_MIME = "application/vnd.autograd-course.evidence+json"
