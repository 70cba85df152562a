#!/usr/bin/env bash
# Regenerate package-lock.json after changing package.json (maintainers only).
exec "$(dirname "$0")/../npm/update-lock.sh" "$(dirname "$0")"
