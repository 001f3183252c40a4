"""The clean room: runs a learner's answer cells and hands back plain data.

Started by :mod:`genlab.grading.sandbox` as ``python -I -B -m genlab.grading.child FD``
inside the operating-system sandbox (bubblewrap: the graded references are not on its file
system at all) or, where that is missing, in a private empty directory; the job (JSON)
comes on stdin. Messages go back as JSON lines on file descriptor FD
(:mod:`genlab.grading.messages` is what the grader accepts). Order of work: confine the
process (limits, user), run the chapter's setup code, guard the exercises' references
(genlab.exercises.guard, a second layer), lock the process (audit hooks, a second layer:
they are no sandbox), then the answer cells, then each exercise's ``run`` on the hidden
cases. Nothing here compares anything: the judge, in the grading process, does.
"""

from __future__ import annotations

import io
import json
import linecache
import os
try:  # Unix only; on Windows there is no OS sandbox and this is never called
    import resource
except ImportError:  # pragma: no cover
    resource = None
import sys
import traceback
import types
from importlib.util import cache_from_source

import torch

from genlab.exercises import guard
from genlab.grading import plain
from genlab.grading.spec import Answers, load_spec, resolve

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_NEVER = {  # events refused once the answers may run
    "subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork",
    "os.forkpty", "pty.spawn", "os.kill", "os.killpg", "signal.pthread_kill", "os.symlink",
    "os.link", "socket.__new__", "socket.connect", "socket.bind", "socket.sendto",
    "socket.sendmsg", "socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyaddr",
    "os.chroot", "os.setuid", "os.setgid", "resource.setrlimit", "resource.prlimit",
    "sys.remote_exec", "webbrowser.open",
}
_PATH_EVENTS = {  # event -> indices of its path arguments
    "os.remove": (0,), "os.rmdir": (0,), "os.mkdir": (0,), "os.chmod": (0,), "os.chown": (0,),
    "os.truncate": (0,), "os.utime": (0,), "shutil.rmtree": (0,), "os.rename": (0, 1),
    "shutil.copyfile": (1,), "shutil.copytree": (1,), "shutil.move": (1,), "os.chflags": (0,),
    "os.lchmod": (0,), "os.lchown": (0,), "os.mkfifo": (0,), "os.mknod": (0,),
}


class Hooks:
    """The audit hook: permanent once added (``sys.addaudithook`` cannot be undone)."""

    def __init__(self, private: str, deny_read=(), allow_read=()):
        self.private = os.path.abspath(private)
        self.locked = False
        self.loaded: frozenset[str] = frozenset()
        # the course (solutions, gradebook, other submissions) may not even be read; the
        # Python installation and genlab's package inside it may
        self.deny_read = tuple(os.path.abspath(p) for p in deny_read)
        self.allow_read = tuple(os.path.abspath(p) for p in allow_read) + (self.private,)

    def _may_read(self, path) -> bool:
        if isinstance(path, int) or not self.deny_read:
            return True
        try:
            full = os.path.abspath(os.fsdecode(os.fspath(path)))
        except TypeError:
            return False
        def under(roots):
            return any(full == r or full.startswith(r.rstrip(os.sep) + os.sep) for r in roots)
        return under(self.allow_read) or not under(self.deny_read)

    def lock(self):
        files = set()
        for module in list(sys.modules.values()):
            path = getattr(module, "__file__", None)
            if isinstance(path, str) and path.endswith(".py"):
                files.add(os.path.abspath(path))
                try:
                    files.add(os.path.abspath(cache_from_source(path)))
                except (NotImplementedError, ValueError):
                    pass
        self.loaded = frozenset(files)
        self.locked = True

    def _inside(self, path) -> bool:
        if isinstance(path, int):
            return True  # an already open descriptor
        try:
            path = os.fsdecode(os.fspath(path))
        except TypeError:
            return False
        full = os.path.normpath(os.path.join(self.private, path))
        return full == os.devnull or full == self.private or full.startswith(self.private + os.sep)

    def __call__(self, event, args):
        if not self.locked:
            return
        if event in _NEVER or event.startswith("ctypes."):
            raise PermissionError(f"the grader does not allow {event} in an answer")
        if event == "open":
            path, mode, flags = args
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or \
                (isinstance(flags, int) and flags & _WRITE_FLAGS)
            if writing and not self._inside(path):
                raise PermissionError(f"the grader does not allow writing to {path!r}")
            if not writing and not isinstance(path, int):
                full = os.path.abspath(os.fsdecode(os.fspath(path)))
                if full in self.loaded:
                    raise PermissionError("the grader does not allow reading the code of a loaded module")
                if not self._may_read(full):
                    raise PermissionError(f"the grader does not allow reading {path!r}")
        elif event in ("os.listdir", "os.scandir") and args and args[0] is not None:
            if not self._may_read(args[0]):
                raise PermissionError(f"the grader does not allow listing {args[0]!r}")
        elif event in _PATH_EVENTS:
            for i in _PATH_EVENTS[event]:
                if i < len(args) and not self._inside(args[i]):
                    raise PermissionError(f"the grader does not allow {event} on {args[i]!r}")
        elif event == "exec":
            code = args[0]
            if getattr(code, "co_filename", None) in self.loaded:
                raise PermissionError("the grader does not allow running a second copy of a loaded module")
        elif event == "object.__setattr__":
            if len(args) > 1 and args[1] == "__code__":
                raise PermissionError(f"the grader does not allow changing a function's {args[1]}")


def _confine(limits: dict) -> None:
    """Resource limits, then (as root) the unprivileged user; before any learner code."""
    cpu = int(limits.get("cpu_s", 120))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
    mem = int(limits.get("memory_bytes", 0))
    if mem:
        resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    size = int(limits.get("file_bytes", 64 << 20))
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
    procs = int(limits.get("processes", 0))
    if procs:  # counts threads too (torch's pools); not enforced for a real root outside
        resource.setrlimit(resource.RLIMIT_NPROC, (procs, procs))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    uid, gid = limits.get("uid"), limits.get("gid")
    if uid is not None and os.getuid() == 0:
        os.setgroups([])
        os.setgid(int(gid))
        os.setuid(int(uid))


class _Channel:
    def __init__(self, fd: int):
        self.write = os.write
        self.fd = fd
        self.dumps = json.dumps

    def send(self, message: dict) -> None:
        data = (self.dumps(message, separators=(",", ":")) + "\n").encode()
        while data:
            n = self.write(self.fd, data)
            data = data[n:]


def _error_text(exc: BaseException, limit: int = 1500) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text[:limit]


def _run_captured(fn):
    """Call ``fn()`` with stdout/stderr captured; returns (value, error, output)."""
    buffer = io.StringIO()
    old = sys.stdout, sys.stderr
    sys.stdout = sys.stderr = buffer
    try:
        return fn(), None, buffer.getvalue()[-2000:]
    except BaseException as exc:  # noqa: BLE001 - an answer may raise anything, SystemExit too
        return None, exc, buffer.getvalue()[-2000:]
    finally:
        sys.stdout, sys.stderr = old


def main() -> None:
    fd = int(sys.argv[1])
    job = json.loads(sys.stdin.read())
    channel = _Channel(fd)
    _confine(job.get("limits", {}))
    policy = job.get("read_policy", {})
    hooks = Hooks(os.getcwd(), policy.get("deny", ()), policy.get("allow", ()))
    sys.addaudithook(hooks)

    main_module = types.ModuleType("__main__")
    sys.modules["__main__"] = main_module
    ns = main_module.__dict__
    ns["__builtins__"] = __builtins__

    _, error, output = _run_captured(lambda: exec(compile(job["setup"], "<setup>", "exec"), ns))
    if error is not None:
        channel.send({"ev": "setup_error", "error": _error_text(error), "stdout": output})
        os._exit(3)

    spec = load_spec(job["chapter"])
    exercises = [spec.exercises[test] for test in job["exercises"]]
    guarded = []
    for target in job["forbid"]:
        module = target.partition(":")[0]
        if not job.get("import_to_guard", True) and module.split(".")[0] != "genlab" \
                and module not in sys.modules:
            continue  # the sandbox mounts a stripped copy of that library file: no import needed
        try:
            reference = resolve(target)
        except (ImportError, AttributeError):
            continue  # not installed here (or renamed): nothing to call, nothing to guard
        guarded += guard(reference)
    hooks.lock()
    channel.send({"ev": "ready", "guarded": guarded})

    for gid, source in job["cells"]:
        channel.send({"ev": "cell", "id": gid})
        filename = f"<answer cell {gid}>"
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        before = dict(ns)

        def run_cell(source=source, filename=filename):
            exec(compile(source, filename, "exec"), ns)

        _, error, output = _run_captured(run_cell)
        defined = sorted(k for k, v in ns.items() if k not in before or before[k] is not v)
        channel.send({"ev": "cell_done", "id": gid, "defined": defined[:200], "stdout": output,
                      "error": None if error is None else _error_text(error)})

    if job.get("variables"):
        values = {name: plain.encode(ns[name]) if name in ns else {"other": "not defined"}
                  for name in job["variables"]}
        channel.send({"ev": "variables", "values": values})

    answers = Answers(ns)
    for exercise, cases in zip(exercises, job["cases"]):
        channel.send({"ev": "exercise", "id": exercise.test})
        outputs, printed = [], ""
        for seed, case in cases:
            torch.manual_seed(seed)
            value, error, output = _run_captured(lambda case=case: exercise.run(answers, plain.decode(case)))
            printed += output
            outputs.append({"error": _error_text(error)} if error is not None else plain.encode(value))
        channel.send({"ev": "result", "id": exercise.test, "outputs": outputs, "stdout": printed[-2000:]})
    channel.send({"ev": "done"})
    os._exit(0)


if __name__ == "__main__":
    try:
        main()
    except BaseException:  # noqa: BLE001 - report and leave without running atexit code
        traceback.print_exc()
        os._exit(4)
