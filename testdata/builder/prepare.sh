# Makes the ADD archives of the Dockerfile from payload/, identical on every run and platform:
# fixed mtimes and owners, sorted names, no PAX atime/ctime or pid-named PAX headers.
set -eu
long=$(printf 'l%.0s' $(seq 1 120))
mkdir -p long
cp payload/sub/readme "long/$long"
touch -d "@$FIXED_MTIME" long "long/$long"
common="--sort=name --mtime=@$FIXED_MTIME --owner=0 --group=0 --numeric-owner"
tar $common --format=gnu -cf payload.tar payload
xz -9 -c payload.tar > payload.tar.xz
bzip2 -9 -c payload.tar > payload.tar.bz2
rm payload.tar
# The first entry of each is a 120-character name: a PAX `path` record, or a GNU ././@LongLink.
(cd long && tar $common --format=pax --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime -cf ../pax-first.tar "$long")
(cd long && tar $common --format=gnu -cf ../gnu-first.tar "$long")
rm -r long

# COPY's modes and links (issue 10 items 7, 8, 11, 14): setuid/setgid files, a hard-linked pair,
# per-file context mtimes.
chmod 4755 suid
chmod 2755 sgid
chmod 2744 sgidnx
ln hl/one hl/two
touch -d 2020-05-05T01:02:03Z mt/x
touch -d 2021-06-06T01:02:03Z mt/y
# What the stage holds after its RUN, for the recipe's `stage:` source (item 13).
cp -a stagefiles stage-root
chown 4242:4242 stage-root/app/bin/tool
chmod 4755 stage-root/app/bin/tool
