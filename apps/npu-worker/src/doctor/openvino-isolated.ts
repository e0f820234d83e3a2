import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { OpenvinoTask, OpenvinoTaskResult } from './openvino-task.js'

/** Runs one OpenVINO task in a child process with a hard time limit. */
export interface IsolatedRunner {
  run<T extends OpenvinoTask>(
    task: T,
    limitMs: number,
  ): Promise<Extract<OpenvinoTaskResult, { kind: T['kind'] }>>
}

/** The child's output kept for an error message. */
const TAIL_BYTES = 2000
/** How long a child that has answered may take to exit before it is killed. */
const EXIT_GRACE_MS = 5000

/**
 * Spawns `node <childEntry>` per task (the compiled `doctor/openvino-child.js`, injected by the caller). Past
 * `limitMs` the child is killed with SIGKILL and the run rejects with what it printed last.
 */
export function isolatedRunner(childEntry: URL | string): IsolatedRunner {
  const entry = typeof childEntry === 'string' ? childEntry : fileURLToPath(childEntry)
  return {
    run(task, limitMs) {
      return new Promise((resolve, reject) => {
        const child = spawn(process.execPath, [entry], { stdio: ['pipe', 'pipe', 'pipe', 'pipe'] })
        let answer = ''
        let tail = ''
        const keep = (chunk: Buffer) => {
          tail = (tail + chunk.toString('utf8')).slice(-TAIL_BYTES)
        }
        child.stdout?.on('data', keep)
        child.stderr?.on('data', keep)
        const result = child.stdio[3] as NodeJS.ReadableStream
        let settled = false
        const finish = (fn: () => void) => {
          if (settled) return
          settled = true
          clearTimeout(timer)
          fn()
        }
        const timer = setTimeout(() => {
          child.kill('SIGKILL')
          finish(() =>
            reject(
              new Error(
                `did not finish within ${limitMs} ms and was killed${tail.trim() ? `; it printed: ${tail.trim()}` : ''}`,
              ),
            ),
          )
        }, limitMs)
        result.on('data', (chunk: Buffer) => {
          answer += chunk.toString('utf8')
          if (!answer.includes('\n')) return
          try {
            const parsed = JSON.parse(answer.trim())
            finish(() => resolve(parsed))
          } catch (err) {
            finish(() =>
              reject(new Error(`answered with something that is not JSON: ${(err as Error).message}`)),
            )
          }
          // A native runtime may hold the child at exit (a request that never settled): it has answered.
          setTimeout(() => child.kill('SIGKILL'), EXIT_GRACE_MS).unref()
        })
        child.on('error', (err) => finish(() => reject(err)))
        child.on('close', (code, signal) => {
          finish(() => {
            reject(
              new Error(
                `exited (${signal ?? `code ${code}`}) without an answer${tail.trim() ? `; it printed: ${tail.trim()}` : ''}`,
              ),
            )
          })
        })
        child.stdin?.end(JSON.stringify(task))
      })
    },
  }
}
