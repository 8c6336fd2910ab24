// The tag's reminder (data-reminder="<days>" on its script element), a
// module the tag imports for a visitor the collector issued an id: a
// small, dismissible notice reminding a returning visitor of what they
// allowed, read from the collector with their token, in the page's
// language. Shown at most once every <days> days (the next time it is due
// is kept under fiducia:r), and only when the choice was made before today.
const WORDS = /*WORDS*/ {}
const read = (key) => {
  try {
    return JSON.parse(localStorage.getItem('fiducia:' + key))
  } catch {}
}
const days = +document.querySelector('script[data-reminder]')?.dataset.reminder
const visitor = read('v')
if (days > 0 && visitor?.t && !(read('r') > Date.now())) {
  const lang = document.documentElement.lang || navigator.language
  const S = WORDS[lang.slice(0, 2).toLowerCase()] || WORDS.en
  const site = JSON.parse(atob(visitor.t.split('.')[1].replace(/-/g, '+').replace(/_/g, '/'))).site
  const url = `${new URL(import.meta.url).origin}/v1/privacy/${encodeURIComponent(site)}/${encodeURIComponent(visitor.id)}/consent`
  const state = await fetch(url, { headers: { authorization: 'Bearer ' + visitor.t } }).then((r) => r.ok && r.json(), () => null)
  const on = ['measurement', 'personalization', 'functional', 'contextual']
    .map((p) => [p, state?.purposes?.[p]])
    .filter(([, s]) => s?.granted)
  const since = Math.max(...on.map(([, s]) => s.since))
  // Returning: the choice was made before today.
  if (on.length && since < new Date().setHours(0, 0, 0, 0)) {
    localStorage.setItem('fiducia:r', JSON.stringify(Date.now() + days * 864e5))
    const names = on.map(([p]) => S[p].toLowerCase())
    const list = names.length > 1 ? `${names.slice(0, -1).join(', ')} ${S.and} ${names.at(-1)}` : names[0]
    const date = new Date(since).toLocaleDateString(lang, { day: 'numeric', month: 'long' })
    const box = document.createElement('aside')
    box.setAttribute('aria-label', S.reminder_label)
    box.style.cssText =
      'position:fixed;bottom:1rem;left:1rem;z-index:2147483647;max-width:22rem;padding:.75rem 1rem;background:#fff;color:#1b1f23;border:1px solid #d0d7de;border-radius:.5rem;box-shadow:0 2px 8px #0003;font:14px/1.4 system-ui,sans-serif'
    const text = document.createElement('p')
    text.style.margin = '0 0 .5rem'
    text.textContent = S.reminder.replace('{purposes}', list).replace('{date}', date)
    const button = (label, action) => {
      const b = document.createElement('button')
      b.type = 'button'
      b.textContent = label
      b.style.cssText = 'font:inherit;margin-right:.5rem;padding:.2rem .6rem;border:1px solid #d0d7de;border-radius:.3rem;background:#f6f8fa;color:inherit;cursor:pointer'
      b.onclick = () => {
        box.remove()
        action?.()
      }
      return b
    }
    box.append(text, button(S.reminder_change, () => window.fiducia('privacy')), button(S.reminder_dismiss))
    document.body.append(box)
  }
}
