#!/usr/bin/env python3
"""Writes the crafted archives of retrace's tar reader test (tests/it/tar_reader_go.rs), one per
case where the `tar` crate and Go's archive/tar were seen to disagree (issue 21), plus the
refusals and truncations around them. Each archive is compared with Go's listing of it, so the
expected results live in Go, not here. Run from this directory: `python3 make.py`."""

import hashlib

BLOCK = 512


def octal(n, width):
    return (b"%0*o" % (width - 1, n)) + b"\0"


def header(name=b"file", typeflag=b"0", size=0, mode=0o644, uid=0, gid=0, mtime=1600000000,
           linkname=b"", magic=b"ustar\x0000", uname=b"root", gname=b"root", prefix=b"",
           devmajor=0, devminor=0, fields=None):
    """One header block; `fields` overrides raw byte ranges (offset -> bytes) before the checksum."""
    b = bytearray(BLOCK)
    b[0:len(name)] = name
    b[100:108] = octal(mode, 8)
    b[108:116] = octal(uid, 8)
    b[116:124] = octal(gid, 8)
    b[124:136] = octal(size, 12)
    b[136:148] = octal(mtime, 12)
    b[156:157] = typeflag
    b[157:157 + len(linkname)] = linkname
    if magic is not None:
        b[257:265] = magic
        b[265:265 + len(uname)] = uname
        b[297:297 + len(gname)] = gname
        b[329:337] = octal(devmajor, 8)
        b[337:345] = octal(devminor, 8)
        b[345:345 + len(prefix)] = prefix
    for at, raw in (fields or {}).items():
        b[at:at + len(raw)] = raw
    b[148:156] = b" " * 8
    b[148:156] = b"%06o\0 " % sum(b)
    return bytes(b)


def data(content):
    pad = (-len(content)) % BLOCK
    return content + b"\0" * pad


def entry(content=b"", **kw):
    return header(size=len(content), **kw) + data(content)


def pax_record(key, value):
    body = b" " + key + b"=" + value + b"\n"
    n = len(body) + 1
    while len(b"%d" % n) + len(body) != n:
        n += 1
    return b"%d" % n + body


def pax(records, typeflag=b"x", name=b"PaxHeaders/file"):
    content = b"".join(pax_record(k, v) for k, v in records)
    return entry(content, name=name, typeflag=typeflag)


def gnu_long(text, typeflag=b"L"):
    return entry(text, name=b"././@LongLink", typeflag=typeflag, magic=b"ustar  \0")


END = b"\0" * (2 * BLOCK)

CASES = {
    # `git archive` starts every tarball with a global header; moby skips it.
    "pax-global-git-archive": pax([(b"comment", b"3f2a" * 10)], typeflag=b"g", name=b"pax_global_header")
    + entry(b"hello\n", name=b"repo/README"),
    # A file capability is binary and may hold a newline byte.
    "pax-xattr-binary-newline": pax([(b"SCHILY.xattr.security.capability", b"\x01\x00\x00\x02\n\x20\x00\x00\xff\x00")])
    + entry(b"#!/bin/sh\n", name=b"usr/bin/ping", mode=0o755),
    "gnu-repeated-long-names": gnu_long(b"first/long/name" * 8) + gnu_long(b"second/long/name" * 8)
    + gnu_long(b"first/target" * 10, b"K") + gnu_long(b"second/target" * 10, b"K")
    + entry(name=b"short", typeflag=b"2", linkname=b"short-target"),
    "pax-repeated-headers": pax([(b"path", b"first-path"), (b"mtime", b"1.5")])
    + pax([(b"path", b"second-path"), (b"uid", b"4242")]) + entry(b"x", name=b"placeholder"),
    "pax-then-gnu-long-name": pax([(b"path", b"from-pax")]) + gnu_long(b"from-gnu-long-name")
    + entry(b"y", name=b"placeholder"),
    "numeric-fields-nul-filled": entry(b"abc", name=b"nul-numbers", fields={
        100: b"\0\0000644\0", 108: b"\0\0\0\0\0\0\0\0", 124: b"\0\0\0\0\0\0\0\0\0003\0",
        136: b"\0\00013132163000"}),
    "numeric-fields-space-filled": entry(b"abc", name=b"space-numbers", fields={
        100: b"   644 \0", 124: b"          3 "}),
    "numeric-field-nul-inside": entry(b"", name=b"nul-inside", fields={100: b"06\x00044\0\0\0"}),
    "trailing-garbage-after-end": entry(b"data", name=b"f") + END + b"garbage that is not a header" * 40,
    "single-zero-block-end": entry(b"data", name=b"f") + b"\0" * BLOCK,
    "zero-block-then-header": entry(b"data", name=b"f") + b"\0" * BLOCK + entry(b"more", name=b"g"),
    "gnu-long-name-with-nul": gnu_long(b"before-nul\0after-nul") + entry(b"z", name=b"placeholder"),
    "gnu-long-name-empty": gnu_long(b"\0ignored") + entry(b"z", name=b"kept-name"),
    "pax-then-eof": pax([(b"path", b"never-used")]),
    "pax-then-end-marker": pax([(b"path", b"never-used")]) + END,
    "hardlink-with-size-no-data": entry(b"target content", name=b"target")
    + header(name=b"link", typeflag=b"1", linkname=b"target", size=1000)
    + entry(b"after", name=b"after-link"),
    "dir-with-size": header(name=b"dir/", typeflag=b"5", size=512)
    + entry(b"hidden?", name=b"dir/file"),
    "symlink-with-size": header(name=b"sym", typeflag=b"2", linkname=b"t", size=4096) + entry(b"q", name=b"next"),
    "devices-with-size": header(name=b"chr", typeflag=b"3", devmajor=1, devminor=3, size=700)
    + header(name=b"blk", typeflag=b"4", devmajor=8, devminor=1, size=1)
    + header(name=b"fifo", typeflag=b"6", size=99) + entry(b"end", name=b"last"),
    "v7-dir-with-size": header(name=b"v7dir/", typeflag=b"\0", size=300, magic=None)
    + header(name=b"v7dir/file", typeflag=b"\0", size=2, magic=None) + data(b"hi"),
    "v7-regular-nul-type": header(name=b"plain", typeflag=b"\0", size=3, magic=None) + data(b"abc"),
    # Go 1.7 wrote GNU magic with a USTAR prefix field (Docker 1.12 and 1.13 layers).
    "go17-gnu-magic-ustar-prefix": entry(b"content", name=b"file.txt", magic=b"ustar  \0",
                                         prefix=b"some/deep/directory/tree/that/needed/a/prefix"),
    "gnu-magic-atime": entry(b"c", name=b"times", magic=b"ustar  \0", fields={345: octal(1500000000, 12), 357: octal(1500000001, 12)}),
    "ustar-prefix": entry(b"p", name=b"name", prefix=b"the/prefix"),
    "ustar-non-ascii-name": entry(b"n", name="caf\u00e9".encode()),
    "pax-non-utf8-path": pax([(b"path", b"bad-\xff\xfe-name"), (b"linkpath", b"\xc3(")])
    + entry(name=b"placeholder", typeflag=b"2"),
    "pax-times-fractional": pax([(b"mtime", b"1600000000.123456789123"), (b"atime", b"-1.25"), (b"ctime", b"-0.5")])
    + entry(b"t", name=b"times"),
    "pax-empty-values-keep-header": pax([(b"path", b""), (b"uname", b""), (b"size", b"")])
    + entry(b"k", name=b"kept", uname=b"alice"),
    "pax-size-overrides": pax([(b"size", b"6")]) + header(name=b"big", size=2) + data(b"sixsix"),
    "pax-uid-gid-large": pax([(b"uid", b"3000000000"), (b"gid", b"4000000000")]) + entry(b"u", name=b"ids"),
    "base256-size-and-uid": header(name=b"b256", size=0, fields={108: b"\x80\0\0\0\0\x01\x00\x00", 124: b"\x80" + b"\0" * 10 + b"\x05"}) + data(b"12345"),
    "base256-negative-mtime": entry(b"", name=b"old", fields={136: b"\xff" * 11 + b"\xfe"}),
    # Refusals Go makes.
    "pax-bad-mtime": pax([(b"mtime", b"12x")]) + entry(b"m", name=b"f"),
    "pax-bad-record-length": entry(b"99 path=short\n", name=b"PaxHeaders/f", typeflag=b"x") + entry(b"m", name=b"f"),
    "pax-nul-in-xattr-key": pax([(b"SCHILY.xattr.user.a\0b", b"v")]) + entry(b"m", name=b"f"),
    "pax-nul-in-path": pax([(b"path", b"a\0b")]) + entry(b"m", name=b"f"),
    "pax-too-large": entry(b"".join(pax_record(b"comment", b"x" * 1000) for _ in range(1100)),
                           name=b"PaxHeaders/f", typeflag=b"x") + entry(b"m", name=b"f"),
    "gnu-long-name-too-large": gnu_long(b"n" * ((1 << 20) + 1)) + entry(b"m", name=b"f"),
    "negative-size": header(name=b"neg", fields={124: b"\xff" * 12}),
    "negative-size-dir": header(name=b"negdir/", typeflag=b"5", fields={124: b"\xff" * 12}) + END,
    "bad-octal": header(name=b"bad", fields={100: b"0000x44\0"}),
    "bad-checksum": header(name=b"f")[:148] + b"0000000\0" + header(name=b"f")[156:],
    # Sparse files: PAX 0.1 and 1.0 with bad maps, old GNU with extension blocks.
    "pax-sparse-0.1-count-mismatch": pax([(b"GNU.sparse.major", b"0"), (b"GNU.sparse.minor", b"1"),
                                          (b"GNU.sparse.name", b"real"), (b"GNU.sparse.realsize", b"100"),
                                          (b"GNU.sparse.numblocks", b"2"), (b"GNU.sparse.map", b"0,5")])
    + entry(b"aaaaa", name=b"GNUSparseFile.0/real"),
    "pax-sparse-0.1-overlap": pax([(b"GNU.sparse.major", b"0"), (b"GNU.sparse.minor", b"1"),
                                   (b"GNU.sparse.name", b"real"), (b"GNU.sparse.realsize", b"100"),
                                   (b"GNU.sparse.numblocks", b"2"), (b"GNU.sparse.map", b"0,10,5,10")])
    + entry(b"a" * 20, name=b"GNUSparseFile.0/real"),
    "pax-sparse-0.1-past-size": pax([(b"GNU.sparse.major", b"0"), (b"GNU.sparse.minor", b"1"),
                                     (b"GNU.sparse.name", b"real"), (b"GNU.sparse.realsize", b"10"),
                                     (b"GNU.sparse.numblocks", b"1"), (b"GNU.sparse.map", b"5,10")])
    + entry(b"a" * 10, name=b"GNUSparseFile.0/real"),
    "pax-sparse-0.1-ok": pax([(b"GNU.sparse.major", b"0"), (b"GNU.sparse.minor", b"1"),
                              (b"GNU.sparse.name", b"real/name"), (b"GNU.sparse.realsize", b"3000"),
                              (b"GNU.sparse.numblocks", b"2"), (b"GNU.sparse.map", b"100,5,2000,7")])
    + entry(b"helloworld12", name=b"GNUSparseFile.0/name"),
    "pax-sparse-0.1-missing-data": pax([(b"GNU.sparse.major", b"0"), (b"GNU.sparse.minor", b"1"),
                                        (b"GNU.sparse.realsize", b"3000"),
                                        (b"GNU.sparse.numblocks", b"1"), (b"GNU.sparse.map", b"100,50")])
    + entry(b"only-some", name=b"GNUSparseFile.0/x"),
    "pax-sparse-0.1-unreferenced-data": pax([(b"GNU.sparse.major", b"0"), (b"GNU.sparse.minor", b"1"),
                                             (b"GNU.sparse.realsize", b"3000"),
                                             (b"GNU.sparse.numblocks", b"1"), (b"GNU.sparse.map", b"100,2")])
    + entry(b"more-than-two", name=b"GNUSparseFile.0/x"),
    "pax-sparse-0.0-out-of-order": pax([(b"GNU.sparse.size", b"100"), (b"GNU.sparse.numblocks", b"1"),
                                        (b"GNU.sparse.numbytes", b"5"), (b"GNU.sparse.offset", b"0")])
    + entry(b"aaaaa", name=b"f"),
    "pax-sparse-0.0-ok": pax([(b"GNU.sparse.size", b"100"), (b"GNU.sparse.numblocks", b"2"),
                              (b"GNU.sparse.offset", b"0"), (b"GNU.sparse.numbytes", b"2"),
                              (b"GNU.sparse.offset", b"50"), (b"GNU.sparse.numbytes", b"3")])
    + entry(b"ab123", name=b"sparse00"),
    "pax-sparse-1.0-ok": pax([(b"GNU.sparse.major", b"1"), (b"GNU.sparse.minor", b"0"),
                              (b"GNU.sparse.name", b"one-oh"), (b"GNU.sparse.realsize", b"9000")])
    + entry(data(b"2\n10\n4\n8000\n3\n") + b"dataxyz", name=b"GNUSparseFile.0/one-oh"),
    "pax-sparse-1.0-map-truncated": pax([(b"GNU.sparse.major", b"1"), (b"GNU.sparse.minor", b"0"),
                                         (b"GNU.sparse.realsize", b"9000")])
    + entry(b"5\n1\n2\n", name=b"GNUSparseFile.0/cut"),
    "pax-sparse-1.0-bad-number": pax([(b"GNU.sparse.major", b"1"), (b"GNU.sparse.minor", b"0"),
                                      (b"GNU.sparse.realsize", b"9000")])
    + entry(data(b"1\nten\n4\n") + b"data", name=b"GNUSparseFile.0/bad"),
    "pax-sparse-unknown-version": pax([(b"GNU.sparse.major", b"2"), (b"GNU.sparse.minor", b"0"),
                                       (b"GNU.sparse.realsize", b"9000")]) + entry(b"as-is", name=b"GNUSparseFile.0/v2"),
    "pax-sparse-on-dir": pax([(b"GNU.sparse.major", b"0"), (b"GNU.sparse.minor", b"1"),
                              (b"GNU.sparse.numblocks", b"0"), (b"GNU.sparse.map", b"")])
    + header(name=b"d/", typeflag=b"5"),
    # Truncations: inside a header, inside content (an error), inside the padding (Go: the end).
    "truncated-in-header": entry(b"a", name=b"f") + header(name=b"g")[:300],
    "truncated-in-content": header(name=b"f", size=1000) + b"x" * 600,
    "truncated-in-padding": header(name=b"f", size=10) + b"0123456789" + b"\0" * 100,
    "truncated-after-content": header(name=b"f", size=512) + b"y" * 512,
    "unknown-typeflag": entry(b"vendor", name=b"weird", typeflag=b"V") + entry(b"n", name=b"next"),
    "contiguous-type-7": entry(b"contig", name=b"c", typeflag=b"7"),
    "star-header": entry(b"s", name=b"star", fields={345: b"pre", 476: octal(1400000000, 12), 488: octal(1400000001, 12), 508: b"tar\0"}),
}


def old_gnu_sparse(fragments, real_size, extended_blocks):
    """An old GNU `S` header with up to four fragments inside and the rest in extension blocks."""
    stored = sum(l for _, l in fragments)
    fields = {483: octal(real_size, 12)}
    for i, (o, l) in enumerate(fragments[:4]):
        fields[386 + 24 * i] = octal(o, 12)
        fields[386 + 24 * i + 12] = octal(l, 12)
    if extended_blocks:
        fields[482] = b"\1"
    out = header(name=b"oldsparse", typeflag=b"S", size=stored, magic=b"ustar  \0", fields=fields)
    rest = fragments[4:]
    while extended_blocks:
        blk = bytearray(BLOCK)
        for i, (o, l) in enumerate(rest[:21]):
            blk[24 * i:24 * i + 12] = octal(o, 12)
            blk[24 * i + 12:24 * i + 24] = octal(l, 12)
        rest = rest[21:]
        extended_blocks -= 1
        blk[504] = 1 if extended_blocks else 0
        out += bytes(blk)
    return out + data(b"".join(bytes([65 + i % 26]) * l for i, (_, l) in enumerate(fragments)))


CASES["gnu-old-sparse-extended"] = old_gnu_sparse([(i * 100, 3) for i in range(30)], 4000, 2)
CASES["gnu-old-sparse-past-size"] = old_gnu_sparse([(0, 3), (10, 5)], 12, 0)
CASES["gnu-old-sparse-without-gnu-magic"] = header(name=b"s", typeflag=b"S", fields={483: octal(10, 12)})


def main():
    for name, archive in sorted(CASES.items()):
        with open(name + ".tar", "wb") as f:
            f.write(archive)
    print(len(CASES), "archives;", hashlib.sha256(b"".join(CASES[k] for k in sorted(CASES))).hexdigest())


main()
