#!/usr/bin/env bash
# The whole test suite, from a fresh clone: system packages, install, build (which generates the default
# models), lint, types, unit + integration tests against real processes, the deploy test on a real systemd
# host (as root), and benchmark smoke passes.
# CI (.ci/run) calls exactly this, through `pnpm test:all`.
set -euo pipefail
cd "$(dirname "$0")/.."

export ORT_DISABLE_TELEMETRY=1 TURBO_TELEMETRY_DISABLED=1 CI="${CI:-true}"

step() { printf '\n==> %s\n' "$*"; }

step "system packages"
scripts/install-system-deps.sh

step "install"
pnpm install --frozen-lockfile

step "lint"
pnpm lint

step "build"
pnpm build

step "types"
pnpm check-types

step "tests (unit + integration against real worker processes)"
pnpm test

step "deploy test (release → Ansible → systemd in a Debian container; needs root)"
if [ "$(id -u)" -eq 0 ]; then
  DEPLOY_TEST_REUSE_RELEASE=0 scripts/deploy-test/run.sh
elif [ "${NPU_FLEET_REQUIRE_DEPLOY_TEST:-0}" = 1 ]; then
  echo "the deploy test boots a systemd container and must run as root (.ci/run requires it)" >&2
  exit 1
else
  echo "SKIPPED: not root (run scripts/deploy-test/run.sh as root to include it)"
fi

step "benchmark smoke pass (tiny counts: proves the suite still runs; figures are not compared)"
pnpm bench:smoke

