// What every browser test file shares: the whole pipeline, started once
// per file by `suite()` (before its first test, stopped after its last;
// kept for a post-mortem when a test failed), and `run`, a test in a
// browser of its own (`browser`: openBrowser's options), closed even when
// it fails, given the time it started (for the proxy's log).
import { after, before, test } from 'node:test'
import { openBrowser } from './browser.js'
import { startStack } from './stack.js'

/** The file's stack, once `suite()` started it. */
export let stack
let failed = false

/** Starts the stack before the file's tests and stops it after them. */
export function suite() {
  before(async () => {
    stack = await startStack()
  })
  after(() => stack?.stop(failed))
}

export const run = (name, fn, browser = {}) =>
  test(name, { timeout: 180_000 }, async () => {
    const wasFailed = failed
    failed = true
    const b = await openBrowser(browser)
    try {
      await fn(b, Date.now())
    } finally {
      await b.close()
    }
    failed = wasFailed
  })

/** The visitor id record the collector issued ({id, t, exp}), once the tag has it (its first batch answered). */
export const issued = async (page) => {
  await page.waitForFunction(() => JSON.parse(localStorage.getItem('fiducia:v'))?.t, null, { timeout: 15_000 })
  return page.evaluate(() => JSON.parse(localStorage.getItem('fiducia:v')))
}
