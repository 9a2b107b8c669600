"""nbgrader for a student on the course's JupyterHub: the course and its exchange (Assignment List)."""
import os

c = get_config()  # noqa: F821  (provided by nbgrader)
c.CourseDirectory.course_id = "autograd-course"
c.Exchange.root = os.environ.get("NBGRADER_EXCHANGE", "/srv/nbgrader/exchange")
# The hub's name for the user says whose work this is: the same as the system user with the hub's usual
# spawner, and the only name there is when every server runs as one account (the hub's trial mode).
if os.environ.get("JUPYTERHUB_USER"):
    c.CourseDirectory.student_id = os.environ["JUPYTERHUB_USER"]
