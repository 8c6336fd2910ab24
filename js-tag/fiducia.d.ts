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
  /** Calls queued by the stub before the tag loaded. */
  q?: IArguments[]
}

declare global {
  interface Window {
    fiducia: Fiducia
  }
}
