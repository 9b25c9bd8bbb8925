#!/usr/bin/env python3
"""Writes the golden build output `out/` and its document `document.md` for tests/it/verify.rs.

Every digest here is computed by Python's hashlib, gzip and tarfile, never by retrace: one
platform (linux/amd64) of three layers, layer 1 `match`, layer 2 `match-after-timestamps` (its
replayed blob kept apart under replayed/), layer 3 `differs` (the layout holds the rebuilt blob;
the published one, named by the document, is not in the output). Run from this directory.
"""
import gzip, hashlib, io, json, os, shutil, tarfile

def digest(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()

def layer(files, mtime):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, data in files:
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), mtime, 0o644
            t.addfile(info, io.BytesIO(data))
    tar = buf.getvalue()
    return tar, gzip.compress(tar, mtime=0)

shutil.rmtree("out", ignore_errors=True)
os.makedirs("out/blobs/sha256")
os.makedirs("out/replayed/blobs/sha256")

def put(b, root="out"):
    d = digest(b)
    with open(f"{root}/blobs/sha256/{d[7:]}", "wb") as f:
        f.write(b)
    return d

t1, l1 = layer([("etc/motd", b"rebuilt by retrace\n")], 1700000000)
t2, l2 = layer([("srv/greeting", b"hello\n")], 1700000100)
_, r2 = layer([("srv/greeting", b"hello\n")], 1800000000)  # the replay's own times
t3, l3 = layer([("srv/date", b"Tue Dec 8 2026\n")], 1700000200)
published3 = digest(b"the published layer 3, not in this output")
d1, d2, d3, dr2 = put(l1), put(l2), put(l3), put(r2, "out/replayed")

config = json.dumps({
    "architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/sh"]},
    "rootfs": {"type": "layers", "diff_ids": [digest(t1), digest(t2), digest(t3)]},
    "history": [{"created_by": "ADD"}, {"created_by": "COPY"}, {"created_by": "RUN date"}],
}, separators=(",", ":")).encode()
dc = put(config)
manifest = json.dumps({
    "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": dc, "size": len(config)},
    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d, "size": len(b)}
               for d, b in [(d1, l1), (d2, l2), (d3, l3)]],
}, separators=(",", ":")).encode()
dm = put(manifest)
nested = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [
    {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": dm, "size": len(manifest),
     "platform": {"architecture": "amd64", "os": "linux"}}]}, separators=(",", ":")).encode()
dn = put(nested)
with open("out/index.json", "w") as f:
    json.dump({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [
        {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": dn, "size": len(nested),
         "annotations": {"org.opencontainers.image.ref.name": "latest"}}]}, f, indent=2)
with open("out/oci-layout", "w") as f:
    f.write('{"imageLayoutVersion":"1.0.0"}')

def row(i, step, expected, rebuilt, verdict, **extra):
    return dict(index=i, step=step, expected=expected, rebuilt=rebuilt, verdict=verdict, reason="", **extra)

report = {"recipe": "recipes/verify.yaml", "platforms": [{"platform": "linux/amd64", "layers": [
    row(1, "ADD file:0 in /", d1, d1, "match"),
    row(2, "COPY file:1 in /srv/", d2, d2, "match-after-timestamps", replayed=dr2,
        recovered_mtimes={"srv/greeting": "2023-11-14T22:15:00Z"}),
    row(3, "RUN date > /srv/date", published3, d3, "differs"),
], "seconds": 1.0, "cached_steps": 0}]}
with open("out/report.json", "w") as f:
    json.dump(report, f, indent=2)
    f.write("\n")

layers = "".join(
    f"\t-\t`{d}`  \n\t\tLast Modified: Tue, 14 Nov 2023 22:20:00 GMT  \n\t\tSize: {n}.0 B  \n"
    f"\t\tMIME: application/vnd.docker.image.rootfs.diff.tar.gzip\n"
    for d, n in [(d1, len(l1)), (d2, len(l2)), (published3, 100)])
with open("document.md", "w") as f:
    f.write(f"""## `verify:latest`

-	Manifest MIME: `application/vnd.docker.distribution.manifest.list.v2+json`
-	Platforms:
	-	linux; amd64

### `verify:latest` - linux; amd64

-	Docker Version: 20.10.24+dfsg1
-	Manifest MIME: `application/vnd.docker.distribution.manifest.v2+json`
-	Total Size: **1.0 KB (1000 bytes)**  
	(compressed transfer size, not on-disk size)
-	Image ID: `{dc}`
-	Default Command: `["/bin/sh"]`

```dockerfile
# Tue, 14 Nov 2023 22:13:20 GMT
ADD file:0 in / 
# Tue, 14 Nov 2023 22:15:00 GMT
COPY file:1 in /srv/ 
# Tue, 14 Nov 2023 22:16:40 GMT
RUN date > /srv/date
```

-	Layers:
{layers}""")
