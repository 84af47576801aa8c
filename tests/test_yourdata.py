"""Your data: a user's CSV trained from the command line and in the engine, refused with its place when it is bad."""

import json

import numpy as np
import pytest

from core.cases import scenarios
from core.data.datafile import parse
from core.data.datasets import make_dataset
from core.settings.errors import SpecError
from tests.test_cli import cli


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("data")
    x = np.linspace(-3, 3, 200)
    (folder / "sine.csv").write_text("".join(f"{a:.5f},{np.sin(2 * a):.5f}\n" for a in x))  # no header: x, y
    rs = np.random.RandomState(1)
    income = rs.uniform(10_000, 60_000, 300)
    bought = ((income > 25_000) & (income < 45_000)).astype(int)
    (folder / "labels.csv").write_text("income,bought\n" + "".join(f"{a:.0f},{b}\n" for a, b in zip(income, bought)))
    bad = {
        "empty.csv": "",
        "text.csv": "x,y\n1,2\n2,abc\n3,4\n4,5\n",
        "nan.csv": "x,y\n1,2\n2,nan\n3,4\n4,5\n",
        "inf.csv": "x;y\n1;2\n2;3\n3;-inf\n4;5\n",
        "hole.csv": "x,y\n1,2\n2,\n3,4\n4,5\n",
        "wide.csv": "a,b,c,y\n" + "1,2,3,0\n2,3,4,1\n" * 4,
        "short.csv": "x,y\n1,2\n2,3\n3,4\n",
        "oneclass.csv": "x,y\n" + "".join(f"{i},1\n" for i in range(10)),
        "ragged.csv": "x,y\n1,2\n2,3,4\n3,4\n4,5\n",
    }
    for name, text in bad.items():
        (folder / name).write_text(text)
    (folder / "rows.csv").write_text("x,y\n" + "0,0\n" * 200_001)
    with open(folder / "huge.csv", "wb") as handle:  # over 20 MB: refused by its size, not parsed
        handle.write(b"x,y\n" + b"1.000000000,2.000000000\n" * 900_000)
    return folder


@pytest.mark.parametrize("name, where, allowed", [
    ("missing.csv", "missing.csv' is not allowed", "a readable CSV file (No such file or directory)"),
    ("empty.csv", "an empty file", "rows of numbers"),
    ("text.csv", "line 3, column 1 ('y'): 'abc'", "a number in every cell"),
    ("nan.csv", "line 3, column 1 ('y'): 'nan'", "a finite number"),
    ("inf.csv", "line 4, column 1 ('y'): '-inf'", "a finite number"),
    ("hole.csv", "line 3, column 1 ('y'): ''", "no empty cell"),
    ("ragged.csv", "line 3: 3 cells", "2 cells on every line"),
    ("short.csv", "3 rows", "at least 4 rows"),
    ("rows.csv", "200,001 rows", "at most 200,000 rows"),
    ("huge.csv", "MB)", "a file of at most 20 MB"),
    ("wide.csv", "data.x_columns: 'a, b, c'", "1 or 2 input columns"),
    ("oneclass.csv", "one class (1) in column 'y'", "at least 2 classes"),
])
def test_a_bad_file_on_the_command_line_is_one_line_and_exit_2(files, name, where, allowed):
    extra = ["--set", "data.task=classification"] if name == "oneclass.csv" else []
    out = cli("run", "data", "--data", str(files / name), *extra)
    assert out.returncode == 2, out.stdout + out.stderr
    assert out.stdout == "" and out.stderr.count("\n") == 1 and "Traceback" not in out.stderr
    assert out.stderr.startswith("error: ") and where in out.stderr and allowed in out.stderr, out.stderr


def test_data_is_only_for_the_data_scenario(files):
    out = cli("run", "sine-relu", "--data", str(files / "sine.csv"))
    assert out.returncode == 2 and "allowed: scenario data" in out.stderr


def test_a_headerless_x_y_file_trains_and_reports_r2(files):
    out = cli("run", "data", "--data", str(files / "sine.csv"), "--set", "model.units=16,16", "--set", "model.activation=tanh",
              "--set", "train.learning_rate=0.01", "--set", "train.epochs=300", "--set", "data.test_share=0.25", "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["config"]["data"]["function"] == "file" and result["config"]["data"]["file_name"] == "sine.csv"
    assert result["config"]["data"]["n_samples"] == 150 and result["config"]["data"]["test_samples"] == 50
    assert "table" not in result["config"]["data"]  # the data itself is never written into the run's JSON
    assert result["final"]["r2"] > 0.95


def test_integer_labels_with_x_in_the_tens_of_thousands_fail_raw_and_the_doctor_says_why(files):
    args = ["--data", str(files / "labels.csv"), "--set", "model.output_activation=softmax", "--set", "train.loss=binary_crossentropy"]
    out = cli("doctor", "data", *args, "--seeds", "4", "--seconds", "120", "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    ids = [f["id"] for f in report["findings"]]
    assert "output_range" in ids and "unscaled_input" in ids, ids
    softmax = next(f for f in report["findings"] if f["id"] == "output_range")
    assert "softmax over a single unit" in softmax["text"]
    assert report["control"]["successes"] == 0 and report["posted_fix"] is None
    best = report["best"]
    assert best["successes"] >= 3 and best["changes"]["model.output_activation"] == "sigmoid", best


def test_sweep_counts_successes_on_a_file(files):
    out = cli("sweep", "data", "--data", str(files / "labels.csv"), "--seeds", "4", "--set", "data.x_scaling=standard",
              "--set", "model.output_activation=sigmoid", "--set", "train.loss=binary_crossentropy", "--set", "train.learning_rate=0.01",
              "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["seeds"] == 4 and report["successes"] >= 3, report


def test_the_example_fails_raw_and_trains_scaled():
    raw = scenarios.get("data").spec()
    assert raw.data.table is not None and raw.data.resolved_task == "regression"
    assert raw.data.x_max > 3000 and raw.data.n_samples + raw.data.test_samples == 120
    from core.engine.training import train

    asked, answered = train(raw), train(scenarios.get("data").spec("answer"))
    assert asked.final["r2"] < 0 and answered.final["r2"] > 0.9
    assert raw.data.n_samples == 120 and answered.x_test is None  # every row trains: no hold-out unless one is asked for


def test_columns_by_name_the_test_share_and_a_copy_keep_the_table():
    table = parse("y,noise,x\n" + "".join(f"{i % 2},{i * 7 % 5},{i * 1000}\n" for i in range(40)), name="mine.csv")
    spec = scenarios.get("data").spec().with_values({"data.x_columns": "x", "data.y_column": "y", "data.test_share": "0.25"},
                                                    table=table)
    assert spec.data.resolved_task == "classification" and spec.data.file_name == "mine.csv"
    assert (spec.data.n_samples, spec.data.test_samples, spec.data.x_max) == (30, 10, 39_000)
    data = make_dataset(spec.data)
    assert sorted(np.unique(data.y)) == [0.0, 1.0] and len(data.x_test) == 10
    assert spec.with_value("train.epochs", 5).data.table is table  # a changed setting keeps the file
    assert "table" not in spec.to_dict()["data"] and spec.to_dict()["data"]["file_digest"] == table.digest
    with pytest.raises(SpecError, match="data.task: 'classification' is not allowed; allowed: auto or regression for function sine"):
        scenarios.get("sine-relu").spec().with_value("data.task", "classification")
    with pytest.raises(SpecError, match="data.noise"):
        spec.with_value("data.noise", 0.1)
    with pytest.raises(SpecError, match=r"model.output_units: 1 is not allowed; allowed: 3 \(one per class"):
        spec.with_table(parse("x,y\n" + "".join(f"{i},{i % 3}\n" for i in range(30))))


def test_a_file_spec_read_back_from_json_without_its_table_says_what_is_missing():
    from core.settings.specs import RunSpec

    spec = RunSpec.from_dict(json.loads(json.dumps(scenarios.get("data").spec().to_dict())))
    with pytest.raises(SpecError, match="data.file: 'none loaded'"):
        make_dataset(spec.data)


def test_the_exported_script_reads_the_file_and_agrees_with_the_lab(files, tmp_path):
    out = cli("run", "data", "--data", str(files / "labels.csv"), "--set", "data.x_scaling=standard", "--set", "data.test_share=0.2",
              "--set", "model.output_activation=sigmoid", "--set", "train.loss=binary_crossentropy", "--set", "train.epochs=30",
              "--save-script", str(tmp_path / "run.py"))
    assert out.returncode == 0, out.stderr
    (tmp_path / "labels.csv").write_bytes((files / "labels.csv").read_bytes())
    from inprocess import script  # run as __main__ in this process: it imports numpy and Keras only

    done = script(tmp_path / "run.py", tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "the same final loss to float32 rounding" in done.stdout
    assert "loss on the 60 held-out samples" in done.stdout


XOR = "x1,x2,y\n0,0,0\n0,1,1\n1,0,1\n1,1,0\n"


def test_a_four_row_xor_file_trains_on_every_row_by_default(tmp_path, capsys):
    from core.cli.main import main

    (tmp_path / "xor.csv").write_text(XOR)
    code = main(["run", "data", "--data", str(tmp_path / "xor.csv"), "--set", "model.units=4", "--set", "model.activation=tanh",
                 "--set", "model.output_activation=sigmoid", "--set", "train.loss=binary_crossentropy", "--set", "train.epochs=3",
                 "--json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    config = json.loads(out.out)["config"]["data"]
    assert (config["test_share"], config["n_samples"], config["test_samples"], config["file_name"]) == (0.0, 4, 0, "xor.csv")


def test_a_hold_out_that_leaves_too_few_rows_is_a_usage_error_before_training(tmp_path, capsys, monkeypatch):
    import core.cli.common as cli_common
    import core.cli.main as cli_main

    monkeypatch.setattr(cli_common, "worker", lambda: pytest.fail("a worker was started for settings that cannot train"))
    (tmp_path / "xor.csv").write_text(XOR)
    assert cli_main.main(["run", "data", "--data", str(tmp_path / "xor.csv"), "--set", "data.test_share=0.25"]) == 2
    out = capsys.readouterr()
    assert out.out == "" and out.err == ("error: data.test_share: 0.25 is not allowed; allowed: a share that leaves at least "
                                         "4 training rows of 4\n"), out.err


def test_the_page_says_a_hold_out_leaves_too_few_rows_before_train():
    from tests.test_pages import errors, page, shown, warnings

    at = page("data", test="0.3")  # a link that holds out 30%, then a file of four rows
    at.text_area(key="data.paste").set_value(XOR)
    at.button(key="data.use_paste").click().run()
    assert not at.exception and not errors(at), errors(at)
    assert warnings(at) == ["This file needs other settings in the Data tab (its columns, its task or its test share) before Train: "
                            "Test share (data.test_share): 0.3 is not allowed; allowed: a share that leaves at least 4 training rows of 4"]
    at.text_input(key="data.test").set_value("0")
    at = at.button(key="data.train").click().run()  # the form's values are read when Train is pressed: with no hold-out it trains
    assert not at.exception and not warnings(at) and not errors(at), (warnings(at), errors(at))
    assert any("4 rows" in shown(c.value) for c in at.caption)


@pytest.mark.parametrize("command", ["run", "sweep", "doctor"])
def test_the_help_lists_every_scenario(command, capsys):
    from core.cli.main import main

    with pytest.raises(SystemExit) as done:
        main([command, "--help"])
    assert done.value.code == 0
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps the help to the terminal's width
    listed = ", ".join(list(scenarios.SCENARIOS)[:-1]) + " or " + list(scenarios.SCENARIOS)[-1]
    assert listed in text and "data or playground" in text, text


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """.keras files as users save them: a Dense stack with its compile settings, and ones the lab must refuse."""
    import keras

    folder = tmp_path_factory.mktemp("models")
    mine = keras.Sequential([keras.Input((1,)),
                             keras.layers.Dense(6, activation="tanh", kernel_initializer=keras.initializers.RandomNormal(stddev=0.5)),
                             keras.layers.Dense(3, activation="relu", kernel_initializer="he_uniform"),
                             keras.layers.Dense(1, activation="softmax")])
    mine.compile(optimizer=keras.optimizers.SGD(0.02, momentum=0.9, nesterov=True), loss="binary_crossentropy")
    mine.save(folder / "mine.keras")
    decayed = keras.Sequential([keras.Input((1,)), keras.layers.Dense(4, activation="relu"), keras.layers.Dense(1)])
    decayed.compile(optimizer=keras.optimizers.Adam(keras.optimizers.schedules.InverseTimeDecay(0.01, 1, 0.001)),
                    loss=keras.losses.MeanSquaredError(reduction="sum"))
    decayed.save(folder / "decayed.keras")
    keras.Sequential([keras.Input((1,)), keras.layers.Dense(4), keras.layers.Dropout(0.2), keras.layers.Dense(1)]).save(folder / "dropout.keras")
    keras.Sequential([keras.Input((1,)), keras.layers.Dense(4), keras.layers.BatchNormalization(), keras.layers.Dense(1)]).save(
        folder / "batchnorm.keras")
    keras.Sequential([keras.Input((1,)), keras.layers.Lambda(lambda x: x * 2), keras.layers.Dense(1)]).save(folder / "lambda.keras")
    a, b = keras.Input((1,)), keras.Input((1,))
    keras.Model([a, b], keras.layers.Dense(1)(keras.layers.Concatenate()([a, b]))).save(folder / "two_inputs.keras")
    (folder / "notzip.keras").write_text("hello")
    return folder


def test_a_keras_file_becomes_the_settings_and_trains(files, models):
    from core.io.kerasfile import read_model

    settings, notes = read_model((models / "mine.keras").read_bytes())
    assert settings["model.units"] == "6,3" and settings["model.activation"] == "tanh,relu"
    assert settings["model.output_activation"] == "softmax"
    assert settings["model.kernel_initializer"] == "random_normal,he_uniform,glorot_uniform" and settings["model.kernel_init_scale"] == "0.5"
    assert (settings["train.optimizer"], settings["train.learning_rate"], settings["train.momentum"]) == ("sgd", "0.02", "0.9")
    assert settings["train.nesterov"] == "true" and settings["train.loss"] == "binary_crossentropy"
    settings, _ = read_model((models / "decayed.keras").read_bytes())
    assert (settings["train.optimizer"], settings["train.learning_rate"], settings["train.decay"], settings["train.loss"]) == \
        ("adam", "0.01", "0.001", "sse")
    out = cli("run", "data", "--data", str(files / "labels.csv"), "--model", str(models / "mine.keras"), "--set", "train.epochs=20",
              "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    spec = result["config"]
    assert spec["model"]["units"] == [6, 3] and spec["model"]["kernel_initializer"] == ["random_normal", "he_uniform", "glorot_uniform"]
    assert spec["train"]["nesterov"] is True and spec["train"]["epochs"] == 20  # --set applies on top of the file
    assert "output_range" in [f["id"] for f in result["findings"]]


@pytest.mark.parametrize("name, where", [
    ("dropout.keras", "layer 2 'dropout' (Dropout) is not allowed"),
    ("batchnorm.keras", "(BatchNormalization) is not allowed"),
    ("lambda.keras", "(Lambda) is not allowed"),
    ("two_inputs.keras", "(InputLayer), a second input"),
    ("notzip.keras", "notzip.keras', a file that is not a zip with a config.json is not allowed; allowed: a .keras file saved by Keras 3"),
])
def test_a_model_the_lab_cannot_rebuild_is_refused_naming_the_layer(models, name, where):
    out = cli("run", "data", "--model", str(models / name))
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "Traceback" not in out.stderr, out.stderr
    assert out.stderr.startswith("error: --model: ") and where in out.stderr, out.stderr


@pytest.fixture(scope="module")
def three(tmp_path_factory):
    """Three classes along x in the thousands: 0 below 10,000, 1 up to 20,000, 2 above (integer labels)."""
    folder = tmp_path_factory.mktemp("three")
    x = np.linspace(0, 30_000, 240)
    (folder / "three.csv").write_text("x,label\n" + "".join(f"{a:.1f},{int(np.digitize(a, [10_000, 20_000]))}\n" for a in x))
    return folder / "three.csv"


SOFTMAX_3 = ["--set", "model.output_units=3", "--set", "model.output_activation=softmax", "--set", "data.x_scaling=standard",
             "--set", "model.units=8", "--set", "model.activation=tanh", "--set", "train.learning_rate=0.05", "--set", "train.epochs=150"]


@pytest.mark.parametrize("loss", ["sparse_categorical_crossentropy", "categorical_crossentropy"])
def test_three_classes_train_with_one_softmax_unit_per_class(three, loss):
    out = cli("run", "data", "--data", str(three), *SOFTMAX_3, "--set", f"train.loss={loss}", "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["final"]["accuracy"] > 0.95, result["final"]
    low, high = result["readout"]["crossings"]  # where the predicted class changes: near 10,000 and 20,000
    assert abs(low - 10_000) < 1_500 and abs(high - 20_000) < 1_500, (low, high)


def test_three_classes_on_one_output_unit_are_refused_with_what_to_set(three):
    out = cli("run", "data", "--data", str(three))
    assert out.returncode == 2 and out.stderr.count("\n") == 1
    assert "model.output_units: 1 is not allowed; allowed: 3 (one per class, with model.output_activation=softmax" in out.stderr


def test_the_doctor_turns_a_one_unit_softmax_into_one_unit_per_class(three):
    # A binary cross-entropy is refused for 3 classes on one unit: the classic bug is a softmax over one unit with sparse labels.
    out = cli("doctor", "data", "--data", str(three), "--set", "data.task=classification", "--set", "model.output_units=3",
              "--set", "model.output_activation=linear", "--set", "train.loss=sparse_categorical_crossentropy", "--seeds", "4",
              "--seconds", "120", "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    ids = [f["id"] for f in report["findings"]]
    assert "output_range" in ids and "unscaled_input" in ids, ids
    assert "a categorical cross-entropy reads them as probabilities" in next(f["text"] for f in report["findings"] if f["id"] == "output_range")
    assert report["best"]["changes"].get("model.output_activation") == "softmax", report["best"]


def test_the_script_of_a_categorical_run_one_hots_its_labels_and_agrees(three, tmp_path):
    out = cli("run", "data", "--data", str(three), *SOFTMAX_3, "--set", "train.loss=categorical_crossentropy", "--set", "train.epochs=20",
              "--save-script", str(tmp_path / "run.py"))
    assert out.returncode == 0, out.stderr
    (tmp_path / "three.csv").write_bytes(three.read_bytes())
    from inprocess import script  # run as __main__ in this process: it imports numpy and Keras only

    done = script(tmp_path / "run.py", tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "the same final loss to float32 rounding" in done.stdout and "accuracy on the training samples" in done.stdout


def test_a_keras_file_with_a_softmax_per_class_is_read(tmp_path):
    import keras

    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.save(tmp_path / "three.keras")
    from core.io.kerasfile import read_model

    settings, _ = read_model((tmp_path / "three.keras").read_bytes())
    assert (settings["model.output_units"], settings["model.output_activation"], settings["train.loss"]) == \
        ("3", "softmax", "sparse_categorical_crossentropy")
    logits = keras.Sequential([keras.Input((1,)), keras.layers.Dense(3)])
    logits.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    logits.save(tmp_path / "logits.keras")
    with pytest.raises(SpecError, match="from_logits=True"):
        read_model((tmp_path / "logits.keras").read_bytes())
