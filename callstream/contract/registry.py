"""A client for Confluent-compatible schema registries: check and register the event schemas."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any

from callstream.contract.events import EVENT_TYPES, Envelope
from callstream.contract.schemas import schema_for
from callstream.errors import ConfigError, SchemaCompatibilityError, SchemaRegistryError

#: the JSON Schema dialect the registry is told (see ``SchemaRegistrySync._payload``)
REGISTRY_DIALECT = "http://json-schema.org/draft-07/schema#"

#: why a registry may refuse a change ``callstream schemas check`` accepts
OPEN_CONTENT_HINT = (
    "a registry judges JSON Schema under its open content model, where adding or removing any property is "
    "incompatible under FULL even when optional (callstream's own check allows it: its readers ignore unknown "
    "fields and fill defaults); publish such a change as a new major version (see the versioning rule in "
    "callstream.contract.schemas), or relax the subject's compatibility in the registry"
)


class SchemaRegistrySync:
    """Check and register the event schemas in a Confluent-compatible schema registry.

    One subject per event type and major version, ``callstream.<event_type>.v<N>``, with
    compatibility ``FULL``: the registry then enforces the same rule as
    ``check_compatibility``, and a new major version starts a new subject. Plain HTTP
    (urllib) against the REST API, so any compatible registry works (Confluent, Karapace,
    Redpanda, Apicurio's ccompat API). Credentials may be given in the URL
    (``https://key:secret@host``).
    """

    CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"

    def __init__(self, url: str, *, timeout_s: float = 10.0) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"schema registry URL {url!r} is not an http(s) URL",
                              hint="set schema_registry_url to e.g. http://127.0.0.1:8081")
        netloc = parts.hostname + (f":{parts.port}" if parts.port else "")
        self.url = urllib.parse.urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
        self._auth = None
        if parts.username:
            token = f"{urllib.parse.unquote(parts.username)}:{urllib.parse.unquote(parts.password or '')}"
            self._auth = "Basic " + base64.b64encode(token.encode()).decode()
        self.timeout_s = timeout_s

    @staticmethod
    def subject(event_type: str, version: int) -> str:
        return f"callstream.{event_type}.v{version}"

    # -- requests (pure: tested without a registry)
    def _request(self, method: str, path: str, body: Mapping[str, Any] | None) -> urllib.request.Request:
        headers = {"Accept": f"{self.CONTENT_TYPE}, application/json"}
        data = None
        if body is not None:
            headers["Content-Type"] = self.CONTENT_TYPE
            data = json.dumps(body).encode()
        if self._auth:
            headers["Authorization"] = self._auth
        return urllib.request.Request(self.url + path, data=data, headers=headers, method=method)

    @staticmethod
    def _payload(schema: Mapping[str, Any]) -> dict[str, Any]:
        # Registries that judge compatibility with the everit library (Apicurio 2.x, older
        # Confluent releases) reject a 2020-12 ``$schema`` ("could not determine version").
        # callstream's schemas use only keywords draft-07 reads the same way (``$defs`` is
        # reached by a plain JSON pointer; tests/contract checks the keyword set), so the
        # registry gets them as draft-07.
        schema = {**schema, "$schema": REGISTRY_DIALECT}
        return {"schemaType": "JSON", "schema": json.dumps(schema, separators=(",", ":"))}

    def compatibility_request(self, subject: str, schema: Mapping[str, Any]) -> urllib.request.Request:
        path = f"/compatibility/subjects/{urllib.parse.quote(subject, safe='')}/versions/latest?verbose=true"
        return self._request("POST", path, self._payload(schema))

    def register_request(self, subject: str, schema: Mapping[str, Any]) -> urllib.request.Request:
        return self._request("POST", f"/subjects/{urllib.parse.quote(subject, safe='')}/versions", self._payload(schema))

    def config_request(self, subject: str, level: str = "FULL") -> urllib.request.Request:
        return self._request("PUT", f"/config/{urllib.parse.quote(subject, safe='')}", {"compatibility": level})

    # -- calls
    def _call(self, request: urllib.request.Request) -> tuple[int, dict[str, Any]]:
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:  # noqa: S310 (http(s) checked above)
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            try:
                body = json.loads(exc.read() or b"{}")
            except ValueError:
                body = {}
            return exc.code, body if isinstance(body, dict) else {}
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise SchemaRegistryError(f"schema registry {self.url} is unreachable: {exc}",
                                      hint="check schema_registry_url and that the registry is up") from exc

    def _fail(self, action: str, subject: str, status: int, body: Mapping[str, Any]) -> SchemaRegistryError:
        return SchemaRegistryError(
            f"schema registry refused to {action} {subject}: HTTP {status} {body.get('message', '')}".rstrip(),
            hint="check the registry's permissions and logs", code=str(body.get("error_code", status)),
        )

    def incompatibilities(self, subject: str, schema: Mapping[str, Any]) -> list[str]:
        """The registry's reasons ``schema`` cannot be the next version of ``subject`` ([] if it can)."""
        status, body = self._call(self.compatibility_request(subject, schema))
        if status == 404 and body.get("error_code") in (40401, 40402):
            return []  # no subject or no version yet: nothing to be incompatible with
        if status != 200:
            raise self._fail("check", subject, status, body)
        if body.get("is_compatible"):
            return []
        # Confluent answers ``messages`` (verbose), Apicurio a ``reason`` that may be null
        reasons = body.get("messages") or ([body["reason"]] if body.get("reason") else [])
        return [str(m) for m in reasons or ["incompatible (the registry gave no details)"]]

    def register(self, subject: str, schema: Mapping[str, Any]) -> int:
        """Register ``schema`` under ``subject`` (idempotent) and return its registry id."""
        status, body = self._call(self.config_request(subject))
        if status != 200:
            raise self._fail("configure", subject, status, body)
        status, body = self._call(self.register_request(subject, schema))
        if status == 409:
            raise SchemaCompatibilityError(f"schema registry rejected {subject} as incompatible: {body.get('message', '')}",
                                           hint=OPEN_CONTENT_HINT)
        if status != 200 or "id" not in body:
            raise self._fail("register", subject, status, body)
        return int(body["id"])

    def sync(self, event_types: Mapping[str, type[Envelope]] = EVENT_TYPES) -> dict[str, int]:
        """Check every event schema, then register them all: ``{subject: id}``.

        Checks all before registering any, so a refused change leaves the registry as it was.
        """
        schemas = {self.subject(tag, cls.SCHEMA_VERSION): schema_for(cls) for tag, cls in event_types.items()}
        problems = [f"{subject}: {m}" for subject, schema in schemas.items() for m in self.incompatibilities(subject, schema)]
        if problems:
            raise SchemaCompatibilityError(
                f"schema registry {self.url} reports {len(problems)} incompatibility(ies): " + "; ".join(problems[:5]),
                hint=OPEN_CONTENT_HINT,
            )
        return {subject: self.register(subject, schema) for subject, schema in schemas.items()}
