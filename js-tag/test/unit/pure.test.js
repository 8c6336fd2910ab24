// The tag's pure functions, imported from src/: ids and backoff.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { backoff } from '../../src/backoff.js'
import { uuid7 } from '../../src/uuid.js'

test('uuid7 carries the time, version 7 and the RFC variant', () => {
  const now = Date.UTC(2026, 0, 15, 12, 30)
  const id = uuid7(now)
  assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
  assert.equal(parseInt(id.replace(/-/g, '').slice(0, 12), 16), now)
})

test('uuid7 ids are unique', () => {
  const ids = new Set(Array.from({ length: 10000 }, () => uuid7(1764000000000)))
  assert.equal(ids.size, 10000)
})

test('backoff doubles from 1 s, with jitter in the upper half, capped at 5 minutes', () => {
  assert.equal(backoff(0, null, 0), 500)
  assert.equal(backoff(0, null, 1), 1000)
  assert.equal(backoff(3, null, 0), 4000)
  assert.equal(backoff(3, null, 1), 8000)
  assert.equal(backoff(20, null, 1), 300000)
  assert.equal(backoff(20, null, 0), 150000)
})

test('backoff never retries before Retry-After', () => {
  assert.equal(backoff(0, '30', 1), 30000)
  assert.equal(backoff(10, '30', 1), 300000)
  // An HTTP-date or garbage Retry-After falls back to the backoff alone.
  assert.equal(backoff(1, 'Wed, 21 Oct 2015 07:28:00 GMT', 1), 2000)
})
