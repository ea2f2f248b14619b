"""Group releases by state_dict layout (keys + shapes) and diff consecutive built releases.
Writes $XT_OLD_WORK/layouts.json"""
import os; W = os.environ.get('XT_OLD_WORK', '/tmp/xt-old')  # scripts/survey_old_releases sets it
import json, os
B = W
vs = open(f'{B}/versions.txt').read().split()
groups, sig2gid, per = {}, {}, {}
for v in vs:
    r = json.load(open(f'{B}/out/{v}/result.json'))
    if not r['builds']:
        per[v] = None; continue
    keys = json.load(open(f'{B}/out/{v}/keys.json'))
    sig = tuple((k, tuple(s)) for k, s, _ in keys)
    if sig not in sig2gid:
        gid = f'L{len(sig2gid) + 1}'
        sig2gid[sig] = gid
        groups[gid] = dict(first=v, members=[], n_keys=len(keys), keys=[[k, list(s)] for k, s in sig])
    per[v] = sig2gid[sig]
    groups[per[v]]['members'].append(v)
built = [v for v in vs if per[v]]
diffs = []
for a, b in zip(built, built[1:]):
    if per[a] == per[b]: continue
    ka = {k: s for k, s in groups[per[a]]['keys']}
    kb = {k: s for k, s in groups[per[b]]['keys']}
    diffs.append(dict(frm=a, to=b, frm_group=per[a], to_group=per[b],
        same_keyset_ordered=list(ka) == list(kb),
        removed=[[k, ka[k]] for k in ka if k not in kb],
        added=[[k, kb[k]] for k in kb if k not in ka],
        reshaped=[[k, ka[k], kb[k]] for k in ka if k in kb and ka[k] != kb[k]]))
json.dump(dict(per_version=per, groups=groups, diffs=diffs), open(f'{B}/layouts.json', 'w'), indent=1)
for g, d in groups.items():
    print(g, d['first'], '..', d['members'][-1], len(d['members']), 'releases', d['n_keys'], 'keys')
for d in diffs:
    print(f"\n== {d['frm']} ({d['frm_group']}) -> {d['to']} ({d['to_group']}) order_same={d['same_keyset_ordered']}")
    for k in ('removed', 'added', 'reshaped'):
        if d[k]: print(' ', k, len(d[k]), d[k][:8])
