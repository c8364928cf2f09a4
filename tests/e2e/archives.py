# SPDX-License-Identifier: MIT
"""Builders of every archive the end-to-end tests upload.

Good archives hold a small shell service (bin/svc.sh, see SVC below) in each
supported format; hostile ones each carry exactly one attack that the
extraction policy (docs/architecture.md) and docs/platform-notes.md
(libarchive) guard against. Everything is built in memory with the
standard library (tarfile, zipfile, zlib, lzma) and the `zstd` CLI; the
compression bombs are written chunk by chunk and never materialize their
gigabytes. Nothing here talks to the agent.
"""

import io
import os
import struct
import subprocess
import tarfile
import zipfile
import zlib
import lzma
import gzip
import time

FORMATS = ("tar", "tar.gz", "tar.xz", "tar.zst", "zip")

# The test service. Usage: svc.sh MODE MARKER [ARG [ARG2]]. The marker stays in
# the argv of the main process (and of every helper it starts), so that a scan
# of /proc/*/cmdline finds whatever is left of a project. Every mode first
# dumps its environment (NUL-separated) and a few ids into
# $HOSTAGENT_OUTPUT_DIR, atomically (write then rename).
SVC = r"""#!/bin/sh
# hostagent e2e test service: svc.sh MODE MARKER [ARG [ARG2]]
mode=$1
marker=$2
arg=$3
arg2=$4
out=${HOSTAGENT_OUTPUT_DIR:-/nonexistent}
if [ -d "$out" ]; then
	env -0 >"$out/env.tmp" 2>/dev/null && mv -f "$out/env.tmp" "$out/env.bin"
	echo "$$ $(id -u) $(id -g)" >"$out/ids.tmp" 2>/dev/null && mv -f "$out/ids.tmp" "$out/ids.txt"
fi
case "$mode" in
http)
	# An HTTP server on $PORT_HTTP serving the release (GET /VERSION).
	exec python3 -c 'import http.server, sys
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])),
    http.server.SimpleHTTPRequestHandler).serve_forever()' "$PORT_HTTP" "$marker"
	;;
idle)
	# Runs until SIGTERM (exit 0 at once), logs HUP/USR1/USR2 it receives.
	trap 'echo "got TERM"; kill $c 2>/dev/null; exit 0' TERM
	trap 'echo "got HUP"' HUP
	trap 'echo "got USR1"' USR1
	trap 'echo "got USR2"' USR2
	echo "started $HOSTAGENT_TASK_ID"
	while :; do
		sleep 1000000 &
		c=$!
		wait $c
		kill $c 2>/dev/null
	done
	;;
stubborn)
	# Ignores SIGTERM, and so do its children: only SIGKILL ends it.
	trap '' TERM
	sh -c 'trap "" TERM; while :; do sleep 1; done' "$marker-child" &
	echo "started $HOSTAGENT_TASK_ID"
	while :; do sleep 1; done
	;;
tree)
	# Two grandchildren in the process group, and one that leaves it with setsid.
	sh -c 'while :; do sleep 1; done' "$marker-gc1" &
	echo $! >"$out/gc1.pid"
	sh -c 'while :; do sleep 1; done' "$marker-gc2" &
	echo $! >"$out/gc2.pid"
	setsid sh -c 'while :; do sleep 1; done' "$marker-sid" &
	echo $! >"$out/sid.pid"
	echo "started $HOSTAGENT_TASK_ID"
	while :; do sleep 1; done
	;;
exit)
	# Prints a line, optionally sleeps ARG2 seconds, exits with ARG.
	echo "run $HOSTAGENT_TASK_ID"
	[ -n "$arg2" ] && sleep "$arg2"
	exit "$arg"
	;;
logs)
	# Known bytes on both streams, then exit ARG.
	printf 'task=%s\n' "$HOSTAGENT_TASK_ID"
	cat data/stdout.bin
	printf 'task=%s\n' "$HOSTAGENT_TASK_ID" >&2
	cat data/stderr.bin >&2
	exit "${arg:-0}"
	;;
lines)
	# ARG numbered lines, one every ARG2 seconds, then exit 0.
	i=1
	while [ "$i" -le "$arg" ]; do
		echo "line $i"
		[ -n "$arg2" ] && sleep "$arg2"
		i=$((i + 1))
	done
	exit 0
	;;
flood)
	# Writes incompressible lines to stdout forever; after each write the
	# total written so far is in $HOSTAGENT_OUTPUT_DIR/written.
	exec python3 -c 'import base64, os, sys
w = sys.stdout.buffer
out = sys.argv[1]
n = 0
while True:
    b = base64.b64encode(os.urandom(3 * 1024 * 64))
    data = b"\n".join(b[i:i + 4095] for i in range(0, len(b), 4095)) + b"\n"
    w.write(data)
    w.flush()
    n += len(data)
    with open(out + "/written.tmp", "w") as f:
        f.write(str(n))
    os.replace(out + "/written.tmp", out + "/written")' "$out" "$marker"
	;;
script)
	# Becomes `sh -c ARG` (exec: the script is the job's main process), for
	# the limits tests: what a job may do under its rlimits.
	exec sh -c "$arg" "$marker-script"
	;;
waitfile)
	# Runs until $HOSTAGENT_OUTPUT_DIR/exit-code appears, then exits with its content.
	echo "started $HOSTAGENT_TASK_ID"
	while [ ! -f "$out/exit-code" ]; do sleep 0.05; done
	exit "$(cat "$out/exit-code")"
	;;
*)
	echo "unknown mode $mode" >&2
	exit 64
	;;
esac
"""

# Log patterns for the "logs" mode: multi-line text, every byte value (NUL and
# invalid UTF-8 included), CRLF, a long line, and no final newline.
STDOUT_BIN = (b"".join(b"stdout line %05d \xe2\x9c\x93 \xff\xfe\n" % i for i in range(2000))
              + bytes(range(256)) + b"\r\n" + b"L" * 100000 + b"\n" + b"tail without newline")
STDERR_BIN = (b"".join(b"stderr %d\t\x00\x01\x02\x7f\x80\n" % i for i in range(1500))
              + b"\x1b[31mred\x1b[0m\n" + bytes(range(255, -1, -1)) + b"end")


def project_files(version="v1", extra=None):
    """Path → (bytes, mode) of a good release: bin/svc.sh, VERSION, data/."""
    files = {
        "bin/svc.sh": (SVC.encode(), 0o755),
        "VERSION": (version.encode() + b"\n", 0o644),
        "data/stdout.bin": (STDOUT_BIN, 0o644),
        "data/stderr.bin": (STDERR_BIN, 0o644),
    }
    if extra:
        files.update(extra)
    return files


def _dirs_of(paths):
    dirs = set()
    for p in paths:
        parts = p.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            dirs.add("/".join(parts[:i]))
    return sorted(dirs)


def tar_bytes(files, mtime=None):
    """An uncompressed ustar/pax archive of files (path → (bytes, mode))."""
    mtime = int(time.time()) if mtime is None else mtime
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for d in _dirs_of(files):
            ti = tarfile.TarInfo(d)
            ti.type = tarfile.DIRTYPE
            ti.mode = 0o755
            ti.mtime = mtime
            t.addfile(ti)
        for path, (data, mode) in files.items():
            ti = tarfile.TarInfo(path)
            ti.size = len(data)
            ti.mode = mode
            ti.mtime = mtime
            t.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def zstd_compress(data):
    r = subprocess.run(["zstd", "-q", "-c", "-3"], input=data, stdout=subprocess.PIPE, check=True)
    return r.stdout


def compress(tar, fmt):
    """tar bytes → the bytes of fmt ("tar", "tar.gz", "tar.xz", "tar.zst")."""
    if fmt == "tar":
        return tar
    if fmt == "tar.gz":
        return gzip.compress(tar, 6)
    if fmt == "tar.xz":
        return lzma.compress(tar, format=lzma.FORMAT_XZ)
    if fmt == "tar.zst":
        return zstd_compress(tar)
    raise ValueError(fmt)


def zip_bytes(files):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for d in _dirs_of(files):
            zi = zipfile.ZipInfo(d + "/")
            zi.external_attr = (0o40755 << 16) | 0x10
            z.writestr(zi, b"")
        for path, (data, mode) in files.items():
            zi = zipfile.ZipInfo(path)
            zi.external_attr = (0o100000 | mode) << 16
            zi.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(zi, data)
    return buf.getvalue()


def archive(fmt, files):
    """The bytes of files in fmt (one of FORMATS)."""
    if fmt == "zip":
        return zip_bytes(files)
    return compress(tar_bytes(files), fmt)


def project_archive(fmt="tar.gz", version="v1", extra=None):
    """A deployable release in fmt; version is served as /VERSION."""
    return archive(fmt, project_files(version, extra))


def entry_count(fmt, files):
    """Entries as stored by archive(): the files plus their parent directories."""
    return len(files) + len(_dirs_of(files))


# ---------------------------------------------------------------------------
# Hostile archives. Each takes the absolute path of a file outside the release
# (`outside`, which the test creates or checks) so that an escape is visible.


def _tar_with(entries, fmt="tar"):
    """entries: TarInfo objects, with data (bytes) for regular files."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as t:
        for ti, data in entries:
            if data is not None:
                ti.size = len(data)
                t.addfile(ti, io.BytesIO(data))
            else:
                t.addfile(ti)
    return compress(buf.getvalue(), fmt)


def _ti(name, type_=tarfile.REGTYPE, mode=0o644, linkname="", devmajor=0, devminor=0):
    ti = tarfile.TarInfo(name)
    ti.type = type_
    ti.mode = mode
    ti.mtime = int(time.time())
    ti.linkname = linkname
    ti.devmajor = devmajor
    ti.devminor = devminor
    return ti


def _good_entries():
    return [(_ti("bin", tarfile.DIRTYPE, 0o755), None),
            (_ti("bin/svc.sh", mode=0o755), SVC.encode())]


def hostile_absolute(outside):
    return _tar_with(_good_entries() + [(_ti(outside), b"escaped\n")], "tar.gz")


def hostile_dotdot(outside):
    up = "../" * 12 + outside.lstrip("/")
    return _tar_with(_good_entries() + [(_ti(up), b"escaped\n")], "tar.gz")


def hostile_dotdot_inner(outside):
    up = "bin/" + "../" * 13 + outside.lstrip("/")
    return _tar_with(_good_entries() + [(_ti(up), b"escaped\n")], "tar.gz")


def hostile_symlink_abs_write(outside):
    d, base = os.path.split(outside)
    return _tar_with(_good_entries() + [
        (_ti("lnk", tarfile.SYMTYPE, 0o777, linkname=d), None),
        (_ti("lnk/" + base), b"escaped through a symlink\n")], "tar.gz")


def hostile_symlink_rel_write(outside):
    d, base = os.path.split(outside)
    return _tar_with(_good_entries() + [
        (_ti("lnk", tarfile.SYMTYPE, 0o777, linkname="../" * 12 + d.lstrip("/")), None),
        (_ti("lnk/" + base), b"escaped through a symlink\n")], "tar.gz")


def hostile_symlink_file_overwrite(outside):
    """A symlink to the outside file, then a regular file of the same name."""
    return _tar_with(_good_entries() + [
        (_ti("bin/conf", tarfile.SYMTYPE, 0o777, linkname=outside), None),
        (_ti("bin/conf"), b"overwritten through a symlink\n")], "tar.gz")


def hostile_hardlink_abs(outside):
    """A hardlink to the outside file, then content written to that name."""
    return _tar_with(_good_entries() + [
        (_ti("bin/hl", tarfile.LNKTYPE, linkname=outside), None),
        (_ti("bin/hl"), b"overwritten through a hardlink\n")], "tar.gz")


def hostile_hardlink_rel(outside):
    return _tar_with(_good_entries() + [
        (_ti("bin/hl", tarfile.LNKTYPE, linkname="../" * 12 + outside.lstrip("/")), None)],
        "tar.gz")


def hostile_chardev(outside):
    return _tar_with(_good_entries() + [
        (_ti("dev-null", tarfile.CHRTYPE, 0o666, devmajor=1, devminor=3), None)], "tar.gz")


def hostile_blockdev(outside):
    return _tar_with(_good_entries() + [
        (_ti("disk", tarfile.BLKTYPE, 0o660, devmajor=7, devminor=0), None)], "tar.gz")


def hostile_fifo(outside):
    return _tar_with(_good_entries() + [(_ti("pipe", tarfile.FIFOTYPE, 0o644), None)], "tar.gz")


def setuid_archive():
    """Accepted, but bin/suid must land without its 04000 (nor 02000) bit."""
    return _tar_with(_good_entries() + [
        (_ti("VERSION"), b"suid\n"),
        (_ti("bin/suid", mode=0o4755), b"#!/bin/sh\necho suid\n"),
        (_ti("bin/sgid", mode=0o2755), b"#!/bin/sh\necho sgid\n"),
        (_ti("bin/sticky", mode=0o1777), b"sticky\n")], "tar.gz")


def many_entries(n=100000):
    """n one-byte files (the entry cap defaults to 20 000), gzipped: about 1 MB."""
    # Raw ustar headers: tarfile's per-entry overhead would cost seconds.
    out = io.BytesIO()
    z = zlib.compressobj(6, zlib.DEFLATED, 31)
    now = b"%011o" % int(time.time())
    for i in range(n):
        name = b"f/%06d" % i
        h = bytearray(512)
        h[0:len(name)] = name
        h[100:108] = b"0000644\0"
        h[108:116] = b"0000000\0"
        h[116:124] = b"0000000\0"
        h[124:136] = b"00000000001\0"
        h[136:148] = now + b"\0"
        h[148:156] = b"        "
        h[156:157] = b"0"
        h[257:265] = b"ustar\x0000"
        chk = sum(h)
        h[148:156] = b"%06o\0 " % chk
        out.write(z.compress(bytes(h) + b"x" + bytes(511)))
    out.write(z.compress(bytes(1024)))
    out.write(z.flush())
    return out.getvalue()


def _tar_header(name, size, mode=0o644):
    ti = tarfile.TarInfo(name)
    ti.size = size
    ti.mode = mode
    ti.mtime = int(time.time())
    return ti.tobuf(tarfile.GNU_FORMAT)


def _zero_deflate(total, level=9, chunk=1 << 20):
    """Raw deflate of `total` zero bytes, built from one compressed chunk
    repeated (a full flush makes every chunk's output identical), plus its
    CRC-32. Returns (list of byte strings, crc)."""
    co = zlib.compressobj(level, zlib.DEFLATED, -15)
    piece = co.compress(bytes(chunk)) + co.flush(zlib.Z_FULL_FLUSH)
    n, rest = divmod(total, chunk)
    parts = [piece] * n
    parts.append(co.compress(bytes(rest)) + co.flush(zlib.Z_FINISH))
    crc = 0
    z = bytes(chunk)
    for _ in range(n):
        crc = zlib.crc32(z, crc)
    crc = zlib.crc32(bytes(rest), crc)
    return parts, crc


def gzip_bomb(unpacked=3 << 30):
    """A tar.gz of one file of `unpacked` zero bytes: about 3 MB for 3 GiB
    (ratio about 1000). Built in about a second without materializing it."""
    header = _tar_header("zeros.bin", unpacked)
    pad = (-unpacked) % 512
    tail = bytes(pad + 1024)
    # The tar stream is header + zeros + tail; every byte after the header is
    # zero, so it is header then (unpacked + len(tail)) zeros.
    co = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = co.compress(header) + co.flush(zlib.Z_FULL_FLUSH)
    parts, zcrc = _zero_deflate(unpacked + len(tail))
    # crc32 over header then zeros: crc32 is streamable, recompute in order.
    crc = zlib.crc32(header)
    chunk = bytes(1 << 20)
    n, rest = divmod(unpacked + len(tail), 1 << 20)
    for _ in range(n):
        crc = zlib.crc32(chunk, crc)
    crc = zlib.crc32(bytes(rest), crc)
    total = len(header) + unpacked + len(tail)
    gz = bytearray(b"\x1f\x8b\x08\x00" + struct.pack("<I", 0) + b"\x02\xff")
    gz += head
    body = b"".join(parts)
    return bytes(gz) + body + struct.pack("<II", crc & 0xFFFFFFFF, total & 0xFFFFFFFF)


def zip_bomb(unpacked=3 << 30):
    """A zip with one deflated entry of `unpacked` zeros (under 4 GiB: no zip64)."""
    assert unpacked < (1 << 32)
    parts, crc = _zero_deflate(unpacked)
    data = b"".join(parts)
    name = b"zeros.bin"
    lh = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0x21, crc, len(data), unpacked,
                     len(name), 0) + name
    cd = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 0x031E, 20, 0, 8, 0, 0x21, crc, len(data),
                     unpacked, len(name), 0, 0, 0, 0, (0o100644 << 16), 0) + name
    eocd = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(cd), len(lh) + len(data), 0)
    return lh + data + cd + eocd


def _zip_raw(entries):
    """entries: (name, data, external_attr) written as-is (no sanitizing)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data, attr in entries:
            zi = zipfile.ZipInfo("placeholder")
            zi.filename = name  # bypasses ZipInfo's own normalization
            zi.orig_filename = name
            zi.external_attr = attr
            zi.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(zi, data)
    return buf.getvalue()


def zip_backslash(outside):
    return _zip_raw([("bin/svc.sh", SVC.encode(), 0o100755 << 16),
                     ("..\\..\\..\\..\\..\\..\\" + outside.lstrip("/").replace("/", "\\"),
                      b"escaped\n", 0o100644 << 16)])


def zip_backslash_plain():
    return _zip_raw([("bin\\svc.sh", SVC.encode(), 0o100755 << 16)])


def zip_dotdot(outside):
    return _zip_raw([("bin/svc.sh", SVC.encode(), 0o100755 << 16),
                     ("../" * 12 + outside.lstrip("/"), b"escaped\n", 0o100644 << 16)])


def zip_absolute(outside):
    return _zip_raw([("bin/svc.sh", SVC.encode(), 0o100755 << 16),
                     (outside, b"escaped\n", 0o100644 << 16)])


def zip_symlink_escape(outside):
    d, base = os.path.split(outside)
    return _zip_raw([("bin/svc.sh", SVC.encode(), 0o100755 << 16),
                     ("lnk", d.encode(), 0o120777 << 16),
                     ("lnk/" + base, b"escaped through a symlink\n", 0o100644 << 16)])


def truncated_gzip():
    good = project_archive("tar.gz")
    return good[:len(good) // 2]


def truncated_tar():
    good = project_archive("tar")
    return good[:len(good) // 2 + 100]


def truncated_zip():
    good = project_archive("zip")
    return good[:len(good) - 60]  # the central directory is gone


def truncated_xz():
    good = project_archive("tar.xz")
    return good[:len(good) - 40]


def not_an_archive():
    """Text that a client named build.tar.gz."""
    return b"#!/bin/sh\necho 'I am not an archive, whatever my name says'\n" * 50


def gzip_not_tar():
    return gzip.compress(b"plain text, gzipped, but no tar inside\n" * 100)


def empty_body():
    return b""


# name → (builder taking `outside`, expected HTTP statuses at upload)
HOSTILE = {
    "absolute": (hostile_absolute, (422,)),
    "dotdot": (hostile_dotdot, (422,)),
    "dotdot_inner": (hostile_dotdot_inner, (422,)),
    "symlink_abs_write": (hostile_symlink_abs_write, (422,)),
    "symlink_rel_write": (hostile_symlink_rel_write, (422,)),
    "symlink_file_overwrite": (hostile_symlink_file_overwrite, (422,)),
    "hardlink_abs": (hostile_hardlink_abs, (422,)),
    "hardlink_rel": (hostile_hardlink_rel, (422,)),
    "chardev": (hostile_chardev, (422,)),
    "blockdev": (hostile_blockdev, (422,)),
    "fifo": (hostile_fifo, (422,)),
    "zip_backslash": (zip_backslash, (422,)),
    "zip_backslash_plain": (lambda o: zip_backslash_plain(), (422,)),
    "zip_dotdot": (zip_dotdot, (422,)),
    "zip_absolute": (zip_absolute, (422,)),
    "zip_symlink_escape": (zip_symlink_escape, (422,)),
    "truncated_gzip": (lambda o: truncated_gzip(), (422,)),
    "truncated_tar": (lambda o: truncated_tar(), (422,)),
    "truncated_zip": (lambda o: truncated_zip(), (422,)),
    "truncated_xz": (lambda o: truncated_xz(), (422,)),
    "not_an_archive": (lambda o: not_an_archive(), (415,)),
    "gzip_not_tar": (lambda o: gzip_not_tar(), (415, 422)),
    "empty_body": (lambda o: empty_body(), (400, 415, 422)),
}


def write_random_tar(path, size, name="random.bin"):
    """A tar with one file of `size` random bytes, written to path in 1 MiB
    steps (for the 200-300 MB uploads). Returns the file's size."""
    with open(path, "wb") as f:
        f.write(_tar_header(name, size))
        left = size
        while left:
            n = min(left, 1 << 20)
            f.write(os.urandom(n))
            left -= n
        f.write(bytes((-size) % 512 + 1024))
    return os.path.getsize(path)
