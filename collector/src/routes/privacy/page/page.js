// The privacy center's few lines of script. The tag opens this page with
// the visitor's token in the fragment (never sent to a server, never in a
// Referer); it is kept in this tab's sessionStorage and the fragment is
// cleared. The token names the site and the visitor; every call proves
// them with it.
const $ = (id) => document.getElementById(id)
const S = JSON.parse($('strings').textContent)
const PURPOSES = [...document.querySelectorAll('input[role=switch]')].map((i) => i.name)
const say = (text) => ($('status').textContent = text)
const fill = (text, values) => text.replace(/\{(\w+)\}/g, (_, k) => values[k] ?? '')
const date = (ms) => new Date(ms).toLocaleDateString(document.documentElement.lang, { day: 'numeric', month: 'long', year: 'numeric' })
// Where a choice came from, in words (`tag:api` → the site's own choices).
const source = (s) => S['source_' + s.split(':')[0]] || s
const time = (ms) => new Date(ms).toLocaleString(document.documentElement.lang, { dateStyle: 'long', timeStyle: 'short' })
let token = location.hash.slice(1)
if (location.hash) history.replaceState(null, '', location.pathname + location.search)
if (token.split('.').length == 3) sessionStorage.setItem('fiducia:t', token)
else token = sessionStorage.getItem('fiducia:t') || ''
let base
try {
  const claims = JSON.parse(atob(token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')))
  base = `/v1/privacy/${encodeURIComponent(claims.site)}/${encodeURIComponent(claims.sub)}/`
} catch {}

const api = async (path, body) => {
  const r = await fetch(base + path, {
    method: body ? 'POST' : 'GET',
    headers: { authorization: 'Bearer ' + token, 'content-type': 'application/json' },
    body: body && JSON.stringify(body),
  })
  const answer = await r.json()
  if (!r.ok) throw new Error(answer.error)
  return answer
}

const show = (state) => {
  for (const [purpose, s] of Object.entries(state.purposes)) {
    const input = document.querySelector(`input[name="${purpose}"]`)
    if (!input) continue
    input.checked = s.granted
    input.disabled = false
    $(purpose + '-since').textContent = s.since
      ? fill(S.since, { state: s.granted ? S.on : S.off, date: date(s.since) }) + ' · ' + fill(S.by, { source: source(s.source) })
      : ''
  }
}

const timeline = (records) => {
  const list = $('timeline')
  list.replaceChildren()
  if (!records.length) list.append(Object.assign(document.createElement('li'), { textContent: S.history_empty }))
  for (const r of [...records].reverse()) {
    const item = document.createElement('li')
    const when = Object.assign(document.createElement('time'), { dateTime: new Date(r.received_at).toISOString(), textContent: time(r.received_at) })
    // What changed, in the page's order of purposes: for an update both kinds.
    const names = (kind) => PURPOSES.filter((p) => r.changes[p] == kind).map((p) => S[p])
    const parts = ['granted', 'withdrawn'].map((k) => [k, names(k)]).filter(([, n]) => n.length)
    const what =
      r.action == 'update'
        ? parts.map(([k, n]) => `${S[k]}: ${n.join(', ')}`).join('; ')
        : (parts[0]?.[1] || names('denied')).join(', ')
    const head = document.createElement('p')
    head.append(when, ' — ', S['action_' + r.action] || r.action, what && ': ' + what)
    const meta = Object.assign(document.createElement('small'), {
      textContent: [fill(S.by, { source: source(r.source) }), r.notice_version && fill(S.notice, { version: r.notice_version })].filter(Boolean).join(' · '),
    })
    const button = Object.assign(document.createElement('button'), { type: 'button', textContent: S.receipt })
    button.setAttribute('aria-label', fill(S.receipt_of, { date: time(r.received_at) }))
    button.onclick = () => download(r.record_id)
    item.append(head, meta, ' ', button)
    list.append(item)
  }
}

const download = async (id) => {
  const receipt = await api('receipts/' + id)
  const link = document.createElement('a')
  link.href = URL.createObjectURL(new Blob([JSON.stringify(receipt, null, 2)], { type: 'application/json' }))
  link.download = `consent-receipt-${id}.json`
  link.click()
  setTimeout(() => URL.revokeObjectURL(link.href), 1e3)
}

const load = async () => {
  const [state, history] = await Promise.all([api('consent'), api('history')])
  show(state)
  timeline(history.records)
}

document.addEventListener('change', async (e) => {
  const input = e.target
  input.disabled = true
  try {
    show(await api('consent', { [input.name]: input.checked ? 'granted' : 'denied' }))
    timeline((await api('history')).records)
    say(fill(S.saved, { purpose: S[input.name], state: input.checked ? S.on : S.off }))
  } catch (error) {
    input.checked = !input.checked
    input.disabled = false
    say(fill(S.save_failed, { reason: error.message }))
  }
})

if (!base) say(S.no_token)
else load().then(() => say(''), (error) => say(fill(S.failed, { reason: error.message })))
