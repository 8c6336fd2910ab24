// Consent from the site's CMP, mapped to our purposes (SPEC section 5).
import { GRANTED, decide } from './tracker.js'

// LastUpdated of a TC string (core segment bits 42-77, deciseconds), in ms.
export const tcTime = (tc) => {
  try {
    let n = 0
    // Characters 7-14 hold bits 42-89; the first 36 of those 48 bits are LastUpdated.
    for (const c of atob(tc.slice(7, 15).replace(/-/g, '+').replace(/_/g, '/'))) n = n * 256 + c.charCodeAt()
    return Math.floor(n / 4096) * 100
  } catch (e) {}
}

// IAB TCF v2.2 (`__tcfapi`): the publisher segment's purposes: measurement
// = 1 and 8, personalization = 1, 5 and 6, functional = 1. Only `tcloaded`
// and `useractioncomplete` carry a decision; `cmpuishown` never grants.
export const tcf = (api) =>
  api?.('addEventListener', 2, (d, ok) => {
    if (ok && d.gdprApplies !== false && /^(tcloaded|useractioncomplete)$/.test(d.eventStatus)) {
      const has = (...ids) => ids.every((i) => d.publisher?.consents?.[i])
      decide(has(1, 8), has(1, 5, 6), has(1), 'tcf', { tcf: d.tcString, updated_at: tcTime(d.tcString) || Date.now() })
    }
  })

// Google Consent Mode v2: `consent` commands on the dataLayer, those
// already there and those pushed later. An `update` is a decision; a
// `default` only when it grants something (a denied default waits for the
// CMP's update). Defaults scoped to regions are ignored: the tag cannot
// know the visitor's region.
export const gcm = (dl) => {
  if (!dl) return
  const state = {}
  const read = (a) => {
    if (a?.[0] == 'consent' && !a[2]?.region) {
      Object.assign(state, a[2])
      const [m, p, f] = ['analytics', 'personalization', 'functionality'].map((k) => state[k + '_storage'] == GRANTED)
      if (a[1] == 'update' || m || p || f) decide(m, p, f, 'gcm')
    }
  }
  dl.forEach(read)
  const push = dl.push
  dl.push = function (...a) {
    a.forEach(read)
    return push.apply(this, a)
  }
}
