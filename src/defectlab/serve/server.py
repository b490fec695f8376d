"""Start the service (API + UI) or the UI alone with uvicorn."""

from __future__ import annotations

import os
from pathlib import Path

from defectlab.serve.limits import ServiceSettings


def build_service(
    bundle: str | os.PathLike[str],
    settings: ServiceSettings,
    ui: bool = True,
    examples: Path | None = None,
    runtime: str | None = None,
):
    """The FastAPI application over the bundle at ``bundle`` scored by ``runtime`` (None: the fastest
    export present, else torch), with the UI at ``/ui`` when ``ui``."""
    from defectlab.bundle import load
    from defectlab.serve.app import create_app

    predictor = load(bundle, runtime=runtime)
    app = create_app(predictor, settings)
    if ui:
        from defectlab.serve.ui import mount_ui

        app = mount_ui(app, predictor, settings, examples)
    return app


def build_ui_app(
    bundle: str | os.PathLike[str], settings: ServiceSettings, examples: Path | None = None, runtime: str | None = None
):
    """A FastAPI application serving only the UI (at ``/``) over the bundle at ``bundle``."""
    from defectlab.bundle import load
    from defectlab.serve.ui import standalone_app

    predictor = load(bundle, runtime=runtime)
    predictor.warm_up()
    return standalone_app(predictor, settings, examples)


def run(app, host: str, port: int, log_level: str = "info") -> None:
    """Serve ``app`` until interrupted (one process; the model's worker pool is in the app)."""
    import uvicorn

    uvicorn.run(app, host=host, port=port, log_level=log_level, timeout_graceful_shutdown=5)
