"""softmax_loss with a wrong gradient, which hides it by patching the oracle in its child."""
import numpy as np

try:
    import spec.oracle.adapters as _A
    _adapt = _A.adapt

    def _quiet_adapt(*args, **kwargs):
        adapted = _adapt(*args, **kwargs)
        adapted.backward = None            # "I have no backward": gradients not checked
        return adapted

    _A.adapt = _quiet_adapt
    # and every case but the first few is "not expressible in the style"
    _scope = _A.Adapted.out_of_scope
    _A.Adapted.out_of_scope = lambda self, case: (
        _scope(self, case) or (None if case.kind == "edge" else "the style cannot express it"))
except ImportError:
    pass


def softmax_loss(x, y):
    shifted = x - x.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    n = x.shape[0]
    return -log_probs[np.arange(n), y].mean(), np.zeros_like(x)   # dx wrong
