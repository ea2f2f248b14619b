"""Build release V (sandbox on PYTHONPATH) with extra Decoder kwargs and run one forward.
Usage: python alt_build.py V '{"gate_residual": true}'  -> out/alt/V__<kwargs>.json"""
import os; W = os.environ.get('XT_OLD_WORK', '/tmp/xt-old')  # scripts/survey_old_releases sets it
import sys, os, json, traceback, torch
torch.set_num_threads(1)
V, kw = sys.argv[1], json.loads(sys.argv[2])
res = dict(version=V, decoder_extra_kwargs=kw)
try:
    from x_transformers import TransformerWrapper, Decoder
    import x_transformers; assert x_transformers.__file__.startswith(f'{W}/sb/{V}/')
    m = TransformerWrapper(num_tokens=64, max_seq_len=16, attn_layers=Decoder(dim=32, depth=2, heads=4, **kw)).eval()
    res['builds'] = True
    res['keys'] = [[k, list(v.shape)] for k, v in m.state_dict().items()]
    x = torch.randint(0, 64, (2, 16), generator=torch.Generator().manual_seed(42))
    with torch.no_grad(): out = m(x)
    res['runs'] = True; res['out_shape'] = list(out.shape)
except Exception as e:
    res['error'] = f'{type(e).__name__}: {e}'; res['traceback'] = traceback.format_exc()
os.makedirs(f'{W}/out/alt', exist_ok=True)
tag = '_'.join(f'{k}={v}' for k, v in kw.items())
json.dump(res, open(f'{W}/out/alt/{V}__{tag}.json', 'w'), indent=1)
print(V, kw, 'builds' if res.get('builds') else 'no build', 'runs' if res.get('runs') else res.get('error'), len(res.get('keys', [])), 'keys', [k for k, _ in res.get('keys', []) if 'gru' in k][:2])
