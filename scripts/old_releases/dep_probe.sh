#!/bin/bash
# for each release: does `import x_transformers` work with einops only (no entmax)?
PY="${XT_OLD_PY:?run through scripts/survey_old_releases}"
cd "$XT_OLD_WORK"
while read V; do
  r=$(PYTHONPATH=$XT_OLD_WORK/sb/$V:$XT_OLD_WORK/deps_noentmax nice $PY -c "
import x_transformers, sys
print('ok', 'entmax' in sys.modules)" 2>&1 | tail -1)
  echo "$V $r"
done < versions.txt
