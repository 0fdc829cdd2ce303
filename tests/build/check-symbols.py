#!/usr/bin/env python3
"""Each static library exports only symbols with its prefixes, and the
probe's verify/ room calls no stdio that prints or opens a stream (it never
prints: the front ends do). As fsverity-utils' scripts/run-tests.sh checks
libfsverity's exported symbols with nm.

  check-symbols.py [--no-stdio] LIBRARY PREFIX[,PREFIX...] [LIBRARY PREFIXES ...]

--no-stdio applies to the LIBRARY that follows it.
"""
import subprocess
import sys

# What prints, reads or opens a FILE stream (glibc's fortified names included).
# snprintf/vsnprintf/asprintf/sscanf format into memory and are allowed.
STDIO = {
    "printf", "fprintf", "vprintf", "vfprintf", "dprintf", "vdprintf", "puts", "fputs", "fputc", "putc",
    "putchar", "fwrite", "fputs_unlocked", "fwrite_unlocked", "perror", "fopen", "fopen64", "fdopen",
    "freopen", "fclose", "fflush", "fread", "fgets", "getline", "getdelim", "fgetc", "getc", "getchar",
    "fscanf", "scanf", "vfscanf", "open_memstream", "fmemopen", "setvbuf", "setbuf", "stdin", "stdout",
    "stderr", "__printf_chk", "__fprintf_chk", "__vfprintf_chk", "__vprintf_chk", "__dprintf_chk",
    "__fread_chk", "__fgets_chk", "__isoc99_fscanf", "__isoc99_scanf",
}


# What the compiler's instrumentation adds to a library (ASan's ODR indicators and module
# constructors, UBSan, SanitizerCoverage): not the library's own symbols.
INSTRUMENTATION = ("__odr_asan", "__asan", "___asan", "__ubsan", "__sancov", "__llvm", "__profc", "__profd")


def nm(args, lib):
    out = subprocess.run(["nm", *args, lib], check=True, capture_output=True, text=True).stdout
    syms = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 2 and not line.endswith(":"):
            syms.add(parts[-1])
    return syms


def main(argv):
    failures = 0
    i = 0
    checked = 0
    while i < len(argv):
        no_stdio = argv[i] == "--no-stdio"
        if no_stdio:
            i += 1
        lib, prefixes = argv[i], tuple(argv[i + 1].split(","))
        i += 2
        exported = {s for s in nm(["-g", "--defined-only"], lib) if not s.startswith(INSTRUMENTATION)}
        if not exported:
            print(f"not ok - {lib}: exports nothing (not a library?)")
            failures += 1
            continue
        bad = sorted(s for s in exported if not s.startswith(prefixes))
        for s in bad:
            print(f"not ok - {lib}: exports {s}, which has none of the prefixes {', '.join(prefixes)}")
        failures += len(bad)
        if no_stdio:
            called = sorted(nm(["-u"], lib) & STDIO)
            for s in called:
                print(f"not ok - {lib}: calls {s} (this room never prints or opens a stream)")
            failures += len(called)
        checked += 1
        if not bad:
            print(f"ok - {lib}: {len(exported)} exported symbols, all {'|'.join(prefixes)}*"
                  + (", no stdio" if no_stdio and not failures else ""))
    return 1 if failures or not checked else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
