"""The four posted cases: every setting of the question, the posted fix and the variants.

This is the one home of the presets: pages, the command line and the tests read them from here.
Each preset is the posted setup ("question") with a few fields changed, written as dotted names.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from core.settings.criteria import Criterion
from core.settings.specs import RunSpec, SpecError, parse_value


@dataclass(frozen=True)
class Preset:
    """A button's settings: the posted setup with a few fields changed, by dotted name, to typed values ((32, 32), 0.5)."""

    name: str
    label: str
    description: str
    changes: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for path, value in self.changes.items():  # typed as the spec holds it: text here would be read again at every use
            if parse_value(path, value) != value:
                raise SpecError(f"preset {self.name}: {path}", value, f"the typed value, {parse_value(path, value)!r}")


# The criterion of a run whose task differs from its case's (a typed function made a classification, say).
CLASSIFICATION_ACCURACY = 0.99
REGRESSION_ERROR = 0.1


@dataclass(frozen=True)
class Scenario:
    id: str
    title: str
    question: str  # the question in one line
    story: str  # what the post observed and what its answer claimed, in our own words
    source: str  # where the original post was asked, in words a reader knows (no internal path)
    base: dict[str, Any]  # the posted setup as a RunSpec dict
    presets: tuple[Preset, ...]
    criterion: Criterion  # what counts as "it worked" for this case (editable by the user)
    claim: str = ""  # what the post's answer claimed, in one line
    posted: bool = True  # one of the four posted cases (home cards, claims, bench), or the user's own
    _specs: dict[str, RunSpec] = field(default_factory=dict, init=False, repr=False, compare=False)  # each preset's, once built

    def criterion_for(self, task: str | None = None) -> Criterion:
        """The case's criterion for a run of this task: a classification is judged by its accuracy, a regression by its error."""
        if task == "classification" and self.criterion.kind != "accuracy_at_least":
            return Criterion("accuracy_at_least", CLASSIFICATION_ACCURACY)
        if task == "regression" and self.criterion.kind == "accuracy_at_least":
            return Criterion("max_abs_error_below", REGRESSION_ERROR)
        if task == "classification" and self.criterion.kind == "r2_at_least":
            return Criterion("accuracy_at_least", CLASSIFICATION_ACCURACY)
        return self.criterion

    def preset_names(self) -> list[str]:
        return [p.name for p in self.presets]

    def preset(self, name: str) -> Preset:
        for preset in self.presets:
            if preset.name == name:
                return preset
        raise SpecError("preset", name, f"presets of {self.id}: " + ", ".join(self.preset_names()))

    def spec(self, preset: str = "question", seed: int | None = None) -> RunSpec:
        """The RunSpec of a preset, optionally with another seed (built once per preset: specs are frozen)."""
        built = self._specs.get(preset)
        if built is None:
            chosen = self.preset(preset)
            built = RunSpec.from_dict({**self.base, "scenario": self.id, "preset": chosen.name})
            built = self._specs.setdefault(preset, built.with_values(chosen.changes) if chosen.changes else built)
        return built if seed is None or seed == built.seed else built.with_value("seed", seed)


SCENARIOS: dict[str, Scenario] = {}


def _example_table():
    from core.data.datafile import EXAMPLE_NAME, example_csv, parse

    return parse(example_csv(), name=EXAMPLE_NAME)


def _add(scenario: Scenario) -> None:
    SCENARIOS[scenario.id] = scenario


_add(Scenario(
    id="sine-relu",
    title="Why does my sine come out shaped like a ReLU?",
    question="4 ReLU units with tiny uniform initial weights fit sin(x) on [0, 2pi] with a few straight pieces.",
    story=(
        "A Keras user min-max scaled x and sin(x) on [0, 2pi] to [0, 1] and trained a 1-4-1 network "
        "(ReLU hidden units, weights drawn from Keras's 'uniform', i.e. +-0.05, zero biases) with Adam "
        "for 500 epochs of batches of 32. The fitted curve came out as a few straight segments, a ReLU "
        "rather than a sine, and the asker suspected the output scaling. The answer blamed the network: "
        "with only four ReLU units several easily end up inactive, so try he_normal or he_uniform "
        "initialisation and a bigger ReLU network; sigmoid units work because their shape is close to "
        "the sine's."
    ),
    source="a Stack Overflow question, “Approximating sine function with Neural Network and ReLU”",
    base={
        "seed": 7,  # np.random.seed(7) in the post
        "data": {"function": "sine", "sampling": "grid", "n_samples": 10000, "x_min": 0.0, "x_max": 2 * math.pi,
                 "x_scaling": "minmax", "y_scaling": "minmax"},
        "model": {"units": [4], "activation": ["relu"], "output_activation": "linear",
                  "kernel_initializer": "uniform", "bias_initializer": "zeros"},
        "train": {"optimizer": "adam", "learning_rate": 0.001, "loss": "mse", "batch_size": 32, "epochs": 500, "shuffle": True},
    },
    presets=(
        Preset("question", "As asked", "1-4-1 ReLU, 'uniform' initial weights, Adam, 500 epochs."),
        Preset("answer", "As answered", "he_normal initialisation and two hidden ReLU layers of 32 units.",
               {"model.kernel_initializer": ("he_normal",), "model.units": (32, 32), "model.activation": ("relu",)}),
        Preset("sigmoid", "Sigmoid units", "The asker's variant: 4 sigmoid units, otherwise as asked.",
               {"model.activation": ("sigmoid",)}),
        Preset("tanh", "Tanh units", "The other commented-out variant: 4 tanh units, otherwise as asked.",
               {"model.activation": ("tanh",)}),
    ),
    criterion=Criterion("max_abs_error_below", 0.1),
    claim="he_normal and a bigger ReLU network (two layers of 32) fit the sine that 4 ReLU units could not.",
))

_add(Scenario(
    id="noisy-sine",
    title="My shallow tanh net gets the bumps of a noisy sine wrong",
    question=("A bias-free 1-128-1 tanh net, trained by plain gradient descent at lr 4e-7, does not follow noisy sin(x)/2.5: "
              "the post's fit had extra bumps, and other seeds miss a peak."),
    story=(
        "A PyTorch user drew 4000 points x uniform on [-1, 9) with y = sin(x)/2.5 plus Gaussian noise "
        "(sd 0.05), built a 1-128-1 network with tanh after both layers, no biases and every weight "
        "drawn from a standard normal, and ran 3000 full-batch steps of plain gradient descent on the "
        "summed squared error with learning rate 4e-7. The fit had more local extrema than the data, "
        "especially over the first units of x, and the loss curve changed a lot from run to run; a "
        "deeper 1-32-128-32-1 net behaved the same. The asker's own answer: use a real optimizer "
        "(momentum, adaptive steps) instead of plain gradient descent; Adam on the mean absolute error "
        "for 1000 iterations followed the data."
    ),
    source="a Cross Validated question, “Approximating a sine function with a shallow neural network”",
    base={
        "seed": 1,  # the post set no seed; this one is ours
        "data": {"function": "sine", "sampling": "uniform", "n_samples": 4000, "x_min": -1.0, "x_max": 9.0,
                 "noise": 0.05, "amplitude": 0.4, "data_seed": 0},
        "model": {"units": [128], "activation": ["tanh"], "output_activation": "tanh", "use_bias": False,
                  "kernel_initializer": "random_normal", "kernel_init_scale": 1.0},
        "train": {"optimizer": "sgd", "learning_rate": 4e-7, "loss": "sse", "batch_size": "full", "epochs": 3000, "shuffle": False},
    },
    presets=(
        Preset("question", "As asked", "1-128-1 tanh, no biases, N(0, 1) weights, plain GD at 4e-7 on the summed squared error, 3000 steps."),
        Preset("answer", "As answered", "Adam (learning rate 0.001) on the mean absolute error, 1000 full-batch iterations.",
               {"train.optimizer": "adam", "train.learning_rate": 0.001, "train.loss": "mae", "train.epochs": 1000}),
        Preset("deep", "Deeper net", "The post's deeper 1-32-128-32-1 tanh net, trained as asked.",
               {"model.units": (32, 128, 32), "model.activation": ("tanh",)}),
    ),
    criterion=Criterion("max_abs_error_below", 0.1),
    claim="A real optimizer (Adam on the mean absolute error, 1000 iterations) makes the fit follow the data.",
))

_add(Scenario(
    id="parabola",
    title="Two neurons should learn x^2 + 2x + 2, but don't",
    question="A 2-neuron net with an x^2 activation must learn x^2 + 2x + 2 from 999 points; Adam(0.1) fails.",
    story=(
        "A TensorFlow user sampled 999 points x uniform on [0, 1) (seed 42) of f(x) = x^2 + 2x + 2 and "
        "trained Dense(1, activation x^2) then Dense(1) with Adam(0.1), batch size 1, for 999 epochs: "
        "the answers on 100 test points (seed 43) did not follow the parabola. The answer: lower the "
        "learning rate to Adam(0.001) and the fit becomes very good; reading the weights algebraically, "
        "a2 (a1 x + b1)^2 + b2 gives A = a2 a1^2, B = 2 a2 a1 b1, C = a2 b1^2 + b2, and the post's "
        "learned weights give 1.0002, 1.9998, 2.0000, each error smaller than the learning rate. It adds "
        "that a single x^2 neuron, (a x + b)^2, can also describe any such parabola."
    ),
    source="a Stack Overflow question, “How to teach a neural network a parabola function”",
    base={
        "seed": 0,
        "data": {"function": "parabola", "sampling": "uniform", "n_samples": 999, "x_min": 0.0, "x_max": 1.0,
                 "coef_a": 1.0, "coef_b": 2.0, "coef_c": 2.0, "data_seed": 42, "test_samples": 100, "test_seed": 43},
        "model": {"units": [1], "activation": ["square"], "output_activation": "linear"},
        "train": {"optimizer": "adam", "learning_rate": 0.1, "loss": "mse", "batch_size": 1, "epochs": 999, "shuffle": True},
    },
    presets=(
        Preset("question", "As asked", "x^2 neuron then a linear neuron, Adam(0.1), batch size 1, 999 epochs."),
        Preset("answer", "As answered", "The same with Adam(0.001).", {"train.learning_rate": 0.001}),
        Preset("one-neuron", "One x^2 neuron", "A single neuron (a x + b)^2 with Adam(0.001), as the answer suggests.",
               {"model.units": (), "model.activation": (), "model.output_activation": "square", "train.learning_rate": 0.001}),
    ),
    criterion=Criterion("coefficients_within", 0.01),
    claim="Adam(0.001) instead of Adam(0.1) learns x^2 + 2x + 2, each coefficient within the learning rate.",
))

_add(Scenario(
    id="segments",
    title="Two sigmoid units can't separate 0 / 1 / 0",
    question="2 sigmoid units stay at 2/3 accuracy on a 0/1/0 line; does Keras try several initializations, like k-means?",
    story=(
        "A Keras user put 300 points on a line, 0..10 labelled 0, 11..20 labelled 1, 21..30 labelled 0, "
        "and trained Dense(2, sigmoid) then Dense(1, sigmoid) with SGD(0.01) on binary cross-entropy, "
        "batches of 32, for 200 and then 1000 epochs: accuracy stayed at 0.6667 (loss about 0.557). R's "
        "nnet only worked after trying many seeds, so the asker wondered whether Keras, like k-means, "
        "tries several initializations. The answer: standardise the input, (X - mean) / std, and train "
        "with Adam(0.1) for 20 epochs; accuracy reaches 1.0 from about epoch 13. One threshold cannot "
        "separate the classes, two can, so two hidden units suffice; plain SGD trains more slowly."
    ),
    source="a Stack Overflow question, “Keras: simple neural network with simple data not working”",
    base={
        "seed": 0,
        "data": {"function": "segments", "sampling": "blocks", "n_samples": 300, "x_min": 0.0, "x_max": 30.0},
        "model": {"units": [2], "activation": ["sigmoid"], "output_activation": "sigmoid"},
        "train": {"optimizer": "sgd", "learning_rate": 0.01, "loss": "binary_crossentropy", "batch_size": 32, "epochs": 200, "shuffle": True},
    },
    presets=(
        Preset("question", "As asked", "Raw x in [0, 30], 2 sigmoid units, SGD(0.01), 200 epochs of batches of 32."),
        Preset("answer", "As answered", "Standardised x, Adam(0.1), 20 epochs.",
               {"data.x_scaling": "standard", "train.optimizer": "adam", "train.learning_rate": 0.1, "train.epochs": 20}),
    ),
    criterion=Criterion("accuracy_at_least", 1.0),
    claim="Standardised input and Adam(0.1) for 20 epochs separate 0/1/0 (accuracy 1.0 from about epoch 13).",
))


_add(Scenario(
    id="custom",
    title="Your function",
    question="Type any target in x, pick a network, and see whether it fits.",
    story=(
        "Not one of the posts: your own case. Type the target as a formula in x (for example "
        "`sin(3*x) + 0.3*x**2` or `abs(x)`), its range, samples and noise; leave 'classify above' empty "
        "for regression or give a number to classify where the target exceeds it. The formula is "
        "checked against a whitelist of operators and math functions and never run as code."
    ),
    source="(none: your own case)",
    base={
        "seed": 0,
        "data": {"function": "custom", "expression": "sin(3*x) + 0.3*x**2", "sampling": "grid", "n_samples": 1000,
                 "x_min": -2.0, "x_max": 2.0},
        "model": {"units": [16, 16], "activation": ["tanh"], "output_activation": "linear"},
        "train": {"optimizer": "adam", "learning_rate": 0.01, "loss": "mse", "batch_size": 32, "epochs": 300, "shuffle": True},
    },
    presets=(
        Preset("question", "Your function", "A 1-16-16-1 tanh net, Adam(0.01), 300 epochs on sin(3x) + 0.3x^2."),
        Preset("relu", "Small ReLU net", "The same with 4 ReLU units, as in the sine post.", {"model.units": (4,), "model.activation": ("relu",)}),
        Preset("classifier", "Classifier", "Classify where the target is above 0.5, with sigmoid output and cross-entropy.",
               {"data.classify_above": 0.5, "model.output_activation": "sigmoid", "train.loss": "binary_crossentropy"}),
    ),
    criterion=Criterion("max_abs_error_below", 0.1),
    posted=False,
))

_add(Scenario(
    id="data",
    title="Your data",
    question="Bring a CSV of your data (x, then y): rebuild your net on it and see why it does or does not fit.",
    story=(
        "Not one of the posts: your own data. Upload a CSV (or paste its rows): by default the last column is "
        "the target and the other one the input; choose others by header name or 0-based index. A header "
        "is detected; commas, semicolons, tabs or spaces separate the cells. A target of a few distinct whole "
        "numbers is read as class labels (override it with the task setting). A test share holds out rows "
        "for the charts to show beside the training points. Until a file is given, the page shows an "
        "example: 120 house prices against their area in square feet, fed raw to a small ReLU net, a common "
        "question on Q&A sites (\u201cmy network predicts the same value for every input\u201d)."
    ),
    source="(none: your own data)",
    base={
        "seed": 0,
        "data": {"function": "file", "table": _example_table(), "task": "auto"},  # every row trains unless a test share is asked for
        "model": {"units": [8], "activation": ["relu"], "output_activation": "linear"},
        "train": {"optimizer": "adam", "learning_rate": 0.001, "loss": "mse", "batch_size": 16, "epochs": 200, "shuffle": True},
    },
    presets=(
        Preset("question", "As given", "The numbers as they are in the file: a 1-8-1 ReLU net, Adam(0.001), 200 epochs."),
        Preset("answer", "Scaled", "The usual advice: standardise x and y (fitted on the training rows), otherwise the same.",
               {"data.x_scaling": "standard", "data.y_scaling": "standard"}),
    ),
    criterion=Criterion("r2_at_least", 0.9),
    posted=False,
))

_add(Scenario(
    id="playground",
    title="The Playground's datasets, in Keras",
    question="Two inputs, as in the TensorFlow Playground: why can't a net without a hidden layer learn XOR, and what can?",
    story=(
        "Not one of the posts: the TensorFlow Playground's six datasets over two inputs x1, x2 on [-6, 6], "
        "drawn as its source draws them (circle, xor, gauss and spiral are classes; plane and multi_gauss "
        "regressions), with its noise (0 to 0.5) and its feature transforms (x1², x2², x1·x2, sin x1, sin x2). "
        "Its classes are +1 / -1; here they are 1 / 0, read by a sigmoid output with binary cross-entropy. "
        "The Playground trains plain SGD at learning rate 0.03 on batches of 10, and so do these presets. "
        "A net without a hidden layer draws one straight boundary, so it cannot separate XOR's four quadrants; "
        "four tanh units can, and so can the single feature x1·x2. The surface shows the output over the "
        "square, the small maps what each hidden unit computes."
    ),
    source="the TensorFlow Playground (playground.tensorflow.org), its datasets and defaults",
    base={
        "seed": 0,
        "data": {"function": "xor", "n_samples": 250, "test_samples": 250, "x_min": -6.0, "x_max": 6.0, "noise": 0.0,
                 "data_seed": 0},
        "model": {"units": [], "activation": [], "output_activation": "sigmoid"},
        "train": {"optimizer": "sgd", "learning_rate": 0.03, "loss": "binary_crossentropy", "batch_size": 10, "epochs": 200,
                  "shuffle": True},
    },
    presets=(
        Preset("question", "XOR, no hidden layer", "XOR's four quadrants with no hidden layer: one straight boundary."),
        Preset("answer", "XOR, 4 tanh units", "The same with one hidden layer of 4 tanh units.",
               {"model.units": (4,), "model.activation": ("tanh",)}),
        Preset("xor-feature", "XOR, feature x1·x2", "No hidden layer, fed the single feature x1·x2: its sign is the class.",
               {"data.features": ("x1*x2",)}),
        Preset("circle", "Circle, with x1², x2²", "The circle with no hidden layer, fed x1² and x2²: a boundary straight in "
               "those is a circle in x1, x2.", {"data.function": "circle", "data.features": ("x1^2", "x2^2")}),
        Preset("spiral", "Spiral, small net", "The spiral with the Playground's default net (4 and 2 tanh units) on x1, x2.",
               {"data.function": "spiral", "model.units": (4, 2), "model.activation": ("tanh",)}),
        Preset("spiral-big", "Spiral, more units", "The spiral with 8 and 8 tanh units and Adam(0.01), 400 epochs.",
               {"data.function": "spiral", "model.units": (8, 8), "model.activation": ("tanh",), "train.optimizer": "adam",
                "train.learning_rate": 0.01, "train.epochs": 400}),
    ),
    criterion=Criterion("accuracy_at_least", 0.95),
    posted=False,
))

POSTED = [sid for sid, s in SCENARIOS.items() if s.posted]


def get(scenario_id: str) -> Scenario:
    if scenario_id not in SCENARIOS:
        raise SpecError("scenario", scenario_id, ", ".join(SCENARIOS))
    return SCENARIOS[scenario_id]
