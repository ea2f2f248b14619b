#!/bin/bash
# install each release with --no-deps into its own sandbox; log to out/V/install.log
PY="${XT_OLD_PY:?run through scripts/survey_old_releases}"
cd "$XT_OLD_WORK"
while read V; do
  mkdir -p out/$V
  if [ -f out/$V/install.rc ] && [ "$(cat out/$V/install.rc)" = 0 ]; then continue; fi
  $PY -m pip install --no-deps --no-compile --disable-pip-version-check --target sb/$V "x-transformers==$V" > out/$V/install.log 2>&1
  echo $? > out/$V/install.rc
  echo "$V $(cat out/$V/install.rc)"
done < versions.txt
