"""Browser fixtures: one local stack per module (seeded, with its runner), ``qrie console``
started on it as a user starts it (a subprocess; the test reads the printed link), and Debian's
Chromium driven by Playwright.

Playwright cannot download its own browser here: the tests launch ``/usr/bin/chromium``
(``make browser`` installs the ``chromium`` package when it is missing). Screenshots go to
``$QRIE_CONSOLE_SHOTS`` when set (``make screenshots`` sets it to ``docs/console``), else to a
temporary directory: a normal test run leaves the committed images alone.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from qrie.store.table import Store
from qrie_local.runner import Runner
from qrie_local.seed import SeedReport, seed
from qrie_local.stack import LocalStack

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOTS_ENV = "QRIE_CONSOLE_SHOTS"
CONSOLE_START_SECONDS = 30.0


@dataclass(frozen=True)
class Console:
    url: str  # the printed link, with its token
    base: str  # http://127.0.0.1:PORT
    process: subprocess.Popen[str]


@pytest.fixture(scope="module")
def seeded(local_stack: LocalStack) -> SeedReport:
    return seed(local_stack, 4, seed=11, regions=("us-east-1",), unassumable=1)


@pytest.fixture(scope="module")
def runner(local_stack: LocalStack, seeded: SeedReport) -> Iterator[Runner]:
    log = local_stack.state_dir / "runner.log"
    with Runner(local_stack, schedule_interval=2.0, max_concurrency=4, log_path=log) as running:
        yield running


@pytest.fixture(scope="module")
def store(local_stack: LocalStack) -> Iterator[Store]:
    with local_stack.apply_env():
        yield Store(local_stack.table_name)


@pytest.fixture(scope="module")
def console(local_stack: LocalStack, runner: Runner) -> Iterator[Console]:
    """``qrie console --port 0`` on the module's stack, stopped with Ctrl-C at the end."""
    env = {**os.environ, "QRIE_STATE_DIR": str(local_stack.state_dir)}
    process = subprocess.Popen(
        [sys.executable, "-m", "qrie_cli.main", "console", "--port", "0"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    deadline = time.monotonic() + CONSOLE_START_SECONDS
    printed: list[str] = []
    url = None
    while url is None and time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        printed.append(line)
        match = re.match(r"open: (http://127\.0\.0\.1:\d+)/\?token=\S+", line)
        if match:
            url = line.split("open: ", 1)[1].strip()
    if url is None:
        process.kill()
        pytest.fail("qrie console printed no link:\n" + "".join(printed))
    try:
        yield Console(url, url.split("/?", 1)[0], process)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make browser` installs Debian's chromium package")
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    try:
        yield launched
    finally:
        launched.close()


@pytest.fixture(scope="module")
def context(browser: Browser, console: Console) -> Iterator[BrowserContext]:
    """A browser that opened the printed link once (it holds the console's cookie)."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 900}, accept_downloads=True)
    page = ctx.new_page()
    page.goto(console.url)
    assert page.url == console.base + "/", page.url  # the token left the address
    page.close()
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture
def dialogs() -> list[str]:
    """The messages of the dialogs the test's page opened (each accepted)."""
    return []


@pytest.fixture
def page(context: BrowserContext, dialogs: list[str]) -> Iterator[Page]:
    opened = context.new_page()
    opened.on("dialog", lambda d: (dialogs.append(d.message), d.accept()))
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots and the measured figures go."""
    configured = os.environ.get(SHOTS_ENV)
    folder = (ROOT / configured) if configured else tmp_path_factory.mktemp("console-shots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder
