"""Modules: parameter discovery, counts, initialisation, state_dict, save / load."""

from __future__ import annotations

import math
import pickle
from collections import OrderedDict

import numpy as np
import pytest
from conftest import optional

import tinygrad_cnn.nn.functional as F
from spec.parameters import convolutional_shapes, count_from_shapes, fully_connected_shapes
from tinygrad_cnn import Tensor, nn
from tinygrad_cnn.nn.modules import load_npz


def count(module: nn.Module) -> int:
    return sum(p.size for p in module.parameters())


# ------------------------------------------------------------------ discovery and counts


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 2, 3)
        self.blocks = [nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 5, bias=False)]
        self.heads = {"z": nn.Linear(5, 1), "a": nn.Linear(5, 2)}  # insertion order, not sorted
        self.scale = nn.Parameter(np.ones(1, dtype=np.float32))
        self.note = "not a parameter"
        self.pair = (nn.Parameter(np.zeros(2, dtype=np.float32)), 7)

    def forward(self, x):
        return x


def test_named_parameters_follow_assignment_order_through_lists_and_dicts():
    names = [name for name, _ in Net().named_parameters()]
    assert names == ["conv1.weight", "conv1.bias", "blocks.0.weight", "blocks.0.bias",
                     "blocks.2.weight", "heads.z.weight", "heads.z.bias", "heads.a.weight",
                     "heads.a.bias", "scale", "pair.0"]
    net = Net()
    assert [p for p in net.parameters()] == [p for _, p in net.named_parameters()]
    assert [name for name, _ in net.named_children()] == [
        "conv1", "blocks.0", "blocks.1", "blocks.2", "heads.z", "heads.a"]
    assert len(list(net.modules())) == 7


def test_sequential_names_and_indexing():
    seq = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4, 2))
    assert [n for n, _ in seq.named_parameters()] == ["0.weight", "0.bias", "3.weight",
                                                      "3.bias"]
    assert len(seq) == 4 and isinstance(seq[-1], nn.Linear) and isinstance(seq[1], nn.ReLU)
    assert [type(m).__name__ for m in seq[1:3]] == ["ReLU", "Flatten"]
    named = nn.Sequential(OrderedDict(conv=nn.Conv2d(1, 1, 1), act=nn.ReLU()))
    assert [n for n, _ in named.named_parameters()] == ["conv.weight", "conv.bias"]
    with pytest.raises(TypeError, match="element '1'"):
        nn.Sequential(nn.ReLU(), lambda x: x)


def test_shared_parameter_is_listed_once():
    lin = nn.Linear(2, 2)
    seq = nn.Sequential(lin, nn.ReLU(), lin)
    assert [n for n, _ in seq.named_parameters()] == ["0.weight", "0.bias"]


@pytest.mark.parametrize("c_in, c_out, k, bias", [(1, 16, 3, True), (16, 32, 3, True),
                                                  (3, 8, 5, False), (2, 4, (3, 1), True)])
def test_conv_parameter_count_matches_formula(c_in, c_out, k, bias):
    conv = nn.Conv2d(c_in, c_out, k, bias=bias)
    kh, kw = (k, k) if isinstance(k, int) else k
    assert count(conv) == (kh * kw * c_in + int(bias)) * c_out
    assert conv.weight.shape == (c_out, c_in, kh, kw)
    assert (conv.bias is None) == (not bias)
    if kh == kw:
        assert count(conv) == count_from_shapes(convolutional_shapes(c_out, kh, c_in, bias))


def test_grouped_conv_count():
    conv = nn.Conv2d(4, 6, 3, groups=2)
    assert conv.weight.shape == (6, 2, 3, 3)
    assert count(conv) == (3 * 3 * 4 // 2 + 1) * 6


@pytest.mark.parametrize("n_in, n_out, bias", [(64, 10, True), (128, 10, True), (5, 3, False)])
def test_linear_parameter_count_matches_formula(n_in, n_out, bias):
    lin = nn.Linear(n_in, n_out, bias=bias)
    assert count(lin) == n_in * n_out + (n_out if bias else 0)
    assert count(lin) == count_from_shapes(fully_connected_shapes(n_in, n_out, bias))
    assert lin.weight.shape == (n_out, n_in)


def test_layers_have_no_parameters():
    for layer in (nn.ReLU(), nn.Flatten(), nn.MaxPool2d(2), nn.AvgPool2d(2)):
        assert list(layer.parameters()) == []


# ---------------------------------------------------------------------- initialisation


@pytest.mark.parametrize("make, fan_in", [
    (lambda: nn.Conv2d(16, 32, 3, rng=0), 16 * 9),
    (lambda: nn.Conv2d(4, 8, (2, 5), groups=2, rng=1), 2 * 10),
    (lambda: nn.Linear(300, 200, rng=2), 300),
])
def test_init_is_uniform_within_pytorch_bounds(make, fan_in):
    layer = make()
    bound = 1 / math.sqrt(fan_in)
    w, b = layer.weight.numpy(), layer.bias.numpy()
    assert w.dtype == b.dtype == np.float32
    assert np.abs(w).max() <= bound and np.abs(b).max() <= bound
    # U(-B, B): the extremes come close to the bound, the std is B / sqrt(3)
    assert np.abs(w).max() > 0.9 * bound
    if w.size > 1000:
        assert abs(w.std() - bound / math.sqrt(3)) < 0.05 * bound
        assert abs(w.mean()) < 0.05 * bound


def test_init_bounds_agree_with_torch():
    torch = optional("torch", "the cross-check of the default init")
    torch.manual_seed(0)
    for ours, theirs, fan_in in ((nn.Conv2d(6, 10, 5, rng=0), torch.nn.Conv2d(6, 10, 5), 150),
                                 (nn.Linear(50, 40, rng=0), torch.nn.Linear(50, 40), 50)):
        bound = 1 / math.sqrt(fan_in)
        for p, q in ((ours.weight, theirs.weight), (ours.bias, theirs.bias)):
            q = q.detach().numpy()
            assert p.shape == tuple(q.shape) and p.dtype == q.dtype
            # the same bound for both: PyTorch's kaiming_uniform_(a=sqrt(5)) and its bias
            assert np.abs(q).max() <= bound * (1 + 1e-6)
            assert np.abs(p.numpy()).max() <= bound
        w, v = ours.weight.numpy(), theirs.weight.detach().numpy()
        assert w.size > 1000  # enough samples to compare the spread
        assert 0.95 < np.abs(w).max() / np.abs(v).max() < 1.05
        assert abs(w.std() - v.std()) < 0.05 * v.std()


def test_seeding_and_dtype():
    nn.manual_seed(7)
    a = nn.Linear(3, 2)
    nn.manual_seed(7)
    b = nn.Linear(3, 2)
    c = nn.Linear(3, 2)
    assert np.array_equal(a.weight.numpy(), b.weight.numpy())
    assert not np.array_equal(b.weight.numpy(), c.weight.numpy())
    assert np.array_equal(nn.Conv2d(1, 2, 3, rng=5).weight.numpy(),
                          nn.Conv2d(1, 2, 3, rng=np.random.default_rng(5)).weight.numpy())
    d = nn.Conv2d(1, 2, 3, dtype=np.float64)
    assert d.weight.dtype == d.bias.dtype == np.float64
    y = d(Tensor(np.zeros((1, 1, 4, 4))))
    assert y.dtype == np.float64 and y.shape == (1, 2, 2, 2)
    with pytest.raises(TypeError, match="dtype"):
        nn.Linear(2, 2, dtype=np.int32)


def test_constructor_errors_name_the_argument():
    with pytest.raises(ValueError, match="in_channels"):
        nn.Conv2d(0, 2, 3)
    with pytest.raises(ValueError, match="kernel_size"):
        nn.Conv2d(1, 2, (3, 3, 3))
    with pytest.raises(ValueError, match="groups"):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="out_features"):
        nn.Linear(2, -1)
    with pytest.raises(ValueError, match="padding_mode must be one of 'zeros', 'reflect'"):
        nn.Conv2d(1, 1, 3, padding_mode="mirror")
    with pytest.raises(ValueError, match="device"):
        nn.Linear(2, 2, device="cuda")


def test_pooling_arguments_keep_pytorch_positions():
    # torch.nn.AvgPool2d(kernel_size, stride, padding, ceil_mode, count_include_pad)
    x = Tensor(np.arange(16.0).reshape(1, 1, 4, 4))
    # torch.nn.MaxPool2d(kernel_size, stride, padding, dilation, return_indices, ceil_mode)
    out, indices = nn.MaxPool2d(3, 2, 0, 1, True, True)(x)
    assert out.numpy()[0, 0].tolist() == [[10.0, 11.0], [14.0, 15.0]]  # ceil: 2 windows
    assert indices.numpy()[0, 0].tolist() == [[10, 11], [14, 15]]
    assert nn.AvgPool2d(3, 2, 0, True)(x).shape == (1, 1, 2, 2)
    excluded = nn.AvgPool2d(3, 1, 1, False, False)(x).numpy()
    np.testing.assert_allclose(excluded[0, 0, 0, 0], np.mean([0, 1, 4, 5]))
    included = nn.AvgPool2d(3, 1, 1)(x).numpy()
    np.testing.assert_allclose(included[0, 0, 0, 0], (0 + 1 + 4 + 5) / 9)
    assert nn.Conv2d(1, 2, 3, 1, 0, 1, 1, True, "zeros", "cpu", np.float64).weight.dtype \
        == np.float64
    assert nn.Linear(2, 3, True, None, np.float64).bias.dtype == np.float64


# --------------------------------------------------------------------------- forward


def test_layers_compute_the_functional_ops():
    rng = np.random.default_rng(0)
    x = Tensor(rng.normal(size=(2, 3, 7, 7)).astype(np.float32))
    conv = nn.Conv2d(3, 4, 3, stride=2, padding=1)
    np.testing.assert_array_equal(conv(x).numpy(),
                                  F.conv2d(x, conv.weight, conv.bias, 2, 1).numpy())
    np.testing.assert_array_equal(nn.MaxPool2d(2)(x).numpy(), F.max_pool2d(x, 2).numpy())
    np.testing.assert_array_equal(nn.AvgPool2d(3, 2, 1)(x).numpy(),
                                  F.avg_pool2d(x, 3, 2, 1).numpy())
    assert nn.Flatten()(x).shape == (2, 147)
    assert nn.Flatten(2)(x).shape == (2, 3, 49)
    assert nn.Flatten(0, 1)(x).shape == (6, 7, 7)
    assert (nn.ReLU()(x).numpy() >= 0).all()


def test_layers_agree_with_torch():
    torch = optional("torch", "the cross-check of the layers")
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 1, 8, 8)).astype(np.float32)
    ours = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(64, 3))
    theirs = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(),
                                 torch.nn.MaxPool2d(2), torch.nn.Flatten(),
                                 torch.nn.Linear(64, 3))
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    assert list(ours.state_dict()) == list(theirs.state_dict())
    xt = torch.from_numpy(x).requires_grad_(True)
    out_t = theirs(xt)
    out = ours(Tensor(x))
    np.testing.assert_allclose(out.numpy(), out_t.detach().numpy(), rtol=1e-5, atol=1e-6)
    out.sum().backward()
    out_t.sum().backward()
    for (name, p), q in zip(ours.named_parameters(), theirs.parameters(), strict=True):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-4, atol=1e-5,
                                   err_msg=name)


def test_backward_reaches_every_parameter_and_zero_grad_clears():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 6 * 6, 3))
    x = Tensor(np.random.default_rng(0).random((4, 1, 8, 8), dtype=np.float32))
    F.cross_entropy(model(x), np.array([0, 1, 2, 0])).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.shape == p.shape, name
        assert p.grad.dtype == np.float32
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_train_eval_flags_are_recursive():
    net = Net()
    assert net.eval() is net
    assert all(not m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())


def test_repr_reads_like_pytorch():
    text = repr(nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                              nn.Flatten(), nn.Linear(256, 10, bias=False)))
    lines = text.splitlines()
    assert lines[0] == "Sequential("
    assert lines[1] == "  (0): Conv2d(1, 16, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))"
    assert lines[2] == "  (1): ReLU()"
    assert "(4): Linear(in_features=256, out_features=10, bias=False)" in text
    assert lines[-1] == ")"
    assert repr(nn.Parameter(np.zeros((2, 3)))) == "Parameter(shape=(2, 3), dtype=float64)"


def test_parameter_copies_its_array():
    a = np.zeros(3, dtype=np.float32)
    p = nn.Parameter(a)
    p.data += 1
    assert a.sum() == 0 and p.requires_grad


# ------------------------------------------------------------------ state_dict and files


def small_model(seed: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(1, 2, 3, rng=seed), nn.ReLU(), nn.Flatten(),
                         nn.Linear(2 * 2 * 2, 3, rng=seed + 1))


def test_state_dict_round_trip_through_npz(tmp_path):
    a, b = small_model(0), small_model(10)
    x = Tensor(np.random.default_rng(0).random((2, 1, 4, 4), dtype=np.float32))
    path = tmp_path / "w.npz"
    nn.save(a, path, metadata={"kind": "small", "epochs": 3})
    assert not np.array_equal(a(x).numpy(), b(x).numpy())
    arrays_before = [p.data for p in b.parameters()]
    meta = nn.load(b, path)
    assert meta == {"kind": "small", "epochs": 3}
    np.testing.assert_array_equal(a(x).numpy(), b(x).numpy())
    # loaded in place: the optimizer's references stay valid
    assert all(p.data is arr for p, arr in zip(b.parameters(), arrays_before, strict=True))
    state = a.state_dict()
    assert list(state) == ["0.weight", "0.bias", "3.weight", "3.bias"]
    state["0.bias"][:] = 99  # a copy: changing it leaves the module alone
    assert not (a[0].bias.numpy() == 99).any()


def test_load_state_dict_errors_name_the_key():
    model = small_model(0)
    state = model.state_dict()
    before = {k: v.copy() for k, v in state.items()}

    missing = dict(state)
    del missing["3.bias"]
    with pytest.raises(KeyError, match=r"missing key\(s\) \['3.bias'\]"):
        model.load_state_dict(missing)

    extra = dict(state, **{"4.weight": np.zeros(1, np.float32)})
    with pytest.raises(KeyError, match=r"unexpected key\(s\) \['4.weight'\]"):
        model.load_state_dict(extra)
    with pytest.warns(UserWarning, match=r"skipped, no such parameter: \['4.weight'\]"):
        model.load_state_dict(extra, strict=False)  # allowed when not strict, with a warning

    wrong_shape = dict(state, **{"0.weight": np.zeros((2, 1, 2, 2), np.float32)})
    with pytest.raises(ValueError, match=r"'0.weight'.*\(2, 1, 2, 2\).*\(2, 1, 3, 3\)"):
        model.load_state_dict(wrong_shape)

    wrong_dtype = dict(state, **{"3.weight": state["3.weight"].astype(np.float64)})
    with pytest.raises(TypeError, match="'3.weight'.*float64.*float32"):
        model.load_state_dict(wrong_dtype)

    # a failed load changed nothing (every check runs before the first copy)
    mixed = dict(state, **{"0.bias": np.full(2, 5, np.float32),
                           "3.weight": np.zeros((1, 1), np.float32)})
    with pytest.raises(ValueError):
        model.load_state_dict(mixed)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, before[k])


def test_pickled_npz_is_refused(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, **{"0.weight": np.array([{"a": 1}], dtype=object)})
    with pytest.raises(ValueError, match="pickled"):
        load_npz(path)
    with pytest.raises(ValueError, match="pickled"):
        nn.load(small_model(0), path)


def test_pickle_and_garbage_files_are_refused(tmp_path):
    pick = tmp_path / "weights.pkl"
    pick.write_bytes(pickle.dumps({"0.weight": np.zeros(3)}))
    with pytest.raises(ValueError, match="pickle"):
        load_npz(pick)
    text = tmp_path / "notes.npz"
    text.write_text("hello")
    with pytest.raises(ValueError, match="not a weights file"):
        load_npz(text)
    single = tmp_path / "one.npy"
    np.save(single, np.zeros(3))
    with pytest.raises(ValueError, match="single .npy"):
        load_npz(single)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_npz(tmp_path / "absent.npz")


def test_save_refuses_object_metadata(tmp_path):
    with pytest.raises(TypeError, match="metadata 'bad'"):
        nn.save(small_model(0), tmp_path / "w.npz", metadata={"bad": {"x": 1}})
