"""What the operating-system sandbox isolates, measured (not assumed).

Each probe runs ``python -I -B -c`` inside the same bubblewrap view a clean room gets
(:func:`genlab.grading.sandbox.probe`), *without* the clean room's audit hooks: what holds
here holds even for an answer that switched the hooks off. The last tests run whole clean
rooms (:func:`genlab.grading.sandbox.run_job`) whose answer does switch them off.
"""

from __future__ import annotations

import inspect
import json
import os
import socket
import sys
import time
import uuid

import pytest
from conftest import ROOT

from genlab.grading import sandbox

pytestmark = pytest.mark.usefixtures("needs_sandbox")


def _probe(code: str, chapter: str = "01_gan_losses") -> dict:
    run = sandbox.probe("import json, os, sys\nout = {}\n" + code + "\nprint(json.dumps(out))", chapter)
    assert run.returncode == 0, run.stderr[-2000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_the_course_the_grader_and_the_quiz_bank_are_not_in_view(tmp_path):
    secret_file = ROOT / ".genlab-class-secret"
    out = _probe(f"""
root = {str(ROOT)!r}
out["root_listing"] = sorted(os.listdir(root))
out["exists"] = {{p: os.path.exists(p) for p in [root + "/solutions", root + "/chapters",
    root + "/gradebook.db", root + "/.git", root + "/tests", {str(secret_file)!r}, {str(tmp_path)!r},
    "/etc/passwd", "/home", "/var"]}}
import genlab, importlib.util
out["quiz_bank"] = importlib.util.find_spec("genlab.quiz_bank") is not None
out["genlab_files"] = sorted(os.listdir(os.path.dirname(genlab.__file__)))
""")
    assert out["root_listing"] == sorted([".venv", "genlab"]), out["root_listing"]
    assert not any(out["exists"].values()), out["exists"]
    assert not out["quiz_bank"] and "quiz_bank" not in out["genlab_files"]


def test_the_graded_reference_does_not_exist_in_the_view():
    import genlab.losses.gan as gan

    body = inspect.getsource(gan.d_loss_minimax).splitlines()[-1].strip()
    out = _probe(f"""
import genlab.losses.gan as gan, inspect, marshal, glob
out["source"] = inspect.getsource(gan.d_loss_minimax)
path = gan.__file__
texts = []
for alias in [path, "/proc/self/root" + path, "/" + path, "/proc/self/cwd/../.." + path]:
    texts.append(open(alias).read())
fd = os.open(os.path.dirname(path), os.O_RDONLY)
texts.append(os.read(os.open("gan.py", os.O_RDONLY, dir_fd=fd), 1 << 20).decode())
for pyc in glob.glob(os.path.dirname(path) + "/__pycache__/gan*.pyc"):
    texts.append(repr(marshal.loads(open(pyc, "rb").read()[16:]).co_consts))
out["texts"] = texts
try:
    gan.d_loss_minimax(None, None)
except AssertionError as exc:
    out["raised"] = str(exc)
""")
    assert body not in out["source"] and "implement the idea yourself" in out["source"]
    assert out["texts"] and not any(body in text for text in out["texts"])
    assert "implement the idea yourself" in out["raised"]


def test_no_network_no_other_processes_no_privileges():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    try:
        out = _probe(f"""
import socket
s = socket.socket()
s.settimeout(2)
out["connect"] = s.connect_ex(("127.0.0.1", {port}))
out["interfaces"] = [name for _, name in socket.if_nameindex()]
out["pids"] = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
out["uid"] = os.getuid()
out["cap_eff"] = [l.split()[1] for l in open("/proc/self/status") if l.startswith("CapEff")][0]
try:
    os.kill({os.getpid()}, 0)
    out["kill_grader"] = "delivered"
except OSError as exc:
    out["kill_grader"] = type(exc).__name__
""")
    finally:
        server.close()
    assert out["connect"] != 0, "reached the grader's machine over the network"
    assert out["interfaces"] == ["lo"]
    assert max(out["pids"]) < 10, out["pids"]  # its own PID namespace: bwrap's init and itself
    assert out["uid"] == 65534 and int(out["cap_eff"], 16) == 0
    assert out["kill_grader"] != "delivered"


def test_writes_stay_in_a_private_tmp(tmp_path):
    marker = f"genlab-probe-{uuid.uuid4().hex}"
    code = f"""
import genlab
out["writable"] = {{}}
for folder in [os.path.dirname(genlab.__file__), sys.prefix, os.path.dirname(os.__file__), "/", "/usr/lib"]:
    try:
        open(os.path.join(folder, {marker!r}), "w").write("x")
        out["writable"][folder] = True
    except OSError:
        out["writable"][folder] = False
out["saw_marker"] = os.path.exists("/tmp/{marker}")
open("/tmp/{marker}", "w").write("x")
"""
    first, second = _probe(code), _probe(code)
    assert not any(first["writable"].values()), first["writable"]
    assert not first["saw_marker"] and not second["saw_marker"], "one sandbox saw another's /tmp"
    assert not (tmp_path.parent / marker).exists() and not os.path.exists(f"/tmp/{marker}")


def test_the_grader_environment_and_class_secret_stay_outside(monkeypatch):
    monkeypatch.setenv("GENLAB_CLASS_SECRET", "s3cret-of-the-class")
    out = _probe("out['env'] = dict(os.environ)")
    assert "GENLAB_CLASS_SECRET" not in out["env"]
    assert not any("s3cret" in v for v in out["env"].values())


def test_the_child_writes_no_bytecode_into_the_package():
    from genlab.grading.build import cleanroom_tree

    package, _ = cleanroom_tree("01_gan_losses")
    before = sorted(p.relative_to(package) for p in package.rglob("*"))
    _probe("import genlab.losses.gan, genlab.grading.child")
    assert sorted(p.relative_to(package) for p in package.rglob("*")) == before


# ------------------------------------------------------------------ whole clean rooms

UNHOOK = '''
import gc, sys
for _obj in gc.get_objects():
    if type(_obj).__name__ == "Hooks" and hasattr(_obj, "locked"):
        _obj.locked = False
'''


def _job(cells, exercises=()):
    from genlab.grading.spec import DEFAULT_SETUP

    return {"chapter": "00_welcome", "setup": DEFAULT_SETUP, "forbid": [], "read_policy": {},
            "cells": cells, "exercises": list(exercises), "cases": [[] for _ in exercises],
            "variables": [], "group_tests": []}


def _host_processes_with(marker: str) -> list[int]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if marker.encode() in open(f"/proc/{pid}/cmdline", "rb").read():
                found.append(int(pid))
        except OSError:
            pass
    return found


def test_a_slow_drip_of_messages_does_not_extend_the_deadline_and_nothing_survives():
    marker = f"genlab-escapee-{uuid.uuid4().hex}"
    cell = UNHOOK + f'''
import json, os, time
if os.fork() == 0:  # an escapee: a process of its own, as long-lived as it can be
    os.setsid()
    os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(600)", {marker!r}])
fd = int(sys.argv[1])
for _ in range(100):  # a valid message every 0.5 s, for 50 s
    os.write(fd, (json.dumps({{"ev": "cell", "id": "c1"}}) + "\\n").encode())
    time.sleep(0.5)
'''
    start = time.monotonic()
    outcome = sandbox.run_job(_job([["c1", cell]]), deadline=time.monotonic() + 12)
    took = time.monotonic() - start
    assert outcome.ended == "timeout" and took < 25, (outcome.ended, took, outcome.detail)
    time.sleep(0.5)
    assert _host_processes_with(marker) == [], "a process outlived its sandbox"


def test_malformed_messages_end_only_that_run():
    deep = UNHOOK + "import os\nos.write(int(sys.argv[1]), b'[' * 200000 + b']' * 200000 + b'\\n')\n"
    forged = UNHOOK + ('import os, json\nos.write(int(sys.argv[1]), (json.dumps({"ev": "result", '
                       '"id": "t", "outputs": [{"tensor": {"dtype": "float64", "shape": [-1, -2], '
                       '"data": [1.0, 2.0], "requires_grad": False}}], "stdout": ""}) + "\\n").encode())\n')
    for cell in (deep, forged):
        outcome = sandbox.run_job(_job([["c1", cell]]))
        assert outcome.ended == "died" and "malformed" in outcome.detail, outcome.detail
