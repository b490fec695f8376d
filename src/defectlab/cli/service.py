"""`defectlab serve` (REST API and browser UI) and `defectlab app` (the browser UI alone)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from defectlab.cli.options import RuntimeChoice, use_threads


def _service_settings(max_upload_mb: float, max_pixels: int, workers: int, threads: int | None, edit: bool = False):
    from defectlab.errors import ConfigError
    from defectlab.serve.limits import MB, ServiceSettings

    if max_upload_mb <= 0 or max_pixels <= 0 or workers < 1:
        raise ConfigError("--max-upload-mb and --max-pixels must be positive and --workers at least 1")
    use_threads(threads)
    return ServiceSettings.from_env(
        max_upload_bytes=int(max_upload_mb * MB), max_pixels=max_pixels, workers=workers, allow_threshold_edit=edit
    )


Host = Annotated[str, typer.Option("--host", help="Interface to listen on (0.0.0.0 for every interface).")]
MaxUploadMb = Annotated[float, typer.Option("--max-upload-mb", help="Largest request body in MB; bigger uploads get 413.")]
MaxPixels = Annotated[int, typer.Option("--max-pixels", help="Largest decoded image (width x height); bigger get 413.")]
Workers = Annotated[
    int, typer.Option("--workers", help="Threads that run the model; further requests wait (503 past 64 waiting).")
]
Threads = Annotated[int | None, typer.Option("--threads", help="CPU threads for torch (default: torch's choice).")]
Examples = Annotated[
    Path | None, typer.Option("--examples", help="Folder of example images for the UI (ELPV bundles bring their own).")
]
AllowThresholdEdit = Annotated[
    bool,
    typer.Option(
        "--allow-threshold-edit", help="Let POST /v1/model/threshold and the UI's Save threshold rewrite the bundle's threshold."
    ),
]
Runtime = Annotated[
    RuntimeChoice | None,
    typer.Option("--runtime", help="What scores: torch, onnx or openvino (default: the fastest export present, else torch)."),
]
Bundle = Annotated[Path, typer.Argument(metavar="BUNDLE", help="Bundle to serve (detector, routed, classifier or open-set).")]


def serve(
    bundle_dir: Bundle,
    host: Host = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port.")] = 8000,
    no_ui: Annotated[bool, typer.Option("--no-ui", help="Serve the API only, without the browser UI at /ui.")] = False,
    max_upload_mb: MaxUploadMb = 20.0,
    max_pixels: MaxPixels = 40_000_000,
    workers: Workers = 2,
    threads: Threads = None,
    examples: Examples = None,
    allow_threshold_edit: AllowThresholdEdit = False,
    runtime: Runtime = None,
) -> None:
    """Serve a bundle over HTTP: GET /health, GET /v1/model, POST /v1/predict (multipart field `file`),
    POST /v1/predict/batch (fields `files`), POST /v1/model/threshold (with --allow-threshold-edit), OpenAPI docs at /docs, the browser UI at /ui.
    Set DEFECTLAB_API_KEY to require that key in the X-API-Key header (and as the UI's password)."""
    from defectlab.serve.server import build_service
    from defectlab.serve.server import run as run_server

    settings = _service_settings(max_upload_mb, max_pixels, workers, threads, allow_threshold_edit)
    service = build_service(bundle_dir, settings, ui=not no_ui, examples=examples, runtime=runtime.value if runtime else None)
    typer.echo(f"serving {bundle_dir} on http://{host}:{port} (API docs /docs{'' if no_ui else ', UI /ui'})")
    run_server(service, host, port)


def app_cmd(
    bundle_dir: Bundle,
    host: Host = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port.")] = 7860,
    max_upload_mb: MaxUploadMb = 20.0,
    max_pixels: MaxPixels = 40_000_000,
    workers: Workers = 2,
    threads: Threads = None,
    examples: Examples = None,
    allow_threshold_edit: AllowThresholdEdit = False,
    runtime: Runtime = None,
) -> None:
    """The browser UI alone (no REST API): upload an image, see the verdict, heatmap and overlay."""
    from defectlab.serve.server import build_ui_app
    from defectlab.serve.server import run as run_server

    settings = _service_settings(max_upload_mb, max_pixels, workers, threads, allow_threshold_edit)
    service = build_ui_app(bundle_dir, settings, examples, runtime=runtime.value if runtime else None)
    typer.echo(f"UI for {bundle_dir} on http://{host}:{port}/")
    run_server(service, host, port)
