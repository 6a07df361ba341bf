"""The built extension needs no system library beyond the C runtime: no
libhwloc (the topology comes from sysfs), no libpython (abi3: symbols come from
the interpreter that loads it), no libstdc++.

The DT_NEEDED entries are read by a small ELF reader here (no tool needed), and
cross-checked with ``readelf -d`` / ``objdump -p`` and ``ldd`` (which also
resolves what those libraries need) where those tools exist.
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest
import sagevec._native

ALLOWED = re.compile(
    r"^(?:(?:libc|libm|libgcc_s|libpthread|libdl|librt)\.so(?:\.\d+)*"
    r"|ld-linux(?:-x86-64|-aarch64)?\.so\.\d+"
    r"|linux-(?:vdso|gate)\.so\.\d+)$"
)
FORBIDDEN = ("hwloc", "python", "stdc++")

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="checks an ELF shared object (Linux)")


def extension() -> Path:
    path = Path(sagevec._native.__file__)
    assert path.name.startswith("_native") and path.suffix == ".so", path
    return path


def elf_needed(path: Path) -> list[str]:
    """DT_NEEDED of a 64-bit little-endian ELF file, from its section headers."""
    data = path.read_bytes()
    assert data[:4] == b"\x7fELF", "not an ELF file"
    assert data[4] == 2 and data[5] == 1, "expected a 64-bit little-endian ELF file"
    (shoff,) = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    sections = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)]
    sht_dynamic, dt_needed = 6, 1
    for _name, kind, _flags, _addr, offset, size, link, _info, _align, entsize in sections:
        if kind != sht_dynamic:
            continue
        strtab_offset = sections[link][4]
        needed = []
        for at in range(offset, offset + size, entsize or 16):
            tag, value = struct.unpack_from("<qQ", data, at)
            if tag == 0:
                break
            if tag == dt_needed:
                end = data.index(b"\0", strtab_offset + value)
                needed.append(data[strtab_offset + value : end].decode())
        return needed
    raise AssertionError("no dynamic section: not a shared object?")


def check(names: list[str], source: str) -> None:
    print(f"\n{source}: {', '.join(names)}")
    assert names, f"{source}: no dependencies at all? (parsing failed)"
    for name in names:
        assert not any(f in name.lower() for f in FORBIDDEN), f"{source}: {name} is linked in"
    bad = [n for n in names if not ALLOWED.match(n)]
    assert not bad, f"{source}: libraries beyond the C runtime: {bad}"


def test_dt_needed_is_only_the_c_runtime() -> None:
    check(elf_needed(extension()), "DT_NEEDED (ELF reader)")


def test_readelf_or_objdump_agrees() -> None:
    so = extension()
    if shutil.which("readelf"):
        out = subprocess.run(["readelf", "-d", str(so)], capture_output=True, text=True, check=True).stdout
        names = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out)
        tool = "readelf -d"
    elif shutil.which("objdump"):
        out = subprocess.run(["objdump", "-p", str(so)], capture_output=True, text=True, check=True).stdout
        names = re.findall(r"^\s*NEEDED\s+(\S+)", out, re.MULTILINE)
        tool = "objdump -p"
    else:
        pytest.skip("neither readelf nor objdump is installed (the ELF reader test covers DT_NEEDED)")
    check(names, tool)
    assert sorted(names) == sorted(elf_needed(so))


def test_ldd_resolves_only_the_c_runtime() -> None:
    if not shutil.which("ldd"):
        pytest.skip("ldd is not installed (the ELF reader test covers DT_NEEDED)")
    out = subprocess.run(["ldd", str(extension())], capture_output=True, text=True, check=True).stdout
    assert "not found" not in out, out
    names = [
        Path(line.split()[0]).name for line in out.splitlines() if line.strip() and "statically linked" not in line
    ]
    check(names, "ldd")
