// Runs the built tag in a fresh happy-dom window per test, with a fake
// clock, a recording fetch and sendBeacon, and storage that can be carried
// over to a "reloaded" page. What the tag sends is read back as envelopes.
import { Window } from 'happy-dom'
import { bundle } from '../../scripts/bundle.mjs'

const code = await bundle()
export const ENDPOINT = 'https://collect.example/v1/events'
export const START = Date.UTC(2026, 0, 15, 12)
export const DAY_MS = 864e5

/**
 * Opens a page with the tag on it.
 * @param {object} o
 * @param {string} [o.url] the page's URL
 * @param {object} [o.data] data-* attributes of the script (site and endpoint are set)
 * @param {object} [o.storage] localStorage entries present before the tag runs
 * @param {number} [o.now] the clock's start (Unix ms)
 * @param {(w: Window) => void} [o.before] runs before the tag (CMP stubs, queued calls)
 * @param {string} [o.html] the body's HTML
 */
export function open({ url = 'https://shop.example/p/1', data = {}, storage = {}, now = START, before, html = '' } = {}) {
  const w = new Window({
    url,
    width: 1280,
    height: 800,
    settings: { enableJavaScriptEvaluation: true, suppressInsecureJavaScriptEnvironmentWarning: true },
  })
  const page = new Page(w, now)
  w.document.body.innerHTML = html
  for (const [k, v] of Object.entries(storage)) w.localStorage.setItem(k, v)
  before?.(w)
  const script = w.document.createElement('script')
  for (const [k, v] of Object.entries({ site: 'demo', endpoint: 'https://collect.example', ...data })) {
    if (v != null) script.setAttribute('data-' + k, v)
  }
  script.textContent = code
  w.document.head.appendChild(script)
  return page
}

class Page {
  constructor(w, now) {
    this.w = w
    this.now = now
    this.timers = []
    this.requests = [] // {via: 'fetch'|'beacon', url, body (parsed), init}
    this.answers = [] // queued answers for fetch: {status, retryAfter, visitor} or 'network'
    this.issued = [] // visitor ids the fake collector issued: {id, t, exp}
    this.profiles = [] // profile requests (GET /v1/profile/…): {url, init}
    this.profileAnswers = [] // queued answers to them: {status, body} or 'network'; default 200 CONTEXTUAL
    const page = this
    const RealDate = w.Date
    w.Date = class extends RealDate {
      constructor(...a) {
        super(...(a.length ? a : [page.now]))
      }
      static now() {
        return page.now
      }
    }
    let ids = 0
    w.setTimeout = (fn, ms = 0) => {
      page.timers.push({ id: ++ids, fn, at: page.now + ms })
      return ids
    }
    w.clearTimeout = (id) => (page.timers = page.timers.filter((t) => t.id != id))
    w.fetch = (url, init) => {
      if (url.includes('/v1/profile/')) return page.profile(url, init)
      const body = JSON.parse(init.body)
      page.requests.push({ via: 'fetch', url, body, raw: init.body, init })
      const answer = page.answers.shift() || { status: 204 }
      if (answer == 'network') return Promise.reject(new TypeError('Failed to fetch'))
      // As the collector: an accepted batch that asks for a visitor id while
      // measurement is granted is answered with a new id and its token.
      const v = body.visitor
      const issued = answer.status < 300 && v?.issue && !v.id && body.consent?.measurement == 'granted' && page.issue()
      // `answer.visitor`: the header as given (`'0'`: an erased visitor's).
      const headers = { 'retry-after': answer.retryAfter ?? null, 'fiducia-visitor': answer.visitor ?? (issued ? JSON.stringify(issued) : null) }
      return Promise.resolve({ status: answer.status, headers: { get: (h) => headers[h.toLowerCase()] ?? null } })
    }
    Object.defineProperty(w.navigator, 'sendBeacon', {
      configurable: true,
      value: (url, body) => {
        page.requests.push({ via: 'beacon', url, body: JSON.parse(body), raw: body })
        return true
      },
    })
  }

  /** As the collector's `GET /v1/profile`: records the request, answers the next queued answer. */
  profile(url, init) {
    this.profiles.push({ url, init })
    const answer = this.profileAnswers.shift() || { status: 200, body: CONTEXTUAL }
    if (answer == 'network') return Promise.reject(new TypeError('Failed to fetch'))
    const { status, body } = answer
    return Promise.resolve({ status, ok: status < 300, json: async () => JSON.parse(JSON.stringify(body)) })
  }

  /** A visitor id and token as the collector issues them (valid 395 days). */
  issue() {
    const id = 'v' + (this.issued.length + 1)
    const payload = Buffer.from(JSON.stringify({ site: 'demo', sub: id })).toString('base64url')
    const issued = { id, t: `header.${payload}.signature`, exp: this.now + 395 * DAY_MS }
    this.issued.push(issued)
    return issued
  }

  /** Advances the fake clock by `ms`, running due timers and settling promises. */
  async tick(ms = 0) {
    const end = this.now + ms
    for (;;) {
      await settle()
      const due = this.timers.filter((t) => t.at <= end).sort((a, b) => a.at - b.at)[0]
      if (!due) break
      this.timers = this.timers.filter((t) => t != due)
      this.now = Math.max(this.now, due.at)
      due.fn()
    }
    this.now = end
    await settle()
  }

  /** The next pending timer's delay from now, or undefined. */
  nextTimer() {
    const at = Math.min(...this.timers.map((t) => t.at))
    return Number.isFinite(at) ? at - this.now : undefined
  }

  /** Every event sent so far, each with its envelope. */
  events() {
    return this.requests.flatMap((r) => r.body.events.map((e) => ({ ...e, envelope: r.body, via: r.via })))
  }

  types() {
    return this.events().map((e) => e.type)
  }

  /** localStorage as an object. */
  storage() {
    const s = this.w.localStorage
    return Object.fromEntries(Array.from({ length: s.length }, (_, i) => [s.key(i), s.getItem(s.key(i))]))
  }

  call(...args) {
    this.w.fiducia(...args)
  }

  /** Fires an event at the window or document. */
  fire(type, target = this.w) {
    target.dispatchEvent(new this.w.Event(type, { bubbles: true }))
  }

  /** The page is hidden (a tab switch): visibilitychange. */
  hide() {
    Object.defineProperty(this.w.document, 'visibilityState', { configurable: true, value: 'hidden' })
    Object.defineProperty(this.w.document, 'hidden', { configurable: true, value: true })
    this.fire('visibilitychange', this.w.document)
  }

  /** The page unloads: hidden, then pagehide. */
  unload() {
    this.hide()
    this.fire('pagehide')
  }

  async close() {
    await this.w.happyDOM.close()
  }
}

const settle = () => new Promise((r) => setImmediate(r))

/**
 * The queue stub, as sites install it: `calls` are made through it before
 * the tag runs.
 */
export const stub = (w, ...calls) => {
  w.fiducia = function () {
    ;(w.fiducia.q = w.fiducia.q || []).push(arguments)
  }
  for (const args of calls) w.fiducia(...args)
}

/** A page whose visitor granted measurement before the tag loaded. */
export const granted = (o = {}) =>
  open({
    ...o,
    before: (w) => {
      stub(w, ['consent', { measurement: true }])
      o.before?.(w)
    },
  })

/** The consent API's all-granted call. */
export const ALL = { measurement: true, personalization: true, functional: true }

/** The collector's answers to `GET /v1/profile`, as its contract shows them. */
export const CONTEXTUAL = {
  site: 'demo',
  kind: 'contextual',
  context: { category: 'shoes', referrer_class: 'search', device: 'mobile', time_of_day: 'evening' },
  items: [{ item: 'runner-7', reason: 'popular in shoes now', visitors: 31 }],
  explanation: 'Chosen from this page only: nothing about you was used.',
}
export const PERSONAL = {
  site: 'demo',
  kind: 'personal',
  consent: { purpose: 'personalization', granted_at: '2026-01-15T12:00:00.000Z', record_id: 'r1' },
  segments: [{ name: 'shoe lover', reason: 'shoes is among your top interests' }],
  interests: [{ category: 'shoes', score: 3.5, reason: 'you viewed 4 pages about shoes' }],
  items: [{ item: 'runner-7', reason: 'because you viewed runner-2', visitors: 12 }],
  explanation: 'Personalized because you allowed personalization on 15 January 2026. Change it in the privacy center.',
}
