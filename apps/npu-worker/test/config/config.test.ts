import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import {
  ConfigError,
  defaultCacheDir,
  type LoadWorkerConfigOptions,
  loadWorkerConfig,
  resolveWorkerConfig,
} from '../../src/config.js'
import { DEFAULT_MODELS_DIR } from '../../src/models/default-model-repository.js'
import { KNOWLEDGE_PROCESSING_PROMPT, TEXT_ANALYSIS_PROMPT } from '../../src/tasks/generation/task-prompts.js'

const HOME = '/home/worker'

/** Loads with an in-memory file system holding `files`. */
function load(options: Partial<LoadWorkerConfigOptions> & { files?: Record<string, string> } = {}) {
  const files = options.files ?? {}
  return loadWorkerConfig({
    argv: options.argv ?? [],
    env: options.env ?? { HOME },
    cwd: options.cwd ?? '/srv',
    readFile: (path) => {
      const text = files[path]
      if (text === undefined) throw new Error(`ENOENT: no such file, open '${path}'`)
      return text
    },
  })
}

function loadError(options: Parameters<typeof load>[0]): string {
  try {
    load(options)
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError)
    return (error as Error).message
  }
  throw new Error('expected a ConfigError')
}

describe('loadWorkerConfig defaults', () => {
  it('applies every documented default', () => {
    const { config, checkConfig, configFile } = load()
    expect(config).toEqual({
      host: '0.0.0.0',
      port: 8081,
      grpc_port: 0,
      models_dir: DEFAULT_MODELS_DIR,
      cache_dir: join(HOME, '.cache', 'npu-worker'),
      auth_token: null,
      body_limit_bytes: 64 * 1024 * 1024,
      shutdown_grace_ms: 10_000,
      drain_delay_ms: 0,
      request_timeout_ms: 30_000,
      inference_timeout_ms: 60_000,
      default_threads: 1,
      default_instances: 2,
      default_instance_idle_timeout_ms: 15_000,
      queue: { max_queued: 64 },
      self_test_interval_seconds: 60,
      model_control: 'none',
      model_poll_interval_ms: 2000,
      log_level: 'info',
      generation_tasks: {
        model: null,
        text_analysis: { ...TEXT_ANALYSIS_PROMPT, max_tokens: null },
        knowledge_processing: { ...KNOWLEDGE_PROCESSING_PROMPT, max_tokens: null },
      },
      test_hooks: null,
    })
    expect(checkConfig).toBe(false)
    expect(configFile).toBeNull()
  })

  it('puts the cache under $XDG_CACHE_HOME when it is absolute, else under ~/.cache', () => {
    expect(defaultCacheDir({ XDG_CACHE_HOME: '/var/cache/x', HOME })).toBe('/var/cache/x/npu-worker')
    expect(defaultCacheDir({ XDG_CACHE_HOME: 'relative', HOME })).toBe(join(HOME, '.cache', 'npu-worker'))
  })
})

describe('loadWorkerConfig precedence: defaults < YAML < env < flags', () => {
  const files = {
    '/etc/npu/config.yaml':
      'port: 9000\nhost: 127.0.0.1\nlog_level: debug\nqueue: { max_queued: 5 }\nmodels_dir: models\n',
  }

  it('YAML overrides defaults, and relative paths in it are relative to the file', () => {
    const { config, configFile } = load({ argv: ['--config', '/etc/npu/config.yaml'], files })
    expect(configFile).toBe('/etc/npu/config.yaml')
    expect(config.port).toBe(9000)
    expect(config.host).toBe('127.0.0.1')
    expect(config.log_level).toBe('debug')
    expect(config.queue.max_queued).toBe(5)
    expect(config.models_dir).toBe('/etc/npu/models')
    expect(config.shutdown_grace_ms).toBe(10_000)
  })

  it('env overrides YAML; NPU_WORKER_CONFIG names the file', () => {
    const { config } = load({
      env: {
        HOME,
        NPU_WORKER_CONFIG: '/etc/npu/config.yaml',
        NPU_WORKER_PORT: '9100',
        NPU_WORKER_QUEUE_MAX_QUEUED: '7',
        NPU_WORKER_TOKEN: 'a-token-of-sixteen-chars',
        NPU_WORKER_TEST_HOOKS: '1',
        NPU_WORKER_MODELS_DIR: 'rel/models',
        NPU_WORKER_DRAIN_DELAY_MS: '2500',
      },
      files,
    })
    expect(config.port).toBe(9100)
    expect(config.drain_delay_ms).toBe(2500)
    expect(config.host).toBe('127.0.0.1')
    expect(config.queue.max_queued).toBe(7)
    expect(config.auth_token).toBe('a-token-of-sixteen-chars')
    expect(config.test_hooks).toEqual({
      freeze_route: true,
      load_delay_ms: 0,
      fake_openvino: null,
      fake_openvino_genai: null,
      faults: {},
    })
    // Paths from env and flags are relative to the working directory.
    expect(config.models_dir).toBe('/srv/rel/models')
  })

  it('sets grpc_port from YAML, env or flag, in that order; 0 (the default) keeps gRPC off', () => {
    expect(load({ env: { HOME } }).config.grpc_port).toBe(0)
    expect(load({ env: { HOME, NPU_WORKER_GRPC_PORT: '8001' } }).config.grpc_port).toBe(8001)
    expect(
      load({ argv: ['--grpc-port', '9001'], env: { HOME, NPU_WORKER_GRPC_PORT: '8001' } }).config.grpc_port,
    ).toBe(9001)
    expect(loadError({ env: { NPU_WORKER_GRPC_PORT: '70000' } })).toBe(
      'NPU_WORKER_GRPC_PORT: expected integer 0..65535',
    )
    expect(loadError({ argv: ['--grpc-port', 'x'] })).toBe('--grpc-port: expected integer 0..65535')
  })

  it('flags override env and YAML', () => {
    const { config, checkConfig } = load({
      argv: [
        '--config',
        '/etc/npu/config.yaml',
        '--port',
        '0',
        '--host',
        '::1',
        '--models-dir',
        '/m',
        '--cache-dir',
        '/c',
        '--log-level',
        'warn',
        '--check-config',
      ],
      env: { HOME, NPU_WORKER_PORT: '9100', NPU_WORKER_LOG_LEVEL: 'error' },
      files,
    })
    expect(config.port).toBe(0)
    expect(config.host).toBe('::1')
    expect(config.models_dir).toBe('/m')
    expect(config.cache_dir).toBe('/c')
    expect(config.log_level).toBe('warn')
    expect(checkConfig).toBe(true)
  })

  it('an empty NPU_WORKER_TOKEN means no token', () => {
    expect(load({ env: { HOME, NPU_WORKER_TOKEN: '' } }).config.auth_token).toBeNull()
  })
})

describe('loadWorkerConfig errors name the source and key', () => {
  it('YAML values', () => {
    const files = { '/srv/config.yaml': 'port: 70000\n' }
    expect(loadError({ argv: ['--config', 'config.yaml'], files })).toBe(
      'config.yaml: port: expected integer 0..65535',
    )
  })

  it('nested YAML values and unknown keys', () => {
    const files = { '/srv/c.yaml': 'queue: { max_queued: -1 }\nprot: 1\n' }
    const message = loadError({ argv: ['--config', 'c.yaml'], files })
    expect(message).toContain('c.yaml: queue.max_queued: expected integer 0..100000')
    expect(message).toContain('c.yaml: prot: unknown key')
  })

  it('YAML that does not parse, a file that does not exist', () => {
    expect(loadError({ argv: ['--config', 'bad.yaml'], files: { '/srv/bad.yaml': 'port: [1\n' } })).toMatch(
      /^bad\.yaml: not valid YAML: /,
    )
    expect(loadError({ argv: ['--config', 'missing.yaml'] })).toMatch(/^missing\.yaml: cannot read: ENOENT/)
  })

  it('environment variables', () => {
    expect(loadError({ env: { NPU_WORKER_PORT: 'eighty' } })).toBe(
      'NPU_WORKER_PORT: expected integer 0..65535',
    )
    expect(loadError({ env: { NPU_WORKER_LOG_LEVEL: 'loud' } })).toMatch(
      /^NPU_WORKER_LOG_LEVEL: expected one of fatal/,
    )
    expect(loadError({ env: { NPU_WORKER_TEST_HOOKS: 'maybe' } })).toBe(
      'NPU_WORKER_TEST_HOOKS: expected true, false or a mapping',
    )
    expect(loadError({ env: { NPU_WORKER_TOKEN: 'short' } })).toBe(
      'NPU_WORKER_TOKEN: must be at least 16 characters',
    )
  })

  it('flags', () => {
    expect(loadError({ argv: ['--port', '1.5'] })).toBe('--port: expected integer 0..65535')
    expect(loadError({ argv: ['--port=-1'] })).toBe('--port: expected integer 0..65535')
    expect(loadError({ argv: ['--prot', '1'] })).toMatch(/^command line: Unknown option '--prot'/)
    expect(loadError({ argv: ['--port'] })).toMatch(/^command line: .*--port/)
  })
})

describe('resolveWorkerConfig', () => {
  it('builds a full config from a partial one (what tests pass to buildApp)', () => {
    const config = resolveWorkerConfig({ port: 0, models_dir: '/models' }, { HOME })
    expect(config.port).toBe(0)
    expect(config.models_dir).toBe('/models')
    expect(config.default_instances).toBe(2)
  })

  it('rejects a bad value with the key named', () => {
    expect(() => resolveWorkerConfig({ default_threads: 0 })).toThrow(
      'config: default_threads: expected integer 1..256',
    )
  })
})

describe('test_hooks: one typed object, off by default, layered like every key', () => {
  const defaults = {
    freeze_route: true,
    load_delay_ms: 0,
    fake_openvino: null,
    fake_openvino_genai: null,
    faults: {},
  }
  const yaml = {
    '/srv/hooks.yaml': [
      'test_hooks:',
      '  load_delay_ms: 250',
      '  fake_openvino: { devices: [NPU, CPU] }',
      '  faults:',
      '    mlp: { hang: { after: 2, count: 1 }, drift: { after: 1 } }',
      '',
    ].join('\n'),
    '/srv/on.yaml': 'test_hooks: true\n',
  }

  it('a YAML mapping turns them on with its settings; `true` (what the ansible role writes) with the defaults', () => {
    expect(load({ argv: ['--config', 'hooks.yaml'], files: yaml }).config.test_hooks).toEqual({
      ...defaults,
      load_delay_ms: 250,
      fake_openvino: { devices: ['NPU', 'CPU'] },
      faults: { mlp: { hang: { after: 2, count: 1 }, drift: { after: 1, count: null, offset: 0.5 } } },
    })
    expect(load({ argv: ['--config', 'on.yaml'], files: yaml }).config.test_hooks).toEqual(defaults)
  })

  it('NPU_WORKER_TEST_LOAD_DELAY_MS sets the delay but never turns the hooks on by itself', () => {
    expect(load({ env: { HOME, NPU_WORKER_TEST_LOAD_DELAY_MS: '60000' } }).config.test_hooks).toBeNull()
    expect(
      load({ env: { HOME, NPU_WORKER_TEST_HOOKS: '1', NPU_WORKER_TEST_LOAD_DELAY_MS: '1500' } }).config
        .test_hooks,
    ).toEqual({ ...defaults, load_delay_ms: 1500 })
  })

  it('NPU_WORKER_TEST_HOOKS takes a JSON mapping; `0` turns off what a file turned on', () => {
    const json = JSON.stringify({ freeze_route: false, faults: { mlp: { crash_thread: { after: 3 } } } })
    expect(load({ env: { HOME, NPU_WORKER_TEST_HOOKS: json } }).config.test_hooks).toEqual({
      ...defaults,
      freeze_route: false,
      faults: { mlp: { crash_thread: { after: 3, count: null } } },
    })
    expect(
      load({ argv: ['--config', 'hooks.yaml'], env: { HOME, NPU_WORKER_TEST_HOOKS: '0' }, files: yaml })
        .config.test_hooks,
    ).toBeNull()
  })

  it('names the key of a bad fault', () => {
    const files = { '/srv/bad.yaml': 'test_hooks: { faults: { mlp: { hang: { after: -1 } } } }\n' }
    expect(loadError({ argv: ['--config', 'bad.yaml'], files })).toMatch(
      /^bad\.yaml: test_hooks\.faults\.mlp\.hang\.after: expected integer 0\.\.1000000000/,
    )
    const unknown = { '/srv/typo.yaml': 'test_hooks: { faults: { mlp: { hnag: {} } } }\n' }
    expect(loadError({ argv: ['--config', 'typo.yaml'], files: unknown })).toMatch(/hnag: unknown key/)
  })

  it('self_test_interval_seconds: 60 by default, 0 = only at load, from YAML or env', () => {
    expect(load().config.self_test_interval_seconds).toBe(60)
    expect(
      load({ env: { HOME, NPU_WORKER_SELF_TEST_INTERVAL_SECONDS: '0' } }).config.self_test_interval_seconds,
    ).toBe(0)
    expect(loadError({ env: { NPU_WORKER_SELF_TEST_INTERVAL_SECONDS: '-1' } })).toBe(
      'NPU_WORKER_SELF_TEST_INTERVAL_SECONDS: expected integer 0..86400',
    )
  })
})

describe('default_instance_idle_timeout_ms: when an idle ONNX Runtime instance beyond the first retires', () => {
  it('15 s by default; ms or `never` (always on) from YAML or env; anything else refused with the key named', () => {
    expect(load().config.default_instance_idle_timeout_ms).toBe(15_000)
    const env = (value: string) => ({ HOME, NPU_WORKER_DEFAULT_INSTANCE_IDLE_TIMEOUT_MS: value })
    expect(load({ env: env('never') }).config.default_instance_idle_timeout_ms).toBe('never')
    expect(load({ env: env('2500') }).config.default_instance_idle_timeout_ms).toBe(2500)
    const files = { '/srv/w.yaml': 'default_instance_idle_timeout_ms: never\n' }
    expect(load({ argv: ['--config', 'w.yaml'], files }).config.default_instance_idle_timeout_ms).toBe(
      'never',
    )
    for (const bad of ['0', 'soon', '-5']) {
      expect(loadError({ env: env(bad) })).toBe(
        'NPU_WORKER_DEFAULT_INSTANCE_IDLE_TIMEOUT_MS: expected an integer 1..86400000 (ms) or never',
      )
    }
  })
})

describe('generation_tasks: the text tasks model and prompts', () => {
  it('overrides prompts from YAML, keeping the other defaults, and refuses a prompt without its placeholder', () => {
    const { config } = load({
      argv: ['--config', '/etc/w.yaml'],
      files: {
        '/etc/w.yaml':
          'generation_tasks:\n  model: qwen\n  text_analysis: { prompt: "Summarize: {text}", max_tokens: 64 }\n',
      },
    })
    expect(config.generation_tasks).toEqual({
      model: 'qwen',
      text_analysis: { system: TEXT_ANALYSIS_PROMPT.system, prompt: 'Summarize: {text}', max_tokens: 64 },
      knowledge_processing: { ...KNOWLEDGE_PROCESSING_PROMPT, max_tokens: null },
    })
    expect(() =>
      load({
        argv: ['--config', '/etc/w.yaml'],
        files: { '/etc/w.yaml': 'generation_tasks:\n  knowledge_processing: { prompt: "no placeholder" }\n' },
      }),
    ).toThrow(
      /\/etc\/w\.yaml: generation_tasks\.knowledge_processing\.prompt: must contain \{knowledge_data\}/,
    )
  })
})
