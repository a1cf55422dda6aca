"""The data part of a config: Gaussian (with a spectrum and labels), mixture, orthogonal,
file and digits data."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    Field,
    field_validator,
    model_validator,
)

from iblab.config._fields import (
    MAX_DIMENSION,
    MAX_EXPONENT,
    MAX_MAGNITUDE,
    MAX_SIZE,
    Int,
    Real,
    _Strict,
)

# ---------------------------------------------------------------- data


class Spectrum(_Strict):
    """Covariance spectrum lambda_1..lambda_d of Gaussian inputs x = Sigma^{1/2} z.

    isotropic: lambda_k = 1. power_law: lambda_k proportional to k^-exponent, scaled so that
    tr Sigma = d. spiked: lambda_k = spikes[k] for the first len(spikes) coordinates, 1 after.
    """

    kind: Literal["isotropic", "power_law", "spiked"] = "isotropic"
    exponent: Real = Field(1.0, ge=0.0, le=MAX_EXPONENT)
    spikes: tuple[Annotated[Real, Field(gt=0.0, le=MAX_MAGNITUDE)], ...] = ()

    @model_validator(mode="after")
    def _check(self) -> Spectrum:
        if self.kind == "spiked" and not self.spikes:
            raise ValueError("spectrum.spikes: a spiked spectrum needs at least one spike")
        return self


class Labels(_Strict):
    """How targets are made for Gaussian inputs.

    noise: y ~ N(0, noise^2), independent of x. linear: y = <beta, x> + noise * xi, beta a
    uniformly random unit vector. relu: y = relu(<beta, x>) + noise * xi. sign: y =
    sign(<beta, x>) flipped with probability flip. random_sign: y uniform on {-1, +1}.

    condition: ties the targets to the initialisation, after they are drawn. A point is
    active at init when some neuron with a_j > 0 has <w_j, x_i> (+ b_j) > 0. init_active:
    |y_i| on active points, -|y_i| elsewhere; init_active_zero: 0 instead of -|y_i|;
    init_dead_negative: y_i as drawn on active points, -|y_i| elsewhere (the neuron must also
    turn off the active points with negative targets). So every positive target sits on a
    point that a positive-output neuron sees at initialisation (a single ReLU neuron gets no
    gradient from an inactive point, and on nearly orthogonal data it stays inactive). Test
    targets likewise, with the test pre-activations.
    """

    kind: Literal["noise", "linear", "relu", "sign", "random_sign"] = "noise"
    noise: Real = Field(1.0, ge=0.0, le=MAX_MAGNITUDE)
    flip: Real = Field(0.0, ge=0.0, le=0.5)
    condition: Literal["none", "init_active", "init_active_zero", "init_dead_negative"] = "none"


REAL_LABELS = ("noise", "linear", "relu")  # Labels kinds with real values, not +-1


class _DataBase(_Strict):
    n: Int = Field(100, ge=1, le=MAX_SIZE)
    n_test: Int = Field(0, ge=0, le=MAX_SIZE)


class GaussianData(_DataBase):
    """Unscaled Gaussian inputs x ~ N(0, Sigma): ||x||^2 is about tr Sigma (= d by default)."""

    kind: Literal["gaussian"] = "gaussian"
    d: Int = Field(1000, ge=1, le=MAX_DIMENSION)
    sample: Literal["explicit", "gram"] = "explicit"
    spectrum: Spectrum = Spectrum()
    labels: Labels = Labels()


class MixtureData(_DataBase):
    """Two clusters x = y~ mu + z, z ~ N(0, I_d), y~ uniform on {-1, +1}, ||mu|| = mean_norm
    (or d ** mean_norm_exponent); the label is y~ flipped with probability label_noise."""

    kind: Literal["mixture"] = "mixture"
    d: Int = Field(1000, ge=1, le=MAX_DIMENSION)
    sample: Literal["explicit", "gram"] = "explicit"
    mean_norm: Real | None = Field(None, ge=0.0, le=MAX_MAGNITUDE)
    mean_norm_exponent: Real | None = Field(None, ge=-MAX_EXPONENT, le=MAX_EXPONENT)
    label_noise: Real = Field(0.0, ge=0.0, le=0.5)

    @model_validator(mode="after")
    def _check(self) -> MixtureData:
        if (self.mean_norm is None) == (self.mean_norm_exponent is None):
            raise ValueError(
                "data.mean_norm / data.mean_norm_exponent: give exactly one of them "
                f"(got mean_norm={self.mean_norm}, mean_norm_exponent={self.mean_norm_exponent})"
            )
        if self.mu_norm > MAX_MAGNITUDE:
            raise ValueError(
                f"data.mean_norm_exponent: d ** {self.mean_norm_exponent} = {self.mu_norm:.3g} "
                f"exceeds {MAX_MAGNITUDE:.0e}"
            )
        return self

    @property
    def mu_norm(self) -> float:
        if self.mean_norm is not None:
            return float(self.mean_norm)
        return float(self.d) ** float(self.mean_norm_exponent)


class OrthogonalData(_DataBase):
    """Exactly orthogonal inputs: x_i = norm * e_i (i <= n) in R^d, d >= n (test rows after).

    Labels follow data.labels evaluated on these inputs."""

    kind: Literal["orthogonal"] = "orthogonal"
    d: Int = Field(1000, ge=1, le=MAX_DIMENSION)
    # None: sqrt(d), the norm of a Gaussian input
    norm: Real | None = Field(None, gt=0.0, le=MAX_MAGNITUDE)
    labels: Labels = Labels()

    @model_validator(mode="after")
    def _check(self) -> OrthogonalData:
        if self.d < self.n + self.n_test:
            raise ValueError(
                f"data.d: orthogonal data needs d >= n + n_test, got d={self.d}, "
                f"n={self.n}, n_test={self.n_test}"
            )
        return self


class FileData(_Strict):
    """A user's arrays from .npz (keys X, y, optional X_test, y_test), or .npy, .csv or
    .parquet holding one 2-D table whose last column is y, with optional separate test file."""

    kind: Literal["file"] = "file"
    path: Path
    test_path: Path | None = None
    # SHA-256 of the files' contents (path, then test_path), filled in when the config is
    # built: a run's identity follows the data, not the file name. Given, it must match.
    sha256: str | None = None

    @field_validator("path", "test_path")
    @classmethod
    def _exists(cls, p: Path | None, info) -> Path | None:
        if p is not None and not Path(p).is_file():
            raise ValueError(f"data.{info.field_name}: file does not exist: {str(p)!r}")
        return p

    @model_validator(mode="after")
    def _hash(self) -> FileData:
        try:
            digest = content_sha256([self.path] + ([self.test_path] if self.test_path else []))
        except OSError as e:
            reason = e.strerror or e
            raise ValueError(f"data.path: cannot read {str(self.path)!r} ({reason})") from None
        if self.sha256 is not None and self.sha256 != digest:
            raise ValueError(
                f"data.sha256: {str(self.path)!r} no longer holds the data of this config "
                f"(its contents hash to {digest[:12]}..., the config says {self.sha256[:12]}...)"
            )
        object.__setattr__(self, "sha256", digest)  # frozen model: set once, here
        return self


_HASHES: dict[tuple, str] = {}  # (path, inode, size, mtime) -> digest of the file's contents


def content_sha256(paths: list[Path]) -> str:
    """SHA-256 over the contents of the files, in order (each file hashed once per version)."""
    total = hashlib.sha256()
    for path in paths:
        st = Path(path).stat()
        key = (str(Path(path).resolve()), st.st_ino, st.st_size, st.st_mtime_ns)
        if key not in _HASHES:
            h = hashlib.sha256()
            with open(path, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
            _HASHES[key] = h.hexdigest()
        total.update(_HASHES[key].encode())
    return total.hexdigest()


class DigitsData(_Strict):
    """scikit-learn's 8x8 digits (d = 64), classes[0] -> label -1, classes[1] -> +1."""

    kind: Literal["digits"] = "digits"
    classes: tuple[Int, Int] = (0, 1)
    n: Int | None = Field(None, ge=1, le=MAX_SIZE)  # None: all images not held out
    n_test: Int = Field(0, ge=0, le=MAX_SIZE)
    standardize: bool = True

    @field_validator("classes")
    @classmethod
    def _two_digits(cls, v: tuple[int, int]) -> tuple[int, int]:
        if v[0] == v[1] or not all(0 <= c <= 9 for c in v):
            raise ValueError(f"data.classes: two different digits 0..9 expected, got {v}")
        return v


DataConfig = Annotated[
    GaussianData | MixtureData | OrthogonalData | FileData | DigitsData,
    Field(discriminator="kind"),
]
