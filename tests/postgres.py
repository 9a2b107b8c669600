"""A throwaway PostgreSQL server for the gradebook tests: initdb and pg_ctl into a temporary folder.

The server refuses to run as root, so when the tests run as root it runs as the
`postgres` user (Debian's package creates it) or `nobody`.
"""

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path


def server_binaries():
    """The folder holding initdb and pg_ctl, or None when PostgreSQL's server is not installed."""
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True) + [os.path.dirname(shutil.which("pg_ctl") or "")]:
        if folder and os.path.exists(os.path.join(folder, "initdb")) and os.path.exists(os.path.join(folder, "pg_ctl")):
            return Path(folder)
    return None


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def postgres_server():
    """Start a server with trust authentication on a free localhost port; yield its SQLAlchemy URL base."""
    binaries = server_binaries()
    if binaries is None:
        raise RuntimeError("PostgreSQL's server is not installed: 'apt-get install postgresql' (make setup does it)")
    # Its own folder under /tmp: pytest's folders are private to root, and the server runs as another user.
    folder = Path(tempfile.mkdtemp(prefix="gradebook-postgres-"))
    user = None
    if os.geteuid() == 0:
        user = next((name for name in ("postgres", "nobody") if _exists(name)), None)
        os.chmod(folder, 0o777)
    data, port = folder / "data", _free_port()

    def run(*args):
        command = [str(binaries / args[0]), *args[1:]]
        if user:
            command = ["setpriv", f"--reuid={user}", f"--regid={pwd.getpwnam(user).pw_gid}", "--init-groups", *command]
        return subprocess.run(command, capture_output=True, text=True, check=True, cwd=folder)

    run("initdb", "-D", str(data), "--auth=trust", "-U", "grader", "--encoding=UTF8", "--no-instructions")
    run("pg_ctl", "-D", str(data), "-l", str(folder / "server.log"), "-w", "-o",
        f"-k {folder} -p {port} -c listen_addresses=127.0.0.1 -c fsync=off", "start")
    try:
        for _ in range(50):
            if subprocess.run([str(binaries / "pg_isready"), "-h", "127.0.0.1", "-p", str(port)],
                              capture_output=True).returncode == 0:
                break
            time.sleep(0.1)
        yield f"postgresql+psycopg://grader@127.0.0.1:{port}"
    finally:
        run("pg_ctl", "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(folder, ignore_errors=True)


def _exists(name):
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def create_database(url, name):
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql") + "/postgres", autocommit=True) as db:
        db.execute(f'CREATE DATABASE "{name}"')
    return f"{url}/{name}"
