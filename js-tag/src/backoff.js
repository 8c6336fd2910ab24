// Delivery's retry schedule (send.js), pure: the unit tests import it without a page.

// The wait before retry `n` (0-based): 1 s doubling up to 5 min, the upper
// half of it at random (jitter), and never less than Retry-After (seconds).
export const backoff = (n, retryAfter, random = Math.random()) => {
  const d = Math.min(3e5, 1e3 * 2 ** n)
  return Math.max((d * (1 + random)) / 2, retryAfter * 1e3 || 0)
}
