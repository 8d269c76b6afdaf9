/**
 * node-pty terminals whose output is complete when they report the exit.
 *
 * node-pty (1.1, lib/unixTerminal.js) learns of the child's exit from its
 * own waitpid thread, then waits for the master to reach EIO (all output
 * read, every slave closed) — but at most 200 ms (DESTROY_SOCKET_TIMEOUT_MS,
 * there for a macOS bug), after which it destroys the master and reports the
 * exit: output the child wrote before exiting that this process had not read
 * yet (a busy event loop on a loaded machine, a paused terminal) is lost, and
 * a test that reads the output after `onExit` sees it cut short.
 *
 * `spawnPty` takes that guillotine out: while the exit is pending, node-pty's
 * destroy of the master is held back, so the exit is reported only after the
 * master's own end (EIO on Linux, when everything written has been read).
 * Our own kill()/destroy() still close it at once. The internals this leans
 * on are checked at spawn, so a node-pty that changed them fails loudly here
 * instead of silently going back to losing output.
 */
import pty from 'node-pty';

interface Internals {
  _socket?: { destroy?: (...a: unknown[]) => unknown; readableEnded?: boolean };
  _boundClose?: boolean;
  _emittedClose?: boolean;
}

export function spawnPty(file: string, args: string[], opts: pty.IPtyForkOptions): pty.IPty {
  const p = pty.spawn(file, args, opts);
  const t = p as unknown as Internals;
  const socket = t._socket;
  if (!socket || typeof socket.destroy !== 'function' || typeof t._boundClose !== 'boolean' || typeof t._emittedClose !== 'boolean') {
    p.kill('SIGKILL');
    throw new Error('test/helpers/pty.ts: node-pty internals changed (_socket, _boundClose, _emittedClose): check how it ends the output on exit');
  }
  const destroy = socket.destroy.bind(socket);
  let ours = false;
  socket.destroy = (...a: unknown[]) => {
    // No error, the exit has come (_boundClose), the master has not ended (_emittedClose, readableEnded):
    // node-pty's 200 ms timer, not us and not the stream's own end (a read error such as EIO destroys with
    // the error). Leave the master open: EIO ends it, after the last output.
    if (a[0] === undefined && t._boundClose && !t._emittedClose && !ours && !socket.readableEnded) return socket;
    return destroy(...a);
  };
  const kill = p.kill.bind(p);
  p.kill = (signal?: string) => {
    ours = true; // a killed terminal's output is not waited for
    kill(signal);
  };
  return p;
}
