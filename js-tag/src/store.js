// localStorage under one prefix: store(key) reads, store(key, value) writes,
// store(key, <falsy>) deletes. Every access is guarded: storage can be disabled
// or full, and the tag must never break the page.
export const store = (key, value) => {
  try {
    key = 'fiducia:' + key
    return value === undefined
      ? JSON.parse(localStorage[key])
      : value
        ? (localStorage[key] = JSON.stringify(value))
        : delete localStorage[key]
  } catch (e) {}
}
