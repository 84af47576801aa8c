"""A .keras file read as settings: the lab's own download reads back as its run, and a crafted archive is refused cheaply."""

import io
import json
import struct
import time
import tracemalloc
import zipfile
import zlib

import numpy as np
import pytest

from core.cases import scenarios
from core.data.datafile import parse
from core.io import export, kerasfile
from core.io.kerasfile import read_model
from core.settings.errors import SpecError

THREE_CLASSES = parse("x,label\n" + "".join(f"{i * 250},{min(i // 40, 2)}\n" for i in range(120)), name="three.csv")

# Runs whose download must read back as themselves: every scaler kind for x and y, each optimizer and loss, Keras 2's
# decay, clip norms, Nesterov, an L2 penalty, no biases, the x^2 activation, a random bias initializer, a classifier (y unscaled),
# a file of three classes (one-hot categorical cross-entropy), two inputs with their own scalers, and features.
RUNS = {
    "sine-relu": ("sine-relu", "question", {}, None),
    "noisy-sine": ("noisy-sine", "question", {}, None),
    "parabola": ("parabola", "answer", {}, None),
    "segments": ("segments", "answer", {}, None),
    "custom-variety": ("custom", "question", {
        "data.x_scaling": "standard", "data.y_scaling": "symmetric", "model.units": "6", "model.activation": "square",
        "model.kernel_initializer": "he_uniform", "model.bias_initializer": "random_normal", "train.optimizer": "sgd",
        "train.learning_rate": "0.01", "train.momentum": "0.9", "train.nesterov": "true", "train.clipnorm": "1.0", "train.loss": "mae",
        "model.l2": "0.003"}, None),
    "rmsprop-decay": ("custom", "question", {
        "data.x_scaling": "symmetric", "data.y_scaling": "standard", "train.optimizer": "rmsprop", "train.momentum": "0.5",
        "train.decay": "0.001", "train.global_clipnorm": "2.0", "model.kernel_initializer": "truncated_normal",
        "model.kernel_init_scale": "0.3"}, None),
    "three-classes": ("data", "question", {
        "data.x_scaling": "minmax", "model.output_units": "3", "model.output_activation": "softmax",
        "train.loss": "categorical_crossentropy", "train.optimizer": "adagrad"}, THREE_CLASSES),
    "playground": ("playground", "answer", {"data.x_scaling": "standard"}, None),
    "playground-features": ("playground", "question", {"data.features": "x1*x2,x1^2"}, None),
}


def as_keras_names(spec):
    """`uniform` is Keras 2's name of RandomUniform(-0.05, 0.05): a file can only say random_uniform, the same initializer."""
    names = tuple("random_uniform" if n == "uniform" else n for n in spec.model.kernel_initializer)
    return spec.with_values({"model.kernel_initializer": names})


def download(spec) -> bytes:
    """The lab's .keras download of `spec`, as the worker makes it (scalers fitted on the spec's data), with its initial weights."""
    from core.engine.models import initial_weights

    return export.model_bytes(spec, initial_weights(spec.model, spec.seed))


@pytest.mark.parametrize("name", list(RUNS))
def test_the_labs_own_download_reads_back_as_the_run_it_came_from(name):
    scenario, preset, changes, table = RUNS[name]
    spec = scenarios.get(scenario).spec(preset).with_text(changes, table=table)
    settings, notes = read_model(download(spec), f"{name}.keras")
    assert notes == [], notes
    if spec.data.input_features in (("x",), ("x1", "x2")):
        assert settings["data.x_scaling"] == spec.data.x_scaling  # scale_x_<kind> read back as the scaler
    else:
        assert "data.x_scaling" not in settings  # features of the scaled inputs: no built-in x scaling to read
    assert settings["data.y_scaling"] == spec.data.y_scaling
    back = spec.with_text(settings)
    wanted = as_keras_names(spec)
    assert back.model == wanted.model and back.train == wanted.train and back.data == wanted.data


def lab_config(name: str = "sine-relu") -> dict:
    scenario, preset, changes, table = RUNS[name]
    with zipfile.ZipFile(io.BytesIO(download(scenarios.get(scenario).spec(preset).with_text(changes, table=table)))) as archive:
        return json.loads(archive.read("config.json"))


def with_config(config: dict) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("config.json", json.dumps(config))
    return buffer.getvalue()


def rescaling(config: dict, index: int) -> dict:
    return config["config"]["layers"][index]["config"]


def edited(change) -> dict:
    config = lab_config()
    change(config)
    return config


def refusal(change, where: str) -> SpecError:
    """The lab's own download edited by `change`, read: refused as model.file, naming `where`."""
    with pytest.raises(SpecError) as refused:
        read_model(with_config(edited(change)))
    assert refused.value.field == "model.file" and where in refused.value.value, str(refused.value)
    return refused.value


# Rescaling layers the lab could not have written: refused, naming the layer and what is allowed.
NOT_THE_LABS = {
    "a user's own": (lambda c: rescaling(c, 1).update(name="rescaling"), "layer 1 'rescaling' (Rescaling)"),
    "an unknown scaler": (lambda c: rescaling(c, 1).update(name="scale_x_log"), "layer 1 'scale_x_log' (Rescaling)"),
    "scale_x last": (lambda c: rescaling(c, -1).update(name="scale_x_minmax"), "'scale_x_minmax' (Rescaling)"),
    "unscale_y first": (lambda c: rescaling(c, 1).update(name="unscale_y_minmax"), "'unscale_y_minmax' (Rescaling)"),
    "none that scales": (lambda c: rescaling(c, 1).update(name="scale_x_none"), "'scale_x_none' (Rescaling): scale 0.159155"),
    "a negative scale": (lambda c: rescaling(c, -1).update(scale=-2.0), "'unscale_y_minmax' (Rescaling): scale -2, offset"),
    "three columns": (lambda c: rescaling(c, 1).update(scale=[1.0, 2.0, 3.0]), "(Rescaling): scale 1, 2, 3, offset"),
}


@pytest.mark.parametrize("case", list(NOT_THE_LABS))
def test_a_rescaling_the_lab_could_not_have_written_is_refused(case):
    change, where = NOT_THE_LABS[case]
    error = refusal(change, where)
    assert "scale" in error.allowed, str(error)  # the lab's own layers, or the numbers a scaler gives


def dense(config: dict, index: int | None = None) -> dict | list[dict]:
    """Dense layer `index`'s config, or every Dense layer's."""
    layers = [layer["config"] for layer in config["config"]["layers"] if layer["class_name"] == "Dense"]
    return layers if index is None else layers[index]


def l2(value: float, l1: float | None = None, name: str = "L2") -> dict:
    return {"module": "keras.regularizers", "class_name": name, "config": {"l2": value, **({"l1": l1} if l1 is not None else {})}}


# Penalties the lab cannot train: refused, naming the layer and what it found.
PENALTIES = {
    "L1": (lambda c: dense(c, 0).update(kernel_regularizer=l2(0.01, 0.01, "L1L2")), "kernel regularizer L1L2 with l1 0.01"),
    "two L2s": (lambda c: dense(c, 0).update(kernel_regularizer=l2(0.01)), "L2 penalties 0, 0.01"),
    "on the biases": (lambda c: dense(c, 0).update(bias_regularizer=l2(0.01)), "with a bias regularizer"),
    "too strong": (lambda c: [layer.update(kernel_regularizer=l2(50.0)) for layer in dense(c)], "kernel regularizer L2(50)"),
}


@pytest.mark.parametrize("case", list(PENALTIES))
def test_a_penalty_the_lab_cannot_train_is_refused(case):
    refusal(*PENALTIES[case])
    # ...while the same L2 on every layer, as Keras writes it (an L1L2 whose l1 is 0 too), is the lab's model.l2.
    same = edited(lambda c: [layer.update(kernel_regularizer=l2(0.02, 0.0, "L1L2")) for layer in dense(c)])
    assert read_model(with_config(same))[0]["model.l2"] == "0.02"


def test_a_download_from_before_the_layers_named_their_scaler_keeps_the_current_scaling():
    def old_names(config):
        rescaling(config, 1).update(name="scale_x")
        rescaling(config, -1).update(name="unscale_y")

    settings, notes = read_model(with_config(edited(old_names)))
    assert "data.x_scaling" not in settings and "data.y_scaling" not in settings
    assert notes == ["The file's scale_x does not say which scaler fitted it: the current x scaling is kept.",
                     "The file's unscale_y does not say which scaler fitted it: the current y scaling is kept."]
    identity = edited(lambda c: [rescaling(c, i).update(name=n, scale=1.0, offset=0.0) for i, n in ((1, "scale_x"), (-1, "unscale_y"))])
    settings, notes = read_model(with_config(identity))
    assert (settings["data.x_scaling"], settings["data.y_scaling"], notes) == ("none", "none", [])


def test_save_model_then_model_on_a_file_trains_the_same_network(tmp_path, capsys):
    from core.cli.main import main

    path = tmp_path / "m.keras"
    assert main(["run", "sine-relu", "--set", "train.epochs=2", "--save-model", str(path)]) == 0
    x = np.linspace(0, 2 * np.pi, 50)
    (tmp_path / "xy.csv").write_text("x,y\n" + "".join(f"{a:.6f},{np.sin(a):.6f}\n" for a in x))
    capsys.readouterr()
    assert main(["run", "data", "--data", str(tmp_path / "xy.csv"), "--model", str(path), "--set", "train.epochs=2", "--json"]) == 0
    out = capsys.readouterr()
    assert "note:" not in out.err, out.err
    config = json.loads(out.out)["config"]
    posted = as_keras_names(scenarios.get("sine-relu").spec()).to_dict()
    assert config["model"] == posted["model"]  # layers, activations, biases, initializers and their scale
    for name in ("optimizer", "learning_rate", "momentum", "nesterov", "decay", "clipnorm", "global_clipnorm", "loss"):
        assert config["train"][name] == posted["train"][name], name
    assert (config["data"]["x_scaling"], config["data"]["y_scaling"]) == ("minmax", "minmax")
    assert (config["data"]["n_samples"], config["data"]["test_samples"]) == (50, 0)  # every row of the file trains


# Crafted archives. A zip is written by hand here so that its declared sizes can be honest or lie.
LOCAL = struct.Struct("<4s5H3L2H")
CENTRAL = struct.Struct("<4s6H3L5H2L")
END = struct.Struct("<4s4H2LH")
SPACES = 3 * 1024**3  # config.json of 3 GiB of spaces, as in the issue: the file is 3 MB


def archive(entries: list[tuple[str, int, bytes, int, int]]) -> bytes:
    """A zip of (name, method, data as stored, crc, declared size) entries, both headers declaring that size."""
    body, directory = b"", b""
    for name, method, data, crc, size in entries:
        raw = name.encode()
        directory += CENTRAL.pack(b"PK\x01\x02", 20, 20, 0, method, 0, 33, crc, len(data), size, len(raw), 0, 0, 0, 0, 0, len(body)) + raw
        body += LOCAL.pack(b"PK\x03\x04", 20, 0, method, 0, 33, crc, len(data), size, len(raw), 0) + raw + data
    return body + directory + END.pack(b"PK\x05\x06", 0, 0, len(entries), len(entries), len(directory), len(body), 0)


@pytest.fixture(scope="module")
def bomb():
    """config.json of SPACES spaces, deflated at level 9: one block per MiB, identical after a full flush, so it is built in ms."""
    chunk = b" " * 2**20
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = packer.compress(chunk) + packer.flush(zlib.Z_FULL_FLUSH)
    data = block * (SPACES // len(chunk)) + packer.flush()
    crc = 0
    for _ in range(SPACES // len(chunk)):
        crc = zlib.crc32(chunk, crc)
    return data, crc


def refused_cheaply(content: bytes) -> str:
    """The refusal of `content`, checked to take under 5 s and under 64 MB of Python memory at its peak (both measured)."""
    tracemalloc.start()
    began = time.perf_counter()
    try:
        with pytest.raises(SpecError) as refused:
            read_model(content, "bomb.keras")
        seconds = time.perf_counter() - began
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    print(f"refused in {seconds * 1000:.1f} ms, peak {peak / 1e6:.2f} MB: {refused.value}")
    assert seconds < 5, f"refused in {seconds:.1f} s; it should take milliseconds"
    assert peak < 64e6, f"the refusal allocated {peak / 1e6:.0f} MB at its peak; the cap is {kerasfile.MAX_CONFIG_BYTES:,} bytes"
    return str(refused.value)


def test_a_zip_bomb_declaring_its_size_is_refused_before_inflating(bomb):
    data, crc = bomb
    content = archive([("config.json", zipfile.ZIP_DEFLATED, data, crc, SPACES)])
    assert len(content) < 4e6
    with zipfile.ZipFile(io.BytesIO(content)) as check:  # a well-formed zip: zipfile itself would inflate all 3 GiB
        assert check.getinfo("config.json").file_size == SPACES and check.testzip is not None
    message = refused_cheaply(content)
    assert "config.json of 3,221,225,472 bytes once inflated" in message and "at most 1,048,576 bytes" in message, message


@pytest.mark.parametrize("declared", [100, kerasfile.MAX_CONFIG_BYTES])
def test_a_zip_bomb_lying_about_its_size_is_refused_while_inflating(bomb, declared):
    data, crc = bomb
    message = refused_cheaply(archive([("config.json", zipfile.ZIP_DEFLATED, data, crc, declared)]))
    assert "config.json that cannot be read back" in message and "sizes lie" in message, message


def test_inflating_stops_past_the_cap_whatever_the_header_says(bomb):
    data, crc = bomb
    with zipfile.ZipFile(io.BytesIO(archive([("config.json", zipfile.ZIP_DEFLATED, data, crc, SPACES)]))) as opened:
        info = opened.getinfo("config.json")  # the before-check skipped: the reading loop alone must stop
        tracemalloc.start()
        began = time.perf_counter()
        try:
            with pytest.raises(SpecError, match=r"config.json, which inflates past 1,048,576 bytes.*it declares 3,221,225,472"):
                kerasfile._inflate(opened, info)
            seconds, peak = time.perf_counter() - began, tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert seconds < 5 and peak < 64e6, (seconds, peak)


def zipped(files: dict[str, bytes], method: int = zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=method) as out:
        for name, data in files.items():
            out.writestr(name, data)
    return buffer.getvalue()


def with_zip64_locator(content: bytes) -> bytes:
    end = content.rfind(b"PK\x05\x06")
    return content[:end] + b"PK\x06\x07" + bytes(16) + content[end:]


KERAS = "a .keras file saved by Keras 3"
MALFORMED = {
    "not a zip": (b"hello, not a zip", "a file that is not a zip with a config.json", KERAS),
    "a zip cut short": (zipped({"config.json": b"{}"})[:-30], "a file that is not a zip with a config.json", KERAS),
    "no config.json": (zipped({"metadata.json": b"{}"}), "a zip without config.json", KERAS),
    "not UTF-8": (zipped({"config.json": b'{"class_name": "Seq\xffuential"}'}), "config.json that is not UTF-8 text (byte 19: b'\\xffuen')",
                  "whose config.json is UTF-8 JSON"),
    "not JSON": (zipped({"config.json": b'{"class_name": "Sequential",'}), "config.json that is not valid JSON (Expecting property name",
                 "whose config.json is UTF-8 JSON"),
    "bzip2": (zipped({"config.json": b"{}"}, zipfile.ZIP_BZIP2), "config.json compressed with method 12", "stored or deflated"),
    "many entries": (zipped({f"{i}.txt": b"" for i in range(kerasfile.MAX_ENTRIES + 1)}), "an archive of 65 entries", "at most 64 entries"),
    "zip64": (with_zip64_locator(zipped({"config.json": b"{}"})), "a zip64 archive", KERAS),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_a_malformed_archive_is_refused_saying_what_it_is(case):
    content, where, allowed = MALFORMED[case]
    with pytest.raises(SpecError) as refused:
        read_model(content)
    assert refused.value.field == "model.file" and refused.value.value.startswith(where), str(refused.value)
    assert allowed in refused.value.allowed, str(refused.value)


def test_the_page_shows_the_refusal_of_a_zip_bomb_and_keeps_the_settings(bomb):
    from tests.test_pages import errors, page

    data, crc = bomb
    at = page("data")
    units = at.text_input(key="data.units").value
    uploader = next(u for u in at.get("file_uploader") if u.key == "data.model_upload")
    began = time.perf_counter()
    at = uploader.set_value(("bomb.keras", archive([("config.json", zipfile.ZIP_DEFLATED, data, crc, SPACES)]), "application/zip")).run()
    assert not at.exception and time.perf_counter() - began < 30
    shown = [e for e in errors(at) if "bomb.keras" in e]
    assert shown and shown[0].startswith("The model 'bomb.keras' was not used: config.json of 3,221,225,472 bytes once inflated"), errors(at)
    assert "at most 1,048,576 bytes" in shown[0] and "The settings before it are kept" in shown[0]
    assert at.text_input(key="data.units").value == units


def test_the_page_reads_the_labs_own_download_into_the_form():
    from tests.test_pages import errors, page

    at = page("data")
    uploader = next(u for u in at.get("file_uploader") if u.key == "data.model_upload")
    at = uploader.set_value(("sine-relu.keras", download(scenarios.get("sine-relu").spec()), "application/zip")).run()
    assert not at.exception and not errors(at), errors(at)
    note = next(i.value for i in at.info if "sine-relu.keras" in i.value)
    assert "1-4-1 relu/linear, adam at learning rate 0.001, loss mse, x scaling minmax, y scaling minmax" in note, note
    assert (at.selectbox(key="data.xscale").value, at.selectbox(key="data.yscale").value) == ("minmax", "minmax")
    assert at.text_input(key="data.units").value == "4"
