"""JupyterHub for a genlab class: instructors, students, the nbgrader exchange, the formgrader.

Run it with ``jupyterhub -f classroom/jupyterhub_config.py`` (``make classroom`` does, for a
demo on this machine). The course settings come first; the block at the end, "Who logs in
and where servers run", is the demo's and is the part a real deployment replaces (the
README's "Running a class on JupyterHub" says with what).

Environment variables (all optional):

    GENLAB_CLASSROOM_STATE        folder for the hub's database, cookie secret, user homes
                                  and the demo exchange (default classroom/.state)
    GENLAB_CLASSROOM_PORT         port of the hub on 127.0.0.1 (default 8000)
    GENLAB_CLASSROOM_COURSE_ROOT  the instructor's course folder, where nbgrader_config.py
                                  is (default: this repository)
    GENLAB_EXCHANGE_ROOT          the nbgrader exchange (default <state>/exchange)
    GENLAB_CLASSROOM_INSTRUCTORS  comma-separated user names (default "instructor")
    GENLAB_CLASSROOM_STUDENTS     comma-separated user names (default "student1,student2")
    GENLAB_CLASSROOM_PASSWORD     the demo's shared password (default "genlab-demo")
    GENLAB_CLASSROOM_CULL_TIMEOUT seconds without activity before a server is stopped
                                  (default 3600)
    GENLAB_CLASSROOM_SUBDOMAIN_HOST  e.g. "https://hub.example.org": one subdomain per
                                  user, which makes the formgrader's iframe safe (see
                                  instructor/jupyter_server_config.py)
"""

import os
import resource
import socket
import sys

from jupyterhub.spawner import SimpleLocalProcessSpawner

c = get_config()  # noqa: F821 (provided by traitlets when JupyterHub loads this file)

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
STATE = os.path.abspath(os.environ.get("GENLAB_CLASSROOM_STATE", os.path.join(HERE, ".state")))
PORT = int(os.environ.get("GENLAB_CLASSROOM_PORT", "8000"))
COURSE_ROOT = os.path.abspath(os.environ.get("GENLAB_CLASSROOM_COURSE_ROOT", REPO))
EXCHANGE_ROOT = os.path.abspath(os.environ.get("GENLAB_EXCHANGE_ROOT", os.path.join(STATE, "exchange")))
INSTRUCTORS = [u for u in os.environ.get("GENLAB_CLASSROOM_INSTRUCTORS", "instructor").split(",") if u]
STUDENTS = [u for u in os.environ.get("GENLAB_CLASSROOM_STUDENTS", "student1,student2").split(",") if u]
CULL_TIMEOUT = int(os.environ.get("GENLAB_CLASSROOM_CULL_TIMEOUT", "3600"))



def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ---------------------------------------------------------------- the hub and its files
os.makedirs(STATE, exist_ok=True)
c.JupyterHub.bind_url = f"http://127.0.0.1:{PORT}"
# The hub's own API (for the proxy and the servers) and the proxy's API get free loopback
# ports, so a second demo hub or a test run never collides with the first.
c.JupyterHub.hub_bind_url = f"http://127.0.0.1:{_free_port()}"
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{_free_port()}"
c.JupyterHub.db_url = "sqlite:///" + os.path.join(STATE, "jupyterhub.sqlite")
c.JupyterHub.cookie_secret_file = os.path.join(STATE, "jupyterhub_cookie_secret")
c.ConfigurableHTTPProxy.pid_file = os.path.join(STATE, "jupyterhub-proxy.pid")
# configurable-http-proxy from npm, installed into classroom/node_modules by `make classroom`.
_proxy = os.path.join(HERE, "node_modules", ".bin", "configurable-http-proxy")
if os.path.exists(_proxy):
    c.ConfigurableHTTPProxy.command = [_proxy]
if os.environ.get("GENLAB_CLASSROOM_SUBDOMAIN_HOST"):
    c.JupyterHub.subdomain_host = os.environ["GENLAB_CLASSROOM_SUBDOMAIN_HOST"]

# ---------------------------------------------------------------- who is who
# Groups say who teaches; roles say what that allows. Everybody also gets JupyterHub's
# default "user" role (their own server, nothing else).
c.JupyterHub.load_groups = {
    "instructors": {"users": INSTRUCTORS},
    "students": {"users": STUDENTS},
}
c.JupyterHub.load_roles = [
    {
        # Instructors see the class list and can open, start or stop a student's server
        # (to help with a stuck kernel). Tell students: it means instructors can read
        # their files.
        "name": "instructor",
        "groups": ["instructors"],
        "scopes": [
            "list:users",
            "read:users!group=students",
            "admin:servers!group=students",
            "access:servers!group=students",
        ],
    },
    {
        "name": "idle-culler",
        "services": ["idle-culler"],
        "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
    },
]

# ---------------------------------------------------------------- idle servers are stopped
# jupyterhub-idle-culler (PyPI) runs as a hub-managed service. A stopped server keeps the
# student's files; the next login starts it again. The hub stops a service with SIGINT and
# waits 30 s before SIGTERM; the culler 2.0 ignores SIGINT, so it gets the default action.
_CULLER = ("import signal; signal.signal(signal.SIGINT, signal.SIG_DFL); "
           "import jupyterhub_idle_culler; jupyterhub_idle_culler.main()")
c.JupyterHub.services = [
    {
        "name": "idle-culler",
        "command": [
            sys.executable, "-c", _CULLER,
            f"--timeout={CULL_TIMEOUT}",
            f"--cull-every={max(10, min(300, CULL_TIMEOUT // 2))}",
        ],
    },
]

# ---------------------------------------------------------------- each user's server
c.Spawner.cmd = [sys.executable, "-m", "jupyterhub.singleuser"]
c.Spawner.default_url = "/lab"
# Per-student limits. Spawners with cgroups enforce them: SystemdSpawner (MemoryMax,
# CPUQuota), DockerSpawner, KubeSpawner. LocalProcessSpawner only exports them as MEM_LIMIT
# and CPU_LIMIT; the demo's ClassroomSpawner below adds what a plain process can do.
c.Spawner.mem_limit = "3G"  # chapters stay under 1.5 GB; fine-tuning needs the headroom
c.Spawner.cpu_limit = 1.0
c.Spawner.start_timeout = 120  # seconds; a cold start on a busy 2-core machine is slow
c.Spawner.http_timeout = 120
if os.geteuid() == 0:
    c.Spawner.args = ["--allow-root"]  # containers and CI run as root


def course_environment(spawner):
    """Give each server its role's Jupyter config and the exchange; instructors open the course.

    ``JUPYTER_CONFIG_PATH`` points at ``classroom/instructor`` or ``classroom/student``:
    nbgrader and Jupyter Server read their ``nbgrader_config.py`` and
    ``jupyter_server_config.py`` from there (students get no formgrader; the instructor's
    formgrader may be framed, see instructor/jupyter_server_config.py).
    """
    groups = {group.name for group in spawner.user.groups}
    role = "instructor" if "instructors" in groups else "student"
    env = dict(spawner.environment)
    env.update(
        JUPYTER_CONFIG_PATH=os.path.join(HERE, role),
        GENLAB_EXCHANGE_ROOT=EXCHANGE_ROOT,
        GENLAB_CLASSROOM_ROLE=role,
        # torch and numpy start one math thread per allowed core, not one per machine core.
        OMP_NUM_THREADS=str(max(1, int(spawner.cpu_limit or 1))),
    )
    if isinstance(spawner, SimpleLocalProcessSpawner):
        env["GENLAB_CLASSROOM_SHARED_UID"] = "1"  # see instructor/nbgrader_config.py
    if role == "instructor":
        env["GENLAB_COURSE_ROOT"] = COURSE_ROOT  # read by instructor/nbgrader_config.py, genlab grade
    spawner.environment = env
    if role == "instructor":
        spawner.notebook_dir = COURSE_ROOT  # formgrader and nbgrader commands run here


c.Spawner.pre_spawn_hook = course_environment

# The exchange root must exist and be writable by every account, sticky like /tmp.
os.makedirs(EXCHANGE_ROOT, exist_ok=True)
if os.stat(EXCHANGE_ROOT).st_mode & 0o7777 != 0o1777:
    try:
        os.chmod(EXCHANGE_ROOT, 0o1777)
    except PermissionError:
        print(f"warning: the exchange {EXCHANGE_ROOT} is not mode 1777 and the hub may not "
              "change it; students cannot submit until it is (chmod 1777)", file=sys.stderr)

# ---------------------------------------------------------------- who logs in and where servers run
# DEMO on loopback. For a real class replace this block: an authenticator of your choice
# (oauthenticator's GitHubOAuthenticator or GenericOAuthenticator, ltiauthenticator for an
# LMS, or the default PAMAuthenticator for Unix accounts) with the same user names in
# allowed_users and load_groups, and a spawner that runs each user as their own account
# and enforces mem_limit/cpu_limit (systemdspawner.SystemdSpawner, dockerspawner).


class ClassroomSpawner(SimpleLocalProcessSpawner):
    """Every user is this machine's one Unix user, with a home of their own (demo only).

    SimpleLocalProcessSpawner gives each user ``HOME=<state>/homes/<name>`` and runs the
    server there; nothing isolates one user from another, which is fine for a demo on one
    machine and wrong for a class. What a plain process can limit, it does: the address space
    of every process of the user (server and kernels inherit it) is capped at ``mem_limit``
    (``RLIMIT_AS``). That is a cap per process, not a total per student; the CPU limit is
    only the thread count above. Real limits need cgroups (see the spawners named above).
    """

    def make_preexec_fn(self, name):
        prepare_home = super().make_preexec_fn(name)
        limit = int(self.mem_limit or 0)

        def preexec():
            prepare_home()
            if limit:
                resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

        return preexec


c.JupyterHub.spawner_class = ClassroomSpawner
c.SimpleLocalProcessSpawner.home_dir_template = os.path.join(STATE, "homes", "{username}")
c.JupyterHub.authenticator_class = "dummy"
c.DummyAuthenticator.password = os.environ.get("GENLAB_CLASSROOM_PASSWORD", "genlab-demo")
c.Authenticator.allowed_users = set(INSTRUCTORS + STUDENTS)
