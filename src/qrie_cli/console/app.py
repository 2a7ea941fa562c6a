"""The console's web application: routes, pages and the JSON its script polls.

Pages are rendered on the server (Jinja2, autoescaped: every text from a member account -- a
resource name, an evidence string, an account name -- is HTML-escaped, and the script writes
only with ``textContent``). The only JavaScript is ``static/console.js``: it polls the JSON
endpoints every second and updates the progress bars and task cells (short polling, see
:mod:`.live`), and asks before a cancel.

Every handler runs in a worker thread (boto3 blocks) and any failure becomes a page that says
what happened and what to do (:func:`.connection.explain`), or JSON for the script.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import jinja2
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from qrie.domain import SERVICES, SEVERITIES, Account
from qrie.errors import ValidationError
from qrie.models import JOB_ID_RE
from qrie.scan.export import FORMATS
from qrie_cli.console import exports, findings, queries
from qrie_cli.console.compliance import cis_ids
from qrie_cli.console.connection import Connection, Problem, explain
from qrie_cli.console.security import CSRF_FIELD, Guard, Secrets
from qrie_cli.render import short_time
from qrie_cli.watch import format_eta

log = logging.getLogger("qrie.console")

HERE = Path(__file__).parent
NAV = (
    ("/", "Overview", "overview"),
    ("/jobs", "Jobs", "jobs"),
    ("/findings", "Findings", "findings"),
    ("/accounts", "Accounts", "accounts"),
    ("/policies", "Policies", "policies"),
)
MAX_ACCOUNTS_FIELD = 20_000 * 13


@dataclass
class Console:
    """What the handlers share: the target, its reads, the secrets and the templates."""

    connection: Connection
    reader: queries.Reader
    keys: Secrets
    templates: jinja2.Environment

    def render(
        self, request: Request, name: str, status: int = 200, **context: Any
    ) -> HTMLResponse:
        page = self.templates.get_template(name).render(
            csrf=self.keys.csrf,
            csrf_field=CSRF_FIELD,
            nav=NAV,
            target=self.connection.description,
            path=request.url.path,
            **context,
        )
        return HTMLResponse(page, status_code=status, headers={"Cache-Control": "no-store"})

    def problem(self, request: Request, problem: Problem) -> Response:
        if problem.reconnect:
            self.connection.reset()
        if request.url.path.startswith("/api/"):
            return JSONResponse(
                {
                    "error": {
                        "title": problem.title,
                        "message": problem.message,
                        "hint": problem.hint,
                    }
                },
                status_code=problem.status,
            )
        return self.render(
            request, "error.html", problem.status, title=problem.title, problem=problem
        )

    def refuse(self, request: Request, status: int, title: str, message: str) -> Response:
        """The guard's refusals: nothing of the target on them (no name, no navigation)."""
        problem = Problem(status, title, message)
        if request.url.path.startswith("/api/"):
            return self.problem(request, problem)
        return self.render(
            request, "error.html", status, title=title, problem=problem, anonymous=True
        )


Handler = Callable[[Console, Request, dict[str, str]], Response]


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["time"] = short_time
    env.filters["eta"] = lambda seconds: "" if seconds is None else format_eta(seconds)
    env.filters["status_class"] = lambda status: queries.STATUS_CLASS.get(str(status), "")
    env.filters["thousands"] = lambda n: f"{n:,}"
    env.globals["job_label"] = queries.job_label
    return env


def _endpoint(console: Console, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        form: dict[str, str] = {}
        if request.method == "POST":
            body = await request.body()
            form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        try:
            return await run_in_threadpool(handler, console, request, form)
        except queries.NotFound as exc:
            return console.problem(request, Problem(404, "Not found", str(exc)))
        except Exception as exc:
            return console.problem(request, explain(exc, console.connection))

    return endpoint


def _job_id(request: Request) -> str:
    job_id = str(request.path_params["job_id"])
    if not JOB_ID_RE.match(job_id):
        raise queries.NotFound(f"{job_id[:80]!r} is not a job id")
    return job_id


def _page_number(params: Mapping[str, str]) -> int:
    text = params.get("page", "1")
    return int(text) if text.isdigit() and 0 < len(text) < 7 else 1


# ---------------------------------------------------------------------------- pages
def overview(console: Console, request: Request, _form: dict[str, str]) -> Response:
    data = console.reader.overview()
    return console.render(
        request,
        "overview.html",
        title="Overview",
        active="overview",
        data=data,
        severities=[s.value for s in SEVERITIES],
    )


def _job_forms_context(console: Console) -> dict[str, Any]:
    policies = queries.policy_catalogue()
    return {
        "services": SERVICES,
        "policies": sorted(policies.values(), key=lambda p: (p.service, p.id)),
        "policy_services": sorted({p.service for p in policies.values()}),
    }


def jobs_page(
    console: Console,
    request: Request,
    _form: dict[str, str],
    error: str = "",
    status: int = 200,
    values: Mapping[str, str] | None = None,
) -> Response:
    jobs = console.reader.jobs()
    return console.render(
        request,
        "jobs.html",
        status,
        title="Jobs",
        active="jobs",
        jobs=jobs,
        error=error,
        values=values or {},
        **_job_forms_context(console),
    )


def _accounts_value(text: str) -> list[str] | str:
    from qrie.accounts.registry import parse_account_list  # noqa: PLC0415

    text = text.strip()
    if text in {"", "*", "all"}:
        return "*"
    if len(text) > MAX_ACCOUNTS_FIELD:
        raise ValidationError("accounts: too many account ids", field="accounts")
    return parse_account_list(text)


def start_job(console: Console, request: Request, form: dict[str, str]) -> Response:
    operation = form.get("operation", "")
    try:
        accounts = _accounts_value(form.get("accounts", "*"))
        if operation == "inventory":
            service = form.get("service", "all")
            event: dict[str, Any] = {
                "operation": "inventory",
                "service": "*" if service in {"all", "*"} else service,
                "accounts": accounts,
            }
        elif operation == "scan":
            event = {
                "operation": "scan",
                "policy": form.get("policy", "*") or "*",
                "accounts": accounts,
                "refresh": form.get("refresh") in {"1", "on", "true"},
            }
        else:
            raise ValidationError("operation: choose an inventory or a scan", field="operation")
    except ValidationError as exc:
        return jobs_page(console, request, form, exc.message, 400, form)
    response = console.connection.invoke(event)
    if "error" in response:
        message = str((response.get("error") or {}).get("message", "request refused"))
        return jobs_page(console, request, form, f"Refused: {message}", 400, form)
    return RedirectResponse(f"/jobs/{response['job_id']}", status_code=303)


def job_page(console: Console, request: Request, _form: dict[str, str]) -> Response:
    reader = console.reader
    job = reader.job(_job_id(request))
    params = request.query_params
    failed_only = params.get("failed") == "1"
    grid = reader.grid(job, _page_number(params), failed_only)
    return console.render(
        request,
        "job.html",
        title=f"Job {job.job_id}",
        active="jobs",
        progress=reader.progress(job),
        grid=grid,
        failed_only=failed_only,
        message=params.get("message", ""),
    )


def _job_request(console: Console, request: Request, operation: str) -> dict[str, Any]:
    """Cancel or retry the page's job through the job handler; a refusal is a ValidationError
    (a page saying why)."""
    response = console.connection.invoke({"operation": operation, "job_id": _job_id(request)})
    if "error" in response:
        raise ValidationError(str(response["error"].get("message", "refused")))
    return response


def cancel_job(console: Console, request: Request, _form: dict[str, str]) -> Response:
    response = _job_request(console, request, "cancel")
    return RedirectResponse(f"/jobs/{response['job_id']}", status_code=303)


def retry_job(console: Console, request: Request, _form: dict[str, str]) -> Response:
    response = _job_request(console, request, "retry")
    return RedirectResponse(f"/jobs/{response['job_id']}", status_code=303)


def _findings_filter(request: Request) -> findings.FindingFilter:
    return findings.FindingFilter.parse(request.query_params, queries.policy_catalogue())


def _plan(
    console: Console, flt: findings.FindingFilter, accounts: Sequence[Account] | None = None
) -> findings.Plan:
    """The reads of ``flt``; ``accounts``: the registry, when the caller has read it."""
    store = console.connection.store
    counts = console.reader.open_counts(flt.account) if flt.state == "open" else []
    if accounts is None and flt.account is None and (flt.state != "open" or flt.sort == "account"):
        accounts = store.list_accounts()
    ids = [a.account_id for a in accounts or ()]
    return findings.make_plan(flt, queries.policy_catalogue(), ids, counts)


def findings_page(console: Console, request: Request, _form: dict[str, str]) -> Response:
    params = request.query_params
    policies = queries.policy_catalogue()
    try:
        flt = _findings_filter(request)
        after = findings.decode_cursor(params["after"]) if params.get("after") else None
        before = findings.decode_cursor(params["before"]) if params.get("before") else None
    except ValidationError as exc:
        return console.render(
            request,
            "error.html",
            400,
            title="Bad filter",
            problem=Problem(
                400, "This filter is not valid", exc.message, "Start again from the findings page."
            ),
        )
    store = console.connection.store
    accounts = store.list_accounts()
    plan = _plan(console, flt, accounts)
    start = _page_number({"page": params.get("start", "1")})
    page = findings.read_page(store, plan, flt, after, before, start)
    names = {a.account_id: a.name for a in accounts}
    return console.render(
        request,
        "findings.html",
        title="Findings",
        active="findings",
        page=page,
        flt=flt,
        policies=sorted(policies.values(), key=lambda p: (p.service, p.id)),
        policy_services=sorted({p.service for p in policies.values()}),
        severities=[s.value for s in SEVERITIES],
        states=findings.state_choices(),
        sorts=findings.SORTS,
        sizes=findings.PAGE_SIZES,
        names=names,
        formats=FORMATS,
    )


def export_findings(console: Console, request: Request, _form: dict[str, str]) -> Response:
    fmt = request.query_params.get("format", "json")
    if fmt not in FORMATS:
        raise ValidationError(f"format: one of {', '.join(FORMATS)}", field="format")
    flt = _findings_filter(request)
    plan = _plan(console, flt)
    rows = findings.iter_plan(console.connection.store, plan, flt)
    return StreamingResponse(
        exports.stream(rows, fmt, queries.policy_catalogue()),
        media_type=exports.MEDIA_TYPES[fmt],
        headers={
            "Content-Disposition": f'attachment; filename="{exports.filename(fmt, flt.state)}"',
            "Cache-Control": "no-store",
        },
    )


def finding_page(console: Console, request: Request, _form: dict[str, str]) -> Response:
    from qrie.accounts.registry import validate_account_id  # noqa: PLC0415

    params = request.query_params
    account = validate_account_id(params.get("account", ""))
    policy_id = params.get("policy", "")
    arn = params.get("arn", "")
    if not policy_id or not arn or len(arn) > 2048:
        raise queries.NotFound("a finding is named by its account, policy and resource ARN")
    store = console.connection.store
    finding = store.get_finding(account, policy_id, arn)
    if finding is None:
        raise queries.NotFound(f"no finding of {policy_id} on {arn} in account {account}")
    policy = queries.policy_catalogue().get(policy_id)
    acct = store.get_account(account)
    return console.render(
        request,
        "finding.html",
        title=f"Finding {policy_id}",
        active="findings",
        finding=finding,
        policy=policy,
        account=acct,
    )


def accounts_page(
    console: Console,
    request: Request,
    _form: dict[str, str],
    report: Any = None,
    dry_run: bool = False,
) -> Response:
    data = console.reader.accounts_page(_page_number(request.query_params))
    return console.render(
        request,
        "accounts.html",
        title="Accounts",
        active="accounts",
        data=data,
        services=SERVICES,
        report=report,
        dry_run=dry_run,
        activity_jobs=queries.ACTIVITY_JOBS,
    )


def sync_accounts(console: Console, request: Request, form: dict[str, str]) -> Response:
    from qrie.accounts import registry  # noqa: PLC0415

    dry_run = form.get("dry_run") == "1"
    report = registry.sync_from_organizations(
        console.connection.store, console.connection.client("organizations"), dry_run=dry_run
    )
    return accounts_page(console, request, form, report=report, dry_run=dry_run)


def policies_page(console: Console, request: Request, _form: dict[str, str]) -> Response:
    catalogue = queries.policy_catalogue()
    policies = sorted(catalogue.values(), key=lambda p: (p.service, p.severity.rank, p.id))
    versions, cis = cis_ids(catalogue)
    return console.render(
        request,
        "policies.html",
        title="Policies",
        active="policies",
        policies=policies,
        versions=versions,
        cis=cis,
    )


# ---------------------------------------------------------------------------- JSON
def api_jobs(console: Console, request: Request, _form: dict[str, str]) -> Response:
    reader = console.reader
    jobs = reader.running() if request.query_params.get("running") == "1" else reader.jobs()
    return JSONResponse(
        {"jobs": [p.to_dict() for p in jobs]}, headers={"Cache-Control": "no-store"}
    )


def api_job(console: Console, request: Request, _form: dict[str, str]) -> Response:
    reader = console.reader
    job = reader.job(_job_id(request))
    params = request.query_params
    version = params.get("v", "0")
    body = reader.changes(
        job,
        params.get("first", "")[:12],
        params.get("last", "")[:12],
        params.get("epoch", "")[:16],
        int(version) if version.isdigit() and len(version) < 12 else 0,
    )
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


def not_found(console: Console, request: Request, _form: dict[str, str]) -> Response:
    raise queries.NotFound(f"nothing at {request.url.path[:200]}")


ROUTES: tuple[tuple[str, Handler, tuple[str, ...]], ...] = (
    ("/", overview, ("GET",)),
    ("/jobs", jobs_page, ("GET",)),
    ("/jobs", start_job, ("POST",)),
    ("/jobs/{job_id}", job_page, ("GET",)),
    ("/jobs/{job_id}/cancel", cancel_job, ("POST",)),
    ("/jobs/{job_id}/retry", retry_job, ("POST",)),
    ("/findings", findings_page, ("GET",)),
    ("/findings/export", export_findings, ("GET",)),
    ("/finding", finding_page, ("GET",)),
    ("/accounts", accounts_page, ("GET",)),
    ("/accounts/sync", sync_accounts, ("POST",)),
    ("/policies", policies_page, ("GET",)),
    ("/api/jobs", api_jobs, ("GET",)),
    ("/api/jobs/{job_id}", api_job, ("GET",)),
)


def create_app(
    connection: Connection,
    keys: Secrets,
    port: int,
    hosts: frozenset[str] | None,
) -> Guard:
    """The console for ``connection``'s target, behind its :class:`Guard`."""
    console = Console(connection, queries.Reader(connection), keys, _environment())
    routes: list[Route | Mount] = [
        Route(path, _endpoint(console, handler), methods=list(methods))
        for path, handler, methods in ROUTES
    ]
    routes.append(Mount("/static", StaticFiles(directory=HERE / "static"), name="static"))
    routes.append(Route("/{rest:path}", _endpoint(console, not_found), methods=["GET", "POST"]))
    app = Starlette(routes=routes)
    return Guard(app, keys, port, hosts, console.refuse)
