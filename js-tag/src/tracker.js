// The consent gate and the events: nothing is sent or stored before a
// decision; of the events captured before it only the current page's view
// waits for it (sent if it grants, discarded if not), every other one is
// discarded. Every consent change is itself an event.
import { store } from './store.js'
import { forget, persist, push, reset as clearQueue } from './send.js'
import { uuid7 } from './uuid.js'

export const GRANTED = 'granted'
export const MEASUREMENT = 'measurement'
// The purposes the tag decides, in the order decide() takes them.
export const PURPOSES = [MEASUREMENT, 'personalization', 'functional']
// 13 months, on the short side (13 × 30 days): the longest a visitor id or a
// stored choice lives. A visitor id is never renewed within that time.
export const MAX_AGE_MS = 390 * 864e5
// Events held in the send queue.
export const MAX_EVENTS = 200

// The tag's script element (current while the tag runs) and its data
// attributes: site, purposes (default measurement), notice, endpoint, ….
export const script = document.currentScript
export const data = script.dataset
// The purposes that must all be granted before events are sent.
const need = (data.purposes || MEASUREMENT).match(/\w+/g)
let C // the current decision (purposes, source, notice_version, updated_at, tcf), or undefined
export let V // the visitor id record {id, t, exp}, loaded or issued
let uid // the user id from identify (memory only)
let seq = 0
let ref = document.referrer // the page's referrer; an SPA's previous page after it changes
let pending // [event, context]: the current page's view, captured before the decision

// The stored choice, read once as the tag loads. An expired choice is no
// decision: it is deleted with what it allowed to be kept, the visitor id
// and the stored queue (whose envelopes may carry a user id); a no-op when
// nothing is stored.
const stored = store('c')
stored?.updated_at > Date.now() - MAX_AGE_MS ? (C = stored) : [...'cvq'].map((k) => store(k, 0))
// The visitor id and its token ({id, t, exp}), issued by the collector: the
// tag takes one (`issue`) while it holds none, and keeps it until the
// token expires (13 months), never renewed. An id the tag minted itself
// (before the collector issued them) has no token: it is dropped.
V = store('v')
if (!(V?.exp > Date.now() && V.t)) store('v', (V = 0))

export const granted = (p) => C?.[p] == GRANTED
const allowed = () => need.every(granted)

// The collector's answer, `{"id", "t", "exp"}`, kept while measurement is
// granted. It only comes while the tag holds no id: one batch is in flight
// at a time, and each carries the id once the tag has one.
export const adopt = (h) => h && granted(MEASUREMENT) && store('v', (V = JSON.parse(h)))


// URLs lose their fragment (it can carry a token: `#access_token=…`) and
// are cut short of the collector's bound (4096 characters).
export const cut = (s) => s.split('#')[0].slice(0, 4e3)

// The page context; `from`: an SPA's new page, whose referrer is the
// previous page's URL from now on.
export const context = (from) => ({
  url: cut(location.href),
  referrer: cut((ref = from || ref)),
  title: document.title,
  lang: navigator.language,
  tz: Intl.DateTimeFormat().resolvedOptions().timeZone,
  screen: [screen.width, screen.height],
  viewport: [innerWidth, innerHeight],
})

// One queue item: the envelope without sent_at and events, and the event.
const stamp = (event, ctx) =>
  push([
    JSON.stringify({
      site: data.site,
      // GPC and DNT as the browser reports them now.
      consent: { ...C, gpc: !!navigator.globalPrivacyControl, dnt: navigator.doNotTrack == 1 },
      // uid is only ever set while personalization is granted (or undecided).
      // `issue`: the tag takes a visitor id from the collector while it has none.
      visitor: { id: V?.id, issue: true, user_id: uid || null },
      context: ctx,
    }),
    event,
  ])

// An identify event needs personalization too: identify() emits one only
// with it granted, or before the decision, when it is discarded.
const admit = (event, ctx) => allowed() && stamp(event, ctx)

const make = (type, props) => ({ id: uuid7(), type, ts: Date.now(), seq: ++seq, props: clean(props) })

// Props are a flat object of strings (cut to 400 characters), numbers and
// booleans, the last 50 of them (track's name comes last): the collector
// refuses a batch otherwise.
const clean = (props) =>
  Object.fromEntries(
    Object.entries(props || {})
      .filter(([, v]) => /^(st|n|bo)/.test(typeof v))
      .slice(-50)
      .map(([k, v]) => [k, v.slice?.(0, 400) ?? v]),
  )

export const emit = (type, props, ctx = context()) => {
  if (C) admit(make(type, props), ctx)
  // Before the decision a page view replaces the one waiting (an SPA's
  // earlier page), and any other event is discarded.
  else if (type == 'page_view') pending = [make(type, props), ctx]
}

// identify: a user id of the collector's alphabet, kept only with
// personalization; before a decision it waits for one (its identify event
// is discarded, like every event but the page view).
export const identify = (id) => {
  if (/^[\w-]{1,128}$/.test(id) && (!C || granted(PURPOSES[1]))) {
    uid = '' + id
    emit('identify')
  }
}

// reset: forget the user id and the visitor id (a new one is issued when needed).
export const reset = () => {
  store('v', (uid = V = 0))
}

// A decision from the API or an adapter: `m`, `p`, `f` say whether
// measurement, personalization and functional are granted.
export const decide = (m, p, f, source, extra) => {
  const next = { source, notice_version: data.notice, updated_at: Date.now(), ...extra }
  // Each purpose granted or denied; GPC denies personalization unless the
  // visitor grants it explicitly.
  ;[m, p && (source == 'api' || !navigator.globalPrivacyControl), f].map((b, i) => (next[PURPOSES[i]] = b ? GRANTED : 'denied'))
  const key = (c) => c && '' + [PURPOSES.map((k) => c[k]), c.tcf, c.notice_version]
  if (key(next) == key(C)) return
  const was = PURPOSES.some(granted)
  C = next
  const any = PURPOSES.some(granted)
  // Without personalization no user id is kept, not even in the queue.
  if (!granted(PURPOSES[1])) forget((uid = 0))
  if (!granted(MEASUREMENT)) clearQueue()
  // Sent when the new state grants something, or when the one before did
  // (what the new one does not grant is withdrawn); a withdrawal carries
  // the visitor id the tag had, before it is deleted.
  if (any || was) stamp(make('consent'), context())
  store('c', any && next)
  if (!granted(MEASUREMENT)) store('v', (V = 0))
  pending && admit(...pending)
  pending = 0
  persist()
}
