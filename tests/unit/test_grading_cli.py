"""`genlab grade`: report table, course discovery, clear errors (the nbgrader runs are in tests/grading)."""

from pathlib import Path

import pytest

from genlab import cli
from genlab.grading import CellScore, GradeReport, chapter_of, find_course_root

ROOT = Path(__file__).resolve().parents[2]


def test_report_table_lists_points_per_cell_and_the_total():
    report = GradeReport("01_x", [CellScore("test_a", 2.0, 2.0), CellScore("test_b", 0.0, 3.0),
                                  CellScore("test_c", None, 1.0)])
    assert report.score == 2.0 and report.max_score == 6.0
    table = report.table()
    assert "test_a  2 / 2" in table and "test_c  ? / 1" in table and table.endswith("total   2 / 6")


def test_course_root_is_found_from_inside_the_repo(monkeypatch):
    monkeypatch.delenv("GENLAB_COURSE_ROOT", raising=False)
    assert find_course_root(ROOT / "chapters" / "00_welcome") == ROOT
    with pytest.raises(FileNotFoundError, match="GENLAB_COURSE_ROOT"):
        find_course_root(Path("/"))


def test_chapter_comes_from_the_file_name():
    assert chapter_of(Path("chapters/00_welcome/00_welcome.ipynb")) == "00_welcome"
    with pytest.raises(ValueError, match="ipynb"):
        chapter_of(Path("notes.txt"))


def test_cli_reports_a_missing_notebook_and_an_unknown_chapter(tmp_path, capsys, monkeypatch):
    assert cli.main(["grade", str(tmp_path / "missing.ipynb")]) == 2
    assert "does not exist" in capsys.readouterr().err
    stray = tmp_path / "99_nothing.ipynb"
    stray.write_text("{}")
    monkeypatch.setenv("GENLAB_COURSE_ROOT", str(ROOT))
    assert cli.main(["grade", str(stray)]) == 2
    assert "no chapter '99_nothing'" in capsys.readouterr().err
