"""In release V's own sandbox: load out/V/model.pt, modify it, re-run V, save to out/V_<mode>/{model.pt,io.pt}.
modes: zerobias  -> every attention to_out.bias = 0   (tests the 0.26.0 boundary)
       zerocross -> layer_blocks.layers.{i}.1.fn.fn.to_out.{weight,bias} = 0 (cross-attn block adds nothing; tests 0.0.3)
       tie       -> to_logits.weight = token_emb.weight, to_logits.bias = 0  (tests the 0.0.7 boundary)
Usage: PYTHONPATH=$XT_OLD_WORK/sb/V:$XT_OLD_WORK/deps python modify_src.py V mode"""
import os; W = os.environ.get('XT_OLD_WORK', '/tmp/xt-old')  # scripts/survey_old_releases sets it
import sys, os, re, json, torch
torch.set_num_threads(1)
V, mode = sys.argv[1], sys.argv[2]
import x_transformers, x_transformers.x_transformers as xm
TW = getattr(x_transformers, 'TransformerWrapper', None) or xm.TransformerWrapper
Dec = getattr(x_transformers, 'Decoder', None) or xm.Decoder
variant = json.load(open(f'{W}/out/{V}/result.json'))['build_variant']
if 'attn_layers' in variant: m = TW(num_tokens=64, max_seq_len=16, attn_layers=Dec(dim=32, depth=2, heads=4))
elif 'dim=32, layer_blocks' in variant: m = TW(num_tokens=64, max_seq_len=16, dim=32, layer_blocks=Dec(dim=32, depth=2, heads=4))
else: m = TW(num_tokens=64, max_seq_len=16, layer_blocks=Dec(dim=32, depth=2, heads=4))
sd = torch.load(f'{W}/out/{V}/model.pt')
n = 0
if mode == 'zerobias':
    for k in sd:
        if re.search(r'\.to_out\.bias$', k): sd[k] = torch.zeros_like(sd[k]); n += 1
elif mode == 'zerocross':
    for k in sd:
        if re.search(r'^layer_blocks\.layers\.\d+\.1\.fn\.fn\.to_out\.', k): sd[k] = torch.zeros_like(sd[k]); n += 1
elif mode == 'tie':
    sd['to_logits.weight'] = sd['token_emb.weight'].clone(); sd['to_logits.bias'] = torch.zeros_like(sd['to_logits.bias']); n = 2
m.load_state_dict(sd, strict=True); m.eval()
io = torch.load(f'{W}/out/{V}/io.pt')
with torch.no_grad(): out = m(io['x'])
d = f'{W}/out/{V}_{mode}'
os.makedirs(d, exist_ok=True)
torch.save(sd, f'{d}/model.pt'); torch.save(dict(x=io['x'], logits=out), f'{d}/io.pt')
print(mode, 'modified', n, 'tensors; max change vs original logits', float((out - io['logits']).abs().max()))
