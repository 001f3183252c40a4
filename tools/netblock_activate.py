"""Import to block non-loopback network access in this process (see netblock/sitecustomize.py)."""

import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "_genlab_netblock", Path(__file__).with_name("netblock") / "sitecustomize.py"
)
_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_module)
