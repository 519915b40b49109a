"""FAD, FAD-infinity and paired KL: self-distance 0, Gaussian closed form, the frechet-audio-distance package's formula."""

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from musiscene_core.metrics.audio import embedding_statistics, fad, fad_infinity, frechet_distance, kl_divergence, paired_kl

REPO = Path(__file__).resolve().parents[2]
RUNNER = Path(__file__).with_name("fad_package_runner.py")


def _gaussian(n, mean, cov, seed):
    return np.random.default_rng(seed).multivariate_normal(mean, cov, size=n)


def test_fad_of_a_set_against_itself_is_zero():
    frames = np.random.default_rng(0).standard_normal((400, 16))
    assert abs(fad(frames, frames)) < 1e-8


def test_frechet_distance_equals_the_gaussian_closed_form():
    # Commuting covariances (both diagonal): ||mu1-mu2||^2 + sum (sqrt(a) - sqrt(b))^2.
    mu1, mu2 = np.array([0.0, 1.0, -2.0]), np.array([1.0, 1.5, 0.0])
    a, b = np.array([1.0, 4.0, 0.25]), np.array([2.0, 1.0, 1.0])
    want = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(want, rel=1e-10)
    # Full covariances: W2^2 = ||dmu||^2 + Tr(S1 + S2 - 2 (S2^1/2 S1 S2^1/2)^1/2), computed with eigendecompositions.
    rng = np.random.default_rng(1)
    m1, m2 = rng.standard_normal((4, 4)), rng.standard_normal((4, 4))
    s1, s2 = m1 @ m1.T + np.eye(4), m2 @ m2.T + np.eye(4)

    def psd_sqrt(s):
        w, v = np.linalg.eigh(s)
        return v @ np.diag(np.sqrt(np.clip(w, 0, None))) @ v.T

    r2 = psd_sqrt(s2)
    shift = rng.standard_normal(4)
    want = shift @ shift + np.trace(s1 + s2 - 2 * psd_sqrt(r2 @ s1 @ r2))
    assert frechet_distance(shift, s1, np.zeros(4), s2) == pytest.approx(want, rel=1e-8)


def test_fad_of_two_gaussian_samples_approaches_the_closed_form():
    mean1, mean2 = np.zeros(3), np.array([1.0, 0.0, 2.0])
    cov1, cov2 = np.diag([1.0, 2.0, 0.5]), np.diag([1.0, 0.5, 0.5])
    closed = np.sum((mean1 - mean2) ** 2) + np.sum((np.sqrt(np.diag(cov1)) - np.sqrt(np.diag(cov2))) ** 2)
    got = fad(_gaussian(20000, mean1, cov1, 2), _gaussian(20000, mean2, cov2, 3))
    assert got == pytest.approx(closed, rel=0.03)


def test_fad_infinity_removes_the_sample_size_bias():
    # Same distribution: FAD of n samples is biased upwards (~ c/n); the extrapolation to 1/n = 0 is near 0.
    gen, ref = _gaussian(3000, np.zeros(8), np.eye(8), 4), _gaussian(20000, np.zeros(8), np.eye(8), 5)
    result = fad_infinity(gen, ref, steps=10, min_n=300, seed=0)
    biased = result.points[0][1]
    assert abs(result.value) < biased / 3
    assert result.r2 > 0.5 and [n for n, _ in result.points][0] == 300 and result.points[-1][0] == 3000


def test_kl_of_identical_distributions_is_zero_and_follows_audiocraft():
    p = np.random.default_rng(6).dirichlet(np.ones(10), size=5)
    np.testing.assert_allclose(kl_divergence(p, p), -np.sum(p * np.log1p(1e-6 / p), axis=-1), atol=1e-12)
    assert np.abs(kl_divergence(p, p)).max() < 1e-4
    result = paired_kl([(p, p), (p[:2], p[:3])])
    assert abs(result.kl) < 1e-4 and abs(result.kl_reverse) < 1e-4 and result.per_pair[1][2] == 2
    # Against torch's kl_div as audiocraft calls it.
    import torch

    q = np.random.default_rng(7).dirichlet(np.ones(10), size=5)
    want = torch.nn.functional.kl_div(torch.from_numpy(q + 1e-6).log(), torch.from_numpy(p), reduction="none").sum(-1).numpy()
    np.testing.assert_allclose(kl_divergence(q, p), want, rtol=1e-10)
    assert paired_kl([(q, p)]).kl == pytest.approx(want.mean())


def test_frechet_distance_equals_the_frechet_audio_distance_package(tmp_path):
    """The package's own calculate_frechet_distance, run in its own environment (numpy<2) built by `make setup`."""
    python = REPO / ".venv-fad" / "bin" / "python"
    if not python.exists():
        subprocess.run(["make", "-C", str(REPO), "fad-venv"], check=True)
    rng = np.random.default_rng(8)
    cases = {
        "well_conditioned": (rng.standard_normal((300, 12)), rng.standard_normal((250, 12)) * 1.3 + 0.2),
        "singular": (rng.standard_normal((6, 12)), rng.standard_normal((7, 12))),  # fewer frames than dims
    }
    stats = {}
    for name, (a, b) in cases.items():
        (mu1, s1), (mu2, s2) = embedding_statistics(a), embedding_statistics(b)
        stats[name] = (mu1, s1, mu2, s2)
        np.savez(tmp_path / f"{name}.npz", mu1=mu1, sigma1=s1, mu2=mu2, sigma2=s2)
    out = subprocess.run(
        [str(python), str(RUNNER), *[str(tmp_path / f"{n}.npz") for n in cases]],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    theirs = json.loads(out.stdout.strip().splitlines()[-1])
    for name, values in stats.items():
        assert frechet_distance(*values) == pytest.approx(theirs[name], rel=1e-9, abs=1e-9), name
