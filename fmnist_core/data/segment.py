"""Finding the garment in a photo: a background model, a mask, and which way round the object is.

Hand-written brightness thresholds failed on phone photos (a brown shoe on grey, vignetted, noisy
paper was "already dark" and came out black), so the decision is made from the picture itself:

  1. the background is modelled as a smooth surface (a quadratic in x and y) fitted robustly to the
     outer ring, per channel of CIELAB, so lighting gradients and vignetting belong to the background;
  2. every pixel's colour distance from that surface is thresholded above the ring's own noise level
     (JPEG noise, sensor noise) and by Otsu's method (OpenCV), then cleaned with OpenCV morphology
     and hole filling; of the connected parts, the one that is large and central wins over strips
     along the frame (a table edge, a hand);
  3. OpenCV's GrabCut, initialised from that mask and from the border, refines the outline where
     the contrast is low (a black shoe on dark grey);
  4. the object is "light on dark" when its median brightness is above that of the ring around it,
     whatever the picture's overall brightness.

Work happens on a copy at most ``SEG_SIDE`` pixels on its longer side (the result is 28 px); the
mask is returned at that size and scaled up by the caller. No weights are downloaded: OpenCV's
classical algorithms only.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy import ndimage

SEG_SIDE = 256  # segmentation size: plenty for a 28 px result, GrabCut stays fast
MIN_CONTRAST = 6.0  # CIELAB distance (8-bit units) below which nothing is separable from the background


@dataclass(frozen=True)
class Segmentation:
    """Where the object is and how it stands out.

    mask : float32 (h, w) in [0, 1] at the segmentation size; all ones for a clean digital picture.
    light_object : the object is lighter than its surround (kept as is), else it is inverted.
    separable : False when nothing stood out of the background's noise (the mask is then a guess).
    clean : the border is perfectly flat (a drawing, a scan, a rendered image): no masking needed.
    """

    mask: np.ndarray
    light_object: bool
    separable: bool
    clean: bool


def background_surface(work: np.ndarray, ring_share: float = 0.05, max_points: int = 4000) -> np.ndarray:
    """float32 (h, w): a quadratic surface a + b*u + c*v + d*u^2 + e*u*v + f*v^2 fitted to the border.

    The fit uses the outer ring (``ring_share`` of the side, at least 1 px) and is robust: three
    rounds of least squares, each dropping ring pixels more than 3 robust standard deviations
    (and 4 grey levels) from the surface, so a garment that touches the edge does not drag it.
    A quadratic follows a lighting gradient and a radial vignette (u^2 + v^2) but is too stiff
    to follow a garment. A flat border gives a (1, 1) constant surface.
    """
    h, w = work.shape
    k = max(1, round(ring_share * min(h, w)))
    ring = np.zeros((h, w), bool)
    ring[:k], ring[-k:], ring[:, :k], ring[:, -k:] = True, True, True, True
    rows, cols = np.nonzero(ring)
    if rows.size > max_points:  # an even subsample is plenty for 6 coefficients
        step = rows.size // max_points + 1
        rows, cols = rows[::step], cols[::step]
    vals = work[rows, cols].astype(np.float64)
    if vals.max() - vals.min() <= 2:  # a flat border (a drawing on black, a scan): a constant surface
        return np.full((1, 1), np.median(vals), np.float32)

    def design(r, c):
        u, v = c / max(w - 1, 1) - 0.5, r / max(h - 1, 1) - 0.5
        return np.stack([np.ones_like(u), u, v, u * u, u * v, v * v], axis=-1)

    a = design(rows.astype(np.float64), cols.astype(np.float64))
    keep = np.ones(vals.size, bool)
    coef = np.zeros(6)
    for _ in range(3):
        if keep.sum() < 6:
            break
        coef = np.linalg.lstsq(a[keep], vals[keep], rcond=None)[0]
        resid = vals - a @ coef
        mad = np.median(np.abs(resid[keep] - np.median(resid[keep])))
        keep = np.abs(resid) <= max(3 * 1.4826 * mad, 4.0)
    if np.allclose(coef, 0):
        return np.zeros((h, w), np.float32)
    rr, cc = np.mgrid[0:h, 0:w].astype(np.float32)
    u, v = cc / max(w - 1, 1) - 0.5, rr / max(h - 1, 1) - 0.5
    c0, c1, c2, c3, c4, c5 = (np.float32(t) for t in coef)
    return c0 + c1 * u + c2 * v + c3 * u * u + c4 * u * v + c5 * v * v


def _ring(shape: tuple[int, int], share: float = 0.05) -> np.ndarray:
    h, w = shape
    k = max(1, round(share * min(h, w)))
    ring = np.zeros((h, w), bool)
    ring[:k], ring[-k:], ring[:, :k], ring[:, -k:] = True, True, True, True
    return ring


def segment(rgb: np.ndarray) -> Segmentation:
    """uint8 (h, w, 3) picture -> its ``Segmentation`` at most SEG_SIDE on the longer side."""
    h, w = rgb.shape[:2]
    scale = min(1.0, SEG_SIDE / max(h, w))
    small = (
        rgb
        if scale == 1.0
        else cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    )
    lab = cv2.cvtColor(np.ascontiguousarray(small), cv2.COLOR_RGB2LAB).astype(np.float32)
    surfaces = [background_surface(lab[..., i]) for i in range(3)]
    if all(s.size == 1 for s in surfaces):  # flat border: a digital image, every differing pixel counts
        diff = np.sqrt(sum((lab[..., i] - surfaces[i]) ** 2 for i in range(3)))
        mask = diff > 0
        return Segmentation(
            np.ones(small.shape[:2], np.float32), _lighter(lab[..., 0], mask), bool(mask.any()), clean=True
        )

    # Denoise before measuring distances: JPEG blocks and sensor noise are a pixel or two wide.
    blurred = cv2.GaussianBlur(lab, (0, 0), sigmaX=max(0.8, min(small.shape[:2]) / 200))
    dist = np.sqrt(sum((blurred[..., i] - surfaces[i]) ** 2 for i in range(3)))
    ring = _ring(dist.shape)
    ring_vals = dist[ring]
    med = float(np.median(ring_vals))
    noise = med + 4 * 1.4826 * float(np.median(np.abs(ring_vals - med))) + 2.0
    top = float(np.percentile(dist, 99.5))
    separable = top > max(noise, MIN_CONTRAST) * 1.5
    scaled = np.clip(dist * (255.0 / max(top, 1e-3)), 0, 255).astype(np.uint8)
    otsu = cv2.threshold(scaled, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)[0] * top / 255.0
    threshold = max(noise, MIN_CONTRAST, 0.45 * otsu)
    mask = _clean(dist > threshold)
    if mask.any() and separable:
        mask = _grabcut(small, mask, ring)
    if not mask.any():  # nothing found: keep the frame, the input checks will say so
        return Segmentation(np.ones(dist.shape, np.float32), _lighter(lab[..., 0], dist > noise), False, clean=False)
    return Segmentation(mask.astype(np.float32), _lighter(lab[..., 0], mask), separable, clean=False)


def _clean(mask: np.ndarray) -> np.ndarray:
    """Open (drop specks), close (bridge seams), fill holes, then keep the garment's parts."""
    side = min(mask.shape)
    k = max(3, (side // 64) | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    m = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, kernel)
    m = cv2.morphologyEx(m, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k + 1, 2 * k + 1)))
    m = ndimage.binary_fill_holes(m > 0)
    return _main_parts(m)


def _main_parts(mask: np.ndarray) -> np.ndarray:
    """Keep the large, central connected parts; strips along the frame (a table edge) score low."""
    n, labels, stats, centroids = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if n <= 2:
        return mask
    h, w = mask.shape
    scores = np.zeros(n)
    for i in range(1, n):
        x, y, bw, bh, area = stats[i]
        touches = (x == 0) + (y == 0) + (x + bw == w) + (y + bh == h)
        off = np.hypot((centroids[i][0] - w / 2) / w, (centroids[i][1] - h / 2) / h)  # 0 centre, ~0.7 corner
        scores[i] = area * (1 - 0.2 * touches) * (1 - off)
    best = scores.max()
    keep = np.flatnonzero(scores >= 0.25 * best)
    return np.isin(labels, keep[keep > 0])


def _grabcut(small: np.ndarray, mask: np.ndarray, ring: np.ndarray, iterations: int = 3) -> np.ndarray:
    """Refine ``mask`` with GrabCut: its pixels probably foreground, the rest probably background, the
    frame's ring (away from the object) surely background. Falls back to ``mask`` when GrabCut's answer
    is implausible (it vanished or swallowed the frame)."""
    gc = np.where(mask, cv2.GC_PR_FGD, cv2.GC_PR_BGD).astype(np.uint8)
    core = cv2.erode(mask.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    gc[core & (ndimage.distance_transform_edt(core) > 3)] = cv2.GC_FGD
    far = ~(cv2.dilate(mask.astype(np.uint8), np.ones((15, 15), np.uint8)) > 0)
    gc[ring & far] = cv2.GC_BGD
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    # GrabCut seeds its colour mixtures from OpenCV's (per-thread) random generator: without a fixed seed
    # the same photo gave a different 28x28 input on each call (321 of 784 pixels apart).
    cv2.setRNGSeed(0)
    try:
        cv2.grabCut(np.ascontiguousarray(small), gc, None, bgd, fgd, iterations, cv2.GC_INIT_WITH_MASK)
    except cv2.error:  # e.g. a colour class with too few pixels to fit its mixture
        return mask
    refined = (gc == cv2.GC_FGD) | (gc == cv2.GC_PR_FGD)
    refined = ndimage.binary_fill_holes(refined)
    if not 0.6 * mask.sum() <= refined.sum() <= 1.6 * mask.sum():
        return mask
    return _main_parts(refined)


def _lighter(lightness: np.ndarray, mask: np.ndarray) -> bool:
    """The object is lighter than its surround: its median L above that of a band around it."""
    if not mask.any():
        return False
    band = max(3, min(mask.shape) // 20)
    around = (cv2.dilate(mask.astype(np.uint8), np.ones((band, band), np.uint8)) > 0) & ~mask
    if not around.any():
        around = ~mask if (~mask).any() else _ring(mask.shape)
    return bool(np.median(lightness[mask]) > np.median(lightness[around]))
