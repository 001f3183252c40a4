"""nbgrader's autograde step with the clean room in place of the executing kernel.

``nbgrader_config.py`` puts :class:`CleanRoomExecute` first in
``Autograde.autograde_preprocessors`` (where nbgrader has ``Execute``). For a chapter with
a spec (genlab/grading/specs), no cell of the submission runs in a kernel: the judge
grades each test cell from clean-room results and writes its verdict as the cell's output,
the way nbgrader scores code cells (no error: full points; an ``execute_result`` number:
partial points; an error: 0). A chapter without a spec falls back to nbgrader's ``Execute``.
"""

from __future__ import annotations

import hashlib
import json

from nbformat.v4 import new_output
from nbgrader.preprocessors import Execute, NbGraderPreprocessor
from traitlets import Float

from genlab.grading import classrelease
from genlab.grading.judge import Notebook, grade_notebook
from genlab.grading.spec import load_spec

# Results computed ahead (genlab autograde --workers): {fingerprint: {test: CellResult}}
PRECOMPUTED: dict[str, dict] = {}


def fingerprint(chapter: str, notebook) -> str:
    """What a grade depends on: the chapter and the answer cells' sources."""
    payload = json.dumps([chapter, notebook.answers], sort_keys=True).encode()
    return hashlib.sha256(payload).hexdigest()


def outputs_for(result) -> list:
    """nbgrader outputs that score ``result`` (a judge CellResult) and show its feedback."""
    text = result.feedback.rstrip() + "\n"
    outputs = [new_output("stream", name="stdout", text=text)]
    if result.points >= result.max_points and result.ok:
        return outputs
    if result.points > 0:
        outputs.append(new_output("execute_result", data={"text/plain": f"{result.points:g}"},
                                  execution_count=None))
        return outputs
    first = result.feedback.strip().splitlines()[0] if result.feedback.strip() else "failed"
    outputs.append(new_output("error", ename="HiddenTestsFailed", evalue=first,
                              traceback=[f"HiddenTestsFailed: {first}"]))
    return outputs


class CleanRoomExecute(NbGraderPreprocessor):
    """Grade in the clean room; nbgrader's Execute for chapters that have no spec."""

    timeout = Float(60.0, help="Seconds (wall clock) one exercise may run in the clean room "
                    "before it scores 0 and the rest is graded in a fresh process.").tag(config=True)

    def preprocess(self, nb, resources):
        chapter = resources.get("nbgrader", {}).get("notebook")
        spec = load_spec(chapter) if chapter else None
        if spec is None:
            self.log.warning("chapter %s has no clean-room spec: executing it in a kernel "
                             "as nbgrader does (not isolated)", chapter)
            return Execute(parent=self.parent, config=self.config).preprocess(nb, resources)
        notebook = Notebook.from_nbformat(nb)
        results = PRECOMPUTED.pop(fingerprint(chapter, notebook), None)
        if results is None:
            results = grade_notebook(chapter, notebook, spec, class_key=_class_key(chapter),
                                     timeout=self.timeout)
        for cell in nb.cells:
            meta = cell.get("metadata", {}).get("nbgrader", {})
            if cell.cell_type == "code":
                cell.outputs = []
                cell.execution_count = None
                if meta.get("grade") and meta.get("grade_id") in results:
                    cell.outputs = outputs_for(results[meta["grade_id"]])
        self.log.info("clean room graded %s: %s", chapter,
                      {k: f"{r.points:g}/{r.max_points:g}" for k, r in sorted(results.items())})
        return nb, resources


def _class_key(chapter):
    return classrelease.judge_key(chapter)
