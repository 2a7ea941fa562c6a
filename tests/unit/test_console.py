"""The web console (Starlette TestClient): who may use it (token, cookie, Host, CSRF), what its
responses allow in a browser (CSP, escaping), its pages over the moto stack (jobs started,
cancelled and retried through the real job handler; findings filtered, paginated and exported),
and the pages it shows when the target fails.
"""

from __future__ import annotations

import csv
import html
import io
import json
import re
import socket
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest
from starlette.testclient import TestClient

from qrie.accounts.registry import add_account
from qrie.domain import (
    Finding,
    FindingState,
    JobStatus,
    PolicyTally,
    Severity,
    Task,
    TaskKey,
    TaskKind,
    TaskStatus,
)
from qrie.policies.registry import all_policies
from qrie.store.table import Store
from qrie_cli.console import findings as pages
from qrie_cli.console.app import create_app
from qrie_cli.console.connection import Connection, explain
from qrie_cli.console.security import CONTENT_SECURITY_POLICY, Secrets, allowed_hosts
from qrie_cli.target import DeployedTarget, Target, TargetError
from tests.support import Stack, onboard
from tests.unit.cli_support import MotoTarget, drain

PORT = 8123
BASE = f"http://127.0.0.1:{PORT}"
KEYS = Secrets("unit-test-token-0123456789abcdefghij")
HOSTILE = "<script>alert(1)</script>[red]"
ONBOARDED = ("310000000001", "310000000002")
NO_ROLE = "310000000003"
T0 = "2024-05-01T12:00:00.000000Z"


def make_client(connection: Connection) -> TestClient:
    app = create_app(connection, KEYS, PORT, allowed_hosts("127.0.0.1", PORT))
    return TestClient(app, base_url=BASE, follow_redirects=False)


def login(client: TestClient) -> None:
    response = client.get(f"/?token={KEYS.token}")
    assert response.status_code == 303, response.text


@pytest.fixture
def moto_connection(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Connection:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    return Connection(lambda: MotoTarget(stack), "moto")


@pytest.fixture
def client(moto_connection: Connection) -> Iterator[TestClient]:
    with make_client(moto_connection) as c:
        login(c)
        yield c


@pytest.fixture
def store(moto_connection: Connection) -> Store:
    return moto_connection.store


def post(client: TestClient, path: str, **data: str) -> Any:
    return client.post(path, data={"csrf": KEYS.csrf, **data})


def text_of(page: str) -> str:
    """The page's visible text, tags removed and entities decoded."""
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


# ---------------------------------------------------------------------------- access
def test_without_the_token_nothing_is_shown(store: Store, moto_connection: Connection) -> None:
    # GIVEN a registered account and a console nobody has logged into
    add_account(store, ONBOARDED[0], "prod")
    with make_client(moto_connection) as anonymous:
        # WHEN a page and the JSON API are requested without the cookie
        page = anonymous.get("/accounts")
        api = anonymous.get("/api/jobs")
    # THEN both are refused and name nothing of the target
    assert page.status_code == 401
    assert "access link" in page.text
    assert ONBOARDED[0] not in page.text
    assert "moto" not in page.text
    assert api.status_code == 401
    assert api.json()["error"]["title"].startswith("Open the console")


def test_the_token_becomes_a_strict_http_only_cookie_and_leaves_the_url(
    moto_connection: Connection,
) -> None:
    with make_client(moto_connection) as browser:
        # WHEN the printed link is opened
        response = browser.get(f"/findings?state=all&token={KEYS.token}")
        # THEN a redirect drops the token from the address and sets the cookie
        assert response.status_code == 303
        assert response.headers["location"] == "/findings?state=all"
        cookie = response.headers["set-cookie"]
        assert cookie.startswith(f"qrie_console_{PORT}={KEYS.token};")
        assert "HttpOnly" in cookie
        assert "samesite=strict" in cookie.lower()
        # and the cookie alone opens the pages afterwards
        assert browser.get("/policies").status_code == 200


def test_a_wrong_token_is_refused(moto_connection: Connection) -> None:
    with make_client(moto_connection) as browser:
        response = browser.get("/?token=not-the-token")
        assert response.status_code == 401
        assert "set-cookie" not in response.headers
        assert browser.get("/").status_code == 401


def test_a_foreign_host_header_is_refused_even_with_the_cookie(client: TestClient) -> None:
    # GIVEN a logged-in browser WHEN a page names another host (DNS rebinding)
    response = client.get("/", headers={"Host": f"attacker.example:{PORT}"})
    # THEN it is refused before anything is read
    assert response.status_code == 421
    assert client.get("/", headers={"Host": f"localhost:{PORT}"}).status_code == 200


def test_allowed_hosts_follow_the_bind_address() -> None:
    assert allowed_hosts("127.0.0.1", 9) == {"127.0.0.1:9", "localhost:9", "[::1]:9"}
    assert allowed_hosts("10.0.0.5", 9) == {"10.0.0.5:9"}
    assert allowed_hosts("0.0.0.0", 9) is None  # any IP literal, never a name


def test_a_post_without_the_csrf_token_changes_nothing(client: TestClient, store: Store) -> None:
    add_account(store, ONBOARDED[0])
    # WHEN a job is requested without the form token, with a wrong one, or from another site
    missing = client.post("/jobs", data={"operation": "inventory", "accounts": "*"})
    wrong = client.post("/jobs", data={"operation": "inventory", "csrf": "x" * 64})
    foreign = client.post(
        "/jobs",
        data={"operation": "inventory", "csrf": KEYS.csrf},
        headers={"Origin": "https://attacker.example"},
    )
    # THEN each is refused and no job exists
    assert (missing.status_code, wrong.status_code, foreign.status_code) == (403, 403, 403)
    assert "form has expired" in missing.text
    assert store.list_jobs() == []


def test_an_oversized_form_is_refused(client: TestClient) -> None:
    response = post(client, "/jobs", operation="inventory", accounts="1" * 70_000)
    assert response.status_code == 413


def test_every_response_carries_the_csp_and_pages_hold_no_inline_script(
    client: TestClient, store: Store
) -> None:
    add_account(store, ONBOARDED[0])
    for path in ("/", "/jobs", "/findings", "/accounts", "/policies", "/api/jobs", "/nowhere"):
        response = client.get(path)
        assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY, path
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["x-content-type-options"] == "nosniff"
        if response.headers["content-type"].startswith("text/html"):
            body = response.text
            # every script is a file of this origin; no handler attributes, no inline style
            assert re.findall(r"<script\b[^>]*>", body) == [
                '<script src="/static/console.js" defer>'
            ], path
            assert not re.search(r"\son[a-z]+\s*=", body), path
            assert not re.search(r"\sstyle\s*=", body), path
    assert "'unsafe-inline'" not in CONTENT_SECURITY_POLICY
    assert "script-src 'self'" in CONTENT_SECURITY_POLICY


# ---------------------------------------------------------------------------- escaping
def hostile_finding(account: str, policy_id: str = "iam.user_console_mfa") -> Finding:
    return Finding(
        account,
        policy_id,
        f"arn:aws:iam::{account}:user/{HOSTILE}",
        FindingState.OPEN,
        Severity.HIGH,
        title="IAM user with console access has no MFA device",
        evidence=f"user_name={HOSTILE!r}, console_access=True, mfa_devices=0",
        resource_type="iam.user",
        service="iam",
        first_seen=T0,
        last_seen=T0,
    )


def test_member_account_text_is_rendered_as_text(client: TestClient, store: Store) -> None:
    # GIVEN an account named by its owner, and a finding on a user with a hostile name
    add_account(store, ONBOARDED[0], f"{HOSTILE} & co")
    finding = hostile_finding(ONBOARDED[0])
    store.put_findings([finding])
    store.put_summary([PolicyTally(ONBOARDED[0], finding.policy_id, Severity.HIGH, 1, T0)])
    # WHEN the pages showing them are read
    accounts = client.get("/accounts").text
    listing = client.get("/findings").text
    overview = client.get("/").text
    link = html.unescape(re.search(r'<td class="arn"><a href="([^"]+)"', listing).group(1))
    detail = client.get(link).text
    # THEN the text is there, escaped, and never as markup
    for page in (accounts, listing, overview, detail):
        assert "<script>alert(1)" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;[red]" in page
    assert f"{HOSTILE} &amp; co" in html.unescape(accounts).replace("& co", "&amp; co")
    assert f"user/{HOSTILE}" in text_of(detail)
    assert "%3Cscript%3E" in link or "%3cscript%3e" in link.lower()  # encoded in the URL


# ---------------------------------------------------------------------------- jobs
def register_fleet(store: Store) -> None:
    onboard(list(ONBOARDED))
    for account in (*ONBOARDED, NO_ROLE):
        add_account(store, account)


def job_id_of(response: Any) -> str:
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.startswith("/jobs/")
    return str(location.removeprefix("/jobs/"))


def test_start_a_job_from_the_form_and_watch_its_tasks(
    client: TestClient, store: Store, stack: Stack
) -> None:
    register_fleet(store)
    # WHEN an inventory of s3 is started from the form
    job_id = job_id_of(post(client, "/jobs", operation="inventory", service="s3", accounts="*"))
    # THEN the job page shows its tasks pending, and the API the same
    page = client.get(f"/jobs/{job_id}").text
    assert page.count('data-status="PENDING"') == 3
    first = client.get(f"/api/jobs/{job_id}").json()
    assert first["job"]["status"] == "IN_PROGRESS"
    assert first["job"]["percent"] == 0
    assert len(first["tasks"]) == 3
    # WHEN the workers run every task
    drain(stack)
    # THEN a poll since the page's version returns exactly the three tasks that changed
    changed = client.get(
        f"/api/jobs/{job_id}",
        params={"epoch": first["epoch"], "v": first["version"], "first": "", "last": ""},
    ).json()
    assert changed["job"]["status"] == JobStatus.COMPLETED_WITH_ERRORS
    assert changed["job"]["percent"] == 100
    by_account = {t["account_id"]: t for t in changed["tasks"]}
    assert set(by_account) == {*ONBOARDED, NO_ROLE}
    assert by_account[NO_ROLE]["status"] == "FAILED"
    assert "AccessDenied" in by_account[NO_ROLE]["reason"]
    assert by_account[ONBOARDED[0]]["ended_after"] >= 0
    # and nothing more once the client holds the latest version
    again = client.get(
        f"/api/jobs/{job_id}", params={"epoch": changed["epoch"], "v": changed["version"]}
    ).json()
    assert again["tasks"] == []
    # and the page lists the failure with its reason; "failed only" keeps that account
    done = client.get(f"/jobs/{job_id}").text
    assert "Retry the failed tasks" in done
    failed_only = client.get(f"/jobs/{job_id}?failed=1").text
    assert f'data-account="{NO_ROLE}"' in failed_only
    assert f'data-account="{ONBOARDED[0]}"' not in failed_only


def test_cancel_and_retry_from_the_job_page(client: TestClient, store: Store, stack: Stack) -> None:
    register_fleet(store)
    job_id = job_id_of(post(client, "/jobs", operation="scan", policy="s3.*", accounts="*"))
    # WHEN the running job is cancelled
    assert post(client, f"/jobs/{job_id}/cancel").status_code == 303
    # THEN it is CANCELLED with every task failed as cancelled
    job = store.get_job(job_id)
    assert job is not None
    assert job.status is JobStatus.CANCELLED
    assert {t.reason for t in store.iter_tasks(job_id)} == {"cancelled"}
    # WHEN its failed tasks are retried
    retry_id = job_id_of(post(client, f"/jobs/{job_id}/retry"))
    # THEN a new job over exactly those tasks starts, linked to the first
    retry = store.get_job(retry_id)
    assert retry is not None
    assert (retry.retry_of, retry.total) == (job_id, 3)
    assert f"retry of {job_id}" in text_of(client.get(f"/jobs/{retry_id}").text)
    # and cancelling a finished job is refused with the handler's reason, as a page
    refused = post(client, f"/jobs/{job_id}/cancel")
    assert refused.status_code == 400
    assert "only running jobs can be cancelled" in text_of(refused.text)


def test_a_refused_job_request_is_shown_on_the_form(client: TestClient, store: Store) -> None:
    # WHEN the accounts field holds something that is not an account id
    bad = post(client, "/jobs", operation="inventory", accounts="1234, 310000000001")
    # THEN the form says why, keeps the input, and nothing was started
    assert bad.status_code == 400
    assert "12 digits" in text_of(bad.text)
    assert 'value="1234, 310000000001"' in bad.text
    # WHEN the job handler refuses (no registered account)
    refused = post(client, "/jobs", operation="scan", policy="*", accounts="*")
    assert refused.status_code == 400
    assert "Refused:" in text_of(refused.text)
    assert store.list_jobs() == []


def test_jobs_api_reports_rate_and_eta_fields(client: TestClient, store: Store) -> None:
    register_fleet(store)
    job_id = job_id_of(post(client, "/jobs", operation="inventory", accounts="*"))
    jobs = client.get("/api/jobs").json()["jobs"]
    assert [j["job_id"] for j in jobs] == [job_id]
    assert {"percent", "rate", "eta", "succeeded", "failed", "remaining"} <= set(jobs[0])
    running = client.get("/api/jobs?running=1").json()["jobs"]
    assert [j["job_id"] for j in running] == [job_id]


def test_an_unknown_or_malformed_job_is_a_not_found_page(client: TestClient) -> None:
    missing = client.get("/jobs/inv-all-20240101T000000Z-abcdef")
    malformed = client.get("/jobs/<script>")
    assert (missing.status_code, malformed.status_code) == (404, 404)
    assert "Not found" in missing.text
    assert "<script>" not in malformed.text


# ---------------------------------------------------------------------------- findings
ACCOUNTS3 = ("320000000001", "320000000002", "320000000003")


def seed_findings(store: Store, per_pair: int = 3) -> list[Finding]:
    """Open findings of every policy in three accounts (per_pair each), a few resolved ones,
    and the dashboard counts a scan would have written."""
    policies = all_policies()
    found: list[Finding] = []
    counts: list[PolicyTally] = []
    for account in ACCOUNTS3:
        add_account(store, account)
        for index, policy in enumerate(policies.values()):
            n = (per_pair + index + int(account[-1])) % 4  # 0..3: some pairs hold none
            for k in range(n):
                found.append(
                    Finding(
                        account,
                        policy.id,
                        f"arn:aws:{policy.service}:::{account}-r{k:02d}",
                        FindingState.OPEN,
                        policy.severity,
                        title=policy.title,
                        evidence=f"e{k}",
                        service=policy.service,
                        first_seen=T0,
                        last_seen=T0,
                    )
                )
            counts.append(PolicyTally(account, policy.id, policy.severity, n, T0))
    resolved = [
        replace(f, arn=f.arn + "-old", state=FindingState.RESOLVED, resolved_reason="compliant")
        for f in found[::5]
    ]
    store.put_findings(found + resolved)
    store.put_summary(counts)
    return found + resolved


def rows_of(page: str) -> list[tuple[str, str, str]]:
    """(account, policy, arn) of each row of a findings page."""
    return [
        (html.unescape(a), html.unescape(p), html.unescape(arn))
        for p, a, arn in re.findall(
            r'<a href="/policies#[^"]*">([^<]+)</a></td>\s*<td><a href="[^"]*">(\d{12})</a>'
            r'.*?<td class="arn"><a href="[^"]*">([^<]*)</a>',
            page,
            flags=re.S,
        )
    ]


def link(page: str, rel: str) -> str | None:
    match = re.search(rf'<a href="([^"]+)" rel="{rel}">', page)
    return html.unescape(match.group(1)) if match else None


def walk(client: TestClient, start: str) -> tuple[list[list[tuple[str, str, str]]], str]:
    """Every page from ``start`` following "Next"; the pages' rows, and the last page."""
    pages_seen = []
    url: str | None = start
    page = ""
    while url is not None:
        response = client.get(url)
        assert response.status_code == 200, response.text
        page = response.text
        pages_seen.append(rows_of(page))
        url = link(page, "next")
        assert len(pages_seen) < 100
    return pages_seen, page


def expected(found: list[Finding], **match: Any) -> list[Finding]:
    return [f for f in found if all(getattr(f, k) == v for k, v in match.items())]


def rank(policy_id: str) -> tuple[int, str]:
    return (all_policies()[policy_id].severity.rank, policy_id)


def test_open_findings_page_by_page_in_severity_order_and_back(
    client: TestClient, store: Store
) -> None:
    # GIVEN open findings of every policy across three accounts
    found = seed_findings(store)
    open_ = expected(found, state=FindingState.OPEN)
    want = [
        (f.account_id, f.policy_id, f.arn)
        for f in sorted(open_, key=lambda f: (*rank(f.policy_id), f.account_id, f.arn))
    ]
    # WHEN every page of 25 is read following "Next"
    seen, last = walk(client, "/findings?size=25")
    # THEN each finding appears once, in severity, policy, account, ARN order, 25 a page
    assert [r for p in seen for r in p] == want
    assert all(len(p) == 25 for p in seen[:-1])
    assert f"of {len(open_)} open findings" in text_of(last)
    # WHEN walking back with "Previous" from the last page
    back = []
    url = link(last, "prev")
    while url is not None:
        page = client.get(url).text
        back.append(rows_of(page))
        url = link(page, "prev")
    # THEN the same pages come back, in reverse
    assert back == seen[:-1][::-1]


@pytest.mark.parametrize(
    ("query", "order"),
    [
        ("sort=account", lambda f: (f.account_id, f.policy_id, f.arn)),
        ("sort=policy&order=desc", lambda f: (f.policy_id, f.account_id, f.arn)),
    ],
)
def test_other_orders_page_through_every_finding(
    client: TestClient, store: Store, query: str, order: Callable[[Finding], Any]
) -> None:
    found = seed_findings(store)
    open_ = sorted(expected(found, state=FindingState.OPEN), key=order)
    if "desc" in query:
        open_.reverse()
    seen, _ = walk(client, f"/findings?size=25&{query}")
    assert [r for p in seen for r in p] == [(f.account_id, f.policy_id, f.arn) for f in open_]


def test_filters_narrow_the_listing(client: TestClient, store: Store) -> None:
    found = seed_findings(store)
    account = ACCOUNTS3[1]
    # one account, by severity: its policies' findings in severity order
    seen, last = walk(client, f"/findings?account={account}&size=200")
    mine = expected(found, state=FindingState.OPEN, account_id=account)
    assert [r for p in seen for r in p] == [
        (f.account_id, f.policy_id, f.arn)
        for f in sorted(mine, key=lambda f: (*rank(f.policy_id), f.arn))
    ]
    assert f"of {len(mine)} open" in text_of(last)
    # a severity and a service
    seen, _ = walk(client, "/findings?severity=high&policy=iam.*&size=200")
    rows = [r for p in seen for r in p]
    assert rows
    assert all(r[1].startswith("iam.") for r in rows)
    assert len(rows) == len(
        [
            f
            for f in found
            if f.state is FindingState.OPEN
            and f.severity is Severity.HIGH
            and f.policy_id.startswith("iam.")
        ]
    )
    # resolved findings: per account, with the note that says so
    seen, last = walk(client, "/findings?state=resolved&size=200")
    resolved = expected(found, state=FindingState.RESOLVED)
    assert sorted(r for p in seen for r in p) == sorted(
        (f.account_id, f.policy_id, f.arn) for f in resolved
    )
    assert "Sorted by account" in text_of(last)


def test_bad_filters_and_cursors_are_explained(client: TestClient) -> None:
    for query, words in (
        ("severity=urgent", "severity"),
        ("state=deleted", "state"),
        ("account=12", "12 digits"),
        ("policy=s3.nope", "unknown policy"),
        ("size=7", "size"),
        ("after=bm90LWEtY3Vyc29y", "not valid"),
    ):
        response = client.get(f"/findings?{query}")
        assert response.status_code == 400, query
        assert words in text_of(response.text), query


def test_cursors_round_trip_and_reject_tampering() -> None:
    finding = hostile_finding("330000000001")
    back = pages.decode_cursor(pages.encode_cursor(finding))
    assert (back.account_id, back.policy_id, back.arn, back.severity) == (
        finding.account_id,
        finding.policy_id,
        finding.arn,
        finding.severity,
    )
    with pytest.raises(Exception, match="not valid"):
        pages.decode_cursor("W10")  # "[]"


def test_every_finding_state_is_offered() -> None:
    assert pages.state_choices() == [*(s.value.lower() for s in FindingState), "all"]


@pytest.mark.parametrize("fmt", ["json", "csv", "ocsf"])
def test_exports_carry_exactly_the_current_filter(
    client: TestClient, store: Store, fmt: str
) -> None:
    found = seed_findings(store)
    want = {f.arn for f in found if f.state is FindingState.OPEN and f.severity is Severity.HIGH}
    response = client.get(f"/findings/export?format={fmt}&severity=high")
    assert response.status_code == 200
    assert "attachment" in response.headers["content-disposition"]
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(response.text)))
        assert {r["resource_arn"] for r in rows} == want
        assert {r["severity"] for r in rows} == {"high"}
    elif fmt == "json":
        data = json.loads(response.text)
        assert {d["resource_arn"] for d in data} == want
    else:
        events = json.loads(response.text)
        assert {e["resource"]["uid"] for e in events} == want
        assert {e["class_uid"] for e in events} == {2003}
    assert len(want) > 3


def test_a_finding_page_shows_evidence_cis_ids_rationale_and_remediation(
    client: TestClient, store: Store
) -> None:
    found = seed_findings(store)
    policy = all_policies()["iam.root_mfa"]
    finding = expected(found, state=FindingState.OPEN, policy_id=policy.id)[0]
    page = client.get(
        "/finding",
        params={"account": finding.account_id, "policy": finding.policy_id, "arn": finding.arn},
    )
    body = text_of(page.text)
    assert page.status_code == 200
    assert finding.evidence in body
    for cis_id in policy.cis_ids():
        assert cis_id in body
    assert policy.remediation[:40] in body
    assert f"Why it matters {policy.rationale[:40]}" in body
    assert "First seen 2024-05-01T12:00:00Z" in body
    gone = client.get(
        "/finding", params={"account": finding.account_id, "policy": "iam.root_mfa", "arn": "x"}
    )
    assert gone.status_code == 404


# ---------------------------------------------------------------------------- other pages
def test_overview_accounts_and_policies_pages(client: TestClient, store: Store) -> None:
    found = seed_findings(store)
    overview = text_of(client.get("/").text)
    open_total = len(expected(found, state=FindingState.OPEN))
    assert f"{open_total:,} open findings" in overview
    assert "No compliance data yet" in overview
    assert "not assessed" in overview
    accounts = client.get("/accounts").text
    for account in ACCOUNTS3:
        assert f'data-account="{account}"' in accounts
    policies = client.get("/policies").text
    for policy in all_policies().values():
        assert f'id="{policy.id}"' in policies
        row = re.search(rf'<tr id="{re.escape(policy.id)}">(.*?)</tr>', policies, re.S)
        assert row is not None
        for requirement in policy.cis_ids():  # "CIS v3.0 2.1.4"
            label, control_id = requirement.rsplit(" ", 1)
            assert f"<th>{label}</th>" in policies
            assert control_id in row.group(1)


def test_accounts_sync_from_organizations(client: TestClient, store: Store, stack: Stack) -> None:
    import boto3

    org = boto3.client("organizations", region_name="us-east-1")
    org.create_organization(FeatureSet="ALL")
    org.create_account(AccountName=HOSTILE, Email="member@example.com")
    # WHEN a preview is asked for THEN nothing is written
    preview = post(client, "/accounts/sync", dry_run="1")
    assert "Would sync 2 accounts" in text_of(preview.text)
    assert store.list_accounts() == []
    # WHEN the sync runs THEN the accounts are registered, names shown as text
    synced = post(client, "/accounts/sync", dry_run="0")
    assert "Synced 2 accounts" in text_of(synced.text)
    assert len(store.list_accounts()) == 2
    assert "&lt;script&gt;alert(1)&lt;/script&gt;[red]" in synced.text


def test_compliance_scores_appear_once_accounts_are_scanned(
    client: TestClient, store: Store, stack: Stack
) -> None:
    register_fleet(store)
    # GIVEN no scan yet THEN the overview has no score to show
    assert "No compliance data yet" in text_of(client.get("/").text)
    # WHEN every account is inventoried and scanned from the console
    job_id = job_id_of(
        post(client, "/jobs", operation="scan", policy="*", accounts="*", refresh="1")
    )
    assert client.get(f"/api/jobs/{job_id}").json()["job"]["status"] == "IN_PROGRESS"
    drain(stack)
    drain(stack)  # the scan tasks a refresh's inventory tasks enqueued
    # (the job page sees it finish: the counts kept for 10 s are dropped)
    assert client.get(f"/api/jobs/{job_id}").json()["job"]["status"] != "IN_PROGRESS"
    # THEN each CIS version's sections have their counts over the accounts, with a score
    page = client.get("/")
    body = text_of(page.text)
    assert "No compliance data yet" not in body
    rows = re.findall(r"<tr><td>(CIS v[\d.]+)</td><td>(\d+) ", page.text)
    assert {label for label, _ in rows} == {"CIS v3.0", "CIS v5.0"}
    assert ("CIS v3.0", "1") in rows
    assert re.search(r"CIS v3\.0 1 Identity and Access Management \d+%", body)
    # the unreachable account's controls are not assessed, never passed
    assert re.search(r"Identity and Access Management \d+% \d+ \d+ \d+ [1-9]", body)


# ---------------------------------------------------------------------------- errors
def test_no_target_is_a_page_that_says_what_to_do(aws_credentials: None) -> None:
    def no_stack() -> Target:
        raise TargetError("no qrie stack to talk to: run `qrie local up`", exit_code=2)

    with make_client(Connection(no_stack, "the local stack")) as browser:
        login(browser)
        page = browser.get("/")
        api = browser.get("/api/jobs")
    assert page.status_code == 503
    assert "No qrie stack to talk to" in page.text
    assert "qrie local up" in page.text
    assert "Traceback" not in page.text
    assert api.json()["error"]["message"].startswith("no qrie stack")


def test_a_missing_stack_is_a_stack_not_found_page(mocked_aws: None) -> None:
    opened: list[int] = []

    def deployed() -> Target:
        opened.append(1)
        return DeployedTarget("qrie-missing", "us-east-1")

    with make_client(Connection(deployed, "stack qrie-missing")) as browser:
        login(browser)
        first = browser.get("/jobs")
        browser.get("/jobs")
    assert first.status_code == 503
    assert "Stack not found" in first.text
    assert "qrie-missing" in first.text
    assert len(opened) == 2  # opened again on the next request: it may exist by then


def test_an_unreachable_target_is_explained_and_retried(
    aws_credentials: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    opened: list[int] = []

    class Unreachable(Target):
        description = f"local stack at http://127.0.0.1:{port}"

        def __init__(self) -> None:
            opened.append(1)
            self.store = Store("qrie")

    with make_client(Connection(Unreachable, "the local stack")) as browser:
        login(browser)
        page = browser.get("/accounts")
        browser.get("/accounts")
    assert page.status_code == 503
    assert "Target unreachable" in page.text
    assert "qrie local up" in page.text
    assert len(opened) == 2


def never_opened() -> Target:
    raise AssertionError("explaining an error opens no target")


@pytest.mark.parametrize(
    ("code", "status", "title"),
    [
        ("ExpiredTokenException", 401, "AWS credentials expired or not valid"),
        ("UnrecognizedClientException", 401, "AWS credentials expired or not valid"),
        ("AccessDeniedException", 403, "Access denied"),
        ("ResourceNotFoundException", 503, "Stack not found"),
        ("AWSOrganizationsNotInUseException", 409, "No AWS Organization"),
    ],
)
def test_aws_errors_are_explained(code: str, status: int, title: str) -> None:
    from botocore.exceptions import ClientError

    error = ClientError({"Error": {"Code": code, "Message": "AWS says why"}}, "Query")
    problem = explain(error, Connection(never_opened, "stack x"))
    assert (problem.status, problem.title) == (status, title)
    assert "AWS says why" in problem.message  # AWS's own words are kept


# ---------------------------------------------------------------------------- live
def task(account: str, status: TaskStatus, ended_at: str | None = None) -> Task:
    return Task(
        "j", TaskKey(account, TaskKind.INVENTORY, "s3"), status, attempts=1, ended_at=ended_at
    )


def test_task_feed_hands_out_a_late_commit_with_an_earlier_end_time() -> None:
    from qrie_cli.console.live import TaskFeed

    feed = TaskFeed("j")
    feed.apply([task("a", TaskStatus.PENDING), task("b", TaskStatus.PENDING)])
    held = feed.version
    # GIVEN task b ended at 12:00:02 and was read first
    feed.apply([task("a", TaskStatus.PENDING), task("b", TaskStatus.SUCCEEDED, "12:00:02")])
    assert [t.key.account_id for t in feed.since(held, "", "~")] == ["b"]
    held = feed.version
    # WHEN task a, which ended earlier (12:00:01), commits after that read
    feed.apply(
        [task("a", TaskStatus.SUCCEEDED, "12:00:01"), task("b", TaskStatus.SUCCEEDED, "12:00:02")]
    )
    # THEN the next poll still gets it (a window on EndedAt would have skipped it)
    assert [t.key.account_id for t in feed.since(held, "", "~")] == ["a"]
    assert feed.since(feed.version, "", "~") == []


def test_rate_is_measured_over_the_recent_window() -> None:
    from qrie.domain import Job
    from qrie_cli.console.live import ProgressTracker

    now = [0.0]
    tracker = ProgressTracker(clock=lambda: now[0])

    def job(done: int) -> Job:
        return Job(
            "j",
            TaskKind.INVENTORY,
            JobStatus.IN_PROGRESS,
            100,
            succeeded=done,
            remaining=100 - done,
            created_at=T0,
        )

    tracker.observe(job(0))
    now[0] = 10.0
    progress = tracker.observe(job(20))
    assert progress.rate == pytest.approx(2.0)
    assert progress.eta == pytest.approx(40.0)
    # a stall shows: 40 s later the 30 s window holds no progress
    now[0] = 50.0
    tracker.observe(job(20))
    now[0] = 60.0
    stalled = tracker.observe(job(20))
    assert stalled.rate == pytest.approx(0.0)
    assert stalled.eta is None
    # a finished job: its whole run
    final = replace(job(100), status=JobStatus.COMPLETED, finished_at="2024-05-01T12:00:50.000000Z")
    assert tracker.observe(final).rate == pytest.approx(2.0)


def test_tasks_of_an_account_range_are_read_alone(store: Store) -> None:
    from qrie.domain import Job

    accounts = [f"34000000{n:04d}" for n in range(12)]
    keys = [TaskKey(a, TaskKind.SCAN, s) for a in accounts for s in ("ec2", "s3")]
    store.create_job(
        Job(
            "scan-s3-20240501T120000Z-aaaaaa",
            TaskKind.SCAN,
            JobStatus.IN_PROGRESS,
            len(keys),
            remaining=len(keys),
            created_at=T0,
        ),
        keys,
    )
    got = list(
        store.iter_tasks_of_accounts("scan-s3-20240501T120000Z-aaaaaa", accounts[3], accounts[5])
    )
    assert [t.key for t in got] == sorted(keys)[6:12]


def test_dashboard_counts_are_kept_briefly_and_dropped_when_a_job_finishes(
    moto_connection: Connection, store: Store
) -> None:
    from qrie.domain import Job
    from qrie_cli.console.queries import COUNTS_SECONDS, Reader

    now = [0.0]
    reader = Reader(moto_connection, clock=lambda: now[0])
    store.put_summary([PolicyTally(ACCOUNTS3[0], "iam.root_mfa", Severity.CRITICAL, 2, T0)])
    assert sum(c.open for c in reader.open_counts()) == 2
    # WHEN a scan changes the counts THEN pages a moment later still read the kept ones
    store.put_summary([PolicyTally(ACCOUNTS3[0], "iam.root_mfa", Severity.CRITICAL, 5, T0)])
    now[0] = COUNTS_SECONDS - 1
    assert sum(c.open for c in reader.open_counts()) == 2
    # and the new ones once they expire
    now[0] = COUNTS_SECONDS + 1
    assert sum(c.open for c in reader.open_counts()) == 5
    # WHEN a job the console watched finishes THEN the counts are read again at once
    store.put_summary([PolicyTally(ACCOUNTS3[0], "iam.root_mfa", Severity.CRITICAL, 7, T0)])
    running = Job("j", TaskKind.SCAN, JobStatus.IN_PROGRESS, 1, remaining=1, created_at=T0)
    reader.progress(running)
    reader.progress(replace(running, status=JobStatus.COMPLETED, remaining=0, succeeded=1))
    assert sum(c.open for c in reader.open_counts()) == 7
    # one account's counts are read alone
    assert [c.account_id for c in reader.open_counts(ACCOUNTS3[1])] == []
