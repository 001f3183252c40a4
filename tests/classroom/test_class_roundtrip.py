"""A class on the course's JupyterHub, end to end: release, fetch, submit, grade, feedback.

The hub runs classroom/jupyterhub_config.py on a free loopback port, with the demo's dummy
authenticator and one instructor and two students, each with a home of their own. The
instructor's steps are the README's commands ("Running a class on JupyterHub"), run the way
a terminal on the instructor's server runs them: in the course folder, with that server's
environment. The students' steps go through their own servers, through the proxy, the way
JupyterLab's Assignment List and "save" do (nbgrader's assignment_list handlers and the
contents API); the second student types the README's terminal commands on their server
instead. Chapter 00_welcome: 4 points, 2 of them behind a hidden test.
"""

from __future__ import annotations

import html as html_module
import json
import re
import secrets
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

if str(Path(__file__).parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).parent))
import hubdriver  # noqa: E402
from hubdriver import INSTRUCTOR, ROOT, STUDENTS  # noqa: E402

pytestmark = pytest.mark.xdist_group("classroom")

CHAPTER = "00_welcome"
COURSE = "genlab"
# What each student writes into the answer cells (grade_id -> source).
SOLVED = "solutions"  # the instructor's solution, markers removed: full points
WRONG_COUNT = '''def count_parameters(model):
    """Counts every parameter, frozen ones too: the visible test passes, a hidden one fails."""
    return sum(p.numel() for p in model.parameters())
'''
QUIZ_CELL = "quiz_answers"
TERMINAL_STUDENT = "student2"  # the other one clicks through the Assignment List
ANSWERS = {"student1": SOLVED, "student2": {"count_parameters": WRONG_COUNT}}
EXPECTED = {"student1": (4.0, 4.0), "student2": (2.0, 4.0)}
LOG_COPY = ROOT / ".cache" / "classroom" / "jupyterhub.log"


@pytest.fixture(scope="module")
def classroom(tmp_path_factory):
    """A running hub, a course folder with the chapter's source, an empty exchange."""
    hubdriver.require_hub()
    base = tmp_path_factory.mktemp("classroom")
    course = base / "course"
    (course / "solutions").mkdir(parents=True)
    shutil.copy(ROOT / "nbgrader_config.py", course / "nbgrader_config.py")
    shutil.copytree(ROOT / "solutions" / CHAPTER, course / "solutions" / CHAPTER,
                    ignore=shutil.ignore_patterns("*.py", "__pycache__", ".ipynb_checkpoints"))
    # A class, not self-study: the instructor's secret shuffles the quiz options of the
    # release (genlab/grading/classrelease.py); students never see this file.
    (course / ".genlab-class-secret").write_text(secrets.token_hex(16))
    hub = hubdriver.Hub(state=base / "state", course_root=course, exchange=base / "exchange")
    try:
        hub.start()
        yield hub
    finally:
        leftovers = hub.stop()
        # The hub's log (with the servers' logs in it) outlives pytest's temporary folders.
        LOG_COPY.parent.mkdir(parents=True, exist_ok=True)
        if hub.log_path.exists():
            shutil.copy(hub.log_path, LOG_COPY)
        assert not leftovers, f"processes of the hub outlived it: {leftovers}"


@pytest.fixture(scope="module")
def tokens(classroom):
    """Everyone logs in through the REST API and gets a server."""
    hub = classroom
    tokens = {user: hub.login(user) for user in (INSTRUCTOR, *STUDENTS)}
    hub.spawn_all(tokens)
    return tokens


def instructor_runs(hub, *command: str, timeout: float = 300) -> str:
    """``command`` as in a terminal on the instructor's server: its environment, the course folder."""
    server = hub.server_process(INSTRUCTOR)
    done = subprocess.run(list(command), cwd=hub.course_root, env=server.environ(),
                          capture_output=True, text=True, timeout=timeout)
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"{' '.join(command)} failed ({done.returncode}):\n{output[-4000:]}"
    return output


def student_runs(hub, user, *command: str, timeout: float = 300) -> str:
    """``command`` in a terminal on ``user``'s server: its environment, its notebook folder."""
    env = hub.server_process(user).environ()
    done = subprocess.run(list(command), cwd=env["HOME"], env=env,
                          capture_output=True, text=True, timeout=timeout)
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"{user}: {' '.join(command)} failed ({done.returncode}):\n{output[-4000:]}"
    return output


def student_does(hub, user, token, action: str) -> None:
    """student1 uses JupyterLab's Assignment List, student2 the README's terminal commands."""
    if user == TERMINAL_STUDENT:
        command = {"fetch": "fetch_assignment", "submit": "submit", "fetch_feedback": "fetch_feedback"}
        student_runs(hub, user, "nbgrader", command[action], CHAPTER)
        return
    listing = student_action(hub, user, token, action)
    if action == "fetch":
        assert any(a["assignment_id"] == CHAPTER and a["status"] == "fetched" for a in listing), listing


def student_action(hub, user, token, action: str) -> list[dict]:
    """Press Fetch / Submit / Fetch Feedback in the student's Assignment List.

    Returns the assignment list the extension answers with.
    """
    resp = hub.user_request(user, token, "POST", f"assignments/{action}",
                            data={"course_id": COURSE, "assignment_id": CHAPTER})
    assert resp.status_code == 200, f"{action} for {user}: {resp.status_code} {resp.text[:2000]}"
    body = resp.json()
    assert body.get("success"), f"{action} for {user} failed:\n{body.get('value')}"
    return body["value"]


def contents(hub, user, token, path: str, **params) -> dict:
    resp = hub.user_request(user, token, "GET", f"api/contents/{path}", params=params)
    assert resp.status_code == 200, f"GET {path} for {user}: {resp.status_code} {resp.text[:500]}"
    return resp.json()


def strip_markers(source: str) -> str:
    return "\n".join(line for line in source.splitlines()
                     if line.strip() not in {"### BEGIN SOLUTION", "### END SOLUTION"})


def quiz_options(notebook: dict) -> dict[int, dict[str, str]]:
    """``{question: {letter: option text}}`` read from the notebook's markdown."""
    found: dict[int, dict[str, str]] = {}
    question = None
    for cell in notebook["cells"]:
        if cell["cell_type"] != "markdown":
            continue
        for line in "".join(cell["source"]).splitlines():
            line = line.strip()
            if match := re.match(r"\*\*Q(\d+)\.\*\*", line):
                question = int(match.group(1))
                found[question] = {}
            elif (match := re.match(r"- ([a-d])\) (.+)", line)) and question is not None:
                found[question][match.group(1)] = match.group(2).strip()
    return found


def class_quiz_answers(released: dict, source: dict, solution: str) -> str:
    """The right quiz answers in the letters this class's release shows.

    A class release (a class secret in the course) shuffles the options; the right option is
    found again by its text, the letter a student in this class would pick.
    """
    key = {int(q): letter for q, letter in re.findall(r'answer_q(\d+) = "([a-d])"', solution)}
    in_source, in_release = quiz_options(source), quiz_options(released)
    lines, moved = [], 0
    for question, letter in sorted(key.items()):
        text = in_source[question][letter]
        shown = [shown for shown, option in in_release[question].items() if option == text]
        assert len(shown) == 1, f"Q{question}: the release does not show {text!r} once"
        moved += shown[0] != letter
        lines.append(f'answer_q{question} = "{shown[0]}"')
    assert moved, "the class release did not shuffle the quiz options (no class secret?)"
    return "\n".join(lines) + "\n"


def answer(notebook: dict, answers) -> dict:
    """The fetched notebook with the student's answers typed into its answer cells.

    Both students answer the quiz right (in the class's letters); ``answers`` says what else
    they write: the instructor's solutions, or the given source for some cells.
    """
    source_nb = json.loads((ROOT / "solutions" / CHAPTER / f"{CHAPTER}.ipynb").read_text())
    solution = {cell["metadata"]["nbgrader"]["grade_id"]: "".join(cell["source"])
                for cell in source_nb["cells"]
                if cell["metadata"].get("nbgrader", {}).get("solution")}
    typed = 0
    for cell in notebook["cells"]:
        meta = cell["metadata"].get("nbgrader", {})
        if not meta.get("solution"):
            continue
        grade_id = meta["grade_id"]
        if grade_id == QUIZ_CELL:
            cell["source"] = class_quiz_answers(notebook, source_nb, solution[grade_id])
        elif answers == SOLVED or grade_id not in answers:
            cell["source"] = strip_markers(solution[grade_id])
        else:
            cell["source"] = answers[grade_id]
        typed += 1
    assert typed >= 2, "00_welcome should have at least two answer cells"
    return notebook


def hidden_test_lines() -> list[str]:
    """Every line of the chapter's hidden tests (the quiz key included), from its source."""
    source_nb = json.loads((ROOT / "solutions" / CHAPTER / f"{CHAPTER}.ipynb").read_text())
    lines = []
    for cell in source_nb["cells"]:
        hidden = False
        for line in "".join(cell["source"]).splitlines():
            if line.strip() == "### BEGIN HIDDEN TESTS":
                hidden = True
            elif line.strip() == "### END HIDDEN TESTS":
                hidden = False
            elif hidden and line.strip():
                lines.append(line.strip())
    assert lines, f"{CHAPTER} has no hidden tests to keep out of the feedback"
    return ["BEGIN HIDDEN TESTS", *lines]


def total_score(html: str) -> tuple[float, float]:
    match = re.search(r"\(Score: ([\d.]+) / ([\d.]+)\)", html)
    assert match, "the feedback shows no score"
    return float(match.group(1)), float(match.group(2))


def test_class_roundtrip(classroom, tokens):
    hub = classroom
    chapter_path = f"{COURSE}/{CHAPTER}/{CHAPTER}.ipynb"  # path_includes_course = True
    times = {}
    start = time.perf_counter()

    # Instructor: build the student version and release it to the exchange.
    instructor_runs(hub, "nbgrader", "generate_assignment", CHAPTER)
    instructor_runs(hub, "nbgrader", "release_assignment", CHAPTER)
    assert (hub.exchange / COURSE / "outbound" / CHAPTER / f"{CHAPTER}.ipynb").is_file()
    times["release"] = time.perf_counter() - start
    print(f"released after {times['release']:.0f} s", flush=True)

    # Students: fetch, open the chapter in their own server, answer, save, submit.
    for user in STUDENTS:
        token = tokens[user]
        student_does(hub, user, token, "fetch")
        home = hub.state / "homes" / user
        assert (home / chapter_path).is_file(), f"{user}'s copy is not in their own home"
        served = contents(hub, user, token, chapter_path)
        assert served["type"] == "notebook"
        sources = "".join("".join(cell["source"]) for cell in served["content"]["cells"])
        assert "def count_parameters" in sources and "BEGIN SOLUTION" not in sources
        assert "BEGIN HIDDEN TESTS" not in sources, "the released chapter shows hidden tests"
        notebook = answer(served["content"], ANSWERS[user])
        resp = hub.user_request(user, token, "PUT", f"api/contents/{chapter_path}",
                                json={"type": "notebook", "format": "json", "content": notebook})
        assert resp.status_code == 200, resp.text[:500]
        student_does(hub, user, token, "submit")
    inbound = sorted(p.name.split("+")[0] for p in (hub.exchange / COURSE / "inbound").iterdir())
    assert inbound == sorted(STUDENTS), f"each student submits under their own name: {inbound}"
    times["students"] = time.perf_counter() - start
    print(f"submitted after {times['students']:.0f} s", flush=True)

    # Instructor: collect, autograde, feedback back to the exchange.
    instructor_runs(hub, "nbgrader", "collect", CHAPTER)
    for user in STUDENTS:
        assert (hub.course_root / "submitted" / user / CHAPTER / f"{CHAPTER}.ipynb").is_file()
    instructor_runs(hub, "genlab", "autograde", CHAPTER)  # the clean-room judge, in parallel
    times["autograde"] = time.perf_counter() - start
    print(f"autograded after {times['autograde']:.0f} s", flush=True)
    instructor_runs(hub, "nbgrader", "generate_feedback", CHAPTER)
    instructor_runs(hub, "nbgrader", "release_feedback", CHAPTER)

    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{hub.course_root / 'gradebook.db'}") as gradebook:
        for user in STUDENTS:
            submission = gradebook.find_submission(CHAPTER, user)
            assert (submission.score, submission.max_score) == EXPECTED[user], user
        # The wrong answer passes the visible checks; the hidden test takes its points.
        cell = gradebook.find_grade("test_count_parameters", CHAPTER, CHAPTER, "student2")
        assert (cell.score, cell.max_score) == (0.0, 2.0)
    # The formgrader (the instructor's server extension) sees the same course.
    resp = hub.user_request(INSTRUCTOR, tokens[INSTRUCTOR], "GET", f"formgrader/api/assignment/{CHAPTER}")
    assert resp.status_code == 200, resp.text[:500]
    seen = resp.json()
    assert seen["status"] == "released" and seen["num_submissions"] == len(STUDENTS), seen

    # Students: fetch the feedback; it shows the score and none of the hidden tests.
    for user in STUDENTS:
        token = tokens[user]
        student_does(hub, user, token, "fetch_feedback")
        folder = contents(hub, user, token, f"{COURSE}/{CHAPTER}/feedback")
        stamps = [item["path"] for item in folder["content"] if item["type"] == "directory"]
        assert len(stamps) == 1, folder
        html = contents(hub, user, token, f"{stamps[0]}/{CHAPTER}.html",
                        type="file", format="text")["content"]
        assert total_score(html) == EXPECTED[user], user
        # Code in the HTML is split into highlighting spans and escaped: compare its text.
        text = html_module.unescape(re.sub(r"<[^>]+>", "", html))
        assert "def count_parameters" in text, "the feedback does not show the student's code"
        for line in hidden_test_lines():
            assert line not in text, f"{user}'s feedback shows the hidden test ({line!r})"
    times["total"] = time.perf_counter() - start
    print("classroom round trip, seconds since the first release:",
          {k: round(v, 1) for k, v in times.items()})


def test_servers_limits_and_services(classroom, tokens):
    """Roles, the formgrader's frame policy, per-student limits and the idle culler."""
    hub = classroom
    # The formgrader runs in the instructor's server; it may be framed by its own origin
    # (the nbgrader #1870 workaround), a student's server keeps JupyterHub's 'none'.
    resp = hub.user_request(INSTRUCTOR, tokens[INSTRUCTOR], "GET", "formgrader/manage_assignments")
    assert resp.status_code == 200, resp.status_code
    # nbgrader answers a misconfigured course (root outside the server's folder) with an
    # error page and status 200.
    assert "Manage Assignments" in resp.text and "error-500" not in resp.text, resp.text[-800:]
    assert resp.headers["Content-Security-Policy"] == "frame-ancestors 'self'"
    student = STUDENTS[0]
    resp = hub.user_request(student, tokens[student], "GET", "api/contents")
    assert resp.status_code == 200
    assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
    resp = hub.user_request(student, tokens[student], "GET", "formgrader")
    assert resp.status_code == 404, "students must not get the formgrader"

    # Roles: the instructor lists the class; a student cannot open another's server.
    listed = hub.api("GET", "/users", tokens[INSTRUCTOR])
    assert listed.status_code == 200
    assert {u["name"] for u in listed.json()} >= set(STUDENTS)
    assert hub.api("GET", "/users", tokens[student]).status_code == 403
    resp = hub.user_request(STUDENTS[1], tokens[student], "GET", "api/contents")
    assert resp.status_code in (302, 403), f"{student} reached {STUDENTS[1]}'s server"

    # Each server runs with its own identity and home, and a capped address space.
    for user in (INSTRUCTOR, *STUDENTS):
        proc = hub.server_process(user)
        env = proc.environ()
        assert env["JUPYTERHUB_USER"] == user
        assert env["HOME"] == str(hub.state / "homes" / user)
        limit = proc.rlimit(__import__("psutil").RLIMIT_AS)
        assert limit == (3 * 1024**3, 3 * 1024**3), f"{user}: RLIMIT_AS {limit}"
        assert env["MEM_LIMIT"] == str(3 * 1024**3) and env["OMP_NUM_THREADS"] == "1"
    assert hub.server_process(INSTRUCTOR).environ()["JUPYTER_CONFIG_PATH"].endswith("instructor")
    assert hub.server_process(student).environ()["JUPYTER_CONFIG_PATH"].endswith("student")

    # The idle culler runs as a hub service.
    culler = hub.service_process("jupyterhub_idle_culler")
    assert culler.is_running()


@pytest.mark.browser
def test_formgrader_draws_in_jupyterlab(classroom, tokens):
    """The instructor logs in with the hub's form and opens the formgrader in JupyterLab.

    Without the frame-ancestors workaround (instructor/jupyter_server_config.py) the iframe
    stays blank and this test times out waiting for the formgrader's heading (checked).
    """
    sys.path.insert(0, str(ROOT / "tests" / "browser"))
    import labdriver

    labdriver.require_browser()
    from playwright.sync_api import sync_playwright

    hub = classroom

    # A worker that ran tests/browser keeps that session's sync Playwright (and its event
    # loop) open in this thread, and a second sync_playwright() here would refuse; a
    # thread of its own has no running loop.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(_open_formgrader, sync_playwright, labdriver, hub).result()


def _open_formgrader(sync_playwright, labdriver, hub) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(labdriver.CHROMIUM),
                                             headless=True, args=labdriver.CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.set_default_timeout(180_000)
            page.goto(f"{hub.url}/hub/login")
            page.fill("#username_input", INSTRUCTOR)
            page.fill("#password_input", hubdriver.PASSWORD)
            page.click("#login_submit")
            page.wait_for_url(f"**/user/{INSTRUCTOR}/lab**")
            page.wait_for_selector("#jp-main-dock-panel")
            page.wait_for_selector(".jp-LauncherCard")  # Lab has finished starting
            page.keyboard.press("Control+Shift+C")  # the command palette
            page.keyboard.type("Formgrader")
            page.keyboard.press("Enter")
            frame = page.frame_locator("iframe").first
            frame.locator("text=Manage Assignments").first.wait_for(timeout=120_000)
        finally:
            browser.close()
