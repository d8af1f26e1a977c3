#!/usr/bin/env python3
"""Executed guest instructions in a qemu-user log written with `-d in_asm,exec,nochain`.

usage: python3 insncount.py LOG   (prints one integer)

qemu 7.2's user-mode emulators in Debian ship without TCG plugins (no libinsn.so), so the count
comes from the logs: `in_asm` prints every translated block (TB) once, as `IN:` followed by one
line per guest instruction; `exec` with `nochain` prints a `Trace` line, carrying the guest pc,
every time a TB is entered (without `nochain` chained TBs run without a line). The count is the
sum, over Trace lines, of the size of the TB last translated at that pc. A TB left early (a
signal, an exception) would count whole; the self-test programs take none in their kernels.
"""
import re
import sys

trace_re = re.compile(r'^Trace \d+: 0x[0-9a-f]+ \[[0-9a-f]+/([0-9a-f]+)/')
insn_re = re.compile(r'^0x([0-9a-f]+):\s')


def main():
    sizes = {}
    total = 0
    block_pc, block_len = None, 0
    with open(sys.argv[1], errors='replace') as log:
        for line in log:
            if block_pc is not None or line.startswith('IN:'):
                m = insn_re.match(line)
                if m:
                    if block_pc is None or block_len == 0:
                        block_pc = int(m.group(1), 16)
                    block_len += 1
                    continue
                if line.startswith('IN:'):
                    block_pc, block_len = -1, 0
                    continue
                if block_len:
                    sizes[block_pc] = block_len
                block_pc, block_len = None, 0
            m = trace_re.match(line)
            if m:
                total += sizes[int(m.group(1), 16)]
    print(total)


if __name__ == '__main__':
    main()
