// The consent gate: nothing leaves the page and nothing is stored before a
// decision; the decision sends or discards what waited; changes are events;
// withdrawal deletes at once. And the adapters: TCF, Consent Mode, GPC.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { ALL, DAY_MS, open, START } from './harness.js'

const NONE = { measurement: false, personalization: false, functional: false }
// TC strings from collector/reference/consent.md section 2.10 (LastUpdated 2026-01-15).
const TC_ACCEPT_ALL = 'CQeEcwAQeEcwAEsAHBENAHEsAP_gAAAAAAYgAGMUQAAAAAAA.IAGMUQAA.f_wAAAAAAAAA'
const TC_MEASUREMENT = 'CQeEcwAQeEcwAEsAHBENAHEgAIOAAAAAAAYgAAAAAAAA.IAGMUQAA.cDAAAAAAAAAA'

const noTrace = (p) => {
  assert.deepEqual(p.requests, [], 'nothing sent')
  assert.deepEqual(p.storage(), {}, 'nothing stored')
  assert.equal(p.w.document.cookie, '', 'no cookie')
}

test('before a decision nothing is sent or stored, whatever happens on the page', async () => {
  const p = open({ html: '<a id="buy" href="/cart">Buy</a><form id="f"><input name="q"></form>' })
  p.call('track', 'signup', { plan: 'pro' })
  p.call('identify', 'user-1')
  p.w.document.getElementById('buy').click()
  p.w.history.pushState({}, '', '/p/2')
  await p.tick(60_000)
  p.unload()
  await p.tick(60_000)
  noTrace(p)
  await p.close()
})

test('a granting decision sends the page view that waited, with the consent snapshot', async () => {
  const p = open()
  await p.tick(5000)
  p.call('consent', { measurement: true }, { notice_version: '2026-01' })
  await p.tick(1000)
  const events = p.events()
  assert.deepEqual(events.map((e) => e.type).sort(), ['consent', 'page_view'])
  for (const e of events) {
    assert.deepEqual(e.envelope.consent, {
      measurement: 'granted',
      personalization: 'denied',
      functional: 'denied',
      source: 'api',
      notice_version: '2026-01',
      updated_at: START + 5000,
      gpc: false,
      dnt: false,
    })
    // The tag has no visitor id: it asks the collector for one.
    assert.deepEqual(e.envelope.visitor, { issue: true, user_id: null })
  }
  const stored = JSON.parse(p.storage()['fiducia:v'])
  assert.deepEqual(stored, p.issued[0], 'the issued id and token are kept')
  // Events keep the time they happened, not the time of the decision.
  assert.equal(events.find((e) => e.type == 'page_view').ts, START)
  await p.close()
})

test('of the events captured before the decision only the current page view is sent once granted', async () => {
  const p = open({ html: '<a id="buy" href="/cart">Buy</a><form id="f"></form>' })
  p.call('track', 'signup', { plan: 'pro' })
  p.w.document.getElementById('buy').click()
  p.w.document.getElementById('f').dispatchEvent(new p.w.Event('submit', { bubbles: true }))
  p.fire('mousemove')
  await p.tick(3000)
  p.fire('mousemove')
  // An SPA's next page: its view replaces the first page's, whose engaged time goes too.
  p.w.history.pushState({}, '', '/p/2')
  await p.tick(0)
  p.call('track', 'on p2')
  p.call('identify', 'user-1')
  await p.tick(5000)
  p.call('consent', ALL)
  p.call('track', 'after')
  await p.tick(1000)
  assert.deepEqual(
    p.events().map((e) => [e.type, e.props.name, e.envelope.context.url]),
    [
      ['consent', undefined, 'https://shop.example/p/2'],
      ['page_view', undefined, 'https://shop.example/p/2'],
      ['custom', 'after', 'https://shop.example/p/2'],
    ],
  )
  const pv = p.events()[1]
  assert.equal(pv.ts, START + 3000, 'the page view keeps the time it happened')
  assert.equal(pv.envelope.context.referrer, 'https://shop.example/p/1')
  // The user id set before the decision is kept (personalization granted),
  // but the identify event captured before it is not sent.
  assert.equal(pv.envelope.visitor.user_id, 'user-1')
  await p.close()
})

test('a refusal discards what waited and leaves no trace', async () => {
  const p = open()
  p.call('track', 'signup')
  p.call('consent', NONE)
  p.call('track', 'later')
  await p.tick(10_000)
  p.unload()
  noTrace(p)
  await p.close()
})

test('granting only what the site does not require sends the consent event alone', async () => {
  const p = open()
  p.call('consent', { functional: true })
  await p.tick(1000)
  assert.deepEqual(p.types(), ['consent'])
  const e = p.events()[0]
  assert.equal(e.envelope.consent.functional, 'granted')
  assert.equal(e.envelope.visitor.id, undefined, 'no visitor id without measurement')
  assert.deepEqual(Object.keys(p.storage()), ['fiducia:c'], 'only the choice is stored')
  await p.close()
})

test('data-purposes lists what must be granted before events are sent', async () => {
  const p = open({ data: { purposes: 'measurement personalization' } })
  p.call('consent', { measurement: true })
  p.call('track', 'x')
  await p.tick(1000)
  assert.deepEqual(p.types(), ['consent'])
  p.call('consent', { measurement: true, personalization: true })
  p.call('track', 'y')
  await p.tick(1000)
  assert.deepEqual(p.types(), ['consent', 'consent', 'custom'])
  assert.equal(p.events()[2].props.name, 'y', 'events of the refused time are gone')
  await p.close()
})

test('the same choice again is not a new consent event', async () => {
  const p = open()
  p.call('consent', ALL)
  await p.tick(1000)
  p.call('consent', ALL)
  await p.tick(1000)
  assert.equal(p.types().filter((t) => t == 'consent').length, 1)
  await p.close()
})

// Everything granted, then the collector goes down and what `enqueue` does
// (by default one custom event) is queued and persisted behind a 503.
const grantedWithAQueuedEvent = async (enqueue = (p) => p.call('track', 'queued')) => {
  const p = open()
  p.call('consent', ALL)
  await p.tick(1000)
  const { id } = p.issued[0]
  p.answers.push({ status: 503, retryAfter: '60' })
  enqueue(p)
  await p.tick(1000)
  return { p, id }
}

test('withdrawal: one consent event with the old visitor id, then the id, queue and choice are deleted', async () => {
  const { p, id } = await grantedWithAQueuedEvent()
  assert.ok(p.storage()['fiducia:q'], 'queue persisted while measurement is granted')
  p.call('consent', NONE)
  assert.deepEqual(p.storage(), {}, 'id, queue and choice deleted at once')
  await p.tick(60_000)
  const last = p.requests.at(-1).body
  assert.deepEqual(last.events.map((e) => e.type), ['consent'], 'the queued event is not sent after withdrawal')
  assert.equal(last.consent.measurement, 'denied')
  assert.equal(last.visitor.id, id)
  p.call('track', 'after')
  await p.tick(5000)
  p.unload()
  assert.equal(p.events().at(-1).type, 'consent', 'nothing after the withdrawal')
  await p.close()
})

test('a stored choice is the decision on the next page, with its original time', async () => {
  const first = open()
  first.call('consent', { measurement: true }, { notice_version: 'n1' })
  await first.tick(1000)
  const storage = first.storage()
  await first.close()
  const next = open({ url: 'https://shop.example/p/2', storage, now: START + DAY_MS })
  await next.tick(1000)
  assert.deepEqual(next.types(), ['page_view'])
  const env = next.events()[0].envelope
  assert.equal(env.consent.updated_at, START)
  assert.equal(env.consent.notice_version, 'n1')
  assert.equal(env.visitor.id, JSON.parse(storage['fiducia:v']).id)
  await next.close()
})

test('a stored choice older than 13 months is no decision and is deleted', async () => {
  const first = open()
  first.call('consent', { measurement: true })
  await first.tick(1000)
  const storage = first.storage()
  await first.close()
  const later = open({ storage, now: START + 391 * DAY_MS })
  await later.tick(5000)
  assert.deepEqual(later.requests, [])
  assert.equal(later.storage()['fiducia:c'], undefined)
  await later.close()
})

test('an expired choice takes the visitor id and the stored queue with it', async () => {
  const first = open()
  first.call('consent', ALL)
  await first.tick(1000)
  const choice = first.storage()
  await first.close()
  // 100 days later: a new visitor id (after reset), issued by the
  // collector, then events queued during an outage with a user id, and the
  // page unloads.
  const second = open({ storage: choice, now: START + 100 * DAY_MS })
  second.call('reset')
  second.call('track', 'new id')
  await second.tick(1000)
  second.answers.push(...Array(5).fill('network'))
  second.call('identify', 'user-1')
  second.call('track', 'queued')
  await second.tick(1000)
  second.unload()
  const storage = second.storage()
  const { id: old, exp } = JSON.parse(storage['fiducia:v'])
  assert.equal(old, second.issued[0].id)
  assert.ok(exp > START + 400 * DAY_MS, 'the visitor id outlives the choice')
  assert.match(storage['fiducia:q'], /user-1/)
  await second.close()
  // 391 days after the choice: it has expired, and so has all it allowed.
  const later = open({ storage, now: START + 391 * DAY_MS })
  await later.tick(5000)
  assert.deepEqual(later.requests, [])
  assert.deepEqual(later.storage(), {}, 'choice, visitor id and queue deleted')
  later.call('consent', { measurement: true })
  await later.tick(1000)
  assert.deepEqual(later.types().sort(), ['consent', 'page_view'], 'the old queue is not sent')
  for (const e of later.events()) assert.deepEqual(e.envelope.visitor, { issue: true, user_id: null }, 'a new visitor id')
  assert.ok(!JSON.stringify(later.requests).includes('user-1'))
  await later.close()
})

test('identify sets user_id only with personalization', async () => {
  const p = open()
  p.call('consent', { measurement: true })
  p.call('identify', 'user-1')
  await p.tick(1000)
  assert.ok(!p.types().includes('identify'))
  assert.ok(p.events().every((e) => e.envelope.visitor.user_id == null))
  p.call('consent', { measurement: true, personalization: true })
  p.call('identify', 'user-1')
  await p.tick(1000)
  const identify = p.events().find((e) => e.type == 'identify')
  assert.equal(identify.envelope.visitor.user_id, 'user-1')
  await p.close()
})

test('identify before the decision: the user id waits for it, and is dropped if personalization is refused', async () => {
  const p = open()
  p.call('identify', 'user-1')
  p.call('consent', { measurement: true })
  p.call('track', 'x')
  await p.tick(1000)
  assert.deepEqual(p.types().sort(), ['consent', 'custom', 'page_view'])
  assert.ok(p.events().every((e) => e.envelope.visitor.user_id == null))
  await p.close()
})

test('withdrawing personalization: no queued envelope keeps the user id', async () => {
  // One event before identify, two after it.
  const { p, id } = await grantedWithAQueuedEvent((p) => {
    p.call('track', 'anonymous')
    p.call('identify', 'user-1')
    p.call('track', 'identified')
  })
  assert.match(p.storage()['fiducia:q'], /user-1/, 'queued with the user id')
  p.call('consent', { measurement: true })
  assert.ok(!p.storage()['fiducia:q'].includes('user-1'), 'the stored queue has no user id')
  const at = p.requests.length
  await p.tick(60_000)
  const after = p.requests.slice(at)
  assert.ok(after.length > 0)
  assert.ok(!JSON.stringify(after).includes('user-1'), 'nothing sent after the withdrawal carries the user id')
  const sent = after.flatMap((r) => r.body.events.map((e) => e.props.name || e.type))
  assert.deepEqual(sent.sort(), ['anonymous', 'consent'], 'the envelopes with the user id are dropped')
  const withdrawal = after.find((r) => r.body.events.some((e) => e.type == 'consent')).body
  assert.equal(withdrawal.consent.personalization, 'denied')
  assert.equal(withdrawal.visitor.id, id)
  assert.equal(withdrawal.visitor.user_id, null)
  await p.close()
})

test('withdrawing measurement: the queue keeps only the withdrawal, and nothing of it is stored', async () => {
  const { p, id } = await grantedWithAQueuedEvent()
  assert.ok(p.storage()['fiducia:q'])
  // Personalization and functional stay granted.
  p.call('consent', { personalization: true, functional: true })
  assert.deepEqual(Object.keys(p.storage()), ['fiducia:c'], 'no visitor id, no queue')
  p.unload()
  // Only the withdrawal is still queued; it names the visitor it is about.
  const beacons = p.requests.filter((r) => r.via == 'beacon')
  assert.deepEqual(beacons.map((b) => b.body.events.map((e) => e.type)), [['consent']])
  assert.equal(beacons[0].body.consent.measurement, 'denied')
  assert.equal(beacons[0].body.visitor.id, id)
  assert.deepEqual(Object.keys(p.storage()), ['fiducia:c'])
  await p.close()
})

test('identify ignores user ids the collector would refuse', async () => {
  const p = open()
  p.call('consent', ALL)
  p.call('identify', 'someone@example.com')
  p.call('identify', 'x'.repeat(129))
  await p.tick(1000)
  assert.ok(!p.types().includes('identify'))
  await p.close()
})

test('TCF: cmpuishown never grants; useractioncomplete decides from the publisher segment', async () => {
  let listener
  const p = open({
    before: (w) => {
      w.__tcfapi = (command, version, cb) => {
        assert.equal(command, 'addEventListener')
        assert.equal(version, 2)
        listener = cb
      }
    },
  })
  const grantsAll = { 1: true, 5: true, 6: true, 8: true }
  listener({ eventStatus: 'cmpuishown', gdprApplies: true, tcString: TC_ACCEPT_ALL, publisher: { consents: grantsAll } }, true)
  listener({ eventStatus: 'tcloaded', cmpStatus: 'loading', gdprApplies: true, publisher: { consents: grantsAll } }, false)
  await p.tick(5000)
  noTrace(p)
  listener({ eventStatus: 'useractioncomplete', gdprApplies: true, tcString: TC_MEASUREMENT, publisher: { consents: { 1: true, 8: true, 9: true } } }, true)
  await p.tick(1000)
  const c = p.events()[0].envelope.consent
  assert.deepEqual(
    [c.measurement, c.personalization, c.functional, c.source, c.tcf, c.updated_at],
    // The time the tag saw the decision; the collector reads the string's own.
    ['granted', 'denied', 'granted', 'tcf', TC_MEASUREMENT, START + 5000],
  )
  await p.close()
})

test('TCF: measurement needs purposes 1 and 8 of the publisher segment, not the vendor purposes', async () => {
  let listener
  const p = open({ before: (w) => (w.__tcfapi = (c, v, cb) => (listener = cb)) })
  listener({ eventStatus: 'tcloaded', gdprApplies: true, tcString: TC_ACCEPT_ALL, purpose: { consents: { 1: true, 8: true } }, publisher: { consents: { 1: true } } }, true)
  await p.tick(1000)
  // Functional (purpose 1) is granted: a consent event, nothing else.
  assert.deepEqual(p.types(), ['consent'])
  assert.equal(p.events()[0].envelope.consent.measurement, 'denied')
  // Purpose 8 without purpose 1 (storage) is no measurement either.
  listener({ eventStatus: 'useractioncomplete', gdprApplies: true, tcString: TC_ACCEPT_ALL, publisher: { consents: { 8: true, 9: true } } }, true)
  await p.tick(1000)
  const c = p.events().at(-1).envelope.consent
  assert.deepEqual([c.measurement, c.functional], ['denied', 'denied'])
  await p.close()
})

test('GPC: a TCF accept of every purpose still denies personalization, in the consent event too', async () => {
  let listener
  const p = open({
    before: (w) => {
      Object.defineProperty(w.navigator, 'globalPrivacyControl', { value: true })
      w.__tcfapi = (c, v, cb) => (listener = cb)
    },
  })
  listener({ eventStatus: 'useractioncomplete', gdprApplies: true, tcString: TC_ACCEPT_ALL, publisher: { consents: { 1: true, 5: true, 6: true, 8: true } } }, true)
  p.call('identify', 'user-1')
  await p.tick(1000)
  assert.deepEqual(p.types().sort(), ['consent', 'page_view'], 'no identify without personalization')
  for (const e of p.events()) {
    const c = e.envelope.consent
    assert.deepEqual(
      [c.measurement, c.personalization, c.functional, c.source, c.gpc, e.envelope.visitor.user_id],
      ['granted', 'denied', 'granted', 'tcf', true, null],
      e.type,
    )
  }
  assert.equal(JSON.parse(p.storage()['fiducia:c']).personalization, 'denied')
  await p.close()
})

test('Consent Mode: a denied default waits; the update decides; later pushes are read too', async () => {
  const p = open({
    before: (w) => {
      w.dataLayer = []
      function gtag() {
        w.dataLayer.push(arguments)
      }
      w.gtag = gtag
      gtag('consent', 'default', { analytics_storage: 'denied', personalization_storage: 'denied', functionality_storage: 'denied' })
    },
  })
  await p.tick(5000)
  noTrace(p)
  p.w.gtag('consent', 'update', { analytics_storage: 'granted' })
  await p.tick(1000)
  assert.deepEqual(p.types().sort(), ['consent', 'page_view'])
  const c = p.events()[0].envelope.consent
  assert.deepEqual([c.measurement, c.personalization, c.functional, c.source], ['granted', 'denied', 'denied', 'gcm'])
  p.w.gtag('consent', 'update', { analytics_storage: 'denied' })
  await p.tick(1000)
  assert.equal(p.events().at(-1).type, 'consent')
  assert.equal(p.events().at(-1).envelope.consent.measurement, 'denied')
  assert.deepEqual(p.storage(), {})
  // The site's own dataLayer still works.
  assert.equal(p.w.dataLayer.length, 3)
  await p.close()
})

test('Consent Mode: a default is no decision, even one that grants; an update keeps what it does not name', async () => {
  for (const region of [undefined, ['US-CA']]) {
    const p = open({
      before: (w) => (w.dataLayer = [['consent', 'default', { analytics_storage: 'granted', functionality_storage: 'granted', region }]]),
    })
    await p.tick(5000)
    noTrace(p)
    // The CMP's update names other types: measurement and functional keep
    // the global default (a regional grant counts for nothing).
    p.w.dataLayer.push(['consent', 'update', { ad_storage: 'granted' }])
    await p.tick(1000)
    if (region) {
      noTrace(p)
    } else {
      const c = p.events()[0].envelope.consent
      assert.deepEqual([c.measurement, c.personalization, c.functional], ['granted', 'denied', 'granted'])
    }
    await p.close()
  }
})

// Google's pattern for the EEA: denied in listed regions, granted elsewhere.
const EEA = ['IT', 'FR', 'DE', 'ES']
const ALL_TYPES = { analytics_storage: 'granted', personalization_storage: 'granted', functionality_storage: 'granted' }
const regionalDenial = ['consent', 'default', { analytics_storage: 'denied', personalization_storage: 'denied', functionality_storage: 'denied', wait_for_update: 500, region: EEA }]

test('Consent Mode: a default denied in some regions is denied (the visitor may be there) until an update grants it', async () => {
  // In either order: the regional default beats the global one.
  for (const dataLayer of [
    [regionalDenial, ['consent', 'default', ALL_TYPES]],
    [['consent', 'default', ALL_TYPES], regionalDenial],
  ]) {
    const p = open({ before: (w) => (w.dataLayer = dataLayer) })
    await p.tick(5000)
    noTrace(p)
    p.w.dataLayer.push(['consent', 'update', { analytics_storage: 'granted' }])
    await p.tick(1000)
    assert.deepEqual(p.types(), ['consent', 'page_view'])
    let c = p.events()[0].envelope.consent
    assert.deepEqual([c.measurement, c.personalization, c.functional, c.source], ['granted', 'denied', 'denied', 'gcm'])
    assert.equal(JSON.parse(p.storage()['fiducia:v']).id, p.issued[0].id)
    // A later update names personalization only: measurement stays granted.
    p.w.dataLayer.push(['consent', 'update', { personalization_storage: 'granted' }])
    await p.tick(1000)
    c = p.events().at(-1).envelope.consent
    assert.deepEqual([c.measurement, c.personalization, c.functional], ['granted', 'granted', 'denied'])
    // A default pushed after the updates does not undo them.
    p.w.dataLayer.push(['consent', 'default', { analytics_storage: 'denied', personalization_storage: 'denied' }])
    p.w.dataLayer.push(['consent', 'update', { functionality_storage: 'granted' }])
    await p.tick(1000)
    c = p.events().at(-1).envelope.consent
    assert.deepEqual([c.measurement, c.personalization, c.functional], ['granted', 'granted', 'granted'])
    assert.equal(p.types().filter((t) => t == 'consent').length, 3)
    await p.close()
  }
})

test('GPC: reported in every envelope; a CMP cannot grant personalization, the visitor can', async () => {
  const p = open({
    before: (w) => {
      Object.defineProperty(w.navigator, 'globalPrivacyControl', { value: true })
      Object.defineProperty(w.navigator, 'doNotTrack', { value: '1' })
      w.dataLayer = [['consent', 'update', { analytics_storage: 'granted', personalization_storage: 'granted' }]]
    },
  })
  await p.tick(1000)
  let env = p.events()[0].envelope
  assert.equal(env.consent.gpc, true)
  assert.equal(env.consent.dnt, true)
  assert.equal(env.consent.personalization, 'denied')
  p.call('consent', ALL)
  await p.tick(1000)
  env = p.events().at(-1).envelope
  assert.equal(env.consent.personalization, 'granted')
  assert.equal(env.consent.source, 'api')
  await p.close()
})
