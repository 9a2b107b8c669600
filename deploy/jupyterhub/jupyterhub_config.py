"""JupyterHub for the autograd course: students fetch, submit and get feedback through nbgrader's exchange.

Run it from the repository, after `make setup` (which installs JupyterHub and its proxy), as root: the hub
starts each user's JupyterLab as that user.

    sudo COURSE_HUB_INSTRUCTOR=teacher COURSE_HUB_STUDENTS="ada ben" \
        .venv/bin/jupyterhub -f deploy/jupyterhub/jupyterhub_config.py

Students log in with their system accounts (PAM) and find the course under *Nbgrader > Assignment List*;
the instructor releases, collects, grades and returns feedback from the course folder (see the README).

Settings, from the environment:
  COURSE_HUB_INSTRUCTOR   the instructor's user name (a hub admin; the formgrader in their JupyterLab)
  COURSE_HUB_STUDENTS     the students' user names, separated by spaces
  COURSE_HUB_COURSE       the course folder the instructor's formgrader opens (default: this repository)
  NBGRADER_EXCHANGE       nbgrader's exchange, a folder every user reaches (default /srv/nbgrader/exchange,
                          created mode 1777); the course's nbgrader_config.py reads the same variable
  COURSE_HUB_IP, COURSE_HUB_PORT           where the hub listens (default 127.0.0.1:8000)
  COURSE_HUB_STATE        the hub's own files: database, cookie secret (default /srv/jupyterhub)
  COURSE_HUB_TRIAL_PASSWORD  a hub to try out or to test on one machine: every listed user logs in with this
                          password and runs as the hub's user, with a home under COURSE_HUB_STATE/home
                          (JupyterHub's DummyAuthenticator and SimpleLocalProcessSpawner). Never for a class.
"""

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPOSITORY = HERE.parent.parent
ENVIRONMENT_BIN = Path(sys.executable).parent
STATE = Path(os.environ.get("COURSE_HUB_STATE", "/srv/jupyterhub"))
EXCHANGE = Path(os.environ.get("NBGRADER_EXCHANGE", "/srv/nbgrader/exchange"))
INSTRUCTOR = os.environ.get("COURSE_HUB_INSTRUCTOR", "")
STUDENTS = set(os.environ.get("COURSE_HUB_STUDENTS", "").split())
TRIAL_PASSWORD = os.environ.get("COURSE_HUB_TRIAL_PASSWORD", "")
PORT = int(os.environ.get("COURSE_HUB_PORT", "8000"))

c = get_config()  # noqa: F821  (provided by JupyterHub)

for folder, mode in ((STATE, 0o700), (EXCHANGE, 0o1777)):
    if not folder.exists():
        folder.mkdir(parents=True)
        folder.chmod(mode)

c.JupyterHub.ip = os.environ.get("COURSE_HUB_IP", "127.0.0.1")
c.JupyterHub.port = PORT
# The hub's own API and the proxy's, on loopback beside the public port (several hubs may share a machine).
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = PORT + 1
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{PORT + 2}"
c.ConfigurableHTTPProxy.command = [str(HERE / "node_modules" / ".bin" / "configurable-http-proxy")]
c.JupyterHub.db_url = f"sqlite:///{STATE / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(STATE / "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = str(STATE / "jupyterhub.pid")

c.Authenticator.allowed_users = STUDENTS | ({INSTRUCTOR} if INSTRUCTOR else set())
c.Authenticator.admin_users = {INSTRUCTOR} if INSTRUCTOR else set()
if TRIAL_PASSWORD:
    c.JupyterHub.authenticator_class = "dummy"
    c.DummyAuthenticator.password = TRIAL_PASSWORD
    c.JupyterHub.spawner_class = "simple"
    c.SimpleLocalProcessSpawner.home_dir_template = str(STATE / "home" / "{username}")

# Each user's JupyterLab runs from the course environment, opens in their home, and asks nothing about news.
c.Spawner.cmd = [str(ENVIRONMENT_BIN / "jupyterhub-singleuser")]
c.Spawner.default_url = "/lab"
c.Spawner.args = ["--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
                  f"--LabApp.app_settings_dir={REPOSITORY / 'jupyter-config' / 'lab-settings'}"]
if os.geteuid() == 0 and TRIAL_PASSWORD:
    c.Spawner.args.append("--allow-root")   # trial users run as the hub's user


def course_environment(spawner):
    """PATH with the course environment first; the exchange; a student's view or the instructor's."""
    env = spawner.environment
    env["PATH"] = f"{ENVIRONMENT_BIN}:/usr/local/bin:/usr/bin:/bin"
    env["NBGRADER_EXCHANGE"] = str(EXCHANGE)
    if spawner.user.name == INSTRUCTOR:
        env["COURSE_HUB_COURSE"] = os.environ.get("COURSE_HUB_COURSE", str(REPOSITORY))
        env["JUPYTER_CONFIG_PATH"] = str(HERE / "instructor")
    else:
        env["JUPYTER_CONFIG_PATH"] = str(HERE / "student")


c.Spawner.pre_spawn_hook = course_environment
