"""The live web dashboard: operations view, supervisor view and call drill-down.

A FastAPI app around one ``Observer`` (sampling in a background thread) that serves the
page and its static assets (Chart.js vendored under ``static/vendor/``: no CDN, no build
step), ``/metrics``, JSON APIs and a server-sent-event stream of samples. Run it with
``callstream dashboard --port N`` or ``python -m callstream.observe.dashboard --port N``.
"""

from callstream.observe.dashboard.server import create_app, serve

__all__ = ["create_app", "serve"]
