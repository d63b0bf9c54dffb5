"""The dashboard's HTTP side: page, static assets, JSON APIs, SSE stream and /metrics,
behind the access rules of ``access.py`` (operations views, and the call drill-down with
its transcript text as a separate permission)."""

from __future__ import annotations

import asyncio
import html
import json
import threading
import urllib.parse
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec
from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST

from callstream.errors import CallstreamError
from callstream.governance.audit import AuditLog
from callstream.observe.dashboard.access import COOKIE, LOGIN_PAGE, DashboardAccess, Permission
from callstream.observe.metrics import render
from callstream.observe.observer import Observer
from callstream.observe.status import Thresholds, evaluate, status_document, summary

if TYPE_CHECKING:
    from callstream.observe.dashboard.timeline import CallDrillDown

STATIC = Path(__file__).parent / "static"


def _json(data: object) -> Response:
    return Response(msgspec.json.encode(data), media_type="application/json")


class Refused(Exception):
    """A request without the permission it needs."""

    def __init__(self, needed: Permission, signed_in: bool) -> None:
        super().__init__(needed)
        self.needed = needed
        self.signed_in = signed_in


def create_app(observer: Observer, kafka_conf: Mapping[str, str], *, thresholds: Thresholds | None = None,
               run_observer: bool = True, access: DashboardAccess | None = None,
               tokens_hint: str = "the dashboard settings", audit: AuditLog | None = None) -> FastAPI:
    """The app; with ``run_observer`` its lifespan runs the observer in a thread; sign-ins
    (granted and refused) go to ``audit``."""
    limits = thresholds or Thresholds()
    settings = observer.settings
    rules = access or DashboardAccess(open=True)

    def token_of(request: Request) -> str | None:
        header = request.headers.get("authorization", "")
        if header.lower().startswith("bearer "):
            return header[7:].strip()
        return request.cookies.get(COOKIE)

    def require(request: Request, needed: Permission) -> None:
        held = rules.permissions(token_of(request))
        if needed not in held:
            raise Refused(needed, bool(held))

    drill_downs: list[CallDrillDown] = []  # made at the first drill-down: the archive's imports take ~1 s
    made = threading.Lock()

    def drill_down() -> CallDrillDown:
        with made:
            if not drill_downs:
                from callstream.observe.dashboard.timeline import CallDrillDown

                drill_downs.append(CallDrillDown(settings.archive_settings, kafka_conf, observer.catalog,
                                                 settings.topic_names))
            return drill_downs[0]

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        thread = None
        if run_observer:
            thread = threading.Thread(target=observer.run, name="observer", daemon=True)
            thread.start()
        try:
            yield
        finally:
            observer.stop()
            if thread is not None:
                thread.join(timeout=10)
            observer.close()
            for kept in drill_downs:
                kept.close()

    app = FastAPI(title="callstream dashboard", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.exception_handler(Refused)
    def refused(request: Request, exc: Refused) -> Response:
        what = "the call drill-down (it shows transcripts)" if exc.needed == "transcripts" else "the dashboard"
        status = 403 if exc.signed_in else 401
        return JSONResponse({"error": f"you may not open {what}: it needs the {exc.needed} permission",
                             "hint": "sign in at /login with a token that carries it"}, status_code=status)

    def login_page(message: str, status: int = 200) -> HTMLResponse:
        return HTMLResponse(LOGIN_PAGE.format(message=html.escape(message), where=html.escape(tokens_hint)),
                            status_code=status, headers={"Cache-Control": "no-store"})

    @app.get("/login", include_in_schema=False)
    def login_form() -> HTMLResponse:
        return login_page("Sign in with an access token.")

    @app.post("/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        form = urllib.parse.parse_qs((await request.body()).decode(errors="replace"))
        token = (form.get("token") or [""])[0]
        granted = rules.permissions(token)
        if audit is not None:
            client = request.client.host if request.client else "?"
            await asyncio.to_thread(audit.append, "dashboard.login", f"dashboard client {client}",
                                    {"granted": sorted(granted) or "refused"})
        if not granted:
            return login_page("That token is not valid.", status=401)
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(COOKIE, token, httponly=True, samesite="strict")
        return response

    @app.get("/", include_in_schema=False)
    def index(request: Request) -> Response:
        if "operations" not in rules.permissions(token_of(request)):
            return RedirectResponse("/login", status_code=303)
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return Response(status_code=204)

    @app.get("/metrics")
    def metrics(request: Request) -> Response:
        require(request, "operations")
        snapshot = observer.latest
        if snapshot is None:
            return Response("# no sample yet\n", media_type=CONTENT_TYPE_LATEST, status_code=503)
        return Response(render(snapshot), media_type=CONTENT_TYPE_LATEST)

    @app.get("/api/snapshot")
    def snapshot(request: Request) -> Response:
        require(request, "operations")
        s = observer.latest
        if s is None:
            raise HTTPException(503, "the observer has not taken its first sample yet")
        return _json(status_document(s, evaluate(s, limits)))

    @app.get("/api/history")
    def history(request: Request) -> Response:
        require(request, "operations")
        return _json(list(observer.history))

    @app.get("/api/board")
    def board(request: Request) -> Response:
        require(request, "operations")
        return _json(observer.figures.board_view())

    @app.get("/api/search")
    def search(request: Request, q: str = Query(min_length=1, max_length=200)) -> Response:
        require(request, "operations")
        return _json(observer.figures.search(q))

    @app.get("/api/calls/{contact_id}")
    def call(request: Request, contact_id: str) -> Response:
        require(request, "transcripts")
        try:
            view = drill_down().timeline(contact_id)
        except CallstreamError as exc:
            return JSONResponse({"error": exc.message, "hint": exc.hint}, status_code=503)
        if not view["events"]:
            return JSONResponse({"error": f"no events for contact {contact_id} in the archive or Kafka",
                                 "hint": "check the contact id; events older than Kafka's retention are only in the archive"},
                                status_code=404)
        return _json(view)

    @app.get("/api/stream")
    async def stream(request: Request) -> StreamingResponse:
        require(request, "operations")

        async def events() -> AsyncIterator[str]:
            last = None
            yield "retry: 2000\n\n"
            while not await request.is_disconnected():
                s = observer.latest
                if s is not None and s.sampled_at_ms != last:
                    last = s.sampled_at_ms
                    payload = {"point": observer.history[-1] if observer.history else None,
                               "summary": summary(s), "breaches": [str(b) for b in evaluate(s, limits)],
                               "board": observer.figures.board_view(),
                               "archive": msgspec.to_builtins(s.archive) if s.archive is not None else None,
                               "cluster": msgspec.to_builtins(s.cluster)}
                    yield f"event: sample\ndata: {json.dumps(payload, separators=(',', ':'))}\n\n"
                await asyncio.sleep(0.25)

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    return app


def serve(observer: Observer, kafka_conf: Mapping[str, str], *, host: str = "127.0.0.1", port: int = 8765,
          thresholds: Thresholds | None = None, access: DashboardAccess | None = None,
          tokens_hint: str = "the dashboard settings", audit: AuditLog | None = None) -> None:
    """Run the dashboard until SIGINT/SIGTERM (uvicorn handles both)."""
    import uvicorn

    app = create_app(observer, kafka_conf, thresholds=thresholds, access=access, tokens_hint=tokens_hint, audit=audit)
    # SSE streams never end on their own: don't wait for them long at shutdown
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=2)
    uvicorn.Server(config).run()
