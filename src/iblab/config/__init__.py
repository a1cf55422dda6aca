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
    """The network `f(x) = sum_j a_j phi(<w_j, x> + b_j)`.

    Attributes:
        width: Number of neurons m.
        activation: phi: relu, leaky_relu, smooth_leaky_relu or linear.
        slope: gamma, the slope for z < 0 of leaky_relu and smooth_leaky_relu, in [0, 1).
        smoothing: H of smooth_leaky_relu: quadratic on |z| <= 1/H, linear outside.
        grad_at_zero: The value used for phi'(0), in [0, 1]; None for the left derivative
            (0 for relu, gamma for leaky_relu), as in PyTorch.
        second_layer: a: balanced (+1/sqrt(m) for j < ceil(m/2), -1/sqrt(m) after),
            random_sign (iid +-1/sqrt(m)), positive (+1/sqrt(m)), or `width` explicit
            finite values.
        train_second_layer: Train a as well as W (otherwise a stays fixed).
        bias: Add biases b, as an appended constant input coordinate 1 (so b is trained as
            part of W).
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
    """The initialisation: W_0 (m, d) has iid N(0, (scale * base)^2) entries.

    Attributes:
        scale: Factor on the base std; 0 gives W_0 = 0.
        base: The base std: inv_sqrt_d (1/sqrt(d)), glorot (sqrt(2/(d+m)), the std of
            Glorot's uniform law), one (1), or zero (W_0 = 0).
    """

    scale: Real = Field(1.0, ge=0.0, le=MAX_INIT_SCALE)
    base: Literal["inv_sqrt_d", "glorot", "one", "zero"] = "inv_sqrt_d"

    def std(self, d: int, m: int) -> float:
        """The std of W_0's entries (and of b_0's, with model.bias): scale * base.

        Args:
            d: Input dimension, without the bias coordinate.
            m: Width.

        Returns:
            The std, a float.
        """
        base = {
            "inv_sqrt_d": 1.0 / math.sqrt(d),
            "glorot": math.sqrt(2.0 / (d + m)),
            "one": 1.0,
            "zero": 0.0,
        }[self.base]
        return self.scale * base


# ---------------------------------------------------------------- training, recording


class TrainConfig(_Strict):
    """Optimisation: the loss, the optimiser, its step, and when to stop.

    gd and sgd take the plain step W <- W - lr * grad L(W) and stop after `steps` steps,
    when the loss is at most tol (status converged), or when it is not finite or grows far
    past its initial value (status diverged).

    gradient_flow follows the exact flow dW/dt = -grad L(W) (and da/dt when the second layer
    trains) up to flow time `time`, always in float64. lr, steps, schedule, momentum, weight
    decay and batches do not apply: lr is ignored and left out of the run's identity, and
    giving any of the others is an error. A flow run that uses up `max_events` or
    `max_solver_steps` ends with that status.

    Attributes:
        loss: square = 1/(2n) sum (f - y)^2; logistic, exponential or hinge
            = 1/n sum l(y f), for labels -1/+1 (gradient_flow takes no hinge).
        optimizer: gd (full batch), sgd (batches of batch_size drawn without replacement,
            seeded from the config) or gradient_flow.
        lr: The plain step of gd and sgd.
        lr_scale: A factor of the problem on lr and lr_max: none (1), n_over_trace
            (n / tr Sigma, tr Sigma estimated by the mean ||x_i||^2) or n_over_norm_K
            (n / ||K||_2); see `iblab.training.lr_factor`.
        time: gradient_flow only: the flow time to reach; None (or .inf) runs until the
            network's loss reaches tol or the flow stops changing.
        log_time: gradient_flow only, classification losses with relu, leaky_relu or
            linear and a fixed second layer: run to flow time e^log_time instead (any size,
            e.g. 10000 for t = e^10000, far past float64's range); exclusive with time.
        schedule: constant; loss_normalized (lr / L, capped at lr_max); inverse_time
            (lr / (1 + t / decay_steps)); cosine (to 0 at `steps`).
        lr_max: Cap of the loss_normalized step; None for no cap.
        decay_steps: Time scale of the inverse_time schedule, in steps.
        momentum: Heavy-ball coefficient, in [0, 1).
        weight_decay: Adds weight_decay/2 * ||theta||^2 to the loss.
        batch_size: Batch size of sgd (required there), at most data.n.
        steps: How many steps gd or sgd take.
        tol: Stop once the full-batch loss is at most tol (0: only at zero loss).
        dtype: float64 or float32 (gradient_flow: float64 only).
        max_events: gradient_flow only: the most activation switches followed
            (piecewise-linear activations with a fixed second layer); an event that fires
            and changes no state (the joint decision keeps every entry) counts too, so the
            budget bounds the work however the events fall.
        max_solver_steps: gradient_flow only: the most adaptive solver steps (other models).
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
    log_time: Real | None = Field(None, gt=0.0)  # gradient_flow only: t = e^log_time
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
        if self.log_time is not None and self.time is not None:
            raise ValueError(
                f"train.log_time: give train.time or train.log_time, not both (got time "
                f"{self.time!r}, log_time {self.log_time!r})"
            )
        if self.log_time is not None and self.loss == "square":
            raise ValueError(
                f"train.log_time: the square loss converges at a finite scale; use train.time "
                f"or train.tol (got log_time {self.log_time!r})"
            )
        if self.loss == "hinge":
            raise ValueError(
                "train.loss: gradient_flow does not support the hinge loss (its gradient jumps "
                "at margin 1, where the flow would slide on every point); use logistic, "
                "exponential or square"
            )


# Fields of one kind of optimiser only: left out of the other kind's identity.
FLOW_ONLY = ("time", "log_time", "max_events", "max_solver_steps")
# log t past which a flow records per decade of log t (iblab.flow's T_MAX = 1e300)
LOG_T_MAX = math.log(1e300)
GD_ONLY = ("lr", "lr_scale", "schedule", "lr_max", "decay_steps", "momentum", "weight_decay",
           "batch_size", "steps", "dtype")  # fmt: skip


class RecordConfig(_Strict):
    """Which steps are recorded, and what beyond the default figures.

    Steps 0, 1, 2, then every `every` steps (or `per_decade` geometrically spaced steps per
    decade when geometric), and the last.

    Attributes:
        every: Spacing of recorded steps, in steps.
        geometric: Space records geometrically instead of every `every` steps.
        per_decade: Records per decade of steps when geometric (per decade of flow time
            for gradient_flow).
        per_log_decade: Gradient flow to train.log_time only: records per decade of log t
            past t = 1e300 (None: per_decade).
        coefficients: Keep C_t (m, n) (and a_t (m,)) at every record.
        spectrum: Record the top singular values and the stable rank of W.
        top_singular_values: How many singular values to record with spectrum.
    """

    every: Int = Field(10, ge=1, le=MAX_STEPS)
    geometric: bool = False
    per_decade: Int = Field(20, ge=1, le=1000)
    per_log_decade: Int | None = Field(None, ge=1, le=1000)
    coefficients: bool = False
    spectrum: bool = False
    top_singular_values: Int = Field(3, ge=1, le=MAX_SIZE)


class Config(_Strict):
    """A run's configuration: a seed and five validated parts; immutable.

    `Config.from_yaml`, `Config.from_dict` and `validate` raise ConfigError with one line
    naming the field and the value; `Config(...)` raises pydantic's ValidationError (also a
    ValueError). Unknown keys are errors; a data mapping without `kind` is gaussian.

    Attributes:
        seed: Seed of the run's random streams (data, init, batches), in [0, 2^63).
        data: What to train on: GaussianData, MixtureData, OrthogonalData, FileData or
            DigitsData, chosen by `data.kind`.
        model: The network (ModelConfig).
        init: The initialisation W_0 (InitConfig).
        train: The loss and the optimiser (TrainConfig).
        record: The recorded steps and figures (RecordConfig).
    """

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
        past = tc.log_time is not None and tc.log_time > LOG_T_MAX
        if self.record.per_log_decade is not None and not past:
            raise ValueError(
                f"record.per_log_decade: only a gradient_flow run to train.log_time > "
                f"log(1e300) = 690.8 records past t = 1e300 (got per_log_decade "
                f"{self.record.per_log_decade!r}, log_time {tc.log_time!r})"
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
        """Load a YAML file, apply `key.path=value` overrides, validate.

        Args:
            path: The config file.
            overrides: `key.path=value` strings, each value parsed as YAML.

        Returns:
            The Config.

        Raises:
            ConfigError: The file cannot be read, is not a YAML mapping of plain data, an
                override is malformed, or the result is not a valid config.
        """
        return cls.from_dict(read_config(path), overrides)

    @classmethod
    def from_dict(cls, raw: dict[str, Any], overrides: list[str] | None = None) -> Config:
        """Validate a plain mapping, after applying `key.path=value` overrides.

        Args:
            raw: The config as nested dicts (as in a YAML file); not modified.
            overrides: `key.path=value` strings, each value parsed as YAML.

        Returns:
            The Config.

        Raises:
            ConfigError: An override is malformed or the result is not a valid config.
        """
        raw = apply_overrides(raw, overrides or [])
        return validate(raw)

    def to_dict(self) -> dict[str, Any]:
        """The config as plain JSON-ready data: what identifies the run.

        Only the optimiser's own train fields are kept (gd and sgd drop the flow's, the flow
        drops gd's), and lr_scale only when not none; `Config.from_dict` reads it back.

        Returns:
            Nested dicts of JSON values.
        """
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
        if out["train"].get("log_time", 0) is None:  # not given: runs keep their identity
            del out["train"]["log_time"]
        if out["record"].get("per_log_decade", 0) is None:
            del out["record"]["per_log_decade"]
        return out

    def fingerprint(self, *parts: str) -> str:
        """SHA-256 of the canonical JSON of the named parts of `to_dict()`.

        Args:
            *parts: Top-level keys (seed, data, model, init, train, record); all when none.

        Returns:
            The hex digest.
        """
        full = self.to_dict()
        return fingerprint({k: full[k] for k in parts} if parts else full)


def read_config(path: str | Path) -> dict[str, Any]:
    """The mapping a config file holds, not yet validated.

    Args:
        path: A YAML file.

    Returns:
        The mapping, plain data.

    Raises:
        ConfigError: The file is missing or unreadable, not YAML or not plain data (see
            `read_yaml`), or holds no mapping.
    """
    raw = read_yaml(path, "config", ConfigError)
    if not isinstance(raw, dict):
        raise ConfigError(f"config: {path} must hold a mapping, got {type(raw).__name__}")
    return raw


def fingerprint(raw: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON (sorted keys, no spaces) of a plain mapping.

    Args:
        raw: JSON-serialisable data.

    Returns:
        The hex digest (64 characters).
    """
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
    """Validate a plain dict into a Config.

    Args:
        raw: The config as nested dicts.

    Returns:
        The Config.

    Raises:
        ConfigError: Invalid; one line naming each bad field and its value.
    """
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
