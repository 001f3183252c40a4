"""nbgrader configuration: the repository root is the course root.

solutions/<chapter>/<chapter>.ipynb are the instructor sources; nbgrader writes the
student versions to chapters/. Run every nbgrader command from this folder.
"""

import os

from nbgrader.preprocessors import NbGraderPreprocessor

c = get_config()  # noqa: F821 (provided by traitlets when nbgrader loads this file)

c.CourseDirectory.course_id = "genlab"
c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "chapters"
# The percent-format text sources (*.py) hold the solutions: never release them.
c.CourseDirectory.ignore = [
    ".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "*.py", ".pytest_cache",
]

c.ExecutePreprocessor.kernel_name = "python3"  # ignore whatever kernelspec a file carries
# Seconds per cell. Graded runs are short (heavy demos shrink under NBGRADER_EXECUTION,
# see genlab.runmode); this bounds a submission that hangs.
c.ExecutePreprocessor.timeout = 60
c.OverwriteCells.add_missing_cells = True  # put back a test cell a learner deleted

# Answer code never runs in the grading process: the clean room (docs/grading.md) takes
# the place of nbgrader's Execute step. Chapters without a spec still run in a kernel.
c.Autograde.autograde_preprocessors = [
    "genlab.grading.nbgrader_plugin.CleanRoomExecute",
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]


class StripGradeCellTracebacks(NbGraderPreprocessor):
    """Feedback shows only 'Error: message' for test cells: tracebacks quote hidden tests."""

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("grade"):
            for out in cell.get("outputs", []):
                if out.get("output_type") == "error":
                    out["traceback"] = [f"{out.get('ename')}: {out.get('evalue')}"]
        return cell, resources


# A class release (an instructor secret in $GENLAB_CLASS_SECRET or .genlab-class-secret)
# shuffles the quiz options per class and turns the self-check off; without a secret,
# generate_assignment is nbgrader's own (genlab/grading/classrelease.py).
c.GenerateAssignment.preprocessors = ["genlab.grading.classrelease.ShuffleQuizOptions"] + [
    f"nbgrader.preprocessors.{name}" for name in (
        "IncludeHeaderFooter", "InstantiateTests", "LockCells", "ClearSolutions", "ClearOutput",
        "CheckCellMetadata", "ComputeChecksums", "SaveCells", "ClearHiddenTests",
        "ClearMarkScheme", "ComputeChecksums", "CheckCellMetadata")
]

c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "nbgrader.preprocessors.ClearHiddenTests",
    StripGradeCellTracebacks,
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]
