"""Write a shifted copy of an MVTec-layout dataset: same folders, shifted images and masks, mirrored splits."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from tqdm.auto import tqdm

from defectlab import __version__
from defectlab.data.imageio import save_image, save_mask
from defectlab.data.mvtec import list_mvtec_categories, read_mvtec
from defectlab.data.sample import GOOD, Sample
from defectlab.data.splits import Split
from defectlab.errors import ConfigError, DataError
from defectlab.fileio import atomic_write_text
from defectlab.shift.corrupt import apply_corruption, apply_preset


def image_seed(seed: int, category: str, image_id: str) -> int:
    """Per-image seed from the run seed and the image's identity, so each image always gets the same shift."""
    digest = hashlib.blake2b(f"{seed}/{category}/{image_id}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "little") & 0x7FFFFFFF


def shifted_id(image_id: str) -> str:
    """Shifted images are written as PNG (lossless): `test/crack/001.jpg` -> `test/crack/001.png`."""
    return str(PurePosixPath(image_id).with_suffix(".png"))


def shift_sample(sample: Sample, corruption: str | None, preset: str | None, severity: int, seed: int) -> Sample:
    """The sample with its image (and mask) shifted; the same sample and seed always give the same result."""
    s = image_seed(seed, sample.category, sample.id)
    if preset is not None:
        image, mask = apply_preset(sample.image, sample.mask, preset, s)
    else:
        image, mask = apply_corruption(sample.image, sample.mask, corruption or "", severity, s)
    return replace(sample, image=image, mask=mask, id=shifted_id(sample.id))


def _write(sample: Sample, base: Path) -> None:
    save_image(base / sample.id, sample.image)
    if sample.label == 1 and sample.mask is not None:
        path = PurePosixPath(sample.id)
        defect = path.parent.name
        save_mask(base / "ground_truth" / defect / f"{path.stem}_mask.png", sample.mask)


def mirror_split(split: Split) -> Split:
    """The clean split with every id renamed as its shifted copy."""
    return replace(
        split,
        train=[shifted_id(i) for i in split.train],
        val=[shifted_id(i) for i in split.val],
        test=[shifted_id(i) for i in split.test],
        created={**split.created, "mirrors": "clean split, ids renamed to the shifted PNGs"},
    )


def materialize_shift(
    data: str | Path,
    out: str | Path,
    corruption: str | None = None,
    preset: str | None = None,
    severity: int = 3,
    seed: int = 42,
    categories: list[str] | None = None,
    splits: dict[str, Path] | None = None,
    progress: bool = False,
) -> Path:
    """Shift every image (and mask) of the chosen MVTec categories into `out`; returns `out`.

    Exactly one of `corruption` (with `severity`) or `preset` is applied. `splits` maps a
    category to its clean split JSON; the mirrored split is written to `out/<category>.split.json`.
    A `shift.json` next to the categories records what was done.
    """
    if (corruption is None) == (preset is None):
        raise ConfigError("give exactly one of --corruption or --preset")
    out = Path(out)
    chosen = categories or list_mvtec_categories(data)
    if not chosen:
        raise DataError(f"no MVTec categories found in {data}")
    for category in chosen:
        if (out / category).exists() and any((out / category).iterdir()):
            raise DataError(f"{out / category} already exists and is not empty; choose another output folder")
    for category in chosen:
        samples = read_mvtec(data, category)
        partial = out / f".{category}.partial"  # renamed into place when complete: no half-shifted category
        shutil.rmtree(partial, ignore_errors=True)
        try:
            for sample in tqdm(samples, desc=f"shift {category}", unit="img", disable=None if progress else True, leave=False):
                _write(shift_sample(sample, corruption, preset, severity, seed), partial)
            shutil.rmtree(out / category, ignore_errors=True)  # only an empty folder can be here (checked above)
            os.replace(partial, out / category)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        if splits and category in splits:
            mirror_split(Split.load(splits[category])).save(out / f"{category}.split.json")
    record = {
        "source": str(Path(data).resolve()),
        "categories": chosen,
        "corruption": corruption,
        "preset": preset,
        "severity": severity if preset is None else None,
        "seed": seed,
        "good_folder": GOOD,
        "defectlab": __version__,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    atomic_write_text(out / "shift.json", json.dumps(record, indent=2) + "\n")
    return out
