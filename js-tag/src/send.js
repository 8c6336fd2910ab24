// Delivery: a bounded queue of [envelope header, event] items, sent in
// batches of events that share a header, as text/plain (no CORS preflight)
// with fetch keepalive, or sendBeacon when the page unloads. 408, 429, 5xx
// and network errors are retried with exponential backoff and jitter, never
// sooner than Retry-After; the queue is kept in localStorage while
// measurement is granted, so it survives a reload or a collector outage.
// The collector dedups on event id, so a retry resends the same ids.
import { backoff } from './backoff.js'
import { store } from './store.js'
import { MAX_EVENTS, MEASUREMENT, V, adopt, granted } from './tracker.js'

const BATCH = 20
const BATCH_DELAY_MS = 1e3

let url
let queue = []
let timer = 0
let tries = 0 // failed attempts in a row; > 0 means backing off
let busy


export const persist = () => store('q', granted(MEASUREMENT) && queue.length && queue)

export const start = (origin) => {
  url = origin + '/v1/events'
  if (granted(MEASUREMENT)) queue = store('q') || []
  schedule()
}

// Measurement is not granted: the queue is dropped (and its stored copy with
// the next persist(), which keeps it only with measurement).
export const reset = () => (queue = [])

// Personalization is not granted: no queued envelope may keep a user id,
// so those that have one are dropped (identify events with them). In the
// JSON header `"user_id":"` can only be the key: quotes in strings are escaped.
export const forget = () => (queue = queue.filter((i) => !/"user_id":"/.test(i[0])))

const schedule = () => queue.length && (timer ||= setTimeout(flush, BATCH_DELAY_MS))

export const push = (item) => {
  queue = [...queue, item].slice(-MAX_EVENTS)
  persist()
  schedule()
}

// The first header's events (up to BATCH) of `items`, and their envelope.
const next = (items = queue) => {
  const batch = items.filter((i) => i[0] == items[0][0]).slice(0, BATCH)
  const head = JSON.parse(batch[0][0])
  // A batch stamped before the visitor id was issued gets it now (the batch
  // before it was answered): one visitor, one id.
  head.visitor.id = head.visitor.id || V?.id
  return [batch, JSON.stringify({ ...head, sent_at: Date.now(), events: batch.map((i) => i[1]) })]
}

const without = (items, batch) => items.filter((i) => !batch.includes(i))

const flush = () => {
  clearTimeout(timer)
  timer = 0
  if (busy || !queue.length) return
  busy = 1
  const [batch, body] = next()
  const done = (status, retryAfter) => {
    busy = 0
    // 2xx is delivered; other 4xx (bad batch, unknown site) can never succeed.
    if (status && status != 408 && status != 429 && status < 500) {
      tries = 0
      queue = without(queue, batch)
      persist()
      flush()
    } else timer = setTimeout(flush, backoff(tries++, retryAfter))
  }
  // Browsers refuse keepalive bodies over 64 KB.
  fetch(url, { method: 'POST', body, keepalive: body.length < 6e4 }).then(
    (r) => done(r.status, r.headers.get('retry-after'), adopt(r.headers.get('fiducia-visitor'))),
    // A network error: its TypeError is no status (not < 500), so it is retried.
    done,
  )
}

// The page is hidden: send now (unless backing off), while the page can
// still see the answer. It is unloading: hand everything to sendBeacon, and
// keep it stored (while measurement is granted), for the next page to send
// again in case the beacon never arrived: at least once, and the pipeline
// collapses duplicates on event id.
export const hide = (unload) => {
  if (!unload) return tries || flush()
  for (let rest = queue; rest.length; ) {
    const [batch, body] = next(rest)
    navigator.sendBeacon(url, body)
    rest = without(rest, batch)
  }
}
