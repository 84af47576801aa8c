"""A user's Keras model file (.keras) read as settings: its Dense stack and its compile settings, or refused by layer.

The file is never loaded as a model: its `config.json` is read as JSON from the zip, so no Lambda
layer, custom object or other code in it can run (stricter than Keras's own `safe_mode`), and this
module needs no TensorFlow. What the lab can rebuild exactly becomes a dict of dotted settings
(`model.units`, `model.activation`, ..., `train.optimizer`, `train.learning_rate`, `train.loss`);
anything else is refused with a SpecError that names the layer and says what is allowed.

The lab trains the file's architecture from fresh weights drawn with the run's seed (its
initializers' own seeds, if any, are not used); the file's trained weights are not read.

Example:
    >>> settings, notes = read_model(open("mine.keras", "rb").read())
    >>> settings["model.units"], settings["train.optimizer"]
    ('16', 'adam')
"""

from __future__ import annotations

import io
import json
import math
import zipfile
from typing import Any

from core.settings.errors import SpecError
from core.settings.recipes import DEFAULT_INIT_SCALE
from core.settings.specs import ACTIVATIONS, MAX_LAYERS, MAX_OUTPUTS

FIELD = "model.file"
MAX_BYTES = 20 * 1024 * 1024
ALLOWED_LAYERS = "an InputLayer of shape (1,) or (2,), then Dense layers only"
INPUT_SHAPES = ("one input of shape (1,): a single x, or (2,): x1, x2")

# Keras class names -> the lab's names
INITIALIZERS = {
    "GlorotUniform": "glorot_uniform", "GlorotNormal": "glorot_normal", "HeNormal": "he_normal", "HeUniform": "he_uniform",
    "LecunNormal": "lecun_normal", "LecunUniform": "lecun_uniform", "Zeros": "zeros", "Ones": "ones",
    "RandomUniform": "random_uniform", "RandomNormal": "random_normal", "TruncatedNormal": "truncated_normal",
}
SCALED = {"RandomUniform", "RandomNormal", "TruncatedNormal"}
OPTIMIZERS = {"SGD": "sgd", "Adam": "adam", "RMSprop": "rmsprop", "Adagrad": "adagrad"}
LOSSES = {
    "mse": "mse", "mean_squared_error": "mse", "MeanSquaredError": "mse",
    "mae": "mae", "mean_absolute_error": "mae", "MeanAbsoluteError": "mae",
    "binary_crossentropy": "binary_crossentropy", "BinaryCrossentropy": "binary_crossentropy",
    "categorical_crossentropy": "categorical_crossentropy", "CategoricalCrossentropy": "categorical_crossentropy",
    "sparse_categorical_crossentropy": "sparse_categorical_crossentropy",
    "SparseCategoricalCrossentropy": "sparse_categorical_crossentropy",
}


def check_inputs(settings: dict[str, str], spec) -> None:
    """A model file's input width against what the data feeds the first layer (its columns or features)."""
    wanted = int(settings.get("model.inputs", "1"))
    if wanted != spec.data.input_width:
        width = spec.data.input_width
        raise SpecError(FIELD, f"a model of input shape ({wanted},)",
                        f"input shape ({width},): this data feeds the first layer {width} input{'s' if width != 1 else ''} "
                        f"({', '.join(spec.data.input_features)})")


def read_model(content: bytes, name: str = "model.keras") -> tuple[dict[str, str], list[str]]:
    """The settings a .keras file describes, as dotted names -> text values, and notes on what was not taken over."""
    if len(content) > MAX_BYTES:
        raise SpecError(FIELD, f"{name} ({len(content) / 1e6:.1f} MB)", f"a .keras file of at most {MAX_BYTES // (1024 * 1024)} MB")
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            config = json.loads(archive.read("config.json"))
    except (zipfile.BadZipFile, KeyError, ValueError, UnicodeDecodeError):
        raise SpecError(FIELD, "a file that is not a zip with a config.json",
                        "a .keras file saved by Keras 3 (model.save('mine.keras'))") from None
    if not isinstance(config, dict) or config.get("class_name") not in ("Sequential", "Functional"):
        kind = config.get("class_name") if isinstance(config, dict) else type(config).__name__
        raise SpecError(FIELD, f"a model of class {kind!r}", "a Sequential or Functional model of " + ALLOWED_LAYERS)
    layers = (config.get("config") or {}).get("layers") or []
    notes: list[str] = []
    inputs = 1
    dense = []
    for index, layer in enumerate(layers):
        cls = layer.get("class_name")
        inner = layer.get("config") or {}
        label = f"layer {index} {inner.get('name', '?')!r} ({cls})"
        if cls == "InputLayer":
            shape = inner.get("batch_shape") or inner.get("batch_input_shape")
            if index != 0:
                raise SpecError(FIELD, f"{label}, a second input", INPUT_SHAPES)
            if list(shape or [])[1:] not in ([1], [2]):
                raise SpecError(FIELD, f"{label} of shape {tuple(shape or [])[1:]}", INPUT_SHAPES)
            inputs = int(list(shape)[1])
            continue
        if cls != "Dense":
            raise SpecError(FIELD, label, ALLOWED_LAYERS + " (the lab rebuilds exactly what it can train; no convolutions, "
                            "dropout, batch normalisation, Lambda or custom layers)")
        if len(layer.get("inbound_nodes") or []) > 1:
            raise SpecError(FIELD, f"{label}, used {len(layer['inbound_nodes'])} times", "each Dense layer used once, one after another")
        for extra in ("kernel_regularizer", "bias_regularizer", "activity_regularizer", "kernel_constraint", "bias_constraint"):
            if inner.get(extra):
                raise SpecError(FIELD, f"{label} with a {extra.replace('_', ' ')}", "Dense layers without regularizers or constraints")
        dense.append((label, inner))
    if not dense:
        raise SpecError(FIELD, "a model without Dense layers", ALLOWED_LAYERS)
    if len(dense) - 1 > MAX_LAYERS:
        raise SpecError(FIELD, f"{len(dense) - 1} hidden layers", f"at most {MAX_LAYERS} hidden Dense layers")
    out_label, out = dense[-1]
    if not 1 <= int(out.get("units") or 0) <= MAX_OUTPUTS:
        raise SpecError(FIELD, f"{out_label} with {out.get('units')} units", f"an output layer of 1 to {MAX_OUTPUTS} units")
    biases = {bool(inner.get("use_bias", True)) for _, inner in dense}
    if len(biases) != 1:
        raise SpecError(FIELD, "biases on some layers only", "use_bias the same on every Dense layer")
    activations = [_activation(label, inner) for label, inner in dense]
    kernels = [_initializer(label, inner.get("kernel_initializer"), "kernel") for label, inner in dense]
    scales = {scale for _, scale in kernels if scale is not None}
    if len(scales) > 1:
        raise SpecError(FIELD, "initializers of different scales " + ", ".join(f"{s:g}" for s in sorted(scales)),
                        "one scale (limit or stddev) for every random_uniform / random_normal / truncated_normal layer")
    bias_inits = {_initializer(label, inner.get("bias_initializer"), "bias")[0] for label, inner in dense}
    if len(bias_inits) != 1:
        raise SpecError(FIELD, "bias initializers " + ", ".join(sorted(bias_inits)), "one bias initializer for every layer")
    settings = {
        "model.inputs": str(inputs),
        "model.units": ",".join(str(int(inner["units"])) for _, inner in dense[:-1]),
        "model.activation": ",".join(activations[:-1]),
        "model.output_activation": activations[-1],
        "model.output_units": str(int(out["units"])),
        "model.use_bias": str(biases.pop()).lower(),
        "model.kernel_initializer": ",".join(name for name, _ in kernels),
        "model.kernel_init_scale": "" if not scales else repr(scales.pop()),
        "model.bias_initializer": bias_inits.pop(),
    }
    settings.update(_compiled(config.get("compile_config"), notes))
    return settings, notes


def _activation(label: str, inner: dict) -> str:
    act = inner.get("activation", "linear")
    if isinstance(act, dict):  # a serialised function (a lambda, say): only the lab's own x^2 is known by name
        inner_config = act.get("config")
        act = act.get("registered_name") or (inner_config if isinstance(inner_config, str) else act.get("class_name"))
    act = {"tinynet>square": "square", "square": "square", None: "linear"}.get(act, act)
    if act not in ACTIVATIONS:
        raise SpecError(FIELD, f"{label} with activation {act!r}", "one of " + ", ".join(ACTIVATIONS))
    return act


def _initializer(label: str, spec: Any, role: str) -> tuple[str, float | None]:
    if spec is None:
        return ("glorot_uniform", None) if role == "kernel" else ("zeros", None)
    cls = spec.get("class_name") if isinstance(spec, dict) else spec
    args = (spec.get("config") or {}) if isinstance(spec, dict) else {}
    lower = {v: k for k, v in INITIALIZERS.items()}
    cls = lower.get(cls, cls)
    if cls not in INITIALIZERS:
        raise SpecError(FIELD, f"{label} with {role} initializer {cls!r}", "one of " + ", ".join(INITIALIZERS))
    if cls not in SCALED:
        return INITIALIZERS[cls], None
    if cls == "RandomUniform":
        low, high = float(args.get("minval", -DEFAULT_INIT_SCALE)), float(args.get("maxval", DEFAULT_INIT_SCALE))
        if not math.isclose(low, -high, rel_tol=1e-6):
            raise SpecError(FIELD, f"{label}: RandomUniform({low:g}, {high:g})", "a uniform range symmetric about 0 (-a, a)")
        scale = high
    else:
        if float(args.get("mean", 0.0)) != 0.0:
            raise SpecError(FIELD, f"{label}: {cls} of mean {args['mean']:g}", "a normal initializer of mean 0")
        scale = float(args.get("stddev", DEFAULT_INIT_SCALE))
    if role == "bias":
        raise SpecError(FIELD, f"{label} with a random bias initializer ({cls})", "zeros, ones or a glorot/he/lecun bias initializer")
    return INITIALIZERS[cls], (None if math.isclose(scale, DEFAULT_INIT_SCALE, rel_tol=1e-6) else _short(scale))


def _short(value: float) -> float:
    """A float32 number as it was typed (0.009999999776 -> 0.01)."""
    return float(f"{value:.7g}")


def _compiled(compile_config: Any, notes: list[str]) -> dict[str, str]:
    if not compile_config:
        notes.append("The file was saved without compile settings (optimizer, loss): the current training settings are kept.")
        return {}
    out: dict[str, str] = {}
    optimizer = compile_config.get("optimizer")
    if isinstance(optimizer, dict):
        cls, args = optimizer.get("class_name"), optimizer.get("config") or {}
        if cls not in OPTIMIZERS:
            raise SpecError(FIELD, f"optimizer {cls!r}", "one of " + ", ".join(OPTIMIZERS))
        lr = args.get("learning_rate")
        if isinstance(lr, dict):  # a schedule: Keras 2's decay is InverseTimeDecay with decay_steps 1
            sched = lr.get("config") or {}
            if lr.get("class_name") != "InverseTimeDecay" or float(sched.get("decay_steps", 0)) != 1 or sched.get("staircase"):
                raise SpecError(FIELD, f"learning-rate schedule {lr.get('class_name')!r}",
                                "a constant learning rate, or InverseTimeDecay with decay_steps=1 (Keras 2's decay)")
            out["train.decay"] = repr(_short(float(sched["decay_rate"])))
            lr = sched.get("initial_learning_rate")
        out["train.optimizer"] = OPTIMIZERS[cls]
        if lr is not None:
            out["train.learning_rate"] = repr(_short(float(lr)))
        if args.get("decay"):  # a Keras 2 file read by a legacy optimizer
            out["train.decay"] = repr(_short(float(args["decay"])))
        if cls in ("SGD", "RMSprop"):
            out["train.momentum"] = repr(_short(float(args.get("momentum") or 0.0)))
        if cls == "SGD":
            out["train.nesterov"] = str(bool(args.get("nesterov"))).lower()
        for clip in ("clipnorm", "global_clipnorm"):
            out[f"train.{clip}"] = "" if args.get(clip) is None else repr(_short(float(args[clip])))
        if args.get("clipvalue") is not None or args.get("weight_decay") or args.get("use_ema"):
            notes.append("The optimizer's clipvalue, weight_decay and EMA settings are not used: the lab trains without them.")
        defaults = {"beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-07, "rho": 0.9, "initial_accumulator_value": 0.1}
        odd = [k for k, v in defaults.items() if k in args and not math.isclose(float(args[k]), v, rel_tol=1e-6)]
        if odd or args.get("amsgrad") or args.get("centered"):
            notes.append("The optimizer's " + ", ".join(odd + [k for k in ("amsgrad", "centered") if args.get(k)])
                         + " differ from Keras's defaults; the lab uses the defaults.")
    loss = compile_config.get("loss")
    if loss is not None:
        name = loss.get("class_name") if isinstance(loss, dict) else loss
        reduction = (loss.get("config") or {}).get("reduction") if isinstance(loss, dict) else None
        if isinstance(loss, dict) and (loss.get("config") or {}).get("from_logits"):
            raise SpecError(FIELD, f"loss {name!r} with from_logits=True", "a loss on the output's probabilities "
                            "(from_logits=False, with a sigmoid or softmax output)")
        if name in ("MeanSquaredError", "mse", "mean_squared_error") and reduction == "sum":
            out["train.loss"] = "sse"
        elif name in LOSSES:
            out["train.loss"] = LOSSES[name]
        else:
            raise SpecError(FIELD, f"loss {name!r}", "mse, mae, binary_crossentropy, categorical_crossentropy, "
                            "sparse_categorical_crossentropy (or MeanSquaredError with reduction 'sum')")
    return out
