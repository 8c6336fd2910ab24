// Consent from the site's CMP, mapped to our purposes (`collector/README.md`, Consent).
import { GRANTED, decide } from './tracker.js'

// IAB TCF v2.2 (`__tcfapi`): the publisher segment's purposes: measurement
// = 1 and 8, personalization = 1, 5 and 6, functional = 1. Of the API's
// three event statuses only `tcloaded` and `useractioncomplete` (those that
// start with t or u) carry a decision; `cmpuishown` never grants. The
// decision's time is when the tag saw it: the collector reads the string's
// own LastUpdated (its age decides, and it is the record's client time).
export const tcf = (api) =>
  api?.('addEventListener', 2, (d, ok) => {
    if (ok && d.gdprApplies != false && /^[tu]/.test(d.eventStatus)) {
      const has = (...ids) => ids.every((i) => d.publisher?.consents?.[i])
      decide(has(1, 8), has(1, 5, 6), has(1), 'tcf', { tcf: d.tcString })
    }
  })

// Google Consent Mode v2: `consent` commands on the dataLayer, those
// already there and those pushed later. Only an `update` is a decision (the
// visitor's); a `default` never grants by itself, it is what an `update`
// leaves unnamed: each `update` changes the purposes it names, the others
// keep their global default, or are denied if any default scoped to regions
// denies them (the tag cannot know the visitor's region: a regional denial
// may be the visitor's, a regional grant counts for nothing).
// Without a dataLayer the tag watches an array of its own, which nobody fills.
export const gcm = (dl = []) => {
  const s = [{}, {}, {}] // global defaults, regional denials, updates
  const read = (a) => {
    const o = a?.[0] == 'consent' && a[2]
    const update = a?.[1] == 'update'
    for (const k in o) if (!o.region || o[k] != GRANTED) s[update ? 2 : o.region ? 1 : 0][k] = o[k]
    if (o && update) {
      const m = Object.assign({}, ...s)
      decide(...['analytics', 'personalization', 'functionality'].map((k) => m[k + '_storage'] == GRANTED), 'gcm')
    }
  }
  dl.map(read)
  const push = dl.push
  dl.push = (...a) => (a.map(read), push.apply(dl, a))
}
