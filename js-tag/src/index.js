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
import { GRANTED, PURPOSES, V, data, decide, emit, identify, reset, script } from './tracker.js'

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
