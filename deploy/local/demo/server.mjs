// The demo site: a few static pages that load the tag from the collector,
// served from their own origin as a real site would be. `deploy/local/up`
// starts it; the tag's browser tests use it too.
//   FIDUCIA_DEMO_ADDR       where to listen (default 127.0.0.1:8000)
//   FIDUCIA_COLLECTOR_URL   the collector the pages load the tag from and send to
// Pages may hold @COLLECTOR@, replaced by that URL. Any /app/... path is the
// single-page app's shell, as with a client-side router.
import { readFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import { extname, join, normalize } from 'node:path'

const ROOT = new URL('site/', import.meta.url).pathname
const TYPES = { '.html': 'text/html; charset=utf-8', '.pdf': 'application/pdf', '.css': 'text/css' }

export function demoServer(collector) {
  return createServer(async (request, response) => {
    let path = decodeURIComponent(new URL(request.url, 'http://demo').pathname)
    if (path.endsWith('/')) path += 'index.html'
    if (path.startsWith('/app/')) path = '/app.html'
    // A form posts here; its fields are read by nobody.
    request.resume()
    try {
      const file = join(ROOT, normalize(path).replace(/^(\.\.[/\\])+/, ''))
      let body = await readFile(file)
      const type = TYPES[extname(file)] || 'application/octet-stream'
      if (type.startsWith('text/html')) body = body.toString().replaceAll('@COLLECTOR@', collector)
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
