"""The console in a real browser (Chromium, Playwright) against the local stack, end to end: a
job started from the form fills its task grid live and its bar reaches 100%; the time from each
task's end (its EndedAt) to its appearance in the page is measured; findings are filtered and
exported; a cancelled job is retried; hostile names from member accounts show as text.

The tests share the module's stack and run in order (the inventory feeds the scan, the scan the
findings). Screenshots of every page: see conftest.
"""

from __future__ import annotations

import csv
import json
import re
import statistics
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from qrie.domain import JobStatus, TaskStatus, parse_timestamp
from qrie.store.table import Store
from qrie_local.members import member_session
from qrie_local.seed import SeedReport
from qrie_local.stack import LocalStack
from tests.browser.conftest import Console

HOSTILE = "<script>alert(1)</script>[red]"
JOB_SECONDS = 150_000  # ms: the longest a job of this module may take on a loaded machine
JOB_URL = re.compile(r".*/jobs/(?P<id>[a-z]+-[a-z0-9*]+-\d{8}T\d{6}Z-[0-9a-f]{6})$")

# Records, in the page, when each task cell first shows a final status (Date.now(), ms).
WATCH_CELLS = """() => {
  window.qrieSeen = {};
  const grid = document.querySelector('[data-grid]');
  new MutationObserver((changes) => {
    const now = Date.now();
    for (const change of changes) {
      const cell = change.target;
      const status = cell.getAttribute('data-status');
      const final = status === 'SUCCEEDED' || status === 'FAILED';
      if (final && !(cell.dataset.task in window.qrieSeen)) {
        window.qrieSeen[cell.dataset.task] = now;
      }
    }
  }).observe(grid, {subtree: true, attributes: true, attributeFilter: ['data-status']});
  return grid.querySelectorAll('td[data-status="PENDING"]').length;
}"""


@pytest.fixture(scope="module")
def hostile_user(local_stack: LocalStack, seeded: SeedReport) -> str:
    """An IAM user named like markup, with console access and no MFA, in a reachable account
    (the scan opens a finding on it). Returns the account."""
    account = seeded.assumable[0]
    with local_stack.apply_env():
        iam = member_session(account).client("iam")
        iam.create_user(UserName=HOSTILE)
        iam.create_login_profile(UserName=HOSTILE, Password="Not-a-real-password-1!")
    return account


def job_id_of(page: Page) -> str:
    match = JOB_URL.match(page.url)
    assert match, page.url
    return match.group("id")


def wait_until_done(page: Page) -> None:
    expect(page.locator(".job-head .pct")).to_have_text("100%", timeout=JOB_SECONDS)
    expect(page.locator(".job-head")).not_to_have_attribute(
        "data-status", "IN_PROGRESS", timeout=10_000
    )


def shoot(page: Page, shots: Path, name: str) -> None:
    page.screenshot(path=str(shots / f"{name}.png"), full_page=True)


def test_a_job_started_from_the_form_fills_its_grid_live(
    page: Page,
    console: Console,
    store: Store,
    seeded: SeedReport,
    hostile_user: str,
    shots: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN the jobs page WHEN an inventory of every service is started from its form
    page.goto(console.base + "/jobs")
    page.select_option("#start-inventory select[name=service]", "all")
    page.click("#start-inventory button[type=submit]")
    page.wait_for_url(JOB_URL)
    job_id = job_id_of(page)
    pending_at_load = page.evaluate(WATCH_CELLS)  # watched from now on

    # THEN the bar reaches 100% and every cell of the grid shows its task's final status
    wait_until_done(page)
    job = store.get_job(job_id)
    assert job is not None
    assert job.status is JobStatus.COMPLETED_WITH_ERRORS
    cells = page.locator("td[data-task]")
    assert cells.count() == job.total == len(seeded.accounts) * 3
    assert page.locator('td[data-status="PENDING"]').count() == 0
    assert page.locator('td[data-status="FAILED"]').count() == job.failed == 3
    expect(page.locator("[data-field=status]").first).to_have_text(job.status.value)
    failures = page.locator("[data-failures] tr")
    expect(failures).to_have_count(3)
    expect(failures.first).to_contain_text(seeded.unassumable[0])
    expect(page.locator("#retry-job")).to_be_visible()
    # AND each task's end reached the page: the time from its EndedAt to the cell's change
    seen: dict[str, int] = page.evaluate("window.qrieSeen || {}")
    latencies = []
    for task in store.iter_tasks(job_id):
        key = f"{task.account_id}/{task.kind.value}/{task.service}"
        assert task.status is not TaskStatus.PENDING
        if key in seen and task.ended_at:
            ended_ms = parse_timestamp(task.ended_at).timestamp() * 1000
            latencies.append(seen[key] - ended_ms)
    assert len(latencies) == pending_at_load > 0, (pending_at_load, seen)
    assert all(lat > -50 for lat in latencies), latencies  # same clock: never before the end
    figures = {
        "mechanism": "short polling, 1 s interval",
        "tasks_measured": len(latencies),
        "median_ms": round(statistics.median(latencies)),
        "p95_ms": round(sorted(latencies)[int(0.95 * (len(latencies) - 1))]),
        "max_ms": round(max(latencies)),
        "min_ms": round(min(latencies)),
    }
    (shots / "live-latency.json").write_text(json.dumps(figures, indent=2) + "\n")
    with capsys.disabled():
        print(f"\nconsole live latency (task EndedAt -> cell in the page): {figures}")

    # "failed only" keeps the unreachable account's row alone
    page.click("#failed-only")
    expect(page.locator("tr[data-account]")).to_have_count(1)
    expect(page.locator("tr[data-account]")).to_have_attribute(
        "data-account", seeded.unassumable[0]
    )

    page.goto(console.base + f"/jobs/{job_id}")
    shoot(page, shots, "job")


def test_findings_filter_sort_and_export(
    page: Page, console: Console, store: Store, shots: Path
) -> None:
    # GIVEN a scan of every policy, started from the form and finished
    page.goto(console.base + "/jobs")
    page.click("#start-scan button[type=submit]")
    page.wait_for_url(JOB_URL)
    wait_until_done(page)

    # WHEN the findings are filtered to high severity
    page.goto(console.base + "/findings")
    page.select_option("select[name=severity]", "high")
    page.click("#findings-filter button[type=submit]")
    page.wait_for_url(re.compile(r".*severity=high.*"))

    # THEN every row is high, and the count shown is the rows' count
    rows = page.locator("tr[data-finding]")
    assert rows.count() > 0
    for severity in rows.locator("td:first-child").all_inner_texts():
        assert severity.strip() == "high"
    summary = page.locator("[data-findings-summary]").inner_text()
    total = int(re.search(r"of ([\d,]+)", summary).group(1).replace(",", ""))
    assert total == rows.count()
    shoot(page, shots, "findings")

    # WHEN the filter is exported as CSV, JSON and OCSF
    exported: dict[str, Any] = {}
    for fmt in ("csv", "json", "ocsf"):
        with page.expect_download() as download:
            page.click(f'a[data-export="{fmt}"]')
        exported[fmt] = Path(download.value.path()).read_text(encoding="utf-8")
    # THEN each holds exactly the filtered findings
    table = list(csv.DictReader(exported["csv"].splitlines()))
    assert len(table) == total
    assert {r["severity"] for r in table} == {"high"}
    arns = {r["resource_arn"] for r in table}
    assert {f["resource_arn"] for f in json.loads(exported["json"])} == arns
    ocsf = json.loads(exported["ocsf"])
    assert {e["resource"]["uid"] for e in ocsf} == arns
    assert {e["severity"] for e in ocsf} == {"High"}

    # WHEN sorted by account, descending THEN the accounts come in that order
    page.select_option("select[name=sort]", "account")
    page.select_option("select[name=order]", "desc")
    page.click("#findings-filter button[type=submit]")
    page.wait_for_url(re.compile(r".*sort=account.*"))
    accounts = [
        text.split("\n")[0]
        for text in page.locator("tr[data-finding] td:nth-child(3)").all_inner_texts()
    ]
    assert accounts == sorted(accounts, reverse=True)


def test_hostile_names_are_shown_as_text(
    page: Page, console: Console, hostile_user: str, dialogs: list[str], shots: Path
) -> None:
    # GIVEN the scan found the user named like markup WHEN its findings are listed
    page.goto(console.base + f"/findings?account={hostile_user}&policy=iam.user_console_mfa")
    arn_text = f"arn:aws:iam::{hostile_user}:user/{HOSTILE}"
    # THEN the name is text on the page, in the listing and on the finding's page
    expect(page.get_by_text(arn_text, exact=True)).to_be_visible()
    page.get_by_text(arn_text, exact=True).click()
    page.wait_for_url(re.compile(r".*/finding\?.*"))
    expect(page.locator("dd.arn")).to_have_text(arn_text)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;[red]" in page.locator("dd.arn").inner_html()
    # and no script ran: only the console's own script is in the page, no dialog opened
    assert page.evaluate("document.scripts.length") == 1
    assert page.evaluate("document.scripts[0].getAttribute('src')") == "/static/console.js"
    assert dialogs == []
    shoot(page, shots, "finding")


def test_cancel_a_running_job_then_retry_it(page: Page, console: Console, store: Store) -> None:
    # GIVEN an inventory started from the form
    page.goto(console.base + "/jobs")
    page.click("#start-inventory button[type=submit]")
    page.wait_for_url(JOB_URL)
    cancelled_id = job_id_of(page)
    # WHEN it is cancelled while it runs (the confirmation accepted)
    page.click("#cancel-job")
    page.wait_for_load_state()
    # THEN it is CANCELLED, its pending tasks failed as cancelled, and it can be retried
    expect(page.locator(".job-head [data-field=status]")).to_have_text("CANCELLED")
    cancelled = store.get_job(cancelled_id)
    assert cancelled is not None
    assert cancelled.status is JobStatus.CANCELLED
    reasons = {t.reason for t in store.iter_tasks(cancelled_id) if t.status is TaskStatus.FAILED}
    assert "cancelled" in reasons
    # WHEN its failed tasks are retried
    page.click("#retry-job")
    page.wait_for_url(JOB_URL)
    retry_id = job_id_of(page)
    assert retry_id != cancelled_id
    expect(page.locator(".job-head")).to_contain_text(f"retry of {cancelled_id}")
    # THEN the new job runs exactly the failed tasks, to the end
    wait_until_done(page)
    retry = store.get_job(retry_id)
    assert retry is not None
    assert retry.retry_of == cancelled_id
    assert retry.total == cancelled.failed
    assert retry.remaining == 0


def test_accounts_show_what_their_inventory_holds(
    page: Page, console: Console, store: Store, seeded: SeedReport
) -> None:
    page.goto(console.base + "/accounts")
    for account in seeded.assumable:
        row = page.locator(f'tr[data-account="{account}"]')
        counts = [int(t) for t in row.locator("td.num").all_inner_texts()[:3]]
        assert counts == [store.count_resources(account, s) for s in ("s3", "ec2", "iam")]
        assert counts[0] == seeded.resources[account]["s3"]
        expect(row.locator("td").nth(8)).to_contain_text("succeeded")
    unreachable = page.locator(f'tr[data-account="{seeded.unassumable[0]}"]')
    expect(unreachable.locator("td").nth(8)).to_contain_text("AccessDenied")


def test_accounts_synced_from_organizations_show_their_names_as_text(
    page: Page, console: Console, local_stack: LocalStack, dialogs: list[str], shots: Path
) -> None:
    # GIVEN an organization whose member account is named like markup
    with local_stack.apply_env():
        import boto3

        org = boto3.client("organizations", region_name=local_stack.region)
        org.create_organization(FeatureSet="ALL")
        org.create_account(AccountName=HOSTILE, Email="hostile@example.com")
    # WHEN the accounts are synced from the console
    page.goto(console.base + "/accounts")
    page.click('#sync-form button[value="0"]')
    # THEN the report says so and the name is a table cell's text
    expect(page.locator("[data-sync-report]")).to_contain_text("Synced 2 accounts")
    cell = page.locator("td.name", has_text=HOSTILE)
    expect(cell).to_have_count(1)
    assert cell.inner_html() == "&lt;script&gt;alert(1)&lt;/script&gt;[red]"
    assert dialogs == []
    shoot(page, shots, "accounts")


def test_every_page_renders(page: Page, console: Console, browser: Browser, shots: Path) -> None:
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    for name, path, heading in (
        ("overview", "/", "Overview"),
        ("jobs", "/jobs", "Jobs"),
        ("policies", "/policies", "Policies"),
    ):
        page.goto(console.base + path)
        expect(page.locator("h1")).to_contain_text(heading)
        page.wait_for_timeout(300)
        shoot(page, shots, name)
    # the CSP blocked nothing the console needs, and no script failed
    assert problems == []
    # a browser without the link gets the page that says how to open the console
    stranger = browser.new_context(viewport={"width": 1000, "height": 500})
    try:
        other = stranger.new_page()
        response = other.goto(console.base + "/")
        assert response is not None
        assert response.status == 401
        expect(other.locator("h1")).to_have_text("Open the console with its access link")
        shoot(other, shots, "access-refused")
    finally:
        stranger.close()
