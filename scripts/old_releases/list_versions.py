import os; W = os.environ.get('XT_OLD_WORK', '/tmp/xt-old')  # scripts/survey_old_releases sets it
import json, sys, urllib.request
from packaging.version import Version
d = json.load(urllib.request.urlopen('https://pypi.org/pypi/x-transformers/json'))
json.dump(d, open(f'{W}/pypi.json', 'w'))
vs = sorted([v for v in d['releases'] if Version(v) <= Version('0.28.4')], key=Version)
open(f'{W}/versions.txt', 'w').write('\n'.join(vs) + '\n')
print(len(vs))
