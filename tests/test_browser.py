"""The built book in headless Chromium: every page in _toc.yml loads, shows its images and no
traceback or error cell, and is saved as a screenshot under _build/screenshots/.

Chromium is driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``), so no
Python package beyond the standard library and PyYAML is needed. Set ``VGGREPRO_CHROMIUM`` to
pick the browser binary and ``VGGREPRO_HTML`` to test another copy of the built HTML.
"""

import base64
import contextlib
import fcntl
import functools
import http.server
import json
import os
import select
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
HTML = Path(os.environ.get("VGGREPRO_HTML", ROOT / "_build" / "html")).resolve()
SCREENSHOTS = HTML.parent / "screenshots"
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--mute-audio",
    # Offline: every host name but the local server's fails to resolve, so a page that needs a
    # CDN (MathJax, fonts) shows what a reader without a network would see.
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
]
# What myst-nb renders for a failing cell (div.output.traceback, lexer ipythontb), older and
# nbsphinx spellings, and docutils/Sphinx error nodes (system messages, broken references).
ERROR_SELECTORS = [
    ".output.error",
    ".output.traceback",
    "div.cell_output .traceback",
    "div.cell_output .error",
    "[class*='highlight-ipythontb']",
    "div.output_area.stderr .traceback",
    ".system-message",
    ".problematic",
]
# A traceback, and the stray repr of a value a cell left as its last expression.
ERROR_TEXTS = ["Traceback (most recent call last)", "PosixPath(", "<Figure size"]
WIDTH, HEIGHT, MAX_HEIGHT = 1280, 900, 16000
TIMEOUT = 60.0

INSPECT_JS = """
(async () => {
  const imgs = Array.from(document.images);
  for (const img of imgs) img.loading = 'eager';
  const settled = Promise.all(imgs.map((img) => img.complete ? null : new Promise((ok) => {
    img.addEventListener('load', ok);
    img.addEventListener('error', ok);
  })));
  await Promise.race([settled, new Promise((ok) => setTimeout(ok, 20000))]);
  await document.fonts.ready;
  const nav = performance.getEntriesByType('navigation')[0];
  return {
    status: nav ? nav.responseStatus : null,
    title: document.title,
    images: imgs.map((img) => ({src: img.currentSrc || img.src, width: img.naturalWidth})),
    errors: %s.flatMap((sel) => Array.from(document.querySelectorAll(sel))).filter(
      (el, i, all) => !all.slice(0, i).some((o) => o.contains(el) || el.contains(o))).map(
      (el) => el.tagName.toLowerCase() + '.' + el.className + ': ' +
        el.innerText.trim().slice(0, 300)),
    text: document.body ? document.body.innerText : '',
  };
})()
"""


MATHS_JS = r"""
(async () => {
  const maths = Array.from(document.querySelectorAll('.math'));
  const mj = window.MathJax;
  if (maths.length && mj && mj.startup && mj.startup.promise) {
    await Promise.race([mj.startup.promise, new Promise((ok) => setTimeout(ok, 20000))]);
  }
  const prose = document.body.cloneNode(true);
  prose.querySelectorAll('pre, code, script, style, mjx-container').forEach((el) => el.remove());
  return {
    maths: maths.length,
    rendered: maths.filter((el) => el.querySelector('mjx-container')).length,
    raw: ['\\(', '\\[', '$$'].filter((tex) => prose.textContent.includes(tex)),
  };
})()
"""


# Every table of the page: each <table> sits in an element labelled tbl-... (a figure, or the
# table itself for a list-table) whose caption number reads "Table N.M" and whose caption has
# a "Download CSV" link (book/_ext/numbered_tables.py) that the server answers with 200; no
# cell reads NaN; no pandas index column (row labels are <th> cells in the body: pandas writes
# them under an empty corner cell, docutils stub columns are th.stub and allowed; a header
# row of empty cells is the row pandas adds for index names); and no table is wider than the
# text column (the content box of .bd-article, else of main), with 1 px to spare.
TABLES_JS = r"""
(async () => {
  const mj = window.MathJax;
  if (mj && mj.startup && mj.startup.promise) {
    await Promise.race([mj.startup.promise, new Promise((ok) => setTimeout(ok, 20000))]);
  }
  await document.fonts.ready;
  const article = document.querySelector('.bd-article') || document.querySelector('main') ||
    document.body;
  const text = (el) => (el ? el.textContent.replace(/\s+/g, ' ').trim() : '');
  const problems = [];
  const labelled = Array.from(article.querySelectorAll('[id^="tbl-"]'));
  for (const el of labelled) {
    const label = el.id;
    let caption = null;
    if (el.tagName === 'TABLE') caption = el.querySelector(':scope > caption');
    else if (el.tagName === 'FIGURE') caption = el.querySelector(':scope > figcaption');
    else {
      problems.push(`${label}: a <${el.tagName.toLowerCase()}>, not a table or a figure`);
      continue;
    }
    if (el.tagName !== 'TABLE' && !el.querySelector('table')) {
      problems.push(`${label}: holds no <table>`);
    }
    const number = text(caption && caption.querySelector('.caption-number'));
    if (!/^Table \d+(\.\d+)*$/.test(number)) {
      problems.push(`${label}: caption number reads ${JSON.stringify(number)}, not "Table N"`);
    }
    const links = caption ? Array.from(caption.querySelectorAll('a.download[href]')) : [];
    if (!links.length) problems.push(`${label}: no "Download CSV" link in its caption`);
    for (const link of links) {
      if (!new URL(link.href).pathname.endsWith('.csv')) {
        problems.push(`${label}: the download link ${link.href} is not a .csv file`);
      }
      let status;
      try {
        status = (await fetch(link.href, {cache: 'no-store'})).status;
      } catch (error) {
        status = String(error);
      }
      if (status !== 200) problems.push(`${label}: CSV link ${link.href} answers ${status}`);
    }
  }
  const tables = Array.from(article.querySelectorAll('table'));
  tables.forEach((table, i) => {
    const holder = table.closest('[id^="tbl-"]');
    const name = holder ? holder.id : `table ${i + 1} of the page`;
    if (!holder) problems.push(`${name}: not in an element labelled tbl-... (no number, no CSV)`);
    const nan = Array.from(table.querySelectorAll('td, th')).filter(
      (cell) => ['NaN', 'nan'].includes(text(cell)));
    if (nan.length) problems.push(`${name}: ${nan.length} cell(s) read NaN`);
    const rowLabels = Array.from(table.querySelectorAll('tbody tr')).filter((tr) =>
      tr.cells.length && tr.cells[0].tagName === 'TH' && !tr.cells[0].classList.contains('stub'));
    if (rowLabels.length) {
      problems.push(`${name}: a pandas index column (row labels in <th>: ` +
        `${rowLabels.slice(0, 3).map((tr) => JSON.stringify(text(tr.cells[0]))).join(', ')})`);
    }
    const emptyHead = Array.from(table.querySelectorAll('thead tr')).filter((tr) =>
      tr.cells.length && Array.from(tr.cells).every((cell) => !text(cell)));
    if (emptyHead.length) problems.push(`${name}: a header row with only empty cells`);
    const column = table.closest('.bd-article') || table.closest('main') || document.body;
    const style = getComputedStyle(column);
    const room = column.clientWidth - parseFloat(style.paddingLeft) -
      parseFloat(style.paddingRight);
    // scrollWidth too: a table that scrolls inside a narrower box still makes readers scroll
    const width = Math.max(table.getBoundingClientRect().width, table.scrollWidth);
    if (width > room + 1) {
      problems.push(
        `${name}: ${Math.round(width)} px wide, the text column ${Math.round(room)} px`);
    }
  });
  return {tables: tables.length, labelled: labelled.length, problems: problems};
})()
"""


def toc_pages(toc_file: Path = ROOT / "_toc.yml") -> list[str]:
    """Every page of the table of contents (root first), as paths without extension."""
    toc = yaml.safe_load(toc_file.read_text())
    pages = [toc["root"]]

    def walk(entries: list[dict[str, Any]]) -> None:
        for entry in entries:
            if "file" in entry:
                pages.append(entry["file"])
            for key in ("parts", "chapters", "sections"):
                walk(entry.get(key, []))

    walk([{key: toc[key]} for key in ("parts", "chapters", "sections") if key in toc])
    return [
        str(Path(p).with_suffix("")) if Path(p).suffix in {".md", ".ipynb"} else p for p in pages
    ]


PAGES = toc_pages()


def find_chromium() -> str | None:
    """The browser binary: $VGGREPRO_CHROMIUM, else the first Chromium-like one on PATH."""
    if explicit := os.environ.get("VGGREPRO_CHROMIUM"):
        if not os.access(explicit, os.X_OK):
            pytest.fail(f"VGGREPRO_CHROMIUM={explicit} is not an executable file")
        return explicit
    return next((found for name in BROWSERS if (found := shutil.which(name))), None)


class Chromium:
    """Headless Chromium speaking the DevTools protocol over fds 3 (in) and 4 (out)."""

    def __init__(self, binary: str, profile: Path) -> None:
        cmd_r, self._out = os.pipe()
        self._in, res_w = os.pipe()
        # The child's ends go to fds >= 10, then a tiny Python trampoline puts them on 3 and 4.
        child_r, child_w = (fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (cmd_r, res_w))
        os.close(cmd_r)
        os.close(res_w)
        args = [binary, *FLAGS, f"--user-data-dir={profile}", "--remote-debugging-pipe"]
        trampoline = (
            "import os, sys; "
            f"os.dup2({child_r}, 3); os.dup2({child_w}, 4); "
            f"os.close({child_r}); os.close({child_w}); "
            "os.execv(sys.argv[1], sys.argv[1:])"
        )
        self.log = profile.parent / "chromium.log"
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", trampoline, *args, "about:blank"],
                pass_fds=(child_r, child_w),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        os.close(child_r)
        os.close(child_w)
        self._buffer = b""
        self._next_id = 0
        self._events: list[dict[str, Any]] = []

    def _log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-2000:]

    def _read(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._in], [], [], left)[0]:
                raise TimeoutError(f"Chromium did not answer in time\n{self._log_tail()}")
            chunk = os.read(self._in, 1 << 20)
            if not chunk:
                raise RuntimeError(f"Chromium closed the DevTools pipe\n{self._log_tail()}")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        """Send one command and return its result, keeping the events that arrive meanwhile."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._out, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + TIMEOUT
        while True:
            reply = self._read(deadline)
            if reply.get("id") != self._next_id:
                self._events.append(reply)
            elif "error" in reply:
                raise RuntimeError(f"{method} failed: {reply['error']}")
            else:
                return reply.get("result", {})

    def wait_for(self, method: str, session: str) -> dict:
        """Wait for an event of this session (one that came earlier counts)."""
        deadline = time.monotonic() + TIMEOUT
        while True:
            for event in self._events:
                if event.get("method") == method and event.get("sessionId") == session:
                    self._events.remove(event)
                    return event.get("params", {})
            self._events.append(self._read(deadline))

    def evaluate(self, expression: str, session: str) -> Any:
        """The value of a JavaScript expression in the page, awaiting a promise."""
        result = self.send(
            "Runtime.evaluate",
            {"expression": expression, "awaitPromise": True, "returnByValue": True},
            session,
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"script failed in the page: {result['exceptionDetails']}")
        return result["result"].get("value")

    def open(self, url: str) -> tuple[str, str]:
        """A new tab showing url, loaded; returns its target and session ids."""
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})
        session_id: str = session["sessionId"]
        self.send("Page.enable", session=session_id)
        metrics = {"width": WIDTH, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": False}
        self.send("Emulation.setDeviceMetricsOverride", metrics, session_id)
        navigation = self.send("Page.navigate", {"url": url}, session_id)
        if navigation.get("errorText"):
            raise AssertionError(f"{url} did not load: {navigation['errorText']}")
        self.wait_for("Page.loadEventFired", session_id)
        return target, session_id

    def screenshot(self, session: str, path: Path) -> None:
        """Save the whole page (up to MAX_HEIGHT pixels tall) as a PNG."""
        size = self.send("Page.getLayoutMetrics", session=session)["cssContentSize"]
        height = max(HEIGHT, min(int(size["height"]), MAX_HEIGHT))
        metrics = {"width": WIDTH, "height": height, "deviceScaleFactor": 1, "mobile": False}
        self.send("Emulation.setDeviceMetricsOverride", metrics, session)
        self.evaluate(
            "new Promise((ok) => requestAnimationFrame(() => setTimeout(ok, 100)))", session
        )
        data = self.send("Page.captureScreenshot", {"format": "png"}, session)["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        """Ask the browser to quit; kill it if it does not."""
        with contextlib.suppress(RuntimeError, TimeoutError, OSError):
            self.send("Browser.close")
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._in)
        os.close(self._out)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="session")
def book() -> Path:
    """The built HTML book; fails (not skips) when it has not been built."""
    missing = [page for page in PAGES if not (HTML / f"{page}.html").is_file()]
    if missing:
        pytest.fail(
            f"The book is not built: no {', '.join(p + '.html' for p in missing)} under {HTML}. "
            "Build it first: `make book` (or `.venv/bin/jupyter-book build . --builder html`).",
            pytrace=False,
        )
    return HTML


@pytest.fixture(scope="session")
def site(book: Path) -> Iterator[str]:
    """The book served over HTTP on 127.0.0.1, on a free port."""
    handler = functools.partial(_QuietHandler, directory=str(book))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture(scope="session")
def browser(site: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chromium]:
    """One headless Chromium with a fresh profile; skips when none is installed."""
    binary = find_chromium()
    if binary is None:
        pytest.skip(
            "no Chromium found: install it (`apt-get install chromium`; `make test` does this "
            "when run as root) or set VGGREPRO_CHROMIUM to a Chromium or Chrome binary"
        )
    profile = tmp_path_factory.mktemp("chromium") / "profile"
    chromium = Chromium(binary, profile)
    chromium.send("Browser.getVersion")
    yield chromium
    chromium.close()


@pytest.mark.parametrize("page", PAGES, ids=[Path(p).name for p in PAGES])
def test_page_renders(page: str, site: str, browser: Chromium) -> None:
    """The page loads over HTTP, every image decodes, no traceback or error cell shows."""
    url = site + page + ".html"
    target, session = browser.open(url)
    try:
        found = browser.evaluate(INSPECT_JS % json.dumps(ERROR_SELECTORS), session)
        browser.screenshot(session, SCREENSHOTS / f"{Path(page).name}.png")
    finally:
        browser.send("Target.closeTarget", {"targetId": target})
    problems = []
    if found["status"] != 200:
        problems.append(f"HTTP status {found['status']}")
    problems += [
        f"image did not load: {img['src']}" for img in found["images"] if img["width"] <= 0
    ]
    problems += [f"error output: {error}" for error in found["errors"]]
    problems += [f"page text shows {text!r}" for text in ERROR_TEXTS if text in found["text"]]
    if problems:
        pytest.fail(f"{url} ({found['title']}):\n" + "\n".join(problems), pytrace=False)


def evaluate_page(browser: Chromium, url: str, script: str) -> dict[str, Any]:
    """Open ``url`` in a new tab, run ``script`` there, close the tab; the script's value."""
    target, session = browser.open(url)
    try:
        return browser.evaluate(script, session)
    finally:
        browser.send("Target.closeTarget", {"targetId": target})


@pytest.mark.parametrize("page", PAGES, ids=[Path(p).name for p in PAGES])
def test_maths_render_offline(page: str, site: str, browser: Chromium) -> None:
    """Every formula is typeset by MathJax served from the book itself: no raw TeX shows."""
    found = evaluate_page(browser, site + page + ".html", MATHS_JS)
    assert found["rendered"] == found["maths"], f"{found['maths'] - found['rendered']} formulas raw"
    assert not found["raw"], f"raw TeX delimiters in the text: {found['raw']}"


@pytest.mark.parametrize("page", PAGES, ids=[Path(p).name for p in PAGES])
def test_tables_are_tables(page: str, site: str, browser: Chromium) -> None:
    """Every table reads "Table N.M", links a CSV that downloads, shows no NaN and no pandas
    index column, and fits the text column in the 1280-px window."""
    url = site + page + ".html"
    found = evaluate_page(browser, url, TABLES_JS)
    if found["problems"]:
        pytest.fail(
            f"{url}: {len(found['problems'])} problem(s) in {found['tables']} table(s):\n"
            + "\n".join(found["problems"]),
            pytrace=False,
        )


CODE_JS = r"""
(() => {
  const cells = Array.from(document.querySelectorAll('div.cell'));
  const shown = (el) => el !== null && el.offsetParent !== null && el.innerText.trim() !== '';
  return {
    cells: cells.length,
    shown: cells.filter((c) => shown(c.querySelector('div.cell_input'))).length,
    folded: cells.filter((c) => c.querySelector('details.hide') !== null).length,
  };
})()
"""
CHAPTERS = [p for p in PAGES if Path(p).name != "intro"]


@pytest.mark.parametrize("page", CHAPTERS, ids=[Path(p).name for p in CHAPTERS])
def test_a_chapter_shows_the_code_that_answers_it(page: str, site: str, browser: Chromium) -> None:
    """At least one code cell per chapter is on the page as it loads, not folded away."""
    found = evaluate_page(browser, site + page + ".html", CODE_JS)
    assert found["shown"] >= 1, f"no visible code cell among {found['cells']} ({found})"


def test_building_the_book_changed_no_file_in_the_checkout() -> None:
    """What readers cite stays put: the build rewrote no tracked file and added no untracked
    one (``make test`` records ``git status`` just before it builds the book)."""
    before = HTML.parent / "git-status-before"
    if not before.exists() or not (ROOT / ".git").exists():
        pytest.skip("run through `make test` in a git checkout: it records git status first")
    now = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    changed = sorted(set(now.splitlines()) - set(before.read_text().splitlines()))
    assert not changed, "the book build changed the checkout:\n" + "\n".join(changed)
