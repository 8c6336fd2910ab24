// Autocapture rules, each on its own, with consent granted up front.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { granted } from './harness.js'

// Events other than the consent event and the first page view.
const captured = (p) => p.events().filter((e) => e.type != 'consent' && e.seq != 1)

test('a page view on load, with the page context', async () => {
  const p = granted({ url: 'https://shop.example/p/42?utm_source=news#top', before: (w) => (w.document.title = 'Red shoes') })
  await p.tick(1000)
  const pv = p.events().find((e) => e.type == 'page_view')
  assert.equal(pv.seq, 1)
  assert.deepEqual(pv.props, {})
  const c = pv.envelope.context
  assert.equal(c.url, 'https://shop.example/p/42?utm_source=news', 'never the fragment')
  assert.equal(c.title, 'Red shoes')
  assert.deepEqual(c.viewport, [1280, 800])
  assert.equal(c.tz, 'UTC')
  assert.ok(c.lang)
  assert.equal(c.screen.length, 2)
  await p.close()
})

test('a URL longer than the collector accepts is cut short', async () => {
  const p = granted({ url: 'https://shop.example/search?q=' + 'x'.repeat(5000) })
  await p.tick(1000)
  const url = p.events()[0].envelope.context.url
  assert.equal(url.length, 4000)
  assert.ok(url.startsWith('https://shop.example/search?q=xxx'))
  await p.close()
})

test('SPA: pushState, replaceState and popstate are page views; the previous URL is the referrer', async () => {
  const p = granted()
  const h = p.w.history
  h.pushState({}, '', '/p/2')
  p.w.document.title = 'Two'
  await p.tick(0)
  h.replaceState({}, '', '/p/3?x=1')
  await p.tick(0)
  h.replaceState({ only: 'state' }, '') // same URL: not a page
  await p.tick(0)
  h.pushState({}, '', '/p/3?x=1#section') // hash only: not a page by default
  await p.tick(0)
  p.w.location.href = 'https://shop.example/p/1' // as the back button leaves it
  p.fire('popstate')
  // The app's own popstate listener, which may run after the tag's, sets the title.
  p.w.document.title = 'One again'
  await p.tick(1000)
  const views = p.events().filter((e) => e.type == 'page_view')
  assert.deepEqual(
    views.map((e) => [e.envelope.context.url, e.envelope.context.referrer]),
    [
      ['https://shop.example/p/1', ''],
      ['https://shop.example/p/2', 'https://shop.example/p/1'],
      ['https://shop.example/p/3?x=1', 'https://shop.example/p/2'],
      ['https://shop.example/p/1', 'https://shop.example/p/3?x=1'],
    ],
  )
  assert.equal(views[1].envelope.context.title, 'Two', 'the title set just after pushState')
  assert.equal(views[3].envelope.context.title, 'One again', 'the title set just after popstate')
  await p.close()
})

test('fragments are never sent: not in the URL, not in a referrer', async () => {
  const p = granted({
    url: 'https://shop.example/cb?step=2#access_token=abc&token_type=bearer',
    before: (w) => Object.defineProperty(w.document, 'referrer', { value: 'https://idp.example/login?x=1#state=xyz' }),
  })
  p.w.history.pushState({}, '', '/p/2#id_token=def')
  await p.tick(0)
  p.call('track', 'x')
  await p.tick(1000)
  assert.deepEqual(
    p.events().map((e) => [e.type, e.envelope.context.url, e.envelope.context.referrer]),
    [
      ['consent', 'https://shop.example/cb?step=2', 'https://idp.example/login?x=1'],
      ['page_view', 'https://shop.example/cb?step=2', 'https://idp.example/login?x=1'],
      ['page_view', 'https://shop.example/p/2', 'https://shop.example/cb?step=2'],
      ['custom', 'https://shop.example/p/2', 'https://shop.example/cb?step=2'],
    ],
  )
  assert.ok(!/#|access_token|id_token|state=/.test(JSON.stringify(p.requests.map((r) => r.body))))
  await p.close()
})

test('SPA hash mode: a new hash route is a page view, with the route path and never the fragment', async () => {
  const p = granted({ data: { spa: 'hash' } })
  const go = async (hash) => {
    p.w.location.hash = hash
    p.fire('hashchange')
    await p.tick(0)
  }
  await go('#/settings?tab=1')
  await go('#/settings?tab=2') // the same route
  await go('#access_token=abc') // no route: the page itself
  await go('#!/orders/7')
  await p.tick(1000)
  assert.deepEqual(
    p.events().filter((e) => e.type == 'page_view').map((e) => [e.props, e.envelope.context.url, e.envelope.context.referrer]),
    [
      [{}, 'https://shop.example/p/1', ''],
      [{ route: '/settings' }, 'https://shop.example/p/1', 'https://shop.example/p/1'],
      [{}, 'https://shop.example/p/1', 'https://shop.example/p/1'],
      [{ route: '/orders/7' }, 'https://shop.example/p/1', 'https://shop.example/p/1'],
    ],
  )
  assert.ok(!JSON.stringify(p.requests.map((r) => r.body)).includes('#'))
  assert.ok(!JSON.stringify(p.requests).includes('tab='))
  await p.close()
})

test('SPA off: history changes are not page views', async () => {
  const p = granted({ data: { spa: 'off' } })
  p.w.history.pushState({}, '', '/p/2')
  await p.tick(1000)
  assert.equal(p.types().filter((t) => t == 'page_view').length, 1)
  await p.close()
})

test('clicks on links and buttons carry a short descriptor, never an input value', async () => {
  const p = granted({
    html: `<a id="buy" class="btn primary" href="/cart"><span>Buy  now</span></a>
      <button class="cta">Subscribe</button>
      <input id="go" type="submit" value="secret value">
      <div id="plain">not captured</div>
      <a href="mailto:someone@example.com">Mail</a>`,
  })
  const d = p.w.document
  d.querySelector('#buy span').click()
  d.querySelector('button').click()
  d.querySelector('#go').click()
  d.querySelector('#plain').click()
  d.querySelector('a[href^=mailto]').click()
  await p.tick(1000)
  assert.deepEqual(
    captured(p).map((e) => [e.type, e.props]),
    [
      ['click', { el: 'a#buy.btn', text: 'Buy now', url: 'https://shop.example/cart' }],
      ['click', { el: 'button.cta', text: 'Subscribe' }],
      ['click', { el: 'input#go', text: '' }],
      ['click', { el: 'a', text: 'Mail' }],
    ],
  )
  assert.ok(!JSON.stringify(p.requests).includes('secret value'))
  assert.ok(!JSON.stringify(p.requests).includes('someone@example.com'))
  await p.close()
})

test('outbound links and downloads', async () => {
  const p = granted({
    html: `<a id="out" href="https://partner.example/deal">Deal</a>
      <a id="pdf" href="/files/report.PDF?v=2">Report</a>
      <a id="dl" href="/export" download>Export</a>
      <a id="sub" href="https://www.shop.example/">Sub-domain</a>`,
  })
  // The page stays: only the capture is under test.
  p.w.document.addEventListener('click', (e) => e.preventDefault())
  const click = (id) => p.w.document.getElementById(id).click()
  for (const id of ['out', 'pdf', 'dl', 'sub']) click(id)
  await p.tick(1000)
  assert.deepEqual(
    captured(p).map((e) => [e.type, e.props.url]),
    [
      ['outbound_link', 'https://partner.example/deal'],
      ['download', 'https://shop.example/files/report.PDF?v=2'],
      ['download', 'https://shop.example/export'],
      ['outbound_link', 'https://www.shop.example/'],
    ],
  )
  await p.close()
})

test('form submits carry the form id, name and action, never a field', async () => {
  const p = granted({
    html: `<form id="signup" name="newsletter" action="/subscribe" method="post">
      <input name="email" value="someone@example.com"><input type="password" name="pw" value="hunter2"></form>`,
  })
  const form = p.w.document.getElementById('signup')
  form.addEventListener('submit', (e) => e.preventDefault())
  form.dispatchEvent(new p.w.Event('submit', { bubbles: true, cancelable: true }))
  await p.tick(1000)
  assert.deepEqual(
    captured(p).map((e) => [e.type, e.props]),
    [['form_submit', { id: 'signup', name: 'newsletter', action: '/subscribe' }]],
  )
  assert.ok(!/someone@example|hunter2/.test(JSON.stringify(p.requests)))
  await p.close()
})

test('scroll depth: 25, 50, 75 and 100 once each per page', async () => {
  const p = granted()
  const w = p.w
  Object.defineProperty(w.document.documentElement, 'scrollHeight', { configurable: true, value: 4000 })
  const scrollTo = (y) => {
    Object.defineProperty(w, 'scrollY', { configurable: true, value: y })
    p.fire('scroll')
  }
  scrollTo(100) // 900/4000: under 25%
  scrollTo(1400) // 2200/4000: 25 and 50
  scrollTo(0)
  scrollTo(1500)
  scrollTo(3200) // the bottom: 75 and 100
  scrollTo(3200)
  w.history.pushState({}, '', '/p/2') // a new page starts again
  await p.tick(0)
  scrollTo(200) // 1000/4000: 25
  await p.tick(1000)
  assert.deepEqual(
    p.events().filter((e) => e.type == 'scroll').map((e) => [e.props, e.envelope.context.url]),
    [
      [{ depth: 25 }, 'https://shop.example/p/1'],
      [{ depth: 50 }, 'https://shop.example/p/1'],
      [{ depth: 75 }, 'https://shop.example/p/1'],
      [{ depth: 100 }, 'https://shop.example/p/1'],
      [{ depth: 25 }, 'https://shop.example/p/2'],
    ],
  )
  await p.close()
})

test('engaged time counts activity (at most 10 s after each), reported when hidden', async () => {
  const p = granted()
  await p.tick(30_000) // idle: not engaged
  p.fire('mousemove')
  await p.tick(4000)
  p.fire('keydown') // 4 s
  await p.tick(60_000) // 10 s after the last activity, then idle
  p.fire('pointerdown')
  await p.tick(2000) // 2 s after the last activity when hidden
  p.hide()
  const e = p.events().filter((e) => e.type == 'engagement')
  assert.deepEqual(e.map((e) => e.props), [{ ms: 16000 }])
  await p.close()
})

test('engaged time of an SPA page is reported with that page when leaving it', async () => {
  const p = granted()
  p.fire('mousemove')
  await p.tick(3000)
  p.fire('mousemove')
  p.w.history.pushState({}, '', '/p/2')
  await p.tick(1000)
  const e = p.events().find((e) => e.type == 'engagement')
  assert.equal(e.props.ms, 3000)
  assert.equal(e.envelope.context.url, 'https://shop.example/p/1')
  await p.close()
})

test('less than a second of activity is not reported', async () => {
  const p = granted()
  p.fire('keydown')
  await p.tick(500)
  p.hide()
  assert.ok(!p.types().includes('engagement'))
  await p.close()
})

test('data-disable switches autocapture off by event type', async () => {
  const p = granted({
    data: { disable: 'page_view,click,scroll,engagement,outbound_link,download,form_submit' },
    html: '<a id="a" href="https://partner.example/">x</a><a id="b" href="/f.zip">y</a><button>z</button><form id="f"></form>',
  })
  for (const el of p.w.document.querySelectorAll('a,button')) el.click()
  p.w.document.getElementById('f').dispatchEvent(new p.w.Event('submit', { bubbles: true }))
  p.fire('scroll')
  p.fire('mousemove')
  await p.tick(5000)
  p.fire('mousemove')
  p.w.history.pushState({}, '', '/p/2')
  p.call('track', 'still sent')
  await p.tick(1000)
  p.hide()
  assert.deepEqual(p.types(), ['consent', 'custom'])
  await p.close()
})
