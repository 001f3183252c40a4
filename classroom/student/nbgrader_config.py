"""nbgrader settings for a student's server: the exchange and who the student is.

nbgrader 0.9.6 names a submission after the Unix account (``pwd.getpwuid(os.getuid())``);
only an account called ``jovyan`` (Docker images) falls back to ``$JUPYTERHUB_USER``. When
the accounts of a class share one Unix user (the demo's SimpleLocalProcessSpawner, or any
spawner that runs everyone as the same uid) every submission would carry that one name, so
the student id is taken from the hub: ``JUPYTERHUB_USER`` is set by JupyterHub for each
user's server, and ``CourseDirectory.student_id`` is what ``nbgrader submit`` and
``nbgrader fetch_feedback`` use when it is set.
"""

import os

c = get_config()  # noqa: F821 (provided by traitlets when nbgrader loads this file)
load_subconfig(os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "exchange_config.py"))  # noqa: F821

if os.environ.get("JUPYTERHUB_USER"):
    c.CourseDirectory.student_id = os.environ["JUPYTERHUB_USER"]
