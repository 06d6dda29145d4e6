#!/usr/bin/env bash
# Train the Keras members of the zoo in parallel on a lent GPU (Keras 3 on the JAX backend), with
# the same fer_core code and recipes as `make train`. Used once per zoo refresh through the
# workplace's device tool; needs .gpu/fer2013.zip (a zip of the image folders, git-ignored) and
# the keras/namex/optree wheels in .whl/. Results come back as tarballs under $OUT.
set -u
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD KERAS_BACKEND=jax XLA_PYTHON_CLIENT_PREALLOCATE=false PYTHONUNBUFFERED=1
export FER_CACHE_DIR=/tmp/fercache TF_CPP_MIN_LOG_LEVEL=2
DATA=.gpu/fer2013.zip
MAXMIN=${MAXMIN:-6}
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
python3 -m fer_core data-summary --data $DATA | tail -1
mkdir -p /tmp/z /tmp/logs
train() {  # variant model [args...]
  local variant=$1 model=$2; shift 2
  python3 -m fer_core train "$model" --data $DATA --out /tmp/z/$variant --max-minutes "$MAXMIN" "$@" \
    > /tmp/logs/$variant.log 2>&1 &
}
train cnn cnn
train cnn_e40 cnn --epochs 40
train cnn_bal cnn --param 'class_weight="balanced"'
train lstm lstm
train mlp mlp
train cnn_basic cnn_basic
wait
for f in /tmp/logs/*.log; do echo "=== $f"; tr '\r' '\n' < "$f" | grep -E "epoch [0-9]+/|test accuracy|Error|error|Traceback" | tail -80; done > $OUT/logs.txt
grep -h "test accuracy" /tmp/logs/*.log
cd /tmp/z && tar czf $OUT/a.tgz cnn cnn_e40; tar czf $OUT/b.tgz cnn_bal lstm; tar czf $OUT/c.tgz mlp cnn_basic
ls -la $OUT
