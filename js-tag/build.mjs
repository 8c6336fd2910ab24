// Builds dist/fiducia.min.js and checks the size budget.
//   node build.mjs           build, print the size
//   node build.mjs --check   fail if dist/ is not the build of src/ (the
//                            collector embeds the committed file) or the
//                            tag is over budget; writes nothing
import { execFileSync } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { bundle } from './scripts/bundle.mjs'

const BUDGET_BYTES = 3000
const OUT = new URL('dist/fiducia.min.js', import.meta.url).pathname

const code = await bundle()
if (process.argv.includes('--check')) {
  let committed = ''
  try {
    committed = readFileSync(OUT, 'utf8')
  } catch {}
  if (committed != code) {
    console.error(`dist/fiducia.min.js is not the build of src/: run \`npm run build\` and commit it`)
    process.exit(1)
  }
  console.log('dist/fiducia.min.js is the build of src/')
} else {
  mkdirSync(new URL('dist', import.meta.url).pathname, { recursive: true })
  writeFileSync(OUT, code)
}
// Measured as the budget is stated and as anyone checks it, `gzip -9` on the
// file: the header keeps the file name (15 bytes more than `gzip -9 -n`).
const gzipped = execFileSync('gzip', ['-9', '-c', OUT]).length
console.log(`dist/fiducia.min.js: ${Buffer.byteLength(code)} bytes, ${gzipped} bytes gzip -9 (budget ${BUDGET_BYTES})`)
if (gzipped > BUDGET_BYTES) {
  console.error(`the tag is ${gzipped - BUDGET_BYTES} bytes over its budget`)
  process.exit(1)
}
