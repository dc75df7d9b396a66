const { Worker, isMainThread, parentPort } = require('worker_threads');
const { spawn } = require('child_process');
if (isMainThread) {
  const w = new Worker(__filename);
  let n = 0;
  w.on('message', (m) => { n++; if (n % 20 == 0) console.log('from worker', m); });
  const c = spawn('cat');
  let got = 0;
  c.stdout.on('data', (d) => { got += d.length; });
  setInterval(() => { c.stdin.write('abcdef\n'); console.log('main', n, got); }, 200);
} else {
  let i = 0;
  setInterval(() => parentPort.postMessage(++i), 10);
}
