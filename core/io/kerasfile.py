"""A user's Keras model file (.keras) read as settings: its Dense stack and its compile settings, or refused by layer.

The file is never loaded as a model: its `config.json` is read as JSON from the zip, so no Lambda
layer, custom object or other code in it can run (stricter than Keras's own `safe_mode`), and this
module needs no TensorFlow. What the lab can rebuild exactly becomes a dict of dotted settings
(`model.units`, `model.activation`, ..., `train.optimizer`, `train.learning_rate`, `train.loss`);
anything else is refused with a SpecError that names the layer and says what is allowed. The lab's own
download (core/io/export.py) reads back as the run it came from: its scaling layers, `scale_x_<scaling>`
and `unscale_y_<scaling>`, become `data.x_scaling` and `data.y_scaling`.

The file comes from a visitor and is read in the dashboard's server, so the archive is read with a cap on
what it inflates to, checked before and while inflating (`read_config`), and its JSON with a cap on nesting
(json.loads recurses once per level). Every value read from the JSON is checked for its type and range before
use (`_mapping`, `_list`, `_number`, `_flag`), so a malformed file of any kind ends in one SpecError of field
model.file, never in another exception; a name or class from the file is echoed shortened (`_shown_text`).

The lab trains the file's architecture from fresh weights drawn with the run's seed (its
initializers' own seeds, if any, are not used); the file's trained weights are not read.

Example:
    >>> settings, notes = read_model(open("mine.keras", "rb").read())
    >>> settings["model.units"], settings["train.optimizer"]
    ('16', 'adam')
"""

from __future__ import annotations

import io
import itertools
import json
import math
import re
import struct
import zipfile
import zlib
from typing import Any

from core.settings.errors import SpecError, shorten
from core.settings.recipes import DEFAULT_INIT_SCALE
from core.settings.rules import ACTIVATIONS, MAX_LAYERS, MAX_OUTPUTS, MAX_UNITS, SCALINGS

FIELD = "model.file"
MAX_BYTES = 20 * 1024 * 1024
# What the archive may inflate to: the file runs in the dashboard's server, so a zip bomb (a few MB that inflate to
# GB) is refused from its declared sizes before anything is inflated, and again while reading if they lie.
MAX_CONFIG_BYTES = 1024 * 1024  # config.json once inflated; a Keras model of Dense layers needs a few kB per layer
MAX_ENTRIES = 64  # files in the archive; Keras writes 3 (config.json, metadata.json, model.weights.h5)
MAX_DIRECTORY_BYTES = 64 * 1024  # the zip's central directory, which zipfile parses whole when it opens the archive
MAX_DEPTH = 64  # levels of [ and { in config.json; Keras writes about 8, and json.loads recurses once per level
CHUNK = 64 * 1024  # config.json is inflated this much at a time
ECHO = 40  # characters of a name or class from the file that a message repeats
END_RECORD = struct.Struct("<4s4H2LH")  # the zip's end of central directory record
# What zipfile and zlib raise on a damaged or crafted archive (NotImplementedError is a RuntimeError, struct.error
# a damaged record, UnicodeDecodeError a ValueError, OverflowError an ArithmeticError).
ARCHIVE_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, struct.error, EOFError, OSError, ValueError,
                  LookupError, ArithmeticError, RuntimeError)
NOT_KERAS = "a .keras file saved by Keras 3 (model.save('mine.keras'))"
AS_KERAS = "as Keras 3 writes it"
ALLOWED_LAYERS = "an InputLayer of shape (1,) or (2,), then Dense layers only"
INPUT_SHAPES = ("one input of shape (1,): a single x, or (2,): x1, x2")
# A JSON string, escapes included; one left open runs to the end, so that every quote starts a match and the pass
# stays linear (a string that never closes is invalid JSON, which json.loads then refuses without recursing into it).
STRINGS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*(?:"|\\?\Z)', re.DOTALL)
NOT_BRACKETS = re.compile(r"[^\[\]{}]+")
STEPS = {"[": 1, "{": 1, "]": -1, "}": -1}

# Keras class names -> the lab's names
INITIALIZERS = {
    "GlorotUniform": "glorot_uniform", "GlorotNormal": "glorot_normal", "HeNormal": "he_normal", "HeUniform": "he_uniform",
    "LecunNormal": "lecun_normal", "LecunUniform": "lecun_uniform", "Zeros": "zeros", "Ones": "ones",
    "RandomUniform": "random_uniform", "RandomNormal": "random_normal", "TruncatedNormal": "truncated_normal",
}
KERAS_NAMES = {lab: keras for keras, lab in INITIALIZERS.items()}  # glorot_uniform -> GlorotUniform
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
ALLOWED_LOSSES = ("mse, mae, binary_crossentropy, categorical_crossentropy, sparse_categorical_crossentropy "
                  "(or MeanSquaredError with reduction 'sum')")


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
        raise SpecError(FIELD, f"{shorten(name, ECHO)} ({len(content) / 1e6:.1f} MB)",
                        f"a .keras file of at most {MAX_BYTES // (1024 * 1024)} MB")
    entries, directory = _end_record(content)
    if entries > MAX_ENTRIES or directory > MAX_DIRECTORY_BYTES:
        raise SpecError(FIELD, f"an archive of {entries:,} entries in a central directory of {directory:,} bytes",
                        f"at most {MAX_ENTRIES} entries and {MAX_DIRECTORY_BYTES:,} bytes of directory ({NOT_KERAS}: 3 entries)")
    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
    except ARCHIVE_ERRORS:
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
        raw = _inflate(archive, info)
    return _parsed(raw)


def _parsed(raw: bytes) -> Any:
    """config.json's bytes as JSON: UTF-8, at most MAX_DEPTH levels deep (measured before json.loads recurses), valid."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise SpecError(FIELD, f"config.json that is not UTF-8 text (byte {err.start:,}: {err.object[err.start:err.start + 4]!r})",
                        NOT_KERAS + ", whose config.json is UTF-8 JSON") from None
    depth = _depth(text)
    if depth > MAX_DEPTH:
        raise SpecError(FIELD, f"config.json nested {depth:,} levels deep",
                        f"at most {MAX_DEPTH} levels of lists and objects ({NOT_KERAS}: about 8)")
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise SpecError(FIELD, f"config.json that is not valid JSON ({err.msg} at line {err.lineno}, column {err.colno})",
                        NOT_KERAS + ", whose config.json is UTF-8 JSON") from None
    except (ValueError, RecursionError) as err:  # a number of over 4,300 digits, say
        raise SpecError(FIELD, f"config.json that is not valid JSON ({_plain(err)})", NOT_KERAS + ", whose config.json is UTF-8 JSON") from None


def _depth(text: str) -> int:
    """The deepest nesting of lists and objects in JSON text, brackets inside strings left out: one linear pass in C."""
    brackets = NOT_BRACKETS.sub("", STRINGS.sub("", text))
    return max(itertools.accumulate(map(STEPS.__getitem__, brackets)), default=0)


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
                    raise SpecError(FIELD, f"{info.filename}, which inflates past {MAX_CONFIG_BYTES:,} bytes",
                                    f"a {info.filename} of at most {MAX_CONFIG_BYTES:,} bytes (it declares {info.file_size:,})")
                chunks.append(chunk)
    except SpecError:  # past the cap, above: a ValueError, which the next clause would take for the archive's own
        raise
    except ARCHIVE_ERRORS as err:
        raise SpecError(FIELD, f"{info.filename} that cannot be read back ({_plain(err)})",
                        f"{NOT_KERAS}, undamaged (a damaged file, or one whose sizes lie, cannot be read)") from None
    return b"".join(chunks)


def _plain(err: BaseException) -> str:
    """A library's error message on one line, shortened: it may quote bytes of the file."""
    return shorten(" ".join(str(err).split()) or type(err).__name__, ECHO)


def _shown_text(value: Any) -> str:
    """A value from the file as a message repeats it: quoted, its first ECHO characters and its length when longer."""
    if isinstance(value, str):
        return repr(value) if len(value) <= ECHO else f"{value[:ECHO]!r}… ({len(value):,} characters)"
    return shorten(repr(value), ECHO)


def _what(value: Any) -> str:
    """What a JSON value is, for a message: null, true, 3, 'abc' (shortened), a list of 2 items, an object of 3 keys."""
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, list):
        return f"a list of {len(value):,} item{'s' if len(value) != 1 else ''}"
    if isinstance(value, dict):
        return f"an object of {len(value):,} key{'s' if len(value) != 1 else ''}"
    return _shown_text(value)


def _mapping(value: Any, where: str) -> dict:
    """A JSON object of the file (null or absent: an empty one), or a SpecError naming where and what it is instead."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise SpecError(FIELD, f"{where}: {_what(value)}", f"an object {{...}} there, {AS_KERAS}")
    return value


def _list(value: Any, where: str) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise SpecError(FIELD, f"{where}: {_what(value)}", f"a list [...] there, {AS_KERAS}")
    return value


def _number(value: Any, where: str, default: float | None = None) -> float:
    """A finite JSON number of the file (null or absent: `default`, when there is one)."""
    if value is None and default is not None:
        return default
    number = math.nan
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            number = float(value)
        except OverflowError:  # an integer of hundreds of digits
            number = math.inf
    if not math.isfinite(number):
        raise SpecError(FIELD, f"{where} {_what(value)}", f"a finite number, {AS_KERAS}")
    return number


def _flag(value: Any, where: str, default: bool) -> bool:
    if value is None:
        return default
    if not isinstance(value, bool):
        raise SpecError(FIELD, f"{where} {_what(value)}", f"true or false, {AS_KERAS}")
    return value


def read_model(content: bytes, name: str = "model.keras") -> tuple[dict[str, str], list[str]]:
    """The settings a .keras file describes, as dotted names -> text values, and notes on what was not taken over."""
    config = read_config(content, name)
    if not isinstance(config, dict) or config.get("class_name") not in ("Sequential", "Functional"):
        kind = f"a model of class {_what(config.get('class_name'))}" if isinstance(config, dict) else f"config.json of {_what(config)}"
        raise SpecError(FIELD, kind, "a Sequential or Functional model of " + ALLOWED_LAYERS)
    notes: list[str] = []
    layers = _list(_mapping(config.get("config"), "the model's config").get("layers"), "the model's layers")
    inputs, dense, scalings = _layers(layers, notes)
    if not dense:
        raise SpecError(FIELD, "a model without Dense layers", ALLOWED_LAYERS)
    if len(dense) - 1 > MAX_LAYERS:
        raise SpecError(FIELD, f"{len(dense) - 1} hidden layers", f"at most {MAX_LAYERS} hidden Dense layers")
    settings = {"model.inputs": str(inputs), **_dense(dense), **scalings}
    settings.update(_compiled(config.get("compile_config"), notes))
    return settings, notes


def _dense(dense: list[tuple[str, dict]]) -> dict[str, str]:
    """The model.* settings of the Dense stack: widths, activations, biases, initializers and their one scale."""
    units = [_units(label, inner, output=index == len(dense) - 1) for index, (label, inner) in enumerate(dense)]
    biases = {_flag(inner.get("use_bias"), f"{label} use_bias", True) for label, inner in dense}
    if len(biases) != 1:
        raise SpecError(FIELD, "biases on some layers only", "use_bias the same on every Dense layer")
    activations = [_activation(label, inner) for label, inner in dense]
    kernels = [_initializer(label, inner.get("kernel_initializer"), "kernel") for label, inner in dense]
    scales = {scale for _, scale in kernels if scale is not None}
    if len(scales) > 1:
        raise SpecError(FIELD, "initializers of different scales " + ", ".join(f"{s:g}" for s in sorted(scales)),
                        "one scale (limit or stddev) for every random_uniform / random_normal / truncated_normal layer")
    penalties = {_l2(label, inner.get("kernel_regularizer")) for label, inner in dense}
    if len(penalties) != 1:
        raise SpecError(FIELD, "L2 penalties " + ", ".join(f"{p:g}" for p in sorted(penalties)),
                        "one L2 kernel_regularizer for every Dense layer (or none)")
    bias_inits = {_initializer(label, inner.get("bias_initializer"), "bias")[0] for label, inner in dense}
    if len(bias_inits) != 1:
        raise SpecError(FIELD, "bias initializers " + ", ".join(sorted(bias_inits)), "one bias initializer for every layer")
    return {
        "model.units": ",".join(str(u) for u in units[:-1]),
        "model.activation": ",".join(activations[:-1]),
        "model.output_activation": activations[-1],
        "model.output_units": str(units[-1]),
        "model.use_bias": str(biases.pop()).lower(),
        "model.kernel_initializer": ",".join(name for name, _ in kernels),
        "model.kernel_init_scale": "" if not scales else repr(scales.pop()),
        "model.bias_initializer": bias_inits.pop(),
        "model.l2": repr(penalties.pop()),
    }


def _l2(label: str, regularizer: Any) -> float:
    """A Dense layer's L2 kernel penalty: 0 without a regularizer; L2(l2), or L1L2 whose l1 is 0."""
    if regularizer is None:
        return 0.0
    cls = regularizer.get("class_name") if isinstance(regularizer, dict) else regularizer
    if cls not in ("L2", "L1L2", "l2"):
        raise SpecError(FIELD, f"{label} kernel regularizer {_what(cls)}", "an L2 kernel_regularizer, or none")
    args = _mapping(regularizer.get("config"), f"{label} kernel regularizer config") if isinstance(regularizer, dict) else {}
    if _number(args.get("l1"), f"{label} {cls} l1", 0.0) != 0.0:
        raise SpecError(FIELD, f"{label} kernel regularizer {cls} with l1 {_what(args.get('l1'))}", "an L2 penalty only (l1 0)")
    penalty = _short(_number(args.get("l2"), f"{label} {cls} l2", 0.01))
    if not 0.0 <= penalty <= 10.0:
        raise SpecError(FIELD, f"{label} kernel regularizer {cls}({penalty:g})", "an L2 penalty from 0 to 10")
    return penalty


def _units(label: str, inner: dict, output: bool) -> int:
    """A Dense layer's width: a whole number from 1 to MAX_UNITS (MAX_OUTPUTS for the output layer)."""
    units, high = inner.get("units"), MAX_OUTPUTS if output else MAX_UNITS
    number = units if isinstance(units, (int, float)) and not isinstance(units, bool) else math.nan
    if not 1 <= number <= high or number != int(number):  # nan and inf fail the range before int() sees them
        raise SpecError(FIELD, f"{label} with {_what(units)} units",
                        f"{'an output' if output else 'a hidden Dense'} layer of 1 to {high} units (a whole number)")
    return int(number)


def _class_text(cls: Any) -> str:
    """A layer's class for its label: as is when a plain name (Dense, Dropout), else quoted and shortened."""
    return cls if isinstance(cls, str) and cls.isidentifier() and len(cls) <= ECHO else _shown_text(cls)


def _layers(layers: list, notes: list[str]) -> tuple[int, list[tuple[str, dict]], dict[str, str]]:
    """The input width, the Dense layers (label, config) and the lab's own scalers, or a SpecError naming the first layer refused."""
    inputs = 1
    dense: list[tuple[str, dict]] = []
    scalings: dict[str, str] = {}
    for index, layer in enumerate(layers):
        if not isinstance(layer, dict):
            raise SpecError(FIELD, f"layer {index}, {_what(layer)} instead of a layer", ALLOWED_LAYERS)
        cls = layer.get("class_name")
        inner = _mapping(layer.get("config"), f"layer {index} ({_class_text(cls)}) config")
        label = f"layer {index} {_shown_text(inner.get('name', '?'))} ({_class_text(cls)})"
        if cls == "InputLayer":
            if index != 0:
                raise SpecError(FIELD, f"{label}, a second input", INPUT_SHAPES)
            inputs = _input_width(label, inner.get("batch_shape") or inner.get("batch_input_shape"))
            continue
        if cls == "Rescaling":
            scalings.update(_scaling(label, inner, first=not dense and index <= 1, last=index == len(layers) - 1, notes=notes))
            continue
        if cls != "Dense":
            raise SpecError(FIELD, label, ALLOWED_LAYERS + " (the lab rebuilds exactly what it can train; no convolutions, "
                            "dropout, batch normalisation, Lambda or custom layers)")
        nodes = _list(layer.get("inbound_nodes"), f"{label} inbound_nodes")
        if len(nodes) > 1:
            raise SpecError(FIELD, f"{label}, used {len(nodes)} times", "each Dense layer used once, one after another")
        for extra in ("bias_regularizer", "activity_regularizer", "kernel_constraint", "bias_constraint"):
            if inner.get(extra):
                raise SpecError(FIELD, f"{label} with a {extra.replace('_', ' ')}",
                                "Dense layers without constraints or bias and activity regularizers (an L2 kernel_regularizer is read)")
        dense.append((label, inner))
    return inputs, dense, scalings


def _input_width(label: str, shape: Any) -> int:
    """The width of an InputLayer's batch shape [null, 1] or [null, 2]."""
    width = shape[1:] if isinstance(shape, list) else None
    if width not in ([1], [2]) or type(width[0]) is not int:  # [1.0] and [true] equal [1] in Python, not in a shape
        shown = shorten(repr(tuple(width)), ECHO) if isinstance(width, list) else _what(shape)
        raise SpecError(FIELD, f"{label} of shape {shown}", INPUT_SHAPES)
    return width[0]


def _scaling(label: str, inner: dict, first: bool, last: bool, notes: list[str]) -> dict[str, str]:
    """A Rescaling the lab's download writes (core/io/export.py), read back as the run's x or y scaling.

    The lab scales outside the network with scalers fitted on the training data (core/data/datasets.py), and its
    .keras file carries them as `scale_x_<kind>` right after the input and `unscale_y_<kind>` last: the kind
    becomes data.x_scaling / data.y_scaling, fitted again on the data the file is trained on. A Rescaling
    anywhere else, of another name, or whose numbers no scaler of its kind could give, is refused.
    """
    name = inner.get("name") if isinstance(inner.get("name"), str) else ""
    match = re.fullmatch(r"(scale_x|unscale_y)(?:_(\w+))?", name)
    role = None if match is None else "x" if match[1] == "scale_x" else "y"
    kind = (match[2] or "") if match else ""
    if role is None or not (first if role == "x" else last) or kind not in ("", *SCALINGS):
        raise SpecError(FIELD, label, ALLOWED_LAYERS + "; a Rescaling only as the lab's download writes its scaling: "
                        f"scale_x_<scaling> right after the input, unscale_y_<scaling> last (<scaling>: {', '.join(SCALINGS)})")
    scale, offset = _numbers(inner.get("scale", 1.0)), _numbers(inner.get("offset", 0.0))
    if not scale or not offset or not all(math.isfinite(v) for v in scale + offset) or min(scale) <= 0 \
            or max(len(scale), len(offset)) > (2 if role == "x" else 1):
        raise SpecError(FIELD, f"{label}: scale {_shown(scale)}, offset {_shown(offset)}",
                        "the scale (a positive number per column) and offset of a scaler the lab fits")
    identity = all(v == 1.0 for v in scale) and all(v == 0.0 for v in offset)
    if kind == "none" and not identity:
        raise SpecError(FIELD, f"{label}: scale {_shown(scale)}, offset {_shown(offset)}",
                        "scale 1 and offset 0 for scaling none (the lab's download of an unscaled run)")
    if not kind:  # a download from before the layers named their scaler: only no scaling is certain
        if not identity:
            notes.append(f"The file's {name} does not say which scaler fitted it: the current "
                         f"{'x' if role == 'x' else 'y'} scaling is kept.")
            return {}
        kind = "none"
    return {f"data.{role}_scaling": kind}


def _numbers(value: Any) -> list[float]:
    """A Rescaling's scale or offset as Keras writes it (a number, a list, or a numpy array as {"class_name": "__numpy__"}).

    Anything else (text, null, nested lists, an integer too large for a float) gives [], which the caller refuses.
    """
    if isinstance(value, dict) and value.get("class_name") == "__numpy__":
        array = value.get("config")
        value = array.get("value") if isinstance(array, dict) else None
    values = value if isinstance(value, list) else [value]
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return []
    try:
        return [float(v) for v in values]
    except OverflowError:
        return []


def _shown(values: list[float]) -> str:
    return ", ".join(f"{v:.6g}" for v in values[:4]) + (", ..." if len(values) > 4 else "") if values else "(not a number)"


def _activation(label: str, inner: dict) -> str:
    act = inner.get("activation", "linear")
    if isinstance(act, dict):  # a serialised function (a lambda, say): only the lab's own x^2 is known by name
        inner_config = act.get("config")  # a registered function: {"class_name": "function", "config": "tinynet>square"}
        act = inner_config if isinstance(inner_config, str) else act.get("registered_name") or act.get("class_name")
    act = "linear" if act is None else "square" if act == "tinynet>square" else act
    if not isinstance(act, str) or act not in ACTIVATIONS:
        raise SpecError(FIELD, f"{label} with activation {_what(act)}", "one of " + ", ".join(ACTIVATIONS))
    return act


def _initializer(label: str, spec: Any, role: str) -> tuple[str, float | None]:
    if spec is None:
        return ("glorot_uniform", None) if role == "kernel" else ("zeros", None)
    cls = spec.get("class_name") if isinstance(spec, dict) else spec
    if not isinstance(cls, str) or KERAS_NAMES.get(cls, cls) not in INITIALIZERS:
        raise SpecError(FIELD, f"{label} {role} initializer {_what(cls)}", "one of " + ", ".join(INITIALIZERS))
    cls = KERAS_NAMES.get(cls, cls)
    args = _mapping(spec.get("config"), f"{label} {role} initializer config") if isinstance(spec, dict) else {}
    if cls not in SCALED:
        return INITIALIZERS[cls], None
    where = f"{label} {cls}"
    if cls == "RandomUniform":
        low = _number(args.get("minval"), f"{where} minval", -DEFAULT_INIT_SCALE)
        high = _number(args.get("maxval"), f"{where} maxval", DEFAULT_INIT_SCALE)
        if not math.isclose(low, -high, rel_tol=1e-6):
            raise SpecError(FIELD, f"{label}: RandomUniform({low:g}, {high:g})", "a uniform range symmetric about 0 (-a, a)")
        scale = high
    else:
        mean = _number(args.get("mean"), f"{where} mean", 0.0)
        if mean != 0.0:
            raise SpecError(FIELD, f"{label}: {cls} of mean {mean:g}", "a normal initializer of mean 0")
        scale = _number(args.get("stddev"), f"{where} stddev", DEFAULT_INIT_SCALE)
    scale = None if math.isclose(scale, DEFAULT_INIT_SCALE, rel_tol=1e-6) else _short(scale)
    if role == "bias" and scale is not None:  # the lab's bias initializers take Keras's default scale (its own downloads)
        raise SpecError(FIELD, f"{label} bias initializer {cls}({scale:g})",
                        f"zeros, ones, a glorot/he/lecun bias initializer, or a random one of Keras's default scale {DEFAULT_INIT_SCALE:g}")
    return INITIALIZERS[cls], scale


def _short(value: float) -> float:
    """A float32 number as it was typed (0.009999999776 -> 0.01)."""
    return float(f"{value:.7g}")


def _setting(value: Any, where: str, default: float | None = None) -> str:
    """A finite number of the file as a setting's text, as it was typed."""
    return repr(_short(_number(value, where, default)))


def _compiled(compile_config: Any, notes: list[str]) -> dict[str, str]:
    compile_config = _mapping(compile_config, "compile_config")
    if not compile_config:
        notes.append("The file was saved without compile settings (optimizer, loss): the current training settings are kept.")
        return {}
    out = _optimizer(compile_config.get("optimizer"), notes)
    out.update(_loss(compile_config.get("loss")))
    return out


def _optimizer(optimizer: Any, notes: list[str]) -> dict[str, str]:
    """The train.* settings of a serialised optimizer: its class, learning rate (or Keras 2's decay), momentum and clipping."""
    if optimizer is None:
        return {}
    optimizer = _mapping(optimizer, "optimizer")
    cls = optimizer.get("class_name")
    if not isinstance(cls, str) or cls not in OPTIMIZERS:
        raise SpecError(FIELD, f"optimizer {_what(cls)}", "one of " + ", ".join(OPTIMIZERS))
    args = _mapping(optimizer.get("config"), f"optimizer {cls} config")
    out: dict[str, str] = {}
    lr = args.get("learning_rate")
    if isinstance(lr, dict):  # a schedule: Keras 2's decay is InverseTimeDecay with decay_steps 1
        sched = _mapping(lr.get("config"), "learning-rate schedule config")
        if lr.get("class_name") != "InverseTimeDecay" or _number(sched.get("decay_steps"), "InverseTimeDecay decay_steps", 0.0) != 1 \
                or sched.get("staircase"):
            raise SpecError(FIELD, f"learning-rate schedule {_what(lr.get('class_name'))}",
                            "a constant learning rate, or InverseTimeDecay with decay_steps=1 (Keras 2's decay)")
        out["train.decay"] = _setting(sched.get("decay_rate"), "InverseTimeDecay decay_rate")
        lr = sched.get("initial_learning_rate")
    out["train.optimizer"] = OPTIMIZERS[cls]
    if lr is not None:
        out["train.learning_rate"] = _setting(lr, f"{cls} learning_rate")
    if args.get("decay"):  # a Keras 2 file read by a legacy optimizer
        out["train.decay"] = _setting(args["decay"], f"{cls} decay")
    if cls in ("SGD", "RMSprop"):
        out["train.momentum"] = _setting(args.get("momentum"), f"{cls} momentum", 0.0)
    if cls == "SGD":
        out["train.nesterov"] = str(_flag(args.get("nesterov"), f"{cls} nesterov", False)).lower()
    for clip in ("clipnorm", "global_clipnorm"):
        out[f"train.{clip}"] = "" if args.get(clip) is None else _setting(args[clip], f"{cls} {clip}")
    if args.get("clipvalue") is not None or args.get("weight_decay") or args.get("use_ema"):
        notes.append("The optimizer's clipvalue, weight_decay and EMA settings are not used: the lab trains without them.")
    defaults = {"beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-07, "rho": 0.9, "initial_accumulator_value": 0.1}
    odd = [k for k, v in defaults.items() if args.get(k) is not None
           and not math.isclose(_number(args[k], f"{cls} {k}"), v, rel_tol=1e-6)]
    if odd or args.get("amsgrad") or args.get("centered"):
        notes.append("The optimizer's " + ", ".join(odd + [k for k in ("amsgrad", "centered") if args.get(k)])
                     + " differ from Keras's defaults; the lab uses the defaults.")
    return out


def _loss(loss: Any) -> dict[str, str]:
    """train.loss of a loss given by name ("mse") or serialised ({"class_name": "MeanSquaredError", "config": {...}})."""
    if loss is None:
        return {}
    if not isinstance(loss, (str, dict)):  # a list or dict of losses is for a model of several outputs
        raise SpecError(FIELD, f"loss {_what(loss)}", "one loss: " + ALLOWED_LOSSES)
    name = loss.get("class_name") if isinstance(loss, dict) else loss
    args = _mapping(loss.get("config"), "loss config") if isinstance(loss, dict) else {}
    if not isinstance(name, str):
        raise SpecError(FIELD, f"loss {_what(name)}", ALLOWED_LOSSES)
    if args.get("from_logits"):
        raise SpecError(FIELD, f"loss {_shown_text(name)} with from_logits=True", "a loss on the output's probabilities "
                        "(from_logits=False, with a sigmoid or softmax output)")
    if name in ("MeanSquaredError", "mse", "mean_squared_error") and args.get("reduction") == "sum":
        return {"train.loss": "sse"}
    if name not in LOSSES:
        raise SpecError(FIELD, f"loss {_shown_text(name)}", ALLOWED_LOSSES)
    return {"train.loss": LOSSES[name]}
