/**
 * Where a running box's local API socket is found when the configuration names none: one
 * fixed place per machine, as systemd services are found, so `orbox status` works from any
 * folder without being told where the box is.
 *
 *   $ORBOX_RUNTIME_DIR/orbox.sock   when set (tests, several boxes on one machine)
 *   /run/orbox/orbox.sock           when /run/orbox exists (the unit's RuntimeDirectory=) or
 *                                   the caller is root
 *   $XDG_RUNTIME_DIR/orbox/orbox.sock   a developer's box run as themselves
 *   <tmpdir>/orbox-<uid>/orbox.sock     no runtime directory at all
 *
 * The box and the CLI call the same function, so a CLI run by the same user (or, on a box,
 * by a member of the orbox group) looks where the box listens.
 */
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function defaultApiSocket(env: NodeJS.ProcessEnv = process.env, uid: number = process.getuid?.() ?? 0): string {
  if (env.ORBOX_RUNTIME_DIR) return join(env.ORBOX_RUNTIME_DIR, 'orbox.sock');
  if (uid === 0 || existsSync('/run/orbox')) return '/run/orbox/orbox.sock';
  if (env.XDG_RUNTIME_DIR) return join(env.XDG_RUNTIME_DIR, 'orbox', 'orbox.sock');
  return join(tmpdir(), `orbox-${uid}`, 'orbox.sock');
}
