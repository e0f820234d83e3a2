// `npu-pool` entry point: the only file of the package that touches the process (argv, exit code).
import { runCli } from './cli/run-cli.js'

const code = await runCli(process.argv.slice(2), {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  env: process.env,
  isTTY: process.stdout.isTTY === true,
})
process.exitCode = code
