// Delivery: batches, ids and sequence numbers, retries with backoff and
// Retry-After, the persisted queue and its bound, sendBeacon on the way
// out, and the visitor id's lifetime.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { DAY_MS, ENDPOINT, granted, open, START, stub } from './harness.js'

const ids = (p) => p.events().map((e) => e.id)

test('events are batched for a second and posted as text/plain JSON with keepalive', async () => {
  const p = granted()
  p.call('track', 'a')
  p.call('track', 'b')
  await p.tick(999)
  assert.equal(p.requests.length, 0)
  await p.tick(1)
  assert.equal(p.requests.length, 1)
  const [r] = p.requests
  assert.equal(r.url, ENDPOINT)
  assert.equal(r.init.method, 'POST')
  assert.equal(r.init.keepalive, true)
  assert.equal(typeof r.raw, 'string', 'a string body is sent as text/plain: no preflight')
  assert.equal(r.init.headers, undefined)
  assert.equal(r.body.site, 'demo')
  assert.equal(r.body.sent_at, START + 1000)
  assert.deepEqual(r.body.events.map((e) => [e.type, e.seq]), [['consent', 2], ['page_view', 1], ['custom', 3], ['custom', 4]])
  for (const e of r.body.events) assert.match(e.id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
  await p.close()
})

test('a body too large for keepalive is sent without it', async () => {
  const p = granted()
  await p.tick(1000)
  const big = {}
  for (let i = 0; i < 20; i++) big['k' + i] = 'x'.repeat(400)
  for (let i = 0; i < 10; i++) p.call('track', 'big', big)
  await p.tick(1000)
  const r = p.requests.at(-1)
  assert.ok(r.raw.length > 64_000)
  assert.equal(r.init.keepalive, false)
  await p.close()
})

test('a batch holds at most 20 events, and events of another page context go in another batch', async () => {
  const p = granted()
  await p.tick(1000)
  for (let i = 0; i < 25; i++) p.call('track', 'e' + i)
  p.w.history.pushState({}, '', '/p/2')
  await p.tick(0)
  p.call('track', 'on p2')
  await p.tick(1000)
  const sizes = p.requests.slice(1).map((r) => [r.body.events.length, r.body.context.url])
  assert.deepEqual(sizes, [
    [20, 'https://shop.example/p/1'],
    [5, 'https://shop.example/p/1'],
    [2, 'https://shop.example/p/2'],
  ])
  await p.close()
})

test('track: props are a flat object of short strings, numbers and booleans', async () => {
  const p = granted()
  p.call('track', 'signup', { plan: 'pro', price: 9.5, trial: true, nested: { a: 1 }, list: [1], fn() {}, n: null, long: 'x'.repeat(1000) })
  const many = {}
  for (let i = 0; i < 60; i++) many['k' + i] = i
  p.call('track', 'many', many)
  await p.tick(1000)
  const [e, m] = p.events().filter((e) => e.type == 'custom')
  assert.deepEqual(e.props, { plan: 'pro', price: 9.5, trial: true, long: 'x'.repeat(400), name: 'signup' })
  assert.equal(Object.keys(m.props).length, 50, 'the collector takes at most 50')
  assert.equal(m.props.name, 'many')
  await p.close()
})

test('calls queued before the tag loaded run in order', async () => {
  const p = open({
    before: (w) =>
      stub(w, ['track', 'early'], ['consent', { measurement: 'granted' }], ['track', 'granted'], ['no-such-command']),
  })
  await p.tick(1000)
  // `early` came before the decision: discarded.
  assert.deepEqual(
    p.events().map((e) => e.props.name || e.type),
    ['consent', 'page_view', 'granted'],
  )
  assert.equal(typeof p.w.fiducia, 'function')
  await p.close()
})

test('400, 403 and 413 drop the batch: retrying cannot help', async () => {
  for (const status of [400, 403, 413]) {
    const p = granted()
    p.answers.push({ status })
    await p.tick(1000)
    await p.tick(600_000)
    assert.equal(p.requests.length, 1, String(status))
    assert.equal(p.storage()['fiducia:q'], undefined)
    await p.close()
  }
})

test('503 is retried no sooner than Retry-After, with the same event ids', async () => {
  const p = granted()
  p.answers.push({ status: 503, retryAfter: '5' })
  await p.tick(1000)
  assert.equal(p.requests.length, 1)
  await p.tick(4999)
  assert.equal(p.requests.length, 1)
  await p.tick(1)
  assert.equal(p.requests.length, 2)
  assert.deepEqual(p.requests[1].body.events.map((e) => e.id), p.requests[0].body.events.map((e) => e.id))
  assert.equal(p.requests[1].body.sent_at, START + 6000)
  await p.close()
})

test('429 and network errors back off exponentially, then the queue drains', async () => {
  const p = granted()
  p.answers.push({ status: 429, retryAfter: '1' }, 'network', 'network', 'network', { status: 500 })
  await p.tick(1000)
  const times = [p.now]
  for (let i = 0; i < 5; i++) {
    await p.tick(p.nextTimer())
    times.push(p.now)
  }
  const gaps = times.slice(1).map((t, i) => t - times[i])
  // Retry-After 1 s, then 2 s, 4 s, 8 s and 16 s halves-to-wholes with jitter.
  assert.ok(gaps[0] >= 1000 && gaps[0] <= 1000, `${gaps}`)
  for (const [i, lo] of [[1, 1000], [2, 2000], [3, 4000], [4, 8000]]) {
    assert.ok(gaps[i] >= lo && gaps[i] <= 2 * lo, `gap ${i}: ${gaps}`)
  }
  assert.equal(p.requests.length, 6)
  assert.equal(p.nextTimer(), undefined, 'delivered: nothing left to retry')
  p.call('track', 'after')
  await p.tick(1000)
  assert.equal(p.requests.length, 7, 'back to normal batching')
  await p.close()
})

test('the queue survives a reload during an outage and every event arrives', async () => {
  const first = granted()
  first.answers.push('network', 'network', 'network', 'network', 'network')
  first.call('track', 'a')
  await first.tick(1000)
  first.call('track', 'b')
  await first.tick(5000)
  first.unload()
  const storage = first.storage()
  const queued = JSON.parse(storage['fiducia:q']).map((i) => i[1].id)
  assert.equal(queued.length, 4)
  assert.deepEqual(new Set(ids(first)), new Set(queued), 'tried, failed, kept')
  await first.close()

  const next = open({ url: 'https://shop.example/p/2', storage, now: START + 60_000 })
  await next.tick(1000)
  const delivered = ids(next)
  for (const id of queued) assert.ok(delivered.includes(id), 'the queued event is sent again with its id')
  assert.equal(new Set(delivered).size, delivered.length, 'no event twice')
  assert.deepEqual(next.types().sort(), ['consent', 'custom', 'custom', 'page_view', 'page_view'])
  // The restored events keep their first page's envelope.
  const a = next.events().find((e) => e.props.name == 'a')
  assert.equal(a.envelope.context.url, 'https://shop.example/p/1')
  assert.equal(next.storage()['fiducia:q'], undefined, 'delivered: nothing left stored')
  await next.close()
})

test('the queue is bounded: the oldest events go first', async () => {
  const p = granted()
  p.answers.push(...Array(10).fill({ status: 503, retryAfter: '600' }))
  await p.tick(1000)
  for (let i = 0; i < 250; i++) p.call('track', 'e' + i)
  const stored = JSON.parse(p.storage()['fiducia:q'])
  assert.equal(stored.length, 200)
  assert.equal(stored[0][1].props.name, 'e50')
  assert.equal(stored[199][1].props.name, 'e249')
  await p.close()
})

test('before a decision only the current page view waits in memory', async () => {
  const p = open()
  for (let i = 0; i < 300; i++) p.call('track', 'e' + i)
  p.w.history.pushState({}, '', '/p/2')
  await p.tick(0)
  p.w.history.pushState({}, '', '/p/3')
  await p.tick(0)
  p.call('consent', { measurement: true })
  await p.tick(20_000)
  assert.deepEqual(
    p.events().map((e) => [e.type, e.envelope.context.url]),
    [
      ['consent', 'https://shop.example/p/3'],
      ['page_view', 'https://shop.example/p/3'],
    ],
  )
  await p.close()
})

test('a hidden page sends what is queued at once, unless backing off', async () => {
  const p = granted()
  await p.tick(1000)
  p.call('track', 'now')
  p.hide()
  await p.tick(0)
  assert.equal(p.requests.length, 2)
  assert.equal(p.requests[1].via, 'fetch')
  assert.deepEqual(p.requests[1].body.events.map((e) => e.props.name), ['now'])

  p.answers.push({ status: 503, retryAfter: '30' })
  p.call('track', 'refused')
  await p.tick(1000)
  p.call('track', 'waits')
  p.hide()
  await p.tick(0)
  assert.equal(p.requests.length, 3, 'the backoff holds')
  await p.close()
})

test('unloading hands the queue to sendBeacon and keeps it for the next page', async () => {
  const p = granted()
  await p.tick(1000)
  for (let i = 0; i < 25; i++) p.call('track', 'e' + i)
  p.unload()
  const beacons = p.requests.filter((r) => r.via == 'beacon')
  assert.deepEqual(beacons.map((b) => b.body.events.length), [20, 5], 'in batches')
  for (const b of beacons) {
    assert.equal(b.url, ENDPOINT)
    assert.equal(typeof b.raw, 'string', 'text/plain')
  }
  // The beacon's fate is unknown: the next page sends the same events again.
  const storage = p.storage()
  assert.equal(JSON.parse(storage['fiducia:q']).length, 25)
  await p.close()
  const next = open({ storage, now: START + 5000 })
  await next.tick(1000)
  const again = ids(next)
  for (const b of beacons) for (const e of b.body.events) assert.ok(again.includes(e.id))
  await next.close()
})

test('events of the moment the collector went down survive an unload before any failure', async () => {
  const p = granted()
  await p.tick(1000)
  p.answers.push('network', 'network')
  p.call('track', 'just before')
  p.unload() // no failed attempt yet: the beacon goes to a collector that is down
  const storage = p.storage()
  await p.close()
  const next = open({ storage, now: START + 5000 })
  await next.tick(1000)
  assert.ok(next.events().some((e) => e.props.name == 'just before'))
  await next.close()
})

test('the visitor id is the collector\'s, kept until its token expires and not renewed by visits', async () => {
  const first = granted()
  await first.tick(1000)
  assert.equal(first.requests[0].body.visitor.issue, true)
  const storage = first.storage()
  const v = JSON.parse(storage['fiducia:v'])
  assert.deepEqual(v, first.issued[0])
  assert.ok(v.exp >= START + 395 * DAY_MS)
  await first.close()

  const later = granted({ storage, now: START + 389 * DAY_MS })
  await later.tick(1000)
  assert.deepEqual(later.events()[0].envelope.visitor, { id: v.id, issue: true, user_id: null })
  assert.equal(JSON.parse(later.storage()['fiducia:v']).exp, v.exp, 'not renewed')
  await later.close()

  // A collector configured with 10-day tokens: the id goes with its token.
  const short = { ...storage, 'fiducia:v': JSON.stringify({ ...v, exp: START + 10 * DAY_MS }) }
  const expired = granted({ storage: short, now: START + 10 * DAY_MS + 1 })
  await expired.tick(1000)
  assert.equal(expired.events()[0].envelope.visitor.id, undefined, 'an expired id is not sent')
  assert.equal(JSON.parse(expired.storage()['fiducia:v']).id, expired.issued[0].id, 'a new one is issued')
  await expired.close()
})

test('an id the tag minted itself (before ids were issued) is dropped for an issued one', async () => {
  const own = JSON.stringify({ id: '0193a1f0-7c2e-7d3a-9f10-2b3c4d5e6f70', exp: START + 100 * DAY_MS })
  const p = granted({ storage: { 'fiducia:v': own } })
  await p.tick(1000)
  assert.deepEqual(p.events()[0].envelope.visitor, { issue: true, user_id: null })
  assert.deepEqual(JSON.parse(p.storage()['fiducia:v']), p.issued[0])
  await p.close()
})

test('no visitor id is asked for or kept without measurement', async () => {
  const p = open({ data: { purposes: 'functional' } })
  p.call('consent', { functional: true })
  await p.tick(1000)
  assert.equal(p.requests[0].body.consent.measurement, 'denied')
  assert.equal(p.storage()['fiducia:v'], undefined)
  await p.close()
})

test('reset forgets the user id and the visitor id', async () => {
  const p = open()
  p.call('consent', { measurement: true, personalization: true })
  p.call('identify', 'user-1')
  await p.tick(1000)
  p.call('track', 'x')
  await p.tick(1000)
  const before = p.events().at(-1).envelope.visitor
  assert.deepEqual([before.id, before.user_id], [p.issued[0].id, 'user-1'])
  p.call('reset')
  p.call('track', 'y')
  await p.tick(1000)
  const after = p.events().at(-1).envelope.visitor
  assert.deepEqual(after, { issue: true, user_id: null }, 'a new id is asked for')
  await p.close()
})

test('an erased visitor id is forgotten when the collector says so, and a new, unlinked one is issued', async () => {
  const p = granted()
  await p.tick(1000)
  const erased = p.issued[0]
  // Erased in the privacy center: the collector drops the next batch and
  // answers `Fiducia-Visitor: 0`.
  p.answers.push({ status: 204, visitor: '0' })
  p.call('track', 'after erasure')
  await p.tick(1000)
  assert.equal(p.events().at(-1).envelope.visitor.id, erased.id)
  assert.equal(p.storage()['fiducia:v'], undefined, 'the erased id is gone')
  p.call('track', 'later')
  await p.tick(1000)
  const later = p.events().at(-1).envelope.visitor
  assert.equal(later.id, undefined, 'never sent again')
  assert.deepEqual(JSON.parse(p.storage()['fiducia:v']), p.issued[1], 'a new id is issued')
  assert.notEqual(p.issued[1].id, erased.id)
  await p.close()
})

test("fiducia('privacy') opens the privacy center in the site's language with the visitor's token in the fragment", async () => {
  const p = granted({ before: (w) => (w.document.documentElement.lang = 'it') })
  const opened = []
  p.w.open = (url) => opened.push(url)
  await p.tick(1000)
  p.call('privacy')
  assert.deepEqual(opened, [`https://collect.example/privacy?lang=it#${p.issued[0].t}`])
  await p.close()
})

test('events of several pages before the first answer all get the one id the collector issued', async () => {
  const p = open({ url: 'https://shop.example/app/' })
  p.call('consent', { measurement: true })
  // An SPA moves on twice before the first batch was sent: three page contexts.
  for (const path of ['/app/a', '/app/b']) {
    p.w.history.pushState(null, '', path)
    await p.tick(10)
  }
  await p.tick(5000)
  assert.equal(p.requests.length, 3, 'one batch per page context')
  assert.equal(p.issued.length, 1, 'one id issued')
  assert.deepEqual(
    p.requests.map((r) => r.body.visitor.id),
    [undefined, 'v1', 'v1'],
    'the batches stamped before the answer are sent with the issued id',
  )
  await p.close()
})
