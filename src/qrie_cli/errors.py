"""Errors of the CLI: one shape for scripts, one exit code per kind.

Exit codes: 0 success; 1 a job that finished with errors, failed or was cancelled, something
not found, an AWS or configuration error; 2 a usage error or a refused request (a bad argument,
no stack to talk to, a request the job handler refused: nothing was done).

Every error prints ``error: <message>`` on stderr; with ``--json`` stdout also carries
``{"error": {"code": ..., "message": ..., "field": ...}}`` (``field`` when one option or argument
is to blame), usage errors of the command line included.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator, Sequence
from typing import Any, NoReturn

import typer

# typer (>= 0.29) carries its own copy of Click: these are the exceptions its parser raises.
from typer._click import exceptions as click_errors
from typer.core import TyperGroup

from qrie_cli.output import Output, dumps

OK = 0
FAILED = 1
USAGE = 2
FINDINGS = 3  # --fail-on: an open finding at or above the severity exists (as Prowler)


class CliError(Exception):
    """An error a command reports: ``code`` (e.g. ``UsageError``, ``NotFound``), ``message``,
    the exit code, and the option or argument to blame (``field``)."""

    def __init__(
        self, message: str, code: str = "Error", exit_code: int = FAILED, field: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.exit_code = exit_code
        self.field = field

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field:
            error["field"] = self.field
        return {"error": error}


def usage_error(message: str, field: str | None = None) -> CliError:
    return CliError(message, "UsageError", USAGE, field)


def not_found(message: str, field: str | None = None) -> CliError:
    return CliError(message, "NotFound", FAILED, field)


class Refused(CliError):
    """The job handler refused a request (its ValidationError): nothing was done, exit 2. The
    JSON body is the handler's own."""

    def __init__(self, response: dict[str, Any], hint: str | None = None) -> None:
        error = dict(response.get("error") or {})
        super().__init__(
            str(error.get("message", "request refused")),
            str(error.get("code", "ValidationError")),
            USAGE,
            error.get("field"),
        )
        self.response = response
        self.hint = hint

    def body(self) -> dict[str, Any]:
        return self.response


def fail(out: Output, error: CliError) -> NoReturn:
    """Print ``error`` (JSON on stdout with ``--json``; always a line on stderr) and exit."""
    if out.json:
        out.emit(error.body())
    prefix = "refused: " if isinstance(error, Refused) else ""
    out.error(prefix + error.message)
    if isinstance(error, Refused) and error.hint:
        out.err.print(error.hint)
    raise typer.Exit(error.exit_code)


@contextlib.contextmanager
def guarded(out: Output) -> Iterator[None]:
    """Turn the errors a command can meet into a message and its exit code."""
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

    from qrie.errors import ConfigurationError, ValidationError  # noqa: PLC0415
    from qrie_cli.target import RequestRefused, TargetError  # noqa: PLC0415

    try:
        yield
    except typer.Exit:
        raise
    except CliError as exc:
        fail(out, exc)
    except RequestRefused as exc:
        fail(out, Refused(exc.response))
    except TargetError as exc:
        fail(out, CliError(exc.message, "TargetError", exc.exit_code))
    except ValidationError as exc:
        fail(out, CliError(exc.message, "ValidationError", USAGE, exc.field))
    except ConfigurationError as exc:
        fail(out, CliError(f"configuration: {exc}", "ConfigurationError"))
    except (ClientError, BotoCoreError) as exc:
        fail(out, CliError(f"AWS error: {exc}", "AWSError"))


# ---------------------------------------------------------------------------- usage errors
def wants_json(args: Sequence[str]) -> bool:
    """Whether the command line asks for JSON (``--json`` before any ``--``)."""
    for arg in args:
        if arg == "--":
            return False
        if arg == "--json":
            return True
    return False


def _field(exc: click_errors.ClickException) -> str | None:
    """The option or argument a usage error is about, in the JSON vocabulary (``--stack-name``
    -> ``stack_name``)."""
    if isinstance(exc, click_errors.NoSuchOption):
        return exc.option_name.lstrip("-").replace("-", "_")
    param = getattr(exc, "param", None)
    if param is None:
        return None
    opts = [o for o in getattr(param, "opts", []) if o.startswith("--")]
    name = opts[0].lstrip("-") if opts else str(param.name or "")
    return name.replace("-", "_") or None


def _no_help_for_missing_commands(group: TyperGroup) -> None:
    """Under --json a group without its command fails with "Missing command." (a usage error)
    instead of printing its help (on stdout, where the JSON goes)."""
    group.no_args_is_help = False
    for command in group.commands.values():
        if isinstance(command, TyperGroup):
            _no_help_for_missing_commands(command)


class JsonErrorsGroup(TyperGroup):
    """The root command: under ``--json``, a usage error of the command line (an unknown
    option, a bad value, a missing argument) is a JSON error on stdout too, with exit code 2."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        if not standalone_mode or not wants_json(argv):
            return super().main(
                argv, prog_name, complete_var, standalone_mode, windows_expand_args, **extra
            )
        _no_help_for_missing_commands(self)
        try:
            code = super().main(argv, prog_name, complete_var, False, windows_expand_args, **extra)
        except click_errors.ClickException as exc:
            is_usage = isinstance(exc, click_errors.UsageError)
            error = CliError(
                exc.format_message(),
                "UsageError" if is_usage else "Error",
                exc.exit_code,
                _field(exc),
            )
            typer.echo(dumps(error.body()))
            typer.echo(f"error: {error.message}", err=True)
            sys.exit(error.exit_code)
        except typer.Abort:
            typer.echo(dumps(CliError("aborted", "Aborted").body()))
            sys.exit(FAILED)
        sys.exit(code if isinstance(code, int) else OK)
