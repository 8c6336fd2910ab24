// The demo site: a few static pages that load the tag from the collector,
// served from their own origin as a real site would be, and a small shop.
// `deploy/local/up` starts it; the tag's browser tests use it too.
//   FIDUCIA_DEMO_ADDR       where to listen (default 127.0.0.1:8000)
//   FIDUCIA_COLLECTOR_URL   the collector the pages load the tag from and send to
// Pages may hold @COLLECTOR@, replaced by that URL. Any /app/... path is the
// single-page app's shell, as with a client-side router. Every product of
// site/catalog.json, /p/<category>/<item> (the sites file's categories and
// item rule), is site/product.html with the product's @CATEGORY@, @ITEM@
// and @NAME@.
import { readFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import { extname, join, normalize } from 'node:path'

const ROOT = new URL('site/', import.meta.url).pathname
const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.json': 'application/json',
  '.pdf': 'application/pdf',
  '.css': 'text/css',
}
const CATALOG = JSON.parse(readFileSync(join(ROOT, 'catalog.json'), 'utf8'))

export function demoServer(collector) {
  return createServer(async (request, response) => {
    let path = decodeURIComponent(new URL(request.url, 'http://demo').pathname)
    if (path.endsWith('/')) path += 'index.html'
    if (path.startsWith('/app/')) path = '/app.html'
    const [, category, item] = path.match(/^\/p\/([^/]+)\/([^/]+)$/) || []
    const product = category && Object.hasOwn(CATALOG, category) && Object.hasOwn(CATALOG[category], item)
    const fill = {
      '@COLLECTOR@': collector,
      ...(product && { '@CATEGORY@': category, '@ITEM@': item, '@NAME@': CATALOG[category][item] }),
    }
    if (product) path = '/product.html'
    // A form posts here; its fields are read by nobody.
    request.resume()
    try {
      if (path == '/product.html' && !product) throw new Error('the template alone is no page')
      const file = join(ROOT, normalize(path).replace(/^(\.\.[/\\])+/, ''))
      let body = await readFile(file)
      const type = TYPES[extname(file)] || 'application/octet-stream'
      if (type.startsWith('text/html')) body = body.toString().replace(/@(COLLECTOR|CATEGORY|ITEM|NAME)@/g, (key) => fill[key] ?? key)
      response.writeHead(200, { 'content-type': type, 'cache-control': 'no-cache' })
      response.end(body)
    } catch {
      response.writeHead(404, { 'content-type': 'text/plain' })
      response.end('not found\n')
    }
  })
}

if (import.meta.url == `file://${process.argv[1]}`) {
  const [host, port] = (process.env.FIDUCIA_DEMO_ADDR || '127.0.0.1:8000').split(':')
  const collector = process.env.FIDUCIA_COLLECTOR_URL || 'http://127.0.0.1:8080'
  const server = demoServer(collector)
  server.listen(Number(port), host, () => console.log(`demo site on http://${host}:${port}/ (collector ${collector})`))
}
