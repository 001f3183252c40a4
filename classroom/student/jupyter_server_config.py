"""Jupyter Server settings for a student's server: no grading tools, only the Assignment List.

nbgrader's table: students get Assignment List (fetch, submit, feedback) and Validate;
Formgrader, Create Assignment and Course List are for instructors.
"""

c = get_config()  # noqa: F821 (provided by traitlets when Jupyter loads this file)

c.ServerApp.jpserver_extensions = {
    "nbgrader.server_extensions.formgrader": False,
    "nbgrader.server_extensions.course_list": False,
}
