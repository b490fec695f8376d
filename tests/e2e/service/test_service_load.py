"""A bounded load test against the real server on loopback: 4 concurrent clients x 200 requests,
plus bad requests mixed in; zero errors, every answer the one the image gets alone, and the server
stays up."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from _service_data import png_bytes, textured

from defectlab.serve.process import running_server

CLIENTS = 4
REQUESTS = 200


def test_four_clients_two_hundred_requests_each_without_error(detector_bundle: Path) -> None:
    images = [png_bytes(textured(300 + i, spot=i % 3 == 0)) for i in range(8)]

    with running_server("serve", detector_bundle, "--no-ui", "--workers", "2", "--threads", "1") as base:
        expected = [httpx.post(base + "/v1/predict", files={"file": ("x.png", data)}).json()["score"] for data in images]

        def client(seed: int) -> list[str]:
            problems = []
            with httpx.Client(base_url=base, timeout=60.0) as http:
                for n in range(REQUESTS):
                    k = (seed + n) % len(images)
                    response = http.post("/v1/predict", files={"file": (f"{k}.png", images[k], "image/png")})
                    if response.status_code != 200:
                        problems.append(f"{response.status_code} {response.text[:200]}")
                    elif abs(response.json()["score"] - expected[k]) > 1e-4 * abs(expected[k]):
                        problems.append(f"image {k} scored {response.json()['score']} under load, {expected[k]} alone")
                    if n % 50 == 0:  # bad input mixed in: answered 400, never a failure of the others
                        bad = http.post("/v1/predict", files={"file": ("junk.png", b"junk" * n, "image/png")})
                        if bad.status_code != 400:
                            problems.append(f"junk upload gave {bad.status_code}")
            return problems

        with ThreadPoolExecutor(CLIENTS) as pool:
            problems = [p for result in pool.map(client, range(CLIENTS)) for p in result]
        assert problems == []
        assert httpx.get(base + "/health").json()["status"] == "ok"
