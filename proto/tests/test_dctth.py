"""dctth against rhash --tth (an independent implementation) on real files,
and its error handling: a bad file is named on stderr, the exit status is
non-zero, and the other files are still printed."""
import shutil
import subprocess

import pytest


def rhash_tth(path):
    rhash = shutil.which("rhash")
    if rhash is None:
        pytest.fail("rhash is not installed (apt-get install rhash)")
    out = subprocess.run([rhash, "--tth", "--simple", str(path)], check=True,
                         capture_output=True, text=True).stdout
    return out.split("  ", 1)[0]


def make_files(tmp_path):
    files = {
        "empty.bin": b"",
        "small.txt": b"hello\n",
        "a1025.bin": b"A" * 1025,
        # multi-MiB, not a multiple of 1024, deterministic but not repetitive
        "big.bin": bytes((i * 2654435761 >> 13) & 0xFF for i in range(3 * 1024 * 1024 + 777)),
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    return [tmp_path / name for name in files]


def test_agrees_with_rhash(tmp_path, bin_path):
    paths = make_files(tmp_path)
    res = subprocess.run([bin_path("dctth")] + [str(p) for p in paths],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stderr == ""
    lines = res.stdout.splitlines()
    assert len(lines) == len(paths)
    for line, path in zip(lines, paths):
        tth, name = line.split("  ", 1)
        assert name == str(path)
        assert len(tth) == 39 and tth == tth.upper()
        assert tth.lower() == rhash_tth(path).lower(), path.name
    # Known values from dc-protocol-notes §1.3, independent of rhash.
    assert lines[0].startswith("LWPNACQDBZRYXW3VHJVCJ64QBZNGHOHHHZWCLNQ  ")
    assert lines[1].startswith("DCTZG7V3JMT2JDJ6VOZU4YISNZVETHE76V2GONI  ")
    assert lines[2].startswith("PZMRYHGY6LTBEH63ZWAHDORHSYTLO4LEFUIKHWY  ")


def test_reads_stdin_as_dash(tmp_path, bin_path):
    big = make_files(tmp_path)[3]
    with open(big, "rb") as f:
        res = subprocess.run([bin_path("dctth"), "-"], stdin=f,
                             capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout == f"{rhash_tth(big).upper()}  (stdin)\n"


def test_missing_file_is_reported_and_others_still_hashed(tmp_path, bin_path):
    paths = make_files(tmp_path)
    missing = tmp_path / "no-such-file"
    res = subprocess.run([bin_path("dctth"), str(paths[1]), str(missing), str(tmp_path), str(paths[0])],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode != 0
    assert str(missing) in res.stderr and "No such file" in res.stderr
    assert str(tmp_path) + ": Is a directory" in res.stderr
    assert res.stdout.splitlines() == [
        f"DCTZG7V3JMT2JDJ6VOZU4YISNZVETHE76V2GONI  {paths[1]}",
        f"LWPNACQDBZRYXW3VHJVCJ64QBZNGHOHHHZWCLNQ  {paths[0]}",
    ]


def test_no_arguments_is_a_usage_error(bin_path):
    res = subprocess.run([bin_path("dctth")], capture_output=True, text=True, timeout=10)
    assert res.returncode == 2
    assert "usage" in res.stderr and res.stdout == ""
