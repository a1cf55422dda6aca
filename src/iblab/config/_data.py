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

    Attributes:
        kind: isotropic (lambda_k = 1); power_law (lambda_k proportional to k^-exponent,
            scaled so that tr Sigma = d); spiked (lambda_k = spikes[k] for the first
            len(spikes) coordinates, 1 after).
        exponent: The power law's exponent, in [0, 10].
        spikes: The leading eigenvalues of a spiked spectrum (at least one, each > 0).
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
    """How targets are made for Gaussian and orthogonal inputs.

    beta is a teacher direction, uniformly random on the unit sphere, and xi ~ N(0, 1).

    `condition` ties the targets to the initialisation, after they are drawn. A point is
    active at init when some neuron with a_j > 0 has `<w_j, x_i>` (+ b_j) > 0. init_active:
    |y_i| on active points, -|y_i| elsewhere; init_active_zero: 0 instead of -|y_i|;
    init_dead_negative: y_i as drawn on active points, -|y_i| elsewhere (the neuron must also
    turn off the active points with negative targets). So every positive target sits on a
    point that a positive-output neuron sees at initialisation (a single ReLU neuron gets no
    gradient from an inactive point, and on nearly orthogonal data it stays inactive). Test
    targets likewise, with the test pre-activations.

    Attributes:
        kind: noise (y ~ N(0, noise^2), independent of x); linear
            (`y = <beta, x> + noise * xi`); relu (`y = relu(<beta, x>) + noise * xi`); sign
            (`y = sign(<beta, x>)` flipped with probability flip); random_sign (y uniform on
            {-1, +1}).
        noise: The noise std (noise, linear and relu kinds).
        flip: Probability of flipping a sign label, in [0, 0.5].
        condition: none, init_active, init_active_zero or init_dead_negative (above).
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
    """Unscaled Gaussian inputs x ~ N(0, Sigma): ||x||^2 is about tr Sigma (= d by default).

    Attributes:
        kind: gaussian.
        n: Training points.
        n_test: Test points, drawn alike.
        d: Input dimension.
        sample: explicit (draw X, then reduce it to Gram blocks) or gram (sample the Gram
            blocks exactly, at a cost independent of d; the run then has no X or W).
        spectrum: The covariance spectrum of Sigma.
        labels: How the targets are made.
    """

    kind: Literal["gaussian"] = "gaussian"
    d: Int = Field(1000, ge=1, le=MAX_DIMENSION)
    sample: Literal["explicit", "gram"] = "explicit"
    spectrum: Spectrum = Spectrum()
    labels: Labels = Labels()


class MixtureData(_DataBase):
    """Two clusters x = y~ mu + z, z ~ N(0, I_d), y~ uniform on {-1, +1}.

    The label is y~ flipped with probability label_noise. Give exactly one of mean_norm and
    mean_norm_exponent.

    Attributes:
        kind: mixture.
        n: Training points.
        n_test: Test points, drawn alike (with as noisy labels).
        d: Input dimension.
        sample: explicit or gram, as for GaussianData.
        mean_norm: ||mu||.
        mean_norm_exponent: ||mu|| = d ** mean_norm_exponent, in [-10, 10].
        label_noise: Label flip probability, in [0, 0.5].
    """

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
        """||mu||, from mean_norm or mean_norm_exponent."""
        if self.mean_norm is not None:
            return float(self.mean_norm)
        return float(self.d) ** float(self.mean_norm_exponent)


class OrthogonalData(_DataBase):
    """Exactly orthogonal inputs: x_i = norm * e_i in R^d, training rows first, test rows
    after, so d >= n + n_test.

    Attributes:
        kind: orthogonal.
        n: Training points.
        n_test: Test points.
        d: Input dimension, at least n + n_test.
        norm: ||x_i||; None for sqrt(d), the norm of a Gaussian input.
        labels: How the targets are made, from these inputs.
    """

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
    """A user's arrays from files.

    A .npz holds keys X, y and optionally X_test, y_test; a .npy, .csv or .parquet holds one
    2-D table whose last column is y.

    Attributes:
        kind: file.
        path: The training data (must exist).
        test_path: An optional test set, in any of these formats (a .npz there uses keys X,
            y); not with a .npz path that holds X_test.
        sha256: SHA-256 of the files' contents (path, then test_path), filled in when the
            config is built, so a run's identity follows the data, not the file name; when
            given, it must match the files.
    """

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
    """SHA-256 over the contents of the files, in order.

    Each file's digest is cached by path, inode, size and modification time, so an unchanged
    file is read once.

    Args:
        paths: The files.

    Returns:
        The hex digest.

    Raises:
        OSError: A file cannot be read.
    """
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
    """scikit-learn's 8x8 digits (d = 64) as a two-class problem.

    Attributes:
        kind: digits.
        classes: Two different digits 0..9: classes[0] gets label -1, classes[1] +1.
        n: Training images; None for all not held out for testing.
        n_test: Test images.
        standardize: Centre and scale each pixel by the training mean and std.
    """

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
