"""A user's Keras model file (.keras) read as settings: its Dense stack and its compile settings, or refused by layer.

The file is never loaded as a model: its `config.json` is read as JSON from the zip, so no Lambda
layer, custom object or other code in it can run (stricter than Keras's own `safe_mode`), and this
module needs no TensorFlow. What the lab can rebuild exactly becomes a dict of dotted settings
(`model.units`, `model.activation`, ..., `train.optimizer`, `train.learning_rate`, `train.loss`);
anything else is refused with a SpecError that names the layer and says what is allowed. The lab's own
download (core/io/export.py) reads back as the run it came from: its scaling layers, `scale_x_<scaling>`
and `unscale_y_<scaling>`, become `data.x_scaling` and `data.y_scaling`.

The file comes from a visitor and is read in the dashboard's server, so the archive is read with a cap on
what it inflates to, checked before and while inflating (`read_config`).

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
import re
import struct
import zipfile
import zlib
from typing import Any

from core.settings.errors import SpecError
from core.settings.recipes import DEFAULT_INIT_SCALE
from core.settings.rules import ACTIVATIONS, MAX_LAYERS, MAX_OUTPUTS, SCALINGS

FIELD = "model.file"
MAX_BYTES = 20 * 1024 * 1024
# What the archive may inflate to: the file runs in the dashboard's server, so a zip bomb (a few MB that inflate to
# GB) is refused from its declared sizes before anything is inflated, and again while reading if they lie.
MAX_CONFIG_BYTES = 1024 * 1024  # config.json once inflated; a Keras model of Dense layers needs a few kB per layer
MAX_ENTRIES = 64  # files in the archive; Keras writes 3 (config.json, metadata.json, model.weights.h5)
MAX_DIRECTORY_BYTES = 64 * 1024  # the zip's central directory, which zipfile parses whole when it opens the archive
CHUNK = 64 * 1024  # config.json is inflated this much at a time
END_RECORD = struct.Struct("<4s4H2LH")  # the zip's end of central directory record
NOT_KERAS = "a .keras file saved by Keras 3 (model.save('mine.keras'))"
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


def read_config(content: bytes, name: str = "model.keras") -> Any:
    """The JSON of the archive's config.json, inflated with a cap; a SpecError names what is wrong and the limit.

    Checked before anything is inflated: the upload's size, the number of entries and the central directory's
    size (from the zip's end record, before zipfile parses the directory), and config.json's declared size and
    compression; then config.json is inflated CHUNK bytes at a time and refused once past MAX_CONFIG_BYTES, in
    case its declared size lies. A crafted file is refused in milliseconds, with memory of the order of the cap.
    """
    if len(content) > MAX_BYTES:
        raise SpecError(FIELD, f"{name} ({len(content) / 1e6:.1f} MB)", f"a .keras file of at most {MAX_BYTES // (1024 * 1024)} MB")
    entries, directory = _end_record(content)
    if entries > MAX_ENTRIES or directory > MAX_DIRECTORY_BYTES:
        raise SpecError(FIELD, f"an archive of {entries:,} entries in a central directory of {directory:,} bytes",
                        f"at most {MAX_ENTRIES} entries and {MAX_DIRECTORY_BYTES:,} bytes of directory ({NOT_KERAS}: 3 entries)")
    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
    except (zipfile.BadZipFile, ValueError, OSError, EOFError):
        raise SpecError(FIELD, "a file that is not a zip with a config.json", NOT_KERAS) from None
    with archive:
        if len(archive.infolist()) > MAX_ENTRIES:
            raise SpecError(FIELD, f"an archive of {len(archive.infolist()):,} entries", f"at most {MAX_ENTRIES} entries ({NOT_KERAS})")
        try:
            info = archive.getinfo("config.json")
        except KeyError:
            raise SpecError(FIELD, "a zip without config.json", NOT_KERAS + ", which holds config.json") from None
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED) or info.flag_bits & 0x1:
            raise SpecError(FIELD, f"config.json {'encrypted' if info.flag_bits & 0x1 else 'compressed'} with method {info.compress_type}",
                            "config.json stored or deflated, unencrypted, as Keras writes it")
        if info.file_size > MAX_CONFIG_BYTES:
            raise SpecError(FIELD, f"config.json of {info.file_size:,} bytes once inflated ({info.compress_size:,} in the file)",
                            f"a config.json of at most {MAX_CONFIG_BYTES:,} bytes (a model of Dense layers needs a few thousand)")
        text = _inflate(archive, info)
    try:
        return json.loads(text.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise SpecError(FIELD, f"config.json that is not UTF-8 text (byte {err.start:,}: {err.object[err.start:err.start + 4]!r})",
                        NOT_KERAS + ", whose config.json is UTF-8 JSON") from None
    except json.JSONDecodeError as err:
        raise SpecError(FIELD, f"config.json that is not valid JSON ({err.msg} at line {err.lineno}, column {err.colno})",
                        NOT_KERAS + ", whose config.json is UTF-8 JSON") from None


def _end_record(content: bytes) -> tuple[int, int]:
    """The number of entries and the central directory's size the zip declares, read as zipfile will read them.

    zipfile takes the last end record in the file's last 64 kB (its comment may hide one), and a zip64 locator
    right before it replaces both numbers: such an archive (over 65,535 entries or 4 GB) is no .keras file.
    """
    tail = content[-(END_RECORD.size + 0xFFFF):]
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < END_RECORD.size:
        raise SpecError(FIELD, "a file that is not a zip with a config.json", NOT_KERAS)
    _, _, _, _, entries, directory, _, _ = END_RECORD.unpack_from(tail, at)
    where = len(content) - len(tail) + at  # the end record's place in the file
    if where >= 20 and content[where - 20:where].startswith(b"PK\x06\x07"):
        raise SpecError(FIELD, "a zip64 archive", NOT_KERAS)
    return entries, directory


def _inflate(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """The entry's bytes, inflated CHUNK at a time and refused once past MAX_CONFIG_BYTES, whatever its header declares."""
    chunks, total = [], 0
    try:
        with archive.open(info) as handle:
            while chunk := handle.read(CHUNK):
                total += len(chunk)
                if total > MAX_CONFIG_BYTES:
                    raise SpecError(FIELD, f"{info.filename}, which inflates past {MAX_CONFIG_BYTES:,} bytes although it declares "
                                    f"{info.file_size:,}", f"a {info.filename} of at most {MAX_CONFIG_BYTES:,} bytes")
                chunks.append(chunk)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, RuntimeError, NotImplementedError) as err:
        raise SpecError(FIELD, f"{info.filename} that cannot be read back ({err}; a damaged file, or one whose sizes lie)",
                        NOT_KERAS) from None
    return b"".join(chunks)


def read_model(content: bytes, name: str = "model.keras") -> tuple[dict[str, str], list[str]]:
    """The settings a .keras file describes, as dotted names -> text values, and notes on what was not taken over."""
    config = read_config(content, name)
    if not isinstance(config, dict) or config.get("class_name") not in ("Sequential", "Functional"):
        kind = config.get("class_name") if isinstance(config, dict) else type(config).__name__
        raise SpecError(FIELD, f"a model of class {kind!r}", "a Sequential or Functional model of " + ALLOWED_LAYERS)
    notes: list[str] = []
    inputs, dense, scalings = _layers((config.get("config") or {}).get("layers") or [], notes)
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
        **scalings,
    }
    settings.update(_compiled(config.get("compile_config"), notes))
    return settings, notes


def _layers(layers: list, notes: list[str]) -> tuple[int, list[tuple[str, dict]], dict[str, str]]:
    """The input width, the Dense layers (label, config) and the lab's own scalers, or a SpecError naming the first layer refused."""
    inputs = 1
    dense: list[tuple[str, dict]] = []
    scalings: dict[str, str] = {}
    for index, layer in enumerate(layers):
        if not isinstance(layer, dict):
            raise SpecError(FIELD, f"layer {index}, a {type(layer).__name__} instead of a layer", ALLOWED_LAYERS)
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
        if cls == "Rescaling":
            scalings.update(_scaling(label, inner, first=not dense and index <= 1, last=index == len(layers) - 1, notes=notes))
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
    return inputs, dense, scalings


def _scaling(label: str, inner: dict, first: bool, last: bool, notes: list[str]) -> dict[str, str]:
    """A Rescaling the lab's download writes (core/io/export.py), read back as the run's x or y scaling.

    The lab scales outside the network with scalers fitted on the training data (core/data/datasets.py), and its
    .keras file carries them as `scale_x_<kind>` right after the input and `unscale_y_<kind>` last: the kind
    becomes data.x_scaling / data.y_scaling, fitted again on the data the file is trained on. A Rescaling
    anywhere else, of another name, or whose numbers no scaler of its kind could give, is refused.
    """
    name = str(inner.get("name", ""))
    match = re.fullmatch(r"(scale_x|unscale_y)(?:_(\w+))?", name)
    role = None if match is None else "x" if match[1] == "scale_x" else "y"
    kind = (match[2] or "") if match else ""
    if role is None or not (first if role == "x" else last) or kind not in ("", *SCALINGS):
        raise SpecError(FIELD, label, ALLOWED_LAYERS + "; a Rescaling only as the lab's download writes its scaling: "
                        f"scale_x_<scaling> right after the input, unscale_y_<scaling> last (<scaling>: {', '.join(SCALINGS)})")
    scale, offset = _numbers(inner.get("scale", 1.0)), _numbers(inner.get("offset", 0.0))
    if not scale or not offset or not all(math.isfinite(v) for v in scale + offset) or min(scale) <= 0 \
            or max(len(scale), len(offset)) > (2 if role == "x" else 1):
        raise SpecError(FIELD, f"{label} with scale {_shown(scale)} and offset {_shown(offset)}",
                        "the scale (a positive number per column) and offset of a scaler the lab fits")
    identity = all(v == 1.0 for v in scale) and all(v == 0.0 for v in offset)
    if kind == "none" and not identity:
        raise SpecError(FIELD, f"{label} with scale {_shown(scale)} and offset {_shown(offset)}",
                        "scale 1 and offset 0 for scaling none (the lab's download of an unscaled run)")
    if not kind:  # a download from before the layers named their scaler: only no scaling is certain
        if not identity:
            notes.append(f"The file's {name} does not say which scaler fitted it: the current "
                         f"{'x' if role == 'x' else 'y'} scaling is kept.")
            return {}
        kind = "none"
    return {f"data.{role}_scaling": kind}


def _numbers(value: Any) -> list[float]:
    """A Rescaling's scale or offset as Keras writes it (a number, a list, or a numpy array as {"class_name": "__numpy__"})."""
    if isinstance(value, dict) and value.get("class_name") == "__numpy__":
        value = (value.get("config") or {}).get("value")
    values = value if isinstance(value, list) else [value]
    try:
        return [float(v) for v in values]
    except (TypeError, ValueError):
        return []


def _shown(values: list[float]) -> str:
    return ", ".join(f"{v:.6g}" for v in values[:4]) + (", ..." if len(values) > 4 else "") if values else "(not a number)"


def _activation(label: str, inner: dict) -> str:
    act = inner.get("activation", "linear")
    if isinstance(act, dict):  # a serialised function (a lambda, say): only the lab's own x^2 is known by name
        inner_config = act.get("config")  # a registered function: {"class_name": "function", "config": "tinynet>square"}
        act = inner_config if isinstance(inner_config, str) else act.get("registered_name") or act.get("class_name")
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
    scale = None if math.isclose(scale, DEFAULT_INIT_SCALE, rel_tol=1e-6) else _short(scale)
    if role == "bias" and scale is not None:  # the lab's bias initializers take Keras's default scale (its own downloads)
        raise SpecError(FIELD, f"{label} with a bias initializer {cls} of scale {scale:g}",
                        f"zeros, ones, a glorot/he/lecun bias initializer, or a random one of Keras's default scale {DEFAULT_INIT_SCALE:g}")
    return INITIALIZERS[cls], scale


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
