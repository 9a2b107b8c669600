"""The instructor's side: release, collect, grade, feedback, reports (needs nbgrader)."""
