// Autocapture: page views (single-page apps too), clicks on links and
// buttons, outbound links, downloads, form submits, scroll depth and engaged
// time. Never an input's value, never a form field.
import { context, cut, emit } from './tracker.js'

const DOWNLOAD = /\.(pdf|zip|t?gz|dmg|exe|apk|csv|xlsx?|docx?|pptx?|txt|mp[34])$/i
const IDLE_MS = 1e4

// `tag#id.class` (the first class): enough to tell elements apart, nothing typed by the visitor.
export const describe = (el, c = el.classList[0]) => el.localName + (el.id ? '#' + el.id : '') + (c ? '.' + c : '')

export const listen = (type, fn) => addEventListener(type, fn, true)

export const capture = (off, spa) => {
  const on = (type, props, ctx) => off?.includes(type) || emit(type, props, ctx)
  let page // the current page's URL without the fragment, and its hash route
  let pageCtx // its context, for the engagement reported when an SPA leaves it
  let depth // the quarters of the page seen
  let active = 0
  let last

  // Engaged time: visible and active, i.e. at most IDLE_MS after each
  // interaction. Reported when the page is hidden and when an SPA leaves it.
  const touch = () => {
    const t = Date.now()
    if (last) active += Math.min(t - last, IDLE_MS)
    last = t
  }
  const engaged = (ctx) => {
    if (last) touch()
    if (active >= 1e3) on('engagement', { ms: active }, ctx)
    active = last = 0
  }
  for (const type of ['mousemove', 'keydown', 'scroll', 'pointerdown']) listen(type, touch)

  const view = () => {
    // A hash route's path (`#/a/b` or `#!/a/b`, up to any `?`) tells pages
    // apart in hash mode, and is the page view's `route`; no other part of
    // the fragment is ever sent.
    const route = (spa == 'hash' ? location.hash : '').match(/^#!?(\/[^?]*)/)?.[1]
    const key = cut(location.href) + route
    if (key == page) return
    // Leaving a page (an SPA's): its engaged time, then its URL is the referrer.
    if (page) engaged(pageCtx)
    on('page_view', { route }, (pageCtx = context(page && pageCtx.url)))
    page = key
    depth = 0
  }
  view()
  if (spa != 'off') {
    // The new title is usually set just after the URL (by the app's own
    // listener on back and forward, which may run after ours), so wait one task.
    const later = () => setTimeout(view)
    for (const m of ['pushState', 'replaceState']) {
      const f = history[m]
      // Scheduled first, it still runs after the change (a URL that did not
      // change makes no page view). A page has one `history`: no `this` needed.
      history[m] = (...a) => (later(), f.apply(history, a))
    }
    listen('popstate', later)
    listen('hashchange', later)
  }

  listen('scroll', () => {
    // In quarters of the page: depth 1 is 25%.
    const seen = ((scrollY + innerHeight + 1) / document.documentElement.scrollHeight) * 4
    while (depth < 4 && seen >= depth + 1) on('scroll', { depth: ++depth * 25 })
  })

  listen('click', (e) => {
    const el = e.target.closest?.('a,button,[type=submit],[type=button],[role=button]')
    if (!el) return
    const props = { el: describe(el), text: el.textContent.trim().replace(/\s+/g, ' ').slice(0, 64) }
    let type = 'click'
    // http(s) links only: a mailto: or tel: address is personal data.
    // (Only a link has an http href, and a link has its URL's parts.)
    if (/^http/.test(el.href)) {
      props.url = el.href
      if (el.hasAttribute('download') || DOWNLOAD.test(el.pathname)) type = 'download'
      else if (el.host != location.host) type = 'outbound_link'
    }
    on(type, props)
  })

  listen('submit', (e) => {
    const f = e.target
    on('form_submit', Object.fromEntries(['id', 'name', 'action'].map((n) => [n, f.getAttribute(n) || ''])))
  })

  return engaged
}
