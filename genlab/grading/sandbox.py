"""Start the clean room (genlab.grading.child) and read its messages, with time limits.

One call of :func:`run_job` is one fresh process: a private empty directory (removed
afterwards), a scrubbed environment, ``python -I`` (no user site, no cwd on sys.path), its
own session (so a timeout kills everything it started), resource limits and, when the
grader runs as root, the ``nobody`` user.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

MAX_BYTES = 64 << 20  # what one process may send back; more is cut off and counted as a crash
SETUP_TIMEOUT = 120.0  # s wall: importing torch on a shared 2-core machine takes ~10 s
CELL_TIMEOUT = 30.0


@dataclass
class Outcome:
    events: list[dict] = field(default_factory=list)
    ended: str = "done"  # done | died | timeout | setup_error
    detail: str = ""
    seconds: float = 0.0
    cpu_seconds: float = 0.0


def _world_readable(path: str) -> bool:
    """Every folder above ``path`` can be entered and ``path`` read by any user."""
    import stat

    path = os.path.realpath(path)
    parts = [path] + [p for p in _parents(path)]
    for i, part in enumerate(parts):
        try:
            mode = os.stat(part).st_mode
        except OSError:
            return False
        needed = stat.S_IROTH | (stat.S_IXOTH if i or os.path.isdir(part) else 0)
        if mode & needed != needed:
            return False
    return True


def _parents(path: str):
    while True:
        parent = os.path.dirname(path)
        if parent == path:
            return
        yield parent
        path = parent


def _unprivileged():
    """``(uid, gid)`` of ``nobody`` when the grader runs as root and Python (its standard
    library and site-packages) is readable by other users; else None (no uid change)."""
    if os.getuid() != 0 or os.environ.get("GENLAB_GRADING_KEEP_UID"):
        return None
    import genlab

    needed = [os.path.dirname(os.__file__), os.path.dirname(os.path.dirname(genlab.__file__)),
              os.path.dirname(os.path.dirname(__import__("torch").__file__)), sys.executable]
    if not all(_world_readable(p) for p in needed):
        return None
    try:
        import pwd

        entry = pwd.getpwnam("nobody")
        return entry.pw_uid, entry.pw_gid
    except KeyError:
        return None


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


def run_job(job: dict, *, cpu_s: int = 120, memory_bytes: int = 3 << 30,
            exercise_timeout: float = 60.0) -> Outcome:
    """Run one clean-room process on ``job``; collect its messages until it ends."""
    uid_gid = _unprivileged()
    job = dict(job)
    job["limits"] = {"cpu_s": cpu_s, "memory_bytes": memory_bytes, "file_bytes": 64 << 20,
                     "uid": uid_gid and uid_gid[0], "gid": uid_gid and uid_gid[1]}
    private = tempfile.mkdtemp(prefix="genlab-cleanroom-")
    read_fd, write_fd = os.pipe()
    outcome = Outcome()
    start = time.perf_counter()
    try:
        if uid_gid:
            os.chown(private, *uid_gid)
        os.chmod(private, 0o700)
        stderr_path = os.path.join(tempfile.gettempdir(), f"genlab-cleanroom-{os.getpid()}-{read_fd}.err")
        with open(stderr_path, "w+b") as stderr:
            proc = subprocess.Popen(
                [sys.executable, "-I", "-X", "frozen_modules=on", "-m", "genlab.grading.child",
                 str(write_fd)],
                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=stderr, cwd=private,
                env=child_env(private), pass_fds=(write_fd,), start_new_session=True,
                close_fds=True)
            os.close(write_fd)
            write_fd = -1
            try:
                proc.stdin.write(json.dumps(job).encode())
                proc.stdin.close()
            except BrokenPipeError:
                pass
            outcome = _collect(proc, read_fd, exercise_timeout)
            stderr.seek(0, os.SEEK_END)
            size = stderr.tell()
            stderr.seek(max(0, size - 2000))
            tail = stderr.read().decode("utf-8", "replace")
        os.unlink(stderr_path)
        if outcome.ended == "died":
            outcome.detail = _death_reason(proc.returncode, tail)
    finally:
        if write_fd >= 0:
            os.close(write_fd)
        os.close(read_fd)
        shutil.rmtree(private, ignore_errors=True)
    outcome.seconds = time.perf_counter() - start
    return outcome


def _death_reason(returncode, tail: str) -> str:
    import signal

    if returncode is not None and returncode < 0:
        name = signal.Signals(-returncode).name
        if name == "SIGXCPU":
            return "it used more CPU time than the grader allows"
        return f"the process was killed by {name}"
    if returncode == 4 and tail.strip():
        return "the grader's clean room failed: " + tail.strip().splitlines()[-1][:300]
    return f"the process ended with exit status {returncode} (os._exit or a crash)"


def _collect(proc, fd: int, exercise_timeout: float) -> Outcome:
    outcome = Outcome()
    buffer = b""
    total = 0
    timeout = SETUP_TIMEOUT
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            _kill(proc)
            outcome.ended, outcome.detail = "timeout", f"no progress within {timeout:g} s"
            break
        ready, _, _ = select.select([fd], [], [], min(remaining, 1.0))
        if not ready:
            if proc.poll() is not None and not _readable(fd):
                break
            continue
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            break
        total += len(chunk)
        if total > MAX_BYTES:
            _kill(proc)
            outcome.ended, outcome.detail = "died", "it sent back more data than the grader reads"
            break
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            try:
                message = json.loads(line)
            except ValueError:
                continue  # not ours (or mangled): ignored
            if not isinstance(message, dict) or not isinstance(message.get("ev"), str):
                continue
            outcome.events.append(message)
            kind = message["ev"]
            timeout = {"cell": CELL_TIMEOUT, "exercise": exercise_timeout}.get(kind, SETUP_TIMEOUT)
            deadline = time.monotonic() + timeout
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
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        except ChildProcessError:
            return 0.0
        if pid:
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
    import signal

    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _kill(proc) -> None:
    _kill_group(proc)
