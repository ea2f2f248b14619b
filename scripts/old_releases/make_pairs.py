"""Consecutive pairs of releases that ran, plus bridge pairs that skip anomalous releases."""
import os; W = os.environ.get('XT_OLD_WORK', '/tmp/xt-old')  # scripts/survey_old_releases sets it
import json
B = W
vs = open(f'{B}/versions.txt').read().split()
ran = [v for v in vs if json.load(open(f'{B}/out/{v}/result.json'))['runs']]
pairs = list(zip(ran, ran[1:]))
bridges = [('0.7.4', '0.8.1'), ('0.10.2', '0.11.1'), ('0.20.9', '0.21.1')]
with open(f'{B}/pairs.txt', 'w') as f:
    for a, b in pairs + bridges:
        f.write(f'{a} {b}\n')
print(len(pairs), 'consecutive +', len(bridges), 'bridges')
