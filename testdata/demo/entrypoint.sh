#!/bin/sh
# Entrypoint of the retrace demo image: report where we run, then run the command.
set -e
echo "retrace demo on $(uname -m)" >&2
exec "$@"
