"""Who may see what on the dashboard.

Two permissions: ``operations`` (lag, health, alerts, the supervisor board, /metrics) and
``transcripts`` (the call drill-down, which shows what was said; it includes operations).
Bound to a loopback address the dashboard is open to the users of this machine, unless
tokens are configured. Bound to any other address it requires a login: a bearer token
(``Authorization: Bearer ...``, for Prometheus and scripts) or the login page, which keeps
the token in an HttpOnly cookie. Tokens come from the settings (``dashboard.operations_token``,
``dashboard.transcripts_token``); where none is set, one is generated once and kept in
``<state_dir>/dashboard/tokens.json``, readable by its owner only, never printed or logged.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from callstream.local.credentials import write_private
from callstream.settings import DashboardSection

Permission = Literal["operations", "transcripts"]

COOKIE = "callstream_dashboard"
#: what each permission includes
GRANTS: dict[Permission, frozenset[Permission]] = {
    "operations": frozenset({"operations"}),
    "transcripts": frozenset({"operations", "transcripts"}),
}


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class DashboardAccess:
    #: no login at all (a loopback bind with no tokens configured)
    open: bool
    #: token -> the permission it carries
    tokens: dict[str, Permission] = field(default_factory=dict)

    def permissions(self, token: str | None) -> frozenset[Permission]:
        if self.open:
            return GRANTS["transcripts"]
        for known, permission in self.tokens.items():
            if token and hmac.compare_digest(token.encode(), known.encode()):
                return GRANTS[permission]
        return frozenset()


def tokens_path(state_dir: Path) -> Path:
    return Path(state_dir) / "dashboard" / "tokens.json"


def dashboard_access(host: str, operations_token: str | None, transcripts_token: str | None,
                     state_dir: Path) -> DashboardAccess:
    """The access rules for a dashboard bound to ``host``."""
    configured: dict[str, Permission] = {}
    if operations_token:
        configured[operations_token] = "operations"
    if transcripts_token:
        configured[transcripts_token] = "transcripts"
    if configured:
        return DashboardAccess(open=False, tokens=configured)
    if is_loopback(host):
        return DashboardAccess(open=True)
    path = tokens_path(state_dir)
    try:
        stored = json.loads(path.read_text())
    except (OSError, ValueError):
        stored = {"operations": secrets.token_urlsafe(24), "transcripts": secrets.token_urlsafe(24)}
        write_private(path, json.dumps(stored))
    return DashboardAccess(open=False, tokens={stored["operations"]: "operations",
                                               stored["transcripts"]: "transcripts"})


LOGIN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>callstream: sign in</title>
<link rel="stylesheet" href="/static/dashboard.css"></head>
<body><main class="login"><h1>callstream</h1>
<p>{message}</p>
<form method="post" action="/login"><label>Access token <input name="token" type="password" autocomplete="off"
 required autofocus></label> <button type="submit">Sign in</button></form>
<p class="hint">The operations token shows the operations and supervisor views; the transcripts token also
opens the call drill-down. Where none was configured, both are in {where} (readable by its owner only).</p>
</main></body></html>
"""


def access_from_settings(settings: DashboardSection, state_dir: Path, host: str) -> tuple[DashboardAccess, str]:
    """The access rules of a dashboard bound to ``host`` under ``settings`` (the dashboard
    section), and where its tokens are to be found (for the login page and the start line)."""
    operations = settings.operations_token.get_secret_value() if settings.operations_token else None
    transcripts = settings.transcripts_token.get_secret_value() if settings.transcripts_token else None
    access = dashboard_access(host, operations, transcripts, state_dir)
    where = "the dashboard settings" if operations or transcripts else str(tokens_path(state_dir))
    return access, where


def describe(access: DashboardAccess, where: str) -> str:
    return "open to this machine (loopback)" if access.open else f"sign-in required, tokens in {where}"


def endpoint_path(state_dir: Path) -> Path:
    return Path(state_dir) / "dashboard" / "endpoint.json"


def record_endpoint(state_dir: Path, host: str, port: int) -> Path:
    """Say where this deployment's dashboard listens (and its pid), so `callstream status`
    can ask its observer instead of sampling the cluster again."""
    path = endpoint_path(state_dir)
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104 (reading back our own bind)
    write_private(path, json.dumps({"url": f"http://{shown}:{port}", "pid": os.getpid()}))
    return path


def running_endpoint(state_dir: Path) -> str | None:
    """The URL of this deployment's dashboard if its process is alive."""
    try:
        recorded = json.loads(endpoint_path(state_dir).read_text())
        os.kill(int(recorded["pid"]), 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return str(recorded["url"])


def operations_token(settings: DashboardSection, state_dir: Path) -> str | None:
    """A token that opens the operations views of this deployment's dashboard, if any is set."""
    if settings.operations_token:
        return settings.operations_token.get_secret_value()
    try:
        return str(json.loads(tokens_path(state_dir).read_text())["operations"])
    except (OSError, ValueError, KeyError):
        return None
