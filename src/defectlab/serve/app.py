"""The inspection service: a FastAPI application over one loaded model bundle.

Routes: ``GET /health``, ``GET /v1/model``, ``POST /v1/predict`` (one image, multipart field
``file``), ``POST /v1/predict/batch`` (field ``files``, repeated) and ``POST /v1/model/threshold``
(JSON ``{"value"}``: a detector bundle's new threshold, live and on disk, when the settings allow it). Images are decoded and
scored on a bounded thread pool, never on the event loop; every error is a JSON body
``{"error", "detail"}`` with a 4xx status, and the service keeps running whatever it is sent.
"""

import asyncio
import base64
import io
import logging
import secrets
import time
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Annotated, Any, TypeVar

import numpy as np
from fastapi import Depends, FastAPI, File, HTTPException, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader
from PIL import Image
from starlette.exceptions import HTTPException as StarletteHTTPException

from defectlab import __version__
from defectlab.bundle.detector_predictor import DetectorPredictor
from defectlab.bundle.manifest import KIND_NAMES
from defectlab.bundle.prediction import Prediction, Predictor
from defectlab.data.imageio import decode_image_bytes
from defectlab.errors import ConfigError, DataError, ImageTooLargeError
from defectlab.explain.overlay import heatmap_rgb
from defectlab.serve import schemas
from defectlab.serve.limits import BodySizeLimit, ServiceSettings
from defectlab.serve.schemas import (
    ERROR_RESPONSES,
    THRESHOLD_ERRORS,
    BatchPrediction,
    ErrorBody,
    Health,
    ModelCard,
    ThresholdSet,
    ThresholdUpdate,
)

log = logging.getLogger("defectlab.serve")
T = TypeVar("T")

API_KEY_HEADER = "X-API-Key"


def png_base64(image: np.ndarray) -> str:
    """A uint8 image as base64-encoded PNG text."""
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def model_card(predictor: Predictor) -> dict[str, Any]:
    """What ``GET /v1/model`` answers: the predictor's id and its description of the manifest."""
    return {"id": predictor.model_id, **predictor.describe()}


def to_response(result: Prediction, filename: str | None, latency_ms: float) -> schemas.Prediction:
    """The response model of one prediction; heatmap and overlay become base64 PNGs."""
    heatmap = None if result.heatmap is None else png_base64(heatmap_rgb(result.heatmap, 0.0, 1.0))
    overlay = None if result.overlay is None else png_base64(result.overlay)
    return schemas.Prediction(
        filename=filename,
        decision=result.decision,
        is_anomalous=result.is_anomalous,
        score=result.score,
        threshold=result.threshold,
        normalized_score=result.normalized_score,
        label=result.label,
        confidence=result.confidence,
        probabilities=result.probabilities,
        category=result.category,
        warnings=result.warnings,
        latency_ms=round(latency_ms, 3),
        heatmap_png=heatmap,
        overlay_png=overlay,
    )


class Inspector:
    """Runs predictions on a bounded worker pool and turns uploads into responses."""

    def __init__(self, predictor: Predictor, settings: ServiceSettings) -> None:
        self.predictor = predictor
        self.settings = settings
        self._pool: ThreadPoolExecutor | None = None
        self.pending = 0

    @property
    def pool(self) -> ThreadPoolExecutor:
        """The worker threads (started on first use, again after :meth:`close`)."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.settings.workers, thread_name_prefix="defectlab-predict")
        return self._pool

    async def run(self, work: Callable[[], T]) -> T:
        """``work()`` on the pool; 503 when more than ``max_pending`` requests already wait."""
        if self.pending >= self.settings.workers + self.settings.max_pending:
            raise HTTPException(503, "the service is busy: too many requests are waiting, retry shortly")
        self.pending += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self.pool, work)
        finally:
            self.pending -= 1

    def decode(self, data: bytes, name: str) -> np.ndarray:
        """Decode one upload (DataError / ImageTooLargeError name the file and the problem)."""
        return decode_image_bytes(data, max_pixels=self.settings.max_pixels, name=name)

    def predict(self, uploads: Sequence[tuple[str, bytes]], explain: bool) -> tuple[list[schemas.Prediction], float]:
        """Decode and predict; returns the responses and the total server milliseconds."""
        start = time.perf_counter()
        images = [self.decode(data, name) for name, data in uploads]
        results = self.predictor.predict(images, explain=explain)
        decoded = time.perf_counter()
        predictions = [to_response(r, name, 0.0) for r, (name, _) in zip(results, uploads, strict=True)]
        total_ms = (time.perf_counter() - start) * 1000.0
        share = total_ms / len(uploads)
        for prediction in predictions:
            prediction.latency_ms = round(share, 3)
        log.debug("predicted %d image(s) in %.1f ms (model %.1f ms)", len(uploads), total_ms, (decoded - start) * 1000)
        return predictions, total_ms

    def close(self) -> None:
        """Stop the worker threads (at application shutdown)."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None


def api_key_guard(settings: ServiceSettings) -> Callable[..., Any]:
    """A dependency that checks the ``X-API-Key`` header when the service has a key."""
    header = APIKeyHeader(name=API_KEY_HEADER, auto_error=False, description="Required when the service has an API key.")

    def check(key: str | None = Depends(header)) -> None:
        if settings.api_key is None:
            return
        if key is None or not secrets.compare_digest(key.encode(), settings.api_key.encode()):
            raise HTTPException(401, f"missing or wrong API key: send it in the {API_KEY_HEADER} header")

    return check


async def read_upload(upload: UploadFile, index: int) -> tuple[str, bytes]:
    """The upload's name (or a positional one) and bytes."""
    name = upload.filename or f"upload #{index + 1}"
    return name, await upload.read()


def error_response(status: int, error: str, detail: str) -> JSONResponse:
    return JSONResponse(ErrorBody(error=error, detail=detail).model_dump(), status_code=status)


_HTTP_ERRORS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    503: "busy",
}


def install_error_handlers(app: FastAPI) -> None:
    """Every error becomes ``{"error", "detail"}`` JSON with a 4xx status (5xx only for real bugs)."""

    @app.exception_handler(ImageTooLargeError)
    async def too_large(_: Request, exc: ImageTooLargeError) -> JSONResponse:
        return error_response(413, "image_too_large", str(exc))

    @app.exception_handler(DataError)
    async def bad_image(_: Request, exc: DataError) -> JSONResponse:
        return error_response(400, "bad_image", str(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(map(str, e.get('loc', ())))}: {e.get('msg')}" for e in exc.errors())
        return error_response(422, "invalid_request", problems or "the request is not valid")

    @app.exception_handler(StarletteHTTPException)  # FastAPI's HTTPException and routing's 404 / 405
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        response = error_response(exc.status_code, _HTTP_ERRORS.get(exc.status_code, "error"), str(exc.detail))
        if exc.headers:
            response.headers.update(exc.headers)
        return response

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error while serving a request")
        return error_response(500, "internal_error", f"{type(exc).__name__}: the service hit an unexpected error")


def create_app(predictor: Predictor, settings: ServiceSettings | None = None, warm: bool = True) -> FastAPI:
    """The FastAPI application serving ``predictor`` (warmed up once at start-up when ``warm``)."""
    settings = settings or ServiceSettings.from_env()
    inspector = Inspector(predictor, settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if warm:
            await inspector.run(predictor.warm_up)
        yield
        inspector.close()

    app = FastAPI(
        title="defectlab inspection service",
        version=__version__,
        description=(
            "Visual defect inspection over one defectlab model bundle. Send images as multipart "
            "uploads; answers carry the score, the threshold and the decision (detector bundles) or "
            "the class and confidence (classifier bundles), and on request the heatmap and overlay "
            "as base64 PNG."
        ),
        lifespan=lifespan,
    )
    app.state.inspector = inspector
    install_error_handlers(app)
    guard = [Depends(api_key_guard(settings))]

    @app.get("/health", response_model=Health, tags=["service"])
    async def health() -> Health:
        """Liveness and the loaded model's id."""
        return Health(status="ok", model_id=predictor.model_id, kind=predictor.kind)

    @app.get("/v1/model", response_model=ModelCard, tags=["model"], dependencies=guard, responses={401: ERROR_RESPONSES[401]})
    async def model() -> ModelCard:
        """The loaded bundle's manifest: backbone, model, image size, thresholds, training fingerprint."""
        return ModelCard(**model_card(predictor))

    @app.post("/v1/predict", response_model=schemas.Prediction, tags=["predict"], dependencies=guard, responses=ERROR_RESPONSES)
    async def predict(
        file: Annotated[UploadFile, File(description="One image: PNG, JPEG, TIFF, BMP ... (8/16-bit, gray, RGB(A), palette).")],
        heatmap: Annotated[bool, Query(description="Also return the heatmap and overlay as base64 PNG.")] = False,
    ) -> schemas.Prediction:
        """The verdict for one image."""
        upload = await read_upload(file, 0)
        predictions, _ = await inspector.run(lambda: inspector.predict([upload], heatmap))
        return predictions[0]

    @app.post(
        "/v1/predict/batch", response_model=BatchPrediction, tags=["predict"], dependencies=guard, responses=ERROR_RESPONSES
    )
    async def predict_batch(
        files: Annotated[list[UploadFile], File(description="Several images, each in a field named files.")],
        heatmap: Annotated[bool, Query(description="Also return heatmaps and overlays as base64 PNG.")] = False,
    ) -> BatchPrediction:
        """Verdicts for several images, in the order they were sent."""
        if len(files) > settings.max_batch:
            raise HTTPException(413, f"{len(files)} images in one batch, over the limit of {settings.max_batch}")
        uploads = [await read_upload(f, i) for i, f in enumerate(files)]
        predictions, total_ms = await inspector.run(lambda: inspector.predict(uploads, heatmap))
        return BatchPrediction(results=predictions, latency_ms=round(total_ms, 3))

    @app.post("/v1/model/threshold", response_model=ThresholdSet, tags=["model"], dependencies=guard, responses=THRESHOLD_ERRORS)
    async def set_threshold(update: ThresholdUpdate, request: Request) -> ThresholdSet:
        """Make ``value`` the detector bundle's decision threshold (method manual), live and in the bundle on disk."""
        if not settings.allow_threshold_edit:
            raise HTTPException(403, "threshold editing is off: start the service with --allow-threshold-edit")
        if not isinstance(predictor, DetectorPredictor):
            raise HTTPException(
                400, f"the bundle is {KIND_NAMES[predictor.kind]} bundle: only anomaly detectors have one threshold to set"
            )
        previous = predictor.threshold.value
        by = f"api ({request.client.host})" if request.client else "api"
        try:
            threshold = await asyncio.to_thread(predictor.set_threshold, update.value, by)
        except ConfigError as exc:
            raise HTTPException(400, str(exc)) from exc
        log.info("threshold set to %.6g (was %.6g) by %s", threshold.value, previous, by)
        return ThresholdSet(value=threshold.value, method=threshold.method, previous_value=previous)

    app.add_middleware(BodySizeLimit, limit=settings.max_upload_bytes)
    return app
