"""What every notebook's setup cell does: seed, configure printing and plots."""

import os
import random
import sys
import types
import warnings

import numpy as np
import torch

COURSE_REPOSITORY = "https://github.com/autograd-course/autograd-course"


def reveal(predictions, observed):
    """Show each recorded prediction next to what the code did; return whether it was shown.

    Nothing is revealed until every prediction is recorded: a prediction is worth making before you
    look, and the hidden tests grade the answers as they stand in the notebook.
    """
    from . import checks

    missing = [key for key in observed
               if not isinstance(predictions, dict) or predictions.get(key, ...) is ...]
    if missing:
        print("Record your predictions first (still to fill in: " + ", ".join(repr(key) for key in missing)
              + "), run the test cell above, then run this cell again.")
        return False
    # Each column as wide as its longest entry, so that the rows line up whatever the answers are.
    width = max(len(str(key)) for key in observed)
    said = max(len(repr(predictions[key])) for key in observed)
    found = max(len(repr(value)) for value in observed.values())
    for key, value in observed.items():
        mark = "right" if checks.same_answer(predictions[key], value) else "wrong"
        print(f"{str(key):<{width}}  you said {predictions[key]!r:<{said}}  it is {value!r:<{found}}  {mark}")
    return True


def in_colab():
    return "COLAB_RELEASE_TAG" in os.environ or "google.colab" in sys.modules


def seed_everything(seed):
    """Seed Python, NumPy and torch so that every run of a notebook prints the same numbers."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


# Frames a student's traceback leaves out: the course's checks and helpers, and torch's Python code (a stub
# called through Function.apply). They say nothing about the student's code.
_LIBRARY_FOLDERS = tuple(os.path.dirname(os.path.abspath(module.__file__)) + os.sep
                         for module in (sys.modules[__package__], torch))
# What a visible test or an unfinished exercise raises.
_COURSE_ERRORS = (AssertionError, NotImplementedError)


def _show_without_library_frames(shell, etype, value, tb, tb_offset=None):
    """IPython's custom exception handler: the traceback of a failed check or a stub, with the student's cells
    and the message only (and so without "[... skipping hidden 1 frame]" for the checks' hidden frames)."""
    frames = []
    while tb is not None:
        # The first frame is IPython's own run_code, which its tb_offset drops.
        if not frames or not tb.tb_frame.f_code.co_filename.startswith(_LIBRARY_FOLDERS):
            frames.append(tb)
        tb = tb.tb_next
    kept = None
    for frame in reversed(frames):
        kept = types.TracebackType(kept, frame.tb_frame, frame.tb_lasti, frame.tb_lineno)
    shell.showtraceback((etype, value, kept), tb_offset=tb_offset)


def _show_course_errors_briefly():
    try:
        shell = get_ipython()  # noqa: F821 (defined in an IPython kernel, JupyterLab's and Colab's)
    except NameError:
        return
    shell.set_custom_exc(_COURSE_ERRORS, _show_without_library_frames)


def _warning_to_stdout(message, category, filename, lineno, file=None, line=None):
    print(warnings.formatwarning(message, category, filename, lineno, line), end="", file=sys.stdout)


def setup_notebook(seed=0):
    """Seed the generators and set up icecream and matplotlib for the course notebooks."""
    import matplotlib
    from icecream import ic
    from threadpoolctl import threadpool_limits  # installed with scikit-learn

    seed_everything(seed)
    ic.configureOutput(prefix="ic| ", includeContext=False, outputFunction=print)
    matplotlib.rcParams.update({"figure.figsize": (6.4, 3.6), "figure.dpi": 100, "axes.grid": True,
                                "grid.alpha": 0.3, "axes.spines.top": False, "axes.spines.right": False})
    torch.set_printoptions(precision=4, sci_mode=False)
    # Every tensor in the course is small: one thread runs it faster than several (no hand-over
    # between threads on every operation), and a class graded in parallel does not oversubscribe.
    torch.set_num_threads(1)
    threadpool_limits(1)  # NumPy's linear-algebra library
    _show_course_errors_briefly()
    if os.environ.get("NBGRADER_EXECUTION"):
        # nbgrader fails any test cell that writes to stderr; a warning raised by correct
        # student code is not a failed test, so while grading warnings go to stdout.
        warnings.showwarning = _warning_to_stdout
    print(f"torch {torch.__version__} | seed {seed} | {'Colab' if in_colab() else 'local'}")
