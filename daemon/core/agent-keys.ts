import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Per-VM agent credentials derived from one host secret: token =
 * HMAC-SHA256(secret, vmId). Nothing per VM is stored, a VM's token never
 * opens another VM's agent, and rotating the secret rotates them all.
 */
export class AgentKeys {
  constructor(private readonly secret: Buffer) {
    if (secret.length < 32) throw new Error('agent secret must be at least 32 bytes');
  }

  tokenFor(vmId: string): string {
    return createHmac('sha256', this.secret).update(`fcm-agent:${vmId}`).digest('base64url');
  }

  verify(vmId: string, token: string): boolean {
    const want = Buffer.from(this.tokenFor(vmId));
    const got = Buffer.from(token);
    return want.length === got.length && timingSafeEqual(want, got);
  }
}
