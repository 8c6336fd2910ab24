// The tag's build: esbuild bundles src/ into one IIFE and minifies it;
// terser's extra compress passes take a few percent more off after gzip.
import { build } from 'esbuild'
import { minify } from 'terser'

export const ENTRY = new URL('../src/index.js', import.meta.url).pathname

export async function bundle() {
  const result = await build({
    entryPoints: [ENTRY],
    bundle: true,
    minify: true,
    format: 'iife',
    target: 'es2020',
    legalComments: 'none',
    write: false,
  })
  const { code } = await minify(result.outputFiles[0].text, {
    ecma: 2020,
    compress: { passes: 3 },
    format: { comments: false },
  })
  return code
}
