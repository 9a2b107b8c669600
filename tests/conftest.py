import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.fixture(scope="session")
def workers():
    """Grading workers shared by a test process's classes (a local Dask cluster of two processes)."""
    from autograd_course.grading.grade import Workers

    pool = Workers(jobs=2)
    yield pool
    pool.close()
