"""nbgrader exchange settings shared by the instructor's and the students' servers.

Loaded by ``instructor/nbgrader_config.py`` and ``student/nbgrader_config.py`` (the hub puts
one of those folders on ``JUPYTER_CONFIG_PATH``, see ``jupyterhub_config.py``).

The exchange is one folder that every account of the class can reach: the instructor's
``nbgrader release_assignment`` writes ``<root>/genlab/outbound/``, a student's
``nbgrader submit`` writes ``<root>/genlab/inbound/``, feedback goes through
``<root>/genlab/feedback/``. nbgrader creates the course folders with the modes it needs;
the root itself must exist and be world-writable with the sticky bit (``chmod 1777``), like
``/tmp``.
"""

import os

c = get_config()  # noqa: F821 (provided by traitlets when nbgrader loads this file)

# The course id must match nbgrader_config.py at the course root.
c.CourseDirectory.course_id = "genlab"
c.Exchange.root = os.environ.get("GENLAB_EXCHANGE_ROOT", "/srv/nbgrader/exchange")
# Students fetch into <home>/genlab/<chapter>/, so a student in several courses on the same
# hub never mixes them up (and the Assignment List shows one list per course).
c.Exchange.path_includes_course = True
