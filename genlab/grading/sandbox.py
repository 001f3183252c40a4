"""Start the clean room (genlab.grading.child) in an operating-system sandbox; read its
messages with a deadline nothing inside can extend.

One call of :func:`run_job` is one fresh sandbox. Where Debian's bubblewrap (``bwrap``)
and unprivileged user namespaces work (:func:`availability`), the child runs under
``bwrap`` in new user, PID, mount, network, IPC, UTS and cgroup namespaces, with every
capability dropped, as ``nobody``, in its own session, killed with its parent; it sees only

- the system libraries (``/usr/lib*``) and Python (its prefix, the venv) read-only,
- genlab as built for the chapter by :mod:`genlab.grading.build` (the graded references
  stripped out, no quiz bank), read-only, where genlab lives, and stripped copies of the
  library files that hold a forbidden function (PEFT, Diffusers), mounted over them,
- a private, size-limited tmpfs ``/tmp`` (its working directory and home) and ``/proc`` of
  its own PID namespace,

and nothing of the course (solutions, gradebook, submissions), the grader's environment or
the class secret. Without bwrap, the old clean room runs (``python -I`` with Python audit
hooks) and :data:`NO_SANDBOX_NOTE` says so.

The parent reads at most :data:`MAX_BYTES`; every message must match the schema of
:mod:`genlab.grading.messages`; anything else ends the run as that submission's failure.
"""

from __future__ import annotations

import json
import os
try:  # Unix only; on Windows there is no OS sandbox and this is never called
    import pwd
except ImportError:  # pragma: no cover
    pwd = None
import select
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from functools import lru_cache

import genlab
from genlab.grading import messages
from genlab.grading.build import bytecode_of, cleanroom_tree

MAX_BYTES = 64 << 20  # what one sandbox may send back; more ends it as a failure
MAX_LINE = 48 << 20
SETUP_TIMEOUT = 120.0  # s wall: importing torch on a shared 2-core machine takes ~10 s
CELL_TIMEOUT = 30.0
TMP_BYTES = 256 << 20  # the sandbox's private /tmp
NOBODY = 65534


@dataclass
class Outcome:
    events: list[dict] = field(default_factory=list)
    ended: str = "done"  # done | died | timeout | setup_error
    detail: str = ""
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    sandboxed: bool = False


# ------------------------------------------------------------------ is bwrap usable here?

@lru_cache(maxsize=None)
def availability() -> tuple[bool, str]:
    """``(True, "bubblewrap x.y")`` where the sandbox works, else ``(False, why not)``."""
    if os.environ.get("GENLAB_SANDBOX", "").lower() in ("off", "0", "none"):
        return False, "GENLAB_SANDBOX=off"
    if not sys.platform.startswith("linux"):
        return False, f"bubblewrap needs Linux (this is {sys.platform})"
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return False, "bubblewrap (bwrap) is not installed"
    try:
        probe = subprocess.run(_bwrap_base(bwrap, []) + ["--", sys.executable, "-I", "-S", "-c", ""],
                               capture_output=True, timeout=60, env={})
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"bwrap did not start ({type(exc).__name__})"
    if probe.returncode != 0:
        why = probe.stderr.decode("utf-8", "replace").strip().splitlines()
        return False, "bwrap cannot create namespaces here: " + (why[-1][:160] if why else
                                                                  f"exit status {probe.returncode}")
    version = subprocess.run([bwrap, "--version"], capture_output=True, text=True).stdout.strip()
    return True, version or "bubblewrap"


def no_sandbox_note() -> str | None:
    """One line for reports and feedback when answers ran without the OS sandbox."""
    ok, why = availability()
    if ok:
        return None
    return (f"note: graded without the operating-system sandbox ({why}); the answers were "
            "isolated by Python audit hooks only")


def required() -> bool:
    """CI requires the sandbox (tests that need it fail instead of skipping)."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


# ------------------------------------------------------------------ the view

def _system_binds() -> list[str]:
    args = []
    for path in ("/usr/lib", "/usr/lib64", "/usr/lib32", "/lib", "/lib64", "/lib32"):
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    return args


def _python_binds() -> list[str]:
    roots = []
    for path in (sys.base_prefix, sys.prefix, os.path.realpath(sys.base_prefix),
                 os.path.realpath(sys.prefix)):
        if path not in roots and path not in ("/", "/usr"):
            roots.append(path)
    args = []
    for path in roots:
        args += ["--ro-bind", path, path]
    exe = os.path.realpath(sys.executable)
    if not any(exe.startswith(r.rstrip("/") + "/") for r in roots):
        args += ["--ro-bind", exe, exe]  # a system Python: /usr/bin/python3.x
    return args


def _bwrap_base(bwrap: str, view: list[str]) -> list[str]:
    return [bwrap, "--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent", "--new-session",
            "--cap-drop", "ALL", "--uid", str(NOBODY), "--gid", str(NOBODY),
            "--hostname", "cleanroom",
            # the private /tmp first: Python, the venv or genlab may live under /tmp (a clone
            # in /tmp), and a later tmpfs would hide their binds
            "--size", str(TMP_BYTES), "--tmpfs", "/tmp",
            *_system_binds(), *_python_binds(), *view,
            "--proc", "/proc", "--dev", "/dev", "--chdir", "/tmp",
            "--remount-ro", "/",  # bwrap's root is a tmpfs: read-only, so /tmp is all it writes
            "--clearenv"]


def sandbox_argv(chapter: str, env: dict[str, str], tests=None) -> list[str]:
    """The ``bwrap`` command line (up to ``--``) for a clean room of ``chapter`` grading the
    exercises ``tests`` (all of them: None)."""
    package, overlays = cleanroom_tree(chapter, None if tests is None else tuple(sorted(tests)))
    view = ["--ro-bind", str(package), os.path.dirname(os.path.realpath(genlab.__file__))]
    empty = str(package.parent / "empty")
    for stripped, original in overlays:
        view += ["--ro-bind", str(stripped), str(original)]
        for cached in bytecode_of(original):
            # the stripped file's own bytecode where it was compiled, else an empty file
            # (Python then compiles the mounted source): never the original's
            own = stripped.parent / "__pycache__" / cached.name
            view += ["--ro-bind", str(own) if own.is_file() else empty, str(cached)]
    argv = _bwrap_base(shutil.which("bwrap"), view)
    for key, value in env.items():
        argv += ["--setenv", key, value]
    return argv


def child_env(private: str) -> dict[str, str]:
    """The few variables the clean room gets; nothing from the grader's environment."""
    return {
        "PATH": os.pathsep.join([os.path.dirname(sys.executable), "/usr/bin", "/bin"]),
        "HOME": private, "TMPDIR": private, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0",
        "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
        "NBGRADER_EXECUTION": "autograde", "GENLAB_DEVICE": "cpu", "GENLAB_CLEAN_ROOM": "1",
        "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": private, "TQDM_DISABLE": "1",
    }


def python_argv(*args: str) -> list[str]:
    """The child's interpreter line: isolated mode, and no bytecode written (``-I`` drops
    ``PYTHONDONTWRITEBYTECODE``, ``-B`` does not)."""
    return [sys.executable, "-I", "-B", "-X", "frozen_modules=on", *args]


# ------------------------------------------------------------------ one run

def _unprivileged():
    """``(uid, gid)`` of ``nobody`` for the unsandboxed fallback when the grader is root."""
    if os.getuid() != 0 or os.environ.get("GENLAB_GRADING_KEEP_UID"):
        return None
    try:
        entry = pwd.getpwnam("nobody")
    except KeyError:
        return None

    needed = [os.path.dirname(os.__file__), os.path.dirname(os.path.dirname(genlab.__file__)),
              sys.executable]
    for path in needed:
        if not _world_readable(path):
            return None
    return entry.pw_uid, entry.pw_gid


def _world_readable(path: str) -> bool:
    path = os.path.realpath(path)
    while True:
        try:
            mode = os.stat(path).st_mode
        except OSError:
            return False
        needed = stat.S_IROTH | (stat.S_IXOTH if stat.S_ISDIR(mode) else 0)
        if mode & needed != needed:
            return False
        parent = os.path.dirname(path)
        if parent == path:
            return True
        path = parent


def run_job(job: dict, *, cpu_s: int = 120, memory_bytes: int = 3 << 30,
            exercise_timeout: float = 60.0, deadline: float | None = None,
            sandbox: bool | None = None) -> Outcome:
    """Run one clean room on ``job``; collect its messages until it ends.

    ``deadline`` (``time.monotonic()`` value): when the whole sandbox is killed, whatever
    it sends. ``sandbox``: None uses bwrap where :func:`availability` says it works.
    """
    use_bwrap = availability()[0] if sandbox is None else sandbox
    job = dict(job)
    uid_gid = None if use_bwrap else _unprivileged()
    job["limits"] = {"cpu_s": cpu_s, "memory_bytes": memory_bytes, "file_bytes": 64 << 20,
                     "processes": 512, "uid": uid_gid and uid_gid[0], "gid": uid_gid and uid_gid[1]}
    job["import_to_guard"] = not use_bwrap
    read_fd, write_fd = os.pipe()
    outcome = Outcome(sandboxed=use_bwrap)
    start = time.perf_counter()
    private = None
    try:
        if use_bwrap:
            env = child_env("/tmp")
            argv = sandbox_argv(job["chapter"], env, job.get("group_tests")) + ["--"] + \
                python_argv("-m", "genlab.grading.child", str(write_fd))
            cwd, popen_env = "/", {}
        else:
            private = tempfile.mkdtemp(prefix="genlab-cleanroom-")
            if uid_gid:
                os.chown(private, *uid_gid)
            os.chmod(private, 0o700)
            argv = python_argv("-m", "genlab.grading.child", str(write_fd))
            cwd, popen_env = private, child_env(private)
        with tempfile.TemporaryFile() as stderr:
            proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                    stderr=stderr, cwd=cwd, env=popen_env, pass_fds=(write_fd,),
                                    start_new_session=True, close_fds=True)
            os.close(write_fd)
            write_fd = -1
            try:
                proc.stdin.write(json.dumps(job).encode())
                proc.stdin.close()
            except BrokenPipeError:
                pass
            budget = deadline if deadline is not None else time.monotonic() + _budget(job, exercise_timeout)
            outcome = _collect(proc, read_fd, job, exercise_timeout, budget)
            outcome.sandboxed = use_bwrap
            stderr.seek(0, os.SEEK_END)
            size = stderr.tell()
            stderr.seek(max(0, size - 2000))
            tail = stderr.read().decode("utf-8", "replace")
        if outcome.ended == "died" and not outcome.detail:
            outcome.detail = _death_reason(proc.returncode, tail)
    finally:
        if write_fd >= 0:
            os.close(write_fd)
        os.close(read_fd)
        if private:
            shutil.rmtree(private, ignore_errors=True)
    outcome.seconds = time.perf_counter() - start
    return outcome


def _budget(job: dict, exercise_timeout: float) -> float:
    """Wall seconds the whole run may take: fixed before it starts."""
    return SETUP_TIMEOUT + CELL_TIMEOUT * len(job.get("cells", ())) + \
        exercise_timeout * len(job.get("exercises", ()))


def _death_reason(returncode, tail: str) -> str:
    if returncode is not None and returncode < 0:
        name = signal.Signals(-returncode).name
        if name == "SIGXCPU":
            return "it used more CPU time than the grader allows"
        return f"the process was killed by {name}"
    if returncode == 4 and tail.strip():
        return "the grader's clean room failed: " + tail.strip().splitlines()[-1][:300]
    if returncode == 137:  # bwrap reports its child's SIGKILL as 128 + 9
        return "the process was killed by SIGKILL"
    return f"the process ended with exit status {returncode} (os._exit or a crash)"


class _Phases:
    """The order of work the parent expects; a phase's own timer starts only when the
    next expected phase begins, so repeated or out-of-order messages extend nothing."""

    def __init__(self, job: dict, exercise_timeout: float):
        self.cells = [str(gid) for gid, _ in job.get("cells", ())]
        self.exercises = [str(e) for e in job.get("exercises", ())]
        self.exercise_timeout = exercise_timeout
        self.seen: set[tuple[str, str]] = set()

    def timeout_after(self, message: dict) -> float | None:
        """Seconds for the phase ``message`` starts, or None when it starts none."""
        kind, ident = message["ev"], str(message.get("id", ""))
        key = (kind, ident)
        if key in self.seen:
            return None
        if kind == "cell" and ident in self.cells:
            self.seen.add(key)
            return CELL_TIMEOUT
        if kind == "exercise" and ident in self.exercises:
            self.seen.add(key)
            return self.exercise_timeout
        if kind == "ready":
            self.seen.add(key)
            return CELL_TIMEOUT
        return None


def _collect(proc, fd: int, job: dict, exercise_timeout: float, budget: float) -> Outcome:
    outcome = Outcome()
    buffer = b""
    total = 0
    phases = _Phases(job, exercise_timeout)
    phase_end = min(budget, time.monotonic() + SETUP_TIMEOUT)
    while True:
        now = time.monotonic()
        if now >= phase_end:
            _kill(proc)
            outcome.ended = "timeout"
            outcome.detail = ("it used up the submission's grading time" if phase_end >= budget
                              else "no progress in time")
            break
        ready, _, _ = select.select([fd], [], [], min(phase_end - now, 1.0))
        if not ready:
            if proc.poll() is not None and not _readable(fd):
                break
            continue
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            break
        total += len(chunk)
        buffer += chunk
        if total > MAX_BYTES or len(buffer) > MAX_LINE:
            _kill(proc)
            outcome.ended, outcome.detail = "died", "it sent back more data than the grader reads"
            break
        *lines, buffer = buffer.split(b"\n")
        bad = None
        for line in lines:
            message, bad = messages.parse(line)
            if bad:
                break
            outcome.events.append(message)
            timeout = phases.timeout_after(message)
            if timeout is not None:
                phase_end = min(budget, time.monotonic() + timeout)
        if bad:
            _kill(proc)
            outcome.ended, outcome.detail = "died", f"it sent the grader a malformed message ({bad})"
            break
    outcome.cpu_seconds = _reap(proc, grace=10.0)
    if outcome.ended == "done":
        kinds = [m["ev"] for m in outcome.events]
        if "setup_error" in kinds:
            outcome.ended = "setup_error"
        elif "done" not in kinds:
            outcome.ended = "died"
    return outcome


def _reap(proc, grace: float) -> float:
    """Wait for the process (killing its group after ``grace`` s); its CPU seconds."""
    end = time.monotonic() + grace
    while True:
        try:
            exited = os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return 0.0
        if exited is not None:
            # still a zombie, so its process group id cannot be reused: kill whatever it
            # left in its session (nothing can be left inside bwrap's PID namespace)
            _kill_group(proc)
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            return usage.ru_utime + usage.ru_stime
        if time.monotonic() > end:
            _kill_group(proc)
            end = time.monotonic() + 30
        time.sleep(0.02)


def _readable(fd: int) -> bool:
    ready, _, _ = select.select([fd], [], [], 0)
    return bool(ready)


def _kill_group(proc) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _kill(proc) -> None:
    """SIGKILL to bwrap's session: bwrap dies, its PID namespace's init gets SIGKILL
    (``--die-with-parent``), and the kernel kills every process in the namespace."""
    _kill_group(proc)


def probe(code: str, chapter: str = "01_gan_losses", timeout: float = 120.0):
    """Run ``python -I -B -c code`` in the sandbox a clean room of ``chapter`` gets, without
    the clean room's audit hooks (what the operating system alone isolates: for tests and
    audits). Returns the ``subprocess.CompletedProcess`` (text output)."""
    env = child_env("/tmp")
    argv = sandbox_argv(chapter, env) + ["--"] + python_argv("-c", code)
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env={},
                          start_new_session=True)
