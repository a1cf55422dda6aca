"""Run configuration: pydantic models validated once, at the boundary.

A config has five parts (data, model, init, train, record) and a seed. Every field is
checked when the config is built; code downstream trusts it. Unknown keys are errors.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

# Upper bounds: past these a run cannot fit in memory or finish (see iblab.budget for the
# memory a particular config needs, checked before it runs).
MAX_SIZE = 10**7  # n, n_test, width, batch size
MAX_DIMENSION = 10**15  # d (explicit data is bounded far lower, by memory)
MAX_STEPS = 10**9  # train.steps, record.every: hours of training even at n = m = 1
MAX_MAGNITUDE = 1e12  # scales of the data (norms, spikes, label noise) and smoothing
MAX_INIT_SCALE = 1e6
MAX_EXPONENT = 10.0  # spectrum and mean-norm exponents


def _not_bool(value: Any) -> Any:
    if isinstance(value, bool):  # YAML `true` would otherwise be taken as 1
        raise ValueError("expected a number, got a boolean")
    return value


Int = Annotated[int, BeforeValidator(_not_bool)]
Real = Annotated[float, BeforeValidator(_not_bool)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


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
    |y_i| on active points, -|y_i| elsewhere; init_active_zero: 0 instead of -|y_i|. So every
    positive target sits on a point that a positive-output neuron sees at initialisation (a
    single ReLU neuron gets no gradient from an inactive point, and on nearly orthogonal
    data it stays inactive). Test targets likewise, with the test pre-activations.
    """

    kind: Literal["noise", "linear", "relu", "sign", "random_sign"] = "noise"
    noise: Real = Field(1.0, ge=0.0, le=MAX_MAGNITUDE)
    flip: Real = Field(0.0, ge=0.0, le=0.5)
    condition: Literal["none", "init_active", "init_active_zero"] = "none"


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


# ---------------------------------------------------------------- model, init


class ModelConfig(_Strict):
    """f(x) = sum_j a_j phi(<w_j, x> + b_j).

    activation: relu, leaky_relu (slope gamma), smooth_leaky_relu (slope gamma, smoothing H:
    quadratic on |z| <= 1/H, linear outside), linear. grad_at_zero: phi'(0); None means the
    left derivative (0 for relu, gamma for leaky), as in PyTorch. second_layer: balanced,
    random_sign, positive, or explicit values (length width). train_second_layer: train a too.
    bias: an appended constant input coordinate (so b is trained as part of W).
    """

    width: Int = Field(512, ge=1, le=MAX_SIZE)
    activation: Literal["relu", "leaky_relu", "smooth_leaky_relu", "linear"] = "relu"
    slope: Real = Field(0.1, ge=0.0, lt=1.0)
    smoothing: Real = Field(1.0, gt=0.0, le=MAX_MAGNITUDE)
    grad_at_zero: Real | None = Field(None, ge=0.0, le=1.0)
    second_layer: Literal["balanced", "random_sign", "positive"] | tuple[Real, ...] = "balanced"
    train_second_layer: bool = False
    bias: bool = False

    @model_validator(mode="after")
    def _check(self) -> ModelConfig:
        if isinstance(self.second_layer, tuple) and len(self.second_layer) != self.width:
            raise ValueError(
                f"model.second_layer: {len(self.second_layer)} values given for width {self.width}"
            )
        if isinstance(self.second_layer, tuple) and not all(
            math.isfinite(v) for v in self.second_layer
        ):
            raise ValueError("model.second_layer: values must be finite")
        return self


class InitConfig(_Strict):
    """W_0 ~ N(0, (scale * base)^2), base: inv_sqrt_d = 1/sqrt(d), glorot = sqrt(2/(d+m))
    (the std of Glorot's uniform law), one = 1; or zero (W_0 = 0)."""

    scale: Real = Field(1.0, ge=0.0, le=MAX_INIT_SCALE)
    base: Literal["inv_sqrt_d", "glorot", "one", "zero"] = "inv_sqrt_d"

    def std(self, d: int, m: int) -> float:
        base = {
            "inv_sqrt_d": 1.0 / math.sqrt(d),
            "glorot": math.sqrt(2.0 / (d + m)),
            "one": 1.0,
            "zero": 0.0,
        }[self.base]
        return self.scale * base


# ---------------------------------------------------------------- training, recording


class TrainConfig(_Strict):
    """Optimisation. lr is the plain step: W <- W - lr * grad L(W).

    loss: square = 1/(2n) sum (f - y)^2; logistic, exponential, hinge = 1/n sum l(y f).
    optimizer: gd (full batch) or sgd (batches of batch_size drawn without replacement,
    seeded from the config). momentum: heavy-ball coefficient in [0, 1). weight_decay: adds
    weight_decay/2 * ||theta||^2 to the loss. schedule: constant; loss_normalized (lr / L,
    capped at lr_max); inverse_time (lr / (1 + t / decay_steps)); cosine (to 0 at `steps`).
    Stops after `steps` steps, when the loss falls below tol, or on NaN/inf (status diverged).

    optimizer gradient_flow: the exact flow dW/dt = -grad L(W) (and da/dt when the second
    layer trains) up to flow time `time` (.inf: until the loss reaches tol or the flow stops
    changing); lr, schedule, momentum, weight decay and batches do not apply, and `steps`
    bounds the work: the most activation switches followed (piecewise-linear activations,
    fixed second layer) or adaptive solver steps taken (otherwise) before stopping with
    status max_steps. The flow always runs in float64.
    """

    loss: Literal["square", "logistic", "exponential", "hinge"] = "square"
    optimizer: Literal["gd", "sgd", "gradient_flow"] = "gd"
    lr: Real = Field(0.1, gt=0.0)
    # The effective step is lr times a factor of the problem: none (1), n_over_trace
    # (n / tr Sigma, with tr Sigma estimated by tr K / n = mean ||x_i||^2) or n_over_norm_K
    # (n / ||K||_2). For high-dimensional data both are about n / tr Sigma, the scale of a
    # stable step. lr_max scales alike.
    lr_scale: Literal["none", "n_over_trace", "n_over_norm_K"] = "none"
    time: Annotated[float, Field(gt=0.0, allow_inf_nan=True), BeforeValidator(_not_bool)] | None = (
        None  # gradient_flow only; None: .inf
    )
    schedule: Literal["constant", "loss_normalized", "inverse_time", "cosine"] = "constant"
    lr_max: Real | None = Field(None, gt=0.0)
    decay_steps: Real = Field(1000.0, gt=0.0)
    momentum: Real = Field(0.0, ge=0.0, lt=1.0)
    weight_decay: Real = Field(0.0, ge=0.0)
    batch_size: Int | None = Field(None, ge=1, le=MAX_SIZE)
    steps: Int = Field(1000, ge=0, le=MAX_STEPS)
    tol: Real = Field(0.0, ge=0.0)
    dtype: Literal["float64", "float32"] = "float64"

    @model_validator(mode="after")
    def _check(self) -> TrainConfig:
        if self.optimizer == "sgd" and self.batch_size is None:
            raise ValueError("train.batch_size: sgd needs a batch size")
        if self.optimizer == "gradient_flow":
            self._check_flow()
        elif self.time is not None:
            raise ValueError(
                f"train.time: only gradient_flow has a flow time (optimizer {self.optimizer!r} "
                "runs for train.steps)"
            )
        return self

    @property
    def flow_time(self) -> float:
        """The flow time to integrate to (inf when `time` is not given)."""
        return math.inf if self.time is None else self.time

    def _check_flow(self) -> None:
        """Options that have no meaning for the exact flow are errors, not silently ignored."""
        unused = {
            "schedule": (self.schedule, "constant"),
            "momentum": (self.momentum, 0.0),
            "weight_decay": (self.weight_decay, 0.0),
            "batch_size": (self.batch_size, None),
            "lr_max": (self.lr_max, None),
            "lr_scale": (self.lr_scale, "none"),
        }
        for name, (value, default) in unused.items():
            if value != default:
                raise ValueError(
                    f"train.{name}: gradient_flow takes no {name} (got {value!r}); remove it "
                    "or use optimizer: gd"
                )
        if self.dtype != "float64":
            raise ValueError(f"train.dtype: gradient_flow runs in float64 (got {self.dtype!r})")
        if self.loss == "hinge":
            raise ValueError(
                "train.loss: gradient_flow does not support the hinge loss (its gradient jumps "
                "at margin 1, where the flow would slide on every point); use logistic, "
                "exponential or square"
            )


class RecordConfig(_Strict):
    """Which steps are recorded: 0, 1, 2, then every `every` steps (or `per_decade`
    geometrically spaced steps when geometric), and the last. coefficients: keep C_t (m x n)
    at every record. spectrum: record the top singular values and stable rank of W."""

    every: Int = Field(10, ge=1, le=MAX_STEPS)
    geometric: bool = False
    per_decade: Int = Field(20, ge=1, le=1000)
    coefficients: bool = False
    spectrum: bool = False
    top_singular_values: Int = Field(3, ge=1, le=MAX_SIZE)


class Config(_Strict):
    seed: Int = Field(0, ge=0, le=2**63 - 1)
    data: DataConfig = GaussianData()
    model: ModelConfig = ModelConfig()
    init: InitConfig = InitConfig()
    train: TrainConfig = TrainConfig()
    record: RecordConfig = RecordConfig()

    @model_validator(mode="before")
    @classmethod
    def _default_data_kind(cls, raw: Any) -> Any:
        if isinstance(raw, dict) and isinstance(raw.get("data"), dict):
            raw = {**raw, "data": {"kind": "gaussian", **raw["data"]}}
        return raw

    @model_validator(mode="after")
    def _check(self) -> Config:
        bs = self.train.batch_size
        n = getattr(self.data, "n", None)
        if bs is not None and n is not None and bs > n:
            raise ValueError(f"train.batch_size: {bs} is larger than data.n = {n}")
        zero_init = self.init.scale == 0 or self.init.base == "zero"
        piecewise = self.model.activation in ("relu", "leaky_relu")
        tc = self.train
        if tc.optimizer == "gradient_flow" and not self.event_driven_flow:
            if tc.loss == "square" and tc.time is None and tc.tol == 0:
                raise ValueError(
                    "train.time: gradient_flow of the square loss with this model "
                    f"({self.model.activation}, train_second_layer="
                    f"{self.model.train_second_layer}) has no exact t -> inf limit; give a "
                    "finite train.time or train.tol > 0"
                )
        labels = getattr(self.data, "labels", None)
        if tc.loss != "square" and labels is not None and labels.kind in REAL_LABELS:
            raise ValueError(
                f"train.loss: {tc.loss} needs labels -1/+1, but data.labels.kind "
                f"{labels.kind!r} gives real values; use labels sign or random_sign, or the "
                "square loss"
            )
        if self.train.optimizer == "gradient_flow" and zero_init and piecewise:
            raise ValueError(
                f"init.scale: gradient_flow with {self.model.activation} needs a nonzero "
                "initialisation (from W_0 = 0 every pre-activation sits on its kink and the "
                "flow is not defined); use init.scale > 0 or a smooth activation"
            )
        return self

    @property
    def event_driven_flow(self) -> bool:
        """Whether gradient_flow follows this model exactly, switch by switch (relu,
        leaky_relu or linear with a fixed second layer), rather than by the ODE solver."""
        kind = self.model.activation
        return kind in ("relu", "leaky_relu", "linear") and not self.model.train_second_layer

    # ---- loading and identity

    @classmethod
    def from_yaml(cls, path: str | Path, overrides: list[str] | None = None) -> Config:
        """Load a YAML file, apply `key.path=value` overrides, validate."""
        raw = read_yaml(path, "config", ConfigError)
        if not isinstance(raw, dict):
            raise ConfigError(f"config: {path} must hold a mapping, got {type(raw).__name__}")
        return cls.from_dict(raw, overrides)

    @classmethod
    def from_dict(cls, raw: dict[str, Any], overrides: list[str] | None = None) -> Config:
        raw = apply_overrides(raw, overrides or [])
        return validate(raw)

    def to_dict(self) -> dict[str, Any]:
        out = self.model_dump(mode="json")
        # Fields added later leave the dict when at their default, so configs written before
        # them keep their identity (run id).
        for key, default in (("time", None), ("lr_scale", "none")):
            if out["train"][key] == default:
                del out["train"][key]
        return out

    def fingerprint(self, *parts: str) -> str:
        """SHA-256 of the canonical JSON of the named parts (all parts when none named)."""
        full = self.to_dict()
        return fingerprint({k: full[k] for k in parts} if parts else full)


def fingerprint(raw: dict[str, Any]) -> str:
    """SHA-256 (hex) of the canonical JSON of a plain mapping."""
    text = json.dumps(raw, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


class ConfigError(ValueError):
    """An invalid configuration; the message names the field and the value."""


def _format_error(err: dict[str, Any]) -> str:
    loc = ".".join(str(p) for p in err["loc"] if not str(p).startswith("function-after"))
    # Drop discriminator tags (e.g. 'gaussian') that pydantic inserts into the location.
    parts = [p for p in loc.split(".") if p not in _DATA_KINDS]
    loc = ".".join(parts)
    msg = err["msg"].removeprefix("Value error, ")
    if _NAMED.match(msg):
        return msg  # the validator already named the field
    value = err.get("input")
    shown = repr(value) if not isinstance(value, dict) else "{...}"
    if err["type"] == "missing":
        return f"{loc}: required field is missing"
    return f"{loc}: {msg} (got {shown})"


_DATA_KINDS = {"gaussian", "mixture", "orthogonal", "file", "digits"}
_NAMED = re.compile(r"^(seed|data|model|init|train|record)[\w.]*( / [\w.]+)*:")


def validate(raw: dict[str, Any]) -> Config:
    """Validate a plain dict into a Config, raising ConfigError with one readable line."""
    from pydantic import ValidationError

    try:
        return Config.model_validate(raw)
    except ValidationError as e:
        raise ConfigError("; ".join(_format_error(err) for err in e.errors())) from None


def read_yaml(path: str | Path, what: str, error: type[Exception]) -> Any:
    """The YAML document in path, raising `error` with one line naming `what` when the file
    is missing, empty, not UTF-8, not valid YAML (duplicate keys included), or holds what a
    config cannot (non-string keys, dates, recursive or runaway aliases)."""
    path = Path(path)
    if not path.is_file():
        raise error(f"{what}: file does not exist: {str(path)!r}")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise error(
            f"{what}: {str(path)!r} is not UTF-8 text ({e.reason} at byte {e.start})"
        ) from None
    try:
        raw = yaml.load(text, Loader=_Loader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.YAMLError as e:
        raise error(f"{what}: {str(path)!r} is not valid YAML: {_one_line(e)}") from None
    if raw is None:
        raise error(f"{what}: {str(path)!r} is empty")
    check_plain(raw, what, error)
    return raw


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys."""

    def construct_mapping(self, node, deep=False):
        self.flatten_mapping(node)
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
            except TypeError:
                raise yaml.constructor.ConstructorError(
                    None, None, f"unhashable key {key!r}", key_node.start_mark
                ) from None
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


MAX_VALUES = 1_000_000  # values a config or sweep file may expand to, aliases counted out


def check_plain(raw: Any, what: str, error: type[Exception]) -> None:
    """Raise `error` unless raw is plain data (str keys; str, number, bool, None, lists and
    mappings) of at most MAX_VALUES values once aliases are expanded, without cycles."""
    count = 0
    stack: list[tuple[Any, str, tuple[int, ...]]] = [(raw, what, ())]
    while stack:
        node, where, path = stack.pop()
        count += 1
        if count > MAX_VALUES:
            raise error(f"{what}: more than {MAX_VALUES} values (runaway YAML aliases?)")
        if isinstance(node, dict | list):
            if id(node) in path:
                raise error(f"{where}: refers to itself (a recursive YAML alias)")
            items = node.items() if isinstance(node, dict) else enumerate(node)
            for key, value in items:
                if isinstance(node, dict) and not isinstance(key, str):
                    raise error(
                        f"{where}: key {key!r} is a {type(key).__name__}, not a name; quote it"
                    )
                stack.append((value, f"{where}.{key}", path + (id(node),)))
        elif not (node is None or isinstance(node, str | int | float | bool)):
            raise error(f"{where}: {type(node).__name__} values are not allowed (got {node!r})")


def _one_line(e: Exception) -> str:
    return " ".join(str(e).split())


def flatten(d: dict, prefix: str = "") -> dict:
    """{'a': {'b': 1}} -> {'a.b': 1}; lists and tuples become strings."""
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out |= flatten(v, key + ".")
        else:
            out[key] = str(list(v)) if isinstance(v, list | tuple) else v
    return out


def set_key(raw: dict, key: str, value: Any, where: str, error: type[Exception]) -> None:
    """raw[a][b][c] = value for key 'a.b.c', creating sections; `error` naming `where`
    when a part is empty or not a section."""
    parts = key.strip().split(".")
    if not all(parts):
        raise error(f"{where}: {key!r} is not a key path like train.lr")
    node = raw
    for p in parts[:-1]:
        node = node.setdefault(p, {})
        if not isinstance(node, dict):
            raise error(f"{where}: {p!r} is not a section")
    node[parts[-1]] = value


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Return a copy of raw with each `a.b.c=value` applied (value parsed as YAML)."""
    out = json.loads(json.dumps(raw, default=str))
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--set: expected key.path=value, got {item!r}")
        key, value = item.split("=", 1)
        try:
            parsed = yaml.load(value, Loader=_Loader)  # noqa: S506
        except yaml.YAMLError as e:
            raise ConfigError(f"--set {key}: cannot parse {value!r}: {_one_line(e)}") from None
        check_plain(parsed, f"--set {key}", ConfigError)
        set_key(out, key, parsed, f"--set {key}", ConfigError)
    return out
