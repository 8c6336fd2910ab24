// The real pipeline for the browser tests: ClickHouse, the Tansu broker,
// sink, enricher, collector and the demo site, all started by
// deploy/local/up on free ports under a private state directory, so the
// tests never touch another stack. FIDUCIA_BIN_DIR names the service
// binaries; without it they are built (cargo build --bins, debug).
//
// The demo pages reach the collector through a recording proxy: the log of
// every request the pages send it, bodies included, beacons too (a beacon
// sent while a page unloads is invisible to the browser's own request
// events). When the collector is down the proxy drops the connection, so
// the browser sees the network error it would see without the proxy.
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer as createHttpServer, request as httpRequest } from 'node:http'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const REPO = new URL('../../../', import.meta.url).pathname
const LOCAL = join(REPO, 'deploy/local')

const freePort = () =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })

// Forwards to 127.0.0.1:`port`, recording {at, method, path, headers, body, status}.
function recordingProxy(port, log) {
  return createHttpServer((req, res) => {
    const chunks = []
    req.on('data', (c) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks)
      const entry = { at: Date.now(), method: req.method, path: req.url, headers: req.headers, body: body.toString(), status: 0 }
      log.push(entry)
      const upstream = httpRequest(
        { host: '127.0.0.1', port, method: req.method, path: req.url, headers: req.headers, agent: false },
        (up) => {
          entry.status = up.statusCode
          res.writeHead(up.statusCode, up.headers)
          up.pipe(res)
        },
      )
      upstream.on('error', () => req.socket.destroy())
      upstream.end(body)
    })
  })
}

export async function startStack() {
  const state = mkdtempSync(join(tmpdir(), 'fiducia-browser-'))
  const [kafka, chHttp, chTcp, chInter, collector, collectorAdmin, enricherAdmin, sinkAdmin, demo, proxyPort, prometheus] =
    await Promise.all(Array.from({ length: 11 }, freePort))
  const log = []
  const proxy = recordingProxy(collector, log)
  await new Promise((r) => proxy.listen(proxyPort, '127.0.0.1', r))
  const demoOrigin = `http://127.0.0.1:${demo}`
  const sites = join(state, 'sites.toml')
  // The repository's sites file, with the demo page's origin on this port.
  const repoSites = readFileSync(join(REPO, 'deploy/sites.toml'), 'utf8')
  writeFileSync(sites, repoSites.replace(/^allowed_origins = .*$/m, `allowed_origins = ["${demoOrigin}"]`))
  let bin = process.env.FIDUCIA_BIN_DIR
  if (!bin) {
    execFileSync('cargo', ['build', '--quiet', '--bins'], { cwd: REPO, stdio: 'inherit' })
    bin = join(process.env.CARGO_TARGET_DIR || join(REPO, 'target'), 'debug')
  }
  const env = {
    ...process.env,
    FIDUCIA_STATE_DIR: state,
    FIDUCIA_KAFKA_PORT: String(kafka),
    FIDUCIA_CLICKHOUSE_HTTP_PORT: String(chHttp),
    FIDUCIA_CLICKHOUSE_TCP_PORT: String(chTcp),
    FIDUCIA_CLICKHOUSE_INTERSERVER_PORT: String(chInter),
    FIDUCIA_COLLECTOR_LISTEN_ADDR: `127.0.0.1:${collector}`,
    FIDUCIA_COLLECTOR_ADMIN_ADDR: `127.0.0.1:${collectorAdmin}`,
    FIDUCIA_ENRICHER_ADMIN_ADDR: `127.0.0.1:${enricherAdmin}`,
    FIDUCIA_SINK_ADMIN_ADDR: `127.0.0.1:${sinkAdmin}`,
    FIDUCIA_DEMO_ADDR: `127.0.0.1:${demo}`,
    FIDUCIA_PROMETHEUS_PORT: String(prometheus),
    FIDUCIA_DEMO_COLLECTOR_URL: `http://127.0.0.1:${proxyPort}`,
    FIDUCIA_SITES_FILE: sites,
    FIDUCIA_KAFKA_STORAGE: 'memory',
    FIDUCIA_KAFKA_PARTITIONS: '2',
    FIDUCIA_STOP_TIMEOUT: '5',
    // No ledger is read across a stop here: services stop at once.
    FIDUCIA_METRICS_LINGER_MS: '0',
    FIDUCIA_BIN_DIR: bin,
    // A quick flush to ClickHouse keeps the tests short.
    FIDUCIA_SINK_BATCH_MAX_WAIT_MS: '200',
  }
  // Always a broker of our own, even where a shared one is configured.
  delete env.KAFKA_BROKERS
  const script = (name, ...args) => {
    try {
      return execFileSync(join(LOCAL, name), args, { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
    } catch (e) {
      throw new Error(`deploy/local/${name} ${args.join(' ')} failed:\n${e.stdout}\n${e.stderr}`)
    }
  }
  const stack = {
    state,
    demo: demoOrigin,
    /** The collector as the demo pages see it (the recording proxy). */
    collector: `http://127.0.0.1:${proxyPort}`,
    /** What reached the collector's address since `since` (Unix ms). */
    received(since = 0) {
      return log.filter((e) => e.at >= since)
    },
    /** The events posted since `since`, beacons included. */
    events(since = 0) {
      return log
        .filter((e) => e.at >= since && e.method == 'POST' && e.path == '/v1/events')
        .flatMap((e) => JSON.parse(e.body).events)
    },
    /** Runs a deploy/local script against this stack (`up`, `down collector`, ...). */
    script,
    /** Rows of a ClickHouse query, as objects. */
    async query(sql) {
      const response = await fetch(`http://127.0.0.1:${chHttp}/`, { method: 'POST', body: `${sql} FORMAT JSONEachRow` })
      const text = await response.text()
      if (!response.ok) throw new Error(`ClickHouse: ${text}`)
      return text
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line))
    },
    /** Stops everything; the state is kept (and named) when `keep`. */
    stop(keep) {
      proxy.close()
      proxy.closeAllConnections()
      try {
        script('down')
      } finally {
        if (keep) console.error(`browser tests failed: the stack's logs and data are in ${state}`)
        else rmSync(state, { recursive: true, force: true })
      }
    },
  }
  // Interrupted (Ctrl-C, a CI timeout): stop what was started all the same.
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.once(signal, () => {
      stack.stop(true)
      process.exit(130)
    })
  }
  try {
    script('up')
    // The collector embeds the tag when it is built: a binary older than
    // js-tag/dist would test yesterday's tag.
    const served = await (await fetch(`${stack.collector}/tag.js`)).text()
    if (served != readFileSync(join(REPO, 'js-tag/dist/fiducia.min.js'), 'utf8')) {
      throw new Error(`the collector in ${bin} serves another tag than js-tag/dist: rebuild it (cargo build --bins)`)
    }
  } catch (e) {
    stack.stop(true)
    throw e
  }
  return stack
}

/** Polls `probe` until `done(value)` holds; returns the last value. */
export async function eventually(probe, done, { timeoutMs = 30_000, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await probe()
    if (done(value)) return value
    if (Date.now() > deadline) throw new Error(`${what} not met within ${timeoutMs} ms; last value: ${JSON.stringify(value)}`)
    await new Promise((r) => setTimeout(r, 250))
  }
}
