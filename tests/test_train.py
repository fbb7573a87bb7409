"""Training: the models, a short run that lowers the loss, evaluate after reload, plots."""

from __future__ import annotations

import re
import time

import numpy as np
import pytest
from conftest import optional

from tinygrad_cnn import cli, nn
from tinygrad_cnn.data import Dataset, load_digits
from tinygrad_cnn.train import (
    DEFAULTS,
    History,
    build_model,
    count_parameters,
    evaluate,
    predict,
    train,
    write_plots,
)

optional("sklearn", "the training tests (scikit-learn's bundled digits)")


@pytest.fixture(scope="module")
def digits() -> Dataset:
    return load_digits()


@pytest.fixture(scope="module")
def small(digits) -> Dataset:
    """400 training images: enough for a loss that must fall within a second."""
    return Dataset(digits.x_train[:400], digits.y_train[:400], digits.x_test,
                   digits.y_test, "digits-400")


def conv_count(k, c_in, c_out):
    return (k * k * c_in + 1) * c_out


def test_model_parameter_counts_follow_the_formulas():
    cnn = build_model("cnn")
    # conv 1->16 3x3, conv 16->32 3x3, linear 32·2·2 -> 10
    assert count_parameters(cnn) == conv_count(3, 1, 16) + conv_count(3, 16, 32) + \
        (32 * 2 * 2 * 10 + 10)
    mlp = build_model("mlp")
    assert count_parameters(mlp) == (64 * 128 + 128) + (128 * 10 + 10)
    assert count_parameters(cnn) < count_parameters(mlp)
    # 28x28 (MNIST): the last layer follows from the output-size formula: 28 -> 14 -> 7
    big = build_model("cnn", (1, 28, 28))
    assert big[-1].in_features == 32 * 7 * 7
    assert predict(big, np.zeros((3, 1, 28, 28), np.float32)).shape == (3, 10)
    odd = build_model("cnn", (1, 9, 7))  # floors: 9 -> 4 -> 2, 7 -> 3 -> 1
    assert odd[-1].in_features == 32 * 2 * 1
    with pytest.raises(ValueError, match="kind"):
        build_model("resnet")


def test_build_model_is_seeded():
    a, b, c = build_model("cnn", seed=1), build_model("cnn", seed=1), build_model("cnn", seed=2)
    for (_, p), (_, q), (_, r) in zip(a.named_parameters(), b.named_parameters(),
                                      c.named_parameters(), strict=True):
        assert np.array_equal(p.numpy(), q.numpy()) and not np.array_equal(p.numpy(),
                                                                           r.numpy())


@pytest.mark.parametrize("kind", ["cnn", "mlp"])
def test_short_training_lowers_the_loss(small, kind):
    model = build_model(kind, seed=0)
    before = evaluate(model, small.x_test, small.y_test)
    calls = []
    history = train(model, small, epochs=5, batch_size=32, lr=1e-2, seed=0,
                    callback=lambda epoch, h: calls.append((epoch, len(h.loss))))
    assert calls == [(e, e) for e in range(1, 6)]
    assert len(history.loss) == len(history.test_accuracy) == 5
    assert history.loss[-1] < 0.5 * history.loss[0]
    after = evaluate(model, small.x_test, small.y_test)
    assert after == history.test_accuracy[-1]
    assert after > max(0.8, before + 0.5)
    assert model.training  # train() leaves the model in training mode


def test_training_is_reproducible(small):
    runs = []
    for _ in range(2):
        model = build_model("mlp", seed=3)
        runs.append(train(model, small, epochs=1, seed=5).loss)
    assert runs[0] == runs[1]


def test_train_argument_errors(small):
    model = build_model("mlp")
    with pytest.raises(ValueError, match="epochs"):
        train(model, small, epochs=0)
    with pytest.raises(ValueError, match="optimizer"):
        train(model, small, epochs=1, optimizer="lbfgs")
    with pytest.raises(ValueError, match="schedule"):
        train(model, small, epochs=1, schedule="step")


def test_sgd_training_also_learns(small):
    model = build_model("mlp", seed=0)
    history = train(model, small, epochs=2, lr=0.05, optimizer="sgd", schedule="constant")
    assert history.loss[-1] < history.loss[0]


def test_weights_reload_to_the_same_accuracy(small, tmp_path):
    model = build_model("cnn", seed=0)
    train(model, small, epochs=1)
    path = tmp_path / "w.npz"
    nn.save(model, path)
    fresh = build_model("cnn", seed=99)
    nn.load(fresh, path)
    np.testing.assert_array_equal(predict(fresh, small.x_test), predict(model, small.x_test))
    assert evaluate(fresh, small.x_test, small.y_test) == evaluate(model, small.x_test,
                                                                    small.y_test)


def test_plots_are_pngs(small, tmp_path):
    optional("matplotlib", "the --plots test")
    for kind, expected in (("cnn", {"filters.png", "feature_maps.png", "curves.png"}),
                           ("mlp", {"filters.png", "curves.png"})):
        model = build_model(kind)
        history = History(loss=[1.0, 0.5], train_accuracy=[0.5, 0.8], test_accuracy=[0.5, 0.7])
        out = tmp_path / kind
        written = write_plots(model, small, history, str(out))
        assert {p.rsplit("/", 1)[-1] for p in written} == expected
        for path in written:
            with open(path, "rb") as f:
                assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def _accuracy(text: str) -> float:
    match = re.search(r"test accuracy: (\d\.\d{4}) \((\d+)/(\d+)\)", text)
    assert match, text
    assert abs(float(match.group(1)) - int(match.group(2)) / int(match.group(3))) < 1e-4
    return float(match.group(1))


def test_cli_train_then_evaluate_reports_the_same_accuracy(tmp_path, capsys):
    out = tmp_path / "w.npz"
    assert cli.main(["train", "--model", "mlp", "--epochs", "2", "--no-progress",
                     "--out", str(out)]) == 0
    trained = capsys.readouterr().out
    assert "parameters: 9610" in trained
    assert cli.main(["evaluate", str(out)]) == 0
    evaluated = capsys.readouterr().out
    assert _accuracy(trained) == _accuracy(evaluated)


def test_cli_train_on_idx_files(tmp_path, capsys):
    from test_data import write_mnist

    data_dir = tmp_path / "mnist"
    data_dir.mkdir()
    write_mnist(data_dir, n_train=40, n_test=10, size=12)
    out = tmp_path / "w.npz"
    assert cli.main(["train", "--epochs", "1", "--batch-size", "8", "--data-dir",
                     str(data_dir), "--out", str(out), "--no-progress"]) == 0
    trained = capsys.readouterr().out
    assert "mnist: 40 training and 10 test images" in trained
    # evaluate finds the data directory stored with the weights
    assert cli.main(["evaluate", str(out)]) == 0
    assert _accuracy(capsys.readouterr().out) == _accuracy(trained)
    # the stored input shape is checked against the data
    assert cli.main(["evaluate", str(out), "--data-dir", str(tmp_path / "nowhere")]) == 2
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.slow
def test_default_training_reaches_98_percent_and_reloads(tmp_path, capsys):
    """The bar: `tinygrad-cnn train` with its defaults, >= 98% in under a minute."""
    out = tmp_path / "w.npz"
    start = time.perf_counter()
    assert cli.main(["train", "--no-progress", "--out", str(out)]) == 0
    seconds = time.perf_counter() - start
    trained = capsys.readouterr().out
    assert f"{DEFAULTS['cnn']['epochs']} epochs" in trained
    assert _accuracy(trained) >= 0.98
    assert seconds < 60
    assert cli.main(["evaluate", str(out)]) == 0
    assert _accuracy(capsys.readouterr().out) == _accuracy(trained)


def test_progress_bar_and_plain_fallback(small, capsys, monkeypatch):
    optional("tqdm", "the progress-bar test")
    tiny = Dataset(small.x_train[:64], small.y_train[:64], small.x_test[:20],
                   small.y_test[:20], "tiny")
    import sys

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)  # the bar is for terminals
    train(build_model("mlp"), tiny, epochs=2, progress=True)
    err = capsys.readouterr().err
    assert "epoch 1/2" in err and "epoch 2/2" in err and "loss=" in err and "acc=" in err
    import tinygrad_cnn.train as train_module

    monkeypatch.setattr(train_module, "_tqdm", lambda: None)  # as if tqdm were missing
    train(build_model("mlp"), tiny, epochs=2, progress=True)
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2
    assert re.fullmatch(r"epoch 2/2: loss \d\.\d{4}, train accuracy \d\.\d{4}, test accuracy "
                        r"\d\.\d{4}", lines[1])
    train(build_model("mlp"), tiny, epochs=1, progress=False)
    assert capsys.readouterr().err == ""


def test_compare_models_benchmark_runs(digits, monkeypatch):
    import importlib.util
    import sys
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "compare_models.py"
    spec = importlib.util.spec_from_file_location("compare_models", path)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "compare_models", module)  # dataclasses look it up
    spec.loader.exec_module(module)
    results = module.compare(seeds=[0, 1], epochs=1, data=digits)
    assert set(results) == {"cnn", "mlp"}
    assert results["cnn"].parameters == count_parameters(build_model("cnn"))
    for r in results.values():
        assert r.seeds == [0, 1] and len(r.accuracies) == 2 and r.epochs == 1
        assert r.mean == pytest.approx(sum(r.accuracies) / 2)
        assert 0.5 < r.mean <= 1.0
    table = module.format_table(results, len(digits.y_test))
    assert "| cnn | 6090 | 1 |" in table and "| mlp | 9610 | 1 |" in table
