// Second referee: the official COS Node.js SDK (cos-nodejs-sdk-v5) against `haul serve`.
//
// Started by tests/interop/run.sh after the Python suite, with the same environment. Every
// request goes to the local server through the SDK's `Proxy` option; a guard installed before
// the SDK loads refuses to resolve or connect to anything but 127.0.0.1.
//
// Prints one line per check and ends with `N passed, M failed`; exits 1 if any check failed.
'use strict';

const crypto = require('crypto');
const dns = require('dns');
const fs = require('fs');
const net = require('net');
const os = require('os');
const path = require('path');

// ---------------------------------------------------------------------------------------------
// Network guard: installed before the SDK (and its HTTP library) is loaded.

const LOOPBACK = '127.0.0.1';
const BLOCKED = [];
const realLookup = dns.lookup;
dns.lookup = function (host, ...rest) {
  if (host !== LOOPBACK) {
    BLOCKED.push(['lookup', host]);
    const cb = rest[rest.length - 1];
    const err = new Error(`interop guard: refusing to resolve ${host}`);
    if (typeof cb === 'function') return process.nextTick(cb, err);
    throw err;
  }
  return realLookup.call(dns, host, ...rest);
};
const realConnect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function (...args) {
  // Node calls connect with its normalized [options, callback] array internally.
  const first = Array.isArray(args[0]) ? args[0][0] : args[0];
  const opts = typeof first === 'object' && first !== null ? first : { port: first, host: args[1] };
  const host = opts.host || 'localhost';
  if (!opts.path && host !== LOOPBACK) {
    BLOCKED.push(['connect', host]);
    throw new Error(`interop guard: refusing to connect to ${host}`);
  }
  return realConnect.apply(this, args);
};
for (const name of ['HTTP_PROXY', 'HTTPS_PROXY', 'ALL_PROXY', 'http_proxy', 'https_proxy', 'all_proxy']) {
  delete process.env[name];
}
process.env.NO_PROXY = '';
process.env.no_proxy = '';

const COS = require('cos-nodejs-sdk-v5');

// ---------------------------------------------------------------------------------------------

let passed = 0;
const failed = [];

async function check(name, fn) {
  const started = Date.now();
  try {
    await fn();
  } catch (e) {
    failed.push(name);
    console.log(`FAIL ${name}: ${e && (e.stack || JSON.stringify(e))}`);
    return;
  }
  passed += 1;
  console.log(`ok   ${name} (${Date.now() - started} ms)`);
}

function expectEq(got, want, what) {
  const g = JSON.stringify(got);
  const w = JSON.stringify(want);
  if (g !== w) throw new Error(`${what}: got ${g}, want ${w}`);
}

async function expectCosError(promise, code, status, what) {
  try {
    await promise;
  } catch (e) {
    expectEq(e.code || (e.error && e.error.Code), code, `${what} error code`);
    expectEq(e.statusCode, status, `${what} status`);
    return;
  }
  throw new Error(`${what}: expected ${code}, the call succeeded`);
}

/** Deterministic test bytes, different per tag. */
function payload(tag, size) {
  const out = Buffer.alloc(size);
  let off = 0;
  for (let i = 0; off < size; i += 1) {
    const h = crypto.createHash('sha256').update(`${tag}/${i}`).digest();
    off += h.copy(out, off);
  }
  return out;
}

const md5 = (b) => crypto.createHash('md5').update(b).digest('hex');

async function main() {
  const endpoint = process.env.HAUL_INTEROP_ENDPOINT;
  if (!endpoint || !endpoint.startsWith(`http://${LOOPBACK}:`)) {
    console.log(`HAUL_INTEROP_ENDPOINT must be http://127.0.0.1:PORT, got ${endpoint}`);
    return 2;
  }
  const srcBucket = process.env.HAUL_INTEROP_SRC_BUCKET;
  const srcRegion = process.env.HAUL_INTEROP_SRC_REGION;
  const dstBucket = process.env.HAUL_INTEROP_DST_BUCKET;
  const dstRegion = process.env.HAUL_INTEROP_DST_REGION;
  const client = (key) =>
    new COS({
      SecretId: process.env.HAUL_INTEROP_ID,
      SecretKey: key,
      Protocol: 'http:',
      Proxy: endpoint,
      ChunkRetryTimes: 0,
      Timeout: 60000,
    });
  const cos = client(process.env.HAUL_INTEROP_KEY);
  const src = { Bucket: srcBucket, Region: srcRegion };
  const dst = { Bucket: dstBucket, Region: dstRegion };
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'haul-interop-node-'));

  await check('getService lists both buckets with their regions', async () => {
    const r = await cos.getService({});
    const got = r.Buckets.map((b) => [b.Name, b.Location]).sort();
    expectEq(got, [[srcBucket, srcRegion], [dstBucket, dstRegion]].sort(), 'buckets');
  });

  const key = 'node/awkward key+ü#?.bin';
  const data = payload('node put', 70000);
  await check('putObject, headObject and getObject round-trip an awkward key', async () => {
    const put = await cos.putObject({ ...src, Key: key, Body: data });
    expectEq(put.ETag.replace(/"/g, ''), md5(data), 'putObject ETag');
    const head = await cos.headObject({ ...src, Key: key });
    expectEq(Number(head.headers['content-length']), data.length, 'Content-Length');
    expectEq(head.headers.etag.replace(/"/g, ''), md5(data), 'HEAD ETag');
    const got = await cos.getObject({ ...src, Key: key });
    expectEq(Buffer.compare(got.Body, data), 0, 'GET body equals what was put');
    const ranged = await cos.getObject({ ...src, Key: key, Range: 'bytes=100-199' });
    expectEq(Buffer.compare(ranged.Body, data.subarray(100, 200)), 0, 'ranged GET');
  });

  await check('getBucket lists with prefix and delimiter', async () => {
    const r = await cos.getBucket({ ...src, Prefix: 'node/', Delimiter: '/' });
    expectEq(
      r.Contents.map((c) => c.Key),
      [key],
      'keys',
    );
  });

  const big = payload('node slice', 3 * 1024 * 1024 + 777);
  const bigKey = 'node/slice upload.bin';
  await check('sliceUploadFile of a 3 MiB file in 1 MB chunks goes multipart', async () => {
    const file = path.join(work, 'big.bin');
    fs.writeFileSync(file, big);
    const r = await cos.sliceUploadFile({ ...src, Key: bigKey, FilePath: file, ChunkSize: 1024 * 1024 });
    if (!/-4"?$/.test(r.ETag)) throw new Error(`sliceUploadFile ETag ${r.ETag} is not a 4-part ETag`);
    const head = await cos.headObject({ ...src, Key: bigKey });
    expectEq(Number(head.headers['content-length']), big.length, 'uploaded size');
  });

  await check('sliceCopyFile across regions goes multipart and keeps the bytes', async () => {
    const r = await cos.sliceCopyFile({
      ...dst,
      Key: 'node/copied.bin',
      CopySource: `${srcBucket}.cos.${srcRegion}.myqcloud.com/${encodeURIComponent(bigKey).replace(/%2F/g, '/')}`,
      CopySliceSize: 1,
      CopyChunkSize: 1024 * 1024,
    });
    if (!/-4"?$/.test(r.ETag)) throw new Error(`sliceCopyFile ETag ${r.ETag} is not a 4-part ETag`);
    const got = await cos.getObject({ ...dst, Key: 'node/copied.bin' });
    expectEq(Buffer.compare(got.Body, big), 0, 'copied bytes');
  });

  await check('a wrong secret key is 403 SignatureDoesNotMatch', async () => {
    const bad = client(`${process.env.HAUL_INTEROP_KEY}x`);
    await expectCosError(
      bad.putObject({ ...src, Key: 'node/denied', Body: Buffer.from('no') }),
      'SignatureDoesNotMatch',
      403,
      'PUT with a wrong key',
    );
  });

  await check('deleteObject removes the key', async () => {
    await cos.deleteObject({ ...src, Key: key });
    await expectCosError(cos.headObject({ ...src, Key: key }), '404', 404, 'HEAD after delete');
  });

  await check('no request tried to reach anything but 127.0.0.1', async () => {
    expectEq(BLOCKED, [], 'blocked attempts');
  });

  fs.rmSync(work, { recursive: true, force: true });
  console.log(`${passed} passed, ${failed.length} failed`);
  if (failed.length) {
    console.log(`failed: ${failed.join('; ')}`);
    return 1;
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.log(`interop (node) aborted: ${e && (e.stack || JSON.stringify(e))}`);
    process.exit(1);
  },
);
