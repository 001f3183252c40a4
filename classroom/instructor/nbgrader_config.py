"""nbgrader settings for the instructor's server (formgrader, release, collect, feedback).

The course itself (source and release folders, autograding, feedback preprocessors) is
configured by ``nbgrader_config.py`` at the course root, ``$GENLAB_COURSE_ROOT`` (the hub
sets it to the instructor's notebook folder). nbgrader commands run in that folder read it
anyway; the formgrader does not: it reads the config folders and the server process's
working folder, which is the instructor's home. So it is loaded here too.
"""

import os

c = get_config()  # noqa: F821 (provided by traitlets when nbgrader loads this file)
load_subconfig(os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "exchange_config.py"))  # noqa: F821
if os.environ.get("GENLAB_COURSE_ROOT"):
    load_subconfig(os.path.join(os.environ["GENLAB_COURSE_ROOT"], "nbgrader_config.py"))  # noqa: F821

# `nbgrader collect` warns when a submission is not owned by the Unix account named in it.
# In the demo every account is the same Unix user (SimpleLocalProcessSpawner), so the check
# says nothing; with real accounts (LocalProcessSpawner, systemd, Docker) it stays on.
c.CollectApp.check_owner = os.environ.get("GENLAB_CLASSROOM_SHARED_UID") != "1"
