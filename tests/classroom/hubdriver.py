"""Drive the course's JupyterHub (classroom/jupyterhub_config.py) from a test.

``Hub`` starts ``jupyterhub`` on a free loopback port in its own process group, with its
state (database, cookie secret, user homes) in a temporary folder, and talks to it over
HTTP: the hub's REST API for logging in and spawning, the proxy for the users' servers.
``Hub.stop`` ends the hub and every process it started (proxy, idle culler, single-user
servers, their kernels) and reports any that outlived it.

Where Node.js is missing the tests skip and say why; under CI (``CI`` set) they fail,
because CI must prove that a class works. A missing proxy (``make classroom-deps``) or a
missing JupyterHub (the ``classroom`` extra) always fails: with Node present there is no
reason to run without them.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import requests

ROOT = Path(__file__).resolve().parents[2]
CLASSROOM = ROOT / "classroom"
CONFIG = CLASSROOM / "jupyterhub_config.py"
PROXY = CLASSROOM / "node_modules" / ".bin" / "configurable-http-proxy"
PASSWORD = "roundtrip-test"
INSTRUCTOR = "instructor"
STUDENTS = ("student1", "student2")


def ci_requires_hub() -> bool:
    """True under CI (``CI`` set to anything but empty/0/false): the classroom test must run."""
    return os.environ.get("CI", "").strip().lower() not in {"", "0", "false", "no"}


def require_hub() -> None:
    """Skip where Node.js is missing (fail under CI); fail where the rest of the stack is."""
    import pytest

    if shutil.which("node") is None:
        reason = "Node.js is not installed (configurable-http-proxy needs it: apt-get install -y nodejs npm)"
        if ci_requires_hub():
            pytest.fail(f"the classroom test is required under CI, but {reason}", pytrace=False)
        pytest.skip(f"classroom test skipped: {reason}")
    if not PROXY.exists():
        pytest.fail(f"configurable-http-proxy is not installed at {PROXY.relative_to(ROOT)}: "
                    "run `make classroom-deps` (npm ci in classroom/)", pytrace=False)
    if shutil.which("jupyterhub", path=str(Path(sys.executable).parent)) is None:
        pytest.fail("JupyterHub is not installed in this environment: "
                    "pip install -c constraints.txt -e '.[classroom]' (make setup does)",
                    pytrace=False)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class HubError(RuntimeError):
    pass


class Hub:
    """One JupyterHub with the course's configuration, its state under ``state``."""

    def __init__(self, state: Path, course_root: Path, exchange: Path):
        self.state = Path(state)
        self.course_root = Path(course_root)
        self.exchange = Path(exchange)
        self.port = 0
        self.process: subprocess.Popen | None = None
        self.log_path = self.state / "jupyterhub.log"
        # Every process seen under the hub: (pid, create_time), so a reused pid is not killed.
        self._seen: dict[int, float] = {}

    # ------------------------------------------------------------------ life cycle
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            GENLAB_CLASSROOM_STATE=str(self.state),
            GENLAB_CLASSROOM_PORT=str(self.port),
            GENLAB_CLASSROOM_COURSE_ROOT=str(self.course_root),
            GENLAB_EXCHANGE_ROOT=str(self.exchange),
            GENLAB_CLASSROOM_INSTRUCTORS=INSTRUCTOR,
            GENLAB_CLASSROOM_STUDENTS=",".join(STUDENTS),
            GENLAB_CLASSROOM_PASSWORD=PASSWORD,
            PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
            PYTHONUNBUFFERED="1",
        )
        return env

    def start(self, timeout: float = 120.0, attempts: int = 2) -> Hub:
        """Start the hub; a hub that exits at once (a port taken meanwhile) is tried again."""
        for attempt in range(attempts):
            try:
                return self._start_once(timeout)
            except HubError:
                if self.process is None or self.process.poll() is None or attempt == attempts - 1:
                    raise
                self._log.close()
        raise AssertionError("unreachable")

    def _start_once(self, timeout: float) -> Hub:
        self.state.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        jupyterhub = Path(sys.executable).with_name("jupyterhub")
        self._log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [str(jupyterhub), "-f", str(CONFIG)], cwd=self.state, env=self.env(),
            stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise HubError(f"jupyterhub exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                if requests.get(f"{self.url}/hub/api/", timeout=5).status_code == 200:
                    self.remember_processes()
                    return self
            except requests.ConnectionError:
                pass
            time.sleep(0.5)
        raise HubError(f"jupyterhub did not answer within {timeout:.0f} s:\n{self.log_tail()}")

    def log_tail(self, chars: int = 6000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    def remember_processes(self) -> None:
        """Note the hub and everything under it now; ``stop`` ends all of them."""
        if self.process is None:
            return
        try:
            root = psutil.Process(self.process.pid)
            for proc in [root, *root.children(recursive=True)]:
                self._seen.setdefault(proc.pid, proc.create_time())
        except psutil.NoSuchProcess:
            pass

    def _alive(self) -> list[psutil.Process]:
        alive = []
        for pid, created in self._seen.items():
            try:
                proc = psutil.Process(pid)
                if proc.create_time() == created and proc.status() != psutil.STATUS_ZOMBIE:
                    alive.append(proc)
            except psutil.NoSuchProcess:
                pass
        return alive

    def stop(self, grace: float = 20.0) -> list[str]:
        """End the hub and all it started; return a description of any process that survived."""
        if self.process is None:
            return []
        self.remember_processes()
        if self.process.poll() is None:
            # SIGTERM: the hub stops the users' servers, the services and the proxy itself.
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(grace)
            except subprocess.TimeoutExpired:
                pass
        deadline = time.monotonic() + grace
        while self._alive() and time.monotonic() < deadline:
            time.sleep(0.2)
        leftovers = self._alive()
        for proc in leftovers:  # each user server and service has a process group of its own
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.killpg(os.getpgid(proc.pid), sig)
                except (ProcessLookupError, PermissionError):
                    pass
                try:
                    proc.wait(3)
                    break
                except psutil.TimeoutExpired:
                    continue
                except psutil.NoSuchProcess:
                    break
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)
        self._log.close()
        described = []
        for proc in leftovers:
            try:
                described.append(f"{proc.pid} {' '.join(proc.cmdline())[:120]}")
            except psutil.NoSuchProcess:
                described.append(f"{proc.pid} (ended after SIGTERM/SIGKILL)")
        return described

    # ------------------------------------------------------------------ REST
    def api(self, method: str, path: str, token: str | None = None, **kwargs) -> requests.Response:
        headers = kwargs.pop("headers", {})
        if token:
            headers["Authorization"] = f"token {token}"
        return requests.request(method, f"{self.url}/hub/api{path}", headers=headers,
                                timeout=kwargs.pop("timeout", 60), **kwargs)

    def login(self, user: str, password: str = PASSWORD) -> str:
        """A token for ``user``, asked for with the user's name and password (the REST login)."""
        resp = self.api("POST", f"/users/{user}/tokens", json={
            "auth": {"username": user, "password": password},
            "note": "classroom round-trip test", "expires_in": 3600})
        if resp.status_code != 201:
            raise HubError(f"login of {user} failed: {resp.status_code} {resp.text}")
        return resp.json()["token"]

    def spawn_all(self, tokens: dict[str, str], timeout: float = 240.0) -> None:
        """Start the servers of all ``tokens``' users at once and wait until all are ready."""
        for user, token in tokens.items():
            resp = self.api("POST", f"/users/{user}/server", token)
            if resp.status_code not in (201, 202):
                raise HubError(f"spawn of {user} failed: {resp.status_code} {resp.text}")
        waiting = dict(tokens)
        deadline = time.monotonic() + timeout
        while waiting and time.monotonic() < deadline:
            for user, token in list(waiting.items()):
                model = self.api("GET", f"/users/{user}", token).json()
                server = model.get("servers", {}).get("")
                if server and server.get("ready"):
                    del waiting[user]
                elif not model.get("pending") and not server:
                    raise HubError(f"the server of {user} failed to start:\n{self.log_tail()}")
            self.remember_processes()
            time.sleep(0.5)
        if waiting:
            raise HubError(f"servers not ready in {timeout:.0f} s: {sorted(waiting)}\n{self.log_tail()}")

    def user_request(self, user: str, token: str, method: str, path: str, **kwargs) -> requests.Response:
        """An HTTP request to ``user``'s server, through the proxy, like a browser's."""
        headers = kwargs.pop("headers", {})
        headers["Authorization"] = f"token {token}"
        return requests.request(method, f"{self.url}/user/{user}/{path.lstrip('/')}",
                                headers=headers, timeout=kwargs.pop("timeout", 120),
                                allow_redirects=False, **kwargs)

    def server_process(self, user: str) -> psutil.Process:
        """The single-user server of ``user`` (found by the ``JUPYTERHUB_USER`` it runs with)."""
        self.remember_processes()
        for proc in self._alive():
            try:
                if ("jupyterhub.singleuser" in " ".join(proc.cmdline())
                        and proc.environ().get("JUPYTERHUB_USER") == user):
                    return proc
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
        raise HubError(f"no single-user server process for {user}")

    def service_process(self, module: str) -> psutil.Process:
        self.remember_processes()
        for proc in self._alive():
            try:
                if module in " ".join(proc.cmdline()):
                    return proc
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
        raise HubError(f"no process runs {module}")
