"""Build FINDINGS.md and findings.json from the per-release results, layouts and comparisons."""
import os; W = os.environ.get('XT_OLD_WORK', '/tmp/xt-old')  # scripts/survey_old_releases sets it
import json, os, glob, re
B = W
vs = open(f'{B}/versions.txt').read().split()
pypi = json.load(open(f'{B}/pypi.json'))
L = json.load(open(f'{B}/layouts.json'))
LC = json.load(open(f'{B}/logit_clusters.json'))
dep = dict(l.split(' ', 1) for l in open(f'{B}/dep_probe.log').read().splitlines())
comps = {}
for f in glob.glob(f'{B}/out/compare/*.json'):
    r = json.load(open(f)); comps[os.path.basename(f)[:-5]] = r
TOL = 1e-5

# what the source diffs show (read with `diff sb/A/x_transformers/x_transformers.py sb/B/...`)
CAUSES = {
 '0.0.2': 'TransformerWrapper gains a final nn.LayerNorm (self.norm) before to_logits.',
 '0.0.3': 'Decoder builds the cross-attention block only with cross_attend=True (slot layers.{i}.1 is None). In 0.0.1/0.0.2 that block ran with context=None, i.e. as a second, non-causal self-attention. TransformerWrapper no longer takes dim; Decoder/Encoder/TransformerWrapper exported from the package.',
 '0.0.4': 'Attention gets dim_head=64 (inner dim = heads*64 = 256, scale 64**-0.5) instead of dim // heads; Decoder has no dim_head argument.',
 '0.0.6': 'Residual wrapper removed (residual added in the layer loop); PreNorm holds fn/norm directly; FeedForward first Linear wrapped in Sequential(Linear, GELU).',
 '0.0.7': 'Output projection tied: to_logits = x @ token_emb.weight.t() (no to_logits parameters, no bias).',
 '0.0.9': 'layer_blocks= renamed attn_layers=; FeedForward gains Dropout at net.1 (second Linear moves to net.2).',
 '0.0.29': 'AttentionLayers flattened: one entry per block (attn, ff, attn, ff) instead of per-depth ModuleList.',
 '0.4.0': 'Each layer becomes ModuleList([norm, block]); forward does `x = norm(x); x = x + block(x)`, i.e. the residual is taken AFTER the pre-norm (in 0.3.5 it was x + block(norm(x))).',
 '0.5.0': 'pos_emb becomes AbsolutePositionalEmbedding(.emb); to_kv split into to_k/to_v. Bug: TransformerWrapper calls AbsolutePositionalEmbedding(max_seq_len, dim) against signature (dim, max_seq_len), so emb is Embedding(dim, max_seq_len).',
 '0.5.1': 'Same AbsolutePositionalEmbedding(max_seq_len, dim) call as 0.5.0 (line 501), so the same shape error.',
 '0.5.2': 'AbsolutePositionalEmbedding argument order fixed (emb is Embedding(max_seq_len, dim)).',
 '0.6.6': 'AttentionLayers keeps self.default_mems (a list) and pops from it in forward, so the default list is consumed by the first call.',
 '0.7.0': 'TransformerWrapper tie_embedding default True -> False: untied to_logits Linear (with bias) again.',
 '0.7.2': 'default mems built fresh per call ([None] * num_attn_layers): second forward works again.',
 '0.7.4': 'Residual fixed: res_x = x is saved before the pre-norm, x = res_x + out.',
 '0.8.0': 'Inverted condition `if not gate_residual: residual_fn = GRUGating(dim)`: the default (gate_residual=False) builds GRU gating; gate_residual=True builds the plain residual.',
 '0.8.1': 'Condition fixed (`if gate_residual:`).',
 '0.11.0': 'Attention.to_q = Sequential(Rearrange, DepthWiseConv1d(dim, inner, 9), Rearrange) unconditionally, with the query input padded (8, 0) when causal.',
 '0.11.1': 'to_q back to nn.Linear.',
 '0.17.11': 'AbsolutePositionalEmbedding output multiplied by dim ** -0.5 (init changes too).',
 '0.20.0': 'Residual lost its __init__(dim) but AttentionLayers calls Residual(dim) when gate_residual=False (the default): TypeError at construction.',
 '0.20.1': 'Residual() call fixed.',
 '0.20.2': 'FeedForward net gains an optional post-activation LayerNorm slot (Identity by default) at net.1; last Linear moves net.2 -> net.3.',
 '0.21.0': 'pre_branch_norm is built only `if sandwich_norm` (default False): no pre-norm at all in the default config; layer norms stored in a ModuleList of 3 (pre, post, post_main) slots.',
 '0.21.1': 'pre_branch_norm built `if pre_norm`: pre-norm restored, now at layers.{n}.0.0.',
 '0.24.0': 'TokenEmbedding module (token_emb.emb). Bug: AbsolutePositionalEmbedding scale `dim ** -0.5 if not l2norm else 1.` tests the function l2norm (truthy), so scale = 1 (the 0.17.11 scaling is lost).',
 '0.24.1': 'Scale condition fixed to `if not l2norm_embed`: dim ** -0.5 again.',
 '0.26.0': 'Attention to_out Linear built with bias=False.',
}

def g(v): return L['per_version'].get(v)
rows = []
for v in vs:
    rc = int(open(f'{B}/out/{v}/install.rc').read())
    r = json.load(open(f'{B}/out/{v}/result.json')) if os.path.exists(f'{B}/out/{v}/result.json') else {}
    d = pypi['releases'][v]
    notes = []
    if r.get('second_forward_ok') is False: notes.append('2nd forward on same model fails: ' + r['second_forward_error'])
    if r.get('import_from', '').startswith('x_transformers.x_transformers'): notes.append('TransformerWrapper/Decoder not exported at package top; imported from x_transformers.x_transformers')
    rows.append(dict(version=v, upload=min(f['upload_time'][:10] for f in d), installs=rc == 0,
        imports=r.get('imports', False), builds=r.get('builds', False), runs=r.get('runs', False),
        stage_failed=r.get('stage'), error=r.get('error'),
        import_without_entmax=dep.get(v, '').startswith('ok'),
        layout=g(v), logits_cluster=LC['per_version'].get(v),
        build_variant=r.get('build_variant'), tw_signature=r.get('tw_signature'), dec_signature=r.get('dec_signature'),
        module_file=r.get('module_file'), n_params=r.get('n_params'), second_forward_ok=r.get('second_forward_ok'),
        deterministic=r.get('deterministic'), warnings=r.get('warnings'), notes=notes))

def summarize_keys(diff):
    parts = []
    for k in ('removed', 'added', 'reshaped'):
        if diff.get(k):
            ex = diff[k][:4]
            parts.append(f"{k} {len(diff[k])} (e.g. " + ', '.join(f"{e[0]}{e[1:] if k=='reshaped' else ' '+str(e[1])}" for e in ex) + ')')
    return '; '.join(parts) or 'none'

layout_diffs = {(d['frm'], d['to']): d for d in L['diffs']}
def key_diff(a, b):
    if (a, b) in layout_diffs: return layout_diffs[(a, b)]
    if not g(a) or not g(b) or g(a) == g(b): return None
    ka = {k: s for k, s in L['groups'][g(a)]['keys']}; kb = {k: s for k, s in L['groups'][g(b)]['keys']}
    return dict(frm=a, to=b, removed=[[k, ka[k]] for k in ka if k not in kb], added=[[k, kb[k]] for k in kb if k not in ka],
                reshaped=[[k, ka[k], kb[k]] for k in ka if k in kb and ka[k] != kb[k]])
pairs = [tuple(l.split()) for l in open(f'{B}/pairs.txt').read().splitlines()]
boundaries = []
seen = set()
def comp_summary(c):
    if c is None: return None
    s = dict(frm=c['frm'], to=c['to'], same_layout=c.get('same_layout'), steps=c.get('steps'), exact_steps=c.get('exact'),
             load_ok=c.get('load_ok'), load_error=(c.get('load_error') or c.get('build_error') or c.get('error')),
             max_abs_diff=c.get('max_abs_diff'), bitwise_equal=c.get('bitwise_equal'),
             decoder_extra_kwargs=c.get('decoder_extra_kwargs') or None)
    if c.get('missing'): s['missing_after_steps'] = c['missing']
    if c.get('unexpected'): s['unexpected_after_steps'] = c['unexpected']
    return s
# boundaries from consecutive built releases (layout) and consecutive runnable releases (outputs)
built = [v for v in vs if g(v)]
cand = set()
for a, b in zip(built, built[1:]):
    if g(a) != g(b): cand.add((a, b))
for a, b in pairs:
    c = comps.get(f'{a}__{b}')
    if c and (not c.get('same_layout') or not c.get('load_ok') or (c.get('max_abs_diff') or 0) > TOL): cand.add((a, b))
# releases that do not build
for i, v in enumerate(vs):
    if not g(v): cand.add((vs[i - 1], v))
from packaging.version import Version
for a, b in sorted(cand, key=lambda p: (Version(p[1]), Version(p[0]))):
    c = comps.get(f'{a}__{b}')
    d = key_diff(a, b)
    bd = dict(release=b, previous=a, layout_from=g(a), layout_to=g(b),
              key_change=summarize_keys(d) if d else ('unchanged' if g(a) == g(b) and g(b) else ('release does not build' if not g(b) else 'n/a')),
              key_diff=d, comparison=comp_summary(c), source_change=CAUSES.get(b),
              bridge=False)
    extras = [comp_summary(x) for k, x in sorted(comps.items()) if x['to'] == b and k != f'{a}__{b}']
    if extras: bd['extra_checks'] = extras
    alts = [json.load(open(f)) for f in sorted(glob.glob(f'{B}/out/alt/{b}__*.json'))]
    if alts: bd['alternative_builds'] = [dict(decoder_extra_kwargs=x['decoder_extra_kwargs'], builds=x.get('builds', False), runs=x.get('runs', False), n_keys=len(x.get('keys', [])), gru_keys=sum('gru' in k for k, _ in x.get('keys', [])), error=x.get('error')) for x in alts]
    # carry verdict
    ok = lambda x: x and x.get('load_ok') and x.get('max_abs_diff') is not None and x['max_abs_diff'] <= TOL
    if ok(c):
        bd['carry'] = ('strict load, no change needed' if c.get('same_layout') else 'rename/convert: ' + ' ; '.join(c['steps'])) + f" (max abs diff {c['max_abs_diff']:.2g})"
    else:
        alt = [x for x in extras if ok(x) and x['frm'] == a]
        cond = [x for x in extras if ok(x) and x['frm'].startswith(a + '_')]
        if alt:
            x = alt[0]
            bd['carry'] = ('build target with Decoder' + json.dumps(x['decoder_extra_kwargs']) + ' ' if x.get('decoder_extra_kwargs') else '') + ('convert: ' + ' ; '.join(x['steps']) if x['steps'] else 'strict load') + f" (max abs diff {x['max_abs_diff']:.2g})"
        elif cond:
            x = cond[0]
            bd['carry'] = f"none in general; exact only when the source satisfies `{x['frm'].split('_', 1)[1]}` (max abs diff then {x['max_abs_diff']:.2g})"
        else:
            bd['carry'] = 'none found' if (c and c.get('load_ok') is not None) else 'n/a (one side does not run)'
    boundaries.append(bd)
extra_all = {k: comp_summary(x) for k, x in comps.items() if '__' in k and (k.count('__') == 2 or '_' in x['frm'])}

groups = {gid: dict(first=d['first'], last=d['members'][-1], members=d['members'], n_keys=d['n_keys']) for gid, d in L['groups'].items()}
keylists = {v: [[k, s] for k, s, _ in json.load(open(f'{B}/out/{v}/keys.json'))] for v in ('0.15.0', '0.28.4')}
eras = [
 dict(releases='0.0.1 - 0.0.15', needs=['torch', 'einops'], note='declared: torch>=1.6, einops>=0.3; import works without entmax'),
 dict(releases='0.0.16 - 0.28.4', needs=['torch', 'einops', 'entmax'], note='declared: torch>=1.6, einops>=0.3, entmax; `from entmax import entmax15` at top of x_transformers.py: import fails without entmax (ModuleNotFoundError) for every release in this range'),
]
env = dict(python='3.11.7', torch='2.13.0+cpu', einops='0.8.0', entmax='1.3 (--no-deps)', install='pip install --no-deps --target sb/V x-transformers==V')
fail = [r for r in rows if not (r['installs'] and r['imports'] and r['builds'] and r['runs'])]
out = dict(environment=env, tolerance_for_match=TOL, releases=rows, layout_groups=groups, boundaries=boundaries,
           extra_checks=extra_all, dependencies=eras, key_lists=keylists,
           not_running=[dict(version=r['version'], stage=r['stage_failed'], error=r['error']) for r in fail],
           logits_clusters=LC['clusters'])
json.dump(out, open(f'{B}/findings.json', 'w'), indent=1)

# ---------- markdown
M = []
w = M.append
w('# x-transformers releases 0.0.1 - 0.28.4 under torch 2.13.0+cpu\n')
w('Generated by `scripts/survey_old_releases` (its last step, scripts/old_releases/report.py, writes this file from the measurements); every figure below is measured, none typed. The survey behind issue 27: where the covered range can begin, and the layout and behaviour boundaries before 0.28.4.\n')
w(f"Environment: Python {env['python']}, torch {env['torch']}, einops {env['einops']}, entmax {env['entmax']}. "
  f"Each release installed with `{env['install']}`; run in a fresh subprocess with PYTHONPATH=sb/V:deps. "
  'Model: TransformerWrapper(num_tokens=64, max_seq_len=16, attn_layers=Decoder(dim=32, depth=2, heads=4)) '
  '(older constructors: see "build" column), parameters set to 0.2*randn (norm weights 1+0.2*randn) from a seeded generator, '
  f'x = randint(0, 64, (2, 16)) seeded, eval + no_grad. "Match" means max |logits diff| <= {TOL}.\n')
w(f'{len(vs)} releases listed on PyPI <= 0.28.4 (version numbers such as 0.0.8, 0.0.13, 0.11.3, 0.13.x, 0.20.6, 0.25.1, 0.25.6 are not listed). '
  f"All {sum(r['installs'] for r in rows)} install, {sum(r['imports'] for r in rows)} import, {sum(r['builds'] for r in rows)} build, {sum(r['runs'] for r in rows)} run a forward pass.\n")
w('## Releases that cannot run\n')
for r in fail:
    w(f"- **{r['version']}**: fails at {r['stage_failed']}: `{r['error']}` — {CAUSES.get(r['version'], '')}")
w('- Also: **0.6.6, 0.6.7, 0.7.0, 0.7.1** run the first forward but a second forward on the same model object raises `IndexError: pop from empty list` (`layer_mem = mems.pop(0)`; shared self.default_mems consumed by the first call). Fixed in 0.7.2.\n')
w('No warnings were emitted by any release under torch 2.13. Every release that ran produced finite logits of shape [2, 16, 64], identical on a repeated forward (where a repeated forward works).\n')
w('## Boundary summary\n')
w('| release | from | keys | outputs after best plain conversion | carry |'); w('|---|---|---|---|---|')
for bd in boundaries:
    c = bd.get('comparison')
    outs = ('n/a' if not c else (f"max abs diff {c['max_abs_diff']:.3g}" if c.get('load_ok') else 'strict load fails'))
    kc = 'unchanged' if bd['key_change'] == 'unchanged' else ('does not build' if bd['key_change'] == 'release does not build' else 'changed')
    w(f"| {bd['release']} | {bd['previous']} | {kc} | {outs} | {bd['carry']} |")
w('')
w('## Per-release table\n')
w('Layout = state_dict key/shape group (L1...); logits = cluster of each release\'s own logits (same seed; comparable only where parameter order/shapes agree). build: A = attn_layers=Decoder(...), B = layer_blocks=Decoder(...), C = dim=32, layer_blocks=Decoder(...).\n')
w('| version | uploaded | installs | imports | builds | runs | error | layout | logits | build | needs entmax | notes |')
w('|---|---|---|---|---|---|---|---|---|---|---|---|')
for r in rows:
    bv = r['build_variant'] or ''
    b = 'A' if 'attn_layers' in bv else ('C' if 'dim=32, layer_blocks' in bv else ('B' if bv else '-'))
    yn = lambda x: 'yes' if x else 'NO'
    w(f"| {r['version']} | {r['upload']} | {yn(r['installs'])} | {yn(r['imports'])} | {yn(r['builds'])} | {yn(r['runs'])} | {('`' + r['error'] + '`') if r['error'] else ''} | {r['layout'] or '-'} | {r['logits_cluster'] or '-'} | {b} | {'no' if r['import_without_entmax'] else 'yes'} | {'; '.join(r['notes'])} |")
w('\n## Layout groups\n')
w('| group | first | last | releases | keys |'); w('|---|---|---|---|---|')
for gid, d in groups.items():
    w(f"| {gid} | {d['first']} | {d['last']} | {len(d['members'])} | {d['n_keys']} |")
w('\nL12 is interrupted by L13 (0.8.0 only) and L14 (0.11.0 only); 0.20.0 has no layout (does not build).\n')
w('## Boundaries\n')
w('For each pair: release V\'s saved state_dict is loaded (strict=True) into release W\'s model, after the listed conversion steps when the layouts differ, and W\'s logits on V\'s input are compared with V\'s logits. "exact steps" = the steps only rename/reshape/split existing tensors or add tensors whose value is implied (no invented weights).\n')
for bd in boundaries:
    c = bd.get('comparison')
    w(f"### {bd['release']}  (from {bd['previous']}{', bridge' if bd.get('bridge') else ''}; layout {bd.get('layout_from')} -> {bd.get('layout_to')})\n")
    if bd.get('source_change'): w(f"- source: {bd['source_change']}")
    w(f"- keys: {bd['key_change']}")
    if c:
        if c.get('steps'): w(f"- conversion: {' ; '.join(c['steps'])} (exact steps: {c['exact_steps']})")
        if c.get('decoder_extra_kwargs'): w(f"- target built with Decoder extra kwargs {c['decoder_extra_kwargs']}")
        if c['load_ok']:
            w(f"- outputs: max abs diff {c['max_abs_diff']:.3g} ({'bitwise equal' if c['bitwise_equal'] else ('match' if c['max_abs_diff'] <= TOL else 'DIFFERENT')})")
        else:
            w(f"- outputs: not compared, strict load fails: `{(c['load_error'] or '').splitlines()[0][:200]}`" + (f" missing {c.get('missing_after_steps')[:4]}" if c.get('missing_after_steps') else ''))
    else:
        w('- outputs: not compared (one side does not run)')
    for x in bd.get('alternative_builds', []):
        w(f"- alternative build Decoder{x['decoder_extra_kwargs']}: builds={x['builds']} runs={x['runs']} ({x['n_keys']} keys, {x['gru_keys']} GRU keys){' error ' + x['error'] if x.get('error') else ''}")
    w(f"- carry: {bd['carry']}")
    for x in bd.get('extra_checks', []):
        desc = f"{x['frm']} -> {x['to']}" + (f" with Decoder{x['decoder_extra_kwargs']}" if x.get('decoder_extra_kwargs') else '')
        if x['load_ok']:
            w(f"- extra check {desc}: steps {x['steps']}: max abs diff {x['max_abs_diff']:.3g}{' (bitwise equal)' if x['bitwise_equal'] else ''}")
        else:
            w(f"- extra check {desc}: strict load fails: `{(x['load_error'] or '').splitlines()[0][:160]}`")
    w('')
w('## Dependencies by era\n')
for e in eras: w(f"- {e['releases']}: {', '.join(e['needs'])} — {e['note']}")
w('- No release needed any other module (all imports outside torch/einops/entmax are stdlib). einops 0.8.0 and entmax 1.3 work with all of them under torch 2.13.\n')
w('## Exact key lists\n')
for v, kl in keylists.items():
    w(f'### {v} ({len(kl)} keys, layout {g(v)})\n'); w('```')
    for k, s in kl: w(f'{k} {s}')
    w('```\n')
w('## Files\n')
w('- scripts/: list_versions.py, install_all.sh, run_one.py + run_all.sh (per release), analyze_layouts.py, logit_clusters.py, renames.py (conversion rules), compare_pair.py + make_pairs.py + compare_all.sh (pairwise loads), modify_src.py + extra_checks.sh (value carries, zero-bias/tied/zero-cross checks, alternative builds), dep_probe.sh (import without entmax), report.py (this file).')
w('- To repeat, in order: list_versions.py, install_all.sh, run_all.sh, analyze_layouts.py, logit_clusters.py, make_pairs.py, compare_all.sh, extra_checks.sh, dep_probe.sh, report.py (scripts/survey_old_releases runs them all).')
w('- out/V/: install.log, result.json (incl. tracebacks, module repr, signatures), keys.json, model.pt, io.pt. out/compare/: one JSON per comparison.')
open(f'{B}/FINDINGS.md', 'w').write('\n'.join(M) + '\n')
print('ok', len(boundaries), 'boundaries')
