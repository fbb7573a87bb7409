"""``python -m spec.oracle OP MODULE:FUNCTION [...]``, the same as ``tinygrad-cnn oracle``."""

import sys

from . import main

sys.exit(main())
