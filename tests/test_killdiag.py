import os, shutil, signal, threading, time
from autograd_course.grading import demo
from autograd_course.grading.grade import Workers, grade_class
import pytest

@pytest.fixture(scope="module")
def cluster():
    from distributed import LocalCluster
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=40) as local:
        yield local

def test_kill(cluster, tmp_path):
    from distributed import Client
    course = demo.build(tmp_path / "course")
    for s in ("ben", "cy", "dee"):
        shutil.rmtree(course / "submitted" / s)
    workers = Workers(jobs=None, scheduler=cluster.scheduler_address)
    def killer():
        with Client(cluster.scheduler_address) as obs:
            while True:
                busy = [a for a, t in obs.processing().items() if t]
                if busy:
                    time.sleep(1)
                    pid = obs.run(os.getpid, workers=[busy[0]])[busy[0]]
                    os.kill(pid, signal.SIGKILL); print("killed", pid, flush=True)
                    break
                time.sleep(0.05)
        with Client(cluster.scheduler_address) as obs:
            for _ in range(30):
                time.sleep(4)
                print("processing", {a[-5:]: len(t) for a, t in obs.processing().items()}, {k[10:25]: v.state for k, v in obs.run_on_scheduler(lambda dask_scheduler: dict(dask_scheduler.tasks)).items()} if False else obs.run_on_scheduler(lambda dask_scheduler: {k[10:25]: ts.state for k, ts in dask_scheduler.tasks.items()}), flush=True)
    threading.Thread(target=killer, daemon=True).start()
    out = grade_class(course, feedback=False, quiet=True, workers=workers)
    print(out)
