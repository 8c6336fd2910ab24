// Fiducia's tag. Installed with one script element:
//   <script async src="https://collect.example.com/tag.js" data-site="demo"></script>
// data-endpoint (default: the script's origin), data-purposes (purposes that
// must be granted before events are sent; default "measurement"),
// data-spa ("history" by default, "hash" to count hash changes as pages,
// "off"), data-disable (event types not to autocapture, e.g.
// "scroll,engagement"), data-notice (notice version for CMP decisions),
// data-reminder (days between reminders of the visitor's choice; none: off).
// Calls made before it loads wait in `fiducia.q` and are replayed.
import { gcm, tcf } from './adapters.js'
import { capture, listen } from './capture.js'
import { hide, start } from './send.js'
import { GRANTED, PURPOSES, V, cut, data, decide, emit, granted, identify, reset, script } from './tracker.js'

const origin = data.endpoint || new URL(script.src).origin

start(origin)
tcf(window.__tcfapi)
gcm(window.dataLayer)
const engaged = capture(data.disable, data.spa)

const api = {
  track: (name, props) => emit('custom', { ...props, name: '' + name }),
  identify,
  consent: (c, o) =>
    decide(...PURPOSES.map((p) => c[p] === true || c[p] == GRANTED), 'api', o?.notice_version && { notice_version: '' + o.notice_version }),
  reset,
  // The privacy center in the site's language, with the visitor's token in
  // the fragment (never sent to a server, nor in a Referer).
  privacy: () => open(`${origin}/privacy?lang=${document.documentElement.lang}#${V?.t}`),
  // What the site may show this visitor (`GET /v1/profile`): personal, with
  // the token in Authorization, only while personalization is granted and
  // the tag holds the id the collector issued (V always has its token);
  // otherwise contextual, from this page only: no identifier, no cookie.
  // A promise of the answer (rejected with the collector's {reason} or a
  // network error), or `cb(answer)` / `cb(null, error)`.
  profile: (
    cb,
    p = fetch(
      `${origin}/v1/profile/${data.site}?` + new URLSearchParams({ path: location.pathname, referrer: cut(document.referrer) }),
      { credentials: 'omit', headers: granted(PURPOSES[1]) && V ? { authorization: 'Bearer ' + V.t } : {} },
    ).then((r) => r.json().then((a) => (r.ok ? a : Promise.reject(a)))),
  ) => (cb ? p.then(cb, (e) => cb(null, e)) : p),
}
const run = (command, ...args) => api[command]?.(...args)
const queued = window.fiducia?.q
window.fiducia = run
queued?.map((a) => run(...a))

// The reminder (data-reminder="<days>"), for a visitor the collector issued
// an id: a module of the collector's, which decides whether one is due.
data.reminder && V && import(origin + '/privacy/reminder.js')

// Leaving: the engaged time first, then the queue.
const leave = (unload) => hide(unload, engaged())
listen('pagehide', () => leave(1))
listen('visibilitychange', () => document.hidden && leave())
