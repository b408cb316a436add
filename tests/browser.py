"""Headless Chromium for the viewer's browser tests: Debian's chromium driven by Playwright.

Tests that need it use the ``page`` fixture of the module that imports :func:`launch`; they skip,
with the reason, where ``playwright`` (requirements.txt) or the browser (``apt-get install
chromium``, which .ci/run does) is missing. Playwright's own browser download cannot run here.
"""
import contextlib
import os
import shutil
import tempfile

CHROMIUM = os.environ.get("SPHMASK_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")

# No network at all on these machines; without the background-networking flags Chromium keeps
# trying to reach Google's hosts. SwiftShader gives WebGL without a GPU.
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--enable-unsafe-swiftshader", "--use-angle=swiftshader"]


def missing() -> str:
    """Why browser tests cannot run here ('' when they can)."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "needs the playwright Python package (pip install -r requirements.txt)"
    if CHROMIUM is None:
        return "needs Debian's chromium (apt-get install chromium) or SPHMASK_CHROMIUM=<path to a Chromium>"
    return ""


@contextlib.contextmanager
def launch():
    """A headless Chromium with a fresh profile, closed on exit."""
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="sphmask-chromium-") as profile, sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True, args=FLAGS, accept_downloads=True,
            viewport={"width": 1100, "height": 720})
        try:
            yield context
        finally:
            context.close()


def open_viewer(context, path: str, timeout_ms: int = 60000):
    """A new page showing the viewer at ``path``, once its script reports ready (or raises its error)."""
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto("file://" + os.path.abspath(path))
    page.wait_for_function("window.sphmask !== undefined", timeout=timeout_ms)
    state = page.evaluate("({ready: window.sphmask.ready, error: window.sphmask.error || null})")
    if not state["ready"] or errors:
        raise AssertionError(f"viewer did not start: {state['error']} {errors}")
    return page
