#!/usr/bin/env bash
# The role's verify step against stand-in workers on devices this machine does not have: with the release's
# own self-test fixture (made here from the built worker), it must hold an answer served on the CPU to the FP32
# row and one served on the NPU to the FP16 row (by device, or by the precision /health reports), and refuse a
# wrong answer (zeros, shuffled) at every row, a model whose own self-test drifted, and one that is recovering.
# Needs `pnpm build` (the worker and its generated models) and ansible-playbook. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)
tmp=$(mktemp -d)
stub_pid=""
trap '[ -n "$stub_pid" ] && kill "$stub_pid" 2>/dev/null; rm -rf "$tmp"' EXIT

mkdir -p "$tmp/release/share/selftest"
node scripts/release/make-selftest-fixture.mjs "$repo/apps/npu-worker" "$tmp/release/share/selftest/mlp-infer.json" >/dev/null

# expect: passed | refused
cat >"$tmp/cases.json" <<'JSON'
[
  {"name": "cpu-exact", "device": "CPU", "backend": "onnxruntime", "answer": "exact", "expect": "passed"},
  {"name": "cpu-fp16-error", "device": "CPU", "backend": "onnxruntime", "answer": "fp16", "expect": "refused"},
  {"name": "npu-fp16-error", "device": "NPU", "backend": "openvino", "answer": "fp16", "expect": "passed"},
  {"name": "npu0-reported-fp16", "device": "NPU.0", "backend": "openvino", "precision": "FP16", "answer": "fp16", "expect": "passed"},
  {"name": "npu-reported-fp32", "device": "NPU", "backend": "openvino", "precision": "FP32", "answer": "fp16", "expect": "refused"},
  {"name": "npu-zeros", "device": "NPU", "backend": "openvino", "answer": "zeros", "expect": "refused"},
  {"name": "npu-shuffled", "device": "NPU", "backend": "openvino", "answer": "shuffled", "expect": "refused"},
  {"name": "npu-self-test-drift", "device": "NPU", "backend": "openvino", "answer": "exact", "expect": "refused",
   "self_test": {"result": "drift", "message": "max error 0.41 over the FP16 tolerance"}},
  {"name": "npu-recovering", "device": "NPU", "backend": "openvino", "answer": "exact", "expect": "refused",
   "state": "recovering", "reason": "native inference did not settle; recompiling"}
]
JSON
python3 - "$tmp/cases.json" <<'PY'
import json, sys
cases = json.load(open(sys.argv[1]))
for c in cases: c["version"] = "9.9.9"
json.dump(cases, open(sys.argv[1], "w"))
PY

python3 -u scripts/deploy-test/worker-stub.py "$tmp/release/share/selftest/mlp-infer.json" "$tmp/cases.json" >"$tmp/ports" &
stub_pid=$!
count=$(python3 -c 'import json, sys; print(len(json.load(open(sys.argv[1]))))' "$tmp/cases.json")
for _ in $(seq 1 50); do [ "$(wc -l <"$tmp/ports")" -ge "$count" ] && break; sleep 0.1; done
python3 - "$tmp/cases.json" "$tmp/ports" "$tmp/release" >"$tmp/vars.json" <<'PY'
import json, sys
cases = json.load(open(sys.argv[1]))
ports = dict(line.split() for line in open(sys.argv[2]))
for c in cases: c["port"] = int(ports[c["name"]])
print(json.dumps({"npu_worker_cases": cases, "npu_worker_fixture_release": sys.argv[3]}))
PY

if (cd ansible && ANSIBLE_CONFIG="$repo/ansible/ansible.cfg" ANSIBLE_ROLES_PATH="$repo/ansible/roles" \
  ANSIBLE_NOCOLOR=1 ANSIBLE_LOCALHOST_WARNING=False ANSIBLE_INVENTORY_UNPARSED_WARNING=False \
  ansible-playbook -i localhost, "$repo/scripts/deploy-test/verify-tolerance.yml" -e "@$tmp/vars.json") >"$tmp/play.log" 2>&1; then
  rc=0
else
  rc=$?
fi
grep -o '"msg": "\(AS EXPECTED\|WRONG\)[^"]*' "$tmp/play.log" | sed 's/^"msg": "/verify-tolerance: /' || true
if [ "$rc" -ne 0 ]; then
  tail -n 30 "$tmp/play.log" >&2
  echo "verify-tolerance: FAILED" >&2
  exit 1
fi
echo "verify-tolerance: all $count cases as expected"
