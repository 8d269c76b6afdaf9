/** `https://<name>.<a-b-c-d>.<baseDomain>` — sslip.io resolves the dashed IP back to the address. */
export function vmUrl(name: string, publicIp: string, baseDomain: string): string {
  return `https://${vmHost(name, publicIp, baseDomain)}`;
}

export function vmHost(name: string, publicIp: string, baseDomain: string): string {
  return `${name}.${publicIp.replace(/\./g, '-')}.${baseDomain}`;
}
