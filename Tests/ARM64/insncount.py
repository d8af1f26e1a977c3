#!/usr/bin/env python3
"""Executed guest instructions in a qemu-user log written with `-d in_asm,exec,nochain`.

usage: python3 insncount.py LOG                  (prints one integer)
       python3 insncount.py LOG --symbols OUT    (also writes "count<TAB>symbol" lines to OUT,
                                                  largest first)

qemu 7.2's user-mode emulators in Debian ship without TCG plugins (no libinsn.so), so the count
comes from the logs: `in_asm` prints every translated block (TB) once, as `IN:` (followed by
the guest symbol of the block, where the executable has a symbol table) and one line per guest
instruction; `exec` with `nochain` prints a `Trace` line, carrying the guest pc, every time a TB
is entered (without `nochain` chained TBs run without a line). The count is the sum, over Trace
lines, of the size of the TB last translated at that pc. A TB left early (a signal, an
exception) would count whole; the programs counted take none in their kernels.

LOG may be a named pipe (Tests/ARM64/network-insns.sh streams a whole network window through
one instead of writing gigabytes of log).
"""
import sys


def main():
    args = sys.argv[1:]
    symbols_out = None
    if '--symbols' in args:
        i = args.index('--symbols')
        symbols_out = args[i + 1]
        del args[i:i + 2]
    sizes = {}  # pc text -> (instructions, symbol) of the TB last translated there
    hits = {}  # pc text -> Trace lines since that translation
    retired = {}  # symbol -> instructions of TBs since retranslated
    block_pc, block_len, block_sym = None, 0, ''
    in_block = False

    def close_block():
        if block_pc is None or block_len == 0:
            return
        old = sizes.get(block_pc)
        if old is not None and old != (block_len, block_sym):
            n = hits.pop(block_pc, 0)
            retired[old[1]] = retired.get(old[1], 0) + n * old[0]
        sizes[block_pc] = (block_len, block_sym)

    with open(args[0], errors='replace') as log:
        for line in log:
            if line.startswith('Trace '):
                if in_block:
                    close_block()
                    in_block, block_pc = False, None
                # Trace 0: 0x7f.. [0000000000001001/000000550283e180/00000001/00000200] sym
                pc = line.split('/', 2)[1].lstrip('0')
                hits[pc] = hits.get(pc, 0) + 1
                continue
            if line.startswith('IN:'):
                if in_block:
                    close_block()
                in_block, block_pc, block_len = True, None, 0
                block_sym = line[3:].strip() or '?'
                continue
            if in_block:
                if line.startswith('0x'):
                    if block_len == 0:
                        block_pc = line[2:line.index(':')].lstrip('0')
                    block_len += 1
                elif block_len:
                    close_block()
                    in_block, block_pc = False, None
    if in_block:
        close_block()
    by_symbol = dict(retired)
    for pc, n in hits.items():
        size, sym = sizes[pc]
        by_symbol[sym] = by_symbol.get(sym, 0) + n * size
    print(sum(by_symbol.values()))
    if symbols_out:
        with open(symbols_out, 'w') as out:
            for sym, n in sorted(by_symbol.items(), key=lambda kv: -kv[1]):
                out.write(f'{n}\t{sym}\n')


if __name__ == '__main__':
    main()
