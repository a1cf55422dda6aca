"""Covariance spectra of Gaussian inputs (config.Spectrum), explicit or blocked for Gram sampling.

Eigenvalues are indexed k = 1..d. power_law: lambda_k = c k^-exponent with c such that
tr Sigma = d. spiked: the spikes, then 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from iblab.config import ConfigError, Spectrum

_DIRECT_TERMS = 100_000  # power sums longer than this use Euler-Maclaurin for the rest
BLOCK_SPREAD = 1.05  # max ratio of the largest to the smallest eigenvalue in a tail block


def power_sum(s: float, lo: int, hi: int) -> float:
    """`sum_{k=lo}^{hi} k^-s`, to double precision for any length.

    The first 10^5 terms are summed directly, the rest by Euler-Maclaurin up to the f'''
    term, whose remainder is below 1e-20 relative there.

    Args:
        s: The exponent.
        lo: First index (>= 1).
        hi: Last index, included.

    Returns:
        The sum; 0 when hi < lo.
    """
    if hi < lo:
        return 0.0
    mid = min(hi, lo + _DIRECT_TERMS - 1)
    total = float(np.sum(np.arange(lo, mid + 1, dtype=np.float64) ** -s))
    if mid == hi:
        return total
    a, b = float(mid + 1), float(hi)
    log_ratio = math.log(b / a)
    if s == 1.0:
        integral = log_ratio
    else:
        integral = a ** (1.0 - s) * math.expm1((1.0 - s) * log_ratio) / (1.0 - s)
    f = lambda x: x**-s  # noqa: E731
    f1 = lambda x: -s * x ** (-s - 1.0)  # noqa: E731
    f3 = lambda x: -s * (s + 1.0) * (s + 2.0) * x ** (-s - 3.0)  # noqa: E731
    em = (f(a) + f(b)) / 2.0 + (f1(b) - f1(a)) / 12.0 - (f3(b) - f3(a)) / 720.0
    return total + integral + em


def _check_spikes(spectrum: Spectrum, d: int) -> None:
    if spectrum.kind == "spiked" and len(spectrum.spikes) > d:
        raise ConfigError(f"data.spectrum.spikes: {len(spectrum.spikes)} spikes given for d = {d}")


def _power_law_scale(exponent: float, d: int) -> float:
    return d / power_sum(exponent, 1, d)


def eigenvalues(spectrum: Spectrum, d: int) -> np.ndarray:
    """The eigenvalues lambda_1..lambda_d of a spectrum.

    Args:
        spectrum: The spectrum config.
        d: Input dimension.

    Returns:
        The eigenvalues (d,), in coordinate order (a power law's decrease).

    Raises:
        ConfigError: A spiked spectrum has more spikes than d.
    """
    _check_spikes(spectrum, d)
    if spectrum.kind == "isotropic":
        return np.ones(d)
    if spectrum.kind == "spiked":
        lam = np.ones(d)
        lam[: len(spectrum.spikes)] = spectrum.spikes
        return lam
    k = np.arange(1, d + 1, dtype=np.float64)
    return _power_law_scale(spectrum.exponent, d) * k**-spectrum.exponent


def traces(spectrum: Spectrum, d: int) -> tuple[float, float]:
    """(tr Sigma, tr Sigma^2), at a cost independent of d."""
    _check_spikes(spectrum, d)
    if spectrum.kind == "isotropic":
        return float(d), float(d)
    if spectrum.kind == "spiked":
        s = np.asarray(spectrum.spikes, dtype=np.float64)
        rest = d - s.size
        return float(s.sum() + rest), float((s**2).sum() + rest)
    c = _power_law_scale(spectrum.exponent, d)
    return float(d), float(c**2 * power_sum(2.0 * spectrum.exponent, 1, d))


@dataclass(frozen=True)
class BlockSpectrum:
    """A spectrum as explicit head coordinates plus isotropic blocks.

    Attributes:
        head: Eigenvalues (h,) of the coordinates sampled explicitly.
        block_dims: Dimension of each isotropic block (B,).
        block_eigs: Common eigenvalue of each isotropic block (B,).
    """

    head: np.ndarray
    block_dims: np.ndarray
    block_eigs: np.ndarray


def block_spectrum(spectrum: Spectrum, d: int, n_rows: int) -> BlockSpectrum:
    """The spectrum as explicit head plus isotropic blocks, for Gram sampling.

    isotropic: one block of dimension d. spiked: the spikes as head, one block of d - s ones.
    power_law (an approximation): the first min(d, max(2 n_rows, 100)) eigenvalues as head,
    the tail cut into consecutive blocks [k, k'] with (k'/k)^exponent <= 1.05 (blocks of
    relative width ~5 % / exponent), each carrying its mean eigenvalue: tr Sigma = d is kept
    exactly and no eigenvalue moves by more than 5 %.

    Args:
        spectrum: The spectrum config.
        d: Input dimension.
        n_rows: Number of inputs to be sampled (sets a power law's head).

    Returns:
        The BlockSpectrum.

    Raises:
        ConfigError: A spiked spectrum has more spikes than d.
    """
    _check_spikes(spectrum, d)
    if spectrum.kind == "isotropic":
        return BlockSpectrum(np.zeros(0), np.array([d]), np.ones(1))
    if spectrum.kind == "spiked":
        head = np.asarray(spectrum.spikes, dtype=np.float64)
        return BlockSpectrum(head, np.array([d - head.size]), np.ones(1))
    s = spectrum.exponent
    c = _power_law_scale(s, d)
    h = min(d, max(2 * n_rows, 100))
    head = c * np.arange(1, h + 1, dtype=np.float64) ** -s
    dims, eigs = [], []
    growth = BLOCK_SPREAD ** (1.0 / s) if s > 0 else math.inf
    lo = h + 1
    while lo <= d:
        hi = d if math.isinf(growth) else min(d, max(lo, math.floor(lo * growth)))
        dims.append(hi - lo + 1)
        eigs.append(c * power_sum(s, lo, hi) / (hi - lo + 1))
        lo = hi + 1
    return BlockSpectrum(head, np.array(dims, dtype=np.int64), np.array(eigs, dtype=np.float64))
