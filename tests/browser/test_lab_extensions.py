"""A fresh JupyterLab from the project's environment shows widgets and nbgrader.

A learner who opens the course must see rendered widgets (not ``VBox(children=...)``), and an
instructor the nbgrader menu and its "Create Assignment" panel.
"""

from __future__ import annotations

import re
import subprocess

import labdriver
import pytest

# One JupyterLab for the session: with ``-n N --dist loadgroup`` all run on one xdist worker.
pytestmark = [pytest.mark.browser, pytest.mark.timeout(180), pytest.mark.xdist_group("browser")]


def test_labextension_list_shows_widgets_and_nbgrader_enabled(lab_server):
    listing = subprocess.run(labdriver.jupyter_command("labextension", "list"),
                             env=lab_server.env(), capture_output=True, text=True, timeout=120)
    text = re.sub(r"\x1b\[[0-9;]*m", "", listing.stdout + listing.stderr)  # drop colours
    assert listing.returncode == 0, text
    for extension in (labdriver.WIDGETS_LABEXTENSION, labdriver.NBGRADER_LABEXTENSION):
        line = next((ln for ln in text.splitlines() if extension + " " in ln), None)
        assert line is not None, f"{extension} is not installed:\n{text}"
        assert "enabled" in line and "OK" in line, line


def test_fresh_lab_page_activates_widget_manager_and_nbgrader(page, lab_server):
    page.goto(lab_server.url("lab/workspaces/fresh") + "&reset")
    page.wait_for_selector(".lm-MenuBar-itemLabel", timeout=90_000)
    page.wait_for_function("() => window.jupyterapp && window.jupyterapp.started !== undefined")
    page.evaluate("() => window.jupyterapp.started")
    plugins = page.evaluate("""() => window.jupyterapp.listPlugins()
        .filter(p => p.startsWith('@jupyter-widgets/') || p.startsWith('@jupyter/nbgrader'))
        .map(p => [p, window.jupyterapp.isPluginActivated(p)])""")
    activated = {name for name, active in plugins if active}
    assert "@jupyter-widgets/jupyterlab-manager:plugin" in activated, plugins
    assert "@jupyter/nbgrader:create-assignment" in activated, plugins

    menus = page.locator(".lm-MenuBar-itemLabel").all_inner_texts()
    assert "Nbgrader" in menus, menus
    page.get_by_text("Nbgrader", exact=True).click()
    entries = page.locator(".lm-Menu-itemLabel").all_inner_texts()
    assert any("Formgrader" in entry for entry in entries), entries
    page.keyboard.press("Escape")
    # The instructor's side panel, as a tab in the right sidebar.
    assert page.locator(".lm-TabBar-tab", has_text="Create Assignment").count() == 1
