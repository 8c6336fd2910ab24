// The privacy center in Debian's Chromium, opened from the demo site (its
// own origin) against the real collector, broker, enricher, sink and
// ClickHouse: it shows what the visitor allowed, a switch turned off keeps
// personalization out of the next events stored, a receipt downloads and
// verifies with the published key, the page passes axe-core with no
// serious violation and works by keyboard, the reminder shows a returning
// visitor their choice, the visitor downloads their data and erases it
// (after which the site's tag forgets the erased id), and a browser that
// knows only a visitor id sees nothing of that visitor.
import assert from 'node:assert/strict'
import { createPublicKey, verify } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { openBrowser } from './browser.js'
import { eventually } from './stack.js'
import { issued, run, stack, suite } from './suite.js'

const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8')

suite()

/** Accepts everything on the demo's home page; the visitor the collector issued. */
const acceptAll = async (page) => {
  await page.goto(`${stack.demo}/`)
  await page.click('#accept-all')
  return issued(page)
}

/** Opens the privacy center from the site's link; the center's page, loaded. */
const openCenter = async (b) => {
  const [center] = await Promise.all([b.context.waitForEvent('page'), b.page.click('#privacy')])
  await center.waitForSelector('input[name=measurement]:not([disabled])')
  return center
}

const switchState = (center) =>
  center.$$eval('input[role=switch]', (inputs) => Object.fromEntries(inputs.map((i) => [i.name, i.checked])))

/** The visitor's events in ClickHouse with their personalization grant, once `count` have landed. */
const stored = (visitor, count) =>
  eventually(
    () =>
      stack.query(
        `SELECT event_type, props, consent_personalization FROM fiducia.events FINAL
         WHERE visitor_id = '${visitor}' ORDER BY event_time, event_ms, seq`,
      ),
    (rows) => rows.length >= count,
    { what: `${count} events of visitor ${visitor} in ClickHouse` },
  )

/** Verifies a compact JWS against a JWKS, with nothing but Node's crypto. */
const verifies = (jwks, jws) => {
  const [header, payload, signature] = jws.split('.')
  const { kid, alg } = JSON.parse(Buffer.from(header, 'base64url'))
  const jwk = jwks.keys.find((k) => k.kid == kid)
  if (alg != 'EdDSA' || !jwk) return false
  const key = createPublicKey({ key: { kty: jwk.kty, crv: jwk.crv, x: jwk.x }, format: 'jwk' })
  return verify(null, Buffer.from(`${header}.${payload}`), key, Buffer.from(signature, 'base64url'))
}

run('the center opens from the site, shows the choice, and a switch turned off keeps personalization out of the next events', async (b, since) => {
  const { page } = b
  const visitor = await acceptAll(page)
  const center = await openCenter(b)
  assert.equal(new URL(center.url()).origin, stack.collector)
  assert.equal(new URL(center.url()).hash, '', 'the token does not stay in the address bar')
  assert.deepEqual(await switchState(center), { measurement: true, personalization: true, functional: true, contextual: false })
  assert.match(await center.textContent('#personalization-since'), /^on since .+ · through the site's own choices$/)
  assert.equal(await center.locator('#timeline li').count(), 1)

  // Off, by keyboard: the switch is focusable and Space toggles it.
  await center.focus('input[name=personalization]')
  await center.keyboard.press('Space')
  await center.waitForFunction(() => document.getElementById('status').textContent.startsWith('Saved'))
  assert.equal(await center.textContent('#status'), 'Saved: Personalization is now off.')
  assert.equal((await switchState(center)).personalization, false)
  await eventually(() => center.locator('#timeline li').count(), (n) => n == 2, { what: 'two records in the timeline' })
  assert.match(await center.textContent('#timeline li:first-child p'), / — You withdrew: Personalization$/)

  // The site's tab still holds its grant: what it sends next is stored without personalization.
  await page.bringToFront()
  await page.click('#custom')
  const rows = await eventually(
    () => stored(visitor.id, 1),
    (rows) => rows.some((r) => r.event_type == 'custom'),
    { what: 'the custom event after the change in ClickHouse' },
  )
  assert.equal(rows.find((r) => r.event_type == 'page_view').consent_personalization, 1, 'before the change')
  assert.equal(rows.find((r) => r.event_type == 'custom').consent_personalization, 0, 'after the change')

  // A receipt downloads and verifies offline with the published key.
  const download = center.waitForEvent('download')
  await center.locator('#timeline li:first-child button').click()
  const file = await download
  assert.match(file.suggestedFilename(), /^consent-receipt-[0-9a-f-]{36}\.json$/)
  const receipt = JSON.parse(readFileSync(await file.path(), 'utf8'))
  assert.equal(receipt.receipt.piiPrincipalId, visitor.id)
  assert.equal(receipt.receipt.fiducia.action, 'withdraw')
  const jwks = await (await fetch(`${stack.collector}/.well-known/jwks.json`)).json()
  assert.ok(verifies(jwks, receipt.jws), 'the receipt verifies with the published key')
  const [h, p, s] = receipt.jws.split('.')
  const changed = Buffer.from(p, 'base64url')
  changed[10] ^= 1
  assert.ok(!verifies(jwks, `${h}.${changed.toString('base64url')}.${s}`), 'a changed byte breaks it')

  // Nothing from anywhere else, and no script error.
  const foreign = b.requests.filter((r) => ![stack.demo, stack.collector, 'blob:'].some((o) => r.url.startsWith(o)))
  assert.deepEqual(foreign, [])
  const assets = b.requests.map((r) => new URL(r.url).pathname).filter((p) => p.startsWith('/privacy/'))
  // The reminder's module is loaded by a page that starts with an issued id: not this one.
  assert.deepEqual([...new Set(assets)].sort(), ['/privacy/page.css', '/privacy/page.js'])
  assert.deepEqual(b.errors, [])
  // The README's picture of the page (collector/privacy-center.png).
  if (process.env.FIDUCIA_SCREENSHOT) {
    await center.setViewportSize({ width: 640, height: 800 })
    await center.screenshot({ path: process.env.FIDUCIA_SCREENSHOT, fullPage: true })
  }
})

run('the center passes axe-core with no serious or critical violation, in English and Italian', async (b) => {
  await acceptAll(b.page)
  for (const lang of ['en', 'it']) {
    await b.page.evaluate((lang) => (document.documentElement.lang = lang), lang)
    const center = await openCenter(b)
    assert.equal(await center.getAttribute('html', 'lang'), lang)
    await center.evaluate(AXE)
    const { violations } = await center.evaluate(() => axe.run(document, { resultTypes: ['violations'] }))
    const serious = violations.filter((v) => v.impact == 'serious' || v.impact == 'critical')
    assert.deepEqual(serious.map((v) => `${v.id}: ${v.help}`), [], lang)
    // Each switch has an accessible name and a description.
    const names = await center.$$eval('input[role=switch]', (inputs) => inputs.map((i) => i.labels[0].textContent.trim()))
    assert.equal(names.length, 4)
    await center.close()
  }
})

run('a returning visitor is reminded of their choice, and can open the center or dismiss the reminder', async (b) => {
  const { page, context } = b
  await acceptAll(page)
  assert.equal(await page.locator('aside').count(), 0, 'not on the day of the choice')
  // Two days later.
  await page.clock.install({ time: Date.now() + 2 * 864e5 })
  await page.reload()
  const reminder = page.getByRole('complementary', { name: 'Your privacy choice' })
  await reminder.waitFor()
  assert.match(await reminder.textContent(), /^You allowed measurement, personalization and functional on (\d+ \w+|\w+ \d+)\./)
  const [center] = await Promise.all([context.waitForEvent('page'), reminder.getByRole('button', { name: 'Change' }).click()])
  await center.waitForSelector('input[name=measurement]:not([disabled])')
  await center.close()
  assert.equal(await page.locator('aside').count(), 0)
  // Shown once every 30 days: not on the next page.
  await page.reload()
  await page.waitForTimeout(1500)
  assert.equal(await page.locator('aside').count(), 0)
})

run('the visitor downloads their data, chooses a shorter retention and erases it; the tag then forgets the erased id', async (b) => {
  const { page } = b
  const visitor = await acceptAll(page)
  await page.click('#custom')
  const events = await stored(visitor.id, 2)
  const center = await openCenter(b)
  await center.waitForSelector('#export:not([disabled])')

  // The export: one JSON document with exactly the visitor's rows.
  const download = center.waitForEvent('download')
  await center.click('#export')
  const file = await download
  assert.match(file.suggestedFilename(), /^demo-export-[0-9a-f-]{36}\.json$/)
  const doc = JSON.parse(readFileSync(await file.path(), 'utf8'))
  assert.deepEqual([doc.format, doc.version, doc.site, doc.subject], ['fiducia.export', 1, 'demo', { visitor_id: visitor.id }])
  assert.ok(doc.tables.events.data.length >= events.length)
  assert.ok(doc.tables.events.data.every((row) => row.visitor_id == visitor.id))
  assert.ok(doc.consent.history.length >= 1 && doc.consent.history[0].receipt.startsWith(`/v1/privacy/demo/${visitor.id}/receipts/`))
  await center.waitForFunction(() => document.getElementById('status').textContent == 'Your data was downloaded.')

  // A shorter retention: offered only below the site's 13 months.
  const offered = await center.$$eval('input[name=months]', (inputs) => inputs.map((i) => i.value))
  assert.deepEqual(offered, ['0', '1', '6'])
  await center.check('input[name=months][value="6"]')
  await center.click('#retention-save')
  await center.waitForFunction(() => document.getElementById('status').textContent == 'Saved: your data will be kept 6 months.')

  // Erasure, after a confirmation in a modal dialog (Cancel changes nothing).
  await center.click('#erase')
  await center.waitForSelector('#confirm[open]')
  await center.click('#confirm-cancel')
  assert.equal(await center.locator('#confirm[open]').count(), 0)
  await center.click('#erase')
  await center.click('#confirm-erase')
  await center.waitForFunction(() => document.getElementById('status').textContent.startsWith('Your data is being erased'))
  assert.equal(await center.isDisabled('#erase'), true)
  assert.equal(await center.isDisabled('#export'), true)
  assert.match(await center.textContent('#timeline li:first-child p'), / — Your data was erased/)

  // The site's tab still holds the erased id: its next batch is dropped and
  // answered `Fiducia-Visitor: 0`, the tag forgets the id, and the batch
  // after that gets a new one, linked to nothing.
  await page.bringToFront()
  await page.click('#custom')
  await page.waitForFunction(() => localStorage.getItem('fiducia:v') == null, null, { timeout: 15_000 })
  await page.click('#custom')
  const fresh = await issued(page)
  assert.notEqual(fresh.id, visitor.id)
  const after = stack.events().filter((e) => e.type == 'custom')
  assert.ok(after.length >= 3)
})

run("a browser that knows only another visitor's id sees nothing of them", async (b) => {
  const victim = await acceptAll(b.page)
  const center = await openCenter(b)
  await center.close()

  const stranger = await openBrowser()
  try {
    const { page } = stranger
    // The id alone, planted where the tag keeps its own.
    await page.goto(`${stack.demo}/about.html`)
    await page.evaluate((id) => {
      localStorage.setItem('fiducia:c', JSON.stringify({ measurement: 'granted', source: 'api', updated_at: Date.now() }))
      localStorage.setItem('fiducia:v', JSON.stringify({ id, exp: Date.now() + 864e5 }))
    }, victim.id)
    await page.goto(`${stack.demo}/`)
    const own = await issued(page)
    assert.notEqual(own.id, victim.id, 'an id without its token is replaced by an issued one')
    // The center opened with no token shows nothing.
    const blank = await stranger.context.newPage()
    await blank.goto(`${stack.collector}/privacy`)
    await blank.waitForFunction(() => document.getElementById('status').textContent.includes('Nobody can see'))
    assert.deepEqual(Object.values(await switchState(blank)), [false, false, false, false])
    assert.equal(await blank.locator('#timeline li').count(), 0)
    // The API, asked for the victim with no token, a made-up one or the stranger's own.
    const forged = (claims) => `${Buffer.from('{"alg":"EdDSA","kid":"x","typ":"fiducia-visitor+jwt"}').toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.AAAA`
    for (const [token, status] of [
      [null, 401],
      [forged({ site: 'demo', sub: victim.id, aud: 'fiducia-privacy', iat: 0, exp: 4e9 }), 401],
      [own.t, 403],
    ]) {
      for (const path of ['consent', 'history']) {
        const answer = await blank.evaluate(
          async ([url, token]) => {
            const r = await fetch(url, { headers: token ? { authorization: 'Bearer ' + token } : {} })
            return { status: r.status, body: await r.json() }
          },
          [`${stack.collector}/v1/privacy/demo/${victim.id}/${path}`, token],
        )
        assert.equal(answer.status, status, `${path} with ${token ? 'a token' : 'no token'}`)
        assert.equal(answer.body.purposes, undefined)
        assert.equal(answer.body.records, undefined)
      }
    }
  } finally {
    await stranger.close()
  }
})
