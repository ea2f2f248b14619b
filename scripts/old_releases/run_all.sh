#!/bin/bash
# run run_one.py for each installed release (from versions.txt or file $1), one process at a time
# FORCE=1 reruns releases that already have a result.json
PY="${XT_OLD_PY:?run through scripts/survey_old_releases}"
cd "$XT_OLD_WORK"
LIST=${1:-versions.txt}
while read V; do
  [ -f out/$V/install.rc ] && [ "$(cat out/$V/install.rc)" = 0 ] || { echo "$V not installed"; continue; }
  [ -f out/$V/result.json ] && [ "$FORCE" != 1 ] && continue
  PYTHONPATH=$XT_OLD_WORK/sb/$V:$XT_OLD_WORK/deps timeout 300 nice $PY "$XT_OLD_SCRIPTS/run_one.py" $V > out/$V/run.log 2>&1
  echo "$V rc=$? $(grep -o '"runs": [a-z]*' out/$V/result.json 2>/dev/null)"
done < $LIST
