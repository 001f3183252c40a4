"""Build the course as a static website: ``python docs/site/build.py [--out _site]``.

What it does, offline (no step reaches the network):

1. executes every student notebook of ``chapters/`` (the learner's version: demonstrations
   run, exercise stubs unsolved) in a kernel, two at a time, and keeps the executed copy in
   ``.cache/site/executed/`` under a key made of the notebook's cells and every file of the
   ``genlab`` package: an unchanged chapter is not executed again;
2. computes the four widget previews (``widget_previews.py``), cached the same way;
3. stages a Sphinx source folder (``.cache/site/src``): the README as the front page and one
   cleaned notebook per chapter (``pages.py``: no tracebacks of unsolved exercises, widget
   previews instead of dead widgets, launch and download links), writing only files whose
   bytes changed so that Sphinx rebuilds only what changed;
4. runs Sphinx (MyST-NB, sphinx-book-theme; ``conf.py``) into ``--out``.

A non-exercise cell that raises makes the build fail: the site shows real runs only.
"""

from __future__ import annotations

import argparse
import hashlib
import fcntl
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
# this tree's genlab first (not another checkout's editable install), then the helpers
sys.path[:0] = [str(HERE), str(ROOT / "tools"), str(ROOT)]

import pages  # noqa: E402  (docs/site/pages.py)

CHAPTERS = ROOT / "chapters"
CACHE = ROOT / ".cache" / "site"
EXECUTED = CACHE / "executed"
PREVIEWS = CACHE / "previews"
STAGE = CACHE / "src"
DOCTREES = CACHE / "doctrees"
# Sphinx writes here, then the site is copied to --out: MyST-NB puts its scratch folder
# (jupyter_execute/) beside Sphinx's output folder, which must not be the repository root.
HTML = CACHE / "html"
DEFAULT_OUT = ROOT / "_site"
# Bump when the way notebooks are executed changes, so cached runs are redone.
EXECUTION_VERSION = "2"
KERNEL_TIMEOUT_S = 900


def chapter_ids() -> list[str]:
    """Chapter folders of ``chapters/`` holding ``<id>/<id>.ipynb``, in order."""
    return sorted(p.name for p in CHAPTERS.iterdir()
                  if (p / f"{p.name}.ipynb").is_file())


def package_digest() -> str:
    """sha256 over every file of the ``genlab`` package (paths and bytes): the code and
    data the chapters run, so a changed loss or model re-executes the chapters."""
    digest = hashlib.sha256()
    for path in sorted((ROOT / "genlab").rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(path.relative_to(ROOT).as_posix().encode() + b"\0")
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def notebook_key(chapter: str, genlab_digest: str) -> str:
    """Cache key of a chapter's execution: its cells (type and source), genlab, version."""
    import nbformat

    nb = nbformat.read(CHAPTERS / chapter / f"{chapter}.ipynb", as_version=4)
    digest = hashlib.sha256(f"{EXECUTION_VERSION}\0{genlab_digest}\0".encode())
    for cell in nb.cells:
        digest.update(f"{cell.cell_type}\0{cell.source}\0".encode())
    return digest.hexdigest()


def preview_key(name: str, genlab_digest: str) -> str:
    source = (HERE / "widget_previews.py").read_bytes()
    return hashlib.sha256(f"{name}\0{genlab_digest}\0".encode() + source).hexdigest()


def kernel_env() -> dict[str, str]:
    """Extra environment of the kernels and preview workers: this tree's genlab first, one
    math thread (two jobs share two cores), no progress bars, and matplotlib's inline
    backend (figures become outputs, as in JupyterLab; the test suite's Agg would drop them)."""
    return {"PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
            "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1",
            "MPLBACKEND": "module://matplotlib_inline.backend_inline"}


def _execute_chapter(chapter: str, key: str) -> tuple[str, float]:
    import nbformat
    import nbrun

    nb, seconds, _ = nbrun.execute(CHAPTERS / chapter / f"{chapter}.ipynb",
                                   timeout=KERNEL_TIMEOUT_S, allow_errors=True, env=kernel_env())
    EXECUTED.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, EXECUTED / f"{chapter}.ipynb")
    (EXECUTED / f"{chapter}.key").write_text(key)
    return chapter, seconds


def _render_preview(name: str, key: str) -> tuple[str, float]:
    import widget_previews

    os.environ.update(kernel_env(), MPLBACKEND="Agg")
    start = time.perf_counter()
    folder = PREVIEWS / "frames"
    shutil.rmtree(folder / name, ignore_errors=True)
    spec = widget_previews.render(name, folder)
    (PREVIEWS / f"{name}.json").write_text(json.dumps(spec))
    (PREVIEWS / f"{name}.key").write_text(key)
    return f"preview {name}", time.perf_counter() - start


def _die_with_parent() -> None:
    """Worker initializer: on Linux, end this worker when the build process dies (killed by
    a timeout, say) instead of leaving it orphaned; its kernel then exits too (ipykernel
    stops when its parent goes)."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _is_current(key_file: Path, key: str) -> bool:
    return key_file.is_file() and key_file.read_text() == key


def run_pending(jobs: int = 2, log=print) -> list[tuple[str, float]]:
    """Execute the chapters and previews whose cache key changed, ``jobs`` at a time.

    Returns ``(what, seconds)`` for each job that ran (empty when everything was cached).
    """
    import widget_previews

    genlab_digest = package_digest()
    tasks = []
    for chapter in chapter_ids():
        key = notebook_key(chapter, genlab_digest)
        if not _is_current(EXECUTED / f"{chapter}.key", key):
            tasks.append((_execute_chapter, chapter, key))
    for name in widget_previews.PREVIEWS:
        key = preview_key(name, genlab_digest)
        if not _is_current(PREVIEWS / f"{name}.key", key):
            tasks.append((_render_preview, name, key))
    if not tasks:
        return []
    PREVIEWS.mkdir(parents=True, exist_ok=True)
    # The longest first: the slowest chapters and the mode-collapse runs dominate.
    weight = {"08_personalization": 9, "07_finetuning": 8, "mode_collapse": 7,
              "06_monitoring": 6, "03_diffusion_losses": 5, "01_gan_losses": 5}
    tasks.sort(key=lambda task: -weight.get(task[1], 0))
    done = []
    # spawn, not fork: a forked worker inherits the parent's ZeroMQ context (a test process
    # that already ran a notebook has one) and then waits forever for its kernel's replies
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context,
                             initializer=_die_with_parent) as pool:
        futures = [pool.submit(fn, name, key) for fn, name, key in tasks]
        for future in futures:
            what, seconds = future.result()
            log(f"  ran {what} in {seconds:.1f} s")
            done.append((what, seconds))
    return done


def write_if_changed(path: Path, data: bytes | str) -> bool:
    """Write ``data`` unless ``path`` already holds exactly it (Sphinx then skips the page)."""
    data = data.encode() if isinstance(data, str) else data
    if path.is_file() and path.read_bytes() == data:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return True


def stage() -> list[str]:
    """Fill ``.cache/site/src`` from the executed notebooks, previews and README."""
    import nbformat

    chapters = chapter_ids()
    specs = {p.stem: json.loads(p.read_text()) for p in sorted(PREVIEWS.glob("*.json"))}
    wanted: set[Path] = set()

    def put(relative: str, data: bytes | str) -> None:
        wanted.add(STAGE / relative)
        write_if_changed(STAGE / relative, data)

    repo = pages.repository()
    put("index.md", pages.front_page((ROOT / "README.md").read_text(), chapters, repo, ROOT))
    for chapter in chapters:
        executed = nbformat.read(EXECUTED / f"{chapter}.ipynb", as_version=4)
        page = pages.chapter_page(executed, chapter, repo, specs)
        put(f"chapters/{chapter}/{chapter}.ipynb", nbformat.writes(page))
        # the student notebook as released (no outputs), for the download link
        put(f"_extra/chapters/{chapter}/{chapter}.ipynb",
            (CHAPTERS / chapter / f"{chapter}.ipynb").read_bytes())
    for image in sorted((ROOT / "docs" / "img").glob("*.png")):
        put(f"_extra/docs/img/{image.name}", image.read_bytes())
    for frame in sorted((PREVIEWS / "frames").rglob("*.png")):
        put(f"_static_extra/widget-previews/{frame.relative_to(PREVIEWS / 'frames').as_posix()}",
            frame.read_bytes())
    put(f"_static_extra/mathjax/{pages.MATHJAX_FILE}", pages.mathjax_bytes())
    for stale in [p for p in STAGE.rglob("*") if p.is_file() and p not in wanted]:
        stale.unlink()
    return chapters


def sphinx(out: Path, log=print) -> None:
    env = dict(os.environ, GENLAB_SITE_STAGE=str(STAGE))
    cmd = [sys.executable, "-m", "sphinx", "-b", "html", "-q", "-c", str(HERE),
           "-d", str(DOCTREES), "-j", "2", str(STAGE), str(out)]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if result.stderr.strip():
        log(result.stderr.strip())
    if result.returncode:
        raise SystemExit(f"sphinx-build failed (exit {result.returncode})")


def publish(html: Path, out: Path) -> None:
    """Copy the built site ``html`` to ``out``, replacing an earlier site there (never a
    folder that holds something else)."""
    if out.exists():
        if not (out / ".buildinfo").is_file() and any(out.iterdir()):
            raise pages.BuildError(f"--out {out} exists and is not a site built here; "
                                   "name an empty or new folder")
        shutil.rmtree(out)
    shutil.copytree(html, out)


def build(out: Path = DEFAULT_OUT, jobs: int = 2, log=print) -> dict:
    """Build the site into ``out``; returns timings ``{"execute_s", "sphinx_s", "ran"}``."""
    start = time.perf_counter()
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / ".lock", "w") as lock:
        # one build at a time uses the cache (a second one waits, then executes nothing)
        fcntl.flock(lock, fcntl.LOCK_EX)
        ran = run_pending(jobs, log)
        executed_s = time.perf_counter() - start
        stage()
        sphinx(HTML, log)
        publish(HTML, out)
    total = time.perf_counter() - start
    log(f"site in {out}: {len(ran)} job(s) executed in {executed_s:.1f} s, "
        f"{total:.1f} s in all")
    return {"execute_s": executed_s, "total_s": total, "ran": ran}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (_site)")
    parser.add_argument("--jobs", type=int, default=2, help="notebooks executed at once (2)")
    args = parser.parse_args(argv)
    try:
        build(args.out.resolve(), args.jobs)
    except pages.BuildError as error:
        print(f"site build failed: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
