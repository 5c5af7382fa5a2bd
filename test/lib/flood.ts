// A UDP flood from inside a network namespace and a counting listener in
// another, both child processes entered with nsenter (the test process
// itself never changes namespace). Counts come back over stdout.
import { spawn, type ChildProcess } from 'node:child_process';
import { defer, type Scope } from './scope';

function counter(child: ChildProcess): () => Promise<number> {
  let last = 0;
  child.stdin!.on('error', () => undefined); // killed at teardown
  child.stdout!.on('data', (d: Buffer) => {
    const lines = d.toString().trim().split('\n');
    last = Number(lines[lines.length - 1]) || last;
  });
  return async () => {
    child.stdin!.write('\n'); // ask for the count
    await new Promise((r) => setTimeout(r, 200));
    return last;
  };
}

// Sends datagrams to addr:port as fast as it can (errors ignored: the device
// may not exist yet); `sent()` is how many sendto calls succeeded.
export function netnsFlood(scope: Scope, nsPath: string, addr: string, port: number): { sent: () => Promise<number>; stop: () => Promise<void> } {
  const child = spawn('nsenter', [`--net=${nsPath}`, process.execPath, '-e', `
    const s = require('dgram').createSocket('udp4'); let ok = 0;
    s.on('error', () => {});
    const msg = Buffer.alloc(64, 0x6e);
    (function loop() { for (let i = 0; i < 50; i++) s.send(msg, ${port}, ${JSON.stringify(addr)}, (e) => { if (!e) ok++; }); setTimeout(loop, 5); })();
    process.stdin.on('data', () => process.stdout.write(ok + '\\n'));`], { stdio: ['pipe', 'pipe', 'ignore'] });
  const stop = async (): Promise<void> => {
    child.kill('SIGKILL');
  };
  defer(scope, 'stop the flood', stop);
  return { sent: counter(child), stop };
}

// Counts datagrams arriving on port in the named namespace.
export async function hostListener(scope: Scope, netns: string, port: number): Promise<{ received: () => Promise<number> }> {
  const child = spawn('nsenter', [`--net=/run/netns/${netns}`, process.execPath, '-e', `
    const s = require('dgram').createSocket('udp4'); let n = 0;
    s.on('message', () => n++); s.bind(${port}, () => process.stdout.write('0\\n'));
    process.stdin.on('data', () => process.stdout.write(n + '\\n'));`], { stdio: ['pipe', 'pipe', 'ignore'] });
  defer(scope, 'stop the listener', () => child.kill('SIGKILL'));
  await new Promise((r) => child.stdout!.once('data', r));
  return { received: counter(child) };
}
