"""Background-music metrics: Fréchet Audio Distance, FAD-infinity and paired KL divergence of classifier labels.

- FAD: the Fréchet distance between Gaussians fitted to embedding frames of the generated and the reference
  sets, ||mu_g - mu_r||^2 + Tr(S_g + S_r - 2 (S_g S_r)^1/2), the formula of the frechet-audio-distance
  package (same matrix square root, same fallback: eps on the diagonals when the product is singular).
- FAD-infinity (fadtk): FAD is biased by the number of generated frames n. fadtk draws n frames with
  replacement for n evenly spaced from `min_n` to all frames, fits FAD against 1/n with a line and reports the
  intercept (the FAD of infinitely many frames) with the fit's R^2.
- KL (audiocraft's KLDivergenceMetric): per clip pair, softmax label distributions of an AudioSet classifier on
  aligned segments, KL(reference || generated) = sum p_ref * (log p_ref - log(p_gen + 1e-6)), averaged over all
  segment pairs; the reverse direction and their sum are reported too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import linalg

KL_EPSILON = 1e-6


def embedding_statistics(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (unbiased) covariance of embedding frames [n, dim]."""
    frames = np.asarray(frames, dtype=np.float64)
    if frames.ndim != 2 or frames.shape[0] < 2:
        raise ValueError(f"need at least two embedding frames as an [n, dim] array, got shape {frames.shape}")
    return frames.mean(axis=0), np.cov(frames, rowvar=False)


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray, eps: float = 1e-6) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2)."""
    mu1, mu2 = np.atleast_1d(mu1), np.atleast_1d(mu2)
    sigma1, sigma2 = np.atleast_2d(sigma1), np.atleast_2d(sigma2)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise ValueError(f"the two sets have different embedding sizes ({mu1.shape[0]} vs {mu2.shape[0]})")
    root = linalg.sqrtm(sigma1.dot(sigma2).astype(complex))
    if not np.isfinite(root).all():
        # A singular product (fewer frames than dimensions): regularise both covariances slightly.
        offset = np.eye(sigma1.shape[0]) * eps
        root = linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset).astype(complex))
    if np.iscomplexobj(root):
        if not np.allclose(np.diagonal(root).imag, 0, atol=1e-3):
            raise ValueError(f"the covariance square root has an imaginary part of {np.max(np.abs(root.imag)):.3g}")
        root = root.real
    diff = mu1 - mu2
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(root))


def fad(generated: np.ndarray, reference: np.ndarray) -> float:
    """FAD between two sets of embedding frames ([n, dim] each)."""
    return frechet_distance(*embedding_statistics(generated), *embedding_statistics(reference))


@dataclass(frozen=True)
class FadInfinity:
    value: float
    r2: float
    points: list[tuple[int, float]]  # (n, FAD of n frames drawn with replacement)


def fad_infinity(generated: np.ndarray, reference: np.ndarray, steps: int = 25, min_n: int = 500, seed: int = 0) -> FadInfinity:
    """fadtk's FAD-inf: extrapolate FAD of n generated frames to n -> infinity by a linear fit in 1/n."""
    generated = np.asarray(generated, dtype=np.float64)
    total = generated.shape[0]
    # fadtk starts at 500 frames; a smaller set starts at half its size so the fit still spans a range of n.
    low = min(min_n, max(2, total // 2))
    ns = [int(n) for n in np.linspace(low, total, steps)]
    mu_ref, sigma_ref = embedding_statistics(reference)
    rng = np.random.default_rng(seed)
    points = []
    for n in ns:
        sample = generated[rng.choice(total, size=n, replace=True)]
        points.append((n, frechet_distance(*embedding_statistics(sample), mu_ref, sigma_ref)))
    xs = 1.0 / np.array(ns, dtype=np.float64)
    ys = np.array([score for _, score in points])
    slope, intercept = np.polyfit(xs, ys, 1)
    residual = np.sum((ys - (slope * xs + intercept)) ** 2)
    spread = np.sum((ys - ys.mean()) ** 2)
    return FadInfinity(float(intercept), float(1 - residual / spread) if spread > 0 else 1.0, points)


def kl_divergence(p_generated: np.ndarray, p_reference: np.ndarray, epsilon: float = KL_EPSILON) -> np.ndarray:
    """Per row: KL(reference || generated) with `epsilon` added to the generated probabilities (audiocraft's form)."""
    p_generated = np.asarray(p_generated, dtype=np.float64)
    p_reference = np.asarray(p_reference, dtype=np.float64)
    if p_generated.shape != p_reference.shape:
        raise ValueError(f"label distributions differ in shape: {p_generated.shape} vs {p_reference.shape}")
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p_reference > 0, p_reference * (np.log(p_reference) - np.log(p_generated + epsilon)), 0.0)
    return terms.sum(axis=-1)


@dataclass(frozen=True)
class PairedKl:
    kl: float  # KL(reference || generated), audiocraft's 'kld'
    kl_reverse: float  # KL(generated || reference), 'kld_qp'
    per_pair: list[tuple[float, float, int]]  # (kl, reverse, segments) per clip pair

    @property
    def kl_both(self) -> float:
        return self.kl + self.kl_reverse


def paired_kl(pairs: list[tuple[np.ndarray, np.ndarray]]) -> PairedKl:
    """KL over clip pairs, each a (generated [segments, labels], reference [segments, labels]) pair of softmax
    distributions; aligned segments are compared, extra segments of the longer clip ignored; means over segments."""
    forward_sum = reverse_sum = 0.0
    weight = 0
    rows = []
    for generated, reference in pairs:
        n = min(len(generated), len(reference))
        if n == 0:
            raise ValueError("a clip pair has no classifier segment")
        forward = kl_divergence(generated[:n], reference[:n])
        reverse = kl_divergence(reference[:n], generated[:n])
        forward_sum, reverse_sum, weight = forward_sum + forward.sum(), reverse_sum + reverse.sum(), weight + n
        rows.append((float(forward.mean()), float(reverse.mean()), n))
    if weight == 0:
        raise ValueError("no clip pairs to compare")
    return PairedKl(forward_sum / weight, reverse_sum / weight, rows)
