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
