"""Jupyter server settings for the real-browser tests: Galata's test configuration.

Galata's ``configure_jupyter_server`` turns authentication off (no token, no password, no XSRF
check), exposes the JupyterLab application to the page as ``window.jupyterapp`` and loads the
test-helper extension shipped with JupyterLab. Never use it for a server anyone else can reach.

The test passes the port and ``--ServerApp.root_dir`` (a temporary copy of ``notebooks/``) on
the command line, and points ``TMPDIR`` and ``JUPYTERLAB_GALATA_ROOT_DIR`` into that temporary
folder so nothing the server creates outlives the test.
"""

from jupyterlab.galata import configure_jupyter_server

configure_jupyter_server(c)  # noqa: F821 - ``c`` is the config object Jupyter passes in

c.ServerApp.ip = "127.0.0.1"  # noqa: F821 - localhost only, whatever the user name
c.LabApp.news_url = None  # noqa: F821 - no "receive Jupyter news?" toast over the notebook
c.LabServerApp.open_browser = False  # noqa: F821
