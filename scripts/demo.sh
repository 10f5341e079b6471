#!/usr/bin/env bash
# `make demo`: start two local agents on embedded defaults (libvirt's test driver), then converge
# a demo cluster on them with a real ansible-playbook run and print the recap.
# DEMO_KEEP=1 leaves the agents running (stop them with: bash scripts/demo.sh stop).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PWD/.venv/bin:$PATH
DEMO=$PWD/.demo
NODES=(node-a node-b)

stop_agents() {
  for n in "${NODES[@]}"; do
    if [[ -f $DEMO/$n/agent.pid ]]; then kill "$(cat "$DEMO/$n/agent.pid")" 2>/dev/null || true; rm -f "$DEMO/$n/agent.pid"; fi
  done
}
if [[ ${1:-} == stop ]]; then stop_agents; exit 0; fi
stop_agents
mkdir -p "$DEMO"
# The test driver keeps VMs in memory: start each demo from empty stores so runs are repeatable.
for n in "${NODES[@]}"; do rm -rf "${DEMO:?}/$n"; done
# One cluster key: every agent verifies the same tokens (file backend, generated once).
[[ -f $DEMO/cluster-jwt.key ]] || python3 -c 'import secrets,base64;print(base64.urlsafe_b64encode(secrets.token_bytes(48)).decode().rstrip("="))' > "$DEMO/cluster-jwt.key"
chmod 600 "$DEMO/cluster-jwt.key"

i=0
for n in "${NODES[@]}"; do
  mkdir -p "$DEMO/$n"
  cat > "$DEMO/$n/novacron.yaml" <<YAML
system: {node_id: $n, data_dir: $DEMO/$n}
api: {listen_address: 127.0.0.1, port: $((18080 + i))}
metrics: {listen_address: 127.0.0.1, port: $((19091 + i))}
dwcp: {listen_port: $((17070 + 10 * i))}
auth: {key_file: $DEMO/cluster-jwt.key}
YAML
  novacron config validate --no-env "$DEMO/$n/novacron.yaml" >/dev/null
  nohup novacron-agent --config "$DEMO/$n/novacron.yaml" > "$DEMO/$n/agent.log" 2>&1 &
  echo $! > "$DEMO/$n/agent.pid"
  i=$((i + 1))
done
[[ ${DEMO_KEEP:-0} == 1 ]] || trap stop_agents EXIT

for n in "${NODES[@]}"; do
  port=$(grep -oP 'port: \K[0-9]+' "$DEMO/$n/novacron.yaml" | head -1)
  for _ in $(seq 600); do
    grep -q '^novacron-agent ready' "$DEMO/$n/agent.log" && break
    if ! kill -0 "$(cat "$DEMO/$n/agent.pid")" 2>/dev/null; then
      echo "agent $n did not start:" >&2; tail -n 20 "$DEMO/$n/agent.log" >&2; exit 1
    fi
    sleep 0.1
  done
  echo "== $n"; novacron status --url "http://127.0.0.1:$port"
done

NOVACRON_TOKEN=$(novacron token create --config "$DEMO/node-a/novacron.yaml" --ttl 3600)
export NOVACRON_TOKEN
export ANSIBLE_CONFIG=$PWD/ansible.cfg
echo "== converge (creates what is missing)"
ansible-playbook -i playbooks/inventory/demo.yml playbooks/demo.yml
echo "== converge again (idempotence: expect changed=0)"
ansible-playbook -i playbooks/inventory/demo.yml playbooks/demo.yml | sed -n '/PLAY RECAP/,$p'
if [[ ${DEMO_KEEP:-0} == 1 ]]; then
  echo "agents left running: http://127.0.0.1:18080 and :18081 (NOVACRON_TOKEN=$NOVACRON_TOKEN)"
fi
