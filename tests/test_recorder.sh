#!/bin/sh
# The PyTorch recorder's tests (recorders/torch/tests/test_recorder.py), run
# by the first Python that has Debian's python3-torch, python3-numpy and
# python3-h5py: $PROMOE_PYTHON, /usr/bin/python3 (Debian's own, whose
# packages a pyenv or venv python3 on PATH does not see), then python3.
# Skips (77) where none has them, saying how to get them.
PROMOE=${PROMOE:-./promoe}
PROMOE=$(cd "$(dirname "$PROMOE")" && pwd)/$(basename "$PROMOE")
export PROMOE
src=${PROMOE_SRCDIR:-$(dirname "$0")/..}
for py in ${PROMOE_PYTHON:-} /usr/bin/python3 python3; do
  if "$py" -c "import torch, numpy, h5py" >/dev/null 2>&1; then
    # -B: leave no __pycache__ in the source tree
    exec "$py" -B -m unittest discover -s "$src/recorders/torch/tests" \
      -p 'test_*.py' -v
  fi
done
echo "test_recorder: skipped: no python3 with torch, numpy and h5py (run 'make check-recorder'," \
  "which installs python3-torch, python3-numpy and python3-h5py, or ./setup.sh --with-recorder)"
exit 77
