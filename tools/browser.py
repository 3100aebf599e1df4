"""Opening stage 05's HTML report in the system's Chromium, driven by Playwright (no browser download): the
browser test, the report's benchmark and its screenshot share this."""

import contextlib
import shutil

CHROMIUM_NAMES = ("chromium", "chromium-browser")  # Debian's package, and other distributions' name


def find_chromium():
    """The path of the system's Chromium, or None."""
    return next((path for path in map(shutil.which, CHROMIUM_NAMES) if path), None)


def why_no_browser():
    """Why the report cannot be opened here ("" when it can): no Chromium, or no Playwright."""
    if find_chromium() is None:
        return "no Chromium on this machine (Debian: apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright is not installed (pip install -r requirements.txt)"
    return ""


@contextlib.contextmanager
def opened_report(path, viewport=(1200, 1000)):
    """Open the report ``path`` from its file:// URL and wait until its table is drawn; yields ``(page,
    errors)``: the Playwright page and a list that collects console errors, page errors and failed requests."""
    from playwright.sync_api import sync_playwright

    errors = []
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=find_chromium(), args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
            page.on("console", lambda message: message.type == "error" and errors.append(message.text))
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.on("requestfailed", lambda request: errors.append(f"request failed: {request.url}"))
            page.goto(path.resolve().as_uri())
            page.wait_for_function("window.reportReady === true", timeout=60_000)
            yield page, errors
        finally:
            browser.close()
