"""Photo-like pictures of Fashion-MNIST images: a garment on a real-looking background, lit and shot
by a phone camera. Used by ``bench_photos.py`` (the benchmark) and ``tests/test_photos.py``.

A Fashion-MNIST image is the negative of a product photo on white: a pixel's value says how much the
product stands out of its background there. A scene keeps that meaning: the garment is dyed one
colour and stands out of the (new) background by an amount proportional to the pixel value, darker
than a light background or lighter than a dark one. Then the whole picture is lit (vignette,
directional shadow, uneven light) and shot (rotation, perspective, blur, noise, JPEG).
Everything is drawn from the ``numpy.random.Generator`` passed in, so a seed fixes the set.
"""

from __future__ import annotations

import io

import cv2
import numpy as np
from PIL import Image

FAMILIES = ("paper", "fabric", "wood", "studio", "gradient")
W, H = 480, 360


def _smooth_noise(rng, h, w, scale, amp):
    """Low-frequency mottling: white noise blurred at ``scale`` px, unit spread times ``amp``."""
    n = cv2.GaussianBlur(rng.standard_normal((h, w)).astype(np.float32), (0, 0), scale)
    return n / (n.std() + 1e-6) * amp


def background(family: str, rng, h: int = H, w: int = W) -> np.ndarray:
    """float32 (h, w, 3) RGB in 0-255 for one background family."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    if family == "paper":  # off-white or tinted paper with fine grain and mottling
        base = np.array([rng.uniform(200, 250)] * 3) * rng.uniform(0.92, 1.0, 3)
        tex = rng.normal(0, 2.5, (h, w)) + _smooth_noise(rng, h, w, 25, 4)
    elif family == "fabric":  # a dyed cloth, light or dark, with a weave
        base = rng.uniform(30, 230) * _tint(rng, 0.5)
        period = rng.uniform(3, 7)
        tex = 6 * np.sin(xx * 2 * np.pi / period) * np.sin(yy * 2 * np.pi / period) + rng.normal(0, 3, (h, w))
    elif family == "wood":  # brown boards with grain along one axis
        base = rng.uniform(70, 190) * np.array([1.15, 0.9, 0.62])
        across = yy if rng.random() < 0.5 else xx
        tex = 10 * np.sin(across * rng.uniform(0.05, 0.15) + _smooth_noise(rng, h, w, 30, 2)) + _smooth_noise(
            rng, h, w, 2, 3
        )
    elif family == "studio":  # grey seamless paper, any level from dark to light
        base = np.array([rng.uniform(40, 220)] * 3)
        tex = rng.normal(0, 1.5, (h, w))
    else:  # a two-colour gradient
        a, b = rng.uniform(40, 245) * _tint(rng, 0.3), rng.uniform(40, 245) * _tint(rng, 0.3)
        angle = rng.uniform(0, 2 * np.pi)
        t = np.cos(angle) * xx / w + np.sin(angle) * yy / h
        t = (t - t.min()) / (t.max() - t.min() + 1e-6)
        return (a[None, None] * (1 - t[..., None]) + b[None, None] * t[..., None]).astype(np.float32)
    return np.clip(base[None, None] + tex[..., None], 0, 255).astype(np.float32)


def _tint(rng, saturation: float) -> np.ndarray:
    """An RGB multiplier of luminance ~1 and a random hue."""
    c = 1 + saturation * rng.uniform(-1, 1, 3)
    return c / (c @ np.array([0.299, 0.587, 0.114]))


def place(
    img28: np.ndarray,
    bg: np.ndarray,
    rng,
    size: float | None = None,
    centre=None,
    lighter: bool | None = None,
    depth: float | None = None,
) -> np.ndarray:
    """Lay the garment on ``bg``: dyed, standing out by ``depth`` of the available range, with a soft
    contact shadow. ``size`` is its side as a share of the shorter side; ``centre`` (x, y) in pixels."""
    h, w = bg.shape[:2]
    side = int(round((size or rng.uniform(0.45, 0.85)) * min(h, w)))
    s = np.asarray(Image.fromarray(img28).resize((side, side), Image.Resampling.BICUBIC), np.float32) / 255
    s = np.clip(s, 0, 1)
    alpha = np.clip(s * 3, 0, 1)
    cx, cy = centre or (rng.uniform(side / 2, w - side / 2), rng.uniform(side / 2, h - side / 2))
    top, left = int(round(cy - side / 2)), int(round(cx - side / 2))
    full_a = np.zeros((h, w), np.float32)
    full_s = np.zeros((h, w), np.float32)
    t0, l0 = max(top, 0), max(left, 0)
    t1, l1 = min(top + side, h), min(left + side, w)
    full_a[t0:t1, l0:l1] = alpha[t0 - top : t1 - top, l0 - left : l1 - left]
    full_s[t0:t1, l0:l1] = s[t0 - top : t1 - top, l0 - left : l1 - left]
    lum = float(np.median(bg @ np.array([0.299, 0.587, 0.114], np.float32)))
    if lighter is None:
        lighter = lum < 90 or (lum < 150 and rng.random() < 0.5)
    depth = depth or rng.uniform(0.5, 0.9)
    shadow = cv2.GaussianBlur(np.roll(full_a, (side // 40 + 2, side // 40 + 2), axis=(0, 1)), (0, 0), side / 40)
    out = bg * (1 - 0.25 * shadow[..., None])
    if lighter:
        g = lum + (250 - lum) * depth * full_s
    else:
        g = lum * (1 - depth * full_s)
    garment = g[..., None] * _tint(rng, rng.uniform(0, 0.6))[None, None]
    return out * (1 - full_a[..., None]) + garment * full_a[..., None]


def light(img: np.ndarray, rng) -> np.ndarray:
    """Vignette, uneven light (a tilted plane) and a soft directional shadow across part of the frame."""
    h, w = img.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r2 = ((xx - w / 2) / (w / 2)) ** 2 + ((yy - h / 2) / (h / 2)) ** 2
    gain = 1 - rng.uniform(0, 0.25) * r2
    angle = rng.uniform(0, 2 * np.pi)
    plane = np.cos(angle) * (xx / w - 0.5) + np.sin(angle) * (yy / h - 0.5)
    gain *= 1 + rng.uniform(0, 0.3) * plane
    if rng.random() < 0.4:  # a shadow cast by something outside the frame, with a soft edge
        edge = np.cos(angle + 1.3) * (xx - w * rng.uniform(0.1, 0.3)) + np.sin(angle + 1.3) * (yy - h * 0.2)
        gain *= 1 - rng.uniform(0.1, 0.22) / (1 + np.exp(-edge / rng.uniform(15, 40)))
    return img * gain[..., None]


def clutter(img: np.ndarray, rng) -> np.ndarray:
    """A table edge or similar: a band of another colour along one side of the frame."""
    h, w = img.shape[:2]
    out = img.copy()
    k = int(rng.uniform(0.04, 0.08) * min(h, w))
    colour = rng.uniform(20, 235) * _tint(rng, 0.4)
    side = rng.integers(4)
    region = (np.s_[:k], np.s_[-k:], np.s_[:, :k], np.s_[:, -k:])[side]
    out[region] = colour
    return out


def shoot(img: np.ndarray, rng, quality: int | None = None) -> bytes:
    """Camera: small rotation and perspective, blur, noise, then JPEG bytes."""
    h, w = img.shape[:2]
    rot = cv2.getRotationMatrix2D((w / 2, h / 2), rng.uniform(-4, 4), 1.0)
    img = cv2.warpAffine(img, rot, (w, h), borderMode=cv2.BORDER_REFLECT)
    jitter = rng.uniform(-0.025, 0.025, (4, 2)) * [w, h]
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    img = cv2.warpPerspective(
        img, cv2.getPerspectiveTransform(src, np.float32(src + jitter)), (w, h), borderMode=cv2.BORDER_REFLECT
    )
    if rng.random() < 0.6:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.3, 1.2))
    img = img + rng.normal(0, rng.uniform(1, 7), img.shape)
    buf = io.BytesIO()
    Image.fromarray(np.clip(np.rint(img), 0, 255).astype(np.uint8), "RGB").save(
        buf, format="JPEG", quality=int(quality or rng.integers(30, 91))
    )
    return buf.getvalue()


def scene(img28: np.ndarray, family: str, rng) -> bytes:
    """One photo-like JPEG of a Fashion-MNIST image on a background of ``family``."""
    pic = place(img28, background(family, rng), rng)
    if rng.random() < 0.15:
        pic = clutter(pic, rng)
    return shoot(light(pic, rng), rng)


def shoe_on_grey(img28: np.ndarray, seed: int = 0) -> bytes:
    """The issue's example: a brown shoe on grey, vignetted, noisy paper, 480x360 JPEG."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    r2 = ((xx - W / 2) / (W / 2)) ** 2 + ((yy - H / 2) / (H / 2)) ** 2
    grey = (128 * (1 - 0.3 * r2))[..., None] * np.ones(3, np.float32)
    s = np.asarray(Image.fromarray(img28).resize((300, 300), Image.Resampling.BICUBIC), np.float32) / 255
    a = np.clip(s * 3, 0, 1)[..., None]
    brown = np.array([120, 75, 40], np.float32) * (0.6 + 0.4 * s[..., None])
    pic = grey.copy()
    pic[30:330, 90:390] = pic[30:330, 90:390] * (1 - a) + brown * a
    pic = pic + rng.normal(0, 8, pic.shape)
    buf = io.BytesIO()
    Image.fromarray(np.clip(np.rint(pic), 0, 255).astype(np.uint8), "RGB").save(buf, format="JPEG", quality=70)
    return buf.getvalue()
