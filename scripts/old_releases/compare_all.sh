#!/bin/bash
PY="${XT_OLD_PY:?run through scripts/survey_old_releases}"
cd "$XT_OLD_WORK"
while read V W; do
  PYTHONPATH=$XT_OLD_WORK/sb/$W:$XT_OLD_WORK/deps timeout 300 nice $PY "$XT_OLD_SCRIPTS/compare_pair.py" $V $W > /dev/null 2> out/compare_err_${V}__${W}.log || echo "$V $W rc=$?"
  [ -s out/compare_err_${V}__${W}.log ] || rm -f out/compare_err_${V}__${W}.log
  $PY -c "
import json;r=json.load(open('out/compare/${V}__${W}.json'))
print('$V','$W','same' if r.get('same_layout') else 'DIFF', r.get('load_ok'), r.get('max_abs_diff'), r.get('bitwise_equal'), r.get('error') or r.get('build_error') or r.get('load_error','')[:150])"
done < ${1:-pairs.txt}
