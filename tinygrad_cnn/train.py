"""Train a small CNN (or a fully connected network) on handwritten digits.

The pieces are plain functions so that the documentation and the benchmark can run them:
`build_model`, `train`, `evaluate`, `count_parameters`, plus the command-line entry
points `main_train` and `main_evaluate` (``tinygrad-cnn train`` / ``evaluate``).

The CNN for 8x8 digits::

    conv 1->16 3x3 pad 1, ReLU, max-pool 2     (16, 4, 4)
    conv 16->32 3x3 pad 1, ReLU, max-pool 2    (32, 2, 2)
    flatten, linear 128 -> 10

The MLP: flatten, linear 64 -> 128, ReLU, linear 128 -> 10. For 28x28 MNIST the same
layers apply and the size of the last layer follows from the output-size formula.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import nn
from .autograd import no_grad
from .data import Dataset, load_dataset
from .nn import functional as F
from .optim import SGD, Adam
from .tensor import Tensor

__all__ = ["DEFAULTS", "build_model", "count_parameters", "train", "evaluate", "History",
           "TrainingDiverged", "main_train", "main_evaluate", "predict"]

#: Default hyper-parameters per model kind (what ``tinygrad-cnn train`` uses).
DEFAULTS: dict[str, dict[str, Any]] = {
    "cnn": {"epochs": 20, "batch_size": 32, "lr": 1e-2},
    "mlp": {"epochs": 20, "batch_size": 32, "lr": 1e-2},
}

MLP_HIDDEN = 128


def build_model(kind: str = "cnn", input_shape: tuple[int, int, int] = (1, 8, 8),
                num_classes: int = 10, seed: int | None = 0) -> nn.Sequential:
    """The network of the given kind, initialised from ``default_rng(seed)``.

    Parameters
    ----------
    kind : "cnn" | "mlp"
    input_shape : (channels, height, width)
    num_classes : int
    seed : int or None
        Seed of the initial weights (None: the module generator, see ``nn.manual_seed``).
    """
    rng = np.random.default_rng(seed) if seed is not None else None
    c, h, w = (int(v) for v in input_shape)
    if kind == "cnn":
        conv1 = nn.Conv2d(c, 16, 3, padding=1, rng=rng)
        conv2 = nn.Conv2d(16, 32, 3, padding=1, rng=rng)
        # size after each block: conv with padding 1 keeps it, pool 2 halves it (floor)
        oh = F.output_size(F.output_size(h, 2, 2), 2, 2)
        ow = F.output_size(F.output_size(w, 2, 2), 2, 2)
        return nn.Sequential(
            conv1, nn.ReLU(), nn.MaxPool2d(2),
            conv2, nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(32 * oh * ow, num_classes, rng=rng))
    if kind == "mlp":
        return nn.Sequential(
            nn.Flatten(), nn.Linear(c * h * w, MLP_HIDDEN, rng=rng), nn.ReLU(),
            nn.Linear(MLP_HIDDEN, num_classes, rng=rng))
    raise ValueError(f"build_model: kind must be 'cnn' or 'mlp', got {kind!r}")


def count_parameters(model: nn.Module) -> int:
    """Total number of scalar parameters."""
    return sum(p.size for p in model.parameters())


def predict(model: nn.Module, x: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """Logits for ``x`` in evaluation mode, without recording a graph."""
    was_training = model.training
    model.eval()
    outs = []
    with no_grad():
        for i in range(0, len(x), batch_size):
            outs.append(model(Tensor(x[i:i + batch_size])).numpy())
    model.train(was_training)
    return np.concatenate(outs) if outs else np.zeros((0, 0), dtype=np.float32)


def evaluate(model: nn.Module, x: np.ndarray, y: np.ndarray, batch_size: int = 512) -> float:
    """Accuracy (fraction of correct arg-max predictions) of ``model`` on ``(x, y)``."""
    if len(x) == 0:
        raise ValueError("evaluate: empty dataset")
    return float((predict(model, x, batch_size).argmax(axis=1) == y).mean())


@dataclass
class History:
    """Per-epoch mean training loss, training accuracy and test accuracy."""

    loss: list[float] = field(default_factory=list)
    train_accuracy: list[float] = field(default_factory=list)
    test_accuracy: list[float] = field(default_factory=list)
    seconds: float = 0.0


class TrainingDiverged(FloatingPointError):
    """The training loss became NaN or infinite; ``epoch``, ``step`` and ``loss`` say when."""

    def __init__(self, epoch: int, step: int, loss: float, lr: float):
        self.epoch, self.step, self.loss = epoch, step, loss
        super().__init__(f"the training loss became {loss} at epoch {epoch}, step {step} (the "
                         f"learning rate {lr:g} is probably too high)")


def _batches(n: int, batch_size: int, rng: np.random.Generator):
    order = rng.permutation(n)
    for i in range(0, n, batch_size):
        yield order[i:i + batch_size]


def train(model: nn.Module, data: Dataset, epochs: int, batch_size: int = 32,
          lr: float = 1e-2, seed: int = 0, optimizer: str = "adam",
          callback: Callable[[int, History], None] | None = None,
          progress: bool = False, schedule: str = "cosine",
          blas_threads: int | None = 1) -> History:
    """Mini-batch training with softmax cross-entropy.

    Parameters
    ----------
    model : Module
    data : Dataset
    epochs, batch_size : int
    lr : float
    seed : int
        Seed of the shuffling (the initial weights are seeded by `build_model`).
    optimizer : "adam" | "sgd"
        Adam, or SGD with momentum 0.9.
    callback : callable(epoch, history), optional
        Called after every epoch (epoch counts from 1).
    progress : bool
        Report progress on stderr: a tqdm bar per epoch when stderr is a terminal, else
        (a log file, a pipe, or tqdm missing) one plain line per epoch.
    schedule : "cosine" | "constant"
        Learning rate per step: ``lr · (1 + cos(π · step / total_steps)) / 2`` (decays to 0
        at the end, which steadies the final accuracy), or ``lr`` throughout.
    blas_threads : int or None, default 1
        Limit BLAS to this many threads while training (needs ``threadpoolctl``, which
        comes with scikit-learn). The matrices here are small: one thread is several times
        faster than OpenBLAS's default on a busy 2-core machine. None: leave it alone.

    Returns
    -------
    History

    Raises
    ------
    TrainingDiverged
        The loss of a mini-batch is NaN or infinite (the step is not taken); the model then
        holds the weights that produced it, which should not be saved.
    """
    with _blas_limit(blas_threads):
        return _train(model, data, epochs, batch_size, lr, seed, optimizer, callback,
                      progress, schedule)


@contextlib.contextmanager
def _blas_limit(threads: int | None):
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        threadpool_limits = None
    if threads is None or threadpool_limits is None:
        yield
        return
    with threadpool_limits(limits=threads, user_api="blas"):
        yield


def _train(model, data, epochs, batch_size, lr, seed, optimizer, callback, progress,
           schedule) -> History:
    if epochs < 1 or batch_size < 1 or not lr > 0:
        raise ValueError(f"train: epochs and batch_size must be >= 1 and lr > 0, got "
                         f"epochs={epochs}, batch_size={batch_size}, lr={lr}")
    params = list(model.parameters())
    if optimizer == "adam":
        opt = Adam(params, lr=lr)
    elif optimizer == "sgd":
        opt = SGD(params, lr=lr, momentum=0.9)
    else:
        raise ValueError(f"train: optimizer must be 'adam' or 'sgd', got {optimizer!r}")
    if schedule not in ("cosine", "constant"):
        raise ValueError(f"train: schedule must be 'cosine' or 'constant', got {schedule!r}")
    rng = np.random.default_rng(seed)
    history = History()
    start = time.perf_counter()
    n = len(data.x_train)
    steps = math.ceil(n / batch_size)
    tqdm = _tqdm() if progress and _is_terminal(sys.stderr) else None
    total_steps, step = epochs * steps, 0
    model.train()
    for epoch in range(1, epochs + 1):
        total_loss, correct, seen = 0.0, 0, 0
        bar = tqdm(total=steps, desc=f"epoch {epoch}/{epochs}", leave=True, unit="batch",
                   file=sys.stderr) if tqdm else None
        try:
            for idx in _batches(n, batch_size, rng):
                x, y = data.x_train[idx], data.y_train[idx]
                if schedule == "cosine":
                    opt.lr = lr * 0.5 * (1.0 + math.cos(math.pi * step / total_steps))
                step += 1
                # a diverging run overflows on its way to NaN: it is reported below, once
                with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                    logits = model(Tensor(x))
                    loss = F.cross_entropy(logits, y)
                    value = float(loss.item())
                    if not math.isfinite(value):
                        raise TrainingDiverged(epoch, step, value, lr)
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                total_loss += value * len(idx)
                correct += int((logits.numpy().argmax(axis=1) == y).sum())
                seen += len(idx)
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{total_loss / seen:.4f}",
                                    acc=f"{correct / seen:.3f}")
            history.loss.append(total_loss / seen)
            history.train_accuracy.append(correct / seen)
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                history.test_accuracy.append(evaluate(model, data.x_test, data.y_test))
            if bar is not None:
                bar.set_postfix(loss=f"{history.loss[-1]:.4f}",
                                acc=f"{history.train_accuracy[-1]:.3f}",
                                test=f"{history.test_accuracy[-1]:.3f}")
        finally:
            if bar is not None:
                bar.close()
        if progress and bar is None:
            print(f"epoch {epoch}/{epochs}: loss {history.loss[-1]:.4f}, train accuracy "
                  f"{history.train_accuracy[-1]:.4f}, test accuracy "
                  f"{history.test_accuracy[-1]:.4f}", file=sys.stderr)
        if callback is not None:
            callback(epoch, history)
    history.seconds = time.perf_counter() - start
    return history


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def _tqdm():
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm


# ----------------------------------------------------------------------------- plots


def require_matplotlib() -> None:
    """Raise ImportError with an install hint when matplotlib is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ImportError("--plots needs matplotlib, which is not installed: "
                          "pip install 'tinygrad-cnn[train]' (or matplotlib)") from None


def _figure(width: float, height: float):
    # a Figure on its own Agg canvas: no pyplot, no global backend, no display needed
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100)


def _image_grid(fig, images: np.ndarray, titles: list[str], columns: int,
                symmetric: bool) -> None:
    rows = math.ceil(len(images) / columns)
    for i, (image, title) in enumerate(zip(images, titles, strict=True)):
        ax = fig.add_subplot(rows, columns, i + 1)
        if symmetric:
            bound = float(np.abs(image).max()) or 1.0
            ax.imshow(image, cmap="RdBu_r", vmin=-bound, vmax=bound)
        else:
            ax.imshow(image, cmap="gray_r")
        ax.set_title(title, fontsize=7)
        ax.set_xticks([])
        ax.set_yticks([])


def plot_filters(model: nn.Module, path: str) -> str:
    """The first layer's learned weights as images (conv kernels, or linear rows as 2-D).

    Red is positive, blue negative, each filter on its own symmetric scale.
    """
    first = next(m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))
    w = first.weight.numpy()
    if isinstance(first, nn.Conv2d):
        images = w[:, 0]  # (O, KH, KW): first input channel
        kind = f"conv1 kernels {w.shape[2]}x{w.shape[3]}"
    else:
        side = int(round(math.sqrt(w.shape[1])))
        images = w[:32].reshape(-1, side, side) if side * side == w.shape[1] else w[:32, None]
        kind = f"first {len(images)} rows of the first linear layer"
    fig = _figure(8, 1.2 * math.ceil(len(images) / 8) + 0.6)
    _image_grid(fig, images, [f"#{i}" for i in range(len(images))], 8, symmetric=True)
    fig.suptitle(f"learned first-layer filters ({kind})")
    fig.savefig(path)
    return path


def plot_feature_maps(model: nn.Sequential, image: np.ndarray, label: int, path: str) -> str:
    """One image and the feature maps after each conv (after its ReLU) and each pool."""
    x = Tensor(image[None])
    stages: list[tuple[str, np.ndarray]] = []
    layers = list(model)
    with no_grad():
        for i, layer in enumerate(layers):
            x = layer(x)
            following = layers[i + 1] if i + 1 < len(layers) else None
            if isinstance(layer, nn.Conv2d) and not isinstance(following, nn.ReLU):
                stages.append((f"layer {i}: conv", x.numpy()[0]))
            elif isinstance(layer, nn.ReLU) and i > 0 and isinstance(layers[i - 1],
                                                                      nn.Conv2d):
                stages.append((f"layers {i - 1}-{i}: conv + ReLU", x.numpy()[0]))
            elif isinstance(layer, (nn.MaxPool2d, nn.AvgPool2d)):
                stages.append((f"layer {i}: {type(layer).__name__}", x.numpy()[0]))
    columns = 8
    rows = 1 + sum(math.ceil(len(maps) / columns) for _, maps in stages)
    fig = _figure(columns * 1.1, rows * 1.3)
    grid = fig.add_gridspec(rows, columns)
    ax = fig.add_subplot(grid[0, 0])
    ax.imshow(image[0], cmap="gray_r")
    ax.set_title(f"input (label {label})", fontsize=7)
    ax.set_xticks([])
    ax.set_yticks([])
    row = 1
    for title, maps in stages:
        for c, fmap in enumerate(maps):
            ax = fig.add_subplot(grid[row + c // columns, c % columns])
            ax.imshow(fmap, cmap="viridis")
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_title(f"{title} {fmap.shape[0]}x{fmap.shape[1]}", fontsize=7,
                             loc="left")
        row += math.ceil(len(maps) / columns)
    fig.suptitle("feature maps of one test digit")
    fig.savefig(path)
    return path


def plot_curves(history: History, path: str) -> str:
    """Training loss, and training / test accuracy, per epoch."""
    fig = _figure(9, 3.5)
    epochs = np.arange(1, len(history.loss) + 1)
    ax = fig.add_subplot(1, 2, 1)
    ax.plot(epochs, history.loss, marker="o")
    ax.set_xlabel("epoch")
    ax.set_ylabel("mean training loss (cross-entropy)")
    ax.set_yscale("log")
    ax = fig.add_subplot(1, 2, 2)
    ax.plot(epochs, history.train_accuracy, marker="o", label="train")
    ax.plot(epochs, history.test_accuracy, marker="s", label="test")
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    return path


def write_plots(model: nn.Sequential, data: Dataset, history: History, directory: str
                ) -> list[str]:
    """Write filters.png, feature_maps.png (CNN only) and curves.png to ``directory``."""
    require_matplotlib()
    os.makedirs(directory, exist_ok=True)
    written = [plot_filters(model, os.path.join(directory, "filters.png"))]
    if any(isinstance(m, nn.Conv2d) for m in model.modules()):
        written.append(plot_feature_maps(model, data.x_test[0], int(data.y_test[0]),
                                         os.path.join(directory, "feature_maps.png")))
    written.append(plot_curves(history, os.path.join(directory, "curves.png")))
    return written


# ---------------------------------------------------------------------- command line


class UsageError(Exception):
    """A bad argument or input file: reported as one line, exit code 2."""


#: Exit code of a run stopped by Ctrl-C (SIGINT), after its checkpoint is saved: 128 + 2,
#: as a shell reports a process killed by SIGINT.
EXIT_INTERRUPTED = 130
#: Exit code of a run stopped by SIGTERM (``kill``, ``timeout``, a job scheduler), after its
#: checkpoint is saved: 128 + 15.
EXIT_TERMINATED = 143


class _Terminated(KeyboardInterrupt):
    """SIGTERM during training, handled as Ctrl-C is (a checkpoint, then exit 143)."""


@contextlib.contextmanager
def _sigterm_as_interrupt():
    """While training, turn SIGTERM into `_Terminated` (main thread only; an ignored
    SIGTERM stays ignored)."""
    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGTERM) is signal.SIG_IGN:
        yield
        return

    def handler(signum, frame):
        raise _Terminated

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _fail(command: str, message: str, code: int = 2) -> int:
    print(f"tinygrad-cnn {command}: error: {message}", file=sys.stderr)
    return code


def _warn(command: str, message: str) -> None:
    print(f"tinygrad-cnn {command}: warning: {message}", file=sys.stderr)


def _load_data(data_dir: str | None) -> Dataset:
    try:
        return load_dataset(data_dir)
    except (FileNotFoundError, ValueError, ImportError) as err:
        raise UsageError(str(err)) from None


def _probe_directory(directory: str, option: str) -> None:
    """Create and remove a file in ``directory``: the only test that does not mislead.

    (``os.access`` says yes to root on a read-only file system or in /proc.)
    """
    try:
        fd, probe = tempfile.mkstemp(dir=directory, prefix=".tinygrad-cnn-probe.")
        os.close(fd)
        os.remove(probe)
    except OSError as err:
        raise UsageError(f"{option}: cannot create a file in {directory!r}: "
                         f"{err.strerror or err}") from None


def checkpoint_path(out: str) -> str:
    """Where an interrupted run saves its weights: ``weights.npz`` -> ``weights.interrupted.npz``.

    A separate file, so that a finished run saved earlier at ``out`` is never replaced by
    a half-finished one.
    """
    stem, ext = os.path.splitext(out)
    return f"{stem}.interrupted{ext or '.npz'}"


def _check_out(out: str) -> None:
    """``--out``: refuse a directory, a missing directory, a special file, an unwritable place."""
    if os.path.isdir(out):
        raise UsageError(f"--out: {out!r} is a directory; give a file name, e.g. "
                         f"{os.path.join(out, 'weights.npz')!r}")
    if not os.path.basename(out):  # "" or "dir/": no file name
        raise UsageError(f"--out: {out!r} names no file; give a file name, e.g. "
                         f"{os.path.join(out, 'weights.npz')!r}")
    out_dir = os.path.dirname(os.path.abspath(out))
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise UsageError(f"--out: {out_dir!r} is not a directory")
    if not os.path.isdir(out_dir):
        raise UsageError(f"--out: directory {out_dir!r} does not exist")
    if os.path.lexists(out) and not os.path.isfile(out):
        raise UsageError(f"--out: {out!r} exists and is not a regular file")
    _probe_directory(out_dir, "--out")


def _check_plots(directory: str) -> bool:
    """``--plots``: matplotlib present, the directory made and writable; True if made here."""
    try:
        require_matplotlib()
    except ImportError as err:
        raise UsageError(str(err)) from None
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise UsageError(f"--plots: {directory!r} exists and is not a directory")
    created = not os.path.exists(directory)
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as err:
        raise UsageError(f"--plots: cannot create the directory {directory!r}: "
                         f"{err.strerror or err}") from None
    try:
        _probe_directory(directory, "--plots")
    except UsageError:
        _remove_if_empty(directory, created)
        raise
    return created


def _remove_if_empty(directory: str, created: bool) -> None:
    if created:
        with contextlib.suppress(OSError):
            os.rmdir(directory)


def _non_finite(model: nn.Module) -> dict[str, int]:
    """Parameter name -> number of NaN / inf entries, for the parameters that have any."""
    counts = {}
    for name, p in model.named_parameters():
        bad = int(np.size(p.data) - np.count_nonzero(np.isfinite(p.data)))
        if bad:
            counts[name] = bad
    return counts


def _describe(counts: dict[str, int], total: int) -> str:
    where = ", ".join(f"{name} ({n})" for name, n in counts.items())
    return f"{sum(counts.values())} of {total} weights are NaN or infinite, in {where}"


def main_train(args: argparse.Namespace) -> int:
    """``tinygrad-cnn train``: train, print accuracy and parameter count, save weights.

    Exit status: 0 trained and saved; 1 the run failed (the loss became NaN / inf, or the
    weights could not be written), nothing saved; 2 a bad argument, found before training;
    130 interrupted by Ctrl-C (143 by SIGTERM), the weights so far saved to
    `checkpoint_path` (``--out`` with ``.interrupted`` before the extension).
    """
    try:
        return _main_train(args)
    except UsageError as err:
        return _fail("train", str(err))
    except KeyboardInterrupt:
        print("\ntinygrad-cnn train: interrupted; nothing saved", file=sys.stderr)
        return EXIT_INTERRUPTED


def _main_train(args: argparse.Namespace) -> int:
    kind = args.model
    defaults = DEFAULTS[kind]
    epochs = args.epochs or defaults["epochs"]
    batch_size = args.batch_size or defaults["batch_size"]
    lr = args.lr or defaults["lr"]
    optimizer = getattr(args, "optimizer", None) or "adam"
    subset = getattr(args, "subset", None)
    # every output is checked (by creating a file) before the first step, not after the last
    _check_out(args.out)
    plots_created = _check_plots(args.plots) if args.plots is not None else False
    try:
        data = _load_data(args.data_dir)
    except UsageError:
        _remove_if_empty(args.plots, plots_created)
        raise
    for split, images in (("training", data.x_train), ("test", data.x_test)):
        if len(images) == 0:
            _remove_if_empty(args.plots, plots_created)
            raise UsageError(f"the {split} set of {data.name} is empty: nothing to "
                             f"{'train on' if split == 'training' else 'measure accuracy on'}")
    if subset is not None and subset < len(data.x_train):
        data = Dataset(data.x_train[:subset], data.y_train[:subset], data.x_test,
                       data.y_test, data.name)
    model = build_model(kind, data.input_shape, 10, seed=args.seed)
    n_params = count_parameters(model)
    print(f"{kind}: {n_params} parameters; {data.name}: {len(data.x_train)} training and "
          f"{len(data.x_test)} test images; {epochs} epoch{'s' * (epochs != 1)}, batch size "
          f"{batch_size}, "
          f"{'Adam' if optimizer == 'adam' else 'SGD (momentum 0.9)'} lr {lr}", flush=True)
    metadata = {
        "kind": kind, "input_shape": np.asarray(data.input_shape, dtype=np.int64),
        "num_classes": 10, "dataset": data.name,
        # absolute: `evaluate` may run from another directory
        "data_dir": os.path.abspath(args.data_dir) if args.data_dir else "",
        "epochs": epochs, "batch_size": batch_size, "lr": lr, "optimizer": optimizer,
        "seed": np.int64(args.seed)}
    finished = [0]  # epochs completed, for the checkpoint
    try:
        with _sigterm_as_interrupt():
            history = train(model, data, epochs, batch_size, lr, seed=args.seed,
                            optimizer=optimizer, progress=not args.no_progress,
                            callback=lambda epoch, _: finished.__setitem__(0, epoch))
    except TrainingDiverged as err:
        _remove_if_empty(args.plots, plots_created)
        return _fail("train", f"{err}; stopped, no weights saved (try a smaller --lr)", 1)
    except KeyboardInterrupt as stop:
        _remove_if_empty(args.plots, plots_created)
        return _save_checkpoint(model, args.out, metadata, finished[0], epochs,
                                terminated=isinstance(stop, _Terminated))
    bad = _non_finite(model)
    if bad:  # the loss was finite, so this should not happen; never save it if it does
        _remove_if_empty(args.plots, plots_created)
        return _fail("train", f"{_describe(bad, n_params)}; no weights saved", 1)
    accuracy = history.test_accuracy[-1]
    metadata["test_accuracy"] = accuracy
    try:
        nn.save(model, args.out, metadata=metadata)
    except OSError as err:
        return _fail("train", f"could not save the weights to {args.out!r}: "
                              f"{err.strerror or err}", 1)
    print(f"test accuracy: {accuracy:.4f} ({round(accuracy * len(data.y_test))}/"
          f"{len(data.y_test)}) after {history.seconds:.1f} s")
    print(f"parameters: {n_params}")
    print(f"weights saved to {args.out}")
    if args.plots is not None:
        try:
            written = write_plots(model, data, history, args.plots)
        except OSError as err:
            return _fail("train", f"the weights are saved, but the plots could not be "
                                  f"written to {args.plots!r}: {err.strerror or err}", 1)
        except KeyboardInterrupt:
            print(f"\ntinygrad-cnn train: interrupted while writing the plots; the weights "
                  f"are saved to {args.out}", file=sys.stderr)
            return EXIT_INTERRUPTED
        for path in written:
            print(f"plot: {path}")
    return 0


def _save_checkpoint(model: nn.Module, out: str, metadata: dict[str, Any], finished: int,
                     epochs: int, terminated: bool = False) -> int:
    """Ctrl-C (or SIGTERM) during training: save the weights so far beside ``out``."""
    if _is_terminal(sys.stderr):
        print(file=sys.stderr)  # end the line the progress bar (or ^C) left open
    path = checkpoint_path(out)
    code = EXIT_TERMINATED if terminated else EXIT_INTERRUPTED
    stopped = (f"tinygrad-cnn train: {'terminated (SIGTERM)' if terminated else 'interrupted'} "
               f"after {finished} of {epochs} epochs")
    bad = _non_finite(model)
    if bad:
        print(f"{stopped}; {_describe(bad, count_parameters(model))}, so no checkpoint saved",
              file=sys.stderr)
        return code
    metadata = dict(metadata, interrupted=True, epochs_completed=finished)
    try:
        nn.save(model, path, metadata=metadata)
    except OSError as err:
        print(f"{stopped}; the checkpoint could not be written to {path!r}: "
              f"{err.strerror or err}", file=sys.stderr)
        return code
    print(f"{stopped}; checkpoint saved to {path} (`tinygrad-cnn evaluate {path}` reads it)",
          file=sys.stderr)
    return code


def main_evaluate(args: argparse.Namespace) -> int:
    """``tinygrad-cnn evaluate WEIGHTS``: rebuild the model, load weights, print accuracy.

    Exit status: 0 evaluated; 1 the model's outputs are NaN or infinite (a diverged model:
    no accuracy is reported); 2 a bad or foreign weights file, or bad metadata.
    """
    try:
        return _main_evaluate(args)
    except UsageError as err:
        return _fail("evaluate", str(err))


#: Bounds on what a weights file may declare, checked before a model is built from it.
MAX_CLASSES = 10_000


def _meta_int(meta: dict[str, Any], key: str, default: int, low: int, high: int,
              path: str) -> int:
    value = meta.get(key, default)
    if isinstance(value, (float, np.floating)) and math.isfinite(value) and value == int(value):
        value = int(value)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) \
            or not low <= value <= high:
        raise UsageError(f"{path!r}: metadata {key} must be an integer from {low} to {high}, "
                         f"got {value!r}")
    return int(value)


def _meta_shape(meta: dict[str, Any], path: str) -> tuple[int, int, int]:
    value = np.asarray(meta.get("input_shape", (1, 8, 8)))
    if value.shape != (3,) or value.dtype.kind not in "iu" or (value < 1).any():
        raise UsageError(f"{path!r}: metadata input_shape must be 3 positive integers "
                         f"(channels, height, width), got {value.tolist()!r}")
    return tuple(int(v) for v in value)  # type: ignore[return-value]


def _main_evaluate(args: argparse.Namespace) -> int:
    path = args.weights
    try:
        state, meta = nn.modules.load_npz(path)
    except (FileNotFoundError, ValueError) as err:
        raise UsageError(str(err)) from None
    if "kind" not in meta or str(meta["kind"]) not in ("cnn", "mlp"):
        raise UsageError(f"{path!r} was not written by `tinygrad-cnn train` (no model "
                         f"kind stored in it)")
    kind = str(meta["kind"])
    shape = _meta_shape(meta, path)
    num_classes = _meta_int(meta, "num_classes", 10, 2, MAX_CLASSES, path)
    data_dir = args.data_dir
    if data_dir is None and str(meta.get("dataset", "digits")) == "mnist":
        data_dir = str(meta.get("data_dir", "")) or None
        if data_dir is None:
            raise UsageError("these weights were trained on MNIST: give --data-dir")
        if not os.path.isdir(data_dir):  # moved, or a relative path from another directory
            raise UsageError(f"these weights were trained on MNIST from {data_dir!r}, which "
                             f"is not a directory here: give --data-dir")
    data = _load_data(data_dir)
    if len(data.x_test) == 0:
        raise UsageError(f"the test set of {data.name} is empty: nothing to measure accuracy on")
    if shape != data.input_shape:
        raise UsageError(f"the weights expect images of shape {shape}, the data has "
                         f"{data.input_shape}")
    if data.num_classes > num_classes:
        raise UsageError(f"{path!r}: the weights have {num_classes} classes, the data has "
                         f"labels up to {data.num_classes - 1}")
    model = build_model(kind, shape, num_classes, seed=None)
    try:
        model.load_state_dict(state)  # strict: every key, shape and dtype
    except (KeyError, ValueError, TypeError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        raise UsageError(f"{path!r} does not fit a {kind}: {message}") from None
    n_params = count_parameters(model)
    bad = _non_finite(model)
    if bad:
        _warn("evaluate", f"{path!r}: {_describe(bad, n_params)}")
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        logits = predict(model, data.x_test)
    finite = np.isfinite(logits).all(axis=1)
    if not finite.all():
        return _fail("evaluate", f"{path!r}: the model's outputs are NaN or infinite on "
                                 f"{int((~finite).sum())} of {len(finite)} test images (a "
                                 f"diverged model); no accuracy reported", 1)
    accuracy = float((logits.argmax(axis=1) == data.y_test).mean())
    note = ""
    if bool(meta.get("interrupted", False)):
        note = (f" (a checkpoint of an interrupted run: {meta.get('epochs_completed', '?')} "
                f"of {meta.get('epochs', '?')} epochs)")
    print(f"{kind}: {n_params} parameters; {data.name} test accuracy: "
          f"{accuracy:.4f} ({round(accuracy * len(data.y_test))}/{len(data.y_test)}){note}")
    return 0
