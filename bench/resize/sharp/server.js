// sharp behind rail-server's GET /resize API, for make bench-resize.
//
// usage: node server.js IMAGES_DIR   (prints "listening http://127.0.0.1:PORT/" when ready)
//
// Settings as issue 10 measured sharp: no operation cache, one libvips thread per image,
// UV_THREADPOOL_SIZE=2 (set by the caller: it must be in the environment before libuv starts)
// so two images are processed at once, as rail-server --threads 2 does. Loopback only.
// AVIF_EFFORT (environment) sets the AVIF encoder effort so both servers compare at the same one.
'use strict';

const http = require('http');
const path = require('path');
const fs = require('fs');
const sharp = require('sharp');

sharp.cache(false);
sharp.concurrency(1);

const root = fs.realpathSync(process.argv[2] || '.');
const avifEffort = Number(process.env.AVIF_EFFORT || 4);
const FITS = new Set(['inside', 'cover', 'contain', 'fill', 'outside']);
const FORMATS = new Set(['jpeg', 'png', 'webp', 'avif', 'gif']);
const TYPES = { jpeg: 'image/jpeg', png: 'image/png', webp: 'image/webp', avif: 'image/avif', gif: 'image/gif' };

function fail(res, status, text) {
  res.writeHead(status, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(text) + 1 });
  res.end(text + '\n');
}

function intParam(q, name, lo, hi) {
  if (!q.has(name)) return undefined;
  const v = Number(q.get(name));
  if (!Number.isInteger(v) || v < lo || v > hi) throw new Error(`bad ${name}`);
  return v;
}

async function resize(req, res) {
  const url = new URL(req.url, 'http://localhost');
  if (url.pathname !== '/resize') return fail(res, 404, 'not found');
  const q = url.searchParams;
  let w, h, quality;
  try {
    w = intParam(q, 'w', 1, 16384);
    h = intParam(q, 'h', 1, 16384);
    quality = intParam(q, 'q', 1, 100) || 80;
  } catch (e) {
    return fail(res, 400, e.message);
  }
  const fit = q.get('fit') || 'inside';
  if (!FITS.has(fit)) return fail(res, 400, 'bad fit');
  const src = q.get('src');
  if (!src || path.isAbsolute(src) || src.split('/').includes('..')) return fail(res, 400, 'bad src');
  const file = path.join(root, src);
  let format = q.get('format');
  if (format && !FORMATS.has(format)) return fail(res, 400, 'bad format');

  let img = sharp(file).rotate(); // EXIF orientation applied; failOn: its default, 'warning', as rail
  if (!format) {
    const meta = await img.metadata();
    format = FORMATS.has(meta.format) ? meta.format : 'jpeg';
  }
  if (w || h) img = img.resize({ width: w, height: h, fit, withoutEnlargement: q.get('enlarge') !== '1' });
  if (format === 'jpeg') img = img.flatten({ background: '#ffffff' }).jpeg({ quality });
  else if (format === 'webp') img = img.webp({ quality });
  else if (format === 'avif') img = img.avif({ quality, effort: avifEffort });
  else if (format === 'png') img = img.png();
  else img = img.gif();
  const out = await img.toBuffer();
  res.writeHead(200, { 'Content-Type': TYPES[format], 'Content-Length': out.length });
  res.end(out);
}

const server = http.createServer((req, res) => {
  resize(req, res).catch((e) => fail(res, /missing|not found|no such/i.test(e.message) ? 404 : 422, e.message));
});
server.keepAliveTimeout = 60000;
server.listen(Number(process.env.PORT || 0), '127.0.0.1', () => {
  console.log(`listening http://127.0.0.1:${server.address().port}/`);
});
