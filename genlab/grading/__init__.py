"""Grading: ``genlab grade`` (one notebook) and ``genlab autograde`` (a class, in parallel).

Answer code never shares a process with the judge (docs/grading.md): the clean room
(:mod:`genlab.grading.child`, started by :mod:`genlab.grading.sandbox` inside bubblewrap's
namespaces over a read-only view with genlab as built by :mod:`genlab.grading.build`, the
graded references stripped out) runs the answers and hands back plain data
(:mod:`genlab.grading.plain`), checked by :mod:`genlab.grading.messages`; the judge
(:mod:`genlab.grading.judge`) compares it with genlab's reference as each chapter's spec
(:mod:`genlab.grading.specs`) declares; :mod:`genlab.grading.nbgrader_plugin` puts the
result into nbgrader's autograde step; :mod:`genlab.grading.course` drives nbgrader
(private courses for ``genlab grade`` and the tests); :mod:`genlab.grading.classgrade`
grades a class in parallel.
"""

from genlab.grading.course import (
                                   STUDENT,
                                   CellScore,
                                   GradeReport,
                                   autograde,
                                   chapter_of,
                                   find_course_root,
                                   grade,
                                   grade_many,
                                   make_api,
                                   notebook_problem,
                                   submit,
                                   temp_course,
)
from genlab.grading.inprocess import check_here, quiz_key

__all__ = ["STUDENT", "CellScore", "GradeReport", "autograde", "chapter_of", "check_here",
           "find_course_root", "grade", "grade_many", "make_api", "notebook_problem", "quiz_key",
           "submit", "temp_course"]
