"""Cluster releases by their own saved logits (same seed => same weights when parameter order/shapes agree)."""
import os; W = os.environ.get('XT_OLD_WORK', '/tmp/xt-old')  # scripts/survey_old_releases sets it
import json, torch
B = W
vs = open(f'{B}/versions.txt').read().split()
L = json.load(open(f'{B}/layouts.json'))
clusters = []  # (rep logits, id, members)
per = {}
for v in vs:
    r = json.load(open(f'{B}/out/{v}/result.json'))
    if not r['runs']: per[v] = None; continue
    lg = torch.load(f'{B}/out/{v}/io.pt')['logits']
    for c in clusters:
        if c['t'].shape == lg.shape and float((c['t'] - lg).abs().max()) <= 1e-5:
            c['members'].append(v); per[v] = c['id']; break
    else:
        cid = f'O{len(clusters) + 1}'
        clusters.append(dict(t=lg, id=cid, members=[v])); per[v] = cid
prev = None
for v in vs:
    if per[v] is None: continue
    key = (L['per_version'][v], per[v])
    if key != prev: print(v, 'layout', key[0], 'logits', key[1])
    prev = key
json.dump(dict(per_version=per, clusters={c['id']: c['members'] for c in clusters}), open(f'{B}/logit_clusters.json', 'w'), indent=1)
