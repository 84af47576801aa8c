"""Every malformed .keras file ends in one SpecError of field model.file, never in another exception.

Hundreds of files are crafted here from a valid Keras 3 config.json written by hand (no TensorFlow): each value at
every JSON path replaced by each of a set of hostile values, each key deleted, nesting far past the limit, config.json
that is not JSON or not UTF-8, and archives cut short, with random bytes changed (seeded) or with compression and
encryption flags patched into their headers. Each file must either read (a dict of text settings and a list of text
notes) or be refused with a SpecError whose message is one line of at most 500 characters; any other exception fails
the test, naming the mutation. The command line turns such a file into exit code 2 and one line, without a traceback.
"""

from __future__ import annotations

import copy
import json
import math
import random
import struct
import time
import traceback
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest
from inprocess import cli
from test_kerasfile import zipped  # the same archive builder (its default: stored; here deflated, as Keras writes)

from core.io import kerasfile
from core.io.kerasfile import read_model
from core.settings.errors import SpecError

SEED = 1729
MAX_MESSAGE = 500


class Raw:
    """JSON text written as is where a value goes (1e400, NaN, an integer of 5,000 digits): json.dumps cannot write it."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return f"Raw({self.text[:20]!r})"


def dumps(config: Any) -> str:
    raws: dict[str, str] = {}

    def marked(value: Any) -> Any:
        if isinstance(value, Raw):
            raws[f"@raw{len(raws)}@"] = value.text
            return f"@raw{len(raws) - 1}@"
        if isinstance(value, dict):
            return {k: marked(v) for k, v in value.items()}
        if isinstance(value, list):
            return [marked(v) for v in value]
        return value

    text = json.dumps(marked(config))
    for mark, raw in raws.items():
        text = text.replace(json.dumps(mark), raw)
    return text


def nested(depth: int) -> list:
    value: list = [1]
    for _ in range(depth - 1):
        value = [value]
    return value


# Hostile values: each replaces the value at every JSON path of a valid config, one at a time.
HOSTILE = {
    "null": None, "an empty list": [], "an empty object": {}, "text": "abc", "-1": -1, "0": 0, "1e400": Raw("1e400"),
    "'NaN'": "NaN", "NaN": Raw("NaN"), "-Infinity": Raw("-Infinity"), "true": True, "10,000 characters": "x" * 10_000,
    "nested lists": nested(6), "an integer of 400 digits": Raw("9" * 400), "a list of objects": [{"class_name": "Dense"}],
    "a surrogate": Raw('"\\ud800\\n"'),
}


def dense(name: str, units: int, activation: str, kernel: Any) -> dict:
    return {"module": "keras.layers", "class_name": "Dense", "registered_name": None,
            "config": {"name": name, "trainable": True, "units": units, "activation": activation, "use_bias": True,
                       "kernel_initializer": kernel,
                       "bias_initializer": {"module": "keras.initializers", "class_name": "Zeros", "config": {}, "registered_name": None},
                       "kernel_regularizer": None, "bias_regularizer": None, "kernel_constraint": None, "bias_constraint": None},
            "build_config": {"input_shape": [None, units]}}


def rescaling(name: str, scale: float, offset: float) -> dict:
    return {"module": "keras.layers", "class_name": "Rescaling", "registered_name": None,
            "config": {"name": name, "trainable": True,
                       "scale": {"class_name": "__numpy__", "config": {"value": [scale], "dtype": "float64"}},
                       "offset": {"class_name": "__numpy__", "config": {"value": [offset], "dtype": "float64"}}}}


def sequential() -> dict:
    """The lab's own download of sine-relu, as Keras 3 writes it (its dtype policies left out): min-max scalers around 1-4-1."""
    uniform = {"module": "keras.initializers", "class_name": "RandomUniform", "config": {"seed": 7, "minval": -0.05, "maxval": 0.05},
               "registered_name": None}
    return {
        "module": "keras", "class_name": "Sequential", "registered_name": None,
        "config": {"name": "sine_relu", "trainable": True, "build_input_shape": [None, 1], "layers": [
            {"module": "keras.layers", "class_name": "InputLayer", "registered_name": None,
             "config": {"batch_shape": [None, 1], "dtype": "float64", "sparse": False, "name": "x"}},
            rescaling("scale_x_minmax", 0.15915494309189535, -0.0),
            dense("hidden_1", 4, "relu", uniform),
            dense("output", 1, "linear", copy.deepcopy(uniform)),
            rescaling("unscale_y_minmax", 1.9999999753210536, -0.9999999876605268),
        ]},
        "compile_config": {
            "optimizer": {"module": "keras.optimizers", "class_name": "Adam", "registered_name": None, "config": {
                "name": "adam", "learning_rate": 0.0010000000474974513, "weight_decay": None, "clipnorm": None, "global_clipnorm": None,
                "clipvalue": None, "use_ema": False, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-07, "amsgrad": False}},
            "loss": {"module": "keras.losses", "class_name": "MeanSquaredError", "config": {"name": "mse", "reduction": "sum"},
                     "registered_name": None},
            "loss_weights": None, "metrics": None, "run_eagerly": False, "steps_per_execution": 1, "jit_compile": False},
    }


def functional() -> dict:
    """A user's Functional model of two inputs: a RandomNormal kernel, the x^2 activation, SGD with Keras 2's decay, loss by name."""
    normal = {"module": "keras.initializers", "class_name": "RandomNormal", "config": {"seed": None, "mean": 0.0, "stddev": 0.3},
              "registered_name": None}
    hidden = dense("hidden", 6, "tanh", normal)
    hidden["inbound_nodes"] = [{"args": [{"class_name": "__keras_tensor__", "config": {"keras_history": ["x", 0, 0]}}], "kwargs": {}}]
    output = dense("output", 1, "linear", "he_uniform")
    output["config"]["activation"] = {"module": "builtins", "class_name": "function", "config": "tinynet>square", "registered_name": "function"}
    output["inbound_nodes"] = [{"args": [{"class_name": "__keras_tensor__", "config": {"keras_history": ["hidden", 0, 0]}}], "kwargs": {}}]
    return {
        "module": "keras", "class_name": "Functional", "registered_name": "Functional",
        "config": {"name": "mine", "layers": [
            {"module": "keras.layers", "class_name": "InputLayer", "config": {"batch_input_shape": [None, 2], "name": "x"},
             "inbound_nodes": []},
            hidden, output],
            "input_layers": [["x", 0, 0]], "output_layers": [["output", 0, 0]]},
        "compile_config": {
            "optimizer": {"module": "keras.optimizers", "class_name": "SGD", "config": {
                "learning_rate": {"module": "keras.optimizers.schedules", "class_name": "InverseTimeDecay",
                                  "config": {"initial_learning_rate": 0.02, "decay_steps": 1, "decay_rate": 0.001, "staircase": False}},
                "momentum": 0.9, "nesterov": True, "clipnorm": 1.0, "global_clipnorm": None}},
            "loss": "mae"},
    }


BASES = {"sequential": sequential, "functional": functional}
EXPECTED = {  # what each base reads as: the mutations start from files that read
    "sequential": {"model.units": "4", "model.activation": "relu", "model.output_activation": "linear", "train.optimizer": "adam",
                   "train.learning_rate": "0.001", "train.loss": "sse", "data.x_scaling": "minmax", "data.y_scaling": "minmax"},
    "functional": {"model.inputs": "2", "model.units": "6", "model.activation": "tanh", "model.output_activation": "square",
                   "model.kernel_initializer": "random_normal,he_uniform", "model.kernel_init_scale": "0.3", "train.optimizer": "sgd",
                   "train.learning_rate": "0.02", "train.decay": "0.001", "train.nesterov": "true", "train.clipnorm": "1.0",
                   "train.loss": "mae"},
}


def keras_file(config: Any, method: int = zipfile.ZIP_DEFLATED) -> bytes:
    text = config if isinstance(config, (str, bytes)) else dumps(config)
    return zipped({"metadata.json": b'{"keras_version": "3.15.0"}', "config.json": text.encode() if isinstance(text, str) else text},
                  method)


def paths(value: Any, at: tuple = ()) -> Iterator[tuple]:
    """Every JSON path of `value`, containers first, as tuples of keys and indices."""
    yield at
    if isinstance(value, dict):
        for key, item in value.items():
            yield from paths(item, at + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from paths(item, at + (index,))


def replaced(config: Any, path: tuple, new: Any) -> Any:
    if not path:
        return copy.deepcopy(new)
    config = copy.deepcopy(config)
    parent = config
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = copy.deepcopy(new)
    return config


def deleted(config: dict, path: tuple) -> dict:
    config = copy.deepcopy(config)
    parent = config
    for step in path[:-1]:
        parent = parent[step]
    del parent[path[-1]]
    return config


def value_mutations() -> Iterator[tuple[str, bytes]]:
    """Each hostile value at each path of each base, and each key or list item deleted (stored, not deflated: cheaper)."""
    for base, build in BASES.items():
        config = build()
        for path in list(paths(config)):
            where = "/".join(map(str, path)) or "(the whole config)"
            if not path:
                for name, value in HOSTILE.items():
                    yield f"{base}: {where} = {name}", keras_file(dumps(value), zipfile.ZIP_STORED)
                continue
            parent = config
            for step in path[:-1]:
                parent = parent[step]
            kept = parent[path[-1]]
            for name, value in HOSTILE.items():  # set in place and put back: no copy of the config per file
                parent[path[-1]] = value
                yield f"{base}: {where} = {name}", keras_file(config, zipfile.ZIP_STORED)
            parent[path[-1]] = kept
            yield f"{base}: {where} deleted", keras_file(deleted(config, path), zipfile.ZIP_STORED)


# config.json as text: deep nesting (json.loads recurses once per level), not JSON, not UTF-8, JSON of the wrong kind.
DEEP = 100_000
TEXTS: dict[str, str | bytes] = {
    "100,000 nested lists": "[" * DEEP + "]" * DEEP,
    "100,000 nested objects": '{"a": ' * DEEP + "1" + "}" * DEEP,
    "100,000 nested lists, never closed": "[" * DEEP,
    "nested lists after an unclosed string": '{"class_name": "Sequential", "config": {"name": "a' + "[" * DEEP,
    "nested lists in a layer's units": dumps(replaced(sequential(), ("config", "layers", 2, "config", "units"), nested(kerasfile.MAX_DEPTH + 1))),
    "nested objects in the optimizer": dumps(replaced(sequential(), ("compile_config", "optimizer", "config"), {"a": [{"b": nested(100)}]})),
    "escaped quotes, never closed": '"' + '\\"' * 200_000,
    "a trailing backslash": '["\\',
    "not JSON": '{"class_name": "Sequential",',
    "empty": "", "a number": "1e400", "NaN": "NaN", "text": '"Sequential"', "null": "null", "a list": "[]", "an object": "{}",
    "an integer of 5,000 digits": "9" * 5000, "a byte-order mark": "\ufeff" + dumps(sequential()),
    "UTF-16": dumps(sequential()).encode("utf-16"), "not UTF-8": b'{"class_name": "Seq\xffuential"}',
    "a lone surrogate in UTF-8": b'{"class_name": "\xed\xa0\x80"}', "NUL bytes": b"\x00" * 100,
    "a duplicated class_name": dumps(sequential())[:-1] + ', "class_name": ["Sequential"]}',
}


def text_mutations() -> Iterator[tuple[str, bytes]]:
    for name, text in TEXTS.items():
        yield f"config.json: {name}", keras_file(text)


LOCAL, CENTRAL = b"PK\x03\x04", b"PK\x01\x02"
# Header fields (offset, struct format) to patch, in the local header and the central directory's entry
FIELDS = {
    "version needed": ((4, "<H"), (6, "<H")), "flags": ((6, "<H"), (8, "<H")), "method": ((8, "<H"), (10, "<H")),
    "crc": ((14, "<L"), (16, "<L")), "compressed size": ((18, "<L"), (20, "<L")), "size": ((22, "<L"), (24, "<L")),
    "name length": ((26, "<H"), (28, "<H")), "extra length": ((28, "<H"), (30, "<H")),
}
PATCHES = {
    "version needed": [0xFFFF, 64], "flags": [0x1, 0x8, 0x20, 0x40, 0x41, 0x800, 0xFFFF],
    "method": [1, 6, 8, 9, 12, 14, 93, 98, 99, 0xFFFF], "crc": [0, 0xFFFFFFFF], "compressed size": [0, 1, 0xFFFFFFFF],
    "size": [0, 1, 0xFFFFFFFF], "name length": [0, 1, 0xFFFF], "extra length": [4, 0xFFFF],
}


def patched(content: bytes, signature: bytes, offset: int, form: str, value: int) -> bytes:
    """`content` with the field at `offset` of config.json's header of `signature` set to `value`."""
    at = content.find(signature)
    while at >= 0:
        (name_length,) = struct.unpack_from("<H", content, at + (26 if signature == LOCAL else 28))
        name_at = at + (30 if signature == LOCAL else 46)
        if content[name_at:name_at + name_length] == b"config.json":
            out = bytearray(content)
            struct.pack_into(form, out, at + offset, value)
            return bytes(out)
        at = content.find(signature, at + 4)
    raise AssertionError("no config.json header")


def header_mutations() -> Iterator[tuple[str, bytes]]:
    """Each field of config.json's local header, its central directory entry, or both, set to values zipfile refuses or misreads."""
    for method in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        content = keras_file(sequential(), method)
        for field, ((local, form), (central, _)) in FIELDS.items():
            for value in PATCHES[field]:
                name = f"{'stored' if method == zipfile.ZIP_STORED else 'deflated'} config.json, {field} {value:#x}"
                yield f"{name} in the local header", patched(content, LOCAL, local, form, value)
                yield f"{name} in the central directory", patched(content, CENTRAL, central, form, value)
                yield f"{name} in both headers", patched(patched(content, LOCAL, local, form, value), CENTRAL, central, form, value)


def byte_mutations(rng: random.Random) -> Iterator[tuple[str, bytes]]:
    """The archive cut short at 60 places, and 400 copies with 1 to 4 bytes changed at random (the seed fixes which)."""
    for method in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        content = keras_file(functional(), method)
        for cut in range(0, len(content), max(1, len(content) // 30)):
            yield f"archive ({method}) cut at byte {cut} of {len(content)}", content[:cut]
        for copy_number in range(200):
            out = bytearray(content)
            changes = [(rng.randrange(len(out)), rng.randrange(256)) for _ in range(rng.randint(1, 4))]
            for at, value in changes:
                out[at] = value
            yield f"archive ({method}) copy {copy_number}, bytes changed {changes}", bytes(out)


def finite(text: str) -> bool:
    """A setting that is a number is a finite one (no 'nan' or 'inf' read from the file)."""
    try:
        return math.isfinite(float(text))
    except ValueError:
        return True


def check(name: str, content: bytes, tally: dict[str, int], failures: list[str]) -> None:
    """Read `content`: a dict of text settings and text notes, or a one-line SpecError of model.file; anything else is a failure."""
    try:
        settings, notes = read_model(content, "fuzz.keras")
    except SpecError as err:
        message = str(err)
        if err.field != "model.file" or "\n" in message or "\r" in message or len(message) > MAX_MESSAGE:
            failures.append(f"{name}: a SpecError of field {err.field!r} and {len(message)} characters: {message[:200]!r}")
        tally["refused"] += 1
        return
    except Exception as err:  # the failure this test exists for: named with the mutation and where it was raised
        where = traceback.extract_tb(err.__traceback__)[-1]
        failures.append(f"{name}: {type(err).__name__}: {str(err)[:120]} (at {where.name}, line {where.lineno})")
        return
    if not (isinstance(settings, dict) and all(isinstance(k, str) and isinstance(v, str) and "\n" not in v and len(v) <= 200
                                               and finite(v) for k, v in settings.items())
            and isinstance(notes, list) and all(isinstance(n, str) and "\n" not in n for n in notes)):
        failures.append(f"{name}: read as {settings!r:.200} and {notes!r:.200}")
    tally["read"] += 1


def run(mutations: Iterator[tuple[str, bytes]]) -> dict[str, int]:
    tally, failures = {"read": 0, "refused": 0}, []
    began = time.perf_counter()
    for name, content in mutations:
        check(name, content, tally, failures)
    seconds = time.perf_counter() - began
    print(f"{sum(tally.values())} files in {seconds:.2f} s: {tally}")
    assert not failures, f"{len(failures)} crafted files raised something else than one line of SpecError:\n" + "\n".join(failures[:30])
    return tally


@pytest.mark.parametrize("base", list(BASES))
def test_the_valid_bases_read_as_their_settings(base):
    settings, notes = read_model(keras_file(BASES[base]()))
    assert {k: settings.get(k) for k in EXPECTED[base]} == EXPECTED[base]
    assert notes == []


def test_every_hostile_value_at_every_path_and_every_deleted_key_reads_or_is_refused_in_one_line():
    tally = run(value_mutations())
    assert tally["refused"] > 1000 and tally["read"] > 50, tally  # most are refused; an unused key's value reads


def test_deep_nesting_and_config_json_that_is_not_json_are_refused_in_one_line():
    began = time.perf_counter()
    tally = run(text_mutations())
    assert tally == {"read": 0, "refused": len(TEXTS)}, tally
    assert time.perf_counter() - began < 3


def test_nesting_is_refused_naming_its_depth_and_the_limit_while_brackets_inside_strings_do_not_count():
    with pytest.raises(SpecError, match=r"config.json nested 100,000 levels deep.*at most 64 levels"):
        read_model(keras_file(TEXTS["100,000 nested lists"]))
    config = sequential()
    config["config"]["layers"][2]["config"]["name"] = "[{" * 5000 + '\\"'
    config["metadata"] = nested(kerasfile.MAX_DEPTH - 1)  # 64 levels with the object around it: at the limit, read
    settings, _ = read_model(keras_file(config))
    assert settings["model.units"] == "4"


def test_patched_compression_encryption_and_sizes_in_either_header_read_or_are_refused_in_one_line():
    tally = run(header_mutations())
    assert tally["refused"] > 100, tally


def test_archives_cut_short_or_with_random_bytes_changed_read_or_are_refused_in_one_line():
    run(byte_mutations(random.Random(SEED)))


def test_a_long_name_or_class_from_the_file_is_repeated_shortened_with_its_length():
    config = sequential()
    config["config"]["layers"][2]["class_name"] = "Conv" * 2500
    config["config"]["layers"][0]["config"]["name"] = "n" * 10_000
    config["config"]["layers"][2]["config"]["name"] = "\n" * 10_000
    with pytest.raises(SpecError) as refused:
        read_model(keras_file(config))
    message = str(refused.value)
    assert message.startswith("model.file: \"layer 2 '") and "characters)" in message, message  # the newlines escaped
    assert "\n" not in message and len(message) <= MAX_MESSAGE and len(refused.value.value) <= 130, message
    config = sequential()
    config["config"]["layers"][2]["config"]["activation"] = "a" * 10_000
    with pytest.raises(SpecError) as refused:
        read_model(keras_file(config))
    assert "activation 'aaaa" in str(refused.value) and len(str(refused.value)) <= MAX_MESSAGE, str(refused.value)


@pytest.mark.parametrize("case", ["units 'abc'", "nested 100,000 deep", "encrypted"])
def test_the_command_line_refuses_a_crafted_file_with_exit_code_2_and_one_line(tmp_path, case):
    content = {
        "units 'abc'": keras_file(replaced(sequential(), ("config", "layers", 2, "config", "units"), "abc")),
        "nested 100,000 deep": keras_file(TEXTS["100,000 nested lists"]),
        "encrypted": patched(keras_file(sequential()), CENTRAL, 8, "<H", 0x1),
    }[case]
    path = tmp_path / "crafted.keras"
    path.write_bytes(content)
    out = cli("run", "sine-relu", "--model", path)
    assert out.returncode == 2 and out.stdout == "", (out.returncode, out.stdout, out.stderr)
    assert out.stderr.startswith("error: --model: ") and out.stderr.count("\n") == 1 and "Traceback" not in out.stderr, out.stderr
    assert len(out.stderr) <= MAX_MESSAGE + 1, out.stderr
