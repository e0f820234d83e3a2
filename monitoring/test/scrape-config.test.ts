import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { promtool } from '../../apps/npu-worker/test/helpers/promtool.js'
import { systemToolAvailable } from '../../apps/npu-worker/test/helpers/system-tool.js'
import { exampleConfig, RULES_FILE } from './helpers/example-config.js'

// The scrape config templated from the inventory: ansible/playbooks/monitoring.yml (role npu_fleet_monitoring)
// run for real, with a local connection, into a temporary folder; its targets files are read back, and the
// example prometheus.yml pointed at them passes `promtool check config` (rules, targets and token included).
// No host is contacted: the inventory's addresses are only written into files.

const ANSIBLE_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'ansible')
const ANSIBLE = systemToolAvailable('/usr/bin/ansible-playbook', 'ansible-core')
const dir = mkdtempSync(join(tmpdir(), 'npu-fleet-scrape-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const INVENTORY = `
prometheus:
  hosts:
    prom: { ansible_connection: local, ansible_python_interpreter: /usr/bin/python3 }
npu_workers:
  hosts:
    npu-worker-vm2: { ansible_host: 127.0.0.1, npu_worker_port: 18081 }
    npu-worker-vm3: { ansible_host: "::1", npu_fleet_monitoring_labels: { rack: r2 } }
    npu-worker-vm4: {}
npu_pool_backends:
  hosts:
    backend-a: { ansible_host: 127.0.0.1, npu_pool_admin_port: 13000 }
    backend-b: { ansible_host: 127.0.0.2 }
`

function playbook(out: string): Promise<{ code: number; output: string }> {
  const inventory = join(dir, 'inventory.yml')
  writeFileSync(inventory, INVENTORY)
  const extra = {
    npu_fleet_monitoring_dir: out,
    // Not root-owned files and no service to reload on a test machine; everything else as shipped.
    npu_fleet_monitoring_owner: '',
    npu_fleet_monitoring_group: '',
    npu_fleet_monitoring_reload_service: '',
    npu_fleet_monitoring_pool_admin_token: 'pool-admin-token-0123456789',
    ansible_become: false,
  }
  return new Promise((resolve) => {
    execFile(
      'ansible-playbook',
      ['-i', inventory, 'playbooks/monitoring.yml', '-e', JSON.stringify(extra)],
      {
        cwd: ANSIBLE_DIR,
        timeout: 120_000,
        env: { ...process.env, ANSIBLE_NOCOLOR: '1', ANSIBLE_LOCAL_TEMP: join(dir, 'ansible-tmp') },
      },
      (error, stdout, stderr) =>
        resolve({
          code: error ? (typeof error.code === 'number' ? error.code : 1) : 0,
          output: `${stdout}${stderr}`,
        }),
    )
  })
}

describe.skipIf(!ANSIBLE)('the scrape config templated from the inventory', () => {
  const out = join(dir, 'etc-prometheus-npu-fleet')

  it('writes a file_sd target per host, labelled with its inventory name, with the rules and the token', async () => {
    const run = await playbook(out)
    expect(run.output).toMatch(/failed=0/)
    expect(run.code).toBe(0)
    expect(parse(readFileSync(join(out, 'targets', 'npu-workers.yml'), 'utf8'))).toEqual([
      { targets: ['127.0.0.1:18081'], labels: { worker: 'npu-worker-vm2' } },
      // An IPv6 address is bracketed; the host's own labels come along.
      { targets: ['[::1]:8081'], labels: { worker: 'npu-worker-vm3', rack: 'r2' } },
      // No ansible_host: the inventory name is the address; no npu_worker_port: the worker's default.
      { targets: ['npu-worker-vm4:8081'], labels: { worker: 'npu-worker-vm4' } },
    ])
    expect(parse(readFileSync(join(out, 'targets', 'npu-pools.yml'), 'utf8'))).toEqual([
      { targets: ['127.0.0.1:13000'], labels: { backend: 'backend-a' } },
      { targets: ['127.0.0.2:3000'], labels: { backend: 'backend-b' } },
    ])
    expect(readFileSync(join(out, 'npu-fleet-alerts.yml'), 'utf8')).toBe(readFileSync(RULES_FILE, 'utf8'))
    expect(readFileSync(join(out, 'pool-admin-token'), 'utf8')).toBe('pool-admin-token-0123456789')
    // The token file is not world-readable; the log never shows it.
    expect(statSync(join(out, 'pool-admin-token')).mode & 0o007).toBe(0)
    expect(run.output).not.toContain('pool-admin-token-0123456789')
  })

  it('changes nothing when run again', async () => {
    const run = await playbook(out)
    expect(run.output).toMatch(/changed=0 .*failed=0/)
  })

  it('is what the example prometheus.yml reads: promtool check config passes on it', async () => {
    const config = join(dir, 'prometheus.yml')
    writeFileSync(config, exampleConfig({ dir: out }))
    const run = await promtool(['check', 'config', config])
    expect(run.output).toMatch(/SUCCESS: \d+ rule files found/)
    expect(run.output).toMatch(/SUCCESS: \d+ rules found/)
    expect(run.code).toBe(0)
  })
})
