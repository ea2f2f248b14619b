"""Checkpoint conversions between x-transformers state_dict layouts.
Keyed by (first release of source layout group, first release of target layout group).
Each entry: list of (description, fn, exact) where fn(sd) -> sd. exact=False means the step
invents values (not a pure rename/reshape of existing tensors)."""
import os; W = os.environ.get('XT_OLD_WORK', '/tmp/xt-old')  # scripts/survey_old_releases sets it
import re, torch
from collections import OrderedDict

def rn(pattern, repl):
    def f(sd):
        return OrderedDict((re.sub(pattern, repl, k), v) for k, v in sd.items())
    return f

def drop(pattern):
    def f(sd):
        return OrderedDict((k, v) for k, v in sd.items() if not re.search(pattern, k))
    return f

def split_kv(sd):
    out = OrderedDict()
    for k, v in sd.items():
        if k.endswith('to_kv.weight'):
            kk, vv = v.chunk(2, dim=0)
            out[k.replace('to_kv.weight', 'to_k.weight')] = kk.clone()
            out[k.replace('to_kv.weight', 'to_v.weight')] = vv.clone()
        else:
            out[k] = v
    return out

def tied_to_logits(sd):
    sd = OrderedDict(sd)
    w = sd['token_emb.weight'] if 'token_emb.weight' in sd else sd['token_emb.emb.weight']
    sd['to_logits.weight'] = w.clone()
    sd['to_logits.bias'] = torch.zeros(w.shape[0])
    return sd

def add_final_norm_identity(sd):
    sd = OrderedDict(sd)
    d = sd['token_emb.weight'].shape[1]
    sd['norm.weight'] = torch.ones(d); sd['norm.bias'] = torch.zeros(d)
    return sd

def flatten_layers(sd):
    # attn_layers.layers.{i}.{j}.rest -> attn_layers.layers.{2i + (0 if j==0 else 1)}.rest  (j in {0, 2})
    out = OrderedDict()
    for k, v in sd.items():
        m = re.match(r'attn_layers\.layers\.(\d+)\.(\d+)\.(.*)', k)
        if m:
            i, j, rest = int(m[1]), int(m[2]), m[3]
            assert j in (0, 2), k
            k = f'attn_layers.layers.{2 * i + (0 if j == 0 else 1)}.{rest}'
        out[k] = v
    return out

def add_norms_identity_layers(n_layers, d=32):
    def f(sd):
        sd = OrderedDict(sd)
        for n in range(n_layers):
            sd[f'attn_layers.layers.{n}.0.0.weight'] = torch.ones(d)
            sd[f'attn_layers.layers.{n}.0.0.bias'] = torch.zeros(d)
        return sd
    return f

def add_gru_identity_like(sd):
    raise NotImplementedError

def drop_to_out_bias(sd):
    return OrderedDict((k, v) for k, v in sd.items() if not re.search(r'\.to_out\.bias$', k))

def pad_heads(heads=4, d_old=8, d_new=64):
    """0.0.3 (dim_head = dim // heads, fixed) -> 0.0.4 (dim_head = 64, not a constructor argument):
    zero-pad every head from d_old to d_new and multiply q by sqrt(d_new / d_old) so that
    q.k * d_new**-0.5 == q_old.k_old * d_old**-0.5."""
    def padrows(w):  # [(h d_old), in] -> [(h d_new), in]
        w = w.reshape(heads, d_old, -1)
        return torch.cat([w, w.new_zeros(heads, d_new - d_old, w.shape[-1])], 1).reshape(heads * d_new, -1)
    def f(sd):
        out = OrderedDict()
        for k, v in sd.items():
            if k.endswith('to_q.weight'):
                v = padrows(v) * (d_new / d_old) ** 0.5
            elif k.endswith('to_kv.weight'):
                kk, vv = v.chunk(2, dim=0)
                v = torch.cat([padrows(kk), padrows(vv)], 0)
            elif k.endswith('to_out.weight'):  # [out, (h d_old)]
                w = v.reshape(v.shape[0], heads, d_old)
                v = torch.cat([w, w.new_zeros(v.shape[0], heads, d_new - d_old)], 2).reshape(v.shape[0], heads * d_new)
            out[k] = v
        return out
    return f

def q_linear_to_causal_dwconv(kernel=9):
    """0.10.x to_q Linear -> 0.11.0 to_q = [Rearrange, DepthWiseConv1d(dim, inner, 9), Rearrange] with causal
    left padding of 8: depthwise kernel = delta at the last tap, pointwise conv = to_q.weight, bias 0."""
    def f(sd):
        out = OrderedDict()
        for k, v in sd.items():
            if re.search(r'\.to_q\.weight$', k):
                base = k[:-len('to_q.weight')]
                dw = v.new_zeros(v.shape[1], 1, kernel); dw[:, 0, kernel - 1] = 1.
                out[base + 'to_q.1.net.0.weight'] = dw
                out[base + 'to_q.1.net.1.weight'] = v.clone()[:, :, None]
                out[base + 'to_q.1.net.1.bias'] = v.new_zeros(v.shape[0])
            else:
                out[k] = v
        return out
    return f

# (from group first release, to group first release) -> steps
RULES = {
    ('0.0.3', '0.0.4'): [('zero-pad each head 8 -> 64 in to_q/to_kv/to_out, to_q *= sqrt(64/8)', pad_heads(), True)],
    ('0.0.1', '0.0.2'): [('add final norm.weight=1, norm.bias=0 (new final LayerNorm)', add_final_norm_identity, False)],
    ('0.0.2', '0.0.3'): [('drop layer_blocks.layers.{i}.1.* (cross-attention block no longer built without cross_attend)',
                          drop(r'^layer_blocks\.layers\.\d+\.1\.'), False)],
    ('0.0.4', '0.0.6'): [('.fn.fn. -> .fn. ; .fn.norm. -> .norm.', lambda sd: rn(r'\.fn\.norm\.', '.norm.')(rn(r'\.fn\.fn\.', '.fn.')(sd)), True),
                         ('FF net.0. -> net.0.0. ; net.2. -> net.1.', lambda sd: rn(r'\.fn\.net\.2\.', '.fn.net.1.')(rn(r'\.fn\.net\.0\.', '.fn.net.0.0.')(sd)), True)],
    ('0.0.6', '0.0.7'): [('drop to_logits.* (output now tied to token_emb.weight)', drop(r'^to_logits\.'), False)],
    ('0.0.7', '0.0.9'): [('layer_blocks. -> attn_layers.', rn(r'^layer_blocks\.', 'attn_layers.'), True),
                         ('FF .fn.net.1. -> .fn.net.2.', rn(r'\.fn\.net\.1\.', '.fn.net.2.'), True)],
    ('0.0.9', '0.0.29'): [('attn_layers.layers.{i}.{0|2}. -> attn_layers.layers.{2i|2i+1}.', flatten_layers, True)],
    ('0.0.29', '0.4.0'): [('layers.{n}.norm. -> layers.{n}.0. ; layers.{n}.fn. -> layers.{n}.1.',
                           lambda sd: rn(r'(attn_layers\.layers\.\d+)\.fn\.', r'\1.1.')(rn(r'(attn_layers\.layers\.\d+)\.norm\.', r'\1.0.')(sd)), True)],
    ('0.4.0', '0.5.2'): [('pos_emb.weight -> pos_emb.emb.weight', rn(r'^pos_emb\.weight$', 'pos_emb.emb.weight'), True),
                         ('to_kv.weight -> chunk(2, dim=0) -> to_k.weight, to_v.weight', split_kv, True)],
    ('0.4.0', '0.5.0'): [('pos_emb.weight -> pos_emb.emb.weight (shape differs: 0.5.0 builds Embedding(dim, max_seq_len))', rn(r'^pos_emb\.weight$', 'pos_emb.emb.weight'), True),
                         ('to_kv.weight -> to_k.weight, to_v.weight', split_kv, True)],
    ('0.5.2', '0.7.0'): [('add to_logits.weight = token_emb.weight, to_logits.bias = 0 (reproduce tied output)', tied_to_logits, True)],
    ('0.8.0', '0.7.0'): [('drop attn_layers.layers.{n}.2.gru.* (GRU gating no longer default)', drop(r'\.gru\.'), False)],
    ('0.7.0', '0.11.0'): [('to_q.weight -> to_q.1.net.0.weight = delta at last of 9 taps, to_q.1.net.1.weight = to_q.weight[..., None], to_q.1.net.1.bias = 0 (causal left pad 8)', q_linear_to_causal_dwconv(), True)],
    ('0.11.0', '0.7.0'): [('drop to_q.1.net.* (depthwise-conv to_q); no source for to_q.weight', drop(r'\.to_q\.1\.'), False)],
    ('0.7.0', '0.20.2'): [('FF net.2. -> net.3.', rn(r'(attn_layers\.layers\.\d+\.1\.net)\.2\.', r'\1.3.'), True)],
    ('0.20.2', '0.21.0'): [('drop per-layer pre-norm layers.{n}.0.* (0.21.0 builds no pre-branch norm)', drop(r'^attn_layers\.layers\.\d+\.0\.'), False)],
    ('0.21.0', '0.21.1'): [('add layers.{n}.0.0.weight=1, bias=0 (pre-norm absent in source)', add_norms_identity_layers(4), False)],
    ('0.20.2', '0.21.1'): [('layers.{n}.0.{weight,bias} -> layers.{n}.0.0.{weight,bias}', rn(r'^(attn_layers\.layers\.\d+)\.0\.(weight|bias)$', r'\1.0.0.\2'), True)],
    ('0.21.1', '0.24.0'): [('token_emb.weight -> token_emb.emb.weight', rn(r'^token_emb\.weight$', 'token_emb.emb.weight'), True)],
    ('0.24.0', '0.26.0'): [('drop attn to_out.bias (0.26.0 to_out has no bias)', drop_to_out_bias, False)],
}

# value transforms that carry a checkpoint across a computation change with an unchanged layout
# (applied by compare_pair.py when called with tag 'value'), keyed by (source release, target release)
def scale_pos_emb(factor):
    def f(sd):
        sd = OrderedDict(sd)
        sd['pos_emb.emb.weight'] = sd['pos_emb.emb.weight'] * factor
        return sd
    return f

VALUE_RULES = {
    ('0.0.3', '0.0.4'): [('zero-pad each head 8 -> 64 in to_q/to_kv/to_out, to_q *= sqrt(64/8)', pad_heads(), True)],
    ('0.17.10', '0.17.11'): [('pos_emb.emb.weight *= sqrt(dim) (0.17.11 multiplies absolute pos emb by dim**-0.5)', scale_pos_emb(32 ** 0.5), True)],
    ('0.23.0', '0.24.0'): [('pos_emb.emb.weight *= dim**-0.5 (0.24.0 scale is 1.0: `if not l2norm` tests the function)', scale_pos_emb(32 ** -0.5), True)],
    ('0.24.0', '0.24.1'): [('pos_emb.emb.weight *= sqrt(dim) (0.24.1 restores dim**-0.5 scaling)', scale_pos_emb(32 ** 0.5), True)],
}

# multi-release chains (compare_pair.py tag 'chain'): compose RULES along the layout path
CHAINS = {
    ('0.3.5', '0.7.4'): [('0.0.29', '0.4.0'), ('0.4.0', '0.5.2'), ('0.5.2', '0.7.0')],
    ('0.17.10', '0.24.0'): [('0.7.0', '0.20.2'), ('0.20.2', '0.21.1'), ('0.21.1', '0.24.0')],
}
