// The tag in Debian's Chromium on the demo site (its own origin), against
// the real collector, broker, enricher, sink and ClickHouse: what visitors
// do lands in ClickHouse with the right fields, exactly once; without
// consent nothing leaves the page and nothing is stored; a collector outage
// across a reload loses nothing.
import assert from 'node:assert/strict'
import { eventually } from './stack.js'
import { issued, run, stack, suite } from './suite.js'

suite()

const visitorId = async (page) => (await issued(page)).id

/** Analytics events: `consent` events become consent records, not events. */
const analytics = (events) => events.filter((e) => e.type != 'consent')

/** The visitor's consent records in ClickHouse `consent_log`, once `count` have landed. */
const recorded = (visitor, count) =>
  eventually(
    () =>
      stack.query(
        `SELECT action, source, measurement, personalization
         FROM fiducia.consent_log FINAL WHERE subject = '${visitor}' ORDER BY server_time, server_ms`,
      ),
    (rows) => rows.length >= count,
    { what: `${count} consent records of visitor ${visitor} in ClickHouse` },
  )

/** The visitor's events in ClickHouse, once `count` have landed. */
const landed = (visitor, count) =>
  eventually(
    () =>
      stack.query(
        `SELECT toString(event_id) AS id, event_type, url, path, referrer, title, props, seq, visitor_id,
                consent_measurement, decision
         FROM fiducia.events FINAL WHERE visitor_id = '${visitor}' ORDER BY event_time, event_ms, seq`,
      ),
    (rows) => rows.length >= count,
    { what: `${count} events of visitor ${visitor} in ClickHouse` },
  )

run('page view, click, custom event, scroll, download, form submit and outbound link land in ClickHouse', async (b, since) => {
  const { page } = b
  const home = `${stack.demo}/`
  await page.goto(home)
  await page.click('#accept-measurement')
  await page.click('#buy')
  await page.click('#custom')
  await page.evaluate(() => scrollTo(0, document.documentElement.scrollHeight))
  await page.waitForFunction(() => scrollY > 0)
  const download = page.waitForEvent('download')
  await page.click('#report')
  await download
  const visitor = await visitorId(page)
  await Promise.all([page.waitForURL(`${stack.demo}/thanks.html`), page.click('#subscribe')])
  await page.click('#home')
  await page.waitForURL(home)
  // The partner's site is out of reach here: the page's unload is what matters.
  await page.click('#partner')
  const sent = await eventually(
    () => stack.events(since),
    (events) => events.some((e) => e.type == 'outbound_link'),
    { what: 'the outbound click sent' },
  )
  const sentIds = [...new Set(analytics(sent).map((e) => e.id))]
  const rows = await landed(visitor, sentIds.length)

  assert.deepEqual(b.errors, [])
  // Exactly once: every event the tag sent is one row, and nothing else is.
  assert.deepEqual(rows.map((r) => r.id).sort(), sentIds.sort())
  for (const r of rows) {
    assert.equal(r.consent_measurement, 1)
    assert.equal(r.decision, 'keep')
  }
  const of = (type) => rows.filter((r) => r.event_type == type)
  const props = (r) => JSON.parse(r.props)

  assert.deepEqual(
    of('page_view').map((r) => [r.path, r.title, r.referrer]),
    [
      ['/', 'Fiducia demo shop', ''],
      ['/thanks.html', 'Thanks for subscribing', home],
      ['/', 'Fiducia demo shop', `${stack.demo}/thanks.html`],
    ],
  )
  assert.equal(of('page_view')[0].url, home)
  assert.ok(
    of('click').some((r) => props(r).el == 'button#buy.cta' && props(r).text == 'Buy now'),
    JSON.stringify(of('click')),
  )
  assert.deepEqual(of('custom').map(props), [{ color: 'red', size: 42, name: 'demo_button' }])
  assert.deepEqual(of('scroll').map((r) => props(r).depth), [25, 50, 75, 100])
  assert.deepEqual(of('download').map((r) => props(r).url), [`${stack.demo}/files/report.pdf`])
  assert.deepEqual(of('form_submit').map(props), [{ id: 'newsletter', name: 'newsletter', action: '/thanks.html' }])
  assert.deepEqual(of('outbound_link').map((r) => props(r).url), ['https://partner.example/deals'])
  assert.equal(of('consent').length, 0, 'consent events are records, not events')
  const records = await recorded(visitor, 1)
  assert.deepEqual(
    records.map((r) => [r.action, r.source, Number(r.measurement)]),
    [['grant', 'tag:api', 1]],
  )
  assert.ok(!JSON.stringify(rows).includes('someone@example.com'), 'no form field value anywhere')
})

run('single-page app navigation: each view is a page view with its URL, title and referrer', async (b) => {
  const { page } = b
  const app = `${stack.demo}/app/`
  await page.goto(app)
  await page.waitForFunction(() => typeof window.fiducia == 'function')
  await page.evaluate(() => window.fiducia('consent', { measurement: true }))
  await page.click('text=Settings')
  await page.waitForFunction(() => document.title == 'App: settings')
  await page.click('text=Profile')
  await page.waitForFunction(() => document.title == 'App: profile')
  await page.goBack()
  await page.waitForFunction(() => document.title == 'App: settings')
  const visitor = await visitorId(page)
  await page.waitForTimeout(1500)
  const rows = await landed(visitor, 5)
  // The enricher normalises paths (no trailing slash) in URLs and referrers too.
  const appRoot = `${stack.demo}/app`
  assert.deepEqual(
    rows.filter((r) => r.event_type == 'page_view').map((r) => [r.url, r.path, r.title, r.referrer]),
    [
      [appRoot, '/app', 'App: home', ''],
      [`${app}settings`, '/app/settings', 'App: settings', appRoot],
      [`${app}profile?tab=orders`, '/app/profile', 'App: profile', `${app}settings`],
      [`${app}settings`, '/app/settings', 'App: settings', `${app}profile?tab=orders`],
    ],
  )
})

run('before the decision only the page view waits, and no fragment leaves the page', async (b, since) => {
  const { page } = b
  await page.goto(`${stack.demo}/#access_token=abc`)
  await page.waitForFunction(() => typeof window.fiducia == 'function' && !window.fiducia.q)
  await page.click('#buy') // before the decision: discarded
  await page.click('#accept-measurement')
  const visitor = await visitorId(page)
  await page.click('#custom')
  const rows = await landed(visitor, 3)
  await page.waitForTimeout(1500)
  const sent = analytics(stack.events(since))
  assert.deepEqual(sent.map((e) => e.type).sort(), ['click', 'custom', 'page_view'])
  assert.ok(!sent.some((e) => e.props.el == 'button#buy.cta'), 'the click before the decision is not sent')
  const bodies = stack.received(since).filter((r) => r.method == 'POST').map((r) => r.body)
  assert.ok(bodies.length > 0 && !bodies.join().includes('access_token'), 'the fragment is not sent')
  assert.deepEqual(rows.map((r) => r.event_type).sort(), ['click', 'custom', 'page_view'])
  assert.equal(rows.find((r) => r.event_type == 'page_view').url, `${stack.demo}/`)
  assert.deepEqual(b.errors, [])
})

run('without consent no event and nothing identifying leaves the page, and nothing is stored', async (b, since) => {
  const { page, context } = b
  const nothingStored = async () => {
    assert.deepEqual(await page.evaluate(() => [localStorage.length, sessionStorage.length, document.cookie]), [0, 0, ''])
    assert.deepEqual(await context.cookies(), [])
  }
  const browse = async () => {
    await page.click('#buy')
    await page.click('#custom')
    await page.evaluate(() => scrollTo(0, document.documentElement.scrollHeight))
    await page.waitForTimeout(2500) // longer than the tag's batching delay
  }
  await page.goto(`${stack.demo}/`)
  await page.waitForFunction(() => typeof window.fiducia == 'function' && !window.fiducia.q)
  await browse() // before any decision
  await nothingStored()
  await page.click('#refuse')
  await browse()
  await nothingStored()
  await Promise.all([page.waitForURL(`${stack.demo}/about.html`), page.click('#about')]) // pagehide: no beacon either
  await page.waitForTimeout(1500)
  await nothingStored()
  await page.goto('about:blank') // the last unload
  await page.waitForTimeout(1000)

  // The home page asks for its contextual suggestions ("Popular here"): the
  // page's path and referrer, nothing about the visitor.
  const suggestions = '/v1/profile/demo?path=%2F&referrer='
  const collector = [`${stack.collector}/tag.js`, `${stack.collector}${suggestions}`]
  const leaving = b.requests.filter((r) => !r.url.startsWith(stack.demo) && !collector.includes(r.url))
  assert.deepEqual(leaving, [], 'the browser fetched only the demo pages, the tag and the contextual suggestions')
  const received = stack.received(since)
  const what = received.map((r) => `${r.method} ${r.path}`)
  assert.ok(what.includes('GET /tag.js') && what.every((r) => r == 'GET /tag.js' || r == `GET ${suggestions}`), `the collector got ${what}`)
  for (const r of received) {
    assert.equal(r.headers.authorization, undefined, `${r.path}: no token`)
    assert.equal(r.headers.cookie, undefined, `${r.path}: no cookie`)
  }
  assert.deepEqual(b.errors, [])
})

run('withdrawal sends one consent event and deletes what the tag stored', async (b, since) => {
  const { page } = b
  await page.goto(`${stack.demo}/`)
  await page.click('#accept-measurement')
  const visitor = await visitorId(page)
  // The page view that waited for the decision (the click that made it was
  // captured before it, and is discarded).
  await landed(visitor, 1)
  await page.click('#withdraw')
  await page.waitForTimeout(1500)
  assert.deepEqual(await page.evaluate(() => Object.keys(localStorage)), [])
  const posts = () => stack.received(since).filter((r) => r.method == 'POST')
  const sent = posts()
  const last = JSON.parse(sent.at(-1).body)
  assert.deepEqual(last.events.map((e) => e.type), ['consent'])
  assert.equal(last.consent.measurement, 'denied')
  assert.equal(last.visitor.id, visitor, 'the withdrawal names the visitor it is about')
  await page.click('#custom')
  await page.goto('about:blank')
  await page.waitForTimeout(1000)
  assert.equal(posts().length, sent.length, 'nothing after the withdrawal')
  const records = await recorded(visitor, 2)
  assert.deepEqual(
    records.map((r) => [r.action, Number(r.measurement)]),
    [['grant', 1], ['withdraw', 0]],
  )
})

run('collector stopped, events queued, page reloaded, collector started: every event arrives once', async (b, since) => {
  const { page } = b
  await page.goto(`${stack.demo}/`)
  await page.click('#accept-measurement')
  const visitor = await visitorId(page)
  // The page view that waited for the decision (the click that made it was
  // captured before it, and is discarded).
  await landed(visitor, 1)

  stack.script('down', 'collector')
  await page.click('#custom')
  await page.click('#buy')
  const queued = () => page.evaluate(() => JSON.parse(localStorage.getItem('fiducia:q') || '[]').map((i) => i[1].id))
  const before = await eventually(queued, (ids) => ids.length >= 3, { what: 'events queued in localStorage' })
  // The tag comes from the browser's cache: the collector that serves it is down.
  await page.reload()
  await page.waitForFunction(() => typeof window.fiducia == 'function' && !window.fiducia.q)
  const after = await eventually(queued, (ids) => ids.length > before.length, { what: "the reloaded page's events queued" })
  for (const id of before) assert.ok(after.includes(id), 'the queue survived the reload')

  stack.script('up')
  const ids = await eventually(queued, (ids) => ids.length == 0, { timeoutMs: 60_000, what: 'the queue drained' })
  assert.deepEqual(ids, [])
  const sent = new Set(analytics(stack.events(since)).map((e) => e.id))
  const rows = await landed(visitor, sent.size)
  const landedIds = rows.map((r) => r.id)
  for (const id of after) assert.ok(landedIds.includes(id), `queued event ${id} landed`)
  assert.equal(new Set(landedIds).size, landedIds.length)
  assert.deepEqual([...landedIds].sort(), [...sent].sort(), 'every event sent is one row')
  const [{ rows: all, ids: unique }] = await stack.query(
    `SELECT count() AS rows, uniqExact(event_id) AS ids FROM fiducia.events FINAL WHERE visitor_id = '${visitor}'`,
  )
  assert.equal(Number(all), Number(unique))
})
