# Runs in the copied context before the build (cargo xtask image-fixture).
chmod 4755 suid
chmod 2755 sgid
chmod 2744 sgidnx
ln hl/one hl/two
touch -d 2020-05-05T01:02:03Z mt/x
touch -d 2021-06-06T01:02:03Z mt/y
# What the stage holds after its RUN, for the recipe's `stage:` source.
cp -a stagefiles stage-root
chown 4242:4242 stage-root/app/bin/tool
chmod 4755 stage-root/app/bin/tool
