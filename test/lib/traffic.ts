// Traffic between network namespaces, with the host's busybox entered into
// a namespace by path (nsenter --net): ping and a TCP exchange.
import { spawn } from 'node:child_process';
import { run } from './exec';

const BUSYBOX = '/bin/busybox';
const inNs = (nsPath: string, argv: string[]): string[] => ['nsenter', `--net=${nsPath}`, BUSYBOX, ...argv];

// True when one echo request from nsPath to addr gets a reply.
export async function ping(nsPath: string, addr: string, timeoutS = 2): Promise<boolean> {
  const argv = addr.includes(':') ? ['ping6', '-c', '1', '-W', String(timeoutS), addr] : ['ping', '-c', '1', '-W', String(timeoutS), addr];
  const r = await run(inNs(nsPath, argv), { timeoutMs: (timeoutS + 5) * 1000 });
  return r.code === 0;
}

// True when a TCP connection from clientNs to addr:port in serverNs carries
// a line from client to server.
export async function tcp(clientNs: string, serverNs: string, addr: string, port: number, timeoutS = 3): Promise<boolean> {
  const server = spawn('nsenter', [`--net=${serverNs}`, BUSYBOX, 'nc', '-l', '-p', String(port)], { stdio: ['ignore', 'pipe', 'ignore'] });
  let got = '';
  server.stdout.on('data', (d) => (got += d));
  const done = new Promise<void>((resolve) => server.on('close', () => resolve()));
  try {
    await new Promise((r) => setTimeout(r, 300)); // let it bind
    const token = `nkit-${process.pid}-${port}`;
    await run(inNs(clientNs, ['nc', '-w', String(timeoutS), addr, String(port)]), { input: `${token}\n`, timeoutMs: (timeoutS + 5) * 1000 });
    await Promise.race([done, new Promise((r) => setTimeout(r, timeoutS * 1000))]);
    return got.includes(token);
  } finally {
    server.kill('SIGKILL');
  }
}
