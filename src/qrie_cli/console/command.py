"""``qrie console``: serve the web console for the current target and print its URL.

The target is chosen as for every other command (``--stack-name`` for a deployed stack, else
the running local stack), used with the caller's own AWS credentials, and opened when the first
page asks for it: the console starts even when the target cannot be reached yet, and its pages
say why. ``--seed-if-empty N`` (what ``make console`` passes) gives an empty local stack demo
data: N seeded member accounts and a scan with inventory of every policy, started at once and
watched live in the console.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from qrie_cli.console.connection import Connection
from qrie_cli.context import Cli, with_global_options
from qrie_cli.target import LocalTarget, Target, TargetError, resolve_target

if TYPE_CHECKING:
    from qrie_cli.console.security import Secrets

DEMO_SEED = 7


def _host(value: str) -> str:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not an IP address (e.g. 127.0.0.1, the default, or ::1)"
        ) from None
    return value


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise TargetError(f"cannot listen on {host}:{port}: {exc.strerror}", exit_code=2) from exc
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def url_of(host: str, port: int, token: str) -> str:
    from qrie_cli.console.security import TOKEN_PARAM  # noqa: PLC0415

    address = ipaddress.ip_address(host)
    shown = "127.0.0.1" if address.is_unspecified and address.version == 4 else host
    if address.version == 6:
        shown = "[::1]" if address.is_unspecified else f"[{host}]"
    return f"http://{shown}:{port}/?{TOKEN_PARAM}={token}"


def seed_if_empty(target: Target, accounts: int) -> dict[str, Any] | None:
    """Seed ``accounts`` demo member accounts into an empty local stack and start a scan with
    inventory of every policy; None when the stack already has accounts."""
    if not isinstance(target, LocalTarget):
        raise TargetError("--seed-if-empty works on the local stack only", exit_code=2)
    if target.store.list_accounts():
        return None
    from qrie_cli.local import seed_accounts  # noqa: PLC0415

    seed_accounts(target.stack, accounts, DEMO_SEED)
    return target.invoke({"operation": "scan", "policy": "*", "refresh": True})


def serve(
    connection: Connection, host: str, port: int, keys: Secrets, announce: bool = True
) -> None:
    """Serve until Ctrl-C (or SIGTERM)."""
    import uvicorn  # noqa: PLC0415

    from qrie_cli.console.app import create_app  # noqa: PLC0415
    from qrie_cli.console.security import allowed_hosts  # noqa: PLC0415

    sock = _bind(host, port)
    actual_port = int(sock.getsockname()[1])
    app = create_app(connection, keys, actual_port, allowed_hosts(host, actual_port))
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=5,
        server_header=False,
    )
    server = uvicorn.Server(config)
    if announce:
        print(f"qrie console for {connection.description}", flush=True)
        print(f"open: {url_of(host, actual_port, keys.token)}", flush=True)
        print("(the link works for this run only; Ctrl-C stops the console)", flush=True)
    try:
        with contextlib.suppress(KeyboardInterrupt):
            server.run(sockets=[sock])
    finally:
        sock.close()
        connection.close()


def register(root: typer.Typer) -> None:
    root.command("console")(with_global_options(console, "stack"))


def console(
    cli: Cli,
    host: Annotated[
        str,
        typer.Option(
            "--host",
            callback=_host,
            help="Address to listen on. Anything but loopback exposes your AWS access.",
        ),
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", min=0, max=65535, help="Port (0: a free one).")
    ] = 0,
    seed: Annotated[
        int,
        typer.Option(
            "--seed-if-empty",
            min=0,
            max=1000,
            help="Local stack without accounts: seed N demo accounts and start a scan.",
        ),
    ] = 0,
) -> None:
    """Serve the web console (jobs live, findings, accounts, policies) and print its URL."""
    try:
        from qrie_cli.console.security import Secrets  # noqa: PLC0415
    except ImportError as exc:
        print(
            f"error: the console needs its web server ({exc.name} is missing): "
            "pip install 'qrie[console]'",
            file=sys.stderr,
        )
        raise typer.Exit(2) from exc
    opts = cli.options
    stack_name = opts.stack_name
    label = f"stack {stack_name}" if stack_name else "the local stack"
    connection = Connection(
        lambda: resolve_target(opts.local, stack_name, opts.region, opts.state_dir), label
    )
    if not ipaddress.ip_address(host).is_loopback:
        print(
            f"warning: listening on {host}: anyone who can reach it and has the link can use "
            "your AWS access through this console (plain HTTP)",
            file=sys.stderr,
        )
    try:
        target = connection.target()
        if seed:
            started = seed_if_empty(target, seed)
            if started is not None:
                print(
                    f"seeded {seed} demo accounts; started {started.get('job_id')} "
                    f"({started.get('total_tasks')} tasks)",
                    flush=True,
                )
    except TargetError as exc:
        if seed:
            print(f"error: {exc.message}", file=sys.stderr)
            raise typer.Exit(exc.exit_code) from exc
        print(
            f"warning: {exc.message}\n(the console starts anyway; its pages say what is "
            "missing until the target can be reached)",
            file=sys.stderr,
        )
    try:
        serve(connection, host, port, Secrets.generate())
    except TargetError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        raise typer.Exit(exc.exit_code) from exc
