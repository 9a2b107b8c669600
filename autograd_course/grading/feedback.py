"""Feedback that never shows hidden tests: test cells keep only the checks' messages."""

from nbgrader.preprocessors import NbGraderPreprocessor
from nbgrader.utils import is_grade

TRACEBACK = "Traceback (most recent call last)"


class ShortTestErrors(NbGraderPreprocessor):
    """Cut the outputs of test cells down to what cannot quote test code.

    A traceback quotes the failing line, which may be a hidden test, so an error
    keeps only its last line (the checks' messages are written for students).
    Tracebacks also reach stderr when a submission breaks IPython's formatter,
    so stderr is dropped, and so is any stdout that carries a traceback.
    """

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code" and is_grade(cell):
            kept = []
            for output in cell.get("outputs", []):
                if output.output_type == "error":
                    output.traceback = [f"{output.ename}: {output.evalue}"]
                elif output.output_type == "stream" and (output.name == "stderr" or TRACEBACK in output.text):
                    continue
                kept.append(output)
            cell.outputs = kept
        return cell, resources
