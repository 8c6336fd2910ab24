// Types for Fiducia's tag: `window.fiducia(command, ...args)`.
// Install: <script async src="https://collect.example.com/tag.js" data-site="demo"></script>
// and, before it, the queue stub so calls made before the tag loads are kept:
// window.fiducia = window.fiducia || function () { (fiducia.q = fiducia.q || []).push(arguments) }

/** A purpose's choice: `true`/`'granted'` grants it, anything else denies it. */
export type FiduciaConsentValue = boolean | 'granted' | 'denied'

/** The visitor's choice per purpose; a missing purpose is denied. */
export interface FiduciaConsentChoice {
  /** First-party analytics; allows a visitor id for up to 13 months. */
  measurement?: FiduciaConsentValue
  /** Visitor profiles and personalized content; allows `identify`. */
  personalization?: FiduciaConsentValue
  /** Remembered preferences. */
  functional?: FiduciaConsentValue
}

export interface FiduciaConsentOptions {
  /** The version of the notice the visitor saw (default: the script's `data-notice`). */
  notice_version?: string
}

/**
 * Event properties: a flat object. Strings are cut to 400 characters; other
 * value types are left out, and so are the first ones past 50 properties.
 */
export type FiduciaProps = Record<string, string | number | boolean>

/** Why something is in a profile answer, in a sentence the site can show. */
export interface FiduciaReasoned {
  reason: string
}

/** A segment of the site's configuration the visitor is in, e.g. "shoe lover". */
export interface FiduciaSegment extends FiduciaReasoned {
  name: string
}

/** A page category the visitor is interested in; `score` decays by half every 30 days. */
export interface FiduciaInterest extends FiduciaReasoned {
  category: string
  score: number
}

/** A recommended item (an id of the site's item rules), and how many distinct visitors back it. */
export interface FiduciaItem extends FiduciaReasoned {
  item: string
  visitors: number
}

/** A personalized answer: only for a visitor whose tag holds a grant of personalization and an issued id. */
export interface FiduciaPersonalProfile {
  site: string
  kind: 'personal'
  /**
   * The consent that allows it: purpose, when the record that allows it now
   * was received (ISO 8601), that record's id, and (when the collector says)
   * since when personalization stands granted without a break.
   */
  consent: { purpose: 'personalization'; granted_at: string; record_id: string; granted_since?: string }
  segments: FiduciaSegment[]
  /** Strongest first. */
  interests: FiduciaInterest[]
  items: FiduciaItem[]
  /** Why the answer is personal and where to change it, for the visitor. */
  explanation: string
}

/** A contextual answer: from the current request only (page, referrer, device, time), nothing about the visitor. */
export interface FiduciaContextualProfile {
  site: string
  kind: 'contextual'
  context: { category: string; referrer_class: string; device: string; time_of_day: string }
  items: FiduciaItem[]
  /** Why, for the visitor: nothing about them was used. */
  explanation: string
  /** Why the answer is not personal, when the collector says (e.g. `no_token`, `not_granted`). */
  basis?: string
}

/** The answer of `fiducia('profile')`: tell the two apart by `kind`. */
export type FiduciaProfile = FiduciaPersonalProfile | FiduciaContextualProfile

/** The collector's refusal (4xx/5xx): a machine-readable `reason`, sometimes more fields. */
export interface FiduciaProfileError {
  reason: string
  [field: string]: unknown
}

/**
 * Called once: with the answer, or with `null` and the error: the
 * collector's `FiduciaProfileError`, or an `Error` when the collector could
 * not be reached or did not answer JSON.
 */
export type FiduciaProfileCallback = (profile: FiduciaProfile | null, error?: FiduciaProfileError | Error) => void

export interface Fiducia {
  /** A custom event (type `custom`, `props.name` = `name`). */
  (command: 'track', name: string, props?: FiduciaProps): void
  /**
   * The first-party user id (1-128 of `A-Z a-z 0-9 _ -`): sent as
   * `visitor.user_id` and an `identify` event, only with personalization
   * consent. Kept in memory for this page only. Before a decision the id
   * waits for it (the `identify` event is not sent); when personalization is
   * withdrawn, queued events that carry it are dropped.
   */
  (command: 'identify', userId: string): void
  /**
   * The visitor's consent. Before the first decision nothing leaves the page
   * and nothing is stored; only the current page's view waits for it, every
   * other event captured before it is discarded. A decision that grants the
   * `data-purposes` sends that page view, one that does not discards it.
   * Withdrawing measurement deletes the visitor id and the stored queue; a
   * choice that grants nothing is not stored. A stored choice counts for 13
   * months, then it is deleted with the visitor id and the stored queue.
   */
  (command: 'consent', choice: FiduciaConsentChoice, options?: FiduciaConsentOptions): void
  /** Forgets the user id and the visitor id (e.g. on logout). */
  (command: 'reset'): void
  /** Opens the visitor's privacy center in a new tab, in the page's language. */
  (command: 'privacy'): void
  /**
   * What the site may show this visitor, from the collector's
   * `GET /v1/profile/<site>?path=…&referrer=…`. Personal (with the visitor's
   * token in `Authorization`) only while this tag's consent state grants
   * personalization and it holds the id the collector issued; otherwise
   * contextual, and the request carries no identifier: no token, no id, no
   * cookie (`credentials: 'omit'`). The promise rejects with a
   * `FiduciaProfileError` (4xx/5xx) or an `Error` (network, not JSON).
   */
  (command: 'profile'): Promise<FiduciaProfile>
  /** The same, with a callback; the form to use before the tag has loaded (the stub queues it, and returns nothing). */
  (command: 'profile', callback: FiduciaProfileCallback): void
  /** Calls queued by the stub before the tag loaded. */
  q?: IArguments[]
}

declare global {
  interface Window {
    fiducia: Fiducia
  }
}
