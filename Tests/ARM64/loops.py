#!/usr/bin/env python3
"""Checks the hot loops of the ZSMKernels aarch64 object and prints instructions per element.

usage: aarch64-linux-gnu-objdump -dr --no-show-raw-insn k.o | swift-demangle --simplified \
           | python3 loops.py [--label NAME]

Adapted from /work/shared/tools/arm64/loops.py. For every kernel in KERNELS below it finds the
function, takes its hot loop (the innermost loop with the most vector arithmetic), and fails if
- the function is missing, or the hot loop has none of the required vector instructions
  (e.g. `fmla v.4s` for the convolution micro-kernels): the loop was scalarised;
- the hot loop contains scalar FP arithmetic (`fmadd s`, `fmul s`...) where none is expected;
- the hot loop contains a call that is not listed as allowed for that kernel.
It prints, per kernel, instructions per trip and per output element (for the convolution
micro-kernels: per multiply-accumulate, i.e. per output element per reduction step), and the
number of q-register stores in GEMM loops that should not store at all (register spills:
reported, not failed; the aarch64 conv tiles are sized not to spill, the peak loop's 24
accumulators do). Exit status 0 only if every check passes.
"""
import re
import sys
from collections import Counter, OrderedDict

func_re = re.compile(r'^([0-9a-f]+) <(.+)>:$')
insn_re = re.compile(r'^\s*([0-9a-f]+):\s+(\S+)\s*(.*)$')
reloc_re = re.compile(r'^\s*[0-9a-f]+: (R_[A-Z0-9_]+)\s+(\S+?)(?:[-+]0x[0-9a-f]+)?$')
target_re = re.compile(r'\b([0-9a-f]+) <')

# name, function regex, required mnemonics in the hot loop, elements per trip
# ('macs:N' = N multiply-accumulates per trip, 'stored' = from the bytes the loop stores),
# calls allowed in the hot loop (each callee is itself a checked, vectorised kernel below),
# scalar FP allowed in the hot loop ('v80': a v8.2 kernel, not checked without --fp16; 'v82': a
# v8.0 form, checked only without it). A required mnemonic written 'v82:x' is required only with
# --fp16 (the ARMv8.2-A+fp16+dotprod build), 'v80:x' only without.
KERNELS = [
    # aarch64 tiles: 6 pixels x 16 channels (24 of NEON's 32 registers; Tools/gen-kernels.py).
    ('conv 16-ch block (p6x16)', r'^conv3x3\(', ['fmla.4s'], 'macs:96', [], False),
    ('conv 16-ch tail (p5x16)', r'^microKernel_p5x16\(', ['fmla.4s'], 'macs:80', [], False),
    ('conv1x1 16-ch block', r'^conv1x1\(', ['fmla.4s'], 'macs:96', [], False),
    ('deform GEMM (runTileRow)', r'^runTileRow\(', ['fmla.4s'], 'macs:96', [], False),
    # The gather is out of line (its fp32 and fp16-input specialisations; the larger is checked).
    ('deform gather (8 ch/group)', r'^specialized gatherColumns<', ['fmla.4s'], 'stored', [], False),
    ('deform gather (16 ch/group)', r'^specialized gatherColumns<', ['fmla.4s'], 'stored', [], False),
    ('deform coordinates (16 taps)', r'^SamplingGeometry\.fillCornerTable\(', ['fmul.4s'], 'body:16', [], False),
    ('deform coordinates, chunks', r'^SamplingGeometry\.fillChunkCornerTable\(', ['fmul.4s'], 'body:16', [], False),
    # The pixel loop calls the per-pixel kernel, checked on its own below (out of line: see
    # Resize.swift); its taps are scalar per pixel, so scalar FP is allowed.
    ('upsample2x', r'^upsample2x\(', [], 'stored', ['specialized upsamplePixel', 'upsamplePixel'],
     True),
    ('upsamplePixel', r'upsamplePixel<', ['fmul.4s', 'fadd.4s'], 'stored', [], False),
    ('pixelShuffle2x', r'^pixelShuffle2x\(', ['st(q)'], 'stored', [], False),
    ('scaleAdd', r'^scaleAdd\(', ['fmul.4s', 'fadd.4s'], 'stored', [], False),
    ('sigmoid', r'^sigmoid\(', ['fmla.4s'], 'stored', ['vectorSigmoid'], False),
    ('tanh', r'^tanh\(', ['fmla.4s'], 'stored', ['vectorTanh'], False),
    ('lstmUpdate', r'^lstmUpdate\(', ['fmla.4s', 'fmul.4s'], 'stored', ['vectorSigmoid', 'vectorTanh'], False),
    ('vectorSigmoid (straight line)', r'^vectorSigmoid\(', ['fmla.4s'], 'body:16', [], False),
    ('vectorTanh (straight line)', r'^vectorTanh\(', ['fmla.4s'], 'body:16', [], False),
    # 6 accumulators of 16 lanes (24 q registers; Peak.swift), no spills: 24 fmla v.4s, 96 MACs.
    ('fmaPeakLoop', r'^fmaPeakLoop\(', ['fmla.4s'], 'macs:96', [], False),
    # Reduced precision (issue 7), checked in the v8.2 build only: the v8.0 build computes the same
    # with scalarised fp16 FMAs and lane-loop dot products (slow; on such CPUs conv3x3F16 and the
    # fp32 conv are the kernels to use).
    ('fp16-arith conv (p8x8, by element)', r'^conv3x3F16Arith\(', ['v82:fmla.8h'], 'macs:512', [], 'v80'),
    ('int8 sdot conv (p4x16, 2x unrolled)', r'^conv3x3Int8Dot\(', ['v82:sdot.4s'], 'macs:2048', [], 'v80'),
    # The same kernel in the v8.0 build: widening multiplies (smull, smlal) and sadalp instead.
    # (16 input channels per trip: 2 x 16 spilled the accumulators.)
    ('int8 smull conv (p4x16)', r'^conv3x3Int8Dot\(', ['v80:smull.8h', 'v80:smlal.8h', 'v80:sadalp.4s'],
     'macs:1024', [], 'v82'),
    # Not a kernel: the fp16 probe of Shims.swift; with --fp16 (the v8.2 build) it must be fmla v.8h.
    ('fp16 probe (Shims.swift)', r'^zsm_probe_fp16_fma$|^zsmProbeFP16FMA\(', [], 'stored16', [], True),
]
# Which inner loop is meant, where a function has several (h: mnemonic histogram, b: bytes the
# loop stores outside the stack). Default: the loop with the most vector FP, then storing the most.
HOT_LOOP_PREFERENCE = {
    'deform gather (8 ch/group)': lambda h, b: h['fmla.4s'] > 0 and b == 32,
    'deform gather (16 ch/group)': lambda h, b: h['fmla.4s'] > 0 and b == 64,
    'pixelShuffle2x': lambda h, b: b >= 64,
    'upsample2x': lambda h, b: any(k.startswith('call ') and 'upsamplePixel' in k for k in h),
    'sigmoid': lambda h, b: 'call vectorSigmoid(_:)' in h or h['fmla.4s'] > 0,
    'tanh': lambda h, b: 'call vectorTanh(_:)' in h or h['fmla.4s'] > 0,
}
SCALAR_FP = ('fmadd(s)', 'fmsub(s)', 'fmul(s)', 'fadd(s)', 'fsub(s)', 'fdiv(s)')


def classify(m, ops):
    if m in ('fmla', 'fmls', 'fmul', 'fadd', 'fsub', 'fdiv', 'fmadd', 'fmsub', 'fmlal', 'sdot', 'udot',
             'smull', 'smull2', 'smlal', 'smlal2', 'sadalp',
             'fcvtl', 'fcvtl2', 'fcvtn', 'fcvtn2', 'fcvt', 'fmax', 'fmin', 'frintm', 'frintn', 'mul'):
        shape = re.search(r'\.(\d+[bhsd])\b', ops)
        if shape:
            return f'{m}.{shape.group(1)}'
        reg = re.match(r'([hsdwx])\d+', ops)
        return f'{m}({reg.group(1)})' if reg else m
    if m.startswith(('ld', 'st')) and not m.startswith(('stlr', 'stlx', 'stx', 'ldax', 'ldx')):
        q = 'q' if re.search(r'\bq\d+', ops) else ('v' if re.search(r'\bv\d+', ops) else
            ('s' if re.search(r'\bs\d+', ops) else 'x'))
        return f'{m[:2]}({q})'
    if m == 'bl':
        t = re.search(r'<([^>]+)>', ops)
        return 'call ' + (re.sub(r'\+0x[0-9a-f]+$', '', t.group(1)) if t else ops)
    return None


def stored_bytes(m, ops):
    if not m.startswith('st') or m.startswith(('stlr', 'stlx', 'stx')):
        return 0
    if m.startswith('st1') or m.startswith('st2') or m.startswith('st3') or m.startswith('st4'):
        return 16 * len(re.findall(r'v\d+\.(?:4s|8h|16b|2d)', ops.split('}')[0])) or \
            8 * len(re.findall(r'v\d+\.(?:2s|4h|8b)', ops.split('}')[0]))
    regs = re.findall(r'\b([qdswxh])\d+\b', ops.split('[')[0])
    size = {'q': 16, 'd': 8, 's': 4, 'h': 2, 'w': 0, 'x': 0}
    return sum(size[r] for r in regs)


def parse(stream):
    funcs = OrderedDict()
    cur = None
    for line in stream:
        line = line.rstrip('\n')
        m = func_re.match(line)
        if m:
            cur = m.group(2)
            funcs.setdefault(cur, [])
            continue
        r = reloc_re.match(line)
        if r:
            if cur is not None and funcs[cur] and funcs[cur][-1][1] == 'bl':
                a, mn, _ = funcs[cur][-1]
                funcs[cur][-1] = (a, mn, '<' + r.group(2) + '>')
            continue
        m = insn_re.match(line)
        if m and cur is not None:
            funcs[cur].append((int(m.group(1), 16), m.group(2), m.group(3)))
    return funcs


def inner_loops(insns):
    addrs = [a for a, _, _ in insns]
    lo, hi = addrs[0], addrs[-1]
    loops = []
    for a, mnem, ops in insns:
        if mnem.startswith('b.') or mnem in ('b', 'cbz', 'cbnz', 'tbz', 'tbnz'):
            t = target_re.search(ops)
            if t and lo <= int(t.group(1), 16) <= a:
                loops.append((int(t.group(1), 16), a))
    rets = [a for a, m, _ in insns if m.startswith('ret')]
    loops = [l for l in loops if not any(l[0] <= r <= l[1] for r in rets)]
    return sorted(set(l for l in loops if not any(o != l and l[0] <= o[0] and o[1] <= l[1] for o in loops)))


def main():
    label = sys.argv[sys.argv.index('--label') + 1] if '--label' in sys.argv else ''
    fp16 = '--fp16' in sys.argv
    funcs = parse(sys.stdin)
    fails = 0
    print(f'{"kernel (" + label + ")":40} {"insns/trip":>10} {"elems/trip":>10} {"insns/elem":>10}  '
          f'{"vector FP":28} notes')
    for name, pattern, required, elems, allowed_calls, scalar_ok in KERNELS:
        if scalar_ok == 'v80' and not fp16:
            print(f'{name:40} -  (v8.0 build: fp16 FMAs scalarised, no sdot; checked for correctness only)')
            continue
        if scalar_ok == 'v82' and fp16:
            print(f'{name:40} -  (the v8.0 form of a kernel checked above)')
            continue
        cands = [(f, i) for f, i in funcs.items() if re.search(pattern, f) and len(i) > 6]
        if not cands:
            print(f'{name:40} FAIL: no function matches {pattern}')
            fails += 1
            continue
        fname, insns = max(cands, key=lambda c: len(c[1]))
        if elems.startswith('body:') and name not in HOT_LOOP_PREFERENCE:
            loops = [(insns[0][0], insns[-1][0])]
        else:
            loops = inner_loops(insns)
        best = None
        for s, e in loops:
            body = [(a, m, o) for a, m, o in insns if s <= a <= e]
            hist = Counter(c for c in (classify(m, o) for _, m, o in body) if c)
            vec = sum(v for k, v in hist.items() if re.match(r'f\w+\.(4s|8h)|sdot|smull|smlal|sadalp', k))
            stored = sum(stored_bytes(m, o) for _, m, o in body if '[sp' not in o)
            pref = HOT_LOOP_PREFERENCE.get(name)
            key = ((pref(hist, stored) if pref else True), vec + hist['fcvt.4s'] + hist['fcvtl.4s'], stored)
            if best is None or key > best[0]:
                best = (key, body, hist)
        if best is None:
            print(f'{name:40} FAIL: {fname} has no loop')
            fails += 1
            continue
        _, body, hist = best
        problems = []
        # Whether @inline(__always) helpers are inlined varies with LLVM's cost model (it differs
        # between builds of the same sources): an allowed call counts with the callee's code.
        merged = Counter(hist)
        for c in (k[5:] for k in hist if k.startswith('call ')):
            if any(c.startswith(a) for a in allowed_calls) and c in funcs:
                merged.update(x for x in (classify(m, o) for _, m, o in funcs[c]) if x)
        if fp16 and name.startswith('fp16 probe'):
            required = ['fmla.8h']
        required = [r[4:] for r in required if r.startswith('v82:')] if fp16 else \
            [r[4:] if r.startswith('v80:') else r for r in required if not r.startswith('v82:')]
        for r in required:
            if merged[r] == 0:
                problems.append(f'no {r} (scalarised?)')
        calls = sorted(k[5:] for k in hist if k.startswith('call '))
        bad_calls = [c for c in calls if not any(c.startswith(a) for a in allowed_calls)]
        if bad_calls:
            problems.append('calls ' + ', '.join(bad_calls))
        scalar = sum(hist[k] for k in SCALAR_FP)
        if scalar and not scalar_ok:
            problems.append(f'{scalar} scalar FP ops')
        # A call to an allowed (checked) kernel counts with the callee's instructions.
        n = len(body) + sum(len(funcs.get(c, [])) * hist['call ' + c] for c in calls if c in funcs)
        notes = []
        if elems.startswith('macs:'):
            per = int(elems[5:])
            unit = 'per MAC'
            spills = hist['st(q)']
            if spills:
                notes.append(f'{spills} q stores in the reduction loop (register spills)')
        elif elems.startswith('body:'):
            per = int(elems[5:])
            unit = 'per lane'
        else:
            per = sum(stored_bytes(m, o) for _, m, o in body if '[sp' not in o) // (2 if elems == 'stored16' else 4)
            unit = 'per output'
        if calls:
            notes.append('calls ' + ', '.join(calls) + ' (allowed, counted in insns/trip)' * (not bad_calls))
        vec = ' '.join(f'{k}x{v}' for k, v in sorted(merged.items()) if re.match(r'(f|s)\w+(\.(4s|8h)|\(h\))', k))
        ratio = f'{n / per:.2f}' if per else '-'
        verdict = 'FAIL: ' + '; '.join(problems) if problems else 'ok'
        fails += bool(problems)
        print(f'{name:40} {n:10d} {per:10d} {ratio:>10}  {vec[:28]:28} {verdict} ({unit}; {fname.split("(")[0]}'
              f'{"; " + "; ".join(notes) if notes else ""})')
    print(f'loop check ({label}): {"FAIL" if fails else "PASS"} ({fails} failure{"s" * (fails != 1)})')
    return 1 if fails else 0


if __name__ == '__main__':
    sys.exit(main())
