"""Run one x-transformers release in its sandbox.
Usage: PYTHONPATH=$XT_OLD_WORK/sb/V:$XT_OLD_WORK/deps python run_one.py V
Writes $XT_OLD_WORK/out/V/{result.json,keys.json,model.pt,io.pt}"""
import os; W = os.environ.get('XT_OLD_WORK', '/tmp/xt-old')  # scripts/survey_old_releases sets it
import sys, os, json, traceback, warnings, io as _io
V = sys.argv[1]
OUT = f'{W}/out/{V}'
os.makedirs(OUT, exist_ok=True)
res = dict(version=V, imports=False, builds=False, runs=False, error=None, stage=None,
           build_variant=None, build_attempts=[], warnings=[])
def save():
    with open(f'{OUT}/result.json', 'w') as f:
        json.dump(res, f, indent=1)

warnings.simplefilter('always')
wlog = []
def showwarning(message, category, filename, lineno, file=None, line=None):
    wlog.append(f'{category.__name__}: {message} ({os.path.basename(filename)}:{lineno})')
warnings.showwarning = showwarning

import torch
torch.set_num_threads(1)
res['torch'] = torch.__version__
try:
    import x_transformers
    res['file'] = os.path.dirname(x_transformers.__file__)
    res['pkg_exports'] = sorted(n for n in dir(x_transformers) if not n.startswith('_'))
    import x_transformers.x_transformers as xm
    res['module_file'] = xm.__file__
    TW = getattr(x_transformers, 'TransformerWrapper', None)
    Dec = getattr(x_transformers, 'Decoder', None)
    res['import_from'] = 'x_transformers'
    if TW is None or Dec is None:
        TW, Dec = xm.TransformerWrapper, xm.Decoder
        res['import_from'] = 'x_transformers.x_transformers (not exported at package top)'
    assert res['file'].startswith(f'{W}/sb/{V}/'), res['file']
    res['imports'] = True
except Exception as e:
    res['stage'] = 'import'
    res['error'] = f'{type(e).__name__}: {e}'
    res['traceback'] = traceback.format_exc()
    res['warnings'] = wlog; save(); sys.exit(0)

variants = [
    ('TransformerWrapper(num_tokens=64, max_seq_len=16, attn_layers=Decoder(dim=32, depth=2, heads=4))',
     lambda: TW(num_tokens=64, max_seq_len=16, attn_layers=Dec(dim=32, depth=2, heads=4))),
    ('TransformerWrapper(num_tokens=64, max_seq_len=16, layer_blocks=Decoder(dim=32, depth=2, heads=4))',
     lambda: TW(num_tokens=64, max_seq_len=16, layer_blocks=Dec(dim=32, depth=2, heads=4))),
    ('TransformerWrapper(num_tokens=64, max_seq_len=16, dim=32, layer_blocks=Decoder(dim=32, depth=2, heads=4))',
     lambda: TW(num_tokens=64, max_seq_len=16, dim=32, layer_blocks=Dec(dim=32, depth=2, heads=4))),
]
model = None
for name, fn in variants:
    try:
        torch.manual_seed(0)
        model = fn()
        res['build_variant'] = name
        break
    except Exception as e:
        res['build_attempts'].append(dict(variant=name, error=f'{type(e).__name__}: {e}'))
if model is None:
    res['stage'] = 'build'
    res['error'] = res['build_attempts'][0]['error'] if res['build_attempts'] else 'no variant'
    res['warnings'] = wlog; save(); sys.exit(0)
res['builds'] = True
import inspect
try:
    res['tw_signature'] = str(inspect.signature(TW.__init__))
    res['dec_signature'] = str(inspect.signature(Dec.__init__))
except Exception:
    pass

# trained-like parameter values, seeded, in named_parameters order
norm_param_names = set()
for mname, mod in model.named_modules():
    if 'norm' in type(mod).__name__.lower():
        for pname, _ in mod.named_parameters(recurse=False):
            if pname != 'bias':
                norm_param_names.add(f'{mname}.{pname}' if mname else pname)
g = torch.Generator().manual_seed(1234)
with torch.no_grad():
    for n, p in model.named_parameters():
        r = torch.randn(p.shape, generator=g, dtype=p.dtype)
        p.data = (1 + 0.2 * r) if n in norm_param_names else r * 0.2
res['norm_params'] = sorted(norm_param_names)
res['module_repr'] = repr(model)

sd = model.state_dict()
keys = [[k, list(v.shape), str(v.dtype)] for k, v in sd.items()]
with open(f'{OUT}/keys.json', 'w') as f:
    f.write('[\n' + ',\n'.join(json.dumps(k) for k in keys) + '\n]\n')
res['param_names'] = [n for n, _ in model.named_parameters()]
res['buffer_names'] = [n for n, _ in model.named_buffers()]
res['n_params'] = sum(p.numel() for p in model.parameters())
torch.save(sd, f'{OUT}/model.pt')

x = torch.randint(0, 64, (2, 16), generator=torch.Generator().manual_seed(42))
model.eval()
try:
    with torch.no_grad():
        out = model(x)
    if isinstance(out, (tuple, list)):
        res['output_type'] = f'{type(out).__name__} of len {len(out)}'
        out = out[0]
    res['out_shape'] = list(out.shape)
    res['out_finite'] = bool(torch.isfinite(out).all())
    torch.save(dict(x=x, logits=out), f'{OUT}/io.pt')
    res['runs'] = True
    res['logits_sum'] = float(out.double().sum())
except Exception as e:
    res['stage'] = 'forward'
    res['error'] = f'{type(e).__name__}: {e}'
    res['traceback'] = traceback.format_exc()
if res['runs']:
    # second forward on the same model object: must succeed and be identical
    try:
        with torch.no_grad():
            out2 = model(x)
        if isinstance(out2, (tuple, list)): out2 = out2[0]
        res['second_forward_ok'] = True
        res['deterministic'] = bool(torch.equal(out, out2))
    except Exception as e:
        res['second_forward_ok'] = False
        res['second_forward_error'] = f'{type(e).__name__}: {e}'
        res['second_forward_traceback'] = traceback.format_exc()
res['warnings'] = sorted(set(wlog))
save()
