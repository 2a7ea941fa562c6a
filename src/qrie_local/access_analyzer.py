"""IAM Access Analyzer for the local AWS, which moto does not implement (it answers 404).

The part qrie reads, and what seeding and tests need to set it: per account and region,
analyzers created (CreateAnalyzer: ``ACTIVE`` at once, a name used twice is a
``ConflictException``), listed (ListAnalyzers, optionally by ``type``, in creation order) and
deleted (DeleteAnalyzer; an unknown name is a ``ResourceNotFoundException``). No findings,
archive rules or policy checks. It is a moto backend like the others (a ``BackendDict``), so
``mock_aws`` serves it in-process, the local server serves it, and the saved local state keeps
it. :func:`register` installs it (``qrie_local.moto_patches.apply`` calls it).
"""

from __future__ import annotations

import json
import re
import sys
from datetime import UTC, datetime
from typing import Any

from moto.core.base_backend import BackendDict, BaseBackend
from moto.core.exceptions import JsonRESTError
from moto.core.responses import BaseResponse

SERVICE = "accessanalyzer"
URL_BASE = r"https?://access-analyzer\.(.+)\.amazonaws\.com"


class ConflictError(JsonRESTError):
    def __init__(self, name: str) -> None:
        super().__init__("ConflictException", f"Analyzer {name} already exists")
        self.code = 409


class NotFoundError(JsonRESTError):
    def __init__(self, name: str) -> None:
        super().__init__("ResourceNotFoundException", f"Analyzer {name} not found")
        self.code = 404


class AccessAnalyzerBackend(BaseBackend):
    """One account's analyzers in one region."""

    def __init__(self, region_name: str, account_id: str) -> None:
        super().__init__(region_name, account_id)
        self.analyzers: dict[str, dict[str, Any]] = {}

    @property
    def _url_module(self) -> Any:  # the url_bases / url_paths below, not a moto.<service>.urls
        return sys.modules[__name__]

    def create_analyzer(self, name: str, analyzer_type: str) -> str:
        if name in self.analyzers:
            raise ConflictError(name)
        arn = f"arn:aws:access-analyzer:{self.region_name}:{self.account_id}:analyzer/{name}"
        self.analyzers[name] = {
            "arn": arn,
            "name": name,
            "type": analyzer_type,
            "createdAt": datetime.now(UTC).isoformat(),
            "status": "ACTIVE",
        }
        return arn

    def list_analyzers(self, analyzer_type: str | None) -> list[dict[str, Any]]:
        return [
            dict(analyzer)
            for analyzer in self.analyzers.values()
            if analyzer_type is None or analyzer["type"] == analyzer_type
        ]

    def delete_analyzer(self, name: str) -> None:
        if self.analyzers.pop(name, None) is None:
            raise NotFoundError(name)


accessanalyzer_backends = BackendDict(AccessAnalyzerBackend, SERVICE)


class AccessAnalyzerResponse(BaseResponse):
    def __init__(self) -> None:
        super().__init__(service_name=SERVICE)

    @property
    def backend(self) -> AccessAnalyzerBackend:
        return accessanalyzer_backends[self.current_account][self.region]

    def _analyzer_name(self) -> str:
        match = re.search(r"/analyzer/([^/?]+)", self.uri)
        return match.group(1) if match else ""

    def create_analyzer(self) -> str:
        name = str(self._get_param("analyzerName"))
        arn = self.backend.create_analyzer(name, str(self._get_param("type")))
        return json.dumps({"arn": arn})

    def list_analyzers(self) -> str:
        analyzer_type = self.querystring.get("type", [None])[0]
        return json.dumps({"analyzers": self.backend.list_analyzers(analyzer_type)})

    def delete_analyzer(self) -> str:
        self.backend.delete_analyzer(self._analyzer_name())
        return "{}"


url_bases = [URL_BASE]
url_paths = {
    "{0}/analyzer$": AccessAnalyzerResponse.dispatch,
    "{0}/analyzer/(?P<analyzerName>[^/]+)$": AccessAnalyzerResponse.dispatch,
}


def register() -> None:
    """Serve Access Analyzer from this backend (idempotent): moto finds a service's backend as
    ``moto.<service>`` and its endpoints in ``backend_index.backend_url_patterns``."""
    from moto import backend_index  # noqa: PLC0415

    sys.modules.setdefault(f"moto.{SERVICE}", sys.modules[__name__])
    if not any(service == SERVICE for service, _ in backend_index.backend_url_patterns):
        backend_index.backend_url_patterns.append((SERVICE, re.compile(URL_BASE)))
