#!/usr/bin/env bash
# Cross-builds the auth server as a static Linux binary for AWS Lambda (see
# scripts/build-static.sh) and prints one binary path per architecture asked for.
#   scripts/build-authserver.sh [arm64] [x86_64]      (default: both)
exec "$(dirname "$0")/build-static.sh" authserver "$@"
