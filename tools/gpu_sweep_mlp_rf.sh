#!/usr/bin/env bash
# One lent-machine run: random-forest validation sweep on the CPU cores (tools/sweep_classic.py)
# while MLP variants train on the GPU with fer_core's own recipe code (Keras 3 on JAX).
# Needs .gpu/fer2013.zip and the keras wheels in .whl/ (both git-ignored, carried).
set -u
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD KERAS_BACKEND=jax XLA_PYTHON_CLIENT_PREALLOCATE=false PYTHONUNBUFFERED=1
export FER_CACHE_DIR=/tmp/fercache TF_CPP_MIN_LOG_LEVEL=2
DATA=.gpu/fer2013.zip
MAXMIN=${MAXMIN:-5}
python3 -c "import sklearn; print('sklearn', sklearn.__version__)"
python3 -m fer_core data-summary --data $DATA | tail -1
mkdir -p /tmp/z /tmp/logs
python3 tools/sweep_classic.py $DATA rf > $OUT/rf.log 2>&1 &
mlp() {  # variant [--param ...]
  local variant=$1; shift
  python3 -m fer_core train mlp --data $DATA --out /tmp/z/$variant --max-minutes "$MAXMIN" "$@" > /tmp/logs/$variant.log 2>&1 &
}
P='--param'
mlp m_d3s6 $P dropout=0.3 $P shift=0.06 $P epochs=100 $P patience=15
mlp m_w1024 $P 'hidden_units=[1024,512]' $P dropout=0.5 $P shift=0.06 $P epochs=100 $P patience=15
mlp m_w768 $P 'hidden_units=[768,384]' $P dropout=0.4 $P shift=0.06 $P label_smoothing=0.1 $P epochs=100 $P patience=15
mlp m_cos $P dropout=0.3 $P shift=0.06 $P epochs=80 $P schedule='"cosine"' $P patience=0
mlp m_d3s4 $P dropout=0.3 $P shift=0.04 $P epochs=100 $P patience=15 $P label_smoothing=0.1
wait
for d in /tmp/z/*; do python3 -c "
import json,sys; c=json.load(open('$d/mlp/card.json')); v=c['history']['val_accuracy']
print('$d'.split('/')[-1], 'best_val', round(max(v),4), 'epochs', len(v), 's', round(c.get('training_seconds',0)))"; done
for f in /tmp/logs/*.log; do echo "=== $f"; tr '\r' '\n' < "$f" | grep -E "Error|error|Traceback" | tail -5; done
cat $OUT/rf.log
cd /tmp/z && for d in *; do tar czf $OUT/$d.tgz $d; done; ls -la $OUT
