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

const call = async (path, body, method = body ? 'POST' : 'GET') => {
  const r = await fetch(base + path, {
    method,
    headers: { authorization: 'Bearer ' + token, 'content-type': 'application/json' },
    body: body && JSON.stringify(body),
  })
  if (!r.ok) throw new Error((await r.json().catch(() => ({}))).error || r.status)
  return r
}
const api = async (path, body, method) => (await call(path, body, method)).json()

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

const save = (blob, name) => {
  const link = document.createElement('a')
  link.href = URL.createObjectURL(blob)
  link.download = name
  link.click()
  setTimeout(() => URL.revokeObjectURL(link.href), 1e3)
}

const download = async (id) => {
  const receipt = await api('receipts/' + id)
  save(new Blob([JSON.stringify(receipt, null, 2)], { type: 'application/json' }), `consent-receipt-${id}.json`)
}

// Your data: the export (a file), the retention choice, erasure (after a
// confirmation in a modal dialog) and the requests made so far.
const months = (m) => (m == 1 ? S.retention_month : fill(S.retention_months, { months: m }))
const retention = (r) => {
  if (!r) return
  $('retention-what').textContent = fill(S.retention_what, { site: r.site_months })
  const box = $('retention-choices')
  box.replaceChildren()
  for (const m of [0, ...r.choices]) {
    const label = document.createElement('label')
    const input = Object.assign(document.createElement('input'), { type: 'radio', name: 'months', value: m, checked: m == r.months })
    label.append(input, ' ', m ? months(m) : fill(S.retention_default, { months: r.site_months }))
    box.append(label)
  }
  $('retention').disabled = !r.choices.length
}
const erased = () => {
  for (const id of ['export', 'erase', 'retention']) $(id).disabled = true
  for (const input of document.querySelectorAll('input[role=switch]')) input.disabled = true
}
const requests = async () => {
  const list = $('requests')
  try {
    const rows = (await api('requests')).requests
    list.replaceChildren()
    if (!rows.length) list.append(Object.assign(document.createElement('li'), { textContent: S.requests_empty }))
    for (const r of rows) {
      const text = fill(S.request_item, { kind: S['kind_' + r.kind] || r.kind, status: S['status_' + r.status] || r.status, date: time(Date.parse(String(r.updated_at).replace(' ', 'T') + 'Z') || Date.now()) })
      list.append(Object.assign(document.createElement('li'), { textContent: text }))
    }
  } catch {
    // No warehouse here: nothing to list.
    list.replaceChildren()
  }
}

$('export').onclick = async () => {
  say(S.exporting)
  try {
    const r = await call('export')
    save(await r.blob(), (r.headers.get('content-disposition') || '').split('filename="')[1]?.slice(0, -1) || 'export.json')
    say(S.exported)
    requests()
  } catch (error) {
    say(fill(S.export_failed, { reason: error.message }))
  }
}
$('retention-save').onclick = async () => {
  const chosen = document.querySelector('input[name=months]:checked')
  if (!chosen) return
  try {
    const state = await api('retention', { months: +chosen.value })
    retention(state.retention)
    timeline((await api('history')).records)
    say(fill(S.retention_saved, { months: state.retention.effective_months }))
  } catch (error) {
    say(fill(S.save_failed, { reason: error.message }))
  }
}
const dialog = $('confirm')
$('erase').onclick = () => dialog.showModal()
$('confirm-cancel').onclick = () => dialog.close()
$('confirm-erase').onclick = async () => {
  dialog.close()
  try {
    const answer = await api('erase', undefined, 'POST')
    erased()
    // The status is said last: it tells a screen reader (and a test) that
    // the page, timeline included, shows the erasure.
    timeline((await api('history')).records)
    say(answer.status == 'erased' ? S.erased_already : fill(S.erase_received, { id: answer.request_id }))
    requests()
  } catch (error) {
    say(fill(S.save_failed, { reason: error.message }))
  }
  $('erase').focus()
}

const load = async () => {
  const [state, history] = await Promise.all([api('consent'), api('history')])
  show(state)
  timeline(history.records)
  retention(state.retention)
  $('export').disabled = $('erase').disabled = false
  if (state.erased) erased(), say(S.erased_already)
  requests()
}

document.addEventListener('change', async (e) => {
  const input = e.target
  if (input.getAttribute('role') != 'switch') return
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
else load().then(() => $('status').textContent == S.loading && say(''), (error) => say(fill(S.failed, { reason: error.message })))
