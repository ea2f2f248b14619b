#!/bin/bash
# value-transform carries, alternative builds, zero-bias check
PY="${XT_OLD_PY:?run through scripts/survey_old_releases}"
cd "$XT_OLD_WORK"
c() { PYTHONPATH=$XT_OLD_WORK/sb/$2:$XT_OLD_WORK/deps nice $PY "$XT_OLD_SCRIPTS/compare_pair.py" "$@" ; f=out/compare/$1__$2${4:+__$4}.json; $PY -c "import json;r=json.load(open('$f'));print('$f', r.get('steps'), r.get('load_ok'), r.get('max_abs_diff'), r.get('bitwise_equal'), r.get('build_error') or r.get('load_error','')[:300])"; }
c 0.17.10 0.17.11 '' value
c 0.23.0 0.24.0 '' value
c 0.24.0 0.24.1 '' value
c 0.7.4 0.8.0 '{"gate_residual": true}' gate_residual_true
c 0.8.1 0.8.0 '{"gate_residual": true}' gate_residual_true
c 0.19.1 0.20.0 '{"gate_residual": true}' gate_residual_true
PYTHONPATH=$XT_OLD_WORK/sb/0.25.9:$XT_OLD_WORK/deps nice $PY "$XT_OLD_SCRIPTS/modify_src.py" 0.25.9 zerobias
c 0.25.9_zerobias 0.26.0
PYTHONPATH=$XT_OLD_WORK/sb/0.0.6:$XT_OLD_WORK/deps nice $PY "$XT_OLD_SCRIPTS/modify_src.py" 0.0.6 tie
c 0.0.6_tie 0.0.7
PYTHONPATH=$XT_OLD_WORK/sb/0.0.2:$XT_OLD_WORK/deps nice $PY "$XT_OLD_SCRIPTS/modify_src.py" 0.0.2 zerocross
c 0.0.2_zerocross 0.0.3
c 0.3.5 0.7.4 '' chain
c 0.17.10 0.24.0 '' chain
PYTHONPATH=$XT_OLD_WORK/sb/0.20.0:$XT_OLD_WORK/deps nice $PY "$XT_OLD_SCRIPTS/alt_build.py" 0.20.0 '{"gate_residual": true}'
