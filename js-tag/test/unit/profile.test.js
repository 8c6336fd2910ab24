// fiducia('profile'): what the site may show this visitor, from the
// collector's GET /v1/profile/<site>. The visitor's token goes with it only
// while the tag's own state grants personalization and the tag holds an id
// the collector issued; otherwise nothing that identifies the visitor
// leaves the page: no Authorization header, no id in the URL, no cookie.
// The promise form and the callback form (queued before load too), and the
// error paths.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { ALL, CONTEXTUAL, DAY_MS, PERSONAL, START, open, stub } from './harness.js'

const URL_OF_P1 = 'https://collect.example/v1/profile/demo?path=%2Fp%2F1&referrer='

/** The one profile request made so far, with what could identify the visitor. */
const only = (p) => {
  assert.equal(p.profiles.length, 1, 'one profile request')
  const { url, init } = p.profiles[0]
  return { url, init, headers: Object.fromEntries(Object.entries(init.headers || {}).map(([k, v]) => [k.toLowerCase(), v])) }
}

/** Nothing that identifies the visitor: no token, no id, no cookie. */
const anonymous = (p, { url, init, headers }) => {
  // The whole URL: the site, the page's path and referrer, nothing else.
  assert.equal(url, URL_OF_P1)
  assert.equal(init.credentials, 'omit', 'no cookies')
  assert.equal(init.body, undefined)
  assert.deepEqual(Object.keys(headers), [], 'no header, so no Authorization')
}

test('without any decision the profile request carries no identifier and no cookie, and resolves with the answer', async () => {
  const p = open()
  const answer = p.w.fiducia('profile')
  assert.ok(answer instanceof p.w.Promise || typeof answer.then == 'function', 'a promise')
  assert.deepEqual(await answer, CONTEXTUAL)
  anonymous(p, only(p))
  assert.deepEqual(p.requests, [], 'nothing else was sent')
  assert.deepEqual(p.storage(), {}, 'nothing stored')
  await p.close()
})

test('with measurement only, the issued id stays on the page: the profile request is anonymous', async () => {
  const p = open()
  p.call('consent', { measurement: true })
  await p.tick(1000)
  assert.equal(p.issued.length, 1, 'the collector issued an id')
  await p.w.fiducia('profile')
  anonymous(p, only(p))
  await p.close()
})

test('a refusal, and a grant of personalization the tag has no issued id for yet, send no identifier', async () => {
  const refused = open()
  refused.call('consent', { measurement: false, personalization: false })
  await refused.w.fiducia('profile')
  anonymous(refused, only(refused))
  await refused.close()

  // Granted, but the first batch is not answered yet: no id, no token.
  const early = open()
  early.call('consent', ALL)
  await early.w.fiducia('profile')
  anonymous(early, only(early))
  await early.close()

  // An id the tag minted itself before ids were issued has no token: it is never sent.
  const minted = open({
    storage: {
      'fiducia:c': JSON.stringify({ measurement: 'granted', personalization: 'granted', functional: 'granted', source: 'api', updated_at: START - DAY_MS }),
      'fiducia:v': JSON.stringify({ id: 'minted-1', exp: START + DAY_MS }),
    },
  })
  await minted.w.fiducia('profile')
  anonymous(minted, only(minted))
  await minted.close()
})

test('with personalization granted and an issued token, the token goes in the Authorization header only', async () => {
  const p = open()
  p.call('consent', ALL)
  await p.tick(1000)
  const [visitor] = p.issued
  p.profileAnswers.push({ status: 200, body: PERSONAL })
  assert.deepEqual(await p.w.fiducia('profile'), PERSONAL)
  const { url, init, headers } = only(p)
  assert.deepEqual(headers, { authorization: `Bearer ${visitor.t}` })
  assert.equal(url, URL_OF_P1, 'no id in the URL')
  assert.equal(init.credentials, 'omit', 'still no cookies')
  await p.close()
})

test('after personalization is withdrawn the next profile request is anonymous again', async () => {
  const p = open()
  p.call('consent', ALL)
  await p.tick(1000)
  await p.w.fiducia('profile')
  assert.match(only(p).headers.authorization, /^Bearer /)
  p.call('consent', { measurement: true, personalization: false })
  p.profiles = []
  await p.w.fiducia('profile')
  anonymous(p, only(p))
  await p.close()
})

test('the callback form: queued before the tag loaded, it is called with the answer', async () => {
  const calls = []
  const p = open({ before: (w) => stub(w, ['profile', (...a) => calls.push(a)]) })
  await p.tick(0)
  assert.deepEqual(calls, [[CONTEXTUAL]])
  anonymous(p, only(p))
  // And once loaded.
  p.profileAnswers.push({ status: 200, body: PERSONAL })
  p.call('profile', (...a) => calls.push(a))
  await p.tick(0)
  assert.deepEqual(calls[1], [PERSONAL])
  await p.close()
})

test("errors: the promise rejects with the collector's {reason} or the network error, the callback gets (null, error)", async () => {
  const p = open()
  const refused = { reason: 'unknown_site' }
  p.profileAnswers.push({ status: 404, body: refused }, { status: 503, body: { reason: 'unavailable', retry_after_s: 5 } }, 'network', 'network')
  await assert.rejects(p.w.fiducia('profile'), (e) => (assert.deepEqual(e, refused), true))
  const calls = []
  p.call('profile', (...a) => calls.push(a))
  await p.tick(0)
  assert.deepEqual(calls, [[null, { reason: 'unavailable', retry_after_s: 5 }]])
  await assert.rejects(p.w.fiducia('profile'), (e) => e.name == 'TypeError')
  p.call('profile', (...a) => calls.push(a))
  await p.tick(0)
  assert.equal(calls[1][0], null)
  assert.equal(calls[1][1].name, 'TypeError')
  // A failed profile request changes nothing else: no event, nothing stored.
  assert.deepEqual(p.requests, [])
  assert.deepEqual(p.storage(), {})
  await p.close()
})
