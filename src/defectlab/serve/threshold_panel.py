"""The UI's threshold panel for detector bundles: a slider over the bundle's stored calibration
scores, the false-alarm and miss rates at the slider's threshold, a histogram of normal and
anomalous calibration scores with the threshold line, and (when the service allows it) a button
that saves the threshold into the bundle.
"""

from __future__ import annotations

import io
import math
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from PIL import Image

from defectlab.bundle.detector_predictor import DetectorPredictor
from defectlab.calibration.rates import ErrorRates, error_rates, rate_curve
from defectlab.calibration.scores import CalibrationScores
from defectlab.errors import ConfigError
from defectlab.serve.limits import ServiceSettings

SLIDER_STEPS = 400


def slider_range(scores: np.ndarray, current: float) -> tuple[float, float, float]:
    """(minimum, maximum, step) of a slider over the scores and the current threshold with a margin: the
    step a round number (1, 2 or 5 times a power of ten), the ends multiples of it."""
    low, high = min(float(scores.min()), current), max(float(scores.max()), current)
    margin = 0.05 * (high - low) or 0.05 * abs(high) or 1.0
    span = high - low + 2 * margin
    power = 10.0 ** math.floor(math.log10(span / SLIDER_STEPS))
    step = next(power * m for m in (1, 2, 5, 10) if power * m >= span / SLIDER_STEPS)
    digits = max(0, 1 - math.floor(math.log10(step)))
    low = round(max(step, math.floor((low - margin) / step) * step), digits)  # thresholds are positive
    return low, round(math.ceil((high + margin) / step) * step, digits), round(step, digits)


def _share(count: int, total: int, rate: float | None, what: str) -> str:
    return f"**{count} of {total}** {what} ({rate:.1%})" if rate is not None else f"no {what}"


def _value(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def rates_markdown(rates: ErrorRates) -> str:
    """The false alarms and misses at the threshold (counts and rates), then precision, recall and F1."""
    false_alarms = _share(rates.false_alarms, rates.n_normal, rates.false_alarm_rate, "normal images")
    if not rates.n_anomalous:
        return (
            f"At threshold **{rates.threshold:.4g}**: false alarms {false_alarms}; misses unknown "
            "(the calibration images hold no anomalous ones)."
        )
    misses = _share(rates.misses, rates.n_anomalous, rates.miss_rate, "anomalous images")
    return (
        f"At threshold **{rates.threshold:.4g}**: false alarms {false_alarms}, misses {misses}.\n\n"
        f"Precision {_value(rates.precision)}, recall {_value(rates.recall)}, F1 {_value(rates.f1)}."
    )


def calibration_plot(calibration: CalibrationScores, threshold: float) -> Image.Image:
    """Histogram of normal and anomalous calibration scores, the false-alarm and miss rates over
    thresholds (right axis) and the threshold as a vertical line, as a PNG image."""
    scores, labels = calibration.scores, calibration.labels
    edges = np.histogram_bin_edges(np.append(scores, threshold), bins=int(np.clip(scores.size // 2, 10, 40)))
    fig = Figure(figsize=(6.4, 2.8))
    ax = fig.subplots()
    for label, name, color in ((0, "normal", "tab:blue"), (1, "anomalous", "tab:red")):
        chosen = scores[labels == label]
        if chosen.size:
            ax.hist(chosen, bins=edges, alpha=0.5, color=color, label=f"{name} ({chosen.size})")
    ax.axvline(threshold, color="black", linestyle="--", linewidth=1.2, label="threshold")
    ax.set(xlabel="anomaly score", ylabel="calibration images")
    rates = ax.twinx()
    curve = rate_curve(scores, labels)
    rates.step(curve.thresholds, curve.false_alarm_rate, where="pre", color="tab:blue", linewidth=1, label="false-alarm rate")
    if calibration.n_anomalous:
        rates.step(curve.thresholds, curve.miss_rate, where="pre", color="tab:red", linewidth=1, label="miss rate")
    rates.set(ylabel="rate", ylim=(0, 1.02))
    handles = [h for axes in (ax, rates) for h in axes.get_legend_handles_labels()[0]]
    ax.legend(handles=handles, fontsize="x-small", loc="upper center", ncols=3, bbox_to_anchor=(0.5, 1.22))
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return Image.open(io.BytesIO(buffer.getvalue()))


def build_threshold_panel(predictor: Any, settings: ServiceSettings) -> None:
    """Add the panel to the Gradio Blocks being built (nothing for bundles other than detectors)."""
    import gradio as gr

    if not isinstance(predictor, DetectorPredictor):
        return
    with gr.Accordion("Threshold", open=True, elem_id="threshold-panel"):
        calibration = predictor.calibration
        if calibration is None:
            gr.Markdown(
                "This bundle keeps no calibration scores (it was written before bundles did), so there is "
                "nothing to show here: refit it to use the threshold slider."
            )
            return
        current = predictor.threshold
        gr.Markdown(
            f"Move the slider to see how the {calibration.scores.size} calibration images ({calibration.n_normal} "
            f"normal, {calibration.n_anomalous} anomalous) would be decided: a score at or above the threshold is "
            f"Defective. In force: **{current.value:.4g}** ({current.method})."
        )
        low, high, step = slider_range(calibration.scores, current.value)
        slider = gr.Slider(low, high, value=current.value, step=step, label="Threshold", elem_id="threshold-slider")
        rates = gr.Markdown(rates_markdown(error_rates(calibration.scores, calibration.labels, current.value)), elem_id="rates")
        plot = gr.Image(
            calibration_plot(calibration, current.value),
            label="Calibration scores",
            interactive=False,
            elem_id="calibration-plot",
            format="png",
        )

        def show(value: float) -> tuple[str, Image.Image]:
            return rates_markdown(error_rates(calibration.scores, calibration.labels, value)), calibration_plot(
                calibration, value
            )

        slider.change(show, inputs=[slider], outputs=[rates, plot], show_progress="hidden", trigger_mode="always_last")
        if not settings.allow_threshold_edit:
            gr.Markdown("Saving is off: start the service with `--allow-threshold-edit` to save a threshold into the bundle.")
            return
        save = gr.Button("Save threshold", elem_id="save-threshold")
        status = gr.Markdown(elem_id="threshold-status")

        def save_threshold(value: float, request: gr.Request) -> str:
            user = getattr(request, "username", None)
            try:
                threshold = predictor.set_threshold(float(value), by=f"ui ({user})" if user else "ui")
            except ConfigError as exc:
                raise gr.Error(str(exc)) from exc
            return f"Saved: images are now Defective from a score of **{threshold.value:.4g}** ({threshold.method})."

        save.click(save_threshold, inputs=[slider], outputs=[status], concurrency_limit=1)
