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

from pydantic import (
    BeforeValidator,
    Field,
    model_validator,
)

from iblab.config._data import (
    REAL_LABELS,
    DataConfig,
    DigitsData,
    FileData,
    GaussianData,
    Labels,
    MixtureData,
    OrthogonalData,
    Spectrum,
    content_sha256,
)
from iblab.config._fields import (
    MAX_DIMENSION,
    MAX_EXPONENT,
    MAX_INIT_SCALE,
    MAX_MAGNITUDE,
    MAX_SIZE,
    MAX_STEPS,
    ConfigError,
    Int,
    Real,
    _not_bool,
    _Strict,
    did_you_mean,
)
from iblab.config._yaml import (
    MAX_VALUES,
    apply_overrides,
    check_plain,
    flatten,
    parse_value,
    read_yaml,
    set_key,
    split_override,
    split_values,
)

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
    layer trains) up to flow time `time` (.inf: until the network's loss reaches tol or the
    flow stops changing); lr, steps, schedule, momentum, weight decay and batches do not
    apply (lr is ignored and left out of the run's identity). Its budgets: `max_events`, the
    most activation switches followed (piecewise-linear activations, fixed second layer),
    and `max_solver_steps`, the most adaptive solver steps (otherwise); a run that uses one
    up ends with status max_events or max_solver_steps. The flow always runs in float64.
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
    max_events: Int = Field(10_000_000, ge=1, le=MAX_STEPS)  # gradient_flow only
    max_solver_steps: Int = Field(100_000, ge=1, le=MAX_STEPS)  # gradient_flow only

    @model_validator(mode="after")
    def _check(self) -> TrainConfig:
        if self.optimizer == "sgd" and self.batch_size is None:
            raise ValueError("train.batch_size: sgd needs a batch size")
        if self.optimizer == "gradient_flow":
            self._check_flow()
        else:
            for name in FLOW_ONLY:
                if getattr(self, name) != TrainConfig.model_fields[name].default:
                    raise ValueError(
                        f"train.{name}: only gradient_flow takes {name} (optimizer "
                        f"{self.optimizer!r} runs for train.steps)"
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
        if self.steps != TrainConfig.model_fields["steps"].default:
            raise ValueError(
                f"train.steps: gradient_flow runs to train.time or train.tol (got steps "
                f"{self.steps}); its budget is train.max_events (switches) or "
                "train.max_solver_steps"
            )
        if self.dtype != "float64":
            raise ValueError(f"train.dtype: gradient_flow runs in float64 (got {self.dtype!r})")
        if self.loss == "hinge":
            raise ValueError(
                "train.loss: gradient_flow does not support the hinge loss (its gradient jumps "
                "at margin 1, where the flow would slide on every point); use logistic, "
                "exponential or square"
            )


# Fields of one kind of optimiser only: left out of the other kind's identity.
FLOW_ONLY = ("time", "max_events", "max_solver_steps")
GD_ONLY = ("lr", "lr_scale", "schedule", "lr_max", "decay_steps", "momentum", "weight_decay",
           "batch_size", "steps", "dtype")  # fmt: skip


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
        from iblab.activations import event_driven

        return event_driven(self.model.activation, self.model.train_second_layer)

    # ---- loading and identity

    @classmethod
    def from_yaml(cls, path: str | Path, overrides: list[str] | None = None) -> Config:
        """Load a YAML file, apply `key.path=value` overrides, validate."""
        return cls.from_dict(read_config(path), overrides)

    @classmethod
    def from_dict(cls, raw: dict[str, Any], overrides: list[str] | None = None) -> Config:
        raw = apply_overrides(raw, overrides or [])
        return validate(raw)

    def to_dict(self) -> dict[str, Any]:
        out = self.model_dump(mode="json")
        # A run's config carries only its optimiser's fields: GD's JSON (and its mini-batch
        # seeds) stays as it was before the flow's fields existed, and a flow run is the
        # same run whatever GD-only values a sweep gave it (run ids are versioned
        # separately, by store.NUMBERS).
        flow = self.train.optimizer == "gradient_flow"
        for key in GD_ONLY if flow else FLOW_ONLY:
            del out["train"][key]
        if out["train"].get("lr_scale") == "none":
            del out["train"]["lr_scale"]
        return out

    def fingerprint(self, *parts: str) -> str:
        """SHA-256 of the canonical JSON of the named parts (all parts when none named)."""
        full = self.to_dict()
        return fingerprint({k: full[k] for k in parts} if parts else full)


def read_config(path: str | Path) -> dict[str, Any]:
    """The mapping a config file holds, not yet validated; ConfigError when it holds none."""
    raw = read_yaml(path, "config", ConfigError)
    if not isinstance(raw, dict):
        raise ConfigError(f"config: {path} must hold a mapping, got {type(raw).__name__}")
    return raw


def fingerprint(raw: dict[str, Any]) -> str:
    """SHA-256 (hex) of the canonical JSON of a plain mapping."""
    text = json.dumps(raw, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


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
    hint = ""
    if err["type"] == "extra_forbidden":
        hint = did_you_mean(str(err["loc"][-1]), _keys_at(err["loc"][:-1]))
    return f"{loc}: {msg} (got {shown}){hint}"


_DATA_CLASSES = {
    c.model_fields["kind"].default: c
    for c in (GaussianData, MixtureData, OrthogonalData, FileData, DigitsData)
}
_DATA_KINDS = set(_DATA_CLASSES)


def _keys_at(loc: tuple) -> list[str]:
    """The keys the config section at a pydantic error location takes ([] when unknown)."""
    model: Any = Config
    for part in loc:
        if model is None and part in _DATA_CLASSES:  # the data kind pydantic puts in loc
            model = _DATA_CLASSES[part]
            continue
        field = model.model_fields.get(part) if model is not None else None
        if field is None:
            return []
        kind = field.annotation
        model = kind if isinstance(kind, type) and issubclass(kind, _Strict) else None
    return list(model.model_fields) if model is not None else []


_NAMED = re.compile(r"^(seed|data|model|init|train|record)[\w.]*( / [\w.]+)*:")


def validate(raw: dict[str, Any]) -> Config:
    """Validate a plain dict into a Config, raising ConfigError with one readable line."""
    from pydantic import ValidationError

    try:
        return Config.model_validate(raw)
    except ValidationError as e:
        raise ConfigError("; ".join(_format_error(err) for err in e.errors())) from None


__all__ = [
    "Config",
    "ConfigError",
    "DataConfig",
    "DigitsData",
    "FileData",
    "GaussianData",
    "InitConfig",
    "Int",
    "Labels",
    "MAX_DIMENSION",
    "MAX_EXPONENT",
    "MAX_INIT_SCALE",
    "MAX_MAGNITUDE",
    "MAX_SIZE",
    "MAX_STEPS",
    "MAX_VALUES",
    "MixtureData",
    "ModelConfig",
    "OrthogonalData",
    "REAL_LABELS",
    "Real",
    "RecordConfig",
    "Spectrum",
    "TrainConfig",
    "apply_overrides",
    "check_plain",
    "content_sha256",
    "fingerprint",
    "flatten",
    "parse_value",
    "read_config",
    "read_yaml",
    "set_key",
    "split_override",
    "split_values",
    "validate",
]
