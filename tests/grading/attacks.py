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
