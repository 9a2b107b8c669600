"""nbgrader for the instructor on the course's JupyterHub: the course folder's own configuration (its exchange
follows NBGRADER_EXCHANGE), opened by the formgrader wherever the instructor's JupyterLab starts."""
import os

c = get_config()  # noqa: F821  (provided by nbgrader)
course = os.environ.get("COURSE_HUB_COURSE", "")
if course:
    load_subconfig(os.path.join(course, "nbgrader_config.py"))  # noqa: F821  (provided by traitlets)
    c.CourseDirectory.root = course
