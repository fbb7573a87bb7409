import sys; sys.path.insert(0,'tests')
from spec import oracle
import oracle_candidates as oc
f, b = oc.REFERENCE["conv2d"]
def conv(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    if groups != 1: raise NotImplementedError("groups")
    return f(x, w, b, stride, padding, dilation, groups)
r = oracle.check("conv2d", conv, b, supports={"dilation": 1, "stride": [1, 2, 3]})
print(r); print(r.passed, len(r.unsupported))
r = oracle.check("conv2d", conv, b, supports={"dilation": 1}, strict=True)
print(r.passed, str(r).splitlines()[-4:])
