"""Jupyter Server settings for the instructor's server, which runs the formgrader.

Formgrader in an iframe under JupyterHub >= 4.1 (nbgrader #1870, #1947)
------------------------------------------------------------------------
JupyterLab shows the formgrader in an iframe. Since JupyterHub 4.1 every single-user server
sends ``Content-Security-Policy: frame-ancestors 'none'``, so the browser refuses to draw
the frame and the formgrader tab stays blank. nbgrader 0.9.4 answered with
``frame-ancestors 'self'`` on its own pages (#1915) and 0.9.5 took that back for security
(#1947). nbgrader's documented workaround is to send ``frame-ancestors 'self'`` again from
the server that runs the formgrader, which is what this file does, and only for the
instructor's server: students' servers keep JupyterHub's ``'none'``.

What it costs: with every server on one origin (``/user/<name>/``), ``'self'`` lets a page
served by any user's server frame the instructor's server (clickjacking). Behind a real
domain, turn on per-user subdomains (``JupyterHub.subdomain_host``, see
``jupyterhub_config.py``): then ``'self'`` means the instructor's own subdomain and the
workaround is safe. Without subdomains, the alternative that needs no setting is to open
the formgrader in its own browser tab (``/user/<instructor>/formgrader``).
"""

c = get_config()  # noqa: F821 (provided by traitlets when Jupyter loads this file)

c.ServerApp.tornado_settings = {
    "headers": {"Content-Security-Policy": "frame-ancestors 'self'"},
}
