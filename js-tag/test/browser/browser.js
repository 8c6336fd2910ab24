// Debian's Chromium driven by playwright-core (never a downloaded browser),
// each test in a browser of its own with a fresh profile, and a log of
// every request its pages make. No request routing: Playwright turns the
// HTTP cache off when it routes, and the outage test needs the cached tag.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium } from 'playwright-core'

const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]

/** A browser; `userAgent`: another than headless Chromium's own (which the enricher takes for a bot). */
export async function openBrowser({ userAgent } = {}) {
  const profile = mkdtempSync(join(tmpdir(), 'fiducia-chromium-'))
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.FIDUCIA_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ARGS,
    acceptDownloads: true,
    userAgent,
  })
  const requests = []
  context.on('request', (r) => requests.push({ method: r.method(), url: r.url(), body: r.postData(), type: r.resourceType() }))
  const page = context.pages()[0] || (await context.newPage())
  const errors = []
  page.on('pageerror', (e) => errors.push(e.message))
  return {
    context,
    page,
    requests,
    errors,
    async close() {
      await context.close()
      rmSync(profile, { recursive: true, force: true })
    },
  }
}
