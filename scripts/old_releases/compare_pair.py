"""Load release V's saved state_dict into release W's model (run inside W's sandbox) and compare logits.
Usage: PYTHONPATH=$XT_OLD_WORK/sb/W:$XT_OLD_WORK/deps python compare_pair.py V W [json decoder extra kwargs] [tag]
Writes $XT_OLD_WORK/out/compare/V__W[__tag].json"""
import os; W = os.environ.get('XT_OLD_WORK', '/tmp/xt-old')  # scripts/survey_old_releases sets it
import sys, os, json, traceback, warnings
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
warnings.simplefilter('ignore')
import torch
torch.set_num_threads(1)
from renames import RULES, VALUE_RULES, CHAINS
B = W
V, W = sys.argv[1], sys.argv[2]
extra = json.loads(sys.argv[3]) if len(sys.argv) > 3 and sys.argv[3] else {}
tag = sys.argv[4] if len(sys.argv) > 4 else ''
os.makedirs(f'{B}/out/compare', exist_ok=True)
outp = f"{B}/out/compare/{V}__{W}{'__' + tag if tag else ''}.json"
L = json.load(open(f'{B}/layouts.json'))
BASEV = V.split('_')[0]   # e.g. '0.25.9_zerobias' -> layout of 0.25.9, files from out/0.25.9_zerobias
gV, gW = L['per_version'][BASEV], L['per_version'].get(W)
firstV = L['groups'][gV]['first']
res = dict(frm=V, to=W, frm_group=gV, to_group=gW, decoder_extra_kwargs=extra, steps=[], exact=True)
def save():
    with open(outp, 'w') as f: json.dump(res, f, indent=1)
try:
    import x_transformers
    assert x_transformers.__file__.startswith(f'{B}/sb/{W}/'), x_transformers.__file__
    import x_transformers.x_transformers as xm
    TW = getattr(x_transformers, 'TransformerWrapper', None) or xm.TransformerWrapper
    Dec = getattr(x_transformers, 'Decoder', None) or xm.Decoder
    model = None; errs = []
    for kw in ('attn_layers', 'layer_blocks', 'layer_blocks+dim'):
        try:
            dec = Dec(dim=32, depth=2, heads=4, **extra)
            if kw == 'attn_layers': model = TW(num_tokens=64, max_seq_len=16, attn_layers=dec)
            elif kw == 'layer_blocks': model = TW(num_tokens=64, max_seq_len=16, layer_blocks=dec)
            else: model = TW(num_tokens=64, max_seq_len=16, dim=32, layer_blocks=dec)
            break
        except Exception as e:
            errs.append(f'{type(e).__name__}: {e}')
    if model is None:
        res['build_error'] = errs[0]; save(); sys.exit(0)
    sd = torch.load(f'{B}/out/{V}/model.pt')
    io = torch.load(f'{B}/out/{V}/io.pt')
    tgt = model.state_dict()
    tgt_layout = [[k, list(v.shape)] for k, v in tgt.items()]
    res['target_layout_is_group'] = next((g for g, d in L['groups'].items() if d['keys'] == tgt_layout), None)
    same = [[k, list(v.shape)] for k, v in sd.items()] == tgt_layout or \
           {k: list(v.shape) for k, v in sd.items()} == {k: list(v.shape) for k, v in tgt.items()}
    res['same_layout'] = same
    if not same and tag == 'chain':
        for key in CHAINS[(BASEV, W)]:
            for desc, fn, exact in RULES[key]:
                sd = fn(sd); res['steps'].append(desc); res['exact'] = res['exact'] and exact
    elif not same:
        gT = res['target_layout_is_group'] or gW
        key = (firstV, L['groups'][gT]['first'] if gT in L['groups'] else None)
        res['rule_key'] = list(key) if key[1] else None
        for desc, fn, exact in RULES.get(key, []):
            sd = fn(sd); res['steps'].append(desc); res['exact'] = res['exact'] and exact
        if key not in RULES:
            res['steps'].append('no rule'); res['exact'] = False
    if tag == 'value':
        for desc, fn, exact in VALUE_RULES.get((BASEV, W), []):
            sd = fn(sd); res['steps'].append(desc); res['exact'] = res['exact'] and exact
    src_shapes = {k: list(v.shape) for k, v in sd.items()}
    tgt_shapes = {k: list(v.shape) for k, v in tgt.items()}
    res['missing'] = [k for k in tgt_shapes if k not in src_shapes]
    res['unexpected'] = [k for k in src_shapes if k not in tgt_shapes]
    res['shape_mismatch'] = [[k, src_shapes[k], tgt_shapes[k]] for k in src_shapes if k in tgt_shapes and src_shapes[k] != tgt_shapes[k]]
    try:
        model.load_state_dict(sd, strict=True)
        res['load_ok'] = True
    except Exception as e:
        res['load_ok'] = False
        res['load_error'] = f'{type(e).__name__}: {str(e)[:600]}'
        save(); sys.exit(0)
    model.eval()
    with torch.no_grad():
        out = model(io['x'])
    if isinstance(out, (tuple, list)): out = out[0]
    ref = io['logits']
    res['out_shape'] = list(out.shape)
    if out.shape != ref.shape:
        res['forward_error'] = f'shape {list(out.shape)} vs {list(ref.shape)}'
    else:
        d = (out - ref).abs()
        res['max_abs_diff'] = float(d.max())
        res['bitwise_equal'] = bool(torch.equal(out, ref))
        res['ref_max_abs'] = float(ref.abs().max())
        # position-wise view: which positions differ
        res['max_abs_diff_per_pos'] = [round(float(t), 6) for t in d.amax(dim=(0, 2))]
except Exception as e:
    res['error'] = f'{type(e).__name__}: {e}'
    res['traceback'] = traceback.format_exc()
save()
