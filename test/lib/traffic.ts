// Traffic between network namespaces, with the host's busybox entered into
// a namespace by path (nsenter --net): ping and a TCP exchange.
import { spawn } from 'node:child_process';
import { run } from './exec';
import { waitFor } from './wait';

const BUSYBOX = '/bin/busybox';
const inNs = (nsPath: string, argv: string[]): string[] => ['nsenter', `--net=${nsPath}`, BUSYBOX, ...argv];

// True when one echo request from nsPath to addr gets a reply.
export async function ping(nsPath: string, addr: string, timeoutS = 2): Promise<boolean> {
  const argv = addr.includes(':') ? ['ping6', '-c', '1', '-W', String(timeoutS), addr] : ['ping', '-c', '1', '-W', String(timeoutS), addr];
  const r = await run(inNs(nsPath, argv), { timeoutMs: (timeoutS + 5) * 1000 });
  return r.code === 0;
}

// Waits until a TCP socket listens on port in the namespace at nsPath (a
// fixed sleep is not enough when the machine is busy); true when it does.
export async function listening(nsPath: string, port: number, timeoutMs = 10_000): Promise<boolean> {
  return waitFor(async () => (await run(['nsenter', `--net=${nsPath}`, 'ss', '-Hltn', `sport = :${port}`])).stdout.trim() !== '', { timeoutMs, intervalMs: 50 });
}

// True when a TCP connection from clientNs to addr:port in serverNs carries
// a line from client to server.
export async function tcp(clientNs: string, serverNs: string, addr: string, port: number, timeoutS = 3): Promise<boolean> {
  // stdin stays open: busybox nc quits at EOF on stdin, and under load that
  // can come before the client's line arrives (the line is then lost).
  const server = spawn('nsenter', [`--net=${serverNs}`, BUSYBOX, 'nc', '-l', '-p', String(port)], { stdio: ['pipe', 'pipe', 'ignore'] });
  let got = '';
  server.stdout.on('data', (d) => (got += d));
  const done = new Promise<void>((resolve) => server.on('close', () => resolve()));
  try {
    if (!(await listening(serverNs, port))) throw new Error(`tcp: the test server in ${serverNs} did not listen on port ${port}`);
    const token = `nkit-${process.pid}-${port}`;
    await run(inNs(clientNs, ['nc', '-w', String(timeoutS), addr, String(port)]), { input: `${token}\n`, timeoutMs: (timeoutS + 5) * 1000 });
    await Promise.race([done, new Promise((r) => setTimeout(r, timeoutS * 1000))]);
    return got.includes(token);
  } finally {
    server.kill('SIGKILL');
  }
}
