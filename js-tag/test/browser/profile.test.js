// Personalization in Debian's Chromium, on the demo shop (its own origin)
// against the real collector, broker, enricher, sink and ClickHouse: a
// visitor who accepts everything and browses shoes pages sees the "For
// you" block turn to shoes within seconds, with the reasons and the
// consent that allows it; a visitor without consent (no choice, or a
// refusal) sees the "Popular here" block, and no request the page makes to
// the collector carries anything that identifies them: no Authorization
// header, no visitor id in the URL or a body, no cookie. Both blocks pass
// axe-core.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { eventually } from './stack.js'
import { issued, run, stack, suite } from './suite.js'

const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8')
// A person's desktop Chrome: the enricher keeps headless Chromium (a bot by
// its user agent) out of profiles.
const PERSON = { userAgent: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36' }

suite()

/** axe-core's serious and critical violations inside the profile blocks. */
const violations = async (page) => {
  await page.evaluate(AXE)
  const { violations } = await page.evaluate(() => axe.run({ include: [['#profile']] }, { resultTypes: ['violations'] }))
  return violations.filter((v) => v.impact == 'serious' || v.impact == 'critical').map((v) => `${v.id}: ${v.help}`)
}

/** What the "For you" block shows: explanation, interests, segments, items, consent line. */
const forYou = (page) =>
  page.$eval('#for-you', (block) => ({
    hidden: block.hidden,
    why: block.querySelector('#for-you-why')?.textContent,
    interests: [...block.querySelectorAll('ol li')].map((li) => ({
      category: li.dataset.category,
      score: Number(li.dataset.score),
      reason: li.querySelector('.reason').textContent,
    })),
    segments: [...block.querySelectorAll('li[data-segment]')].map((li) => ({
      name: li.dataset.segment,
      reason: li.querySelector('.reason').textContent,
    })),
    consent: block.querySelector('#for-you-consent')?.textContent,
    granted: block.querySelector('#for-you-consent time')?.dateTime,
  }))

/** The profile requests the collector received since `since`. */
const profileRequests = (since) => stack.received(since).filter((r) => r.path.startsWith('/v1/profile/'))

run('a visitor who accepts everything and browses shoes pages sees shoes as the top interest in "For you", with the reasons and the consent', async (b, since) => {
  const { page } = b
  await page.goto(`${stack.demo}/`)
  await page.click('#accept-all')
  const visitor = await issued(page)
  // Four shoes pages as fast as a reader clicks through: each page hands
  // its queue to sendBeacon as it unloads and keeps it, so the next page
  // sends those events again. The enricher drops the copies; before it did,
  // they made this pace an impossible one (bot score 80, no profile).
  for (const path of ['/p/shoes/runner-2', '/p/shoes/trail-5', '/p/shoes/racer-9', '/p/shoes/runner-7']) {
    await page.goto(`${stack.demo}${path}`)
    await page.waitForFunction(() => typeof window.fiducia == 'function' && !window.fiducia.q)
  }
  const browsed = Date.now()
  // The page asks again, as it does after a choice (no new page view, so
  // the pace stays a person's): within a few seconds the answer is about shoes.
  const shown = await eventually(
    async () => {
      await page.evaluate(() => window.showProfile())
      return forYou(page)
    },
    (block) => !block.hidden && block.interests.some((i) => i.category == 'shoes') && block.segments.some((s) => s.name == 'shoe lover'),
    { timeoutMs: 10_000, what: 'shoes in the "For you" block' },
  )
  const waited = Date.now() - browsed

  // Shoes lead the visitor's interests (the shop's pages are in their own
  // category only, deploy/sites.toml): listed first, and nothing else scores as much.
  const [shoes, ...rest] = shown.interests
  assert.equal(shoes.category, 'shoes', `shoes is the top interest: ${JSON.stringify(shown.interests)}`)
  assert.ok(rest.every((i) => i.score < shoes.score), JSON.stringify(shown.interests))
  assert.match(shoes.reason, /shoes/, 'the interest says why')
  const lover = shown.segments.find((s) => s.name == 'shoe lover')
  assert.match(lover.reason, /\S/, 'the segment says why')
  // The consent that allows it: personalization, granted today.
  assert.match(shown.why, /personali[sz]/i, 'the explanation names the choice')
  assert.match(shown.consent, /^Allowed by your choice of personalization on /)
  assert.equal(new Date(shown.granted).toDateString(), new Date().toDateString())
  assert.equal(await page.isHidden('#popular'), true, 'a personal answer, not the contextual one')
  assert.deepEqual(await violations(page), [])

  // Personal requests carry the visitor's token in Authorization and nowhere else.
  const personal = profileRequests(since).filter((r) => r.headers.authorization)
  assert.ok(personal.length > 0)
  for (const r of personal) {
    assert.equal(r.headers.authorization, `Bearer ${visitor.t}`)
    assert.ok(!r.path.includes(visitor.id) && !r.path.includes(visitor.t), r.path)
    assert.equal(r.headers.cookie, undefined)
  }
  assert.deepEqual(b.errors, [])
  console.log(`# "For you" showed shoes ${waited} ms after the last shoes page`)
}, PERSON)

/** Every request of the page to the collector since `since`, checked for anything that identifies the visitor. */
const anonymous = (b, since) => {
  const received = stack.received(since)
  assert.ok(received.length > 0)
  for (const r of received) {
    const where = `${r.method} ${r.path}`
    assert.equal(r.headers.authorization, undefined, `${where}: no Authorization`)
    assert.equal(r.headers.cookie, undefined, `${where}: no cookie`)
    assert.equal(r.body, '', `${where}: no body`)
    assert.equal(r.method, 'GET', `${where}: no event is sent without consent`)
    const url = new URL(r.path, stack.collector)
    if (url.pathname == '/tag.js') continue
    assert.match(url.pathname, /^\/v1\/profile\/demo$/, where)
    assert.deepEqual([...url.searchParams.keys()], ['path', 'referrer'], `${where}: the page's path and referrer, nothing else`)
  }
  // The browser's side of the same requests.
  const toCollector = b.requests.filter((r) => r.url.startsWith(stack.collector))
  assert.ok(toCollector.every((r) => r.body == null && !/visitor|fiducia:v/.test(r.url)), JSON.stringify(toCollector))
}

for (const [who, decide] of [
  ['makes no choice', async () => {}],
  ['refuses', async (page) => page.click('#refuse')],
]) {
  run(`a visitor who ${who} sees "Popular here" with its explanation, and no request to the collector identifies them`, async (b, since) => {
    const { page } = b
    // A cookie the browser would send to the collector's host with credentials (cookies ignore ports).
    await page.goto(`${stack.demo}/about.html`)
    await page.evaluate(() => (document.cookie = 'probe=1; path=/v1'))
    await page.goto(`${stack.demo}/p/shoes/runner-2`)
    await page.waitForFunction(() => typeof window.fiducia == 'function' && !window.fiducia.q)
    await decide(page)
    await page.click('#buy')
    await page.evaluate(() => scrollTo(0, document.documentElement.scrollHeight))
    await page.goto(`${stack.demo}/p/hats/cap-1`)
    await page.waitForSelector('#popular:not([hidden])', { timeout: 10_000 })
    await page.waitForTimeout(2500) // longer than the tag's batching delay

    anonymous(b, since)
    assert.ok(profileRequests(since).length >= 2, 'both product pages asked')

    const why = await page.textContent('#popular-why')
    // The collector's own explanation of a contextual answer for this page.
    const direct = await (await fetch(`${stack.collector}/v1/profile/demo?path=%2Fp%2Fhats%2Fcap-1&referrer=`)).json()
    assert.equal(direct.kind, 'contextual')
    assert.equal(why, direct.explanation)
    assert.match(why, /\S/)
    assert.equal(await page.isHidden('#for-you'), true, 'nothing "for you" without consent')
    assert.deepEqual(await violations(page), [])
    assert.equal(await page.evaluate(() => localStorage.getItem('fiducia:v')), null, 'no visitor id held')
    assert.deepEqual(b.errors, [])
  })
}
