// Reading strace -T output (pure): the time a process spent inside each
// group of syscalls, so the lifecycle benchmark can say where its time goes
// (BPF loads and attaches, netlink requests by message type, file work).
// The group a traced syscall counts in; undefined for idle waits (the
// agent's event loop, a Go runtime's parked threads).
export function syscallGroup(name: string, args: string): string | undefined {
  if (/^(epoll_wait|epoll_pwait|epoll_pwait2|restart_syscall)$/.test(name)) return undefined;
  if (name === 'bpf') {
    const cmd = /^(BPF_\w+)/.exec(args)?.[1] ?? '?';
    const prog = /prog_name="(\w+)"/.exec(args)?.[1];
    return cmd === 'BPF_PROG_LOAD' && prog?.startsWith('nkit_') ? `bpf ${cmd} ${prog}` : `bpf ${cmd}`;
  }
  const nl = /nlmsg_type=(\w+)/.exec(args);
  if (/^(sendto|sendmsg)$/.test(name)) return nl ? `netlink ${rtmName(nl[1]!)}` : name;
  if (/^(recvfrom|recvmsg)$/.test(name)) return nl || args.includes('MSG_PEEK') ? 'netlink receive' : name;
  if (/^(fsync|fdatasync|syncfs)$/.test(name)) return 'fsync';
  if (/^(openat|open|read|pread64|write|pwrite64|close|newfstatat|fstat|statx|stat|lstat|rename|renameat|renameat2|unlink|unlinkat|mkdir|mkdirat|link|linkat|getdents64|readlink|access|faccessat|faccessat2|flock|fcntl|ftruncate|lseek)$/.test(name)) return `files (${name})`;
  return name;
}

// strace names rtnetlink messages only on sockets it can identify (not on
// a socket made in another netns, nor Go's): name the numbers ourselves
// (linux/rtnetlink.h; every netlink socket here is NETLINK_ROUTE).
const RTM: Record<number, string> = { 16: 'NEWLINK', 17: 'DELLINK', 18: 'GETLINK', 19: 'SETLINK', 20: 'NEWADDR', 21: 'DELADDR', 22: 'GETADDR', 24: 'NEWROUTE', 25: 'DELROUTE', 26: 'GETROUTE', 28: 'NEWNEIGH', 30: 'GETNEIGH' };
export function rtmName(t: string): string {
  const n = /^0x[0-9a-f]+$/i.test(t) ? parseInt(t, 16) : NaN;
  return Number.isFinite(n) && RTM[n] ? `RTM_${RTM[n]}` : t;
}

// Sums strace -T output (with or without -f's pid column) per syscall
// group, per iteration; keep(t) picks lines by their epoch ms. A call that
// strace split into "unfinished" and "resumed" lines counts once, with its
// arguments from the first and its duration from the second.
export function sumStrace(text: string, keep: (t: number) => boolean, iterations: number): Record<string, { ms: number; calls: number }> {
  const out: Record<string, { ms: number; calls: number }> = {};
  const pending = new Map<string, string>();
  const lastSent = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^(?:(\d+) +)?(\d+\.\d+) (.*)$/.exec(line);
    if (!m) continue;
    const [, pid = '', ts, rest] = m as unknown as [string, string | undefined, string, string];
    let name: string, args: string, dur: string | undefined;
    const unfinished = /^(\w+)\((.*)<unfinished \.\.\.>$/.exec(rest);
    if (unfinished) {
      pending.set(pid, `${unfinished[1]}\u0000${unfinished[2]}`);
      continue;
    }
    const resumed = /^<\.\.\. (\w+) resumed>(.*)<(\d+\.\d+)>$/.exec(rest);
    if (resumed) {
      const p = pending.get(pid)?.split('\u0000') ?? [resumed[1]!, ''];
      pending.delete(pid);
      [name, args, dur] = [p[0]!, `${p[1]}${resumed[2]}`, resumed[3]];
    } else {
      const done = /^(\w+)\((.*)<(\d+\.\d+)>$/.exec(rest);
      if (!done) continue;
      [name, args, dur] = [done[1]!, done[2]!, done[3]];
    }
    let g = syscallGroup(name, args);
    // A receive answers the request sent last on that thread (dumps come in many parts).
    if (g?.startsWith('netlink ') && g !== 'netlink receive') lastSent.set(pid, g.slice(8));
    else if (g === 'netlink receive' && lastSent.has(pid)) g = `netlink receive (${lastSent.get(pid)})`;
    if (!g || !keep(Number(ts) * 1000)) continue;
    const e = (out[g] ??= { ms: 0, calls: 0 });
    e.ms += (Number(dur) * 1000) / iterations;
    e.calls += 1 / iterations;
  }
  return out;
}
