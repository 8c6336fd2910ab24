// The demo shop's "For you" and "Popular here" blocks, filled from
// fiducia('profile') (js-tag/README.md, Personalization): a personal answer
// (the visitor allowed personalization and the tag holds the id the
// collector issued) fills "For you" with the visitor's segments, interests
// and recommended items, each with its reason, and the consent that allows
// it; any other answer is contextual and fills "Popular here", chosen from
// this page only. Each block says why, in the collector's own words. Asked
// when the page loads (the stub queues the call until the tag is there) and
// again after a choice in the banner. Everything from the answer is set as
// text, never as HTML. A module: deferred, after the queue stub and the tag's
// script element.
const CATALOG = await (await fetch('/catalog.json')).json()

/** The product page of `item`, and its name, if the shop sells it. */
const product = (item) => {
  for (const [category, items] of Object.entries(CATALOG)) {
    if (Object.hasOwn(items, item)) return { href: `/p/${category}/${item}`, name: items[item] }
  }
}

const el = (tag, props = {}, ...children) => {
  const node = Object.assign(document.createElement(tag), props)
  node.append(...children)
  return node
}

/** One list entry: the thing (a link for a product) and why it is there. */
const entry = (what, reason, data = {}) => {
  const li = el('li', {}, what, el('span', { className: 'reason', textContent: ` — ${reason}` }))
  Object.assign(li.dataset, data)
  return li
}

const items = (list) =>
  list.map(({ item, reason, visitors }) => {
    const p = product(item)
    const what = p ? el('a', { href: p.href, textContent: p.name }) : el('span', { textContent: item })
    return entry(what, reason, { item, visitors })
  })

/** A sub-list with its heading, or a sentence when it is empty; `list`: ol for a ranking. */
const part = (title, entries, empty, list = 'ul') => [
  el('h3', { textContent: title }),
  entries.length ? el(list, {}, ...entries) : el('p', { className: 'empty', textContent: empty }),
]

const show = (id, ...children) => {
  const block = document.getElementById(id)
  block.querySelector('.body').replaceChildren(...children)
  block.hidden = false
}

function render(answer, error) {
  const forYou = document.getElementById('for-you')
  const popular = document.getElementById('popular')
  const status = document.getElementById('profile-status')
  if (!answer) {
    forYou.hidden = popular.hidden = true
    status.textContent = `Suggestions are not available right now (${error?.reason || error?.message || 'no answer'}).`
    return
  }
  status.textContent = ''
  if (answer.kind == 'personal') {
    const granted = new Date(answer.consent.granted_at)
    show(
      'for-you',
      el('p', { className: 'why', id: 'for-you-why', textContent: answer.explanation }),
      ...part(
        'Your interests',
        answer.interests.map(({ category, score, reason }) => entry(el('strong', { textContent: category }), reason, { category, score })),
        'None yet: browse the shop.',
        'ol', // strongest first
      ),
      ...part(
        'Your segments',
        answer.segments.map(({ name, reason }) => entry(el('strong', { textContent: name }), reason, { segment: name })),
        'None yet.',
      ),
      ...part('Picked for you', items(answer.items), 'Nothing to recommend yet.'),
      el(
        'p',
        { className: 'consent', id: 'for-you-consent' },
        `Allowed by your choice of ${answer.consent.purpose} on `,
        el('time', { dateTime: answer.consent.granted_at, textContent: granted.toLocaleDateString('en', { dateStyle: 'long' }) }),
        '. ',
        el('button', { type: 'button', textContent: 'Change it', onclick: () => fiducia('privacy') }),
      ),
    )
    popular.hidden = true
  } else {
    show(
      'popular',
      el('p', { className: 'why', id: 'popular-why', textContent: answer.explanation }),
      ...part('Popular now', items(answer.items), 'Nothing popular here yet.'),
    )
    forYou.hidden = true
  }
}

window.showProfile = () => fiducia('profile', render)
showProfile()
